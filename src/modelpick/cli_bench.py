"""The commands that build models: `build`, `bench` (and calibration), `report`.

They import a framework through `backends` only when run; registering them costs nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .cli import (
    CatalogOpt,
    JsonOpt,
    ProfileArg,
    _errors_to_exit,
    _with_calibration,
    app,
)
from .errors import InputError, ModelpickError, NoAnswerError


@app.command()
@_errors_to_exit
def build(
    profile: ProfileArg,
    arch: Annotated[str, typer.Option("--arch", help="catalog architecture name")],
    backend: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--backend", help="torch | tensorflow (default: the profile's preference)"),
    ] = None,
    device: Annotated[str, typer.Option("--device", help="cpu | cuda | auto")] = "cpu",
    precision: Annotated[str, typer.Option("--precision", help="fp32 | bf16 | fp16")] = "fp32",
    json_out: JsonOpt = False,
    catalog: CatalogOpt = None,
) -> None:
    """Build one architecture in PyTorch or TensorFlow; show graph vs framework parameters."""
    from . import render
    from .backends import get_backend
    from .catalog import build_named, load_catalog
    from .graph import cost
    from .profile import load_profile

    if device not in ("cpu", "cuda", "auto"):
        raise InputError(f"--device: expected cpu, cuda or auto; received {device!r}")
    if precision not in ("fp32", "bf16", "fp16"):
        raise InputError(f"--precision: expected fp32, bf16 or fp16; received {precision!r}")
    prof = load_profile(profile)
    name = backend or prof.preferences.backend
    be = get_backend(name)
    if device == "auto":
        device = "cuda" if "cuda" in be.DEVICES else "cpu"
    planned = build_named(load_catalog(catalog), arch, prof)
    try:
        made = be.build(planned.graph, device, precision)
    except NotImplementedError as exc:
        raise InputError(str(exc)) from None
    gc = cost(planned.graph, name)
    trainable, frozen = be.count_params(made)
    rows = be.summary(made)
    doc = {
        "arch": planned.arch.name,
        "family": planned.arch.family,
        "backend": name,
        "backend_version": be.version(),
        "device": device,
        "precision": precision,
        "params": trainable,
        "params_estimated": gc.params,
        "buffers": frozen,
        "buffers_estimated": gc.buffers,
        "params_match": trainable == gc.params and frozen == gc.buffers,
        "input_shape": list(planned.graph.input_shape),
        "output_shape": list(gc.output_shape),
        "layers": [r._asdict() | {"output_shape": list(r.output_shape)} for r in rows],
    }
    if json_out:
        render.print_json(doc)
    else:
        render.render_build(doc)
    if not doc["params_match"]:
        raise NoAnswerError(
            f"the {name} model has {trainable:,} parameters (+{frozen:,} buffers) but the graph "
            f"predicts {gc.params:,} (+{gc.buffers:,}): a bug in modelpick, please report it"
        )


def _local_device(kind: str, backend, precision: str | None = None, calibrated: bool = True):
    """This machine's device of `kind` (cpu | cuda | auto), calibrated when a calibration for it
    and this backend is stored; UnavailableError (exit 3) when the backend cannot use it or
    the precision."""
    from .errors import UnavailableError
    from .hardware import resolve_device

    if kind not in ("cpu", "cuda", "auto"):
        raise InputError(f"--device: expected auto, cpu or cuda; received {kind!r}")
    if kind == "auto":
        kind = "cuda" if "cuda" in backend.DEVICES else "cpu"
    if kind not in backend.DEVICES:
        raise UnavailableError(f"--device {kind}: CUDA is not available to {backend.name} here")
    if precision is not None and precision not in backend.PRECISIONS.get(kind, ()):
        offered = ", ".join(backend.PRECISIONS.get(kind, ()))
        raise UnavailableError(
            f"--precision {precision}: {backend.name} does not run it on {kind} here; use {offered}"
        )
    device, notes = resolve_device(kind, None)
    if kind == "cuda" and not device.detected:
        notes = [*notes, f"nvidia-smi did not identify this GPU: predictions are for {device.name}"]
    return _with_calibration(device, backend.name, notes) if calibrated else (device, notes)


def _check_output(output: Path | None) -> None:
    """Refuse an --output that cannot be written before minutes of measuring, not after."""
    if output is None:
        return
    parent = output.parent if str(output.parent) else Path(".")
    if output.is_dir():
        raise InputError(f"--output {output}: is a directory; expected a file name")
    if not parent.is_dir():
        raise InputError(f"--output {output}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise InputError(f"--output {output}: directory {parent} is not writable")


def _save(output: Path | None, doc: dict) -> None:
    from . import render_bench

    if output is None:
        return
    try:
        render_bench.save_json(output, doc)
    except OSError as exc:
        raise ModelpickError(f"could not save the run to {output}: {exc.strerror or exc}") from exc


@app.command()
@_errors_to_exit
def bench(
    profile: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Argument(help="task profile; without one, calibrate this device", show_default=False),
    ] = None,
    arch: Annotated[Optional[str], typer.Option("--arch", help="one catalog architecture")] = None,  # noqa: UP045
    top: Annotated[int, typer.Option("--top", min=1, help="bench the N best of recommend")] = 3,
    backend: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--backend", help="torch | tensorflow (default: the profile's preference)"),
    ] = None,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda")] = "auto",
    precision: Annotated[str | None, typer.Option("--precision", help="fp32 | bf16 | fp16")] = None,  # noqa: UP045
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", min=1)] = None,  # noqa: UP045
    json_out: JsonOpt = False,
    output: Annotated[Optional[Path], typer.Option("--output", help="save the run as JSON")] = None,  # noqa: UP045
    quick: Annotated[bool, typer.Option("--quick", help="fewer, shorter timing runs")] = False,
    catalog: CatalogOpt = None,
) -> None:
    """Measure candidates on this machine beside their predictions; no profile: calibrate."""
    from . import render, render_bench
    from .backends import get_backend
    from .bench import DEFAULT_SETTINGS, Settings

    if precision is not None and precision not in ("fp32", "bf16", "fp16"):
        raise InputError(f"--precision: expected fp32, bf16 or fp16; received {precision!r}")
    settings = Settings(min_runs=5, min_time_s=0.1, train_steps=3) if quick else DEFAULT_SETTINGS
    _check_output(output)
    if profile is None:
        if precision not in (None, "fp32"):
            raise InputError("--precision: calibration runs at fp32 (its factors apply to all)")
        be = get_backend(backend or "torch")
        dev, _ = _local_device(device, be, "fp32", calibrated=False)
        if not dev.detected:
            from .errors import UnavailableError

            raise UnavailableError(
                "cannot tell which GPU this is (nvidia-smi did not answer), so a calibration "
                "could not be stored under its name"
            )
        _calibrate(be, dev, "fp32", settings, json_out, output)
        return
    from .catalog import build_named, expand_candidates, load_catalog
    from .profile import load_profile
    from .scoring import rank

    prof = load_profile(profile)
    be = get_backend(backend or prof.preferences.backend)
    dev, notes = _local_device(device, be, precision)
    cat = load_catalog(catalog)
    batch = batch_size or prof.budget.batch_size
    if arch:
        plans = [(build_named(cat, arch, prof).graph, precision or "fp32")]
    else:
        built, rejected, skipped = expand_candidates(cat, prof)
        ranking = rank(prof, built, rejected, skipped, dev, notes)
        plans = []
        for s in ranking.ranked:
            p = precision or s.prediction.precision
            if p in be.PRECISIONS.get(dev.kind, ()) and all(g.name != s.name for g, _ in plans):
                plans.append((s.built.graph, p))
            if len(plans) == top:
                break
        if not plans:
            raise NoAnswerError("no candidate fits the profile's budget; nothing to bench")
    results, interrupted = _run_bench(be, dev, plans, batch, settings, json_out)
    doc = render_bench.bench_json(dev, be, results, interrupted, notes)
    if json_out:
        render.print_json(doc)
    else:
        render_bench.render_bench(doc)
    _save(output, doc)
    if interrupted:
        raise typer.Exit(130)
    if any(r.status == "error" for r in results):
        raise NoAnswerError("")


def _run_bench(be, dev, plans, batch, settings, json_out):
    import psutil

    from .bench import bench_many

    proc = psutil.Process()
    results, interrupted = [], False
    console = _progress_console(json_out)
    for graph, precision in plans:
        label = f"measuring {graph.name} ({be.name}, {dev.kind}, {precision}, batch {batch})"
        with console.status(label) if console else _nothing():
            rows, interrupted = bench_many(
                be,
                [graph],
                dev,
                precision,
                batch,
                settings,
                memory_probe=lambda: proc.memory_info().rss,
            )
        results += rows
        if interrupted:
            break
    return results, interrupted


def _calibrate(be, dev, precision, settings, json_out, output):
    from . import render, render_bench
    from .bench import calibrate
    from .calibration import save_calibration

    console = _progress_console(json_out)
    status = console.status("calibrating") if console else None
    if status:
        status.start()
    try:
        cal, rows = calibrate(
            be,
            dev,
            precision,
            settings,
            on_step=(lambda s: status.update(f"calibrating: {s}")) if status else None,
        )
    except KeyboardInterrupt:
        typer.echo("interrupted: nothing was saved", err=True)
        raise typer.Exit(130) from None
    finally:
        if status:
            status.stop()
    try:
        path = save_calibration(cal)
    except OSError as exc:
        raise ModelpickError(f"could not store the calibration: {exc}") from exc
    doc = render_bench.calibration_json(dev, be, cal, rows, path)
    _save(output, doc)
    if json_out:
        render.print_json(doc)
    else:
        render_bench.render_calibration(doc)


def _progress_console(json_out: bool):
    """A rich console on stderr for progress, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console

    return Console(stderr=True)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@app.command()
@_errors_to_exit
def report(
    results: Annotated[Path, typer.Argument(help="a file saved by `bench --output`")],
    fmt: Annotated[str, typer.Option("--format", help="table | markdown | json")] = "table",
) -> None:
    """Render a saved bench run (markdown suits a CI comment)."""
    from . import render, render_bench

    if fmt not in ("table", "markdown", "json"):
        raise InputError(f"--format: expected table, markdown or json; received {fmt!r}")
    doc = render_bench.load_run(results)
    if fmt == "json":
        render.print_json(doc)
    elif fmt == "markdown":
        sys.stdout.write(render_bench.run_markdown(doc))
    elif "calibration" in doc:
        render_bench.render_calibration(doc)
    else:
        render_bench.render_bench(doc)
