"""Plots of modelpick's JSON documents, as PNG or SVG (the optional extra `modelpick[plot]`).

    figures(kind, doc) -> [(slug, Figure)]   kind: recommend, estimate, bench, calibration, trial
    save(kind, doc, path) -> [Path]          PNG or SVG by the suffix; atomic writes
    png_bytes(fig) -> bytes                  for embedding in HTML

The input is the document a command prints with `--json`; nothing else of modelpick is needed.
Importing this package does not import matplotlib: each call does, on the Agg backend (no
display, never a browser), and a missing matplotlib is an UnavailableError saying what to
install. Every user-given name is drawn as text, never as mathtext or markup.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

from ..errors import InputError
from ..safeio import check_output_target, signals_held

KINDS = ("recommend", "estimate", "bench", "calibration", "trial")
SUFFIXES = {".png": "png", ".svg": "svg"}

# which module draws which kind, and the slugs of its figures, in order
_SLUGS = {
    "recommend": ("pareto",),
    "estimate": ("breakdown",),
    "bench": ("latency", "errors"),
    "calibration": ("latency", "errors"),
    "trial": ("curves", "pareto", "ranks"),
}


def slugs(kind: str) -> tuple[str, ...]:
    """The slugs `figures(kind, ...)` returns, in order (without drawing anything)."""
    _check_kind(kind)
    return _SLUGS[kind]


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InputError(f"cannot plot {kind!r}: expected one of {', '.join(KINDS)}")


def _rc():
    from ._style import mpl

    matplotlib = mpl()
    return matplotlib.rc_context(
        {
            "svg.hashsalt": "modelpick",
            "svg.fonttype": "path",
            "font.family": "DejaVu Sans",
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.titlesize": 11,
            "axes.labelsize": 10,
        }
    )


def figures(kind: str, doc: dict) -> list[tuple[str, object]]:
    """[(slug, matplotlib Figure)] for a `kind` document (the command's `--json` output)."""
    _check_kind(kind)
    if not isinstance(doc, dict):
        raise InputError(f"cannot plot this {kind} document: expected a JSON object")
    with _rc():
        if kind == "recommend":
            from .recommend import figures as draw
        elif kind == "estimate":
            from .estimate import figures as draw
        elif kind == "trial":
            from .trial import figures as draw
        elif kind == "bench":
            from .bench import bench_figures as draw
        else:
            from .bench import calibration_figures as draw
        try:
            return draw(doc)
        except InputError as exc:
            raise InputError(f"cannot plot this {kind} document: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(
                f"cannot plot this {kind} document: a field is missing or of the wrong type "
                f"({type(exc).__name__}: {exc})"
            ) from None


def _paths(path: Path, slug_list: list[str]) -> list[Path]:
    out = [path]
    for slug in slug_list[1:]:
        out.append(path.with_name(f"{path.stem}-{slug}{path.suffix}"))
    return out


def _render(fig, fmt: str) -> bytes:
    buf = io.BytesIO()
    with _rc():
        fig.savefig(
            buf,
            format=fmt,
            dpi=fig.dpi,
            facecolor="white",
            metadata={"Date": None} if fmt == "svg" else {"Software": None},
        )
    return buf.getvalue()


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes (for a data: URL in an HTML report)."""
    return _render(fig, "png")


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
            os.chmod(tmp, 0o666 & ~mask)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def save(kind: str, doc: dict, path: str | Path, flag: str = "--plot") -> list[Path]:
    """Draw `kind` and write it to `path` (PNG or SVG by its suffix). A kind with several
    figures writes the first to `path` and the others beside it as `<stem>-<slug><suffix>`.
    Every target is checked before anything is drawn; each file is replaced atomically.
    Returns the paths written."""
    _check_kind(kind)
    path = Path(path)
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            f"{flag} {path}: unknown image type {path.suffix or '(no suffix)'!r}; "
            "expected .png or .svg"
        )
    targets = _paths(path, list(_SLUGS[kind]))
    for target in targets:
        check_output_target(target, flag)
    figs = figures(kind, doc)
    written = []
    try:
        for target, (_slug, fig) in zip(_paths(path, [s for s, _ in figs]), figs):
            _write(target, _render(fig, fmt))
            written.append(target)
    finally:
        for _slug, fig in figs:
            fig.clear()
    return written
