"""Turning notes into model inputs: text composition, tokenising, truncation.

Long notes keep their start (title and opening) and their end (calls to action,
discount codes and disclosures such as 合作 or #ad usually sit at the bottom), so
the model sees both instead of only the first ``max_length`` tokens.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nlp.errors import ModelFormatError, ModelNotFoundError
from nlp.model_folder import SpecialTokens, Truncation

# Characters kept from each end of a very long text before tokenising: far more
# than max_length tokens need, so truncation is decided on tokens, not characters.
_CHARS_PER_TOKEN_BUDGET = 8


_SPACES = re.compile(r"[^\S\n]+")
_LINE_BREAKS = re.compile(r" ?\n[\s]*")
# Where format characters (Unicode category Cf) are, up to Unicode 15.1, with room to spare: the
# pattern of clean_text keeps those the running Python's unicodedata calls Cf.
# tests/nlp/test_fastpath.py checks, against a scan of every code point, that none lies outside.
_CF_RANGES = (
    (0x00AD, 0x00AD), (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD), (0x070F, 0x070F),
    (0x0890, 0x0891), (0x08E2, 0x08E2), (0x180E, 0x180E), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x206F), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD),
    (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F),
)  # fmt: skip


@functools.cache
def format_characters() -> re.Pattern[str]:
    """A pattern matching one format character (category Cf), built on first use."""
    chars = (chr(c) for start, end in _CF_RANGES for c in range(start, end + 1))
    return re.compile("[" + "".join(re.escape(c) for c in chars if unicodedata.category(c) == "Cf") + "]")


def clean_text(text: str) -> str:
    """The normal form of a note, applied before the model and before keyword extraction.

    Invisible format characters removed (Unicode category Cf: zero-width spaces and
    joiners U+200B–U+200D, word joiner U+2060, BOM U+FEFF, bidi controls, soft
    hyphen), NFKC (full-width Latin and digits become ASCII, compatibility forms
    fold), runs of spaces collapsed to one space and runs of line breaks to one
    line break, ends trimmed. Training and run time both call it (through
    :meth:`NoteEncoder.normalize` and :func:`nlp.ngram.ngram_terms`), so text
    hidden from a reader cannot move a score.

    Args:
        text: any text.

    Returns:
        The cleaned text; empty when it held only invisible characters and spaces.

    Example:
        >>> clean_text("Ｌｉｎｋ\u200b in  bio")
        'Link in bio'
    """
    if not text.isascii():
        # Format characters go first, so that NFKC composes what they held apart (e + ZWJ + ◌́ → é).
        text = unicodedata.normalize("NFKC", format_characters().sub("", text))
    text = _SPACES.sub(" ", text)
    return _LINE_BREAKS.sub("\n", text).strip()


def has_visible_text(text: str) -> bool:
    """Whether :func:`clean_text` would leave anything (stops at the first visible character).

    Example:
        >>> has_visible_text("\u200b \u2060"), has_visible_text(" a")
        (False, True)
    """
    return any(not c.isspace() and unicodedata.category(c) != "Cf" for c in text)


def compose_text(text: str, title: str | None = None) -> str:
    """Join a note's title and body the way the model was trained on them.

    Args:
        text: the body.
        title: the title, if any.

    Returns:
        ``"title\\nbody"``, or the body alone when the title is empty.

    Example:
        >>> compose_text("干皮冬天用刚好", "面霜回购")
        '面霜回购\\n干皮冬天用刚好'
    """
    title = (title or "").strip()
    return f"{title}\n{text}" if title else text


def head_tail(ids: list[int], budget: int, head_fraction: float) -> list[int]:
    """Keep the first and last tokens of ``ids`` within ``budget``.

    Args:
        ids: token ids without special tokens.
        budget: how many ids may be kept.
        head_fraction: the share of the budget given to the start.

    Returns:
        ``ids`` itself when it fits, else its head followed by its tail.
    """
    if len(ids) <= budget:
        return ids
    head = max(1, round(budget * head_fraction))
    tail = budget - head
    return ids[:head] + (ids[len(ids) - tail :] if tail else [])


@dataclass(frozen=True)
class Batch:
    """Padded model inputs for one batch (int64 arrays of shape [n, length])."""

    input_ids: np.ndarray
    attention_mask: np.ndarray


class NoteEncoder:
    """Tokenises composed note texts into padded, head+tail-truncated batches.

    The wrapped ``tokenizers.Tokenizer`` is never reconfigured after loading
    (padding and truncation are done here), so one encoder is safe to share
    between threads. Any ``tokenizers`` model works (Unigram, WordPiece, BPE);
    the special tokens come from the model folder or checkpoint.

    Args:
        tokenizer_path: a ``tokenizer.json`` file.
        truncation: the token budget and head/tail split.
        special_tokens: the tokenizer's bos/eos/pad/unk tokens.
        normalization_path: optional JSON map {codepoint: replacement} applied
            with ``str.translate`` before tokenising.

    Raises:
        ModelNotFoundError: a file is missing.
        ModelFormatError: the tokenizer lacks the special tokens it needs.
    """

    def __init__(
        self,
        tokenizer_path: str | Path,
        truncation: Truncation,
        special_tokens: SpecialTokens | None = None,
        normalization_path: str | Path | None = None,
    ) -> None:
        from tokenizers import Tokenizer

        tokenizer_path = Path(tokenizer_path)
        if not tokenizer_path.is_file():
            raise ModelNotFoundError(f"tokenizer file {tokenizer_path} does not exist")
        try:
            self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
            raise ModelFormatError(f"{tokenizer_path}: cannot load tokenizer ({exc})") from exc
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.truncation = truncation
        self._table: dict[int, str] | None = None
        if normalization_path is not None:
            self._table = load_translate_table(normalization_path)
        special = special_tokens or detect_special_tokens(self.tokenizer)
        ids = {t: self.tokenizer.token_to_id(t) for t in (special.bos, special.eos, special.pad, special.unk)}
        missing = [t for t, i in ids.items() if i is None]
        if missing:
            raise ModelFormatError(
                f"{tokenizer_path}: tokenizer lacks the special tokens {missing} named in the model's spec"
            )
        self.special_tokens = special
        self.bos_id, self.eos_id = ids[special.bos], ids[special.eos]
        self.pad_id, self.unk_id = ids[special.pad], ids[special.unk]

    @property
    def max_length(self) -> int:
        """Tokens per note, special tokens included."""
        return self.truncation.max_length

    def normalize(self, text: str) -> str:
        """Clean the text (:func:`clean_text`), apply the model's codepoint map (if any)
        and clip very long texts."""
        return self._fit(clean_text(text))

    def _fit(self, text: str) -> str:
        """The model's codepoint map and the clipping of :meth:`normalize`, on a cleaned text."""
        if self._table is not None:
            text = text.translate(self._table)
        limit = self.max_length * _CHARS_PER_TOKEN_BUDGET
        if len(text) > 2 * limit:
            text = text[:limit] + " " + text[-limit:]
        return text

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """Encode composed texts to truncated id lists with ``<s>`` and ``</s>``."""
        return self.token_ids_of_clean([clean_text(t) for t in texts])

    def token_ids_of_clean(self, cleaned: list[str]) -> list[list[int]]:
        """:meth:`token_ids` of texts already passed through :func:`clean_text` (each text is cleaned once
        when the n-gram model reads it too)."""
        encodings = self.tokenizer.encode_batch([self._fit(t) for t in cleaned], add_special_tokens=False)
        budget = self.max_length - 2
        fraction = self.truncation.head_fraction
        return [[self.bos_id, *head_tail(e.ids, budget, fraction), self.eos_id] for e in encodings]

    def pad(self, rows: list[list[int]]) -> Batch:
        """Pad id lists to the longest one (dynamic padding)."""
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        return Batch(ids, mask)


