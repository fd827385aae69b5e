"""Evidence for a note's labels: the spans whose deletion lowers the model's own score.

Occlusion is faithful by construction (a span counts only if the model itself
changes its mind without it) but costs a model run per span tried, so the spans
are chosen cheaply first:

1. **Candidates**: the words of the title and body as jieba cuts them (Latin
   words and numbers included), pairs of adjacent words up to
   :data:`MAX_PHRASE_CHARS` characters (short phrases: 私信我, "link in"), and the
   matches of the cue lexicon (:mod:`nlp.cues`: disclosures, calls to action,
   codes, miracle claims, invented statistics, scarcity).
2. **Pre-ranking**, per label: the n-gram model's contribution of the
   candidate's terms to that label's logit (exact for a linear model, centred
   across labels, see :meth:`nlp.ngram.NgramModel.contributions`), plus
   :data:`CUE_BONUS` when a cue of the label covers exactly that span.
3. **Occlusion**: for the labels with probability >= :data:`MIN_PROB`, the best
   candidates are deleted one at a time (one per label in turn, most probable
   label first: :data:`MAX_SPANS` at most, one more than the labels explained)
   and every variant of a batch of notes is re-scored in one batched call. A
   span is evidence for a label when deleting it lowers that label's calibrated
   probability by at least :data:`MIN_WEIGHT`; its weight is the drop.

Offsets are character offsets into the text the user gave (the title, or the
body), whatever invisible or full-width characters it holds.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nlp.cues import CueLexicon, default_cues
from nlp.encoding import compose_text
from nlp.evidence import Evidence
from nlp.keywords import KeywordExtractor, default_extractor
from nlp.ngram import ngram_terms

# Labels at or above this probability are explained.
MIN_PROB = 0.2
# Spans deleted per note at most (model runs beyond the note's own).
MAX_SPANS = 3
# The smallest probability drop that counts as evidence (weights are rounded to 4 decimals).
MIN_WEIGHT = 1e-4
MAX_PHRASE_CHARS = 8
# A cue of the label counts as much as the note's strongest n-gram contribution, half over.
CUE_BONUS = 0.5
TITLE, BODY = "title", "text"
# Words that carry grammar, not content: a span made only of them (and no cue) is tried last,
# because "at my" or 的 explain nothing to a moderator even when they move a score. The
# keyword stop lists are not used here: they also hold style words that are evidence
# (honestly, obsessed, 说实话, 绝绝子).
FUNCTION_WORDS = frozenset((
    "a", "an", "the", "i", "me", "my", "we", "our", "you", "your", "he", "him", "his", "she", "her", "it", "its",
    "they", "them", "their", "this", "that", "these", "those", "is", "am", "are", "was", "were", "be", "been",
    "do", "does", "did", "have", "has", "had", "will", "would", "can", "could", "should", "to", "of", "in", "on",
    "at", "by", "for", "from", "with", "as", "and", "or", "but", "so", "if", "then", "than", "not", "no", "too",
    "very", "just",
    *"的了是在也和就都而及与着或我你他她它们呢吧啊吗呀哦嘛",
))  # fmt: skip
FUNCTION_PENALTY = 0.5


@dataclass(frozen=True)
class Candidate:
    """A span that may be deleted: its field, offsets into the user's text, normalised text, cue labels."""

    field: str
    start: int
    end: int
    norm: str
    cue_labels: frozenset[str] = frozenset()

    def overlaps(self, other: Candidate) -> bool:
        """Whether two candidates share a character of the same field."""
        return self.field == other.field and self.start < other.end and other.start < self.end


def normalize_with_offsets(text: str) -> tuple[str, list[int] | None]:
    """NFKC-normalise ``text`` (invisible format characters dropped), keeping each character's origin.

    Returns:
        ``(normalised, origin)`` where ``origin[i]`` is the index in ``text`` of the
        character that normalised character ``i`` came from; origin is None when the
        text is ASCII (nothing changes).

    Example:
        >>> normalize_with_offsets("Ｌｉ\\u200bnk")
        ('Link', [0, 1, 3, 4])
    """
    if text.isascii():
        return text, None
    chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        for c in unicodedata.normalize("NFKC", ch):
            if unicodedata.category(c) != "Cf":
                chars.append(c)
                origin.append(i)
    return "".join(chars), origin


