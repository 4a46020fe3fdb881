"""Inspection outcomes contract (in). Grain: one inspection of one declaration.

All items of the declaration, or one item when `item_no` is given. Only inspected declarations
have labels; `selection_reason == "random"` marks the unbiased sample training relies on.
"""

from __future__ import annotations

from contracts import threats
from contracts.declarations import DECLARATIONS
from contracts.schema import Column, Contract

SELECTION_REASONS = ("risk", "rule", "watchlist", "random", "manual")
RESULTS = ("no_finding", "finding")
FINDING_CATEGORIES = (*threats.NAMES, "other")

OUTCOMES = Contract(
    name="outcomes",
    version="1.0",
    grain="one inspection of one declaration (or of one item when item_no is given)",
    key=("declaration_id", "item_no", "inspected_at"),
    columns=(
        DECLARATIONS.column("declaration_id"),
        Column("item_no", "integer", False, ">= 1 when given", minimum=1),
        Column("inspected_at", "timestamp", True, "not before the declaration's filed_at"),
        Column(
            "selection_reason",
            "string",
            True,
            "why it was inspected: " + ", ".join(SELECTION_REASONS),
            allowed=SELECTION_REASONS,
        ),
        Column("result", "string", True, ", ".join(RESULTS), allowed=RESULTS),
        Column(
            "finding_category",
            "string",
            False,
            "required when result is finding: " + ", ".join(FINDING_CATEGORIES),
            allowed=FINDING_CATEGORIES,
        ),
        Column("inspector_id", "string", True, "", min_length=1),
        Column("notes", "string", False, ""),
    ),
)
