"""The `retention apply` verb: remove the partitions past their time, or list them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

import typer

from pipelines.cli.common import console, err_console, settings

retention_app = typer.Typer(help="Retention of the data zones.", no_args_is_help=True)


@retention_app.command("apply")
def apply_verb(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be removed; remove nothing.")
    ] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The clock, YYYY-MM-DD (default: today, UTC).")
    ] = None,
) -> None:
    """Remove whole date partitions past their retention, keeping what open cases and recent
    models need; every removal is recorded in the audit log."""
    from pipelines.retention import apply_retention, render_plan

    try:
        clock = date.fromisoformat(as_of) if as_of else datetime.now(UTC).date()
    except ValueError as error:
        raise typer.BadParameter(f"--as-of {as_of!r} is not a date (YYYY-MM-DD)") from error
    try:
        plan = apply_retention(settings(), clock, dry_run=dry_run)
    except ValueError as error:
        err_console.print(f"cannot apply retention: {error}", highlight=False, markup=False)
        raise typer.Exit(code=1) from error
    for line in render_plan(plan, dry_run):
        console.print(line, highlight=False, markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the `retention` group."""
    app.add_typer(retention_app, name="retention")