def candidate_spans(text: str, field: str, extractor: KeywordExtractor, cues: CueLexicon) -> list[Candidate]:
    """The words, short phrases and cues of one field of a note, as candidates (offsets into ``text``).

    Example:
        >>> [c.norm for c in candidate_spans("戳链接", "text", default_extractor(), default_cues())]
        ['戳', '戳链接', '链接']
    """
    norm, origin = normalize_with_offsets(text)

    def span(a: int, b: int) -> tuple[int, int]:
        return (a, b) if origin is None else (origin[a], origin[b - 1] + 1)

    # Words with a letter or digit; a lone Latin letter or digit ("I", the 4 of "4,100") says nothing.
    words = [(a, b) for w, a, b in extractor.words(norm) if any(ch.isalnum() for ch in w) and not
             (len(w) == 1 and w.isascii())]  # fmt: skip
    found: dict[tuple[int, int], set[str]] = {w: set() for w in words}
    for (a1, b1), (a2, b2) in zip(words, words[1:], strict=False):
        gap = norm[b1:a2]
        if b2 - a1 <= MAX_PHRASE_CHARS and (not gap or gap == " "):
            found.setdefault((a1, b2), set())
    for cue in cues.find(norm):
        found.setdefault((cue.start, cue.end), set()).update(cue.labels)
    out = []
    for (a, b), labels in sorted(found.items()):
        start, end = span(a, b)
        out.append(Candidate(field, start, end, norm[a:b], frozenset(labels)))
    return out


def is_function_words(span: str) -> bool:
    """Whether a span is made only of :data:`FUNCTION_WORDS` (Latin words, or single Chinese particles).

    Example:
        >>> is_function_words("at my"), is_function_words("的"), is_function_words("link in")
        (True, True, False)
    """
    words = span.lower().split()
    return bool(words) and all(w in FUNCTION_WORDS for w in words)


def delete(text: str, start: int, end: int) -> str:
    """``text`` without ``text[start:end]`` (a space kept between Latin words that would join)."""
    left, right = text[:start], text[end:]
    if left[-1:].isascii() and left[-1:].isalnum() and right[:1].isascii() and right[:1].isalnum():
        return left + " " + right
    return left + right


