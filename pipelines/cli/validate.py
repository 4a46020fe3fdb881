"""The `validate` verb: check declaration files against the contract; staging and quarantine."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from pipelines.cli.common import console, err_console, settings

if TYPE_CHECKING:
    from pipelines.validate import ValidationReport


def _moment(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        raise typer.BadParameter(f"{text!r} needs an offset or Z (e.g. 2026-11-29T03:00:00Z)")
    return moment


def validate(
    files: Annotated[
        list[Path], typer.Argument(help="Declaration files (.csv, .jsonl/.ndjson, .parquet).")
    ],
    mapping: Annotated[
        str | None,
        typer.Option(
            "--mapping",
            help="Column mapping (shipped name or YAML path).",
        ),
    ] = None,
    now: Annotated[
        str | None,
        typer.Option(
            "--now",
            help="Moment filed_at is checked against (ISO 8601).",
        ),
    ] = None,
) -> None:
    """Validate declarations: keep good rows, quarantine bad ones with file, line and reason."""
    from contracts.mapping import MappingError, load_mapping
    from pipelines.validate import RejectedShareError, validate_files

    moment = _moment(now)
    column_mapping = None
    if mapping is not None:
        try:
            column_mapping = load_mapping(mapping)
        except (MappingError, OSError) as error:
            err_console.print(f"mapping {mapping}: {error}", markup=False, highlight=False)
            raise typer.Exit(2) from None
    try:
        report = validate_files(files, settings(), mapping=column_mapping, now=moment)
    except RejectedShareError as error:
        report = error.report
        _print(report)
        err_console.print(f"error: {error}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    _print(report)
    if report.errors:
        raise typer.Exit(1)


def _print(report: ValidationReport) -> None:
    files = Table(title="Files")
    for heading in ("file", "read", "kept", "rejected"):
        files.add_column(heading, justify="left" if heading == "file" else "right")
    for item in report.files:
        if item.error is None:
            files.add_row(
                str(item.path), str(item.rows_read), str(item.rows_kept), str(item.rows_rejected)
            )
        else:
            files.add_row(str(item.path), "-", "-", "unreadable")
    console.print(files)
    if report.reasons:
        reasons = Table(title="Rejections per reason")
        for heading in ("field", "rule", "reason", "rows"):
            reasons.add_column(heading, justify="right" if heading == "rows" else "left")
        for (field, rule, reason), count in sorted(report.reasons.items()):
            reasons.add_row(field, rule, reason, str(count))
        console.print(reasons)
    _print_paths("quarantine", report.quarantine_paths)
    _print_paths("staging", report.staging_paths)
    for error in report.errors.values():
        err_console.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)


def _print_paths(zone: str, paths: list[Path]) -> None:
    if len(paths) > 3:
        # Many filing dates: name the zone folder, not every partition.
        folder = paths[0].parent.parent
        console.print(f"{zone}: {len(paths)} files under {folder}", markup=False, soft_wrap=True)
        return
    for path in paths:
        console.print(f"{zone}: {path}", markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the validate verb to the app."""
    app.command("validate")(validate)
