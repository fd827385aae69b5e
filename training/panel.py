"""The real-text panel: how a model labels real posts it was not trained on.

A score on the project's own written notes says little about a user's dump; this
panel says how the model labels real text. Each row is a slice of a third-party
corpus from ``../shared/data`` that the shipped model never trained on (the
corpora used only for evaluation, whole; the held-out half of the sampled ones —
see :func:`training.corpora.split_of`), with the **full label distribution** of the
model's predictions, the labels LABELS.md expects for that slice, and a target.

    notescore evaluate MODEL --panel          # prints the panel (needs ../shared/data)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlp.model_folder import LABELS
from nlp.records import labelled_note


@dataclass(frozen=True)
class PanelRow:
    """One slice of a real corpus and what the model should say about it.

    Attributes:
        name: the row's name in tables.
        corpus: the corpus (a key of :data:`training.corpora.CORPORA`).
        kinds: the corpus kinds in the slice (rumour, non-rumour, review, …).
        half: ``heldout`` for sampled corpora, None for corpora never trained on.
        expected: the labels counted as right.
        target: the least share of the slice that must get an expected label.
        at_most: label -> the largest share allowed (e.g. sponsored ≤ 0.05).
    """

    name: str
    corpus: str
    kinds: tuple[str, ...]
    half: str | None
    expected: tuple[str, ...]
    target: float | None
    at_most: dict[str, float] = field(default_factory=dict)


NOT_FALSE = ("genuine", "sponsored")
PANEL: tuple[PanelRow, ...] = (
    PanelRow("Weibo non-rumours (held-out half)", "weibo_rumor_ced", ("non-rumour",), "heldout", ("genuine",), 0.80,
             {"sponsored": 0.05}),
    PanelRow("Weibo rumours (held-out half)", "weibo_rumor_ced", ("rumour",), "heldout", ("possibly_false",), 0.85),
    PanelRow("HRDE health non-rumours (held-out half)", "hrde_health_rumor_zh", ("non-rumour",), "heldout",
             NOT_FALSE, 0.80),
    PanelRow("HRDE health rumours (held-out half)", "hrde_health_rumor_zh", ("rumour",), "heldout",
             ("possibly_false",), 0.85),
    PanelRow("COVID real posts (test split)", "covid_fakenews_constraint_test", ("real",), None, NOT_FALSE, 0.90),
    PanelRow("COVID fake posts (test split)", "covid_fakenews_constraint_test", ("fake",), None, ("possibly_false",),
             0.85),
    PanelRow("Hotel reviews (ChnSentiCorp)", "chnsenticorp_htl", ("review",), None, ("genuine",), 0.85),
    PanelRow("Delivery reviews (held-out half)", "waimai_10k", ("review",), "heldout", ("genuine",), 0.85),
    PanelRow("SMS spam (held-out half)", "sms_spam_uci", ("spam",), "heldout", ("sponsored", "possibly_false"), 0.85),
    PanelRow("SMS ham (held-out half)", "sms_spam_uci", ("ham",), "heldout", ("genuine",), 0.85),
    PanelRow("Game-chat ads (held-out half)", "game_chat_ads_zh", ("ad",), "heldout", ("sponsored",), 0.85),
    # The corpus's "not an ad" lines hold ads by its own definition (28% of a sample we
    # judged, data/audits): reported as labelled, judged on the audited sample below.
    PanelRow("Game-chat 'not an ad' as labelled (held-out half)", "game_chat_ads_zh", ("chat",), "heldout",
             ("genuine",), None),
    PanelRow("Game-chat chatter, audited by us (held-out sample)", "game_chat_ads_zh_audited", ("audited chat",),
             None, ("genuine",), 0.85),
    PanelRow("Game-chat ads the corpus missed, audited by us", "game_chat_ads_zh_audited", ("audited ad",), None,
             ("sponsored",), None),
    PanelRow("Ott truthful hotel reviews", "op_spam_ott", ("truthful",), None, ("genuine",), None),
    PanelRow("Ott deceptive reviews (written to order)", "op_spam_ott", ("deceptive",), None, ("possibly_false",),
             None),
)  # fmt: skip
# Rows per slice are capped (seeded sample) to keep a panel run to minutes on 2 cores.
MAX_ROWS = 3000


def panel_rows(rows: tuple[PanelRow, ...] = PANEL, shared: Path | None = None,
               max_rows: int = MAX_ROWS) -> list[tuple[PanelRow, list]]:  # fmt: skip
    """Each row with its labelled notes (read from ``shared``, sampled to ``max_rows``)."""
    import random

    from training.corpora import load_corpus

    out, cache = [], {}
    for row in rows:
        key = (row.corpus, row.half)
        if key not in cache:
            cache[key] = load_corpus(row.corpus, shared, half=row.half)
        records = [r for r in cache[key] if r["kind"] in row.kinds]
        if len(records) > max_rows:
            records = random.Random(0).sample(records, max_rows)
        notes = [labelled_note(r, i + 1, LABELS, row.corpus) for i, r in enumerate(records)]
        out.append((row, notes))
    return out


def score_row(row: PanelRow, predicted: list[str]) -> dict[str, Any]:
    """The full label distribution of a slice, its share in the expected labels, and pass/fail."""
    n = len(predicted)
    counts = Counter(predicted)
    distribution = {label: counts[label] / n if n else 0.0 for label in LABELS}
    rate = sum(distribution[label] for label in row.expected)
    passed = None
    if row.target is not None and n:
        passed = rate >= row.target and all(distribution[k] <= v for k, v in row.at_most.items())
    return {"name": row.name, "corpus": row.corpus, "half": row.half or "whole", "n": n, "expected": list(row.expected),
            "distribution": distribution, "expected_rate": rate, "target": row.target, "at_most": row.at_most,
            "passed": passed}  # fmt: skip


def evaluate_panel(classifier, shared: Path | None = None, rows: tuple[PanelRow, ...] = PANEL,
                   progress: Callable[[str], None] | None = None,
                   keep: list | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Run the panel: one result per row (see :func:`score_row`).

    Args:
        classifier: a loaded :class:`nlp.NoteClassifier`.
        shared: the corpora folder (found when None).
        rows: the panel's rows.
        progress: called with a line per row.
        keep: when given, ``(row, notes, uncalibrated probabilities)`` is appended per row
            (for calibration reports).

    Raises:
        CorpusNotFoundError: the shared corpora are not on this machine.
    """
    results = []
    for row, notes in panel_rows(rows, shared):
        if progress:
            progress(f"panel: {row.name} ({len(notes)} notes)")
        probs = classifier.blended_proba([n.text for n in notes]) if notes else []
        results.append(score_row(row, [classifier.labels[int(p.argmax())] for p in probs]))
        if keep is not None:
            keep.append((row, notes, probs))
    return results


def format_panel(results: list[dict[str, Any]], markdown: bool = False) -> str:
    """The panel as a table: n, the full label distribution, expected-label share, target."""
    head = ["slice", "n", "genuine", "sponsored", "possibly_false", "expected", "share expected", "target"]
    lines = []
    for r in results:
        d = r["distribution"]
        target = "–" if r["target"] is None else f"≥ {r['target']:.2f}"
        target += "".join(f", {k} ≤ {v:.2f}" for k, v in r["at_most"].items())
        mark = {True: " ✓", False: " ✗", None: ""}[r["passed"]]
        lines.append([r["name"], str(r["n"]), *(f"{d[k]:.3f}" for k in LABELS), " / ".join(r["expected"]),
                      f"{r['expected_rate']:.3f}{mark}", target])  # fmt: skip
    if markdown:
        rows = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * 4 + "---|---:|---|"]
        return "\n".join(rows + ["| " + " | ".join(cells) + " |" for cells in lines])
    widths = [max(len(x) for x in col) for col in zip(head, *lines, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join(fmt.format(*cells) for cells in [head, *lines])
