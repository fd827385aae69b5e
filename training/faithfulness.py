"""Is the evidence of ``--explain`` faithful? Delete it and see whether the model changes its mind.

    python -m training.faithfulness [--model DIR] [--data data/notes/test.jsonl] [--json OUT]

For every note: explain its predicted label (:mod:`nlp.explain`), delete all of that
label's evidence spans at once, and re-score; then delete as many random words of
the note (seeded, from the same jieba segmentation) and re-score. The check passes
when deleting the evidence lowers the label's probability in at least
:data:`TARGET` of the notes (a note without evidence counts as a failure) and
deleting random words lowers it far less often. numpy and the runtime only.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlp.encoding import compose_text
from nlp.explain import BODY, TITLE, delete
from nlp.records import LabelledNote

TARGET = 0.85
# A drop a moderator would notice: one point of probability.
NOTICEABLE = 0.01
DEFAULT_DATA = Path(__file__).resolve().parents[1] / "data" / "notes" / "test.jsonl"


def delete_spans(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """``text`` without the (non-overlapping) spans, deleted from the last one back."""
    for start, end in sorted(spans, reverse=True):
        text = delete(text, start, end)
    return text


def without(note: LabelledNote, spans: Sequence[tuple[str, int, int]]) -> str:
    """The composed note with ``(field, start, end)`` spans deleted from its title or body."""
    body = delete_spans(note.body, [(s, e) for f, s, e in spans if f != TITLE])
    title = delete_spans(note.title or "", [(s, e) for f, s, e in spans if f == TITLE]) if note.title else None
    return compose_text(body, title)


def random_words(note: LabelledNote, count: int, rng: random.Random, extractor) -> list[tuple[str, int, int]]:
    """``count`` distinct random words of the note (title and body), as ``(field, start, end)``."""
    words = [(BODY, a, b) for w, a, b in extractor.words(note.body) if any(c.isalnum() for c in w)]
    if note.title:
        words += [(TITLE, a, b) for w, a, b in extractor.words(note.title) if any(c.isalnum() for c in w)]
    return rng.sample(words, min(count, len(words)))


def faithfulness(classifier, notes: Sequence[LabelledNote], seed: int = 0) -> dict[str, Any]:
    """Deletion test of the evidence of each note's predicted label, against random words.

    Args:
        classifier: a loaded :class:`nlp.NoteClassifier`.
        notes: the notes (their gold labels are not used: the evidence explains the prediction).
        seed: seeds the random words (note ``i`` uses ``seed + i``).

    Returns:
        ``n``, ``with_evidence`` (share of notes with evidence for their label), the share
        of notes whose label's probability drops when the evidence is deleted
        (``evidence_lowers``) and when as many random words are (``random_lowers``), the
        same with drops of at least :data:`NOTICEABLE` (``*_1pt``), the mean drops, the
        mean number of spans, ``target`` and ``passed``; and the same per predicted label.
    """
    from nlp.keywords import default_extractor

    extractor = default_extractor()
    preds = classifier.predict_many([n.body for n in notes], [n.title for n in notes], explain=True)
    labels = list(classifier.labels)
    base, evidence_variants, random_variants, counts = [], [], [], []
    for i, (note, pred) in enumerate(zip(notes, preds, strict=True)):
        spans = [(e.field, e.start, e.end) for e in pred.evidence if e.label == pred.label]
        base.append(pred.scores[pred.label])
        counts.append(len(spans))
        evidence_variants.append(without(note, spans))
        random_variants.append(without(note, random_words(note, len(spans), random.Random(seed + i), extractor)))
    probs = classifier.predict_proba(evidence_variants + random_variants)
    k = np.array([labels.index(p.label) for p in preds], dtype=np.int64)
    rows = np.arange(len(notes))
    drop_e = np.asarray(base) - probs[: len(notes)][rows, k]
    drop_r = np.asarray(base) - probs[len(notes) :][rows, k]
    counts_a = np.asarray(counts)
    has = counts_a > 0
    # A note without evidence has nothing deleted: it never counts as lowered.
    lowered_e, lowered_r = (drop_e > 0) & has, (drop_r > 0) & has
    out = _rates(lowered_e, lowered_r, drop_e, drop_r, has, counts_a)
    out["per_label"] = {
        label: _rates(lowered_e[m], lowered_r[m], drop_e[m], drop_r[m], has[m], counts_a[m])
        for label in labels
        if (m := k == labels.index(label)).any()
    }
    out.update(target=TARGET, seed=seed, passed=bool(out["evidence_lowers"] >= TARGET > out["random_lowers"]))
    return out


def _rates(lowered_e, lowered_r, drop_e, drop_r, has, counts: np.ndarray) -> dict[str, Any]:
    n = len(has)
    return {
        "n": n,
        "with_evidence": round(float(has.mean()), 4) if n else 0.0,
        "evidence_lowers": round(float(lowered_e.mean()), 4) if n else 0.0,
        "random_lowers": round(float(lowered_r.mean()), 4) if n else 0.0,
        "evidence_lowers_1pt": round(float(((drop_e >= NOTICEABLE) & has).mean()), 4) if n else 0.0,
        "random_lowers_1pt": round(float(((drop_r >= NOTICEABLE) & has).mean()), 4) if n else 0.0,
        "mean_drop_evidence": round(float(drop_e[has].mean()), 4) if has.any() else 0.0,
        "mean_drop_random": round(float(drop_r[has].mean()), 4) if has.any() else 0.0,
        "mean_spans": round(float(np.mean(counts)), 2) if n else 0.0,
    }


def format_faithfulness(report: dict[str, Any]) -> str:
    """The report as a small text table."""
    lines = [
        f"{'predicted label':<18}{'n':>6}{'with evidence':>15}{'evidence lowers':>17}{'random lowers':>15}"
        f"{'by >= 0.01: ev / rnd':>24}{'mean drop ev / rnd':>22}",
    ]
    rows = [("all", report), *report["per_label"].items()]
    for name, r in rows:
        drops = f"{r['mean_drop_evidence']:.4f} / {r['mean_drop_random']:.4f}"
        noticed = f"{r['evidence_lowers_1pt']:.1%} / {r['random_lowers_1pt']:.1%}"
        lines.append(f"{name:<18}{r['n']:>6}{r['with_evidence']:>15.1%}{r['evidence_lowers']:>17.1%}"
                     f"{r['random_lowers']:>15.1%}{noticed:>24}{drops:>22}")  # fmt: skip
    verdict = "passed" if report["passed"] else "FAILED"
    lines.append(f"target: evidence lowers >= {report['target']:.0%} and random words far less often: {verdict}")
    return "\n".join(lines)


def main() -> None:
    from nlp import NoteClassifier
    from nlp.errors import NotescoreError
    from nlp.records import read_labelled

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the shipped model)")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="labelled notes (default: the test split)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N notes (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = parser.parse_args()
    try:
        classifier = NoteClassifier.load(args.model, keywords=False)
        notes = read_labelled([args.data], classifier.labels)
    except NotescoreError as exc:
        raise SystemExit(f"faithfulness: {exc}") from exc
    report = faithfulness(classifier, notes[: args.limit] if args.limit else notes, args.seed)
    report.update(model=str(classifier.folder), data=args.data)
    print(format_faithfulness(report))
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
