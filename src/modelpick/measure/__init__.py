"""Measurement on this machine: the timing harness (`bench`), calibration, saved runs."""
