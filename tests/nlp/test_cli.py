"""The CLI through the users' doors: arguments, files, stdin; exit codes and messages."""

import csv
import json

import pytest
from typer.testing import CliRunner

from nlp.cli import EXIT_ROWS_FAILED, app

runner = CliRunner()

NOTES = [
    {"id": 1, "title": "面霜回购", "text": "干皮，冬天用了三个月，够滋润 #护肤#", "likes": 12},
    {"id": 2, "content": "DM me for the code, link in bio!", "tags": ["a", "b"]},
    {"id": 3, "desc": "7天白两个度，医生都不会告诉你", "nested": {"k": 1}},
]


def write_jsonl(path, rows, extra_lines=()):
    lines = [json.dumps(r, ensure_ascii=False) for r in rows] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def check_contract(out_rows, in_rows):
    assert len(out_rows) == len(in_rows)
    for out, inp in zip(out_rows, in_rows, strict=True):
        result = out.pop("notescore")
        assert out == inp  # input fields unchanged, none dropped
        assert result["label"] in ("genuine", "sponsored", "possibly_false")
        assert set(result["scores"]) == {"genuine", "sponsored", "possibly_false"}
        assert abs(sum(result["scores"].values()) - 1) < 1e-5
        assert isinstance(result["keywords"], list)


def test_score_jsonl_file(tmp_path, tiny_model):
    src = write_jsonl(tmp_path / "notes.jsonl", NOTES)
    out = tmp_path / "out.jsonl"
    r = runner.invoke(app, ["score", str(src), "-o", str(out), "--model", str(tiny_model)])
    assert r.exit_code == 0, r.output
    assert "read 3 rows: scored 3, failed 0" in r.output
    check_contract([json.loads(x) for x in out.read_text().splitlines()], NOTES)
    assert not (tmp_path / "out.errors.jsonl").exists()
    assert not list(tmp_path.glob("*.part"))


def test_score_stdin_to_stdout(tiny_model):
    data = "\n".join(json.dumps(r, ensure_ascii=False) for r in NOTES) + "\n"
    r = runner.invoke(app, ["score", "-", "--model", str(tiny_model), "-q"], input=data)
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    check_contract(rows, NOTES)


def test_score_csv_to_csv(tmp_path, tiny_model):
    src = tmp_path / "export.csv"
    with open(src, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["note_id", "desc", "liked"])
        w.writerow(["a1", "第一行\n第二行 私信我", "5"])
        w.writerow(["a2", "plain english note about sunscreen", "7"])
    out = tmp_path / "scored.csv"
    r = runner.invoke(app, ["score", str(src), "-o", str(out), "--model", str(tiny_model)])
    assert r.exit_code == 0, r.output
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [row["note_id"] for row in rows] == ["a1", "a2"]
    assert rows[0]["desc"] == "第一行\n第二行 私信我"
    expected = ["note_id", "desc", "liked", "notescore_label", "notescore_genuine", "notescore_sponsored",
                "notescore_possibly_false", "notescore_keywords"]  # fmt: skip
    assert list(rows[0]) == expected
    total = sum(float(rows[1][f"notescore_{k}"]) for k in ("genuine", "sponsored", "possibly_false"))
    assert abs(total - 1) < 1e-5


