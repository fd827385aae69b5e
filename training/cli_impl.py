"""What the ``train`` and ``export`` CLI commands call (imports torch lazily).

Kept apart from :mod:`nlp.cli` so that the scoring path never imports torch.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("training")


def _logging(quiet: bool) -> None:
    if not quiet and not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False  # onnxruntime configures the root logger; avoid double lines


def run_train(
    data: list[str],
    out: Path,
    dev: list[str] | None,
    config_path: Path | None,
    sets: list[str],
    base: Path | None,
    overrides: dict[str, Any],
    quiet: bool = False,
) -> str:
    """Load data, build the config, train; returns a one-paragraph summary."""
    _logging(quiet)
    from training.base_model import ensure_base
    from training.config import build_config
    from training.data import cap_sources, load_notes, split_dev
    from training.train import train

    config = build_config(config_path, sets, **overrides)
    if base is not None:
        config.base = str(base)
    base_dir = Path(config.base) if config.base else ensure_base()
    notes = cap_sources(load_notes(data, config.labels), config.max_rows_per_source, config.seed)
    if dev:
        train_notes, dev_notes = notes, load_notes(dev, config.labels)
    else:
        train_notes, dev_notes = split_dev(notes, config.dev_fraction, config.seed)
    result = train(config, train_notes, dev_notes, out, base_dir)
    return (
        f"trained {result.steps} steps in {result.seconds:.0f}s; best dev macro-F1 "
        f"{result.best_dev_macro_f1:.4f} at epoch {result.best_epoch:.2f}; checkpoint: {result.checkpoint}\n"
        f"next: notescore export {result.checkpoint} MODEL_DIR"
    )


def run_retrain(
    added: list[str], out: Path, notes: Path | None, base: Path | None, real: bool, sets: list[str],
    overrides: dict[str, Any], weight: float, quiet: bool = False,
) -> str:  # fmt: skip
    """The shipped recipe plus reviewed rows (``train --add``); returns a summary."""
    _logging(quiet)
    from training.config import build_config
    from training.loop import retrain
    from training.make_model import NOTES

    # --set and the options override the recipe's settings, validated as TrainConfig fields.
    named = {k: v for k, v in overrides.items() if v is not None}
    config = build_config(None, sets, **named)
    keys = {s.split("=", 1)[0].strip().replace("-", "_") for s in sets} | set(named)
    settings = {k: getattr(config, k) for k in keys}
    command = " ".join(["notescore train", *(f"--add {a}" for a in added), f"--out {out}"])
    result = retrain(out, added, notes=notes or NOTES, base=base, real=real, settings=settings, weight=weight,
                     command=command)  # fmt: skip
    test = result["metrics"].get("notescore-notes test", {})
    shown = f"test macro-F1 {test['macro_f1']:.4f}; " if "macro_f1" in test else ""
    return (
        f"added {result['added']} reviewed rows at weight {weight:g} ({result['unreviewed']} without a label "
        f"skipped, {result['in_test']} already in the test split); {shown}model: {out}\n"
        f"next: notescore evaluate {out} YOUR_HELD_OUT.jsonl --compare MODEL_BEFORE"
    )


def run_distill(
    teacher: Path, out: Path, layers: int, data: list[str], unlabelled: list[str], limit: int,
    dev: list[str] | None, sets: list[str], quiet: bool = False,
) -> str:  # fmt: skip
    """Distil a teacher checkpoint into a student; returns a summary."""
    _logging(quiet)
    from nlp.model_folder import read_checkpoint_meta
    from training.config import build_config
    from training.data import load_notes
    from training.distill import distill, unlabelled_notes

    meta = read_checkpoint_meta(teacher)
    config = build_config(None, sets, head=meta.head, max_length=meta.truncation.max_length)
    notes = load_notes(data, config.labels) if data else []
    notes += unlabelled_notes(unlabelled, config.labels, limit, config.seed)
    dev_notes = load_notes(dev or [str(teacher / "dev.jsonl")], config.labels)
    result = distill(teacher, out, config, notes, dev_notes, layers)
    return (
        f"student trained {result.steps} steps in {result.seconds:.0f}s; best dev macro-F1 "
        f"{result.best_dev_macro_f1:.4f}; checkpoint: {result.checkpoint}\n"
        f"next: notescore export {result.checkpoint} MODEL_DIR"
    )


def run_export(
    checkpoint: Path, out: Path, dev: list[str] | None, quantize: bool, trim: bool, quiet: bool = False,
    name: str | None = None, int8: str = "static",
) -> str:  # fmt: skip
    """Export a checkpoint; returns a summary of the parity report."""
    _logging(quiet)
    from nlp.model_folder import read_checkpoint_meta
    from training.data import load_notes
    from training.export import export_model

    notes = load_notes(dev, read_checkpoint_meta(checkpoint).labels) if dev else None
    command = f"notescore export {checkpoint} {out}" + (f" --int8 {int8}" if quantize else " --no-quantize")
    report = export_model(checkpoint, out, dev_notes=notes, quantize=quantize, trim=trim,
                          name=name or out.name, build_command=command, int8=int8)  # fmt: skip
    parity = report["parity"]
    shown = ", ".join(f"{k}: {v:.4g}" for k, v in parity.items() if isinstance(v, float))
    return f"exported to {out} ({report['folder_mb']:.1f} MB)\n{shown}"
