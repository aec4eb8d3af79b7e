"""What every plot shares: loading matplotlib (Agg only), user text made safe, the figure, the
family markers, the label placer, the Pareto front and reading numbers out of a document.

Every string that came from a user (candidate, profile, device and architecture names) goes
through `text()`: control and invisible characters are shown as escapes, and `$` is escaped so
that matplotlib never reads a name as mathtext (`$x^2$` prints as `$x^2$`).
"""

from __future__ import annotations

import math
import unicodedata

from ..errors import InputError, UnavailableError

INSTALL = "pip install 'modelpick[plot]'"

WIDTH, HEIGHT, DPI = 14.0, 8.5, 100  # 1400 x 850 px

FAMILY_MARKERS = {
    "cnn": "o",
    "mlp": "s",
    "rnn": "^",
    "transformer": "D",
    "linear": "*",
}
FAMILY_COLOURS = {
    "cnn": "#1f77b4",
    "mlp": "#ff7f0e",
    "rnn": "#2ca02c",
    "transformer": "#9467bd",
    "linear": "#8c564b",
}
OTHER_MARKER, OTHER_COLOUR = "P", "#17becf"
GREY = "#9a9a9a"
LIMIT = "#d62728"
FRONT = "#222222"
PALETTE = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
    "#7f7f7f",
]

_HIDDEN = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))


def mpl():
    """matplotlib, on the Agg backend (never a display), or UnavailableError."""
    try:
        import matplotlib
    except ImportError:
        raise UnavailableError(f"plots need matplotlib: {INSTALL}") from None
    matplotlib.use("Agg", force=True)
    return matplotlib


