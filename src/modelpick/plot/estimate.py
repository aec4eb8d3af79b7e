"""`estimate --plot`: one figure, two panels.

- left: the predicted training memory at each precision, stacked: weights, gradients, optimizer
  state, activations, and the rest (buffers and the input batch); the total and the phase of
  the peak are written at the bar's end; the inference memory is a black tick.
- right: each layer's share of the forward FLOPs (in model order; when there are more than 40
  layers, grouped by top-level block). When the document's layer rows carry a predicted time
  (`latency_ms`), its share is drawn beside the FLOPs share; the estimate document of today
  does not, and the panel's title says that only FLOPs are shown.
"""

from __future__ import annotations

from . import _style as S

PARTS = (
    ("weights_bytes", "weights", "#1f77b4"),
    ("gradients_bytes", "gradients", "#ff7f0e"),
    ("optimizer_bytes", "optimizer state", "#2ca02c"),
    ("activations_bytes", "activations (saved for backward)", "#d62728"),
    (("buffers_bytes", "inputs_bytes"), "buffers and input batch", "#9a9a9a"),
)
MAX_LAYERS = 40
_TIME_KEYS = ("latency_ms", "predicted_ms", "time_ms")


def _layers(doc: dict) -> tuple[list[tuple[str, float, float | None]], bool]:
    """[(label, flops, time or None)] in model order; grouped when there are many."""
    rows = []
    for r in S.rows(doc, "layers"):
        flops = S.num(r.get("flops")) or 0.0
        t = next((S.num(r.get(k)) for k in _TIME_KEYS if S.num(r.get(k)) is not None), None)
        rows.append((str(r.get("path", "?")), str(r.get("kind", "?")), flops, t))
    if len(rows) <= MAX_LAYERS:
        return [(f"{S.text(p, 24)}  {S.text(k, 16)}", f, t) for p, k, f, t in rows], False
    groups: dict[str, list] = {}
    for p, _k, f, t in rows:
        g = groups.setdefault(p.split(".")[0], [0.0, None, 0])
        g[0] += f
        if t is not None:
            g[1] = (g[1] or 0.0) + t
        g[2] += 1
    return [(f"{S.text(name, 24)}  ({n} layers)", f, t) for name, (f, t, n) in groups.items()], True


def figures(doc: dict) -> list[tuple[str, object]]:
    from matplotlib.patches import Patch

    preds = [p for p in S.rows(doc, "predictions") if isinstance(p.get("train_memory"), dict)]
    layers, grouped = _layers(doc)
    n = len(layers)
    height = max(8.5, min(16.0, 2.2 + 0.2 * n))
    fig = S.new_figure(15, height)
    top = 1 - 1.15 / height
    gs = fig.add_gridspec(
        1,
        2,
        width_ratios=[1, 1.05],
        left=0.07,
        right=0.97,
        top=top,
        bottom=0.9 / height + 0.05,
        wspace=0.42,
    )
    mem_ax = fig.add_subplot(gs[0])
    lay_ax = fig.add_subplot(gs[1])

    name = S.text(doc.get("name", "?"))
    params, flops = S.num(doc.get("params")), S.num(doc.get("flops"))
    facts = []
    if params is not None:
        facts.append(f"{S.si(params)} params")
    if flops is not None:
        facts.append(f"{S.si(flops)} FLOPs per sample")
    S.title(
        fig,
        f"estimate: where {name}'s training memory and compute go",
        f"{', '.join(facts)}; device {S.device_words(doc)}",
    )

    # left: memory breakdown per precision
    labels = []
    for row, p in enumerate(preds):
        tm = p["train_memory"]
        left = 0.0
        for key, part, colour in PARTS:
            keys = key if isinstance(key, tuple) else (key,)
            v = sum(S.num(tm.get(k)) or 0.0 for k in keys) / 2**20
            mem_ax.barh(
                row, v, left=left, color=colour, height=0.6, label=part if row == 0 else None
            )
            left += v
        peak = S.num(tm.get("peak_bytes")) or S.num(p.get("train_memory_bytes")) or left * 2**20
        phase = tm.get("peak_phase")
        words = f" {S.bytes_words(peak)}" + (f" peak ({S.text(phase, 16)})" if phase else "")
        mem_ax.text(left, row, words, va="center", ha="left", fontsize=9)
        inf = S.num(p.get("inference_memory_bytes"))
        if inf is not None:
            mem_ax.plot([inf / 2**20] * 2, [row - 0.38, row + 0.38], color="black", lw=2)
        batch = S.num(p.get("batch_size"))
        labels.append(
            f"{S.text(p.get('precision', '?'), 8)}" + (f"\nbatch {batch:g}" if batch else "")
        )
    mem_ax.set_yticks(range(len(preds)), labels)
    mem_ax.invert_yaxis()
    xmax = max(
        [
            (S.num(p["train_memory"].get("peak_bytes")) or S.num(p.get("train_memory_bytes")) or 0)
            / 2**20
            for p in preds
        ]
        or [1.0]
    )
    mem_ax.set_xlim(0, xmax * 1.45)
    mem_ax.set_xlabel("predicted training memory (MiB)")
    mem_ax.set_title("training memory by part, per precision", loc="left")
    mem_ax.grid(axis="y", visible=False)
    handles, hl = mem_ax.get_legend_handles_labels()
    handles.append(Patch(facecolor="none", edgecolor="none"))
    from matplotlib.lines import Line2D

    handles[-1] = Line2D([], [], color="black", lw=2)
    hl.append("inference memory (batch 1)")
    mem_ax.legend(
        handles,
        hl,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
        ncol=3,
        fontsize=9,
        frameon=False,
    )

    # right: per-layer share of FLOPs (and of time, if the document has it)
    total_f = sum(f for _, f, _ in layers) or 1.0
    has_time = any(t is not None for _, _, t in layers)
    total_t = sum(t or 0.0 for _, _, t in layers) or 1.0
    ys = list(range(n))
    h = 0.4 if has_time else 0.7
    lay_ax.barh(
        [y - (h / 2 if has_time else 0) for y in ys],
        [100 * f / total_f for _, f, _ in layers],
        height=h,
        color="#1f77b4",
        label="share of forward FLOPs",
    )
    if has_time:
        lay_ax.barh(
            [y + h / 2 for y in ys],
            [100 * (t or 0.0) / total_t for _, _, t in layers],
            height=h,
            color="#ff7f0e",
            label="share of predicted time",
        )
        lay_ax.legend(loc="lower right", fontsize=9)
    lay_ax.set_yticks(ys, [label for label, _, _ in layers], fontsize=8 if n > 25 else 9)
    lay_ax.invert_yaxis()
    lay_ax.set_xlabel("share of the model's forward FLOPs (%)")
    what = (
        "FLOPs and predicted time" if has_time else "FLOPs (per-layer time is not in the document)"
    )
    lay_ax.set_title(
        f"per-layer share of {what}" + (", by top-level block" if grouped else ""),
        loc="left",
    )
    lay_ax.grid(axis="y", visible=False)
    for y, (_, f, _) in zip(ys, layers):
        share = 100 * f / total_f
        if share >= 1:
            lay_ax.text(
                share, y - (h / 2 if has_time else 0), f" {share:.0f}%", va="center", fontsize=7.5
            )
    xmax = max([100 * f / total_f for _, f, _ in layers] or [1.0])
    lay_ax.set_xlim(0, xmax * 1.15)
    return [("breakdown", fig)]
