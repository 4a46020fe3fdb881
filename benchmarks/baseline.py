"""A plain baseline: LightGBM on the same inspected outcomes, 16 simple declaration features.

Deliberately short and untuned: it is the yardstick the project's models and list order must beat
on worlds they were not tuned to. Every history feature of an item filed on day D counts only days
before D (no leakage). Grain of `baseline_features`: one row per staged item.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import lightgbm as lgb
import numpy as np
import polars as pl

from pipelines import layout
from pipelines.settings import Settings

KEY = ["declaration_id", "item_no"]
FEATURES = (
    "log_usd", "log_kg", "log_usd_per_kg", "usd_per_kg_vs_chapter", "log_kg_per_package",
    "log_packages", "chapter", "mode", "transshipments", "origin_not_shipper_country",
    "shipper_before", "consignee_before", "consignee_chapter_before", "wording_before",
    "items_in_declaration", "has_un_number",
)  # fmt: skip
CATEGORICAL = ("chapter", "mode")
MODES = ("sea", "air", "post", "courier", "road", "rail")
PARAMS = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 10,
    "feature_fraction": 0.9,
    "verbose": -1,
    "seed": 7,
    "deterministic": True,
    "num_threads": 1,
}
ROUNDS = 200


def staged_items(settings: Settings, days: list[date]) -> pl.DataFrame:
    """The staged declaration items of `days` (days without a partition are skipped)."""
    frames = [
        pl.read_parquet(layout.staged_declarations_file(settings, d))
        for d in days
        if layout.staged_declarations_file(settings, d).is_file()
    ]
    return pl.concat(frames, how="diagonal_relaxed")


def _before(frame: pl.DataFrame, keys: list[str], name: str, value: pl.Expr) -> pl.DataFrame:
    """Sum of `value` per `keys` over the days strictly before each row's filing day."""
    daily = (
        frame.group_by([*keys, "_day"])
        .agg(value.sum().alias("_today"))
        .sort("_day")
        .with_columns((pl.col("_today").cum_sum().over(keys) - pl.col("_today")).alias(name))
        .drop("_today")
    )
    return frame.join(daily, on=[*keys, "_day"], how="left")


def baseline_features(items: pl.DataFrame, rates: dict[str, float]) -> pl.DataFrame:
    """The 16 features of every item in `items` (history and nights together, in one pass)."""
    rate_table = pl.DataFrame(
        {"currency": list(rates), "_rate": list(rates.values())},
        schema={"currency": pl.String(), "_rate": pl.Float64()},
    )
    frame = (
        items.join(rate_table, on="currency", how="left")
        .with_columns(
            pl.col("filed_at").dt.date().alias("_day"),
            (pl.col("declared_value") / pl.col("_rate").fill_null(1.0)).alias("_usd"),
            pl.col("hs_code").str.slice(0, 2).cast(pl.Int64, strict=False).alias("chapter"),
            pl.col("hs_code").str.slice(0, 6).alias("_hs6"),
            pl.len().over("declaration_id").alias("items_in_declaration"),
        )
        .with_columns(
            (pl.col("_usd").clip(0.01) / pl.col("gross_mass_kg").clip(0.01))
            .log10()
            .alias("log_usd_per_kg"),
            pl.lit(1).alias("_one"),
        )
    )
    # A declaration counts once per party, not once per item.
    first_item = pl.col("item_no") == pl.col("item_no").min().over("declaration_id")
    frame = _before(frame, ["shipper_id"], "shipper_before", first_item.cast(pl.Int64))
    frame = _before(frame, ["consignee_id"], "consignee_before", first_item.cast(pl.Int64))
    frame = _before(frame, ["consignee_id", "chapter"], "consignee_chapter_before", pl.col("_one"))
    frame = _before(frame, ["_hs6", "goods_description"], "wording_before", pl.col("_one"))
    frame = _before(frame, ["chapter"], "_chapter_n", pl.col("_one"))
    frame = _before(frame, ["chapter"], "_chapter_sum", pl.col("log_usd_per_kg"))
    return frame.select(
        *KEY,
        "_day",
        pl.col("port_of_discharge"),
        pl.col("_usd").clip(0.01).log10().alias("log_usd"),
        pl.col("gross_mass_kg").clip(0.01).log10().alias("log_kg"),
        "log_usd_per_kg",
        (
            pl.col("log_usd_per_kg")
            - pl.when(pl.col("_chapter_n") > 0).then(pl.col("_chapter_sum") / pl.col("_chapter_n"))
        ).alias("usd_per_kg_vs_chapter"),
        (pl.col("gross_mass_kg") / pl.col("packages").clip(1))
        .clip(0.01)
        .log10()
        .alias("log_kg_per_package"),
        pl.col("packages").clip(1).log10().alias("log_packages"),
        pl.col("chapter").fill_null(0),
        pl.col("mode").replace_strict(
            {m: i for i, m in enumerate(MODES)}, default=len(MODES), return_dtype=pl.Int64
        ),
        pl.col("transshipment_ports").list.len().fill_null(0).alias("transshipments"),
        (pl.col("country_of_origin") != pl.col("shipper_country"))
        .fill_null(False)
        .cast(pl.Int64)
        .alias("origin_not_shipper_country"),
        (pl.col("shipper_before") + 1).log10(),
        (pl.col("consignee_before") + 1).log10(),
        (pl.col("consignee_chapter_before") + 1).log10(),
        (pl.col("wording_before") + 1).log10(),
        "items_in_declaration",
        pl.col("un_number").is_not_null().cast(pl.Int64).alias("has_un_number"),
    )


