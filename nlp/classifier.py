"""NoteClassifier: load a notescore model folder and score notes with ONNX Runtime."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from nlp.backends import load_backend
from nlp.batching import length_batches
from nlp.encoding import NoteEncoder, clean_text, compose_text, has_visible_text
from nlp.errors import ModelFormatError, RecordError
from nlp.evidence import Evidence
from nlp.keywords import DEFAULT_TOP_K, KeywordExtractor, default_extractor
from nlp.model_folder import ModelSpec, read_model_spec
from nlp.ngram import NgramModel
from nlp.probability import blend, calibrate, decide, log_softmax

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "notescore-base"
# Notes per job of the work beside the transformer (n-gram model, keywords) when it runs on an
# executor: small enough that a stopped job waits little for the one in flight.
_SIDE_CHUNK = 256


@dataclass(frozen=True)
class Prediction:
    """The verdict on one note.

    Attributes:
        label: the most probable label.
        scores: probability of every label; they sum to 1.
        keywords: search keywords extracted from the note.
        evidence: with ``explain=True``, the spans that pushed the model towards
            each label with probability >= 0.2 (see :mod:`nlp.explain`); else empty.
    """

    label: str
    scores: dict[str, float]
    keywords: list[str]
    evidence: tuple[Evidence, ...] = ()

    def to_dict(self, with_evidence: bool | None = None) -> dict:
        """The output-contract form: ``{"label", "scores", "keywords"}``, plus ``"evidence"``
        when asked for (``with_evidence=True``) or, by default, when there is some."""
        out = {"label": self.label, "scores": dict(self.scores), "keywords": list(self.keywords)}
        if with_evidence or (with_evidence is None and self.evidence):
            out["evidence"] = [e.to_dict() for e in self.evidence]
        return out


@dataclass(frozen=True)
class ModelOutputs:
    """What the model computed for a batch of composed texts, kept for explanations and review.

    Attributes:
        ids: the token ids each text was read as (truncated, special tokens included).
        transformer: the transformer's log-probabilities ``[n, labels]``.
        ngram: the n-gram model's logits ``[n, labels]``, or None when the model has none.
        probs: the calibrated blend, what :meth:`NoteClassifier.predict_proba` returns.
    """

    ids: list[list[int]]
    transformer: np.ndarray
    ngram: np.ndarray | None
    probs: np.ndarray

    def subset(self, rows: list[int]) -> ModelOutputs:
        """The outputs of some of the texts, in the order of ``rows``."""
        ngram = self.ngram[rows] if self.ngram is not None else None
        return ModelOutputs([self.ids[i] for i in rows], self.transformer[rows], ngram, self.probs[rows])


def default_model_dir() -> Path:
    """Where the shipped model is looked for.

    Order: ``$NOTESCORE_MODEL``; the copy packaged inside the wheel; the
    ``models/notescore-base`` folder of a source checkout.

    Returns:
        The first existing candidate (or the last one, for the error message).
    """
    env = os.environ.get("NOTESCORE_MODEL")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    candidates = [here / "_models" / DEFAULT_MODEL_NAME, here.parent / "models" / DEFAULT_MODEL_NAME]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[-1]


class NoteClassifier:
    """Scores notes as genuine / sponsored / possibly_false and extracts keywords.

    Create one with :meth:`load`. Safe to share between threads: ONNX Runtime
    sessions and the encoder hold no per-call state.

    Example:
        >>> clf = NoteClassifier.load()
        >>> clf.predict("用了三个月的面霜，干皮冬天够用，就是有点贵").label
        'genuine'
    """

    def __init__(
        self,
        folder: Path,
        spec: ModelSpec,
        backend,
        encoder: NoteEncoder,
        keywords: KeywordExtractor | None,
        batch_size: int,
        ngram: NgramModel | None = None,
        thresholds: dict[str, float] | None = None,
    ) -> None:
        self.folder = folder
        self.spec = spec
        self.labels = spec.labels
        self.backend = backend
        self.encoder = encoder
        self.batch_size = batch_size
        self._keywords = keywords
        self._ngram = ngram
        self.thresholds = check_thresholds(thresholds, spec.labels)
        self._explainer = None

    @property
    def temperature(self) -> float:
        """The calibration temperature fitted after export (1.0: none)."""
        return float(self.spec.calibration.get("temperature", 1.0))

    @property
    def ngram_weight(self) -> float:
        """The n-gram model's share of the blend (0 when the model has none)."""
        return self.spec.ngram.weight if self._ngram is not None and self.spec.ngram else 0.0

    @property
    def ngram_model(self) -> NgramModel | None:
        """The blended n-gram model (None when the model has none)."""
        return self._ngram

    @property
    def has_ngram(self) -> bool:
        """Whether the model blends in an n-gram model."""
        return self._ngram is not None

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        *,
        threads: int | None = None,
        batch_size: int = 32,
        keywords: bool = True,
        backend: str = "auto",
        thresholds: dict[str, float] | None = None,
    ) -> NoteClassifier:
        """Load a model folder (the shipped model when ``path`` is None).

        The folder's files are checked against the SHA-256 recorded in its
        ``notescore.json``, and the graph's label order against the spec's.

        Args:
            path: a folder written by ``notescore export``.
            threads: inference threads; all cores when None.
            batch_size: notes per inference batch.
            keywords: also extract keywords in :meth:`predict`.
            backend: ``auto`` (ONNX Runtime; see :mod:`nlp.backends`), ``onnxruntime``
                or ``openvino`` (see :mod:`nlp.backends`).
            thresholds: per-label decision thresholds, e.g. ``{"sponsored": 0.7}``:
                a label with a threshold is chosen only when its (calibrated)
                probability reaches it (see :func:`nlp.probability.decide`).

        Returns:
            A ready :class:`NoteClassifier`.

        Raises:
            ModelNotFoundError: the folder, its ``notescore.json`` or a file it
                names is missing.
            ModelFormatError: the folder's files are invalid, changed since
                export, or disagree with each other.
            MissingDependencyError: the backend's package is not installed.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; found {batch_size}")
        folder = Path(path) if path is not None else default_model_dir()
        spec = read_model_spec(folder)
        extractor = default_extractor() if keywords else None
        if extractor is not None:  # jieba's dictionary loads while the graph does and the first notes run
            extractor.load_in_background()
        runner = load_backend(backend, folder / spec.model_file, threads)
        check_graph_labels(folder / spec.model_file, spec, runner)
        normalization = folder / spec.normalization_file if spec.normalization_file else None
        encoder = NoteEncoder(folder / spec.tokenizer_file, spec.truncation, spec.special_tokens, normalization)
        ngram = NgramModel.load(folder / spec.ngram.file, len(spec.labels)) if spec.ngram else None
        log.info("loaded %s (%s, %d labels, max_length %d)", folder, spec.name, len(spec.labels),
                 spec.truncation.max_length)  # fmt: skip
        return cls(folder, spec, runner, encoder, extractor, batch_size, ngram, thresholds)

    def predict(
        self, notes: str | Iterable[str], titles: Iterable[str | None] | str | None = None, *, explain: bool = False
    ):
        """Classify one note or many.

        Args:
            notes: a note body, or any iterable of them (list, tuple, generator,
                pandas Series, numpy array).
            titles: the title (for one note) or an iterable of titles as long as
                ``notes`` (None, and pandas' NaN for a missing value, mean no title).
            explain: also find the evidence for each label with probability >= 0.2
                (:attr:`Prediction.evidence`; about 2-3 more model runs per note).

        Returns:
            A :class:`Prediction` for a string; a list of them (same order) for an
            iterable; ``[]`` for an empty one.

        Raises:
            TypeError: ``notes`` is neither a string nor an iterable of strings.
            RecordError: an item is not a non-empty string (its index is named).

        Example:
            >>> clf.predict(pd.Series(["a note", "another"]))  # doctest: +SKIP
            [Prediction(label='genuine', ...), Prediction(...)]
        """
        if isinstance(notes, str):
            if titles is not None and not isinstance(titles, str):
                raise TypeError("for one note, titles must be a str or None")
            return self.predict_many([notes], [titles], explain=explain)[0]
        if isinstance(notes, (bytes, bytearray, Mapping)) or not isinstance(notes, Iterable):
            raise TypeError(f"notes must be a str or an iterable of str; found {type(notes).__name__}")
        notes = list(notes)
        if titles is None:
            titles = [None] * len(notes)
        elif isinstance(titles, (str, bytes, Mapping)) or not isinstance(titles, Iterable):
            raise ValueError("titles must be an iterable as long as notes")
        titles = [None if isinstance(t, float) and t != t else t for t in titles]  # NaN: no title
        if len(titles) != len(notes):
            raise ValueError(f"titles must be as long as notes ({len(notes)}); found {len(titles)}")
        return self.predict_many(notes, titles, explain=explain)

    def predict_many(self, texts: list[str], titles: list[str | None], explain: bool = False) -> list[Prediction]:
        """Classify a list of notes (the list form of :meth:`predict`)."""
        return self.predict_batch(texts, titles, explain)[0]

    def predict_batch(
        self, texts: list[str], titles: list[str | None], explain: bool = False, *, executor: Executor | None = None
    ) -> tuple[list[Prediction], ModelOutputs]:
        """Classify a list of notes and return the model's outputs too (for :mod:`nlp.review`).

        Args:
            texts: the note bodies.
            titles: their titles (None: no title).
            explain: also find each label's evidence (see :meth:`predict`).
            executor: where the work beside the transformer (the n-gram model and keyword
                extraction, pure Python) runs while this thread waits on the transformer, which
                releases the GIL; None: all in this thread. The results are the same either way.

        Raises:
            RecordError: an item is not a non-empty string (its index is named).
        """
        check_notes(texts, titles)
        cleaned = [clean_text(compose_text(t, ti)) for t, ti in zip(texts, titles, strict=True)]
        side = self._side_jobs(cleaned, texts, titles, executor)
        ids = self.encoder.token_ids_of_clean(cleaned)
        transformer = self.transformer_logits_of_ids(ids)
        ngram, keywords = _side_results(side)
        outputs = ModelOutputs(ids, transformer, ngram, self.combine(transformer, ngram))
        evidence = self.explainer.explain(texts, titles, outputs) if explain and texts else [()] * len(texts)
        out = []
        for p, kw, ev in zip(outputs.probs, keywords, evidence, strict=True):
            scores = {label: float(v) for label, v in zip(self.labels, p, strict=True)}
            out.append(Prediction(decide(p, self.labels, self.thresholds), scores, kw, tuple(ev)))
        return out, outputs

    def _side_jobs(self, cleaned: list[str], texts: list[str], titles: list[str | None], executor: Executor | None):
        """The n-gram logits and the keywords of a batch, in chunks (on ``executor`` when given)."""
        jobs = []
        for start in range(0, max(len(texts), 1), _SIDE_CHUNK):
            stop = start + _SIDE_CHUNK
            job = partial(self._side, cleaned[start:stop], texts[start:stop], titles[start:stop])
            jobs.append(executor.submit(job) if executor is not None else job)
        return jobs

    def _side(self, cleaned: list[str], texts: list[str], titles: list[str | None]):
        ngram = self._ngram.logits_of_clean(cleaned) if self._ngram is not None else None
        extract = self._keywords.extract if self._keywords else None
        keywords = [extract(t, ti, DEFAULT_TOP_K) if extract else [] for t, ti in zip(texts, titles, strict=True)]
        return ngram, keywords

    @property
    def explainer(self):
        """The :class:`nlp.explain.Explainer` of this model (built on first use)."""
        if self._explainer is None:
            from nlp.explain import Explainer

            self._explainer = Explainer(self)
        return self._explainer

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Calibrated label probabilities for composed texts (title and body already joined).

        Args:
            texts: composed note texts (see :func:`nlp.encoding.compose_text`).

        Returns:
            Float32 array of shape ``[len(texts), len(labels)]``; rows sum to 1.
        """
        return self.outputs(texts).probs

    def outputs(self, texts: list[str]) -> ModelOutputs:
        """Run the model on composed texts: token ids, each part's output, calibrated probabilities."""
        cleaned = [clean_text(t) for t in texts]  # once, for the tokenizer and the n-gram model alike
        ids = self.encoder.token_ids_of_clean(cleaned)
        transformer = self.transformer_logits_of_ids(ids)
        ngram = self._ngram.logits_of_clean(cleaned) if self._ngram is not None else None
        return ModelOutputs(ids, transformer, ngram, self.combine(transformer, ngram))

    def combine(self, transformer: np.ndarray, ngram: np.ndarray | None) -> np.ndarray:
        """Calibrated probabilities from the parts' outputs (see :meth:`outputs`)."""
        if not len(transformer):
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        blended = blend(transformer, ngram, self.ngram_weight)
        return calibrate(blended, self.temperature).astype(np.float32)

    def blended_proba(self, texts: list[str]) -> np.ndarray:
        """The transformer blended with the n-gram model, before calibration."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        ngram = self.ngram_logits(texts) if self._ngram is not None else None
        return blend(self.transformer_logits(texts), ngram, self.ngram_weight).astype(np.float32)

    def transformer_logits(self, texts: list[str]) -> np.ndarray:
        """The transformer's log-probabilities alone, in input order.

        Notes are batched by token length so that padding is small.

        Args:
            texts: composed note texts.

        Returns:
            Float32 array ``[len(texts), len(labels)]``.
        """
        return self.transformer_logits_of_ids(self.encoder.token_ids(texts))

    def transformer_logits_of_ids(self, ids: list[list[int]]) -> np.ndarray:
        """The transformer's log-probabilities for token id lists (see :meth:`transformer_logits`)."""
        out = np.zeros((len(ids), len(self.labels)), dtype=np.float32)
        for chunk in length_batches([len(r) for r in ids], self.batch_size):
            out[chunk] = self.logits([ids[i] for i in chunk])
        return log_softmax(out)

    def ngram_logits(self, texts: list[str]) -> np.ndarray:
        """The n-gram model's logits alone.

        Raises:
            ModelFormatError: the model has no n-gram part.
        """
        if self._ngram is None:
            raise ModelFormatError(f"{self.folder}: this model has no n-gram part")
        return self._ngram.logits(texts)

    def logits(self, rows: list[list[int]]) -> np.ndarray:
        """Run the model on token id lists (one padded batch)."""
        batch = self.encoder.pad(rows)
        return self.backend.run(batch.input_ids, batch.attention_mask)


def check_notes(texts: list[str], titles: list[str | None]) -> None:
    """Refuse a batch holding a body that is not a string, a title that is not a string or None,
    or a note with no visible text.

    Raises:
        RecordError: naming the item's index.
    """
    for index, (text, title) in enumerate(zip(texts, titles, strict=True)):
        if not isinstance(text, str):
            raise RecordError(index, f"expected a str; found {type(text).__name__}", unit="item")
        if title is not None and not isinstance(title, str):
            raise RecordError(index, f"title must be a str; found {type(title).__name__}", unit="item")
        if not has_visible_text(text) and not has_visible_text(title or ""):
            invisible = " (it holds only invisible characters)" if text.strip() else ""
            raise RecordError(index, f"the note is empty{invisible}", unit="item")


def _side_results(jobs) -> tuple[np.ndarray | None, list[list[str]]]:
    """Gather :meth:`NoteClassifier._side_jobs` in order: one n-gram array, one keyword list."""
    parts = [job.result() if isinstance(job, Future) else job() for job in jobs]
    ngrams = [n for n, _ in parts if n is not None]
    ngram = np.concatenate(ngrams) if ngrams else None
    return ngram, [kw for _, kws in parts for kw in kws]


def check_thresholds(thresholds: dict[str, float] | None, labels: tuple[str, ...]) -> dict[str, float]:
    """Validate per-label thresholds: known labels, values in (0, 1].

    Raises:
        ValueError: naming the bad entry and what is expected.
    """
    out = {}
    for label, value in (thresholds or {}).items():
        if label not in labels:
            raise ValueError(f"threshold for unknown label {label!r}; expected one of {', '.join(labels)}")
        if not 0.0 < float(value) <= 1.0:
            raise ValueError(f"threshold {label}={value} is outside (0, 1]")
        out[label] = float(value)
    return out


def check_graph_labels(path: Path, spec: ModelSpec, runner) -> None:
    """Refuse a graph whose label order (metadata, output size) differs from the spec's.

    Raises:
        ModelFormatError: naming both orders.
    """
    graph_labels = runner.labels
    if graph_labels is None:
        raise ModelFormatError(f"{path}: the graph carries no label order in its metadata; re-export the model")
    if tuple(graph_labels) != tuple(spec.labels):
        raise ModelFormatError(
            f"{path}: the graph's labels {list(graph_labels)} differ from notescore.json's {list(spec.labels)}; "
            "the folder was edited after export: restore it or re-export"
        )
    if runner.n_outputs is not None and runner.n_outputs != len(spec.labels):
        raise ModelFormatError(f"{path}: its output has {runner.n_outputs} classes but {len(spec.labels)} labels")
