"""Tables (rich) and plain text for the analytic commands. rich is imported inside the
functions that draw, so `--json` runs never load it. Every value that comes from a user file
(names, descriptions, notes, paths) goes through `safe`/`markup` (cli/term.py): printed as
data, never as markup or terminal control."""

from __future__ import annotations

from ..advise.scoring import expected_gap
from ..api.results import assumptions
from .options import console as _console
from .term import markup, safe


def human(n: float, unit: str = "") -> str:
    for suffix, div in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.3g}{suffix}{unit}"
    return f"{n:.3g}{unit}"


# --- tables ---------------------------------------------------------------------------------


def render_ranking(result, console=None) -> None:
    from rich.table import Table

    profile, ranking, top = result.profile, result.ranking, result.top
    console = console or _console()
    dev = ranking.device
    console.print(
        markup(
            "[bold]{}[/]: {} {}, {} samples, on {} ({})",
            profile.name,
            profile.domain,
            profile.task,
            f"{profile.data.train_samples:,}",
            dev.name,
            dev.kind,
        )
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
        evidence = getattr(result, "evidence", None)
        if evidence:
            table.add_column(f"measured {evidence['metric_name']}", justify="right")
        for s in ranking.ranked[:top]:
            p = s.prediction
            extra = []
            if evidence:
                m = result.measured(s.name)
                extra = ["–" if not m or m["metric"] is None else f"{m['metric']:.4g}"]
            table.add_row(
                str(s.rank),
                safe(s.name),
                safe(p.precision),
                human(s.built.cost.params),
                human(s.built.cost.flops),
                f"{p.latency_p95_ms:.3g}",
                human(p.train_memory_bytes, "B"),
                f"{p.epochs_in_budget:.3g}",
                f"{s.score:.3f}",
                *extra,
            )
        console.print(table)
        if evidence:
            rho = evidence.get("spearman_analytic_vs_measured")
            console.print(
                markup(
                    "[dim]measured: trial {} (winner {}; analytic vs measured Spearman {})[/]",
                    evidence["source"],
                    evidence.get("winner") or "–",
                    "–" if rho is None else f"{rho:+.2f}",
                )
            )
        best = ranking.ranked[0]
        console.print(markup("\n[bold]Why {} ({})[/]", best.name, best.prediction.precision))
        gap = expected_gap(best.criteria)
        console.print(
            f"  expected {gap:.1f} accuracy points below the best candidate; 1 + gap = "
            "exp(Σ terms):"
        )
        for c in best.criteria:
            tag = "" if c.source == "fitted" else " (preference)"
            console.print(f"  {safe(c.name):<16} {c.term:+6.3f}  {safe(c.why)}{tag}")
        for b in ranking.baselines:
            console.print(markup("[bold yellow]try also[/] {}", b["why"]))
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
            console.print(markup("  {}{}: {}", r.name, prec, r.reason))
    if not ranking.ranked:
        relax = ranking.relaxations()
        if relax:
            console.print("\n[bold]To get an answer, relax[/]")
            for line in relax:
                console.print(markup("  {}", line))
    for note in (*ranking.notes, *assumptions(profile)):
        console.print(markup("[dim]note: {}[/]", note))


def render_estimate(result, console=None) -> None:
    from rich.table import Table

    profile, built, preds, device = result.profile, result.built, result.predictions, result.device
    console = console or _console()
    arch, c = built.arch, built.cost
    console.print(
        markup("[bold]{}[/] ({}) for {} on {}", arch.name, arch.family, profile.name, device.name)
    )
    console.print(markup("  {}  [dim]{}[/]", arch.entry.description, arch.entry.source))
    m = getattr(result, "measured", None)
    if m and m.get("metric") is not None:
        console.print(
            markup(
                "  [green]measured[/] {} {} (rank {} in trial {})",
                m.get("metric_name"),
                f"{m['metric']:.4g}",
                m.get("measured_rank"),
                m.get("source"),
            )
        )
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
    if getattr(result, "llm", None):
        render_llm(result.llm, device, console)
    for note in (*built.graph.notes, *assumptions(profile)):
        console.print(markup("[dim]note: {}[/]", note))


def _gib(n) -> str:
    return "–" if n is None else f"{n / 2**30:,.1f} GiB"


def render_llm(d: dict, device, console) -> None:
    """The large-model block of `estimate` (docs/llm.md)."""
    from rich.table import Table

    gib = device.memory_bytes / 2**30
    console.print(
        f"\n[bold]Language model[/]: {d['params']:,} params ({d['active_params']:,} active per "
        f"token); training at {d['seq_len']:,} tokens × micro-batch {d['micro_batch']}, serving "
        f"at {d['context']:,} tokens; {device.name} has {gib:.0f} GiB"
    )
    table = Table(show_edge=False, pad_edge=False, title="memory per use")
    for col in ("use", "weights", "grads", "optimizer", "activations", "total", "GPUs (ZeRO-3)"):
        table.add_column(col, justify="right")
    full = d["train_memory_bytes"]
    table.add_row(
        "full, no checkpointing",
        *(_gib(full[k]) for k in ("weights", "gradients", "optimizer", "activations", "total")),
        "",
    )
    for m, b in d["finetune_memory_bytes"].items():
        table.add_row(
            m,
            *(_gib(b[k]) for k in ("weights", "gradients", "optimizer", "activations", "total")),
            str(d["gpus_needed"][m]["zero3"] or "–"),
        )
    console.print(table)
    inf = Table(show_edge=False, pad_edge=False, title="serving")
    for col in ("weights", "memory", "max context", "max batch", "decode tok/s", "ms/token"):
        inf.add_column(col, justify="right")
    for p, v in d["inference_memory_bytes"].items():
        inf.add_row(
            p,
            _gib(v),
            f"{d['max_context'][p]:,}",
            f"{d['max_batch'][p]:,}",
            f"{d['decode_tokens_per_s'][p]:.3g}",
            f"{d['decode_ms_per_token'][p]:.3g}",
        )
    console.print(inf)
    console.print(
        f"  KV cache {_gib(d['kv_cache_bytes'])} at {d['context']:,} tokens "
        f"({d['kv_cache_bytes_per_token']:,} bytes per token); prefill "
        f"{d['prefill_tokens_per_s']:.3g} tokens/s"
    )
    for m, f in d["finetune"].items():
        cost = f"${f['usd']:,.2f}" if f["usd"] is not None else "no price"
        console.print(
            f"  fine-tune ({m}): {d['finetune_tokens']:,.0f} tokens at "
            f"{d['train_tokens_per_s'][m]:.3g} tokens/s per GPU on {f['gpus'] or '?'} GPU(s): "
            f"{f['hours']:.3g} h, {cost}"
        )
    if d.get("price_source"):
        console.print(
            markup("[dim]price: ${}/GPU-hour, {}[/]", d["usd_per_hour"], d["price_source"])
        )


def render_layers(built, console=None) -> None:
    from rich.table import Table

    console = console or _console()
    table = Table(show_edge=False, pad_edge=False, title=f"{safe(built.arch.name)}: layers")
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
                "  " * (r.depth - 1) + safe(r.path),
                safe(r.kind),
                str(r.out_shape),
                f"{r.cost.params:,}",
                human(r.cost.flops),
            )
    console.print(table)


