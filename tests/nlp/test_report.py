"""The HTML report: aggregation, every input format, evidence and escaping, the CLI, and a real browser."""

from __future__ import annotations

import json
from datetime import date

import pytest
from typer.testing import CliRunner

from nlp import report_aggregate
from nlp.cli import app
from nlp.errors import RecordError
from nlp.io import RecordWriter, read_records
from nlp.report import ReportBuilder, ReportOptions, aggregate, load_card, parse_evidence, scored_row
from nlp.report_html import highlight, render_html
from nlp.report_time import Timeline, parse_date
from nlp.scoring import flatten
from tests import render

runner = CliRunner()


def scored(label, g, s, f, keywords=(), evidence=None, **fields):
    result = {"label": label, "scores": {"genuine": g, "sponsored": s, "possibly_false": f}, "keywords": list(keywords)}
    if evidence is not None:
        result["evidence"] = evidence
    return {**fields, "notescore": result}


ROWS = [
    scored("genuine", 0.9, 0.05, 0.05, ["面霜", "#干皮#"], id=1, text="面霜好用", author="ann", time="2024-03-01"),
    scored("genuine", 0.55, 0.40, 0.05, ["面霜"], id=2, text="回购第二瓶", author="bob", time="2024-03-01T08:00:00"),
    scored("sponsored", 0.02, 0.97, 0.01, ["面霜", "优惠码"], id=3, text="戳链接", author="ann", time="2024-03-02"),
    scored("sponsored", 0.30, 0.62, 0.08, ["Olaplex", "olaplex"], id=4, text="PR", author="cat", time=1709424000000),
    scored("possibly_false", 0.1, 0.1, 0.8, ["减肥药"], id=5, text="7天瘦20斤", author="", time="not a date"),
    scored("genuine", 0.98, 0.01, 0.01, [], id=6, text="Kaiseki dinner", author="ann"),
]
OPTIONS = ReportOptions(date_field="time", by=("author",), top_values=1)


def lines(rows):
    return list(enumerate(rows, start=1))


def write_jsonl(path, rows, extra=()):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows) + "".join(extra), encoding="utf-8")
    return path


def test_counts_shares_and_histograms():
    data = aggregate(lines(ROWS), "x.jsonl", OPTIONS)
    assert data.labels == ("genuine", "sponsored", "possibly_false")
    assert (data.rows_read, data.notes, data.skipped) == (6, 6, 0)
    assert data.label_counts == {"genuine": 3, "sponsored": 2, "possibly_false": 1}
    nonzero = {label: {i: n for i, n in enumerate(bins) if n} for label, bins in data.histograms.items()}
    assert nonzero == {"genuine": {11: 1, 18: 1, 19: 1}, "sponsored": {12: 1, 19: 1}, "possibly_false": {16: 1}}
    assert data.mean_confidence["genuine"] == pytest.approx((0.9 + 0.55 + 0.98) / 3)


def test_keywords_are_folded_counted_once_per_note_and_ranked():
    data = aggregate(lines(ROWS), "x.jsonl", OPTIONS)
    assert data.keywords["genuine"] == [("面霜", 2), ("干皮", 1)]
    assert data.keywords["sponsored"] == [("olaplex", 1), ("优惠码", 1), ("面霜", 1)]
    assert not data.keywords_approximate


def test_breakdown_keeps_top_values_and_groups_the_rest():
    (by,) = aggregate(lines(ROWS), "x.jsonl", OPTIONS).breakdowns
    assert by.column == "author"
    assert by.values == [("ann", {"genuine": 2, "sponsored": 1})]
    assert by.other == {"genuine": 1, "sponsored": 1}
    assert by.missing == {"possibly_false": 1}


def test_breakdown_reaches_into_nested_values_and_lists():
    rows = [
        scored("genuine", 0.9, 0.05, 0.05, user={"nickname": "舒舒"}, tags=["护肤", "干皮"]),
        scored("sponsored", 0.1, 0.8, 0.1, user=json.dumps({"nickname": "舒舒"}), tags=["护肤"]),
    ]
    options = ReportOptions(by=("user.nickname", "tags"))
    nick, tags = aggregate(lines(rows), "x", options).breakdowns
    assert nick.values == [("舒舒", {"genuine": 1, "sponsored": 1})]
    assert tags.values == [("护肤", {"genuine": 1, "sponsored": 1}), ("干皮", {"genuine": 1})]


