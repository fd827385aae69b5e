"""Scoring whole note dumps: stream, batch, keep order, report every bad row."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlp.classifier import NoteClassifier, Prediction
from nlp.errors import InputFormatError, RecordError
from nlp.formats import Format
from nlp.io import AtomicWriter, RecordWriter, detect_format, read_records
from nlp.records import OUTPUT_KEY, TEXT_FIELDS, pick_text

log = logging.getLogger(__name__)
# Rows held in memory at once: enough for length-sorted batches to pay off,
# small enough that memory stays flat on any dump.
WINDOW = 2048


@dataclass
class ScoreSummary:
    """What a scoring job did. ``rows_read == rows_scored + rows_failed`` always."""

    rows_read: int = 0
    rows_scored: int = 0
    rows_failed: int = 0
    seconds: float = 0.0
    labels: Counter = field(default_factory=Counter)
    output: str = "-"
    errors_path: str | None = None

    @property
    def rows_per_second(self) -> float:
        """Scored rows per second of wall time."""
        return self.rows_scored / self.seconds if self.seconds > 0 else 0.0


class StrictModeError(RecordError):
    """Raised with ``strict=True`` at the first row that cannot be scored."""


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    """The CSV/Parquet form of a scored record: ``notescore_*`` columns.

    Example:
        >>> flatten({"id": 1, "notescore": {"label": "genuine", "scores":
        ...     {"genuine": 1.0}, "keywords": ["a", "b"]}})["notescore_keywords"]
        'a|b'
    """
    out = {k: v for k, v in record.items() if k != OUTPUT_KEY}
    result = record.get(OUTPUT_KEY)
    if result is not None:
        out["notescore_label"] = result["label"]
        for label, p in result["scores"].items():
            out[f"notescore_{label}"] = p
        out["notescore_keywords"] = "|".join(result["keywords"])
    return out


def score_records(
    records: Iterable[tuple[int, dict[str, Any] | RecordError]],
    classifier: NoteClassifier,
    text_field: str | None = None,
    title_field: str | None = None,
    window: int = WINDOW,
) -> Iterator[tuple[int, dict[str, Any] | RecordError]]:
    """Score a stream of records, in order, window by window.

    Args:
        records: ``(line, record or RecordError)`` pairs, as from :func:`nlp.io.read_records`.
        classifier: the loaded model.
        text_field: see :func:`pick_text`.
        title_field: see :func:`pick_text`.
        window: rows scored together (sorted by length inside).

    Yields:
        ``(line, scored record)`` with the ``notescore`` key added, or
        ``(line, RecordError)`` for rows that could not be scored, in input order.
    """
    pending: list[tuple[int, Any, tuple[str, str | None] | None]] = []
    # Start small so the first rows come out (and start-up is short), then grow.
    size = min(64, window)
    for line, item in records:
        if isinstance(item, RecordError):
            pending.append((line, item, None))
        else:
            try:
                pending.append((line, item, pick_text(item, line, text_field, title_field)))
            except RecordError as err:
                pending.append((line, err, None))
        if len(pending) >= size:
            yield from _score_window(pending, classifier)
            pending = []
            size = min(size * 4, window)
    if pending:
        yield from _score_window(pending, classifier)


def _score_window(pending, classifier: NoteClassifier):
    good = [(i, tt) for i, (_, _, tt) in enumerate(pending) if tt is not None]
    predictions: dict[int, Prediction] = {}
    if good:
        texts = [t for _, (t, _) in good]
        titles = [ti for _, (_, ti) in good]
        for (i, _), prediction in zip(good, classifier.predict_many(texts, titles), strict=True):
            predictions[i] = prediction
    for i, (line, item, _) in enumerate(pending):
        if i in predictions:
            yield line, {**item, OUTPUT_KEY: predictions[i].to_dict()}
        else:
            yield line, item


def default_errors_path(output: str, input_path: str) -> Path:
    """Where the errors file goes when ``--errors`` is not given.

    Next to OUTPUT (``out.jsonl`` → ``out.errors.jsonl``); next to the input
    when writing to stdout; ``notescore.errors.jsonl`` in the working folder
    when both are streams.
    """
    base = output if output != "-" else input_path
    if base == "-":
        return Path("notescore.errors.jsonl")
    p = Path(base)
    stem = p.name.split(".")[0] or p.name
    return p.with_name(f"{stem}.errors.jsonl")


def score_file(
    input_path: str,
    output_path: str,
    classifier: NoteClassifier,
    *,
    input_format: Format | str | None = None,
    output_format: Format | str | None = None,
    text_field: str | None = None,
    title_field: str | None = None,
    errors_path: str | None = None,
    strict: bool = False,
    stdin=None,
    on_progress: Callable[[int, int], None] | None = None,
) -> ScoreSummary:
    """Score a dump file (or stdin) into an output file (or stdout).

    Every row read is either written to the output with a ``notescore`` key or
    written to the errors file (JSON Lines: ``line``, ``reason``, ``raw``).
    Output and errors are written under temporary names and renamed at the end.

    Args:
        input_path: the dump, or ``-`` for stdin.
        output_path: the output, or ``-`` for stdout.
        classifier: the loaded model.
        input_format: force the input format (a :class:`~nlp.formats.Format` or its name).
        output_format: force the output format (defaults to the extension,
            JSON Lines for stdout).
        text_field: the body field (see :func:`pick_text`).
        title_field: the title field.
        errors_path: where bad rows go; see :func:`default_errors_path`.
        strict: stop at the first bad row instead.
        stdin: binary stream used for ``-``.
        on_progress: called with ``(rows_read, rows_failed)`` after each window.

    Returns:
        A :class:`ScoreSummary`.

    Raises:
        InputFormatError: the input cannot be opened or the formats are unknown.
        StrictModeError: with ``strict``, the first bad row.
    """
    in_fmt = detect_format(input_path, input_format)
    out_fmt = detect_format(output_path, output_format)
    records = read_records(input_path, in_fmt, stdin=stdin)
    # Open the input before creating any output, so a missing file leaves nothing behind.
    first = next(records, None)
    summary = ScoreSummary(output=output_path)
    errors_target = str(errors_path or default_errors_path(output_path, input_path))
    writer = RecordWriter(output_path, out_fmt, flatten)
    errors: AtomicWriter | None = None
    started = time.perf_counter()

    def stream():
        if first is not None:
            yield first
            yield from records

    try:
        last_report = 0
        for line, item in score_records(stream(), classifier, text_field, title_field):
            summary.rows_read += 1
            if isinstance(item, RecordError):
                if strict:
                    raise StrictModeError(line, item.reason, item.raw)
                if errors is None:
                    errors = AtomicWriter(errors_target)
                entry = {"line": line, "reason": item.reason, "raw": item.raw}
                errors.stream.write((json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8"))
                summary.rows_failed += 1
                continue
            writer.write(item)
            summary.rows_scored += 1
            summary.labels[item[OUTPUT_KEY]["label"]] += 1
            if on_progress and summary.rows_read - last_report >= 256:
                last_report = summary.rows_read
                on_progress(summary.rows_read, summary.rows_failed)
        writer.close()
        if errors is not None:
            errors.commit()
            summary.errors_path = errors_target
    except BaseException:
        writer.abort()
        if errors is not None:
            errors.abort()
        raise
    summary.seconds = time.perf_counter() - started
    if on_progress:
        on_progress(summary.rows_read, summary.rows_failed)
    log.info("scored %d of %d rows in %.1fs", summary.rows_scored, summary.rows_read, summary.seconds)
    return summary


__all__ = [
    "OUTPUT_KEY",
    "TEXT_FIELDS",
    "InputFormatError",
    "ScoreSummary",
    "StrictModeError",
    "flatten",
    "score_file",
    "score_records",
]
