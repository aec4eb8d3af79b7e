"""The `modelpick` command line. Each command parses, calls the core, renders; no logic here.

Exit codes: 0 success; 1 no answer (nothing fits); 2 bad input; 3 backend/device unavailable.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import InputError, ModelpickError, NoAnswerError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Pick the neural architecture, size and precision to train and ship.",
)
catalog_app = typer.Typer(no_args_is_help=True, help="What can be recommended.")
app.add_typer(catalog_app, name="catalog")

ProfileArg = Annotated[Path, typer.Argument(help="task profile YAML", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="one JSON document on stdout, nothing else")]
CatalogOpt = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional on 3.10
    typer.Option("--catalog", help="extra catalog YAML (adds to the default, or replaces it)"),
]


def _errors_to_exit(command):
    """Turn a ModelpickError into one line on stderr and its documented exit code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ModelpickError as exc:
            if str(exc):
                typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


def _resolve(profile, profile_path: Path):
    """The profile's device (calibrated when it is this machine's and a calibration is stored);
    an unknown budget.gpu is reported against the profile file."""
    from .errors import ProfileError, UnknownNameError
    from .hardware import resolve_device

    try:
        device, notes = resolve_device(profile.budget.device, profile.budget.gpu)
    except UnknownNameError as exc:
        raise ProfileError(f"{profile_path}: budget.gpu: {exc}") from None
    return _with_calibration(device, profile.preferences.backend, notes)


def _with_calibration(device, backend_name: str, notes: list[str]):
    """Apply this machine's stored calibration (if any) to a device found on this machine."""
    if not device.detected:
        return device, notes
    from .calibration import apply_calibration, fingerprint, load_calibration

    cal, warnings = load_calibration(fingerprint(device), backend_name)
    for w in warnings:
        typer.echo(f"warning: {w}", err=True)
    if cal is None:
        return device, [*notes, "uncalibrated: run `modelpick bench` to calibrate this device"]
    tuned = apply_calibration(device, cal)
    return tuned, [*notes, tuned.calibration]


def _plan(profile_path: Path, catalog_path: Path | None):
    from .catalog import expand_candidates, load_catalog
    from .profile import load_profile

    profile = load_profile(profile_path)
    catalog = load_catalog(catalog_path)
    device, notes = _resolve(profile, profile_path)
    return profile, catalog, device, notes, expand_candidates


@app.command()
@_errors_to_exit
def recommend(
    profile: ProfileArg,
    top: Annotated[int, typer.Option("--top", min=1, help="how many candidates to show")] = 5,
    json_out: JsonOpt = False,
    catalog: CatalogOpt = None,
) -> None:
    """Rank candidate architectures for a task, say why, and list the rejected and why."""
    from . import render
    from .scoring import rank

    prof, cat, device, notes, expand = _plan(profile, catalog)
    built, rejected, skipped = expand(cat, prof)
    ranking = rank(prof, built, rejected, skipped, device, notes)
    if json_out:
        render.print_json(render.ranking_json(prof, ranking, top))
    else:
        render.render_ranking(prof, ranking, top)
    if not ranking.ranked:
        raise NoAnswerError("")


@app.command()
@_errors_to_exit
def estimate(
    profile: ProfileArg,
    arch: Annotated[str, typer.Option("--arch", help="catalog architecture name")],
    json_out: JsonOpt = False,
    catalog: CatalogOpt = None,
    layers: Annotated[bool, typer.Option("--layers", help="also show every layer")] = False,
) -> None:
    """Cost and predictions of one catalog architecture for a task profile."""
    from . import render
    from .catalog import build_named
    from .predict import predict
    from .scoring import choose_precisions

    prof, cat, device, notes, _ = _plan(profile, catalog)
    built = build_named(cat, arch, prof)
    a = built.arch
    precisions, pnotes = choose_precisions(prof.preferences.precisions, device)
    b = prof.budget
    preds = [
        predict(built.cost, device, p, b.batch_size, prof.data.train_samples, b.train_minutes)
        for p in precisions
    ]
    if json_out:
        render.print_json(
            {
                "name": a.name,
                "family": a.family,
                **render.cost_json(built),
                "device": render.device_json(device),
                "predictions": [render.prediction_json(p) for p in preds],
                "layers": [
                    {
                        "path": r.path,
                        "kind": r.kind,
                        "output_shape": list(r.out_shape),
                        "params": r.cost.params,
                        "flops": r.cost.flops,
                        "macs": r.cost.macs,
                    }
                    for r in built.cost.rows
                    if r.leaf or r.kind == "residual"
                ],
                "notes": [*notes, *pnotes, *built.graph.notes],
                "assumptions": render.assumptions(prof),
            }
        )
        return
    render.render_estimate(prof, built, preds, device)
    if layers:
        render.render_layers(built)


