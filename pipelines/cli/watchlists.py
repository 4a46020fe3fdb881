"""The `watchlists` verbs: load list files as versions, list and diff them, try a name."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.table import Table

from features.screening import DEFAULT_THRESHOLD, build_index, screen
from pipelines.cli.common import console, date_option, err_console, settings
from pipelines.watchlists.diff import diff_versions
from pipelines.watchlists.entries import WatchlistError
from pipelines.watchlists.national import load_national
from pipelines.watchlists.ofac import load_ofac
from pipelines.watchlists.shipped import load_shipped
from pipelines.watchlists.store import entries_in_force, manifests, store_list
from pipelines.watchlists.un import DEFAULT_XSD, load_un

watchlists_app = typer.Typer(
    help="Watch lists: load UN / OFAC / national lists, list versions, diff, screen a name.",
    no_args_is_help=True,
)
load_app = typer.Typer(help="Load one list file as a new version.", no_args_is_help=True)
watchlists_app.add_typer(load_app, name="load")


def _report(manifest: dict[str, Any]) -> None:
    state = "in force" if manifest["in_force"] else "stored (a newer version is in force)"
    console.print(
        f"{manifest['list']} {manifest['version']}: {manifest['entry_count']} entries, "
        f"{manifest['name_count']} names; {state}"
    )
    for note in manifest["notes"]:
        console.print(f"  note: {note}")


def _fail(error: Exception) -> None:
    err_console.print(f"error: {error}", soft_wrap=True, highlight=False, markup=False)
    err_console.print("The version in force is unchanged.", highlight=False)
    raise typer.Exit(code=1)


@load_app.command("un")
def load_un_verb(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="UN list XML.")],
    xsd: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="XSD (default: shipped).")
    ] = None,
) -> None:
    """Load the UN Security Council Consolidated List XML (checked against its XSD)."""

    try:
        _report(store_list(load_un(file, xsd or DEFAULT_XSD), settings()))
    except WatchlistError as error:
        _fail(error)


def _version(typed: date | None) -> str | None:
    return None if typed is None else typed.isoformat()


def _version_from_path(path: Path) -> str | None:
    match = re.search(r"(\d{4}-\d{2}(?:-\d{2})?)", str(path.resolve()))
    return match.group(1) if match else None


@load_app.command("ofac")
def load_ofac_verb(
    sdn: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="OFAC sdn.csv.")],
    alt: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="alt.csv (aliases).")
    ] = None,
    add: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="add.csv (addresses).")
    ] = None,
    version: Annotated[
        date | None,
        date_option(
            help="Version date (default: a date in the path, else today).",
        ),
    ] = None,
) -> None:
    """Load an OFAC SDN legacy CSV set as one version."""
    chosen = _version(version) or _version_from_path(sdn) or datetime.now(UTC).date().isoformat()
    try:
        _report(store_list(load_ofac(sdn, chosen, alt=alt, add=add), settings()))
    except WatchlistError as error:
        _fail(error)


@load_app.command("national")
def load_national_verb(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="List CSV.")],
    name: Annotated[str, typer.Option("--name", help="List name, e.g. national-xx.")],
    version: Annotated[
        date | None,
        date_option(help="Version date (default: today)."),
    ] = None,
) -> None:
    """Load a national list kept as a plain CSV (entry_id, name, ...)."""
    chosen = _version(version) or datetime.now(UTC).date().isoformat()
    try:
        _report(store_list(load_national(file, name, chosen), settings()))
    except WatchlistError as error:
        _fail(error)


@watchlists_app.command("load-shipped")
def load_shipped_verb() -> None:
    """Load the list copies shipped with the project (UN 2020 and 2024, OFAC 2021-04, sample)."""

    for manifest in load_shipped(settings()):
        _report(manifest)


@watchlists_app.command("list")
def list_verb() -> None:
    """Stored versions of every list and the one in force."""

    found = manifests(settings())
    if not found:
        console.print("No watch list loaded yet (try `cargo-risk watchlists load-shipped`).")
        return
    table = Table("list", "version", "entries", "names", "in force", "loaded at")
    for manifest in found:
        table.add_row(
            manifest["list"],
            manifest["version"],
            str(manifest["entry_count"]),
            str(manifest["name_count"]),
            "yes" if manifest["in_force"] else "",
            manifest["loaded_at"],
        )
    console.print(table)


@watchlists_app.command("diff")
def diff_verb(
    list_name: Annotated[str, typer.Argument(metavar="LIST", help="List name, e.g. un.")],
    old: Annotated[str, typer.Argument(metavar="V1", help="Older version.")],
    new: Annotated[str, typer.Argument(metavar="V2", help="Newer version.")],
    limit: Annotated[int, typer.Option(help="Rows shown per kind of change.")] = 20,
) -> None:
    """What changed in a list between two stored versions."""

    try:
        changes = diff_versions(settings(), list_name, old, new)
    except WatchlistError as error:
        err_console.print(f"error: {error}", highlight=False, markup=False)
        raise typer.Exit(code=1) from None
    counts = {k: changes.filter(pl.col("change") == k).height for k in ("added", "removed")}
    counts["changed"] = changes.height - counts["added"] - counts["removed"]
    console.print(
        f"{list_name} {old} -> {new}: {counts['added']} added, {counts['removed']} removed, "
        f"{counts['changed']} with changed names"
    )
    for kind in ("added", "removed", "changed"):
        part = changes.filter(pl.col("change") == kind).head(limit)
        if part.is_empty():
            continue
        table = Table("entry", "primary name", "names added", "names removed", title=kind)
        for row in part.iter_rows(named=True):
            table.add_row(
                row["entry_id"],
                row["primary_name"] or "",
                "; ".join(row["names_added"]),
                "; ".join(row["names_removed"]),
            )
        console.print(table)


@watchlists_app.command("screen")
def screen_verb(
    name: Annotated[str, typer.Argument(help="A party name to try.")],
    country: Annotated[
        str | None, typer.Option(help="The party's country, ISO alpha-2 (supporting evidence).")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Score threshold 0-1 (default: the documented one).")
    ] = None,
) -> None:
    """Screen one name against every list in force and show the hits."""

    entries = entries_in_force(settings())
    if entries.is_empty():
        err_console.print("No watch list loaded yet (try `cargo-risk watchlists load-shipped`).")
        raise typer.Exit(code=1)
    chosen = DEFAULT_THRESHOLD if threshold is None else threshold
    parties = pl.DataFrame({"party_key": ["1"], "name": [name], "country": [country]})
    hits = screen(parties, build_index(entries), chosen)
    if hits.is_empty():
        console.print(f"No hit at threshold {chosen:.2f}.")
        return
    table = Table("list", "version", "entry", "listed name", "score", "evidence")
    for row in hits.iter_rows(named=True):
        table.add_row(
            row["list_name"],
            row["list_version"],
            row["entry_id"],
            row["matched_name"],
            f"{row['score']:.2f}",
            row["evidence"],
        )
    console.print(table)


_DATABASE_OPTION = typer.Option(help="SQLAlchemy URL (default: sqlite under <home>/inspector/).")


def _app_database(database_url: str | None) -> tuple[Any, Any]:
    """The inspector app's engine and session factory (migrated), as the app would open them."""
    from inspector.config import InspectorConfig
    from inspector.db import make_engine, session_factory
    from inspector.migrate import upgrade

    config = InspectorConfig.from_settings(settings(), database_url=database_url)
    engine = make_engine(config.database_url)
    upgrade(engine)
    return engine, session_factory(engine)


