"""Loading labelled notes for training and evaluation (with ``datasets``).

Records follow LABELS.md: a text field (``text``/``content``/``desc``/…), an
optional ``title``, and either ``label`` (one of the labels) or, for sources that
only tell one side, ``labels_allowed`` (the labels the note may have: a rumour
corpus's "non-rumour" rows are ``["genuine", "sponsored"]``). ``source`` names
where a record came from; it defaults to the file name.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlp.encoding import compose_text
from nlp.errors import InputFormatError, NotescoreError, RecordError
from nlp.io import detect_format, read_records
from nlp.scoring import pick_text

log = logging.getLogger(__name__)


class DataError(NotescoreError, ValueError):
    """Labelled data that cannot be trained on (bad rows are listed)."""


@dataclass
class Example:
    """One training example."""

    text: str
    allowed: tuple[str, ...]
    source: str
    label: str | None = None


_BUILDERS = {"jsonl": "json", "csv": "csv", "parquet": "parquet"}


def load_rows(paths: Sequence[str]) -> list[tuple[str, int, dict[str, Any]]]:
    """Read labelled files with ``datasets``; returns ``(file, row number, record)``.

    Raises:
        InputFormatError: a file is missing or unreadable.
    """
    try:
        import datasets
    except ImportError:  # the scoring readers give the same rows, one by one
        log.warning("datasets is not installed (pip install 'notescore[train]'); reading with nlp.io")
        return _load_rows_plain(paths)
    datasets.disable_progress_bars()
    rows = []
    for path in paths:
        if not Path(path).is_file():
            raise InputFormatError(f"training data {path} does not exist")
        fmt = detect_format(path)
        try:
            ds = datasets.load_dataset(_BUILDERS[fmt], data_files=str(path), split="train")
        except Exception as exc:  # datasets raises many types for a bad file
            raise InputFormatError(f"{path}: cannot load as {fmt} ({exc})") from exc
        rows.extend((str(path), i + 1, record) for i, record in enumerate(ds))
    return rows


def _load_rows_plain(paths: Sequence[str]) -> list[tuple[str, int, dict[str, Any]]]:
    rows = []
    for path in paths:
        for number, item in read_records(str(path)):
            if isinstance(item, RecordError):
                raise InputFormatError(f"{path} line {number}: {item.reason}")
            rows.append((str(path), number, item))
    return rows


def to_examples(
    rows: Sequence[tuple[str, int, dict[str, Any]]], labels: Sequence[str], max_errors: int = 10
) -> list[Example]:
    """Validate rows and turn them into :class:`Example` objects.

    Raises:
        DataError: some rows lack a text or have an unknown label; the first
            ``max_errors`` are listed with file and row number.
    """
    examples: list[Example] = []
    problems: list[str] = []
    for path, number, record in rows:
        try:
            text, title = pick_text(record, number, None, None)
        except RecordError as err:
            problems.append(f"{path} row {number}: {err.reason}")
            continue
        label = record.get("label")
        allowed = record.get("labels_allowed")
        if label in labels:
            allowed_t = (label,)
        elif isinstance(allowed, (list, tuple)) and allowed and set(allowed) <= set(labels):
            allowed_t, label = tuple(allowed), None
        else:
            problems.append(
                f"{path} row {number}: label {label!r} is not one of {list(labels)} (or give labels_allowed)"
            )
            continue
        source = record.get("source") or Path(path).name.split(".")[0]
        examples.append(Example(compose_text(text, title), allowed_t, str(source), label))
    if problems:
        shown = "\n  ".join(problems[:max_errors])
        more = f"\n  … and {len(problems) - max_errors} more" if len(problems) > max_errors else ""
        raise DataError(f"{len(problems)} labelled rows cannot be used:\n  {shown}{more}")
    if not examples:
        raise DataError("no labelled rows found")
    return examples