@app.command()
@_errors_to_exit
def validate(
    profiles: Annotated[list[Path], typer.Argument(help="task profile YAML files")],
) -> None:
    """Check task profiles against the schema and device table (for CI); exit 2 if invalid."""
    from .errors import ProfileError, UnknownNameError
    from .hardware import check_gpu_key
    from .profile import load_profile

    bad = 0
    for path in profiles:
        try:
            profile = load_profile(path)
            try:
                check_gpu_key(profile.budget.gpu)
            except UnknownNameError as exc:
                raise ProfileError(f"{path}: budget.gpu: {exc}") from None
            typer.echo(f"ok: {path}")
        except InputError as exc:
            bad += 1
            typer.echo(f"error: {exc}", err=True)
    if bad:
        raise typer.Exit(2)


@app.command()
@_errors_to_exit
def schema() -> None:
    """Print the JSON Schema of the task profile (for editors)."""
    from .profile import profile_schema
    from .render import print_json

    print_json(profile_schema())


@catalog_app.command("list")
@_errors_to_exit
def catalog_list(
    domain: Annotated[Optional[str], typer.Option(help="only this domain")] = None,  # noqa: UP045
    json_out: JsonOpt = False,
    catalog: CatalogOpt = None,
) -> None:
    """List every architecture in the catalog."""
    from . import render
    from .catalog import load_catalog
    from .profile import DOMAINS

    if domain is not None and domain not in DOMAINS:
        raise InputError(f"--domain: expected one of {', '.join(DOMAINS)}; received {domain!r}")
    archs = [
        a for a in load_catalog(catalog).architectures if domain is None or domain in a.domains
    ]
    if json_out:
        render.print_json({"architectures": [render.arch_json(a) for a in archs]})
    else:
        render.render_catalog(archs)


@catalog_app.command("show")
@_errors_to_exit
def catalog_show(
    name: Annotated[str, typer.Argument(help="architecture name")],
    json_out: JsonOpt = False,
    catalog: CatalogOpt = None,
) -> None:
    """Show one architecture: family, hyperparameters, source."""
    from . import render
    from .catalog import load_catalog

    doc = render.arch_json(load_catalog(catalog).get(name))
    if json_out:
        render.print_json(doc)
        return
    for key, value in doc.items():
        if key == "hparams":
            typer.echo("hparams:")
            for k, v in value.items():
                typer.echo(f"  {k}: {v}")
        elif value not in (None, "", []):
            typer.echo(f"{key}: {', '.join(value) if isinstance(value, list) else value}")


@app.command()
@_errors_to_exit
def doctor(json_out: JsonOpt = False) -> None:
    """What this machine has: CPU, memory, GPUs, installed backends."""
    from . import render
    from .hardware import cpu_profile, detect_machine, load_devices, match_gpu

    machine = detect_machine()
    devices = load_devices()
    cpu = cpu_profile(machine)
    gpus = [(g.name, match_gpu(g.name, devices)) for g in machine.gpus]
    if json_out:
        render.print_json(
            {
                "cpu": {
                    "model": machine.cpu_model,
                    "physical_cores": machine.physical_cores,
                    "logical_cores": machine.logical_cores,
                    "freq_mhz": machine.cpu_freq_mhz,
                    "estimated": render.device_json(cpu),
                },
                "ram_bytes": machine.ram_bytes,
                "gpus": [
                    {
                        "name": g.name,
                        "memory_bytes": g.memory_bytes,
                        "driver": g.driver,
                        "table_entry": m.key if m else None,
                    }
                    for g, (_, m) in zip(machine.gpus, gpus)
                ],
                "backends": machine.backends,
                "device_table": sorted(devices),
            }
        )
        return
    render.render_doctor(machine, cpu, gpus, devices)


from . import cli_bench  # noqa: E402, F401 - registers build, bench and report on `app`


def main() -> None:
    """Console entry point: run the app, turning modelpick errors into one line and an exit code."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a bug: say so in one line unless asked for the traceback
        if os.environ.get("MODELPICK_DEBUG"):
            raise
        typer.echo(
            f"internal error: {type(exc).__name__}: {exc} "
            "(a bug: please report it; MODELPICK_DEBUG=1 shows the traceback)",
            err=True,
        )
        sys.exit(70)
