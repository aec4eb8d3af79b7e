"""Reading and writing files a user names, without trusting them.

- Read: the path's type is checked before it is opened (a fifo, `/dev/zero`, a socket or a
  directory is refused at once, never read), the file is opened non-blocking, and at most the
  documented number of bytes is read.
- JSON: NaN and Infinity are refused (they are not JSON), so are documents nested past the
  interpreter's recursion limit and integers too long to convert.
- Write: to a temporary file beside the target, then `os.replace`, with SIGINT and SIGTERM held
  back for the few milliseconds of the write, so that an interruption leaves the complete new
  file or the previous one, and the caller can say which.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import tempfile
import threading
from pathlib import Path

from .errors import InputError

_KINDS = (
    (stat.S_ISDIR, "is a directory"),
    (stat.S_ISFIFO, "is a fifo (named pipe)"),
    (stat.S_ISSOCK, "is a socket"),
    (stat.S_ISCHR, "is a character device"),
    (stat.S_ISBLK, "is a block device"),
)


def _kind(mode: int) -> str | None:
    for test, words in _KINDS:
        if test(mode):
            return words
    return None if stat.S_ISREG(mode) else "is not a regular file"


def read_limited(path: str | Path, error: type[InputError], what: str, limit: int) -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them; `error` otherwise."""
    p = str(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise error(f"{p}: no such file") from None
    except OSError as exc:
        raise error(f"{p}: cannot read: {exc.strerror or exc}") from None
    kind = _kind(st.st_mode)
    if kind:
        raise error(f"{p}: {kind}; expected a {what}")
    if st.st_size > limit:
        raise error(f"{p}: {st.st_size:,} bytes is too large for a {what} (limit {limit:,})")
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise error(f"{p}: cannot read: {exc.strerror or exc}") from None
    try:
        kind = _kind(os.fstat(fd).st_mode)  # swapped for something else since the stat?
        if kind:
            raise error(f"{p}: {kind}; expected a {what}")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise error(f"{p}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise error(f"{p}: more than {limit:,} bytes is too large for a {what}")
    return b"".join(chunks)


def _no_constants(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse_json(data: bytes | str, source: str, error: type[InputError]) -> object:
    """Strict JSON: no NaN/Infinity, no recursion blow-up, one line per problem."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        return json.loads(text, parse_constant=_no_constants)
    except UnicodeDecodeError as exc:
        raise error(f"{source}: is not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise error(
            f"{source}: not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise error(f"{source}: nested too deeply; refusing to read it") from None
    except ValueError as exc:  # NaN, Infinity, an integer of thousands of digits
        raise error(f"{source}: {exc}") from None


def load_json_file(path: str | Path, error: type[InputError], what: str, limit: int) -> object:
    return parse_json(read_limited(path, error, what, limit), str(path), error)


def check_output_target(path: str | Path, flag: str = "--output") -> None:
    """Refuse an output path that cannot be (re)placed by a regular file, before any work."""
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise InputError(f"{flag} {p}: {exc.strerror or exc}") from None
    if st is not None:
        kind = _kind(st.st_mode)
        if kind:
            raise InputError(f"{flag} {p}: {kind}; expected a regular file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{flag} {p}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {p}: directory {parent} is not writable")


@contextlib.contextmanager
def signals_held():
    """Hold SIGINT and SIGTERM back until the block ends, then deliver them to the handlers
    that were in place, so an interrupted save still stops, just after the save, not half-way.

    The handlers are swapped rather than the signal mask changed: with other threads running
    (a framework's pools), a process-directed signal may go to any thread that does not block
    it, but Python always runs its handlers in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []

    def defer(signum, frame):
        pending.append(signum)

    held = (signal.SIGINT, signal.SIGTERM)
    old = {s: signal.signal(s, defer) for s in held}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        if pending:
            signum = pending[0]
            handler = old[signum]
            if callable(handler):
                handler(signum, None)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), signum)  # the default action, now that the file is whole


class SavedThenInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM came while a file was being written: it was held until the new file
    was in place, and is raised now. `said` tells the user which file holds what."""

    def __init__(self, said: str):
        super().__init__(said)
        self.said = said


def atomic_write_text(path: Path, text: str) -> str:
    """Replace `path` with `text` atomically; returns what happened, for the user.
    An interrupt during the write raises SavedThenInterrupted once the new file is in place."""
    check_output_target(path, "output")
    existed = path.exists()
    said = f"{'replaced' if existed else 'wrote'} {path}"
    try:
        _write(path, text.encode("utf-8"))
    except KeyboardInterrupt as exc:
        if isinstance(exc, SavedThenInterrupted) or not _is(path, text):
            raise
        raise SavedThenInterrupted(said) from None
    return said


def _is(path: Path, text: str) -> bool:
    try:
        return path.read_text(encoding="utf-8") == text
    except OSError:
        return False


def _write(path: Path, data: bytes) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    with signals_held():
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes 0600; a saved run is an ordinary file
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def file_slug(text: str, default: str = "run") -> str:
    """`text` as a safe piece of a file name: runs of anything but letters, digits, `.`, `_`
    and `-` become one `-`; at most 80 characters (a profile or architecture name in
    runs/<profile>-<arch>-<time>/)."""
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:80] or default
