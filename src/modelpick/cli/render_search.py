"""Rendering for `trial` and `report STORE`: the leaderboard, the winner and why, where the
analytic ranking was wrong. Every user-given string is escaped."""

from __future__ import annotations

from .options import console as _console
from .render import human
from .render_bench import md
from .term import markup, safe


def _f(x, spec=".4g"):
    return "–" if x is None else format(x, spec)


def _rung(r, top: int) -> str:
    if r["kind"] == "baseline":
        return "baseline"
    if r["status"] == "failed":
        return "failed"
    if r["stopped_at_rung"] is None:
        return "top" if r["metric"] is not None else "not run"
    return f"stopped at {r['stopped_at_rung']}"


def render_leaderboard(doc: dict) -> None:
    from rich.table import Table

    out = _console()
    top = len(doc["plan"]["rungs_s"]) - 1
    table = Table(
        title=markup(
            "{}: {} candidates, rungs of {} {} (η {}), {} of {} s",
            doc["profile"],
            doc["plan"]["candidates"],
            "/".join(f"{r:.3g}" for r in doc["plan"]["rungs_s"]),
            "epochs" if doc["plan"].get("rung_unit") == "epochs" else "s",
            doc["plan"]["eta"],
            f"{doc['elapsed_seconds']:.0f}",
            f"{doc['budget_seconds']:.0f}",
        ),
        title_justify="left",
    )
    for col in (
        "#",
        "candidate",
        "family",
        doc["metric_name"],
        "rung",
        "epochs",
        "train s",
        "p50 ms",
        "train mem",
        "params",
        "analytic #",
        "limits",
    ):
        table.add_column(
            col, justify="left" if col in ("candidate", "family", "rung", "limits") else "right"
        )
    for r in doc["leaderboard"]:
        table.add_row(
            _f(r["measured_rank"], "d") if r["measured_rank"] else "–",
            safe(r["name"]),
            safe(r["family"]),
            _f(r["metric"]),
            _rung(r, top),
            _f(r["epochs"], "d") if r["epochs"] is not None else "–",
            _f(r["train_seconds"], ".3g"),
            _f(r["latency_ms_p50"], ".3g"),
            "–" if r["train_memory_bytes"] is None else human(r["train_memory_bytes"], "B"),
            "–" if r["params"] is None else human(r["params"]),
            _f(r["analytic_rank"], "d") if r["analytic_rank"] else "–",
            "ok" if r["meets_limits"] else safe("; ".join(r["limit_misses"])),
        )
    out.print(table)
    w = doc["winner"]
    if w:
        out.print(markup("[bold]winner: {}[/] ({}): {}", w["name"], w["kind"], w["why"]))
        if w.get("run_dir"):
            out.print(markup("  its run: {} (modelpick predict RUN INPUT)", w["run_dir"]))
    else:
        out.print("no candidate met every limit of the profile")
    rho = doc["spearman_analytic_vs_measured"]
    out.print(
        "analytic ranking vs measured (rung 0): Spearman "
        + ("– (fewer than 3 nets measured)" if rho is None else f"{rho:+.2f}")
    )
    for m in doc["misjudged"]:
        out.print(
            markup(
                "  {} was {}: analytic rank {}, measured {}",
                m["name"],
                m["verdict"],
                f"{m['analytic_rank']:g}",
                f"{m['measured_rank']:g}",
            )
        )
    for note in doc.get("notes", []):
        out.print(markup("  note: {}", note))


def leaderboard_markdown(doc: dict) -> str:
    lines = [
        f"### trial: {md(doc['profile'])}",
        "",
        f"| # | candidate | family | {doc['metric_name']} | rung | train s | analytic # |",
        "|---:|---|---|---:|---|---:|---:|",
    ]
    top = len(doc["plan"]["rungs_s"]) - 1
    for r in doc["leaderboard"]:
        lines.append(
            f"| {r['measured_rank'] or '–'} | {md(r['name'])} | {md(r['family'])} | "
            f"{_f(r['metric'])} | {_rung(r, top)} | {_f(r['train_seconds'], '.3g')} | "
            f"{r['analytic_rank'] or '–'} |"
        )
    w = doc["winner"]
    lines += ["", f"winner: **{md(w['name'])}** — {md(w['why'])}" if w else "no winner", ""]
    return "\n".join(lines) + "\n"
