"""`recommend --plot`: every candidate by predicted p95 batch-1 latency, in two panels sharing
that axis.

- top: the ranking score against latency; the Pareto front (no other candidate is both faster
  and better scored) as a staircase; the top pick and the front's points are labelled (only
  those: with 50 candidates, naming every point would overlap).
- bottom: predicted training memory against latency, with the profile's memory limit.

Marker and colour by family, marker area by forward FLOPs, filled for fp32 and hollow for the
16-bit precisions. The profile's latency limit is a vertical line in both panels. A rejected
candidate is grey, placed by what its document says: its prediction when it carries one,
otherwise its miss ratio times the limit it missed (a limit it missed fixes that coordinate;
one without the other coordinate is a grey tick on that axis' edge).
"""

from __future__ import annotations

import math
import re

from . import _style as S

# The profile's limits, when the document does not carry them as a `budget`/`limits` object,
# are read from the ranking's own sentences (the only place a recommend document states them).
_LIMIT_TEXT = {
    "latency_ms": [r"exceeds latency_ms ([0-9.eE+-]+)", r"of a ([0-9.eE+-]+) ms limit"],
    "memory_gb": [r"exceeds memory_gb ([0-9.eE+-]+)"],
    "train_minutes": [r"train_minutes is ([0-9.eE+-]+)"],
    "max_params": [r"exceed max_params ([0-9,]+)"],
}


def limits(doc: dict) -> dict[str, float]:
    out: dict[str, float] = {}
    for key in ("limits", "budget"):
        given = doc.get(key)
        if isinstance(given, dict):
            for name in _LIMIT_TEXT:
                v = S.pos(given.get(name))
                if v is not None:
                    out.setdefault(name, v)
    sentences = []
    for r in S.rows(doc, "rejected"):
        sentences.append(str(r.get("reason", "")))
    for c in S.rows(doc, "candidates"):
        for crit in c.get("criteria") or []:
            if isinstance(crit, dict):
                sentences.append(str(crit.get("why", "")))
    for name, patterns in _LIMIT_TEXT.items():
        if name in out:
            continue
        for pattern in patterns:
            for s in sentences:
                m = re.search(pattern, s)
                if m:
                    try:
                        v = float(m.group(1).replace(",", ""))
                    except ValueError:
                        continue
                    if math.isfinite(v) and v > 0:
                        out[name] = v
                        break
            if name in out:
                break
    return out


def _size(flops: float | None, lo: float, hi: float) -> float:
    if not flops or hi <= lo:
        return 60.0
    t = (math.log10(flops) - lo) / (hi - lo)
    return 25.0 + 230.0 * max(0.0, min(1.0, t))


