"""The validated configuration stored next to every notescore model.

A model folder holds ``notescore.json``; :func:`load_model_config` refuses a
folder without it or with a malformed one. Training writes it, export adds the
parity results, and the runtime reads labels, max length and truncation from it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nlp.errors import ModelFormatError, ModelNotFoundError

CONFIG_NAME = "notescore.json"
FORMAT_VERSION = 1
LABELS = ("genuine", "sponsored", "possibly_false")


@dataclass(frozen=True)
class ModelConfig:
    """What the runtime needs to know about a model folder.

    Attributes:
        labels: output classes, in the order of the model's logits.
        max_length: tokens the model sees, special tokens included.
        head_fraction: with head+tail truncation, the share of the token budget
            given to the start of the note (title first); the rest goes to its end,
            where calls to action, codes and disclosures usually sit.
        model_file: the ONNX graph the runtime loads.
        tokenizer_file: the ``tokenizers`` JSON file.
        normalization_file: optional per-codepoint map applied before tokenising.
        base_model: what the model was fine-tuned from.
        name: a short model name for display.
        extra: everything else recorded with the model (training data, metrics,
            parity results, versions); kept as read, shown by ``notescore info``.
    """

    labels: tuple[str, ...] = LABELS
    max_length: int = 256
    head_fraction: float = 0.5
    model_file: str = "model.onnx"
    tokenizer_file: str = "tokenizer.json"
    normalization_file: str | None = None
    base_model: str = ""
    name: str = "notescore"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.labels) < 2 or len(set(self.labels)) != len(self.labels):
            raise ModelFormatError(f"labels must be at least two distinct names; found {list(self.labels)}")
        if not 8 <= self.max_length <= 8192:
            raise ModelFormatError(f"max_length must be 8..8192; found {self.max_length}")
        if not 0.0 < self.head_fraction <= 1.0:
            raise ModelFormatError(f"head_fraction must be in (0, 1]; found {self.head_fraction}")

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form, ``extra`` merged at the top level."""
        data = asdict(self)
        extra = data.pop("extra")
        data["labels"] = list(self.labels)
        return {"format_version": FORMAT_VERSION, **data, **extra}

    def save(self, folder: str | Path) -> Path:
        """Write ``notescore.json`` into ``folder`` and return its path."""
        path = Path(folder) / CONFIG_NAME
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n")
        return path


_KNOWN = {
    "labels",
    "max_length",
    "head_fraction",
    "model_file",
    "tokenizer_file",
    "normalization_file",
    "base_model",
    "name",
}


def model_config_from_dict(data: dict[str, Any], where: str = CONFIG_NAME) -> ModelConfig:
    """Validate a parsed ``notescore.json``.

    Args:
        data: the parsed JSON object.
        where: the file it came from, for messages.

    Returns:
        The :class:`ModelConfig`.

    Raises:
        ModelFormatError: a required key is missing or has the wrong type.
    """
    if not isinstance(data, dict):
        raise ModelFormatError(f"{where}: expected a JSON object; found {type(data).__name__}")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFormatError(
            f"{where}: format_version {version!r} is not supported (expected "
            f"{FORMAT_VERSION}); re-export the model with this notescore version"
        )
    if not isinstance(data.get("labels"), list) or not all(isinstance(x, str) for x in data["labels"]):
        raise ModelFormatError(f"{where}: 'labels' must be a list of strings")
    kwargs = {k: data[k] for k in _KNOWN if k in data}
    kwargs["labels"] = tuple(kwargs["labels"])
    extra = {k: v for k, v in data.items() if k not in _KNOWN and k != "format_version"}
    try:
        return ModelConfig(**kwargs, extra=extra)
    except TypeError as exc:
        raise ModelFormatError(f"{where}: {exc}") from exc


def load_model_config(folder: str | Path) -> ModelConfig:
    """Read and validate the config of a model folder.

    Args:
        folder: a notescore model folder.

    Returns:
        Its :class:`ModelConfig`.

    Raises:
        ModelNotFoundError: the folder or its ``notescore.json`` is missing.
        ModelFormatError: the file is not valid JSON or misses required keys.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelNotFoundError(
            f"model folder {str(folder)!r} does not exist; pass a folder made by "
            "'notescore export' (or leave it out to use the shipped model)"
        )
    path = folder / CONFIG_NAME
    if not path.is_file():
        raise ModelNotFoundError(
            f"{folder} is not a notescore model: it has no {CONFIG_NAME}. "
            "Export one with 'notescore export', which writes it next to the ONNX graph"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"{path}: not valid JSON ({exc})") from exc
    return model_config_from_dict(data, str(path))
