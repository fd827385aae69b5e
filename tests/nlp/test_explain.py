"""--explain in the library: evidence is what moves the model's own score, with offsets into the user's text."""

from __future__ import annotations

import numpy as np
import pytest

from nlp import NoteClassifier
from nlp.cues import CueLexicon
from nlp.encoding import compose_text
from nlp.explain import MIN_PROB, MIN_WEIGHT, delete, normalize_with_offsets
from nlp.ngram import NgramModel
from tests.tiny_model import copy_with_ngram

CUES = {"sponsored": ["戳链接", "私信我", "link in bio"], "possibly_false": ["根治", "guaranteed"]}
NOTES = [
    ("今天的面霜很好用，戳链接领券，私信我拿优惠码", "宝藏面霜"),
    ("Honestly my skin loves it. link in bio for the code", None),
    ("这个药根治脱发，三天见效 guaranteed", "医生都不会告诉你"),
    ("用了三个月，干皮冬天够用，就是有点贵", None),
]


@pytest.fixture(scope="module")
def cue_model(tmp_path_factory, tiny_model):
    """The tiny model with an n-gram part (blend weight 1) that knows only the planted cues."""
    folder = tmp_path_factory.mktemp("cue") / "m"
    copy_with_ngram(tiny_model, folder, CUES)
    return NoteClassifier.load(folder, threads=1, batch_size=4, keywords=False)


def _drop(clf, text, title, field, start, end, label):
    body = delete(text, start, end) if field == "text" else text
    head = delete(title, start, end) if field == "title" else title
    before, after = clf.predict_proba([compose_text(text, title), compose_text(body, head)])
    k = clf.labels.index(label)
    return float(before[k] - after[k])


def test_without_explain_the_output_contract_is_unchanged(classifier):
    p = classifier.predict("戳链接领券", titles="面霜")
    assert p.evidence == ()
    assert set(p.to_dict()) == {"label", "scores", "keywords"}
    assert p.to_dict(with_evidence=True)["evidence"] == []


@pytest.mark.parametrize("fixture", ["classifier", "cue_model"])
def test_every_span_is_in_the_text_and_its_deletion_lowers_its_label(request, fixture):
    clf = request.getfixturevalue(fixture)
    preds = clf.predict([t for t, _ in NOTES], [ti for _, ti in NOTES], explain=True)
    assert any(p.evidence for p in preds)
    for (text, title), p in zip(NOTES, preds, strict=True):
        assert p.label == max(p.scores, key=p.scores.get)
        for e in p.evidence:
            source = title if e.field == "title" else text
            assert e.field in ("title", "text")
            assert source[e.start : e.end] == e.text
            assert p.scores[e.label] >= MIN_PROB
            assert e.weight >= MIN_WEIGHT
            assert _drop(clf, text, title, e.field, e.start, e.end, e.label) == pytest.approx(e.weight, abs=2e-4)
        assert p.to_dict(with_evidence=True)["evidence"] == [e.to_dict() for e in p.evidence]


def test_the_ngram_contributions_pick_the_planted_cues(cue_model):
    preds = cue_model.predict([t for t, _ in NOTES[:3]], [ti for _, ti in NOTES[:3]], explain=True)
    assert [p.label for p in preds] == ["sponsored", "sponsored", "possibly_false"]
    found = [{e.text for e in p.evidence if e.label == p.label} for p in preds]
    assert any("链接" in t for t in found[0]) and any("私信" in t for t in found[0])
    assert any("bio" in t for t in found[1])
    assert any("根治" in t for t in found[2]) or "guaranteed" in found[2]


def test_offsets_are_into_the_raw_text_with_invisible_and_full_width_characters(cue_model):
    text = "Ｌｉｎｋ in bio\u200b！戳\u200b链接"
    p = cue_model.predict(text, explain=True)
    assert p.evidence
    for e in p.evidence:
        assert text[e.start : e.end] == e.text
    assert any("链" in e.text for e in p.evidence)


