"""The `cargo-risk` command: one verb per stage, defaults from settings.

Each verb module registers itself on the app; verbs call stage functions in pipelines/, the same
functions the Airflow tasks call, so the CLI and the DAGs cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli import (
    airflow_ui,
    audit,
    demo,
    exercise,
    featurize,
    mapping,
    models,
    nightly,
    outcomes,
    reference,
    retention,
    serve,
    simulate,
    train,
    users,
    validate,
    watchlists,
)
from pipelines.cli.common import state

app = typer.Typer(
    name="cargo-risk",
    help="Cargo risk targeting: validate declarations, screen parties, rank shipments per port.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    config: Annotated[
        Path | None,
        typer.Option("--config", help="YAML settings file (default: $CARGO_RISK_CONFIG)."),
    ] = None,
    home: Annotated[
        Path | None,
        typer.Option("--home", help="Data home folder (default: $CARGO_RISK_HOME)."),
    ] = None,
) -> None:
    """Cargo risk targeting for customs."""
    state.config_file = config
    state.home = home


for module in (
    reference,
    validate,
    nightly,
    outcomes,
    serve,
    users,
    featurize,
    train,
    mapping,
    simulate,
    exercise,
    watchlists,
    demo,
    models,
    audit,
    retention,
    airflow_ui,
):
    module.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
