"""Render contracts to Markdown: `docs/contracts.md` is this module's output, checked by a test.

Grain of a rendered table: one row per contract column. Regenerate the page with
`.venv/bin/python -m contracts.docs > docs/contracts.md`.
"""

from __future__ import annotations

from contracts.declarations import DECLARATIONS
from contracts.outcomes import OUTCOMES
from contracts.ranked_list import RANKED_LIST
from contracts.schema import Column, Contract

CONTRACTS: tuple[Contract, ...] = (DECLARATIONS, OUTCOMES, RANKED_LIST)
KIND_WORDS = {
    "string": "string",
    "integer": "integer",
    "decimal": "decimal",
    "timestamp": "timestamp (ISO 8601 with offset or Z, stored in UTC)",
    "date": "date (YYYY-MM-DD)",
    "list": "list of strings",
    "boolean": "boolean",
}
REFERENCE_WORDS = {
    "locode": "a known UN/LOCODE",
    "hs6": "first six digits are an HS 2022 subheading",
    "country": "an ISO 3166-1 alpha-2 code",
    "currency": "a currency the configured rate table converts",
}
EXTRA_CHECKS = {
    "declarations": (
        "`container_ids`: every element has a valid ISO 6346 check digit.",
        "`expected_arrival`: not before the `filed_at` date minus 1 day.",
        "`filed_at`: not later than the run's moment plus the future tolerance (1 day by default).",
        "Amendments: the latest `filed_at` per key wins; on a tie, the later row.",
    ),
    "outcomes": (
        "`finding_category`: required when `result` is `finding`.",
        "Checked against staging, not per file: the declaration exists, and `inspected_at` is "
        "not before its `filed_at`.",
    ),
}


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def _checks(column: Column, list_separator: str) -> str:
    """The machine-checked rules of one column, in words."""
    parts: list[str] = []
    each = "each element " if column.kind == "list" else ""
    if column.pattern:
        parts.append(f"{each}matches `{column.pattern}`")
    if column.allowed:
        parts.append("one of " + ", ".join(f"`{value}`" for value in column.allowed))
    if column.minimum is not None:
        sign = ">" if column.minimum_exclusive else ">="
        parts.append(f"{sign} {column.minimum:g}")
    if column.maximum is not None:
        parts.append(f"<= {column.maximum:g}")
    if column.max_length is not None:
        parts.append(f"{column.min_length or 0}-{column.max_length} characters")
    elif column.min_length is not None and column.min_length > 1:
        parts.append(f"at least {column.min_length} characters")
    if column.reference:
        parts.append(f"{each}{REFERENCE_WORDS[column.reference]}")
    if column.kind == "list":
        parts.append(f"`{list_separator}`-separated in CSV")
    return _escape("; ".join(parts))


def render_contract(contract: Contract) -> str:
    """One contract as a Markdown section: grain, key, a column table and the extra rules."""
    lines = [
        f"## {contract.name} (version {contract.version})",
        "",
        f"Grain: {contract.grain}. Key: {', '.join(f'`{k}`' for k in contract.key)}.",
        "",
        "| column | type | required | rule | checked as |",
        "|---|---|---|---|---|",
    ]
    for column in contract.columns:
        lines.append(
            f"| `{column.name}` | {KIND_WORDS[column.kind]} | "
            f"{'yes' if column.required else 'no'} | {_escape(column.rule)} | "
            f"{_checks(column, contract.list_separator)} |"
        )
    extras = EXTRA_CHECKS.get(contract.name, ())
    if extras:
        lines += ["", "Rules across fields or rows:", ""]
        lines += [f"- {rule}" for rule in extras]
    if contract.notes:
        lines += ["", *contract.notes]
    return "\n".join(lines) + "\n"


def render_all(contracts: tuple[Contract, ...] = CONTRACTS) -> str:
    """The whole contracts page."""
    intro = (
        "# Data contracts\n\n"
        "Generated from the contract definitions in `contracts/` by `contracts/docs.py`; do not "
        "edit by hand. The same definitions drive the reader (`contracts/reading.py`) and the "
        "Great Expectations suites (`expectations/`). A row that breaks a rule goes to quarantine "
        "with its file, line, field, value, rule and reason; a file that cannot be parsed at all "
        "is rejected whole with a one-line error.\n"
    )
    return "\n".join([intro, *(render_contract(c) for c in contracts)])


if __name__ == "__main__":
    print(render_all(), end="")
