"""The `users` verbs: add inspector, supervisor and admin accounts of the inspector app."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from pipelines.cli.common import console, err_console, settings

users_app = typer.Typer(help="Accounts of the inspector web app.", no_args_is_help=True)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    entered: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return entered


def _fail(error: Exception) -> None:
    err_console.print(f"error: {error}", soft_wrap=True, highlight=False, markup=False)
    raise typer.Exit(code=1)


@users_app.command("add")
def add_verb(
    name: Annotated[str, typer.Argument(help="Login name, e.g. j.smith.")],
    role: Annotated[
        str, typer.Option(help="inspector, supervisor, admin or data (the data team).")
    ] = "inspector",
    ports: Annotated[
        str, typer.Option(help="Ports an inspector sees, comma-separated: NLRTM,SGSIN.")
    ] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Add an account (the password is prompted for, or read from stdin)."""
    # The web stack is imported on use so other verbs start fast.
    from contracts.reference import locodes
    from inspector.accounts import create_user
    from inspector.auth import AccountError, parse_ports

    try:
        chosen = parse_ports(ports)
        unknown = sorted(set(chosen) - locodes())
        if unknown:
            raise AccountError(
                f"unknown port(s) {', '.join(unknown)}: not in the shipped UN/LOCODE list"
            )
        account = create_user(settings(), name, _password(password_stdin), role, chosen)
    except AccountError as error:
        _fail(error)
        return
    where = f" for {account.ports}" if account.ports else ""
    console.print(f"added {account.role} {account.username}{where}", highlight=False)


@users_app.command("list")
def list_verb() -> None:
    """List the accounts (name, role, ports, active)."""
    from inspector.accounts import list_users

    table = Table("user", "role", "ports", "active")
    for account in list_users(settings()):
        table.add_row(account.username, account.role, account.ports, str(account.active))
    console.print(table)


@users_app.command("set-password")
def set_password_verb(
    name: Annotated[str, typer.Argument(help="Login name.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Replace a password; the user's open sessions end."""
    from inspector.accounts import change_password
    from inspector.auth import AccountError

    try:
        change_password(settings(), name, _password(password_stdin))
    except AccountError as error:
        _fail(error)
        return
    console.print(f"password of {name} changed", highlight=False)


@users_app.command("disable")
def disable_verb(name: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Disable an account; its open sessions end."""
    from inspector.accounts import set_active
    from inspector.auth import AccountError

    try:
        set_active(settings(), name, active=False)
    except AccountError as error:
        _fail(error)
        return
    console.print(f"{name} disabled", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the `users` verbs to the app."""
    app.add_typer(users_app, name="users")
