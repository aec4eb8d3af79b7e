"""`report`: a saved ranking (`recommend --output`), bench run, calibration or trial store as a
table, markdown (for a CI comment, with its PNGs written beside it), JSON, or one
self-contained HTML file (images embedded as data URIs; no script, nothing fetched); and the
`--plot FILE` option every command shares. Every string from a document is escaped for the
format it lands in."""

from __future__ import annotations

import base64
import html
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import api
from ..errors import InputError
from ..safeio import atomic_write_text, check_output_target
from .options import PlotOpt, check_plot, errors_to_exit, print_json, save_plot
from .term import clean

FORMATS = ("table", "markdown", "json", "html")


def load(source: str) -> tuple[str, dict]:
    """(kind, document) for a saved file or a trial store."""
    if api._is_store(source):
        return "trial", api.trial_report(source).to_dict()
    saved = api.report(source)
    return saved.kind, saved.to_dict()


# --- HTML -----------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(clean(value, newlines=True), quote=True)


def _num(x, spec=".3g") -> str:
    return "–" if x is None else format(x, spec)


def _table(headers: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _rows(kind: str, doc: dict) -> tuple[str, list[str], list[list[object]]]:
    if kind == "recommend":
        rows = [
            [
                c["rank"],
                c["name"],
                c["family"],
                c["precision"],
                f"{c['params']:,}",
                _num(c["prediction"]["latency_p95_ms"]),
                _num(c["prediction"]["train_memory_bytes"] / 2**20, ".4g"),
                _num(c["score"]),
            ]
            for c in doc["candidates"]
        ]
        return (
            "Ranking",
            ["#", "architecture", "family", "precision", "params", "p95 ms", "train MiB", "score"],
            rows,
        )
    if kind == "bench":
        rows = [
            [
                r["arch"],
                r["precision"],
                r["batch_size"],
                r["status"],
                _num(r["latency_ms_p50"]),
                _num(r.get("predicted_latency_ms")),
                _num(r.get("latency_error_pct"), "+.0f"),
                _num(r["train_step_ms"]),
                _num(r.get("predicted_train_step_ms")),
                _num(r.get("peak_memory_bytes") and r["peak_memory_bytes"] / 2**20, ".4g"),
                _num(
                    r.get("predicted_memory_bytes") and r["predicted_memory_bytes"] / 2**20, ".4g"
                ),
            ]
            for r in doc["results"]
        ]
        return (
            "Measured beside predicted",
            [
                "architecture",
                "precision",
                "batch",
                "status",
                "p50 ms",
                "predicted ms",
                "error %",
                "step ms",
                "predicted step ms",
                "peak MiB",
                "predicted MiB",
            ],
            rows,
        )
    if kind == "calibration":
        rows = [
            [
                r.get("arch"),
                _num(r.get("predicted_ms")),
                _num(r.get("measured_ms")),
                _num(r.get("error_pct"), "+.0f"),
            ]
            for r in doc.get("held_out", [])
        ]
        return ("Held-out check", ["architecture", "predicted ms", "measured ms", "error %"], rows)
    rows = [
        [
            r["measured_rank"] or "–",
            r["name"],
            r["family"],
            _num(r["metric"], ".4g"),
            "baseline"
            if r["kind"] == "baseline"
            else (
                "top"
                if r["stopped_at_rung"] is None and r["metric"] is not None
                else f"stopped at {r['stopped_at_rung']}"
            ),
            _num(r["train_seconds"]),
            r["analytic_rank"] or "–",
            "ok" if r.get("meets_limits", True) else "; ".join(r.get("limit_misses", [])),
        ]
        for r in doc["leaderboard"]
    ]
    return (
        "Leaderboard",
        ["#", "candidate", "family", doc["metric_name"], "rung", "train s", "analytic #", "limits"],
        rows,
    )


def _facts(kind: str, doc: dict) -> list[tuple[str, object]]:
    dev = doc.get("device") if isinstance(doc.get("device"), dict) else {}
    facts = []
    if kind in ("recommend", "trial"):
        facts.append(("profile", doc.get("profile")))
    if kind == "recommend":
        facts += [("task", f"{doc.get('domain')} {doc.get('task')}")]
    if dev:
        facts.append(("device", f"{dev.get('name')} ({dev.get('kind', '')})"))
    if doc.get("backend_version"):
        facts.append(("backend", doc["backend_version"]))
    if doc.get("date"):
        facts.append(("date", doc["date"]))
    if kind == "trial":
        w = doc.get("winner") or {}
        facts += [
            ("winner", f"{w.get('name')}: {w.get('why')}" if w else "none met every limit"),
            (
                "analytic vs measured (Spearman, rung 0)",
                _num(doc.get("spearman_analytic_vs_measured"), "+.2f"),
            ),
            ("budget", f"{doc['elapsed_seconds']:.0f} of {doc['budget_seconds']:.0f} s"),
            ("store", doc.get("store")),
        ]
    return facts


STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222}table{border-collapse:collapse;margin:1em 0;font-size:.9em}td,th{border:1px solid #ccc;
padding:.25em .6em;text-align:left}th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee;
margin:.5em 0}dt{font-weight:600}dd{margin:0 0 .4em 0}.note{color:#555}"""


def html_report(kind: str, doc: dict, figures: list[tuple[str, bytes]]) -> str:
    title = {
        "recommend": "modelpick recommend",
        "bench": "modelpick bench",
        "calibration": "modelpick calibration",
        "trial": "modelpick trial",
    }[kind]
    subject = doc.get("profile") or (doc.get("device") or {}).get("name") or ""
    facts = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in _facts(kind, doc))
    heading, headers, rows = _rows(kind, doc)
    images = "".join(
        f'<figure><img alt="{_e(slug)}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode()}"><figcaption>{_e(slug)}</figcaption></figure>'
        for slug, png in figures
    )
    notes = [*doc.get("notes", []), *doc.get("assumptions", [])]
    notes_html = "".join(f'<li class="note">{_e(n)}</li>' for n in notes)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        # no script, no network: the policy says so to the browser too
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'\">"
        f"<title>{_e(title)}: {_e(subject)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{_e(title)}: {_e(subject)}</h1><dl>{facts}</dl>"
        f"<h2>{_e(heading)}</h2>{_table(headers, rows)}"
        + (f"<h2>Pictures</h2>{images}" if images else "")
        + (f"<h2>Notes</h2><ul>{notes_html}</ul>" if notes_html else "")
        + "</body></html>\n"
    )


