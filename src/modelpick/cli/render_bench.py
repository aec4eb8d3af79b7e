"""Rendering for `bench`, calibration and `report`: tables and markdown, from the (checked)
run documents; every string from the document is escaped before it reaches the terminal."""

from __future__ import annotations

from .options import console as _console
from .render import human
from .term import clean, markup, safe


def md(text: object) -> str:
    """A markdown table cell: controls escaped, newlines folded, pipes and HTML escaped."""
    s = " ".join(clean(text, newlines=True).split())
    for ch, rep in (("\\", "\\\\"), ("|", "\\|"), ("<", "&lt;"), (">", "&gt;"), ("`", "\\`")):
        s = s.replace(ch, rep)
    return s


def _fmt(x, spec=".3g", unit=""):
    return "–" if x is None else f"{x:{spec}}{unit}"


def _pct(x):
    return "–" if x is None else f"{x:+.0f}%"


BENCH_COLUMNS = (
    ("architecture", lambda r: r["arch"]),
    ("prec", lambda r: r["precision"]),
    ("batch", lambda r: str(r["batch_size"])),
    ("p50 ms", lambda r: _fmt(r["latency_ms_p50"])),
    ("pred ms", lambda r: _fmt(r["predicted_latency_ms"])),
    ("err", lambda r: _pct(r["latency_error_pct"])),
    ("p90/p99 ms", lambda r: f"{_fmt(r['latency_ms_p90'])}/{_fmt(r['latency_ms_p99'])}"),
    (
        "samples/s",
        lambda r: (
            "–" if r["throughput_samples_per_s"] is None else human(r["throughput_samples_per_s"])
        ),
    ),
    ("step ms", lambda r: _fmt(r["train_step_ms"])),
    ("pred", lambda r: _fmt(r["predicted_train_step_ms"])),
    ("err ", lambda r: _pct(r["train_step_error_pct"])),
    (
        "peak mem",
        lambda r: "–" if r["peak_memory_bytes"] is None else human(r["peak_memory_bytes"], "B"),
    ),
    (
        "pred mem",
        lambda r: (
            human(r["predicted_memory_bytes"], "B")
            if r["predicted_memory_bytes"] is not None
            else "–"
        ),
    ),
    (
        "% peak",
        lambda r: (
            "–" if r["peak_flops_fraction"] is None else f"{100 * r['peak_flops_fraction']:.1f}"
        ),
    ),
)


TIMING_COLUMNS = (
    "architecture",
    "prec",
    "batch",
    "p50 ms",
    "pred ms",
    "err",
    "step ms",
    "pred",
    "err ",
)
DETAIL_COLUMNS = ("architecture", "p90/p99 ms", "samples/s", "peak mem", "pred mem", "% peak")


def render_bench(doc: dict, console=None) -> None:
    """Two narrow tables (timings beside predictions; throughput and memory) that fit 80
    columns; `report --format markdown` has every column in one."""
    from rich.table import Table

    console = console or _console()
    dev = doc["device"]
    console.print(
        markup(
            "[bold]bench[/] on {} ({}) with {}",
            dev["name"],
            dev.get("kind", "?"),
            doc["backend_version"],
        )
        + (" [green]calibrated[/]" if dev.get("calibrated") is True else "")
    )
    columns = dict(BENCH_COLUMNS)
    ok = [r for r in doc["results"] if r["status"] == "ok"]
    for names in (TIMING_COLUMNS, DETAIL_COLUMNS):
        table = Table(show_edge=False, pad_edge=False)
        for name in names:
            table.add_column(
                name.strip(),
                no_wrap=name == "architecture",
                justify="left" if name in ("architecture", "prec") else "right",
            )
        for r in ok:
            table.add_row(*(safe(columns[name](r)) for name in names))
        if ok:
            console.print(table)
    for r in doc["results"]:
        if r["status"] != "ok":
            console.print(
                markup("  {}: [yellow]{}[/] {}", r["arch"], r["status"], r.get("note", ""))
            )
    mem_sources = {r["peak_memory_source"] for r in doc["results"] if r.get("peak_memory_source")}
    if "process RSS growth" in mem_sources:
        console.print(
            "[dim]note: on the CPU, peak memory is the process's RSS growth; later "
            "candidates reuse memory freed by earlier ones (a GPU reports its "
            "allocator's exact peak)[/]"
        )
    for note in doc.get("notes", []):
        console.print(markup("[dim]note: {}[/]", note))
    if doc.get("interrupted"):
        console.print("[yellow]interrupted: the rows above are what was measured[/]")


