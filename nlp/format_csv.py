"""CSV and TSV: reading with runaway-quote detection, writing with formula neutralisation.

An unclosed quote makes a CSV parser swallow every following line into one
field. Here every record is parsed strictly and watched: a quote that never
closes, a quote followed by text, a field over :data:`MAX_FIELD_CHARS`, a record
over :data:`MAX_RECORD_LINES` lines, or a multi-line record whose inner lines
look like rows of their own, is reported on the line where it starts, and the
lines after that line are read again as rows. Nothing is swallowed silently.
"""

from __future__ import annotations

import csv
import io
import re
from collections import deque
from collections.abc import Iterable, Iterator
from typing import IO, Any

from nlp.errors import DecodeError, InputFormatError, RecordError
from nlp.format_base import ReadOptions, Rows, WriteOptions, cell, has_surrogates

# No note is a megabyte long: a field that is has swallowed the lines after an unclosed quote.
MAX_FIELD_CHARS = 1_000_000
MAX_RECORD_LINES = 1_000
csv.field_size_limit(MAX_FIELD_CHARS)
_DEFAULT = ReadOptions()
_WRITE_DEFAULT = WriteOptions()


class _RecordTooLong(Exception):
    """A record ran on past :data:`MAX_RECORD_LINES` lines."""


class _LineFeed:
    """Physical lines for ``csv.reader``: remembers the lines of the current record, can push lines back."""

    def __init__(self, text: Iterable[str]) -> None:
        self._source = iter(text)
        self._pending: deque[str] = deque()
        self.taken: list[str] = []
        self.next_line = 1  # the number of the line __next__ returns next

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if len(self.taken) >= MAX_RECORD_LINES:
            raise _RecordTooLong
        line = self._pending.popleft() if self._pending else next(self._source)
        self.taken.append(line)
        self.next_line += 1
        return line

    def start_record(self) -> int:
        self.taken = []
        return self.next_line

    def push_back(self, lines: list[str]) -> None:
        self._pending.extendleft(reversed(lines))
        self.next_line -= len(lines)


def _dialect(options: ReadOptions, default: str) -> dict[str, Any]:
    return {"delimiter": options.delimiter or default, "strict": True}


def _lenient_row(line: str, dialect: dict[str, Any]) -> list[str] | None:
    """A one-line record that strict parsing refused (``"abc"def``), parsed the forgiving way."""
    if not line.endswith(("\n", "\r")) and line:
        line += "\n"
    try:
        rows = list(csv.reader([line], **{**dialect, "strict": False}))
    except csv.Error:
        return None
    return rows[0] if len(rows) == 1 else None


def _looks_like_rows(lines: list[str], width: int, dialect: dict[str, Any]) -> bool:
    """Whether the inner lines of a multi-line record parse as rows of the header's width."""
    inner = lines[1:]
    if width < 2 or len(inner) < 3:
        return False
    full = 0
    for line in inner:
        try:
            parsed = next(csv.reader([line], **{**dialect, "strict": False}), [])
        except csv.Error:
            continue
        full += len(parsed) == width
    return full >= 3 and full >= 0.75 * len(inner)


def _runaway(start: int, lines: list[str], why: str) -> str:
    if len(lines) < 2:
        return f"malformed CSV ({why}); fix the quoting"
    end = start + len(lines) - 1
    return (
        f"malformed CSV: {why} in the record starting on this line (it runs on to line {end}); "
        f"fix the quoting — lines {start + 1}–{end} were read again as rows"
    )


def _header(feed: _LineFeed, dialect: dict[str, Any], name: str) -> list[str] | None:
    try:
        header = next(csv.reader(feed, **dialect))
    except StopIteration:
        return None
    except (csv.Error, _RecordTooLong) as exc:
        raise InputFormatError(f"{name}: cannot read the CSV header line ({exc or 'unclosed quote'})") from exc
    if any(has_surrogates(h) for h in header):
        raise InputFormatError(f"{name}: the header line is not valid text in this encoding; pass --encoding")
    return header


