"""The schema of a model folder and of a training checkpoint: defined, written,
read and validated here and nowhere else.

A **model folder** (what ``notescore export`` writes and the runtime loads) holds
the ONNX graph, the tokenizer, optional n-gram weights and codepoint map, a model
card, and ``notescore.json``: a :class:`ModelSpec` with the labels, special
tokens, truncation, n-gram settings, quantisation variant, provenance (base
model, encoder shape, training sources with rows and licences, build command and
date), metrics, and the SHA-256 of every other file in the folder.
:func:`read_model_spec` refuses unknown format versions, file names that are paths,
missing or unlisted files, and hashes that do not match.

A **checkpoint** (what ``notescore train`` writes) holds Hugging Face weights and
config, the tokenizer, and ``training_meta.json``: a :class:`CheckpointMeta`.

Example:
    >>> spec = read_model_spec("models/notescore-base")      # doctest: +SKIP
    >>> spec.labels, spec.truncation.max_length              # doctest: +SKIP
    (('genuine', 'sponsored', 'possibly_false'), 128)
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlp.errors import ModelFormatError, ModelNotFoundError
from nlp.typed_json import from_json, read_json_object, to_json, write_json_atomically

FORMAT_VERSION = 2
SPEC_FILE = "notescore.json"
CHECKPOINT_META = "training_meta.json"
LABELS = ("genuine", "sponsored", "possibly_false")
# Key of the label order in the ONNX graph's metadata; must equal ModelSpec.labels.
ONNX_LABELS_KEY = "notescore.labels"
HEADS = ("softmax", "two_signal")


@dataclass(frozen=True)
class Truncation:
    """How a note becomes at most ``max_length`` tokens.

    Attributes:
        max_length: tokens the model sees, special tokens included.
        head_fraction: share of the budget kept from the start of the note (title
            first); the rest comes from its end, where calls to action, codes and
            disclosures usually sit.
    """

    max_length: int = 128
    head_fraction: float = 0.5

    def __post_init__(self) -> None:
        if not isinstance(self.max_length, int) or not 8 <= self.max_length <= 8192:
            raise ModelFormatError(f"max_length must be an integer in 8..8192; found {self.max_length!r}")
        if not 0.0 < self.head_fraction <= 1.0:
            raise ModelFormatError(f"head_fraction must be in (0, 1]; found {self.head_fraction!r}")


@dataclass(frozen=True)
class SpecialTokens:
    """The tokenizer's special tokens: ``bos`` text ``eos``, padding, unknown.

    XLM-R style vocabularies use ``<s> </s> <pad> <unk>``; BERT style ones
    ``[CLS] [SEP] [PAD] [UNK]``.
    """

    bos: str = "<s>"
    eos: str = "</s>"
    pad: str = "<pad>"
    unk: str = "<unk>"


XLMR_TOKENS = SpecialTokens()
BERT_TOKENS = SpecialTokens("[CLS]", "[SEP]", "[PAD]", "[UNK]")


@dataclass(frozen=True)
class EncoderShape:
    """The transformer's family and size, as read from its Hugging Face config."""

    family: str = ""
    layers: int = 0
    hidden: int = 0
    heads: int = 0
    vocab: int = 0


@dataclass(frozen=True)
class NgramSettings:
    """The hashed n-gram model blended with the transformer.

    Attributes:
        file: its ``.npz`` file in the folder.
        weight: the n-gram share of the blend (0 = transformer only).
        buckets: hash buckets.
        c: the logistic regression's inverse regularisation, as chosen on dev.
    """

    file: str
    weight: float
    buckets: int
    c: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.weight <= 1.0:
            raise ModelFormatError(f"ngram weight must be in [0, 1]; found {self.weight!r}")


