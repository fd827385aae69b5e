"""The review queue: the notes a person should check, best first (``score --review``).

A human label is worth most where the model is likely wrong, and where its own
confidence cannot be trusted. Three signals, each cheap and each a standard of
active learning:

- **low margin** (margin sampling): the gap between the two highest calibrated
  scores. Below :data:`LOW_MARGIN` the note is queued.
- **disagreement** (query by committee, a committee of two): the transformer alone
  and the n-gram model alone pick different labels.
- **out of distribution**: very short (fewer than :data:`SHORT_UNITS` Chinese
  characters + other words), neither Chinese nor English (under half of its
  letters are Han or Latin), many unknown tokens (at least :data:`UNKNOWN_SHARE`
  of its tokens), or far from the training data: the estimated share of its
  words and character n-grams that never occurred in training is at least
  :data:`NOVEL_SHARE`. That share is measured with the n-gram model's idf table
  (a bucket no training note filled has the largest idf); hashing puts some new
  terms into buckets old terms filled, so the share of empty buckets hit is
  divided by the share of buckets that are empty.

Expected value of a human label: ``(1 - margin) + 0.5·disagreement + 0.5·ood``,
from 0 to 2 — the chance that the label is wrong as calibration sees it, plus a
fixed premium for each reason calibration cannot see. The queue keeps the best
``max_items`` in a heap while the dump streams through: memory stays flat.
"""

from __future__ import annotations

import heapq
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlp.atomic import AtomicWriter
from nlp.encoding import clean_text, compose_text
from nlp.format_json import jsonl_line
from nlp.ngram import bucket_of, ngram_terms

LOW_MARGIN = 0.3
SHORT_UNITS = 4
UNKNOWN_SHARE = 0.2
NOVEL_SHARE = 0.6
# Notes with fewer n-gram terms say too little to estimate novelty from.
MIN_TERMS = 10
PREMIUM = 0.5
DEFAULT_MAX_ITEMS = 1000
EXCERPT_CHARS = 160
ID_FIELDS = ("id", "note_id", "_id")


@dataclass(frozen=True)
class ReviewSignals:
    """Why (and how much) a note is worth a human label.

    Attributes:
        margin: top calibrated score minus the second.
        top: the most probable label; second: the runner-up.
        transformer_label: the transformer's own label; ngram_label: the n-gram
            model's (None when the model has none).
        units: Chinese characters + other words (see :func:`text_units`).
        known_script: share of its letters that are Han or Latin (0.0 when it has no letters).
        unknown: share of its tokens the tokenizer did not know.
        novelty: estimated share of its n-gram terms never seen in training (None: not measurable).
    """

    margin: float
    top: str
    second: str
    transformer_label: str
    ngram_label: str | None
    units: int
    known_script: float
    unknown: float
    novelty: float | None

    @property
    def disagree(self) -> bool:
        """The transformer and the n-gram model pick different labels."""
        return self.ngram_label is not None and self.ngram_label != self.transformer_label

    def ood_reasons(self) -> list[str]:
        """The out-of-distribution reasons, in words (empty when in distribution)."""
        out = []
        if self.units < SHORT_UNITS:
            out.append(f"very short: {self.units} Chinese characters + words")
        if self.known_script < 0.5:
            out.append(f"neither Chinese nor English: {self.known_script:.0%} of its letters are Han or Latin")
        if self.unknown >= UNKNOWN_SHARE:
            out.append(f"many unknown tokens: {self.unknown:.0%} of its tokens")
        if self.novelty is not None and self.novelty >= NOVEL_SHARE:
            out.append(f"far from the training data: about {self.novelty:.0%} of its n-grams never seen in training")
        return out

    def reasons(self) -> list[str]:
        """Every reason to review the note, as ``code: detail`` strings."""
        out = []
        if self.margin < LOW_MARGIN:
            out.append(f"low_margin: {self.top} leads {self.second} by {self.margin:.2f}")
        if self.disagree:
            said = f"the transformer says {self.transformer_label}, the n-gram model {self.ngram_label}"
            out.append(f"disagreement: {said}")
        out += [f"out_of_distribution: {r}" for r in self.ood_reasons()]
        return out

    @property
    def priority(self) -> float:
        """The expected value of a human label (0 to 2; see the module's docstring)."""
        return (1.0 - self.margin) + PREMIUM * self.disagree + PREMIUM * bool(self.ood_reasons())


