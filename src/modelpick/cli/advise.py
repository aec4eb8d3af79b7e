"""The analytic commands: `recommend`, `estimate`, `validate`, `schema`, `catalog`, `doctor`.

Each parses its options, calls the API, and renders; none imports a framework.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import api
from ..errors import InputError, NoAnswerError
from ..safeio import check_output_target
from .options import (
    ArchOpt,
    CatalogOpt,
    JsonOpt,
    PlotOpt,
    ProfileArg,
    check_plot,
    echo_error,
    errors_to_exit,
    print_json,
    save_plot,
    warn,
)
from .term import clean

TopOpt = Annotated[int, typer.Option("--top", help="how many candidates to show")]


@errors_to_exit
def recommend(
    profile: ProfileArg,
    top: TopOpt = 5,
    json_out: JsonOpt = False,
    catalog: CatalogOpt = None,
    trials: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--trials",
            help="a trial's leaderboard.json or folder (default: the newest "
            "runs/<profile>-trial-*/ here): show what it measured beside each score",
        ),
    ] = None,
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--output", help="save the ranking as JSON, for `report` (atomic)"),
    ] = None,
    plot: PlotOpt = None,
) -> None:
    """Rank candidate architectures for a task, say why, and list the rejected and why."""
    check_plot(plot)
    if output is not None:
        check_output_target(output)
    result = api.recommend(profile, top=top, catalog=catalog, warn=warn, trials=trials)
    generation = isinstance(result, api.GenerationRecommendation)
    if generation and plot is not None:
        raise InputError("--plot: not available for a generation profile yet")
    if json_out:
        print_json(result.to_dict())
    elif generation:
        from .render import render_generation

        render_generation(result)
    else:
        from .render import render_ranking

        render_ranking(result)
    if output is not None:
        typer.echo(clean(result.save(output)), err=True)
    if not generation:
        save_plot("recommend", result.to_dict(), plot)
    if not result.found:
        raise NoAnswerError("")


@errors_to_exit
def estimate(
    profile: ProfileArg,
    arch: ArchOpt,
    json_out: JsonOpt = False,
    catalog: CatalogOpt = None,
    layers: Annotated[bool, typer.Option("--layers", help="also show every layer")] = False,
    trials: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--trials", help="a trial's leaderboard.json or folder (see recommend)"),
    ] = None,
    plot: PlotOpt = None,
) -> None:
    """Cost and predictions of one catalog architecture for a task profile."""
    check_plot(plot)
    result = api.estimate(profile, arch, catalog=catalog, warn=warn, trials=trials)
    if json_out:
        print_json(result.to_dict())
    else:
        from .render import render_estimate, render_layers

        render_estimate(result)
        if layers:
            render_layers(result.built)
    save_plot("estimate", result.to_dict(), plot)


@errors_to_exit
def validate(
    profiles: Annotated[list[Path], typer.Argument(help="task profile YAML files")],
    data: Annotated[
        bool, typer.Option("--data", help="also load data.path and check it against the profile")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Check task profiles against the schema and device table (for CI); exit 2 if invalid."""
    result = api.validate(*profiles, data=data)
    if json_out:
        print_json(result.to_dict())
    else:
        for f in result.files:
            if f.ok:
                typer.echo(f"ok: {clean(f.path)}")
                if f.data is not None:
                    from .render_train import render_data_check

                    render_data_check(f.data)
            else:
                echo_error(f.error)
    if not result.ok:
        raise typer.Exit(2)


@errors_to_exit
def schema() -> None:
    """Print the JSON Schema of the task profile (for editors)."""
    print_json(api.schema().to_dict())


@errors_to_exit
def catalog_list(
    domain: Annotated[Optional[str], typer.Option(help="only this domain")] = None,  # noqa: UP045
    json_out: JsonOpt = False,
    catalog: CatalogOpt = None,
) -> None:
    """List every architecture in the catalog."""
    result = api.catalog_list(domain, catalog=catalog)
    if json_out:
        print_json(result.to_dict())
    else:
        from .render import render_catalog

        render_catalog(result.architectures)


@errors_to_exit
def catalog_show(
    name: Annotated[str, typer.Argument(help="architecture name")],
    json_out: JsonOpt = False,
    catalog: CatalogOpt = None,
) -> None:
    """Show one architecture: family, hyperparameters, source."""
    doc = api.catalog_show(name, catalog=catalog).to_dict()
    if json_out:
        print_json(doc)
        return
    for key, value in doc.items():
        if key == "hparams":
            typer.echo("hparams:")
            for k, v in value.items():
                typer.echo(f"  {clean(k)}: {clean(v)}")
        elif value not in (None, "", []):
            text = ", ".join(map(str, value)) if isinstance(value, list) else value
            typer.echo(f"{key}: {clean(text)}")


@errors_to_exit
def doctor(json_out: JsonOpt = False) -> None:
    """What this machine has: CPU, memory, GPUs, installed backends."""
    result = api.doctor()
    if json_out:
        print_json(result.to_dict())
    else:
        from .render import render_doctor

        render_doctor(result)
