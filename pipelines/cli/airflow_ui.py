"""The `airflow-ui` verb: Airflow's own UI and scheduler on this data home, project DAGs only."""

from __future__ import annotations

from typing import Annotated

import typer

from pipelines.cli.common import console, settings


def airflow_ui_verb(
    port: Annotated[int, typer.Option(help="Port of Airflow's UI and API server.")] = 8080,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
) -> None:
    """Start Airflow (UI, scheduler, DAG processor, triggerer) with cargo-risk's DAGs; Ctrl-C
    stops every part of it."""
    from pipelines.airflow_run import password_file, serve_ui

    current = settings()
    console.print(
        f"Airflow UI on http://{host}:{port}/ for home {current.home} (starting takes about "
        "half a minute)\n"
        f"sign in as admin; the password is in {password_file(current)}\n"
        'unpause cargo_risk_nightly, then trigger it with the conf {"date": "YYYY-MM-DD"}; '
        "Ctrl-C stops Airflow",
        highlight=False,
    )
    code = serve_ui(current, host, port)
    console.print(f"Airflow stopped (exit {code})", highlight=False)
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("airflow-ui")(airflow_ui_verb)
