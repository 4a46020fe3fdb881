"""A model version: what it holds, its files, and loading it back from a folder.

Grain: one model version = one folder `models/<version>/` holding one LightGBM text model per
threat category (`cbrn.txt`, `salw.txt`), `calibration.json` and `metadata.json`;
`models/champion.json` names the version in use. This module builds the file contents and reads
folders given to it; the stage (pipelines/train.py) writes them atomically.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb

from models.calibration import PlattCalibrator

CATEGORIES: tuple[str, ...] = ("cbrn", "salw")
CALIBRATION_FILE = "calibration.json"
METADATA_FILE = "metadata.json"
CHAMPION_FILE = "champion.json"


@dataclass(frozen=True)
class CategoryModel:
    """One threat category's booster (trimmed to its best iteration) and its calibrator."""

    booster: lgb.Booster
    calibrator: PlattCalibrator


@dataclass(frozen=True)
class ThreatModels:
    """Everything scoring needs: the per-category models, their inputs and the reason phrases."""

    feature_names: tuple[str, ...]
    phrases: Mapping[str, str]
    categories: Mapping[str, CategoryModel]
    version: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)


def model_texts(models: ThreatModels) -> dict[str, str]:
    """The content files of a version (boosters and calibration), by file name."""
    files = {f"{name}.txt": m.booster.model_to_string() for name, m in models.categories.items()}
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
    categories: dict[str, CategoryModel] = {}
    for name in metadata["categories"]:
        if name not in calibration:
            raise ValueError(f"{folder / CALIBRATION_FILE}: no calibration for {name!r}")
        model_path = folder / f"{name}.txt"
        try:
            booster = lgb.Booster(model_str=model_path.read_text(encoding="utf-8"))
        except lgb.basic.LightGBMError as error:
            raise ValueError(f"{model_path}: not a LightGBM text model ({error})") from error
        if booster.feature_name() != list(metadata["feature_names"]):
            raise ValueError(f"{model_path}: its features differ from {metadata_path}")
        categories[name] = CategoryModel(
            booster=booster, calibrator=PlattCalibrator.from_dict(calibration[name])
        )
    return ThreatModels(
        feature_names=tuple(metadata["feature_names"]),
        phrases=dict(metadata["phrases"]),
        categories=categories,
        version=str(metadata["version"]),
        metadata=metadata,
    )


def _json(values: Any) -> str:
    return json.dumps(values, indent=2, sort_keys=True) + "\n"
