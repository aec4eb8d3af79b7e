"""Trial stores (`trial --json`): three figures.

- curves: every candidate's learning curve by epoch, validation loss (log) on the left and the
  trial's metric on the right (its axis zoomed to where the candidates end; early epochs run
  off it). A circle marks the end of each rung a candidate ran, a cross where successive
  halving stopped it, a star a candidate that ran every rung. The ten best by measured rank
  have their own colour and are named at the right edge (pushed apart so none overlaps); the
  rest are thin grey lines. Baselines (no curve) are dashed horizontal lines.
- pareto: the measured metric against measured p50 latency (log), the Pareto front (faster and
  better), every point named (greedy placement), the winner in bold; candidates that miss a
  profile limit are grey; baselines (no latency) are dashed lines.
- ranks: the analytic rank (what `recommend` predicted) against the measured rank, with the
  diagonal where they agree, every point named, misjudged candidates in red, and the Spearman
  correlation in the title.
"""

from __future__ import annotations

from . import _style as S

TOP = 10


def _metric(doc: dict) -> tuple[str, bool]:
    name = str(doc.get("metric_name") or "val_accuracy")
    maximize = doc.get("maximize")
    if not isinstance(maximize, bool):
        maximize = "acc" in name
    return name, maximize


def _words(name: str) -> str:
    return {
        "val_accuracy": "validation accuracy",
        "val_rmse": "validation RMSE",
        "val_loss": "validation loss",
    }.get(name, S.text(name, 30))


def _sub(doc: dict) -> str:
    parts = [f"profile {S.text(doc.get('profile', '?'))}"]
    budget = S.num(doc.get("budget_seconds"))
    if budget:
        parts.append(f"budget {budget:g} s")
    plan = doc.get("plan") if isinstance(doc.get("plan"), dict) else {}
    rungs = [S.num(r) for r in plan.get("rungs_s") or [] if S.num(r) is not None]
    if rungs:
        unit = "epochs" if plan.get("rung_unit") == "epochs" else "s of training"
        parts.append("rungs " + ", ".join(f"{r:.3g}" for r in rungs) + f" {unit}")
    notes = doc.get("notes") if isinstance(doc.get("notes"), list) else []
    dev = next((n for n in notes if isinstance(n, str) and n.startswith("device ")), None)
    if dev:
        parts.append(S.text(dev.split(" (")[0], 60))
    return "; ".join(parts)


