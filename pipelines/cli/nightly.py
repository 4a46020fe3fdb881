"""The nightly verbs: `ingest`, `run` and `lists export`, the same stage calls the DAG makes."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipelines.cli.common import console, date_option, err_console, settings
from pipelines.dates import dates_from_options

lists_app = typer.Typer(help="Published ranked lists.", no_args_is_help=True)


def ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(exists=True, dir_okay=False, help="Declaration files: CSV, JSONL, Parquet."),
    ],
) -> None:
    """Load declaration files of any dates (e.g. history) into raw, then validate each date.

    Files loaded before (same SHA-256) are skipped. Each filing date they touch is validated into
    staging and quarantine; a date whose batch breaks the contract is reported and left unstaged.
    The nightly volume check does not apply here: history arrives in uneven batches.
    """
    from pipelines.progress import progress_for
    from pipelines.staging import BatchError, ingest_and_stage

    # On stderr: stdout keeps only the summary, which scripts may read.
    with progress_for(err_console) as steps:
        report, staged = ingest_and_stage(paths, settings(), steps=steps)
    for name, why in report.rejected.items():
        err_console.print(f"[red]rejected[/red] {name}: {why}")
    if report.skipped:
        console.print(f"already loaded, skipped: {', '.join(report.skipped)}")
    grid = Table(title="Ingested filing dates")
    for column in ("date", "read", "staged", "rejected", "status"):
        grid.add_column(column)
    failed = False
    for day, done in staged.items():
        if isinstance(done, BatchError):
            failed = True
            grid.add_row(str(day), "", "", "", f"[red]{done}[/red]")
            continue
        grid.add_row(
            str(day),
            str(done["rows_read"]),
            str(done["rows_staged"]),
            str(done["rows_rejected"]),
            "ok",
        )
    console.print(grid)
    if report.rejected or failed:
        raise typer.Exit(code=1)


def run(
    day: Annotated[
        date | None,
        date_option("--date", help="Filing date to process."),
    ] = None,
    first: Annotated[
        date | None,
        date_option("--from", help="First date of a backfill."),
    ] = None,
    last: Annotated[
        date | None,
        date_option("--to", help="Last date of a backfill."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Score with this model version (default: the one recorded for the date, "
            "else the champion).",
        ),
    ] = None,
) -> None:
    """Run the whole night without Airflow: every stage of the nightly DAG, in its order
    (pipelines/stages.py): the app's outcome export, ingest, validate, Data Docs, outcomes, alert
    import, the night-wide plan, then per port of discharge featurize, score, rules, screen and
    select, then publish, the alert export and retention.

    A rerun of a date already published scores it with the model recorded in its list's lineage,
    so a model promoted since (perhaps trained on that date's outcomes) does not rescore it.
    """
    from pipelines.nightly import run_night
    from pipelines.stages import PortsSummary, PortSummary, PublishSummary, pick

    try:
        days = dates_from_options(day, first, last)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    config = settings()
    for one in days:
        summary = run_night(config, one, model=model)
        published = pick(summary, "publish", PublishSummary)
        per_port = pick(summary, "assess_port", PortsSummary).ports.values()
        notes = [n for port in per_port if isinstance(port, PortSummary) for n in port.notes]
        console.print(
            f"{one}: {published.rows} items in {published.ports} port lists "
            f"(red {published.lane('red')}, yellow {published.lane('yellow')}); "
            f"report {Path(published.report).with_name('report.html')}"
        )
        for note in notes:
            console.print(f"  [yellow]{note}[/yellow]")


def evaluate(
    first: Annotated[
        date,
        date_option("--from", help="First filing date."),
    ],
    last: Annotated[date, date_option("--to", help="Last filing date.")],
) -> None:
    """Recall and precision of the planted threats at 1/2/5 % per port and threat kind, in the
    list's order, by risk alone, by the rules alone and the legacy rules (synthetic worlds only;
    a plain baseline too where the detection harness wrote one), per item and per consignment
    (a split consignment is found when any part is), each beside the most any order could find."""
    from simulator.evaluate import evaluate_range

    try:
        report = evaluate_range(settings(), first, last).report
    except FileNotFoundError as error:
        err_console.print(f"[red]{error}[/red]")
        raise typer.Exit(code=1) from error
    # Plain output: the Markdown table must not be re-wrapped to the terminal's width.
    typer.echo(report.read_text(encoding="utf-8"))
    console.print(f"written to {report}")


@lists_app.command("export")
def export(
    day: Annotated[date, date_option("--date", help="List date.")],
    out: Annotated[Path, typer.Option("--out", help="CSV file to write.")],
    port: Annotated[
        list[str] | None, typer.Option("--port", help="Only these ports (repeatable).")
    ] = None,
    version: Annotated[
        int | None,
        typer.Option("--version", min=1, help="A kept earlier version (default: the current)."),
    ] = None,
) -> None:
    """Write one CSV with the ranked lists of every port (or the given ports) for a date."""
    from pipelines.audit_trail import LIST_EXPORT, record_action
    from pipelines.publish import export_lists

    config = settings()
    try:
        # Upper-cased as `users add` does: UN/LOCODEs are stored in capitals.
        ports = [p.strip().upper() for p in port] if port else None
        written = export_lists(config.zone("lists"), day, out, ports, version)
    except (FileNotFoundError, ValueError) as error:
        err_console.print(f"[red]{error}[/red]")
        raise typer.Exit(code=1) from error
    details = {"date": day, "ports": ports or "all", "version": version or "current"}
    record_action(config, LIST_EXPORT, str(written), details)
    console.print(f"wrote {written}")


@lists_app.command("versions")
def versions(
    day: Annotated[date, date_option("--date", help="List date.")],
) -> None:
    """Every publication of a date's lists, oldest first; the current one is marked."""
    from pipelines.publish import list_versions

    kept = list_versions(settings().zone("lists"), day)
    if not kept:
        err_console.print(f"[red]no lists published for {day}[/red]")
        raise typer.Exit(code=1)
    grid = Table(title=f"Lists of {day}")
    for column in ("version", "current", "published at (UTC)", "rows", "run", "model"):
        grid.add_column(column)
    for one in kept:
        grid.add_row(
            str(one.version),
            "yes" if one.current else "",
            one.published_at,
            str(one.rows),
            ", ".join(one.run_ids),
            ", ".join(one.model_versions),
        )
    console.print(grid)


def register(app: typer.Typer) -> None:
    """Add `ingest`, `run`, `evaluate` and `lists export`."""
    app.command("ingest")(ingest)
    app.command("run")(run)
    app.command("evaluate")(evaluate)
    app.add_typer(lists_app, name="lists")