def test_title_spans_are_addressed_in_the_title(cue_model):
    p = cue_model.predict("今天天气不错，出门走走", titles="戳链接私信我", explain=True)
    title_spans = [e for e in p.evidence if e.field == "title"]
    assert title_spans
    assert all("戳链接私信我"[e.start : e.end] == e.text for e in title_spans)


def test_a_notes_evidence_does_not_depend_on_its_batch_neighbours(cue_model):
    alone = [cue_model.predict(t, titles=ti, explain=True) for t, ti in NOTES]
    together = cue_model.predict([t for t, _ in NOTES], [ti for _, ti in NOTES], explain=True)
    for a, b in zip(alone, together, strict=True):
        assert [(e.label, e.field, e.start, e.end) for e in a.evidence] == [
            (e.label, e.field, e.start, e.end) for e in b.evidence
        ]
        assert [e.weight for e in a.evidence] == pytest.approx([e.weight for e in b.evidence], abs=2e-4)


def test_ngram_contributions_add_up_to_the_logits():
    rng = np.random.default_rng(1)
    model = NgramModel(rng.normal(size=(256, 3)), rng.normal(size=3), rng.uniform(1, 3, size=256))
    text = "戳链接领券 link in bio, link in bio!"
    terms = __import__("nlp.ngram", fromlist=["ngram_terms"]).ngram_terms(text)
    per_term = model.contributions(text)
    total = model.bias + sum(per_term[t] for t in terms)
    assert total == pytest.approx(model.logits([text])[0], abs=1e-5)


def test_normalize_with_offsets_maps_back():
    norm, origin = normalize_with_offsets("Ａ\u200bｂ㎏")
    assert norm == "Abkg" and origin == [0, 2, 3, 3]
    assert normalize_with_offsets("plain") == ("plain", None)


def test_delete_keeps_latin_words_apart():
    assert delete("link in bio", 5, 7) == "link  bio"
    assert delete("linkinbio", 4, 6) == "link bio"
    assert delete("戳链接领券", 1, 3) == "戳领券"


def test_cue_lexicon_finds_spans_and_refuses_bad_entries(tmp_path):
    cues = CueLexicon([("code", "优惠码"), ("miracle", r"re:\d+天瘦\d+斤")])
    found = cues.find("私信拿优惠码，3天瘦10斤")
    assert [(c.category, c.start, c.end) for c in found] == [("code", 3, 6), ("miracle", 7, 13)]
    assert found[1].labels == ("possibly_false",)
    with pytest.raises(ValueError, match="category 'nope'"):
        CueLexicon([("nope", "x")])
    with pytest.raises(ValueError, match="invalid regular expression"):
        CueLexicon([("code", "re:(")])
    bad = tmp_path / "cues.txt"
    bad.write_text("code 优惠码\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 1: expected CATEGORY<TAB>PHRASE"):
        CueLexicon.load(bad)


def test_the_packaged_cue_lexicon_loads():
    cues = CueLexicon.load()
    assert {c.category for c in cues.find("戳链接 #ad 仅剩3件 根治 研究表明 优惠码")} == {
        "call_to_action", "disclosure", "scarcity", "miracle", "statistic", "code",
    }  # fmt: skip


def test_function_words_are_tried_last_and_lone_letters_not_at_all(classifier):
    from nlp.cues import default_cues
    from nlp.explain import candidate_spans, is_function_words
    from nlp.keywords import default_extractor

    assert is_function_words("at my") and is_function_words("的") and not is_function_words("link in")
    assert not is_function_words("honestly") and not is_function_words("")
    spans = {
        c.norm for c in candidate_spans("I paid $4,100 at my sister's", "text", default_extractor(), default_cues())
    }
    assert "I" not in spans and "4" not in spans and "paid" in spans
    p = classifier.predict("it was at my place and the serum smelled odd", explain=True)
    picked = [e.text for e in p.evidence]
    assert not any(is_function_words(t) for t in picked[:1])
