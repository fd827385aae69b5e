"""The retraining path as a user runs it: notescore train → export → evaluate → score,
on a tiny BERT built in the fixture (no network, seconds on CPU)."""

from __future__ import annotations

import json
import random

import pytest
from typer.testing import CliRunner

from nlp.cli import app
from tests.tiny_model import build_tokenizer

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

runner = CliRunner()
CUES = {
    "genuine": ["用了三个月", "说点真话", "honestly my skin", "缺点是", "回购过两次"],
    "sponsored": ["私信我拿优惠码", "戳链接", "link in bio", "合作", "评论区扣1"],
    "possibly_false": ["7天白两个度", "根治", "医生都不会告诉你", "100%有效", "guaranteed results"],
}


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    from tokenizers import Tokenizer
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("base")
    build_tokenizer(folder / "tokenizer.json")
    vocab = Tokenizer.from_file(str(folder / "tokenizer.json")).get_vocab_size()
    config = BertConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=80, pad_token_id=1)  # fmt: skip
    torch.manual_seed(0)
    BertModel(config, add_pooling_layer=False).save_pretrained(str(folder))
    (folder / "normalization.json").write_text("{}")
    return folder


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    rng = random.Random(0)
    folder = tmp_path_factory.mktemp("data")
    rows = []
    for i in range(90):
        label = list(CUES)[i % 3]
        text = f"{rng.choice(CUES[label])} 面霜 {rng.choice(['干皮', '油皮', 'ok'])} {i}"
        rows.append({"id": f"n{i}", "text": text, "label": label, "source": "tiny"})
    for i in range(12):  # one-sided: "not a rumour"
        rows.append({"id": f"p{i}", "content": f"{rng.choice(CUES['genuine'])} {i}",
                     "labels_allowed": ["genuine", "sponsored"], "source": "one-sided"})  # fmt: skip
    path = folder / "train.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def test_train_export_evaluate_score(tmp_path, tiny_base, labelled):
    ckpt, model = tmp_path / "ckpt", tmp_path / "model"
    args = ["train", str(labelled), "--out", str(ckpt), "--base", str(tiny_base), "--epochs", "4"]
    args += ["--max-length", "32", "--batch-size", "8", "--lr", "1e-3", "--set", "eval_every=10", "-q"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "best dev macro-F1" in r.output
    meta = json.loads((ckpt / "training_meta.json").read_text())
    assert meta["train_config"]["max_length"] == 32
    assert "allowed_accuracy" in meta["dev_metrics"]
    assert not (tmp_path / "ckpt.partial").exists()

    r = runner.invoke(app, ["export", str(ckpt), str(model), "--no-quantize", "-q"])
    assert r.exit_code == 0, r.output
    config = json.loads((model / "notescore.json").read_text())
    assert config["parity"]["fp32_vs_torch_max_abs_dprob"] <= 1e-4

    report_path = tmp_path / "report.json"
    r = runner.invoke(app, ["evaluate", str(model), str(labelled), "--json", str(report_path)])
    assert r.exit_code == 0, r.output
    assert "macro-F1" in r.output and "confusion" in r.output
    report = json.loads(report_path.read_text())
    assert report["overall"]["n"] == 90 and report["overall"]["n_partial"] == 12
    assert set(report["per_source"]) == {"tiny", "one-sided"}
    # The tiny model learns the planted cues.
    assert report["per_source"]["tiny"]["accuracy"] > 0.6
    # The op_spam benchmark's per-part accuracies: the blend is what evaluate measured.
    from training.op_spam import components

    one_label = tmp_path / "one_label.jsonl"
    one_label.write_text("".join(line + "\n" for line in labelled.read_text().splitlines() if '"label"' in line))
    parts = components(model, one_label)
    assert parts.get("blend", parts["transformer"]) == pytest.approx(report["per_source"]["tiny"]["accuracy"])

    scored = tmp_path / "scored.jsonl"
    r = runner.invoke(app, ["score", str(labelled), "-o", str(scored), "--model", str(model), "-q"])
    assert r.exit_code == 0, r.output
    assert len(scored.read_text().splitlines()) == 102


def test_train_rejects_bad_labels_with_row_numbers(tmp_path, tiny_base):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "label": "genuine"}\n{"text": "b", "label": "spam"}\n{"title": "x"}\n')
    r = runner.invoke(app, ["train", str(bad), "--base", str(tiny_base), "--out", str(tmp_path / "o"), "-q"])
    assert r.exit_code == 2
    assert "row 2" in r.output and "'spam'" in r.output and "row 3" in r.output


def test_train_unknown_setting(tmp_path, tiny_base, labelled):
    r = runner.invoke(app, ["train", str(labelled), "--base", str(tiny_base), "--set", "epohcs=2", "-q"])
    assert r.exit_code == 2
    assert "unknown setting" in r.output