def script_share(text: str) -> float:
    """Share of the letters of ``text`` that are Han characters or Latin letters (0.0 when it has none).

    Example:
        >>> script_share("今日はいい天気")
        0.42857142857142855
    """
    letters = known = 0
    for ch in text:
        if unicodedata.category(ch).startswith("L"):
            letters += 1
            known += ("\u3400" <= ch <= "\u9fff") or ("\uf900" <= ch <= "\ufaff") or ch.isascii()
    return known / letters if letters else 0.0


def text_units(text: str) -> int:
    """Han characters plus the other words (runs of letters or digits between spaces or Han characters).

    Example:
        >>> text_units("好吃 so good 👍")
        4
    """
    han = sum(1 for ch in text if "\u3400" <= ch <= "\u9fff")
    words = re.sub("[\u3400-\u9fff]", " ", text).split()
    return han + sum(1 for w in words if any(c.isalnum() for c in w))


class NoveltyMeter:
    """Estimates the share of a text's n-gram terms never seen in training, from the n-gram idf table."""

    def __init__(self, ngram) -> None:
        self.ngram = ngram
        top = float(ngram.idf.max())
        self.empty = ngram.idf >= top - 1e-4
        self.empty_share = float(self.empty.mean())

    def __call__(self, text: str) -> float | None:
        terms = ngram_terms(text)
        if len(terms) < MIN_TERMS or not 0 < self.empty_share < 1:
            return None
        hits = sum(bool(self.empty[bucket_of(t, self.ngram.buckets)]) for t in terms)
        return min(1.0, hits / len(terms) / self.empty_share)


def review_signals(classifier, outputs, composed: Sequence[str]) -> list[ReviewSignals]:
    """The review signals of a batch of notes.

    Args:
        classifier: the :class:`~nlp.classifier.NoteClassifier` that scored them.
        outputs: its :class:`~nlp.classifier.ModelOutputs` for the batch.
        composed: the composed texts (title and body), as scored.
    """
    labels = classifier.labels
    meter = NoveltyMeter(classifier.ngram_model) if classifier.has_ngram else None
    unk = classifier.encoder.unk_id
    out = []
    for i, text in enumerate(composed):
        order = np.argsort(-outputs.probs[i], kind="stable")
        ids = outputs.ids[i][1:-1]
        clean = clean_text(text)
        out.append(ReviewSignals(
            margin=float(outputs.probs[i, order[0]] - outputs.probs[i, order[1]]),
            top=labels[int(order[0])],
            second=labels[int(order[1])],
            transformer_label=labels[int(outputs.transformer[i].argmax())],
            ngram_label=labels[int(outputs.ngram[i].argmax())] if outputs.ngram is not None else None,
            units=text_units(clean),
            known_script=script_share(clean),
            unknown=sum(1 for t in ids if t == unk) / len(ids) if ids else 0.0,
            novelty=meter(clean) if meter is not None else None,
        ))  # fmt: skip
    return out


@dataclass(frozen=True)
class ReviewRow:
    """One scored input row, as the queue sees it."""

    line: int
    record: dict[str, Any]
    text: str
    title: str | None


def excerpt(text: str, title: str | None, limit: int = EXCERPT_CHARS) -> str:
    """The start of a note on one line: ``title · body``, cut at ``limit`` characters with an ellipsis."""
    shown = " ".join(clean_text(compose_text(text, title).replace("\n", " · ", 1 if title else 0)).split())
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


