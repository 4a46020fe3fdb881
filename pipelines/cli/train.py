"""The `train` verb (the CBRN and SALW threat models) and `reproduce kcs` (the public benchmark)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipelines import layout
from pipelines.cli.common import console, date_option, err_console, settings

if TYPE_CHECKING:
    import polars as pl


def train(
    until: Annotated[
        date | None,
        date_option(
            "--until",
            help="Last filing date to learn from (default: latest featurized).",
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
    """Train the CBRN and SALW models on inspected items up to a date; make them the champion.

    With `--challenger` it is the retrain DAG's own step (`lifecycle.train_challenger`): the
    version is left for the gate, except the very first, which has no champion to gate against.
    """
    from pipelines.lifecycle import current_champion, train_challenger
    from pipelines.progress import progress_for
    from pipelines.train import train_models

    config = settings()
    if until is None:
        days = layout.partition_days(layout.features_table(config))
        if not days:
            raise typer.BadParameter("no features yet: run `cargo-risk featurize run` first")
        until = days[-1]
    now = datetime.now(UTC)
    try:
        # On stderr, so stdout keeps only the result.
        with progress_for(err_console) as steps:
            if challenger:
                name = train_challenger(config, until, now, steps=steps)
            else:
                name = train_models(config, until, now, promote=True, steps=steps).name
    except (FileNotFoundError, ValueError) as error:
        err_console.print(f"[red]cannot train:[/red] {error}")
        raise typer.Exit(code=1) from error
    champion = current_champion(config) == name
    role = "champion" if champion else "a challenger: gate it with `cargo-risk models promote`"
    console.print(f"model version {name} written to {config.zone('models') / name}; it is {role}")


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
    results: Annotated[
        Path | None,
        typer.Option("--results", help="CSV of the printed table (precision, recall, PR-AUC)."),
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
            help="frozen: history features from the training file's labels only; "
            "rolling: also from the evaluated files' earlier days.",
        ),
    ] = "frozen",
    critical_head: Annotated[
        str,
        typer.Option(
            "--critical-head",
            help="given-fraud: the critical model learns from fraud rows, scored "
            "P(fraud) x P(critical | fraud); joint: from all rows (decision 0031).",
        ),
    ] = "given-fraud",
    baseline: Annotated[
        bool,
        typer.Option(
            "--baseline/--no-baseline",
            help="Also train the plain LightGBM on the KCS columns and print it alongside.",
        ),
    ] = True,
) -> None:
    """Train on KCS through the shipped mapping; precision and recall at 1, 2, 5, 10 % per
    label, beside a plain LightGBM and the paper's figures."""
    from pipelines.csv_safe import write_safe_csv
    from pipelines.reproduce import CRITICAL_HEADS, report_table, run_kcs

    if history not in ("frozen", "rolling"):
        raise typer.BadParameter("--history must be frozen or rolling")
    head = next((h for h in CRITICAL_HEADS if h == critical_head), None)
    if head is None:
        raise typer.BadParameter(f"--critical-head must be one of {', '.join(CRITICAL_HEADS)}")
    evaluated = {"valid": valid_file, **({"test": test_file} if test_file else {})}
    try:
        result = run_kcs(
            train_file,
            evaluated,
            careful=careful,
            history="rolling" if history == "rolling" else "frozen",
            baseline=baseline,
            critical_head=head,
        )
    except (FileNotFoundError, ValueError) as error:
        err_console.print(f"[red]cannot reproduce:[/red] {error}")
        raise typer.Exit(code=1) from error
    table = report_table(result)
    for line in _table_lines(table, evaluated):
        console.print(line, soft_wrap=True, highlight=False, markup=False)
    if results is not None:
        write_safe_csv(table, results)
        console.print(f"results written to {results}")
    if out is not None:
        written = result.scores["test" if test_file else "valid"]
        write_safe_csv(written, out)
        console.print(f"scores of {written.height} declarations written to {out}")


def _table_lines(table: pl.DataFrame, evaluated: dict[str, Path]) -> list[str]:
    """The report as fixed-width text: a header, the paper's row, then each file's rows."""
    from pipelines.reproduce import METHODS, PAPER_FILE

    figures = [c for c in table.columns if c.startswith(("P@", "R@")) or c == "PR-AUC"]
    header = f"  {'method':<20} {'label':<20}" + "".join(f"{c:>7}" for c in figures)

    def row(r: dict[str, object]) -> str:
        cells = "".join(
            f"{v:>7.3f}" if isinstance(v, float) else f"{'-':>7}" for v in (r[c] for c in figures)
        )
        method = METHODS.get(str(r["method"]), str(r["method"]))
        return f"  {method:<20} {r['label']!s:<20}{cells}"

    lines = [f"{PAPER_FILE} (2021-04..06, not published with the data):", header]
    lines += [row(r) for r in table.filter(file=PAPER_FILE).iter_rows(named=True)]
    for name, path in evaluated.items():
        part = table.filter(file=name)
        counts = ", ".join(
            f"{r['label']} {r['positives']}"
            for r in part.unique("label", keep="first", maintain_order=True).iter_rows(named=True)
        )
        lines += [f"{name} ({path}): {part['rows'][0]} declarations; positives: {counts}", header]
        lines += [row(r) for r in part.iter_rows(named=True)]
    return lines


def register(app: typer.Typer) -> None:
    """Add `train` and `reproduce`."""
    app.command("train")(train)
    app.add_typer(reproduce_app, name="reproduce")
