"""Length-bucketed batching, shared by the runtime, training, export and bench.

Notes vary from five tokens to the model's maximum; batching notes of similar
length keeps padding (wasted compute) small.
"""

from __future__ import annotations

import random
from collections.abc import Sequence


def length_batches(
    lengths: Sequence[int], batch_size: int, rng: random.Random | None = None, pool: int = 50
) -> list[list[int]]:
    """Indices grouped into batches of similar length.

    Without ``rng`` every index is sorted by length and cut into batches (the
    runtime's order: deterministic, least padding). With ``rng`` (training) the
    indices are shuffled, sorted by length within pools of ``pool`` batches, and
    the batches shuffled: little padding, a different order every epoch.

    Args:
        lengths: the length of each item.
        batch_size: items per batch (>= 1).
        rng: a seeded random generator for training order; None for inference.
        pool: batches per length-sorted pool when shuffling.

    Returns:
        Lists of indices into ``lengths``; every index appears exactly once.

    Example:
        >>> length_batches([5, 1, 3], 2)
        [[1, 2], [0]]
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; found {batch_size}")
    order = list(range(len(lengths)))
    if rng is None:
        order.sort(key=lambda i: lengths[i])
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(order)
    chunk = batch_size * pool
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        block = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches.extend(block[i : i + batch_size] for i in range(0, len(block), batch_size))
    rng.shuffle(batches)
    return batches