class Explainer:
    """Finds the evidence of a :class:`~nlp.classifier.NoteClassifier`'s labels; safe to share between threads.

    Args:
        classifier: the model whose scores are explained.
        extractor: the word segmenter (the packaged lexicon's when None).
        cues: the cue lexicon (the packaged one when None).
    """

    def __init__(self, classifier, extractor: KeywordExtractor | None = None, cues: CueLexicon | None = None) -> None:
        self.classifier = classifier
        self.labels: tuple[str, ...] = tuple(classifier.labels)
        self.extractor = extractor or default_extractor()
        self.cues = cues or default_cues()

    def explain(self, texts: Sequence[str], titles: Sequence[str | None], outputs) -> list[tuple[Evidence, ...]]:
        """The evidence of every note of a batch.

        Args:
            texts: the bodies, as the user gave them.
            titles: the titles (None: no title).
            outputs: the :class:`~nlp.classifier.ModelOutputs` of the composed notes.

        Returns:
            For each note, its evidence: for each label with probability >= :data:`MIN_PROB`
            (most probable first), the spans whose deletion lowers it, heaviest first.
        """
        plans = [self.plan(text, title, p) for text, title, p in zip(texts, titles, outputs.probs, strict=True)]
        owners, deleted, variants = [], [], []
        for i, (text, title) in enumerate(zip(texts, titles, strict=True)):
            for cand in plans[i][1]:
                body = delete(text, cand.start, cand.end) if cand.field == BODY else text
                head = delete(title or "", cand.start, cand.end) if cand.field == TITLE else title
                owners.append(i)
                deleted.append(cand)
                variants.append(compose_text(body, head))
        probs = self.score_variants(variants, owners, outputs)
        out: list[list[Evidence]] = [[] for _ in texts]
        for j, (i, cand) in enumerate(zip(owners, deleted, strict=True)):
            source = texts[i] if cand.field == BODY else titles[i] or ""
            for k in plans[i][0]:
                drop = float(outputs.probs[i, k] - probs[j, k])
                if drop >= MIN_WEIGHT:
                    label = self.labels[k]
                    out[i].append(Evidence(label, source[cand.start : cand.end], cand.start, cand.end,
                                           round(drop, 4), cand.field))  # fmt: skip
        return [self._ordered(evidence, plans[i][0]) for i, evidence in enumerate(out)]

    def _ordered(self, evidence: list[Evidence], labels: list[int]) -> tuple[Evidence, ...]:
        rank = {self.labels[k]: r for r, k in enumerate(labels)}
        return tuple(sorted(evidence, key=lambda e: (rank[e.label], -e.weight, e.field != TITLE, e.start)))

    def plan(self, text: str, title: str | None, probs: np.ndarray) -> tuple[list[int], list[Candidate]]:
        """The labels to explain (most probable first) and the candidates to delete, in order."""
        labels = [int(k) for k in np.argsort(-probs, kind="stable") if probs[k] >= MIN_PROB]
        cands = candidate_spans(title, TITLE, self.extractor, self.cues) if title else []
        cands += candidate_spans(text, BODY, self.extractor, self.cues)
        if not cands or not labels:
            return labels, []
        scores = self.prerank(compose_text(text, title), cands)
        picks: list[Candidate] = []
        for turn in range(min(MAX_SPANS, len(labels) + 1)):
            k = labels[turn % len(labels)]
            for c in np.argsort(-scores[:, k], kind="stable"):
                cand = cands[int(c)]
                if not any(cand.overlaps(p) for p in picks):
                    picks.append(cand)
                    break
        return labels, picks

    def prerank(self, composed: str, cands: list[Candidate]) -> np.ndarray:
        """``[len(cands), labels]`` scores: n-gram contribution (scaled to [-1, 1]) + cue bonus + a length prior."""
        scores = np.zeros((len(cands), len(self.labels)), dtype=np.float32)
        ngram = self.classifier.ngram_model
        if ngram is not None:
            per_term = ngram.contributions(composed)
            index = {term: n for n, term in enumerate(per_term)}
            rows: list[int] = []
            terms: list[int] = []
            for row, cand in enumerate(cands):
                for term in ngram_terms(cand.norm):
                    n = index.get(term)
                    if n is not None:
                        rows.append(row)
                        terms.append(n)
            if terms:
                matrix = np.stack(list(per_term.values()))
                matrix -= matrix.mean(axis=1, keepdims=True)
                np.add.at(scores, np.asarray(rows), matrix[np.asarray(terms)])
            scale = float(np.abs(scores).max())
            if scale > 0:
                scores /= scale
        for row, cand in enumerate(cands):
            for label in cand.cue_labels:
                if label in self.labels:
                    scores[row, self.labels.index(label)] += CUE_BONUS
            # Without other signal, longer spans (more content) first.
            scores[row] += 0.01 * min(len(cand.norm), MAX_PHRASE_CHARS) / MAX_PHRASE_CHARS
            if not cand.cue_labels and is_function_words(cand.norm):
                scores[row] -= FUNCTION_PENALTY
        return scores

    def score_variants(self, variants: list[str], owners: list[int], outputs) -> np.ndarray:
        """Calibrated probabilities of the variants, in one batched call.

        A variant whose token ids equal its note's (the span was in the part of a long
        note the transformer does not read) reuses the note's transformer output.
        """
        clf = self.classifier
        if not variants:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        ids = clf.encoder.token_ids(variants)
        transformer = outputs.transformer[owners].copy()
        changed = [j for j, i in enumerate(owners) if ids[j] != outputs.ids[i]]
        if changed:
            transformer[changed] = clf.transformer_logits_of_ids([ids[j] for j in changed])
        ngram = clf.ngram_logits(variants) if clf.has_ngram else None
        return clf.combine(transformer, ngram)
