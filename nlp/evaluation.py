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

from nlp.encoding import compose_text
from nlp.errors import RecordError
from nlp.io import read_records
from nlp.keywords import extract_keywords, fold
from nlp.scoring import pick_text


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


def evaluate_records(classifier, records: list[dict[str, Any]], keywords: bool = True) -> dict[str, Any]:
    """Evaluate a classifier on parsed labelled records.

    Args:
        classifier: a loaded :class:`nlp.NoteClassifier`.
        records: dicts with a text field, ``label`` or ``labels_allowed``,
            optional ``title``, ``source`` and ``keywords``.
        keywords: also score keyword extraction where records have keywords.

    Returns:
        The report: ``overall``, ``per_source``, ``keywords`` and ``skipped``.
    """
    labels = list(classifier.labels)
    texts, rows = [], []
    skipped: list[dict[str, Any]] = []
    for i, record in enumerate(records):
        line = record.get("_line", i + 1)
        try:
            text, title = pick_text(record, line, None, None)
        except RecordError as err:
            skipped.append({"line": line, "reason": err.reason})
            continue
        label, allowed = record.get("label"), record.get("labels_allowed")
        if label not in labels and not (isinstance(allowed, list) and set(allowed) <= set(labels)):
            skipped.append({"line": line, "reason": f"label {label!r} is not one of {labels} and no labels_allowed"})
            continue
        texts.append(compose_text(text, title))
        rows.append((record, text, title))
    probs = classifier.predict_proba(texts) if texts else np.zeros((0, len(labels)))
    preds = [labels[int(j)] for j in probs.argmax(axis=1)] if len(texts) else []
    groups: dict[str, list[int]] = defaultdict(list)
    for i, (record, _, _) in enumerate(rows):
        groups[str(record.get("source", "all"))].append(i)

    def summarise(idx: list[int]) -> dict[str, Any]:
        full = [i for i in idx if rows[i][0].get("label") in labels]
        part = [i for i in idx if i not in set(full)]
        out = classification_metrics([rows[i][0]["label"] for i in full], [preds[i] for i in full], labels)
        if part:
            ok = sum(preds[i] in rows[i][0]["labels_allowed"] for i in part)
            out["n_partial"] = len(part)
            out["allowed_accuracy"] = ok / len(part)
            out["predicted"] = {lab: sum(preds[i] == lab for i in part) for lab in labels}
        return out

    report: dict[str, Any] = {
        "overall": summarise(list(range(len(rows)))),
        "per_source": {s: summarise(idx) for s, idx in sorted(groups.items())} if len(groups) > 1 else {},
        "skipped": len(skipped),
        "skipped_rows": skipped[:50],
    }
    if keywords:
        hp = hg = np_ = ng = 0
        for record, text, title in rows:
            gold = record.get("keywords")
            if not isinstance(gold, list) or not gold:
                continue
            got = extract_keywords(text, title)
            a, b = keyword_match(got, gold)
            hp, hg, np_, ng = hp + a, hg + b, np_ + len(got), ng + len(gold)
        if ng:
            precision, recall = (hp / np_ if np_ else 0.0), hg / ng
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            report["keywords"] = {"precision": precision, "recall": recall, "f1": f1, "gold": ng, "predicted": np_}
    return report


def evaluate_files(classifier, paths: Sequence[str], keywords: bool = True) -> dict[str, Any]:
    """Read labelled files and evaluate; unreadable rows are counted as skipped.

    Raises:
        InputFormatError: a file cannot be opened.
    """
    records: list[dict[str, Any]] = []
    bad = []
    for path in paths:
        for line, item in read_records(path):
            if isinstance(item, RecordError):
                bad.append({"line": line, "reason": f"{path}: {item.reason}"})
            else:
                records.append({**item, "_line": line})
    report = evaluate_records(classifier, records, keywords)
    report["files"] = list(paths)
    report["skipped"] += len(bad)
    report["skipped_rows"] = (bad + report["skipped_rows"])[:50]
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
