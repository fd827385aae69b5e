"""Dates for the report's trend section: parse them, and count notes and keywords per time bucket.

The bucket size follows the span of the dates: days while the span fits in
:data:`MAX_POINTS` days, then weeks, months, years. Every size is counted while
it still fits and dropped once the span outgrows it, so a single pass over the
file ends with the finest size that fits, and memory stays bounded.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

LEVELS = ("day", "week", "month", "year")
# Most points on a trend line; also bounds the buckets held per size.
MAX_POINTS = 120
# A finer bucket size is used only while it has this many notes per bucket on average
# (or the next size would leave too few points): sparse buckets draw noise.
MIN_NOTES_PER_POINT = 5
MIN_POINTS = 4
_EARLIEST, _LATEST = date(1990, 1, 1), date(2100, 1, 1)
_YMD = re.compile(r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})")
_NUMERIC = re.compile(r"^\s*-?\d+(\.\d+)?\s*$")


def parse_date(value: Any) -> date | None:
    """The calendar date of a note's time field, or None when it is not one.

    Reads epoch seconds, milliseconds, microseconds or nanoseconds (as UTC), ISO
    dates and datetimes, ``2024/3/5``, ``2024.03.05``, ``2024年3月5日`` and
    ``date``/``datetime`` values (Parquet). Dates before 1990 or after 2099 are
    taken for garbage (a zero time stamp, say) and give None.

    Example:
        >>> parse_date(1739987907762), parse_date("2025-02-19T17:58:27+08:00")
        (datetime.date(2025, 2, 19), datetime.date(2025, 2, 19))
    """
    found: date | None = None
    if isinstance(value, datetime):
        found = value.date()
    elif isinstance(value, date):
        found = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        found = _from_epoch(float(value))
    elif isinstance(value, str) and value.strip():
        found = _from_text(value.strip())
    if found is None or not _EARLIEST <= found < _LATEST:
        return None
    return found


def _from_epoch(seconds: float) -> date | None:
    # A date after 1973 in ms is above 1e11; in µs above 1e14; in ns above 1e17.
    for threshold, scale in ((1e17, 1e9), (1e14, 1e6), (1e11, 1e3)):
        if abs(seconds) >= threshold:
            seconds /= scale
            break
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc).date()
    except (OverflowError, OSError, ValueError):
        return None


def _from_text(text: str) -> date | None:
    if _NUMERIC.match(text):
        return _from_epoch(float(text))
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        pass
    match = _YMD.match(text)
    if match:
        try:
            return date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            return None
    return None


def bucket_of(day: date, level: str) -> date:
    """The first day of the bucket holding ``day`` (weeks start on Monday)."""
    if level == "day":
        return day
    if level == "week":
        return day - timedelta(days=day.weekday())
    if level == "month":
        return day.replace(day=1)
    return day.replace(month=1, day=1)


def next_bucket(start: date, level: str) -> date:
    """The first day of the bucket after the one starting at ``start``."""
    if level == "day":
        return start + timedelta(days=1)
    if level == "week":
        return start + timedelta(days=7)
    if level == "month":
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return date(start.year + 1, 1, 1)


def points_between(first: date, last: date, level: str) -> int:
    """How many buckets of ``level`` span ``first`` to ``last``."""
    a, b = bucket_of(first, level), bucket_of(last, level)
    if level in ("day", "week"):
        return (b - a).days // (1 if level == "day" else 7) + 1
    if level == "month":
        return (b.year - a.year) * 12 + b.month - a.month + 1
    return b.year - a.year + 1


@dataclass
class TimelineData:
    """Notes per label and keyword mentions per bucket, for the trend section.

    Attributes:
        level: ``day``, ``week``, ``month`` or ``year``; None when no row had a date.
        buckets: the first day of every bucket from the earliest date to the latest.
        counts: notes per bucket, per label.
        keywords: per label, the top keywords and their notes per bucket.
        dated: rows with a readable date.
        undated: rows without the field (or with an empty one).
        unparsed: rows whose field is not a date; ``unparsed_example`` shows one.
    """

    level: str | None = None
    buckets: list[date] = field(default_factory=list)
    counts: dict[str, list[int]] = field(default_factory=dict)
    keywords: dict[str, list[tuple[str, list[int]]]] = field(default_factory=dict)
    dated: int = 0
    undated: int = 0
    unparsed: int = 0
    unparsed_example: str | None = None


class _Series:
    """Counts at one bucket size: notes per (bucket, label), keyword notes per (label, keyword, bucket)."""

    def __init__(self) -> None:
        self.notes: dict[date, Counter] = {}
        self.keywords: dict[str, dict[str, Counter]] = {}


class Timeline:
    """Counts notes and keywords per time bucket in one pass, in bounded memory.

    Args:
        max_points: the most buckets a size may span before it is dropped.
    """

    def __init__(self, max_points: int = MAX_POINTS) -> None:
        self.max_points = max_points
        self.series = {level: _Series() for level in LEVELS}
        self.first: date | None = None
        self.last: date | None = None
        self.data = TimelineData()

    def add(self, value: Any, label: str, keywords: list[str]) -> None:
        """Count one note: its raw date value, label and (tracked) keywords."""
        if value is None or (isinstance(value, str) and not value.strip()):
            self.data.undated += 1
            return
        day = parse_date(value)
        if day is None:
            self.data.unparsed += 1
            self.data.unparsed_example = self.data.unparsed_example or repr(value)[:60]
            return
        self.data.dated += 1
        if self.first is None or self.last is None or not self.first <= day <= self.last:
            self.first = min(day, self.first or day)
            self.last = max(day, self.last or day)
            for level in list(self.series)[:-1]:  # years are always kept
                if points_between(self.first, self.last, level) > self.max_points:
                    del self.series[level]
        for level, series in self.series.items():
            start = bucket_of(day, level)
            series.notes.setdefault(start, Counter())[label] += 1
            per_label = series.keywords.setdefault(label, {})
            for keyword in keywords:
                per_label.setdefault(keyword, Counter())[start] += 1

    def forget(self, label: str, keywords: list[str]) -> None:
        """Stop tracking keywords the label's keyword counter has pruned."""
        for series in self.series.values():
            per_label = series.keywords.get(label, {})
            for keyword in keywords:
                per_label.pop(keyword, None)

    def _level(self, first: date, last: date) -> str:
        alive = [lv for lv in LEVELS if lv in self.series]
        for level, coarser in zip(alive, [*alive[1:], None], strict=True):
            dense = self.data.dated / points_between(first, last, level) >= MIN_NOTES_PER_POINT
            if dense or coarser is None or points_between(first, last, coarser) < MIN_POINTS:
                return level
        return alive[-1]

    def finish(self, labels: tuple[str, ...], top_keywords: dict[str, list[str]]) -> TimelineData:
        """The :class:`TimelineData` at the finest bucket size that fits the span.

        Args:
            labels: the labels, in display order.
            top_keywords: per label, the keywords whose trend is drawn.
        """
        data = TimelineData(
            dated=self.data.dated,
            undated=self.data.undated,
            unparsed=self.data.unparsed,
            unparsed_example=self.data.unparsed_example,
        )
        if self.first is None or self.last is None:
            return data
        level = self._level(self.first, self.last)
        series = self.series[level]
        buckets = [bucket_of(self.first, level)]
        while buckets[-1] < bucket_of(self.last, level):
            buckets.append(next_bucket(buckets[-1], level))
        data.level, data.buckets = level, buckets
        data.counts = {x: [series.notes.get(b, Counter())[x] for b in buckets] for x in labels}
        for label in labels:
            per_label = series.keywords.get(label, {})
            data.keywords[label] = [
                (k, [per_label[k][b] for b in buckets]) for k in top_keywords.get(label, []) if k in per_label
            ]
        return data
