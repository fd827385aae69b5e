"""Evaluation of a model on labelled notes: accuracy, macro-F1, per-label
precision/recall/F1, confusion matrix — overall and per ``source``.

Records carry a ``label``, or for one-sided sources (a rumour corpus says only
"not possibly_false") a ``labels_allowed`` list: such rows count as correct when
the prediction is in the allowed set, and are reported as ``allowed_accuracy``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from nlp.errors import RecordError
from nlp.keywords import extract_keywords, fold
from nlp.records import LabelledNote, iter_labelled


def classification_metrics(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-label P/R/F1 and the confusion matrix.

    Macro-F1 averages over the labels that occur in ``gold`` or ``pred`` (as
    scikit-learn does by default).

    Args:
        gold: true labels.
        pred: predicted labels, same length.
        labels: every label, in display order.

    Returns:
        A JSON-ready dict.

    Example:
        >>> classification_metrics(["a", "b"], ["a", "a"], ["a", "b"])["accuracy"]
        0.5
    """
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for g, p in zip(gold, pred, strict=True):
        matrix[index[g], index[p]] += 1
    per_label = {}
    f1s = []
    for label, i in index.items():
        tp = int(matrix[i, i])
        support = int(matrix[i].sum())
        predicted = int(matrix[:, i].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
        if support or predicted:
            f1s.append(f1)
    n = int(matrix.sum())
    return {
        "n": n,
        "accuracy": float(np.trace(matrix) / n) if n else 0.0,
        "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
        "per_label": per_label,
        "confusion": {"labels": list(labels), "matrix": matrix.tolist()},
    }


def keyword_match(predicted: Sequence[str], gold: Sequence[str]) -> tuple[int, int]:
    """Count matches under LABELS.md's rule (fold, then equal or contained).

    Returns:
        ``(predicted keywords that match a gold one, gold keywords matched)``.
    """
    p = [fold(k) for k in predicted if fold(k)]
    g = [fold(k) for k in gold if fold(k)]
    hit_p = sum(any(a == b or a in b or b in a for b in g) for a in p)
    hit_g = sum(any(a == b or a in b or b in a for a in p) for b in g)
    return hit_p, hit_g


def evaluate_notes(classifier, notes: Sequence[LabelledNote], keywords: bool = True) -> dict[str, Any]:
    """Evaluate a classifier on labelled notes, overall and per source.

    Args:
        classifier: a loaded :class:`nlp.NoteClassifier`.
        notes: labelled notes (see :mod:`nlp.records`).
        keywords: also score keyword extraction where notes have gold keywords.

    Returns:
        The report: ``overall``, ``per_source`` and ``keywords``.
    """
    labels = list(classifier.labels)
    probs = classifier.predict_proba([n.text for n in notes]) if notes else np.zeros((0, len(labels)))
    preds = [labels[int(j)] for j in probs.argmax(axis=1)] if len(notes) else []
    groups: dict[str, list[int]] = defaultdict(list)
    for i, note in enumerate(notes):
        groups[note.source or "all"].append(i)
    report: dict[str, Any] = {
        "overall": _summarise(notes, preds, labels, range(len(notes))),
        "per_source": {s: _summarise(notes, preds, labels, idx) for s, idx in sorted(groups.items())}
        if len(groups) > 1
        else {},
    }
    if keywords:
        scored = keyword_scores(notes)
        if scored:
            report["keywords"] = scored
    return report


def _summarise(notes: Sequence[LabelledNote], preds: list[str], labels: list[str], idx) -> dict[str, Any]:
    idx = list(idx)
    full = [i for i in idx if notes[i].label is not None]
    part = [i for i in idx if notes[i].label is None]
    out = classification_metrics([notes[i].label for i in full], [preds[i] for i in full], labels)
    # The full label distribution of the predictions, every row counted (fully labelled or one-sided).
    out["distribution"] = {lab: (sum(preds[i] == lab for i in idx) / len(idx)) if idx else 0.0 for lab in labels}
    if part:
        out["n_partial"] = len(part)
        out["allowed_accuracy"] = sum(preds[i] in notes[i].allowed for i in part) / len(part)
        out["predicted"] = {lab: sum(preds[i] == lab for i in part) for lab in labels}
    return out


def keyword_scores(notes: Sequence[LabelledNote]) -> dict[str, Any] | None:
    """Keyword precision/recall/F1 (LABELS.md matching) over notes with gold keywords."""
    hp = hg = n_pred = n_gold = 0
    for note in notes:
        if not note.keywords:
            continue
        got = extract_keywords(note.body, note.title)
        a, b = keyword_match(got, note.keywords)
        hp, hg, n_pred, n_gold = hp + a, hg + b, n_pred + len(got), n_gold + len(note.keywords)
    if not n_gold:
        return None
    precision, recall = (hp / n_pred if n_pred else 0.0), hg / n_gold
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "gold": n_gold, "predicted": n_pred}


def evaluate_files(classifier, paths: Sequence[str], keywords: bool = True) -> dict[str, Any]:
    """Read labelled files and evaluate; unusable rows are counted and listed as skipped.

    Raises:
        InputFormatError: a file cannot be opened.
    """
    notes: list[LabelledNote] = []
    skipped = []
    for path in paths:
        for line, item in iter_labelled(str(path), classifier.labels):
            if isinstance(item, RecordError):
                skipped.append({"line": line, "reason": f"{path}: {item.reason}"})
            else:
                notes.append(item)
    report = evaluate_notes(classifier, notes, keywords)
    report["files"] = list(paths)
    report["skipped"] = len(skipped)
    report["skipped_rows"] = skipped[:50]
    return report


def format_report(report: dict[str, Any]) -> str:
    """Render an evaluation report as plain-text tables."""
    out = []

    def block(name: str, m: dict[str, Any]) -> None:
        out.append(f"== {name}: n={m['n']}" + (f" (+{m['n_partial']} one-sided)" if m.get("n_partial") else ""))
        if m["n"]:
            out.append(f"accuracy {m['accuracy']:.4f}   macro-F1 {m['macro_f1']:.4f}")
            out.append(f"{'label':<16}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}")
            for label, s in m["per_label"].items():
                out.append(f"{label:<16}{s['precision']:>10.4f}{s['recall']:>10.4f}{s['f1']:>10.4f}{s['support']:>9}")
            labels = m["confusion"]["labels"]
            out.append("confusion (rows = gold, columns = predicted)")
            out.append(" " * 16 + "".join(f"{lab[:14]:>16}" for lab in labels))
            for lab, row in zip(labels, m["confusion"]["matrix"], strict=True):
                out.append(f"{lab[:15]:<16}" + "".join(f"{v:>16}" for v in row))
        if m.get("n_partial"):
            out.append(
                f"one-sided rows: prediction in the allowed set {m['allowed_accuracy']:.4f}; predicted {m['predicted']}"
            )
        if m.get("distribution"):
            out.append("predicted labels: " + ", ".join(f"{k} {v:.1%}" for k, v in m["distribution"].items()))
        out.append("")

    block("overall", report["overall"])
    for source, m in report.get("per_source", {}).items():
        block(f"source {source}", m)
    if "keywords" in report:
        k = report["keywords"]
        out.append(f"keywords: precision {k['precision']:.4f}  recall {k['recall']:.4f}  F1 {k['f1']:.4f}")
    if report.get("skipped"):
        out.append(f"skipped rows: {report['skipped']}")
    return "\n".join(out)