def _curves_figure(doc, board, metric, maximize):
    fig = S.new_figure(15, 8.5)
    gs = fig.add_gridspec(1, 2, left=0.06, right=0.84, top=0.86, bottom=0.1, wspace=0.22)
    loss_ax, met_ax = fig.add_subplot(gs[0]), fig.add_subplot(gs[1])
    nets = [r for r in board if r.get("kind") != "baseline" and r.get("curve")]
    bases = [r for r in board if r.get("kind") == "baseline" and S.num(r.get("metric")) is not None]
    ranked = sorted(nets, key=lambda r: S.num(r.get("measured_rank")) or 1e9)
    colours = {id(r): S.PALETTE[i % len(S.PALETTE)] for i, r in enumerate(ranked[:TOP])}
    S.title(
        fig,
        f"trial: learning curves of {len(nets)} candidates, rungs and where each was stopped",
        _sub(doc),
    )
    finals, every, ends = [], [], []
    for r in reversed(ranked):  # best drawn last, on top
        pts = [c for c in r["curve"] if isinstance(c, dict) and S.num(c.get("epoch")) is not None]
        ep = [S.num(c["epoch"]) for c in pts]
        colour = colours.get(id(r), S.GREY)
        lw, z = (1.6, 3) if id(r) in colours else (0.8, 2)
        for ax, key in ((loss_ax, "val_loss"), (met_ax, metric)):
            xy = [(e, S.num(c.get(key))) for e, c in zip(ep, pts) if S.num(c.get(key)) is not None]
            if key == "val_loss":
                xy = [(e, v) for e, v in xy if v > 0]
            if not xy:
                continue
            ax.plot(*zip(*xy), color=colour, lw=lw, zorder=z)
            by_epoch = dict(xy)
            rung_eps = [S.num(g.get("epochs")) for g in r.get("rungs") or [] if isinstance(g, dict)]
            marks = [(e, by_epoch[e]) for e in rung_eps if e in by_epoch]
            if marks:
                ax.scatter(
                    *zip(*marks),
                    s=28,
                    facecolors="white",
                    edgecolors=colour,
                    zorder=z + 1,
                    linewidths=1.3,
                )
            last = xy[-1]
            if r.get("stopped_at_rung") is not None:
                ax.scatter(
                    [last[0]],
                    [last[1]],
                    marker="X",
                    s=70,
                    color=colour,
                    zorder=z + 2,
                    edgecolors="white",
                    linewidths=0.5,
                )
            else:
                ax.scatter(
                    [last[0]],
                    [last[1]],
                    marker="*",
                    s=130,
                    color=colour,
                    zorder=z + 2,
                    edgecolors="white",
                    linewidths=0.5,
                )
            if key == metric:
                finals.append(last[1])
                every += [v for _, v in xy]
                if id(r) in colours:
                    ends.append((r, last[1]))
    base_vals = []
    for i, b in enumerate(bases):
        v = S.num(b["metric"])
        base_vals.append(v)
        met_ax.axhline(v, color="#555", ls=(0, (4, 3)), lw=1, zorder=1)
        met_ax.text(
            0.01,
            v,
            f" baseline {S.text(b.get('name', '?'), 30)}: {v:.4g}",
            transform=met_ax.get_yaxis_transform(),
            fontsize=8,
            color="#444",
            va="bottom" if i % 2 == 0 else "top",
        )
    loss_ax.set_yscale("log")
    S.plain_log_ticks(loss_ax.yaxis)
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("validation loss (log)")
    loss_ax.set_title("validation loss", loc="left")
    met_ax.set_xlabel("epoch")
    words = _words(metric)
    met_ax.set_ylabel(f"{words} ({'higher' if maximize else 'lower'} is better)")
    met_ax.set_title(f"{words}, zoomed to where the candidates end", loc="left")
    if finals:
        ref = finals + base_vals
        lo, hi = min(ref), max(ref)
        span = max(hi - lo, 1e-3 * max(abs(hi), 1e-9), 1e-9)
        if maximize:
            top = max(every + base_vals)
            met_ax.set_ylim(lo - 0.6 * span, top + 0.12 * span)
        else:
            bottom = min(every + base_vals)
            met_ax.set_ylim(bottom - 0.12 * span, hi + 0.6 * span)
    for ax in (loss_ax, met_ax):
        ax.set_xlim(left=0)
    S.end_labels(
        met_ax,
        [
            (
                v,
                f"{int(S.num(r.get('measured_rank')) or 0)}. {S.text(r.get('name', '?'), 26)}",
                colours[id(r)],
            )
            for r, v in ends
        ],
        fontsize=8.5,
    )
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], marker="o", ls="", mfc="white", mec="#333", markersize=6),
        Line2D([], [], marker="X", ls="", color="#333", markersize=8),
        Line2D([], [], marker="*", ls="", color="#333", markersize=11),
        Line2D([], [], color="#555", ls=(0, (4, 3))),
    ]
    labels = ["end of a rung", "stopped by successive halving", "ran every rung", "baseline"]
    if len(nets) > TOP:
        handles.append(Line2D([], [], color=S.GREY, lw=0.8))
        labels.append(f"{len(nets) - TOP} more candidates (grey)")
    loss_ax.legend(handles, labels, loc="upper right", fontsize=9)
    S.footnote(fig, ["Names at the right: measured rank and candidate, best ten coloured."])
    return fig


def _pareto_figure(doc, board, metric, maximize):
    fig = S.new_figure(13, 8.5)
    ax = fig.add_axes((0.08, 0.1, 0.68, 0.76))
    pts = []
    for r in board:
        lat, m = S.pos(r.get("latency_ms_p50")), S.num(r.get("metric"))
        if lat is not None and m is not None and r.get("kind") != "baseline":
            pts.append((r, lat, m))
    bases = [r for r in board if r.get("kind") == "baseline" and S.num(r.get("metric")) is not None]
    words = _words(metric)
    S.title(
        fig, f"trial: measured {words} against measured latency, {len(pts)} candidates", _sub(doc)
    )
    winner = doc.get("winner") if isinstance(doc.get("winner"), dict) else {}
    families = sorted({str(r.get("family")) for r, _, _ in pts})
    for fam in families:
        marker, colour = S.family_style(fam)
        for ok in (True, False):
            sel = [
                (lat, m)
                for r, lat, m in pts
                if str(r.get("family")) == fam and (r.get("meets_limits") is not False) == ok
            ]
            if sel:
                ax.scatter(
                    *zip(*sel),
                    marker=marker,
                    s=60,
                    zorder=3,
                    color=colour if ok else S.GREY,
                    edgecolors="white",
                    linewidths=0.6,
                    label=f"{S.text(fam, 20)}" + ("" if ok else " (misses a limit)"),
                )
    xy = [(lat, m) for _, lat, m in pts]
    front = S.pareto(xy, maximize_y=maximize)
    S.draw_front(
        ax,
        [xy[i][0] for i in front],
        [xy[i][1] for i in front],
        maximize,
        f"Pareto front (faster and {'higher' if maximize else 'lower'})",
    )
    for b in bases:
        v = S.num(b["metric"])
        ax.axhline(
            v,
            color="#555",
            ls=(0, (4, 3)),
            lw=1,
            zorder=1,
            label=f"baseline {S.text(b.get('name', '?'), 30)}\n(no latency measured)",
        )
    ax.set_xscale("log")
    ax.set_xlim(*S.log_limits([lat for _, lat, _ in pts], pad=1.5))
    vals = [m for _, _, m in pts] + [S.num(b["metric"]) for b in bases]
    if vals:
        span = max(max(vals) - min(vals), 1e-3 * max(abs(max(vals)), 1e-9), 1e-9)
        ax.set_ylim(min(vals) - 0.12 * span, max(vals) + 0.12 * span)
    S.plain_log_ticks(ax.xaxis)
    ax.set_xlabel("measured p50 latency at batch 1 (ms, log)")
    ax.set_ylabel(f"measured {words} ({'higher' if maximize else 'lower'} is better)")
    win = winner.get("name")
    order = sorted(range(len(pts)), key=lambda i: (pts[i][0].get("name") != win, i not in front, i))
    items = [
        (
            pts[i][1],
            pts[i][2],
            ("winner: " if pts[i][0].get("name") == win else "")
            + S.text(pts[i][0].get("name", "?"), 32),
            pts[i][0].get("name") == win,
        )
        for i in order
    ]
    left_out = S.place_labels(ax, items, fontsize=8.5)
    S.legend_outside(ax)
    S.footnote(fig, [f"{left_out} names left out to avoid overlap."] if left_out else [])
    return fig


