"""Reading contract files: CSV, JSON Lines or Parquet into frames, then casting to the contract.

Grain of the raw frame: one row per data row of the source file, every value a string, plus the
bookkeeping columns `_source_file`, `_line` (where the row starts in the file) and `_row_error`
(why the row could not be split into the header's fields, else null). A file that cannot be parsed
at all raises `MalformedFileError` and yields nothing: no half-loaded files.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from contracts import fast_csv
from contracts.schema import Column, Contract

if TYPE_CHECKING:
    from contracts.mapping import ColumnMapping

SOURCE_FILE = "_source_file"
LINE = "_line"
ROW_ERROR = "_row_error"
ROW_ID = "_row"
"""Optional caller's row id; when the raw frame has it, cast failures carry it too."""
BOOKKEEPING = (SOURCE_FILE, LINE, ROW_ERROR)
CSV_SUFFIXES = (".csv",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
PARQUET_SUFFIXES = (".parquet",)
MAX_FIELD_CHARS = 65_536
"""A longer cell rejects its row: no contract field comes near it, and every later stage holds
its rows whole in memory."""
_SURROGATE = re.compile("[\udc80-\udcff]")
TIMESTAMP_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z")
FAILURE_SCHEMA = pl.Schema(
    {
        SOURCE_FILE: pl.String(),
        LINE: pl.Int64(),
        "field": pl.String(),
        "value": pl.String(),
        "reason": pl.String(),
    }
)
"""Cast failures: one row per (row, field) whose value does not have the contract's type (plus
`_row` when the raw frame has one)."""


class MalformedFileError(ValueError):
    """A file that cannot be parsed at all; its message is one line naming the file."""

    def __init__(self, path: Path | str, problem: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {problem}")
        self.path = str(path)
        self.line = line
        self.problem = problem


def read_raw_batches(
    path: Path, list_separator: str = "|", *, fast: bool = True
) -> Iterator[pl.DataFrame]:
    """`read_raw(path)` in batches of whole records, in file order: concatenated, the same frame.

    A CSV file the fast path vouches for streams chunk by chunk, so a caller that writes each batch
    out never holds the whole file. Where the fast path steps aside before the first batch, the
    exact reader's frame comes as one batch; if it steps aside later, `fast_csv.UnvouchedError`
    is raised: discard the batches and read again with `fast=False`.
    """
    if path.suffix.lower() not in CSV_SUFFIXES:
        yield read_raw(path, list_separator)
        return
    if fast:
        stream = fast_csv.batches(path, lambda header: _usable_header(path, header))
        try:
            first = next(stream)
        except (fast_csv.UnvouchedError, OSError):
            pass
        else:
            yield first
            yield from stream
            return
    yield _read_csv_exact(path)


def read_raw(path: Path, list_separator: str = "|") -> pl.DataFrame:
    """Read one file (format by suffix) into the all-String raw frame described above."""
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return read_csv(path)
    if suffix in JSONL_SUFFIXES:
        return _read_jsonl(path, list_separator)
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(path, list_separator)
    supported = ", ".join(CSV_SUFFIXES + JSONL_SUFFIXES + PARQUET_SUFFIXES)
    raise MalformedFileError(path, f"unsupported file type {suffix or '(none)'}; use {supported}")


def _decode_utf8(path: Path) -> str:
    """The file's text, refused whole when it is not UTF-8 (Parquet-free formats without rows)."""
    data = _read_bytes(path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise MalformedFileError(
            path, f"not valid UTF-8 (byte 0x{data[error.start]:02x}); re-save it as UTF-8", line
        ) from None


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise MalformedFileError(path, f"cannot be read ({error.strerror})") from None


def _decode_lenient(path: Path) -> tuple[str, bool]:
    """The file's text with bytes that are not UTF-8 kept as lone surrogates; whether any were.

    A row with such a byte is quarantined by itself (`_cell_problem`): one latin-1 byte in one
    cell must not cost the other rows of the file.
    """
    data = _read_bytes(path)
    try:
        return data.decode("utf-8-sig"), False
    except UnicodeDecodeError:
        return data.decode("utf-8-sig", errors="surrogateescape"), True


def _cell_problem(record: Sequence[str], header: Sequence[str], bad_bytes: bool) -> str | None:
    """Why one record's cells cannot be kept as they are (a bad byte, a NUL, a huge cell)."""
    for name, value in zip(header, record, strict=False):
        if bad_bytes and (found := _SURROGATE.search(value)):
            byte = ord(found.group()) - 0xDC00
            return f"field {name!r} is not valid UTF-8 (byte 0x{byte:02x})"
        if "\x00" in value:
            return f"field {name!r} contains a NUL byte"
        if len(value) > MAX_FIELD_CHARS:
            return f"field {name!r} has {len(value)} characters (at most {MAX_FIELD_CHARS})"
    return None


def _text_safe(value: str) -> str:
    """A value storable as UTF-8: undecodable bytes become U+FFFD (raw keeps the row's text)."""
    return _SURROGATE.sub("\ufffd", value)


@contextmanager
def _field_limit(limit: int) -> Iterator[None]:
    """Let the csv module read fields up to `limit` characters (its default is 131,072).

    A long cell is a problem of its row (`_cell_problem`), not of its file. The limit is global
    to the csv module, so it is put back at once.
    """
    before = csv.field_size_limit()
    csv.field_size_limit(max(before, limit))
    try:
        yield
    finally:
        csv.field_size_limit(before)


def _frame(
    path: Path, header: Sequence[str], rows: list[list[str | None]], lines: list[int]
) -> pl.DataFrame:
    columns: dict[str, list[Any]] = {
        name: [row[i] for row in rows] for i, name in enumerate(header)
    }
    frame = pl.DataFrame(columns, schema=dict.fromkeys(header, pl.String()))
    return frame.with_columns(
        pl.lit(str(path), pl.String()).alias(SOURCE_FILE),
        pl.Series(LINE, lines, pl.Int64()),
    )


def _check_header(path: Path, header: Sequence[str]) -> None:
    if not header or all(not name.strip() for name in header):
        raise MalformedFileError(path, "empty file or empty header row", 1)
    seen: set[str] = set()
    for name in header:
        if not name.strip():
            raise MalformedFileError(path, "header has an empty column name", 1)
        if name in seen:
            raise MalformedFileError(path, f"header repeats the column {name!r}", 1)
        if name.startswith("_"):
            raise MalformedFileError(
                path, f"column {name!r}: names starting with _ are reserved", 1
            )
        seen.add(name)


def read_csv(path: Path, *, fast: bool = True) -> pl.DataFrame:
    """Read a CSV into the raw frame: Polars' reader where a byte scan vouches that it gives the
    exact frame (`contracts.fast_csv`), else (or with `fast=False`) Python's csv module.

    The exact reader is also the one that raises: whatever would make it fail stops the scan first,
    so a malformed file always gets the exact reader's message.
    """
    frame = fast_csv.read(path, lambda header: _usable_header(path, header)) if fast else None
    return frame if frame is not None else _read_csv_exact(path)


def _usable_header(path: Path, fields: list[str]) -> list[str] | None:
    header = [name.strip() for name in fields]
    try:
        _check_header(path, header)
    except MalformedFileError:
        return None
    return header


def _read_csv_exact(path: Path) -> pl.DataFrame:
    """Python's csv module over the decoded text: slow, but the reference for every CSV quirk.

    A record the file's structure allows but whose cells cannot be kept (a byte that is not UTF-8,
    a NUL, a cell over `MAX_FIELD_CHARS`) gets its reason in `_row_error`, so only it is rejected.
    """
    text, bad_bytes = _decode_lenient(path)
    odd_cells = bad_bytes or "\x00" in text or len(text) > MAX_FIELD_CHARS
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[list[str | None]] = []
    lines: list[int] = []
    errors: list[str | None] = []
    header: list[str] = []
    start = 1
    try:
        with _field_limit(len(text) + 1):
            for record in reader:
                if not header:
                    header = [name.strip() for name in record]
                    _check_header_text(path, header)
                elif record:
                    problem = _cell_problem(record, header, bad_bytes) if odd_cells else None
                    cells = [_text_safe(v) for v in record] if problem and bad_bytes else record
                    if len(cells) != len(header):
                        problem = f"expected {len(header)} fields, found {len(cells)}"
                    padded: list[str | None] = [*cells[: len(header)]]
                    padded += [None] * (len(header) - len(padded))
                    rows.append(padded)
                    lines.append(start)
                    errors.append(problem)
                start = reader.line_num + 1
    except csv.Error as error:
        # An unterminated quote at the end is what a cut-off transfer looks like.
        hint = " (truncated file?)" if "end of data" in str(error) else ""
        raise MalformedFileError(path, f"cannot be parsed as CSV: {error}{hint}", start) from None
    if not header:
        raise MalformedFileError(path, "empty file: no header row")
    if rows and not text.endswith(("\n", "\r")) and errors[-1] is not None:
        raise MalformedFileError(
            path, f"truncated: last row is incomplete ({errors[-1]})", lines[-1]
        )
    return _frame(path, header, rows, lines).with_columns(pl.Series(ROW_ERROR, errors, pl.String()))


def _check_header_text(path: Path, header: Sequence[str]) -> None:
    """`_check_header`, and a header that is not clean text refuses the file (not a CSV)."""
    for name in header:
        if _SURROGATE.search(name):
            raise MalformedFileError(path, "header is not valid UTF-8; re-save it as UTF-8", 1)
        if "\x00" in name:
            raise MalformedFileError(path, "header contains NUL bytes: not a text CSV file", 1)
    _check_header(path, header)


def _as_text(value: Any, list_separator: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, list):
        return list_separator.join(str(_as_text(item, list_separator) or "") for item in value)
    return json.dumps(value, sort_keys=True)


def _read_jsonl(path: Path, list_separator: str) -> pl.DataFrame:
    """One record per line; a line that is not one JSON object (or not UTF-8) is a rejected row
    with its reason, the others load. A file with no readable record at all is refused."""
    text, bad_bytes = _decode_lenient(path)
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    errors: list[str | None] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        record, problem = _json_record(line, bad_bytes)
        records.append(record)
        lines.append(number)
        errors.append(problem)
    if errors and errors[-1] is not None and not text.endswith(("\n", "\r")):
        # A broken last line without its newline is what a cut-off transfer looks like.
        raise MalformedFileError(
            path, f"truncated: last line is incomplete ({errors[-1]})", lines[-1]
        )
    header = list(dict.fromkeys(key for record in records for key in record))
    if not header:
        first = next((e for e in errors if e is not None), None)
        where = lines[errors.index(first)] if first is not None else None
        raise MalformedFileError(path, first or "no JSON records", where)
    _check_header(path, header)
    rows: list[list[str | None]] = [
        [_as_text(record.get(name), list_separator) for name in header] for record in records
    ]
    frame = _frame(path, header, rows, lines)
    return frame.with_columns(pl.Series(ROW_ERROR, errors, pl.String()))


def _json_record(line: str, bad_bytes: bool) -> tuple[dict[str, Any], str | None]:
    """One line's record, or an empty one and why it cannot be read."""
    if bad_bytes and (found := _SURROGATE.search(line)):
        return {}, f"not valid UTF-8 (byte 0x{ord(found.group()) - 0xDC00:02x})"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        return {}, f"not valid JSON ({error.msg} at column {error.colno})"
    except RecursionError:
        return {}, "not valid JSON (nested too deeply)"
    if not isinstance(record, dict):
        return {}, "each line must be one JSON object"
    long = next(
        (k for k, v in record.items() if len(_as_text(v, "|") or "") > MAX_FIELD_CHARS), None
    )
    if long is not None:
        return {}, f"field {long!r} has more than {MAX_FIELD_CHARS} characters"
    if any("\x00" in str(k) for k in record):
        return {}, "a field name contains a NUL byte"
    return record, None


def records_frame(
    records: Sequence[dict[str, Any]], source: str, list_separator: str = "|"
) -> pl.DataFrame:
    """A raw frame from JSON-like records, read as a JSON Lines file would be: numbers as their
    shortest text, lists joined by `list_separator`; `_line` is the record's 1-based position."""
    header = list(dict.fromkeys(key for record in records for key in record))
    rows = [[_as_text(record.get(name), list_separator) for name in header] for record in records]
    frame = _frame(Path(source), header, rows, list(range(1, len(records) + 1)))
    return frame.with_columns(pl.lit(None, pl.String()).alias(ROW_ERROR))


def _to_text(series: pl.Series, list_separator: str) -> pl.Series:
    dtype = series.dtype
    if isinstance(dtype, pl.List | pl.Array):
        inner = series.cast(pl.List(pl.String())) if isinstance(dtype, pl.Array) else series
        return inner.list.eval(pl.element().cast(pl.String())).list.join(list_separator)
    if isinstance(dtype, pl.Datetime):
        utc = series.dt.convert_time_zone("UTC") if dtype.time_zone else series
        text = utc.dt.to_string("%Y-%m-%dT%H:%M:%S%.f")
        # A naive Parquet timestamp carries no offset: leave it without one so casting rejects it.
        return text + "Z" if dtype.time_zone else text
    if isinstance(dtype, pl.Date):
        return series.dt.to_string("%Y-%m-%d")
    if dtype == pl.Boolean:
        return series.replace_strict({True: "true", False: "false"}, return_dtype=pl.String())
    return series.cast(pl.String())


def _read_parquet(path: Path, list_separator: str) -> pl.DataFrame:
    try:
        data = pl.read_parquet(path)
    except Exception as error:  # polars raises several types for corrupt or foreign files
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise MalformedFileError(path, f"not a readable Parquet file ({first})") from None
    header = data.columns
    _check_header(path, header)
    try:
        text = pl.DataFrame([_to_text(data[name], list_separator) for name in header])
    except Exception as error:
        raise MalformedFileError(path, f"column types cannot be read as text ({error})") from None
    return text.with_columns(
        pl.lit(str(path), pl.String()).alias(SOURCE_FILE),
        pl.int_range(1, data.height + 1, dtype=pl.Int64()).alias(LINE),
        pl.lit(None, pl.String()).alias(ROW_ERROR),
    )


def _blank_to_null(name: str) -> pl.Expr:
    text = pl.col(name).str.strip_chars()
    return pl.when(text == "").then(None).otherwise(text)


def _cast_expr(column: Column, list_separator: str) -> pl.Expr:
    source = _blank_to_null(column.name)
    match column.kind:
        case "string":
            return source
        case "integer":
            return source.cast(pl.Int64(), strict=False)
        case "decimal":
            number = source.cast(pl.Float64(), strict=False)
            return pl.when(number.is_finite()).then(number)
        case "timestamp":
            parsed = [
                source.str.to_datetime(fmt, time_unit="us", time_zone="UTC", strict=False)
                for fmt in TIMESTAMP_FORMATS
            ]
            return pl.coalesce(parsed)
        case "date":
            return source.str.to_date("%Y-%m-%d", strict=False)
        case "boolean":
            lowered = source.str.to_lowercase()
            return pl.when(lowered == "true").then(True).when(lowered == "false").then(False)
        case "list":
            parts = source.str.split(list_separator).list.eval(pl.element().str.strip_chars())
            return parts.list.filter(pl.element() != "")
    raise AssertionError(column.kind)


CAST_REASONS = {
    "integer": "not a whole number",
    "decimal": "not a finite decimal number",
    "timestamp": "not an ISO 8601 timestamp with offset or Z",
    "date": "not a date (YYYY-MM-DD)",
    "boolean": "not true or false",
}
GIVEN = "__given__"
"""Prefix of the cast's scratch columns: whether the source held a (non-blank) value."""


@dataclass(frozen=True)
class _Casts:
    """A contract's cast expressions, built once: rebuilding them was ~0.7 ms of a one-row call
    of the assessment service (docs/decisions/0032, pass 5); the night casts the same way."""

    typed: tuple[pl.Expr, ...]
    """Each contract column cast to its type, and for each castable one its `GIVEN` column."""
    broken: dict[str, pl.Expr]
    """Per castable column, on the cast frame: True where a value was given but did not cast."""
    any_broken: tuple[pl.Expr, ...]
    """Per castable column, one row: whether any value did not cast."""
    reasons: dict[str, str]
    """Per castable column, why a value that did not cast is refused."""


@functools.lru_cache(maxsize=16)
def _casts(contract: Contract) -> _Casts:
    sep = contract.list_separator
    reasons = {c.name: CAST_REASONS[c.kind] for c in contract.columns if c.kind in CAST_REASONS}
    broken = {name: pl.col(GIVEN + name) & pl.col(name).is_null() for name in reasons}
    return _Casts(
        typed=(
            *(_cast_expr(c, sep).cast(c.dtype).alias(c.name) for c in contract.columns),
            *(_blank_to_null(name).is_not_null().alias(GIVEN + name) for name in reasons),
        ),
        broken=broken,
        any_broken=tuple(flag.any().alias(name) for name, flag in broken.items()),
        reasons=reasons,
    )


def cast_to_contract(
    raw: pl.DataFrame, contract: Contract, mapping: ColumnMapping | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Cast an all-String raw frame to the contract's types.

    Returns (typed, failures): typed has the contract's columns in order with their Polars types
    (a value that does not cast becomes null), then extra source columns as strings, then the
    bookkeeping columns; failures has one row per (row, field) that did not cast, with the
    original value and a reason. A missing required column raises `MalformedFileError`.
    """
    if mapping is not None:
        # Imported on use: mappings are optional and live in their own module.
        from contracts.mapping import apply_mapping

        raw = apply_mapping(raw, mapping)
    _require_columns(raw, contract)
    absent = [
        pl.lit(None, pl.Int64() if name == LINE else pl.String()).alias(name)
        for name in (*BOOKKEEPING, *contract.names)
        if name not in raw.columns
    ]
    if absent:
        raw = raw.with_columns(absent)
    casts = _casts(contract)
    # The casts and, beside them, whether each source value was given: one query, and the
    # failures are read off its result (a value given that cast to null).
    cast = raw.with_columns(casts.typed)
    extras = [n for n in raw.columns if n not in contract.names and not n.startswith("_")]
    ordered = [*contract.names, *extras, *[n for n in raw.columns if n.startswith("_")]]
    typed = cast.select(ordered)
    return typed, _cast_failures(raw, cast, casts)


def _require_columns(raw: pl.DataFrame, contract: Contract) -> None:
    absent = [name for name in contract.required if name not in raw.columns]
    if absent:
        files = raw[SOURCE_FILE].unique().to_list() if SOURCE_FILE in raw.columns else []
        name = files[0] if len(files) == 1 else "input"
        raise MalformedFileError(name, f"missing required column(s): {', '.join(absent)}", 1)


def _cast_failures(raw: pl.DataFrame, cast: pl.DataFrame, casts: _Casts) -> pl.DataFrame:
    """The failures of `cast` (raw's rows in order, with the `GIVEN` columns of `casts`)."""
    # A caller's row id rides along, so failures join back even when lines repeat across files.
    keys = [SOURCE_FILE, LINE, *([ROW_ID] if ROW_ID in raw.columns else [])]
    schema = pl.Schema({**FAILURE_SCHEMA, **({ROW_ID: pl.Int64()} if ROW_ID in keys else {})})
    # One pass finds the columns with a failure; only those are filtered (a clean call of the
    # assessment service paid one filter a column for nothing, and a clean frame none at all).
    failing = cast.select(casts.any_broken).row(0, named=True) if casts.any_broken else {}
    if not any(failing.values()) and raw.get_column(ROW_ERROR).null_count() == raw.height:
        return pl.DataFrame(schema=schema)
    parts = [
        raw.filter(pl.col(ROW_ERROR).is_not_null()).select(
            *keys,
            pl.lit("_row").alias("field"),
            pl.lit(None, pl.String()).alias("value"),
            pl.col(ROW_ERROR).alias("reason"),
        )
    ]
    for name, broken in casts.broken.items():
        if not failing[name]:
            continue
        parts.append(
            raw.filter(cast.select(broken).to_series()).select(
                *keys,
                pl.lit(name).alias("field"),
                pl.col(name).alias("value"),
                pl.lit(casts.reasons[name]).alias("reason"),
            )
        )
    return pl.concat([p.select(schema.names()).cast(schema) for p in parts]).sort(LINE, "field")


def latest_filing(
    frame: pl.DataFrame, contract: Contract, filed_at: str = "filed_at"
) -> pl.DataFrame:
    """Keep the latest filing per contract key; on a tie the row later in the frame wins."""
    order = "__order"
    return (
        frame.with_row_index(order)
        .sort(filed_at, order, nulls_last=False)
        .unique(subset=list(contract.key), keep="last", maintain_order=True)
        .sort(order)
        .drop(order)
    )
