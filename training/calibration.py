"""Calibrated scores: a temperature fitted after export, and how well scores match frequencies.

A moderator reads "sponsored 0.9" as "nine in ten notes like this are sponsored".
The blended int8 model's probabilities need not mean that, so a temperature T is
fitted on dev after export and quantisation (minimising the negative
log-likelihood of the model's own final probabilities): p ∝ exp(log p / T). It
never changes a note's label (argmax), only how sure the scores say the model is.
:func:`expected_calibration_error` measures the gap per label (one label against
the rest, 15 equal-width bins), before and after; :func:`pr_table` gives the
precision and recall a threshold on a label's score buys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nlp.probability import log_softmax, softmax

BINS = 15
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log p / T)`` row-wise."""
    return softmax(np.log(np.clip(probs, 1e-12, 1.0)) / temperature)


def fit_temperature(probs: np.ndarray, gold: Sequence[int]) -> float:
    """The temperature in [0.25, 8] that minimises the dev negative log-likelihood (grid, then refined)."""
    logp = np.log(np.clip(probs, 1e-12, 1.0))
    gold = np.asarray(gold)

    def nll(t: float) -> float:
        return float(-log_softmax(logp / t)[np.arange(len(gold)), gold].mean())

    grid = np.exp(np.linspace(np.log(0.25), np.log(8.0), 61))
    best = min(grid, key=nll)
    fine = np.linspace(best / 1.06, best * 1.06, 25)
    return float(min(fine, key=nll))


def expected_calibration_error(scores: np.ndarray, truth: np.ndarray, bins: int = BINS) -> float:
    """ECE of one label's scores against 0/1 truth (equal-width bins, weighted by their size)."""
    scores, truth = np.asarray(scores, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if not len(scores):
        return float("nan")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(scores, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            ece += mask.mean() * abs(scores[mask].mean() - truth[mask].mean())
    return float(ece)


def ece_per_label(probs: np.ndarray, truth: dict[str, np.ndarray], labels: Sequence[str]) -> dict[str, float]:
    """ECE per label; ``truth[label]`` is 1/0 per row, NaN where the row says nothing about that label."""
    out = {}
    for j, label in enumerate(labels):
        known = ~np.isnan(truth[label])
        if known.any():
            out[label] = round(expected_calibration_error(probs[known, j], truth[label][known]), 4)
    return out


def truth_of(allowed: Sequence[Sequence[str]], labels: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-label 0/1 truth from each row's allowed labels: 1 when it is the only one, 0 when excluded, else NaN."""
    out = {}
    for label in labels:
        values = []
        for a in allowed:
            values.append(1.0 if tuple(a) == (label,) else 0.0 if label not in a else np.nan)
        out[label] = np.array(values, dtype=np.float64)
    return out


def pr_table(probs: np.ndarray, truth: dict[str, np.ndarray], labels: Sequence[str],
             thresholds: Sequence[float] = THRESHOLDS) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
    """Per label, precision and recall of "score ≥ t" for each threshold t (rows with known truth)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for j, label in enumerate(labels):
        known = ~np.isnan(truth[label])
        score, gold = probs[known, j], truth[label][known] == 1
        rows = []
        for t in thresholds:
            flagged = score >= t
            tp = int((flagged & gold).sum())
            precision = tp / int(flagged.sum()) if flagged.any() else float("nan")
            recall = tp / int(gold.sum()) if gold.any() else float("nan")
            rows.append({"threshold": t, "precision": round(precision, 4), "recall": round(recall, 4),
                         "flagged": int(flagged.sum())})  # fmt: skip
        out[label] = rows
    return out


def fit_folder(folder, dev_notes: Sequence, threads: int = 2) -> dict[str, Any]:
    """Fit the temperature of an exported folder on fully labelled dev notes and record it in its spec.

    Returns:
        The calibration record written to ``notescore.json``.
    """
    from nlp.classifier import NoteClassifier
    from nlp.model_folder import update_model_spec

    clf = NoteClassifier.load(folder, threads=threads, keywords=False)
    notes = [n for n in dev_notes if n.label is not None]
    probs = clf.blended_proba([n.text for n in notes]).astype(np.float64)
    gold = [clf.labels.index(n.label) for n in notes]
    temperature = fit_temperature(probs, gold)
    truth = truth_of([n.allowed for n in notes], clf.labels)
    record = {
        "method": "temperature",
        "temperature": round(temperature, 4),
        "fitted_on": f"dev, {len(notes)} fully labelled notes (project notes and real samples), after int8 export",
        "dev_ece_before": ece_per_label(probs, truth, clf.labels),
        "dev_ece_after": ece_per_label(apply_temperature(probs, temperature), truth, clf.labels),
    }
    update_model_spec(folder, calibration=record)
    return record


def report(labels: Sequence[str], temperature: float, sets: dict[str, tuple[list, np.ndarray]]) -> dict[str, Any]:
    """ECE per label before/after calibration and precision–recall tables, per named set of (notes, probabilities).

    ``probabilities`` are the uncalibrated blended ones; each note's ``allowed`` labels give the truth.
    """
    out: dict[str, Any] = {}
    for name, (notes, probs) in sets.items():
        probs = np.asarray(probs, dtype=np.float64)
        truth = truth_of([n.allowed for n in notes], labels)
        after = apply_temperature(probs, temperature)
        out[name] = {
            "n": len(notes),
            "ece_before": ece_per_label(probs, truth, labels),
            "ece_after": ece_per_label(after, truth, labels),
            "pr": pr_table(after, truth, labels),
        }
    return out
