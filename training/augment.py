"""Training-time augmentation against surface cues in the project's notes.

In the written corpus, hashtags and emoji are far more frequent in sponsored
notes than in genuine or possibly-false ones, while on real platforms genuine
notes carry them all the time (Xiaohongshu adds topic tags to most posts). A
model would learn "hashtag → ad". So, for a seeded share of genuine and
possibly-false training notes that have none, we append hashtags made from the
note's own keywords (in the platform's forms: ``#话题[话题]#``, ``#话题#``,
``#tag``) and sprinkle emoji. Labels do not change: LABELS.md says hashtags and
enthusiasm are not evidence of sponsorship. Dev and test notes are never augmented.
"""

from __future__ import annotations

import random
import re
from typing import Any

EMOJI = ["😂", "🥹", "😭", "✨", "💕", "👍", "🙏", "😅", "🤔", "❤️", "🔥", "😋", "🌟", "💪", "😍", "🥲", "👀", "🙌", "☕", "🌸"]
_END = re.compile(r"([。！？!?.])(\s|$)")


def _tag(keyword: str, lang: str, rng: random.Random) -> str:
    if lang == "en" or keyword.isascii():
        return "#" + re.sub(r"[\s\-]+", "", keyword.lower() if rng.random() < 0.7 else keyword)
    return f"#{keyword}[话题]#" if rng.random() < 0.6 else f"#{keyword}#"


def augment(records: list[dict[str, Any]], seed: int = 7, share: float = 0.5) -> tuple[list[dict[str, Any]], int]:
    """Return augmented copies of the records (originals untouched) and the count changed.

    Args:
        records: labelled notes with ``text``, ``label``, ``keywords``, ``lang``.
        seed: random seed.
        share: chance that an eligible note gets hashtags (and, half as often, emoji).
    """
    rng = random.Random(seed)
    out, changed = [], 0
    for record in records:
        r = dict(record)
        if r.get("label") in ("genuine", "possibly_false") and "#" not in r["text"] and rng.random() < share:
            keywords = [k for k in r.get("keywords") or [] if k.strip()]
            if keywords:
                picked = rng.sample(keywords, min(len(keywords), rng.randint(1, 4)))
                sep = rng.choice(["\n", "\n\n", " "])
                r["text"] = r["text"].rstrip() + sep + " ".join(_tag(k, r.get("lang", "zh"), rng) for k in picked)
                changed += 1
            if rng.random() < 0.5:
                emoji = rng.choice(EMOJI) * rng.choice([1, 1, 2])
                r["text"] = _END.sub(lambda m: m.group(1) + emoji + m.group(2), r["text"], count=rng.randint(1, 2))
        out.append(r)
    return out, changed
