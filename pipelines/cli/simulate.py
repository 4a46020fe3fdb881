"""The `simulate` verb: generate a synthetic cargo world into the landing and truth zones."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipelines.cli.common import console, err_console, settings

simulate_app = typer.Typer(
    help="Generate a synthetic cargo world: landing files, outcomes and a ground truth.",
    no_args_is_help=False,
    invoke_without_command=True,
)


def _parse_day(value: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError as error:
        raise typer.BadParameter(f"{value!r} is not a date like 2026-01-01") from error


@simulate_app.callback()
def simulate(
    ctx: typer.Context,
    *,
    days: Annotated[int, typer.Option(min=1, help="Number of filing days.")] = 90,
    per_day: Annotated[
        int | None,
        typer.Option(min=1, help="Mean declaration rows per day (default 2000, or the preset's)."),
    ] = None,
    start: Annotated[str, typer.Option(help="First filing day (YYYY-MM-DD).")] = "2026-01-01",
    threat_rate: Annotated[
        float | None,
        typer.Option(
            min=0.0, max=0.5, help="Threat items per row (default 1 in 5,000, or the preset's)."
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (default: settings seed).")] = None,
    scenario: Annotated[
        list[str] | None,
        typer.Option("--scenario", help="Scenario name or YAML file (repeat; default: all)."),
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(help="World preset: eu-default, east-africa, gulf-hub, south-america."),
    ] = None,
    disguises: Annotated[
        str | None,
        typer.Option(help="Disguise family whose scenarios to plant (see docs/simulation.md)."),
    ] = None,
    report: Annotated[bool, typer.Option("--report", help="Also write the report.")] = False,
) -> None:
    """Simulate DAYS days of traffic from START (`simulate report` writes the report only)."""
    if ctx.invoked_subcommand is not None:
        return
    from simulator.presets import disguise_family
    from simulator.presets import preset as find_preset
    from simulator.stage import simulate_world

    config = settings()
    first = _parse_day(start)
    try:
        chosen = find_preset(preset) if preset else None
        family = disguise_family(disguises) if disguises else None
    except ValueError as error:
        err_console.print(f"[red]simulate: {error}[/red]")
        raise typer.Exit(2) from error
    if family and scenario:
        err_console.print("[red]simulate: give --disguises or --scenario, not both[/red]")
        raise typer.Exit(2)
    if family:
        scenario = list(family.scenarios)
    if per_day is None:
        per_day = chosen.per_day if chosen else 2000
    if threat_rate is None:
        threat_rate = chosen.threat_rate if chosen else 1 / 5000
    with Progress(
        TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console,
    ) as progress:  # fmt: skip
        task = progress.add_task("days", total=days)
        try:
            result = simulate_world(
                config,
                first,
                days,
                per_day,
                threat_rate=threat_rate,
                scenarios=tuple(scenario) if scenario else None,
                seed=seed,
                params=chosen.world_parameters() if chosen else None,
                on_day=lambda _day: progress.advance(task),
            )
        except ValueError as error:
            err_console.print(f"[red]simulate: {error}[/red]")
            raise typer.Exit(2) from error
    table = Table(title=f"Simulated {days} days from {first} (seed {result.seed})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in (
        ("rows written", result.rows),
        ("amended filings", result.amendments),
        ("invalid rows (for the quarantine)", result.invalid_rows),
        ("inspections", result.inspections),
        ("findings", result.findings),
        ("threat items", result.threats),
    ):
        table.add_row(name, f"{value:,}")
    for name, count in result.threats_by_scenario.items():
        table.add_row(f"  {name}", f"{count:,}")
    console.print(table)
    console.print(f"landing: {config.zone('landing')}  truth: {result.truth_file}")
    if report:
        _write_report()


def _write_report() -> None:
    from simulator.report import build_report

    try:
        built = build_report(settings())
    except FileNotFoundError as error:
        err_console.print(f"[red]simulate report: {error}[/red]")
        raise typer.Exit(2) from error
    for name, value in built.summary.items():
        console.print(f"{name}: {value}")
    console.print(f"report: {built.index}")


@simulate_app.command("report")
def report_command() -> None:
    """Write reports/simulation/index.html with plots for the simulated landing files."""
    _write_report()


def register(app: typer.Typer) -> None:
    """Add the `simulate` verb (and `simulate report`) to the app."""
    app.add_typer(simulate_app, name="simulate")
