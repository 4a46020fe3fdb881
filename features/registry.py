"""The one feature registry: every model feature with its type, meaning, source and phrase.

Grain: one `Feature` per column of the features table (one row per declaration item filed on a
day); `KEY_COLUMNS` come first and are not model inputs.
"""

from __future__ import annotations

import hashlib
import json

from features import declaration, description, parties, route, strategic, value
from features.feature import Feature

KEY_COLUMNS = ("declaration_id", "item_no", "port_of_discharge", "filed_at")

FEATURES: tuple[Feature, ...] = (
    *declaration.FEATURES,
    *value.FEATURES,
    *route.FEATURES,
    *description.FEATURES,
    *strategic.FEATURES,
    *parties.FEATURES,
)

_BY_NAME = {f.name: f for f in FEATURES}
if len(_BY_NAME) != len(FEATURES):
    raise RuntimeError("feature names must be unique")


def model_feature_names() -> list[str]:
    """Names of the model's input columns, in the registry's order."""
    return [f.name for f in FEATURES]


def feature(name: str) -> Feature:
    """The feature called `name` (KeyError naming it when unknown)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no feature called {name!r} in the registry") from None


def describe(name: str, value: float | int | bool | None) -> str:
    """Inspector's words for one feature value (empty when missing or a false flag)."""
    found = feature(name)
    if found.dtype == "bool" and not value:
        return ""
    return found.describe(value)


def registry_hash(features: tuple[Feature, ...] = FEATURES) -> str:
    """Stable SHA-256 of the names, dtypes and sources: changes whenever a model's input does."""
    payload = [[f.name, f.dtype, f.source] for f in features]
    return hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode()).hexdigest()


def markdown_table() -> str:
    """The registry as a Markdown table, for docs/features.md."""
    lines = ["| name | dtype | source | meaning | phrase |", "|---|---|---|---|---|"]
    for f in FEATURES:
        cells = [f"`{f.name}`", f.dtype, f.source, f.meaning, f.phrase]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
