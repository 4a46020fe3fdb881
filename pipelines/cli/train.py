"""The `train` verb: the CBRN and SALW threat models from featurized history and outcomes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

import typer

from pipelines.cli.common import console, err_console, settings


def train(
    until: Annotated[
        str | None,
        typer.Option(
            "--until", help="Last filing date to learn from (default: latest featurized)."
        ),
    ] = None,
) -> None:
    """Train the CBRN and SALW models on inspected items up to a date; make them the champion."""
    from pipelines.train import train_models

    config = settings()
    if until is None:
        days = sorted(p.name.removeprefix("date=") for p in config.zone("features").glob("date=*"))
        if not days:
            raise typer.BadParameter("no features yet: run `cargo-risk featurize run` first")
        until = days[-1]
    try:
        folder = train_models(config, date.fromisoformat(until), datetime.now(UTC))
    except (FileNotFoundError, ValueError) as error:
        err_console.print(f"[red]cannot train:[/red] {error}")
        raise typer.Exit(code=1) from error
    console.print(f"model version {folder.name} written to {folder} and made champion")


def register(app: typer.Typer) -> None:
    """Add `train`."""
    app.command("train")(train)