def _account(factory: Any, username: str) -> Any:
    from sqlalchemy import select

    from inspector.db import User

    with factory() as session:
        user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        err_console.print(f"error: no active account {username!r} (see `cargo-risk users`)")
        raise typer.Exit(code=1)
    return user


@watchlists_app.command("clear")
def clear_verb(
    name: Annotated[str, typer.Argument(help="The party's name as filed.")],
    *,
    list_name: Annotated[str, typer.Option("--list", help="The list: un, ofac, ...")],
    entry: Annotated[str, typer.Option(help="The list entry id the party matched.")],
    by: Annotated[str, typer.Option(help="Your account in the inspector app (audited).")],
    reason: Annotated[str, typer.Option(help="Why the match is false.")],
    country: Annotated[str | None, typer.Option(help="The party's country as filed.")] = None,
    party_id: Annotated[str | None, typer.Option(help="The party's registry id as filed.")] = None,
    database_url: Annotated[str | None, _DATABASE_OPTION] = None,
) -> None:
    """Clear a watch-list match as false: this party (name, country, id) is not held against
    this entry again until either changes. Audited in the app's log."""
    from inspector import clearances

    engine, factory = _app_database(database_url)
    try:
        user = _account(factory, by)
        declaration = {
            "declaration_id": "cli",
            "item_no": 1,
            "shipper_name": name,
            "shipper_country": country,
            "shipper_id": party_id,
        }
        found = [
            m
            for m in clearances.item_matches(settings(), declaration)
            if m.party_role == "shipper" and m.list_name == list_name and m.entry_id == entry
        ]
        if not found:
            err_console.print(f"error: {name!r} does not match {list_name} {entry} now")
            raise typer.Exit(code=1)
        row, created = clearances.clear(factory, settings(), user, found[0], reason)
    except clearances.ClearanceError as error:
        err_console.print(f"error: {error}", highlight=False, markup=False)
        raise typer.Exit(code=1) from None
    finally:
        engine.dispose()
    state = "cleared" if created else "already cleared"
    console.print(f"{state}: clearance {row.id}", highlight=False)


