"""The `mapping` verbs: convert foreign files through a declared column mapping, or show one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from contracts.mapping import ColumnMapping, FieldSpec, MappingError, load_mapping, shipped_mappings
from contracts.reading import MalformedFileError
from pipelines.cli.common import console, err_console, settings
from pipelines.mapping import convert_file

mapping_app = typer.Typer(
    help="Foreign layouts (e.g. the KCS data set) through column mappings declared as YAML.",
    no_args_is_help=True,
)


def load_mapping_or_exit(name: str) -> ColumnMapping:
    """Load a mapping, or print why not and exit 1."""
    try:
        return load_mapping(name)
    except MappingError as exc:
        err_console.print(f"[red]Mapping not loaded:[/red] {exc}", markup=True, soft_wrap=True)
        raise typer.Exit(code=1) from exc


@mapping_app.command("convert")
def convert(
    files: Annotated[list[Path], typer.Argument(help="Foreign files (CSV, JSON Lines, Parquet).")],
    mapping: Annotated[
        str,
        typer.Option("--mapping", help="Shipped mapping name (e.g. kcs) or a mapping YAML file."),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder receiving declarations/<stem>.csv and outcomes/<stem>.csv "
            "(default: the landing zone, where the nightly ingest looks).",
        ),
    ] = None,
) -> None:
    """Write each file's rows in the declarations (and outcomes) contract layout."""
    loaded = load_mapping_or_exit(mapping)
    stems = [f.stem for f in files]
    repeated = sorted({s for s in stems if stems.count(s) > 1})
    if repeated:
        err_console.print(f"Two files would write the same output name: {', '.join(repeated)}")
        raise typer.Exit(code=1)
    target = out if out is not None else settings().zone("landing")
    grid = Table(title=f"Converted with mapping {loaded.name!r} into {target}")
    for column in ("file", "rows", "declarations", "outcomes", "defaulted (rows)"):
        grid.add_column(column, justify="right" if column == "rows" else "left")
    failed = False
    for path in files:
        try:
            result = convert_file(path, loaded, target)
        except (MappingError, MalformedFileError) as exc:
            err_console.print(f"[red]Not converted:[/red] {exc}", markup=True, soft_wrap=True)
            failed = True
            continue
        defaulted = "\n".join(f"{k} {v:,}" for k, v in sorted(result.defaulted.items()))
        grid.add_row(
            path.name,
            f"{result.rows:,}",
            str(result.declarations_path.relative_to(target)),
            str(result.outcomes_path.relative_to(target)) if result.outcomes_path else "-",
            defaulted or "-",
        )
    console.print(grid)
    if failed:
        raise typer.Exit(code=1)


def _spec_table(title: str, specs: dict[str, FieldSpec]) -> Table:
    grid = Table(title=title, show_lines=True)
    grid.add_column("contract column")
    grid.add_column("from")
    grid.add_column("default?")
    grid.add_column("why")
    for name, spec in specs.items():
        marked = "placeholder" if spec.defaulted else ("when missing" if spec.default else "")
        grid.add_row(name, spec.describe(), marked, spec.note)
    return grid


@mapping_app.command("show")
def show(
    name: Annotated[
        str, typer.Argument(help="Shipped mapping name (e.g. kcs) or a mapping YAML file.")
    ],
) -> None:
    """Print a mapping: where every contract column comes from and which ones are defaults."""
    loaded = load_mapping_or_exit(name)
    console.print(f"[bold]{loaded.name}[/bold]: {loaded.description}")
    if loaded.origin:
        console.print(f"Source: {loaded.origin}")
    console.print(_spec_table("declarations", loaded.declarations))
    if loaded.extras:
        extras = Table(title="extra columns (kept, ignored by the contract)")
        extras.add_column("column")
        extras.add_column("from source column")
        for column, source in loaded.extras.items():
            extras.add_row(column, source)
        console.print(extras)
    if loaded.outcomes is not None:
        console.print(_spec_table("outcomes", loaded.outcomes))


@mapping_app.command("list")
def list_mappings() -> None:
    """Name the shipped mappings."""
    for name in shipped_mappings():
        console.print(name)


def register(app: typer.Typer) -> None:
    """Add the `mapping` verbs to the app."""
    app.add_typer(mapping_app, name="mapping")
