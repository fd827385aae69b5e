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
    from training.data import load_rows, to_examples
    from training.train import cap_sources, split_dev, train

    config = build_config(config_path, sets, **overrides)
    if base is not None:
        config.base = str(base)
    base_dir = Path(config.base) if config.base else ensure_base()
    examples = to_examples(load_rows(data), config.labels)
    examples = cap_sources(examples, config.max_rows_per_source, config.seed)
    if dev:
        train_ex, dev_ex = examples, to_examples(load_rows(dev), config.labels)
    else:
        train_ex, dev_ex = split_dev(examples, config.dev_fraction, config.seed)
    result = train(config, train_ex, dev_ex, out, base_dir)
    return (
        f"trained {result.steps} steps in {result.seconds:.0f}s; best dev macro-F1 "
        f"{result.best_dev_macro_f1:.4f} at epoch {result.best_epoch:.2f}; checkpoint: {result.checkpoint}\n"
        f"next: notescore export {result.checkpoint} MODEL_DIR"
    )


def run_export(
    checkpoint: Path, out: Path, dev: list[str] | None, quantize: bool, trim: bool, quiet: bool = False
) -> str:
    """Export a checkpoint; returns a summary of the parity report."""
    _logging(quiet)
    from training.data import load_rows
    from training.export import export_model

    records = None
    if dev:
        records = [dict(r) for _, _, r in load_rows(dev)]
    report = export_model(checkpoint, out, dev_records=records, quantize=quantize, trim=trim)
    shown = ", ".join(f"{k}: {v}" for k, v in report.items() if not isinstance(v, (dict, list)))
    return f"exported to {out}\n{shown}"