def _figures(kind: str, doc: dict) -> list[tuple[str, bytes]]:
    from ..plot import figures, png_bytes

    out = []
    for slug, fig in figures(kind, doc):
        out.append((slug, png_bytes(fig)))
    return out


def _markdown(kind: str, doc: dict) -> str:
    from . import render_bench
    from .render_search import leaderboard_markdown

    if kind == "trial":
        return leaderboard_markdown(doc)
    if kind in ("bench", "calibration"):
        return render_bench.run_markdown(doc)
    from .render_bench import md

    lines = [
        f"### recommend: {md(doc['profile'])}",
        "",
        "| # | architecture | family | precision | params | p95 ms | score |",
        "|---:|---|---|---|---:|---:|---:|",
    ]
    for c in doc["candidates"]:
        lines.append(
            f"| {c['rank']} | {md(c['name'])} | {md(c['family'])} | {md(c['precision'])} | "
            f"{c['params']:,} | {_num(c['prediction']['latency_p95_ms'])} | {c['score']:.3f} |"
        )
    return "\n".join(lines) + "\n"


@errors_to_exit
def report(
    source: Annotated[
        str,
        typer.Argument(
            help="a file saved by `recommend --output` or `bench --output`, or a trial store"
        ),
    ],
    fmt: Annotated[str, typer.Option("--format", help="table | markdown | json | html")] = "table",
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--output", help="write it to FILE instead of stdout (html: one file)"),
    ] = None,
    plot: PlotOpt = None,
) -> None:
    """Render a saved ranking, bench run, calibration or trial store: a table, markdown (its
    pictures written beside --output), JSON, or one self-contained HTML file."""
    check_plot(plot)
    if fmt not in FORMATS:
        raise InputError(f"--format: expected {', '.join(FORMATS)}; received {fmt!r}")
    if output is not None:
        check_output_target(output)
    if fmt == "html" and output is None:
        raise InputError("--format html: needs --output FILE.html (one self-contained file)")
    kind, doc = load(source)
    if fmt == "json":
        text = None
        if output is None:
            print_json(doc)
        else:
            import json

            text = json.dumps(doc, indent=2, allow_nan=False) + "\n"
    elif fmt == "html":
        text = html_report(kind, doc, _figures(kind, doc))
    elif fmt == "markdown":
        text = _markdown(kind, doc)
        if output is not None:  # the pictures beside it, referenced by relative name
            from ..plot import save

            written = save(kind, doc, output.with_suffix(".png"))
            text += "\n" + "\n".join(f"![{p.stem}]({p.name})" for p in written) + "\n"
        else:
            sys.stdout.write(text)
            text = None
    else:
        text = None
        if kind == "trial":
            from .render_search import render_leaderboard

            render_leaderboard(doc)
        elif kind == "recommend":
            _render_saved_ranking(doc)
        else:
            from . import render_bench

            if kind == "calibration":
                render_bench.render_calibration(doc)
            else:
                render_bench.render_bench(doc)
    if text is not None and output is not None:
        said = atomic_write_text(output, text)
        typer.echo(clean(said), err=True)
    save_plot(kind, doc, plot)


def _render_saved_ranking(doc: dict) -> None:
    from rich.table import Table

    from .options import console
    from .term import safe

    out = console()
    heading, headers, rows = _rows("recommend", doc)
    table = Table(
        title=f"{safe(doc['profile'])} on {safe(doc['device'].get('name'))}", title_justify="left"
    )
    for h in headers:
        table.add_column(safe(h))
    for r in rows:
        table.add_row(*(safe(c) for c in r))
    out.print(table)
