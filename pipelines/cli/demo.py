"""The `demo` verb: the whole product on synthetic data, ending in a night run by Airflow."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from pipelines.cli.common import console, err_console, settings


def demo(
    days: Annotated[
        int, typer.Option(min=2, help="Days of simulated trade (history, then one night).")
    ] = 90,
    per_day: Annotated[int, typer.Option(min=1, help="Declaration items a day.")] = 2000,
    threat_rate: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Planted threats per item. Far above real life (default 1 in 100) so that a "
            "quarter of outcomes holds enough findings to train on.",
        ),
    ] = 0.01,
) -> None:
    """Simulate a quarter of trade, train, run the nightly DAG in Airflow, show the lists."""
    from pipelines.demo import held_out_line, run_demo, top_of_busiest_port

    config = settings()
    console.print(f"data home: {config.home}")
    try:
        result = run_demo(
            config,
            days=days,
            per_day=per_day,
            threat_rate=threat_rate,
            step=lambda text: console.print(f"[bold]>[/bold] {text}"),
        )
    except (ValueError, FileNotFoundError) as error:
        # Too few days or items to train on end here, with the reason, not a traceback.
        err_console.print(f"demo stopped: {error}", soft_wrap=True, highlight=False, markup=False)
        raise typer.Exit(code=1) from error
    top = top_of_busiest_port(config, result.night)
    grid = Table(title=f"Top of the {top['port_of_discharge'][0]} list for {result.night}")
    for column in ("rank", "declaration", "item", "risk", "lane", "why"):
        grid.add_column(column, no_wrap=True)
    grid.add_column("first reasons", overflow="fold")
    for row in top.iter_rows(named=True):
        grid.add_row(
            str(row["rank"]),
            row["declaration_id"],
            str(row["item_no"]),
            f"{row['risk_score']:.3f}",
            row["lane"],
            row["selection_reason"] or "",
            "; ".join((row["reasons"] or "").split("; ")[:2]),
        )
    console.print(grid)
    console.print(
        result.outputs["evaluation against the planted threats"].read_text(), soft_wrap=True
    )
    held_out = held_out_line()
    if held_out:
        console.print(held_out, soft_wrap=True, highlight=False, markup=False)
    console.print("[bold]Outputs[/bold]")
    for name, path in result.outputs.items():
        console.print(f"  {name}: {path}")
    from inspector.accounts import demo_login

    port = str(top["port_of_discharge"][0])
    user, password = demo_login(config, [port])
    console.print("[bold]Inspector app[/bold]")
    console.print(f"  start it: CARGO_RISK_HOME={config.home} .venv/bin/cargo-risk serve")
    console.print(f"  open http://127.0.0.1:8000/ and log in as {user} / {password} ({port})")


def register(app: typer.Typer) -> None:
    """Add `demo`."""
    app.command("demo")(demo)