def _check_row(number: int, row: list[str], header: list[str], delimiter: str) -> dict[str, str] | RecordError:
    raw = delimiter.join(row)
    if any(has_surrogates(v) for v in row):
        shown = raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        reason = "not valid text in the file's encoding; pass --encoding (e.g. gb18030) or re-encode the file as UTF-8"
        return DecodeError(number, reason, shown)
    if len(row) != len(header):
        return RecordError(number, f"expected {len(header)} fields as in the header; found {len(row)}", raw)
    return dict(zip(header, row, strict=True))


def read_csv(stream: IO[bytes], name: str = "-", options: ReadOptions = _DEFAULT, default_delimiter: str = ",") -> Rows:
    """CSV with a header row; numbers are the lines rows start on."""
    text = io.TextIOWrapper(stream, encoding=options.text_encoding, errors="surrogateescape", newline="")
    dialect = _dialect(options, default_delimiter)
    feed = _LineFeed(text)
    header = _header(feed, dialect, name)
    if header is None:
        return
    reader = csv.reader(feed, **dialect)
    while True:
        start = feed.start_record()
        try:
            row = next(reader)
        except StopIteration:
            return
        except (csv.Error, _RecordTooLong) as exc:
            lines = feed.taken
            unclosed = str(exc) == "unexpected end of data"
            row = _lenient_row(lines[0], dialect) if len(lines) == 1 and not unclosed else None
            if row is None:
                why = f"{exc}" if isinstance(exc, csv.Error) else f"a quoted field over {MAX_RECORD_LINES} lines"
                if unclosed:
                    why = "a quote that is never closed"
                yield start, RecordError(start, _runaway(start, lines, why), lines[0].rstrip("\r\n"))
                feed.push_back(lines[1:])
                reader = csv.reader(feed, **dialect)
                continue
        if not row or row == [""]:
            continue
        lines = feed.taken
        item = _check_row(start, row, header, dialect["delimiter"])
        if len(lines) > 1 and (isinstance(item, RecordError) or _looks_like_rows(lines, len(header), dialect)):
            why = "a quoted field that takes in lines looking like rows"
            if isinstance(item, RecordError):
                why = f"{len(row)} fields where the header has {len(header)}"
            yield start, RecordError(start, _runaway(start, lines, why), lines[0].rstrip("\r\n"))
            feed.push_back(lines[1:])
            reader = csv.reader(feed, **dialect)
            continue
        yield start, item


def read_tsv(stream: IO[bytes], name: str = "-", options: ReadOptions = _DEFAULT) -> Rows:
    """Tab-separated values with a header row (quoted fields allowed, as pandas writes them)."""
    return read_csv(stream, name, options, default_delimiter="\t")


# ------------------------------------------------------------------- writing

# A cell a spreadsheet would evaluate; a plain number (-5, +3.2e4) is left alone.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def neutralise(value: Any) -> Any:
    """OWASP's CSV-injection rule: prefix ``'`` to text a spreadsheet would run as a formula.

    Example:
        >>> neutralise("=HYPERLINK(\\"http://x\\")"), neutralise("-5")
        ('\\'=HYPERLINK("http://x")', '-5')
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def write_csv(
    rows: Iterable[dict[str, Any]],
    columns: list[str],
    out: IO[bytes],
    options: WriteOptions = _WRITE_DEFAULT,
    delimiter: str = ",",
) -> None:
    """Write flat rows as CSV with a header (missing cells empty)."""
    text = io.TextIOWrapper(out, encoding="utf-8", errors="backslashreplace", newline="", write_through=True)
    writer = csv.writer(text, delimiter=delimiter)
    safe = (lambda v: v) if options.csv_raw else neutralise
    writer.writerow([safe(c) for c in columns])
    for row in rows:
        writer.writerow([safe(cell(row.get(c, ""))) for c in columns])
    text.flush()
    text.detach()


def write_tsv(
    rows: Iterable[dict[str, Any]], columns: list[str], out: IO[bytes], options: WriteOptions = _WRITE_DEFAULT
) -> None:
    """Write flat rows as TSV (the CSV rules, a tab between fields)."""
    write_csv(rows, columns, out, options, delimiter="\t")
