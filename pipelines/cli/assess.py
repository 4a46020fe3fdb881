"""The `assess` verbs: serve the pre-loading API, manage caller tokens, assess landed files."""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from pipelines.cli.common import console, date_option, err_console, settings

if TYPE_CHECKING:
    from pipelines.assess.store import AssessmentStore

assess_app = typer.Typer(
    help="Pre-loading assessment: answer declarations before loading.", no_args_is_help=True
)
token_app = typer.Typer(help="Caller tokens of the assessment API.", no_args_is_help=True)
assess_app.add_typer(token_app, name="token")


def _store() -> AssessmentStore:
    from pipelines import layout
    from pipelines.assess.store import AssessmentStore

    return AssessmentStore(layout.assessments_database(settings()))


@assess_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8100,
) -> None:
    """Serve POST /v1/assessments (OpenAPI docs at /docs)."""
    import uvicorn

    from pipelines.assess.engine import Assessor
    from pipelines.assess.service import create_app

    current = settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    assessor = Assessor(current, _store())
    assessor.warm()
    console.print(
        f"assessment API on http://{host}:{port}/docs (model {assessor.model_version}, "
        f"home {current.home})",
        highlight=False,
    )
    uvicorn.run(create_app(assessor), host=host, port=port, access_log=False, log_level="warning")


@token_app.command("create")
def token_create(system: Annotated[str, typer.Argument(help="The calling system's name.")]) -> None:
    """Issue a token; it is printed once, alone on the last line, and stored only hashed."""
    store = _store()
    try:
        token_id, token = store.create_token(system)
    except ValueError as error:
        err_console.print(f"error: {error}")
        raise typer.Exit(2) from None
    console.print(f"token {token_id} for {system} (shown once; keep it secret):", highlight=False)
    print(token)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="The token's id.")]) -> None:
    """Revoke a token at once."""
    if not _store().revoke_token(token_id):
        err_console.print(f"error: no live token with id {token_id}")
        raise typer.Exit(1)
    console.print(f"token {token_id} revoked")


@token_app.command("list")
def token_list() -> None:
    """Tokens issued (ids, systems, dates; never the tokens)."""
    for row in _store().tokens():
        console.print(
            f"{row['token_id']}  {row['system']}  created {row['created_at']}"
            + (f"  revoked {row['revoked_at']}" if row["revoked_at"] else ""),
            highlight=False,
        )


@assess_app.command("landed")
def landed() -> None:
    """Assess every declaration file in landing not assessed yet (what the intraday DAG runs)."""
    from pipelines.assess.intraday import assess_landed

    console.print(json.dumps(assess_landed(settings()), indent=2, sort_keys=True))


@assess_app.command("handover")
def handover(
    day: Annotated[date, date_option("--date", help="Filing date.")],
) -> None:
    """Land the rows the service accepted for a day, for the night to ingest."""
    from pipelines.assess.intraday import land_assessed

    console.print(json.dumps(land_assessed(settings(), day), indent=2))


def register(app: typer.Typer) -> None:
    """Add the `assess` verbs to the app."""
    app.add_typer(assess_app, name="assess")
