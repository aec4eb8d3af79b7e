"""The `modelpick` command line: the Typer app, wired from the command modules, and `main`.

`main` is the one place that meets the outside world: bad arguments become one line and exit 2
(not a usage box), SIGTERM is an interrupt like Ctrl-C (exit 130), a closed or full stdout is
one line and exit 1, an ASCII-only terminal gets escapes instead of a UnicodeEncodeError, and
anything unforeseen is one line and exit 70 (MODELPICK_DEBUG=1 shows the traceback).

Exit codes: 0 success; 1 no answer (nothing fits); 2 bad input; 3 backend/device unavailable;
130 interrupted.
"""

from __future__ import annotations

import errno
import os
import signal
import sys

import typer

from . import advise, measure, report, search, train

try:  # typer >= 0.24 carries its own copy of click
    from typer._click.exceptions import ClickException as _ClickException
    from typer._click.exceptions import UsageError as _UsageError
except ImportError:  # pragma: no cover - older typer on click
    from click.exceptions import ClickException as _ClickException
    from click.exceptions import UsageError as _UsageError

_Abort = getattr(typer, "Abort", KeyboardInterrupt)


class _Never(Exception):
    pass


try:
    from typer._click.exceptions import NoArgsIsHelpError as _NoArgsIsHelp
except ImportError:  # pragma: no cover
    try:
        from click.exceptions import NoArgsIsHelpError as _NoArgsIsHelp
    except ImportError:
        _NoArgsIsHelp = _Never

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Pick the neural architecture, size and precision to train and ship.",
)
catalog_app = typer.Typer(no_args_is_help=True, help="What can be recommended.")
app.add_typer(catalog_app, name="catalog")

app.command()(advise.recommend)
app.command()(advise.estimate)
app.command()(advise.validate)
app.command()(advise.schema)
catalog_app.command("list")(advise.catalog_list)
catalog_app.command("show")(advise.catalog_show)
app.command()(advise.doctor)
app.command()(measure.build)
app.command()(measure.bench)
app.command()(report.report)
app.command()(train.train)
app.command()(train.predict)
app.command()(search.trial)

_STREAM_ERRNOS = (errno.EPIPE, errno.ENOSPC, errno.EBADF, errno.EIO, errno.EDQUOT)


def _usage_line(exc) -> str:
    """A click usage error as one line: `--top: 'abc' is not a valid integer`."""
    from .term import clean

    message = clean(exc.format_message())
    param = getattr(exc, "param", None)
    hint = getattr(param, "opts", None) or ([param.name] if param is not None else [])
    if hint and not message.startswith(("Invalid value", "Missing")):
        return f"{hint[0]}: {message}"
    return message


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt


def _quiet_stdout() -> None:
    """After stdout failed, point it at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, AttributeError, ValueError):
        pass


def run(argv: list[str] | None = None) -> int:
    """Run the app on `argv` (default: sys.argv[1:]) and return the exit code."""
    from .options import echo_error

    for stream in (sys.stdout, sys.stderr):
        # an ASCII-only locale: escapes instead of UnicodeEncodeError
        if stream is not None and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):
                pass
    if sys.stdout is None:
        if sys.stderr is not None:
            echo_error("standard output is closed; nothing can be printed")
        return 1
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (an embedding); Ctrl-C still works
        previous = None
    try:
        return _run(argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(argv: list[str] | None) -> int:
    from .options import echo_error

    try:
        code = app(args=argv, prog_name="modelpick", standalone_mode=False)
        sys.stdout.flush()
        return code if isinstance(code, int) else 0
    except _NoArgsIsHelp as exc:
        typer.echo(exc.ctx.get_help(), err=True)
        return 2
    except _UsageError as exc:
        echo_error(_usage_line(exc))
        return 2
    except (_Abort, KeyboardInterrupt):
        typer.echo("interrupted", err=True)
        return 130
    except _ClickException as exc:
        echo_error(exc.format_message())
        return exc.exit_code or 1
    except OSError as exc:
        if exc.errno in _STREAM_ERRNOS:
            _quiet_stdout()
            try:
                echo_error(f"cannot write the output: {exc.strerror or exc}")
            except Exception:  # stderr failing too: nothing left to tell
                pass
            return 1
        return _internal(exc)
    except Exception as exc:  # a bug: say so in one line unless asked for the traceback
        return _internal(exc)


def _internal(exc: BaseException) -> int:
    if os.environ.get("MODELPICK_DEBUG"):
        raise exc
    from .term import clean

    typer.echo(
        f"internal error: {type(exc).__name__}: {clean(exc)} "
        "(a bug: please report it; MODELPICK_DEBUG=1 shows the traceback)",
        err=True,
    )
    return 70


def main() -> None:
    """Console entry point."""
    from . import options as _options

    _options.WHOLE_PROCESS = True  # time limits count from the process's start (options.py)
    sys.exit(run())
