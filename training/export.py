"""Export a training checkpoint to a notescore model folder, in stages:

trim the vocabulary (:func:`trim_stage`) → convert to ONNX (:func:`convert`) →
check fp32 parity (:func:`check_fp32`) → quantise to int8 (:func:`quantise`) →
write the folder (:func:`write_folder`) → load it back and verify
(:func:`verify_folder`) → move it into place (:func:`install_folder`).
:func:`export_model` runs them in a row.

Parity: fp32 ONNX vs torch max |Δprob| ≤ 1e-4, else :class:`ExportError`; int8 vs
fp32 label agreement ≥ 99 % on the dev texts, trying variants smallest first
(everything int8; then the FFN down-projections kept in fp32, whose inputs carry
GELU's outlier activations), else :class:`ExportError`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import platform
import random
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlp.backends import OnnxRuntimeBackend
from nlp.batching import length_batches
from nlp.encoding import NoteEncoder
from nlp.errors import ModelFormatError, NotescoreError
from nlp.evaluation import classification_metrics
from nlp.model_folder import (
    ONNX_LABELS_KEY,
    CheckpointMeta,
    ModelSpec,
    NgramSettings,
    Provenance,
    write_model_spec,
)
from nlp.probability import softmax
from nlp.records import LabelledNote, read_labelled
from training.vocab import DEFAULT_TOP_N, default_keep_ids, fast_normalizer, trim_vocabulary

log = logging.getLogger(__name__)

FP32_TOLERANCE = 1e-4
MIN_INT8_AGREEMENT = 0.99
PREFERRED_INT8_AGREEMENT = 0.995
CALIBRATION_ROWS = 300
OPSET = 17
# The runtime's batch size (NoteClassifier.load default): checks batch as it does.
RUNTIME_BATCH = 32


class ExportError(NotescoreError, RuntimeError):
    """The exported model does not reproduce the checkpoint (failed parity)."""


@dataclass
class Checked:
    """A graph and its probabilities on the dev texts."""

    path: Path
    probs: np.ndarray


# -------------------------------------------------------------- probabilities


def batched_probs(rows: list[list[int]], encoder: NoteEncoder, run, batch: int = RUNTIME_BATCH) -> np.ndarray:
    """Probabilities of ``run(input_ids, attention_mask) -> logits``, batched as the runtime does."""
    out: np.ndarray | None = None
    for chunk in length_batches([len(r) for r in rows], batch):
        b = encoder.pad([rows[i] for i in chunk])
        probs = softmax(np.asarray(run(b.input_ids, b.attention_mask), dtype=np.float64))
        if out is None:
            out = np.zeros((len(rows), probs.shape[1]), dtype=np.float64)
        out[chunk] = probs
    return out if out is not None else np.zeros((0, 0))


def torch_probs(model, rows: list[list[int]], encoder: NoteEncoder) -> np.ndarray:
    """Probabilities of the torch model."""
    import torch

    def run(ids, mask):
        with torch.no_grad():
            return model(torch.from_numpy(ids), torch.from_numpy(mask)).double().numpy()

    return batched_probs(rows, encoder, run)


def onnx_probs(path: Path, rows: list[list[int]], encoder: NoteEncoder, threads: int) -> np.ndarray:
    """Probabilities of an ONNX graph under ONNX Runtime."""
    return batched_probs(rows, encoder, OnnxRuntimeBackend(path, threads).run)


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Share of rows with the same argmax."""
    return float(np.mean(a.argmax(1) == b.argmax(1))) if len(a) else 1.0


def max_delta(a: np.ndarray, b: np.ndarray) -> float:
    """Largest absolute probability difference."""
    return float(np.abs(a - b).max()) if len(a) else 0.0


