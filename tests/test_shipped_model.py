"""The shipped model folder: complete, documented, loadable, and as good as its card says."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlp import NoteClassifier, RecordError, read_model_spec

MODEL = Path(__file__).resolve().parents[1] / "models" / "notescore-base"
pytestmark = pytest.mark.skipif(not (MODEL / "notescore.json").is_file(), reason="no shipped model in this checkout")


def test_folder_is_complete_and_small():
    spec = read_model_spec(MODEL)  # verifies every file's SHA-256
    assert spec.name == "notescore-base"
    assert spec.labels == ("genuine", "sponsored", "possibly_false")
    for name in ("model.onnx", "tokenizer.json", "normalization.json", "README.md", "evaluation.json"):
        assert name in spec.files, name
    size = sum(p.stat().st_size for p in MODEL.iterdir() if p.is_file())
    assert size <= 80e6, f"{size / 1e6:.1f} MB"
    sources = spec.provenance.sources
    assert sources and all(s.rows > 0 and s.license != "unknown" for s in sources)
    assert not any("op_spam" in s.name for s in sources)  # CC BY-NC-SA: never trained on
    parity = spec.parity
    assert parity["fp32_vs_torch_max_abs_dprob"] <= 1e-4
    assert parity["int8_vs_fp32_agreement"] >= 0.99
    card = (MODEL / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n") and "## Intended use" in card and "## Limitations" in card


def test_tokenizer_has_no_unknowns_on_real_text():
    clf = NoteClassifier.load(MODEL, keywords=False)
    texts = [
        "姐妹们这个面霜真的绝绝子，干皮冬天用刚好～ #护肤[话题]#",
        "這間咖啡廳超讚，拿鐵很香",
        "Link in bio for 20% off 🔥✨",
    ]
    for ids in clf.encoder.token_ids(texts):
        assert clf.encoder.unk_id not in ids


def test_predicts_the_obvious_cases():
    clf = NoteClassifier.load(MODEL)
    notes = [
        ("用了三个月，干皮冬天够用，就是有点贵，430块买的，不会回购了", "genuine"),
        ("新品上市！戳链接领券立减50，私信我拿专属优惠码，评论区扣1抽三位姐妹送正装！", "sponsored"),
        ("医生都不会告诉你：每天喝这个茶7天瘦10斤，100%有效永不反弹，还能根治糖尿病", "possibly_false"),
    ]
    predictions = clf.predict([n for n, _ in notes])
    assert [p.label for p in predictions] == [label for _, label in notes]


def test_hidden_characters_do_not_move_the_shipped_model():
    """Issue 11: zero-width spaces between the letters turned this note from sponsored 0.998
    to genuine 0.886, full-width letters emptied its keywords, and a note of zero-width
    spaces alone was scored."""
    clf = NoteClassifier.load(MODEL)
    clean = "Link in bio for 20% off, use my code ANNA20 #ad"
    zero_width = "\u200b".join(clean)
    full_width = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" for c in clean)
    expected = clf.predict(clean)
    assert expected.label == "sponsored" and expected.keywords
    for text in (zero_width, full_width):
        got = clf.predict(text)
        assert got.label == expected.label and got.keywords == expected.keywords
        assert max(abs(got.scores[k] - v) for k, v in expected.scores.items()) < 1e-6
    with pytest.raises(RecordError, match="invisible"):
        clf.predict("\u200b\u200b\u200b")


def test_card_metric_reproduces_on_the_test_split():
    from nlp.evaluation import evaluate_files

    test = Path(__file__).resolve().parents[1] / "data" / "notes" / "test.jsonl"
    clf = NoteClassifier.load(MODEL, keywords=False)
    report = evaluate_files(clf, [str(test)], keywords=False)
    recorded = read_model_spec(MODEL).metrics["notescore-notes test"]
    assert abs(report["overall"]["macro_f1"] - recorded["macro_f1"]) < 1e-3
    assert report["overall"]["macro_f1"] >= 0.90


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_scores_do_not_depend_on_the_batch(backend):
    """Issue 12: a note's scores alone, in a batch of 32 and in reversed order agree within 1e-3."""
    import numpy as np

    from nlp.records import read_labelled

    if backend == "openvino":
        pytest.importorskip("openvino")
    test = Path(__file__).resolve().parents[1] / "data" / "notes" / "test.jsonl"
    texts = [n.text for n in read_labelled([str(test)], read_model_spec(MODEL).labels)][:96]
    batched = NoteClassifier.load(MODEL, keywords=False, backend=backend, batch_size=32)
    alone = NoteClassifier.load(MODEL, keywords=False, backend=backend, batch_size=1)
    in_order = batched.predict_proba(texts)
    reversed_order = batched.predict_proba(texts[::-1])[::-1]
    one_by_one = alone.predict_proba(texts)
    assert np.abs(in_order - reversed_order).max() <= 1e-3
    assert np.abs(in_order - one_by_one).max() <= 1e-3


def test_info_shows_the_panel_and_the_faithfulness_check():
    from typer.testing import CliRunner

    from nlp.cli import app

    result = CliRunner().invoke(app, ["info", str(MODEL)])
    assert result.exit_code == 0, result.output
    assert "real-text panel" in result.output and "Weibo non-rumours" in result.output
    assert "--explain faithfulness" in result.output
    assert "  export " not in result.output  # sections without a headline metric are not shown as empty rows
