"""Labelled notes for training: reading (through :mod:`nlp.records`), source caps,
the dev split.

Records follow LABELS.md: a text field, an optional ``title``, and either
``label`` or, for sources that only tell one side, ``labels_allowed`` (a rumour
corpus's "non-rumour" rows are ``["genuine", "sponsored"]``). ``source`` names
where a record came from; it defaults to the file name.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from nlp.model_folder import Source
from nlp.records import LabelledDataError, LabelledNote, read_labelled

__all__ = ["LabelledDataError", "LabelledNote", "cap_sources", "describe_sources", "load_notes", "split_dev"]


def load_notes(paths: Sequence[str], labels: Sequence[str]) -> list[LabelledNote]:
    """Read labelled files; every bad row is listed and stops the run.

    Raises:
        InputFormatError: a file is missing or unreadable.
        LabelledDataError: rows without a usable text or label.
    """
    return read_labelled([str(p) for p in paths], labels)


def split_dev(notes: list[LabelledNote], fraction: float, seed: int) -> tuple[list[LabelledNote], list[LabelledNote]]:
    """A stratified (by source and label) train/dev split."""
    rng = random.Random(seed)
    groups: dict[tuple, list[LabelledNote]] = {}
    for note in notes:
        groups.setdefault((note.source, note.allowed), []).append(note)
    train, dev = [], []
    for key in sorted(groups):
        items = groups[key][:]
        rng.shuffle(items)
        n_dev = max(1, round(len(items) * fraction)) if len(items) > 1 else 0
        dev.extend(items[:n_dev])
        train.extend(items[n_dev:])
    return train, dev


def cap_sources(notes: list[LabelledNote], cap: int, seed: int) -> list[LabelledNote]:
    """Keep at most ``cap`` notes per source (a seeded sample); 0 keeps all."""
    if cap <= 0:
        return notes
    rng = random.Random(seed)
    by_source: dict[str, list[LabelledNote]] = {}
    for note in notes:
        by_source.setdefault(note.source, []).append(note)
    out = []
    for source in sorted(by_source):
        items = by_source[source]
        out.extend(rng.sample(items, cap) if len(items) > cap else items)
    return out


def describe_sources(notes: Sequence[LabelledNote], weights: dict[str, float] | None = None) -> tuple[Source, ...]:
    """One :class:`~nlp.model_folder.Source` per source of the notes (licence unknown)."""
    counts = Counter(n.source for n in notes)
    return tuple(Source(name, rows, weight=(weights or {}).get(name, 1.0)) for name, rows in sorted(counts.items()))
