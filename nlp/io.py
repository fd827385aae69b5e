"""Reading and writing note dumps: format detection, compression, stdin/stdout,
and writers that never leave a half file that looks complete.

Readers never stop at a bad row: they yield a :class:`RecordError` in its place,
with the line (or row) number, the reason and the raw text, so the caller can
report it and go on. Writers write to a temporary file next to the target and
rename it into place on :meth:`RecordWriter.close` (see :mod:`nlp.atomic`). The
formats themselves are registered in :mod:`nlp.formats`.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from nlp.atomic import AtomicWriter, check_output_path
from nlp.compression import COMPRESSIONS, split_suffixes
from nlp.errors import InputFormatError, OutputPathError
from nlp.format_json import jsonl_line
from nlp.formats import ALIASES, FORMATS, Format, ReadOptions, WriteOptions

__all__ = [
    "COMPRESSIONS",
    "AtomicWriter",
    "RecordWriter",
    "check_input",
    "check_output_path",
    "count_rows",
    "detect_format",
    "raw_of",
    "read_records",
]


def _by_name(fmt: str) -> Format:
    key = ALIASES.get(fmt.lower().lstrip("."), fmt.lower().lstrip("."))
    if key not in FORMATS:
        raise InputFormatError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return FORMATS[key]


def detect_format(path: str | Path, fmt: Format | str | None = None, *, output: bool = False) -> Format:
    """Decide the format of a path from ``fmt`` or its extension.

    Args:
        path: a file path (``.gz``/``.zst`` allowed after the format's extension), or
            ``-``: stdin (JSON Lines, or a JSON array) or stdout (JSON Lines).
        fmt: an explicit format (a :class:`~nlp.formats.Format`, returned as it is, or a
            name from :data:`nlp.formats.FORMATS`), or None.
        output: the path is to be written (refuses read-only formats).

    Returns:
        The :class:`~nlp.formats.Format`.

    Raises:
        InputFormatError: the format is unknown or cannot be detected.
        OutputPathError: ``output`` and the format cannot be written.

    Example:
        >>> detect_format("notes.csv.gz").name
        'csv'
    """
    path = str(path)
    if isinstance(fmt, Format):
        found = fmt
    elif fmt:
        found = _by_name(fmt)
    elif path == "-":
        found = FORMATS["jsonl" if output else "json"]
    else:
        found = _by_extension(path)
    if output and not found.writable:
        writable = ", ".join(f.name for f in FORMATS.values() if f.writable)
        raise OutputPathError(f"{path}: notescore reads {found.name} but cannot write it; write one of {writable}")
    return found


def _by_extension(path: str) -> Format:
    suffixes, _ = split_suffixes(path)
    for f in FORMATS.values():
        if suffixes and suffixes[-1] in f.extensions:
            return f
    known = sorted(e for f in FORMATS.values() for e in f.extensions)
    raise InputFormatError(
        f"cannot tell the format of {path!r} from its extension; expected one of {', '.join(known)} "
        f"(optionally + {' or '.join(COMPRESSIONS)}) — or pass --format {'|'.join(FORMATS)}"
    )


def check_input(path: str | Path) -> None:
    """Refuse a missing, unreadable input or a folder, before any output is created.

    Raises:
        InputFormatError: naming what was found and what is expected.
    """
    path = str(path)
    if path == "-":
        return
    p = Path(path)
    if p.is_dir():
        raise InputFormatError(f"input {path} is a folder; expected a notes file (.jsonl, .json, .csv, .parquet, …)")
    if not p.exists():
        raise InputFormatError(f"input file {path} does not exist")
    if not os.access(p, os.R_OK):
        raise InputFormatError(f"input file {path} is not readable (permission denied)")


def read_records(
    path: str | Path,
    fmt: Format | str | None = None,
    stdin: IO[bytes] | None = None,
    options: ReadOptions | None = None,
) -> Iterator[tuple[int, Any]]:
    """Stream records from a dump.

    Args:
        path: the file, or ``-`` for stdin.
        fmt: a :class:`~nlp.formats.Format` or format name; detected from the
            extension when None.
        stdin: the binary stream to read for ``-`` (``sys.stdin.buffer`` by default).
        options: encoding and delimiter (see :class:`~nlp.formats.ReadOptions`).

    Yields:
        ``(line_number, record)`` for good rows and ``(line_number, RecordError)``
        for rows that cannot be parsed; numbers are 1-based (for CSV, the line the
        row starts on; for Parquet, the row number; for a JSON array, the element).

    Raises:
        InputFormatError: the file is missing, a folder, or unreadable as a whole.
    """
    path = str(path)
    fmt = detect_format(path, fmt)
    options = options or ReadOptions()
    check_input(path)
    if path == "-":
        if fmt.needs_path:
            raise InputFormatError(f"{fmt.name} cannot be read from stdin; pass a file path")
        yield from fmt.read(stdin if stdin is not None else sys.stdin.buffer, "-", options)
        return
    compression = split_suffixes(path)[1]
    with open(path, "rb") as raw:
        stream = compression.reader(raw) if compression else raw
        try:
            yield from fmt.read(stream, path, options)
        except (OSError, EOFError) as exc:  # a truncated or corrupt .gz/.zst
            raise InputFormatError(f"{path}: cannot be read to the end ({type(exc).__name__}: {exc})") from exc
        finally:
            if stream is not raw:
                stream.close()


def count_rows(path: str | Path, fmt: Format | str | None = None) -> int | None:
    """Rows in a file, for progress bars: newline count (JSON Lines, CSV/TSV less the
    header) or Parquet metadata. None where that is unknown (stdin, compressed, JSON)."""
    path = str(path)
    fmt = detect_format(path, fmt)
    if path == "-" or split_suffixes(path)[1] or not Path(path).is_file():
        return None
    if fmt.name == "parquet":
        try:
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).metadata.num_rows
        except Exception:  # progress is best effort; reading reports real errors
            return None
    if fmt.name not in ("jsonl", "csv", "tsv"):
        return None
    lines = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            lines += chunk.count(b"\n")
    return lines if fmt.name == "jsonl" else max(0, lines - 1)


def raw_of(record: dict[str, Any]) -> str:
    """A one-line JSON rendering of a record, for error reports."""
    return json.dumps(record, ensure_ascii=False, default=str)


class _Spool:
    """Flat rows kept in a temporary file (pickled, so bytes, big ints and dates keep their
    type); iterable any number of times."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())

    def add(self, row: dict[str, Any]) -> None:
        pickle.dump(row, self.file, protocol=pickle.HIGHEST_PROTOCOL)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.file.seek(0)
        while True:
            try:
                yield pickle.load(self.file)  # noqa: S301 (our own temporary file)
            except EOFError:
                return

    def close(self) -> None:
        self.file.close()


class RecordWriter:
    """Writes scored records in any writable registered format.

    JSON Lines and JSON arrays are streamed. Tabular formats (CSV, TSV, Parquet)
    need one set of columns for every row while records may differ in keys, so
    rows are spooled to a temporary file and converted on :meth:`close`; memory
    stays flat.

    Args:
        path: output path, or ``-`` for stdout.
        fmt: the output :class:`~nlp.formats.Format` (or its name).
        flatten: turns a record into its flat (tabular) form.
        options: how tabular cells are written (see :class:`~nlp.formats.WriteOptions`).
        columns: columns every tabular output carries, even with no rows (the results').
        no_clobber: refuse to replace an existing file.
    """

    def __init__(
        self,
        path: str | Path,
        fmt: Format | str | None,
        flatten: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        options: WriteOptions | None = None,
        columns: Iterable[str] = (),
        no_clobber: bool = False,
    ) -> None:
        fmt = detect_format(path, fmt, output=True)
        if fmt.needs_path and str(path) == "-":
            raise OutputPathError(f"{fmt.name} cannot be written to stdout; pass -o FILE{fmt.extensions[0]}")
        self.fmt = fmt
        self.options = options or WriteOptions()
        self._flatten = flatten
        self._out = AtomicWriter(path, no_clobber=no_clobber)
        self._spool = _Spool() if fmt.tabular else None
        self._tail = list(columns)
        self._columns: dict[str, None] = {}
        self._count = 0
        if fmt.framing is not None:
            self._out.stream.write(fmt.framing.start)

    def write(self, record: dict[str, Any]) -> None:
        """Add one record (already carrying its results)."""
        if self._spool is None:
            framing = self.fmt.framing
            if self._count and framing.separator:
                self._out.stream.write(framing.separator)
            line = jsonl_line(record)
            self._out.stream.write(line if framing.separator == b"" else line[:-1])
        else:
            flat = self._flatten(record)
            self._columns.update(dict.fromkeys(flat))
            self._spool.add(flat)
        self._count += 1

    def close(self) -> None:
        """Finish the file and move it into place."""
        try:
            if self._spool is not None:
                columns = list(self._columns) + [c for c in self._tail if c not in self._columns]
                self.fmt.write(self._spool, _ordered_columns(columns, self._tail), self._out.stream, self.options)
                self._spool.close()
            else:
                self._out.stream.write(self.fmt.framing.end)
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


def _ordered_columns(columns: list[str], ours: list[str]) -> list[str]:
    """The input's columns first, then the results' in their own order."""
    mine = set(ours)
    return [c for c in columns if c not in mine] + [c for c in ours if c in columns]
