"""Ranked risk list contract (out). Grain: one declaration item scored in one nightly run.

One list per port of discharge per date; rank 1 is inspected first.
"""

from __future__ import annotations

from contracts import threats
from contracts.declarations import DECLARATIONS
from contracts.outcomes import SELECTION_REASONS
from contracts.schema import Column, Contract

LANES = ("red", "yellow", "green")
LIST_SELECTION_REASONS = tuple(r for r in SELECTION_REASONS if r != "manual")

RANKED_LIST = Contract(
    name="ranked_list",
    version="1.0",
    grain="one declaration item scored in one nightly run",
    key=("list_date", "port_of_discharge", "rank"),
    columns=(
        Column("list_date", "date", True, "the filing date the list covers"),
        DECLARATIONS.column("port_of_discharge"),
        Column("rank", "integer", True, "1 = inspect first, within port and date", minimum=1),
        DECLARATIONS.column("declaration_id"),
        DECLARATIONS.column("item_no"),
        Column("risk_score", "decimal", True, "0-1, calibrated probability of a finding"),
        *(
            Column(t.score_column, "decimal", True, f"0-1, calibrated, {t.label}")
            for t in threats.THREATS
        ),
        Column("lane", "string", True, ", ".join(LANES), allowed=LANES),
        Column(
            "selection_reason",
            "string",
            False,
            "risk, rule, watchlist, random; empty for green",
            allowed=LIST_SELECTION_REASONS,
        ),
        Column("reasons", "string", False, "top factors in words; required for red and yellow"),
        Column("rule_hits", "list", False, "ids of the expert rules that fired"),
        Column("watchlist_hits", "list", False, "ids of the watch-list entries that matched"),
        Column("model_version", "string", True, ""),
        Column("run_id", "string", True, ""),
    ),
)
