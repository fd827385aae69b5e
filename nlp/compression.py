"""Compressed dumps: the suffixes notescore reads and writes through, around every format.

``.gz`` uses the standard library; ``.zst`` needs the ``zst`` extra (zstandard).
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from nlp.errors import require_extra


@dataclass(frozen=True)
class Compression:
    """One compression: ``reader(raw)`` and ``writer(raw)`` wrap a binary file.

    Closing the writer finishes the compressed stream but leaves ``raw`` open.
    """

    suffix: str
    reader: Callable[[IO[bytes]], IO[bytes]]
    writer: Callable[[IO[bytes]], IO[bytes]]


def _zstandard():
    try:
        import zstandard
    except ImportError as exc:
        raise require_extra("zstandard", "zst") from exc
    return zstandard


def _zst_reader(raw: IO[bytes]) -> IO[bytes]:
    reader = _zstandard().ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=False)
    return io.BufferedReader(reader, buffer_size=1 << 20)  # line iteration and readline


def _zst_writer(raw: IO[bytes]) -> IO[bytes]:
    return _zstandard().ZstdCompressor(level=3).stream_writer(raw, closefd=False)


COMPRESSIONS: dict[str, Compression] = {
    c.suffix: c
    for c in (
        Compression(".gz", lambda raw: gzip.GzipFile(fileobj=raw, mode="rb"),
                    lambda raw: gzip.GzipFile(fileobj=raw, mode="wb", filename="")),
        Compression(".zst", _zst_reader, _zst_writer),
    )
}  # fmt: skip


def split_suffixes(path: str | Path) -> tuple[list[str], Compression | None]:
    """A path's lower-case suffixes before any compression suffix, and that compression.

    Example:
        >>> split_suffixes("notes.csv.gz")[0]
        ['.csv']
    """
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        return suffixes[:-1], COMPRESSIONS[suffixes[-1]]
    return suffixes, None
