"""The weekly loop end to end on a tiny model: build the recipe → score a team's dump with a review
queue → a person labels the queue → retrain the recipe plus the reviewed rows → compare before/after."""

from __future__ import annotations

import json
import random

import pytest

from tests.tiny_model import build_base

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("sklearn")

CUES = {
    "genuine": ["用了三个月", "说点真话", "honestly my skin", "缺点是", "回购过两次"],
    "sponsored": ["私信我拿优惠码", "戳链接", "link in bio", "合作", "评论区扣1"],
    "possibly_false": ["7天白两个度", "根治", "医生都不会告诉你", "100%有效", "guaranteed results"],
}
# A register the project's notes lack: a team's platform where ads say 加微信 and 团购.
TEAM_CUES = {"sponsored": ["加微信领福利", "团购价私我"], "genuine": ["排队半小时", "味道一般"]}
TINY = {"max_length": 32, "epochs": 2.0, "batch_size": 8, "lr": 1e-3, "eval_every": 10}


def _rows(n: int, cues: dict[str, list[str]], seed: int, prefix: str) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = list(cues)[i % len(cues)]
        topic, where = rng.choice(["面霜", "火锅", "防晒", "ok"]), rng.choice(["干皮", "油皮", "成都"])
        text = f"{rng.choice(cues[label])} {topic} {where}"
        row = {"id": f"{prefix}{i}", "text": text, "label": label}
        if label == "possibly_false":
            row["promo"] = False
        rows.append(row)
    return rows


def _write(path, rows) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A tiny project: its notes folder (train/dev/test) and a tiny base encoder."""
    root = tmp_path_factory.mktemp("project")
    notes = root / "notes"
    notes.mkdir()
    for split, n, seed in (("train", 90, 0), ("dev", 30, 1), ("test", 30, 2)):
        _write(notes / f"{split}.jsonl", _rows(n, CUES, seed, split))
    return notes, build_base(root / "base", "bert")


def test_the_weekly_loop(tmp_path, project):
    """score --review → a person labels the queue → train --add → evaluate --compare, through the CLI."""
    from typer.testing import CliRunner

    from nlp.cli import app
    from nlp.model_folder import read_model_spec
    from training.make_model import Recipe, build

    runner = CliRunner()
    notes, base = project
    before = tmp_path / "before"  # the shipped model, as the tiny recipe builds it
    build(before, tmp_path / "work-before", Recipe(notes=notes, base=base, real=False, settings=TINY, compare=False))
    # The team's dump (its labels hidden from the model) and its own held-out rows.
    truth = _rows(40, {**CUES, **TEAM_CUES}, 3, "team") + _rows(20, TEAM_CUES, 4, "more")
    dump, queue, held_out = tmp_path / "dump.jsonl", tmp_path / "queue.jsonl", tmp_path / "held_out.jsonl"
    _write(dump, [{k: v for k, v in r.items() if k != "label"} for r in truth])
    _write(held_out, _rows(30, TEAM_CUES, 5, "held"))
    r = runner.invoke(app, ["score", str(dump), "-o", str(tmp_path / "scored.jsonl"), "--model", str(before),
                            "--review", str(queue), "--review-max", "25"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "review queue: the best" in r.output
    entries = [json.loads(line) for line in queue.read_text(encoding="utf-8").splitlines()]
    assert 0 < len(entries) <= 25
    assert [e["priority"] for e in entries] == sorted((e["priority"] for e in entries), reverse=True)
    # A person labels the first 20 rows of the queue and leaves the rest.
    for entry in entries[:20]:
        entry["label"] = truth[entry["line"] - 1]["label"]
    _write(queue, entries)
    after = tmp_path / "after"
    r = runner.invoke(app, ["train", "--add", str(queue), "--out", str(after), "--notes", str(notes), "--base",
                            str(base), "--no-real", "--epochs", "2", "--max-length", "32", "--batch-size", "8",
                            "--lr", "1e-3", "--set", "eval_every=10", "-q"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert f"added 20 reviewed rows at weight 2 ({len(entries) - 20} without a label skipped" in r.output
    spec = read_model_spec(after)
    added = [s for s in spec.provenance.sources if s.name.startswith("reviewed:queue")]
    assert [(s.rows, s.weight) for s in added] == [(20, 2.0)]
    assert spec.provenance.build_command.startswith("notescore train --add")
    assert spec.training["settings"]["max_length"] == 32 and spec.training["settings"]["head"] == "two_signal"
    assert "faithfulness" in spec.metrics and "Evidence (`--explain`)" in (after / "README.md").read_text()
    report_path = tmp_path / "compare.json"
    r = runner.invoke(app, ["evaluate", str(after), str(held_out), "--compare", str(before), "--json",
                            str(report_path)])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "before" in r.output and "after" in r.output and "labels changed on" in r.output
    report = json.loads(report_path.read_text())
    assert report["before"]["overall"]["n"] == report["after"]["overall"]["n"] == 30
    assert report["after"]["overall"]["accuracy"] >= report["before"]["overall"]["accuracy"]


def test_reviewed_rows_skip_the_unlabelled_list_the_bad_and_keep_the_test_split_out(tmp_path):
    from nlp.records import LabelledDataError, labelled_note
    from training.loop import reviewed_notes

    queue = tmp_path / "queue.jsonl"
    test_note = labelled_note({"text": "在测试集里", "label": "genuine"}, 1, ["genuine", "sponsored", "possibly_false"])
    rows = [
        {"line": 3, "text": "加微信领福利", "suggested_label": "genuine", "label": "sponsored", "source": "weibo"},
        {"line": 7, "text": "没人看过这条", "suggested_label": "genuine"},
        {"line": 9, "text": "在测试集里", "label": "genuine"},
        {"line": 12, "title": "标题", "text": "排队半小时", "label": ""},
    ]
    _write(queue, rows)
    notes, sources, counts = reviewed_notes([queue], ["genuine", "sponsored", "possibly_false"], exclude=[test_note])
    assert [(n.text, n.label, n.source) for n in notes] == [("加微信领福利", "sponsored", "reviewed:queue")]
    assert counts == {"added": 1, "unreviewed": 2, "in_test": 1}
    assert sources[0].rows == 1 and sources[0].weight == 2.0
    _write(queue, [*rows, {"text": "x", "label": "spam"}])
    with pytest.raises(LabelledDataError, match="line 5: label 'spam'"):
        reviewed_notes([queue], ["genuine", "sponsored", "possibly_false"])
    _write(queue, rows[1:2])
    with pytest.raises(LabelledDataError, match='give each row you checked a "label"'):
        reviewed_notes([queue], ["genuine", "sponsored", "possibly_false"])


def test_a_notes_folder_without_its_splits_is_refused_before_training(tmp_path):
    from nlp.records import LabelledDataError
    from training.loop import retrain

    (tmp_path / "notes").mkdir()
    with pytest.raises(LabelledDataError, match="train.jsonl.*missing.*--notes DIR"):
        retrain(tmp_path / "out", [tmp_path / "queue.jsonl"], notes=tmp_path / "notes", real=False)