def load_translate_table(path: str | Path) -> dict[int, str]:
    """Read a ``normalization.json`` map into a ``str.translate`` table.

    Args:
        path: JSON object whose keys are codepoints (decimal strings) and values
            the replacement strings.

    Returns:
        A dict usable with ``str.translate``.

    Raises:
        ModelNotFoundError: the file is missing.
        ModelFormatError: it is not such a map.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"normalization file {path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {int(k): str(v) for k, v in data.items()}
    except (ValueError, AttributeError) as exc:
        raise ModelFormatError(f"{path}: expected a JSON map codepoint -> string ({exc})") from exc


def detect_special_tokens(tokenizer) -> SpecialTokens:
    """The special tokens of an XLM-R style (``<s>``) or BERT style (``[CLS]``) vocabulary.

    Raises:
        ModelFormatError: the vocabulary has neither set.
    """
    from nlp.model_folder import BERT_TOKENS, XLMR_TOKENS

    for candidate in (XLMR_TOKENS, BERT_TOKENS):
        tokens = (candidate.bos, candidate.eos, candidate.pad, candidate.unk)
        if all(tokenizer.token_to_id(t) is not None for t in tokens):
            return candidate
    raise ModelFormatError(
        "the tokenizer has neither XLM-R special tokens (<s> </s> <pad> <unk>) nor BERT ones "
        "([CLS] [SEP] [PAD] [UNK]); name them in the model's special_tokens"
    )
