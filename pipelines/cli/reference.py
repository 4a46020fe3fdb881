"""The `reference` verb: show the loaded reference tables, or rebuild them from their sources."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from contracts import reference
from contracts.data import build
from pipelines.cli.common import console, err_console, settings
from pipelines.io import write_parquet, write_text

reference_app = typer.Typer(
    help="Reference data: HS 2022, countries, currencies, UN/LOCODE, rates, strategic HS list.",
    no_args_is_help=False,
)


@reference_app.callback(invoke_without_command=True)
def show(
    ctx: typer.Context,
    rates: Annotated[
        Path | None,
        typer.Option(
            "--rates",
            help="Currency-rate CSV to read instead of the configured one "
            "(default: settings currency_rates, else the shipped indicative table).",
        ),
    ] = None,
) -> None:
    """Print what is loaded: name, version or date, rows, source and licence of each table."""
    if ctx.invoked_subcommand is not None:
        return
    rate_file = rates if rates is not None else settings().currency_rates
    try:
        tables = reference.catalogue(rate_file)
    except ValueError as exc:
        err_console.print(f"[red]Reference data could not be loaded:[/red]\n{exc}", markup=True)
        raise typer.Exit(code=1) from exc
    grid = Table(title="Reference data")
    for column in ("name", "version / date", "rows", "source", "licence"):
        grid.add_column(column, justify="right" if column == "rows" else "left")
    for table in tables:
        grid.add_row(table.name, table.version, f"{table.rows:,}", table.source, table.licence)
    console.print(grid)
    if rate_file is None:
        console.print(
            "Currency rates are indicative approximations: replace them with the administration's "
            "official customs rates (settings `currency_rates` or --rates FILE)."
        )


@reference_app.command("build")
def rebuild(
    source: Annotated[
        Path,
        typer.Option(
            "--source",
            help="Folder with hs/, countries/ and locode/ as described in "
            "contracts/data/LICENCES.md.",
            exists=True,
            file_okay=False,
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Where to write the tables (maintainers: the package).")
    ] = reference.DATA_DIR,
) -> None:
    """Rebuild the derived tables (HS, countries, UN/LOCODE) from their public sources."""
    hs = build.build_hs(source / "hs" / "harmonized-system_HS2022.csv")
    sections = build.build_hs_sections(source / "hs" / "sections.csv")
    countries = build.build_countries(source / "countries" / "country-codes.csv")
    locations = build.build_locations(source / "locode" / "unlocode_geoapify_all.csv")
    write_parquet(hs, out / reference.HS_FILE.name)
    write_text(sections.write_csv(), out / reference.HS_SECTIONS_FILE.name)
    write_parquet(countries, out / reference.COUNTRIES_FILE.name)
    written = write_parquet(locations, out / reference.LOCATIONS_FILE.name)
    console.print(
        f"HS {hs.height:,} codes, {countries.height} countries, {locations.height:,} locations "
        f"({written.stat().st_size / 1e6:.2f} MB) written to {out}"
    )


def register(app: typer.Typer) -> None:
    """Add the `reference` verb to the app."""
    app.add_typer(reference_app, name="reference")
