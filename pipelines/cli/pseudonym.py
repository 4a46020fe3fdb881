"""`cargo-risk pseudonym show|rotate`: the key behind the trader pseudonyms (decision 0027)."""

from __future__ import annotations

import typer

from pipelines.cli.common import console, err_console, settings

pseudonym_app = typer.Typer(
    help="The secret key of the trader-id pseudonyms in history, features and models.",
    no_args_is_help=True,
)


@pseudonym_app.command("show")
def show() -> None:
    """Where the key is and its id and fingerprint (never the secret)."""
    from pipelines.pseudonym import PseudonymKeyError, key_file, load_key

    config = settings()
    try:
        key = load_key(config, create=False)
    except PseudonymKeyError as error:
        err_console.print(f"[red]{error}[/red]")
        raise typer.Exit(code=1) from error
    console.print(f"{key_file(config)}: key {key.marker}")


@pseudonym_app.command("rotate")
def rotate() -> None:
    """Make a new key; history made with the old one is rebuilt from staging on the next night."""
    from pipelines.pseudonym import PseudonymKeyError, rotate_key

    try:
        key = rotate_key(settings())
    except PseudonymKeyError as error:
        err_console.print(f"[red]{error}[/red]")
        raise typer.Exit(code=1) from error
    console.print(f"new pseudonym key {key.marker}; history snapshots dropped, rebuilt next night")


def register(app: typer.Typer) -> None:
    """Add `pseudonym show` and `pseudonym rotate`."""
    app.add_typer(pseudonym_app, name="pseudonym")
