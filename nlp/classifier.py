"""NoteClassifier: load a notescore model folder and score notes with ONNX Runtime."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nlp.encoding import NoteEncoder, compose_text
from nlp.errors import ModelFormatError, ModelNotFoundError, RecordError, require_extra
from nlp.keywords import DEFAULT_TOP_K, KeywordExtractor
from nlp.model_config import ModelConfig, load_model_config
from nlp.ngram import blend

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "notescore-base"


@dataclass(frozen=True)
class Prediction:
    """The verdict on one note.

    Attributes:
        label: the most probable label.
        scores: probability of every label; they sum to 1.
        keywords: search keywords extracted from the note.
    """

    label: str
    scores: dict[str, float]
    keywords: list[str]

    def to_dict(self) -> dict:
        """The output-contract form: ``{"label", "scores", "keywords"}``."""
        return {"label": self.label, "scores": dict(self.scores), "keywords": list(self.keywords)}


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


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


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
        config: ModelConfig,
        session,
        encoder: NoteEncoder,
        keywords: KeywordExtractor | None,
        batch_size: int,
    ) -> None:
        self.folder = folder
        self.config = config
        self.labels = config.labels
        self._session = session
        self._input_names = {i.name for i in session.get_inputs()}
        self.encoder = encoder
        self._keywords = keywords
        self.batch_size = batch_size
        self._ngram = None
        self.ngram_weight = 0.0
        ngram = config.extra.get("ngram")
        if ngram:
            from nlp.ngram import NgramModel

            self._ngram = NgramModel.load(folder / ngram["file"])
            self.ngram_weight = float(ngram["weight"])

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        *,
        threads: int | None = None,
        batch_size: int = 32,
        keywords: bool = True,
    ) -> NoteClassifier:
        """Load a model folder (the shipped model when ``path`` is None).

        Args:
            path: a folder written by ``notescore export``.
            threads: ONNX Runtime intra-op threads; all cores when None.
            batch_size: notes per inference batch.
            keywords: also extract keywords in :meth:`predict`.

        Returns:
            A ready :class:`NoteClassifier`.

        Raises:
            ModelNotFoundError: the folder, its ``notescore.json`` or a file it
                names is missing.
            ModelFormatError: the folder's files are invalid.
            MissingDependencyError: onnxruntime is not installed.
        """
        folder = Path(path) if path is not None else default_model_dir()
        config = load_model_config(folder)
        model_path = folder / config.model_file
        if not model_path.is_file():
            raise ModelNotFoundError(f"{folder}: the model file {config.model_file} named in notescore.json is missing")
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise require_extra("onnxruntime", "runtime") from exc
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; found {batch_size}")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ModelFormatError(f"{model_path}: ONNX Runtime cannot load it ({exc})") from exc
        classes = session.get_outputs()[0].shape[-1]
        if isinstance(classes, int) and classes != len(config.labels):
            raise ModelFormatError(
                f"{model_path}: its output has {classes} classes but notescore.json lists {len(config.labels)} labels"
            )
        normalization = folder / config.normalization_file if config.normalization_file else None
        encoder = NoteEncoder(folder / config.tokenizer_file, config.max_length, config.head_fraction, normalization)
        extractor = KeywordExtractor() if keywords else None
        log.info("loaded %s (%s labels, max_length %d)", folder, len(config.labels), config.max_length)
        return cls(folder, config, session, encoder, extractor, batch_size)

    def predict(self, notes: str | Sequence[str], titles: Sequence[str | None] | str | None = None):
        """Classify one note or a list of notes.

        Args:
            notes: a note body, or a list of them.
            titles: the title (for one note) or a list of titles (None entries allowed).

        Returns:
            A :class:`Prediction` for a string; a list of them (same order) for a
            list; ``[]`` for an empty list.

        Raises:
            TypeError: ``notes`` is neither a string nor a sequence of strings.
            RecordError: an item is not a non-empty string (its index is named).
        """
        if isinstance(notes, str):
            if titles is not None and not isinstance(titles, str):
                raise TypeError("for one note, titles must be a str or None")
            return self.predict_many([notes], [titles])[0]
        if not isinstance(notes, Sequence):
            raise TypeError(f"notes must be a str or a list of str; found {type(notes).__name__}")
        if titles is None:
            titles = [None] * len(notes)
        elif isinstance(titles, str) or len(titles) != len(notes):
            raise ValueError("titles must be a list as long as notes")
        return self.predict_many(list(notes), list(titles))

    def predict_many(self, texts: list[str], titles: list[str | None]) -> list[Prediction]:
        """Classify a list of notes (the list form of :meth:`predict`)."""
        for index, (text, title) in enumerate(zip(texts, titles, strict=True)):
            if not isinstance(text, str):
                raise RecordError(index, f"item {index}: expected a str; found {type(text).__name__}")
            if not text.strip() and not (title or "").strip():
                raise RecordError(index, f"item {index}: the note is empty")
            if title is not None and not isinstance(title, str):
                raise RecordError(index, f"item {index}: title must be a str; found {type(title).__name__}")
        if not texts:
            return []
        probs = self.predict_proba([compose_text(t, ti) for t, ti in zip(texts, titles, strict=True)])
        out = []
        for text, title, p in zip(texts, titles, probs, strict=True):
            keywords = self._keywords.extract(text, title, DEFAULT_TOP_K) if self._keywords else []
            out.append(self._prediction(p, keywords))
        return out

    def _prediction(self, p: np.ndarray, keywords: list[str]) -> Prediction:
        scores = {label: float(v) for label, v in zip(self.labels, p, strict=True)}
        return Prediction(self.labels[int(np.argmax(p))], scores, keywords)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Label probabilities for composed texts (title and body already joined).

        Notes are batched by token length so that padding is small; the output is
        in input order.

        Args:
            texts: composed note texts (see :func:`nlp.encoding.compose_text`).

        Returns:
            Float32 array of shape ``[len(texts), len(labels)]``; rows sum to 1.
        """
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        ids = self.encoder.token_ids(texts)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        logits = np.zeros((len(ids), len(self.labels)), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            logits[chunk] = self.logits([ids[i] for i in chunk])
        if self._ngram is None or self.ngram_weight <= 0:
            return _softmax(logits)
        return blend(logits, self._ngram.logits(texts), self.ngram_weight).astype(np.float32)

    def logits(self, rows: list[list[int]]) -> np.ndarray:
        """Run the model on token id lists (one padded batch)."""
        batch = self.encoder.pad(rows)
        feeds = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        feeds = {k: v for k, v in feeds.items() if k in self._input_names}
        return self._session.run(None, feeds)[0].astype(np.float32)
