"""Distillation: a shallower student trained on a teacher's soft labels (``notescore distill``).

Stages: keep ``layers`` of the teacher's encoder (:func:`training.student.make_student`:
its embeddings, spread-out layers and head) → export the teacher once to ONNX and
score the transfer set with it (:func:`teacher_scorer`) → train the student on the
labelled notes and unlabelled texts with a loss that mixes the teacher's soft labels
(KL at a temperature, ``distill_alpha``) and the labels where there are any
(:func:`training.train.train` with ``teacher=``). Unlabelled texts allow every label,
so only the teacher speaks for them.
"""

from __future__ import annotations

import logging
import random
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from nlp.errors import RecordError
from nlp.io import read_records
from nlp.records import LabelledNote, pick_text
from training.config import TrainConfig
from training.train import TrainResult

log = logging.getLogger(__name__)

DEFAULT_LAYERS = 4


def unlabelled_notes(paths: Sequence[str], labels: Sequence[str], limit: int = 0, seed: int = 0) -> list[LabelledNote]:
    """Texts without labels (every label allowed), from any notes file; a seeded sample of ``limit`` when > 0."""
    from nlp.encoding import compose_text

    notes = []
    for path in paths:
        for line, record in read_records(str(path)):
            if isinstance(record, RecordError):
                continue
            try:
                body, title = pick_text(record, line)
            except RecordError:
                continue
            source = str(record.get("source") or f"unlabelled:{Path(path).name}")
            notes.append(LabelledNote(compose_text(body, title), tuple(labels), source, body=body, title=title))
    if limit and len(notes) > limit:
        notes = random.Random(seed).sample(notes, limit)
    return notes


def teacher_scorer(teacher: Path, work: Path, threads: int = 2) -> Callable[[list[str]], np.ndarray]:
    """The teacher's transformer log-probabilities, from an fp32 ONNX export of its checkpoint."""
    from nlp.classifier import NoteClassifier
    from training.export import export_model

    folder = work / "teacher-onnx"
    if not (folder / "notescore.json").is_file():
        log.info("exporting the teacher %s to ONNX (fp32) for its soft labels", teacher)
        export_model(teacher, folder, quantize=False, name="teacher", threads=threads)
    clf = NoteClassifier.load(folder, threads=threads, keywords=False)

    def score(texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(clf.labels)), dtype=np.float32)
        for start in range(0, len(texts), 2048):
            out[start : start + 2048] = clf.transformer_logits(texts[start : start + 2048])
            log.info("teacher: %d/%d texts scored", min(start + 2048, len(texts)), len(texts))
        return out

    return score


def distill(
    teacher: str | Path,
    out: str | Path,
    config: TrainConfig,
    train_notes: list[LabelledNote],
    dev_notes: list[LabelledNote],
    layers: int | list[int] = DEFAULT_LAYERS,
    sources=None,
) -> TrainResult:
    """Make a student of ``teacher`` (a checkpoint) and train it on soft and hard labels into ``out``.

    Args:
        teacher: the teacher's checkpoint folder.
        out: the student checkpoint to write.
        config: training settings (``distill_alpha``, ``distill_temperature`` apply).
        train_notes: labelled and unlabelled notes (unlabelled ones allow every label).
        dev_notes: labelled dev notes (the best student is chosen on them).
        layers: layers to keep (a count spread evenly, or indices).
        sources: the training sources for the model card.

    Returns:
        The student's :class:`~training.train.TrainResult`.
    """
    from training.student import make_student
    from training.train import train

    teacher, out = Path(teacher), Path(out)
    work = out.with_name(out.name + ".distill")
    work.mkdir(parents=True, exist_ok=True)
    init = work / "student-init"
    kept = make_student(teacher, init, layers)
    log.info("student: layers %s of the teacher's", kept)
    try:
        return train(config, train_notes, dev_notes, out, init, sources, teacher=teacher_scorer(teacher, work))
    finally:
        shutil.rmtree(init, ignore_errors=True)
