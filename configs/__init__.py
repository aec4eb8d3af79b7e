"""Packaged YAML: the default catalog and the device table (read with importlib.resources)."""
