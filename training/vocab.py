"""Cutting a tokenizer's vocabulary down to the pieces a model needs.

Most of a multilingual encoder's weights are its word embedding (250k × 384 for
multilingual-e5-small); a model for Chinese and English notes uses a fraction of
it. Export keeps the pieces seen in the training and dev texts, every
single-character piece and the most frequent pieces, cuts the embedding rows to
match, and rewrites the tokenizer:

- **Unigram** (XLM-R SentencePiece): removing pieces only removes segmentation
  paths; a text whose full segmentation uses kept pieces tokenises exactly as
  before, others fall back to shorter kept pieces (never worse than characters).
  The lowest-score piece is kept: it sets the unknown penalty.
- **WordPiece** (BERT): every single character and ``##`` character is kept, so
  any word still segments (no new ``[UNK]``).
- **BPE**: the base alphabet is kept, and every kept token keeps the merges that
  build it (their parts are kept too), so kept tokens stay reachable.

Ids are re-numbered in their original order; ``unk_id``, added tokens and the
post-processor's special ids are rewritten.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from nlp.errors import ModelFormatError
from nlp.typed_json import read_json_object

log = logging.getLogger(__name__)

META_CHAR = "\u2581"
KINDS = ("Unigram", "WordPiece", "BPE")
# Special tokens of XLM-R and BERT style vocabularies: always kept (the runtime pads with them).
SPECIAL_PIECES = {"<s>", "<pad>", "</s>", "<unk>", "<mask>", "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"}
# Most frequent pieces kept on top of the seen ones and the single characters.
# Measured with the e5-small base (19k seen ids from ~5k zh/en texts): 78k of
# 250k pieces kept; out-of-domain held-out texts need 1.4 % more tokens.
DEFAULT_TOP_N = 60_000


def load_tokenizer_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a ``tokenizers`` JSON file whose model is Unigram, WordPiece or BPE.

    Raises:
        ModelNotFoundError: the file is missing.
        ModelFormatError: not JSON, or another model type.
    """
    path = Path(path)
    data = read_json_object(path, f"tokenizer file {path} does not exist")
    kind = (data.get("model") or {}).get("type")
    if kind not in KINDS:
        raise ModelFormatError(f"{path}: expected a tokenizers model of type {'/'.join(KINDS)}; found {kind!r}")
    return data


def pieces(data: dict[str, Any]) -> list[str]:
    """The vocabulary's pieces, index = id."""
    model = data["model"]
    if model["type"] == "Unigram":
        return [p for p, _ in model["vocab"]]
    out = [""] * len(model["vocab"])
    for piece, i in model["vocab"].items():
        out[int(i)] = piece
    return out


def _single_characters(data: dict[str, Any]) -> set[int]:
    model = data["model"]
    prefix = model.get("continuing_subword_prefix") or ""
    keep = set()
    for i, piece in enumerate(pieces(data)):
        core = piece[1:] if piece.startswith(META_CHAR) else piece
        core = core[len(prefix) :] if prefix and core.startswith(prefix) else core
        if len(core) <= 1:
            keep.add(i)
    return keep


def _always_kept(data: dict[str, Any]) -> set[int]:
    model = data["model"]
    keep = {int(t["id"]) for t in data.get("added_tokens") or []}
    keep |= {i for i, piece in enumerate(pieces(data)) if piece in SPECIAL_PIECES}
    if model["type"] == "Unigram":
        if model.get("unk_id") is not None:
            keep.add(int(model["unk_id"]))
        # the lowest score sets the unknown penalty (min score - 10): keep it unchanged
        keep.add(int(np.argmin(np.array([s for _, s in model["vocab"]], dtype=np.float64))))
    elif model.get("unk_token") in model["vocab"]:
        keep.add(int(model["vocab"][model["unk_token"]]))
    return keep


def _merges(data: dict[str, Any]) -> list[tuple[str, str]]:
    return [tuple(m.split(" ", 1)) if isinstance(m, str) else (m[0], m[1]) for m in data["model"].get("merges", [])]


def _merged(data: dict[str, Any], a: str, b: str) -> str:
    prefix = data["model"].get("continuing_subword_prefix") or ""
    return a + (b[len(prefix) :] if prefix and b.startswith(prefix) else b)


def _bpe_closure(data: dict[str, Any], keep: set[int]) -> set[int]:
    """Add the parts of every kept token's merge, recursively (kept tokens stay reachable)."""
    vocab = data["model"]["vocab"]
    parents: dict[str, tuple[str, str]] = {}
    for a, b in _merges(data):
        parents.setdefault(_merged(data, a, b), (a, b))
    names = pieces(data)
    todo = [names[i] for i in keep]
    while todo:
        for part in parents.get(todo.pop(), ()):
            if part in vocab and int(vocab[part]) not in keep:
                keep.add(int(vocab[part]))
                todo.append(part)
    return keep


