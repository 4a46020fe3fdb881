"""The `audit` verbs: `show` the one audit log of every actor, `verify` its hash chain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from pipelines.cli.common import console, err_console, settings

audit_app = typer.Typer(
    help="The audit log of every actor: the app, the CLI and the DAGs.", no_args_is_help=True
)


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise typer.BadParameter(f"--since {value!r} is not a date or ISO timestamp") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@audit_app.command("show")
def show_verb(
    since: Annotated[
        str | None, typer.Option(help="Only rows from this date or ISO time on (UTC).")
    ] = None,
    actor: Annotated[
        str | None, typer.Option(help="Only this actor (an app user, an OS user or system).")
    ] = None,
    action: Annotated[
        list[str] | None,
        typer.Option(help="Only this action (repeatable; `model_*` matches a prefix)."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, the newest.")] = 500,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
) -> None:
    """Rows of the audit log, oldest first: when, who, role, action, target, detail."""
    import json

    from pipelines.audit_trail import show

    rows = show(settings(), since=_since(since), actor=actor, actions=action or (), limit=limit)
    for row in rows:
        if as_json:
            fields = {
                "id": row.id,
                "at": row.at.isoformat(),
                "actor": row.actor,
                "role": row.role,
                "action": row.action,
                "target": row.target,
                "detail": row.detail,
            }
            console.print(json.dumps(fields), highlight=False, soft_wrap=True, markup=False)
            continue
        console.print(
            f"{row.id:>6} {row.at.isoformat(timespec='seconds')} {row.actor} ({row.role or '-'}) "
            f"{row.action} {row.target} {row.detail}",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    if not rows and not as_json:
        console.print("no audit rows match")


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
