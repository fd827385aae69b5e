"""Issue 11, "dumps as users have them" and the CSV safety rule: formats, encodings,
delimiters, selection, summaries — through `notescore score` and the readers."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nlp.cli import EXIT_ROWS_FAILED, EXIT_USAGE, app
from nlp.errors import InputFormatError, RecordError
from nlp.format_csv import neutralise
from nlp.format_json import read_json
from nlp.formats import ReadOptions
from nlp.io import read_records
from nlp.selection import reservoir

runner = CliRunner()


def score(model, *args, input=None):
    return runner.invoke(app, ["score", *map(str, args), "--model", str(model)], input=input)


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


# --------------------------------------------------------------------- JSON arrays


@pytest.mark.parametrize("indent", [None, 2])
def test_json_array_file_is_scored(tmp_path, tiny_model, indent):
    notes = [{"id": i, "text": f"note {i} about 面霜"} for i in range(5)]
    src = tmp_path / "dump.json"
    src.write_text(json.dumps(notes, ensure_ascii=False, indent=indent), encoding="utf-8")
    out = tmp_path / "o.jsonl"
    r = score(tiny_model, src, "-o", out)
    assert r.exit_code == 0, r.output
    assert [row["id"] for row in jsonl(out)] == list(range(5))
    # .json output is a JSON array too; stdin takes an array as well.
    r = score(tiny_model, src, "-o", tmp_path / "o.json")
    assert [row["id"] for row in json.loads((tmp_path / "o.json").read_text("utf-8"))] == list(range(5))
    r = score(tiny_model, "-", "-q", input=src.read_text("utf-8"))
    assert r.exit_code == 0 and len(r.stdout.splitlines()) == 5


def test_json_array_is_streamed_across_chunks(monkeypatch):
    import nlp.format_json as fj

    monkeypatch.setattr(fj, "_CHUNK", 7)  # elements, numbers and strings cut at every place
    notes = [{"text": "x" * (i % 13), "n": 123456789 + i, "t": [True, None, 1.5e-3]} for i in range(60)]
    data = ("\ufeff \n" + json.dumps(notes)).encode("utf-8")
    items = list(read_json(io.BytesIO(data), "a.json"))
    assert [n for n, _ in items] == list(range(1, 61))
    assert [item for _, item in items] == notes


def test_json_array_errors_name_the_element_and_the_file_line():
    data = b'[\n {"text": "a"},\n 7,\n {"text": "b"} {"text": "c"}\n]'
    items = list(read_json(io.BytesIO(data), "a.json"))
    assert items[0] == (1, {"text": "a"})
    assert isinstance(items[1][1], RecordError) and "found int" in items[1][1].reason
    assert items[2] == (3, {"text": "b"})
    assert items[3][0] == 4 and "file line 4, column 16" in items[3][1].reason
    assert "expected ',' or ']'" in items[3][1].reason and len(items) == 4


def test_json_file_of_lines_still_reads_as_json_lines():
    data = b'\n{"text": "a"}\n{"text": "b"}\n'
    assert [n for n, _ in read_json(io.BytesIO(data), "a.json")] == [2, 3]


def test_nan_and_infinity_in_input_are_written_as_null(tmp_path, tiny_model):
    src = tmp_path / "n.jsonl"
    src.write_text('{"text": "a note", "x": NaN, "y": [Infinity, -Infinity, 1.5]}\n')
    out = tmp_path / "o.jsonl"
    assert score(tiny_model, src, "-o", out).exit_code == 0

    def refuse(name):
        raise AssertionError(name)

    (row,) = [json.loads(line, parse_constant=refuse) for line in out.read_text().splitlines()]
    assert row["x"] is None and row["y"] == [None, None, 1.5]


# ------------------------------------------------------------ encodings, delimiters


def test_gb18030_csv_with_encoding_option(tmp_path, tiny_model):
    src = tmp_path / "gbk.csv"
    src.write_bytes("id,text\n1,成都火锅探店，牛油锅底很香\n".encode("gb18030"))
    out = tmp_path / "o.jsonl"
    r = score(tiny_model, src, "-o", out)
    assert r.exit_code == EXIT_USAGE  # the header decodes, no row does: nothing scored
    assert "the first row is not valid text" in r.output and "--encoding (e.g. gb18030)" in r.output
    r = score(tiny_model, src, "-o", out, "--encoding", "gb18030")
    assert r.exit_code == 0, r.output
    assert jsonl(out)[0]["text"] == "成都火锅探店，牛油锅底很香"
    src = tmp_path / "gbk.jsonl"
    src.write_bytes('{"text": "干皮冬天用刚好"}\n'.encode("gbk"))
    r = score(tiny_model, src, "-o", out, "--encoding", "gbk")
    assert r.exit_code == 0, r.output
    r = score(tiny_model, src, "-o", out, "--encoding", "klingon")
    assert r.exit_code == EXIT_USAGE and "unknown encoding 'klingon'" in r.output


def test_undecodable_rows_name_the_encoding_and_the_fix(tmp_path):
    src = tmp_path / "mixed.jsonl"
    src.write_bytes(b'{"text": "ok"}\n' + '{"text": "成都"}\n'.encode("gbk"))
    (_, good), (_, bad) = read_records(str(src))
    assert good == {"text": "ok"}
    assert "not valid UTF-8" in bad.reason and "--encoding" in bad.reason


@pytest.mark.parametrize(
    ("delimiter", "suffix", "option"), [(";", ".csv", ";"), ("\t", ".tsv", None), ("\t", ".csv", "tab")]
)
def test_delimiters_and_tsv(tmp_path, tiny_model, delimiter, suffix, option):
    src = tmp_path / f"in{suffix}"
    src.write_text(f'id{delimiter}text\n1{delimiter}"a; note, with\ttabs"\n2{delimiter}plain note\n', encoding="utf-8")
    out = tmp_path / "o.jsonl"
    args = ["--delimiter", option] if option else []
    r = score(tiny_model, src, "-o", out, *args)
    assert r.exit_code == 0, r.output
    assert [row["text"] for row in jsonl(out)] == ["a; note, with\ttabs", "plain note"]


def test_semicolon_csv_without_delimiter_says_which_option(tmp_path, tiny_model):
    src = tmp_path / "semi.csv"
    src.write_text("id;text\n1;a note\n")
    r = score(tiny_model, src, "-o", tmp_path / "o.jsonl")
    assert r.exit_code == EXIT_USAGE
    assert "['id;text']" in r.output and "--delimiter ';'" in r.output


def test_tsv_output(tmp_path, tiny_model):
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": 1, "text": "a\\tnote"}\n')
    out = tmp_path / "o.tsv"
    assert score(tiny_model, src, "-o", out).exit_code == 0
    rows = list(csv.DictReader(out.open(newline="", encoding="utf-8"), delimiter="\t"))
    assert rows[0]["text"] == "a\tnote" and rows[0]["notescore_label"]


def test_read_options_refuse_bad_values():
    with pytest.raises(InputFormatError, match="one character"):
        ReadOptions(delimiter=";;")
    with pytest.raises(InputFormatError, match="unknown encoding"):
        ReadOptions(encoding="nope")


def test_xlsx_input(tmp_path, tiny_model):
    openpyxl = pytest.importorskip("openpyxl")
    import datetime

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "text", "when", None])
    sheet.append([1, "成都火锅探店 #成都美食#", datetime.datetime(2024, 5, 1, 12, 0)])
    sheet.append([None, None, None])
    sheet.append([2, "link in bio for the code", None])
    src = tmp_path / "export.xlsx"
    book.save(src)
    out = tmp_path / "o.jsonl"
    r = score(tiny_model, src, "-o", out)
    assert r.exit_code == 0, r.output
    rows = jsonl(out)
    assert [(row["id"], row["when"]) for row in rows] == [(1, "2024-05-01T12:00:00"), (2, None)]
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip")
    r = score(tiny_model, tmp_path / "broken.xlsx", "-o", out)
    assert r.exit_code == EXIT_USAGE and "not a readable .xlsx" in r.output


def test_xlsx_without_openpyxl_names_the_extra(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "openpyxl", None)
    (tmp_path / "a.xlsx").write_bytes(b"PK")
    with pytest.raises(ImportError, match=r"pip install 'notescore\[xlsx\]'"):
        list(read_records(str(tmp_path / "a.xlsx")))


def test_zst_without_zstandard_names_the_extra(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "zstandard", None)
    (tmp_path / "a.jsonl.zst").write_bytes(b"x")
    with pytest.raises(ImportError, match=r"pip install 'notescore\[zst\]'"):
        list(read_records(str(tmp_path / "a.jsonl.zst")))


# ------------------------------------------------------------------ CSV safety rule


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://evil","click")', '\'=HYPERLINK("http://evil","click")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-5", "-5"),
        ("+3.25e2", "+3.25e2"),
        ("plain", "plain"),
    ],
)
def test_neutralise(value, written):
    assert neutralise(value) == written


def test_csv_output_neutralises_formulas_unless_raw(tmp_path, tiny_model):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": '=HYPERLINK("http://evil","click") buy now', "n": -3, "s": "-3"}) + "\n")
    out = tmp_path / "o.csv"
    assert score(tiny_model, src, "-o", out).exit_code == 0
    (row,) = list(csv.DictReader(out.open(newline="", encoding="utf-8")))
    assert row["text"].startswith("'=HYPERLINK") and row["n"] == "-3" and row["s"] == "-3"
    assert score(tiny_model, src, "-o", out, "--csv-raw").exit_code == 0
    (row,) = list(csv.DictReader(out.open(newline="", encoding="utf-8")))
    assert row["text"].startswith("=HYPERLINK")
    # JSON output is never touched.
    assert score(tiny_model, src, "-o", tmp_path / "o.jsonl").exit_code == 0
    assert jsonl(tmp_path / "o.jsonl")[0]["text"].startswith("=HYPERLINK")


# ------------------------------------------------------ limit, sample, summary, mkdir


def _numbered(path: Path, n: int) -> Path:
    path.write_text("".join(json.dumps({"id": i, "text": f"note number {i}"}) + "\n" for i in range(1, n + 1)))
    return path


def test_limit_reads_only_the_first_rows(tmp_path, tiny_model):
    src = _numbered(tmp_path / "in.jsonl", 50)
    out = tmp_path / "o.jsonl"
    r = score(tiny_model, src, "-o", out, "--limit", "7")
    assert r.exit_code == 0 and "read 7 rows" in r.output
    assert [row["id"] for row in jsonl(out)] == list(range(1, 8))


def test_sample_is_uniform_reproducible_and_in_input_order(tmp_path, tiny_model):
    src = _numbered(tmp_path / "in.jsonl", 200)
    out = tmp_path / "o.jsonl"
    r = score(tiny_model, src, "-o", out, "--sample", "10", "--seed", "3")
    assert r.exit_code == 0 and "read 10 rows (sampled from 200)" in r.output
    ids = [row["id"] for row in jsonl(out)]
    assert len(ids) == 10 and ids == sorted(ids) and ids[-1] > 20
    assert score(tiny_model, src, "-o", out, "--sample", "10", "--seed", "3").exit_code == 0
    assert [row["id"] for row in jsonl(out)] == ids
    assert score(tiny_model, src, "-o", out, "--sample", "10", "--seed", "4").exit_code == 0
    assert [row["id"] for row in jsonl(out)] != ids
    assert score(tiny_model, src, "-o", out, "--sample", "500").exit_code == 0
    assert len(jsonl(out)) == 200
    assert score(tiny_model, src, "--sample", "0").exit_code == EXIT_USAGE


def test_reservoir_is_uniform():
    hits = [0] * 20
    for seed in range(3000):
        for line, _ in reservoir(((i, None) for i in range(20)), 4, seed):
            hits[line] += 1
    assert min(hits) > 0.85 * 600 and max(hits) < 1.15 * 600


def test_summary_json(tmp_path, tiny_model):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "a note"}\n{bad\n{"text": "another note"}\n')
    summary = tmp_path / "runs" / "s.json"
    r = score(tiny_model, src, "-o", tmp_path / "o.jsonl", "--summary-json", summary, "--mkdir")
    assert r.exit_code == EXIT_ROWS_FAILED
    data = json.loads(summary.read_text())
    assert (data["rows_read"], data["rows_scored"], data["rows_failed"]) == (3, 2, 1)
    assert sum(data["labels"].values()) == 2 and data["notes_per_second"] > 0
    assert data["errors"] == str(tmp_path / "o.errors.jsonl")
    assert data["model"]["name"] == "tiny-test" and len(data["model"]["sha256"]) == 64


def test_summary_json_to_stdout(tmp_path, tiny_model):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "a note"}\n')
    r = score(tiny_model, src, "-o", tmp_path / "o.jsonl", "--summary-json", "-", "-q")
    assert r.exit_code == 0 and json.loads(r.stdout)["rows_scored"] == 1
    r = score(tiny_model, src, "--summary-json", "-")
    assert r.exit_code == EXIT_USAGE and "both go to stdout" in r.output
