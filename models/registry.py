"""A model version: what it holds, its files, and loading it back from a folder.

Grain: one model version = one folder `models/<version>/` holding one LightGBM text model per
threat category (`cbrn.txt`, `salw.txt`), `calibration.json` and `metadata.json`;
`models/champion.json` names the version in use. This module builds the file contents and reads
folders given to it; the stage (pipelines/train.py) writes them atomically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb

from contracts import threats
from models.calibration import PlattCalibrator
from models.compiled import CompiledBooster, compile_booster

CATEGORIES: tuple[str, ...] = threats.NAMES
CALIBRATION_FILE = "calibration.json"
METADATA_FILE = "metadata.json"
CHAMPION_FILE = "champion.json"
GATE_PREFIX = "gate-"
"""File name prefix of the trees grown without the gate window (decision 0044)."""


@dataclass(frozen=True)
class CategoryModel:
    """One threat category's booster (trimmed to its best iteration) and its calibrator.

    `compiled`, when set (`with_compiled_trees`), computes the booster's raw scores faster and
    bit for bit the same; reasons always come from the booster.
    """

    booster: lgb.Booster
    calibrator: PlattCalibrator
    compiled: CompiledBooster | None = None


@dataclass(frozen=True)
class ThreatModels:
    """Everything scoring needs: the per-category models, their inputs and the reason phrases."""

    feature_names: tuple[str, ...]
    phrases: Mapping[str, str]
    categories: Mapping[str, CategoryModel]
    version: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    gate_trees: Mapping[str, CategoryModel] | None = None
    """When the scoring trees also learnt from the gate window: the same models grown without
    it, which the champion/challenger gate judges (decision 0044). None otherwise."""

    def for_gate(self) -> ThreatModels:
        """The models the gate may judge on the gate window: ones that never saw it."""
        if self.gate_trees is None:
            return self
        return dataclasses.replace(self, categories=self.gate_trees, gate_trees=None)


def with_compiled_trees(
    models: ThreatModels, cache_folder: Path, threads: int | None = None
) -> ThreatModels:
    """`models` with each category's trees compiled (or loaded from `cache_folder`).

    A category whose trees cannot be compiled keeps LightGBM (compile_booster logs why).
    Distinct boosters compile side by side: the compiler runs in its own process.
    """
    # A pooled version shares one booster among its categories: compile it once, not twice
    # side by side into the same cache file.
    by_text: dict[str, lgb.Booster] = {}
    text_of: dict[str, str] = {}
    for name, model in models.categories.items():
        text_of[name] = model.booster.model_to_string()
        by_text.setdefault(text_of[name], model.booster)
    texts = list(by_text)

    def build(text: str) -> CompiledBooster | None:
        booster = by_text[text]
        return compile_booster(
            booster.dump_model(), booster.num_feature(), cache_folder, threads=threads
        )

    with ThreadPoolExecutor(max_workers=max(1, len(texts))) as pool:
        compiled = dict(zip(texts, pool.map(build, texts), strict=True))
    categories = {
        name: dataclasses.replace(model, compiled=compiled[text_of[name]])
        for name, model in models.categories.items()
    }
    return dataclasses.replace(models, categories=categories)


def model_texts(models: ThreatModels) -> dict[str, str]:
    """The content files of a version (boosters and calibration), by file name."""
    files = {f"{name}.txt": m.booster.model_to_string() for name, m in models.categories.items()}
    for name, m in (models.gate_trees or {}).items():
        files[f"{GATE_PREFIX}{name}.txt"] = m.booster.model_to_string()
    calibration = {name: m.calibrator.to_dict() for name, m in models.categories.items()}
    files[CALIBRATION_FILE] = _json(calibration)
    return files


def version_id(created_at: datetime, texts: Mapping[str, str]) -> str:
    """`<UTC timestamp>-<content hash>`: sortable by time, and equal content gives equal hash."""
    digest = hashlib.sha256()
    for name in sorted(texts):
        digest.update(name.encode())
        digest.update(texts[name].encode())
    return f"{created_at:%Y%m%dT%H%M%SZ}-{digest.hexdigest()[:10]}"


def version_files(models: ThreatModels, metadata: Mapping[str, Any]) -> dict[str, str]:
    """All files of a version folder: the content files plus metadata.json (with phrases)."""
    files = model_texts(models)
    full = {
        **metadata,
        "version": models.version,
        "feature_names": list(models.feature_names),
        "phrases": dict(models.phrases),
        "categories": list(models.categories),
    }
    files[METADATA_FILE] = _json(full)
    return files


def champion_text(version: str) -> str:
    """Contents of champion.json pointing at `version`."""
    return _json({"version": version})


def read_champion(models_root: Path) -> str:
    """The version named by `models_root/champion.json`."""
    path = models_root / CHAMPION_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: no champion model; run `cargo-risk train` first")
    version = json.loads(path.read_text(encoding="utf-8")).get("version")
    if not isinstance(version, str) or not version:
        raise ValueError(f"{path}: field 'version' must be a non-empty string")
    return version


def load_version(folder: Path) -> ThreatModels:
    """Load a version folder written from `version_files`."""
    metadata_path = folder / METADATA_FILE
    if not metadata_path.exists():
        raise FileNotFoundError(f"{metadata_path}: not a model version folder")
    metadata: dict[str, Any] = json.loads(metadata_path.read_text(encoding="utf-8"))
    missing = [
        k for k in ("version", "categories", "feature_names", "phrases") if k not in metadata
    ]
    if missing:
        raise ValueError(f"{metadata_path}: missing field(s) {', '.join(missing)}")
    calibration = json.loads((folder / CALIBRATION_FILE).read_text(encoding="utf-8"))
    for name in metadata["categories"]:
        if name not in calibration:
            raise ValueError(f"{folder / CALIBRATION_FILE}: no calibration for {name!r}")

    def models(prefix: str) -> dict[str, CategoryModel]:
        categories: dict[str, CategoryModel] = {}
        for name in metadata["categories"]:
            model_path = folder / f"{prefix}{name}.txt"
            try:
                booster = lgb.Booster(model_str=model_path.read_text(encoding="utf-8"))
            except lgb.basic.LightGBMError as error:
                raise ValueError(f"{model_path}: not a LightGBM text model ({error})") from error
            if booster.feature_name() != list(metadata["feature_names"]):
                raise ValueError(f"{model_path}: its features differ from {metadata_path}")
            categories[name] = CategoryModel(
                booster=booster, calibrator=PlattCalibrator.from_dict(calibration[name])
            )
        return categories

    # Versions before decision 0044, and those whose gate shared the calibration window, have
    # one set of trees.
    gate_trees = models(GATE_PREFIX) if metadata.get("final_trees_on_gate") else None
    return ThreatModels(
        feature_names=tuple(metadata["feature_names"]),
        phrases=dict(metadata["phrases"]),
        categories=models(""),
        version=str(metadata["version"]),
        metadata=metadata,
        gate_trees=gate_trees,
    )


def _json(values: Any) -> str:
    return json.dumps(values, indent=2, sort_keys=True) + "\n"


DECISIONS_FILE = "decisions.jsonl"
CARD_FILE = "card.html"
EVALUATION_FILE = "evaluation.json"
CALIBRATION_BAND = (0.5, 2.0)
"""Mean score over observed rate a promoted model must keep: within a factor of two."""


@dataclass(frozen=True)
class GateResult:
    """Whether a challenger may replace the champion, and why, per category."""

    promote: bool
    reasons: tuple[str, ...]


def _at_rate(metrics: Mapping[str, Any], budget: float) -> Mapping[str, Any]:
    for row in metrics["at_rates"]:
        if abs(float(row["rate"]) - budget) < 1e-9:
            return dict(row)
    raise ValueError(f"no metrics at the inspection budget {budget:.0%}")


def gate(
    challenger: Mapping[str, Mapping[str, Any]],
    champion: Mapping[str, Mapping[str, Any]] | None,
    budget: float,
    calibration_band: tuple[float, float] = CALIBRATION_BAND,
    paired: Mapping[str, Mapping[str, Any]] | None = None,
) -> GateResult:
    """The champion/challenger rule, per category, on metrics from `version_metrics`.

    Pass when, for every category, the challenger's precision at `budget` is not worse than the
    champion's within the bootstrap interval, and its calibration ratio lies within
    `calibration_band`. With `paired` (per category, from `paired_precision_difference` on the
    same rows) "not worse" means the difference's upper bound reaches 0; without, that the
    challenger's own upper bound reaches the champion's precision. A category without a
    finding among the rows is not judged (and said so): with few findings a window can lack one.
    """
    reasons: list[str] = []
    ok = True
    judged = 0
    low, high = calibration_band
    for category, metrics in sorted(challenger.items()):
        if metrics.get("positives") == 0:
            # Nothing to measure precision or calibration on: say so rather than refuse.
            reasons.append(f"{category}: no finding in the gate window, not judged")
            continue
        judged += 1
        mine = _at_rate(metrics, budget)
        ratio = metrics.get("calibration_ratio")
        if ratio is None or not low <= float(ratio) <= high:
            ok = False
            reasons.append(
                f"{category}: calibration fails (mean score / observed rate "
                f"{'n/a' if ratio is None else f'{float(ratio):.3g}'}, "
                f"allowed {low}-{high})"
            )
        else:
            reasons.append(f"{category}: calibration holds (ratio {float(ratio):.2f})")
        if champion is None or category not in champion:
            reasons.append(f"{category}: no champion to compare with")
            continue
        theirs = _at_rate(champion[category], budget)
        pair = (paired or {}).get(category)
        if pair is not None and pair.get("high") is not None:
            line = (
                f"{category}: precision at {budget:.0%} {_fmt(mine.get('precision'))} vs "
                f"champion {_fmt(theirs.get('precision'))}, difference "
                f"{_fmt(pair.get('difference'))} [{_fmt(pair.get('low'))}, {_fmt(pair['high'])}]"
            )
            # With few findings the interval's upper end often sits at exactly 0; a challenger
            # whose point difference is below 0 there is worse in nearly every resample.
            high, point = float(pair["high"]), pair.get("difference")
            worse = high < 0 or (high <= 0 and point is not None and float(point) < 0)
            ok = ok and not worse
            reasons.append(line + (": worse" if worse else ": not worse"))
            continue
        upper, reference = mine.get("precision_high"), theirs.get("precision")
        line = (
            f"{category}: precision at {budget:.0%} {_fmt(mine.get('precision'))} "
            f"[{_fmt(mine.get('precision_low'))}, {_fmt(upper)}] vs champion {_fmt(reference)}"
        )
        if reference is not None and (upper is None or float(upper) < float(reference)):
            ok = False
            reasons.append(line + ": worse")
        else:
            reasons.append(line + ": not worse")
    if champion is not None and judged == 0:
        ok = False
        reasons.append(
            "no category has a finding in the gate window: nothing to judge the challenger on"
        )
    return GateResult(promote=ok, reasons=tuple(reasons))


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.3f}"


def decision_line(record: Mapping[str, Any]) -> str:
    """One line of decisions.jsonl: compact, keys sorted, newline-terminated."""
    return json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"


def read_decisions(models_root: Path) -> list[dict[str, Any]]:
    """Every logged decision, oldest first; a broken line is named by its number."""
    path = models_root / DECISIONS_FILE
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number}: not a JSON line ({error.msg})") from None
    return records


def version_folders(models_root: Path) -> list[Path]:
    """Folders of saved versions, oldest first (version ids sort by time)."""
    if not models_root.is_dir():
        return []
    return sorted(p for p in models_root.iterdir() if p.is_dir() and (p / METADATA_FILE).is_file())


def read_metadata(folder: Path) -> dict[str, Any]:
    """metadata.json of a version folder."""
    path = folder / METADATA_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model version")
    values: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return values
