"""The fast CSV path: Polars' reader, taken only when a byte scan vouches it equals the exact one.

Grain of the frame it returns: one row per data record of the file, as in `contracts.reading`
(every value a string, no bookkeeping columns yet). `vouch` scans the file's bytes in chunks with
numpy and returns `None` for anything Polars' reader might read differently from Python's `csv`
module (then the caller takes the exact reader); otherwise it returns the file's layout: where
each data record starts, which lines are blank and which records have the wrong number of fields.

What the scan proves, and why it suffices: with no NUL bytes, valid UTF-8, no BOM after the
first byte, no carriage return outside a CRLF pair, lines shorter than the `csv` field limit,
and every quote either opening a field, closing it (followed by separator or line end), or
doubled inside it, no quoted field crosses a line. Then every record is exactly one physical
line, so its line number is its position, and its field count is the number of separators
outside quotes on that line plus one.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

CHUNK_BYTES = 16 << 20
"""The scan's read size; its working memory is a few times this, whatever the file's size."""
SEPARATOR = ord(",")
QUOTE = ord('"')
NEWLINE = ord("\n")
CARRIAGE_RETURN = ord("\r")
BOM = b"\xef\xbb\xbf"

Positions = npt.NDArray[np.int64]
Bytes = npt.NDArray[np.uint8]


@dataclass
class CsvLayout:
    """What the scan learned about a file it vouches for."""

    header: list[str]
    """The header's fields as the `csv` module splits them (not yet stripped)."""
    lines: int = 0
    """Physical lines after the header, blank ones included."""
    blank: list[int] = field(default_factory=list)
    """0-based indexes (among the lines after the header) of blank lines, which hold no record."""
    ragged: dict[int, int] = field(default_factory=dict)
    """0-based line index -> number of fields, for records whose count differs from the header's
    (filled by the per-line scan only)."""
    separators: int = 0
    """Separators outside quotes after the header (totalled by the quick scan only)."""
    per_line: bool = False
    """Whether fields were counted line by line (else `ragged` is unknown: only totals)."""
    ends_with_newline: bool = True


class UnvouchedError(Exception):
    """The file has something the fast path cannot vouch for: take the exact reader."""


def vouch(path: Path, *, per_line: bool = False) -> CsvLayout | None:
    """Scan `path`; return its layout when Polars' reader gives the exact frame, else None.

    By default the scan only totals the separators outside quotes; when the total is not the
    header's width times the records, it scans again counting per line (`per_line=True`) to
    find the ragged records.
    """
    try:
        layout = _scan(path, per_line=per_line)
        expected = (len(layout.header) - 1) * (layout.lines - len(layout.blank))
        if not per_line and layout.separators != expected:
            layout = _scan(path, per_line=True)
    except (UnvouchedError, OSError):
        return None
    return layout


def _scan(path: Path, *, per_line: bool) -> CsvLayout:
    field_limit = csv.field_size_limit()
    layout: CsvLayout | None = None
    carry = b""
    with path.open("rb") as handle:
        while True:
            block = handle.read(CHUNK_BYTES)
            data = carry + block if carry else block
            if block:
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    if len(data) >= field_limit:
                        raise UnvouchedError("a line longer than the csv field limit")
                    carry = data
                    continue
                chunk, carry = data[:cut], data[cut:]
            else:
                chunk, carry = data, b""
            if chunk and layout is None:
                layout, chunk = _header(chunk)
                layout.per_line = per_line
            if chunk and layout is not None:
                _scan_lines(chunk, layout, field_limit, last=not block, per_line=per_line)
            if not block:
                break
    if layout is None:
        raise UnvouchedError("empty file")
    return layout


def _header(chunk: bytes) -> tuple[CsvLayout, bytes]:
    end = chunk.find(b"\n")
    line = chunk if end < 0 else chunk[:end]
    rest = b"" if end < 0 else chunk[end + 1 :]
    try:
        text = line.decode("utf-8-sig")
        fields = next(csv.reader([text.removesuffix("\r")], strict=True))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        raise UnvouchedError("header line") from None
    if not text.strip() or any(odd in text.removesuffix("\r") for odd in "\r\x00\ufeff"):
        raise UnvouchedError("blank or odd header line")
    data = np.frombuffer(line.removeprefix(BOM) + b"\n", np.uint8)
    # The header's own field count, measured the way every other line's is.
    ends = np.flatnonzero(data == NEWLINE)
    opens, closes = _checked_quotes(data, ends)
    if _field_counts(data, ends, opens, closes)[0] != len(fields):
        raise UnvouchedError("header quoting")
    return CsvLayout(header=fields, ends_with_newline=end >= 0), rest


def _scan_lines(
    chunk: bytes, layout: CsvLayout, field_limit: int, *, last: bool, per_line: bool
) -> None:
    if b"\x00" in chunk:
        raise UnvouchedError("a NUL byte")
    if not chunk.isascii():
        if BOM in chunk:
            raise UnvouchedError("a BOM inside the file")
        try:
            chunk.decode("utf-8")
        except UnicodeDecodeError:
            raise UnvouchedError("not UTF-8") from None
    if b"\r" in chunk and chunk.count(b"\r") != chunk.count(b"\r\n"):
        raise UnvouchedError("a carriage return outside a CRLF line end")
    layout.ends_with_newline = chunk.endswith(b"\n")
    if not layout.ends_with_newline:
        if not last:
            raise AssertionError("chunks are cut after a newline")
        chunk += b"\n"
    data = np.frombuffer(chunk, np.uint8)
    ends = np.flatnonzero(data == NEWLINE)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts
    if lengths.size and int(lengths.max()) >= field_limit:
        raise UnvouchedError("a line longer than the csv field limit")
    crlf = data[np.maximum(ends - 1, 0)] == CARRIAGE_RETURN
    blank = (lengths - (crlf & (lengths > 0))) == 0
    opens, closes = _checked_quotes(data, ends)
    if per_line:
        counts = _field_counts(data, ends, opens, closes)
        ragged = np.flatnonzero((counts != len(layout.header)) & ~blank)
        found = counts[ragged].tolist()
        layout.ragged.update(zip((ragged + layout.lines).tolist(), found, strict=True))
    else:
        quoted = map(slice, (opens + 1).tolist(), closes.tolist())
        inside = b"".join(map(chunk.__getitem__, quoted)).count(b",")
        layout.separators += chunk.count(b",") - inside
    layout.blank.extend((np.flatnonzero(blank) + layout.lines).tolist())
    layout.lines += int(ends.size)


