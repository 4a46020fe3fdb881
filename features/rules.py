"""Expert rules: versioned YAML risk profiles, compiled to Polars expressions and evaluated nightly.

A rule names a threat, a weight, an owner and a validity window, and a condition tree over the
columns of the frame it runs on (declaration fields joined with feature columns, plus the derived
fields in `DERIVED_FIELDS`). Grain of the hits table: one row per (declaration item, rule) that
fired. Pure: rules come from YAML text passed in (pipelines/rules.py reads the files); nothing
here reads files or the environment.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, TypeAlias, get_args

import polars as pl
import yaml

from contracts import threats

Force = Literal["red", "none"]
Operator = Literal[
    "==",
    "!=",
    "in",
    "not_in",
    ">",
    ">=",
    "<",
    "<=",
    "startswith",
    "contains_any",
    "is_null",
]
OPERATORS: tuple[str, ...] = get_args(Operator)
_ORDER_OPS = frozenset({">", ">=", "<", "<="})
_TEXT_OPS = frozenset({"startswith", "contains_any"})
_SET_OPS = frozenset({"in", "not_in"})

HITS_SCHEMA: dict[str, pl.DataType] = {
    "declaration_id": pl.String(),
    "item_no": pl.Int64(),
    "rule_id": pl.String(),
    "threat": pl.String(),
    "weight": pl.Float64(),
    "force_red": pl.Boolean(),
    "title": pl.String(),
}
"""Hits table: one row per (declaration item, rule) that fired; `rule_id` is `ID@version`."""

KEY_COLUMNS = ("declaration_id", "item_no")

_ID_PATTERN = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")
_RULE_KEYS = frozenset(
    {
        "id",
        "version",
        "title",
        "description",
        "source",
        "threat",
        "weight",
        "owner",
        "valid_from",
        "valid_to",
        "force",
        "conditions",
    }
)
_REQUIRED_KEYS = _RULE_KEYS - {"source", "valid_to"}


class RuleError(ValueError):
    """A rule file that cannot be used; the message names the file, line, rule and field."""


@dataclass(frozen=True)
class Derived:
    """A field rules may use although no table carries it: computed from other columns."""

    name: str
    needs: tuple[str, ...]
    expr: pl.Expr
    dtype: pl.DataType
    meaning: str


DERIVED_FIELDS: tuple[Derived, ...] = (
    Derived(
        "hs_chapter",
        ("hs_code",),
        pl.col("hs_code").str.slice(0, 2),
        pl.String(),
        "first two digits of hs_code",
    ),
    Derived(
        "hs_heading",
        ("hs_code",),
        pl.col("hs_code").str.slice(0, 4),
        pl.String(),
        "first four digits of hs_code",
    ),
    Derived(
        "mass_per_package_kg",
        ("gross_mass_kg", "packages"),
        pl.col("gross_mass_kg") / pl.col("packages"),
        pl.Float64(),
        "gross mass divided by the number of packages",
    ),
    Derived(
        "transshipment_count",
        ("transshipment_ports",),
        pl.col("transshipment_ports").list.len().fill_null(0).cast(pl.Int64),
        pl.Int64(),
        "number of transshipment ports (0 when none)",
    ),
    Derived(
        "transshipment_countries",
        ("transshipment_ports",),
        pl.col("transshipment_ports").list.eval(pl.element().str.slice(0, 2)),
        pl.List(pl.String()),
        "country part (first two letters) of each transshipment UN/LOCODE",
    ),
    Derived(
        "origin_differs_from_dispatch",
        ("country_of_origin", "country_of_dispatch"),
        pl.col("country_of_origin") != pl.col("country_of_dispatch"),
        pl.Boolean(),
        "country of origin is not the country of dispatch",
    ),
)
DERIVED_BY_NAME: dict[str, Derived] = {d.name: d for d in DERIVED_FIELDS}


@dataclass(frozen=True)
class Condition:
    """A leaf test `field op value`; `line` is where it sits in its file."""

    field: str
    op: Operator
    value: Any
    line: int


@dataclass(frozen=True)
class AllOf:
    """True when every part is true."""

    parts: tuple[Node, ...]
    line: int


@dataclass(frozen=True)
class AnyOf:
    """True when at least one part is true."""

    parts: tuple[Node, ...]
    line: int


@dataclass(frozen=True)
class Not:
    """True when its part is false (a null field counts as false inside it too)."""

    part: Node
    line: int


Node: TypeAlias = Condition | AllOf | AnyOf | Not


@dataclass(frozen=True)
class Rule:
    """One version of one expert risk profile."""

    id: str
    version: int
    title: str
    description: str
    source: str
    threat: str
    """A threat category name (contracts/threats.py)."""
    weight: float
    owner: str
    valid_from: date
    valid_to: date | None
    force: Force
    conditions: Node
    file: str
    line: int

    @property
    def rule_id(self) -> str:
        """The id stored with every hit: `ID@version`."""
        return f"{self.id}@{self.version}"

    def is_valid_on(self, day: date) -> bool:
        """Whether the rule applies to the list of `day` (both window ends included)."""
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    def fields(self) -> list[str]:
        """Every field the conditions read, in order of appearance."""
        return _fields(self.conditions)


# --- loading -----------------------------------------------------------------------------------


class _LineDict(dict[str, Any]):
    """A YAML mapping that remembers its 1-based line, so errors can point at it."""

    line: int = 0


class _Loader(yaml.SafeLoader):
    """Safe YAML loader whose mappings carry their line number."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _LineDict:
    mapping = _LineDict({str(k): v for k, v in loader.construct_mapping(node, deep=True).items()})
    mapping.line = node.start_mark.line + 1
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def rules_from_texts(
    texts: Iterable[tuple[str, str]], schema: Mapping[str, pl.DataType] | None = None
) -> list[Rule]:
    """Validated rules from (file name, YAML text) pairs, sorted by id and version.

    Raises RuleError naming file, line and field for bad YAML, unknown keys, bad values, a repeated
    `ID@version` or two versions of one id whose validity windows overlap; with `schema`, also for
    a field the frame will not have (`check_rules`). The texts are read as they are iterated, so a
    reader (pipelines/rules.py) stops at the first bad file.
    """
    rules: list[Rule] = []
    for file, text in texts:
        rules.extend(parse_rules(text, file))
    _check_unique(rules)
    if schema is not None:
        check_rules(rules, schema)
    return sorted(rules, key=lambda r: (r.id, r.version))


