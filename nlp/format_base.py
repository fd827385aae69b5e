"""What every file format shares: reader and writer options, the row stream type,
flat cells, and the messages for bytes that do not decode.

The formats themselves live in :mod:`nlp.format_json`, :mod:`nlp.format_csv`,
:mod:`nlp.format_parquet` and :mod:`nlp.format_xlsx`; the registry that names
them is :mod:`nlp.formats`.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from nlp.errors import InputFormatError, RecordError

Rows = Iterator[tuple[int, "dict[str, Any] | RecordError"]]


@dataclass(frozen=True)
class ReadOptions:
    """How to read a dump, whatever its format.

    Attributes:
        encoding: the text encoding of JSON, JSON Lines, CSV and TSV files
            (``utf-8``, ``gb18030``, ``gbk``, ``utf-16``, …); a UTF-8 BOM is
            always allowed. Parquet and xlsx carry their own.
        delimiter: the CSV/TSV field separator; the format's own (``,`` or a
            tab) when None.

    Raises:
        InputFormatError: an unknown encoding or a delimiter that is not one character.
    """

    encoding: str = "utf-8"
    delimiter: str | None = None

    def __post_init__(self) -> None:
        try:
            codecs.lookup(self.encoding)
        except LookupError as exc:
            raise InputFormatError(
                f"unknown encoding {self.encoding!r}; expected a Python codec name such as utf-8, gb18030, gbk, utf-16"
            ) from exc
        if self.delimiter is not None and (len(self.delimiter) != 1 or self.delimiter in '"\r\n'):
            raise InputFormatError(
                f"delimiter {self.delimiter!r}: expected one character other than a quote or a newline "
                "(for a tab: --delimiter tab)"
            )

    @property
    def text_encoding(self) -> str:
        """The codec to decode with: UTF-8 readers also strip a leading BOM."""
        return "utf-8-sig" if codecs.lookup(self.encoding).name == "utf-8" else self.encoding

    @property
    def encoding_label(self) -> str:
        """The encoding's name for messages (``UTF-8``, ``GB18030``)."""
        return codecs.lookup(self.encoding).name.upper().replace("_", "-")


@dataclass(frozen=True)
class WriteOptions:
    """How to write tabular output.

    Attributes:
        csv_raw: write CSV/TSV cells exactly as they are. By default a text cell
            that a spreadsheet would run as a formula (starting with ``=``, ``+``,
            ``-``, ``@``, a tab or a carriage return, and not a plain number) is
            prefixed with ``'`` (OWASP's rule against CSV injection).
    """

    csv_raw: bool = False


def cell(value: Any) -> Any:
    """A flat cell: nested values (lists, objects) become JSON strings."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "backslashreplace")
    return value


def undecodable(exc: UnicodeDecodeError, data: bytes, options: ReadOptions) -> str:
    """The reason given for a row whose bytes are not valid in the file's encoding."""
    bad = data[exc.start : exc.start + 4]
    fix = "pass --encoding (e.g. gb18030) or re-encode the file as UTF-8"
    if options.encoding_label != "UTF-8":
        fix = "pass the file's real --encoding or re-encode it as UTF-8"
    return f"not valid {options.encoding_label} (byte {exc.start}: {bad!r}); {fix}"


def has_surrogates(value: str) -> bool:
    """Whether a string holds lone surrogates (undecodable bytes or unpaired UTF-16 halves)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def surrogate_field(record: Any, path: str = "") -> str | None:
    """The first field (``nick``, ``user.name``, ``tags[2]``) holding a lone surrogate, or None."""
    if isinstance(record, str):
        return (path or "(value)") if has_surrogates(record) else None
    if isinstance(record, dict):
        for key, value in record.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and has_surrogates(key):
                return repr(key.encode("utf-8", "backslashreplace").decode("ascii"))
            found = surrogate_field(value, where)
            if found:
                return found
    elif isinstance(record, list):
        for i, value in enumerate(record):
            found = surrogate_field(value, f"{path}[{i}]")
            if found:
                return found
    return None
