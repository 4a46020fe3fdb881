"""Scoring benchmark: rows per second of both threat models, LightGBM against compiled trees.

Run: `.venv/bin/python -m benchmarks.scoring [--home H] [--rows 1000000]` after `make bench` (it
reuses the model and the featurized history that the nightly benchmark trained in `H/train`).
Grain of the table: one row per way of scoring, with seconds (wall and CPU) and rows per second
for `--rows` rows (the history's feature rows, repeated). Written to benchmarks/results/scoring.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks.compiled_trees import compile_booster
from benchmarks.nightly import machine
from models.registry import load_version, read_champion
from models.scoring import ExplainTop, feature_matrix, raw_scores, score
from pipelines.io import write_text

RESULTS = Path(__file__).parent / "results" / "scoring.md"


def _timed(action: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> None:
    """Measure and write the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--home", type=Path, default=Path(tempfile.gettempdir()) / "cargo-risk-bench" / "train"
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    root = args.home / "models"
    models = load_version(root / read_champion(root))
    history = pl.read_parquet(sorted((args.home / "features").glob("date=*/features.parquet")))
    features = pl.concat([history] * (args.rows // history.height + 1)).head(args.rows)
    matrix = feature_matrix(features, models.feature_names)
    trees = {name: m.booster.num_trees() for name, m in models.categories.items()}

    rows: list[tuple[str, float, float]] = []
    expected = raw_scores(models, matrix)
    rows.append(("LightGBM predict, both models", *_timed(lambda: raw_scores(models, matrix))))
    started = time.perf_counter()
    compiled = {
        name: compile_booster(m.booster.dump_model(), matrix.shape[1])
        for name, m in models.categories.items()
    }
    compile_seconds = time.perf_counter() - started
    if all(c is not None for c in compiled.values()):
        outputs: dict[str, np.ndarray] = {}

        def run_compiled() -> None:
            for name, c in compiled.items():
                assert c is not None
                outputs[name] = c.raw_score(matrix)

        rows.append(("compiled trees, both models", *_timed(run_compiled)))
        same = all(np.array_equal(outputs[n], expected[n]) for n in expected)
    else:
        same = False
    everyone = _timed(lambda: score(models, features, explain=None))
    rows.append(("score(): scores + reasons for every row", *everyone))
    default = _timed(lambda: score(models, features, explain=ExplainTop()))
    rows.append(("score(): scores + reasons for each port's top rows (default)", *default))

    lines = [
        "| scoring | wall s | CPU s | rows/s (wall) | rows/CPU s |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {label} | {wall:.2f} | {cpu:.2f} | {args.rows / wall:,.0f} | "
            f"{args.rows / cpu:,.0f} |"
            for label, wall, cpu in rows
        ),
    ]
    text = "\n\n".join(
        [
            "# Scoring benchmark",
            f"Command: `python -m benchmarks.scoring --rows {args.rows}`  \nMachine: {machine()}; "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Models: "
            + ", ".join(f"{n} {t} trees" for n, t in trees.items())
            + f" ({models.metadata.get('params', {}).get('num_leaves', '?')} leaves). "
            f"{args.rows:,} rows x {matrix.shape[1]} features, one process; LightGBM uses "
            "both cores (CPU > wall), the compiled trees one. The machine was shared.",
            "\n".join(lines),
            f"Compiling both models to C (gcc -O1) took {compile_seconds:.1f} s; compiled raw "
            f"scores equal LightGBM's bit for bit: {same}.",
        ]
    )
    write_text(text + "\n", args.out)
    print(text)


if __name__ == "__main__":
    main()
