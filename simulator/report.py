"""A short report that shows whether a simulated period looks like trade.

Reads the landing files and the truth zone, writes reports/simulation/index.html with PNG plots:
value per kg per HS family, trader activity, route and mode mix, daily volume and threat counts.
Grain of the summary table: one row per measure of the whole simulated period.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import polars as pl

from contracts import reference
from pipelines.io import atomic_path, write_text
from pipelines.settings import Settings
from simulator.goods import FAMILIES, family_of_hs

_COLUMNS = (
    "declaration_id", "item_no", "filed_at", "mode", "port_of_loading", "port_of_discharge",
    "transshipment_ports", "shipper_id", "consignee_id", "hs_code", "gross_mass_kg",
    "declared_value", "currency",
)  # fmt: skip


@dataclass(frozen=True)
class SimulationReport:
    """Where the report went and its headline numbers."""

    index: Path
    plots: list[Path]
    summary: dict[str, Any]


def read_landing(landing: Path) -> pl.DataFrame:
    """The simulated declaration files (exercise injections excluded), valid-looking rows only."""
    files = sorted((landing / "declarations").glob("declarations_*.csv"))
    files = [f for f in files if "_exercise-" not in f.name]
    if not files:
        raise FileNotFoundError(f"no declaration files under {landing / 'declarations'}")
    frames = [
        pl.read_csv(f, columns=list(_COLUMNS), infer_schema=False).with_columns(
            pl.col("gross_mass_kg").cast(pl.Float64, strict=False),
            pl.col("declared_value").cast(pl.Float64, strict=False),
            # The file's day, not filed_at: rows filed "in the future" stay in their file's day.
            pl.lit(f.stem.removeprefix("declarations_")[:10]).str.to_date().alias("day"),
        )
        for f in files
    ]
    return pl.concat(frames).filter(pl.col("gross_mass_kg") > 0)


def _save(figure: Any, target: Path) -> Path:
    with atomic_path(target) as tmp:
        # No software stamp in the PNG: reruns give identical bytes.
        figure.savefig(tmp, format="png", dpi=90, metadata={"Software": None})
    plt.close(figure)
    return target


def _value_per_kg(rows: pl.DataFrame, rates: pl.DataFrame, target: Path) -> Path:
    priced = rows.join(rates.select("currency", "units_per_usd"), on="currency", how="inner")
    usd_per_kg = priced["declared_value"] / priced["units_per_usd"] / priced["gross_mass_kg"]
    family = family_of_hs(priced["hs_code"])
    values = np.log10(np.clip(usd_per_kg.to_numpy(), 1e-4, None))
    groups = [values[family == i] for i in range(len(FAMILIES))]
    labels = [f.name for f in FAMILIES]
    figure, axis = plt.subplots(figsize=(10, 6))
    axis.boxplot(
        groups, orientation="horizontal", tick_labels=labels, showfliers=False, whis=(1, 99)
    )
    axis.set_xlabel("log10 declared USD per kg (box: quartiles, whiskers: 1st-99th percentile)")
    axis.set_title("Value per kg by HS family")
    figure.tight_layout()
    return _save(figure, target)


def _trader_activity(rows: pl.DataFrame, target: Path) -> Path:
    per_shipper = rows.group_by("shipper_id").agg(pl.col("declaration_id").n_unique().alias("n"))
    counts = np.sort(per_shipper["n"].to_numpy())[::-1]
    weekly = (
        rows.group_by("shipper_id")
        .agg(pl.col("day").min().alias("first"))
        .with_columns(pl.col("first").dt.truncate("1w"))
        .group_by("first")
        .len()
        .sort("first")
    )
    active = (
        rows.with_columns(pl.col("day").dt.truncate("1w").alias("week"))
        .group_by("week")
        .agg(pl.col("shipper_id").n_unique().alias("active"))
        .sort("week")
    )
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.loglog(np.arange(1, counts.size + 1), counts)
    left.set_xlabel("shipper rank")
    left.set_ylabel("declarations")
    left.set_title("Declarations per shipper (heavy tail)")
    right.plot(active["week"].to_list(), active["active"].to_list(), label="active shippers")
    right.plot(weekly["first"].to_list(), weekly["len"].to_list(), label="first seen this week")
    right.set_title("Shippers per week")
    right.legend()
    figure.autofmt_xdate()
    figure.tight_layout()
    return _save(figure, target)


def _routes_and_modes(rows: pl.DataFrame, target: Path) -> Path:
    declarations = rows.unique("declaration_id", keep="first").sort("declaration_id")
    modes = declarations.group_by("mode").len().sort("len", descending=True)
    origin = (
        declarations.group_by(pl.col("port_of_loading").str.slice(0, 2).alias("country"))
        .len()
        .sort("len", "country", descending=[True, False])
        .head(12)
    )
    hubs = (
        declarations.select(pl.col("transshipment_ports").str.split("|").alias("hub"))
        .explode("hub")
        .drop_nulls()
        .filter(pl.col("hub") != "")
        .group_by("hub")
        .len()
        .sort("len", "hub", descending=[True, False])
        .head(10)
    )
    figure, axes = plt.subplots(1, 3, figsize=(14, 4))
    axes[0].bar(modes["mode"].to_list(), modes["len"].to_list())
    axes[0].set_title("Declarations by mode")
    axes[1].barh(origin["country"].to_list()[::-1], origin["len"].to_list()[::-1])
    axes[1].set_title("Top loading countries")
    axes[2].barh(hubs["hub"].to_list()[::-1], hubs["len"].to_list()[::-1])
    axes[2].set_title("Top transshipment hubs")
    figure.tight_layout()
    return _save(figure, target)


def _daily_volume(rows: pl.DataFrame, target: Path) -> Path:
    daily = rows.group_by("day").len().sort("day")
    figure, axis = plt.subplots(figsize=(11, 3.5))
    axis.plot(daily["day"].to_list(), daily["len"].to_list())
    axis.set_title("Rows per filing day (weekday and seasonal effects)")
    figure.autofmt_xdate()
    figure.tight_layout()
    return _save(figure, target)


def _threats(truth: pl.DataFrame, target: Path) -> Path:
    counts = truth.group_by("scenario").len().sort("scenario")
    figure, axis = plt.subplots(figsize=(9, 3.5))
    axis.barh(counts["scenario"].to_list(), counts["len"].to_list())
    axis.set_title("Threat items per scenario (ground truth)")
    figure.tight_layout()
    return _save(figure, target)


def build_report(settings: Settings) -> SimulationReport:
    """Write reports/simulation/index.html and its plots for the simulated landing files."""
    rows = read_landing(settings.zone("landing"))
    truth_file = settings.zone("truth") / "ground_truth.parquet"
    truth = (
        pl.read_parquet(truth_file)
        if truth_file.exists()
        else pl.DataFrame(schema={"scenario": pl.String()})
    )
    rates = reference.currency_rates(settings.currency_rates)
    folder = settings.zone("reports") / "simulation"
    plots = [
        _value_per_kg(rows, rates, folder / "value_per_kg.png"),
        _trader_activity(rows, folder / "trader_activity.png"),
        _routes_and_modes(rows, folder / "routes_and_modes.png"),
        _daily_volume(rows, folder / "daily_volume.png"),
        _threats(truth, folder / "threats.png"),
    ]
    declarations = rows["declaration_id"].n_unique()
    first_filings = rows.unique("declaration_id")
    transshipped = float(first_filings["transshipment_ports"].is_not_null().sum()) / max(
        first_filings.height, 1
    )
    summary: dict[str, Any] = {
        "filing days": rows["day"].n_unique(),
        "rows (items, valid mass)": rows.height,
        "declarations": declarations,
        "shippers": rows["shipper_id"].n_unique(),
        "consignees": rows["consignee_id"].n_unique(),
        "transshipped declarations": f"{transshipped:.1%}",
        "threat items": truth.height,
        "threat rate": f"1 in {rows.height / truth.height:,.0f}" if truth.height else "none",
    }
    table = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in summary.items()
    )
    images = "".join(f'<p><img src="{p.name}" alt="{p.stem}"></p>' for p in plots)
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Simulated cargo world</title>"
        "</head><body><h1>Simulated cargo world</h1><table>"
        f"{table}</table>{images}</body></html>\n"
    )
    index = write_text(page, folder / "index.html")
    return SimulationReport(index, plots, summary)