@dataclass(frozen=True)
class Source:
    """One training or evaluation source, for the model card.

    Attributes:
        name: the source's name (``notescore-notes``, a corpus folder name, a file).
        rows: rows used.
        license: its licence, as stated by its publisher.
        weight: loss weight of its rows.
        mapping: how its labels map to ours, in words.
        note: anything else worth saying (sampling, augmentation).
    """

    name: str
    rows: int
    license: str = "unknown"
    weight: float = 1.0
    mapping: str = ""
    note: str = ""


@dataclass(frozen=True)
class Provenance:
    """Where a model came from.

    Attributes:
        base_model: what it was fine-tuned (or distilled) from, in words.
        encoder: the transformer's family and size.
        sources: the training data, with rows and licences.
        build_command: the command that built it.
        built_at: UTC time of the build, ISO 8601.
        versions: package versions used to build it.
    """

    base_model: str = ""
    encoder: EncoderShape = field(default_factory=EncoderShape)
    sources: tuple[Source, ...] = ()
    build_command: str = ""
    built_at: str = ""
    versions: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSpec:
    """Everything ``notescore.json`` records about a model folder.

    Attributes:
        name: a short name for display.
        labels: output classes, in the order of the graph's output.
        truncation: token budget and head/tail split.
        special_tokens: the tokenizer's special tokens.
        model_file: the ONNX graph (a file name inside the folder).
        tokenizer_file: the ``tokenizers`` JSON file.
        normalization_file: optional codepoint map applied before tokenising.
        ngram: the blended n-gram model, if any.
        precision: ``fp32`` or ``int8`` (the graph's weights).
        quantization: the quantisation variant used (empty for fp32).
        head: ``softmax`` (one 3-way head) or ``two_signal`` (promotion and
            false-claim signals combined by LABELS.md's precedence).
        variants: other graphs of the same model for other backends or precisions,
            name -> file name.
        calibration: score calibration fitted after export (e.g. a temperature).
        provenance: base model, encoder, sources, build command and date.
        metrics: evaluation headlines, name -> metrics.
        parity: export checks (fp32 vs torch, int8 vs fp32, trimming).
        training: training settings and run facts (steps, seconds, best epoch).
        files: SHA-256 of every file in the folder except ``notescore.json``.
    """

    name: str
    labels: tuple[str, ...] = LABELS
    truncation: Truncation = field(default_factory=Truncation)
    special_tokens: SpecialTokens = field(default_factory=SpecialTokens)
    model_file: str = "model.onnx"
    tokenizer_file: str = "tokenizer.json"
    normalization_file: str | None = None
    ngram: NgramSettings | None = None
    precision: str = "fp32"
    quantization: str = ""
    head: str = "softmax"
    variants: dict[str, str] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    provenance: Provenance = field(default_factory=Provenance)
    metrics: dict[str, Any] = field(default_factory=dict)
    parity: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_labels(self.labels)
        if self.head not in HEADS:
            raise ModelFormatError(f"head must be one of {list(HEADS)}; found {self.head!r}")
        for name in self.named_files():
            _check_file_name(name)

    def named_files(self) -> list[str]:
        """The files this spec names (graph, tokenizer, normalisation, n-gram, variants)."""
        names = [self.model_file, self.tokenizer_file, *self.variants.values()]
        if self.normalization_file:
            names.append(self.normalization_file)
        if self.ngram is not None:
            names.append(self.ngram.file)
        return names