def inspected_labels(outcomes: pl.DataFrame, items: pl.DataFrame) -> pl.DataFrame:
    """1 for the item a finding names (every item when it names none), 0 for other inspected
    items; items never inspected are left out."""
    inspected = outcomes.select("declaration_id").unique()
    named = outcomes.filter(pl.col("result") == "finding").select("declaration_id", "item_no")
    whole = named.filter(pl.col("item_no").is_null()).select("declaration_id").unique()
    exact = named.drop_nulls("item_no").unique()
    return (
        items.select(*KEY)
        .join(inspected, on="declaration_id", how="semi")
        .join(exact.with_columns(pl.lit(1).alias("_exact")), on=KEY, how="left")
        .join(whole.with_columns(pl.lit(1).alias("_whole")), on="declaration_id", how="left")
        .select(
            *KEY,
            (pl.col("_exact").is_not_null() | pl.col("_whole").is_not_null())
            .cast(pl.Int64)
            .alias("label"),
        )
    )


def train_baseline(features: pl.DataFrame, labels: pl.DataFrame) -> lgb.Booster:
    """LightGBM with fixed, untuned parameters on the labelled rows."""
    rows = features.join(labels, on=KEY, how="inner")
    if rows["label"].sum() == 0:
        raise ValueError("the baseline needs at least one finding among the inspected items")
    data = lgb.Dataset(
        rows.select(FEATURES).to_numpy().astype(np.float64),
        label=rows["label"].to_numpy(),
        feature_name=list(FEATURES),
        categorical_feature=list(CATEGORICAL),
        free_raw_data=False,
    )
    return lgb.train(PARAMS, data, num_boost_round=ROUNDS)


def score_baseline(model: lgb.Booster, features: pl.DataFrame) -> pl.DataFrame:
    """declaration_id, item_no and the baseline's score per row of `features`."""
    values = model.predict(features.select(FEATURES).to_numpy().astype(np.float64))
    return features.select(*KEY).with_columns(pl.Series("baseline", np.asarray(values)))


def read_outcomes(settings: Settings, before: date) -> pl.DataFrame:
    """Every staged outcome of an inspection made before `before`."""
    files = layout.partition_files(layout.staged_outcomes(settings), layout.OUTCOMES_FILE)
    frames = [pl.read_parquet(f) for day, f in files if day < before]
    return pl.concat(frames, how="diagonal_relaxed")


def baseline_scores(
    settings: Settings, history: list[date], nights: list[date], rates: dict[str, float]
) -> dict[date, pl.DataFrame]:
    """Train on the history's inspected items known before the first night; score each night."""
    items = staged_items(settings, [*history, *nights])
    features = baseline_features(items, rates)
    first_night = min(nights)
    past = features.filter(pl.col("_day") < first_night)
    labels = inspected_labels(read_outcomes(settings, first_night), past)
    model = train_baseline(past, labels)
    return {
        night: score_baseline(model, features.filter(pl.col("_day") == night)) for night in nights
    }


def write_scores(scores: pl.DataFrame, path: Path) -> Path:
    """Write one night's baseline scores (the evaluation picks them up)."""
    from pipelines.io import write_parquet

    return write_parquet(scores, path)
