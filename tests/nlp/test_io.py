import io

import pytest

from nlp.errors import InputFormatError, RecordError
from nlp.io import detect_format, read_records


def test_detect_format():
    assert detect_format("a.jsonl").name == "jsonl"
    assert detect_format("a.JSON").name == "json"  # an array, or JSON Lines
    assert detect_format("a.ndjson").name == "jsonl"
    assert detect_format("a.tsv").name == "tsv"
    assert detect_format("a.xlsx").name == "xlsx"
    assert detect_format("a.jsonl.zst").name == "jsonl"
    assert detect_format("a.csv").name == "csv"
    assert detect_format("a.csv.gz").name == "csv"
    assert detect_format("a.parquet").name == "parquet"
    assert detect_format("-").name == "json"  # stdin: JSON Lines or a JSON array
    assert detect_format("-", output=True).name == "jsonl"
    assert detect_format("a.txt", "csv").name == "csv"
    with pytest.raises(InputFormatError, match="--format"):
        detect_format("notes.txt")
    with pytest.raises(InputFormatError, match="unknown format"):
        detect_format("a.jsonl", "xml")


def test_jsonl_bad_lines_are_reported_not_dropped():
    data = b'{"text": "ok"}\n{broken\n\n[1, 2]\n{"text": "\xff\xfe bad"}\n{"text": "last"}\n'
    items = list(read_records("-", stdin=io.BytesIO(data)))
    assert [n for n, _ in items] == [1, 2, 4, 5, 6]
    kinds = [isinstance(x, RecordError) for _, x in items]
    assert kinds == [False, True, True, True, False]
    assert "not valid JSON" in items[1][1].reason
    assert "JSON object" in items[2][1].reason
    assert "UTF-8" in items[3][1].reason


def test_csv_multiline_fields_and_line_numbers(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text('id,text\n1,"two\nlines"\n2,plain\n3,too,many\n4,ok\n', encoding="utf-8")
    items = list(read_records(str(path)))
    assert [n for n, _ in items] == [2, 4, 5, 6]
    assert items[0][1] == {"id": "1", "text": "two\nlines"}
    assert isinstance(items[2][1], RecordError)
    assert "expected 2 fields" in items[2][1].reason


def test_missing_and_folder(tmp_path):
    with pytest.raises(InputFormatError, match="does not exist"):
        list(read_records(str(tmp_path / "x.jsonl")))
    with pytest.raises(InputFormatError, match="folder"):
        list(read_records(str(tmp_path), "jsonl"))
