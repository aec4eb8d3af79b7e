"""Bench runs (`bench --json`) and calibrations (`bench` with no profile, `--json`).

Both draw `latency`: predicted against measured batch-1 latency on log axes, the diagonal where
they agree, the ±15% band around it shaded, every point named (greedy placement; a name with
no free place is listed under the plot instead), green inside the band and red outside.

`errors` differs:
- bench: each architecture's prediction error for latency, training step and peak memory
  (signed %, + means predicted too high), the ±15% band shaded.
- calibration: left, the held-out error of every architecture the fit did not see, sorted,
  with the median and p90 absolute error; right, the fitted compute-time factor per layer kind
  (1 = the uncalibrated roofline was right), on a log axis.
"""

from __future__ import annotations

from . import _style as S

BAND = 0.15
IN, OUT = "#2ca02c", "#d62728"


def _latency_figure(points, heading: str, sub: str, notes: list[str]):
    """points: [(name, measured_ms, predicted_ms)]."""
    fig = S.new_figure(12, 9)
    ax = fig.add_axes((0.09, 0.1, 0.66, 0.76))
    S.title(fig, heading, sub)
    meas = [m for _, m, _ in points]
    pred = [p for _, _, p in points]
    lo, hi = S.log_limits(meas + pred, pad=1.6)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal", adjustable="box")
    xs = [lo, hi]
    ax.fill_between(
        xs,
        [x * (1 - BAND) for x in xs],
        [x * (1 + BAND) for x in xs],
        color=IN,
        alpha=0.12,
        lw=0,
        label="within ±15% of measured",
    )
    ax.plot(xs, xs, color="#444", lw=1, ls="--", label="predicted = measured")
    inside = [abs(p / m - 1) <= BAND for _, m, p in points]
    for flag, colour, words in ((True, IN, "prediction within ±15%"), (False, OUT, "outside")):
        sel = [(m, p) for (_, m, p), f in zip(points, inside) if f == flag]
        if sel:
            ax.scatter(
                *zip(*sel),
                color=colour,
                s=45,
                zorder=4,
                edgecolors="white",
                linewidths=0.6,
                label=f"{words} ({len(sel)})",
            )
    ax.set_xlabel("measured latency at batch 1 (ms, log)")
    ax.set_ylabel("predicted latency at batch 1 (ms, log)")
    S.plain_log_ticks(ax.xaxis)
    S.plain_log_ticks(ax.yaxis)
    # the worst misses first: they are the ones a reader looks for
    order = sorted(range(len(points)), key=lambda i: -abs(points[i][2] / points[i][1] - 1))
    items = [(points[i][1], points[i][2], S.text(points[i][0], 36), False) for i in order]
    left_out = S.place_labels(ax, items, fontsize=8.5)
    S.legend_outside(ax)
    if left_out:
        notes = notes + [f"{left_out} of {len(items)} names left out to avoid overlap."]
    S.footnote(fig, notes)
    return fig


def _median(values: list[float]) -> float:
    v = sorted(values)
    n = len(v)
    return (v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2) if v else 0.0


def _sub(doc: dict, state: bool = True) -> str:
    parts = [f"device {S.device_words(doc, state)}"]
    if doc.get("backend_version") or doc.get("backend"):
        parts.append(S.text(doc.get("backend_version") or doc.get("backend"), 40))
    if doc.get("date"):
        parts.append(S.text(doc["date"], 20))
    return "; ".join(parts)


def bench_figures(doc: dict) -> list[tuple[str, object]]:
    rows = S.rows(doc, "results")
    points, errs, skipped = [], [], []
    for r in rows:
        name = f"{r.get('arch', '?')} {r.get('precision', '')}".strip()
        m, p = S.pos(r.get("latency_ms_p50")), S.pos(r.get("predicted_latency_ms"))
        if r.get("status", "ok") != "ok" or m is None or p is None:
            skipped.append(f"{S.text(name, 40)} ({S.text(r.get('status', 'no timing'), 20)})")
            continue
        points.append((name, m, p))
        errs.append(
            (
                name,
                S.num(r.get("latency_error_pct")),
                S.num(r.get("train_step_error_pct")),
                S.num(r.get("memory_error_pct")),
            )
        )
    notes = []
    if skipped:
        notes.append("not measured: " + ", ".join(skipped[:8]) + (" …" if len(skipped) > 8 else ""))
    if doc.get("interrupted"):
        notes.append("the run was interrupted: these are the rows it finished")
    within = sum(abs(p / m - 1) <= BAND for _, m, p in points)
    lat = _latency_figure(
        points,
        f"bench: predicted vs measured latency, {within} of {len(points)} within ±15%",
        _sub(doc),
        notes,
    )

    fig = S.new_figure(13, max(6.0, min(16.0, 2.5 + 0.42 * len(errs))))
    h = fig.get_figheight()
    ax = fig.add_axes((0.22, 1.1 / h, 0.58, 1 - 2.4 / h))
    S.title(fig, f"bench: prediction error per architecture ({len(errs)} measured)", _sub(doc))
    ax.axvspan(-100 * BAND, 100 * BAND, color=IN, alpha=0.12, lw=0, label="±15%")
    ax.axvline(0, color="#444", lw=1)
    width = 0.26
    series = (
        (1, "latency (batch 1)", "#1f77b4"),
        (2, "training step", "#ff7f0e"),
        (3, "peak memory", "#9467bd"),
    )
    for k, (col, label, colour) in enumerate(series):
        ys = [i + (k - 1) * width for i in range(len(errs))]
        vals = [e[col] if e[col] is not None else 0.0 for e in errs]
        ax.barh(ys, vals, height=width, color=colour, label=label)
        for y, v, e in zip(ys, vals, errs):
            if e[col] is not None:
                ax.text(v, y, f" {v:+.0f}% " if abs(v) >= 0.5 else f" {v:+.1f}% ",
                        va="center", ha="left" if v >= 0 else "right", fontsize=7.5)  # fmt: skip
    ax.set_yticks(range(len(errs)), [S.text(e[0], 36) for e in errs])
    ax.invert_yaxis()
    lo, hi = ax.get_xlim()
    ax.set_xlim(min(lo, -20) * 1.15, max(hi, 20) * 1.15)
    ax.set_xlabel("prediction error (% of measured; + = predicted too high)")
    ax.grid(axis="y", visible=False)
    S.legend_outside(ax)
    return [("latency", lat), ("errors", fig)]


