"""Parquet: read row by row in small batches; write columns typed from their values.

A column's type is the narrowest that holds every value: int64, float64, bool,
binary, or text. Integers beyond int64 (IDs from 64-bit unsigned systems) make
their column text, written in full; nested values become JSON text.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable
from typing import IO, Any

from nlp.errors import InputFormatError, require_extra
from nlp.format_base import ReadOptions, Rows, WriteOptions, cell

_INT64 = (-(2**63), 2**63 - 1)
_DEFAULT = ReadOptions()
_WRITE_DEFAULT = WriteOptions()


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise require_extra("pyarrow", "notescore") from exc
    return pa, pq


def read_parquet(stream: IO[bytes], name: str = "-", options: ReadOptions = _DEFAULT) -> Rows:
    """Parquet, row by row in batches; numbers are 1-based row numbers."""
    _, pq = _pyarrow()
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


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if _INT64[0] <= value <= _INT64[1] else "bigint"
    if isinstance(value, (bytes, bytearray)):
        return "bytes"
    return {float: "float", str: "str"}.get(type(value), "json")


def _column_kind(kinds: set[str]) -> str:
    if not kinds:
        return "str"
    if kinds <= {"int"}:
        return "int"
    if kinds <= {"int", "bigint", "float"} and "float" in kinds:
        return "float"
    if kinds in ({"bool"}, {"bytes"}):
        return kinds.pop()
    return "str"


def _text(value: Any) -> str:
    """A value in a text column."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, (dict, list, tuple)):
        return cell(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (bool, float)):
        return json.dumps(value)
    return str(value)


def _convert(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "str":
        return _text(value)
    if kind == "float":
        return float(value)
    if kind == "bytes":
        return bytes(value)
    return value


def write_parquet(
    rows: Iterable[dict[str, Any]], columns: list[str], out: IO[bytes], options: WriteOptions = _WRITE_DEFAULT
) -> None:
    """Write flat rows as Parquet; a column's type is the narrowest that holds all its values.

    ``rows`` is read twice (types first), so it must be re-iterable (a spool).
    """
    pa, pq = _pyarrow()
    seen: dict[str, set[str]] = {c: set() for c in columns}
    for row in rows:
        for key, value in row.items():
            if value is not None and key in seen:
                seen[key].add(_kind(value))
    kinds = {c: _column_kind(v) for c, v in seen.items()}
    arrow = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "str": pa.string(), "bytes": pa.binary()}
    schema = pa.schema([(c, arrow[kinds[c]]) for c in columns])
    writer = pq.ParquetWriter(out, schema)
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append({c: _convert(row.get(c), kinds[c]) for c in columns})
        if len(chunk) >= 4096:
            writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
            chunk = []
    if chunk:
        writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
    writer.close()
