"""Issue 11, "rows lost or the whole job lost" and "files overwritten": each reproduction
through `notescore score`, asserting exit code, message and what is left on disk."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nlp.cli import EXIT_ROWS_FAILED, EXIT_TERMINATED, EXIT_USAGE, app
from nlp.scoring import default_errors_path

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


def score(model, *args, input=None):
    return runner.invoke(app, ["score", *map(str, args), "--model", str(model)], input=input)


def lines_of(path: Path) -> list[dict]:
    """Strict JSON Lines: valid UTF-8, no NaN."""
    text = path.read_bytes().decode("utf-8")

    def no_constants(name):
        raise AssertionError(f"{name} in JSON output")

    return [json.loads(line, parse_constant=no_constants) for line in text.splitlines()]


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".part")]


# ------------------------------------------------------------- rows lost or job lost


BAD_LINES = {
    "nick": '{"text": "a note", "nick": "\\ud83d"}',
    "text": '{"text": "a \\ud83d note"}',
    "title": '{"text": "a note", "title": "\\udc00"}',
    "nested": '{"text": "a note", "user": {"name": "a\\udc00b", "tags": ["x"]}}',
    "key": '{"text": "a note", "k\\ud800": 1}',
}


@pytest.mark.parametrize("field", sorted(BAD_LINES))
def test_lone_surrogate_in_any_field_goes_to_errors_rest_scored(tmp_path, tiny_model, field):
    bad = BAD_LINES[field]
    src = tmp_path / "s.jsonl"
    src.write_text('{"text": "first good note"}\n' + bad + '\n{"text": "last good note 😀 \\ud83d\\ude00"}\n')
    out = tmp_path / "o.jsonl"
    r = score(tiny_model, src, "-o", out)
    assert r.exit_code == EXIT_ROWS_FAILED, r.output
    assert "Traceback" not in r.output
    assert "read 3 rows: scored 2, failed 1" in r.output
    rows = lines_of(out)
    assert [row["text"][:4] for row in rows] == ["firs", "last"]
    assert rows[1]["text"].endswith("😀 😀")  # a proper surrogate pair is a character, kept
    errors = lines_of(tmp_path / "o.errors.jsonl")
    assert [e["line"] for e in errors] == [2]
    assert "lone surrogate" in errors[0]["reason"] and errors[0]["raw"] == bad


def test_lone_surrogate_in_json_array_element(tmp_path, tiny_model):
    src = tmp_path / "a.json"
    src.write_text('[{"text": "good one"}, {"text": "bad \\udc80 one"}, {"text": "good two"}]')
    out = tmp_path / "o.json"
    r = score(tiny_model, src, "-o", out)
    assert r.exit_code == EXIT_ROWS_FAILED, r.output
    assert [row["text"] for row in json.loads(out.read_text("utf-8"))] == ["good one", "good two"]


def _quote_csv(path: Path, rows: int, broken: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("id,text,likes\n1,first note is fine,3\n")
        f.write(broken)
        for i in range(3, rows + 1):
            f.write(f"{i},note number {i} about face cream,{i}\n")


def test_unclosed_csv_quote_is_reported_and_the_rest_scored(tmp_path, tiny_model):
    src = tmp_path / "q.csv"
    _quote_csv(src, 1000, '2,"this quote is never closed,5\n')
    out = tmp_path / "o.jsonl"
    r = score(tiny_model, src, "-o", out)
    assert r.exit_code == EXIT_ROWS_FAILED, r.output
    assert "read 1,000 rows: scored 999, failed 1" in r.output
    rows = lines_of(out)
    assert [row["id"] for row in rows[:3]] == ["1", "3", "4"]
    assert max(len(row["text"]) for row in rows) < 40
    (error,) = lines_of(tmp_path / "o.errors.jsonl")
    assert error["line"] == 3
    assert "never closed" in error["reason"] and "line 1001" in error["reason"]


def test_runaway_quote_closed_by_a_later_quote(tmp_path, tiny_model):
    src = tmp_path / "q.csv"
    _quote_csv(src, 50, '2,"opened here,5\n')
    with open(src, "a", encoding="utf-8") as f:
        f.write('51,"a properly quoted, note",7\n52,last note,1\n')
    out = tmp_path / "o.jsonl"
    r = score(tiny_model, src, "-o", out)
    assert r.exit_code == EXIT_ROWS_FAILED, r.output
    assert "read 52 rows: scored 51, failed 1" in r.output
    assert lines_of(out)[-2]["text"] == "a properly quoted, note"


def test_runaway_quote_that_closes_cleanly_is_caught_by_its_shape(tmp_path, tiny_model):
    src = tmp_path / "q.csv"
    # The stray quote at the end of line 12 closes the one opened on line 3: one record, 3 fields.
    _quote_csv(src, 10, '2,"opened here\n')
    with open(src, "a", encoding="utf-8") as f:
        f.write('11,stray quote here",5\n12,after,1\n')
    out = tmp_path / "o.jsonl"
    r = score(tiny_model, src, "-o", out)
    assert r.exit_code == EXIT_ROWS_FAILED, r.output
    ids = [row["id"] for row in lines_of(out)]
    assert ids[:3] == ["1", "3", "4"] and "12" in ids


def test_multiline_notes_are_not_mistaken_for_runaway_quotes(tmp_path, tiny_model):
    src = tmp_path / "m.csv"
    note = "\n".join(f"第{i}行，很好用" for i in range(40))
    src.write_text(f'id,text\n1,"{note}"\n2,"short, with comma"\n', encoding="utf-8")
    out = tmp_path / "o.jsonl"
    r = score(tiny_model, src, "-o", out)
    assert r.exit_code == 0, r.output
    assert [row["text"] for row in lines_of(out)] == [note, "short, with comma"]


def test_parquet_output_of_integers_beyond_int64(tmp_path, tiny_model):
    pq = pytest.importorskip("pyarrow.parquet")
    src = tmp_path / "big.jsonl"
    src.write_text('{"text": "big id note", "id": 18446744073709551615, "n": 1}\n{"text": "small", "id": 5, "n": 2}\n')
    out = tmp_path / "o.parquet"
    r = score(tiny_model, src, "-o", out)
    assert r.exit_code == 0, r.output
    rows = pq.read_table(out).to_pylist()
    assert [row["id"] for row in rows] == ["18446744073709551615", "5"]  # the column is text, nothing lost
    assert [row["n"] for row in rows] == [1, 2]


def test_parquet_text_column_binary_or_int(tmp_path, tiny_model):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    src = tmp_path / "b.parquet"
    pq.write_table(pa.table({"text": pa.array([b"binary note one", "二".encode()], pa.binary()), "k": [1, 2]}), src)
    out = tmp_path / "o.parquet"
    r = score(tiny_model, src, "-o", out)
    assert r.exit_code == 0, r.output
    table = pq.read_table(out)
    assert table.column_names[:2] == ["text", "k"] and "notescore_label" in table.column_names
    assert table.column("text").to_pylist() == [b"binary note one", "二".encode()]
    src = tmp_path / "i.parquet"
    pq.write_table(pa.table({"text": [1, 2, 3], "body2": ["a real note", "b", "c"]}), src)
    r = score(tiny_model, src, "-o", out)
    assert r.exit_code == EXIT_USAGE
    assert "field 'text' is int" in r.output and "'body2'" in r.output


def test_all_rows_failed_parquet_output_keeps_result_columns(tmp_path, tiny_model):
    pq = pytest.importorskip("pyarrow.parquet")
    src = tmp_path / "e.jsonl"
    src.write_text('{"text": "   ", "id": 1}\n{"text": "", "id": 2}\n')
    out = tmp_path / "o.parquet"
    r = score(tiny_model, src, "-o", out)
    assert r.exit_code == EXIT_ROWS_FAILED, r.output
    assert "notescore_label" in pq.read_table(out).column_names


@pytest.mark.parametrize(
    "option",
    [
        ["--errors", "{tmp}/missing/e.jsonl"],
        ["-o", "{tmp}/missing/o.jsonl"],
        ["--summary-json", "{tmp}/missing/s.json"],
    ],
)
def test_every_output_path_is_checked_before_a_row_is_read(tmp_path, tiny_model, option):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "\\ud83d bad"}\n{"text": "good"}\n')
    args = ["-o", tmp_path / "o.jsonl"] if option[0] != "-o" else []
    r = score(tiny_model, src, *args, option[0], option[1].format(tmp=tmp_path))
    assert r.exit_code == EXIT_USAGE
    assert "does not exist; create it or pass --mkdir" in r.output and r.output.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]
    r = score(tiny_model, src, *args, option[0], option[1].format(tmp=tmp_path), "--mkdir")
    assert r.exit_code == EXIT_ROWS_FAILED, r.output
    assert (tmp_path / "missing").is_dir()


# ------------------------------------------------------------------ files overwritten


@pytest.mark.parametrize(
    ("args", "role"),
    [
        (["-o", "{tmp}/o.jsonl", "--errors", "{tmp}/o.jsonl"], "--errors"),
        (["-o", "{tmp}/o.jsonl", "--errors", "{tmp}/in.jsonl"], "--errors"),
        (["-o", "{tmp}/in.jsonl"], "-o/--output"),
        (["-o", "{tmp}/sub/../in.jsonl"], "-o/--output"),
        (["-o", "{tmp}/link.jsonl"], "-o/--output"),
        (["-o", "{tmp}/o.jsonl", "--summary-json", "{tmp}/o.jsonl"], "--summary-json"),
    ],
)
def test_a_job_never_writes_over_its_input_or_its_own_files(tmp_path, tiny_model, args, role):
    src = tmp_path / "in.jsonl"
    original = '{"text": "keep me"}\n{"oops"\n'
    src.write_text(original)
    (tmp_path / "sub").mkdir()
    os.link(src, tmp_path / "link.jsonl")
    r = score(tiny_model, src, *[a.format(tmp=tmp_path) for a in args])
    assert r.exit_code == EXIT_USAGE, r.output
    assert r.output.startswith(f"notescore: {role} ") and "same file as" in r.output
    assert r.output.count("\n") == 1
    assert src.read_text() == original
    assert not (tmp_path / "o.jsonl").exists()


def test_errors_file_is_named_after_the_whole_output_name(tmp_path, tiny_model):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "good"}\n{"bad json\n')
    for month in ("2024-01", "2024-02"):
        r = score(tiny_model, src, "-o", tmp_path / f"scored.{month}.jsonl")
        assert r.exit_code == EXIT_ROWS_FAILED
    assert (tmp_path / "scored.2024-01.errors.jsonl").is_file()
    assert (tmp_path / "scored.2024-02.errors.jsonl").is_file()
    # -o X.errors.jsonl is an output like any other: its errors go beside it, under a name of their own.
    r = score(tiny_model, src, "-o", tmp_path / "in.errors.jsonl")
    assert r.exit_code == EXIT_ROWS_FAILED
    assert lines_of(tmp_path / "in.errors.jsonl")[0]["text"] == "good"
    assert lines_of(tmp_path / "in.errors.errors.jsonl")[0]["line"] == 2
    assert str(default_errors_path("out/x.csv.gz", "-")) == "out/x.errors.jsonl"
    assert str(default_errors_path("-", "dump.v2.parquet")) == "dump.v2.errors.jsonl"
    assert str(default_errors_path("X.errors.jsonl", "in.jsonl")) == "X.errors.errors.jsonl"
    assert str(default_errors_path("-", "-")) == "notescore.errors.jsonl"


def test_clean_rerun_removes_the_stale_errors_file_and_says_so(tmp_path, tiny_model):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "good"}\n{"bad json\n')
    out = tmp_path / "o.jsonl"
    assert score(tiny_model, src, "-o", out).exit_code == EXIT_ROWS_FAILED
    assert (tmp_path / "o.errors.jsonl").is_file()
    src.write_text('{"text": "good"}\n{"text": "fixed"}\n')
    r = score(tiny_model, src, "-o", out)
    assert r.exit_code == 0
    assert not (tmp_path / "o.errors.jsonl").exists()
    assert f"removed {tmp_path / 'o.errors.jsonl'}, left by an earlier run" in r.output


def test_output_is_replaced_by_default_and_kept_with_no_clobber(tmp_path, tiny_model):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "good"}\n')
    out = tmp_path / "o.jsonl"
    out.write_text("precious\n")
    r = score(tiny_model, src, "-o", out, "--no-clobber")
    assert r.exit_code == EXIT_USAGE
    assert "exists (--no-clobber)" in r.output and out.read_text() == "precious\n"
    assert score(tiny_model, src, "-o", out).exit_code == 0
    assert lines_of(out)[0]["text"] == "good"
    summary = tmp_path / "s.json"
    summary.write_text("{}")
    r = score(tiny_model, src, "-o", tmp_path / "new.jsonl", "--summary-json", summary, "--no-clobber")
    assert r.exit_code == EXIT_USAGE and summary.read_text() == "{}"


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_input_fields_named_like_the_results_are_refused_or_prefixed(tmp_path, tiny_model, fmt):
    if fmt == "jsonl":
        src = tmp_path / "in.jsonl"
        src.write_text('{"text": "a note", "notescore": "my own column"}\n')
        field = "notescore"
    else:
        src = tmp_path / "in.csv"
        src.write_text("text,notescore_label\na note,mine\n")
        field = "notescore_label"
    out = tmp_path / f"o.{fmt}"
    r = score(tiny_model, src, "-o", out)
    assert r.exit_code == EXIT_USAGE
    assert f"field {field!r}" in r.output and "--prefix" in r.output
    assert not out.exists()
    r = score(tiny_model, src, "-o", tmp_path / "o.jsonl", "--prefix", "ns")
    assert r.exit_code == 0, r.output
    (row,) = lines_of(tmp_path / "o.jsonl")
    assert row[field] in ("my own column", "mine") and row["ns"]["label"]
    r = score(tiny_model, src, "-o", tmp_path / "o.csv", "--prefix", "ns")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o.csv").read_text().splitlines()[0].startswith(f"text,{field},ns_label")
    assert score(tiny_model, src, "--prefix", "bad prefix!").exit_code == EXIT_USAGE


def test_files_are_created_with_the_umask_and_replaced_files_keep_their_mode(tmp_path, tiny_model):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "good"}\n{"bad\n')
    old = os.umask(0o022)
    try:
        r = score(tiny_model, src, "-o", tmp_path / "o.jsonl", "--summary-json", tmp_path / "s.json")
        assert r.exit_code == EXIT_ROWS_FAILED
        for name in ("o.jsonl", "o.errors.jsonl", "s.json"):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name
        os.chmod(tmp_path / "o.jsonl", 0o640)
        assert score(tiny_model, src, "-o", tmp_path / "o.jsonl").exit_code == EXIT_ROWS_FAILED
        assert stat.S_IMODE((tmp_path / "o.jsonl").stat().st_mode) == 0o640
        os.umask(0o077)
        assert score(tiny_model, src, "-o", tmp_path / "p.jsonl").exit_code == EXIT_ROWS_FAILED
        assert stat.S_IMODE((tmp_path / "p.jsonl").stat().st_mode) == 0o600
    finally:
        os.umask(old)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_leftovers_of_killed_runs_are_removed_live_ones_kept(tmp_path, tiny_model):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "good"}\n')
    dead = tmp_path / f".o.jsonl.notescore-{_dead_pid()}.part"
    live = tmp_path / f".o.jsonl.notescore-{os.getppid()}.part"
    other = tmp_path / f".other.jsonl.notescore-{_dead_pid()}.part"
    for p in (dead, live, other):
        p.write_text("half")
    assert score(tiny_model, src, "-o", tmp_path / "o.jsonl").exit_code == 0
    assert not dead.exists() and live.exists() and other.exists()


@pytest.mark.parametrize(
    ("signum", "code", "name"),
    [(signal.SIGTERM, EXIT_TERMINATED, "terminated (SIGTERM)"), (signal.SIGINT, 130, "interrupted (SIGINT)")],
)
def test_sigterm_removes_temporary_files_and_exits_143(tmp_path, tiny_model, signum, code, name):
    out = tmp_path / "o.jsonl"
    cmd = [sys.executable, "-m", "nlp", "score", "-", "-o", str(out), "--model", str(tiny_model), "-q"]
    # A shell starts background jobs with SIGINT ignored, and the child would inherit that:
    # give it the default disposition, as an interactive user's terminal does.
    proc = subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    try:
        proc.stdin.write(b'{"text": "a first note"}\n{"text": "and another"}\n')
        proc.stdin.flush()
        deadline = time.monotonic() + 60
        while len(leftovers(tmp_path)) < 2 and time.monotonic() < deadline:  # the output's and the errors'
            time.sleep(0.05)
        assert len(leftovers(tmp_path)) == 2, "the job never started writing"
        time.sleep(0.2)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == code
    assert err.decode().strip() == f"notescore: {name}: stopped; temporary files removed"
    assert list(tmp_path.iterdir()) == []


def test_gzip_and_zstd_output_are_compressed_and_read_back(tmp_path, tiny_model):
    import gzip

    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "good note"}\n{"text": "another"}\n')
    r = score(tiny_model, src, "-o", tmp_path / "o.jsonl.gz")
    assert r.exit_code == 0
    text = gzip.decompress((tmp_path / "o.jsonl.gz").read_bytes()).decode()
    assert [json.loads(x)["text"] for x in text.splitlines()] == ["good note", "another"]
    r = score(tiny_model, src, "-o", tmp_path / "o.csv.gz")
    assert gzip.decompress((tmp_path / "o.csv.gz").read_bytes()).decode().startswith("text,notescore_label")
    pytest.importorskip("zstandard")
    assert score(tiny_model, tmp_path / "o.jsonl.gz", "-o", tmp_path / "z.jsonl.zst", "--prefix", "x").exit_code == 0
    r = score(tiny_model, tmp_path / "z.jsonl.zst", "-o", tmp_path / "back.jsonl", "--prefix", "y")
    assert r.exit_code == 0, r.output
    assert [row["x"]["label"] == row["notescore"]["label"] for row in lines_of(tmp_path / "back.jsonl")] == [True] * 2