def _checked_quotes(data: Bytes, ends: Positions) -> tuple[Positions, Positions]:
    """Opening and closing quotes of `data` (whole lines); refuses quotes the fast path can't read.

    Every quote must open a field, close it (then a separator or the line end follows), or be
    doubled inside it; no quoted field may cross a line end.
    """
    quotes = np.flatnonzero(data == QUOTE)
    if quotes.size % 2:
        raise UnvouchedError("a quoted field crosses a line end")
    opens, closes = quotes[0::2], quotes[1::2]
    if not np.array_equal(np.searchsorted(ends, opens), np.searchsorted(ends, closes)):
        raise UnvouchedError("a quoted field crosses a line end")
    before = data[np.maximum(opens - 1, 0)]
    opens_field = (opens == 0) | (before == SEPARATOR) | (before == NEWLINE)
    after_close = np.zeros(opens.size, dtype=bool)
    after_close[1:] = opens[1:] == closes[:-1] + 1
    if not bool(np.all(opens_field | after_close)):
        raise UnvouchedError("a quote inside an unquoted field")
    after = data[np.minimum(closes + 1, data.size - 1)]
    ends_field = (after == SEPARATOR) | (after == NEWLINE) | (after == CARRIAGE_RETURN)
    before_open = np.zeros(closes.size, dtype=bool)
    before_open[:-1] = closes[:-1] + 1 == opens[1:]
    if not bool(np.all(ends_field | before_open)):
        raise UnvouchedError("text after a closing quote")
    return opens, closes


def _field_counts(data: Bytes, ends: Positions, opens: Positions, closes: Positions) -> Positions:
    """Fields per line: separators outside quotes, plus one."""
    separators = np.flatnonzero(data == SEPARATOR)
    line_of_separator = np.searchsorted(ends, separators)
    counts = np.bincount(line_of_separator, minlength=ends.size).astype(np.int64) + 1
    quoted = np.searchsorted(separators, closes) - np.searchsorted(separators, opens)
    line_of_open = np.searchsorted(ends, opens)
    inside = np.bincount(line_of_open, weights=quoted, minlength=ends.size).astype(np.int64)
    return counts - inside


def read_vouched(path: Path, layout: CsvLayout, names: list[str]) -> pl.DataFrame:
    """Read a vouched file with Polars: the exact reader's values, ragged and blank lines fixed.

    Returns the data columns (named `names`) plus `_source_file`, `_line` and `_row_error`;
    raises `UnvouchedError` when Polars disagrees with the scan after all.
    """
    try:
        # Strict unless the scan found ragged records: then Polars' refusal of a record longer
        # than the header, with the scan's separator total, proves no record is shorter either.
        raw = pl.read_csv(
            path,
            has_header=True,
            infer_schema=False,
            empty_string_is_null=False,
            truncate_ragged_lines=bool(layout.ragged),
            raise_if_empty=False,
            quote_char='"',
        )
    except pl.exceptions.PolarsError as error:
        if layout.per_line:
            raise UnvouchedError(f"Polars could not read it ({error})") from None
        # The total matched, yet a record is too long: another is too short. Find them.
        again = vouch(path, per_line=True)
        if again is None or not again.ragged:
            raise UnvouchedError(f"Polars could not read it ({error})") from None
        return read_vouched(path, again, names)
    if raw.width != len(names) or raw.height != layout.lines:
        raise UnvouchedError("Polars read a different shape than the scan")
    frame = raw.rename(dict(zip(raw.columns, names, strict=True)))
    if frame.height and not all(dtype == pl.String for dtype in frame.dtypes):
        raise UnvouchedError("a column was not read as text")
    # One with_columns: a second one would see chunks misaligned and copy the whole frame.
    frame = frame.with_columns(
        pl.lit(str(path), pl.String()).alias("_source_file"),
        pl.int_range(2, frame.height + 2, dtype=pl.Int64()).alias("_line"),
        pl.lit(None, pl.String()).alias("_row_error"),
    )
    if layout.ragged:
        frame = _mark_ragged(frame, layout.ragged, names)
    if layout.blank:
        # Blank lines hold no record but keep their line numbers, as in the csv module.
        frame = frame.filter(~pl.int_range(pl.len()).is_in(layout.blank))
    return frame


def _mark_ragged(frame: pl.DataFrame, ragged: dict[int, int], names: list[str]) -> pl.DataFrame:
    expected = len(names)
    counts = np.full(frame.height, expected, dtype=np.int64)
    counts[list(ragged)] = list(ragged.values())
    found = pl.lit(pl.Series("__found", counts))
    # Missing fields are nulls in the exact reader (Polars pads them with empty strings).
    padded = [
        pl.when(found <= i).then(None).otherwise(pl.col(name)).alias(name)
        for i, name in enumerate(names)
    ]
    message = pl.format(f"expected {expected} fields, found {{}}", found)
    error = pl.when(found != expected).then(message).otherwise(None)
    return frame.with_columns(*padded, error.alias("_row_error"))
