"""Two models on the same labelled notes, side by side (``notescore evaluate MODEL DATA --compare OTHER``).

The weekly loop's "did it help?": the model before retraining and after, on a
team's held-out rows — accuracy, macro-F1, per-label precision/recall/F1, per
source, and which notes changed their label (fixed: wrong before, right after;
broken: the other way round).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nlp.errors import ModelFormatError
from nlp.evaluation import evaluate_predictions, predicted_labels, read_evaluation_notes
from nlp.records import LabelledNote


def compare_notes(model, other, notes: Sequence[LabelledNote]) -> dict[str, Any]:
    """Evaluate ``other`` (before) and ``model`` (after) on the same notes.

    Args:
        model: the :class:`~nlp.classifier.NoteClassifier` evaluated ("after").
        other: the one it is compared with ("before").
        notes: labelled notes.

    Returns:
        ``{"before": report, "after": report, "changes": {...}, "models": {...}}``; the
        reports are :func:`~nlp.evaluation.evaluate_notes`' (keywords left out: both
        models share the extractor).

    Raises:
        ModelFormatError: the two models do not have the same labels.
    """
    if tuple(model.labels) != tuple(other.labels):
        raise ModelFormatError(
            f"cannot compare models with different labels: {list(model.labels)} and {list(other.labels)}"
        )
    labels = list(model.labels)
    before = predicted_labels(other, notes)
    after = predicted_labels(model, notes)
    right_before = [b in n.allowed for n, b in zip(notes, before, strict=True)]
    right_after = [a in n.allowed for n, a in zip(notes, after, strict=True)]
    changes = {
        "changed": sum(a != b for a, b in zip(after, before, strict=True)),
        "fixed": sum(a and not b for a, b in zip(right_after, right_before, strict=True)),
        "broken": sum(b and not a for a, b in zip(right_after, right_before, strict=True)),
    }
    return {
        "models": {"before": str(other.folder), "after": str(model.folder)},
        "before": evaluate_predictions(notes, before, labels, keywords=False),
        "after": evaluate_predictions(notes, after, labels, keywords=False),
        "changes": changes,
    }


def compare_files(model, other, paths: Sequence[str]) -> dict[str, Any]:
    """:func:`compare_notes` on labelled files; unusable rows are counted as skipped.

    Raises:
        InputFormatError: a file cannot be opened.
        ModelFormatError: the models' labels differ.
    """
    notes, skipped = read_evaluation_notes(paths, model.labels)
    report = compare_notes(model, other, notes)
    report.update(files=list(paths), skipped=len(skipped), skipped_rows=skipped[:50])
    return report


def _rows(m: dict[str, Any]) -> list[tuple[str, float | None]]:
    rows: list[tuple[str, float | None]] = [("accuracy", m["accuracy"] if m["n"] else None),
                                            ("macro-F1", m["macro_f1"] if m["n"] else None)]  # fmt: skip
    for label, s in m["per_label"].items():
        for key in ("precision", "recall", "f1"):
            rows.append((f"{label} {key}", s[key] if s["support"] or key == "precision" else None))
    if m.get("n_partial"):
        rows.append(("one-sided: in allowed set", m["allowed_accuracy"]))
    return rows


def format_comparison(report: dict[str, Any]) -> str:
    """Render a comparison as a before / after / change table."""
    before, after = report["before"], report["after"]
    n = after["overall"]["n"]
    partial = after["overall"].get("n_partial", 0)
    lines = [
        f"before: {report['models']['before']}",
        f"after:  {report['models']['after']}",
        f"on {n} labelled notes" + (f" (+{partial} one-sided)" if partial else ""),
        "",
        f"{'':<32}{'before':>10}{'after':>10}{'change':>10}",
    ]
    sections = [("overall", before["overall"], after["overall"])]
    sections += [(f"source {s}", before["per_source"][s], m) for s, m in after.get("per_source", {}).items()]
    for name, b, a in sections:
        lines.append(f"== {name}")
        for (metric, vb), (_, va) in zip(_rows(b), _rows(a), strict=True):
            cells = [f"{v:>10.4f}" if v is not None else f"{'–':>10}" for v in (vb, va)]
            delta = f"{va - vb:>+10.4f}" if va is not None and vb is not None else f"{'':>10}"
            lines.append(f"  {metric:<30}{cells[0]}{cells[1]}{delta}")
    c = report["changes"]
    lines += ["", f"labels changed on {c['changed']} notes: fixed {c['fixed']}, broken {c['broken']}"]
    if report.get("skipped"):
        lines.append(f"skipped rows: {report['skipped']}")
    return "\n".join(lines)