def render_catalog(archs, console=None) -> None:
    from rich.table import Table

    console = console or _console()
    table = Table(show_edge=False, pad_edge=False)
    for col in ("name", "family", "domains", "description"):
        table.add_column(col)
    for a in archs:
        table.add_row(
            safe(a.name), safe(a.family), safe(", ".join(a.domains)), safe(a.entry.description)
        )
    console.print(table)


def render_doctor(result, console=None) -> None:
    machine, cpu, gpus, devices = result.machine, result.cpu, result.gpus, result.devices
    console = console or _console()
    console.print(
        f"[bold]CPU[/]       {safe(machine.cpu_model)}: {machine.physical_cores} cores "
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
        match = f" -> table entry {safe(prof.key)}" if prof else " (not in the device table)"
        console.print(
            f"[bold]GPU[/]       {safe(name)}, {info.memory_bytes / 2**30:.1f} GiB, "
            f"driver {safe(info.driver)}{match}"
        )
    for backend, version in machine.backends.items():
        state = version or "not installed (pip install 'modelpick[" + backend + "]')"
        console.print(f"[bold]{backend:<9}[/] {safe(state)}")
    console.print(markup("[dim]device table: {}[/]", ", ".join(sorted(devices))))


def render_build(doc: dict, console=None) -> None:
    """The per-layer summary of a built model; the same layout for every backend."""
    from rich.table import Table

    console = console or _console()
    console.print(
        markup(
            "[bold]{}[/] ({}) built with {} on {} at {}",
            doc["arch"],
            doc["family"],
            doc["backend_version"],
            doc["device"],
            doc["precision"],
        )
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
            safe(layer["path"]),
            safe(layer["kind"]),
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


def render_generation(result, console=None) -> None:
    """`recommend` for a generation profile: options that fit, why, the nearest misses."""
    from rich.table import Table

    console = console or _console()
    p, r = result.profile, result.ranking
    b = p.budget
    console.print(
        markup(
            "[bold]{}[/]: fine-tune on {} samples of {} tokens, serve at {} tokens; "
            "{} × {} ({} GiB each)",
            p.name,
            f"{p.data.train_samples:,}",
            f"{p.input.seq_len:,}",
            f"{p.generation.context or p.input.seq_len:,}",
            b.gpus,
            r.device.name,
            f"{b.memory_gb:g}",
        )
    )
    if result.found:
        table = Table(show_edge=False, pad_edge=False)
        for col, just in (
            ("#", "right"),
            ("model", "left"),
            ("method", "left"),
            ("weights", "left"),
            ("params", "right"),
            ("train GiB/GPU", "right"),
            ("serve GiB", "right"),
            ("ms/token", "right"),
            ("fine-tune h", "right"),
            ("$", "right"),
            ("score", "right"),
        ):
            table.add_column(col, justify=just)
        for o in result.candidates:
            f = o.facts
            usd = f["finetune_usd"]
            table.add_row(
                str(o.rank),
                safe(o.name),
                o.method,
                o.weights,
                human(f["params"]),
                f"{f['train_bytes_per_gpu'] / 2**30:.3g}",
                f"{f['serve_bytes'] / 2**30:.3g}",
                f"{f['decode_ms_per_token']:.3g}",
                f"{f['finetune_hours']:.3g}",
                "–" if usd is None else f"{usd:,.2f}",
                f"{o.score:.3f}",
            )
        console.print(table)
        best = result.candidates[0]
        console.print(
            markup("\n[bold]Why {} ({}, {} weights)[/]", best.name, best.method, best.weights)
        )
        for name, factor, why in best.factors:
            console.print(f"  {safe(name):<8} ×{factor:.3f}  {safe(why)} (preference)")
    else:
        console.print("[bold red]No model, method and weight precision fits the budget.[/]")
    if r.rejected:
        title = "Nearest misses" if not result.found else "Rejected"
        console.print(f"\n[bold]{title}[/] ({len(r.rejected)} in all; --json lists every one)")
        for x in r.rejected[: 5 if result.found else 8]:
            console.print(markup("  {} ({}): {}", x.name, x.precision, x.reason))
    if r.relax:
        console.print("\n[bold]To get more options, relax[/]")
        for line in r.relax:
            console.print(markup("  {}", line))
    for note in r.notes:
        console.print(markup("[dim]note: {}[/]", note))
