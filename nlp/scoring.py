"""Scoring whole note dumps: stream, batch, keep order, report every bad row.

A job is a row of stages: :func:`~nlp.score_paths.plan_outputs` checks every path
before a row is read; :func:`~nlp.io.read_records` streams the input;
:func:`~nlp.selection.select_rows` applies ``--limit``/``--sample``;
:func:`probe_text_field` stops a job whose first rows all lack the text field;
:func:`score_records` scores window by window; the writers put each row in the
output or the errors file and move both into place at the end.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nlp.atomic import AtomicWriter
from nlp.classifier import NoteClassifier, Prediction
from nlp.errors import InputFormatError, RecordError
from nlp.format_json import jsonl_line
from nlp.formats import Format, ReadOptions, WriteOptions
from nlp.io import RecordWriter, read_records
from nlp.records import (
    OUTPUT_KEY,
    TEXT_FIELDS,
    TextFieldError,
    body_field,
    flatten,
    pick_text,
    probe_text_field,
    result_fields,
)
from nlp.review import DEFAULT_MAX_ITEMS, ReviewQueue, ReviewRow
from nlp.score_paths import OutputPlan, default_errors_path, plan_outputs
from nlp.score_summary import ScoreSummary, model_info, write_summary
from nlp.selection import Counted, select_rows

log = logging.getLogger(__name__)
# Rows held in memory at once: enough for length-sorted batches to pay off,
# small enough that memory stays flat on any dump.
WINDOW = 2048
_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")


@dataclass(frozen=True)
class ScoreOptions:
    """How :func:`score_file` reads, selects, scores and writes.

    Attributes:
        input_format: force the input format (a :class:`~nlp.formats.Format` or its name).
        output_format: force the output format (defaults to the extension; JSON
            Lines for stdout).
        read: encoding and delimiter of the input.
        write: how CSV/TSV cells are written (formula neutralisation).
        text_field: the body field (see :func:`~nlp.records.pick_text`).
        title_field: the title field.
        errors_path: where bad rows go; see :func:`default_errors_path`.
        summary_path: also write the :class:`ScoreSummary` here as JSON.
        strict: stop at the first bad row instead.
        no_clobber: refuse to replace an existing output, errors file or summary.
        mkdir: create missing output folders.
        prefix: the results' key (``notescore``) and column prefix (``notescore_*``).
        limit: read at most this many rows.
        sample: score a uniform random sample of this many rows (in input order).
        seed: the sample's random seed.
        explain: add the evidence of each label with probability >= 0.2 (``--explain``,
            :mod:`nlp.explain`); a ``notescore_evidence`` JSON column in CSV/Parquet.
        review_path: also write the notes a person should check here (``--review``,
            :mod:`nlp.review`; JSON Lines).
        review_max: the most notes the review queue keeps.

    Raises:
        ValueError: a prefix that is not a name, or a limit, sample or review_max below 1.
    """

    input_format: Format | str | None = None
    output_format: Format | str | None = None
    read: ReadOptions = field(default_factory=ReadOptions)
    write: WriteOptions = field(default_factory=WriteOptions)
    text_field: str | None = None
    title_field: str | None = None
    errors_path: str | Path | None = None
    summary_path: str | Path | None = None
    strict: bool = False
    no_clobber: bool = False
    mkdir: bool = False
    prefix: str = OUTPUT_KEY
    limit: int | None = None
    sample: int | None = None
    seed: int | None = 0
    explain: bool = False
    review_path: str | Path | None = None
    review_max: int = DEFAULT_MAX_ITEMS

    def __post_init__(self) -> None:
        if not _PREFIX.fullmatch(self.prefix or ""):
            raise ValueError(f"prefix {self.prefix!r}: expected a name of letters, digits, _ and -")
        for name in ("limit", "sample", "review_max"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1; found {value}")


class StrictModeError(RecordError):
    """Raised with ``strict=True`` at the first row that cannot be scored."""


class FieldCollisionError(InputFormatError):
    """An input record already has a field the results would be written under."""


def _collision(record: dict[str, Any], line: int, reserved: set[str], prefix: str) -> None:
    clash = next((k for k in record if k in reserved), None)
    if clash is not None:
        fix = "choose another --prefix"
        if prefix == OUTPUT_KEY:
            fix = "pass --prefix NAME to write the results under NAME"
        raise FieldCollisionError(
            f"line {line}: the input already has a field {clash!r} (a file scored before?), "
            f"which the results would overwrite; {fix}"
        )


def score_records(
    records: Iterable[tuple[int, dict[str, Any] | RecordError]],
    classifier: NoteClassifier,
    text_field: str | None = None,
    title_field: str | None = None,
    window: int = WINDOW,
    *,
    prefix: str = OUTPUT_KEY,
    explain: bool = False,
    review: ReviewQueue | None = None,
) -> Iterator[tuple[int, dict[str, Any] | RecordError]]:
    """Score a stream of records, in order, window by window.

    Args:
        records: ``(line, record or RecordError)`` pairs, as from :func:`nlp.io.read_records`.
        classifier: the loaded model.
        text_field: see :func:`pick_text`.
        title_field: see :func:`pick_text`.
        window: rows scored together (sorted by length inside).
        prefix: the key the results are added under.
        explain: add each result's ``evidence`` (field names as in the record).
        review: a queue offered every scored row.

    Yields:
        ``(line, scored record)`` with the results added under ``prefix``, or
        ``(line, RecordError)`` for rows that could not be scored, in input order.

    Raises:
        FieldCollisionError: a record already has the results' key or one of their
            flat columns (input fields are never overwritten).
    """
    # The n-gram model and keywords of a window run on a second thread while this one waits on
    # the transformer (which releases the GIL): the results are the same, the wall time shorter.
    executor = ThreadPoolExecutor(1, thread_name_prefix="notescore-side")
    try:
        scorer = _WindowScorer(classifier, prefix, explain, review, text_field, executor)
        yield from _score_windows(records, scorer, text_field, title_field, window)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _score_windows(records, scorer: _WindowScorer, text_field, title_field, window: int):
    """:func:`score_records`: gather the records into windows, each scored as a whole."""
    prefix = scorer.prefix
    reserved = {prefix, *result_fields(prefix, scorer.classifier.labels, scorer.explain)}
    pending: list[tuple[int, Any, tuple[str, str | None] | None]] = []
    # Start small so the first rows come out (and start-up is short), then grow.
    size = min(64, window)
    for line, item in records:
        if isinstance(item, RecordError):
            pending.append((line, item, None))
        else:
            _collision(item, line, reserved, prefix)
            try:
                pending.append((line, item, pick_text(item, line, text_field, title_field)))
            except RecordError as err:
                pending.append((line, err, None))
        if len(pending) >= size:
            yield from scorer(pending)
            pending = []
            size = min(size * 4, window)
    if pending:
        yield from scorer(pending)


@dataclass(frozen=True)
class _WindowScorer:
    """Scores one window of pending rows, explains and offers them to the review queue when asked."""

    classifier: NoteClassifier
    prefix: str
    explain: bool = False
    review: ReviewQueue | None = None
    text_field: str | None = None
    executor: Executor | None = None

    def __call__(self, pending):
        good = [(i, tt) for i, (_, _, tt) in enumerate(pending) if tt is not None]
        predictions: dict[int, Prediction] = {}
        if good:
            texts = [t for _, (t, _) in good]
            titles = [ti for _, (_, ti) in good]
            found, outputs = self.classifier.predict_batch(texts, titles, self.explain, executor=self.executor)
            if self.review is not None:
                self.review.offer([ReviewRow(pending[i][0], pending[i][1], t, ti) for i, (t, ti) in good],
                                  found, outputs)  # fmt: skip
            predictions = dict(zip((i for i, _ in good), found, strict=True))
        for i, (line, item, _) in enumerate(pending):
            if i in predictions:
                yield line, {**item, self.prefix: self._result(predictions[i], item)}
            else:
                yield line, item

    def _result(self, prediction: Prediction, record: dict[str, Any]) -> dict[str, Any]:
        out = prediction.to_dict(with_evidence=self.explain)
        if self.explain:  # the body's evidence names the record's own body field
            body = body_field(record, self.text_field) or "text"
            out["evidence"] = [{**e, "field": "title" if e.get("field") == "title" else body} for e in out["evidence"]]
        return out


class _Writers:
    """The output and the errors file of one job, under temporary names until :meth:`finish`."""

    def __init__(self, plan: OutputPlan, options: ScoreOptions, labels: Iterable[str]) -> None:
        prefix = options.prefix
        self.plan = plan
        self.output_key = prefix
        self.output = RecordWriter(
            plan.output, plan.output_format, lambda record: flatten(record, prefix), options=options.write,
            columns=result_fields(prefix, labels, options.explain), no_clobber=options.no_clobber,
        )  # fmt: skip
        try:
            self.errors = AtomicWriter(plan.errors, no_clobber=options.no_clobber)
        except BaseException:
            self.output.abort()
            raise

    def error(self, line: int, err: RecordError) -> None:
        self.errors.stream.write(jsonl_line({"line": line, "reason": err.reason, "raw": err.raw}))

    def finish(self, summary: ScoreSummary) -> None:
        """Move the output into place; the errors file too, or remove a stale one when no row failed."""
        self.output.close()
        if summary.rows_failed:
            self.errors.commit()
            summary.errors_path = self.plan.errors
            return
        self.errors.abort()
        stale = Path(self.plan.errors)
        if stale.is_file():
            stale.unlink()
            summary.stale_errors_removed = self.plan.errors

    def abort(self) -> None:
        self.output.abort()
        self.errors.abort()


def _drain(results, writers: _Writers, summary: ScoreSummary, strict: bool, on_progress) -> None:
    """Write every scored row to the output and every failed one to the errors file."""
    last_report = 0
    for line, item in results:
        summary.rows_read += 1
        if isinstance(item, RecordError):
            if strict:
                raise StrictModeError(line, item.reason, item.raw)
            writers.error(line, item)
            summary.rows_failed += 1
            continue
        writers.output.write(item)
        summary.rows_scored += 1
        summary.labels[item[writers.output_key]["label"]] += 1
        if on_progress and summary.rows_read - last_report >= 256:
            last_report = summary.rows_read
            on_progress(summary.rows_read, summary.rows_failed)


def _options(options: ScoreOptions | None, overrides: dict[str, Any]) -> ScoreOptions:
    options = options or ScoreOptions()
    return replace(options, **overrides) if overrides else options


def score_file(
    input_path: str | Path,
    output_path: str | Path,
    classifier: NoteClassifier,
    options: ScoreOptions | None = None,
    *,
    stdin=None,
    on_progress: Callable[[int, int], None] | None = None,
    **overrides: Any,
) -> ScoreSummary:
    """Score a dump file (or stdin) into an output file (or stdout).

    Every row read is either written to the output with a ``notescore`` key or
    written to the errors file (JSON Lines: ``line``, ``reason``, ``raw``). Every
    path is checked before a row is read; output and errors are written under
    temporary names and moved into place at the end (an errors file of an earlier
    run is removed when no row fails).

    Args:
        input_path: the dump, or ``-`` for stdin.
        output_path: the output, or ``-`` for stdout.
        classifier: the loaded model.
        options: see :class:`ScoreOptions`.
        stdin: binary stream used for ``-``.
        on_progress: called with ``(rows_read, rows_failed)`` every 256 rows and at the end.
        **overrides: :class:`ScoreOptions` fields given one by one (``strict=True``).

    Returns:
        A :class:`ScoreSummary`.

    Raises:
        InputFormatError: the input cannot be opened, the formats are unknown, the
            first rows all lack the text field (:class:`TextFieldError`), or a record
            holds a results field (:class:`FieldCollisionError`).
        OutputPathError: an output path cannot be used (see :func:`plan_outputs`).
        StrictModeError: with ``strict``, the first bad row.

    Example:
        >>> score_file("notes.jsonl", "scored.csv", clf, text_field="desc")  # doctest: +SKIP
    """
    opts = _options(options, overrides)
    plan = plan_outputs(
        input_path, output_path, input_format=opts.input_format, output_format=opts.output_format,
        errors_path=opts.errors_path, summary_path=opts.summary_path, no_clobber=opts.no_clobber, mkdir=opts.mkdir,
        review_path=opts.review_path,
    )  # fmt: skip
    started = time.perf_counter()
    summary = ScoreSummary(input=plan.input, output=plan.output, model=model_info(classifier))
    counted = Counted(read_records(plan.input, plan.input_format, stdin=stdin, options=opts.read))
    rows = select_rows(counted, opts.limit, opts.sample, opts.seed)
    rows = probe_text_field(rows, opts.text_field, opts.title_field, plan.input)
    writers = _Writers(plan, opts, classifier.labels)
    review = ReviewQueue(classifier, opts.review_max) if plan.review else None
    try:
        results = score_records(rows, classifier, opts.text_field, opts.title_field, prefix=opts.prefix,
                                explain=opts.explain, review=review)  # fmt: skip
        with contextlib.closing(results):  # a job stopped early stops its side thread at once
            _drain(results, writers, summary, opts.strict, on_progress)
        if review is not None:
            summary.review_entries = review.write(plan.review, no_clobber=opts.no_clobber)
            summary.review_path, summary.review_candidates = plan.review, review.queued
        writers.finish(summary)
    except BaseException:
        writers.abort()
        raise
    summary.rows_seen = counted.count
    summary.seconds = time.perf_counter() - started
    if plan.summary:
        write_summary(plan.summary, summary, opts.no_clobber)
    if on_progress:
        on_progress(summary.rows_read, summary.rows_failed)
    log.info("scored %d of %d rows in %.1fs", summary.rows_scored, summary.rows_read, summary.seconds)
    return summary


__all__ = [
    "OUTPUT_KEY",
    "TEXT_FIELDS",
    "FieldCollisionError",
    "InputFormatError",
    "OutputPlan",
    "ScoreOptions",
    "ScoreSummary",
    "model_info",
    "StrictModeError",
    "TextFieldError",
    "default_errors_path",
    "flatten",
    "plan_outputs",
    "probe_text_field",
    "score_file",
    "score_records",
]
