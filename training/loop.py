"""The weekly loop: retrain the shipped recipe on the project's data plus the notes a team reviewed.

``notescore score dump.jsonl --review queue.jsonl`` writes the notes worth a human
label; a person adds a ``label`` to the rows they checked (LABELS.md records: the
queue's entries carry ``text`` and ``title``); ``notescore train --add queue.jsonl
--out models/ours`` (:func:`retrain`) rebuilds the shipped model's recipe
(:mod:`training.make_model`) with those rows added at :data:`ADDED_WEIGHT`, and
exports, calibrates and evaluates it; ``notescore evaluate models/ours held_out.jsonl
--compare models/notescore-base`` shows before and after.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from nlp.model_folder import Source
from nlp.records import LabelledDataError, LabelledNote, labelled_note
from training.make_model import NOTES, Recipe, build, own_notes

log = logging.getLogger("training")

# A reviewed note counts twice as much as one of the project's: a person chose it
# because the model was unsure of it, and looked at it.
ADDED_WEIGHT = 2.0
REVIEWED_LICENSE = "the team's own labels"


def _unreviewed(record: dict[str, Any]) -> bool:
    """A row nobody labelled: no ``label`` (or an empty one) and no ``labels_allowed``."""
    return record.get("label") in (None, "") and not record.get("labels_allowed")


def reviewed_notes(
    paths: Sequence[str | Path], labels: Sequence[str], exclude: Sequence[LabelledNote] = ()
) -> tuple[list[LabelledNote], tuple[Source, ...], dict[str, int]]:
    """Read reviewed rows (LABELS.md records), skipping the rows nobody labelled.

    Args:
        paths: files of reviewed rows (JSON Lines, CSV, Parquet): a review queue with
            a ``label`` added to the rows a person checked, or any labelled file.
        labels: the model's labels.
        exclude: notes that must not be trained on (the test split): a reviewed row
            with the same text is left out, so the test split stays held out.

    Returns:
        ``(notes, sources, counts)``: the notes, with source ``reviewed:FILE-STEM``;
        one :class:`Source` per file; ``{"added", "unreviewed", "in_test"}`` counts.

    Raises:
        InputFormatError: a file cannot be opened.
        LabelledDataError: a labelled row is unusable (every such row is listed), or
            no row of any file carries a label.
    """
    from nlp.errors import RecordError
    from nlp.io import read_records

    held_out = {n.text for n in exclude}
    notes: list[LabelledNote] = []
    sources: list[Source] = []
    problems: list[str] = []
    counts = {"added": 0, "unreviewed": 0, "in_test": 0}
    for path in paths:
        source = f"reviewed:{Path(path).name.split('.')[0]}"
        kept = 0
        for line, item in read_records(str(path)):
            if isinstance(item, RecordError):
                problems.append(f"{path} line {line}: {item.reason}")
                continue
            if _unreviewed(item):
                counts["unreviewed"] += 1
                continue
            try:
                note = replace(labelled_note(item, line, labels), source=source)
            except RecordError as err:
                problems.append(f"{path} line {line}: {err.reason}")
                continue
            if note.text in held_out:
                counts["in_test"] += 1
                continue
            notes.append(note)
            kept += 1
        sources.append(Source(f"{source} ({path})", kept, REVIEWED_LICENSE, ADDED_WEIGHT,
                              "rows a person labelled (notescore train --add)"))  # fmt: skip
    if problems:
        shown = "\n  ".join(problems[:10])
        more = f"\n  … and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise LabelledDataError(f"{len(problems)} reviewed rows cannot be used:\n  {shown}{more}")
    if not notes:
        raise LabelledDataError(
            f"no reviewed row to add in {', '.join(map(str, paths))} ({counts['unreviewed']} rows without a label, "
            f'{counts["in_test"]} already in the test split): give each row you checked a "label" '
            "(genuine, sponsored or possibly_false)"
        )
    counts["added"] = len(notes)
    return notes, tuple(sources), counts


def retrain(
    out: Path,
    added: Sequence[str | Path],
    *,
    notes: Path = NOTES,
    base: Path | None = None,
    real: bool = True,
    settings: dict[str, Any] | None = None,
    weight: float = ADDED_WEIGHT,
    work: Path | None = None,
    command: str = "",
) -> dict[str, Any]:
    """Rebuild the shipped recipe plus the reviewed rows into the model folder ``out``.

    Args:
        out: the model folder to write (ONNX int8, calibrated, evaluated, with its card).
        added: files of reviewed rows (see :func:`reviewed_notes`).
        notes: the folder of the project's notes (``train/dev/test.jsonl``).
        base: the base encoder folder (default: the converted multilingual-e5-small).
        real: also sample the real corpora where ``../shared/data`` is present.
        settings: overrides of the recipe's settings (``{"epochs": 1}``).
        weight: the loss weight of a reviewed row.
        work: where the checkpoint is kept (default: a temporary folder beside ``out``, removed at the end).
        command: the command recorded as the folder's build command.

    Returns:
        ``{"metrics": ..., "added": n, "unreviewed": n, "in_test": n, "out": path}``.

    Raises:
        LabelledDataError: the notes folder lacks a split, or the reviewed rows cannot be used.
    """
    from nlp.model_folder import LABELS

    recipe = Recipe(notes=Path(notes))
    recipe.check()
    test = own_notes("test", LABELS, recipe.notes)
    rows, sources, counts = reviewed_notes(added, LABELS, exclude=test)
    log.info("adding %d reviewed rows at weight %g (%d without a label skipped, %d already in the test split)",
             counts["added"], weight, counts["unreviewed"], counts["in_test"])  # fmt: skip
    command = command or f"notescore train {' '.join(f'--add {a}' for a in added)} --out {out}"
    recipe = replace(recipe, base=base, real=real, settings=dict(settings or {}), added=tuple(rows),
                     added_sources=tuple(replace(s, weight=weight) for s in sources), added_weight=weight,
                     compare=False, command=command)  # fmt: skip
    out = Path(out)
    scratch = None if work is not None else Path(tempfile.mkdtemp(prefix=f".{out.name}.train-", dir=out.parent))
    try:
        metrics = build(out, Path(work) if work is not None else scratch, recipe)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return {"metrics": metrics, **counts, "out": str(out)}
