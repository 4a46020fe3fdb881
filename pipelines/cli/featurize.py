"""The `featurize` verbs: build one day's (or a range's) features, and show the registry."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from pipelines.cli.common import console, date_option, err_console, settings
from pipelines.dates import dates_from_options

featurize_app = typer.Typer(
    help="Point-in-time features: history snapshots and one features partition per filing date.",
    no_args_is_help=True,
)


@featurize_app.command("run")
def run(
    day: Annotated[
        date | None,
        date_option("--date", help="Filing date to featurize."),
    ] = None,
    first: Annotated[
        date | None,
        date_option("--from", help="First date of a range."),
    ] = None,
    last: Annotated[
        date | None,
        date_option("--to", help="Last date of a range."),
    ] = None,
) -> None:
    """Write features/date=D/features.parquet for each date, in order, advancing the history."""
    from pipelines.featurize import featurize_day, load_references

    try:
        days = dates_from_options(day, first, last)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    config = settings()
    refs = load_references(config)
    for one in days:
        try:
            path = featurize_day(config, one, refs=refs)
        except (FileNotFoundError, ValueError) as error:
            err_console.print(f"[red]{one}[/red]: {error}")
            raise typer.Exit(code=1) from error
        console.print(f"{one}: {path}")


@featurize_app.command("registry")
def registry(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the Markdown table of docs/features.md.")
    ] = False,
) -> None:
    """List every model feature: name, type, source and meaning."""
    from features.registry import FEATURES, markdown_table, registry_hash

    if markdown:
        typer.echo(markdown_table(), nl=False)
        return
    grid = Table(title=f"Feature registry ({len(FEATURES)} features, hash {registry_hash()[:12]})")
    for column in ("name", "dtype", "source", "meaning"):
        grid.add_column(column)
    for feature in FEATURES:
        grid.add_row(feature.name, feature.dtype, feature.source, feature.meaning)
    console.print(grid)


def register(app: typer.Typer) -> None:
    """Add `featurize run` and `featurize registry` to the app."""
    app.add_typer(featurize_app, name="featurize")
