"""What two runs of the same night must share, byte for byte, and what they rightly do not.

Kept list versions record when they were published, and a list's lineage.json records the
checksums of the night's raw and staged batches, which record when they were ingested: two homes
that ran the same night differ there and nowhere else (decision 0027).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from pipelines import layout
from pipelines.settings import Settings


def published_lists(settings: Settings, day: date) -> dict[str, bytes]:
    """The current list's files by relative path, without kept versions and lineage.json."""
    folder = layout.lists_dir(settings, day)
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*.*"))
        if p.relative_to(folder).parts[0] != "versions" and p.name != "lineage.json"
    }


def comparable_lineage(settings: Settings, day: date) -> dict[str, Any]:
    """The current list's lineage without the checksums of raw and staged batches."""
    lineage: dict[str, Any] = json.loads(
        (layout.lists_dir(settings, day) / "lineage.json").read_text(encoding="utf-8")
    )
    lineage["inputs"] = {
        name: digest
        for name, digest in lineage["inputs"].items()
        if not name.startswith(("raw/", "staging/"))
    }
    return lineage