def headline(notes: Sequence[LabelledNote], probs: np.ndarray, labels: Sequence[str]) -> dict[str, Any] | None:
    """n, accuracy and macro-F1 on the fully labelled notes."""
    idx = [i for i, n in enumerate(notes) if n.label is not None]
    if not idx:
        return None
    m = classification_metrics([notes[i].label for i in idx], [labels[int(probs[i].argmax())] for i in idx], labels)
    return {"n": m["n"], "accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}


# ---------------------------------------------------------------------- trim


def trim_stage(model, ckpt: Path, work: Path, meta: CheckpointMeta, trim: bool, top_n: int,
               keep_ids: Iterable[int] | None) -> tuple[Path, list[int]]:  # fmt: skip
    """Cut the vocabulary and the embedding rows to match; returns (tokenizer path, old ids kept).

    Without ``trim`` the tokenizer is copied and every id kept.
    """
    import torch

    src, out = ckpt / "tokenizer.json", work / "tokenizer.json"
    emb = model.encoder.get_input_embeddings()
    rows = emb.weight.shape[0]
    if not trim:
        shutil.copyfile(src, out)
        return out, list(range(rows))
    if keep_ids is None:
        keep_ids = default_keep_ids(src, meta.seen_piece_ids, top_n)
    kept = trim_vocabulary(src, keep_ids, out)
    new = torch.nn.Embedding(len(kept), emb.weight.shape[1])
    new.weight.data = emb.weight.data[torch.tensor(kept, dtype=torch.long)].clone()
    model.encoder.set_input_embeddings(new)
    model.encoder.config.vocab_size = len(kept)
    return out, kept


def same_tokens(rows: list[list[int]], full_rows: list[list[int]], back: list[int]) -> float:
    """Share of texts whose trimmed ids map back to exactly the full vocabulary's ids."""
    return float(np.mean([[back[i] for i in a] == b for a, b in zip(rows, full_rows, strict=True)]))


# ------------------------------------------------------------------- convert


def convert(model, path: Path, labels: Sequence[str]) -> None:
    """``torch.onnx.export`` (TorchScript exporter, opset 17, dynamic batch and length), labels in metadata."""
    import torch

    class Scores(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids, attention_mask)

    vocab = model.encoder.config.vocab_size
    ids = torch.tensor([[0, 5, 6, 7, 8, 2], [0, 9, 2, 1, 1, 1]], dtype=torch.int64).clamp(max=vocab - 1)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]], dtype=torch.int64)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer chatter; parity is checked on real inputs afterwards
        torch.onnx.export(
            Scores(model).eval(), (ids, mask), str(path), input_names=["input_ids", "attention_mask"],
            output_names=["logits"], opset_version=OPSET, dynamo=False, do_constant_folding=True,
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                          "logits": {0: "batch"}},
        )  # fmt: skip
    set_graph_labels(path, labels)


def set_graph_labels(path: Path, labels: Sequence[str]) -> None:
    """Write the label order into the ONNX graph's metadata (the runtime checks it)."""
    import json

    import onnx

    graph = onnx.load(str(path))
    props = {p.key: p.value for p in graph.metadata_props}
    props[ONNX_LABELS_KEY] = json.dumps(list(labels))
    onnx.helper.set_model_props(graph, props)
    onnx.save(graph, str(path))


def check_fp32(fp32: np.ndarray, ref: np.ndarray) -> dict[str, Any]:
    """Parity of the fp32 graph with torch.

    Raises:
        ExportError: max |Δprob| above :data:`FP32_TOLERANCE`.
    """
    delta = max_delta(fp32, ref)
    if delta > FP32_TOLERANCE:
        raise ExportError(
            f"fp32 ONNX differs from torch by {delta:.2e} in probability on the dev texts "
            f"(allowed {FP32_TOLERANCE:.0e}); the export is wrong, check the torch/onnx versions"
        )
    return {"fp32_vs_torch_max_abs_dprob": delta, "fp32_vs_torch_agreement": agreement(fp32, ref)}


# ------------------------------------------------------------------ quantise