@dataclass(frozen=True)
class CheckpointMeta:
    """What ``training_meta.json`` records about a training checkpoint.

    Attributes:
        labels: output classes, in logit order.
        truncation: token budget and head/tail split the model was trained with.
        special_tokens: the tokenizer's special tokens.
        head: ``softmax`` or ``two_signal`` (see :class:`ModelSpec`).
        dropout: dropout before the head.
        base_model: what it was fine-tuned from, in words.
        sources: the training data.
        train_config: the training settings, as given.
        seen_piece_ids: token ids that occur in the training and dev texts
            (export keeps them when it trims the vocabulary).
        train_rows: training examples.
        dev_rows: dev examples.
        dev_metrics: metrics of the best checkpoint on dev.
        best_epoch: the epoch of the best checkpoint.
        steps: optimiser steps run.
        seconds: training wall time.
        ngram: the n-gram model fitted beside it, if any.
        ngram_dev: dev scores of the blend weights tried.
        parent: for a student, the checkpoint it was made from and how.
    """

    labels: tuple[str, ...] = LABELS
    truncation: Truncation = field(default_factory=Truncation)
    special_tokens: SpecialTokens = field(default_factory=SpecialTokens)
    head: str = "softmax"
    dropout: float = 0.1
    base_model: str = ""
    sources: tuple[Source, ...] = ()
    train_config: dict[str, Any] = field(default_factory=dict)
    seen_piece_ids: tuple[int, ...] = ()
    train_rows: int = 0
    dev_rows: int = 0
    dev_metrics: dict[str, Any] = field(default_factory=dict)
    best_epoch: float = 0.0
    steps: int = 0
    seconds: float = 0.0
    ngram: NgramSettings | None = None
    ngram_dev: dict[str, Any] = field(default_factory=dict)
    parent: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_labels(self.labels)
        if self.head not in HEADS:
            raise ModelFormatError(f"head must be one of {list(HEADS)}; found {self.head!r}")
        if self.ngram is not None:
            _check_file_name(self.ngram.file)


# ------------------------------------------------------------------ checks


def _check_labels(labels: tuple[str, ...]) -> None:
    if len(labels) < 2 or len(set(labels)) != len(labels) or not all(isinstance(x, str) and x for x in labels):
        raise ModelFormatError(f"labels must be at least two distinct names; found {list(labels)}")


def _check_file_name(name: Any) -> None:
    """A file named by the spec must sit in the folder itself: no paths."""
    if (
        not isinstance(name, str)
        or not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or os.path.isabs(name)
        or name.startswith(".")
    ):
        raise ModelFormatError(
            f"file {name!r} must be a plain file name inside the model folder (no path, not hidden); "
            "re-export the model"
        )


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _check_version(data: dict[str, Any], path: Path) -> None:
    version = data.pop("format_version", None)
    if version != FORMAT_VERSION:
        raise ModelFormatError(
            f"{path}: format_version {version!r} is not supported (this notescore reads {FORMAT_VERSION}); "
            "re-export the model with this version of notescore"
        )


# ------------------------------------------------------------ model folder


def folder_files(folder: str | os.PathLike[str]) -> list[str]:
    """The files a spec must list: every regular, non-hidden file but ``notescore.json``."""
    return sorted(
        p.name for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith(".") and p.name != SPEC_FILE
    )


def write_model_spec(folder: str | os.PathLike[str], spec: ModelSpec) -> ModelSpec:
    """Hash every file in ``folder`` and write ``notescore.json`` (the only writer).

    Args:
        folder: the model folder, holding every file ``spec`` names.
        spec: the spec to write; its ``files`` are recomputed.

    Returns:
        The spec as written (with ``files``).

    Raises:
        ModelNotFoundError: a file the spec names is not in the folder.
    """
    folder = Path(folder)
    missing = [n for n in spec.named_files() if not (folder / n).is_file()]
    if missing:
        raise ModelNotFoundError(f"{folder}: files named in the spec are missing: {missing}")
    files = {name: sha256_file(folder / name) for name in folder_files(folder)}
    spec = dataclasses.replace(spec, files=files)
    write_json_atomically(folder / SPEC_FILE, {"format_version": FORMAT_VERSION, **to_json(spec)})
    return spec