def new_figure(width: float = WIDTH, height: float = HEIGHT):
    """A Figure on an Agg canvas, not registered with pyplot (nothing global to close)."""
    mpl()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def text(value: object, limit: int = 48) -> str:
    """A user-given string made safe for a plot: controls escaped, `$` escaped (no mathtext),
    at most `limit` characters (an ellipsis says it was cut)."""
    s = str(value)
    if not (s.isascii() and s.isprintable()):
        s = "".join(
            (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
            if unicodedata.category(ch) in _HIDDEN
            else ch
            for ch in s
        )
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return s.replace("$", r"\$")


def num(value: object) -> float | None:
    """A finite number, or None (booleans, text and NaN are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def pos(value: object) -> float | None:
    """A finite number > 0 (for log axes), or None."""
    v = num(value)
    return v if v is not None and v > 0 else None


def rows(doc: dict, key: str) -> list[dict]:
    """doc[key] as a list of dicts (anything else in it is skipped)."""
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"field {key!r} is not a list")
    return [r for r in value if isinstance(r, dict)]


def family_style(family: object) -> tuple[str, str]:
    f = str(family)
    return FAMILY_MARKERS.get(f, OTHER_MARKER), FAMILY_COLOURS.get(f, OTHER_COLOUR)


def device_words(doc: dict, state: bool = True) -> str:
    """`cpu (Intel Xeon), calibrated` for a title (without the calibration state if not
    `state`)."""
    dev = doc.get("device")
    if not isinstance(dev, dict):
        return text(dev) if isinstance(dev, str) else "unknown device"
    key, name = dev.get("key"), dev.get("name")
    words = text(key or dev.get("kind") or "device", 24)
    if name and name != key:
        words += f" ({text(name, 40)})"
    if not state:
        return words
    if dev.get("calibrated") is True:
        words += ", calibrated"
    elif dev.get("calibrated") is False:
        words += ", uncalibrated"
    return words


def title(fig, main: str, sub: str = "") -> None:
    fig.suptitle(main, x=0.01, y=0.985, ha="left", va="top", fontsize=14, fontweight="bold")
    if sub:
        fig.text(0.01, 0.935, sub, ha="left", va="top", fontsize=10, color="#444444")


def footnote(fig, lines: list[str]) -> None:
    if lines:
        fig.text(0.01, 0.01, "\n".join(lines), ha="left", va="bottom", fontsize=8.5, color="#555")


def bytes_words(n: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def si(n: float) -> str:
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:.3g}"


def log_limits(values: list[float], pad: float = 1.35, extra: list[float] = ()) -> tuple:
    vals = [v for v in (*values, *extra) if v and v > 0]
    if not vals:
        return 0.1, 10.0
    lo, hi = min(vals), max(vals)
    if hi / lo < 4:
        mid = math.sqrt(lo * hi)
        lo, hi = mid / 2, mid * 2
    return lo / pad, hi * pad


def pareto(points: list[tuple[float, float]], maximize_y: bool) -> list[int]:
    """Indices of the points no other point beats: lower x, and higher y (or lower y),
    sorted by x. Ties in both are all kept."""
    sign = -1.0 if maximize_y else 1.0
    order = sorted(range(len(points)), key=lambda i: (points[i][0], sign * points[i][1]))
    front, best = [], math.inf
    for i in order:
        y = sign * points[i][1]
        if y < best or (front and y == best and points[i][0] == points[front[-1]][0]):
            front.append(i)
            best = min(best, y)
    return front


def draw_front(ax, xs: list[float], ys: list[float], maximize_y: bool, label: str) -> None:
    """The Pareto front as a staircase through its points (x ascending)."""
    if not xs:
        return
    sx, sy = [xs[0]], [ys[0]]
    for x, y in zip(xs[1:], ys[1:]):
        sx += [x, x]
        sy += [sy[-1], y]
    ax.plot(sx, sy, color=FRONT, lw=1.4, ls="-", zorder=2, label=label, alpha=0.8)


# --- labels without overlaps ----------------------------------------------------------------

_DIRS = [(1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1)]


def place_labels(ax, items, fontsize: float = 8.0, obstacles=()) -> int:
    """Greedy labels: `items` is [(x, y, text, bold)] in data coordinates, most important
    first. Each label tries offsets in eight directions at growing distances (with a thin
    leader line) and takes the first whose box stays inside the axes and clear of
    every label already placed, every point in `obstacles` [(x, y)] and the items' own points.
    A label with no free place is left out; returns how many were.

    The axes' limits and position must be final (no layout engine) before this is called."""
    from matplotlib.text import Text

    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    to_px = ax.transData.transform
    r_px = 4.5 * fig.dpi / 72  # half a marker
    dots = [to_px((x, y)) for x, y in [*obstacles, *((i[0], i[1]) for i in items)]]
    placed = []
    left_out = 0

    def clear(bb) -> bool:
        if bb.x0 < frame.x0 + 2 or bb.x1 > frame.x1 - 2 or bb.y0 < frame.y0 + 2:
            return False
        if bb.y1 > frame.y1 - 2:
            return False
        for other in placed:
            if bb.overlaps(other):
                return False
        for px, py in dots:
            if bb.x0 - r_px < px < bb.x1 + r_px and bb.y0 - r_px < py < bb.y1 + r_px:
                return False
        return True

    for x, y, label, bold in items:
        done = False
        for dist in (8, 16, 26, 40, 58, 80):
            for dx, dy in _DIRS:
                ha = "left" if dx > 0 else "right" if dx < 0 else "center"
                va = "bottom" if dy > 0 else "top" if dy < 0 else "center"
                ann = ax.annotate(
                    label,
                    xy=(x, y),
                    xytext=(dx * dist, dy * dist * 0.8),
                    textcoords="offset points",
                    ha=ha,
                    va=va,
                    fontsize=fontsize,
                    fontweight="bold" if bold else "normal",
                    zorder=6,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
                    arrowprops={
                        "arrowstyle": "-",
                        "color": "#777777",
                        "lw": 0.6,
                        "shrinkA": 0,
                        "shrinkB": 4,
                    },
                    annotation_clip=False,
                )
                ann.update_positions(renderer)
                bb = Text.get_window_extent(ann, renderer).expanded(1.04, 1.1)  # not the line
                if clear(bb):
                    placed.append(bb)
                    done = True
                    break
                ann.remove()
            if done:
                break
        if not done:
            left_out += 1
    return left_out


def legend_outside(ax, handles=None, labels=None, **kw) -> None:
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    args = (handles, labels)
    ax.legend(
        *args,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
        fontsize=9,
        frameon=False,
        **kw,
    )


def plain_log_ticks(axis) -> None:
    """Log-axis tick labels as plain numbers (0.1, 1, 10), not powers of ten."""
    from matplotlib.ticker import FuncFormatter

    def minor(v: float, _pos) -> str:
        lo, hi = sorted(axis.get_view_interval())
        if lo <= 0 or hi / lo > 20 or v <= 0:
            return ""  # more than ~1.3 decades: the powers of ten are enough
        lead = round(v / 10 ** math.floor(math.log10(v) + 1e-9))
        return f"{v:g}" if lead in (2, 3, 5) else ""

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(FuncFormatter(minor))


def end_labels(ax, entries, fontsize: float = 8.0) -> None:
    """Names beside the right edge of `ax`, one per curve: `entries` is [(y_data, text,
    colour)]; labels are pushed apart vertically so none overlaps, and a thin line joins each
    to its curve's end."""
    if not entries:
        return
    from matplotlib.lines import Line2D

    fig = ax.figure
    frame = ax.get_window_extent(fig.canvas.get_renderer())
    gap = fontsize * 1.35 * fig.dpi / 72
    to_px = ax.transData.transform
    ys = []
    for y, label, colour in entries:
        py = to_px((ax.get_xlim()[1], y))[1]
        ys.append([min(max(py, frame.y0), frame.y1), label, colour, py])
    ys.sort(key=lambda e: -e[0])
    # top-down: each at least `gap` below the one above; then bottom-up if we ran off
    for i in range(1, len(ys)):
        ys[i][0] = min(ys[i][0], ys[i - 1][0] - gap)
    lowest = frame.y0 - 0.5 * gap * max(0, len(ys) - frame.height / gap)
    if ys[-1][0] < lowest:
        ys[-1][0] = lowest
        for i in range(len(ys) - 2, -1, -1):
            ys[i][0] = max(ys[i][0], ys[i + 1][0] + gap)
    inv = fig.transFigure.inverted().transform
    x_text = frame.x1 + 28
    for py, label, colour, py_true in ys:
        fx, fy = inv((x_text, py))
        fig.text(fx, fy, label, color=colour, fontsize=fontsize, va="center", ha="left")
        (ax0, ay0), (ax1, ay1) = inv((frame.x1 + 2, py_true)), inv((x_text - 3, py))
        if frame.y0 <= py_true <= frame.y1:
            fig.add_artist(Line2D([ax0, ax1], [ay0, ay1], color=colour, lw=0.6, alpha=0.7))
