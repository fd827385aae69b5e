"""Which rows of a dump a job scores: the first N (``--limit``) or a uniform random
sample of N (``--sample``, one pass, reservoir sampling), in input order."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


class Counted:
    """Counts the rows that pass through it (for the rows a sample was drawn from)."""

    def __init__(self, rows: Iterable[T]) -> None:
        self._rows = iter(rows)
        self.count = 0

    def __iter__(self) -> Iterator[T]:
        for row in self._rows:
            self.count += 1
            yield row


def reservoir(rows: Iterable[tuple[int, T]], size: int, seed: int | None = 0) -> list[tuple[int, T]]:
    """A uniform random sample of ``size`` rows in one pass, returned in input order.

    Algorithm L (Li, 1994): after the reservoir fills, the rows to skip between
    replacements are drawn instead of one random number per row.

    Args:
        rows: ``(line, item)`` pairs.
        size: how many rows to keep (all of them when there are fewer).
        seed: the random seed; the same seed and input give the same sample.

    Returns:
        The sampled pairs, sorted by line number.

    Example:
        >>> [n for n, _ in reservoir(((i, None) for i in range(1, 1001)), 3, seed=1)]
        [305, 644, 775]
    """
    if size < 1:
        raise ValueError(f"sample size must be at least 1; found {size}")
    rng = random.Random(seed)

    def uniform() -> float:  # in (0, 1): log() of it is finite
        return rng.random() or 0.5

    it = iter(rows)
    kept = list(itertools.islice(it, size))
    if len(kept) < size:
        return kept
    w = math.exp(math.log(uniform()) / size)
    while True:
        w = min(w, math.nextafter(1.0, 0.0))
        skip = math.floor(math.log(uniform()) / math.log(1 - w))
        row = next(itertools.islice(it, skip, None), None)
        if row is None:
            break
        kept[rng.randrange(size)] = row
        w *= math.exp(math.log(uniform()) / size)
    return sorted(kept, key=lambda pair: pair[0])


def select_rows(
    rows: Iterable[tuple[int, T]], limit: int | None = None, sample: int | None = None, seed: int | None = 0
) -> Iterator[tuple[int, T]]:
    """The rows a job scores: the first ``limit`` rows, then (if asked) ``sample`` of them.

    Args:
        rows: ``(line, item)`` pairs.
        limit: read no more than this many rows.
        sample: keep a uniform random sample of this many rows (all rows are read).
        seed: the sample's random seed.
    """
    if limit is not None:
        rows = itertools.islice(rows, limit)
    if sample is not None:
        return iter(reservoir(rows, sample, seed))
    return iter(rows)
