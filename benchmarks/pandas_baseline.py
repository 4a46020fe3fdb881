"""The pandas baseline: the night's features and scores as a customs data team writes them today.

Grain of the result: one row per declaration item filed on the night, with `risk_score` and
`reasons`. What it does, on purpose without the project's incremental history: read every staged
day of history and every inspection, group by each entity over the whole history, merge onto the
night's rows, compute text features with `apply`, predict both models with the same boosters and
calibration, and explain every row with `pred_contrib` (a row loop picks the top reasons).

It reproduces 47 of the registry's 63 features, with the same values (tests/test_benchmarks.py
checks them): the history of shippers, consignees, pairs, declarants, lanes and HS-6, the
declaration columns and the description's words. The 16 value, route, hub, HS-nomenclature and
strategic-list columns are left missing (NaN). Its time is therefore a lower bound of what a
baseline with every feature would cost, and its ratio to the stack an underestimate.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from features.description import MIN_WORD_LENGTH, STOPWORDS, VAGUE_WORDS
from features.parties import PRIOR_WEIGHT
from models.registry import load_version, read_champion
from pipelines import layout
from pipelines.settings import Settings

HISTORY_COLUMNS = [
    "declaration_id",
    "item_no",
    "filed_at",
    "shipper_id",
    "consignee_id",
    "declarant_id",
    "port_of_loading",
    "port_of_discharge",
    "hs_code",
]
ENTITY_KEYS = {
    "shipper": ["shipper_id"],
    "consignee": ["consignee_id"],
    "pair": ["shipper_id", "consignee_id"],
    "declarant": ["declarant_id"],
    "lane": ["port_of_loading", "port_of_discharge"],
    "hs6": ["hs6"],
}
MODE_CODES = {"sea": 1, "air": 2, "road": 3, "rail": 4, "post": 5, "courier": 6}
_NOT_LETTERS = re.compile(r"[^a-z]+")


def _files_before(table: Path, file_name: str, before: date) -> list[Path]:
    return [path for day, path in layout.partition_files(table, file_name) if day < before]


def read_history(settings: Settings, night: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every staged declaration item and every inspection before the night."""
    declarations = layout.staged_declarations(settings)
    outcomes = layout.staged_outcomes(settings)
    items = pd.concat(
        [
            pd.read_parquet(p, columns=HISTORY_COLUMNS)
            for p in _files_before(declarations, layout.DECLARATIONS_FILE, night)
        ],
        ignore_index=True,
    )
    inspections = pd.concat(
        [pd.read_parquet(p) for p in _files_before(outcomes, layout.OUTCOMES_FILE, night)],
        ignore_index=True,
    )
    return items, inspections


