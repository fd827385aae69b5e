"""The evidence item of ``score --explain``, defined once: written by :mod:`nlp.explain`,
read back by the report.

An item is ``{"label", "text", "start", "end", "weight", "field"}``: a span of the
note that pushed the model towards ``label``, with character offsets (Python
string indices, i.e. Unicode code points) into the text the user gave, the title
when ``field`` is ``"title"`` and the body otherwise; ``weight`` is how much that
label's probability drops when the span is deleted.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Evidence:
    """A span of a note that pushed the model towards a label.

    Attributes:
        label: the label it is evidence for.
        text: the span itself.
        start: its first character in the field (0-based).
        end: one past its last character.
        weight: the drop of the label's probability when the span is deleted.
        field: ``"title"``, or the body field's name (``"text"`` in the library).
    """

    label: str
    text: str
    start: int
    end: int
    weight: float
    field: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The output form: ``{"label", "text", "start", "end", "weight", "field"}``."""
        out: dict[str, Any] = {"label": self.label, "text": self.text, "start": self.start, "end": self.end,
                               "weight": self.weight}  # fmt: skip
        if self.field is not None:
            out["field"] = self.field
        return out


def as_number(value: Any) -> float | None:
    """A finite number, or a string holding one, as a float; None for anything else (booleans, NaN included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def parse_evidence(raw: Any) -> tuple[Evidence, ...]:
    """Read the ``evidence`` list of a result (a list, or its JSON text in CSV/Parquet).

    Items that are not ``{"label", "text", "start", "end", "weight"[, "field"]}`` with
    ``0 <= start < end`` are left out; a report never fails on them.

    Example:
        >>> parse_evidence([{"label": "sponsored", "text": "链接", "start": 1, "end": 3, "weight": 0.4}])[0].end
        3
    """
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else []
        except json.JSONDecodeError:
            return ()
    if not isinstance(raw, list):
        return ()
    out = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        start, end = item.get("start"), item.get("end")
        if not (isinstance(start, int) and isinstance(end, int)) or isinstance(start, bool) or not 0 <= start < end:
            continue
        weight = as_number(item.get("weight"))
        where = item.get("field")
        out.append(
            Evidence(
                label=str(item.get("label", "")),
                text=str(item.get("text", "")),
                start=start,
                end=end,
                weight=weight if weight is not None else 0.0,
                field=where if isinstance(where, str) else None,
            )
        )
    return tuple(out)
