"""The analytic path: task profile, catalog, hardware, predictions, scoring."""
