"""A shallower student made from a trained checkpoint by keeping some of its layers.

Compute grows linearly with depth, so a 4-layer student of a 12-layer encoder
runs about three times faster. It starts from the teacher's own embeddings,
kept layers and head (a far better start than random weights) and is then
trained or distilled like any checkpoint: the student is an ordinary checkpoint
folder, so ``notescore train --base STUDENT`` and ``notescore export STUDENT``
work on it unchanged.
"""

from __future__ import annotations

import copy
import dataclasses
import shutil
from pathlib import Path

from nlp.errors import ModelFormatError
from training.train import TOKENIZER_FILES


def spread_layers(total: int, keep: int) -> list[int]:
    """``keep`` layer indices spread evenly over ``total``, first and last included.

    Example:
        >>> spread_layers(12, 4)
        [0, 4, 7, 11]
    """
    if not 1 <= keep <= total:
        raise ModelFormatError(f"a student keeps 1..{total} layers; asked for {keep}")
    if keep == 1:
        return [total - 1]
    return sorted({round(i * (total - 1) / (keep - 1)) for i in range(keep)})


def layer_list(model):
    """The encoder's list of transformer layers (BERT, XLM-R, RoBERTa, ELECTRA: ``encoder.layer``)."""
    layers = getattr(getattr(model.encoder, "encoder", None), "layer", None)
    if layers is None:
        raise ModelFormatError(
            f"cannot find the transformer layers of a {model.encoder.config.model_type!r} encoder "
            "(expected .encoder.layer)"
        )
    return layers


def make_student(checkpoint: str | Path, out: str | Path, layers: int | list[int]) -> list[int]:
    """Write a checkpoint that keeps some of ``checkpoint``'s layers.

    Args:
        checkpoint: a checkpoint written by ``notescore train``.
        out: the student checkpoint folder to write (replaced if it exists).
        layers: how many layers to keep (spread evenly), or their indices.

    Returns:
        The indices of the teacher's layers that were kept.

    Raises:
        ModelFormatError: an index out of range or an encoder without a layer list.
    """
    import torch

    from training.model import load_checkpoint, save_checkpoint

    checkpoint, out = Path(checkpoint), Path(out)
    model, meta = load_checkpoint(checkpoint)
    teacher_layers = layer_list(model)
    keep = spread_layers(len(teacher_layers), layers) if isinstance(layers, int) else sorted(layers)
    if not keep or keep[0] < 0 or keep[-1] >= len(teacher_layers):
        raise ModelFormatError(f"layer indices {keep} are outside 0..{len(teacher_layers) - 1}")
    model.encoder.encoder.layer = torch.nn.ModuleList(copy.deepcopy(teacher_layers[i]) for i in keep)
    model.encoder.config.num_hidden_layers = len(keep)
    parent = {"checkpoint": str(checkpoint), "layers_kept": keep, "teacher_layers": len(teacher_layers)}
    if out.exists():
        shutil.rmtree(out)
    save_checkpoint(model, out, dataclasses.replace(meta, parent=parent, ngram=None, ngram_dev={}))
    for name in (*TOKENIZER_FILES, "dev.jsonl"):
        if (checkpoint / name).is_file():
            shutil.copy2(checkpoint / name, out / name)
    return keep
