"""The commands that build models: `build`, `bench` (and calibration), `report`.

They import a framework through the API only when run; registering them costs nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import api
from ..errors import InputError, ModelpickError, NoAnswerError
from ..safeio import SavedThenInterrupted, check_output_target
from .options import (
    ArchOpt,
    BackendOpt,
    CatalogOpt,
    JsonOpt,
    PlotOpt,
    ProfileArg,
    check_plot,
    errors_to_exit,
    print_json,
    progress_console,
    save_plot,
    warn,
)
from .term import clean

DeviceOpt = Annotated[str, typer.Option("--device", help="auto | cpu | cuda")]
PrecisionOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--precision", help="fp32 | bf16 | fp16"),
]
OutputOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--output",
        help="save the run as JSON; an existing file is replaced atomically (the old one or the "
        "new one, never half), a directory, fifo or device is refused before measuring",
    ),
]


@errors_to_exit
def build(
    profile: ProfileArg,
    arch: ArchOpt,
    backend: BackendOpt = None,
    device: Annotated[str, typer.Option("--device", help="cpu | cuda | auto")] = "cpu",
    precision: Annotated[str, typer.Option("--precision", help="fp32 | bf16 | fp16")] = "fp32",
    json_out: JsonOpt = False,
    catalog: CatalogOpt = None,
) -> None:
    """Build one architecture in PyTorch or TensorFlow; show graph vs framework parameters."""
    result = api.build(profile, arch, backend, device, precision, catalog=catalog)
    doc = result.to_dict()
    if json_out:
        print_json(doc)
    else:
        from .render import render_build

        render_build(doc)
    if not result.params_match:
        raise NoAnswerError(
            f"the {doc['backend']} model has {doc['params']:,} parameters (+{doc['buffers']:,} "
            f"buffers) but the graph predicts {doc['params_estimated']:,} "
            f"(+{doc['buffers_estimated']:,}): a bug in modelpick, please report it"
        )


def _save(output: Path | None, result) -> None:
    if output is None:
        return
    try:
        said = result.save(output)
    except SavedThenInterrupted as exc:
        typer.echo(f"interrupted after saving: {clean(exc.said)}", err=True)
        raise typer.Exit(130) from None
    except KeyboardInterrupt:
        typer.echo(
            f"interrupted: {clean(output)} was not written; any previous file is kept", err=True
        )
        raise typer.Exit(130) from None
    except OSError as exc:
        raise ModelpickError(f"could not save the run to {output}: {exc.strerror or exc}") from exc
    typer.echo(f"saved: {clean(said)}", err=True)


@errors_to_exit
def bench(
    profile: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Argument(help="task profile; without one, calibrate this device", show_default=False),
    ] = None,
    arch: Annotated[Optional[str], typer.Option("--arch", help="one catalog architecture")] = None,  # noqa: UP045
    top: Annotated[int, typer.Option("--top", help="bench the N best of recommend")] = 3,
    backend: BackendOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size")] = None,  # noqa: UP045
    json_out: JsonOpt = False,
    output: OutputOpt = None,
    quick: Annotated[bool, typer.Option("--quick", help="fewer, shorter timing runs")] = False,
    catalog: CatalogOpt = None,
    plot: PlotOpt = None,
) -> None:
    """Measure candidates on this machine beside their predictions; no profile: calibrate."""
    check_plot(plot)
    if output is not None:
        check_output_target(output)
    if profile is None:
        if precision not in (None, "fp32"):
            raise InputError("--precision: calibration runs at fp32 (its factors apply to all)")
        _calibrate(backend or "torch", device, quick, json_out, output, plot)
        return
    console = progress_console()
    status = console.status("starting") if console else None
    if status:
        status.start()
    try:
        result = api.bench(
            profile,
            arch=arch,
            top=top,
            backend=backend,
            device=device,
            precision=precision,
            batch_size=batch_size,
            quick=quick,
            catalog=catalog,
            on_start=(lambda s: status.update(clean(s))) if status else None,
            warn=warn,
        )
    finally:
        if status:
            status.stop()
    if json_out:
        print_json(result.to_dict())
    else:
        from .render_bench import render_bench

        render_bench(result.to_dict())
    _save(output, result)
    save_plot("bench", result.to_dict(), plot)
    if result.interrupted:
        raise typer.Exit(130)
    if result.failed:
        raise NoAnswerError("")


def _calibrate(
    backend: str, device: str, quick: bool, json_out: bool, output: Path | None, plot=None
):
    console = progress_console()
    status = console.status("calibrating") if console else None
    if status:
        status.start()
    try:
        result = api.calibrate(
            backend,
            device,
            quick,
            on_step=(lambda s: status.update(f"calibrating: {clean(s)}")) if status else None,
        )
    except SavedThenInterrupted as exc:
        typer.echo(f"interrupted after the calibration was stored: {clean(exc.said)}", err=True)
        raise typer.Exit(130) from None
    except KeyboardInterrupt:
        typer.echo("interrupted: nothing was saved; the previous calibration is kept", err=True)
        raise typer.Exit(130) from None
    finally:
        if status:
            status.stop()
    _save(output, result)
    if json_out:
        print_json(result.to_dict())
    else:
        from .render_bench import render_calibration

        render_calibration(result.to_dict())
    save_plot("calibration", result.to_dict(), plot)