def calibration_figures(doc: dict) -> list[tuple[str, object]]:
    cal = doc.get("calibration") if isinstance(doc.get("calibration"), dict) else {}
    held = S.rows(doc, "held_out")
    points = []
    for r in held:
        m, p = S.pos(r.get("measured_latency_ms")), S.pos(r.get("predicted_latency_ms"))
        if m is not None and p is not None:
            points.append((str(r.get("arch", "?")), m, p))
    samples = S.num(cal.get("samples"))
    sub = _sub(doc, state=False) + (f"; fitted on {samples:g} timings" if samples else "")
    within = sum(abs(p / m - 1) <= BAND for _, m, p in points)
    lat = _latency_figure(
        points,
        f"calibration: held-out architectures, predicted vs measured latency "
        f"({within} of {len(points)} within ±15%)",
        sub,
        [
            "Held out: architectures the fit did not see; their error is what to expect "
            "for a new one."
        ],
    )

    fig = S.new_figure(14, 8.5)
    gs = fig.add_gridspec(1, 2, left=0.14, right=0.97, top=0.84, bottom=0.1, wspace=0.45)
    ax, fx = fig.add_subplot(gs[0]), fig.add_subplot(gs[1])
    S.title(fig, "calibration: how far off predictions are, and what the fit changed", sub)
    errors = []
    for name, m, p in points:
        errors.append((name, 100 * (p / m - 1)))
    errors.sort(key=lambda e: e[1])
    ax.axvspan(-100 * BAND, 100 * BAND, color=IN, alpha=0.12, lw=0, label="±15%")
    ax.barh(
        range(len(errors)),
        [e for _, e in errors],
        color=[IN if abs(e) <= 100 * BAND else OUT for _, e in errors],
        height=0.65,
    )
    ax.set_yticks(range(len(errors)), [S.text(n, 30) for n, _ in errors])
    ax.axvline(0, color="#444", lw=1)
    med = S.num(cal.get("median_error_pct"))
    p90 = S.num(cal.get("p90_error_pct"))
    if med is None and errors:
        med = _median([abs(e) for _, e in errors])
    for v, words, style in ((med, "median |error|", "--"), (p90, "p90 |error|", ":")):
        if v is not None:
            ax.axvline(v, color="#333", ls=style, lw=1.2, label=f"{words} {v:.0f}%")
            ax.axvline(-v, color="#333", ls=style, lw=1.2)
    ax.set_xlabel("held-out latency error (% of measured; + = predicted too high)")
    ax.set_title(f"held-out error, {len(errors)} architectures", loc="left")
    ax.grid(axis="y", visible=False)
    ax.legend(loc="lower right", fontsize=9)

    scale = cal.get("compute_scale") if isinstance(cal.get("compute_scale"), dict) else {}
    factors = sorted(
        ((str(k), v) for k, v in scale.items() if S.pos(v) is not None), key=lambda kv: kv[1]
    )
    if factors:
        fx.barh(
            range(len(factors)),
            [v - 1 for _, v in factors],
            left=1,
            color=["#1f77b4" if v >= 1 else "#ff7f0e" for _, v in factors],
            height=0.65,
        )
        fx.set_yticks(range(len(factors)), [S.text(k, 30) for k, _ in factors], fontsize=8)
        fx.axvline(1, color="#444", lw=1)
        fx.set_xscale("log")
        lo = min(v for _, v in factors)
        hi = max(v for _, v in factors)
        fx.set_xlim(min(lo, 0.8) / 1.2, max(hi, 1.25) * 1.2)
        S.plain_log_ticks(fx.xaxis)
        fx.set_xlabel("fitted compute-time factor (× the uncalibrated prediction, log)")
        fx.set_title("per layer kind: > 1 slower than the roofline said", loc="left")
        fx.grid(axis="y", visible=False)
    else:
        fx.set_axis_off()
        fx.text(0.5, 0.5, "no fitted factors in this document", ha="center", transform=fx.transAxes)
    return [("latency", lat), ("errors", fig)]
