"""What ships: the 12-layer teacher or a 4-layer student distilled from it.

The shipped recipe (:mod:`training.make_model`) trains the teacher, exports and
evaluates it, then distils a student (:mod:`training.distill`) on the teacher's
soft labels over the labelled notes and unlabelled real text (the ``train`` half of
the sampled corpora only), and ships the student when it meets the bar of
:func:`student_bar`: test macro-F1 within 0.01 of the teacher's and every
real-text panel row within 0.02. Otherwise the teacher ships, and the card says why.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from nlp.model_folder import LABELS
from nlp.records import LabelledNote

log = logging.getLogger("training")

STUDENT_LAYERS = 4
# Unlabelled real text for distillation, from each corpus's train half: rows per corpus (0 = the whole half).
UNLABELLED = {
    "weibo_rumor_ced": 0,
    "covid_fakenews_constraint": 0,
    "game_chat_ads_zh": 6000,
    "waimai_10k": 3000,
    "hrde_health_rumor_zh": 0,
    "sms_spam_uci": 0,
}
STUDENT_SETTINGS = {"epochs": 2.0, "lr": 8e-5, "batch_size": 32, "distill_alpha": 0.7, "distill_temperature": 2.0}
MAX_F1_DROP = 0.01
MAX_PANEL_DROP = 0.02


def unlabelled_real(shared: Path, seed: int = 0) -> list[LabelledNote]:
    """Texts of the real corpora's train halves with every label allowed (the teacher labels them)."""
    import random

    from training.corpora import load_corpus

    notes = []
    for name, cap in UNLABELLED.items():
        rows = load_corpus(name, shared, half="train")
        if cap and len(rows) > cap:
            rows = random.Random(seed).sample(rows, cap)
        notes += [LabelledNote(r["text"], LABELS, f"unlabelled:{name}", body=r["text"]) for r in rows]
    return notes


def build_student(teacher: Path, out: Path, config, train_notes: list, dev_notes: list, shared: Path | None,
                  layers: int = STUDENT_LAYERS):  # fmt: skip
    """Distil ``teacher`` into a ``layers``-layer student checkpoint at ``out``; returns the train result."""
    from dataclasses import replace

    from training.distill import distill

    student_config = replace(config, **STUDENT_SETTINGS)
    unlabelled = unlabelled_real(shared) if shared is not None else []
    log.info("distilling a %d-layer student on %d labelled and %d unlabelled notes", layers, len(train_notes),
             len(unlabelled))  # fmt: skip
    return distill(teacher, out, student_config, train_notes + unlabelled, dev_notes, layers)


def student_bar(teacher: dict[str, Any], student: dict[str, Any]) -> dict[str, Any]:
    """Does the student keep the teacher's accuracy? Test macro-F1 within 0.01, every panel row within 0.02."""
    checks = []
    t_f1 = teacher["notescore-notes test"]["overall"]["macro_f1"]
    s_f1 = student["notescore-notes test"]["overall"]["macro_f1"]
    checks.append({"what": "test split macro-F1", "teacher": t_f1, "student": s_f1, "ok": s_f1 >= t_f1 - MAX_F1_DROP})
    before = {r["name"]: r for r in teacher.get("panel", [])}
    for row in student.get("panel", []):
        t = before.get(row["name"])
        if t is None or row["target"] is None:
            continue
        ok = row["expected_rate"] >= t["expected_rate"] - MAX_PANEL_DROP
        checks.append({"what": row["name"], "teacher": t["expected_rate"], "student": row["expected_rate"], "ok": ok})
    return {"ships": all(c["ok"] for c in checks), "checks": checks,
            "rule": f"test macro-F1 within {MAX_F1_DROP}, every panel row within {MAX_PANEL_DROP}"}  # fmt: skip