def _prepare(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["hs6"] = frame["hs_code"].str[:6]
    frame["declarant_id"] = frame["declarant_id"].fillna("")
    frame["filed_day"] = pd.to_datetime(frame["filed_at"]).dt.tz_localize(None).dt.normalize()
    return frame


def history_features(night_rows: pd.DataFrame, items: pd.DataFrame, inspections: pd.DataFrame,
                     night: date) -> pd.DataFrame:  # fmt: skip
    """Per-entity history of the whole past, merged onto the night's rows."""
    items = _prepare(items)
    # An inspection without an item number covers every item of its declaration.
    whole = inspections["item_no"].isna()
    inspected = pd.concat(
        [
            inspections[~whole].merge(items, on=["declaration_id", "item_no"], how="inner"),
            inspections[whole].drop(columns="item_no").merge(items, on="declaration_id"),
        ],
        ignore_index=True,
    )
    inspected["finding"] = (inspected["result"] == "finding").astype(int)
    prior_finding = inspected["finding"].sum() / max(len(inspected), 1)
    prior_inspection = len(inspected) / max(len(items), 1)
    as_of = pd.Timestamp(night)
    out = pd.DataFrame(index=night_rows.index)
    for entity, keys in ENTITY_KEYS.items():
        filed = items.groupby(keys).agg(
            first_seen=("filed_day", "min"), last_seen=("filed_day", "max"),
            n_items=("declaration_id", "size"),
        )  # fmt: skip
        checked = inspected.groupby(keys).agg(
            n_inspected=("finding", "size"), n_findings=("finding", "sum")
        )
        state = filed.join(checked, how="left").reset_index()
        joined = night_rows[keys].merge(state, on=keys, how="left")
        joined.index = night_rows.index
        n_items = joined["n_items"].fillna(0)
        n_inspected = joined["n_inspected"].fillna(0)
        n_findings = joined["n_findings"].fillna(0)
        finding_rate = (n_findings + PRIOR_WEIGHT * prior_finding) / (n_inspected + PRIOR_WEIGHT)
        if entity in ("lane", "hs6"):
            out[f"{entity}_n_items"] = n_items
            out[f"{entity}_finding_rate"] = finding_rate
            continue
        out[f"{entity}_is_new"] = joined["first_seen"].isna().astype(float)
        out[f"{entity}_age_days"] = (as_of - joined["first_seen"]).dt.days.fillna(0)
        out[f"{entity}_n_items"] = n_items
        out[f"{entity}_n_inspected"] = n_inspected
        out[f"{entity}_n_findings"] = n_findings
        out[f"{entity}_finding_rate"] = finding_rate
        out[f"{entity}_inspection_rate"] = (n_inspected + PRIOR_WEIGHT * prior_inspection) / (
            n_items + PRIOR_WEIGHT
        )
        if entity == "shipper":
            active = (joined["last_seen"] - joined["first_seen"]).dt.days + 1
            out["shipper_items_per_active_day"] = n_items / active
    return out


def _words(text: object) -> list[str]:
    if not isinstance(text, str):
        return []
    words = _NOT_LETTERS.sub(" ", text.lower()).split()
    return [w for w in words if len(w) >= MIN_WORD_LENGTH and w not in STOPWORDS]


def _description_row(row: pd.Series) -> pd.Series:
    words = _words(row["goods_description"])
    vague = sum(w in VAGUE_WORDS for w in words)
    share = vague / len(words) if words else 1.0
    return pd.Series(
        {
            "description_n_words": len(words),
            "description_vague_share": share,
            "description_is_vague": float(share >= 0.5),
        }
    )


def row_features(night_rows: pd.DataFrame) -> pd.DataFrame:
    """Declaration columns row by row, and the description's words through `apply`."""
    out = pd.DataFrame(index=night_rows.index)
    out["mode_code"] = night_rows["mode"].map(MODE_CODES).fillna(0)
    out["gross_mass_kg_log10"] = np.log10(night_rows["gross_mass_kg"])
    out["weight_per_package_kg"] = night_rows["gross_mass_kg"] / night_rows["packages"]
    out["packages"] = night_rows["packages"]
    out["n_containers"] = night_rows["container_ids"].apply(
        lambda ids: 0 if ids is None else len(ids)
    )
    out["has_declarant"] = night_rows["declarant_id"].fillna("").ne("").astype(float)
    out["consignee_abroad"] = (
        night_rows["consignee_country"] != night_rows["port_of_discharge"].str[:2]
    ).astype(float)
    out["n_transshipments"] = night_rows["transshipment_ports"].apply(
        lambda ports: 0 if ports is None else len(ports)
    )
    out["origin_differs_from_dispatch"] = (
        night_rows["country_of_origin"] != night_rows["country_of_dispatch"]
    ).astype(float)
    out["dispatch_differs_from_shipper_country"] = (
        night_rows["country_of_dispatch"] != night_rows["shipper_country"]
    ).astype(float)
    out["has_un_number"] = night_rows["un_number"].notna().astype(float)
    return out.join(night_rows.apply(_description_row, axis=1))


def _reasons(contrib: np.ndarray, names: list[str], top_n: int = 3) -> list[str]:
    reasons = []
    for row in contrib[:, : len(names)]:
        best = sorted(range(len(names)), key=lambda i: -row[i])[:top_n]
        reasons.append("; ".join(names[i] for i in best if row[i] > 0))
    return reasons


def night_features(settings: Settings, night: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The night's staged rows and their features (one row per item, same index)."""
    night_rows = pd.read_parquet(layout.staged_declarations_file(settings, night))
    items, inspections = read_history(settings, night)
    features = row_features(night_rows).join(
        history_features(_prepare(night_rows), items, inspections, night)
    )
    return night_rows, features


def score_night(settings: Settings, night: date) -> pd.DataFrame:
    """Features, calibrated scores and reasons of the night's staged rows, the pandas way."""
    night_rows, features = night_features(settings, night)
    root = settings.zone("models")
    models = load_version(root / read_champion(root))
    names = list(models.feature_names)
    matrix = features.reindex(columns=names).astype(float).to_numpy()
    scored = night_rows[["declaration_id", "item_no", "port_of_discharge"]].copy()
    survive = np.ones(len(scored))
    best, best_score = None, np.full(len(scored), -1.0)
    for name, model in models.categories.items():
        raw = model.booster.predict(matrix, raw_score=True)
        calibrated = model.calibrator.apply(np.asarray(raw, dtype=np.float64))
        scored[f"{name}_score"] = calibrated
        survive *= 1.0 - calibrated
        contrib = model.booster.predict(matrix, pred_contrib=True)
        reasons = _reasons(np.asarray(contrib), names)
        if best is None:
            best = reasons
        else:
            best = [r if s > b else o for r, s, b, o in zip(reasons, calibrated, best_score, best,
                                                            strict=True)]  # fmt: skip
        best_score = np.maximum(best_score, calibrated)
    scored["risk_score"] = 1.0 - survive
    scored["reasons"] = best
    return scored
