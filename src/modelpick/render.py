"""Tables (rich), JSON documents and plain text for every command. rich is imported inside the
functions that draw, so `--json` runs never load it."""

from __future__ import annotations

import json
import sys

from .catalog import Architecture, Built, Rejection
from .hardware import DeviceProfile, MachineInfo
from .predict import OPTIMIZER, P95_OVER_P50, Prediction
from .scoring import Ranking, Scored


def human(n: float, unit: str = "") -> str:
    for suffix, div in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.3g}{suffix}{unit}"
    return f"{n:.3g}{unit}"


def print_json(doc: object) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=False) + "\n")


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


# --- JSON documents -------------------------------------------------------------------------


def device_json(d: DeviceProfile) -> dict:
    return {
        "key": d.key,
        "name": d.name,
        "kind": d.kind,
        "memory_bytes": d.memory_bytes,
        "bandwidth_bytes_per_s": d.bandwidth_bytes_per_s,
        "peak_flops": dict(d.peak_flops),
        "detected": d.detected,
        "calibrated": bool(d.time_scale),
        "calibration": d.calibration,
        "source": d.source,
    }


def prediction_json(p: Prediction) -> dict:
    return {
        "precision": p.precision,
        "batch_size": p.batch_size,
        "latency_ms": round(p.latency_ms, 4),
        "latency_p95_ms": round(p.latency_p95_ms, 4),
        "throughput_samples_per_s": round(p.throughput_samples_per_s, 2),
        "train_step_ms": round(p.train_step_ms, 4),
        "train_samples_per_s": round(p.train_samples_per_s, 2),
        "epoch_s": round(p.epoch_s, 3),
        "epochs_in_budget": round(p.epochs_in_budget, 3),
        "train_memory_bytes": p.train_memory_bytes,
        "train_memory": p.train_memory._asdict(),
        "inference_memory_bytes": p.inference_memory_bytes,
        "optimizer": p.optimizer,
        "calibrated": p.calibrated,
    }


def cost_json(b: Built) -> dict:
    c = b.cost
    return {
        "params": c.params,
        "buffers": c.buffers,
        "flops": c.flops,
        "macs": c.macs,
        "activation_elems": c.activation_elems,
        "backend": c.backend,
        "input_shape": list(b.graph.input_shape),
        "output_shape": list(c.output_shape),
    }


def candidate_json(s: Scored) -> dict:
    arch = s.built.arch
    return {
        "rank": s.rank,
        "name": arch.name,
        "family": arch.family,
        "precision": s.prediction.precision,
        "score": round(s.score, 4),
        **cost_json(s.built),
        "reasons": [c.why for c in s.criteria if c.why],
        "criteria": [
            {
                "name": c.name,
                "score": round(c.score, 4),
                "weight": c.weight,
                "value": c.value,
                "why": c.why,
            }
            for c in s.criteria
        ],
        "prediction": prediction_json(s.prediction),
        "source": arch.entry.source,
        "notes": list(s.built.graph.notes),
    }


def rejection_json(r: Rejection) -> dict:
    return {
        "name": r.name,
        "family": r.family,
        "precision": r.precision,
        "constraint": r.constraint,
        "miss_ratio": round(r.miss_ratio, 4),
        "misses": {limit: round(ratio, 4) for limit, ratio in r.misses},
        "reason": r.reason,
    }


def ranking_json(profile, ranking: Ranking, top: int) -> dict:
    return {
        "profile": profile.name,
        "domain": profile.domain,
        "task": profile.task,
        "device": device_json(ranking.device),
        "precisions": list(ranking.precisions),
        "assumptions": assumptions(profile),
        "notes": list(ranking.notes),
        "candidates": [candidate_json(s) for s in ranking.ranked[:top]],
        "candidates_total": len(ranking.ranked),
        "rejected": [rejection_json(r) for r in ranking.rejected],
        "not_applicable": ranking.skipped,
        "relax": ranking.relaxations() if not ranking.ranked else [],
    }


def assumptions(profile) -> list[str]:
    return [
        f"training with {OPTIMIZER} (fp32 weights, gradients and two moments) at batch "
        f"{profile.budget.batch_size}",
        f"p95 latency taken as {P95_OVER_P50:g}× the predicted median until `modelpick bench` "
        "measures it",
        "training from scratch; backward pass ≈ 2× forward FLOPs",
    ]