def test_score_jsonl_to_parquet_and_back(tmp_path, tiny_model):
    pq = pytest.importorskip("pyarrow.parquet")
    src = write_jsonl(tmp_path / "notes.jsonl", NOTES)
    out = tmp_path / "scored.parquet"
    r = runner.invoke(app, ["score", str(src), "-o", str(out), "--model", str(tiny_model), "-q"])
    assert r.exit_code == 0, r.output
    table = pq.read_table(out).to_pylist()
    assert [row["id"] for row in table] == [1, 2, 3]
    assert table[0]["likes"] == 12 and table[1]["likes"] is None
    assert json.loads(table[2]["nested"]) == {"k": 1}
    assert table[0]["notescore_label"] in ("genuine", "sponsored", "possibly_false")
    # Parquet in, JSON Lines out: the earlier results are input fields now, kept under their names.
    out2 = tmp_path / "again.jsonl"
    r = runner.invoke(app, ["score", str(out), "-o", str(out2), "--model", str(tiny_model), "-q", "--prefix", "again"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in out2.read_text().splitlines()]
    assert len(rows) == 3 and all("notescore_label" in row and "again" in row for row in rows)


def test_broken_lines_go_to_errors_file_nothing_lost(tmp_path, tiny_model):
    src = tmp_path / "dump.jsonl"
    good = [json.dumps(r, ensure_ascii=False) for r in NOTES]
    lines = [good[0], "{not json", json.dumps({"id": 9, "likes": 3}), good[1],
             json.dumps({"text": 42}), json.dumps({"text": "   "}), good[2]]  # fmt: skip
    src.write_bytes(("\n".join(lines) + "\n").encode() + b'{"text": "\xff\xfe"}\n')
    out = tmp_path / "scored.jsonl"
    r = runner.invoke(app, ["score", str(src), "-o", str(out), "--model", str(tiny_model)])
    assert r.exit_code == EXIT_ROWS_FAILED
    assert "read 8 rows: scored 3, failed 5" in r.output
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == [1, 2, 3]
    errors = [json.loads(x) for x in (tmp_path / "scored.errors.jsonl").read_text().splitlines()]
    assert [e["line"] for e in errors] == [2, 3, 5, 6, 8]
    assert "not valid JSON" in errors[0]["reason"]
    assert "no text field" in errors[1]["reason"] and "likes" in errors[1]["reason"]
    assert "int" in errors[2]["reason"]
    assert "empty" in errors[3]["reason"]
    assert "UTF-8" in errors[4]["reason"]
    assert errors[0]["raw"] == "{not json"


def test_strict_stops_at_first_bad_row(tmp_path, tiny_model):
    src = write_jsonl(tmp_path / "d.jsonl", NOTES[:1], ["{oops"])
    out = tmp_path / "o.jsonl"
    r = runner.invoke(app, ["score", str(src), "-o", str(out), "--strict", "--model", str(tiny_model)])
    assert r.exit_code == EXIT_ROWS_FAILED
    assert "line 2" in r.output and "not valid JSON" in r.output
    assert not out.exists()


def test_text_field_option_and_hint(tmp_path, tiny_model):
    src = write_jsonl(tmp_path / "d.jsonl", [{"post": "a long enough note body here", "n": 1}])
    out = tmp_path / "o.jsonl"
    r = runner.invoke(app, ["score", str(src), "-o", str(out), "--model", str(tiny_model)])
    assert r.exit_code == 2  # the first rows all lack a text field: a usage error, nothing written
    assert "--text-field post" in r.output and "'post', 'n'" in r.output
    assert not out.exists() and not (tmp_path / "o.errors.jsonl").exists()
    r = runner.invoke(app, ["score", str(src), "-o", str(out), "--text-field", "post", "--model", str(tiny_model)])
    assert r.exit_code == 0, r.output
    # One row without the field among good ones: that row goes to the errors file, with the hint.
    src = write_jsonl(tmp_path / "e.jsonl", [{"post": "a long enough note body here"}, {"text": "fine note"}])
    r = runner.invoke(app, ["score", str(src), "-o", str(out), "--model", str(tiny_model)])
    assert r.exit_code == EXIT_ROWS_FAILED
    assert "--text-field post" in (tmp_path / "o.errors.jsonl").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.jsonl"], "does not exist"),
        (["notes.txt"], "--format"),
        (["notes.jsonl", "--format", "xml"], "unknown format"),
    ],
)
def test_usage_errors_one_line_exit_2(tmp_path, tiny_model, args, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("x\n")
    (tmp_path / "notes.jsonl").write_text('{"text": "x"}\n')
    r = runner.invoke(app, ["score", *args, "--model", str(tiny_model)])
    assert r.exit_code == 2
    assert message in r.output
    assert "Traceback" not in r.output


def test_folder_as_input(tmp_path, tiny_model):
    r = runner.invoke(app, ["score", str(tmp_path), "--format", "jsonl", "--model", str(tiny_model)])
    assert r.exit_code == 2
    assert "folder" in r.output


def test_missing_model_folder(tmp_path):
    src = write_jsonl(tmp_path / "d.jsonl", NOTES)
    r = runner.invoke(app, ["score", str(src), "--model", str(tmp_path / "nomodel")])
    assert r.exit_code == 1
    assert "does not exist" in r.output
    assert "Traceback" not in r.output


def test_keywords_command_text_file_stdin(tmp_path):
    r = runner.invoke(app, ["keywords", "成都火锅探店 #成都美食#"])
    assert r.exit_code == 0 and r.stdout.startswith("成都美食")
    f = tmp_path / "k.jsonl"
    write_jsonl(f, [{"title": "露营", "desc": "周末去露营 #露营装备#"}])
    r = runner.invoke(app, ["keywords", str(f), "--json"])
    assert json.loads(r.stdout)["keywords"][0] == "露营装备"
    r = runner.invoke(app, ["keywords", "-"], input="sunscreen for oily skin #skincare\n")
    assert "skincare" in r.stdout


def test_info(tiny_model):
    r = runner.invoke(app, ["info", str(tiny_model)])
    assert r.exit_code == 0
    assert "genuine, sponsored, possibly_false" in r.stdout
    r = runner.invoke(app, ["info", str(tiny_model), "--json"])
    assert json.loads(r.stdout)["labels"] == ["genuine", "sponsored", "possibly_false"]


def test_version_and_help():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and "notescore" in r.stdout
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0 and "score" in r.stdout


def test_score_help_shows_defaults_and_no_bool_metavar():
    r = runner.invoke(app, ["score", "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0
    assert "<bool>" not in r.stdout
    for shown in (
        "(default: first of text, content, desc, description, body, note)",
        "(default: title, when present)",
        "(default: OUTPUT's name + .errors.jsonl, beside it)",
        "(default: all cores)",
        "[default: 32]",
        "[default: utf-8]",
        "--no-clobber",
        "--csv-raw",
        "143",
    ):
        assert shown in r.stdout, shown
    assert " ." not in r.stdout.replace(" .gz", "").replace(" .zst", "").replace(" .errors", "")
    for command in ("report", "keywords", "info", "train", "export", "evaluate"):
        assert "<bool>" not in runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).stdout
    assert "<bool>" not in runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).stdout


def test_keywords_of_a_missing_file_says_so(tmp_path):
    r = runner.invoke(app, ["keywords", str(tmp_path / "notes.jsonl")])
    assert r.exit_code == 2
    assert "no such file" in r.output and r.output.count("\n") == 1
    r = runner.invoke(app, ["keywords", "成都火锅.探店"])  # a dot in a text is no file name
    assert r.exit_code == 0


def test_messages_say_things_once(tmp_path, tiny_model):
    src = tmp_path / "d.jsonl"
    src.write_text('{"text": "good"}\n{oops\n{"text": 5}\n')
    messages = []
    r = runner.invoke(app, ["score", str(src), "-o", str(tmp_path / "o.jsonl"), "--strict", "--model", str(tiny_model)])
    messages.append(r.output)
    r = runner.invoke(app, ["score", str(src), "-o", str(tmp_path / "o.jsonl"), "--model", str(tiny_model)])
    messages.append((tmp_path / "o.errors.jsonl").read_text())
    r = runner.invoke(app, ["keywords", str(src)])
    messages.append(r.output)
    csv_src = tmp_path / "q.csv"
    csv_src.write_text('id,text\n1,"never closed\n2,x\n')
    r = runner.invoke(app, ["score", str(csv_src), "-o", str(tmp_path / "q.jsonl"), "--model", str(tiny_model)])
    messages.append((tmp_path / "q.errors.jsonl").read_text())
    import re

    for text in messages:
        assert not re.search(r"\b(\w+) \1\b", text), text
        assert not re.search(r"(line \d+): \1", text), text
        assert not re.search(r"line \d+: line \d+", text), text


def test_backend_option(tmp_path, tiny_model):
    src = write_jsonl(tmp_path / "notes.jsonl", NOTES)
    r = runner.invoke(app, ["score", str(src), "-o", str(tmp_path / "o.jsonl"), "--model", str(tiny_model),
                            "--backend", "tensorrt"])  # fmt: skip
    assert r.exit_code == 2 and "--backend: expected one of auto, onnxruntime, openvino" in r.output
    r = runner.invoke(app, ["score", str(src), "-o", str(tmp_path / "o.jsonl"), "--model", str(tiny_model),
                            "--backend", "onnxruntime", "-q"])  # fmt: skip
    assert r.exit_code == 0, r.output
