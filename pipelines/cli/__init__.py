"""The `cargo-risk` command: one verb per stage, defaults from settings.

Each verb module registers itself on the app; verbs call stage functions in pipelines/, the same
functions the Airflow tasks call, so the CLI and the DAGs cannot drift apart.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli import (
    airflow_ui,
    alerts,
    assess,
    audit,
    demo,
    exercise,
    featurize,
    mapping,
    models,
    nightly,
    outcomes,
    pseudonym,
    reference,
    retention,
    serve,
    simulate,
    train,
    users,
    validate,
    watchlists,
)
from pipelines.cli.common import err_console, one_line, state

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
    alerts,
    pseudonym,
    assess,
):
    module.register(app)


def main() -> None:
    """Console-script entry point: known failures end in one line naming path and cause."""
    try:
        app()
    except Exception as error:
        if not _operator_error(error):
            raise
        err_console.print(f"error: {one_line(error)}", markup=False, highlight=False)
        sys.exit(1)


OPERATOR_ERRORS = (
    ("pipelines.staging", "BatchError"),
    ("pipelines.locks", "RunLockedError"),
    ("pipelines.watchlists.screen", "NoWatchlistError"),
    ("pipelines.settings", "SettingsError"),
    ("pipelines.featurize", "SnapshotError"),
    ("pipelines.score", "RegistryMismatchError"),
)
"""Failures an operator acts on (besides OSError): no traceback, one line. A module not yet
imported cannot have raised its error, so none is imported here just to be compared."""


def _operator_error(error: Exception) -> bool:
    if isinstance(error, OSError):
        return True
    for module_name, class_name in OPERATOR_ERRORS:
        module = sys.modules.get(module_name)
        if module is not None and isinstance(error, getattr(module, class_name)):
            return True
    return False
