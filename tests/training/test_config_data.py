import json

import numpy as np
import pytest

from nlp.ngram import NgramModel, ngram_terms
from nlp.probability import blend
from training.augment import augment
from training.config import ConfigError, TrainConfig, build_config
from training.notes_corpus import near_duplicates, record_problems, validate


def test_config_layers(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text("[train]\nepochs = 2\nlr = 3e-5\n")
    c = build_config(toml, ["batch_size=8", "freeze_embeddings=false", 'source_weights={"a": 0.5}'], lr=1e-4)
    assert (c.epochs, c.lr, c.batch_size, c.freeze_embeddings, c.source_weights) == (2, 1e-4, 8, False, {"a": 0.5})


@pytest.mark.parametrize(
    ("sets", "message"),
    [(["nope=1"], "unknown setting"), (["epochs=abc"], "expected a float"), (["max_length=4"], "max_length"),
     (["freeze_embeddings=maybe"], "true or false"), (["epochs"], "key=value")],
)  # fmt: skip
def test_config_errors(sets, message):
    with pytest.raises(ConfigError, match=message):
        build_config(None, sets)


def test_config_saved(tmp_path):
    TrainConfig().save(tmp_path / "c.json")
    assert json.loads((tmp_path / "c.json").read_text())["labels"] == ["genuine", "sponsored", "possibly_false"]


def test_record_problems():
    good = {"id": "a", "text": "成都火锅很好吃", "label": "genuine", "lang": "zh", "keywords": ["成都", "火锅", "好吃"]}
    assert record_problems(good) == []
    long_text = "周末在成都吃了一家开了二十年的老火锅，牛油锅底很香，毛肚新鲜，人均一百出头，排队半小时"
    bad = {**good, "text": long_text, "label": "spam", "keywords": ["成都", "火锅"]}
    problems = record_problems(bad)
    assert any("label" in p for p in problems) and any("3-8 keywords" in p for p in problems)
    assert record_problems({**good, "text": "好吃", "keywords": []}) == []  # a fragment holds no search terms
    assert any("promo" in p for p in record_problems({**good, "promo": True}))  # only on possibly_false
    assert any("does not occur" in p for p in record_problems({**good, "keywords": ["成都", "火锅", "上海"]}))


def test_near_duplicates():
    a = {"text": "今天去了一家新开的火锅店，牛油锅底特别香，毛肚很新鲜，人均一百二"}
    b = {"text": "今天去了一家新开的火锅店，牛油锅底特别香，毛肚很新鲜，人均一百三"}
    c = {"text": "Completely different note about running shoes and marathon training"}
    assert [(i, j) for i, j, _ in near_duplicates([a, b, c])] == [(0, 1)]


def test_project_corpus_is_valid_balanced_and_carded(capsys):
    """Schema, duplicates, cue shares within 2x, format-only dev macro-F1 <= 0.50, the data card up to date."""
    from pathlib import Path

    from training.notes_corpus import main

    folder = Path(__file__).resolve().parents[2] / "data" / "notes"
    files = sorted(folder.glob("*.jsonl"))
    assert [f.name for f in files] == ["dev.jsonl", "test.jsonl", "train.jsonl"]
    problems, counts = validate(files)
    assert problems == []
    assert sum(n for (k, _), n in counts.items() if k == "file") >= 4800
    assert main(["validate", str(folder)]) == 0, capsys.readouterr().out


def test_shortcut_checks_can_fail():
    from training.corpus_cues import cue_problems, cue_shares, format_only_f1

    rows = []
    for i in range(90):  # every ad has 「」 and ends with "!!!"; every genuine note is short
        rows.append({"text": f"「好物{i}」必入！！！" * 3, "label": "sponsored", "lang": "zh"})
        rows.append({"text": f"还行{i}", "label": "genuine", "lang": "zh"})
        rumour = f"喝醋能软化血管，第{i}个偏方，一定要转发给家人看看。"
        rows.append({"text": rumour, "label": "possibly_false", "lang": "zh"})
    assert any("「」" in p for p in cue_problems(cue_shares(rows)))
    assert format_only_f1(rows[:210], rows[210:])["logistic_regression"] > 0.9


def test_ngram_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    m = NgramModel(rng.normal(size=(64, 3)).astype(np.float32), np.zeros(3, np.float32), np.ones(64, np.float32))
    m.save(tmp_path / "n.npz")
    again = NgramModel.load(tmp_path / "n.npz")
    texts = ["戳链接领券 link in bio", "plain note"]
    assert np.allclose(m.logits(texts), again.logits(texts), atol=1e-2)
    t = rng.normal(size=(2, 3))
    p = blend(t, None, 0.0)
    assert np.allclose(p.sum(1), 1) and np.allclose(p, np.exp(t) / np.exp(t).sum(1, keepdims=True))
    assert "c:链接" in ngram_terms("戳链接")


def test_augment_adds_noisy_copies_blind_to_the_label():
    from training.augment import TRANSFORMS, noisy

    texts = [
        "用了三个月，干皮冬天够用。就是有点贵！你们觉得呢？\n第二行在这里。",
        "Honestly it's really good, you should try it.",
    ]
    rows = [{"id": f"n{i}", "text": texts[i % 2] * (1 + i % 3), "label": lab, "keywords": ["干皮", "面霜"]}
            for i, lab in enumerate(["genuine", "sponsored", "possibly_false"] * 20)]  # fmt: skip
    out, n = augment(rows, seed=1, share=0.5)
    assert out[: len(rows)] == rows and len(out) == len(rows) + n and 15 <= n <= 45
    copies = out[len(rows) :]
    assert all(c["id"].endswith("~noisy") for c in copies)
    assert sum(c["text"] != rows[int(c["id"][1:-6])]["text"] for c in copies) >= 0.8 * n
    relabelled = [{**r, "label": "genuine"} for r in rows]  # the label never changes what noise is added
    assert [c["text"] for c in augment(relabelled, seed=1, share=0.5)[0][len(rows) :]] == [c["text"] for c in copies]
    assert augment(rows, seed=1, share=0.5)[0] == out
    import random

    note = {"text": "今天去吃了火锅。很好吃！下次还来。" * 12, "keywords": ["火锅"]}
    seen = {name for i in range(200) for name in noisy(note, random.Random(i))[1]}
    assert seen == set(TRANSFORMS)
    cut = TRANSFORMS["weibo_cut"](note["text"], note, random.Random(0))
    assert len(cut) <= 146 and cut.endswith(("…", "...", "…全文", " ...展开"))
    assert TRANSFORMS["half_width"]("你好，世界！", note, random.Random(0)) == "你好,世界!"