def test_date_trend_by_day_with_keyword_counts():
    t = aggregate(lines(ROWS), "x.jsonl", OPTIONS).timeline
    assert t.level == "day"
    assert t.buckets == [date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3)]
    assert t.counts == {"genuine": [2, 0, 0], "sponsored": [0, 1, 1], "possibly_false": [0, 0, 0]}
    assert t.keywords["genuine"] == [("面霜", [2, 0, 0]), ("干皮", [1, 0, 0])]
    assert (t.dated, t.undated, t.unparsed, t.unparsed_example) == (4, 1, 1, "'not a date'")


@pytest.mark.parametrize(
    ("days", "level"), [(40, "day"), (300, "week"), (3 * 365, "month"), (30 * 365, "year")]
)  # fmt: skip
def test_bucket_size_follows_the_span(days, level):
    timeline = Timeline()
    start = date(2020, 1, 1).toordinal()
    for i in range(4000):
        timeline.add(date.fromordinal(start + i * days // 3999).isoformat(), "genuine", ["k"])
    assert len(timeline.series) <= 2  # days and months, or weeks and months, or one size
    data = timeline.finish(("genuine",), {"genuine": ["k"]})
    assert data.level == level
    assert sum(data.counts["genuine"]) == 4000 == sum(data.keywords["genuine"][0][1])
    assert len(data.buckets) <= 120


def test_sparse_dates_get_coarser_buckets():
    timeline = Timeline()
    for day in range(0, 60, 3):  # 20 notes over 2 months: days would be mostly empty
        timeline.add(date.fromordinal(date(2024, 1, 1).toordinal() + day), "genuine", [])
    assert timeline.finish(("genuine",), {}).level == "week"


def test_keyword_trends_are_capped_and_keep_the_frequent_ones():
    timeline, counts = Timeline(trend_cells=20), {}
    for i in range(500):
        keywords = ["hot", f"rare{i}"]
        for k in keywords:
            counts[k] = counts.get(k, 0) + 1
        timeline.add("2024-01-01", "genuine", keywords, counts)
        held = sum(len(b) for s in timeline.series.values() for b in s.keywords["genuine"].values())
        assert held == timeline.cells["genuine"] <= 20
    data = timeline.finish(("genuine",), {"genuine": ["hot"]})
    assert data.keywords["genuine"] == [("hot", [500])] and data.trends_pruned


def test_keyword_trends_of_a_small_file_are_exact():
    rows = [
        scored("genuine", 0.9, 0.05, 0.05, [f"k{i % 700}", f"w{i % 13}"], time=f"2024-0{1 + i % 9}-01")
        for i in range(3000)
    ]
    options = ReportOptions(date_field="time", top_keywords=20, trend_keywords=20)
    data = aggregate(lines(rows), "x", options)
    assert not data.timeline.trends_pruned
    totals = {k: sum(v) for k, v in data.timeline.keywords["genuine"]}
    assert totals == dict(data.keywords["genuine"])


def test_parse_date_forms():
    assert parse_date(1709424000000) == parse_date(1709424000) == parse_date("1709424000") == date(2024, 3, 3)
    assert parse_date("2024/3/5") == parse_date("2024年3月5日") == date(2024, 3, 5)
    assert parse_date("2024-03-05T23:00:00Z") == parse_date("2024-03-05 23:00") == date(2024, 3, 5)
    assert parse_date(0) is None and parse_date("soon") is None and parse_date(True) is None


def test_examples_most_confident_and_least_certain():
    data = aggregate(lines(ROWS), "x.jsonl", OPTIONS)
    assert [e.line for e in data.confident["genuine"]] == [6, 1, 2]
    assert [e.line for e in data.uncertain["genuine"]] == [2, 1, 6]
    first = data.confident["genuine"][0]
    assert (first.text, first.text_field, first.note_id) == ("Kaiseki dinner", "text", "6")


def test_keyword_memory_is_bounded_and_the_top_survives(monkeypatch):
    monkeypatch.setattr(report_aggregate, "KEYWORD_CAP", 50)
    rows = [scored("genuine", 0.9, 0.05, 0.05, ["hot", f"rare{i}"], time="2024-01-01") for i in range(2000)]
    builder = ReportBuilder("x", ReportOptions(date_field="time"))
    for line, row in lines(rows):
        builder.add(line, row)
    assert len(builder.keywords["genuine"].counts) <= 50
    data = builder.finish()
    assert data.keywords["genuine"][0] == ("hot", 2000)
    assert data.keywords_approximate
    assert data.timeline.keywords["genuine"][0] == ("hot", [2000])


def test_rows_without_results_are_skipped_and_named():
    items = [
        (1, ROWS[0]),
        (2, RecordError(2, "not valid JSON (Expecting value at column 1)", "{oops")),
        (3, {"id": 7, "text": "never scored"}),
        (4, {"notescore": {"label": "genuine", "scores": {"genuine": "high"}, "keywords": []}}),
        (5, {"notescore": {"label": "genuine", "scores": {"genuine": float("nan")}, "keywords": []}}),
    ]
    data = aggregate(items, "x.jsonl")
    assert (data.rows_read, data.notes, data.skipped) == (5, 1, 4)
    assert data.skip_reasons == {
        "unreadable rows": 1,
        "no notescore result (neither a 'notescore' object nor notescore_* columns)": 1,
        "malformed results": 2,
    }
    assert [line for line, _ in data.skip_examples] == [2, 3, 4, 5]
    assert "4 of 5 rows skipped" in render_html(data, load_card())


def _with_evidence_column(record):
    flat = flatten(record)
    flat["notescore_evidence"] = json.dumps(record["notescore"].get("evidence", []), ensure_ascii=False)
    return flat


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_csv_and_parquet_outputs_give_the_same_report(tmp_path, fmt):
    path = tmp_path / f"scored.{fmt}"
    evidence = [{"label": "sponsored", "text": "链接", "start": 1, "end": 3, "weight": 0.7}]
    rows = [*ROWS, scored("sponsored", 0.1, 0.85, 0.05, ["链接"], evidence, id=8, text="戳链接", author="dan")]
    writer = RecordWriter(str(path), fmt, _with_evidence_column)
    for row in rows:
        writer.write(row)
    writer.close()
    flat = aggregate(read_records(str(path)), path.name, OPTIONS)
    want = aggregate(lines(rows), "x.jsonl", OPTIONS)
    for name in ("notes", "label_counts", "histograms", "keywords", "breakdowns"):
        assert getattr(flat, name) == getattr(want, name), name
    assert flat.mean_confidence == pytest.approx(want.mean_confidence)
    assert flat.timeline.counts == want.timeline.counts
    assert [e.evidence for e in flat.confident["sponsored"]] == [e.evidence for e in want.confident["sponsored"]]
    assert flat.confident["sponsored"][1].evidence[0].text == "链接"
    assert "<mark class='ev-1'" in render_html(flat, load_card())


def test_evidence_is_highlighted_and_text_escaped():
    text = "戳链接领券，私信我拿优惠码！<script>alert(1)</script>"
    evidence = [
        {"label": "sponsored", "text": "戳链接", "start": 0, "end": 3, "weight": 0.8},
        {"label": "sponsored", "text": "优惠码", "start": 90, "end": 93, "weight": 0.5},  # offsets off: found by text
        {"label": "genuine", "text": "面霜", "start": 2, "end": 4, "weight": 0.1, "field": "title"},
        {"label": "sponsored", "text": "不存在", "start": 0, "end": 3, "weight": 0.3},  # nowhere: listed
        {"label": "sponsored", "start": "x", "end": 3},  # malformed: left out
    ]
    row = scored("sponsored", 0.05, 0.9, 0.05, ["<b>kw</b>"], evidence, title="宝藏面霜", text=text, author="<i>x</i>")
    page = render_html(aggregate(lines([row]), "<x>.jsonl", ReportOptions(by=("author",))), load_card())
    assert "<mark class='ev-1' title='evidence for sponsored · weight +0.80'>戳链接</mark>" in page
    assert "<mark class='ev-1' title='evidence for sponsored · weight +0.50'>优惠码</mark>" in page
    assert "宝藏<mark class='ev-0' title='evidence for genuine · weight +0.10'>面霜</mark>" in page
    assert "Evidence not in the text shown: «不存在» (sponsored +0.30)" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script" not in page
    assert "&lt;b&gt;kw&lt;/b&gt;" in page and "&lt;i&gt;x&lt;/i&gt;" in page and "&lt;x&gt;.jsonl" in page


def test_a_note_without_evidence_is_shown_plainly():
    page = render_html(aggregate(lines(ROWS), "x.jsonl", OPTIONS), load_card())
    assert "<mark" not in page and "面霜好用" in page


def test_overlapping_evidence_keeps_the_heavier_span():
    ev = parse_evidence(
        [
            {"label": "sponsored", "text": "abc", "start": 0, "end": 3, "weight": 0.2},
            {"label": "possibly_false", "text": "bcd", "start": 1, "end": 4, "weight": -0.9},
        ]
    )
    html = highlight("abcde", [(e.start, e.end, e) for e in ev], {"sponsored": 1, "possibly_false": 2})
    assert html == "a<mark class='ev-2' title='evidence for possibly false · weight -0.90'>bcd</mark>e"


def test_page_is_self_contained():
    page = render_html(aggregate(lines(ROWS), "x.jsonl", OPTIONS), load_card())
    assert page.startswith("<!doctype html>") and "<svg" in page and "Noto Sans CJK SC" in page
    for ref in ("src=", "href=", "url(", "@import", "<link", "<script"):
        assert ref not in page, ref


def test_model_card_summary_and_unavailable(tmp_path, tiny_model):
    card = load_card(tiny_model)
    assert (card.name, card.error, card.training_data[0]["name"]) == ("tiny-test", None, "none")
    missing = load_card(tmp_path / "nope")
    assert missing.error and "does not exist" in missing.error
    data = aggregate(lines([scored("genuine", 0.9, 0.05, 0.05, text="x")]), "x.jsonl")
    assert "Model card unavailable: model folder" in render_html(data, missing)
    shipped = load_card()
    assert shipped.error is None and shipped.metrics and shipped.training_data


def test_model_name_recorded_in_the_file_is_shown(tiny_model):
    row = scored("genuine", 0.9, 0.05, 0.05, text="x")
    row["notescore"]["model"] = "other-model"
    assert scored_row(row).model == "other-model"
    page = render_html(aggregate(lines([row]), "x.jsonl"), load_card(tiny_model))
    assert "other-model" in page and "scored with another model" in page


def test_cli_writes_the_report(tmp_path, tiny_model):
    src = write_jsonl(tmp_path / "scored.jsonl", ROWS)
    out = tmp_path / "r.html"
    args = ["report", str(src), "-o", str(out), "--by", "author", "--date-field", "time", "--model", str(tiny_model)]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert r.stderr.strip() == f"report of 6 notes written to {out}"
    page = out.read_text(encoding="utf-8")
    assert "By author" in page and "Over time" in page and "tiny-test" in page


def test_cli_default_output_and_skipped_rows(tmp_path):
    src = write_jsonl(tmp_path / "scored.jsonl", ROWS[:2], extra=["{broken\n", '{"text": "unscored"}\n'])
    r = runner.invoke(app, ["report", str(src)])
    assert r.exit_code == 0, r.output
    assert "2 rows skipped" in r.stderr
    assert "2 of 4 rows skipped" in (tmp_path / "scored.report.html").read_text(encoding="utf-8")


def test_cli_reads_stdin_with_an_output(tmp_path):
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS)
    assert runner.invoke(app, ["report", "-", "-o", str(tmp_path / "r.html")], input=data).exit_code == 0
    r = runner.invoke(app, ["report", "-"], input=data)
    assert r.exit_code == 2 and "pass -o FILE.html" in r.stderr


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("missing.jsonl", False, "expected a scored file; found nothing"),
        ("folder.jsonl", "dir", "expected a scored file; found a folder"),
        ("notes.txt", True, "cannot tell the format"),
    ],
)
def test_cli_usage_errors_exit_2_with_one_line(tmp_path, name, make, message):
    path = tmp_path / name
    if make == "dir":
        path.mkdir()
    elif make:
        path.write_text("x\n")
    r = runner.invoke(app, ["report", str(path), "-o", str(tmp_path / "r.html")])
    assert r.exit_code == 2
    assert len(r.stderr.strip().splitlines()) == 1 and message in r.stderr
    assert not (tmp_path / "r.html").exists()


def test_cli_missing_output_folder_exits_2(tmp_path):
    src = write_jsonl(tmp_path / "scored.jsonl", ROWS)
    r = runner.invoke(app, ["report", str(src), "-o", str(tmp_path / "no" / "r.html")])
    assert r.exit_code == 2 and "does not exist" in r.stderr


def test_chromium_renders_the_sample_report(tmp_path, classifier):
    if render.chromium() is None:
        pytest.skip("chromium is not on PATH (apt-get install chromium fonts-noto-cjk): cannot render the report")
    from nlp import score_file
    from nlp.report import write_report

    scored_path = tmp_path / "sample_scored.jsonl"
    score_file(str(render.SAMPLE), str(scored_path), classifier)
    html = tmp_path / "report.html"
    write_report(str(scored_path), str(html), options=ReportOptions(date_field="time", by=("user.nickname",)))
    png = render.render_png(html, tmp_path / "report.png")
    assert render.png_size(png) == render.WINDOW
    assert png.stat().st_size > 50_000  # a blank or unstyled page compresses to far less
