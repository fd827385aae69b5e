"""``notescore score``: parse the options, check every path, load the model, score, summarise.

SIGTERM is handled as SIGINT is: the job stops, its temporary files are removed,
one line says so, and the exit code is 143 (130 for SIGINT).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from nlp.cli_app import (
    EXIT_INTERRUPTED,
    EXIT_ROWS_FAILED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    NotescoreCommand,
    app,
    fail,
    load_classifier,
)
from nlp.errors import InputFormatError, NotescoreError, OutputPathError

_FORMATS = "jsonl, json, csv, tsv, parquet or xlsx"


class _Terminated(BaseException):
    """SIGTERM, raised where the job is so that every writer cleans up on the way out."""


@contextlib.contextmanager
def _sigterm_raises():
    def handler(signum, frame):
        raise _Terminated

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (an embedding application): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
            self.enabled = False


def _delimiter(value: Optional[str]) -> Optional[str]:
    """``tab`` and ``\\t`` mean a tab."""
    if value is None:
        return None
    return {"tab": "\t", "\\t": "\t", "TAB": "\t"}.get(value, value)


_HELP = {
    "input": f"Notes file ({_FORMATS}; + .gz or .zst) or - for stdin.",
    "output": "Output file (format from its extension); - is stdout.",
    "model": "Model folder (default: the shipped model).",
    "format": f"Input format: {_FORMATS} (default: from the extension).",
    "output_format": "Output format: jsonl, json, csv, tsv or parquet (default: from the extension; jsonl on stdout).",
    "encoding": "Text encoding of JSON/CSV/TSV input, e.g. gb18030, gbk, utf-16.",
    "delimiter": "CSV/TSV field separator, e.g. ';' or tab (default: , for CSV, tab for TSV).",
    "text_field": "Field holding the note body (default: first of text, content, desc, description, body, note).",
    "title_field": "Field holding the title (default: title, when present).",
    "errors": "Where rows that cannot be scored go (default: OUTPUT's name + .errors.jsonl, beside it).",
    "summary_json": "Also write the run's summary here as JSON (rows, labels, notes/s, the model and its hash).",
    "limit": "Read only the first N rows (default: all).",
    "sample": "Score a uniform random sample of N rows, kept in input order (default: all rows).",
    "seed": "Random seed of --sample.",
    "prefix": "Key (and column prefix) the results are written under.",
    "strict": "Stop at the first row that cannot be scored.",
    "no_clobber": "Never replace an existing output, errors or summary file.",
    "mkdir": "Create missing output folders.",
    "csv_raw": "Write CSV/TSV cells as they are: no ' before =, +, -, @ (formula neutralisation off).",
    "batch_size": "Notes per inference batch.",
    "threads": "Inference threads (default: all cores).",
    "backend": "Inference backend: auto (ONNX Runtime: the fastest batch-invariant one measured), onnxruntime "
    "or openvino "
    "(pip install 'notescore[openvino]').",
    "quiet": "No progress bar or summary.",
    "explain": "Add the evidence of each label with probability >= 0.2: the spans whose deletion lowers it "
    '("evidence" in the results; a notescore_evidence JSON column in CSV/Parquet). About 2.5x slower.',
    "threshold": "Give LABEL only when its calibrated score reaches VALUE, e.g. sponsored=0.7 (repeatable): "
    "higher for precision, lower for recall; see the model card's precision-recall tables.",
    "review": "Also write the notes a person should check to this file (JSON Lines, best first): low margin, "
    "the transformer and the n-gram model disagreeing, or out of distribution.",
    "review_max": "The most notes the review queue keeps.",
}


@app.command(cls=NotescoreCommand)
def score(
    input: Annotated[str, typer.Argument(help=_HELP["input"])],
    output: Annotated[str, typer.Option("--output", "-o", help=_HELP["output"])] = "-",
    model: Annotated[Optional[Path], typer.Option("--model", "-m", help=_HELP["model"])] = None,
    fmt: Annotated[Optional[str], typer.Option("--format", help=_HELP["format"])] = None,
    output_format: Annotated[Optional[str], typer.Option("--output-format", help=_HELP["output_format"])] = None,
    encoding: Annotated[str, typer.Option(help=_HELP["encoding"])] = "utf-8",
    delimiter: Annotated[Optional[str], typer.Option(help=_HELP["delimiter"])] = None,
    text_field: Annotated[Optional[str], typer.Option(help=_HELP["text_field"])] = None,
    title_field: Annotated[Optional[str], typer.Option(help=_HELP["title_field"])] = None,
    errors: Annotated[Optional[str], typer.Option("--errors", help=_HELP["errors"])] = None,
    summary_json: Annotated[Optional[Path], typer.Option("--summary-json", help=_HELP["summary_json"])] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help=_HELP["limit"])] = None,
    sample: Annotated[Optional[int], typer.Option(min=1, help=_HELP["sample"])] = None,
    seed: Annotated[int, typer.Option(help=_HELP["seed"])] = 0,
    prefix: Annotated[str, typer.Option(help=_HELP["prefix"])] = "notescore",
    strict: Annotated[bool, typer.Option("--strict", help=_HELP["strict"])] = False,
    no_clobber: Annotated[bool, typer.Option("--no-clobber", help=_HELP["no_clobber"])] = False,
    mkdir: Annotated[bool, typer.Option("--mkdir", help=_HELP["mkdir"])] = False,
    csv_raw: Annotated[bool, typer.Option("--csv-raw", help=_HELP["csv_raw"])] = False,
    batch_size: Annotated[int, typer.Option(min=1, help=_HELP["batch_size"])] = 32,
    threads: Annotated[Optional[int], typer.Option(min=1, help=_HELP["threads"])] = None,
    backend: Annotated[str, typer.Option(help=_HELP["backend"])] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help=_HELP["quiet"])] = False,
    explain: Annotated[bool, typer.Option("--explain", help=_HELP["explain"])] = False,
    threshold: Annotated[
        Optional[list[str]], typer.Option("--threshold", metavar="LABEL=VALUE", help=_HELP["threshold"])
    ] = None,
    review: Annotated[Optional[str], typer.Option("--review", metavar="PATH", help=_HELP["review"])] = None,
    review_max: Annotated[int, typer.Option("--review-max", min=1, help=_HELP["review_max"])] = 1000,
) -> None:
    """Score a dump of notes: label, probabilities and keywords for every row.

    Every output record is the input record plus a "notescore" key (JSON), or
    notescore_* columns (CSV, TSV, Parquet). Rows that cannot be scored go to the
    errors file with their line number and reason; exit code 3 then. Exit 2: a
    usage error, nothing written; 1: other errors; 143: stopped by SIGTERM.
    """
    from nlp.formats import ReadOptions, WriteOptions
    from nlp.scoring import ScoreOptions, plan_outputs

    try:
        options = ScoreOptions(
            input_format=fmt, output_format=output_format, text_field=text_field, title_field=title_field,
            read=ReadOptions(encoding=encoding, delimiter=_delimiter(delimiter)), write=WriteOptions(csv_raw=csv_raw),
            errors_path=errors, summary_path=summary_json, strict=strict, no_clobber=no_clobber, mkdir=mkdir,
            prefix=prefix, limit=limit, sample=sample, seed=seed, explain=explain, review_path=review,
            review_max=review_max,
        )  # fmt: skip
        thresholds = parse_thresholds(threshold or [])
        plan_outputs(input, output, input_format=fmt, output_format=output_format, errors_path=errors,
                     summary_path=summary_json, no_clobber=no_clobber, mkdir=mkdir, review_path=review)  # fmt: skip
    except (InputFormatError, OutputPathError, ValueError) as exc:
        raise fail(str(exc), EXIT_USAGE) from exc
    with _sigterm_raises():
        try:
            classifier = load_classifier(model, threads, batch_size, thresholds=thresholds, backend=backend)
            summary = _run(input, output, classifier, options, quiet)
        except _Terminated:
            raise fail("terminated (SIGTERM): stopped; temporary files removed", EXIT_TERMINATED) from None
        except KeyboardInterrupt:
            raise fail("interrupted (SIGINT): stopped; temporary files removed", EXIT_INTERRUPTED) from None
    if not quiet:
        _print_summary(summary)
    if summary.rows_failed:
        raise typer.Exit(EXIT_ROWS_FAILED)


def parse_thresholds(items: list[str]) -> dict[str, float]:
    """``--threshold LABEL=VALUE`` options as a dict (the labels are checked against the model on load).

    Raises:
        ValueError: an item that is not ``LABEL=VALUE`` with VALUE a number in (0, 1], or a label given twice.
    """
    out: dict[str, float] = {}
    for item in items:
        label, sep, raw = item.partition("=")
        label = label.strip()
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not sep or not label or not 0.0 < value <= 1.0:
            raise ValueError(f"--threshold {item!r}: expected LABEL=VALUE with VALUE in (0, 1], e.g. sponsored=0.7")
        if label in out:
            raise ValueError(f"--threshold {label} given twice ({out[label]:g} and {value:g}); keep one")
        out[label] = value
    return out


def _run(input: str, output: str, classifier, options, quiet: bool):
    """Score with a progress bar; library errors become one line and an exit code."""
    from nlp.io import count_rows
    from nlp.scoring import FieldCollisionError, StrictModeError, score_file

    # Counting rows is a full pass over the file: only worth it when a bar is shown.
    show = not quiet and sys.stderr.isatty()
    total = count_rows(input, options.input_format) if show and input != "-" else None
    for cap in (options.limit, options.sample):
        if total is not None and cap:
            total = min(total, cap)
    progress = _Progress(total, enabled=show)
    try:
        return score_file(input, output, classifier, options, on_progress=progress)
    except StrictModeError as exc:
        raise fail(f"{input} {exc} (--strict: stopped; nothing written)", EXIT_ROWS_FAILED) from exc
    except FieldCollisionError as exc:
        raise fail(f"{input} {exc}", EXIT_USAGE) from exc
    except (InputFormatError, OutputPathError) as exc:
        raise fail(str(exc), EXIT_USAGE) from exc
    except NotescoreError as exc:
        raise fail(str(exc)) from exc
    finally:
        progress.close()


def _print_summary(summary) -> None:
    labels = ", ".join(f"{k} {v:,}" for k, v in sorted(summary.labels.items()))
    sampled = f" (sampled from {summary.rows_seen:,})" if summary.rows_seen > summary.rows_read else ""
    typer.echo(
        f"read {summary.rows_read:,} rows{sampled}: scored {summary.rows_scored:,}, failed {summary.rows_failed:,} "
        f"in {summary.seconds:.1f}s ({summary.rows_per_second:,.1f} rows/s)" + (f"; {labels}" if labels else ""),
        err=True,
    )
    if summary.errors_path:
        typer.echo(f"rows that could not be scored: {summary.errors_path}", err=True)
    if summary.review_path:
        typer.echo(f"review queue: the best {summary.review_entries:,} of {summary.review_candidates:,} notes with a "
                   f"reason to check, in {summary.review_path}", err=True)  # fmt: skip
    if summary.stale_errors_removed:
        typer.echo(f"removed {summary.stale_errors_removed}, left by an earlier run: no row failed this time", err=True)
