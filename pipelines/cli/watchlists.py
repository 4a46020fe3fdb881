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
from pipelines.cli.common import DATE_METAVAR, console, err_console, iso_date, settings
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
        typer.Option(
            parser=iso_date,
            metavar=DATE_METAVAR,
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
        typer.Option(parser=iso_date, metavar=DATE_METAVAR, help="Version date (default: today)."),
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


def register(app: typer.Typer) -> None:
    """Add the `watchlists` verbs to the app."""
    app.add_typer(watchlists_app, name="watchlists")
