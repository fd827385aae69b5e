"""JSON Lines and JSON (an array of objects, or JSON Lines under a ``.json`` name).

Both are read as a stream: a JSON array is parsed element by element with an
incremental decoder, so a multi-gigabyte array needs no more memory than its
largest element. Writing never produces invalid JSON: ``NaN`` and ``Infinity``
(which Python's ``json`` reads) are written as ``null``, and a string that cannot
be UTF-8 is escaped.
"""

from __future__ import annotations

import codecs
import datetime
import itertools
import json
import math
import re
from collections.abc import Iterable
from typing import IO, Any

from nlp.errors import DecodeError, RecordError
from nlp.format_base import ReadOptions, Rows, surrogate_field, undecodable

# A JSON escape of a UTF-16 surrogate: the only way a lone surrogate gets into a parsed line.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_WHITESPACE = " \t\r\n"
# Bytes read from a JSON array at a time, and the most one element may span.
_CHUNK = 1 << 20
MAX_ELEMENT_CHARS = 64 << 20
_DEFAULT = ReadOptions()


def _surrogate_error(number: int, record: Any, raw: str) -> RecordError | None:
    where = surrogate_field(record)
    if where is None:
        return None
    reason = (
        f"field {where} holds a lone surrogate (half of a UTF-16 pair, or bytes that are not text); "
        "it cannot be written as UTF-8: fix the value at the source"
    )
    return RecordError(number, reason, raw)


def read_jsonl(stream: IO[bytes] | Iterable[bytes], name: str = "-", options: ReadOptions = _DEFAULT) -> Rows:
    """JSON Lines: one object per line; blank lines skipped; a UTF-8 BOM allowed."""
    encoding = options.encoding
    for number, raw in enumerate(stream, start=1):
        line = raw.rstrip(b"\r\n")
        if number == 1 and line.startswith(codecs.BOM_UTF8) and options.text_encoding == "utf-8-sig":
            line = line[3:]
        if not line.strip():
            continue
        try:
            text = line.decode(encoding)
        except UnicodeDecodeError as exc:
            yield number, DecodeError(number, undecodable(exc, line, options), line.decode(encoding, "replace"))
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            yield number, RecordError(number, f"not valid JSON ({exc.msg}, column {exc.colno})", text)
            continue
        if not isinstance(record, dict):
            yield number, RecordError(number, f"expected a JSON object per line; found {type(record).__name__}", text)
            continue
        error = _surrogate_error(number, record, text) if _SURROGATE_ESCAPE.search(text) else None
        yield number, error or record


def read_json(stream: IO[bytes], name: str = "-", options: ReadOptions = _DEFAULT) -> Rows:
    """A ``.json`` file: a JSON array of objects (streamed) or, failing a leading ``[``, JSON Lines.

    For an array, the numbers yielded are element positions (1-based); the reasons
    of syntax errors name the file line.
    """
    consumed: list[bytes] = []
    while True:
        chunk = stream.readline(1 << 16)
        if not chunk:
            return
        consumed.append(chunk)
        significant = chunk.lstrip(codecs.BOM_UTF8 if len(consumed) == 1 else b"").strip()
        if significant:
            break
    if significant.startswith(b"["):
        yield from _read_array(b"".join(consumed), stream, name, options)
        return
    if not consumed[-1].endswith(b"\n"):
        consumed[-1] += stream.readline()
    yield from read_jsonl(itertools.chain(consumed, stream), name, options)


