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
        "calibrated": d.calibrated,
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
        + (" [green]calibrated[/]" if dev.calibrated else " [dim]uncalibrated estimate[/]")
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
