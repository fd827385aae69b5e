"""Fuzz `notescore score` with random bytes, random JSON and random CSV.

Whatever the input: no traceback; exit 0 or 3 with rows read = rows scored + rows
in the errors file, the output strict UTF-8 JSON, nothing else left in the
folder; or exit 2 with nothing written at all. The fast profile runs in `make
test`; `make test-slow` runs many more examples.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from nlp.cli import app  # noqa: E402

runner = CliRunner()
FAST = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
HEAVY = settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture
def run_score(classifier, monkeypatch):
    """Score bytes written to a file of a given name through the CLI (the model loaded once)."""
    import nlp.cli_score

    monkeypatch.setattr(nlp.cli_score, "load_classifier", lambda *args, **kwargs: classifier)

    def run(data: bytes, name: str, *extra: str) -> None:
        with tempfile.TemporaryDirectory() as folder:
            check_run(Path(folder), data, name, extra)

    return run


def _strict_lines(path: Path) -> list[dict]:
    def refuse(constant):
        raise AssertionError(f"{constant} in JSON output")

    text = path.read_bytes().decode("utf-8")  # lines end at "\n" only (U+2028 and U+0085 are text)
    return [json.loads(line, parse_constant=refuse) for line in text.split("\n") if line]


def check_run(folder: Path, data: bytes, name: str, extra: tuple[str, ...]) -> None:
    src = folder / name
    src.write_bytes(data)
    out, summary, errors = folder / "out.jsonl", folder / "summary.json", folder / "out.errors.jsonl"
    args = ["score", str(src), "-o", str(out), "--summary-json", str(summary), "-q", *extra]
    r = runner.invoke(app, args)
    assert "Traceback" not in r.output
    assert r.exit_code in (0, 2, 3), (r.exit_code, r.output, r.exception)
    files = sorted(p.name for p in folder.iterdir())
    if r.exit_code == 2:
        assert files == [name], files
        assert r.output.startswith("notescore: ") and r.output.count("\n") == 1, r.output
        return
    counts = json.loads(summary.read_text())
    assert counts["rows_read"] == counts["rows_scored"] + counts["rows_failed"]
    assert len(_strict_lines(out)) == counts["rows_scored"]
    failed = _strict_lines(errors) if errors.exists() else []
    assert len(failed) == counts["rows_failed"]
    assert all(set(e) == {"line", "reason", "raw"} for e in failed)
    assert (r.exit_code == 3) == bool(failed)
    assert files == sorted([name, "out.jsonl", "summary.json"] + (["out.errors.jsonl"] if failed else []))


# ------------------------------------------------------------------ strategies

SURROGATES = st.sampled_from(["\ud83d", "\udc80", "a\ud800b", "\udfff"])
TEXTS = st.one_of(st.text(max_size=40), SURROGATES, st.sampled_from(["", "  ", "\u200b\u200d", "=1+2", "面霜 #护肤#"]))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(), TEXTS)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXTS, inner, max_size=4)),
    max_leaves=12,
)
RECORDS = st.one_of(
    st.fixed_dictionaries({"text": TEXTS}, optional={"title": SCALARS, "id": SCALARS, "notes": JSON_VALUES}),
    st.dictionaries(TEXTS, JSON_VALUES, max_size=4),
    JSON_VALUES,
)


def _dumps(value, ascii_only: bool) -> str:
    return json.dumps(value, ensure_ascii=ascii_only)


@st.composite
def jsonl_bytes(draw) -> bytes:
    records = draw(st.lists(RECORDS, max_size=12))
    lines = [_dumps(r, draw(st.booleans())) for r in records]
    junk = draw(st.lists(st.sampled_from(["{", "[1,", "NaN", "", "{}", '{"text": "x"']), max_size=2))
    lines += junk
    draw(st.randoms()).shuffle(lines)
    return "\n".join(lines).encode("utf-8", "surrogatepass")


@st.composite
def csv_bytes(draw) -> bytes:
    alphabet = st.sampled_from(list('ab面,;"\n\r\t =+-') + ["\u200b", "\ud83d"])
    header = draw(st.sampled_from([["text"], ["id", "text"], ["text", "title", "n"], ["a;b"]]))
    rows = draw(st.lists(st.lists(st.text(alphabet, max_size=12), min_size=1, max_size=4), max_size=10))
    if draw(st.booleans()):  # well-formed quoting
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        writer.writerows(rows)
        text = buffer.getvalue()
    else:  # as a careless export writes it
        text = "\n".join(",".join(row) for row in [header, *rows])
    return text.encode("utf-8", "surrogatepass")


# ----------------------------------------------------------------------- tests


def _bytes_property(run_score, data: bytes, name: str) -> None:
    run_score(data, name)


@FAST
@given(data=st.binary(max_size=600), name=st.sampled_from(["in.jsonl", "in.json", "in.csv", "in.tsv"]))
def test_random_bytes(run_score, data, name):
    _bytes_property(run_score, data, name)


@FAST
@given(data=jsonl_bytes())
def test_random_json_lines(run_score, data):
    run_score(data, "in.jsonl")


@FAST
@given(records=st.lists(RECORDS, max_size=10), indent=st.sampled_from([None, 1]))
def test_random_json_array(run_score, records, indent):
    run_score(json.dumps(records, indent=indent).encode("utf-8", "surrogatepass"), "in.json")


@FAST
@given(data=csv_bytes())
def test_random_csv(run_score, data):
    run_score(data, "in.csv")


@pytest.mark.slow
@HEAVY
@given(
    data=st.one_of(st.binary(max_size=4000), jsonl_bytes(), csv_bytes()),
    name=st.sampled_from(["in.jsonl", "in.json", "in.csv", "in.tsv"]),
)
def test_random_inputs_heavy(run_score, data, name):
    run_score(data, name)
