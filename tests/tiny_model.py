"""Build tiny notescore model folders for tests, with no torch and no network.

The graph is a bag-of-embeddings classifier (Gather, masked mean, MatMul):
the same inputs, outputs and folder layout as a real exported model, small
enough to build in milliseconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
CHARS = (
    "的一是不了人我在有他这中大来上个国到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长"
    "知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双历越史商千片容研像找友孩站广改议形委早房音火际则首单据导影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽坏兴切"
    "霜面膜肤皮痘链接券优惠码私信抽奖转发关注瘦斤根治效谣言医生权威研究涨价仅剩亮白嫩滑敏感油干补湿防晒"
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,!?#@$%&*()-:;'\"，。！？：；、…～【】《》"
)
LABELS = ["genuine", "sponsored", "possibly_false"]


def build_tokenizer(path: Path) -> None:
    """A character-level Unigram tokenizer with XLM-R style special tokens."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

    seen: list[str] = []
    for c in CHARS:
        if c not in seen and c != " ":
            seen.append(c)
    vocab = [(s, 0.0) for s in SPECIALS] + [("▁", -2.0)] + [(c, -5.0) for c in seen]
    vocab += [("▁" + c, -6.0) for c in seen if c.isascii() and c.isalnum()]
    tok = Tokenizer(models.Unigram(vocab, unk_id=3, byte_fallback=False))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.save(str(path))


def build_onnx(path: Path, vocab_size: int, hidden: int = 16, seed: int = 0, n_labels: int = 3) -> None:
    """A bag-of-embeddings ONNX classifier with notescore's input/output names."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    emb = rng.normal(0, 1, (vocab_size, hidden)).astype(np.float32)
    w = rng.normal(0, 1, (hidden, n_labels)).astype(np.float32)
    b = np.zeros(n_labels, dtype=np.float32)
    nodes = [
        helper.make_node("Gather", ["emb", "input_ids"], ["x"]),
        helper.make_node("Cast", ["attention_mask"], ["m"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["m", "axis2"], ["m3"]),
        helper.make_node("Mul", ["x", "m3"], ["xm"]),
        helper.make_node("ReduceSum", ["xm", "axis1"], ["s"], keepdims=0),
        helper.make_node("ReduceSum", ["m3", "axis1"], ["n"], keepdims=0),
        helper.make_node("Div", ["s", "n"], ["mean"]),
        helper.make_node("MatMul", ["mean", "w"], ["z"]),
        helper.make_node("Add", ["z", "b"], ["logits"]),
    ]
    inits = [
        numpy_helper.from_array(emb, "emb"),
        numpy_helper.from_array(w, "w"),
        numpy_helper.from_array(b, "b"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", n_labels])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"notescore.labels": json.dumps(LABELS[:n_labels])})
    onnx.save(model, str(path))


def build_model_folder(folder: Path, max_length: int = 64) -> Path:
    """Write a complete tiny model folder (spec written through the schema) and return it."""
    from tokenizers import Tokenizer

    from nlp.model_folder import ModelSpec, Provenance, Source, Truncation, write_model_spec

    folder.mkdir(parents=True, exist_ok=True)
    build_tokenizer(folder / "tokenizer.json")
    vocab_size = Tokenizer.from_file(str(folder / "tokenizer.json")).get_vocab_size()
    build_onnx(folder / "model.onnx", vocab_size)
    spec = ModelSpec(
        name="tiny-test",
        labels=tuple(LABELS),
        truncation=Truncation(max_length, 0.5),
        provenance=Provenance(base_model="tiny-test", sources=(Source("none", 0, "n/a"),)),
    )
    write_model_spec(folder, spec)
    return folder


BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]


def build_wordpiece_tokenizer(path: Path) -> None:
    """A BERT-style WordPiece tokenizer over the same characters (plus ``##`` pieces and a few words)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

    chars = list(dict.fromkeys(c for c in CHARS if c != " "))
    words = ["面霜", "链接", "优惠", "私信", "医生", "skin", "link", "code", "good"]
    pieces = BERT_SPECIALS + chars + ["##" + c for c in chars if c.isascii() and c.isalnum()] + words
    vocab = {p: i for i, p in enumerate(dict.fromkeys(pieces))}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.save(str(path))


def build_bpe_tokenizer(path: Path, texts: list[str]) -> None:
    """A small BPE tokenizer trained on ``texts`` (character alphabet, XLM-R style specials)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    alphabet = list(dict.fromkeys(c for c in CHARS if c != " "))
    trainer = trainers.BpeTrainer(vocab_size=900, special_tokens=SPECIALS, initial_alphabet=alphabet, min_frequency=1)
    tok.train_from_iterator(texts, trainer)
    tok.save(str(path))


def build_base(folder: Path, family: str = "bert", layers: int = 2, seed: int = 0) -> Path:
    """A tiny random encoder folder of a family, as ``notescore train --base`` reads it.

    ``bert``: BertModel + WordPiece ([CLS] … [SEP]); ``xlm-roberta``: XLMRobertaModel +
    Unigram (<s> … </s>).
    """
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel, BertConfig, XLMRobertaConfig

    folder.mkdir(parents=True, exist_ok=True)
    if family == "bert":
        build_wordpiece_tokenizer(folder / "tokenizer.json")
        make, pad = BertConfig, 0
    else:
        build_tokenizer(folder / "tokenizer.json")
        make, pad = XLMRobertaConfig, 1
    vocab = Tokenizer.from_file(str(folder / "tokenizer.json")).get_vocab_size()
    config = make(vocab_size=vocab, hidden_size=32, num_hidden_layers=layers, num_attention_heads=2,
                  intermediate_size=64, max_position_embeddings=80, pad_token_id=pad)  # fmt: skip
    torch.manual_seed(seed)
    AutoModel.from_config(config, add_pooling_layer=False).save_pretrained(str(folder))
    return folder


def copy_with_ngram(model: Path, folder: Path, cues: dict[str, list[str]], weight: float = 1.0) -> Path:
    """Copy the model folder ``model`` to ``folder`` and give the copy the cue-only n-gram part of :func:`add_ngram`."""
    import shutil

    shutil.copytree(model, folder)
    return add_ngram(folder, cues, weight=weight)


def add_ngram(folder: Path, cues: dict[str, list[str]], weight: float = 1.0, buckets: int = 4096) -> Path:
    """Give a model folder an n-gram part whose only non-zero weights are the planted cues' terms.

    With ``weight=1.0`` the blend is the n-gram model alone, so a test knows which
    spans move the score: the terms of ``cues[label]`` push towards ``label``. Terms
    seen nowhere keep the largest idf (as never-seen terms do in a fitted model).
    """
    from nlp.model_folder import NgramSettings, update_model_spec
    from nlp.ngram import NgramModel, bucket_of, ngram_terms

    weights = np.zeros((buckets, len(LABELS)), dtype=np.float32)
    idf = np.full(buckets, 3.0, dtype=np.float32)
    for label, phrases in cues.items():
        for phrase in phrases:
            for term in ngram_terms(phrase):
                weights[bucket_of(term, buckets), LABELS.index(label)] = 4.0
                idf[bucket_of(term, buckets)] = 1.0
    NgramModel(weights, np.zeros(len(LABELS), dtype=np.float32), idf).save(folder / "ngram.npz")
    update_model_spec(folder, ngram=NgramSettings("ngram.npz", weight, buckets))
    return folder
