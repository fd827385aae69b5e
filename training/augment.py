"""Platform noise as training-time augmentation, the same for every label.

Real posts are flattened, mistyped and cluttered with platform marks; the
project's notes are tidy. So a seeded share of training notes also appears as a
noisy copy made by 1–3 of :data:`TRANSFORMS`: line breaks flattened, half-width
punctuation inside Chinese, repeated punctuation, homophone typos, Weibo and
Xiaohongshu emoticon codes (``[doge]``, ``[笑哭R]``), ``#话题[话题]#`` tags from the
note's own keywords, ``@`` mentions and ``//@`` repost chains, short links, a
dropped final punctuation mark, a Weibo-length cut with ``…``. The choice never
looks at the label: noise must not become a label cue (LABELS.md: none of these
is evidence of sponsorship or falsehood). Dev and test notes are never augmented.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable
from typing import Any

EMOTICONS = ["[哈哈]", "[doge]", "[允悲]", "[泪]", "[怒]", "[赞]", "[吃瓜]", "[二哈]", "[笑哭R]", "[捂脸R]", "[派对R]",
             "[哭惹R]", "[飞吻R]", "[表情]", "[微笑]", "[偷笑]"]  # fmt: skip
HANDLES = ["小鹿乱撞", "今天也要早睡", "momo", "阿卷", "一只橘子", "路人甲", "喵了个咪", "Kiki", "老王", "jiayi_",
           "星星不眨眼", "芋圆波波"]  # fmt: skip
HOMOPHONES = [("应该", "因该"), ("什么", "神马"), ("这样子", "酱紫"), ("觉得", "觉的"), ("已经", "己经"), ("在", "再"),
              ("的", "地"), ("得", "的"), ("那", "哪"), ("没有", "木有"), ("喜欢", "稀饭"),
              ("怎么", "肿么")]  # fmt: skip
EN_TYPOS = [("you", "u"), ("are", "r"), ("because", "cuz"), ("definitely", "definately"), ("really", "rly"),
            ("though", "tho"), ("probably", "prob"), ("it's", "its")]  # fmt: skip
_HALF = str.maketrans({"，": ",", "。": ".", "！": "!", "？": "?", "：": ":", "；": ";"})
_END = re.compile(r"[。！？!?.]")
_HAN = re.compile(r"[\u4e00-\u9fff]")


def flatten(text: str, note: dict[str, Any], rng: random.Random) -> str:
    """All on one line, as exports and reposts flatten it."""
    return re.sub(r"\s*\n+\s*", rng.choice(["", " ", " "]), text)


def half_width(text: str, note: dict[str, Any], rng: random.Random) -> str:
    """Half-width punctuation inside Chinese text."""
    return text.translate(_HALF) if _HAN.search(text) else text


def repeat_punctuation(text: str, note: dict[str, Any], rng: random.Random) -> str:
    """One or two marks repeated: ！！！, ???, 。。。"""
    for _ in range(rng.randint(1, 2)):
        marks = [m.start() for m in _END.finditer(text)]
        if not marks:
            break
        at = rng.choice(marks)
        text = text[: at + 1] + text[at] * rng.randint(1, 3) + text[at + 1 :]
    return text


def typos(text: str, note: dict[str, Any], rng: random.Random) -> str:
    """A homophone or a casual misspelling, as typed on a phone."""
    pairs = HOMOPHONES if _HAN.search(text) else EN_TYPOS
    options = [(a, b) for a, b in pairs if re.search(rf"\b{re.escape(a)}\b" if a.isascii() else re.escape(a), text)]
    for a, b in rng.sample(options, min(len(options), rng.randint(1, 2))):
        pattern = rf"\b{re.escape(a)}\b" if a.isascii() else re.escape(a)
        text = re.sub(pattern, b, text, count=1)
    return text


def emoticons(text: str, note: dict[str, Any], rng: random.Random) -> str:
    """Weibo / Xiaohongshu emoticon codes after a sentence or at the end."""
    ends = [m.end() for m in _END.finditer(text)] or [len(text)]
    for at in sorted(rng.sample(ends, min(len(ends), rng.randint(1, 2))), reverse=True):
        text = text[:at] + rng.choice(EMOTICONS) * rng.randint(1, 2) + text[at:]
    return text


def topic_tags(text: str, note: dict[str, Any], rng: random.Random) -> str:
    """``#话题[话题]#`` tags made from the note's own keywords."""
    words = [k for k in note.get("keywords") or [] if k.strip() and " " not in k.strip()]
    if not words:
        return text
    tags = [f"#{k}[话题]#" if rng.random() < 0.5 else f"#{k}#" for k in rng.sample(words, min(2, len(words)))]
    return text.rstrip() + rng.choice([" ", "\n"]) + " ".join(tags)


