"""Excel ``.xlsx`` input: the first sheet, its first row the header, streamed with
openpyxl's read-only mode (the ``xlsx`` extra)."""

from __future__ import annotations

import datetime
from typing import IO, Any

from nlp.errors import InputFormatError, RecordError, require_extra
from nlp.format_base import ReadOptions, Rows

_DEFAULT = ReadOptions()


def _value(value: Any) -> Any:
    """A cell as a JSON-friendly value: dates and times in ISO form."""
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return value


def _header(cells: tuple[Any, ...]) -> list[str]:
    names = [str(c).strip() if c is not None else "" for c in cells]
    while names and not names[-1]:
        names.pop()
    return [n or f"column_{i + 1}" for i, n in enumerate(names)]


def read_xlsx(stream: IO[bytes], name: str = "-", options: ReadOptions = _DEFAULT) -> Rows:
    """The first sheet of a workbook; numbers are the sheet's row numbers. Blank rows are skipped."""
    try:
        import openpyxl
    except ImportError as exc:
        raise require_extra("openpyxl", "xlsx") from exc
    try:
        book = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException, …
        raise InputFormatError(f"{name}: not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from exc
    try:
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = _header(next(rows, ()))
        if not header:
            return
        for number, cells in enumerate(rows, start=2):
            if all(c is None or c == "" for c in cells):
                continue
            extra = [c for c in cells[len(header) :] if c is not None]
            if extra:
                raw = "\t".join("" if c is None else str(c) for c in cells)
                found = len(header) + len(extra)
                yield number, RecordError(number, f"{found} cells where the header has {len(header)}", raw)
                continue
            padded = list(cells[: len(header)]) + [None] * max(0, len(header) - len(cells))
            yield number, {h: _value(v) for h, v in zip(header, padded, strict=True)}
    finally:
        book.close()
