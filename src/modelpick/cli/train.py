"""The commands that learn from the user's data: `train` and `predict`.

A framework and the data libraries are imported through the API only when they run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import api
from .options import (
    ArchOpt,
    BackendOpt,
    CatalogOpt,
    JsonOpt,
    ProfileArg,
    errors_to_exit,
    print_json,
    process_start,
    progress_console,
    warn,
)
from .term import clean

DataOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--data", help="data file or folder (default: the profile's data.path)"),
]


class _Live:
    """A rich progress bar per epoch with the running loss, and one line per finished epoch."""

    def __init__(self, console, task: str):
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = console
        self.task_kind = task
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.bar = None
        self.epoch = 0
        self.last = ""

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def status(self, text: str) -> None:
        if self.bar is None:
            self.bar = self.progress.add_task(clean(text), total=None, stats="")
        else:
            self.progress.update(self.bar, description=clean(text))

    def batch(self, p) -> None:
        if self.bar is None:
            self.status("training")
        if p.epoch != self.epoch:
            self.epoch = p.epoch
            self.progress.reset(self.bar, total=p.steps, description=f"epoch {p.epoch}")
        stats = f"loss {p.loss:.4g}  lr {p.lr:.2e}" + (f"  {self.last}" if self.last else "")
        self.progress.update(self.bar, completed=p.step, stats=stats)

    def epoch_done(self, rec: dict) -> None:
        self.last = _metric_text(rec)
        self.console.print(_epoch_line(rec), highlight=False)


def _metric_text(rec: dict) -> str:
    parts = []
    if rec.get("val_loss") is not None:
        parts.append(f"val_loss {rec['val_loss']:.4g}")
    if rec.get("val_accuracy") is not None:
        parts.append(f"val_acc {rec['val_accuracy']:.3f}")
    if rec.get("val_rmse") is not None:
        parts.append(f"val_rmse {rec['val_rmse']:.4g}")
    if rec.get("val_r2") is not None:
        parts.append(f"val_r2 {rec['val_r2']:.3f}")
    return "  ".join(parts)


def _epoch_line(rec: dict) -> str:
    partial = " (partial)" if rec.get("partial") else ""
    best = "  [green]best[/]" if rec.get("best") else ""
    return (
        f"epoch {rec['epoch']:>3}{partial}  train_loss {rec['train_loss']:.4g}  "
        f"{_metric_text(rec)}  {rec['train_s']:.1f} s{best}"
    )


@errors_to_exit
def train(
    profile: ProfileArg,
    arch: ArchOpt,
    backend: BackendOpt = None,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda")] = "auto",
    precision: Annotated[str, typer.Option("--precision", help="fp32 | bf16 | fp16")] = "fp32",
    epochs: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--epochs", help="at most this many epochs"),
    ] = None,
    minutes: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--minutes", help="wall-clock limit (default: budget.train_minutes)"),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="data split, shuffling, init")] = 0,
    patience: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--patience", help="epochs without a better val loss before stopping [5]"),
    ] = None,
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--output",
            help="new run directory (default runs/<profile>-<arch>-<time>/); an existing "
            "non-empty one is refused",
        ),
    ] = None,
    data: DataOpt = None,
    json_out: JsonOpt = False,
    catalog: CatalogOpt = None,
) -> None:
    """Train one catalog architecture on your data; write the checkpoint, preprocessing and
    learning curves, with the measured cost beside the predicted one."""
    console = None if json_out else progress_console()
    live = _Live(console, "train") if console else None
    plain = None
    if live is None and not json_out:
        from .options import console as make_console

        plain = make_console(stderr=True)
    kwargs = dict(
        started=process_start(),
        backend=backend,
        device=device,
        precision=precision,
        epochs=epochs,
        minutes=minutes,
        seed=seed,
        patience=patience,
        output=output,
        data=data,
        catalog=catalog,
        warn=warn,
    )
    if live:
        with live:
            result = api.train_model(
                profile,
                arch,
                on_status=live.status,
                on_batch=live.batch,
                on_epoch=live.epoch_done,
                **kwargs,
            )
    else:
        on_epoch = (lambda rec: plain.print(_epoch_line(rec), highlight=False)) if plain else None
        result = api.train_model(profile, arch, on_epoch=on_epoch, **kwargs)
    doc = result.to_dict()
    if json_out:
        print_json(doc)
    else:
        from .render_train import render_train

        render_train(doc)
    if result.interrupted:
        typer.echo(
            f"interrupted: the best checkpoint and the curves so far are in {clean(doc['output'])}",
            err=True,
        )
        raise typer.Exit(130)


@errors_to_exit
def predict(
    run: Annotated[Path, typer.Argument(help="a run directory written by `train`")],
    inputs: Annotated[
        Path, typer.Argument(help="new data in the training data's format", show_default=False)
    ],
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda")] = "cpu",
    batch_size: Annotated[int, typer.Option("--batch-size")] = 256,
    json_out: JsonOpt = False,
) -> None:
    """Predict with a trained run on new data (its preprocessing applied)."""
    result = api.predict(run, inputs, device=device, batch_size=batch_size)
    if json_out:
        print_json(result.to_dict())
        return
    from .render_train import render_predictions

    render_predictions(result.to_dict())