def default_keep_ids(tokenizer_json_path: str | os.PathLike[str], seen_ids: Iterable[int],
                     top_n: int = DEFAULT_TOP_N) -> list[int]:  # fmt: skip
    """The pieces an exported model keeps by default.

    Args:
        tokenizer_json_path: the checkpoint's ``tokenizer.json``.
        seen_ids: ids that occur in the training and dev texts.
        top_n: how many of the most frequent pieces to keep as well (highest score
            for Unigram, lowest id for WordPiece and BPE).

    Returns:
        Sorted ids: seen ∪ single characters ∪ top ``top_n`` ∪ the always-kept ones
        (∪ merge parts, for BPE).
    """
    data = load_tokenizer_json(tokenizer_json_path)
    n = len(pieces(data))
    keep = {int(i) for i in seen_ids if 0 <= int(i) < n} | _single_characters(data) | _always_kept(data)
    if top_n > 0:
        if data["model"]["type"] == "Unigram":
            scores = np.array([s for _, s in data["model"]["vocab"]], dtype=np.float64)
            keep.update(int(i) for i in np.argsort(-scores, kind="stable")[:top_n])
        else:
            keep.update(range(min(top_n, n)))
    if data["model"]["type"] == "BPE":
        keep = _bpe_closure(data, keep)
    return sorted(keep)


def _remap_ids(node: Any, remap: dict[int, int]) -> Any:
    """Rewrite special-token ids inside a post-processor description."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "ids" and isinstance(value, list):
                out[key] = [remap[int(i)] for i in value]
            elif key in ("sep", "cls") and isinstance(value, list) and len(value) == 2:
                out[key] = [value[0], remap[int(value[1])]]
            else:
                out[key] = _remap_ids(value, remap)
        return out
    if isinstance(node, list):
        return [_remap_ids(v, remap) for v in node]
    return node


def _trimmed_model(data: dict[str, Any], ids: list[int]) -> dict[str, Any]:
    model = {k: v for k, v in data["model"].items() if k not in ("vocab", "merges")}
    remap = {old: new for new, old in enumerate(ids)}
    if model["type"] == "Unigram":
        model["vocab"] = [data["model"]["vocab"][i] for i in ids]
        if model.get("unk_id") is not None:
            model["unk_id"] = remap[int(model["unk_id"])]
        return model
    names = pieces(data)
    model["vocab"] = {names[old]: new for new, old in enumerate(ids)}
    if data["model"]["type"] == "BPE":
        kept = model["vocab"]
        merges = [(a, b) for a, b in _merges(data) if a in kept and b in kept and _merged(data, a, b) in kept]
        model["merges"] = [[a, b] for a, b in merges]
    return model


def trim_vocabulary(tokenizer_json_path: str | os.PathLike[str], keep_ids: Iterable[int],
                    out_path: str | os.PathLike[str]) -> list[int]:  # fmt: skip
    """Write a tokenizer whose vocabulary holds only some pieces.

    Args:
        tokenizer_json_path: a ``tokenizers`` JSON file (Unigram, WordPiece or BPE).
        keep_ids: ids of the pieces to keep (the always-kept ones are added).
        out_path: the trimmed ``tokenizer.json`` to write.

    Returns:
        The old ids in new order: ``new_embedding = old_embedding[returned]``.

    Raises:
        ModelNotFoundError: the tokenizer file is missing.
        ModelFormatError: an unsupported model type, an id out of range, or a
            trimmed tokenizer that does not load.
    """
    from tokenizers import Tokenizer

    data = load_tokenizer_json(tokenizer_json_path)
    n = len(pieces(data))
    keep = {int(i) for i in keep_ids}
    bad = sorted(i for i in keep if not 0 <= i < n)
    if bad:
        raise ModelFormatError(f"{tokenizer_json_path}: piece ids outside 0..{n - 1}: {bad[:10]}")
    keep |= _always_kept(data)
    if data["model"]["type"] == "BPE":
        keep = _bpe_closure(data, keep)
    ids = sorted(keep)
    remap = {old: new for new, old in enumerate(ids)}
    out = copy.deepcopy({k: v for k, v in data.items() if k != "model"})
    out["model"] = _trimmed_model(data, ids)
    for token in out.get("added_tokens") or []:
        token["id"] = remap[int(token["id"])]
    if out.get("post_processor") is not None:
        out["post_processor"] = _remap_ids(out["post_processor"], remap)
    text = json.dumps(out, ensure_ascii=False)
    try:
        Tokenizer.from_str(text)
    except Exception as exc:  # tokenizers raises a bare Exception
        raise ModelFormatError(f"the trimmed tokenizer does not load ({exc})") from exc
    Path(out_path).write_text(text, encoding="utf-8")
    log.info("vocabulary trimmed (%s): %d of %d pieces kept", data["model"]["type"], len(ids), n)
    return ids


def fast_normalizer(path: Path) -> None:
    """Drop the per-codepoint Replace steps from a tokenizer.json shipped with normalization.json.

    The runtime applies normalization.json with ``str.translate`` first (about 20x
    faster than thousands of Replace normalisers); applying the map twice is a no-op,
    so the ids do not change. Only the other steps (the run-of-spaces regex) are kept.
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    norm = data.get("normalizer") or {}
    if norm.get("type") != "Sequence":
        return
    steps = [s for s in norm["normalizers"] if not (s.get("type") == "Replace" and "String" in s.get("pattern", {}))]
    data["normalizer"] = steps[0] if len(steps) == 1 else {"type": "Sequence", "normalizers": steps}
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
