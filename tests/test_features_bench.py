"""Featurize timing on a synthetic world: `python -m tests.test_features_bench --rows 100000`.

Writes `--days` days of staged declarations and outcomes into a scratch home, featurizes every
night in order, then jumps to nights with `--jump` days of history behind them (see `jump_to`),
printing each night's wall and CPU seconds.
Grain of a generated day: one row per declaration item (three items per declaration). Parties,
lanes and HS codes come from fixed pools, so the population saturates as a real one does.
The one test below only checks that a tiny generated world goes through the stage.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from contracts import reference
from contracts.declarations import DECLARATIONS
from contracts.outcomes import OUTCOMES
from features.refs import References
from pipelines.featurize import featurize_day, load_references
from pipelines.io import write_parquet
from pipelines.layout import snapshot_dir, staged_declarations_file, staged_outcomes_file
from pipelines.settings import Settings, load_settings

DISCHARGE = ["NLRTM", "BEANR", "DEHAM", "FRLEH", "ESVLC", "ITGOA", "GRPIR", "PLGDN"]
HUBS = ["SGSIN", "AEJEA", "LKCMB", "MAPTM", "EGPSD", "MYPKG", "KRPUS", "TRMER", "OMSLL"]
CURRENCIES = ["USD", "EUR", "CNY", "GBP", "JPY"]
VAGUE = ["general cargo", "spare parts", "samples", "goods as per invoice", "FAK consolidated"]
SHIPPERS, CONSIGNEES, DECLARANTS = 50_000, 100_000, 2_000
INSPECTED_SHARE, FINDING_SHARE, INSPECTION_DELAY_DAYS = 0.02, 0.05, 3


def _pools() -> tuple[list[str], list[str], list[str]]:
    loading = (
        reference.locations()
        .filter(pl.col("is_seaport") & pl.col("lat").is_not_null())
        .sort("locode")
        .gather_every(40)["locode"]
        .to_list()
    )
    hs = reference.hs6().sort("hs6")
    strategic = reference.strategic_hs()["hs_prefix"].filter(
        reference.strategic_hs()["hs_prefix"].str.len_chars() == 6
    )
    codes = hs.gather_every(2)["hs6"].to_list() + strategic.to_list()
    texts = dict(zip(hs["hs6"], hs["description"], strict=True))
    descriptions = [texts.get(c, "goods") for c in codes]
    return loading, codes, descriptions


def _pick(options: list[str | None], index: np.ndarray) -> pl.Series:
    return pl.Series(options, dtype=pl.String).gather(index)


def synthetic_day(day: date, rows: int, seed: int) -> pl.DataFrame:
    """One day of filings in the declarations contract."""
    rng = np.random.default_rng([seed, day.toordinal()])
    loading, codes, descriptions = _pools()
    hs_pick = rng.integers(0, len(codes), rows)
    shipper = (SHIPPERS * rng.random(rows) ** 2).astype(np.int64)
    consignee = (shipper * 7 + rng.integers(0, 5, rows)) % CONSIGNEES
    wording = rng.random(rows)
    # Free text is diverse: half the descriptions carry a lot number (about 30% distinct).
    lot = pl.Series(rng.integers(0, 1000, rows))
    described = pl.when(pl.Series(rng.random(rows) < 0.5)).then(
        pl.format("{} lot {}", _pick(list(descriptions), hs_pick), lot)
    )
    description = (
        pl.when(pl.Series(wording < 0.8))
        .then(described.otherwise(_pick(list(descriptions), hs_pick)))
        .when(pl.Series(wording < 0.9))
        .then(_pick(list(VAGUE), rng.integers(0, len(VAGUE), rows)))
        .otherwise(_pick(list(descriptions), rng.integers(0, len(codes), rows)))
    )
    # A loading port's services call at fixed hubs; one item in five takes another routing.
    pol = rng.integers(0, len(loading), rows)
    usual = rng.random(rows) < 0.8
    no_hub: list[str | None] = [None]
    hubs1 = HUBS + no_hub * len(HUBS)
    hubs2 = HUBS + no_hub * 3 * len(HUBS)
    hub1 = np.where(usual, pol % len(hubs1), rng.integers(0, len(hubs1), rows))
    hub2 = np.where(usual, (pol * 7) % len(hubs2), rng.integers(0, len(hubs2), rows))
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "_i": np.arange(rows),
            "_offset_us": rng.integers(0, 86_400_000_000, rows),
            "_shipper": shipper,
            "_consignee": consignee,
            "_declarant": rng.integers(0, DECLARANTS, rows),
            "port_of_loading": _pick(list(loading), pol),
            "port_of_discharge": _pick(list(DISCHARGE), rng.integers(0, len(DISCHARGE), rows)),
            "_hub1": _pick(hubs1, hub1),
            "_hub2": _pick(hubs2, hub2),
            "country_of_dispatch": _pick(["AE", "CN"], (rng.random(rows) >= 0.1).astype(int)),
            "hs_code": _pick(list(codes), hs_pick),
            "packages": rng.integers(1, 200, rows),
            "gross_mass_kg": np.round(rng.lognormal(6, 1.5, rows), 1) + 0.1,
            "declared_value": np.round(rng.lognormal(9, 1.5, rows), 2),
            "currency": _pick(list(CURRENCIES), rng.integers(0, len(CURRENCIES), rows)),
            "un_number": _pick(["1203", None], (rng.random(rows) >= 0.01).astype(int)),
        }
    )
    return (
        frame.with_columns(description.alias("goods_description"))
        .with_columns(
            pl.format("{}-{}", pl.lit(f"{day:%Y%m%d}"), pl.col("_i") // 3).alias("declaration_id"),
            (pl.col("_i") % 3 + 1).alias("item_no"),
            (pl.lit(start) + pl.duration(microseconds=pl.col("_offset_us"))).alias("filed_at"),
            pl.lit("sea").alias("mode"),
            pl.concat_list("_hub1", "_hub2").list.drop_nulls().alias("transshipment_ports"),
            pl.lit("CN").alias("country_of_origin"),
            pl.format("S{}", "_shipper").alias("shipper_id"),
            pl.lit("Shipper").alias("shipper_name"),
            pl.lit("CN").alias("shipper_country"),
            pl.format("C{}", "_consignee").alias("consignee_id"),
            pl.lit("Consignee").alias("consignee_name"),
            pl.lit("NL").alias("consignee_country"),
            pl.format("B{}", "_declarant").alias("declarant_id"),
            pl.lit(None, pl.Date).alias("expected_arrival"),
            pl.lit(None, pl.String).alias("carrier_code"),
            pl.lit(None, pl.List(pl.String)).alias("container_ids"),
        )
        .select([pl.col(c).cast(t) for c, t in DECLARATIONS.polars_schema.items()])
    )


def synthetic_outcomes(filed: pl.DataFrame, day: date, seed: int) -> pl.DataFrame:
    """Inspections made on `day` of a sample of the items in `filed`."""
    rng = np.random.default_rng([seed, day.toordinal(), 1])
    sample = filed.filter(pl.Series(rng.random(filed.height) < INSPECTED_SHARE))
    n = sample.height
    found = rng.random(n) < FINDING_SHARE
    categories = pl.Series(["cbrn", "salw", "other"]).gather(rng.integers(0, 3, n))
    return (
        sample.select("declaration_id", "item_no")
        .with_columns(
            pl.when(pl.Series(rng.random(n) < 0.5)).then(pl.col("item_no")).alias("item_no"),
            pl.lit(datetime(day.year, day.month, day.day, 12, tzinfo=UTC)).alias("inspected_at"),
            pl.lit("random").alias("selection_reason"),
            pl.when(pl.Series(found))
            .then(pl.lit("finding"))
            .otherwise(pl.lit("no_finding"))
            .alias("result"),
            pl.when(pl.Series(found)).then(categories).alias("finding_category"),
            pl.lit("I1").alias("inspector_id"),
            pl.lit(None, pl.String).alias("notes"),
        )
        .select([pl.col(c).cast(t) for c, t in OUTCOMES.polars_schema.items()])
    )


def stage_world(settings: Settings, first: date, days: int, rows: int, seed: int) -> None:
    """Write `days` days of staged declarations and the inspections that follow them."""
    for offset in range(days):
        day = first + timedelta(days=offset)
        filed = synthetic_day(day, rows, seed)
        write_parquet(filed, staged_declarations_file(settings, day))
        inspected = day + timedelta(days=INSPECTION_DELAY_DAYS)
        write_parquet(
            synthetic_outcomes(filed, inspected, seed), staged_outcomes_file(settings, inspected)
        )


def test_a_generated_world_goes_through_the_stage(tmp_path: Path) -> None:
    settings = load_settings(environ={}, home=tmp_path)
    first = date(2026, 1, 1)
    stage_world(settings, first, 5, 300, seed=1)
    frame = pl.read_parquet(featurize_day(settings, first + timedelta(days=4)))
    assert frame.height == 300
    assert frame["shipper_n_items"].sum() > 0
    assert frame["route_detour_ratio"].drop_nulls().min() >= 0.99  # type: ignore[operator]


def _link(source: Path, target: Path) -> None:
    if source.exists() and not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(source, target)


def jump_to(
    settings: Settings, first: date, *, distinct_days: int, history_days: int, rows: int, seed: int
) -> date:
    """Make `history_days` of staged history by re-linking the generated days, and start from
    the newest real snapshot copied forward: a night's cost depends on the sizes of the state
    and of the partitions it reads, which this keeps, not on the number of days behind it."""
    night = first + timedelta(days=history_days)
    if not staged_declarations_file(settings, night).exists():
        write_parquet(synthetic_day(night, rows, seed), staged_declarations_file(settings, night))
    for k in range(history_days + 1):
        day = first + timedelta(days=k)
        twin = first + timedelta(days=k % distinct_days)
        _link(staged_declarations_file(settings, twin), staged_declarations_file(settings, day))
        checked = first + timedelta(days=INSPECTION_DELAY_DAYS + k % distinct_days)
        _link(staged_outcomes_file(settings, checked), staged_outcomes_file(settings, day))
    newest = settings.home / "bench-seed-snapshot"
    if not newest.exists():
        shutil.copytree(snapshot_dir(settings, first + timedelta(days=distinct_days - 1)), newest)
    target = snapshot_dir(settings, first + timedelta(days=history_days - 1))
    if not target.exists():
        shutil.copytree(newest, target)
    return night


def _timed_night(settings: Settings, day: date, history_days: int, refs: References) -> None:
    before, started = os.times(), time.perf_counter()
    featurize_day(settings, day, refs=refs)
    after = os.times()
    cpu = after.user - before.user + after.system - before.system
    wall = time.perf_counter() - started
    print(f"{day} history_days={history_days} wall_s={wall:.2f} cpu_s={cpu:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, default=Path("/tmp/cargo-risk-featurize-bench"))
    parser.add_argument("--rows", type=int, default=100_000, help="items filed per day")
    parser.add_argument("--days", type=int, default=7, help="distinct days generated and run")
    parser.add_argument("--jump", type=int, nargs="*", default=[90, 365], help="history lengths")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    settings = load_settings(environ={}, home=args.home)
    first = date(2025, 1, 1)
    started = time.perf_counter()
    stage_world(settings, first, args.days, args.rows, args.seed)
    print(f"staged {args.days} days x {args.rows} rows in {time.perf_counter() - started:.1f} s")
    refs = load_references(settings)
    for offset in range(args.days):
        _timed_night(settings, first + timedelta(days=offset), offset, refs)
    for history_days in args.jump:
        day = jump_to(
            settings,
            first,
            distinct_days=args.days,
            history_days=history_days,
            rows=args.rows,
            seed=args.seed,
        )
        _timed_night(settings, day, history_days, refs)


if __name__ == "__main__":
    main()