def render_calibration(doc: dict, console=None) -> None:
    console = console or _console()
    cal = doc["calibration"]
    console.print(
        markup(
            "[bold]calibrated[/] {} with {}: {} timings; saved to {}",
            doc["device"]["name"],
            doc["backend_version"],
            cal["samples"],
            doc["saved_to"],
        )
    )
    console.print(
        f"  call overhead {cal['call_overhead_s'] * 1e6:.0f} µs, median fixed cost "
        f"{cal['launch_overhead_s'] * 1e6:.1f} µs per node, training step "
        f"+{cal['train_overhead_s'] * 1e3:.2f} ms"
    )
    if "memory_scale" in cal:
        memory = cal["memory_scale"]
        scales = ", ".join(
            f"{safe(k)} ×{v:.2f}/×{memory.get(k, 0.0):.2f}"
            for k, v in sorted(cal["compute_scale"].items())
        )
        console.print(f"  factors on compute / memory time per node kind: {scales}")
    else:  # a run saved by 0.1.0: one factor on the roofline time
        scales = ", ".join(f"{safe(k)} ×{v:.2f}" for k, v in sorted(cal["time_scale"].items()))
        console.print(f"  measured / roofline time per node kind: {scales}")
    stream = cal.get("weight_stream_bytes_per_s")
    if isinstance(stream, (int, float)) and stream > 0:
        console.print(f"  weight streaming (batch-1, 256 MiB matrix): {stream / 1e9:.1f} GB/s")
    ratios = cal.get("precision_ratio") or {}
    for prec, r in sorted(ratios.items()) if isinstance(ratios, dict) else ():
        console.print(
            f"  {safe(prec)} against fp32: training step ×{r['train']:.2f}, batch-1 latency "
            f"×{r['latency']:.2f}"
            + ("  (not faster: not offered by default)" if min(r.values()) >= 0.95 else "")
        )
    for row in doc["held_out"]:
        console.print(
            f"  held-out {safe(row['arch']):<22} predicted {row['predicted_latency_ms']:.3g} ms, "
            f"measured {row['measured_latency_ms']:.3g} ms ({row['error_pct']:+.0f}%)"
        )
    console.print(
        f"[bold]calibration error: median {cal['median_error_pct']:.0f}%, "
        f"p90 {cal['p90_error_pct']:.0f}%[/] (batch-1 latency, {cal['held_out']} "
        "held-out architectures)"
    )


def run_markdown(doc: dict) -> str:
    """A saved run as a Markdown table (for a CI comment)."""
    if "calibration" in doc:
        cal = doc["calibration"]
        lines = [
            f"**Calibration** of {md(doc['device']['name'])} with {md(doc['backend_version'])}: "
            f"median error {cal['median_error_pct']:.0f}%, p90 {cal['p90_error_pct']:.0f}%",
            "",
            "| held-out | predicted ms | measured ms | error |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| {md(r['arch'])} | {r['predicted_latency_ms']:.3g} | {r['measured_latency_ms']:.3g}"
            f" | {r['error_pct']:+.0f}% |"
            for r in doc["held_out"]
        ]
        return "\n".join(lines) + "\n"
    head = [name.strip() for name, _ in BENCH_COLUMNS]
    lines = [
        f"**modelpick bench** on {md(doc['device']['name'])} with {md(doc['backend_version'])}"
        f" ({md(doc.get('date', ''))})",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" if i < 2 else "---:" for i in range(len(head))) + "|",
    ]
    for r in doc["results"]:
        if r["status"] == "ok":
            lines.append("| " + " | ".join(md(fn(r)) for _, fn in BENCH_COLUMNS) + " |")
        else:
            lines.append(
                f"| {md(r['arch'])} | {md(r['precision'])} | {r['batch_size']} | "
                f"{md(r['status'])}: {md(r.get('note', ''))} |" + " |" * (len(head) - 4)
            )
    return "\n".join(lines) + "\n"
