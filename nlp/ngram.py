"""A hashed n-gram linear model, blended with the transformer's output.

Lexical cues — 私信, 戳链接, 根治, "link in bio", "guaranteed" — and the style
words that give away a fake review are what n-gram models have always caught
well (Ott et al.'s SVM), and they complement a small transformer. Features:
lower-cased word uni- and bigrams for Latin text, character uni-, bi- and
trigrams for CJK runs, hashed (CRC32) into a fixed number of buckets, weighted
by sublinear tf × idf and L2-normalised. The linear weights live in ``ngram.npz``
next to the ONNX graph; numpy only.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from pathlib import Path

import numpy as np

from nlp.encoding import clean_text
from nlp.errors import ModelFormatError, ModelNotFoundError

_WORD = re.compile(r"[a-z0-9][a-z0-9'’\-]*|[\u3400-\u9fff\uf900-\ufaff]+|[#@$%!?]")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def ngram_terms(text: str) -> list[str]:
    """The n-gram terms of one text (before hashing).

    Example:
        >>> ngram_terms("Link in bio 戳链接")[:4]
        ['w:link', 'w:in', 'w:bio', 'w:link in']
    """
    return _terms(clean_text(text).lower())


def _terms(lowered: str) -> list[str]:
    """:func:`ngram_terms` of a text already cleaned and lower-cased."""
    words: list[str | None] = []  # None: a CJK run, which breaks word bigrams
    terms: list[str] = []
    for token in _WORD.findall(lowered):
        if _CJK.match(token):
            terms.extend(["c:" + ch for ch in token])
            terms.extend(["c:" + token[i : i + 2] for i in range(len(token) - 1)])
            terms.extend(["c:" + token[i : i + 3] for i in range(len(token) - 2)])
            words.append(None)
        else:
            words.append(token)
    terms.extend(["w:" + w for w in words if w is not None])
    terms.extend([f"w:{a} {b}" for a, b in zip(words, words[1:], strict=False) if a is not None and b is not None])
    return terms


def bucket_of(term: str, buckets: int) -> int:
    """The hashed bucket of one n-gram term."""
    return zlib.crc32(term.encode("utf-8")) % buckets


def hash_counts(text: str, buckets: int) -> dict[int, int]:
    """Bucket → count for one text, buckets in the order their first term appears."""
    return _counts(ngram_terms(text), buckets)


def _counts(terms: list[str], buckets: int) -> dict[int, int]:
    crc = zlib.crc32
    counts: dict[int, int] = {}
    get = counts.get
    for term in terms:  # bucket_of, inlined: this loop runs for every term of every note
        h = crc(term.encode("utf-8")) % buckets
        counts[h] = get(h, 0) + 1
    return counts


class NgramModel:
    """Linear model over hashed tf-idf n-grams.

    Args:
        weights: [buckets, n_labels] float32.
        bias: [n_labels] float32.
        idf: [buckets] float32.
    """

    def __init__(self, weights: np.ndarray, bias: np.ndarray, idf: np.ndarray) -> None:
        self.weights = weights.astype(np.float32)
        self.bias = bias.astype(np.float32)
        self.idf = idf.astype(np.float32)
        self.buckets = int(idf.shape[0])

    @classmethod
    def load(cls, path: str | Path, n_labels: int | None = None) -> NgramModel:
        """Load ``ngram.npz``.

        Args:
            path: the file.
            n_labels: the labels the model must score, when known.

        Raises:
            ModelNotFoundError: the file is missing.
            ModelFormatError: not a readable ``.npz``, arrays missing, or shapes disagree.
        """
        path = Path(path)
        if not path.is_file():
            raise ModelNotFoundError(f"n-gram file {path} named in notescore.json is missing")
        try:
            with np.load(path) as data:
                model = cls(data["weights"], data["bias"], data["idf"])
        except (KeyError, ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
            raise ModelFormatError(f"{path}: not a valid n-gram file with arrays weights, bias, idf ({exc})") from exc
        if model.weights.shape != (model.buckets, model.bias.shape[0]):
            raise ModelFormatError(f"{path}: weights {model.weights.shape} do not fit idf/bias shapes")
        if n_labels is not None and model.bias.shape[0] != n_labels:
            raise ModelFormatError(f"{path}: scores {model.bias.shape[0]} labels; the model has {n_labels}")
        return model

    def save(self, path: str | Path) -> None:
        """Write ``ngram.npz`` (weights stored as float16 to keep the folder small)."""
        np.savez_compressed(path, weights=self.weights.astype(np.float16), bias=self.bias, idf=self.idf)

    def contributions(self, text: str) -> dict[str, np.ndarray]:
        """What each occurrence of each term of ``text`` adds to the logits (exact: the model is linear).

        A bucket's tf-idf value is shared equally by the term occurrences hashed to
        it, so ``bias + Σ over the text's term occurrences`` equals :meth:`logits`.

        Returns:
            Distinct term → ``[n_labels]`` float32 contribution of one occurrence.

        Example:
            >>> model.contributions("戳链接")["c:链接"]  # doctest: +SKIP
            array([-0.41,  0.93, -0.12], dtype=float32)
        """
        terms = ngram_terms(text)
        buckets = {t: bucket_of(t, self.buckets) for t in set(terms)}
        counts: dict[int, int] = {}
        for term in terms:
            counts[buckets[term]] = counts.get(buckets[term], 0) + 1
        if not counts:
            return {}
        idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        values = (1.0 + np.log(tf)) * self.idf[idx]
        norm = float(np.sqrt((values * values).sum())) or 1.0
        share = dict(zip(idx.tolist(), (values / norm / tf).tolist(), strict=True))
        return {t: share[h] * self.weights[h] for t, h in buckets.items()}

    def logits(self, texts: list[str]) -> np.ndarray:
        """Logits [len(texts), n_labels]."""
        return self.logits_of_clean([clean_text(t) for t in texts])

    def logits_of_clean(self, cleaned: list[str]) -> np.ndarray:
        """:meth:`logits` of texts already passed through :func:`~nlp.encoding.clean_text`."""
        out = np.tile(self.bias, (len(cleaned), 1))
        for row, text in enumerate(cleaned):
            counts = _counts(_terms(text.lower()), self.buckets)
            if not counts:
                continue
            idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
            values = (1.0 + np.log(tf)) * self.idf[idx]
            norm = float(np.sqrt((values * values).sum())) or 1.0
            out[row] += (values / norm) @ self.weights[idx]
        return out