@watchlists_app.command("cleared")
def cleared_verb(
    all_: Annotated[bool, typer.Option("--all", help="Withdrawn clearances too.")] = False,
    database_url: Annotated[str | None, _DATABASE_OPTION] = None,
) -> None:
    """List clearances of watch-list matches, newest first."""
    from inspector import clearances

    engine, factory = _app_database(database_url)
    with factory() as session:
        rows = clearances.listed(session, include_withdrawn=all_)
    engine.dispose()
    if not rows:
        console.print("No clearances.")
        return
    table = Table(
        "id", "party", "country", "entry", "listed name", "by", "at", "reason", "withdrawn"
    )
    for c in rows:
        withdrawn = f"{c.withdrawn_by} {c.withdrawn_at:%Y-%m-%d}" if c.withdrawn_at else ""
        table.add_row(
            str(c.id),
            c.party_name,
            c.party_country,
            f"{c.list_name} {c.entry_id}",
            c.matched_name,
            c.cleared_by,
            f"{c.cleared_at:%Y-%m-%d %H:%M}",
            c.reason,
            withdrawn,
        )
    console.print(table)


@watchlists_app.command("withdraw")
def withdraw_verb(
    clearance_id: Annotated[int, typer.Argument(help="The clearance id (`watchlists cleared`).")],
    by: Annotated[str, typer.Option(help="Your account in the inspector app (audited).")],
    reason: Annotated[str, typer.Option(help="Why the clearance is withdrawn.")],
    database_url: Annotated[str | None, _DATABASE_OPTION] = None,
) -> None:
    """Withdraw a clearance: the match holds again from the next night. Audited."""
    from inspector import clearances

    engine, factory = _app_database(database_url)
    try:
        clearances.withdraw(factory, settings(), _account(factory, by), clearance_id, reason)
    except clearances.ClearanceError as error:
        err_console.print(f"error: {error}", highlight=False, markup=False)
        raise typer.Exit(code=1) from None
    finally:
        engine.dispose()
    console.print(f"withdrawn: clearance {clearance_id}")


def register(app: typer.Typer) -> None:
    """Add the `watchlists` verbs to the app."""
    app.add_typer(watchlists_app, name="watchlists")
