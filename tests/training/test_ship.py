"""What ships from make model: the student only when it keeps the teacher's accuracy."""

from __future__ import annotations

from pathlib import Path

import pytest

from training import make_model, ship
from training.make_model import Recipe, ship_student_or_teacher
from training.ship import student_bar


def _evaluation(f1: float, weibo: float, tag: str) -> dict:
    panel = [
        {"name": "Weibo non-rumours", "target": 0.8, "expected_rate": weibo},
        {"name": "Ott deceptive", "target": None, "expected_rate": 0.0},  # no target: never decides
    ]
    return {"notescore-notes test": {"overall": {"macro_f1": f1}}, "panel": panel, "tag": tag}


def test_student_bar():
    teacher = _evaluation(0.935, 0.845, "teacher")
    assert student_bar(teacher, _evaluation(0.926, 0.826, "student"))["ships"]
    assert not student_bar(teacher, _evaluation(0.924, 0.845, "student"))["ships"]  # F1 more than 0.01 below
    assert not student_bar(teacher, _evaluation(0.935, 0.824, "student"))["ships"]  # a panel row more than 0.02 below


@pytest.fixture
def stubbed(monkeypatch, tmp_path):
    """ship_student_or_teacher with distillation, export and evaluation replaced by stubs that record calls."""
    calls = {"faithfulness": [], "export": []}
    student_eval: dict = {}

    def export_and_evaluate(checkpoint, folder, name, dev, texts, shared, recipe, faithful=True):
        calls["export"].append(faithful)
        Path(folder).mkdir(parents=True)
        (Path(folder) / "which").write_text("student")
        return dict(student_eval)

    def faithfulness(clf, notes):
        calls["faithfulness"].append((Path(clf) / "which").read_text())
        return {"passed": True}

    monkeypatch.setattr(ship, "build_student", lambda *a, **k: None)
    monkeypatch.setattr(make_model, "export_and_evaluate", export_and_evaluate)
    monkeypatch.setattr(make_model, "own_notes", lambda *a, **k: [])
    monkeypatch.setattr("training.faithfulness.faithfulness", faithfulness)
    monkeypatch.setattr("nlp.NoteClassifier.load", staticmethod(lambda folder, **k: folder))
    folder = tmp_path / "model.partial"
    folder.mkdir()
    (folder / "which").write_text("teacher")

    class Config:
        labels = ("genuine", "sponsored", "possibly_false")

    def run(student: dict):
        student_eval.update(student)
        teacher = _evaluation(0.935, 0.845, "teacher")
        out = ship_student_or_teacher(folder, tmp_path / "work", Config, ([], [], []), None, Recipe(), teacher)
        return out, (folder / "which").read_text()

    return run, calls


def test_a_student_that_keeps_the_accuracy_ships(stubbed):
    run, calls = stubbed
    evaluation, shipped = run(_evaluation(0.930, 0.84, "student"))
    assert shipped == "student" and evaluation["tag"] == "student"
    assert evaluation["teacher"]["notescore-notes test"]["overall"]["macro_f1"] == 0.935
    assert calls == {"export": [False], "faithfulness": ["student"]}  # checked once, on what ships


def test_otherwise_the_teacher_ships_and_stays_beside_the_build(stubbed, tmp_path):
    run, calls = stubbed
    evaluation, shipped = run(_evaluation(0.86, 0.79, "student"))
    assert shipped == "teacher" and evaluation["tag"] == "teacher"
    assert not evaluation["student vs teacher"]["ships"] and evaluation["faithfulness"] == {"passed": True}
    assert calls == {"export": [False], "faithfulness": ["teacher"]}
    assert (tmp_path / "work" / "teacher-model" / "which").read_text() == "teacher"
