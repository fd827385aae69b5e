"""The commands on notes and scored files: report, keywords."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from nlp.cli_app import EXIT_USAGE, NotescoreCommand, app, fail
from nlp.errors import InputFormatError, NotescoreError, OutputPathError


@app.command(cls=NotescoreCommand)
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
        Optional[str],
        typer.Option(
            "--format", help="Input format: jsonl, json, csv, tsv, parquet or xlsx (default: from the extension)."
        ),
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
    from nlp.io import check_output_path, detect_format
    from nlp.report import ReportOptions, default_report_path, write_report

    try:
        detect_format(input, fmt)
        if input == "-" and output is None:
            raise InputFormatError("reading stdin: pass -o FILE.html for the report")
        if input != "-" and not Path(input).is_file():
            found = "a folder" if Path(input).is_dir() else "nothing"
            raise InputFormatError(f"input {input}: expected a scored file; found {found}. Run 'notescore score'?")
    except (InputFormatError, OutputPathError) as exc:
        raise fail(str(exc), EXIT_USAGE) from exc
    options = ReportOptions(
        date_field=date_field, by=tuple(by or ()), text_field=text_field, title_field=title_field,
        top_keywords=top_keywords, examples=examples, top_values=top_values,
    )  # fmt: skip
    target = output or str(default_report_path(input))
    try:
        check_output_path(target, "report")
        summary = write_report(input, target, input_format=fmt, options=options, model_dir=model, title=title)
    except (InputFormatError, OutputPathError) as exc:
        raise fail(str(exc), EXIT_USAGE) from exc
    except NotescoreError as exc:
        raise fail(str(exc)) from exc
    if not quiet:
        skipped = f"; {summary.skipped:,} rows skipped (see the report)" if summary.skipped else ""
        typer.echo(f"report of {summary.notes:,} notes written to {summary.output}{skipped}", err=True)


@app.command(cls=NotescoreCommand)
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

    if _looks_like_missing_file(source):
        raise fail(
            f"{source}: no such file; to extract keywords from this text itself, pass it with a space "
            f"or as - on stdin (echo '{source}' | notescore keywords -)",
            EXIT_USAGE,
        )
    for number, item in _keyword_inputs(source):
        if isinstance(item, NotescoreError):
            typer.echo(f"notescore: line {number}: {getattr(item, 'reason', item)}", err=True)
            continue
        text, title = item
        found = extract_keywords(text, title, top_k)
        typer.echo(json.dumps({"keywords": found}, ensure_ascii=False) if as_json else " | ".join(found))


def _looks_like_missing_file(source: str) -> bool:
    """A one-word argument ending in a file extension (``notes.jsonl``, ``dump.csv.gz``) that is not a file."""
    from nlp.compression import COMPRESSIONS
    from nlp.formats import FORMATS

    if source == "-" or any(c.isspace() for c in source) or Path(source).exists():
        return False
    suffixes = [s.lower() for s in Path(source).suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes = suffixes[:-1]
    known = {e for f in FORMATS.values() for e in f.extensions} | {".txt"}
    return bool(suffixes) and suffixes[-1] in known


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
