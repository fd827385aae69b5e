"""Inputs for the benchmark: the seeded workload and the models built in bench/work/.

Everything here is cached under ``bench/work/`` (git-ignored) and rebuilt when its
inputs change (a stamp file records what a folder was built from).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

log = logging.getLogger("bench")

NOTES = ROOT / "data" / "notes"
SAMPLE = ROOT / "data" / "sample_notes.jsonl"
SPLITS = ("train", "dev", "test")
MAX_LENGTH = 128
HEAD_FRACTION = 0.5
SEED = 20240601
FINETUNED_CHECKPOINT = ROOT / "runs" / "make_model" / "checkpoint"


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    return rows


def corpus_files() -> list[Path]:
    """The project's notes: data/notes/{train,dev,test}.jsonl, else data/notes/parts/*.jsonl; plus the demo sample."""
    split_files = [NOTES / f"{s}.jsonl" for s in SPLITS]
    files = split_files if all(p.is_file() for p in split_files) else sorted((NOTES / "parts").glob("*.jsonl"))
    if SAMPLE.is_file():
        files.append(SAMPLE)
    return files


def corpus() -> tuple[list[dict[str, Any]], list[str]]:
    """Every usable note of the project's data (records kept as they are)."""
    from nlp.errors import RecordError
    from nlp.records import pick_text

    rows, used = [], []
    for path in corpus_files():
        kept = 0
        for n, r in enumerate(_read_jsonl(path), 1):
            try:
                pick_text(r, n, None, None)
            except RecordError:
                continue
            rows.append(r)
            kept += 1
        used.append(f"{path.relative_to(ROOT)} ({kept})")
    if not rows:
        raise SystemExit("bench: no notes found under data/notes (nor data/sample_notes.jsonl)")
    return rows, used


def write_jsonl(path: Path, rows) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    tmp.replace(path)


def build_workload(work: Path, n: int, seed: int = SEED) -> tuple[Path, dict[str, Any]]:
    """``n`` notes drawn uniformly with replacement (seeded) from the project's notes.

    Uniform draws keep the corpus's real mix of lengths, languages and labels.
    """
    pool, used = corpus()
    rng = random.Random(seed)
    rows = [pool[rng.randrange(len(pool))] for _ in range(n)]
    path = work / f"workload_{n}_{seed}.jsonl"
    write_jsonl(path, rows)
    return path, {"notes": n, "seed": seed, "pool": len(pool), "sources": used, "file": str(path.relative_to(ROOT))}


def repeat_workload(src: Path, n: int) -> Path:
    """The first ``n`` rows of the workload, cycled when ``n`` is larger (the scaling inputs)."""
    dst = src.with_name(f"{src.stem}_x{n}.jsonl")
    lines = src.read_bytes().splitlines(keepends=True)
    with open(dst, "wb") as f:
        for i in range(n):
            f.write(lines[i % len(lines)])
    return dst


def labelled_test(work: Path, n_fallback: int = 400) -> tuple[Path, str]:
    """The labelled test split; before it exists, a seeded sample of data/notes/parts (a stand-in)."""
    test = NOTES / "test.jsonl"
    if test.is_file():
        return test, str(test.relative_to(ROOT))
    rows = [r for p in sorted((NOTES / "parts").glob("*.jsonl")) for r in _read_jsonl(p) if r.get("label")]
    rng = random.Random(SEED + 1)
    rows = rng.sample(rows, min(n_fallback, len(rows)))
    path = work / "test_standin.jsonl"
    write_jsonl(path, rows)
    return path, f"stand-in: {len(rows)} seeded notes of data/notes/parts (data/notes/test.jsonl not there yet)"


# ------------------------------------------------------------------ models


def _stamp(folder: Path) -> Path:
    # beside the folder: a model folder holds only the files its notescore.json lists
    return folder.with_name(folder.name + ".stamp.json")


def _stamp_ok(folder: Path, key: dict[str, Any]) -> bool:
    stamp = _stamp(folder)
    return folder.is_dir() and stamp.is_file() and json.loads(stamp.read_text()) == key


def _write_stamp(folder: Path, key: dict[str, Any]) -> None:
    _stamp(folder).write_text(json.dumps(key, indent=2))


def _texts(rows: list[dict[str, Any]]) -> list[str]:
    from nlp.encoding import compose_text
    from nlp.records import pick_text

    out = []
    for n, r in enumerate(rows, 1):
        text, title = pick_text(r, n)
        out.append(compose_text(text, title))
    return out


