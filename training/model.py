"""The fine-tuned network: any Hugging Face encoder, masked mean pooling, a head.

The encoder's family (BERT, XLM-R, …), depth and width come from the
checkpoint's ``config.json`` through ``AutoModel``; nothing here names a family.
multilingual-e5 was trained with mean pooling, so the head reads the mean of the
last hidden states over real tokens (no pooler).

Two heads:

- ``softmax``: one linear layer, one logit per label.
- ``two_signal``: two logits, *promotion* and *false claim*, combined by
  LABELS.md's precedence (``possibly_false`` > ``sponsored`` > ``genuine``) into
  log-probabilities: P(false) = σ(f); P(sponsored) = (1 − σ(f))·σ(p);
  P(genuine) = (1 − σ(f))·(1 − σ(p)). A miracle claim raises f whatever the ad
  signal p says, so an ad with a false claim is ``possibly_false`` by
  construction. The graph outputs the three log-probabilities, so the runtime
  treats both heads alike.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from nlp.errors import ModelFormatError, ModelNotFoundError
from nlp.model_folder import (
    LABELS,
    CheckpointMeta,
    EncoderShape,
    read_checkpoint_meta,
    write_checkpoint_meta,
)

WEIGHTS = "model.safetensors"
CONFIG = "config.json"


class NoteModel(nn.Module):
    """Encoder + masked mean pooling + dropout + head.

    Args:
        encoder: a transformers encoder model (no pooler needed).
        n_labels: number of output classes.
        dropout: dropout before the head.
        head: ``softmax`` or ``two_signal`` (three labels in LABELS order only).
    """

    def __init__(self, encoder: nn.Module, n_labels: int, dropout: float = 0.1, head: str = "softmax") -> None:
        super().__init__()
        if head == "two_signal" and n_labels != len(LABELS):
            raise ModelFormatError(f"the two_signal head scores exactly {list(LABELS)}; found {n_labels} labels")
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head_kind = head
        self.head = nn.Linear(encoder.config.hidden_size, 2 if head == "two_signal" else n_labels)

    def pooled(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Masked mean of the last hidden states, ``[batch, hidden]``."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits (softmax head) or log-probabilities (two_signal head), ``[batch, n_labels]``."""
        return self.scores(self.head(self.dropout(self.pooled(input_ids, attention_mask))))

    def scores(self, raw: torch.Tensor) -> torch.Tensor:
        """The head's raw output turned into per-label scores."""
        if self.head_kind == "softmax":
            return raw
        return combine_signals(raw)


def combine_signals(raw: torch.Tensor) -> torch.Tensor:
    """Promotion and false-claim logits ``[batch, 2]`` → log P(genuine, sponsored, possibly_false)."""
    promo, false = raw[:, 0], raw[:, 1]
    not_false = nn.functional.logsigmoid(-false)
    genuine = not_false + nn.functional.logsigmoid(-promo)
    sponsored = not_false + nn.functional.logsigmoid(promo)
    return torch.stack([genuine, sponsored, nn.functional.logsigmoid(false)], dim=1)


def encoder_from_config(config) -> nn.Module:
    """An untrained encoder of the family, depth and width ``config`` describes."""
    from transformers import AutoModel

    config._attn_implementation = "eager"
    try:
        return AutoModel.from_config(config, add_pooling_layer=False)
    except TypeError:  # families without a pooler do not take the argument
        return AutoModel.from_config(config)


def load_encoder(folder: str | Path) -> nn.Module:
    """Load a base encoder folder (``config.json`` + weights) of any family."""
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        return AutoModel.from_pretrained(str(folder), add_pooling_layer=False, attn_implementation="eager")
    except TypeError:
        return AutoModel.from_pretrained(str(folder), attn_implementation="eager")


def encoder_shape(encoder: nn.Module) -> EncoderShape:
    """The family and size of an encoder, for the model card."""
    c = encoder.config
    return EncoderShape(
        family=str(c.model_type),
        layers=int(c.num_hidden_layers),
        hidden=int(c.hidden_size),
        heads=int(c.num_attention_heads),
        vocab=int(c.vocab_size),
    )


def save_checkpoint(model: NoteModel, folder: str | Path, meta: CheckpointMeta) -> None:
    """Write weights (safetensors), the encoder config and the training metadata."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS))
    model.encoder.config.to_json_file(str(folder / CONFIG))
    write_checkpoint_meta(folder, meta)


def load_checkpoint(folder: str | Path) -> tuple[NoteModel, CheckpointMeta]:
    """Load a checkpoint written by ``notescore train`` (any encoder family).

    Returns:
        ``(model in eval mode, training metadata)``.

    Raises:
        ModelNotFoundError: the folder or a file is missing.
        ModelFormatError: the files do not fit together.
    """
    from safetensors.torch import load_file
    from transformers import AutoConfig

    folder = Path(folder)
    meta = read_checkpoint_meta(folder)
    for name in (CONFIG, WEIGHTS, "tokenizer.json"):
        if not (folder / name).is_file():
            raise ModelNotFoundError(f"{folder} is not a notescore checkpoint: {name} is missing")
    config = AutoConfig.from_pretrained(str(folder))
    model = NoteModel(encoder_from_config(config), len(meta.labels), meta.dropout, meta.head)
    try:
        model.load_state_dict(load_file(str(folder / WEIGHTS)))
    except RuntimeError as exc:
        raise ModelFormatError(f"{folder}: weights do not match the config ({exc})") from exc
    model.eval()
    return model, meta
