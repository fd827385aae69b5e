import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from nlp import ModelFormatError, ModelNotFoundError, NoteClassifier, Prediction, RecordError
from nlp.encoding import compose_text, head_tail


def test_str_in_prediction_out(classifier):
    p = classifier.predict("用了三个月的面霜，干皮冬天够用 #护肤#", titles="面霜")
    assert isinstance(p, Prediction)
    assert p.label in classifier.labels
    assert set(p.scores) == {"genuine", "sponsored", "possibly_false"}
    assert abs(sum(p.scores.values()) - 1) < 1e-5
    assert p.label == max(p.scores, key=p.scores.get)
    assert "护肤" in p.keywords


def test_list_in_list_out_and_empty(classifier):
    out = classifier.predict(["a note", "另一条笔记", "third"])
    assert [type(p) for p in out] == [Prediction] * 3
    assert classifier.predict([]) == []


def test_order_is_kept_despite_length_sorting(classifier):
    texts = ["short", "a much longer note " * 20, "mid length note here", "x"]
    together = classifier.predict(texts)
    alone = [classifier.predict(t) for t in texts]
    for a, b in zip(together, alone, strict=True):
        assert a.label == b.label
        assert np.allclose(list(a.scores.values()), list(b.scores.values()), atol=1e-5)


@pytest.mark.parametrize("bad", [None, 3, ""])
def test_bad_item_names_its_index(classifier, bad):
    with pytest.raises(RecordError, match="item 1"):
        classifier.predict(["fine", bad])


def test_not_a_list(classifier):
    with pytest.raises(TypeError):
        classifier.predict(42)


def test_thread_safe(classifier):
    texts = [f"note number {i} 面霜 link in bio" * (i % 5 + 1) for i in range(40)]
    expected = [p.scores for p in classifier.predict(texts)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda t: classifier.predict(t).scores, texts))
    for a, b in zip(expected, got, strict=True):
        assert np.allclose(list(a.values()), list(b.values()), atol=1e-5)


def test_head_tail_keeps_both_ends():
    ids = list(range(100))
    kept = head_tail(ids, 10, 0.5)
    assert kept == [0, 1, 2, 3, 4, 95, 96, 97, 98, 99]
    assert head_tail(ids[:5], 10, 0.5) == ids[:5]


def test_long_note_sees_its_end(classifier):
    ids = classifier.encoder.token_ids(["开头" + "很" * 500 + "结尾私信"])[0]
    assert len(ids) == classifier.spec.truncation.max_length
    tail = classifier.encoder.token_ids(["结尾私信"])[0][2:-1]  # drop <s> and the leading ▁
    assert ids[-1 - len(tail) : -1] == tail


def test_compose_text():
    assert compose_text("body", "title") == "title\nbody"
    assert compose_text("body", "  ") == "body"


def test_load_refuses_folder_without_config(tmp_path):
    with pytest.raises(ModelNotFoundError, match="notescore.json"):
        NoteClassifier.load(tmp_path)


def test_load_missing_folder(tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        NoteClassifier.load(tmp_path / "nope")


def test_load_bad_config(tmp_path, tiny_model):
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(tiny_model, folder)
    (folder / "notescore.json").write_text('{"format_version": 1, "labels": "genuine"}')
    with pytest.raises(ModelFormatError, match="format_version 1 is not supported"):
        NoteClassifier.load(folder)
    (folder / "notescore.json").write_text('{"format_version": 2, "name": "x", "labels": "genuine"}')
    with pytest.raises(ModelFormatError, match="labels: expected a list"):
        NoteClassifier.load(folder)
    (folder / "notescore.json").write_text("{not json")
    with pytest.raises(ModelFormatError, match="not valid JSON"):
        NoteClassifier.load(folder)


def test_predict_takes_any_iterable_of_strings(classifier):
    pd = pytest.importorskip("pandas")
    texts = ["用了三个月的面霜", "link in bio for the code", "第三条"]
    expected = [p.scores for p in classifier.predict(texts)]
    for given in (
        pd.Series(texts),
        np.array(texts),
        (t for t in texts),
        tuple(texts),
        pd.Series(texts, index=[10, 20, 30]),
    ):
        got = classifier.predict(given)
        assert [type(p) for p in got] == [Prediction] * 3
        for a, b in zip(got, expected, strict=True):
            assert np.allclose(list(a.scores.values()), list(b.values()), atol=1e-6)
    titled = classifier.predict(pd.Series(texts), titles=pd.Series(["面霜", None, float("nan")]))
    assert len(titled) == 3
    assert classifier.predict(np.array([], dtype=str)) == []
    assert isinstance(classifier.predict(np.str_("一条笔记")), Prediction)
    with pytest.raises(TypeError):
        classifier.predict({"a": "b"})
    with pytest.raises(ValueError, match="as long as"):
        classifier.predict(texts, titles=["only one"])


def test_bad_item_message_says_item_once(classifier):
    with pytest.raises(RecordError) as info:
        classifier.predict(["fine", 3])
    assert str(info.value) == "item 1: expected a str; found int"


def test_score_file_takes_paths(classifier, tmp_path):
    from pathlib import Path

    from nlp import score_file

    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "a note"}\n')
    summary = score_file(src, tmp_path / "out.jsonl", classifier, summary_path=tmp_path / "s.json")
    assert summary.rows_scored == 1 and Path(summary.output).is_file()
    assert (summary.input, summary.output) == (str(src), str(tmp_path / "out.jsonl"))  # str, as the fields say
    assert json.loads((tmp_path / "s.json").read_text())["output"] == str(tmp_path / "out.jsonl")
