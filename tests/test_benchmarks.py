"""Smoke test of the nightly benchmark at a tiny size: it runs, reports every stage, and the pandas
baseline computes the same features as the pipeline. No timing is asserted.

The run spawns a fresh interpreter per stage (about 40 s in all), so those tests are marked slow, as
is the world-reuse test (it builds bench worlds: about 70 s).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from benchmarks import nightly
from benchmarks.pandas_baseline import night_features
from benchmarks.world import START, bench_settings

ROWS, HISTORY = 200, 6


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    work = tmp_path_factory.mktemp("bench")
    out = work / "nightly.md"
    nightly.main(
        [
            *("--sizes", str(ROWS), "--history", str(HISTORY), "--runs", "1"),
            *("--training-days", "10", "--threat-rate", "0.05"),
            *("--work", str(work), "--out", str(out), "--keep"),
        ]
    )
    return out.read_text(encoding="utf-8"), work


@pytest.mark.slow
def test_every_stage_the_night_and_the_baseline_are_reported(report: tuple[str, Path]) -> None:
    text, work = report
    out = work / "nightly.md"
    assert "cores" in text and "GiB memory" in text
    nights = ("**whole night, whole-day stages**", "**whole night, per port**")
    per_port = ("plan_ports", "assess_port, all ports (s summed, RSS of the largest)")
    for stage in (*nightly.STAGES, *per_port, *nights, "pandas baseline: features + scoring"):
        rows = [line for line in text.splitlines() if f"| {stage} |" in line]
        assert len(rows) == 1, stage
        wall, cpu, rss = (float(v.replace(",", "")) for v in rows[0].split("|")[4:7])
        assert wall > 0 and cpu > 0 and rss > 50  # an interpreter alone takes more than 50 MB
    assert re.search(rf"\| {ROWS} \| {HISTORY} \| [\d.]+ \| [\d.]+ \| [\d.]+x \|", text)
    assert (out.with_suffix(".json")).is_file()


@pytest.mark.slow
def test_the_baseline_computes_the_pipelines_features(report: tuple[str, Path]) -> None:
    _, work = report
    home = work / "runs" / "run0"
    night = START + timedelta(days=HISTORY)
    settings = bench_settings(home)
    night_rows, theirs = night_features(settings, night)
    ours = pl.read_parquet(settings.zone("features") / f"date={night}" / "features.parquet")
    assert ours.height == len(night_rows) > 0
    theirs = pl.from_pandas(
        theirs.assign(declaration_id=night_rows["declaration_id"], item_no=night_rows["item_no"])
    )
    joined = ours.join(theirs, on=["declaration_id", "item_no"], suffix="_pandas")
    assert joined.height == ours.height
    reproduced = [c for c in theirs.columns if c not in ("declaration_id", "item_no")]
    assert len(reproduced) == 47
    for column in reproduced:
        ours_value = pl.col(column).cast(pl.Float64)
        theirs_value = pl.col(f"{column}_pandas").cast(pl.Float64)
        same = ((ours_value - theirs_value).abs() < 1e-9) | (
            ours_value.is_null() & theirs_value.is_null()
        )
        assert joined.select(same.all()).item(), column


def test_the_table_gives_medians_rows_per_second_and_the_ratio() -> None:
    measures = {
        stage: [nightly.Measure(wall=w, cpu=w, rss_mb=100.0) for w in (1.0, 2.0, 9.0)]
        for stage in (*nightly.STAGES, "pandas")
    }
    results = {(1000, 90): measures}
    table = nightly.table(results)
    assert "| 1,000 | 90 | featurize | 2.00 | 2.00 | 100 | 500 |" in table
    # featurize + score = 2 + 2 s against the baseline's 2 s.
    assert "| 1,000 | 90 | 4.00 | 2.00 | 0.5x | 4.00 | 0.5x |" in nightly.ratios(results)


def test_the_targets_table_says_which_targets_are_met() -> None:
    def measured(
        wall: float, cpu: float | None = None, rss: float = 100.0
    ) -> list[nightly.Measure]:
        return [nightly.Measure(wall=wall, cpu=cpu or wall, rss_mb=rss)]

    small = {"featurize": measured(0.5), "score": measured(2.0), "explain": measured(0.5)}
    results = {
        (10_000, 90): {**small, "pandas": measured(12.0), "night": measured(5.0, 4.0)},
        (10_000, 365): {**small, "pandas": measured(8.0), "night": measured(6.0, 6.0)},
        (1_000_000, 3): {"night": measured(29.0, rss=4500.0), "predict": measured(2.5)},
    }
    lines = nightly.targets(results).splitlines()
    assert "| 1 M a day: night <= 30 s | 1,000,000 x 3 d | 29.0 s | yes |" in lines
    assert "| 1 M a day: peak RSS <= 4 GB | 1,000,000 x 3 d | 4,500 MB | **no** |" in lines
    assert "| >= 10x the pandas baseline | 10,000 x 90 d | 12.0x | yes |" in lines
    assert "| >= 10x the pandas baseline | 10,000 x 365 d | 8.0x | **no** |" in lines
    speed = "| scoring >= 500 k rows/s, both models | 1,000,000 x 3 d | 400,000 rows/s | **no** |"
    assert speed in lines
    assert (
        "| night's cost flat in history | 10,000: 90 vs 365 d | 1.50x the CPU s | **no** |" in lines
    )


@pytest.mark.slow
def test_a_world_is_reused_only_when_built_whole_with_the_same_parameters(tmp_path: Path) -> None:
    from benchmarks.world import WORLD_MARKER, build_bench_world

    home = tmp_path / "w"
    build_bench_world(home, 50, 2)
    landing = sorted((home / "landing").rglob("*.csv"))
    stamp = landing[0].stat().st_mtime_ns
    build_bench_world(home, 50, 2, reuse=True)
    assert landing[0].stat().st_mtime_ns == stamp  # untouched: reused
    build_bench_world(home, 60, 2, reuse=True)
    assert landing[0].stat().st_mtime_ns != stamp  # other parameters: rebuilt
    (home / WORLD_MARKER).unlink()  # as a build cut short leaves it
    stamp = landing[0].stat().st_mtime_ns
    build_bench_world(home, 60, 2, reuse=True)
    assert landing[0].stat().st_mtime_ns != stamp


def test_two_runs_side_by_side_pair_each_stage_with_its_medians() -> None:
    def runs(*measures: tuple[float, float, float]) -> list[dict[str, float]]:
        return [nightly.Measure(wall=w, cpu=c, rss_mb=r).__dict__ for w, c, r in measures]

    before = {"1000000x3": {"validate": runs((10, 14, 2500), (12, 15, 2600), (11, 16, 2550))}}
    after = {
        "1000000x3": {"validate": runs((13, 19, 1300)), "port:NLRTM": runs((1, 1, 1))},
        "3000000x3": {"validate": runs((30, 40, 1900))},
    }
    table = nightly.side_by_side(before, after, ("main", "branch"))
    rows = table.splitlines()[2:]
    # Only sizes and stages both runs measured; per-port rows are left out.
    assert rows == ["| 1,000,000 | 3 | validate | 11.0 | 13.0 | 15.0 | 19.0 | 2,550 | 1,300 |"]
