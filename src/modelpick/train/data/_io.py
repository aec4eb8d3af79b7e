"""File access for the loaders: type checks before opening, byte limits, folder walks, the
memory limit of in-memory formats, and the optional packages (imported when first needed)."""

from __future__ import annotations

import importlib
import os
import stat
from pathlib import Path

from ...errors import DataError, UnavailableError

INSTALL = "pip install 'modelpick[train]'"
_DIST = {"PIL": "pillow", "PIL.Image": "pillow"}

# Decoded image and audio folders are kept in memory when they take at most this much (float32);
# larger ones are decoded again from disk for every batch.
CACHE_BYTES = 1 << 30
# One image or one WAV file is never read past this size.
FILE_LIMIT = 1 << 30

_KINDS = (
    (stat.S_ISDIR, "is a directory"),
    (stat.S_ISFIFO, "is a fifo (named pipe)"),
    (stat.S_ISSOCK, "is a socket"),
    (stat.S_ISCHR, "is a character device"),
    (stat.S_ISBLK, "is a block device"),
)


def need(module: str, what: str):
    """Import an optional package, or raise UnavailableError with the pip command."""
    try:
        return importlib.import_module(module)
    except ImportError:
        dist = _DIST.get(module, module.split(".")[0])
        raise UnavailableError(
            f"{what} needs the Python package {dist!r}, which is not installed; "
            f"install it with: {INSTALL}"
        ) from None


def kind(mode: int) -> str | None:
    """Why a stat mode is not a regular file (None when it is one)."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return None if stat.S_ISREG(mode) else "is not a regular file"


def resolve(path: str | Path, base_dir: Path | None) -> Path:
    p = Path(os.path.expanduser(str(path)))
    return p if p.is_absolute() or base_dir is None else Path(base_dir) / p


def stat_path(real: Path, shown: str) -> os.stat_result:
    try:
        return os.stat(real)
    except FileNotFoundError:
        raise DataError(f"{shown}: no such file or folder") from None
    except OSError as exc:
        raise DataError(f"{shown}: cannot read: {exc.strerror or exc}") from None


def check_file(real: Path, shown: str, what: str) -> int:
    """The size of the regular file at `real`; DataError for anything else."""
    st = stat_path(real, shown)
    why = kind(st.st_mode)
    if why:
        raise DataError(f"{shown}: {why}; expected {what}")
    return st.st_size


def open_file(real: Path, shown: str, what: str):
    """A binary file object on the regular file at `real`, opened without blocking (a fifo
    swapped in after the check is refused, not waited on)."""
    check_file(real, shown, what)
    try:
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise DataError(f"{shown}: cannot read: {exc.strerror or exc}") from None
    why = kind(os.fstat(fd).st_mode)
    if why:
        os.close(fd)
        raise DataError(f"{shown}: {why}; expected {what}")
    return os.fdopen(fd, "rb")


def read_bytes(real: Path, shown: str, what: str, limit: int = FILE_LIMIT) -> bytes:
    size = check_file(real, shown, what)
    if size > limit:
        raise DataError(f"{shown}: {size:,} bytes is too large for {what} (limit {limit:,})")
    try:
        with open_file(real, shown, what) as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise DataError(f"{shown}: cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise DataError(f"{shown}: more than {limit:,} bytes is too large for {what}")
    return data


def join(shown: str, *parts: str) -> str:
    return os.path.join(shown, *parts)


def class_folders(
    real: Path, shown: str, exts: tuple[str, ...], what: str, wrong: str
) -> list[tuple[str, list[tuple[Path, str]]]]:
    """(class name, [(file, shown file)]) for every sub-folder of `real`, sorted by name.

    Hidden entries (a name starting with '.') are skipped. A file at the top, a folder inside a
    class folder, a file without one of `exts` (`wrong` says what it is not), a special file
    and a class folder with no files are errors."""
    st = stat_path(real, shown)
    if not stat.S_ISDIR(st.st_mode):
        raise DataError(
            f"{shown}: {kind(st.st_mode) or 'is a file'}; expected a folder of class folders"
        )
    classes = []
    for name, entry_real, entry_st in _entries(real, shown):
        entry_shown = join(shown, name)
        if not stat.S_ISDIR(entry_st.st_mode):
            raise DataError(
                f"{entry_shown}: a file at the top of the data folder; expected one sub-folder "
                f"per class, holding {what}"
            )
        files = []
        for fname, f_real, f_st in _entries(entry_real, entry_shown):
            f_shown = join(entry_shown, fname)
            if stat.S_ISDIR(f_st.st_mode):
                raise DataError(f"{f_shown}: a folder inside a class folder; expected {what}")
            if not fname.lower().endswith(exts):
                raise DataError(f"{f_shown}: {wrong} (expected {' or '.join(exts)})")
            why = kind(f_st.st_mode)
            if why:
                raise DataError(f"{f_shown}: {why}; expected {what}")
            files.append((f_real, f_shown))
        if not files:
            raise DataError(f"{entry_shown}: class folder has no {what}")
        classes.append((name, files))
    if not classes:
        raise DataError(f"{shown}: no class folders; expected one sub-folder per class")
    return classes


def _entries(real: Path, shown: str):
    try:
        names = sorted(n for n in os.listdir(real) if not n.startswith("."))
    except OSError as exc:
        raise DataError(f"{shown}: cannot list the folder: {exc.strerror or exc}") from None
    for name in names:
        p = real / name
        try:
            st = os.stat(p)  # follows links: a link to a file is that file
        except OSError as exc:
            raise DataError(f"{join(shown, name)}: cannot read: {exc.strerror or exc}") from None
        yield name, p, st


def files_of(real: Path, shown: str, exts: tuple[str, ...], what: str, wrong: str):
    """One file, or the files of a flat folder (for predict): [(file, shown, name)]."""
    st = stat_path(real, shown)
    if not stat.S_ISDIR(st.st_mode):
        why = kind(st.st_mode)
        if why:
            raise DataError(f"{shown}: {why}; expected {what} or a folder of them")
        if not str(real).lower().endswith(exts):
            raise DataError(f"{shown}: {wrong} (expected {' or '.join(exts)})")
        return [(real, shown, os.path.basename(shown) or shown)]
    out = []
    for name, p, f_st in _entries(real, shown):
        f_shown = join(shown, name)
        if stat.S_ISDIR(f_st.st_mode):
            raise DataError(f"{f_shown}: a folder; expected {what}")
        if not name.lower().endswith(exts):
            raise DataError(f"{f_shown}: {wrong} (expected {' or '.join(exts)})")
        why = kind(f_st.st_mode)
        if why:
            raise DataError(f"{f_shown}: {why}; expected {what}")
        out.append((p, f_shown, name))
    if not out:
        raise DataError(f"{shown}: the folder has no {what}")
    return out


# --- memory --------------------------------------------------------------------------------


def memory_limit(max_memory_gb: float | None) -> tuple[int, str]:
    """Bytes an in-memory data set may take, and where the figure comes from."""
    if max_memory_gb is not None:
        return int(max_memory_gb * (1 << 30)), "data.max_memory_gb"
    import psutil

    return psutil.virtual_memory().available // 2, "half the memory available now"


def check_memory(shown: str, needed: int, how: str, max_memory_gb: float | None) -> None:
    limit, source = memory_limit(max_memory_gb)
    if needed > limit:
        raise DataError(
            f"{shown}: needs about {_gib(needed)} in memory ({how}); the limit is {_gib(limit)} "
            f"({source}; set data.max_memory_gb to change it). Only image and audio folders "
            f"stream from disk"
        )


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.2f} GiB"