# --- tables ---------------------------------------------------------------------------------


def render_ranking(profile, ranking: Ranking, top: int, console=None) -> None:
    from rich.table import Table

    console = console or _console()
    dev = ranking.device
    console.print(
        f"[bold]{profile.name}[/]: {profile.domain} {profile.task}, "
        f"{profile.data.train_samples:,} samples, on {dev.name} ({dev.kind})"
        + (" [green]calibrated[/]" if dev.time_scale else " [dim]uncalibrated estimate[/]")
    )
    if ranking.ranked:
        table = Table(show_edge=False, pad_edge=False)
        for col, justify in (
            ("#", "right"),
            ("architecture", "left"),
            ("prec", "left"),
            ("params", "right"),
            ("FLOPs", "right"),
            ("p95 ms", "right"),
            ("train mem", "right"),
            ("epochs", "right"),
            ("score", "right"),
        ):
            table.add_column(col, justify=justify, no_wrap=col == "architecture")
        for s in ranking.ranked[:top]:
            p = s.prediction
            table.add_row(
                str(s.rank),
                s.name,
                p.precision,
                human(s.built.cost.params),
                human(s.built.cost.flops),
                f"{p.latency_p95_ms:.3g}",
                human(p.train_memory_bytes, "B"),
                f"{p.epochs_in_budget:.3g}",
                f"{s.score:.3f}",
            )
        console.print(table)
        best = ranking.ranked[0]
        console.print(f"\n[bold]Why {best.name} ({best.prediction.precision})[/]")
        for c in best.criteria:
            console.print(f"  {c.name:<12} {c.score:4.2f} × {c.weight:.3g}  {c.why}")
    else:
        console.print("[bold red]No candidate fits the budget.[/]")
    if ranking.rejected:
        shown = ranking.rejected[: 5 if ranking.ranked else 10]
        title = "Nearest misses" if not ranking.ranked else "Rejected"
        console.print(
            f"\n[bold]{title}[/] ({len(ranking.rejected)} in all; --json lists every one)"
        )
        for r in shown:
            prec = f" {r.precision}" if r.precision else ""
            console.print(f"  {r.name}{prec}: {r.reason}")
    if not ranking.ranked:
        relax = ranking.relaxations()
        if relax:
            console.print("\n[bold]To get an answer, relax[/]")
            for line in relax:
                console.print(f"  {line}")
    for note in (*ranking.notes, *assumptions(profile)):
        console.print(f"[dim]note: {note}[/]")


def render_estimate(
    profile, built: Built, preds: list[Prediction], device: DeviceProfile, console=None
) -> None:
    from rich.table import Table

    console = console or _console()
    arch, c = built.arch, built.cost
    console.print(f"[bold]{arch.name}[/] ({arch.family}) for {profile.name} on {device.name}")
    console.print(f"  {arch.entry.description}  [dim]{arch.entry.source}[/]")
    console.print(
        f"  params {c.params:,}  FLOPs {human(c.flops)}  MACs {human(c.macs)}  "
        f"input {tuple(built.graph.input_shape)} -> output {tuple(c.output_shape)}"
    )
    table = Table(show_edge=False, pad_edge=False)
    for col in (
        "precision",
        "latency ms",
        "p95 ms",
        "samples/s",
        "step ms",
        "epoch s",
        "epochs",
        "train mem",
        "infer mem",
    ):
        table.add_column(col, justify="right")
    for p in preds:
        table.add_row(
            p.precision,
            f"{p.latency_ms:.3g}",
            f"{p.latency_p95_ms:.3g}",
            human(p.throughput_samples_per_s),
            f"{p.train_step_ms:.3g}",
            f"{p.epoch_s:.3g}",
            f"{p.epochs_in_budget:.3g}",
            human(p.train_memory_bytes, "B"),
            human(p.inference_memory_bytes, "B"),
        )
    console.print(table)
    for note in (*built.graph.notes, *assumptions(profile)):
        console.print(f"[dim]note: {note}[/]")