def bench_checkpoint(work: Path, base: Path, rows: list[dict[str, Any]]) -> Path:
    """NoteModel(base encoder, seeded random head) saved as a training checkpoint."""
    import torch
    from tokenizers import Tokenizer

    from nlp.encoding import load_translate_table
    from nlp.model_folder import LABELS, CheckpointMeta, Truncation
    from training.model import NoteModel, load_encoder, save_checkpoint

    folder = work / "models" / "checkpoint"
    key = {"base": str(base), "seed": SEED, "n_rows": len(rows), "max_length": MAX_LENGTH, "v": 1}
    if _stamp_ok(folder, key):
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    log.info("building the bench checkpoint (base encoder + seeded random head) in %s", folder)
    torch.manual_seed(SEED)
    model = NoteModel(load_encoder(base), len(LABELS)).eval()
    table = load_translate_table(base / "normalization.json")
    tok = Tokenizer.from_file(str(base / "tokenizer.json"))
    seen: set[int] = set()
    for enc in tok.encode_batch([t.translate(table) for t in _texts(rows)], add_special_tokens=False):
        seen.update(enc.ids)
    meta = CheckpointMeta(
        truncation=Truncation(MAX_LENGTH, HEAD_FRACTION),
        seen_piece_ids=tuple(sorted(seen)),
        base_model=f"{base} (bench stand-in: random head, seed {SEED}; speed does not depend on weights)",
    )
    save_checkpoint(model, folder, meta)
    for name in ("tokenizer.json", "normalization.json"):
        shutil.copyfile(base / name, folder / name)
    _write_stamp(folder, key)
    return folder


def export_precision(ckpt: Path, out: Path, precision: str) -> dict[str, Any]:
    """``export_model`` of a checkpoint at one precision (``fp32``, ``int8 static``, ``int8 dynamic``) into ``out``.

    Cached by the checkpoint weights' mtime/size. Parity is checked on the checkpoint's
    ``dev.jsonl`` (else data/notes/dev.jsonl), as ``notescore export`` does.

    Raises:
        NotescoreError: the export failed a parity check (ExportError) or the checkpoint is unusable.
    """
    from nlp.model_folder import LABELS
    from nlp.records import read_labelled
    from training.export import export_model

    weights = ckpt / "model.safetensors"
    key = {"checkpoint": str(ckpt), "weights_mtime": weights.stat().st_mtime, "weights_size": weights.stat().st_size,
           "precision": precision, "v": 3}  # fmt: skip
    report_path = out.with_name(out.name + ".report.json")
    if _stamp_ok(out, key) and report_path.is_file():
        return json.loads(report_path.read_text())
    log.info("exporting %s -> %s (%s)", ckpt, out, precision)
    dev = None if (ckpt / "dev.jsonl").is_file() else read_labelled([str(NOTES / "dev.jsonl")], LABELS)
    kwargs: dict[str, Any] = {"quantize": False} if precision == "fp32" else {"int8": precision.split()[-1]}
    report = export_model(ckpt, out, dev_notes=dev, name=out.name, threads=2, **kwargs)
    report_path.write_text(json.dumps(report, indent=2, default=str))
    _write_stamp(out, key)
    return report


def untrained_student(teacher_ckpt: Path, work: Path, layers: int) -> Path:
    """A checkpoint keeping ``layers`` of the teacher's layers, not distilled (for speed rows only)."""
    from training.student import make_student

    folder = work / "models" / f"untrained-{layers}L-checkpoint"
    weights = teacher_ckpt / "model.safetensors"
    key = {"teacher": str(teacher_ckpt), "mtime": weights.stat().st_mtime, "layers": layers, "v": 1}
    if _stamp_ok(folder, key):
        return folder
    log.info("cutting %d layers of %s into %s (untrained: speed only)", layers, teacher_ckpt, folder)
    make_student(teacher_ckpt, folder, layers)
    _write_stamp(folder, key)
    return folder


def pipeline_folder(work: Path, base: Path, ckpt: Path) -> Path:
    """A BertForSequenceClassification folder for ``pipeline("text-classification")``.

    Encoder: the base's weights (those of the bench checkpoint); classifier: the
    checkpoint's head; pooler: seeded random (BERT's sequence-classification head
    reads a tanh-pooled [CLS] instead of NoteModel's mean; one 384x384 matmul per
    note). Tokenizer: the base's tokenizer.json via PreTrainedTokenizerFast with
    model_max_length 128; the worker applies normalization.json before it.
    """
    import torch
    from safetensors.torch import load_file
    from transformers import BertForSequenceClassification, PreTrainedTokenizerFast
    from transformers.utils import logging as hf_logging

    from nlp.model_folder import LABELS

    folder = work / "models" / "pipeline"
    key = {"base": str(base), "checkpoint": str(ckpt), "seed": SEED, "v": 1}
    if _stamp_ok(folder, key):
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    hf_logging.set_verbosity_error()
    torch.manual_seed(SEED)
    model = BertForSequenceClassification.from_pretrained(
        str(base),
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )
    state = load_file(str(ckpt / "model.safetensors"))
    with torch.no_grad():
        model.classifier.weight.copy_(state["head.weight"])
        model.classifier.bias.copy_(state["head.bias"])
    model.save_pretrained(str(folder))
    tok = PreTrainedTokenizerFast(
        tokenizer_file=str(base / "tokenizer.json"),
        bos_token="<s>",
        eos_token="</s>",
        cls_token="<s>",
        sep_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=MAX_LENGTH,
    )
    tok.save_pretrained(str(folder))
    shutil.copyfile(base / "normalization.json", folder / "normalization.json")
    _write_stamp(folder, key)
    return folder


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()[:16]
