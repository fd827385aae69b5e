"""Reading and writing note dumps: format detection, compression, stdin/stdout,
and writers that never leave a half file that looks complete.

Readers never stop at a bad row: they yield a :class:`RecordError` in its place,
with the line (or row) number, the reason and the raw text, so the caller can
report it and go on. Writers write to a temporary file next to the target and
rename it into place on :meth:`RecordWriter.close`. The formats themselves live
in :mod:`nlp.formats`.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from nlp.errors import InputFormatError
from nlp.formats import ALIASES, FORMATS, Format, jsonl_line

# Compression suffix -> opener(path, mode). Applied around every format.
COMPRESSIONS: dict[str, Callable[..., IO[bytes]]] = {".gz": gzip.open}


def _suffixes(path: str) -> tuple[list[str], str | None]:
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        return suffixes[:-1], suffixes[-1]
    return suffixes, None


def detect_format(path: str, fmt: Format | str | None = None) -> Format:
    """Decide the format of a path from ``fmt`` or its extension.

    Args:
        path: a file path (``.gz`` allowed after the format's extension), or ``-``
            for stdin/stdout (JSON Lines).
        fmt: an explicit format (a :class:`~nlp.formats.Format`, returned as it is, or a
            name from :data:`nlp.formats.FORMATS`), or None.

    Returns:
        The :class:`~nlp.formats.Format`.

    Raises:
        InputFormatError: the format is unknown or cannot be detected.

    Example:
        >>> detect_format("notes.csv.gz").name
        'csv'
    """
    if isinstance(fmt, Format):
        return fmt
    names = ", ".join(FORMATS)
    if fmt:
        key = ALIASES.get(fmt.lower().lstrip("."), fmt.lower().lstrip("."))
        if key not in FORMATS:
            raise InputFormatError(f"unknown format {fmt!r}; expected one of {names}")
        return FORMATS[key]
    if path == "-":
        return FORMATS["jsonl"]
    suffixes, _ = _suffixes(path)
    for f in FORMATS.values():
        if suffixes and suffixes[-1] in f.extensions:
            return f
    known = sorted(e for f in FORMATS.values() for e in f.extensions)
    raise InputFormatError(
        f"cannot tell the format of {path!r} from its extension; expected one of {', '.join(known)} "
        f"(optionally + .gz) — or pass --format {'|'.join(FORMATS)}"
    )


def check_input(path: str) -> None:
    """Refuse a missing input or a folder, before any output is created.

    Raises:
        InputFormatError: naming what was found and what is expected.
    """
    if path == "-":
        return
    p = Path(path)
    if p.is_dir():
        raise InputFormatError(f"input {path} is a folder; expected a notes file (.jsonl, .csv, .parquet)")
    if not p.exists():
        raise InputFormatError(f"input file {path} does not exist")


def read_records(
    path: str, fmt: Format | str | None = None, stdin: IO[bytes] | None = None
) -> Iterator[tuple[int, Any]]:
    """Stream records from a dump.

    Args:
        path: the file, or ``-`` for stdin.
        fmt: a :class:`~nlp.formats.Format` or format name; detected from the
            extension when None.
        stdin: the binary stream to read for ``-`` (``sys.stdin.buffer`` by default).

    Yields:
        ``(line_number, record)`` for good rows and ``(line_number, RecordError)``
        for rows that cannot be parsed; line numbers are 1-based (for CSV, the
        line the row starts on; for Parquet, the row number).

    Raises:
        InputFormatError: the file is missing, a folder, or unreadable as a whole.
    """
    fmt = detect_format(path, fmt)
    check_input(path)
    if path == "-":
        if fmt.needs_path:
            raise InputFormatError(f"{fmt.name} cannot be read from stdin; pass a file path")
        yield from fmt.read(stdin if stdin is not None else sys.stdin.buffer, "-")
        return
    _, compression = _suffixes(path)
    opener = COMPRESSIONS[compression] if compression else open
    with opener(path, "rb") as stream:
        yield from fmt.read(stream, path)


def count_rows(path: str, fmt: Format | str | None = None) -> int | None:
    """Rows in a file, for progress bars: newline count (JSON Lines, CSV less its
    header) or Parquet metadata. None for stdin or compressed input."""
    fmt = detect_format(path, fmt)
    if path == "-" or _suffixes(path)[1] or not Path(path).is_file():
        return None
    if fmt.name == "parquet":
        try:
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).metadata.num_rows
        except Exception:  # progress is best effort; reading reports real errors
            return None
    lines = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            lines += chunk.count(b"\n")
    return max(0, lines - 1) if fmt.name == "csv" else lines


def raw_of(record: dict[str, Any]) -> str:
    """A one-line JSON rendering of a record, for error reports."""
    return json.dumps(record, ensure_ascii=False, default=str)


class AtomicWriter:
    """A binary file written under a temporary name and renamed on success.

    A ``.gz`` target is gzip-compressed. ``-`` writes to stdout directly.

    Args:
        path: the final path, or ``-`` for stdout.

    Raises:
        InputFormatError: the target is a folder or its folder does not exist.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._raw: IO[bytes] | None = None
        if path == "-":
            self._tmp = None
            self.stream: IO[bytes] = sys.stdout.buffer
            return
        target = Path(path)
        if target.is_dir():
            raise InputFormatError(f"output {path} is a folder; expected a file path")
        if not target.parent.exists():
            raise InputFormatError(f"output folder {target.parent} does not exist")
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        self._tmp = tmp
        self._raw = os.fdopen(fd, "wb")
        gz = _suffixes(path)[1] == ".gz"
        self.stream = gzip.GzipFile(fileobj=self._raw, mode="wb", filename="") if gz else self._raw

    def commit(self) -> None:
        """Flush and move the temporary file into place."""
        if self._tmp is None:
            self.stream.flush()
            return
        self.stream.close()
        if self._raw is not self.stream:
            self._raw.close()
        os.replace(self._tmp, self.path)
        self._tmp = None

    def abort(self) -> None:
        """Remove the temporary file (the target is left untouched)."""
        if self._tmp is None:
            return
        self.stream.close()
        if self._raw is not self.stream:
            self._raw.close()
        Path(self._tmp).unlink(missing_ok=True)
        self._tmp = None


class _Spool:
    """Flat rows kept in a temporary JSON Lines file; iterable any number of times."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())

    def add(self, row: dict[str, Any]) -> None:
        self.file.write(jsonl_line(row))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.file.seek(0)
        for line in self.file:
            yield json.loads(line)

    def close(self) -> None:
        self.file.close()


class RecordWriter:
    """Writes scored records in any registered format.

    JSON Lines is streamed. Tabular formats (CSV, Parquet) need one set of columns
    for every row while records may differ in keys, so rows are spooled to a
    temporary file and converted on :meth:`close`; memory stays flat.

    Args:
        path: output path, or ``-`` for stdout.
        fmt: the output :class:`~nlp.formats.Format` (or its name).
        flatten: turns a record into its flat (tabular) form.
    """

    def __init__(self, path: str, fmt: Format | str, flatten: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        fmt = detect_format(path, fmt)
        if fmt.needs_path and path == "-":
            raise InputFormatError(f"{fmt.name} cannot be written to stdout; pass -o FILE{fmt.extensions[0]}")
        self.fmt = fmt
        self._flatten = flatten
        self._out = AtomicWriter(path)
        self._spool = _Spool() if fmt.tabular else None
        self._columns: dict[str, None] = {}

    def write(self, record: dict[str, Any]) -> None:
        """Add one record (already carrying its results)."""
        if self._spool is None:
            self._out.stream.write(jsonl_line(record))
            return
        flat = self._flatten(record)
        self._columns.update(dict.fromkeys(flat))
        self._spool.add(flat)

    def close(self) -> None:
        """Finish the file and move it into place."""
        try:
            if self._spool is not None:
                self.fmt.write(self._spool, _ordered_columns(list(self._columns)), self._out.stream)
                self._spool.close()
            self._out.commit()
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Drop everything written so far."""
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        self._out.abort()


def _ordered_columns(columns: list[str]) -> list[str]:
    ours = [c for c in columns if c.startswith("notescore_")]
    return [c for c in columns if not c.startswith("notescore_")] + ours
