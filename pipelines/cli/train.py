"""The `train` verb (the CBRN and SALW threat models) and `reproduce kcs` (the public benchmark)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer

from pipelines import layout
from pipelines.cli.common import console, err_console, settings


def train(
    until: Annotated[
        str | None,
        typer.Option(
            "--until", help="Last filing date to learn from (default: latest featurized)."
        ),
    ] = None,
    challenger: Annotated[
        bool,
        typer.Option(
            "--challenger",
            help="Do not make it champion: leave it for `cargo-risk models promote` to gate.",
        ),
    ] = False,
) -> None:
    """Train the CBRN and SALW models on inspected items up to a date; make them the champion."""
    from pipelines.train import train_models

    config = settings()
    if until is None:
        days = layout.partition_days(layout.features_table(config))
        if not days:
            raise typer.BadParameter("no features yet: run `cargo-risk featurize run` first")
        until = days[-1].isoformat()
    try:
        folder = train_models(
            config, date.fromisoformat(until), datetime.now(UTC), promote=not challenger
        )
    except (FileNotFoundError, ValueError) as error:
        err_console.print(f"[red]cannot train:[/red] {error}")
        raise typer.Exit(code=1) from error
    role = "a challenger: gate it with `cargo-risk models promote`" if challenger else "champion"
    console.print(f"model version {folder.name} written to {folder}; it is {role}")


reproduce_app = typer.Typer(
    help="Reproduce public benchmarks with the project's training.", no_args_is_help=True
)


@reproduce_app.command("kcs")
def reproduce_kcs(  # noqa: PLR0917 (each parameter is a Typer option)
    train_file: Annotated[
        Path, typer.Option("--train", help="Labelled KCS CSV to learn from (df_syn_train_eng).")
    ],
    valid_file: Annotated[
        Path, typer.Option("--valid", help="Labelled KCS CSV to measure on (df_syn_valid_eng).")
    ],
    test_file: Annotated[
        Path | None, typer.Option("--test", help="Labelled KCS test quarter, measured too.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="CSV of scores per declaration (test file, else valid)."),
    ] = None,
    careful: Annotated[
        bool,
        typer.Option(
            "--careful",
            help="Add point-in-time entity fraud rates and price positions (lower on the "
            "synthetic KCS files; see docs/reproduce-kcs.md).",
        ),
    ] = False,
    history: Annotated[
        str,
        typer.Option(
            "--history",
            help="With --careful. frozen: entity rates from the training file's labels only; "
            "rolling: also from the evaluated files' earlier days.",
        ),
    ] = "frozen",
) -> None:
    """Train on KCS through the shipped mapping; precision at 1, 2, 5, 10 % per label."""
    from pipelines.csv_safe import write_safe_csv
    from pipelines.reproduce import run_kcs

    if history not in ("frozen", "rolling"):
        raise typer.BadParameter("--history must be frozen or rolling")
    evaluated = {"valid": valid_file, **({"test": test_file} if test_file else {})}
    try:
        result = run_kcs(
            train_file,
            evaluated,
            careful=careful,
            history="rolling" if history == "rolling" else "frozen",
        )
    except (FileNotFoundError, ValueError) as error:
        err_console.print(f"[red]cannot reproduce:[/red] {error}")
        raise typer.Exit(code=1) from error
    for name, path in evaluated.items():
        console.print(f"{name} ({path}):")
        part = result.precision.filter(file=name)
        for label in part["label"].unique(maintain_order=True):
            rows = part.filter(label=label)
            figures = "  ".join(
                f"P@{r['rate']:.0%} {r['precision']:.3f}" for r in rows.iter_rows(named=True)
            )
            console.print(
                f"  {label:<20} {figures}  PR-AUC {rows['pr_auc'][0]:.3f}", soft_wrap=True
            )
    if out is not None:
        written = result.scores["test" if test_file else "valid"]
        write_safe_csv(written, out)
        console.print(f"scores of {written.height} declarations written to {out}")


def register(app: typer.Typer) -> None:
    """Add `train` and `reproduce`."""
    app.command("train")(train)
    app.add_typer(reproduce_app, name="reproduce")
