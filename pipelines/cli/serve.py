"""The `serve` verb (the inspector web app) and `outcomes export-app` (its records to landing)."""

from __future__ import annotations

import ipaddress
import logging
from typing import Annotated

import typer

from pipelines.cli.common import console, settings

outcomes_app = typer.Typer(help="Inspection outcomes.", no_args_is_help=True)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_verb(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    secure_cookie: Annotated[
        bool | None,
        typer.Option(
            "--secure-cookie/--no-secure-cookie",
            help="Send the session cookie over HTTPS only (default: on, except on localhost, "
            "where plain http is used).",
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="SQLAlchemy URL (default: sqlite under <home>/inspector/)."),
    ] = None,
) -> None:
    """Serve the inspector web app."""
    # The web stack is imported on use so other verbs start fast.
    import uvicorn

    from inspector.app import create_app
    from inspector.config import InspectorConfig

    current = settings()
    secure = not _loopback(host) if secure_cookie is None else secure_cookie
    config = InspectorConfig.from_settings(current, database_url=database_url, cookie_secure=secure)
    app = create_app(current, config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    console.print(f"inspector app on http://{host}:{port}/ (home {current.home})", highlight=False)
    # uvicorn's own access log carries client addresses: the app logs requests without them.
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="info")


def export_app_verb(
    database_url: Annotated[
        str | None,
        typer.Option(help="SQLAlchemy URL (default: sqlite under <home>/inspector/)."),
    ] = None,
) -> None:
    """Write outcomes (landing/outcomes) and waivers (landing/waivers) recorded in the app."""
    from inspector.config import InspectorConfig
    from inspector.export import export_app_records

    current = settings()
    config = InspectorConfig.from_settings(current, database_url=database_url)
    exported = export_app_records(current, config)
    if exported is None:
        console.print("nothing new to export")
        return
    for path, rows, kind in (
        (exported.outcomes, exported.outcome_rows, "outcomes"),
        (exported.waivers, exported.waiver_rows, "waivers"),
    ):
        if path is not None:
            console.print(f"{rows} {kind} -> {path}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add `serve` and `outcomes export-app`, joining an `outcomes` group if one exists."""
    app.command("serve")(serve_verb)
    group = next((g.typer_instance for g in app.registered_groups if g.name == "outcomes"), None)
    if group is None:
        group = outcomes_app
        app.add_typer(group, name="outcomes")
    group.command("export-app")(export_app_verb)
