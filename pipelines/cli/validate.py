"""The `validate` verb: check declaration files against the contract, writing nothing in the zones.

`cargo-risk ingest` is the way into raw, staging and quarantine; `validate` answers "would these
files load, and which rows would be rejected, why" and can write those rows to a file you name.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from pipelines.cli.common import console, err_console, settings

if TYPE_CHECKING:
    import polars as pl

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
    rejected: Annotated[
        Path | None,
        typer.Option(
            "--rejected",
            help="Write the rejected rows (file, line, field, reason) here: .csv or .parquet.",
        ),
    ] = None,
) -> None:
    """Check declaration files: counts per file and reason; nothing is loaded or written in the
    data home (use `ingest` to load). Exit 1 when a file is unreadable or too many rows fail."""
    from contracts.mapping import MappingError, load_mapping
    from pipelines.validate import validate_files

    moment = _moment(now)
    if rejected is not None and rejected.suffix.lower() not in (".csv", ".parquet"):
        raise typer.BadParameter(
            f"{rejected}: name a .csv or .parquet file", param_hint="--rejected"
        )
    column_mapping = None
    if mapping is not None:
        try:
            column_mapping = load_mapping(mapping)
        except (MappingError, OSError) as error:
            err_console.print(f"mapping {mapping}: {error}", markup=False, highlight=False)
            raise typer.Exit(2) from None
    config = settings()
    report = validate_files(files, config, mapping=column_mapping, now=moment)
    _print(report)
    if rejected is not None:
        _write_rejected(report.rejected, rejected)
    failed = bool(report.errors)
    if report.rejected_share > config.max_rejected_share:
        failed = True
        err_console.print(
            f"error: {report.rows_rejected} of {report.rows_read} rows rejected "
            f"({report.rejected_share:.1%} > {config.max_rejected_share:.1%} allowed): "
            "a night with these files would stop at validation",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if failed:
        raise typer.Exit(1)


def _write_rejected(rejected: pl.DataFrame, target: Path) -> None:
    from pipelines.csv_safe import write_safe_csv
    from pipelines.io import write_parquet

    if target.suffix.lower() == ".parquet":
        write_parquet(rejected, target)
    else:
        write_safe_csv(rejected, target)
    console.print(
        f"rejected rows: {rejected.height} written to {target}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


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
    for error in report.errors.values():
        err_console.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the validate verb to the app."""
    app.command("validate")(validate)
