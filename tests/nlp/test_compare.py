"""evaluate --compare in the library: two models on the same notes, before / after / change."""

from __future__ import annotations

import pytest

from nlp import ModelFormatError, NoteClassifier
from nlp.compare import compare_files, compare_notes, format_comparison
from nlp.records import labelled_note
from tests.tiny_model import LABELS, copy_with_ngram


@pytest.fixture(scope="module")
def cue_model(tmp_path_factory, tiny_model):
    folder = tmp_path_factory.mktemp("cmp") / "m"
    copy_with_ngram(
        tiny_model, folder, {"sponsored": ["戳链接"], "possibly_false": ["根治"], "genuine": ["用了三个月"]}
    )
    return NoteClassifier.load(folder, keywords=False)


def _notes():
    rows = [("戳链接领券", "sponsored"), ("这药根治脱发", "possibly_false"), ("用了三个月还行", "genuine")] * 3
    notes = [labelled_note({"text": t, "label": lab, "source": "team"}, i, LABELS) for i, (t, lab) in enumerate(rows)]
    notes.append(labelled_note({"text": "用了三个月", "labels_allowed": ["genuine", "sponsored"]}, 9, LABELS))
    return notes


def test_before_and_after_side_by_side(classifier, cue_model):
    report = compare_notes(cue_model, classifier, _notes())
    after, before = report["after"]["overall"], report["before"]["overall"]
    assert after["n"] == before["n"] == 9 and after["n_partial"] == 1
    assert after["accuracy"] == 1.0
    c = report["changes"]
    right_before = round(before["accuracy"] * 9 + before["allowed_accuracy"])
    assert c["fixed"] - c["broken"] == 10 - right_before and c["changed"] >= c["fixed"] + c["broken"]
    text = format_comparison(report)
    assert "accuracy" in text and "+" in text and "one-sided: in allowed set" in text
    assert f"fixed {c['fixed']}, broken {c['broken']}" in text


def test_compare_files_counts_skipped_rows(tmp_path, classifier, cue_model):
    path = tmp_path / "held.jsonl"
    path.write_text('{"text": "戳链接", "label": "sponsored"}\n{"text": "x", "label": "spam"}\n', encoding="utf-8")
    report = compare_files(cue_model, classifier, [str(path)])
    assert report["skipped"] == 1 and report["after"]["overall"]["n"] == 1


def test_models_with_other_labels_are_refused(classifier):
    class TwoLabels:
        labels = ("genuine", "sponsored")
        folder = "two"

    with pytest.raises(ModelFormatError, match="different labels"):
        compare_notes(TwoLabels(), classifier, _notes())
