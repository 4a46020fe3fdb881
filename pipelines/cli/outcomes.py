"""The `outcomes import` verb: inspection results into staging, bad rows into quarantine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipelines.cli.common import console, err_console, settings

outcomes_app = typer.Typer(help="Inspection outcomes.", no_args_is_help=True)


@outcomes_app.command("import")
def import_verb(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            exists=True, dir_okay=False, help="Outcome files (default: new files in landing)."
        ),
    ] = None,
) -> None:
    """Import inspection outcomes (contract CSV, JSONL or Parquet) into staging.

    Each row must name a staged declaration (and item, when given) inspected after filing; rows
    that break a rule go to quarantine/outcomes with line, field and reason.
    """
    from pipelines.outcomes import import_landing_outcomes, import_outcome_files

    config = settings()
    report = import_outcome_files(list(paths), config) if paths else import_landing_outcomes(config)
    grid = Table(title="Outcomes imported")
    for column in ("file", "imported", "rejected rows"):
        grid.add_column(column)
    for name, rows in report.imported.items():
        grid.add_row(name, str(rows), str(report.rejected_rows.get(name, 0)))
    console.print(grid)
    for reason, count in sorted(report.reasons.items()):
        console.print(f"  rejected {count}: {reason}")
    if report.skipped:
        console.print(f"already imported, skipped: {', '.join(report.skipped)}")
    for name, why in report.rejected_files.items():
        err_console.print(f"[red]rejected[/red] {name}: {why}")
    if report.rejected_files:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add the `outcomes` group (other modules may add verbs to it)."""
    app.add_typer(outcomes_app, name="outcomes")
