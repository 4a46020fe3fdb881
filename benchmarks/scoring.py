"""Scoring benchmark: rows per second of both threat models, LightGBM against compiled trees.

Run: `.venv/bin/python -m benchmarks.scoring [--home H] [--models M ...] [--rows 1000000]` after
`make bench` (by default it reuses the model and the featurized history the nightly benchmark
trained in `H/train`). `--features` names feature files to draw the rows from instead (a 1 M
night's features, say); fewer rows than `--rows` are resampled with replacement.
Grain of the table: one row per model and way of scoring, with the median over `--runs` of wall
and CPU seconds and rows per second for `--rows` rows. Written to benchmarks/results/scoring.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from benchmarks.nightly import machine
from models.compiled import FLAG_LADDER
from models.registry import ThreatModels, load_version, read_champion, with_compiled_trees
from models.scoring import ExplainTop, feature_matrix, raw_scores, score
from pipelines import layout
from pipelines.io import write_text

RESULTS = Path(__file__).parent / "results" / "scoring.md"
Row = tuple[str, str, float, float]
"""Model label, way of scoring, median wall seconds, median CPU seconds."""


def _timed(action: Callable[[], object], runs: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        action()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def _lightgbm(
    models: ThreatModels, matrix: npt.NDArray[np.float64], threads: int
) -> dict[str, npt.NDArray[np.float64]]:
    return {
        name: np.asarray(
            m.booster.predict(matrix, raw_score=True, num_threads=threads), dtype=np.float64
        )
        for name, m in models.categories.items()
    }


def measure_model(
    models: ThreatModels, features: pl.DataFrame, runs: int, cache: Path
) -> tuple[list[Row], dict[str, float | bool]]:
    """Every way of scoring `features` with `models`, and the compile costs."""
    label = (
        models.version
        + " ("
        + ", ".join(f"{name} {m.booster.num_trees()}" for name, m in models.categories.items())
        + " trees)"
    )
    rows: list[Row] = []
    matrix = feature_matrix(features, models.feature_names)
    rows.append(
        (
            label,
            "feature matrix (column-major)",
            *_timed(lambda: feature_matrix(features, models.feature_names), runs),
        )
    )
    expected = raw_scores(models, matrix)
    rows.append(
        (label, "LightGBM predict, all cores", *_timed(lambda: raw_scores(models, matrix), runs))
    )
    rows.append(
        (label, "LightGBM predict, 1 thread", *_timed(lambda: _lightgbm(models, matrix, 1), runs))
    )

    started = time.perf_counter()
    with_compiled_trees(models, cache)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    with_compiled_trees(models, cache)
    warm = time.perf_counter() - started
    same = True
    compiled = {threads: with_compiled_trees(models, cache, threads=threads) for threads in (1, 2)}
    for threads, fast in compiled.items():
        if any(m.compiled is None for m in fast.categories.values()):
            raise SystemExit("compiled trees unavailable here (see the log): nothing to compare")
        outputs = raw_scores(fast, matrix)
        same = same and all(np.array_equal(outputs[n], expected[n]) for n in expected)
        way = f"compiled trees, {threads} thread{'s' if threads > 1 else ''}"
        rows.append((label, way, *_timed(partial(raw_scores, fast, matrix), runs)))
    rows.append(
        (
            label,
            "score() with LightGBM (reasons for each port's top rows)",
            *_timed(lambda: score(models, features, explain=ExplainTop()), runs),
        )
    )
    rows.append(
        (
            label,
            "score() with compiled trees, 2 threads (same reasons)",
            *_timed(lambda: score(compiled[2], features, explain=ExplainTop()), runs),
        )
    )
    return rows, {"compile_s": cold, "cached_setup_s": warm, "bit_for_bit": same}


def _features(args: argparse.Namespace) -> pl.DataFrame:
    paths = args.features or [
        path for _, path in layout.partition_files(args.home / "features", layout.FEATURES_FILE)
    ]
    if not paths:
        raise SystemExit(f"no feature files under {args.home / 'features'}; pass --features")
    source = pl.read_parquet(paths)
    if source.height >= args.rows:
        return source.head(args.rows)
    return source.sample(n=args.rows, with_replacement=True, seed=20261129)


def main(argv: list[str] | None = None) -> None:
    """Measure and write the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--home", type=Path, default=Path(tempfile.gettempdir()) / "cargo-risk-bench" / "train"
    )
    parser.add_argument("--models", type=Path, action="append", help="models root(s); H/models")
    parser.add_argument("--features", type=Path, nargs="*", help="feature Parquet files")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    features = _features(args)
    rows: list[Row] = []
    notes: list[str] = []
    for root in args.models or [args.home / "models"]:
        models = load_version(root / read_champion(root))
        with tempfile.TemporaryDirectory(prefix="scoring-bench-") as cache:
            measured, costs = measure_model(models, features, args.runs, Path(cache))
        rows += measured
        notes.append(
            f"{models.version}: compiling both models took {costs['compile_s']:.1f} s wall "
            f"(once per model version; later runs load the cached library in "
            f"{costs['cached_setup_s']:.2f} s); compiled raw scores equal LightGBM's bit for "
            f"bit: {costs['bit_for_bit']}."
        )
    n = args.rows
    lines = [
        "| model (trees) | scoring | wall s | CPU s | rows/s (wall) | rows/CPU s |",
        "|---|---|---:|---:|---:|---:|",
        *(
            f"| {model} | {way} | {wall:.3f} | {cpu:.3f} | {n / wall:,.0f} | {n / cpu:,.0f} |"
            for model, way, wall, cpu in rows
        ),
    ]
    source = ", ".join(str(p) for p in args.features) if args.features else str(args.home)
    text = "\n\n".join(
        [
            "# Scoring benchmark",
            f"Command: `python -m benchmarks.scoring --rows {n} --runs {args.runs}`  \n"
            f"Machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
            f"{n:,} rows x {features.width} columns drawn from {source}; medians of "
            f"{args.runs} runs in one process. Both models together per row; the matrix is "
            "column-major as polars gives it. Compiled with "
            f"`cc {' '.join(FLAG_LADDER[0])}` (models/compiled.py). The machine was shared "
            "with other benchmarks: wall times above CPU times mean waiting for a core.",
            "\n".join(lines),
            "\n".join(f"- {note}" for note in notes),
        ]
    )
    write_text(text + "\n", args.out)
    print(text)


if __name__ == "__main__":
    main()