def quantize_graph(src: Path, dst: Path, gather: bool, keep_ffn_down: bool = False) -> None:
    """Dynamic int8 (per-channel weights) of the MatMuls, the embedding Gather optionally."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(src), load_external_data=False).graph
    ops = {node.op_type for node in graph.node}
    wanted = [op for op in ("MatMul", "Gather") if op in ops and (gather or op != "Gather")]
    # FFN down-projections: ".../output/dense/MatMul" outside attention.
    exclude = [n.name for n in graph.node if keep_ffn_down and n.op_type == "MatMul"
               and "/output/dense/" in n.name and "attention" not in n.name]  # fmt: skip
    quantize_dynamic(
        str(src), str(dst), op_types_to_quantize=wanted, nodes_to_exclude=exclude, per_channel=True,
        weight_type=QuantType.QInt8,
        extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT},
    )  # fmt: skip


def quantize_static(src: Path, dst: Path, rows: list[list[int]], ffn_down_fp32: bool = False) -> None:
    """Static int8 (QDQ) with NNCF's transformer recipe, activations calibrated on ``rows``.

    Activation scales are fixed at export, so a note's scores do not depend on the
    other notes of its batch (dynamic int8 quantises activations per batch). The
    QDQ graph runs on ONNX Runtime and OpenVINO alike.
    """
    try:
        import nncf
    except ImportError as exc:
        raise ExportError("static int8 needs nncf: pip install 'notescore[train]' (or --int8 dynamic)") from exc
    import onnx

    data = [{"input_ids": np.array([r], dtype=np.int64), "attention_mask": np.ones((1, len(r)), dtype=np.int64)}
            for r in rows]  # fmt: skip
    ignored = nncf.IgnoredScope(patterns=[r".*layer\.\d+/output/dense/MatMul.*"], validate=False)
    extra = {"ignored_scope": ignored} if ffn_down_fp32 else {}
    with contextlib.redirect_stdout(io.StringIO()):  # NNCF draws progress bars on stdout
        quantized = nncf.quantize(onnx.load(str(src)), nncf.Dataset(data), model_type=nncf.ModelType.TRANSFORMER,
                                  subset_size=len(data), **extra)  # fmt: skip
    onnx.save(quantized, str(dst))


INT8_METHODS = ("static", "dynamic")


def int8_variants(method: str, gather: bool | None) -> list[tuple[str, Callable]]:
    """The int8 variants to try, smallest first: (name, make(src, dst, calibration rows))."""
    static = [("static", lambda s, d, r: quantize_static(s, d, r)),
              ("static_ffn_down_fp32", lambda s, d, r: quantize_static(s, d, r, ffn_down_fp32=True))]  # fmt: skip
    gathers = [True, False] if gather is None else [bool(gather)]
    dynamic = [(f"dynamic_{'gather' if g else 'matmul_only'}{'_ffn_down_fp32' if k else ''}",
                lambda s, d, r, g=g, k=k: quantize_graph(s, d, g, k))
               for g, k in [(gathers[0], False)] + [(g, True) for g in gathers]]  # fmt: skip
    return static if method == "static" else dynamic


def quantise(fp32: Checked, work: Path, rows, encoder, labels, options: ExportOptions,
             calibration: list[list[int]]) -> tuple[Checked, dict[str, Any]]:  # fmt: skip
    """The first int8 variant whose labels agree with fp32 on ≥ 99.5 % of the dev texts (else the best ≥ 99 %).

    Raises:
        ExportError: no variant reaches 99 %.
    """
    tried: dict[str, Any] = {}
    best: tuple[float, str, Checked] | None = None
    for variant, make in int8_variants(options.int8, options.quantize_gather):
        path = work / f"model_int8_{variant}.onnx"
        try:
            make(fp32.path, path, calibration)
        except ExportError:
            raise
        except Exception as exc:  # the quantisers raise bare RuntimeErrors
            raise ExportError(f"int8 quantisation ({variant}) failed ({exc}); export with --no-quantize") from exc
        set_graph_labels(path, labels)
        probs = onnx_probs(path, rows, encoder, options.threads)
        tried[variant] = {"agreement": agreement(probs, fp32.probs), "max_abs_dprob": max_delta(probs, fp32.probs),
                          "size_mb": path.stat().st_size / 1e6}  # fmt: skip
        log.info("int8 (%s): %s", variant, tried[variant])
        if best is None or tried[variant]["agreement"] > best[0]:
            best = (tried[variant]["agreement"], variant, Checked(path, probs))
        if tried[variant]["agreement"] >= PREFERRED_INT8_AGREEMENT:
            break
    if best is None or best[0] < MIN_INT8_AGREEMENT:
        worst = best[0] if best else 0.0
        raise ExportError(
            f"int8 labels agree with fp32 on only {worst:.1%} of {len(rows)} dev texts "
            f"(required {MIN_INT8_AGREEMENT:.0%}); export with --no-quantize or --int8 dynamic"
        )
    _, variant, checked = best
    info = {"int8_method": options.int8, "int8_variant": variant, "int8_vs_fp32_agreement": tried[variant]["agreement"],
            "int8_vs_fp32_max_abs_dprob": tried[variant]["max_abs_dprob"], "int8_tried": tried,
            "int8_calibration_rows": len(calibration)}  # fmt: skip
    return checked, info


# -------------------------------------------------------------------- folder


def versions() -> dict[str, str | None]:
    """Versions of the packages an export depends on."""
    from importlib.metadata import PackageNotFoundError, version

    from nlp import __version__

    out: dict[str, str | None] = {"python": platform.python_version(), "notescore": __version__}
    for name in ("onnxruntime", "torch", "transformers", "onnx", "tokenizers"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def write_folder(stage: Path, graph: Path, tokenizer: Path, ckpt: Path, spec: ModelSpec) -> ModelSpec:
    """Copy the graph, tokenizer, codepoint map and n-gram weights into ``stage`` and write its spec."""
    stage.mkdir()
    shutil.copyfile(graph, stage / spec.model_file)
    shutil.copyfile(tokenizer, stage / spec.tokenizer_file)
    if spec.normalization_file:
        shutil.copyfile(ckpt / "normalization.json", stage / spec.normalization_file)
    if spec.ngram is not None:
        shutil.copyfile(ckpt / "ngram.npz", stage / spec.ngram.file)
    return write_model_spec(stage, spec)


def verify_folder(stage: Path, texts: list[str], expected: np.ndarray, threads: int) -> float:
    """Load the written folder as a user would and compare with the checked graph (transformer alone).

    Raises:
        ExportError: a label differs or a probability moves by more than 1e-3.
    """
    from nlp.classifier import NoteClassifier

    clf = NoteClassifier.load(stage, threads=threads, batch_size=RUNTIME_BATCH, keywords=False, backend="onnxruntime")
    loaded = np.exp(clf.transformer_logits(texts).astype(np.float64))
    delta = max_delta(loaded, expected)
    if agreement(loaded, expected) < 1.0 or delta > 1e-3:
        raise ExportError(
            f"the written folder does not reproduce the checked model (max |Δprob| {delta:.2e}); "
            "the runtime encoder and the export disagree"
        )
    return delta


def install_folder(stage: Path, out: Path) -> None:
    """Move ``stage`` to ``out``, replacing an existing folder only once the new one is complete."""
    os.chmod(stage, 0o755)
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
        old.rmdir()
        os.rename(out, old)
    os.rename(stage, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# -------------------------------------------------------------------- export


def dev_notes_of(ckpt: Path, meta: CheckpointMeta, given: Sequence[LabelledNote] | None) -> list[LabelledNote]:
    """The notes parity is checked on: given ones, else the checkpoint's ``dev.jsonl``.

    Raises:
        ModelFormatError: none are available.
    """
    if given is None and (ckpt / "dev.jsonl").is_file():
        given = read_labelled([str(ckpt / "dev.jsonl")], meta.labels)
    notes = [n for n in given or [] if n.text.strip()]
    if not notes:
        raise ModelFormatError(f"{ckpt}: no dev texts for the parity checks (dev.jsonl missing or empty)")
    return notes


@dataclass(frozen=True)
class ExportOptions:
    """How :func:`export_model` exports (see its arguments)."""

    quantize: bool = True
    trim: bool = True
    top_n: int = DEFAULT_TOP_N
    keep_ids: tuple[int, ...] | None = None
    heldout_texts: tuple[str, ...] = ()
    quantize_gather: bool | None = None
    name: str = "notescore"
    build_command: str = ""
    threads: int = 2
    int8: str = "static"
    calibration_texts: tuple[str, ...] = ()


def export_model(
    checkpoint_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    dev_notes: Sequence[LabelledNote] | None = None,
    quantize: bool = True,
    trim: bool = True,
    *,
    top_n: int = DEFAULT_TOP_N,
    keep_ids: Iterable[int] | None = None,
    heldout_texts: Sequence[str] | None = None,
    quantize_gather: bool | None = None,
    name: str = "notescore",
    build_command: str = "",
    threads: int = 2,
    int8: str = "static",
    calibration_texts: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Export a checkpoint to a notescore model folder and check it.

    Args:
        checkpoint_dir: a folder written by training.
        out_dir: the model folder to write (replaced only once the new one is complete).
        dev_notes: notes for the parity checks; default the checkpoint's ``dev.jsonl``.
        quantize: write int8 rather than fp32.
        trim: cut the vocabulary to :func:`training.vocab.default_keep_ids` (or ``keep_ids``).
        top_n: most frequent pieces kept when trimming.
        keep_ids: explicit ids to keep.
        heldout_texts: extra composed texts for the trimmed-vs-untrimmed check.
        quantize_gather: quantise the embedding Gather; None = try it first.
        name: the model name stored in ``notescore.json``.
        build_command: the command that built the model, for its provenance.
        threads: ONNX Runtime threads for the checks.
        int8: ``static`` (NNCF's transformer recipe, activations calibrated once:
            scores independent of batch neighbours; the default) or ``dynamic``
            (ONNX Runtime's per-batch activation scales).
        calibration_texts: composed texts to calibrate static int8 on (a seeded
            sample of 300 is used); default the dev texts.

    Returns:
        The report: folder, size, parity, metrics.

    Raises:
        ModelNotFoundError: the checkpoint folder or one of its files is missing.
        ModelFormatError: the checkpoint files do not fit together.
        ExportError: a parity check failed.
    """
    import torch

    from training.model import load_checkpoint

    if int8 not in INT8_METHODS:
        raise ValueError(f"int8 must be one of {', '.join(INT8_METHODS)}; found {int8!r}")
    options = ExportOptions(quantize, trim, top_n, tuple(keep_ids) if keep_ids is not None else None,
                            tuple(heldout_texts or ()), quantize_gather, name, build_command, threads, int8,
                            tuple(calibration_texts or ()))  # fmt: skip
    ckpt, out = Path(checkpoint_dir), Path(out_dir)
    model, meta = load_checkpoint(ckpt)
    notes = dev_notes_of(ckpt, meta, dev_notes)
    torch.set_num_threads(max(1, threads))
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.work.", dir=out.parent))
    try:
        spec = build_folder(model, meta, ckpt, work, notes, options)
        install_folder(work / "folder", out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    size = sum((out / f).stat().st_size for f in spec.files) / 1e6
    log.info("exported %s -> %s (%.1f MB; fp32 Δ %.1e; int8 agreement %s)", ckpt, out, size,
             spec.parity["fp32_vs_torch_max_abs_dprob"], spec.parity.get("int8_vs_fp32_agreement"))  # fmt: skip
    return {"out_dir": str(out), "folder_mb": size, "parity": spec.parity, "metrics": spec.metrics["export"]}


def build_folder(model, meta: CheckpointMeta, ckpt: Path, work: Path, notes: Sequence[LabelledNote],
                 options: ExportOptions) -> ModelSpec:  # fmt: skip
    """The stages, in a row: trim → convert → fp32 parity → quantise → write → verify (into ``work/folder``)."""
    texts, labels = [n.text for n in notes], list(meta.labels)
    norm = ckpt / "normalization.json" if (ckpt / "normalization.json").is_file() else None
    full_enc = NoteEncoder(ckpt / "tokenizer.json", meta.truncation, meta.special_tokens, norm)
    full_rows = full_enc.token_ids(texts)
    full_ref = torch_probs(model, full_rows, full_enc)
    tok, kept = trim_stage(model, ckpt, work, meta, options.trim, options.top_n, options.keep_ids)
    if norm is not None:
        fast_normalizer(tok)
    enc = NoteEncoder(tok, meta.truncation, meta.special_tokens, norm)
    rows = enc.token_ids(texts)
    ref = torch_probs(model, rows, enc)
    trim_report = {"dev_same_tokens": same_tokens(rows, full_rows, kept), "dev_agreement": agreement(ref, full_ref),
                   "dev_max_abs_dprob": max_delta(ref, full_ref), "kept": len(kept),
                   "of": full_enc.tokenizer.get_vocab_size()}  # fmt: skip
    if options.heldout_texts and options.trim:
        trim_report.update(heldout_check(ckpt, model, options.heldout_texts, enc, full_enc, kept))
    fp32_path = work / "model_fp32.onnx"
    convert(model, fp32_path, labels)
    final = fp32 = Checked(fp32_path, onnx_probs(fp32_path, rows, enc, options.threads))
    parity = {**check_fp32(fp32.probs, ref), "trim": trim_report, "n_dev": len(texts)}
    if options.quantize:
        pool = list(options.calibration_texts) or texts
        sample = random.Random(0).sample(pool, min(CALIBRATION_ROWS, len(pool))) if options.int8 == "static" else []
        calibration = enc.token_ids(sample)  # only static int8 calibrates
        final, quant = quantise(fp32, work, rows, enc, labels, options, calibration)
        parity.update(quant)
    metrics = {"fp32": headline(notes, fp32.probs, labels), "torch_untrimmed": headline(notes, full_ref, labels)}
    if options.quantize:
        metrics["int8"] = headline(notes, final.probs, labels)
    spec = export_spec(options, meta, model, parity, metrics, norm is not None)
    stage = work / "folder"
    write_folder(stage, final.path, tok, ckpt, spec)
    delta = verify_folder(stage, texts, final.probs, options.threads)
    return runtime_metrics(stage, notes, options.threads, delta)


def heldout_check(ckpt: Path, model, texts: Sequence[str], enc: NoteEncoder, full_enc: NoteEncoder,
                  kept: list[int]) -> dict[str, float]:  # fmt: skip
    """Trimmed vs untrimmed model on texts it was not trained on (tokens and labels)."""
    from training.model import load_checkpoint

    texts = [t for t in texts if t and t.strip()]
    h_full, h_rows = full_enc.token_ids(texts), enc.token_ids(texts)
    p_full = torch_probs(load_checkpoint(ckpt)[0], h_full, full_enc)
    p_trim = torch_probs(model, h_rows, enc)
    return {"heldout_same_tokens": same_tokens(h_rows, h_full, kept), "heldout_agreement": agreement(p_trim, p_full),
            "heldout_max_abs_dprob": max_delta(p_trim, p_full)}  # fmt: skip


def export_spec(options: ExportOptions, meta: CheckpointMeta, model, parity: dict[str, Any],
                metrics: dict[str, Any], has_norm: bool) -> ModelSpec:  # fmt: skip
    """The spec of an exported folder, from the checkpoint's metadata and the export's checks."""
    from training.model import encoder_shape

    return ModelSpec(
        name=options.name,
        labels=meta.labels,
        truncation=meta.truncation,
        special_tokens=meta.special_tokens,
        normalization_file="normalization.json" if has_norm else None,
        ngram=NgramSettings("ngram.npz", meta.ngram.weight, meta.ngram.buckets, meta.ngram.c) if meta.ngram else None,
        precision="int8" if options.quantize else "fp32",
        quantization=parity.get("int8_variant", ""),
        head=meta.head,
        provenance=Provenance(
            base_model=meta.base_model,
            encoder=encoder_shape(model.encoder),
            sources=meta.sources,
            build_command=options.build_command,
            built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            versions=versions(),
        ),
        metrics={"dev": {k: meta.dev_metrics.get(k) for k in ("n", "accuracy", "macro_f1")}, "export": metrics},
        parity=parity,
        training={
            "settings": meta.train_config,
            "steps": meta.steps,
            "seconds": meta.seconds,
            "best_epoch": meta.best_epoch,
            "train_rows": meta.train_rows,
            "dev_rows": meta.dev_rows,
            "parent": meta.parent,
        },  # fmt: skip
    )


def runtime_metrics(stage: Path, notes: Sequence[LabelledNote], threads: int, delta: float) -> ModelSpec:
    """Record the verified runtime parity and the dev metrics of the model as users run it (n-gram blend included)."""
    from nlp.classifier import NoteClassifier
    from nlp.model_folder import update_model_spec

    clf = NoteClassifier.load(stage, threads=threads, batch_size=RUNTIME_BATCH, keywords=False, backend="onnxruntime")
    export = dict(clf.spec.metrics["export"])
    if clf.has_ngram:
        export["blended_with_ngram"] = headline(notes, clf.predict_proba([n.text for n in notes]), clf.labels)
    parity = {**clf.spec.parity, "runtime_vs_checked_max_abs_dprob": delta}
    return update_model_spec(stage, metrics={**clf.spec.metrics, "export": export}, parity=parity)