def read_model_spec(folder: str | os.PathLike[str], verify: bool = True) -> ModelSpec:
    """Read and validate a model folder's ``notescore.json``.

    Args:
        folder: a model folder.
        verify: check that the folder holds exactly the listed files and that
            their SHA-256 match (off only for tools that rewrite a folder).

    Returns:
        The :class:`ModelSpec`.

    Raises:
        ModelNotFoundError: the folder, its ``notescore.json`` or a listed file is missing.
        ModelFormatError: an unknown version, a malformed spec, a file name that is a
            path, an unlisted file, or a file whose hash does not match.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelNotFoundError(
            f"model folder {str(folder)!r} does not exist; pass a folder made by "
            "'notescore export' (or leave it out to use the shipped model)"
        )
    path = folder / SPEC_FILE
    data = read_json_object(path, f"{folder} is not a notescore model folder: it has no {SPEC_FILE} "
                            "(export one with 'notescore export')")  # fmt: skip
    _check_version(data, path)
    spec = from_json(ModelSpec, data, str(path))
    if verify:
        verify_files(folder, spec)
    return spec


def verify_files(folder: Path, spec: ModelSpec) -> None:
    """Refuse a folder whose files differ from those ``spec`` lists and hashes."""
    for name in spec.files:
        _check_file_name(name)
    unlisted = [n for n in spec.named_files() if n not in spec.files]
    if unlisted:
        raise ModelFormatError(f"{folder}: files named in {SPEC_FILE} have no hash: {unlisted}; re-export the model")
    present = folder_files(folder)
    missing = sorted(set(spec.files) - set(present))
    if missing:
        raise ModelNotFoundError(f"{folder}: files listed in {SPEC_FILE} are missing: {missing}")
    extra = sorted(set(present) - set(spec.files))
    if extra:
        raise ModelFormatError(
            f"{folder}: files not listed in {SPEC_FILE}: {extra}; a model folder holds only its own files "
            "(remove them, or re-export)"
        )
    for name, expected in spec.files.items():
        if sha256_file(folder / name) != expected:
            raise ModelFormatError(
                f"{folder / name}: its SHA-256 does not match {SPEC_FILE}: the file was changed or damaged "
                "after export; restore it or re-export the model"
            )


def update_model_spec(folder: str | os.PathLike[str], **changes: Any) -> ModelSpec:
    """Change fields of a folder's spec (metrics, name, …) and rewrite it, rehashing the files.

    The folder's files may have changed since the spec was written (a model card
    added, say): that is what rewriting is for, so they are not verified.

    Raises:
        ModelFormatError: the current spec is invalid or a change is not a field.
    """
    spec = read_model_spec(folder, verify=False)
    try:
        spec = dataclasses.replace(spec, **changes)
    except TypeError as exc:
        raise ModelFormatError(f"{folder}: {exc}") from exc
    return write_model_spec(folder, spec)


# --------------------------------------------------------------- checkpoint


def write_checkpoint_meta(folder: str | os.PathLike[str], meta: CheckpointMeta) -> Path:
    """Write a checkpoint's ``training_meta.json`` (the only writer)."""
    path = Path(folder) / CHECKPOINT_META
    write_json_atomically(path, {"format_version": FORMAT_VERSION, **to_json(meta)})
    return path


def read_checkpoint_meta(folder: str | os.PathLike[str]) -> CheckpointMeta:
    """Read and validate a checkpoint's ``training_meta.json``.

    Raises:
        ModelNotFoundError: the folder or the file is missing.
        ModelFormatError: an unknown version or a malformed file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelNotFoundError(
            f"checkpoint folder {str(folder)!r} does not exist; pass a folder written by 'notescore train'"
        )
    path = folder / CHECKPOINT_META
    data = read_json_object(path, f"{folder} is not a notescore checkpoint: it has no {CHECKPOINT_META} "
                            "(write one with 'notescore train')")  # fmt: skip
    _check_version(data, path)
    return from_json(CheckpointMeta, data, str(path))


def update_checkpoint_meta(folder: str | os.PathLike[str], **changes: Any) -> CheckpointMeta:
    """Change fields of a checkpoint's metadata and rewrite it."""
    meta = dataclasses.replace(read_checkpoint_meta(folder), **changes)
    write_checkpoint_meta(folder, meta)
    return meta
