"""The `audit verify` verb: walk the inspector app's audit log hash chain."""

from __future__ import annotations

from typing import Annotated

import typer

from pipelines.cli.common import console, err_console, settings

audit_app = typer.Typer(help="The inspector app's audit log.", no_args_is_help=True)


@audit_app.command("verify")
def verify_verb(
    database_url: Annotated[
        str | None,
        typer.Option(help="SQLAlchemy URL (default: sqlite under <home>/inspector/)."),
    ] = None,
) -> None:
    """Recompute the audit log's hash chain; exit 1 naming the first row that was changed."""
    # The web stack is imported on use so other verbs start fast.
    from inspector.audit import verify
    from inspector.config import InspectorConfig
    from inspector.db import make_engine, session_factory
    from inspector.migrate import upgrade

    config = InspectorConfig.from_settings(settings(), database_url=database_url)
    engine = make_engine(config.database_url)
    upgrade(engine)  # a database from before the chain gets it, as the app would give it
    with session_factory(engine)() as session:
        check = verify(session)
    engine.dispose()
    if not check.intact:
        err_console.print(
            f"audit log broken at row id {check.broken_id} ({check.rows} rows before it verify)",
            highlight=False,
        )
        raise typer.Exit(code=1)
    console.print(f"audit log intact: {check.rows} rows, newest hash {check.newest_hash}")


def register(app: typer.Typer) -> None:
    """Add the `audit` group."""
    app.add_typer(audit_app, name="audit")
