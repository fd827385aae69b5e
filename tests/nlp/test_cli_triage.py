"""Triage through the users' doors: score --explain, --threshold, --review; train --add and evaluate --compare
usage errors; the report highlights what --explain wrote."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from nlp.cli import app
from tests.nlp.test_cli import NOTES, check_contract, write_jsonl
from tests.tiny_model import copy_with_ngram

runner = CliRunner()
CUES = {"sponsored": ["戳链接", "link in bio", "code"], "possibly_false": ["医生都不会告诉你", "7天白两个度"]}


@pytest.fixture(scope="module")
def cue_model(tmp_path_factory, tiny_model):
    folder = tmp_path_factory.mktemp("cli") / "m"
    copy_with_ngram(tiny_model, folder, CUES, weight=0.7)
    return folder


def _score(tmp_path, model, *args, name="out.jsonl", rows=NOTES):
    src = write_jsonl(tmp_path / "notes.jsonl", rows)
    out = tmp_path / name
    r = runner.invoke(app, ["score", str(src), "-o", str(out), "--model", str(model), *args])
    return r, out


def test_explain_adds_evidence_addressed_to_the_records_own_fields(tmp_path, cue_model):
    r, out = _score(tmp_path, cue_model, "--explain", "-q")
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert all("evidence" in row["notescore"] for row in rows)
    assert any(row["notescore"]["evidence"] for row in rows)
    for row, note in zip(rows, NOTES, strict=True):
        body = next(k for k in ("text", "content", "desc") if k in note)
        for e in row["notescore"]["evidence"]:
            assert e["field"] in ("title", body)
            assert note[e["field"]][e["start"] : e["end"]] == e["text"]
            assert row["notescore"]["scores"][e["label"]] >= 0.2 and e["weight"] > 0
    for row in rows:
        row["notescore"].pop("evidence")
    check_contract(rows, NOTES)


def test_without_explain_the_output_contract_is_unchanged(tmp_path, cue_model):
    r, out = _score(tmp_path, cue_model, "-q")
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert all(set(row["notescore"]) == {"label", "scores", "keywords"} for row in rows)
    r, out = _score(tmp_path, cue_model, "-q", name="out.csv")
    header = out.read_text(encoding="utf-8").splitlines()[0]
    assert "notescore_evidence" not in header


def test_explain_in_csv_is_a_json_column(tmp_path, cue_model):
    r, out = _score(tmp_path, cue_model, "--explain", "-q", name="out.csv")
    assert r.exit_code == 0, r.output
    with open(out, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert "notescore_evidence" in rows[0]
    evidence = [json.loads(row["notescore_evidence"]) for row in rows]
    assert any(evidence) and all(isinstance(e, list) for e in evidence)


def test_threshold_changes_the_label_only(tmp_path, cue_model):
    _, plain = _score(tmp_path, cue_model, "-q", name="plain.jsonl")
    r, strict = _score(tmp_path, cue_model, "-q", "--threshold", "sponsored=1.0", "--threshold",
                       "possibly_false=1", name="strict.jsonl")  # fmt: skip
    assert r.exit_code == 0, r.output
    a = [json.loads(x)["notescore"] for x in plain.read_text(encoding="utf-8").splitlines()]
    b = [json.loads(x)["notescore"] for x in strict.read_text(encoding="utf-8").splitlines()]
    assert [x["scores"] for x in a] == [x["scores"] for x in b]
    assert any(x["label"] != "genuine" for x in a) and all(x["label"] == "genuine" for x in b)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("spam=0.5", "threshold for unknown label 'spam'; expected one of genuine, sponsored, possibly_false"),
        ("sponsored=0", "expected LABEL=VALUE with VALUE in (0, 1]"),
        ("sponsored=1.5", "expected LABEL=VALUE with VALUE in (0, 1]"),
        ("sponsored", "expected LABEL=VALUE"),
        ("sponsored=high", "expected LABEL=VALUE"),
    ],
)
def test_bad_threshold_exits_2_with_one_line(tmp_path, tiny_model, value, message):
    r, out = _score(tmp_path, tiny_model, "--threshold", value)
    assert r.exit_code == 2
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in r.output
    assert not out.exists()


def test_review_writes_the_best_notes_and_the_summary_says_so(tmp_path, cue_model):
    rows = [*NOTES, {"id": 4, "text": "好吃"}, {"id": 5, "text": "今日は天気がいいですね。とても美味しかった"}]
    summary = tmp_path / "summary.json"
    r, out = _score(tmp_path, cue_model, "--review", str(tmp_path / "queue.jsonl"), "--review-max", "2",
                    "--summary-json", str(summary), rows=rows)  # fmt: skip
    assert r.exit_code == 0, r.output
    entries = [json.loads(x) for x in (tmp_path / "queue.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(entries) == 2 and entries[0]["priority"] >= entries[1]["priority"]
    for e in entries:
        assert {"line", "id", "excerpt", "suggested_label", "scores", "reasons", "evidence", "text"} <= set(e)
        assert e["id"] == rows[e["line"] - 1]["id"]
    review = json.loads(summary.read_text())["review"]
    assert review["entries"] == 2 and review["candidates"] >= 2
    assert "review queue: the best 2 of" in r.output
    # The output itself is as without --review.
    assert all(set(json.loads(x)["notescore"]) == {"label", "scores", "keywords"}
               for x in out.read_text(encoding="utf-8").splitlines())  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--review", "-"], "--review -: expected a file path"),
        (["--review", "{out}"], "--review {out} is the same file as -o/--output"),
        (["--review-max", "0", "--review", "q.jsonl"], "--review-max"),
    ],
)
def test_review_usage_errors(tmp_path, tiny_model, args, message):
    out = tmp_path / "out.jsonl"
    args = [a.replace("{out}", str(out)) for a in args]
    r, _ = _score(tmp_path, tiny_model, *args)
    assert r.exit_code == 2
    assert message.replace("{out}", str(out)) in r.output


def test_review_respects_no_clobber(tmp_path, tiny_model):
    queue = tmp_path / "queue.jsonl"
    queue.write_text("keep\n")
    r, out = _score(tmp_path, tiny_model, "--review", str(queue), "--no-clobber")
    assert r.exit_code == 2 and "review queue" in r.output and "exists" in r.output
    assert queue.read_text() == "keep\n" and not out.exists()


def test_report_highlights_the_evidence_of_explain(tmp_path, cue_model):
    r, out = _score(tmp_path, cue_model, "--explain", "-q")
    assert r.exit_code == 0, r.output
    page = tmp_path / "report.html"
    r = runner.invoke(app, ["report", str(out), "-o", str(page), "--model", str(cue_model), "-q"])
    assert r.exit_code == 0, r.output
    html = page.read_text(encoding="utf-8")
    assert "<mark class='ev-" in html and "Evidence not in the text shown" not in html


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "a.jsonl", "--add", "q.jsonl"], "Give one"),
        (["train"], "give labelled files to train on, or --add"),
        (["train", "a.jsonl", "--notes", "x"], "--notes and --no-real go with --add"),
        (["train", "--add", "q.jsonl", "--dev", "d.jsonl"], "--dev and --config do not go with --add"),
        (["evaluate", "m", "--compare", "other"], "--compare needs labelled files"),
    ],
)
def test_loop_usage_errors(args, message):
    r = runner.invoke(app, args)
    assert r.exit_code == 2
    assert message in r.output


def test_train_add_without_the_projects_notes_says_where_they_come_from(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    queue = write_jsonl(tmp_path / "queue.jsonl", [{"text": "加微信领福利", "label": "sponsored"}])
    r = runner.invoke(app, ["train", "--add", str(queue), "--notes", str(tmp_path / "none"), "--out",
                            str(tmp_path / "m"), "-q"])  # fmt: skip
    assert r.exit_code == 2
    assert "source checkout" in r.output and "--notes DIR" in r.output and "Traceback" not in r.output
