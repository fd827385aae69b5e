"""Fitting the n-gram component (:mod:`nlp.ngram`) and its blend weight."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from nlp.evaluation import classification_metrics
from nlp.ngram import NgramModel, hash_counts
from nlp.probability import blend

log = logging.getLogger(__name__)

BLEND_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
C_GRID = (1.0, 4.0, 16.0, 64.0)


def _matrix(texts: Sequence[str], buckets: int):
    from scipy.sparse import csr_matrix

    indptr, indices, data = [0], [], []
    for text in texts:
        counts = hash_counts(text, buckets)
        indices.extend(counts.keys())
        data.extend(counts.values())
        indptr.append(len(indices))
    return csr_matrix((np.asarray(data, dtype=np.float32), indices, indptr), shape=(len(texts), buckets))


def _tfidf(counts, idf: np.ndarray):
    from sklearn.preprocessing import normalize

    x = counts.copy()
    x.data = 1.0 + np.log(x.data)
    x = x.multiply(idf[None, :]).tocsr()
    return normalize(x, norm="l2", copy=False)


def fit_ngram(
    train_texts: Sequence[str],
    train_labels: Sequence[str],
    dev_texts: Sequence[str],
    dev_labels: Sequence[str],
    labels: Sequence[str],
    buckets: int = 1 << 18,
) -> tuple[NgramModel, dict]:
    """Fit a logistic regression on hashed tf-idf n-grams; C chosen on dev macro-F1.

    Returns:
        ``(model, info)`` where info holds the chosen C and dev scores.
    """
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError as exc:
        raise ImportError("scikit-learn is not installed: pip install 'notescore[train]'") from exc
    counts = _matrix(train_texts, buckets)
    df = np.asarray((counts > 0).sum(axis=0)).ravel()
    idf = (np.log((1.0 + len(train_texts)) / (1.0 + df)) + 1.0).astype(np.float32)
    x_train = _tfidf(counts, idf)
    x_dev = _tfidf(_matrix(dev_texts, buckets), idf)
    y = np.array([labels.index(label) for label in train_labels])
    best = None
    for c in C_GRID:
        clf = LogisticRegression(C=c, max_iter=2000)
        clf.fit(x_train, y)
        pred = [labels[i] for i in clf.predict(x_dev)]
        f1 = classification_metrics(list(dev_labels), pred, labels)["macro_f1"]
        log.info("n-gram C=%g: dev macro-F1 %.4f", c, f1)
        if best is None or f1 > best[0]:
            best = (f1, c, clf)
    f1, c, clf = best
    weights = np.zeros((buckets, len(labels)), dtype=np.float32)
    bias = np.zeros(len(labels), dtype=np.float32)
    classes = list(clf.classes_)
    coef = clf.coef_ if len(classes) > 2 else np.vstack([-clf.coef_[0] / 2, clf.coef_[0] / 2])
    intercept = clf.intercept_ if len(classes) > 2 else np.array([-clf.intercept_[0] / 2, clf.intercept_[0] / 2])
    for row, cls in enumerate(classes):
        weights[:, cls] = coef[row]
        bias[cls] = intercept[row]
    # Labels absent from the training rows get a large negative bias.
    for cls in set(range(len(labels))) - set(classes):
        bias[cls] = -20.0
    return NgramModel(weights, bias, idf), {"C": c, "dev_macro_f1": f1, "buckets": buckets}


def choose_blend(
    transformer_logits: np.ndarray,
    ngram_logits: np.ndarray,
    dev_labels: Sequence[str],
    labels: Sequence[str],
    max_weight: float = 1.0,
) -> tuple[float, dict]:
    """The n-gram share in :data:`BLEND_WEIGHTS` (≤ ``max_weight``) with the best dev macro-F1 (ties: smaller)."""
    scores = {}
    for w in [w for w in BLEND_WEIGHTS if w <= max_weight + 1e-9]:
        probs = blend(transformer_logits, ngram_logits, w)
        pred = [labels[i] for i in probs.argmax(axis=1)]
        scores[w] = classification_metrics(list(dev_labels), pred, labels)["macro_f1"]
    best = max(scores, key=lambda w: (round(scores[w], 6), -w))
    log.info("blend weights on dev: %s -> %.1f", {k: round(v, 4) for k, v in scores.items()}, best)
    return best, {str(k): v for k, v in scores.items()}
