"""Rendering for `bench`, calibration and `report`: JSON documents, tables, markdown."""

from __future__ import annotations

import json

from .hardware import DeviceProfile
from .render import _console, device_json, human


def _r(x, nd=4):
    return None if x is None else round(x, nd)


def bench_json(device: DeviceProfile, backend, results, interrupted: bool, notes) -> dict:
    import datetime

    return {
        "date": datetime.date.today().isoformat(),
        "device": device_json(device),
        "backend": backend.name,
        "backend_version": backend.version(),
        "interrupted": interrupted,
        "notes": list(notes),
        "results": [
            {k: (_r(v) if isinstance(v, float) else v) for k, v in r._asdict().items()}
            for r in results
        ],
    }


def calibration_json(device: DeviceProfile, backend, cal, rows, path) -> dict:
    return {
        "device": device_json(device),
        "backend": backend.name,
        "backend_version": backend.version(),
        "calibration": cal._asdict(),
        "saved_to": str(path),
        "held_out": [
            {
                "arch": n,
                "predicted_latency_ms": _r(p * 1e3),
                "measured_latency_ms": _r(m * 1e3),
                "error_pct": _r(100 * (p - m) / m, 1),
            }
            for n, p, m in rows
        ],
    }


def save_json(path, doc: dict) -> None:
    """Write atomically, so that an interrupted run never leaves half a file."""
    import os
    import tempfile
    from pathlib import Path

    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=2)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes 0600; a saved run is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_run(path) -> dict:
    from pathlib import Path

    from .errors import InputError

    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise InputError(
            f"{p}: is a directory; expected a file saved by `bench --output`"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{p}: not a saved bench run ({exc})") from None
    if not isinstance(doc, dict) or not ("results" in doc or "calibration" in doc):
        raise InputError(f"{p}: not a saved bench run (expected 'results' or 'calibration')")
    if not isinstance(doc.get("device"), dict) or not isinstance(doc.get("backend_version"), str):
        raise InputError(f"{p}: not a saved bench run (no 'device' or 'backend_version')")
    rows = doc.get("results", doc.get("held_out"))
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InputError(f"{p}: not a saved bench run ('results' is not a list of rows)")
    if "results" in doc:
        from .bench import Result

        needed = {f for f in Result._fields if f not in ("note",)}
    else:
        needed = {"arch", "predicted_latency_ms", "measured_latency_ms", "error_pct"}
        cal = doc.get("calibration")
        required = {"samples", "median_error_pct", "p90_error_pct", "held_out"}
        scales = {"compute_scale", "time_scale"}  # time_scale: runs saved by 0.1.0
        if not isinstance(cal, dict) or not required <= set(cal) or not scales & set(cal):
            raise InputError(f"{p}: not a saved calibration run (incomplete 'calibration')")
    for i, row in enumerate(rows):
        missing = sorted(needed - set(row))
        if missing:
            raise InputError(f"{p}: row {i} lacks {', '.join(missing)}")
    if not isinstance(doc["device"].get("name"), str):
        raise InputError(f"{p}: 'device' has no name")
    return doc


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
        f"[bold]bench[/] on {dev['name']} ({dev['kind']}) with {doc['backend_version']}"
        + (" [green]calibrated[/]" if dev.get("calibrated") else "")
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
            table.add_row(*(columns[name](r) for name in names))
        if ok:
            console.print(table)
    from rich.markup import escape

    for r in doc["results"]:
        if r["status"] != "ok":
            console.print(
                f"  {escape(str(r['arch']))}: [yellow]{r['status']}[/] "
                f"{escape(str(r.get('note', '')))}"
            )
    mem_sources = {r["peak_memory_source"] for r in doc["results"] if r.get("peak_memory_source")}
    if "process RSS growth" in mem_sources:
        console.print(
            "[dim]note: on the CPU, peak memory is the process's RSS growth; later "
            "candidates reuse memory freed by earlier ones (a GPU reports its "
            "allocator's exact peak)[/]"
        )
    for note in doc.get("notes", []):
        console.print(f"[dim]note: {escape(str(note))}[/]")
    if doc.get("interrupted"):
        console.print("[yellow]interrupted: the rows above are what was measured[/]")


def render_calibration(doc: dict, console=None) -> None:
    console = console or _console()
    cal = doc["calibration"]
    console.print(
        f"[bold]calibrated[/] {doc['device']['name']} with {doc['backend_version']}: "
        f"{cal['samples']} timings; saved to {doc['saved_to']}"
    )
    console.print(
        f"  call overhead {cal['call_overhead_s'] * 1e6:.0f} µs, median fixed cost "
        f"{cal['launch_overhead_s'] * 1e6:.1f} µs per node, training step "
        f"+{cal['train_overhead_s'] * 1e3:.2f} ms"
    )
    if "memory_scale" in cal:
        memory = cal["memory_scale"]
        scales = ", ".join(
            f"{k} ×{v:.2f}/×{memory.get(k, 0.0):.2f}"
            for k, v in sorted(cal["compute_scale"].items())
        )
        console.print(f"  factors on compute / memory time per node kind: {scales}")
    else:  # a run saved by 0.1.0: one factor on the roofline time
        scales = ", ".join(f"{k} ×{v:.2f}" for k, v in sorted(cal["time_scale"].items()))
        console.print(f"  measured / roofline time per node kind: {scales}")
    for row in doc["held_out"]:
        console.print(
            f"  held-out {row['arch']:<22} predicted {row['predicted_latency_ms']:.3g} ms, "
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
            f"**Calibration** of {doc['device']['name']} with {doc['backend_version']}: "
            f"median error {cal['median_error_pct']:.0f}%, p90 {cal['p90_error_pct']:.0f}%",
            "",
            "| held-out | predicted ms | measured ms | error |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| {r['arch']} | {r['predicted_latency_ms']:.3g} | {r['measured_latency_ms']:.3g}"
            f" | {r['error_pct']:+.0f}% |"
            for r in doc["held_out"]
        ]
        return "\n".join(lines) + "\n"
    head = [name.strip() for name, _ in BENCH_COLUMNS]
    lines = [
        f"**modelpick bench** on {doc['device']['name']} with {doc['backend_version']}"
        f" ({doc.get('date', '')})",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" if i < 2 else "---:" for i in range(len(head))) + "|",
    ]
    for r in doc["results"]:
        if r["status"] == "ok":
            lines.append("| " + " | ".join(fn(r) for _, fn in BENCH_COLUMNS) + " |")
        else:
            note = " ".join(str(r.get("note", "")).split()).replace("|", "\\|")
            lines.append(
                f"| {r['arch']} | {r['precision']} | {r['batch_size']} | "
                f"{r['status']}: {note} |" + " |" * (len(head) - 4)
            )
    return "\n".join(lines) + "\n"
