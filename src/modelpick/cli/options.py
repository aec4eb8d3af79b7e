"""What every command module shares: option types, the error-to-exit-code wrapper, output.

Command modules import this module and the API; nothing imports a command module but app.py.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import ModelpickError
from .term import clean

ProfileArg = Annotated[Path, typer.Argument(help="task profile YAML", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="one JSON document on stdout, nothing else")]
CatalogOpt = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional on 3.10
    typer.Option("--catalog", help="extra catalog YAML (adds to the default, or replaces it)"),
]
# Choices are plain strings checked by the API, so that a bad value gets the same one-line
# error (and exit 2) from the shell and from Python.
BackendOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--backend", help="torch | tensorflow (default: the profile's preference)"),
]
ArchOpt = Annotated[str, typer.Option("--arch", help="catalog architecture name")]


def echo_error(message: object) -> None:
    """One line on stderr, with every control character made visible."""
    typer.echo(f"error: {clean(message)}", err=True)


def warn(message: object) -> None:
    typer.echo(f"warning: {clean(message)}", err=True)


def errors_to_exit(command):
    """Turn a ModelpickError into one line on stderr and its documented exit code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ModelpickError as exc:
            if str(exc):
                echo_error(exc)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


def print_json(doc: object) -> None:
    """One JSON document on stdout. NaN or infinity would not be JSON: refused, never printed."""
    sys.stdout.write(json.dumps(doc, indent=2, allow_nan=False) + "\n")


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def progress_console():
    """A rich console on stderr for progress, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None
    return console(stderr=True)


PlotOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--plot", help="also draw it: FILE.png or FILE.svg (needs modelpick[plot])"),
]


def save_plot(kind: str, doc: dict, path: Path | None) -> None:
    """Draw `doc` into `path` (more files beside it when the kind has several figures)."""
    if path is None:
        return
    from ..plot import save

    for written in save(kind, doc, path):
        typer.echo(f"plot: {clean(written)}", err=True)


def check_plot(path: Path | None) -> None:
    """Refuse a bad --plot target before any work: an image type we do not write, or a path
    that cannot become a file."""
    if path is None:
        return
    from ..errors import InputError
    from ..safeio import check_output_target

    if Path(path).suffix.lower() not in (".png", ".svg"):
        raise InputError(
            f"--plot {clean(path)}: unknown image type {Path(path).suffix or '(none)'!r}; "
            "expected .png or .svg"
        )
    check_output_target(path, "--plot")


WHOLE_PROCESS = False  # set by the console entry point (app.main)


def process_start() -> float:
    """When this process started, on the monotonic clock: `--minutes` then includes Python's
    start-up and the framework's import, as a stopwatch around the command would. Only for
    the `modelpick` command itself; `run([...])` called in a longer-lived process (tests, a
    notebook) counts from the call."""
    import time

    if not WHOLE_PROCESS:
        return time.monotonic()
    import psutil

    try:
        age = time.time() - psutil.Process().create_time()
    except (psutil.Error, OSError):
        age = 0.0
    return time.monotonic() - max(0.0, min(age, 3600.0))
