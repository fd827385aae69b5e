"""The file formats notescore reads and writes, in one registry.

Each :class:`Format` says which extensions it owns, how to read records from a
binary stream (yielding a :class:`~nlp.errors.RecordError` in place of a bad row,
never stopping) and, for tabular formats, how to write flat rows. Compression
(``.gz``) is handled around every format by :mod:`nlp.io`. Adding a format is one
entry in :data:`FORMATS`.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from nlp.errors import InputFormatError, RecordError, require_extra

Rows = Iterator[tuple[int, "dict[str, Any] | RecordError"]]
# CSV fields can be large (long notes); the csv module's default is 128 KiB.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass(frozen=True)
class Format:
    """One file format.

    Attributes:
        name: what ``--format`` accepts.
        extensions: file extensions (lower case, with the dot) that mean this format.
        read: ``read(stream, name)`` yields ``(line, record or RecordError)``.
        write: for tabular formats, ``write(rows, columns, out)`` writes flat rows;
            None for JSON Lines, which streams whole records.
        needs_path: the reader needs a seekable file (Parquet), not a stream.
    """

    name: str
    extensions: tuple[str, ...]
    read: Callable[[IO[bytes], str], Rows]
    write: Callable[[Iterable[dict[str, Any]], list[str], IO[bytes]], None] | None = None
    needs_path: bool = False

    @property
    def tabular(self) -> bool:
        """Rows must share one set of columns (CSV, Parquet)."""
        return self.write is not None


# ------------------------------------------------------------------ JSON Lines


def read_jsonl(stream: IO[bytes], name: str = "-") -> Rows:
    """JSON Lines: one object per line; blank lines skipped; a UTF-8 BOM allowed."""
    for number, raw in enumerate(stream, start=1):
        line = raw.rstrip(b"\r\n")
        if number == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = line[exc.start : exc.start + 4]
            reason = f"not valid UTF-8 (byte {exc.start}: {bad!r}); re-encode the file as UTF-8"
            yield number, RecordError(number, reason, line.decode("utf-8", errors="replace"))
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            yield number, RecordError(number, f"not valid JSON ({exc.msg}, column {exc.colno})", text)
            continue
        if not isinstance(record, dict):
            yield number, RecordError(number, f"expected a JSON object per line; found {type(record).__name__}", text)
            continue
        yield number, record


def jsonl_line(record: dict[str, Any]) -> bytes:
    """One record as a JSON Lines line (UTF-8, non-ASCII kept)."""
    return (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")


# ------------------------------------------------------------------------ CSV


def _has_surrogates(value: str) -> bool:
    return any("\udc80" <= c <= "\udcff" for c in value)


def read_csv(stream: IO[bytes], name: str = "-") -> Rows:
    """CSV with a header row; line numbers are where each row starts."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise InputFormatError(f"{name}: cannot read the CSV header ({exc})") from exc
    if any(_has_surrogates(h) for h in header):
        raise InputFormatError(f"{name}: the CSV header is not valid UTF-8; re-encode the file as UTF-8")
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, RecordError(start, f"malformed CSV ({exc})", "")
            start = reader.line_num + 1
            continue
        number, start = start, reader.line_num + 1
        if not row or row == [""]:
            continue
        raw = ",".join(row)
        if any(_has_surrogates(v) for v in row):
            shown = raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            yield number, RecordError(number, "not valid UTF-8; re-encode the file as UTF-8", shown)
            continue
        if len(row) != len(header):
            yield number, RecordError(number, f"expected {len(header)} fields as in the header; found {len(row)}", raw)
            continue
        yield number, dict(zip(header, row, strict=True))


def cell(value: Any) -> Any:
    """A flat cell: nested values (lists, objects) become JSON strings."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def write_csv(rows: Iterable[dict[str, Any]], columns: list[str], out: IO[bytes]) -> None:
    """Write flat rows as CSV with a header (missing cells empty)."""
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer = csv.DictWriter(text, fieldnames=columns, restval="", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: cell(v) for k, v in row.items()})
    text.flush()
    text.detach()


# -------------------------------------------------------------------- Parquet


def read_parquet(stream: IO[bytes], name: str = "-") -> Rows:
    """Parquet, row by row in batches; line numbers are 1-based row numbers."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise require_extra("pyarrow", "notescore") from exc
    try:
        handle = pq.ParquetFile(stream)
    except Exception as exc:  # pyarrow raises ArrowInvalid and friends
        raise InputFormatError(f"{name}: not a readable Parquet file ({exc})") from exc
    number = 0
    # Small batches decoded on this thread: the reader's working set stays ~40 MB, not ~80 MB
    # (decoder threads each keep allocator pages); decoding is a sliver of any job's time.
    for batch in handle.iter_batches(batch_size=1024, use_threads=False):
        for record in batch.to_pylist():
            number += 1
            yield number, record


def _column_kind(values: set[str]) -> str:
    if values <= {"int"}:
        return "int" if values else "str"
    if values <= {"int", "float"}:
        return "float"
    return "bool" if values == {"bool"} else "str"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    return {int: "int", float: "float", str: "str"}.get(type(value), "json")


def write_parquet(rows: Iterable[dict[str, Any]], columns: list[str], out: IO[bytes]) -> None:
    """Write flat rows as Parquet; a column's type is the narrowest that holds all its values.

    ``rows`` is read twice (types first), so it must be re-iterable (a spool).
    """
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise require_extra("pyarrow", "notescore") from exc
    seen: dict[str, set[str]] = {c: set() for c in columns}
    for row in rows:
        for key, value in row.items():
            if value is not None:
                seen[key].add(_kind(value))
    kinds = {c: _column_kind(v) for c, v in seen.items()}
    arrow = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "str": pa.string()}
    schema = pa.schema([(c, arrow[kinds[c]]) for c in columns])

    def convert(value: Any, kind: str) -> Any:
        if value is None:
            return None
        if kind == "str" and not isinstance(value, str):
            return cell(value) if isinstance(value, (dict, list)) else json.dumps(value)
        return float(value) if kind == "float" else value

    writer = pq.ParquetWriter(out, schema)
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append({c: convert(row.get(c), kinds[c]) for c in columns})
        if len(chunk) >= 4096:
            writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
            chunk = []
    if chunk:
        writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
    writer.close()


# ------------------------------------------------------------------- registry

FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("jsonl", (".jsonl", ".json", ".ndjson"), read_jsonl),
        Format("csv", (".csv",), read_csv, write_csv),
        Format("parquet", (".parquet", ".pq"), read_parquet, write_parquet, needs_path=True),
    )
}
# Names --format also accepts.
ALIASES = {"json": "jsonl", "ndjson": "jsonl"}
