"""The retraining path as a user runs it: notescore train → export → evaluate → score,
on tiny encoders of two families built in fixtures (no network, seconds on CPU), and a
shallower student made from a deeper checkpoint with no code change."""

from __future__ import annotations

import json
import random

import pytest
from typer.testing import CliRunner

from nlp.cli import app
from tests.tiny_model import build_base

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

runner = CliRunner()
CUES = {
    "genuine": ["用了三个月", "说点真话", "honestly my skin", "缺点是", "回购过两次"],
    "sponsored": ["私信我拿优惠码", "戳链接", "link in bio", "合作", "评论区扣1"],
    "possibly_false": ["7天白两个度", "根治", "医生都不会告诉你", "100%有效", "guaranteed results"],
}
TRAIN = ["--epochs", "4", "--max-length", "32", "--batch-size", "8", "--lr", "1e-3", "--set", "eval_every=10", "-q"]


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    rng = random.Random(0)
    folder = tmp_path_factory.mktemp("data")
    rows = []
    for i in range(90):
        label = list(CUES)[i % 3]
        text = f"{rng.choice(CUES[label])} 面霜 {rng.choice(['干皮', '油皮', 'ok'])} {i}"
        row = {"id": f"n{i}", "text": text, "label": label, "source": "tiny"}
        if label == "possibly_false":
            row["promo"] = i % 2 == 0
        rows.append(row)
    for i in range(12):  # one-sided: "not a rumour"
        rows.append({"id": f"p{i}", "content": f"{rng.choice(CUES['genuine'])} {i}",
                     "labels_allowed": ["genuine", "sponsored"], "source": "one-sided"})  # fmt: skip
    path = folder / "train.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def train_export_score(tmp_path, base, labelled, extra=()):
    """Run the user's four commands; returns (checkpoint, model folder, evaluation report)."""
    ckpt, model = tmp_path / "ckpt", tmp_path / "model"
    r = runner.invoke(app, ["train", str(labelled), "--out", str(ckpt), "--base", str(base), *TRAIN, *extra])
    assert r.exit_code == 0, r.output
    assert "best dev macro-F1" in r.output
    assert not (tmp_path / "ckpt.partial").exists()
    r = runner.invoke(app, ["export", str(ckpt), str(model), "-q"])
    assert r.exit_code == 0, r.output
    report_path = tmp_path / "report.json"
    r = runner.invoke(app, ["evaluate", str(model), str(labelled), "--json", str(report_path)])
    assert r.exit_code == 0, r.output
    assert "macro-F1" in r.output and "confusion" in r.output
    scored = tmp_path / "scored.jsonl"
    r = runner.invoke(app, ["score", str(labelled), "-o", str(scored), "--model", str(model), "-q"])
    assert r.exit_code == 0, r.output
    assert len(scored.read_text().splitlines()) == 102
    return ckpt, model, json.loads(report_path.read_text())


@pytest.mark.parametrize("family", ["bert", "xlm-roberta"])
def test_every_encoder_family_trains_exports_and_scores(tmp_path, labelled, family):
    from nlp.model_folder import read_checkpoint_meta, read_model_spec

    base = build_base(tmp_path / "base", family)
    ckpt, model, report = train_export_score(tmp_path, base, labelled)
    meta = read_checkpoint_meta(ckpt)
    assert meta.truncation.max_length == 32
    assert "allowed_accuracy" in meta.dev_metrics
    spec = read_model_spec(model)
    assert spec.provenance.encoder.family == family and spec.provenance.encoder.layers == 2
    assert spec.special_tokens.bos == ("[CLS]" if family == "bert" else "<s>")
    assert spec.name == "model" and spec.precision == "int8"
    assert spec.parity["fp32_vs_torch_max_abs_dprob"] <= 1e-4
    assert report["overall"]["n"] == 90 and report["overall"]["n_partial"] == 12
    assert set(report["per_source"]) == {"tiny", "one-sided"}
    assert report["per_source"]["tiny"]["accuracy"] > 0.6  # the tiny model learns the planted cues


