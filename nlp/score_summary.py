"""What a scoring job did (:class:`ScoreSummary`, ``--summary-json``) and which model did it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlp.atomic import AtomicWriter
from nlp.format_json import json_bytes
from nlp.model_folder import SPEC_FILE, sha256_file


@dataclass
class ScoreSummary:
    """What a scoring job did. ``rows_read == rows_scored + rows_failed`` always.

    ``rows_seen`` counts the input rows read to draw a ``--sample`` (else it equals
    ``rows_read``); ``stale_errors_removed`` names an errors file of an earlier run
    that this clean run removed. With ``--review``: the queue's path, the notes
    written to it and the notes that had a reason to be reviewed.
    """

    rows_read: int = 0
    rows_scored: int = 0
    rows_failed: int = 0
    seconds: float = 0.0
    labels: Counter = field(default_factory=Counter)
    input: str = "-"
    output: str = "-"
    errors_path: str | None = None
    stale_errors_removed: str | None = None
    rows_seen: int = 0
    model: dict[str, str] = field(default_factory=dict)
    review_path: str | None = None
    review_entries: int = 0
    review_candidates: int = 0

    @property
    def rows_per_second(self) -> float:
        """Scored rows per second of wall time."""
        return self.rows_scored / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data (what ``--summary-json`` writes)."""
        out = {
            "input": self.input,
            "output": self.output,
            "errors": self.errors_path,
            "stale_errors_removed": self.stale_errors_removed,
            "rows_seen": self.rows_seen,
            "rows_read": self.rows_read,
            "rows_scored": self.rows_scored,
            "rows_failed": self.rows_failed,
            "labels": dict(sorted(self.labels.items())),
            "seconds": round(self.seconds, 3),
            "notes_per_second": round(self.rows_per_second, 2),
            "model": self.model,
        }
        if self.review_path is not None:
            out["review"] = {"path": self.review_path, "entries": self.review_entries,
                             "candidates": self.review_candidates}  # fmt: skip
        return out


def model_info(classifier) -> dict[str, str]:
    """The model's name, folder and the SHA-256 of its ``notescore.json`` (which holds the hash of every file)."""
    spec_file = Path(classifier.folder) / SPEC_FILE
    digest = sha256_file(spec_file) if spec_file.is_file() else ""
    return {"name": classifier.spec.name, "folder": str(classifier.folder), "sha256": digest}


def write_summary(path: str, summary: ScoreSummary, no_clobber: bool) -> None:
    """Write the summary as JSON (atomically; ``-`` is stdout)."""
    writer = AtomicWriter(path, no_clobber=no_clobber)
    try:
        writer.stream.write(json_bytes(summary.to_dict()) + b"\n")
        writer.commit()
    except BaseException:
        writer.abort()
        raise
