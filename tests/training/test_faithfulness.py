"""The faithfulness check of --explain: deleting the evidence moves the score, random words much less."""

from __future__ import annotations

import random

import pytest

from nlp import NoteClassifier
from nlp.keywords import default_extractor
from nlp.records import labelled_note
from tests.tiny_model import LABELS, copy_with_ngram
from training.faithfulness import delete_spans, faithfulness, format_faithfulness, random_words, without

CUES = {"sponsored": ["戳链接", "私信我"], "possibly_false": ["根治", "guaranteed"], "genuine": ["用了三个月"]}


@pytest.fixture(scope="module")
def cue_model(tmp_path_factory, tiny_model):
    folder = tmp_path_factory.mktemp("faith") / "m"
    copy_with_ngram(tiny_model, folder, CUES)
    return NoteClassifier.load(folder, keywords=False)


def _notes():
    rng = random.Random(0)
    filler = ["今天天气不错", "面霜", "出门走走", "干皮", "so so", "成都"]
    rows = []
    for i in range(24):
        label = LABELS[i % 3]
        cue = rng.choice(CUES[label])
        rows.append({"text": f"{rng.choice(filler)} {cue} {rng.choice(filler)} {rng.choice(filler)}", "label": label,
                     "title": rng.choice(filler) if i % 4 == 0 else None})  # fmt: skip
    return [labelled_note({k: v for k, v in r.items() if v is not None}, i, LABELS) for i, r in enumerate(rows)]


def test_evidence_is_faithful_and_random_words_are_not(cue_model):
    report = faithfulness(cue_model, _notes(), seed=3)
    assert report["n"] == 24 and report["with_evidence"] == 1.0
    assert report["evidence_lowers"] == 1.0
    assert report["random_lowers"] < 0.85 and report["passed"]
    assert set(report["per_label"]) == set(LABELS)
    assert sum(r["n"] for r in report["per_label"].values()) == 24
    assert faithfulness(cue_model, _notes(), seed=3) == report  # seeded
    assert "evidence lowers" in format_faithfulness(report)


def test_span_deletion_helpers():
    assert delete_spans("戳链接领券私信我", [(0, 3), (5, 8)]) == "领券"
    note = labelled_note({"title": "标题党", "text": "正文很长", "label": "genuine"}, 1, LABELS)
    assert without(note, [("title", 0, 1), ("text", 2, 4)]) == "题党\n正文"
    words = random_words(note, 2, random.Random(0), default_extractor())
    assert len(words) == 2 and all(f in ("title", "text") for f, _, _ in words)
    assert random_words(note, 50, random.Random(0), default_extractor()).__len__() <= 4