def parse_rules(text: str, file: str = "<text>") -> list[Rule]:
    """Parse one YAML document holding one rule (a mapping) or several (a list of mappings)."""
    try:
        document = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{file}:{mark.line + 1}" if mark is not None else file
        raise RuleError(f"{where}: not valid YAML: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise RuleError(f"{file}: not valid YAML: {exc}") from exc
    if isinstance(document, dict):
        items: list[Any] = [document]
    elif isinstance(document, list):
        items = document
    else:
        raise RuleError(f"{file}: a rule file holds a rule mapping or a list of them")
    rules = [_parse_rule(item, file) for item in items]
    _check_unique(rules)
    return rules


def _parse_rule(raw: Any, file: str) -> Rule:
    if not isinstance(raw, _LineDict):
        raise RuleError(f"{file}: every rule must be a mapping of field: value")
    where = f"{file}:{raw.line}"
    unknown = sorted(set(raw) - _RULE_KEYS)
    if unknown:
        raise RuleError(f"{where}: unknown rule field(s) {unknown}; known: {sorted(_RULE_KEYS)}")
    missing = sorted(_REQUIRED_KEYS - set(raw))
    if missing:
        raise RuleError(f"{where}: rule is missing field(s) {missing}")
    rule_id = raw["id"]
    if not isinstance(rule_id, str) or not _ID_PATTERN.match(rule_id):
        raise RuleError(f"{where}: field 'id' must look like SALW-003 (got {rule_id!r})")
    where = f"{where}: rule {rule_id}"
    version = raw["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise RuleError(f"{where}: field 'version' must be an integer >= 1 (got {version!r})")
    texts = {k: raw.get(k, "") for k in ("title", "description", "source", "owner")}
    for key, value in texts.items():
        if not isinstance(value, str) or (key != "source" and not value.strip()):
            raise RuleError(f"{where}: field {key!r} must be a non-empty string")
    threat = raw["threat"]
    if threat not in threats.NAMES:
        raise RuleError(
            f"{where}: field 'threat' must be {threats.spoken_list(threats.NAMES)} (got {threat!r})"
        )
    weight = raw["weight"]
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight <= 1:
        raise RuleError(f"{where}: field 'weight' must be a number from 0 to 1 (got {weight!r})")
    force = raw["force"]
    if force not in ("red", "none"):
        raise RuleError(f"{where}: field 'force' must be red or none (got {force!r})")
    valid_from = raw["valid_from"]
    valid_to = raw.get("valid_to")
    if not isinstance(valid_from, date):
        raise RuleError(f"{where}: field 'valid_from' must be a date YYYY-MM-DD")
    if valid_to is not None and (not isinstance(valid_to, date) or valid_to < valid_from):
        raise RuleError(f"{where}: field 'valid_to' must be a date on or after valid_from, or null")
    conditions = _parse_node(raw["conditions"], _Where(file, raw.line, rule_id), "conditions")
    return Rule(
        id=rule_id,
        version=version,
        title=texts["title"].strip(),
        description=" ".join(texts["description"].split()),
        source=" ".join(texts["source"].split()),
        threat=threat,
        weight=float(weight),
        owner=texts["owner"].strip(),
        valid_from=valid_from,
        valid_to=valid_to,
        force=force,
        conditions=conditions,
        file=file,
        line=raw.line,
    )


def _parse_node(raw: Any, where: _Where, path: str) -> Node:
    if not isinstance(raw, _LineDict):
        raise RuleError(
            where.at(where.line, path, "a condition is a mapping: field/op/value, all, any or not")
        )
    here = where.at_line(raw.line)
    combinators = [k for k in ("all", "any", "not") if k in raw]
    if combinators:
        key = combinators[0]
        if len(raw) != 1:
            raise RuleError(
                here.msg(path, f"'{key}' must stand alone in its mapping (got {sorted(raw)})")
            )
        if key == "not":
            return Not(_parse_node(raw["not"], here, f"{path}.not"), here.line)
        parts = raw[key]
        if not isinstance(parts, list) or not parts:
            raise RuleError(here.msg(path, f"'{key}' needs a non-empty list of conditions"))
        nodes = tuple(_parse_node(p, here, f"{path}.{key}[{i}]") for i, p in enumerate(parts))
        return AllOf(nodes, here.line) if key == "all" else AnyOf(nodes, here.line)
    unknown = sorted(set(raw) - {"field", "op", "value"})
    if unknown:
        raise RuleError(here.msg(path, f"unknown condition key(s) {unknown}; use field, op, value"))
    field_name = raw.get("field")
    op = raw.get("op")
    if not isinstance(field_name, str) or not field_name:
        raise RuleError(here.msg(path, "condition needs a 'field'"))
    at = f"{path}: field {field_name!r}"
    if op not in OPERATORS:
        raise RuleError(here.msg(at, f"unknown op {op!r}; known: {', '.join(OPERATORS)}"))
    if op == "is_null":
        value = raw.get("value", True)
        if not isinstance(value, bool):
            raise RuleError(here.msg(at, "is_null takes true or false"))
        return Condition(field_name, op, value, here.line)
    if "value" not in raw:
        raise RuleError(here.msg(at, f"op {op!r} needs a 'value'"))
    value = raw["value"]
    if op in _SET_OPS or op == "contains_any":
        if not isinstance(value, list) or not value:
            raise RuleError(here.msg(at, f"op {op!r} needs a non-empty list"))
        value = tuple(value)
    if op == "startswith":
        value = tuple(value) if isinstance(value, list) else (value,)
    if op in _TEXT_OPS and not all(isinstance(v, str) and v for v in value):
        raise RuleError(here.msg(at, f"op {op!r} takes non-empty strings"))
    if op in _ORDER_OPS and (isinstance(value, bool) or not isinstance(value, int | float | date)):
        raise RuleError(here.msg(at, f"op {op!r} takes a number or a date"))
    return Condition(field_name, op, value, here.line)


@dataclass(frozen=True)
class _Where:
    """Where a condition sits: file, line and rule, for error messages."""

    file: str
    line: int
    rule_id: str

    def at_line(self, line: int) -> _Where:
        return _Where(self.file, line or self.line, self.rule_id)

    def msg(self, path: str, problem: str) -> str:
        return f"{self.file}:{self.line}: rule {self.rule_id}: {path}: {problem}"

    def at(self, line: int, path: str, problem: str) -> str:
        return self.at_line(line).msg(path, problem)


def _check_unique(rules: Sequence[Rule]) -> None:
    seen: dict[str, Rule] = {}
    for rule in rules:
        if rule.rule_id in seen:
            first = seen[rule.rule_id]
            raise RuleError(
                f"{rule.file}:{rule.line}: rule {rule.rule_id} is already defined at "
                f"{first.file}:{first.line}"
            )
        seen[rule.rule_id] = rule
    by_id: dict[str, list[Rule]] = {}
    for rule in rules:
        by_id.setdefault(rule.id, []).append(rule)
    for versions in by_id.values():
        ordered = sorted(versions, key=lambda r: r.valid_from)
        for earlier, later in itertools.pairwise(ordered):
            if earlier.valid_to is None or earlier.valid_to >= later.valid_from:
                raise RuleError(
                    f"{later.file}:{later.line}: rule {later.rule_id} is valid from "
                    f"{later.valid_from} while {earlier.rule_id} ({earlier.file}:{earlier.line}) "
                    f"is still valid then: end the older version with valid_to"
                )


def _fields(node: Node) -> list[str]:
    if isinstance(node, Condition):
        return [node.field]
    if isinstance(node, Not):
        return _fields(node.part)
    return [f for part in node.parts for f in _fields(part)]


# --- checking against a frame and compiling -----------------------------------------------------


def available_schema(schema: Mapping[str, pl.DataType]) -> dict[str, pl.DataType]:
    """The frame's columns plus every derived field whose inputs the frame has."""
    fields = dict(schema)
    for derived in DERIVED_FIELDS:
        if derived.name not in fields and all(n in fields for n in derived.needs):
            fields[derived.name] = derived.dtype
    return fields


def check_rules(rules: Iterable[Rule], schema: Mapping[str, pl.DataType]) -> None:
    """Raise RuleError when a rule reads a missing field or compares it with a wrong-typed value."""
    fields = available_schema(schema)
    for rule in rules:
        _check_node(rule, rule.conditions, fields)


def _check_node(rule: Rule, node: Node, fields: Mapping[str, pl.DataType]) -> None:
    if isinstance(node, Not):
        _check_node(rule, node.part, fields)
        return
    if isinstance(node, AllOf | AnyOf):
        for part in node.parts:
            _check_node(rule, part, fields)
        return
    where = f"{rule.file}:{node.line}: rule {rule.rule_id}: field {node.field!r}"
    if node.field not in fields:
        close = difflib.get_close_matches(node.field, list(fields), n=3)
        hint = f"did you mean {', '.join(map(repr, close))}?" if close else "no similar name"
        raise RuleError(f"{where} is not a column of the frame ({hint}; {len(fields)} known)")
    dtype = fields[node.field]
    base = dtype.inner if isinstance(dtype, pl.List) else dtype
    if node.op in _TEXT_OPS and base != pl.String:
        raise RuleError(f"{where}: op {node.op!r} needs a text field, the column is {dtype}")
    if node.op == "is_null":
        return
    values = node.value if isinstance(node.value, tuple) else (node.value,)
    for value in values:
        if not _value_fits(value, base):
            raise RuleError(f"{where}: value {value!r} does not fit the column type {dtype}")


def _value_fits(value: Any, dtype: Any) -> bool:
    if dtype == pl.String:
        return isinstance(value, str)
    if dtype == pl.Boolean:
        return isinstance(value, bool)
    if dtype.is_numeric():
        return isinstance(value, int | float) and not isinstance(value, bool)
    if dtype == pl.Date:
        return isinstance(value, date)
    return True


def compile_node(node: Node, schema: Mapping[str, pl.DataType]) -> pl.Expr:
    """A Boolean expression for a condition tree; a null field never satisfies a leaf."""
    if isinstance(node, AllOf):
        return pl.all_horizontal([compile_node(p, schema) for p in node.parts])
    if isinstance(node, AnyOf):
        return pl.any_horizontal([compile_node(p, schema) for p in node.parts])
    if isinstance(node, Not):
        return ~compile_node(node.part, schema)
    column = pl.col(node.field)
    if isinstance(schema.get(node.field), pl.List):
        if node.op == "is_null":
            empty = column.is_null() | (column.list.len() == 0)
            return empty if node.value else ~empty
        if node.op == "not_in":
            hit_any = column.list.eval(_leaf(pl.element(), "in", node.value)).list.any()
            return (~hit_any).fill_null(True)
        return (
            column.list.eval(_leaf(pl.element(), node.op, node.value)).list.any().fill_null(False)
        )
    if node.op == "is_null":
        return column.is_null() if node.value else column.is_not_null()
    return _leaf(column, node.op, node.value).fill_null(False)


def _leaf(column: pl.Expr, op: Operator, value: Any) -> pl.Expr:
    match op:
        case "==":
            return column.eq(value)
        case "!=":
            return column.ne(value)
        case ">":
            return column.gt(value)
        case ">=":
            return column.ge(value)
        case "<":
            return column.lt(value)
        case "<=":
            return column.le(value)
        case "in":
            return column.is_in(list(value))
        case "not_in":
            return ~column.is_in(list(value))
        case "startswith":
            return pl.any_horizontal([column.str.starts_with(prefix) for prefix in value])
        case "contains_any":
            words = "|".join(re.escape(word) for word in value)
            return column.str.contains(rf"(?i)\b(?:{words})\b")
        case _:
            raise RuleError(f"op {op!r} cannot be compiled")


# --- evaluation ----------------------------------------------------------------------------------


def rules_valid_on(rules: Iterable[Rule], day: date) -> list[Rule]:
    """The rules whose validity window contains `day`."""
    return [rule for rule in rules if rule.is_valid_on(day)]


def evaluate_rules(rules: Sequence[Rule], frame: pl.DataFrame, day: date) -> pl.DataFrame:
    """Hits of the rules valid on `day` over `frame` (needs declaration_id and item_no).

    Returns HITS_SCHEMA rows sorted by declaration_id, item_no, rule_id; empty when nothing fired.
    """
    missing = [k for k in KEY_COLUMNS if k not in frame.columns]
    if missing:
        raise RuleError(f"the frame to evaluate rules on lacks key column(s) {missing}")
    active = rules_valid_on(rules, day)
    if not active or frame.height == 0:
        return pl.DataFrame(schema=HITS_SCHEMA)
    return CompiledRules(active, frame.schema).hits(frame)


class CompiledRules:
    """Rules checked and compiled once against a frame schema, then evaluated on many frames of
    that schema (the assessment service compiles once per refresh, not once per call)."""

    def __init__(self, active: Sequence[Rule], schema: Mapping[str, pl.DataType]) -> None:
        check_rules(active, schema)
        fields = available_schema(schema)
        used = {f for rule in active for f in rule.fields()}
        self.schema = dict(schema)
        self._derived = [
            DERIVED_BY_NAME[name].expr.alias(name)
            for name in sorted(used)
            if name not in schema and name in DERIVED_BY_NAME
        ]
        self._flags = [
            compile_node(rule.conditions, fields).alias(f"_r{i}") for i, rule in enumerate(active)
        ]
        # No rule, no flag to fold (`hits` returns before using it).
        flag_names = [pl.col(f"_r{i}") for i in range(len(active))]
        self._any_fired = pl.any_horizontal(flag_names or [False])
        self._catalogue = pl.DataFrame(
            {
                "_index": list(range(len(active))),
                "rule_id": [r.rule_id for r in active],
                "threat": [r.threat for r in active],
                "weight": [r.weight for r in active],
                "force_red": [r.force == "red" for r in active],
                "title": [r.title for r in active],
            },
            schema={"_index": pl.Int64(), **{k: HITS_SCHEMA[k] for k in list(HITS_SCHEMA)[2:]}},
        )

    def hits(self, frame: pl.DataFrame) -> pl.DataFrame:
        """HITS_SCHEMA rows of `frame` (of the compiled schema), as `evaluate_rules` returns."""
        if dict(frame.schema) != self.schema:
            raise RuleError("the frame's schema is not the one these rules were compiled for")
        if not self._flags or frame.height == 0:
            return pl.DataFrame(schema=HITS_SCHEMA)
        # Few items fire any rule: only those are unpivoted, not (items x rules) rows.
        firing = (
            frame.lazy()
            .with_columns(self._derived)
            .select(pl.col("declaration_id"), pl.col("item_no").cast(pl.Int64), *self._flags)
            .filter(self._any_fired)
            .collect()
        )
        if firing.height == 0:
            # Most calls of the service, and most items of a night: nothing to join or sort.
            return pl.DataFrame(schema=HITS_SCHEMA)
        fired = (
            firing.unpivot(index=list(KEY_COLUMNS), variable_name="_rule", value_name="_fired")
            .filter(pl.col("_fired"))
            .select(*KEY_COLUMNS, pl.col("_rule").str.slice(2).cast(pl.Int64).alias("_index"))
        )
        return (
            fired.join(self._catalogue, on="_index", how="left")
            .select(list(HITS_SCHEMA))
            .cast(pl.Schema(HITS_SCHEMA))
            .sort("declaration_id", "item_no", "rule_id")
        )


def rule_input(declarations: pl.DataFrame, features: pl.DataFrame) -> pl.DataFrame:
    """Declaration fields joined with the feature columns of the same items: what rules read.

    One row per declaration item of `declarations`; a feature column named like a declaration
    column is dropped (the declaration's value is the one a rule author means).
    """
    missing = [k for k in KEY_COLUMNS if k not in declarations.columns or k not in features.columns]
    if missing:
        raise RuleError(f"declarations and features must both carry {list(KEY_COLUMNS)}")
    extra = [c for c in features.columns if c in KEY_COLUMNS or c not in declarations.columns]
    return declarations.join(
        features.select(extra), on=list(KEY_COLUMNS), how="left", maintain_order="left"
    )
