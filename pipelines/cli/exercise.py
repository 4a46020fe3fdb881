"""The `exercise` verbs: inject a threat scenario into a day, then report what the night caught."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from pipelines.cli.common import console, date_option, err_console, settings

exercise_app = typer.Typer(
    help="Scenario exercises: inject threat rows into a day, then see what was caught.",
    no_args_is_help=True,
)


@exercise_app.command("inject")
def inject_command(
    scenario: Annotated[str, typer.Option(help="Scenario YAML file or shipped scenario name.")],
    day: Annotated[
        date,
        date_option("--date", help="Filing day to inject into."),
    ],
    count: Annotated[int, typer.Option(min=1, help="Threat items to inject.")] = 10,
    seed: Annotated[int | None, typer.Option(help="Seed (default: settings seed).")] = None,
) -> None:
    """Add threat rows to a day's landing data and record them under exercises/<id>/."""
    from simulator.exercise import inject
    from simulator.threats import resolve_scenario

    try:
        chosen = resolve_scenario(scenario)
        done = inject(settings(), chosen, day, count=count, seed=seed)
    except ValueError as error:
        err_console.print(f"[red]exercise inject: {error}[/red]")
        raise typer.Exit(2) from error
    console.print(
        f"exercise {done.exercise_id}: {done.threat_items} threat items "
        f"({done.rows} rows with cover items) -> {done.landing_file}"
    )


@exercise_app.command("report")
def report_command(
    exercise_id: Annotated[
        str | None, typer.Option("--id", help="One exercise (default: all).")
    ] = None,
) -> None:
    """Per scenario: injected, caught at 1/2/5/10 % inspection per port, red lanes, ranks."""
    from pipelines.csv_safe import write_safe_csv
    from simulator.exercise import report_for

    config = settings()
    try:
        report = report_for(config, exercise_id)
    except FileNotFoundError as error:
        err_console.print(f"[red]exercise report: {error}[/red]")
        raise typer.Exit(2) from error
    labels = {
        "injected": "injected", "listed": "in a ranked list", "caught_1pct": "caught at 1 %",
        "caught_2pct": "caught at 2 %", "caught_5pct": "caught at 5 %",
        "caught_10pct": "caught at 10 %", "red_lane": "red lane", "median_rank": "median rank",
        "worst_rank": "worst rank",
    }  # fmt: skip
    for row in report.iter_rows(named=True):
        # One narrow table per exercise: it stays readable in any terminal width.
        table = Table(title=f"{row['exercise_id']} ({row['scenario']})")
        table.add_column("measure")
        table.add_column("value", justify="right")
        for column, label in labels.items():
            value = row[column]
            table.add_row(label, "-" if value is None else f"{value:g}")
        console.print(table)
    target = config.zone("reports") / "exercises" / "exercise_report.csv"
    write_safe_csv(report, target)
    console.print(f"written: {target}")


def register(app: typer.Typer) -> None:
    """Add the `exercise inject` and `exercise report` verbs to the app."""
    app.add_typer(exercise_app, name="exercise")
