"""Aggregating a scored dump row by row in bounded memory, for the report.

Counters per label, fixed-bin histograms, keyword and value counters pruned to
their most frequent entries, fixed-size heaps of example notes, and a
:class:`~nlp.report_time.Timeline`: memory does not grow with the file.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from nlp.errors import RecordError
from nlp.keywords import fold
from nlp.model_folder import LABELS
from nlp.records import TEXT_FIELDS
from nlp.report_rows import Evidence, ScoredRow, field_value, scored_row
from nlp.report_time import Timeline, TimelineData

# Keyword counters hold at most this many distinct keywords per label; past it they
# are pruned to the most frequent half, so counts of rare keywords become lower bounds.
KEYWORD_CAP = 4000
# Distinct values kept per --by column before pruning to the most frequent half.
VALUE_CAP = 2000
# Characters of a note kept for the examples.
EXAMPLE_CHARS = 1200
ID_FIELDS = ("note_id", "id", "noteId", "post_id", "mid")


@dataclass(frozen=True)
class ReportOptions:
    """What to aggregate and how much of it to show.

    Attributes:
        date_field: field holding each note's date (epoch seconds or milliseconds,
            ISO date or datetime); no trend section when None.
        by: columns to break the labels down by (``user.nickname`` reaches into nested values).
        text_field: the body field; the first present of ``TEXT_FIELDS`` when None.
        title_field: the title field; ``title`` when None.
        top_keywords: keywords listed per label.
        trend_keywords: keywords per label drawn over time.
        examples: most confident and least certain notes shown per label.
        top_values: values listed per ``--by`` column; the rest are grouped as "other".
        bins: histogram bins over [0, 1].
    """

    date_field: str | None = None
    by: tuple[str, ...] = ()
    text_field: str | None = None
    title_field: str | None = None
    top_keywords: int = 15
    trend_keywords: int = 5
    examples: int = 4
    top_values: int = 15
    bins: int = 20


@dataclass(frozen=True)
class Example:
    """One note kept to be shown in the report."""

    line: int
    label: str
    scores: dict[str, float]
    keywords: tuple[str, ...]
    title: str | None
    text: str
    text_field: str | None
    truncated: bool
    evidence: tuple[Evidence, ...]
    note_id: str | None


@dataclass
class Breakdown:
    """Label counts per value of one column: the top values, "other", and rows without it."""

    column: str
    values: list[tuple[str, dict[str, int]]]
    other: dict[str, int]
    missing: dict[str, int]
    distinct_pruned: bool


@dataclass
class ReportData:
    """Everything the page shows, aggregated from one scored dump."""

    source: str
    options: ReportOptions
    labels: tuple[str, ...] = ()
    rows_read: int = 0
    notes: int = 0
    skipped: int = 0
    skip_reasons: dict[str, int] = field(default_factory=dict)
    skip_examples: list[tuple[int, str]] = field(default_factory=list)
    label_counts: dict[str, int] = field(default_factory=dict)
    histograms: dict[str, list[int]] = field(default_factory=dict)
    mean_confidence: dict[str, float] = field(default_factory=dict)
    keywords: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    keywords_approximate: bool = False
    breakdowns: list[Breakdown] = field(default_factory=list)
    timeline: TimelineData | None = None
    confident: dict[str, list[Example]] = field(default_factory=dict)
    uncertain: dict[str, list[Example]] = field(default_factory=dict)
    models_seen: list[str] = field(default_factory=list)


class _TopCounter:
    """A counter that keeps its ``cap`` most frequent keys (pruned to half when full)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.counts: dict[str, int] = {}
        self.pruned = False

    def add(self, key: str) -> list[str]:
        """Count ``key`` once; return the keys dropped by a prune (usually none)."""
        self.counts[key] = self.counts.get(key, 0) + 1
        if len(self.counts) <= self.cap:
            return []
        keep = dict(heapq.nlargest(self.cap // 2, self.counts.items(), key=lambda kv: kv[1]))
        dropped = [k for k in self.counts if k not in keep]
        self.counts = keep
        self.pruned = True
        return dropped

    def top(self, n: int) -> list[tuple[str, int]]:
        """The ``n`` most frequent keys, ties broken alphabetically."""
        return sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def _values_of(value: Any) -> list[str]:
    """The breakdown values of a cell: one per list item; none when empty."""
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if item is None or item == "":
            continue
        text = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False, default=str)
        out.append(text.strip()[:80])
    return list(dict.fromkeys(v for v in out if v))


class _ByColumn:
    def __init__(self, column: str) -> None:
        self.column = column
        self.values = _TopCounter(VALUE_CAP)
        self.labels: dict[str, Counter] = {}
        self.occurrences: Counter = Counter()
        self.missing: Counter = Counter()

    def add(self, record: dict[str, Any], label: str) -> None:
        values = _values_of(field_value(record, self.column))
        if not values:
            self.missing[label] += 1
        self.occurrences[label] += len(values)
        for value in values:
            for gone in self.values.add(value):
                self.labels.pop(gone, None)
            if value in self.values.counts:
                self.labels.setdefault(value, Counter())[label] += 1

    def finish(self, n: int) -> Breakdown:
        top = [(v, dict(self.labels[v])) for v, _ in self.values.top(n)]
        # Value occurrences outside the top: exact, also when a cell holds a list of values.
        other = Counter(self.occurrences)
        for _, counts in top:
            other.subtract(counts)
        return Breakdown(
            self.column, top, {k: v for k, v in other.items() if v > 0}, dict(self.missing), self.values.pruned
        )


def _first_string(record: dict[str, Any], names: Iterable[str]) -> tuple[str | None, str | None]:
    for name in names:
        value = record.get(name)
        if isinstance(value, str) and value.strip():
            return name, value
    return None, None


class ReportBuilder:
    """Aggregates scored rows one at a time in bounded memory.

    Args:
        source: the input's name, shown in the report.
        options: what to aggregate.

    Example:
        >>> b = ReportBuilder("x.jsonl")
        >>> b.add(1, {"text": "hi", "notescore": {"label": "genuine", "scores": {"genuine": 0.9,
        ...       "sponsored": 0.05, "possibly_false": 0.05}, "keywords": ["hi"]}})
        >>> b.finish().label_counts["genuine"]
        1
    """

    def __init__(self, source: str, options: ReportOptions | None = None) -> None:
        self.source = source
        self.options = options or ReportOptions()
        self.labels: list[str] = []
        self.rows_read = 0
        self.skipped: Counter = Counter()
        self.skip_examples: list[tuple[int, str]] = []
        self.label_counts: Counter = Counter()
        self.histograms: dict[str, list[int]] = {}
        self.confidence_sums: Counter = Counter()
        self.keywords: dict[str, _TopCounter] = {}
        self.by = [_ByColumn(c) for c in self.options.by]
        self.timeline = Timeline() if self.options.date_field else None
        self.confident: dict[str, list] = {}
        self.uncertain: dict[str, list] = {}
        self.models: dict[str, None] = {}

    def add(self, line: int, item: dict[str, Any] | RecordError) -> None:
        """Count one row: a record from :func:`nlp.io.read_records`, or the error in its place."""
        self.rows_read += 1
        if isinstance(item, RecordError):
            self._skip(line, f"unreadable row: {item.reason}", "unreadable rows")
            return
        try:
            row = scored_row(item)
        except (ValueError, TypeError, AttributeError) as exc:
            self._skip(line, str(exc), str(exc) if "no notescore result" in str(exc) else "malformed results")
            return
        for label in (row.label, *row.scores):
            if label not in self.labels:
                self.labels.append(label)
        self.label_counts[row.label] += 1
        p = row.scores[row.label]
        self.confidence_sums[row.label] += p
        bins = self.histograms.setdefault(row.label, [0] * self.options.bins)
        bins[min(int(p * self.options.bins), self.options.bins - 1) if p > 0 else 0] += 1
        keywords = list(dict.fromkeys(fold(k) for k in row.keywords if k.strip()))
        counter = self.keywords.setdefault(row.label, _TopCounter(KEYWORD_CAP))
        for keyword in keywords:
            counter.add(keyword)
        for column in self.by:
            column.add(item, row.label)
        if self.timeline is not None:
            tracked = [k for k in keywords if k in counter.counts]
            date_value = field_value(item, self.options.date_field or "")
            self.timeline.add(date_value, row.label, tracked, counter.counts)
        if row.model and len(self.models) < 5:
            self.models[row.model] = None
        self._keep_example(line, item, row)

    def _skip(self, line: int, reason: str, category: str) -> None:
        self.skipped[category] += 1
        if len(self.skip_examples) < 5:
            self.skip_examples.append((line, reason))

    def _keep_example(self, line: int, record: dict[str, Any], row: ScoredRow) -> None:
        p = row.scores[row.label]
        runner_up = max((v for k, v in row.scores.items() if k != row.label), default=0.0)
        n = self.options.examples
        # Higher keys win; ties go to the earlier line.
        for heaps, key in ((self.confident, (p, -line)), (self.uncertain, (runner_up - p, -line))):
            heap = heaps.setdefault(row.label, [])
            if len(heap) < n:
                heapq.heappush(heap, (key, self._example(line, record, row)))
            elif n and key > heap[0][0]:
                heapq.heapreplace(heap, (key, self._example(line, record, row)))

    def _example(self, line: int, record: dict[str, Any], row: ScoredRow) -> Example:
        opts = self.options
        text_field, text = _first_string(record, (opts.text_field,) if opts.text_field else TEXT_FIELDS)
        title = record.get(opts.title_field or "title")
        id_field, note_id = _first_string(record, ID_FIELDS)
        if note_id is None:
            note_id = next((str(record[k]) for k in ID_FIELDS if isinstance(record.get(k), int)), None)
        text = text or ""
        return Example(
            line=line,
            label=row.label,
            scores=dict(row.scores),
            keywords=row.keywords,
            title=title[:300] if isinstance(title, str) and title.strip() else None,
            text=text[:EXAMPLE_CHARS],
            text_field=text_field,
            truncated=len(text) > EXAMPLE_CHARS,
            evidence=row.evidence,
            note_id=note_id,
        )

    def finish(self) -> ReportData:
        """The aggregated :class:`ReportData` (the builder can go on being added to)."""
        opts = self.options
        # The model's labels in their usual order, then any others the file holds.
        labels = tuple(x for x in LABELS if x in self.labels or not self.labels) + tuple(
            x for x in self.labels if x not in LABELS
        )
        notes = sum(self.label_counts.values())
        return ReportData(
            source=self.source,
            options=opts,
            labels=labels,
            rows_read=self.rows_read,
            notes=notes,
            skipped=sum(self.skipped.values()),
            skip_reasons=dict(self.skipped),
            skip_examples=list(self.skip_examples),
            label_counts={x: self.label_counts.get(x, 0) for x in labels},
            histograms={x: list(self.histograms.get(x, [0] * opts.bins)) for x in labels},
            mean_confidence={
                x: self.confidence_sums[x] / self.label_counts[x] for x in labels if self.label_counts.get(x)
            },
            keywords={x: self.keywords[x].top(opts.top_keywords) for x in labels if x in self.keywords},
            keywords_approximate=any(c.pruned for c in self.keywords.values()),
            breakdowns=[c.finish(opts.top_values) for c in self.by],
            timeline=self.timeline.finish(labels, self._trend_keywords()) if self.timeline else None,
            confident={x: _ranked(h) for x, h in self.confident.items()},
            uncertain={x: _ranked(h) for x, h in self.uncertain.items()},
            models_seen=list(self.models),
        )

    def _trend_keywords(self) -> dict[str, list[str]]:
        n = self.options.trend_keywords
        return {label: [k for k, _ in counter.top(n)] for label, counter in self.keywords.items()}


def _ranked(heap: list) -> list[Example]:
    return [example for _, example in sorted(heap, key=lambda kv: kv[0], reverse=True)]


def aggregate(
    records: Iterable[tuple[int, dict[str, Any] | RecordError]], source: str, options: ReportOptions | None = None
) -> ReportData:
    """Aggregate a stream of scored rows (as from :func:`nlp.io.read_records`).

    Args:
        records: ``(line, record or RecordError)`` pairs.
        source: the input's name, shown in the report.
        options: what to aggregate.

    Returns:
        The :class:`ReportData`.
    """
    builder = ReportBuilder(source, options)
    for line, item in records:
        builder.add(line, item)
    return builder.finish()
