"""Tests of training.export: vocabulary trimming, ONNX export, parity, the folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from nlp.errors import ModelNotFoundError  # noqa: E402
from nlp.model_folder import CheckpointMeta, Source, Truncation  # noqa: E402
from training.export import ExportError, export_model  # noqa: E402
from training.vocab import default_keep_ids, trim_vocabulary  # noqa: E402

LABELS = ["genuine", "sponsored", "possibly_false"]
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
CHARS = (
    "的一是不了人我在有他这中大来上个国到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没"
    "霜面膜肤皮痘链接券优惠码私信抽奖转发关注瘦斤根治效谣言医生权威研究涨价仅剩亮白嫩滑敏感油干补湿防晒买用"
    "abcdefghijklmnopqrstuvwxyz0123456789.,!?#@%，。！？：、～"
)
WORDS = ["面霜", "好用", "链接", "优惠码", "私信", "医生", "防晒", "the", "code", "link", "good", "skin"]
TEXTS = [
    "面霜好用，干皮冬天刚好",
    "私信我拿优惠码！链接在主页",
    "医生说防晒很重要",
    "good skin cream, use code abc10",
    "the link is in my bio #ad",
    "涨价了，仅剩三天",
    "抽奖转发关注",
    "这个面膜我用了一个月，皮肤亮白嫩滑",
    "权威研究：根治痘痘",
    "油皮补湿也不闷",
    "我在家里用，效果还可以",
    "瘦了十斤？谣言",
    "敏感肌可以用吗",
    "the cream is good for dry skin",
    "买了两瓶，好用",
    "优惠券在评论区",
    "防晒霜不油",
    "医生研究说有效",
    "一天用两次",
    "私信 code 50",
]


def _build_tokenizer(path: Path) -> int:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    chars = list(dict.fromkeys(CHARS))
    vocab = [(s, 0.0) for s in SPECIALS] + [("▁", -2.0)]
    vocab += [(c, -5.0 - 0.01 * i) for i, c in enumerate(chars)]
    vocab += [("▁" + c, -6.0) for c in chars]
    vocab += [(w, -4.0) for w in WORDS] + [("▁" + w, -3.5) for w in WORDS]
    vocab += [("▁好用", -3.0), ("用了", -4.5), ("一个月", -4.0)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=3, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    tok.save(str(path))
    return tok.get_vocab_size()


def _checkpoint(folder: Path, seed: int = 0) -> Path:
    from transformers import BertConfig, BertModel

    from nlp.encoding import NoteEncoder
    from training.model import NoteModel, save_checkpoint

    folder.mkdir(parents=True)
    vocab = _build_tokenizer(folder / "tokenizer.json")
    (folder / "normalization.json").write_text("{}\n")
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=vocab,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=1,
    )
    config._attn_implementation = "eager"
    model = NoteModel(BertModel(config, add_pooling_layer=False), len(LABELS))
    with torch.no_grad():  # larger head weights: distinct class scores on a tiny model
        model.head.weight.normal_(0, 2.0)
    enc = NoteEncoder(folder / "tokenizer.json", Truncation(64))
    seen = sorted({i for row in enc.token_ids(TEXTS) for i in row})
    meta = CheckpointMeta(
        truncation=Truncation(64),
        base_model="tiny-random",
        sources=(Source("tiny", 20, "CC0"),),
        dev_metrics={"macro_f1": 0.5},
        train_config={"epochs": 1},
        seen_piece_ids=tuple(seen),
    )
    save_checkpoint(model, folder, meta)
    with (folder / "dev.jsonl").open("w", encoding="utf-8") as fh:
        for i, text in enumerate(TEXTS):
            label = LABELS[i % 3] if i % 5 else None
            record = {"text": text, "label": label, "labels_allowed": LABELS, "source": "tiny"}
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return folder


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return _checkpoint(tmp_path_factory.mktemp("ckpt") / "ckpt")


@pytest.fixture(scope="module")
def exported(checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "model"
    report = export_model(checkpoint, out, quantize=True, trim=True, top_n=5, name="tiny-export")
    return out, report


def test_export_folder_loads_and_reports_parity(exported, checkpoint):
    from nlp import NoteClassifier, read_model_spec

    out, report = exported
    assert sorted(p.name for p in out.iterdir()) == [
        "model.onnx",
        "normalization.json",
        "notescore.json",
        "tokenizer.json",
    ]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # temp folders gone
    spec = read_model_spec(out)
    assert spec.name == "tiny-export"
    assert spec.quantization in ("static", "static_ffn_down_fp32")  # NNCF QDQ, activations calibrated once
    parity = spec.parity
    assert parity["fp32_vs_torch_max_abs_dprob"] <= 1e-4
    assert parity["int8_vs_fp32_agreement"] >= 0.99
    assert spec.provenance.sources[0].name == "tiny"
    assert set(spec.provenance.versions) >= {"notescore", "onnxruntime", "torch", "transformers", "onnx"}
    assert spec.metrics["export"]["int8"]["n"] == 16  # rows with a label
    assert parity["trim"]["kept"] < parity["trim"]["of"]
    clf = NoteClassifier.load(out, threads=1, keywords=False)
    probs = clf.predict_proba(TEXTS)
    assert probs.shape == (len(TEXTS), 3)
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5)


# Texts the export's int8 gate never saw (it checks the checkpoint's dev texts).
UNSEEN = [
    "防晒霜一天用两次，油皮也不闷",
    "私信我拿链接，优惠码在评论区",
    "医生说这个面膜可以根治痘痘",
    "good cream for my dry skin, no code",
    "涨价前买了三瓶，亮白嫩滑",
    "the link in bio is 50% off",
    "我在家里用了一个月，效果一般",
    "权威研究说瘦了十斤是谣言",
]


def test_static_int8_scores_do_not_depend_on_the_batch(exported):
    from nlp import NoteClassifier

    out, _ = exported
    texts = TEXTS + UNSEEN
    alone = NoteClassifier.load(out, threads=1, keywords=False, batch_size=1).predict_proba(texts)
    together = NoteClassifier.load(out, threads=1, keywords=False, batch_size=32).predict_proba(texts)
    reversed_ = NoteClassifier.load(out, threads=1, keywords=False, batch_size=32).predict_proba(texts[::-1])[::-1]
    assert np.abs(alone - together).max() <= 1e-3
    assert np.abs(alone - reversed_).max() <= 1e-3


def test_dynamic_int8_is_still_available(checkpoint, tmp_path):
    from nlp import read_model_spec

    export_model(checkpoint, tmp_path / "dyn", top_n=5, int8="dynamic")
    assert read_model_spec(tmp_path / "dyn").quantization.startswith("dynamic_")


def test_int8_labels_agree_with_torch(exported, checkpoint):
    from nlp import NoteClassifier
    from nlp.encoding import NoteEncoder
    from training.model import load_checkpoint

    out, _ = exported
    model, _ = load_checkpoint(checkpoint)
    enc = NoteEncoder(checkpoint / "tokenizer.json", Truncation(64))
    batch = enc.pad(enc.token_ids(UNSEEN))
    with torch.no_grad():
        ref = model(torch.from_numpy(batch.input_ids), torch.from_numpy(batch.attention_mask)).numpy()
    clf = NoteClassifier.load(out, threads=1, keywords=False)
    probs = np.exp(clf.transformer_logits(UNSEEN))
    # The trimmed int8 graph against the untrimmed torch model on new texts: labels hold, scores stay close.
    assert np.mean(probs.argmax(1) == ref.argmax(1)) >= 7 / 8
    assert np.abs(probs - torch.softmax(torch.from_numpy(ref), 1).numpy()).max() < 0.15


def test_fp32_onnx_matches_torch(checkpoint, tmp_path):
    import onnxruntime as ort

    from nlp.encoding import NoteEncoder
    from training.model import load_checkpoint

    out = tmp_path / "fp32"
    report = export_model(checkpoint, out, quantize=False, trim=False)
    assert report["parity"]["fp32_vs_torch_max_abs_dprob"] <= 1e-4
    model, _ = load_checkpoint(checkpoint)
    enc = NoteEncoder(out / "tokenizer.json", Truncation(64))
    batch = enc.pad(enc.token_ids(TEXTS))
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask})[0]
    with torch.no_grad():
        want = model(torch.from_numpy(batch.input_ids), torch.from_numpy(batch.attention_mask)).numpy()
    assert np.abs(got - want).max() <= 1e-4


def test_trim_vocabulary_keeps_tokenisation(checkpoint, tmp_path):
    from tokenizers import Tokenizer

    full = Tokenizer.from_file(str(checkpoint / "tokenizer.json"))
    texts = TEXTS[:10]
    used = {i for t in texts for i in full.encode(t).ids}
    old_ids = trim_vocabulary(checkpoint / "tokenizer.json", used, tmp_path / "tok.json")
    trimmed = Tokenizer.from_file(str(tmp_path / "tok.json"))
    assert trimmed.get_vocab_size() == len(old_ids) < full.get_vocab_size()
    assert old_ids[:4] == [0, 1, 2, 3]
    for text in texts:
        want = full.encode(text)
        got = trimmed.encode(text)
        assert got.tokens == want.tokens
        assert [old_ids[i] for i in got.ids] == want.ids
    # the post-processor and unk keep pointing at the special pieces
    data = json.loads((tmp_path / "tok.json").read_text(encoding="utf-8"))
    assert data["model"]["unk_id"] == 3
    enc = trimmed.encode("面霜")
    assert enc.tokens[0] == "<s>" and enc.tokens[-1] == "</s>"
    # a dropped piece falls back to kept pieces; a dropped character becomes <unk>
    trim_vocabulary(
        checkpoint / "tokenizer.json",
        [full.token_to_id(p) for p in ("▁", "防", "晒")],
        tmp_path / "tok2.json",
    )
    small = Tokenizer.from_file(str(tmp_path / "tok2.json"))
    assert full.encode("防晒", add_special_tokens=False).tokens == ["▁防晒"]
    assert small.encode("防晒", add_special_tokens=False).tokens == ["▁", "防", "晒"]
    assert 3 in small.encode("瘦", add_special_tokens=False).ids


def test_default_keep_ids_covers_single_characters(checkpoint):
    data = json.loads((checkpoint / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = data["model"]["vocab"]
    keep = set(default_keep_ids(checkpoint / "tokenizer.json", [], top_n=0))
    singles = {i for i, (p, _) in enumerate(vocab) if len(p.removeprefix("▁")) <= 1}
    assert singles <= keep
    assert not any(vocab[i][0].removeprefix("▁") in WORDS for i in keep)
    top = set(default_keep_ids(checkpoint / "tokenizer.json", [], top_n=8))  # 4 specials, ▁, 3 words
    assert len(top - keep) == 3


def test_bad_checkpoint_folder_raises(tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        export_model(tmp_path / "nope", tmp_path / "out")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(ModelNotFoundError, match="training_meta.json"):
        export_model(tmp_path / "half", tmp_path / "out")
    from nlp.model_folder import write_checkpoint_meta

    write_checkpoint_meta(tmp_path / "half", CheckpointMeta())
    with pytest.raises(ModelNotFoundError, match="model.safetensors is missing"):
        export_model(tmp_path / "half", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_failed_int8_gate_stops_with_one_line_and_leaves_nothing(checkpoint, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import training.export
    from nlp.cli import app
    from nlp.errors import NotescoreError

    monkeypatch.setattr(training.export, "MIN_INT8_AGREEMENT", 1.01)  # no variant can pass
    with pytest.raises(ExportError, match="int8 labels agree with fp32 on only") as info:
        export_model(checkpoint, tmp_path / "out", top_n=5)
    assert isinstance(info.value, NotescoreError)
    r = CliRunner().invoke(app, ["export", str(checkpoint), str(tmp_path / "out"), "-q"])
    assert r.exit_code == 1 and "--no-quantize" in r.output and "Traceback" not in r.output
    assert list(tmp_path.iterdir()) == []  # no folder, no temp files


def test_trim_wordpiece_keeps_every_word_segmentable(tmp_path):
    from tokenizers import Tokenizer

    from tests.tiny_model import build_wordpiece_tokenizer

    build_wordpiece_tokenizer(tmp_path / "wp.json")
    full = Tokenizer.from_file(str(tmp_path / "wp.json"))
    seen = {i for t in TEXTS[:5] for i in full.encode(t).ids}
    keep = default_keep_ids(tmp_path / "wp.json", seen, top_n=0)
    old_ids = trim_vocabulary(tmp_path / "wp.json", keep, tmp_path / "wp_small.json")
    small = Tokenizer.from_file(str(tmp_path / "wp_small.json"))
    assert small.get_vocab_size() == len(old_ids) < full.get_vocab_size()
    for text in TEXTS[:5]:
        assert [old_ids[i] for i in small.encode(text).ids] == full.encode(text).ids
    unk_small, unk_full = small.token_to_id("[UNK]"), full.token_to_id("[UNK]")
    for text in TEXTS:  # dropped words fall back to characters: no new unknowns
        assert small.encode(text).ids.count(unk_small) == full.encode(text).ids.count(unk_full)


def test_trim_bpe_keeps_merges_of_kept_tokens(tmp_path):
    from tokenizers import Tokenizer

    from tests.tiny_model import build_bpe_tokenizer

    build_bpe_tokenizer(tmp_path / "bpe.json", TEXTS * 3)
    full = Tokenizer.from_file(str(tmp_path / "bpe.json"))
    seen = {i for t in TEXTS[:6] for i in full.encode(t).ids}
    keep = default_keep_ids(tmp_path / "bpe.json", seen, top_n=0)
    old_ids = trim_vocabulary(tmp_path / "bpe.json", keep, tmp_path / "bpe_small.json")
    small = Tokenizer.from_file(str(tmp_path / "bpe_small.json"))
    assert small.get_vocab_size() == len(old_ids) < full.get_vocab_size()
    for text in TEXTS[:6]:  # texts whose tokens were kept tokenise exactly as before
        assert [old_ids[i] for i in small.encode(text).ids] == full.encode(text).ids


def test_openvino_reads_the_same_folder_batch_invariant_and_close_to_onnxruntime(exported):
    pytest.importorskip("openvino")
    from nlp import NoteClassifier

    out, _ = exported
    texts = TEXTS + UNSEEN
    ort = NoteClassifier.load(out, threads=1, keywords=False, backend="onnxruntime").predict_proba(texts)
    ov = [NoteClassifier.load(out, threads=1, keywords=False, backend="openvino", batch_size=b) for b in (1, 32)]
    alone, together = ov[0].predict_proba(texts), ov[1].predict_proba(texts)
    assert ov[0].backend.name == "openvino" and ov[0].backend.labels == tuple(LABELS)
    assert np.abs(alone - together).max() <= 1e-3
    assert np.abs(alone - ov[1].predict_proba(texts[::-1])[::-1]).max() <= 1e-3
    assert np.mean(alone.argmax(1) == ort.argmax(1)) >= 0.9 and np.abs(alone - ort).max() < 0.1


def test_backend_auto_and_unknown(exported, monkeypatch):
    import importlib.util

    from nlp.backends import choose_backend

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "openvino" else real(n, *a))
    assert choose_backend("auto") == "onnxruntime"
    monkeypatch.setattr(importlib.util, "find_spec", real)
    assert choose_backend("auto") == "onnxruntime"  # OpenVINO's fast default (bf16) is not batch-invariant
    with pytest.raises(ValueError, match="unknown backend"):
        choose_backend("tensorrt")