def figures(doc: dict) -> list[tuple[str, object]]:
    from matplotlib.lines import Line2D

    cands = []
    for c in S.rows(doc, "candidates"):
        pred = c.get("prediction") if isinstance(c.get("prediction"), dict) else {}
        lat = S.pos(pred.get("latency_p95_ms")) or S.pos(pred.get("latency_ms"))
        mem = S.pos(pred.get("train_memory_bytes"))
        score = S.num(c.get("score"))
        if lat is None or mem is None or score is None:
            continue
        cands.append(
            {
                "name": c.get("name", "?"),
                "family": c.get("family", "?"),
                "precision": str(c.get("precision", "")),
                "lat": lat,
                "mem": mem / 2**20,
                "score": score,
                "flops": S.pos(c.get("flops")),
                "rank": S.num(c.get("rank")),
            }
        )
    lim = limits(doc)
    lat_lim, mem_lim = lim.get("latency_ms"), lim.get("memory_gb")
    mem_lim_mib = mem_lim * 1024 if mem_lim else None

    # rejected: coordinates from a prediction if present, else from the limits they missed
    rej_points, rej_x_only, rej_y_only, rej_none = [], [], [], 0
    for r in S.rows(doc, "rejected"):
        pred = r.get("prediction") if isinstance(r.get("prediction"), dict) else {}
        misses = r.get("misses") if isinstance(r.get("misses"), dict) else {}
        x = S.pos(pred.get("latency_p95_ms")) or S.pos(r.get("latency_p95_ms"))
        y = S.pos(pred.get("train_memory_bytes")) or S.pos(r.get("train_memory_bytes"))
        y = y / 2**20 if y else None
        if x is None and lat_lim and S.pos(misses.get("latency_ms")):
            x = lat_lim * misses["latency_ms"]
        if y is None and mem_lim_mib and S.pos(misses.get("memory_gb")):
            y = mem_lim_mib * misses["memory_gb"]
        if x and y:
            rej_points.append((x, y))
        elif x:
            rej_x_only.append(x)
        elif y:
            rej_y_only.append(y)
        else:
            rej_none += 1
    n_rej = len(S.rows(doc, "rejected"))

    fig = S.new_figure(14, 9)
    gs = fig.add_gridspec(
        2, 1, height_ratios=[3, 2], left=0.07, right=0.77, top=0.88, bottom=0.1, hspace=0.08
    )
    top = fig.add_subplot(gs[0])
    bottom = fig.add_subplot(gs[1], sharex=top)

    profile = S.text(doc.get("profile", "?"))
    S.title(
        fig,
        f"recommend: {len(cands)} candidates for profile {profile} by predicted latency, "
        "score and training memory",
        f"device {S.device_words(doc)}; "
        f"{n_rej} rejected (grey); top pick labelled in bold, Pareto front labelled",
    )

    flops = [c["flops"] for c in cands if c["flops"]]
    lo, hi = (math.log10(min(flops)), math.log10(max(flops))) if flops else (0.0, 1.0)
    families = sorted({str(c["family"]) for c in cands})
    for fam in families:
        marker, colour = S.family_style(fam)
        for filled in (True, False):
            group = [
                c for c in cands if str(c["family"]) == fam and (c["precision"] == "fp32") == filled
            ]
            if not group:
                continue
            for ax, ykey in ((top, "score"), (bottom, "mem")):
                ax.scatter(
                    [c["lat"] for c in group],
                    [c[ykey] for c in group],
                    s=[_size(c["flops"], lo, hi) for c in group],
                    marker=marker,
                    facecolors=colour if filled else "white",
                    edgecolors=colour,
                    linewidths=1.3,
                    alpha=0.85,
                    zorder=3,
                )

    # Pareto front: faster and better scored
    pts = [(c["lat"], c["score"]) for c in cands]
    front = S.pareto(pts, maximize_y=True)
    S.draw_front(top, [pts[i][0] for i in front], [pts[i][1] for i in front], True, "")

    xs = [c["lat"] for c in cands] + [p[0] for p in rej_points] + rej_x_only
    extra = [lat_lim] if lat_lim else []
    xlo, xhi = S.log_limits(xs, extra=extra)
    top.set_xscale("log")
    top.set_xlim(xlo, xhi)
    scores = [c["score"] for c in cands] or [0.0, 1.0]
    span = max(max(scores) - min(scores), 0.05)
    top.set_ylim(min(scores) - 0.12 * span, max(scores) + 0.12 * span)
    ys = [c["mem"] for c in cands] + [p[1] for p in rej_points] + rej_y_only
    bottom.set_yscale("log")
    ylo, yhi = S.log_limits(ys, extra=[mem_lim_mib] if mem_lim_mib else [])
    bottom.set_ylim(ylo, yhi)

    # rejected, in grey
    if rej_points:
        bottom.scatter(*zip(*rej_points), marker="x", color=S.GREY, s=40, zorder=2)
    if rej_x_only:
        for ax in (top, bottom):
            ax.scatter(
                rej_x_only,
                [0.015] * len(rej_x_only),
                marker="|",
                s=220,
                color=S.GREY,
                transform=ax.get_xaxis_transform(),
                zorder=2,
                clip_on=False,
            )
    if rej_y_only:
        bottom.scatter(
            [0.01] * len(rej_y_only),
            rej_y_only,
            marker="_",
            s=220,
            color=S.GREY,
            transform=bottom.get_yaxis_transform(),
            zorder=2,
        )

    for ax in (top, bottom):
        if lat_lim:
            ax.axvline(lat_lim, color=S.LIMIT, ls="--", lw=1.3, zorder=1)
    if lat_lim:
        top.text(
            lat_lim,
            0.5,
            f" latency limit {lat_lim:g} ms (p95)",
            color=S.LIMIT,
            transform=top.get_xaxis_transform(),
            ha="left",
            va="center",
            rotation=90,
            fontsize=9,
        )
    if mem_lim_mib:
        bottom.axhline(mem_lim_mib, color=S.LIMIT, ls=":", lw=1.3, zorder=1)
        bottom.text(
            0.01,
            mem_lim_mib,
            f" memory limit {mem_lim:g} GiB",
            color=S.LIMIT,
            transform=bottom.get_yaxis_transform(),
            va="bottom",
            fontsize=9,
        )

    top.set_ylabel("ranking score (0–1, higher is better)")
    bottom.set_ylabel("predicted training memory (MiB, log)")
    bottom.set_xlabel("predicted p95 latency at batch 1 (ms, log)")
    top.tick_params(labelbottom=False)
    S.plain_log_ticks(bottom.xaxis)
    S.plain_log_ticks(bottom.yaxis)

    # labels: the top pick first, then the front's points
    best = min(range(len(cands)), key=lambda i: (cands[i]["rank"] or math.inf, i), default=None)
    order = ([best] if best is not None else []) + [i for i in front if i != best]
    items = []
    for i in order:
        c = cands[i]
        label = f"{S.text(c['name'], 32)} {S.text(c['precision'], 8)}"
        if i == best:
            label = f"top pick: {label}"
        items.append((c["lat"], c["score"], label, i == best))
    others = [(c["lat"], c["score"]) for j, c in enumerate(cands) if j not in set(order)]
    left_out = S.place_labels(top, items, fontsize=8.5, obstacles=others)
    if best is not None:
        c = cands[best]
        top.scatter(
            [c["lat"]],
            [c["score"]],
            s=_size(c["flops"], lo, hi) + 160,
            facecolors="none",
            edgecolors="black",
            linewidths=1.8,
            zorder=4,
        )
        bottom.scatter(
            [c["lat"]],
            [c["mem"]],
            s=_size(c["flops"], lo, hi) + 160,
            facecolors="none",
            edgecolors="black",
            linewidths=1.8,
            zorder=4,
        )

    # legend: families, precision fill, FLOPs sizes, the lines
    handles, labels = [], []
    for fam in families:
        marker, colour = S.family_style(fam)
        handles.append(Line2D([], [], marker=marker, ls="", color=colour, markersize=9))
        labels.append(f"family {S.text(fam, 20)}")
    handles += [
        Line2D([], [], marker="o", ls="", color="#555", markersize=9),
        Line2D([], [], marker="o", ls="", mec="#555", mfc="white", markersize=9),
    ]
    labels += ["fp32 (filled)", "bf16 / fp16 (hollow)"]
    if flops:
        for v in sorted({10**lo, 10 ** ((lo + hi) / 2), 10**hi}):
            size = _size(v, lo, hi)
            handles.append(
                Line2D(
                    [], [], marker="o", ls="", mec="#555", mfc="#ddd", markersize=math.sqrt(size)
                )
            )
            labels.append(f"{S.si(v)} FLOPs / sample")
    handles.append(
        Line2D([], [], marker="o", ls="", mec="black", mfc="none", markersize=13, mew=1.8)
    )
    labels.append("top pick")
    if front:
        handles.append(Line2D([], [], color=S.FRONT, lw=1.4))
        labels.append("Pareto front (faster and better scored)")
    if lat_lim or mem_lim_mib:
        handles.append(Line2D([], [], color=S.LIMIT, ls="--", lw=1.3))
        labels.append("profile limit")
    if n_rej:
        handles.append(
            Line2D([], [], marker="x" if rej_points else "|", ls="", color=S.GREY, markersize=10)
        )
        labels.append(f"rejected ({n_rej}): over a limit")
    S.legend_outside(top, handles, labels, labelspacing=1.1)

    notes = []
    if rej_x_only or rej_y_only:
        notes.append(
            "Grey ticks on an axis edge: rejected candidates placed by the one limit they missed "
            "(their other coordinate is not in the document)."
        )
    if rej_none:
        notes.append(f"{rej_none} rejected for limits not on these axes (training time, params).")
    if left_out:
        notes.append(f"{left_out} front labels left out to avoid overlap.")
    S.footnote(fig, notes)
    return [("pareto", fig)]
