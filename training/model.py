"""The fine-tuned network: a BERT-style encoder, masked mean pooling, a linear head.

multilingual-e5 was trained with mean pooling, so the head reads the mean of the
last hidden states over real tokens (no pooler).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nlp.errors import ModelFormatError, ModelNotFoundError

WEIGHTS = "model.safetensors"
META = "training_meta.json"


class NoteModel(nn.Module):
    """Encoder + masked mean pooling + dropout + linear head.

    Args:
        encoder: a transformers ``BertModel`` (no pooler needed).
        n_labels: number of output classes.
        dropout: dropout before the head.
    """

    def __init__(self, encoder: nn.Module, n_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, n_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Return logits of shape [batch, n_labels]."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return self.head(self.dropout(pooled))


def load_encoder(folder: str | Path) -> nn.Module:
    """Load a base encoder folder (config.json + model.safetensors) as a BertModel."""
    from transformers import BertModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    return BertModel.from_pretrained(str(folder), add_pooling_layer=False, attn_implementation="eager")


def save_checkpoint(model: NoteModel, folder: str | Path, meta: dict[str, Any]) -> None:
    """Write weights (safetensors), the encoder config and the training metadata."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS))
    model.encoder.config.to_json_file(str(folder / "config.json"))
    (folder / META).write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n")


def load_checkpoint(folder: str | Path) -> tuple[NoteModel, dict[str, Any]]:
    """Load a checkpoint written by ``notescore train``.

    Returns:
        ``(model in eval mode, training metadata)``.

    Raises:
        ModelNotFoundError: the folder or a file is missing.
        ModelFormatError: the files do not fit together.
    """
    from safetensors.torch import load_file
    from transformers import BertConfig, BertModel

    folder = Path(folder)
    for name in ("config.json", WEIGHTS, META, "tokenizer.json"):
        if not (folder / name).is_file():
            raise ModelNotFoundError(f"{folder} is not a notescore checkpoint: {name} is missing")
    meta = json.loads((folder / META).read_text(encoding="utf-8"))
    config = BertConfig.from_json_file(str(folder / "config.json"))
    config._attn_implementation = "eager"
    encoder = BertModel(config, add_pooling_layer=False)
    model = NoteModel(encoder, len(meta["labels"]), meta.get("dropout", 0.1))
    try:
        model.load_state_dict(load_file(str(folder / WEIGHTS)))
    except RuntimeError as exc:
        raise ModelFormatError(f"{folder}: weights do not match the config ({exc})") from exc
    model.eval()
    return model, meta