def mentions(text: str, note: dict[str, Any], rng: random.Random) -> str:
    """An @mention, or the note as a repost in a ``//@`` chain."""
    if rng.random() < 0.5:
        return f"{text.rstrip()} @{rng.choice(HANDLES)}"
    chain = "".join(f"//@{h}:{rng.choice(['', '转发', '哈哈哈', '+1', '真的', ' '])}"
                    for h in rng.sample(HANDLES, rng.randint(1, 2)))  # fmt: skip
    return f"{rng.choice(['', '转发微博', '码住'])}{chain}{text}"


def short_link(text: str, note: dict[str, Any], rng: random.Random) -> str:
    """A short link at the end (t.cn, bit.ly)."""
    code = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(rng.randint(5, 7)))
    return f"{text.rstrip()} {rng.choice(['http://t.cn/', 'https://t.cn/', 'bit.ly/', 'http://t.cn/A6'])}{code}"


def drop_final_punctuation(text: str, note: dict[str, Any], rng: random.Random) -> str:
    """No full stop at the end."""
    return re.sub(r"[。！？!?.～~]+$", "", text.rstrip())


def weibo_cut(text: str, note: dict[str, Any], rng: random.Random) -> str:
    """A long post cut at a Weibo-like length with ``…`` (and sometimes 全文)."""
    if len(text) <= 140:
        return text
    return text[: rng.randint(100, 140)].rstrip() + rng.choice(["…", "...", "…全文", " ...展开"])


TRANSFORMS: dict[str, Callable[[str, dict[str, Any], random.Random], str]] = {
    f.__name__: f
    for f in (
        flatten,
        half_width,
        repeat_punctuation,
        typos,
        emoticons,
        topic_tags,
        mentions,
        short_link,
        drop_final_punctuation,
        weibo_cut,
    )  # fmt: skip
}


def noisy(note: dict[str, Any], rng: random.Random) -> tuple[str, list[str]]:
    """A noisy copy of a note's text and the transforms used (1–3, chosen without looking at the label)."""
    names = rng.sample(sorted(TRANSFORMS), rng.randint(1, 3))
    text = note["text"]
    for name in names:
        text = TRANSFORMS[name](text, note, rng)
    return (text if text.strip() else note["text"]), names


def augment(records: list[dict[str, Any]], seed: int = 7, share: float = 0.5) -> tuple[list[dict[str, Any]], int]:
    """The records plus a noisy copy of a seeded ``share`` of them (originals untouched).

    Args:
        records: labelled notes with ``text`` (``keywords`` used for topic tags).
        seed: random seed.
        share: the chance that a note also appears as a noisy copy.

    Returns:
        ``(records + noisy copies, number of copies)``; a copy keeps every field but
        ``text`` and ``id`` (suffixed ``~noisy``).
    """
    rng = random.Random(seed)
    copies = []
    for record in records:
        if rng.random() < share:
            text, _ = noisy(record, rng)
            copies.append({**record, "text": text, "id": f"{record.get('id', '')}~noisy"})
    return records + copies, len(copies)
