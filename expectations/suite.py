"""Checks derived from a contract definition, as plain data that becomes a Great Expectations suite.

A `Suite` is the helper columns to add in Polars (list rules, reference keys, cross-field values)
plus one `Check` per (field, rule). Grain of its checks: one check per contract column and rule.
Nothing here imports Great Expectations; `expectations.runner` turns the checks into a suite.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from contracts.schema import Column, Contract

CheckKind = Literal["not_null", "regex", "in_set", "between", "lengths", "true", "pair_at_least"]
"""not_null, regex, in_set, between and lengths map onto the GE expectations of the same name;
`true` means the (helper) column must be True; `pair_at_least` means column >= kwargs["other"]."""

REFERENCE_NAMES = {
    "locode": "UN/LOCODE",
    "hs6": "HS 2022 subheading",
    "country": "ISO 3166-1 country code",
    "currency": "currency with a configured rate",
}


@dataclass(frozen=True)
class Check:
    """One rule one field must follow, checked on `column` (the field itself or a helper)."""

    field: str
    rule: str
    reason: str
    kind: CheckKind
    column: str
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Suite:
    """The helper columns a suite needs and its checks, in a stable order."""

    name: str
    helpers: tuple[pl.Expr, ...]
    checks: tuple[Check, ...]

    def extended(self, helpers: tuple[pl.Expr, ...], checks: tuple[Check, ...]) -> Suite:
        """A copy with more helper columns and checks (cross-field rules of one contract)."""
        return Suite(self.name, self.helpers + helpers, self.checks + checks)


def helper_name(field_name: str, rule: str) -> str:
    """Name of the helper column holding one rule's input for one field."""
    return f"_{field_name}__{rule}"


def reference_key(column: Column, value: pl.Expr) -> pl.Expr:
    """The part of a value looked up in its reference set (HS codes: the first six digits)."""
    return value.str.slice(0, 6) if column.reference == "hs6" else value


def _matches(column: Column, value: pl.Expr) -> pl.Expr:
    return value.str.contains(column.pattern) if column.pattern else value.is_not_null()


def _scalar_checks(column: Column, known: Callable[[Column], pl.Expr]) -> list[Check | pl.Expr]:
    name = column.name
    out: list[Check | pl.Expr] = []
    if column.pattern:
        out.append(
            Check(
                name,
                "pattern",
                f"does not match {column.pattern}",
                "regex",
                name,
                {"regex": column.pattern},
            )
        )
    if column.allowed:
        out.append(
            Check(
                name,
                "allowed",
                "not one of " + ", ".join(column.allowed),
                "in_set",
                name,
                {"value_set": list(column.allowed)},
            )
        )
    if column.minimum is not None:
        bound = f"> {column.minimum:g}" if column.minimum_exclusive else f">= {column.minimum:g}"
        out.append(
            Check(
                name,
                "minimum",
                f"must be {bound}",
                "between",
                name,
                {"min_value": column.minimum, "strict_min": column.minimum_exclusive},
            )
        )
    if column.maximum is not None:
        out.append(
            Check(
                name,
                "maximum",
                f"must be <= {column.maximum:g}",
                "between",
                name,
                {"max_value": column.maximum},
            )
        )
    # Blank values are read as null, so "at least 1 character" is already the required check.
    if column.max_length is not None or (column.min_length or 0) > 1:
        low, high = column.min_length, column.max_length
        words = f"{low or 0}-{high} characters" if high else f"at least {low} characters"
        out.append(
            Check(
                name,
                "length",
                f"must have {words}",
                "lengths",
                name,
                {"min_value": low, "max_value": high},
            )
        )
    if column.reference:
        helper = helper_name(name, "reference")
        value = pl.col(name)
        # Only well-formed values are looked up, so a malformed code gets one reason, not two.
        out.append(
            pl.when(_matches(column, value))
            .then(reference_key(column, value).is_in(known(column)))
            .otherwise(True)
            .alias(helper)
        )
        out.append(
            Check(
                name,
                f"reference:{column.reference}",
                f"unknown {REFERENCE_NAMES[column.reference]}",
                "true",
                helper,
            )
        )
    return out


def _list_checks(column: Column, known: Callable[[Column], pl.Expr]) -> list[Check | pl.Expr]:
    name = column.name
    out: list[Check | pl.Expr] = []
    elements = pl.col(name)
    if column.required:
        helper = helper_name(name, "present")
        out.append((elements.list.len() > 0).fill_null(False).alias(helper))
        out.append(Check(name, "required", "required value missing", "true", helper))
    if column.pattern:
        helper = helper_name(name, "pattern")
        ok = elements.list.eval(pl.element().str.contains(column.pattern)).list.all()
        out.append(ok.fill_null(True).alias(helper))
        out.append(
            Check(name, "pattern", f"an element does not match {column.pattern}", "true", helper)
        )
    if column.reference:
        helper = helper_name(name, "reference")
        well_formed = _matches(column, pl.element())
        looked_up = reference_key(column, pl.element()).is_in(known(column))
        ok = elements.list.eval(looked_up | ~well_formed).list.all()
        out.append(ok.fill_null(True).alias(helper))
        what = REFERENCE_NAMES[column.reference]
        out.append(
            Check(
                name,
                f"reference:{column.reference}",
                f"an element is an unknown {what}",
                "true",
                helper,
            )
        )
    return out


def _reference_literals(refs: Mapping[str, Collection[str]]) -> Callable[[Column], pl.Expr]:
    """A lookup of each reference set as one list literal for `is_in`, each built once."""
    built: dict[str, pl.Expr] = {}

    def known(column: Column) -> pl.Expr:
        name = column.reference
        if name is None or name not in refs:
            raise KeyError(f"reference set {name!r} is needed by {column.name} but was not given")
        if name not in built:
            # Sorting ~115 k LOCODEs costs ~30 ms; three columns share that set.
            built[name] = pl.lit(pl.Series(sorted(refs[name]), dtype=pl.String()).implode())
        return built[name]

    return known


def contract_suite(contract: Contract, refs: Mapping[str, Collection[str]]) -> Suite:
    """The checks every column's declared rules imply: required, pattern, allowed, range, length
    and reference membership (`refs` maps the contract's reference names to their sets)."""
    known = _reference_literals(refs)
    helpers: list[pl.Expr] = []
    checks: list[Check] = []
    for column in contract.columns:
        if column.required and column.kind != "list":
            checks.append(
                Check(column.name, "required", "required value missing", "not_null", column.name)
            )
        parts = (
            _list_checks(column, known) if column.kind == "list" else _scalar_checks(column, known)
        )
        for part in parts:
            if isinstance(part, Check):
                checks.append(part)
            else:
                helpers.append(part)
    return Suite(contract.name, tuple(helpers), tuple(checks))
