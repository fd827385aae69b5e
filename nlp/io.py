"""Reading and writing note dumps: JSON Lines, CSV, Parquet, stdin and stdout.

Readers never stop at a bad row: they yield a :class:`RecordError` in its place,
with the line (or row) number, the reason and the raw text, so the caller can
report it and go on. Writers write to a temporary file next to the target and
rename it into place on :meth:`close`, so an interrupted job never leaves a file
that looks complete.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from nlp.errors import InputFormatError, RecordError, require_extra

FORMATS = ("jsonl", "csv", "parquet")
_EXTENSIONS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv",
               ".parquet": "parquet", ".pq": "parquet"}  # fmt: skip
# CSV fields can be large (long notes); the csv module's default is 128 KiB.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def detect_format(path: str, fmt: str | None = None) -> str:
    """Decide the format of a path from ``fmt`` or its extension.

    Args:
        path: a file path, or ``-`` for stdin/stdout (JSON Lines).
        fmt: an explicit format (``jsonl``, ``csv``, ``parquet``), or None.

    Returns:
        One of :data:`FORMATS`.

    Raises:
        InputFormatError: the format is unknown or cannot be detected.
    """
    if fmt:
        fmt = fmt.lower().lstrip(".")
        fmt = "jsonl" if fmt in ("json", "ndjson") else fmt
        if fmt not in FORMATS:
            raise InputFormatError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
        return fmt
    if path == "-":
        return "jsonl"
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _EXTENSIONS:
        return _EXTENSIONS[suffixes[-1]]
    raise InputFormatError(
        f"cannot tell the format of {path!r} from its extension; expected "
        f"{', '.join(sorted(_EXTENSIONS))} — or pass --format jsonl|csv|parquet"
    )


def read_records(
    path: str, fmt: str | None = None, stdin: IO[bytes] | None = None
) -> Iterator[tuple[int, dict[str, Any] | RecordError]]:
    """Stream records from a dump.

    Args:
        path: the file, or ``-`` for stdin (JSON Lines).
        fmt: force a format; detected from the extension when None.
        stdin: the binary stream to read for ``-`` (``sys.stdin.buffer`` by default).

    Yields:
        ``(line_number, record)`` for good rows and ``(line_number, RecordError)``
        for rows that cannot be parsed; line numbers are 1-based (for CSV, the
        line the row starts on; for Parquet, the row number).

    Raises:
        InputFormatError: the file is missing, a folder, or unreadable as a whole.
    """
    fmt = detect_format(path, fmt)
    if path != "-":
        p = Path(path)
        if p.is_dir():
            raise InputFormatError(f"{path} is a folder; expected a {fmt} file")
        if not p.exists():
            raise InputFormatError(f"{path} does not exist")
    if fmt == "parquet":
        if path == "-":
            raise InputFormatError("Parquet cannot be read from stdin; pass a file path")
        yield from _read_parquet(path)
        return
    if path == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        yield from (_read_jsonl(stream) if fmt == "jsonl" else _read_csv(stream, path))
        return
    opener = _open_binary(path)
    with opener as stream:
        yield from (_read_jsonl(stream) if fmt == "jsonl" else _read_csv(stream, path))


def _open_binary(path: str) -> IO[bytes]:
    if path.lower().endswith(".gz"):
        import gzip

        return gzip.open(path, "rb")
    return open(path, "rb")


def _read_jsonl(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, Any] | RecordError]]:
    for number, raw in enumerate(stream, start=1):
        line = raw.rstrip(b"\r\n")
        if number == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield (
                number,
                RecordError(
                    number,
                    f"not valid UTF-8 (byte {exc.start}: {line[exc.start : exc.start + 4]!r}); "
                    "re-encode the file as UTF-8",
                    line.decode("utf-8", errors="replace"),
                ),
            )
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            yield number, RecordError(number, f"not valid JSON ({exc.msg} at column {exc.colno})", text)
            continue
        if not isinstance(record, dict):
            yield number, RecordError(number, f"expected a JSON object per line; found {type(record).__name__}", text)
            continue
        yield number, record


def _read_csv(stream: IO[bytes], name: str) -> Iterator[tuple[int, dict[str, Any] | RecordError]]:
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
            yield (
                number,
                RecordError(
                    number,
                    "not valid UTF-8; re-encode the file as UTF-8",
                    raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace"),
                ),
            )
            continue
        if len(row) != len(header):
            yield number, RecordError(number, f"expected {len(header)} fields as in the header; found {len(row)}", raw)
            continue
        yield number, dict(zip(header, row, strict=True))


def _has_surrogates(value: str) -> bool:
    return any("\udc80" <= c <= "\udcff" for c in value)


def _read_parquet(path: str) -> Iterator[tuple[int, dict[str, Any] | RecordError]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise require_extra("pyarrow", "parquet") from exc
    try:
        handle = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid and friends
        raise InputFormatError(f"{path}: not a readable Parquet file ({exc})") from exc
    number = 0
    # Small batches decoded on this thread: the reader's working set stays ~40 MB, not ~80 MB
    # (decoder threads each keep allocator pages); decoding is a sliver of any job's time.
    for batch in handle.iter_batches(batch_size=1024, use_threads=False):
        for record in batch.to_pylist():
            number += 1
            yield number, record


def count_rows(path: str, fmt: str | None = None) -> int | None:
    """Rows in a file, for progress bars: newline count (JSONL, CSV less its
    header) or Parquet metadata. None for stdin or compressed input."""
    fmt = detect_format(path, fmt)
    if path == "-" or path.lower().endswith(".gz") or not Path(path).is_file():
        return None
    if fmt == "parquet":
        try:
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).metadata.num_rows
        except Exception:  # progress is best effort; reading reports real errors
            return None
    lines = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            lines += chunk.count(b"\n")
    return max(0, lines - 1) if fmt == "csv" else lines


def raw_of(record: dict[str, Any]) -> str:
    """A one-line JSON rendering of a record, for error reports."""
    return json.dumps(record, ensure_ascii=False, default=str)


class AtomicWriter:
    """A binary file written under a temporary name and renamed on success.

    Args:
        path: the final path, or ``-`` for stdout (written directly).
    """

    def __init__(self, path: str) -> None:
        self.path = path
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
        self.stream = os.fdopen(fd, "wb")

    def commit(self) -> None:
        """Flush and move the temporary file into place."""
        if self._tmp is None:
            self.stream.flush()
            return
        self.stream.close()
        os.replace(self._tmp, self.path)
        self._tmp = None

    def abort(self) -> None:
        """Remove the temporary file (the target is left untouched)."""
        if self._tmp is None:
            return
        self.stream.close()
        Path(self._tmp).unlink(missing_ok=True)
        self._tmp = None


class RecordWriter:
    """Writes scored records in JSON Lines, CSV or Parquet.

    JSON Lines is streamed. CSV and Parquet need one set of columns for every
    row while records from JSON Lines may differ in keys, so rows are spooled to
    a temporary JSON Lines file and converted on :meth:`close`; memory stays flat.

    Args:
        path: output path, or ``-`` for stdout.
        fmt: ``jsonl``, ``csv`` or ``parquet``.
        flatten: a function turning a record into its flat CSV/Parquet form.
    """

    def __init__(self, path: str, fmt: str, flatten) -> None:
        if fmt == "parquet" and path == "-":
            raise InputFormatError("Parquet cannot be written to stdout; pass -o FILE.parquet")
        self.fmt = fmt
        self._flatten = flatten
        self._out = AtomicWriter(path)
        self._spool: IO[bytes] | None = None
        self._columns: dict[str, None] = {}
        if fmt != "jsonl":
            self._spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close/abort)

    def write(self, record: dict[str, Any]) -> None:
        """Add one record (already carrying its ``notescore`` key)."""
        if self._spool is None:
            self._out.stream.write(_jsonl(record))
            return
        flat = self._flatten(record)
        for key in flat:
            if key not in self._columns:
                self._columns[key] = None
        self._spool.write(_jsonl(flat))

    def close(self) -> None:
        """Finish the file and move it into place."""
        try:
            if self._spool is not None:
                self._spool.seek(0)
                columns = _ordered_columns(list(self._columns))
                if self.fmt == "csv":
                    _spool_to_csv(self._spool, columns, self._out.stream)
                else:
                    _spool_to_parquet(self._spool, columns, self._out.stream)
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


def _jsonl(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def _spool_to_csv(spool: IO[bytes], columns: list[str], out: IO[bytes]) -> None:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer = csv.DictWriter(text, fieldnames=columns, restval="", extrasaction="ignore")
    writer.writeheader()
    for line in spool:
        row = json.loads(line)
        writer.writerow({k: _cell(v) for k, v in row.items()})
    text.flush()
    text.detach()


def _column_types(spool: IO[bytes], columns: list[str]) -> dict[str, str]:
    seen: dict[str, set[str]] = {c: set() for c in columns}
    for line in spool:
        for key, value in json.loads(line).items():
            if value is None:
                continue
            if isinstance(value, bool):
                seen[key].add("bool")
            elif isinstance(value, int):
                seen[key].add("int")
            elif isinstance(value, float):
                seen[key].add("float")
            elif isinstance(value, str):
                seen[key].add("str")
            else:
                seen[key].add("json")
    spool.seek(0)
    types: dict[str, str] = {}
    for column, kinds in seen.items():
        if kinds <= {"int"}:
            types[column] = "int" if kinds else "str"
        elif kinds <= {"int", "float"}:
            types[column] = "float"
        elif kinds == {"bool"}:
            types[column] = "bool"
        else:
            types[column] = "str"
    return types


def _spool_to_parquet(spool: IO[bytes], columns: list[str], out: IO[bytes]) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise require_extra("pyarrow", "parquet") from exc
    types = _column_types(spool, columns)
    arrow = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "str": pa.string()}
    schema = pa.schema([(c, arrow[types[c]]) for c in columns])

    def convert(value: Any, kind: str) -> Any:
        if value is None:
            return None
        if kind == "str" and not isinstance(value, str):
            return _cell(value) if isinstance(value, (dict, list)) else json.dumps(value)
        if kind == "float":
            return float(value)
        return value

    writer = pq.ParquetWriter(out, schema)
    rows: list[dict[str, Any]] = []
    for line in spool:
        row = json.loads(line)
        rows.append({c: convert(row.get(c), types[c]) for c in columns})
        if len(rows) >= 4096:
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))
            rows = []
    if rows:
        writer.write_table(pa.Table.from_pylist(rows, schema=schema))
    writer.close()
