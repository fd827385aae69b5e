"""The file formats notescore reads and writes, in one registry.

Each :class:`Format` says which extensions it owns, how to read records from a
binary stream (yielding a :class:`~nlp.errors.RecordError` in place of a bad row,
never stopping) and how to write: tabular formats write flat rows, JSON formats
stream whole records between a start, a separator and an end. Compression
(``.gz``, ``.zst``) is handled around every format by :mod:`nlp.io`. Adding a
format is one entry in :data:`FORMATS` plus its reader and writer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Any

from nlp.format_base import ReadOptions, Rows, WriteOptions, cell
from nlp.format_csv import read_csv, read_tsv, write_csv, write_tsv
from nlp.format_json import json_bytes, jsonl_line, read_json, read_jsonl
from nlp.format_parquet import read_parquet, write_parquet
from nlp.format_xlsx import read_xlsx

Reader = Callable[[IO[bytes], str, ReadOptions], Rows]
Writer = Callable[[Iterable[dict[str, Any]], list[str], IO[bytes], WriteOptions], None]


@dataclass(frozen=True)
class Framing:
    """How a streamed (JSON) output joins its records."""

    start: bytes = b""
    separator: bytes = b""
    end: bytes = b""


@dataclass(frozen=True)
class Format:
    """One file format.

    Attributes:
        name: what ``--format`` accepts.
        extensions: file extensions (lower case, with the dot) that mean this format.
        read: ``read(stream, name, options)`` yields ``(line, record or RecordError)``.
        write: for tabular formats, ``write(rows, columns, out, options)`` writes flat
            rows; None for formats that stream whole records (see ``framing``) or
            that are read only.
        framing: for streamed formats, the bytes around and between records.
        needs_path: the reader needs a seekable file (Parquet, xlsx), not a stream.
    """

    name: str
    extensions: tuple[str, ...]
    read: Reader
    write: Writer | None = None
    framing: Framing | None = None
    needs_path: bool = False

    @property
    def tabular(self) -> bool:
        """Rows must share one set of columns (CSV, TSV, Parquet)."""
        return self.write is not None

    @property
    def writable(self) -> bool:
        """Whether notescore can write this format."""
        return self.write is not None or self.framing is not None


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("jsonl", (".jsonl", ".ndjson"), read_jsonl, framing=Framing()),
        Format("json", (".json",), read_json, framing=Framing(b"[\n", b",\n", b"\n]\n")),
        Format("csv", (".csv",), read_csv, write_csv),
        Format("tsv", (".tsv", ".tab"), read_tsv, write_tsv),
        Format("parquet", (".parquet", ".pq"), read_parquet, write_parquet, needs_path=True),
        Format("xlsx", (".xlsx",), read_xlsx, needs_path=True),
    )
}
# Names --format also accepts.
ALIASES = {"ndjson": "jsonl", "excel": "xlsx"}

__all__ = [
    "ALIASES",
    "FORMATS",
    "Format",
    "Framing",
    "ReadOptions",
    "WriteOptions",
    "cell",
    "json_bytes",
    "jsonl_line",
    "read_csv",
    "read_json",
    "read_jsonl",
    "read_parquet",
    "read_tsv",
    "read_xlsx",
    "write_csv",
    "write_parquet",
    "write_tsv",
]
