"""Training-time augmentation against surface cues in the project's notes.

In the written corpus, hashtags and emoji are far more frequent in sponsored
notes than in genuine or possibly-false ones, while on real platforms genuine
notes carry them all the time (Xiaohongshu adds topic tags to most posts). A
model would learn "hashtag → ad". So, for a seeded share of genuine and
possibly-false training notes that have none, we append hashtags made from the
note's own keywords (in the platform's forms: ``#话题[话题]#``, ``#话题#``,
``#tag``) and sprinkle emoji. Likewise the written ads never end with a question
and rarely carry ～, while genuine notes often do: a share of sponsored notes get
an engagement question appended and a share of the others a ～. Labels do not change: LABELS.md says hashtags and
enthusiasm are not evidence of sponsorship. Dev and test notes are never augmented.
"""

from __future__ import annotations

import random
import re
from typing import Any

QUESTIONS = {
    "zh": ["你们用过吗？", "大家觉得值吗？", "有人跟我一样吗？", "你们会入吗？", "评论区说说你们的看法？"],
    "en": ["Anyone else tried it?", "Thoughts?", "Would you try it?", "Worth it or not?", "Has anyone compared?"],
}
EMOJI = [
    "😂",
    "🥹",
    "😭",
    "✨",
    "💕",
    "👍",
    "🙏",
    "😅",
    "🤔",
    "❤️",
    "🔥",
    "😋",
    "🌟",
    "💪",
    "😍",
    "🥲",
    "👀",
    "🙌",
    "☕",
    "🌸",
]
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
                r["text"] = _END.sub(lambda m, e=emoji: m.group(1) + e + m.group(2), r["text"], count=rng.randint(1, 2))
        elif (
            r.get("label") == "sponsored" and not r["text"].rstrip().endswith(("?", "？")) and rng.random() < share / 3
        ):
            # Ads ask readers questions too (engagement bait); the written corpus's never do.
            lang = "en" if r.get("lang") == "en" else "zh"
            r["text"] = r["text"].rstrip() + rng.choice(["\n", " "]) + rng.choice(QUESTIONS[lang])
            changed += 1
        if r.get("label") != "sponsored" and "～" not in r["text"] and rng.random() < share / 4:
            r["text"] = r["text"].replace("！", "～", 1) if "！" in r["text"] else r["text"].rstrip() + "～"
        out.append(r)
    return out, changed