class _ArrayText:
    """The decoded text of a JSON array, read chunk by chunk, with a moving start."""

    def __init__(self, head: bytes, stream: IO[bytes], options: ReadOptions) -> None:
        self.stream = stream
        self.decoder = codecs.getincrementaldecoder(options.text_encoding)(errors="surrogateescape")
        self.buf = self.decoder.decode(head)
        self.eof = False
        self.lines_before = 0  # newlines in the text already dropped from buf

    def more(self) -> bool:
        """Read another chunk; False at the end of the file."""
        if self.eof:
            return False
        data = self.stream.read(_CHUNK)
        if not data:
            self.eof = True
            self.buf += self.decoder.decode(b"", final=True)
            return False
        self.buf += self.decoder.decode(data)
        return True

    def skip(self, pos: int) -> int:
        """The first non-whitespace position at or after ``pos`` (reading on as needed)."""
        while True:
            while pos < len(self.buf) and self.buf[pos] in _WHITESPACE:
                pos += 1
            if pos < len(self.buf) or not self.more():
                return pos

    def drop(self, pos: int) -> int:
        """Forget the text before ``pos`` once it is large; returns the new position."""
        if pos < _CHUNK:
            return pos
        self.lines_before += self.buf.count("\n", 0, pos)
        self.buf = self.buf[pos:]
        return 0

    def where(self, pos: int) -> str:
        line = self.lines_before + self.buf.count("\n", 0, pos) + 1
        column = pos - (self.buf.rfind("\n", 0, pos) + 1) + 1
        return f"file line {line}, column {column}"


def _read_array(head: bytes, stream: IO[bytes], name: str, options: ReadOptions) -> Rows:
    text = _ArrayText(head, stream, options)
    decode = json.JSONDecoder().raw_decode
    pos = text.skip(text.buf.index("[") + 1)
    if text.buf.startswith("]", pos):
        yield from _trailing(text, pos + 1, 0)
        return
    index = 0
    while True:
        index += 1
        while True:
            try:
                value, end = decode(text.buf, pos)
            except json.JSONDecodeError as exc:
                if len(text.buf) - pos < MAX_ELEMENT_CHARS and text.more():
                    continue
                reason = f"not valid JSON at {text.where(exc.pos)} ({exc.msg}); the rest of the array cannot be read"
                yield index, RecordError(index, reason, text.buf[pos : pos + 2000])
                return
            # A number or literal cut by the chunk's end parses short: read on and decode again.
            if end < len(text.buf) or not text.more():
                break
        raw = text.buf[pos:end]
        if not isinstance(value, dict):
            found = type(value).__name__
            yield index, RecordError(index, f"expected a JSON object per array element; found {found}", raw)
        else:
            yield index, _surrogate_error(index, value, raw) or value
        pos = text.skip(end)
        if text.buf.startswith("]", pos):
            yield from _trailing(text, pos + 1, index)
            return
        if not text.buf.startswith(",", pos):
            found = repr(text.buf[pos : pos + 20]) if pos < len(text.buf) else "the end of the file"
            reason = f"not valid JSON at {text.where(pos)}: expected ',' or ']' after element {index}; found {found}"
            yield index + 1, RecordError(index + 1, reason + "; the rest of the file cannot be read", "")
            return
        pos = text.drop(text.skip(pos + 1))


def _trailing(text: _ArrayText, pos: int, index: int) -> Rows:
    """After the closing ``]`` only whitespace may follow."""
    pos = text.skip(pos)
    if pos < len(text.buf):
        reason = f"unexpected data after the JSON array at {text.where(pos)}; it is not read"
        yield index + 1, RecordError(index + 1, reason, text.buf[pos : pos + 2000])


# ------------------------------------------------------------------- writing


def _default(value: Any) -> Any:
    """JSON for the values Parquet and xlsx hand over: bytes, dates, decimals."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def json_text(value: Any, ascii_only: bool = False) -> str:
    """One value as strict JSON text: ``NaN``/``Infinity`` become ``null``."""
    try:
        return json.dumps(value, ensure_ascii=ascii_only, allow_nan=False, default=_default)
    except ValueError:  # a non-finite float somewhere
        return json.dumps(_finite(value), ensure_ascii=ascii_only, allow_nan=False, default=_default)


def json_bytes(value: Any) -> bytes:
    """One value as UTF-8 JSON; a lone surrogate is written as its ``\\uXXXX`` escape."""
    text = json_text(value)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json_text(value, ascii_only=True).encode("ascii")


def jsonl_line(record: dict[str, Any]) -> bytes:
    """One record as a JSON Lines line (UTF-8, non-ASCII kept)."""
    return json_bytes(record) + b"\n"
