"""The fast CSV path: Polars' reader, taken only where a byte scan vouches it equals the exact one.

Grain of the frame `read` returns: one row per data record of the file, every value a string,
plus `_source_file`, `_line` and `_row_error`, exactly as `contracts.reading`'s exact reader
(Python's `csv` module) returns it. The file is read once, in chunks of whole records: numpy scans
each chunk's bytes, then Polars parses that chunk. Anything the scan cannot vouch for makes
`read` return None, and the caller takes the exact reader for the whole file.

What the scan proves, and why it suffices. The file has no NUL bytes, is valid UTF-8, has no BOM
after its first byte and no carriage return outside a CRLF pair, and every quote opens a field,
closes it (a separator or the line end follows) or is doubled inside it. Then quotes pair up in
order, and a newline is inside a quoted field exactly when an odd number of quotes precede it: the
other newlines end records. A record's line is one more than the newlines before it (the `csv`
module counts physical lines the same way); a blank record holds nothing and is skipped; no
record reaches the `csv` field limit. A record's field count is its separators outside quotes
plus one. The scan totals those per chunk; when the total is the header's width times the records
and Polars' strict parse (which refuses any record longer than the header) succeeds, no record can
be shorter either. Otherwise the chunk is counted record by record and its ragged records are
fixed up as the exact reader has them: missing fields null, extra ones dropped, the reason in
`_row_error`.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

CHUNK_BYTES = 16 << 20
"""Read size: the scan's working memory is a few times this, whatever the file's size."""
SEPARATOR = ord(",")
QUOTE = ord('"')
NEWLINE = ord("\n")
CARRIAGE_RETURN = ord("\r")
BOM = b"\xef\xbb\xbf"

Positions = npt.NDArray[np.int64]
Bytes = npt.NDArray[np.uint8]
HeaderCheck = Callable[[list[str]], list[str] | None]
"""Given the header's fields, the column names to use, or None to leave the file to the exact
reader (which then names the header's problem)."""


class UnvouchedError(Exception):
    """The file has something the fast path cannot vouch for: take the exact reader."""


@dataclass
class ChunkScan:
    """What the scan learned about one chunk of whole records."""

    lines: int
    """Physical lines (newlines) in the chunk."""
    record_lines: Positions
    """For each record, the physical lines before it within the chunk."""
    blank: list[int]
    """Indexes of blank records (empty lines), which the exact reader skips."""
    separators: int = 0
    """Separators outside quotes (totalled by the quick scan)."""
    ragged: dict[int, int] = field(default_factory=dict)
    """Record index -> fields, for records whose count differs from the header's (per-record
    scan)."""
    per_record: bool = False
    ends_with_newline: bool = True

    @property
    def records(self) -> int:
        """Records in the chunk, blank ones included."""
        return int(self.record_lines.size)

    def balanced(self, width: int) -> bool:
        """Whether the separator total fits every record having `width` fields."""
        return self.per_record or self.separators == (width - 1) * (self.records - len(self.blank))


@dataclass
class CsvLayout:
    """What the scan learned about a whole file (`vouch`)."""

    header: list[str]
    """The header's fields as the `csv` module splits them (not yet stripped)."""
    lines: int = 0
    """Physical lines after the header."""
    records: int = 0
    """Records after the header, blank ones included."""
    blank: list[int] = field(default_factory=list)
    """Indexes (among the records) of blank records."""
    ragged: dict[int, int] = field(default_factory=dict)
    """Record index -> fields for ragged records, where the separator totals showed them."""
    ends_with_newline: bool = True


def read(path: Path, header_check: HeaderCheck) -> pl.DataFrame | None:
    """The exact reader's frame of `path`, through Polars; None when the scan cannot vouch."""
    try:
        return pl.concat(list(batches(path, header_check)))
    except (UnvouchedError, OSError):
        return None


def batches(path: Path, header_check: HeaderCheck) -> Iterator[pl.DataFrame]:
    """`read`'s frame in batches of whole records, in file order (one batch per chunk).

    Raises `UnvouchedError` (or `OSError`) where the fast path steps aside, which may be after
    some batches were yielded: the caller then discards them and takes the exact reader.
    """
    header, header_line, chunks = _open(path)
    names = header_check(header)
    if names is None:
        raise UnvouchedError("the header has a problem for the exact reader to name")
    held: pl.DataFrame | None = None
    scan: ChunkScan | None = None
    next_line = 2
    for chunk in chunks:
        frame, scan = _parse(path, header_line, chunk, names, next_line)
        next_line += scan.lines
        if held is not None:
            yield held
        # Held back one chunk: the last batch is yielded only once the file's end is checked.
        held = frame
    if held is None:
        empty = pl.DataFrame(schema=dict.fromkeys(names, pl.String()))
        yield _bookkeeping(empty, path, pl.Series("_line", [], pl.Int64()))
        return
    last_error = held["_row_error"][-1] if held.height else None
    if scan is not None and not scan.ends_with_newline and last_error is not None:
        raise UnvouchedError("a truncated last record: the exact reader refuses the file")
    yield held


def vouch(path: Path) -> CsvLayout | None:
    """Scan `path` without parsing it: its layout, or None when the byte scan refuses it.

    The header's names, Polars' own read and a truncated last record are checked only by
    `batches`, so the fast path may still step aside for a file given a layout here.
    """
    try:
        header, _, chunks = _open(path)
        layout = CsvLayout(header=header)
        for chunk in chunks:
            scan = _scan_records(chunk, len(header))
            layout.blank += [layout.records + i for i in scan.blank]
            layout.ragged |= {layout.records + i: n for i, n in scan.ragged.items()}
            layout.records += scan.records
            layout.lines += scan.lines
            layout.ends_with_newline = scan.ends_with_newline
    except (UnvouchedError, OSError):
        return None
    return layout


def _open(path: Path) -> tuple[list[str], bytes, Iterator[bytes]]:
    """The header's fields, its line (newline included) and the chunks of lines after it."""
    chunks = _chunks(path)
    first = next(chunks, None)
    if first is None:
        raise UnvouchedError("an empty file")
    header, header_line, rest = _split_header(first)
    return header, header_line, itertools.chain([rest] if rest else [], chunks)


def _chunks(path: Path) -> Iterator[bytes]:
    """The file in pieces of whole records; only the last may lack its newline."""
    field_limit = csv.field_size_limit()
    carry = b""
    with path.open("rb") as handle:
        while block := handle.read(CHUNK_BYTES):
            data = carry + block if carry else block
            cut = _last_record_end(data, field_limit)
            carry = data[cut:]
            if cut:
                yield data[:cut]
    if carry:
        yield carry


def _last_record_end(data: bytes, field_limit: int) -> int:
    """Just past the last newline with an even number of quotes before it (0 if none).

    Quotes that pass the scan pair up in order, so that newline is outside any quoted field. What
    follows it is the start of a record; at the field limit or beyond, the exact reader would
    refuse that record, so the fast path steps aside.
    """
    cut = data.rfind(b"\n") + 1
    inside = data.count(b'"', 0, cut) % 2
    while inside and cut and len(data) - cut < field_limit:
        earlier = data.rfind(b"\n", 0, cut - 1) + 1
        inside ^= data.count(b'"', earlier, cut) % 2
        cut = earlier
    if len(data) - cut >= field_limit:
        raise UnvouchedError("a record as long as the csv field limit")
    return cut


def _split_header(chunk: bytes) -> tuple[list[str], bytes, bytes]:
    """The header's fields, its line (newline included) and the rest of the chunk."""
    end = chunk.find(b"\n") + 1 or len(chunk)
    line, rest = chunk[:end], chunk[end:]
    try:
        text = line.decode("utf-8-sig").removesuffix("\n").removesuffix("\r")
        fields = next(csv.reader([text], strict=True))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        raise UnvouchedError("the header line") from None
    if not text.strip() or any(odd in text for odd in "\r\x00\ufeff"):
        raise UnvouchedError("a blank or odd header line")
    data = np.frombuffer(line.removeprefix(BOM).rstrip(b"\r\n") + b"\n", np.uint8)
    # The header's own field count, measured the way every other record's is.
    opens, closes = _checked_quotes(data)
    ends = np.flatnonzero(data == NEWLINE)
    if ends.size != 1 or _field_counts(data, ends, opens, closes)[0] != len(fields):
        raise UnvouchedError("the header's quoting")
    return fields, line if line.endswith(b"\n") else line + b"\n", rest


def _scan_records(chunk: bytes, width: int) -> ChunkScan:
    """The quick scan of a chunk, or the per-record one when its separator total does not fit."""
    scan = _scan(chunk, width, per_record=False)
    return scan if scan.balanced(width) else _scan(chunk, width, per_record=True)


def _scan(chunk: bytes, width: int, *, per_record: bool) -> ChunkScan:
    """Check a chunk of whole records; total its separators, or count them per record."""
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
        raise UnvouchedError("a carriage return outside a CRLF pair")
    ends_with_newline = chunk.endswith(b"\n")
    if not ends_with_newline:
        chunk += b"\n"
    data = np.frombuffer(chunk, np.uint8)
    opens, closes = _checked_quotes(data)
    newlines = np.flatnonzero(data == NEWLINE)
    ends = newlines
    if opens.size:
        # A newline between an opening quote and its closing one is inside a field.
        outside = np.searchsorted(opens, newlines) == np.searchsorted(closes, newlines)
        ends = newlines[outside]
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts
    if int(lengths.max()) >= csv.field_size_limit():
        raise UnvouchedError("a record as long as the csv field limit")
    crlf = data[np.maximum(ends - 1, 0)] == CARRIAGE_RETURN
    blank = np.flatnonzero((lengths - (crlf & (lengths > 0))) == 0)
    scan = ChunkScan(
        lines=int(newlines.size),
        record_lines=np.searchsorted(newlines, starts),
        blank=blank.tolist(),
        ends_with_newline=ends_with_newline,
    )
    if per_record:
        counts = _field_counts(data, ends, opens, closes)
        counts[blank] = width
        ragged = np.flatnonzero(counts != width)
        scan.ragged = dict(zip(ragged.tolist(), counts[ragged].tolist(), strict=True))
        scan.per_record = True
    else:
        quoted = map(slice, (opens + 1).tolist(), closes.tolist())
        inside = b"".join(map(chunk.__getitem__, quoted)).count(b",")
        scan.separators = int(np.count_nonzero(data == SEPARATOR)) - inside
    return scan


def _checked_quotes(data: Bytes) -> tuple[Positions, Positions]:
    """Opening and closing quotes of `data` (whole records), refusing any it cannot vouch for.

    Every quote must open a field (at a record's start or after a separator), close it (then a
    separator or the line end follows), or be doubled inside it.
    """
    quotes = np.flatnonzero(data == QUOTE)
    if quotes.size % 2:
        raise UnvouchedError("a quoted field left open")
    opens, closes = quotes[0::2], quotes[1::2]
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
    """Fields per record (`ends`: where records end): separators outside quotes, plus one."""
    separators = np.flatnonzero(data == SEPARATOR)
    line_of_separator = np.searchsorted(ends, separators)
    counts = np.bincount(line_of_separator, minlength=ends.size).astype(np.int64) + 1
    quoted = np.searchsorted(separators, closes) - np.searchsorted(separators, opens)
    line_of_open = np.searchsorted(ends, opens)
    inside = np.bincount(line_of_open, weights=quoted, minlength=ends.size).astype(np.int64)
    return counts - inside


def _parse(
    path: Path, header_line: bytes, chunk: bytes, names: list[str], first_line: int
) -> tuple[pl.DataFrame, ChunkScan]:
    """One scanned chunk through Polars, fixed up to the exact reader's frame."""
    width = len(names)
    scan = _scan_records(chunk, width)
    try:
        raw = _polars_csv(header_line + chunk, truncate=bool(scan.ragged))
    except pl.exceptions.PolarsError as error:
        if scan.per_record:
            raise UnvouchedError(f"Polars could not read it ({error})") from None
        # The total fitted, yet a record is too long, so another is too short: find them.
        scan = _scan(chunk, width, per_record=True)
        raw = _polars_csv(header_line + chunk, truncate=True)
    if raw.shape != (scan.records, width) or any(t != pl.String for t in raw.dtypes):
        raise UnvouchedError("Polars read a different shape than the scan")
    lines = pl.Series("_line", scan.record_lines + first_line, pl.Int64())
    frame = _bookkeeping(raw.rename(dict(zip(raw.columns, names, strict=True))), path, lines)
    if scan.ragged:
        frame = _mark_ragged(frame, scan.ragged, names)
    if scan.blank:
        # Blank lines hold no record but keep their line numbers, as in the csv module.
        frame = frame.filter(~pl.int_range(pl.len()).is_in(scan.blank))
    return frame, scan


def _polars_csv(data: bytes, *, truncate: bool) -> pl.DataFrame:
    return pl.read_csv(
        data,
        has_header=True,
        infer_schema=False,
        empty_string_is_null=False,
        truncate_ragged_lines=truncate,
        raise_if_empty=False,
        quote_char='"',
    )


def _bookkeeping(frame: pl.DataFrame, path: Path, lines: pl.Series) -> pl.DataFrame:
    # One with_columns: a second one would find chunks misaligned and copy the whole frame.
    return frame.with_columns(
        pl.lit(str(path), pl.String()).alias("_source_file"),
        pl.lit(lines).alias("_line"),
        pl.lit(None, pl.String()).alias("_row_error"),
    )


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
