"""A scored row, whatever format it came in: the ``notescore`` object (JSON Lines) or the
``notescore_*`` columns (CSV, Parquet), with the optional evidence of ``score --explain``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nlp.evidence import Evidence, as_number, parse_evidence
from nlp.scoring import OUTPUT_KEY

__all__ = ["Evidence", "ScoredRow", "as_number", "field_value", "parse_evidence", "scored_row"]

_FLAT_RESERVED = {"label", "keywords", "evidence", "model"}


@dataclass(frozen=True)
class ScoredRow:
    """The ``notescore`` result of one row, whatever format it came in."""

    label: str
    scores: dict[str, float]
    keywords: tuple[str, ...]
    evidence: tuple[Evidence, ...]
    model: str | None


def scored_row(record: dict[str, Any]) -> ScoredRow:
    """The notescore result of a record: the ``notescore`` object, or the ``notescore_*`` columns.

    Args:
        record: one row of ``notescore score`` output (JSON Lines, CSV or Parquet).

    Returns:
        The :class:`ScoredRow`.

    Raises:
        ValueError: the row carries no result, or a malformed one (the message says which).
    """
    result = record.get(OUTPUT_KEY)
    if isinstance(result, str) and result.startswith("{"):
        result = json.loads(result)
    if isinstance(result, dict):
        label, raw_scores, keywords = result.get("label"), result.get("scores"), result.get("keywords", [])
        evidence, model = result.get("evidence"), result.get("model")
    elif "notescore_label" in record:
        label, keywords = record.get("notescore_label"), record.get("notescore_keywords") or ""
        # Score columns are the numeric notescore_* ones: a column added later (a version, say) is not a label.
        raw_scores = {
            k[len("notescore_") :]: v
            for k, v in record.items()
            if k.startswith("notescore_") and k[len("notescore_") :] not in _FLAT_RESERVED and as_number(v) is not None
        }
        keywords = [k for k in keywords.split("|") if k] if isinstance(keywords, str) else keywords
        evidence, model = record.get("notescore_evidence"), record.get("notescore_model")
    else:
        raise ValueError("no notescore result (neither a 'notescore' object nor notescore_* columns)")
    if not isinstance(label, str) or not label:
        raise ValueError("the notescore result has no label")
    if not isinstance(raw_scores, dict):
        raise ValueError("the notescore result has no scores")
    scores = {k: as_number(v) for k, v in raw_scores.items()}
    if any(v is None for v in scores.values()) or label not in scores:
        raise ValueError("the notescore scores are not numbers for every label")
    if not isinstance(keywords, list):
        keywords = []
    return ScoredRow(
        label=label,
        scores=scores,  # type: ignore[arg-type]
        keywords=tuple(str(k) for k in keywords),
        evidence=parse_evidence(evidence),
        model=str(model) if model else None,
    )


def field_value(record: dict[str, Any], path: str) -> Any:
    """The value of ``path`` in a record: a key, or ``a.b`` into nested objects.

    Nested objects written as JSON text (CSV and Parquet outputs) are read too.

    Example:
        >>> field_value({"user": '{"nickname": "舒舒"}'}, "user.nickname")
        '舒舒'
    """
    if path in record:
        return record[path]
    value: Any = record
    for part in path.split("."):
        if isinstance(value, str) and value.startswith("{"):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                return None
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value