class ReviewQueue:
    """The best ``max_items`` notes to review, kept in a heap while a dump streams through.

    Args:
        classifier: the model scoring the dump (its explainer gives the evidence of the
            notes that enter the queue, when the predictions carry none).
        max_items: the most entries kept.

    An entry holds the note's ``text`` (and ``title``) in full, so a reviewed queue
    is labelled data as LABELS.md defines it once a person adds a ``label``; its
    evidence is addressed to those two fields (``"field": "text"`` or ``"title"``).
    """

    def __init__(self, classifier, max_items: int = DEFAULT_MAX_ITEMS) -> None:
        if max_items < 1:
            raise ValueError(f"the review queue needs room for at least 1 note; found {max_items}")
        self.classifier = classifier
        self.max_items = max_items
        self.seen = 0
        self.queued = 0
        self._heap: list[tuple[float, int, dict[str, Any]]] = []

    def _floor(self) -> float:
        return self._heap[0][0] if len(self._heap) >= self.max_items else -1.0

    def offer(self, rows: Sequence[ReviewRow], predictions: Sequence, outputs) -> None:
        """Consider a batch of scored rows (``predictions`` and ``outputs`` of :meth:`NoteClassifier.predict_batch`)."""
        composed = [compose_text(r.text, r.title) for r in rows]
        signals = review_signals(self.classifier, outputs, composed)
        self.seen += len(rows)
        floor = self._floor()
        chosen = [i for i, s in enumerate(signals) if s.reasons() and s.priority > floor]
        self.queued += sum(1 for s in signals if s.reasons())
        evidence = self._evidence(rows, predictions, outputs, chosen)
        for i in chosen:
            key = (signals[i].priority, -rows[i].line)
            if len(self._heap) >= self.max_items and key <= self._heap[0][:2]:
                continue
            item = (key[0], key[1], self._entry(rows[i], predictions[i], signals[i], evidence[i]))
            if len(self._heap) < self.max_items:
                heapq.heappush(self._heap, item)
            else:
                heapq.heapreplace(self._heap, item)

    def _evidence(self, rows, predictions, outputs, chosen: list[int]) -> dict[int, tuple]:
        """The evidence of the chosen rows: their predictions', or explained now in one batch."""
        todo = [i for i in chosen if not predictions[i].evidence]
        out = {i: predictions[i].evidence for i in chosen}
        if todo:
            found = self.classifier.explainer.explain(
                [rows[i].text for i in todo], [rows[i].title for i in todo], outputs.subset(todo)
            )
            out.update(zip(todo, found, strict=True))
        return out

    def _entry(self, row: ReviewRow, prediction, signals: ReviewSignals, evidence) -> dict[str, Any]:
        record = row.record
        id_value = next((record[f] for f in ID_FIELDS if record.get(f) is not None), None)
        entry: dict[str, Any] = {
            "line": row.line,
            "id": id_value,
            "priority": round(signals.priority, 4),
            "suggested_label": prediction.label,
            "scores": {k: round(v, 4) for k, v in prediction.scores.items()},
            "reasons": signals.reasons(),
            "excerpt": excerpt(row.text, row.title),
            "evidence": [e.to_dict() for e in evidence],
        }
        if row.title:
            entry["title"] = row.title
        entry["text"] = row.text
        return entry

    def entries(self) -> list[dict[str, Any]]:
        """The queue, best first (ties: earlier rows first)."""
        return [item for _, _, item in sorted(self._heap, key=lambda x: (-x[0], -x[1]))]

    def write(self, path: str | Path, no_clobber: bool = False) -> int:
        """Write the queue as JSON Lines (atomically); returns the entries written."""
        writer = AtomicWriter(path, no_clobber=no_clobber)
        try:
            items = self.entries()
            for entry in items:
                writer.stream.write(jsonl_line(entry))
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        return len(items)