def _ranks_figure(doc, board):
    fig = S.new_figure(11, 9)
    ax = fig.add_axes((0.09, 0.1, 0.62, 0.74))
    pts = []
    for r in board:
        a, m = S.num(r.get("analytic_rank")), S.num(r.get("measured_rank"))
        if a is not None and m is not None:
            pts.append((r, a, m))
    rho = S.num(doc.get("spearman_analytic_vs_measured"))
    basis = doc.get("spearman_basis")
    S.title(
        fig,
        "trial: analytic rank against measured rank"
        + (f", Spearman ρ = {rho:.2f}" if rho is not None else ""),
        _sub(doc) + (f"\nρ: {S.text(basis, 90)}" if basis else ""),
    )
    misjudged = {
        str(m.get("name")): str(m.get("verdict", ""))
        for m in doc.get("misjudged") or []
        if isinstance(m, dict)
    }
    top_a = max([a for _, a, _ in pts] or [1.0])
    top_m = max([m for _, _, m in pts] or [1.0])
    top = max(top_a, top_m)
    ax.plot(
        [0.5, top + 0.5], [0.5, top + 0.5], color="#444", ls="--", lw=1, label="analytic = measured"
    )
    ok = [(a, m) for r, a, m in pts if str(r.get("name")) not in misjudged]
    bad = [(a, m) for r, a, m in pts if str(r.get("name")) in misjudged]
    if ok:
        ax.scatter(*zip(*ok), s=55, color="#1f77b4", zorder=3, label="ranked about right")
    if bad:
        ax.scatter(
            *zip(*bad), s=55, color="#d62728", zorder=3, label="misjudged (under- or overrated)"
        )
    ax.set_xlim(0.3, top_a + 0.9)
    ax.set_ylim(0.3, top_m + 0.9)
    ax.set_xlabel("analytic rank (recommend's prediction; 1 = best)")
    ax.set_ylabel("measured rank in the trial (1 = best)")
    items = []
    for r, a, m in pts:
        label = S.text(r.get("name", "?"), 30)
        verdict = misjudged.get(str(r.get("name")))
        if verdict:
            label += f" ({S.text(verdict, 12)})"
        items.append((a, m, label, bool(verdict)))
    left_out = S.place_labels(ax, items, fontsize=8.5)
    S.legend_outside(ax)
    notes = []
    skipped = [r for r in board if S.num(r.get("analytic_rank")) is None]
    if skipped:
        names = ", ".join(S.text(r.get("name", "?"), 30) for r in skipped[:5])
        notes.append(f"Not plotted (no analytic rank): {names}; they still take measured ranks.")
    if left_out:
        notes.append(f"{left_out} names left out to avoid overlap.")
    S.footnote(fig, notes)
    return fig


def figures(doc: dict) -> list[tuple[str, object]]:
    board = S.rows(doc, "leaderboard")
    metric, maximize = _metric(doc)
    return [
        ("curves", _curves_figure(doc, board, metric, maximize)),
        ("pareto", _pareto_figure(doc, board, metric, maximize)),
        ("ranks", _ranks_figure(doc, board)),
    ]
