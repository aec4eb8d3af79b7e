"""`modelpick trial`: choose by evidence within the budget."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import api
from .options import (
    BackendOpt,
    CatalogOpt,
    JsonOpt,
    PlotOpt,
    ProfileArg,
    check_plot,
    errors_to_exit,
    print_json,
    process_start,
    progress_console,
    save_plot,
    warn,
)
from .term import clean


class _View:
    """A live view: rung, jobs running and finished, best so far, time left."""

    def __init__(self, console, budget_s: float | None, started: float):
        from rich.live import Live

        self.console, self.started = console, started
        self.budget_s = budget_s
        self.running: dict = {}
        self.finished = 0
        self.failed = 0
        self.best = None
        self.status = "starting"
        self.live = Live(self._render(), console=console, refresh_per_second=4, transient=True)

    def _render(self):
        from rich.text import Text

        left = ""
        if self.budget_s:
            left = f"  {max(0.0, self.budget_s - (time.monotonic() - self.started)):.0f} s left"
        run = ", ".join(f"{clean(j['candidate'])}@rung {j['rung']}" for j in self.running.values())
        best = f"  best {clean(self.best[0])} {self.best[1]:.4g}" if self.best else ""
        return Text(
            f"{clean(self.status)}  running: {run or '–'}  finished {self.finished}"
            f" (failed {self.failed}){best}{left}"
        )

    def event(self, kind: str, info: dict) -> None:
        job = info.get("job")
        if kind == "status":
            self.status = info["text"]
        elif kind == "start":
            self.running[(job["candidate"], job["rung"])] = job
            self.status = "training"
        elif kind == "done":
            self.running.pop((job["candidate"], job["rung"]), None)
            self.finished += 1
            if info.get("failed"):
                self.failed += 1
                self.console.print(
                    f"{clean(job['candidate'])} rung {job['rung']}: failed: {clean(info['failed'])}"
                )
            else:
                v = info.get("value")
                self.console.print(f"{clean(job['candidate'])} rung {job['rung']}: {v:.4g}")
                if v is not None and (self.best is None or v > self.best[1]):
                    self.best = (job["candidate"], v)
        self.live.update(self._render())


def _plain_event(kind: str, info: dict) -> None:
    if kind != "done":
        return
    job = info["job"]
    what = f"failed: {info['failed']}" if info.get("failed") else f"{info.get('value'):.4g}"
    typer.echo(f"{clean(job['candidate'])} rung {job['rung']}: {clean(what)}", err=True)


@errors_to_exit
def trial(
    profile: ProfileArg,
    top: Annotated[int, typer.Option("--top", help="candidates from recommend")] = 8,
    families: Annotated[Optional[str], typer.Option("--families", help="e.g. cnn,mlp")] = None,  # noqa: UP045
    minutes: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(
            "--minutes", help="the whole search's wall-clock limit (default budget.train_minutes)"
        ),
    ] = None,  # noqa: UP045
    eta: Annotated[int, typer.Option("--eta", help="successive halving's reduction factor")] = 3,
    rungs: Annotated[
        str,
        typer.Option("--rungs", help="rung sizes in seconds (from the budget) or epochs (η^k)"),
    ] = "seconds",
    store: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--store",
            help="Optuna store: a SQLite file or a SQLAlchemy URL (default <output>/trial.db)",
        ),
    ] = None,  # noqa: UP045
    resume: Annotated[
        bool, typer.Option("--resume", help="go on with (or join) the search in --store")
    ] = False,
    executor: Annotated[str, typer.Option("--executor", help="local | ray")] = "local",
    backend: BackendOpt = None,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda")] = "auto",
    precision: Annotated[str, typer.Option("--precision", help="fp32 | bf16 | fp16")] = "fp32",
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--output", help="new folder for the runs (default runs/<profile>-trial-<time>/)"
        ),
    ] = None,  # noqa: UP045
    data: Annotated[
        Optional[Path], typer.Option("--data", help="data file or folder (default: data.path)")  # noqa: UP045
    ] = None,  # noqa: UP045
    seed: Annotated[int, typer.Option("--seed")] = 0,
    ray_address: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--ray-address", help="--executor ray: join this cluster (auto, HOST:6379)"),
    ] = None,
    cpus_per_trial: Annotated[float, typer.Option("--cpus-per-trial", help="--executor ray")] = 1,
    gpus_per_trial: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--gpus-per-trial", help="--executor ray: fractions share a GPU"),
    ] = None,
    json_out: JsonOpt = False,
    catalog: CatalogOpt = None,
    plot: PlotOpt = None,
) -> None:
    """Train the best candidates (and baselines) by successive halving within the budget; a
    leaderboard with each measurement beside the analytic rank."""
    check_plot(plot)
    started = process_start()
    fams = [f.strip() for f in families.split(",") if f.strip()] if families else None
    console = None if json_out else progress_console()
    view = _View(console, (minutes * 60) if minutes else None, started) if console else None
    kwargs = dict(
        top=top,
        families=fams,
        minutes=minutes,
        eta=eta,
        store=store,
        resume=resume,
        executor=executor,
        backend=backend,
        device=device,
        precision=precision,
        output=output,
        data=data,
        seed=seed,
        catalog=catalog,
        warn=warn,
        started=started,
        ray_address=ray_address,
        rungs=rungs,
        cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial,
    )
    if view:
        with view.live:
            result = api.trial(profile, on_event=view.event, **kwargs)
    elif not json_out:  # stderr is not a terminal: one line per finished job
        result = api.trial(profile, on_event=_plain_event, **kwargs)
    else:
        result = api.trial(profile, **kwargs)
    doc = result.to_dict()
    if json_out:
        print_json(doc)
    else:
        from .render_search import render_leaderboard

        render_leaderboard(doc)
        typer.echo(
            f"store: {clean(doc['store'])} (modelpick report STORE; --resume to go on)", err=True
        )
    save_plot("trial", doc, plot)
    if result.interrupted:
        typer.echo("interrupted: every finished rung is stored; --resume goes on", err=True)
        raise typer.Exit(130)
