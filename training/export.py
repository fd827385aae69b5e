"""Export a training checkpoint to a notescore model folder (ONNX + tokenizer).

Steps (:func:`export_model`):

1. load the checkpoint (:func:`training.model.load_checkpoint`);
2. optionally trim the vocabulary: keep the pieces seen in training/dev text,
   every single-character piece and the ``top_n`` most probable pieces
   (:func:`default_keep_ids`), cut the word-embedding rows and the Unigram
   vocabulary to match (:func:`trim_vocabulary`). Removing Unigram pieces only
   removes segmentation paths, so a text whose full-vocabulary segmentation uses
   kept pieces only tokenises exactly as before; other texts fall back to
   shorter kept pieces (never worse than single characters);
3. ``torch.onnx.export`` (TorchScript exporter, opset 17) with dynamic batch and
   sequence axes;
4. optionally the ONNX Runtime transformer optimiser (kept only when it keeps
   parity and is faster);
5. dynamic int8 quantisation (per-channel int8 weights; the word-embedding
   ``Gather`` quantised too when that keeps parity);
6. parity checks with the runtime's own :class:`nlp.encoding.NoteEncoder`:
   fp32 ONNX vs torch (max |Δprob| ≤ 1e-4, else :class:`ExportError`), int8 vs
   fp32 label agreement (≥ 99 %, else :class:`ExportError`), macro-F1 of both,
   trimmed vs untrimmed model;
7. the folder (``model.onnx``, ``tokenizer.json``, ``normalization.json``,
   ``notescore.json``) is written into a temporary sibling and renamed into
   place, then loaded back with :class:`nlp.NoteClassifier` and checked.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import platform
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlp.errors import ModelFormatError, ModelNotFoundError, NotescoreError

logger = logging.getLogger(__name__)

META_CHAR = "\u2581"
SPECIAL_PIECES = ("<s>", "<pad>", "</s>", "<unk>")
# Most probable pieces kept on top of the seen ones and the single characters.
# Measured with the e5-small base (19k seen ids from ~5k zh/en texts): 78k of
# 250k pieces kept, int8 folder ~55 MB with the Gather quantised (~145 MB
# without); out-of-domain held-out texts (weibo, game chat, hotel reviews)
# need 1.4 % more tokens and 55 % of them tokenise identically (whole text);
# 140k would give 0.7 % / 69 % at ~75 MB.
DEFAULT_TOP_N = 60_000
FP32_TOLERANCE = 1e-4
MIN_INT8_AGREEMENT = 0.99
OPSET = 17
# The runtime's batch size (NoteClassifier.load default): int8 activations are
# quantised per batch, so checks batch the way the runtime does.
RUNTIME_BATCH = 32


class ExportError(NotescoreError, RuntimeError):
    """The exported model does not reproduce the checkpoint (failed parity)."""


# ------------------------------------------------------------------ vocabulary


def _load_unigram(path: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"tokenizer file {path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"{path}: not valid JSON ({exc})") from exc
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict) or model.get("type") != "Unigram" or not isinstance(model.get("vocab"), list):
        found = model.get("type") if isinstance(model, dict) else type(model).__name__
        raise ModelFormatError(
            f"{path}: expected a tokenizers Unigram model (XLM-R SentencePiece); found model type {found!r}"
        )
    return data


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


def _always_kept(data: dict[str, Any]) -> set[int]:
    vocab = data["model"]["vocab"]
    index = {piece: i for i, (piece, _) in enumerate(vocab)}
    keep = {index[p] for p in SPECIAL_PIECES if p in index}
    keep |= {int(t["id"]) for t in data.get("added_tokens") or []}
    if data["model"].get("unk_id") is not None:
        keep.add(int(data["model"]["unk_id"]))
    # the lowest score sets the unknown penalty (min score - 10): keep it unchanged
    keep.add(int(np.argmin(np.array([s for _, s in vocab], dtype=np.float64))))
    return keep


def trim_vocabulary(
    tokenizer_json_path: str | os.PathLike[str],
    keep_ids: Iterable[int],
    out_path: str | os.PathLike[str],
) -> list[int]:
    """Write a tokenizer whose Unigram vocabulary holds only some pieces.

    Kept pieces are re-indexed in their original order. ``<s>``, ``<pad>``,
    ``</s>``, ``<unk>``, every added token and the lowest-score piece (it sets
    Unigram's unknown penalty, see :func:`training.base_model.subset_e5s1`) are
    always kept. ``unk_id``, the added tokens and the post-processor's special
    ids are rewritten.

    Args:
        tokenizer_json_path: a ``tokenizers`` JSON file with a Unigram model.
        keep_ids: ids of the pieces to keep.
        out_path: the trimmed ``tokenizer.json`` to write.

    Returns:
        The old ids in new order: ``new_embedding = old_embedding[returned]``.

    Raises:
        ModelNotFoundError: the tokenizer file is missing.
        ModelFormatError: it is not a Unigram tokenizer, or an id is out of range.
    """
    from tokenizers import Tokenizer

    data = _load_unigram(tokenizer_json_path)
    vocab = data["model"]["vocab"]
    n = len(vocab)
    keep = {int(i) for i in keep_ids}
    bad = sorted(i for i in keep if not 0 <= i < n)
    if bad:
        raise ModelFormatError(f"{tokenizer_json_path}: piece ids outside 0..{n - 1}: {bad[:10]}")
    keep |= _always_kept(data)
    ids = sorted(keep)
    remap = {old: new for new, old in enumerate(ids)}

    out = copy.deepcopy({k: v for k, v in data.items() if k != "model"})
    model = {k: v for k, v in data["model"].items() if k != "vocab"}
    model["vocab"] = [vocab[i] for i in ids]
    if model.get("unk_id") is not None:
        model["unk_id"] = remap[int(model["unk_id"])]
    out["model"] = model
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
    logger.info("vocabulary trimmed: %d of %d pieces kept", len(ids), n)
    return ids


def default_keep_ids(
    tokenizer_json_path: str | os.PathLike[str],
    seen_ids: Iterable[int],
    top_n: int = DEFAULT_TOP_N,
) -> list[int]:
    """The pieces an exported model keeps by default.

    Args:
        tokenizer_json_path: the checkpoint's Unigram ``tokenizer.json``.
        seen_ids: ids that occur in the training and dev texts.
        top_n: how many of the highest-score pieces to keep as well.

    Returns:
        Sorted ids: seen ∪ every single-character piece (with or without the
        leading ``▁``) ∪ the ``top_n`` highest-score pieces ∪ the always-kept ones.
    """
    data = _load_unigram(tokenizer_json_path)
    vocab = data["model"]["vocab"]
    keep = {int(i) for i in seen_ids if 0 <= int(i) < len(vocab)}
    for i, (piece, _) in enumerate(vocab):
        core = piece[1:] if piece.startswith(META_CHAR) else piece
        if len(core) <= 1:
            keep.add(i)
    if top_n > 0:
        scores = np.array([s for _, s in vocab], dtype=np.float64)
        keep.update(int(i) for i in np.argsort(-scores, kind="stable")[:top_n])
    keep |= _always_kept(data)
    return sorted(keep)


# ---------------------------------------------------------------------- export


def _wrapper(model):
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids, attention_mask)

    return LogitsOnly(model).eval()


def _export_onnx(model, path: Path) -> None:
    import torch

    ids = torch.tensor([[0, 5, 6, 7, 8, 2], [0, 9, 2, 1, 1, 1]], dtype=torch.int64)
    ids = ids.clamp(max=model.encoder.config.vocab_size - 1)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]], dtype=torch.int64)
    with torch.no_grad(), warnings.catch_warnings():
        # tracer and deprecation chatter; parity is checked on real inputs afterwards
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _wrapper(model),
            (ids, mask),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "logits": {0: "batch"},
            },
            opset_version=OPSET,
            dynamo=False,
            do_constant_folding=True,
        )


def _session(path: Path, threads: int = 2):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _batched(rows: list[list[int]], encoder, run, n_labels: int, batch: int = RUNTIME_BATCH) -> np.ndarray:
    """Probabilities, batched by token length exactly as NoteClassifier does."""
    out = np.zeros((len(rows), n_labels), dtype=np.float64)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    for start in range(0, len(order), batch):
        chunk = order[start : start + batch]
        b = encoder.pad([rows[i] for i in chunk])
        out[chunk] = _softmax(np.asarray(run(b.input_ids, b.attention_mask), dtype=np.float64))
    return out


def _torch_probs(model, rows, encoder, n_labels):
    import torch

    def run(ids, mask):
        with torch.no_grad():
            return model(torch.from_numpy(ids), torch.from_numpy(mask)).double().numpy()

    return _batched(rows, encoder, run, n_labels)


def _onnx_probs(session, rows, encoder, n_labels):
    def run(ids, mask):
        return session.run(None, {"input_ids": ids, "attention_mask": mask})[0]

    return _batched(rows, encoder, run, n_labels)


def _time_session(session, rows, encoder, n_labels, repeat: int = 2) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        _onnx_probs(session, rows, encoder, n_labels)
        best = min(best, time.perf_counter() - start)
    return best


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(a.argmax(1) == b.argmax(1))) if len(a) else 1.0


def _max_delta(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max()) if len(a) else 0.0


def _read_dev(path: Path) -> list[dict[str, Any]]:
    records = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ModelFormatError(f"{path} line {n}: not valid JSON ({exc})") from exc
    return records


def _macro_f1(records, probs: np.ndarray, labels: Sequence[str]) -> dict[str, Any] | None:
    from nlp.evaluation import classification_metrics

    idx = [i for i, r in enumerate(records) if r.get("label") in labels]
    if not idx:
        return None
    gold = [records[i]["label"] for i in idx]
    pred = [labels[int(probs[i].argmax())] for i in idx]
    m = classification_metrics(gold, pred, labels)
    return {"n": m["n"], "accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("notescore", "onnxruntime", "torch", "transformers", "onnx", "tokenizers"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    if out["notescore"] is None:
        from nlp import __version__

        out["notescore"] = __version__
    return out


def _optimize(src: Path, dst: Path, config) -> bool:
    """Run the ORT transformer optimiser; False when it fails."""
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        opt = optimize_model(
            str(src),
            model_type="bert",
            num_heads=int(config.num_attention_heads),
            hidden_size=int(config.hidden_size),
            opt_level=1,
            use_gpu=False,
        )
        counts = opt.get_fused_operator_statistics()
        logger.info("optimiser fused: %s", {k: v for k, v in counts.items() if v})
        opt.save_model_to_file(str(dst))
        return True
    except Exception as exc:  # the optimiser raises many kinds on unknown patterns
        logger.warning("ONNX Runtime optimiser failed, keeping the plain graph (%s)", exc)
        return False


def _quantize(src: Path, dst: Path, gather: bool, keep_ffn_down: bool = False) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    ops = {node.op_type for node in onnx.load(str(src), load_external_data=False).graph.node}
    wanted = [op for op in ("MatMul", "Attention", "Gather", "EmbedLayerNormalization") if op in ops]
    if not gather:
        wanted = [op for op in wanted if op not in ("Gather", "EmbedLayerNormalization")]
    graph = onnx.load(str(src), load_external_data=False).graph
    exclude = [
        n.name
        for n in graph.node
        if keep_ffn_down and n.op_type == "MatMul" and "/output/dense/" in n.name and "attention" not in n.name
    ]
    quantize_dynamic(
        str(src),
        str(dst),
        op_types_to_quantize=wanted,
        nodes_to_exclude=exclude,
        per_channel=True,
        weight_type=QuantType.QInt8,
        extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def _same_tokens(rows: list[list[int]], full_rows: list[list[int]], back: list[int]) -> float:
    """Share of texts whose (trimmed) ids map back to exactly the full vocabulary's ids."""
    return float(np.mean([[back[i] for i in a] == b for a, b in zip(rows, full_rows, strict=True)]))


def _fast_normalizer(path: Path) -> None:
    """Drop the per-codepoint Replace steps from a tokenizer.json shipped with normalization.json.

    The runtime applies normalization.json with ``str.translate`` first (about 20x
    faster than thousands of Replace normalisers); applying the map twice is a no-op,
    so the ids do not change. Only the regex step (runs of spaces) is kept.
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    norm = data.get("normalizer") or {}
    if norm.get("type") != "Sequence":
        return
    steps = [s for s in norm["normalizers"] if not (s.get("type") == "Replace" and "String" in s.get("pattern", {}))]
    data["normalizer"] = steps[0] if len(steps) == 1 else {"type": "Sequence", "normalizers": steps}
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def export_model(
    checkpoint_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    dev_records: Sequence[dict[str, Any]] | None = None,
    quantize: bool = True,
    trim: bool = True,
    optimize: bool = True,
    *,
    top_n: int = DEFAULT_TOP_N,
    keep_ids: Iterable[int] | None = None,
    heldout_texts: Sequence[str] | None = None,
    quantize_gather: bool | None = None,
    name: str = "notescore",
    threads: int = 2,
) -> dict[str, Any]:
    """Export a checkpoint to a notescore model folder and check it.

    Args:
        checkpoint_dir: a folder written by training (see
            :func:`training.model.load_checkpoint`).
        out_dir: the model folder to write (replaced atomically if it exists).
        dev_records: records ``{"text", "label", ...}`` for the parity checks;
            default the checkpoint's ``dev.jsonl``.
        quantize: write int8 (dynamic quantisation) rather than fp32.
        trim: cut the vocabulary to :func:`default_keep_ids` (or ``keep_ids``).
        optimize: try the ONNX Runtime transformer optimiser (kept only when it
            keeps parity and is faster).
        top_n: highest-score pieces kept when trimming.
        keep_ids: explicit ids to keep (instead of :func:`default_keep_ids`).
        heldout_texts: extra composed texts for the trimmed-vs-untrimmed check.
        quantize_gather: quantise the word-embedding Gather too; None = try it
            and keep it when int8 agreement stays at the required level.
        name: the model name stored in ``notescore.json``.
        threads: ONNX Runtime threads for the checks and timings.

    Returns:
        The report: sizes, parity, metrics, timings, choices made.

    Raises:
        ModelNotFoundError: the checkpoint folder or one of its files is missing.
        ModelFormatError: the checkpoint files do not fit together.
        ExportError: fp32 ONNX differs from torch by more than 1e-4, or int8
            labels agree with fp32 on fewer than 99 % of dev texts, or the
            written folder does not reproduce the checked model.
    """
    import torch

    from nlp.classifier import NoteClassifier
    from nlp.encoding import NoteEncoder
    from nlp.model_config import ModelConfig
    from training.model import META, load_checkpoint

    ckpt = Path(checkpoint_dir)
    out = Path(out_dir)
    if not ckpt.is_dir():
        raise ModelNotFoundError(
            f"checkpoint folder {str(ckpt)!r} does not exist; pass a folder written by 'notescore train'"
        )
    model, meta = load_checkpoint(ckpt)
    missing = [k for k in ("labels", "max_length") if k not in meta]
    if missing:
        raise ModelFormatError(f"{ckpt / META}: missing keys {missing}; re-run training to rewrite it")
    labels = tuple(meta["labels"])
    n_labels = len(labels)
    max_length = int(meta["max_length"])
    head_fraction = float(meta.get("head_fraction", 0.5))
    tok_path = ckpt / "tokenizer.json"
    norm_path = ckpt / "normalization.json"
    norm = norm_path if norm_path.is_file() else None
    if dev_records is None:
        dev_path = ckpt / "dev.jsonl"
        dev_records = _read_dev(dev_path) if dev_path.is_file() else []
    dev_records = list(dev_records)
    texts = [str(r["text"]) for r in dev_records if isinstance(r.get("text"), str) and r["text"].strip()]
    if not texts:
        raise ModelFormatError(
            f"{ckpt}: no dev texts for the parity checks (dev.jsonl missing or empty); pass dev_records"
        )
    dev_records = [r for r in dev_records if isinstance(r.get("text"), str) and r["text"].strip()]
    heldout = [t for t in (heldout_texts or []) if t and t.strip()]
    vocab_rows = model.encoder.embeddings.word_embeddings.weight.shape[0]
    report: dict[str, Any] = {"checkpoint": str(ckpt), "n_dev": len(texts), "n_heldout": len(heldout)}
    torch.set_num_threads(max(1, threads))

    full_enc = NoteEncoder(tok_path, max_length, head_fraction, norm)
    if len(json.loads(tok_path.read_text(encoding="utf-8"))["model"]["vocab"]) != vocab_rows:
        raise ModelFormatError(f"{ckpt}: tokenizer.json and the word embedding ({vocab_rows} rows) differ in size")
    full_rows = full_enc.token_ids(texts)
    full_torch = _torch_probs(model, full_rows, full_enc, n_labels)

    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.work.", dir=out.parent))
    try:
        tok_out = work / "tokenizer.json"
        if trim:
            if keep_ids is None:
                keep_ids = default_keep_ids(tok_path, meta.get("seen_piece_ids") or [], top_n)
            kept = trim_vocabulary(tok_path, keep_ids, tok_out)
            emb = model.encoder.embeddings.word_embeddings
            new = torch.nn.Embedding(len(kept), emb.weight.shape[1], padding_idx=None)
            new.weight.data = emb.weight.data[torch.tensor(kept, dtype=torch.long)].clone()
            model.encoder.embeddings.word_embeddings = new
            model.encoder.config.vocab_size = len(kept)
            report["vocabulary"] = {"kept": len(kept), "of": vocab_rows}
        else:
            shutil.copyfile(tok_path, tok_out)
            report["vocabulary"] = {"kept": vocab_rows, "of": vocab_rows}
        if norm is not None:
            _fast_normalizer(tok_out)
        enc = NoteEncoder(tok_out, max_length, head_fraction, norm)
        rows = enc.token_ids(texts)
        back = kept if trim else list(range(vocab_rows))  # new id -> id in the full vocabulary
        ref = _torch_probs(model, rows, enc, n_labels)

        trim_report: dict[str, Any] = {
            "dev_same_tokens": _same_tokens(rows, full_rows, back),
            "dev_agreement": _agreement(ref, full_torch),
            "dev_max_abs_dprob": _max_delta(ref, full_torch),
        }
        if heldout and trim:
            h_full = full_enc.token_ids(heldout)
            h_rows = enc.token_ids(heldout)
            p_full = _torch_probs(load_checkpoint(ckpt)[0], h_full, full_enc, n_labels)
            p_trim = _torch_probs(model, h_rows, enc, n_labels)
            trim_report.update(
                heldout_same_tokens=_same_tokens(h_rows, h_full, back),
                heldout_agreement=_agreement(p_trim, p_full),
                heldout_max_abs_dprob=_max_delta(p_trim, p_full),
            )
        report["trim"] = trim_report

        fp32 = work / "model_fp32.onnx"
        _export_onnx(model, fp32)
        plain = _session(fp32, threads)
        p32 = _onnx_probs(plain, rows, enc, n_labels)
        d32 = _max_delta(p32, ref)
        parity: dict[str, Any] = {"fp32_vs_torch_max_abs_dprob": d32, "fp32_vs_torch_agreement": _agreement(p32, ref)}
        if d32 > FP32_TOLERANCE:
            raise ExportError(
                f"fp32 ONNX differs from torch by {d32:.2e} in probability on the dev texts "
                f"(allowed {FP32_TOLERANCE:.0e}); the export is wrong, check the torch/onnx versions"
            )
        chosen = fp32
        sizes = {"fp32_onnx_mb": fp32.stat().st_size / 1e6}
        timings: dict[str, float] = {}
        if optimize:
            opt_path = work / "model_fp32_opt.onnx"
            if _optimize(fp32, opt_path, model.encoder.config):
                opt = _session(opt_path, threads)
                popt = _onnx_probs(opt, rows, enc, n_labels)
                dopt = _max_delta(popt, ref)
                timings["fp32_s"] = _time_session(plain, rows, enc, n_labels)
                timings["fp32_optimized_s"] = _time_session(opt, rows, enc, n_labels)
                keep_opt = dopt <= FP32_TOLERANCE and timings["fp32_optimized_s"] < timings["fp32_s"]
                logger.info(
                    "optimiser: max |Δprob| %.1e, %.2f s -> %.2f s on the dev texts: %s",
                    dopt,
                    timings["fp32_s"],
                    timings["fp32_optimized_s"],
                    "kept" if keep_opt else "dropped",
                )
                parity["fp32_optimized_vs_torch_max_abs_dprob"] = dopt
                report["optimizer"] = {"used": keep_opt, "max_abs_dprob": dopt}
                if keep_opt:
                    chosen, p32 = opt_path, popt
                del opt
            else:
                report["optimizer"] = {"used": False, "error": True}
        del plain

        final = chosen
        if quantize:
            # Variants, smallest first: all MatMuls + the embedding Gather in int8; then the
            # FFN down-projections kept in fp32 (their inputs, after GELU, carry the outlier
            # activations that per-tensor dynamic quantisation handles worst).
            gathers = [True, False] if quantize_gather is None else [bool(quantize_gather)]
            candidates = [(g, False) for g in gathers[:1]] + [(g, True) for g in gathers]
            tried: dict[str, Any] = {}
            for gather, keep_ffn in candidates:
                name = ("gather" if gather else "matmul_only") + ("_ffn_down_fp32" if keep_ffn else "")
                q_path = work / f"model_int8_{name}.onnx"
                try:
                    _quantize(chosen, q_path, gather, keep_ffn)
                except Exception as exc:  # the quantiser raises bare RuntimeErrors
                    if chosen == fp32:
                        raise ExportError(f"int8 quantisation failed ({exc}); export with quantize=False") from exc
                    logger.warning("quantising the optimised graph failed (%s); using the plain graph", exc)
                    chosen, p32 = fp32, _onnx_probs(_session(fp32, threads), rows, enc, n_labels)
                    report["optimizer"]["used"] = False
                    report["optimizer"]["quantize_error"] = str(exc)[:300]
                    _quantize(chosen, q_path, gather, keep_ffn)
                session = _session(q_path, threads)
                p8 = _onnx_probs(session, rows, enc, n_labels)
                info = {
                    "agreement": _agreement(p8, p32),
                    "max_abs_dprob": _max_delta(p8, p32),
                    "size_mb": q_path.stat().st_size / 1e6,
                    "seconds": _time_session(session, rows, enc, n_labels, 1),
                }
                tried[name] = info
                logger.info("int8 (%s): %s", name, info)
                if info["agreement"] >= MIN_INT8_AGREEMENT:
                    final, p_final, gather_used, used_name = q_path, p8, gather, name
                    break
            else:
                worst = max(v["agreement"] for v in tried.values())
                raise ExportError(
                    f"int8 labels agree with fp32 on only {worst:.1%} of {len(texts)} dev texts "
                    f"(required {MIN_INT8_AGREEMENT:.0%}); export with quantize=False"
                )
            parity.update(
                int8_variant=used_name,
                int8_vs_fp32_agreement=tried[used_name]["agreement"],
                int8_vs_fp32_max_abs_dprob=tried[used_name]["max_abs_dprob"],
                int8_gather_quantized=gather_used,
                int8_tried=tried,
            )
            metrics = {"fp32": _macro_f1(dev_records, p32, labels), "int8": _macro_f1(dev_records, p_final, labels)}
        else:
            p_final = p32
            metrics = {"fp32": _macro_f1(dev_records, p32, labels)}
        metrics["torch_untrimmed"] = _macro_f1(dev_records, full_torch, labels)
        parity["trim"] = report["trim"]
        parity["n_dev"] = len(texts)
        report["parity"] = parity
        report["metrics"] = metrics
        report["timings"] = timings
        sizes["model_onnx_mb"] = final.stat().st_size / 1e6
        report["sizes"] = sizes

        # ---- the folder: written beside the target, renamed into place
        stage = work / "folder"
        stage.mkdir()
        shutil.copyfile(final, stage / "model.onnx")
        shutil.copyfile(tok_out, stage / "tokenizer.json")
        if norm is not None:
            shutil.copyfile(norm, stage / "normalization.json")
        extra = {
            "precision": "int8" if quantize else "fp32",
            "training_data": meta.get("training_data", []),
            "metrics": {"dev": meta.get("dev_metrics"), "export": metrics},
            "parity": parity,
            "versions": _versions(),
            "train_config": meta.get("train_config"),
            "vocabulary": report["vocabulary"],
            "optimized": bool(report.get("optimizer", {}).get("used")),
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        ModelConfig(
            labels=labels,
            max_length=max_length,
            head_fraction=head_fraction,
            normalization_file="normalization.json" if norm is not None else None,
            base_model=str(meta.get("base_model", "")),
            name=name,
            extra=extra,
        ).save(stage)
        clf = NoteClassifier.load(stage, threads=threads, batch_size=RUNTIME_BATCH, keywords=False)
        loaded = clf.predict_proba(texts).astype(np.float64)
        d_loaded = _max_delta(loaded, p_final)
        if _agreement(loaded, p_final) < 1.0 or d_loaded > 1e-3:
            raise ExportError(
                f"the written folder does not reproduce the checked model (max |Δprob| {d_loaded:.2e}); "
                "the runtime encoder and the export disagree"
            )
        report["runtime_vs_checked_max_abs_dprob"] = d_loaded
        del clf
        ngram = meta.get("ngram") or {}
        if ngram.get("file") and ngram.get("weight", 0) > 0:
            # The n-gram model is blended at run time; parity above is the transformer's alone.
            shutil.copyfile(ckpt / ngram["file"], stage / "ngram.npz")
            data = json.loads((stage / "notescore.json").read_text())
            data["ngram"] = {"file": "ngram.npz", "weight": ngram["weight"], "C": ngram.get("C"),
                             "buckets": ngram.get("buckets")}  # fmt: skip
            (stage / "notescore.json").write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
            clf = NoteClassifier.load(stage, threads=threads, batch_size=RUNTIME_BATCH, keywords=False)
            blended = _macro_f1(dev_records, clf.predict_proba(texts), labels)
            if blended is not None:
                metrics["int8_blended_with_ngram"] = blended
                report["blended_dev_macro_f1"] = blended.get("macro_f1")
            del clf
        sizes["folder_mb"] = sum(p.stat().st_size for p in stage.iterdir()) / 1e6

        os.chmod(stage, 0o755)
        final_tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.new.", dir=out.parent))
        final_tmp.rmdir()
        os.rename(stage, final_tmp)
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            old.rmdir()
            os.rename(out, old)
        os.rename(final_tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["out_dir"] = str(out)
    logger.info(
        "exported %s -> %s (%.1f MB; fp32 Δ %.1e; int8 agreement %s)",
        ckpt,
        out,
        report["sizes"]["folder_mb"],
        parity["fp32_vs_torch_max_abs_dprob"],
        parity.get("int8_vs_fp32_agreement"),
    )
    return report
