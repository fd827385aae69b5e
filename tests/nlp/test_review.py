"""The review queue in the library: signals, ranking, a bounded heap, entries a person can label."""

from __future__ import annotations

import json
import random

import pytest

from nlp import NoteClassifier
from nlp.review import (
    DEFAULT_MAX_ITEMS,
    EXCERPT_CHARS,
    LOW_MARGIN,
    NoveltyMeter,
    ReviewQueue,
    ReviewRow,
    ReviewSignals,
    excerpt,
    review_signals,
    script_share,
    text_units,
)
from tests.tiny_model import copy_with_ngram

CUES = {"sponsored": ["戳链接", "私信我", "link in bio"], "possibly_false": ["根治", "guaranteed"]}


@pytest.fixture(scope="module")
def cue_model(tmp_path_factory, tiny_model):
    folder = tmp_path_factory.mktemp("review") / "m"
    copy_with_ngram(tiny_model, folder, CUES, weight=0.5)
    return NoteClassifier.load(folder, threads=1, batch_size=8, keywords=False)


def _signals(**changes) -> ReviewSignals:
    base = dict(margin=0.9, top="genuine", second="sponsored", transformer_label="genuine", ngram_label="genuine",
                units=40, known_script=1.0, unknown=0.0, novelty=0.1)  # fmt: skip
    return ReviewSignals(**{**base, **changes})


def test_a_confident_familiar_note_has_no_reason():
    s = _signals()
    assert s.reasons() == [] and s.priority == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"margin": LOW_MARGIN - 0.01}, "low_margin"),
        ({"ngram_label": "sponsored"}, "disagreement"),
        ({"units": 2}, "out_of_distribution: very short"),
        ({"known_script": 0.3}, "out_of_distribution: neither Chinese nor English"),
        ({"unknown": 0.5}, "out_of_distribution: many unknown tokens"),
        ({"novelty": 0.9}, "out_of_distribution: far from the training data"),
    ],
)
def test_each_reason_is_named(changes, code):
    reasons = _signals(**changes).reasons()
    assert len(reasons) == 1 and reasons[0].startswith(code)


def test_priority_ranks_uncertainty_then_each_reason_calibration_cannot_see():
    unsure = _signals(margin=0.05)
    disagree = _signals(margin=0.05, ngram_label="sponsored")
    both = _signals(margin=0.05, ngram_label="sponsored", units=1)
    assert unsure.priority < disagree.priority < both.priority
    assert _signals(ngram_label=None).disagree is False  # no n-gram part: no committee


def test_script_and_length_measures():
    assert script_share("用了三个月 so good") == 1.0
    assert script_share("今日は天気がいいですね") < 0.5
    assert script_share("오늘 새로 산 크림") == 0.0 and script_share("👍👍") == 0.0
    assert text_units("好吃") == 2 and text_units("오늘 새로 산 크림 너무 좋아요") == 6 and text_units("🔥🔥") == 0


def test_novelty_is_high_for_unseen_text_and_low_for_training_text(cue_model):
    meter = NoveltyMeter(cue_model.ngram_model)
    assert meter("戳链接 私信我 根治 戳链接 私信我 根治 link in bio guaranteed") < 0.2
    assert meter("完全陌生的一段文字，讲的是天文望远镜和星座观测") > 0.9
    assert meter("短") is None  # too few terms to say


def _rows(n: int, seed: int = 0) -> list[ReviewRow]:
    rng = random.Random(seed)
    pieces = ["戳链接", "私信我", "根治", "面霜很好用", "干皮冬天够用", "link in bio", "today", "今日は", "好吃"]
    rows = []
    for i in range(n):
        text = " ".join(rng.choice(pieces) for _ in range(rng.randint(1, 5)))
        rows.append(ReviewRow(i + 1, {"id": f"n{i}", "text": text, "likes": i}, text, "标题" if i % 3 == 0 else None))
    return rows


def _offer_all(queue: ReviewQueue, clf, rows, window: int = 16) -> int:
    biggest = 0
    for s in range(0, len(rows), window):
        chunk = rows[s : s + window]
        preds, outputs = clf.predict_batch([r.text for r in chunk], [r.title for r in chunk])
        queue.offer(chunk, preds, outputs)
        biggest = max(biggest, len(queue._heap))
    return biggest


def test_the_heap_keeps_exactly_the_best_n_in_bounded_memory(cue_model):
    rows = _rows(120)
    everything = ReviewQueue(cue_model, max_items=10_000)
    _offer_all(everything, cue_model, rows)
    capped = ReviewQueue(cue_model, max_items=7)
    biggest = _offer_all(capped, cue_model, rows)
    assert biggest <= 7
    assert capped.seen == everything.seen == 120 and capped.queued == everything.queued
    assert [e["line"] for e in capped.entries()] == [e["line"] for e in everything.entries()[:7]]
    priorities = [e["priority"] for e in everything.entries()]
    assert priorities == sorted(priorities, reverse=True)


def test_entries_carry_what_a_reviewer_needs(cue_model, tmp_path):
    rows = _rows(40, seed=1)
    queue = ReviewQueue(cue_model, max_items=DEFAULT_MAX_ITEMS)
    _offer_all(queue, cue_model, rows)
    entries = queue.entries()
    assert entries
    by_line = {r.line: r for r in rows}
    for e in entries:
        row = by_line[e["line"]]
        assert e["id"] == row.record["id"] and e["text"] == row.text and e.get("title") == row.title
        assert e["suggested_label"] == max(e["scores"], key=e["scores"].get)
        assert e["reasons"] and e["priority"] > 0
        assert len(e["excerpt"]) <= EXCERPT_CHARS
        for ev in e["evidence"]:
            source = row.title if ev["field"] == "title" else row.text
            assert ev["field"] in ("title", "text") and source[ev["start"] : ev["end"]] == ev["text"]
    assert any(e["evidence"] for e in entries)
    path = tmp_path / "queue.jsonl"
    assert queue.write(path) == len(entries)
    assert [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] == entries


def test_signals_come_from_both_parts_of_the_model(cue_model):
    texts = ["戳链接私信我", "今日は天気がいいですね。とても美味しかった"]
    _, outputs = cue_model.predict_batch(texts, [None, None])
    signals = review_signals(cue_model, outputs, texts)
    assert signals[0].ngram_label == "sponsored"
    assert any(r.startswith("out_of_distribution: neither Chinese nor English") for r in signals[1].reasons())


def test_excerpt_and_bad_cap(classifier):
    assert excerpt("正文" * 200, "标题").startswith("标题 · 正文") and len(excerpt("x " * 400, None)) == EXCERPT_CHARS
    with pytest.raises(ValueError, match="at least 1"):
        ReviewQueue(classifier, max_items=0)
