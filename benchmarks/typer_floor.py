"""A do-nothing Typer app with `recommend`'s parameters: what any Typer CLI of this shape pays
before doing work (Typer 0.2x coerces every parameter through a pydantic TypeAdapter).
Used by benchmarks/startup.py as a second reference point."""

from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(add_completion=False)


@app.command()
def recommend(
    profile: Annotated[Path, typer.Argument()],
    top: Annotated[int, typer.Option("--top", min=1)] = 5,
    json_out: Annotated[bool, typer.Option("--json")] = False,
    catalog: Annotated[Optional[Path], typer.Option("--catalog")] = None,  # noqa: UP045
) -> None:
    pass


@app.command()
def other() -> None:
    pass


if __name__ == "__main__":
    app()
