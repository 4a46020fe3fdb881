"""Foreign layouts as data: a declared column mapping from a source file to the contracts.

A mapping (YAML under `contracts/mappings/`) says, per contract column, where the value comes from
(a source column, a constant or a template), how it is translated (code lookup, reference lookup,
date format) and what fills it when the source lacks it (a default, always marked as such).

Grain: `apply_mapping` keeps its input's grain, one output row per source row (one goods item of
one declaration); `mapping_outcomes` gives one inspection outcome per source row.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from contracts import reference
from contracts.declarations import DECLARATIONS
from contracts.outcomes import OUTCOMES
from contracts.schema import Contract

MAPPINGS_DIR = Path(__file__).parent / "mappings"
DEFAULTED = "_defaulted"
"""Output column: comma-separated contract fields of the row that were filled from defaults."""
TIMESTAMP_OUTPUT = "%Y-%m-%dT%H:%M:%SZ"
DATE_OUTPUT = "%Y-%m-%d"
EXTRA_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_LABEL_NOTE = r"(?:^|;){name}=(\d+)(?:;|$)"

ReferenceTable = Literal["hs6_description"]


class MappingError(ValueError):
    """A mapping that cannot be loaded or applied; the message names the file or column."""


def _refuse_numbers(value: Any, where: str) -> Any:
    # YAML reads 010 as the number 8 and 1.0 as a float: codes must arrive exactly as written.
    if isinstance(value, bool | int | float):
        raise ValueError(f"{where} {value!r} must be a quoted string in YAML (e.g. '{value}')")
    return value


def template_columns(template: str) -> list[str]:
    """Source column names a template refers to as `{Column Name}`."""
    return _PLACEHOLDER.findall(template)


class FieldSpec(BaseModel):
    """How one contract column is filled: one origin, at most one translation, a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str | None = None
    """Source column copied (stripped; empty means missing)."""
    constant: str | None = None
    """The same value on every row."""
    template: str | None = None
    """Text with `{Source Column}` placeholders; missing when any placeholder is missing."""
    null_values: tuple[str, ...] = ()
    """Source values that mean 'missing' (so the default applies)."""
    lookup: dict[str, str | None] | None = None
    """Code table: source value -> contract value (null allowed)."""
    reference: ReferenceTable | None = None
    """Shipped reference table to look the value up in."""
    date_format: str | None = None
    """strptime format of the source; output is the contract's ISO form."""
    timezone: str = "UTC"
    """Zone of source times without an offset; converted to UTC."""
    default: str | None = None
    """Value (or template) used when the result is missing or a lookup misses; marked defaulted."""
    defaulted: bool = False
    """The whole column is a placeholder the source lacks: every row is marked defaulted."""
    note: str = ""
    """Why: shown by `cargo-risk mapping show`."""

    @model_validator(mode="before")
    @classmethod
    def _quoted_values(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for key in ("source", "constant", "template", "default"):
            if key in data:
                _refuse_numbers(data[key], key)
        for value in data.get("null_values") or ():
            _refuse_numbers(value, "null_values entry")
        lookup = data.get("lookup")
        if isinstance(lookup, dict):
            for code, value in lookup.items():
                _refuse_numbers(code, "lookup key")
                _refuse_numbers(value, f"lookup value for {code!r}:")
        return data

    @model_validator(mode="after")
    def _one_origin(self) -> FieldSpec:
        origins = [k for k in ("source", "constant", "template") if getattr(self, k) is not None]
        if len(origins) != 1:
            raise ValueError("give exactly one of source, constant or template")
        translations = [
            k for k in ("lookup", "reference", "date_format") if getattr(self, k) is not None
        ]
        if len(translations) > 1:
            raise ValueError(f"give at most one of lookup, reference, date_format ({translations})")
        if self.constant is not None and translations:
            raise ValueError("a constant needs no lookup, reference or date_format")
        if self.lookup is not None and not self.lookup:
            raise ValueError("lookup is empty")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone {self.timezone!r} is not a known IANA zone") from None
        return self

    @property
    def columns_used(self) -> list[str]:
        """Source columns this field reads."""
        used = [self.source] if self.source is not None else []
        if self.template is not None:
            used += template_columns(self.template)
        if self.default is not None:
            used += template_columns(self.default)
        return used

    def describe(self) -> str:
        """One line saying where the value comes from, for people."""
        if self.constant is not None:
            origin = f"constant {self.constant!r}"
        elif self.template is not None:
            origin = f"template {self.template!r}"
        else:
            origin = f"column {self.source!r}"
        if self.lookup is not None:
            origin += f" via lookup ({len(self.lookup)} codes)"
        if self.reference is not None:
            origin += f" via reference {self.reference}"
        if self.date_format is not None:
            origin += f" parsed as {self.date_format} ({self.timezone})"
        if self.null_values:
            origin += f"; {', '.join(map(repr, self.null_values))} mean missing"
        if self.default is not None:
            origin += f"; default {self.default!r}"
        return origin


class ColumnMapping(BaseModel):
    """A foreign layout's mapping onto the declarations (and optionally outcomes) contract."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    origin: str = ""
    """Where the source data comes from, and its licence."""
    declarations: dict[str, FieldSpec]
    extras: dict[str, str] = {}
    """Extra output column -> source column, copied as is (kept, ignored by the contract)."""
    outcomes: dict[str, FieldSpec] | None = None

    @field_validator("declarations")
    @classmethod
    def _declarations_fit(cls, specs: dict[str, FieldSpec]) -> dict[str, FieldSpec]:
        _check_against(specs, DECLARATIONS)
        return specs

    @field_validator("outcomes")
    @classmethod
    def _outcomes_fit(cls, specs: dict[str, FieldSpec] | None) -> dict[str, FieldSpec] | None:
        if specs is not None:
            _check_against(specs, OUTCOMES)
        return specs

    @field_validator("extras")
    @classmethod
    def _extras_named(cls, extras: dict[str, str]) -> dict[str, str]:
        for name in extras:
            if not re.match(EXTRA_NAME_PATTERN, name):
                raise ValueError(f"extra column {name!r} must be lower_snake_case")
            if name in DECLARATIONS.names:
                raise ValueError(f"extra column {name!r} is a contract column; map it instead")
        return extras

    @property
    def source_columns(self) -> list[str]:
        """Every source column the mapping reads, in first-use order."""
        specs = list(self.declarations.values()) + list((self.outcomes or {}).values())
        used = [c for spec in specs for c in spec.columns_used] + list(self.extras.values())
        return list(dict.fromkeys(used))

    @property
    def defaulted_columns(self) -> list[str]:
        """Contract columns that are placeholders on every row."""
        return [name for name, spec in self.declarations.items() if spec.defaulted]


def _check_against(specs: dict[str, FieldSpec], contract: Contract) -> None:
    unknown = [name for name in specs if name not in contract.names]
    if unknown:
        raise ValueError(
            f"{', '.join(map(repr, unknown))} not in the {contract.name} contract "
            f"(columns: {', '.join(contract.names)})"
        )
    missing = [name for name in contract.required if name not in specs]
    if missing:
        raise ValueError(
            f"required {contract.name} column(s) not mapped: {', '.join(missing)} "
            "(give a source, a constant or a marked default)"
        )
    for name, spec in specs.items():
        kind = contract.column(name).kind
        if spec.date_format is not None and kind not in ("timestamp", "date"):
            raise ValueError(f"{name}: date_format given but the column is a {kind}")


def mapping_path(name_or_path: str | Path) -> Path:
    """The YAML file of a shipped mapping name (e.g. "kcs"), or the path given."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        return candidate
    return MAPPINGS_DIR / f"{name_or_path}.yaml"


def shipped_mappings() -> list[str]:
    """Names of the mappings shipped with the project."""
    return sorted(p.stem for p in MAPPINGS_DIR.glob("*.yaml"))


def load_mapping(name_or_path: str | Path) -> ColumnMapping:
    """Load and validate a mapping: "kcs" is the shipped `contracts/mappings/kcs.yaml`."""
    path = mapping_path(name_or_path)
    if not path.is_file():
        known = ", ".join(shipped_mappings()) or "none"
        raise MappingError(f"{path}: no such mapping file (shipped mappings: {known})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(error, "problem", None) or error
        raise MappingError(f"{where}: not valid YAML ({problem})") from None
    if not isinstance(data, dict):
        raise MappingError(f"{path}: a mapping file must be a YAML mapping of keys to values")
    try:
        return ColumnMapping.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in error.errors()
        )
        raise MappingError(f"{path}: {problems}") from None


def _clean(name: str) -> pl.Expr:
    text = pl.col(name).cast(pl.String).str.strip_chars()
    return pl.when(text == "").then(None).otherwise(text)


def _template(text: str) -> pl.Expr:
    parts: list[pl.Expr] = []
    position = 0
    for match in _PLACEHOLDER.finditer(text):
        if match.start() > position:
            parts.append(pl.lit(text[position : match.start()], pl.String))
        parts.append(_clean(match.group(1)))
        position = match.end()
    if position < len(text):
        parts.append(pl.lit(text[position:], pl.String))
    if not parts:
        return pl.lit(text, pl.String)
    # A missing placeholder makes the whole text missing, so the default can take over.
    return pl.concat_str(parts, ignore_nulls=False)


def _reference_table(name: ReferenceTable) -> dict[str, str]:
    if name == "hs6_description":
        table = reference.hs6()
        return dict(zip(table["hs6"].to_list(), table["description"].to_list(), strict=True))
    raise AssertionError(name)


def _translate(spec: FieldSpec, base: pl.Expr, kind: str) -> pl.Expr:
    table: dict[str, str | None] | None = spec.lookup
    if spec.reference is not None:
        table = dict(_reference_table(spec.reference))
    if table is not None:
        mapped = base.replace_strict(
            list(table), list(table.values()), default=None, return_dtype=pl.String
        )
        # A code the table lacks goes to the default, or stays as is for validation to name.
        unmatched = pl.lit(None, pl.String) if spec.default is not None else base
        return pl.when(base.is_in(list(table))).then(mapped).otherwise(unmatched)
    if spec.date_format is not None:
        parsed = base.str.strptime(pl.Datetime("us"), spec.date_format, strict=False)
        if kind == "timestamp":
            utc = parsed.dt.replace_time_zone(
                spec.timezone, ambiguous="earliest", non_existent="null"
            ).dt.convert_time_zone("UTC")
            text = utc.dt.strftime(TIMESTAMP_OUTPUT)
        else:
            text = parsed.dt.strftime(DATE_OUTPUT)
        # An unparseable value is kept, so validation reports it with its file and line.
        return pl.when(text.is_null()).then(base).otherwise(text)
    return base


def _field(spec: FieldSpec, kind: str) -> tuple[pl.Expr, pl.Expr]:
    """The value expression of one field and whether the row's value is a default."""
    if spec.constant is not None:
        base = pl.lit(spec.constant, pl.String)
    elif spec.template is not None:
        base = _template(spec.template)
    else:
        assert spec.source is not None
        base = _clean(spec.source)
    if spec.null_values:
        base = pl.when(base.is_in(list(spec.null_values))).then(None).otherwise(base)
    value = _translate(spec, base, kind)
    used_default: pl.Expr = pl.lit(False)
    if spec.default is not None:
        used_default = value.is_null()
        value = pl.coalesce(value, _template(spec.default))
    if spec.defaulted:
        used_default = pl.lit(True)
    return value, used_default


def _require_source(raw: pl.DataFrame, mapping: ColumnMapping, columns: list[str]) -> None:
    missing = [c for c in columns if c not in raw.columns]
    if missing:
        files = raw["_source_file"].unique().to_list() if "_source_file" in raw.columns else []
        where = f"{files[0]}: " if len(files) == 1 else ""
        raise MappingError(
            f"{where}mapping {mapping.name!r} needs source column(s) "
            f"{', '.join(map(repr, missing))}, which the input lacks "
            f"(it has {', '.join(map(repr, raw.columns))})"
        )


def _apply(raw: pl.DataFrame, specs: dict[str, FieldSpec], contract: Contract) -> pl.DataFrame:
    values: list[pl.Expr] = []
    flags: list[pl.Expr] = []
    for column in contract.columns:
        spec = specs.get(column.name)
        if spec is None:
            continue
        value, used_default = _field(spec, column.kind)
        values.append(value.cast(pl.String).alias(column.name))
        flags.append(pl.when(used_default).then(pl.lit(column.name)))
    defaulted = (
        pl.concat_str(flags, separator=",", ignore_nulls=True) if flags else pl.lit("")
    ).alias(DEFAULTED)
    names = [c.name for c in contract.columns if c.name in specs]
    bookkeeping = [c for c in raw.columns if c.startswith("_") and c != DEFAULTED]
    # with_columns, not select: constants must repeat on every row, even with no source column.
    return raw.with_columns(*values, defaulted).select(*names, *bookkeeping, DEFAULTED)


def apply_mapping(raw: pl.DataFrame, mapping: ColumnMapping) -> pl.DataFrame:
    """Turn an all-String foreign frame into all-String declarations-contract columns.

    Returns the mapped contract columns in contract order, the mapping's extra columns, the
    input's `_` bookkeeping columns unchanged and `_defaulted` (fields filled from defaults,
    comma-separated, "" when none). Raises `MappingError` when a source column is missing.
    """
    columns = [c for spec in mapping.declarations.values() for c in spec.columns_used]
    _require_source(raw, mapping, [*dict.fromkeys(columns), *mapping.extras.values()])
    mapped = _apply(raw, mapping.declarations, DECLARATIONS)
    extras = raw.select(_clean(src).alias(name) for name, src in mapping.extras.items())
    contract_names = [n for n in DECLARATIONS.names if n in mapped.columns]
    tail = [c for c in mapped.columns if c.startswith("_")]
    return pl.concat([mapped.select(contract_names), extras, mapped.select(tail)], how="horizontal")


def mapping_outcomes(raw: pl.DataFrame, mapping: ColumnMapping) -> pl.DataFrame | None:
    """Outcome rows (all Strings, in the outcomes contract) from a labelled source, else None.

    Every outcomes column is present (null where the mapping gives nothing), then the input's
    `_` bookkeeping columns and `_defaulted`, as for `apply_mapping`.
    """
    if mapping.outcomes is None:
        return None
    columns = [c for spec in mapping.outcomes.values() for c in spec.columns_used]
    _require_source(raw, mapping, list(dict.fromkeys(columns)))
    mapped = _apply(raw, mapping.outcomes, OUTCOMES)
    absent = [pl.lit(None, pl.String).alias(n) for n in OUTCOMES.names if n not in mapped.columns]
    mapped = mapped.with_columns(absent)
    tail = [c for c in mapped.columns if c.startswith("_")]
    return mapped.select(*OUTCOMES.names, *tail)


def kcs_labels(outcomes: pl.DataFrame) -> pl.DataFrame:
    """KCS `Fraud` and `Critical Fraud` per declaration, read back from outcome notes.

    Grain: one row per declaration_id whose outcomes carry a KCS label note
    (`fraud=F;critical_fraud=C`); other outcomes are ignored. Columns: declaration_id (String),
    fraud and critical_fraud (Int64). Conflicting labels for one declaration raise ValueError.
    """
    notes = pl.col("notes").cast(pl.String)
    labels = (
        outcomes.select(
            pl.col("declaration_id").cast(pl.String),
            notes.str.extract(_LABEL_NOTE.format(name="fraud"), 1).cast(pl.Int64).alias("fraud"),
            notes.str.extract(_LABEL_NOTE.format(name="critical_fraud"), 1)
            .cast(pl.Int64)
            .alias("critical_fraud"),
        )
        .drop_nulls()
        .unique(maintain_order=True)
    )
    conflicting = labels.filter(pl.col("declaration_id").is_duplicated())
    if conflicting.height:
        ids = ", ".join(conflicting["declaration_id"].unique(maintain_order=True).head(5))
        raise ValueError(f"conflicting KCS labels for declaration(s) {ids}")
    return labels