def render_layers(built: Built, console=None) -> None:
    from rich.table import Table

    console = console or _console()
    table = Table(show_edge=False, pad_edge=False, title=f"{built.arch.name}: layers")
    for col, j in (
        ("node", "left"),
        ("kind", "left"),
        ("output", "left"),
        ("params", "right"),
        ("FLOPs", "right"),
    ):
        table.add_column(col, justify=j)
    for r in built.cost.rows:
        if r.leaf or r.kind == "residual":
            table.add_row(
                "  " * (r.depth - 1) + r.path,
                r.kind,
                str(r.out_shape),
                f"{r.cost.params:,}",
                human(r.cost.flops),
            )
    console.print(table)


def render_catalog(archs: list[Architecture], console=None) -> None:
    from rich.table import Table

    console = console or _console()
    table = Table(show_edge=False, pad_edge=False)
    for col in ("name", "family", "domains", "description"):
        table.add_column(col)
    for a in archs:
        table.add_row(a.name, a.family, ", ".join(a.domains), a.entry.description)
    console.print(table)


def arch_json(a: Architecture) -> dict:
    e = a.entry
    return {
        "name": a.name,
        "family": a.family,
        "domains": e.domains,
        "tasks": e.tasks,
        "description": e.description,
        "source": e.source,
        "fixed": e.fixed,
        "reference_params": e.reference_params,
        "hparams": a.hparams.model_dump(mode="json"),
    }


def render_doctor(
    machine: MachineInfo,
    cpu: DeviceProfile,
    gpus: list[tuple[str, DeviceProfile | None]],
    devices: dict[str, DeviceProfile],
    console=None,
) -> None:
    console = console or _console()
    console.print(
        f"[bold]CPU[/]       {machine.cpu_model}: {machine.physical_cores} cores "
        f"({machine.logical_cores} threads), {machine.cpu_freq_mhz:.0f} MHz"
    )
    console.print(
        f"            est. peak {human(cpu.peak_flops['fp32'], 'FLOP/s')} fp32; "
        f"precisions {', '.join(cpu.peak_flops)}"
    )
    console.print(f"[bold]Memory[/]    {machine.ram_bytes / 2**30:.1f} GiB")
    if not gpus:
        console.print("[bold]GPUs[/]      none found (nvidia-smi absent or reports none)")
    for (name, prof), info in zip(gpus, machine.gpus):
        match = f" -> table entry {prof.key}" if prof else " (not in the device table)"
        console.print(
            f"[bold]GPU[/]       {name}, {info.memory_bytes / 2**30:.1f} GiB, "
            f"driver {info.driver}{match}"
        )
    for backend, version in machine.backends.items():
        state = version or "not installed (pip install 'modelpick[" + backend + "]')"
        console.print(f"[bold]{backend:<9}[/] {state}")
    console.print(f"[dim]device table: {', '.join(sorted(devices))}[/]")


def render_build(doc: dict, console=None) -> None:
    """The per-layer summary of a built model; the same layout for every backend."""
    from rich.table import Table

    console = console or _console()
    console.print(
        f"[bold]{doc['arch']}[/] ({doc['family']}) built with {doc['backend_version']} "
        f"on {doc['device']} at {doc['precision']}"
    )
    table = Table(show_edge=False, pad_edge=False)
    for col, j in (
        ("node", "left"),
        ("kind", "left"),
        ("output", "left"),
        ("params (graph)", "right"),
        ("params (framework)", "right"),
    ):
        table.add_column(col, justify=j, no_wrap=col == "node")
    for layer in doc["layers"]:
        mark = "" if layer["params_graph"] == layer["params_framework"] else " [red]≠[/]"
        table.add_row(
            layer["path"],
            layer["kind"],
            str(tuple(layer["output_shape"])),
            f"{layer['params_graph']:,}",
            f"{layer['params_framework']:,}{mark}",
        )
    console.print(table)
    ok = "[green]match[/]" if doc["params_match"] else "[red]differ[/]"
    console.print(
        f"params {doc['params']:,} (framework) vs {doc['params_estimated']:,} (graph): {ok}; "
        f"non-trainable {doc['buffers']:,} vs {doc['buffers_estimated']:,}"
    )


# --- bench and calibration --------------------------------------------------------------------


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
        if not isinstance(cal, dict) or not {
            "samples",
            "median_error_pct",
            "p90_error_pct",
            "held_out",
            "time_scale",
        } <= set(cal):
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
