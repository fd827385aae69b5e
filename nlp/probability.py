"""Turning model outputs into probabilities: the one softmax, log-softmax and blend.

Runtime, training, export and bench all go through these, so a probability means
the same thing everywhere.
"""

from __future__ import annotations

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of a ``[n, k]`` array (numerically stable).

    Example:
        >>> float(np.exp(log_softmax(np.array([[0.0, 0.0]]))).sum())
        1.0
    """
    z = logits - logits.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of a ``[n, k]`` array; rows sum to 1.

    Example:
        >>> softmax(np.array([[0.0, 0.0]])).tolist()
        [[0.5, 0.5]]
    """
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def blend(transformer_logits: np.ndarray, ngram_logits: np.ndarray | None, weight: float) -> np.ndarray:
    """Probabilities from a weighted sum of two models' log-probabilities.

    Args:
        transformer_logits: ``[n, k]`` logits (or log-probabilities) of the transformer.
        ngram_logits: ``[n, k]`` logits of the n-gram model, or None.
        weight: the n-gram model's share (0 = transformer only, 1 = n-gram only).

    Returns:
        ``[n, k]`` probabilities.
    """
    z = log_softmax(transformer_logits)
    if ngram_logits is not None and weight > 0:
        z = (1.0 - weight) * z + weight * log_softmax(ngram_logits)
    return softmax(z)


def calibrate(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature scaling of probabilities: ``softmax(log p / T)`` row-wise (T = 1: unchanged).

    It never changes which label is most probable.
    """
    if temperature == 1.0:
        return probs
    return softmax(np.log(np.clip(probs, 1e-12, 1.0)) / temperature)


def decide(probs: np.ndarray, labels: tuple[str, ...], thresholds: dict[str, float] | None = None) -> str:
    """The label of one note: the most probable, unless per-label thresholds say otherwise.

    A label with a threshold is chosen only when its probability reaches the
    threshold; the most probable of the labels still in the running wins. When none
    is (every label has a threshold and none reaches it), the most probable label wins.

    Example:
        >>> decide(np.array([0.3, 0.6, 0.1]), ("genuine", "sponsored", "possibly_false"), {"sponsored": 0.7})
        'genuine'
    """
    order = np.argsort(-probs)
    for j in order:
        label = labels[int(j)]
        if not thresholds or label not in thresholds or probs[j] >= thresholds[label]:
            return label
    return labels[int(order[0])]
