"""Dates for the report's trend section: parse them, and count notes and keywords per time bucket.

The bucket size follows the span of the dates: days while the span fits in
:data:`MAX_POINTS` days, then weeks, months, years; a single pass over the file
ends with the finest size that fits (see :class:`Timeline`), and memory stays
bounded whatever the file's size.
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
# Keyword trend cells (keyword × bucket counts) held per label, over the sizes held; past it the
# trends of the label's least frequent keywords are dropped down to half. Files of a few
# thousand notes never get there, so their trends are exact.
TREND_CELLS = 20_000
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
        trends_pruned: keyword trends were pruned on the way (a keyword that rose late lacks early mentions).
    """

    level: str | None = None
    buckets: list[date] = field(default_factory=list)
    counts: dict[str, list[int]] = field(default_factory=dict)
    keywords: dict[str, list[tuple[str, list[int]]]] = field(default_factory=dict)
    dated: int = 0
    undated: int = 0
    unparsed: int = 0
    unparsed_example: str | None = None
    trends_pruned: bool = False


class _Series:
    """Counts at one bucket size: notes per (bucket, label), keyword notes per (label, keyword, bucket)."""

    def __init__(self) -> None:
        self.notes: dict[date, Counter] = {}
        self.keywords: dict[str, dict[str, Counter]] = {}

    def add(self, start: date, label: str, keywords: list[str]) -> int:
        """Count one note; return how many keyword cells it created."""
        self.notes.setdefault(start, Counter())[label] += 1
        per_label = self.keywords.setdefault(label, {})
        new = 0
        for keyword in keywords:
            counts = per_label.setdefault(keyword, Counter())
            new += start not in counts
            counts[start] += 1
        return new

    def coarsen(self, level: str) -> _Series:
        """The same counts in the larger buckets of ``level`` (exact: the buckets nest)."""
        out = _Series()
        for start, counts in self.notes.items():
            out.notes.setdefault(bucket_of(start, level), Counter()).update(counts)
        for label, per_label in self.keywords.items():
            target = out.keywords.setdefault(label, {})
            for keyword, counts in per_label.items():
                merged = target.setdefault(keyword, Counter())
                for start, n in counts.items():
                    merged[bucket_of(start, level)] += n
        return out


class Timeline:
    """Counts notes and keywords per time bucket in one pass, in bounded memory.

    Days and months are counted from the start (months do not nest in weeks); when
    the span outgrows days, days are folded into weeks; when it outgrows weeks,
    they are dropped; past months, months fold into years. So at most two sizes
    are held, each with at most ``max_points`` buckets. Keyword trends hold at most
    ``trend_cells`` keyword × bucket counts per label; past it, only the trends of
    the label's most frequent keywords (by the counts the caller passes) are kept,
    down to half of it.

    Args:
        max_points: the most buckets a size may span before it is folded or dropped.
        trend_cells: keyword × bucket counts held per label.
    """

    def __init__(self, max_points: int = MAX_POINTS, trend_cells: int = TREND_CELLS) -> None:
        self.max_points = max_points
        self.trend_cells = trend_cells
        self.cells: Counter = Counter()
        self.series: dict[str, _Series] = {"day": _Series(), "month": _Series()}  # finest first
        self.first: date | None = None
        self.last: date | None = None
        self.trends_pruned = False
        self.data = TimelineData()

    def add(self, value: Any, label: str, keywords: list[str], counts: dict[str, int] | None = None) -> None:
        """Count one note.

        Args:
            value: the raw value of its date field.
            label: its label.
            keywords: its (folded) keywords whose trend to count.
            counts: the label's keyword counts so far, to decide which trends to keep when pruning.
        """
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
            self._fit(self.first, self.last)
        for level, series in self.series.items():
            self.cells[label] += series.add(bucket_of(day, level), label, keywords)
        if self.cells[label] > self.trend_cells:
            self._prune(label, counts or {})

    def _prune(self, label: str, ranks: dict[str, int]) -> None:
        """Keep the trends of the label's most frequent keywords, within half the cell budget."""
        held = [series.keywords.get(label, {}) for series in self.series.values()]
        cells = Counter()
        for per_label in held:
            for keyword, buckets in per_label.items():
                cells[keyword] += len(buckets)
        keep, total = set(), 0
        for keyword in sorted(cells, key=lambda k: -ranks.get(k, 0)):
            if total + cells[keyword] > self.trend_cells // 2:
                break
            keep.add(keyword)
            total += cells[keyword]
        for series in self.series.values():
            per_label = series.keywords.get(label, {})
            series.keywords[label] = {k: v for k, v in per_label.items() if k in keep}
        self.cells[label] = total
        self.trends_pruned = True

    def _fit(self, first: date, last: date) -> None:
        """Fold or drop the finest size while the span has more of its buckets than ``max_points``."""
        while True:
            finest = next(iter(self.series))
            if finest == "year" or points_between(first, last, finest) <= self.max_points:
                break
            if finest == "day":
                self.series = {"week": self.series.pop("day").coarsen("week"), **self.series}
            elif finest == "week":
                del self.series["week"]
            else:
                self.series = {"year": self.series.pop("month").coarsen("year")}
        self.cells = Counter()
        for series in self.series.values():
            for label, per_label in series.keywords.items():
                self.cells[label] += sum(len(buckets) for buckets in per_label.values())

    def _available(self) -> dict[str, _Series | None]:
        """The sizes that can be drawn: those held, weeks from days, years from months (built on demand)."""
        out: dict[str, _Series | None] = dict.fromkeys(self.series)
        if "day" in self.series:
            out["week"] = None
        if "month" in self.series:
            out["year"] = None
        return {level: out[level] for level in LEVELS if level in out}

    def _series(self, level: str) -> _Series:
        if level in self.series:
            return self.series[level]
        return self.series["day" if level == "week" else "month"].coarsen(level)

    def _level(self, first: date, last: date) -> str:
        alive = list(self._available())
        for level, coarser in zip(alive, [*alive[1:], None], strict=True):
            dense = self.data.dated / points_between(first, last, level) >= MIN_NOTES_PER_POINT
            if dense or coarser is None or points_between(first, last, coarser) < MIN_POINTS:
                return level
        return alive[-1]

    def finish(self, labels: tuple[str, ...], top_keywords: dict[str, list[str]]) -> TimelineData:
        """The :class:`TimelineData` at the finest bucket size that fits the span and is not too sparse.

        Args:
            labels: the labels, in display order.
            top_keywords: per label, the keywords whose trend is drawn.
        """
        data = TimelineData(
            dated=self.data.dated,
            undated=self.data.undated,
            unparsed=self.data.unparsed,
            unparsed_example=self.data.unparsed_example,
            trends_pruned=self.trends_pruned,
        )
        if self.first is None or self.last is None:
            return data
        level = self._level(self.first, self.last)
        series = self._series(level)
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
