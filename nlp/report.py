"""A report people can look at: one self-contained HTML file from a scored dump.

Stages: :func:`nlp.io.read_records` streams the output of ``notescore score``
(JSON Lines, CSV or Parquet); :mod:`nlp.report_rows` reads each row's result;
:class:`~nlp.report_aggregate.ReportBuilder` aggregates the rows in bounded
memory; :func:`load_card` reads the model card; :func:`nlp.report_html.render_html`
draws the page (inline CSS and SVG, no script, no network); :func:`write_report`
runs them in a row and writes the file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nlp.errors import NotescoreError
from nlp.io import AtomicWriter, read_records
from nlp.report_aggregate import Breakdown, Example, ReportBuilder, ReportData, ReportOptions, aggregate
from nlp.report_rows import Evidence, as_number, field_value, parse_evidence, scored_row

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelCard:
    """The model card summary shown at the foot of the report; ``error`` when it could not be read."""

    folder: str
    name: str = ""
    base_model: str = ""
    labels: tuple[str, ...] = ()
    training_data: tuple[dict[str, Any], ...] = ()
    metrics: tuple[tuple[str, dict[str, float]], ...] = ()
    error: str | None = None


def load_card(folder: str | Path | None = None) -> ModelCard:
    """The model card summary of a model folder; never raises.

    Args:
        folder: a model folder; the shipped model when None.

    Returns:
        A :class:`ModelCard`, with ``error`` set (and nothing else) when the folder
        or its ``notescore.json`` cannot be read.
    """
    from nlp.classifier import default_model_dir
    from nlp.model_folder import read_model_spec

    folder = Path(folder) if folder is not None else default_model_dir()
    try:
        shown = str(folder.resolve().relative_to(Path.cwd()))  # the path a reader of the report would type
    except ValueError:
        shown = str(folder)
    try:
        spec = read_model_spec(folder)
    except NotescoreError as exc:
        return ModelCard(folder=shown, error=str(exc))
    return ModelCard(
        folder=shown,
        name=spec.name,
        base_model=spec.provenance.base_model,
        labels=spec.labels,
        training_data=tuple({"name": s.name, "rows": s.rows, "license": s.license} for s in spec.provenance.sources),
        metrics=tuple(
            (str(name), {k: float(v) for k, v in m.items() if as_number(v) is not None and not isinstance(v, str)})
            for name, m in spec.metrics.items()
            if isinstance(m, dict)
        ),
    )


def default_report_path(input_path: str) -> Path:
    """Where the report goes when no output is given: ``scored.jsonl`` → ``scored.report.html`` beside it."""
    p = Path(input_path)
    stem = p.name.split(".")[0] or p.name
    return p.with_name(f"{stem}.report.html")


@dataclass(frozen=True)
class ReportSummary:
    """What :func:`write_report` did."""

    output: str
    rows_read: int
    notes: int
    skipped: int


def write_report(
    input_path: str,
    output_path: str,
    *,
    input_format: str | None = None,
    options: ReportOptions | None = None,
    model_dir: str | Path | None = None,
    title: str | None = None,
    now: datetime | None = None,
) -> ReportSummary:
    """Read a scored dump and write its HTML report.

    Args:
        input_path: the output of ``notescore score`` (JSON Lines, CSV or Parquet).
        output_path: the HTML file to write (replaced atomically).
        input_format: force the input format.
        options: what to aggregate.
        model_dir: the model whose card is summarised; the shipped model when None.
        title: the page title; "notescore report" when None.
        now: the time stamped on the report (now, when None).

    Returns:
        A :class:`ReportSummary`.

    Raises:
        InputFormatError: the input cannot be opened, or the output folder does not exist.

    Example:
        >>> write_report("scored.jsonl", "report.html", options=ReportOptions(by=("author",)))  # doctest: +SKIP
    """
    from nlp.report_html import render_html

    records = read_records(input_path, input_format)
    first = next(records, None)  # a missing input fails here, before any output exists
    writer = AtomicWriter(output_path)
    try:
        builder = ReportBuilder(Path(input_path).name if input_path != "-" else "stdin", options)
        if first is not None:
            builder.add(*first)
        for line, item in records:
            builder.add(line, item)
        data = builder.finish()
        page = render_html(data, load_card(model_dir), title=title, now=now or datetime.now(timezone.utc))
        writer.stream.write(page.encode("utf-8"))
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    log.info("report of %d notes (%d rows skipped) written to %s", data.notes, data.skipped, output_path)
    return ReportSummary(output=output_path, rows_read=data.rows_read, notes=data.notes, skipped=data.skipped)


__all__ = [
    "Breakdown",
    "Evidence",
    "Example",
    "ModelCard",
    "ReportBuilder",
    "ReportData",
    "ReportOptions",
    "ReportSummary",
    "aggregate",
    "default_report_path",
    "field_value",
    "load_card",
    "parse_evidence",
    "scored_row",
    "write_report",
]
