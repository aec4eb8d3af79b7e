"""The command line: `app` (Typer), `run(argv)` and the console entry point `main`."""

from .app import app, main, run

__all__ = ["app", "main", "run"]