def test_two_signal_head_and_op_spam_parts(tmp_path, labelled):
    """The precedence head trains through the same commands; the benchmark's per-part accuracies match evaluate."""
    from nlp.model_folder import read_model_spec
    from training.op_spam import components

    base = build_base(tmp_path / "base", "xlm-roberta")
    _, model, report = train_export_score(tmp_path, base, labelled, ["--set", "head=two_signal"])
    assert read_model_spec(model).head == "two_signal"
    one_label = tmp_path / "one_label.jsonl"
    one_label.write_text("".join(line + "\n" for line in labelled.read_text().splitlines() if '"label"' in line))
    parts = components(model, one_label)
    assert parts.get("blend", parts["transformer"]) == pytest.approx(report["per_source"]["tiny"]["accuracy"])


def test_student_of_a_deeper_checkpoint(tmp_path, labelled):
    """A 4-layer student kept from a 12-layer checkpoint trains, exports, loads and scores unchanged."""
    from nlp.model_folder import read_checkpoint_meta, read_model_spec
    from training.student import make_student

    teacher_base = build_base(tmp_path / "base", "xlm-roberta", layers=12)
    teacher = tmp_path / "teacher"
    r = runner.invoke(app, ["train", str(labelled), "--out", str(teacher), "--base", str(teacher_base),
                            "--epochs", "1", "--max-length", "32", "-q"])  # fmt: skip
    assert r.exit_code == 0, r.output
    kept = make_student(teacher, tmp_path / "student", 4)
    assert kept == [0, 4, 7, 11]
    assert read_checkpoint_meta(tmp_path / "student").parent["layers_kept"] == kept
    (tmp_path / "run").mkdir()
    _, model, report = train_export_score(tmp_path / "run", tmp_path / "student", labelled)
    assert read_model_spec(model).provenance.encoder.layers == 4
    assert report["overall"]["n"] == 90


def test_train_rejects_bad_labels_with_row_numbers(tmp_path):
    base = build_base(tmp_path / "base", "bert")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "label": "genuine"}\n{"text": "b", "label": "spam"}\n{"title": "x"}\n')
    r = runner.invoke(app, ["train", str(bad), "--base", str(base), "--out", str(tmp_path / "o"), "-q"])
    assert r.exit_code == 2
    assert "line 2" in r.output and "'spam'" in r.output and "line 3" in r.output


def test_train_unknown_setting(tmp_path, labelled):
    r = runner.invoke(app, ["train", str(labelled), "--set", "epohcs=2", "-q"])
    assert r.exit_code == 2
    assert "unknown setting" in r.output


def test_train_without_torch_says_what_to_install(monkeypatch, tmp_path, labelled):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    r = runner.invoke(app, ["train", str(labelled), "--base", str(tmp_path), "-q"])
    assert r.exit_code == 1
    assert "torch missing" in r.output and "pip install" in r.output and "Traceback" not in r.output


def test_distilled_student_learns_from_the_teacher_alone(tmp_path, labelled):
    """Trained on unlabelled texts only, a 2-layer student can only agree with its 12-layer teacher by distillation."""
    import numpy as np

    from nlp import NoteClassifier
    from nlp.model_folder import read_checkpoint_meta

    base = build_base(tmp_path / "base", "xlm-roberta", layers=12)
    teacher = tmp_path / "teacher"
    r = runner.invoke(app, ["train", str(labelled), "--out", str(teacher), "--base", str(base), *TRAIN])
    assert r.exit_code == 0, r.output
    texts = [json.loads(line).get("text") or json.loads(line)["content"] for line in labelled.read_text().splitlines()]
    unlabelled = tmp_path / "unlabelled.jsonl"
    unlabelled.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts * 2))
    student = tmp_path / "student"
    sets = ["--set", "epochs=6", "--set", "lr=1e-3", "--set", "batch_size=8", "--set", "distill_alpha=1.0"]
    args = ["distill", str(teacher), "--out", str(student), "--layers", "2", "--unlabelled", str(unlabelled), *sets]
    r = runner.invoke(app, [*args, "-q"])
    assert r.exit_code == 0, r.output
    meta = read_checkpoint_meta(student)
    assert meta.parent["layers_kept"] == [0, 11] and meta.train_config["distill_alpha"] == 1.0
    for ckpt in (teacher, student):
        assert runner.invoke(app, ["export", str(ckpt), str(tmp_path / f"{ckpt.name}-model"), "-q"]).exit_code == 0
    t = NoteClassifier.load(tmp_path / "teacher-model", keywords=False).transformer_logits(texts)
    s = NoteClassifier.load(tmp_path / "student-model", keywords=False).transformer_logits(texts)
    assert np.mean(t.argmax(1) == s.argmax(1)) >= 0.8
