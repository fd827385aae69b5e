"""Surface cues of the project's notes, and a model that sees nothing but format.

A corpus written to labels teaches its writers' habits as well as the labels: if
「」 quotes sit mostly in sponsored notes, a model learns "「」 → sponsored",
which real posts punish. Two checks keep the corpus honest (run by
``python -m training.notes_corpus validate``):

- **cue shares**: for each cue of :data:`CUES`, the share of notes of each label
  carrying it; the largest share may be at most :data:`MAX_CUE_RATIO` times the
  smallest (cues rarer than :data:`MIN_CUE_SHARE` in every label are not judged);
- **format-only model**: a classifier that sees only format features (length,
  lines, punctuation, emoji, hashtags, digits, Latin/Han shares, language, title),
  fitted on ``train`` and scored on ``dev``; its macro-F1 must stay at or below
  :data:`MAX_FORMAT_F1` (chance is 0.33). The stronger of a logistic regression
  and gradient-boosted trees is reported.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

from nlp.model_folder import LABELS

MAX_CUE_RATIO = 2.0
MIN_CUE_SHARE = 0.03
MAX_FORMAT_F1 = 0.50

_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf\u2b50\u2764\u2b06\u2194-\u21aa]")
_ZH_TAG = re.compile(r"#[^#\s]{1,30}?(\[话题\])?#")
_EN_TAG = re.compile(r"(?<![#\w])#[A-Za-z\u4e00-\u9fff][\w\u4e00-\u9fff]*(?!#)")
_DISCLAIMER = re.compile(
    r"不是广告|不是廣告|唔係廣告|非广告|无广|無廣|没有广告|沒有廣告|不是推广|不是推廣|纯自费|自费|自費|"
    r"not sponsored|not an ad\b|no ads?\b|"
    r"notsponsored|not paid|\bunsponsored\b",
    re.I,
)
_LINK = re.compile(r"link in (my )?bio|\bbio\b|链接|連結|主页|主頁|戳|https?://|\bt\.cn/|bit\.ly", re.I)
_PRICE = re.compile(r"[¥￥$€£]\s?\d|\d\s?(元|块|塊|rmb|RMB|港币|港幣|dollars?|bucks)")
_TRAILING = re.compile(r"[\s\U0001f300-\U0001faff\u2600-\u27bf\u2b50\u2764\ufe0f\u200d]+$")


def body(note: dict[str, Any]) -> str:
    """The note's body text."""
    return note.get("text") or ""


def full(note: dict[str, Any]) -> str:
    """Title and body (the title on its own line)."""
    title = note.get("title") or ""
    return f"{title}\n{body(note)}" if title else body(note)


def _question_end(note: dict[str, Any]) -> bool:
    return _TRAILING.sub("", body(note)).endswith(("?", "？"))


# name -> test on a note. Line breaks are counted in the body only (a title is not a line break).
CUES: dict[str, Callable[[dict[str, Any]], bool]] = {
    "「」 quotes": lambda n: "「" in full(n) or "『" in full(n),
    "～ tilde": lambda n: "～" in full(n) or "~" in full(n),
    "【】 headline": lambda n: "【" in full(n),
    "#话题# tag": lambda n: bool(_ZH_TAG.search(full(n))),
    "#tag": lambda n: bool(_EN_TAG.search(_ZH_TAG.sub(" ", full(n)))),
    "emoji": lambda n: bool(_EMOJI.search(full(n))),
    "question at the end": _question_end,
    "'not an ad' disclaimer": lambda n: bool(_DISCLAIMER.search(full(n))),
    "link / bio / 主页 / 戳": lambda n: bool(_LINK.search(full(n))),
    "price": lambda n: bool(_PRICE.search(full(n))),
    "line breaks": lambda n: "\n" in body(n).strip(),
    "under 20 characters": lambda n: len(full(n)) < 20,
    "over 300 characters": lambda n: len(full(n)) > 300,
}


def cue_shares(notes: Sequence[dict[str, Any]], labels: Sequence[str] = LABELS) -> dict[str, dict[str, float]]:
    """Cue -> label -> share of that label's notes carrying the cue."""
    counts = {label: sum(1 for n in notes if n.get("label") == label) for label in labels}
    out: dict[str, dict[str, float]] = {}
    for name, test in CUES.items():
        hits = dict.fromkeys(labels, 0)
        for n in notes:
            if n.get("label") in hits and test(n):
                hits[n["label"]] += 1
        out[name] = {label: hits[label] / counts[label] if counts[label] else 0.0 for label in labels}
    return out


def cue_ratio(shares: dict[str, float]) -> float | None:
    """Largest share / smallest share; None when the cue is too rare to judge."""
    values = list(shares.values())
    if max(values) < MIN_CUE_SHARE:
        return None
    return max(values) / max(min(values), 1e-9)


def cue_problems(shares: dict[str, dict[str, float]]) -> list[str]:
    """Cues whose shares differ by more than :data:`MAX_CUE_RATIO` between labels."""
    problems = []
    for name, by_label in shares.items():
        ratio = cue_ratio(by_label)
        if ratio is not None and ratio > MAX_CUE_RATIO:
            shown = ", ".join(f"{label} {share:.1%}" for label, share in by_label.items())
            problems.append(f"cue {name!r} is {ratio:.1f}x more common in one label than another ({shown})")
    return problems


def cue_table(shares: dict[str, dict[str, float]], labels: Sequence[str] = LABELS) -> str:
    """The shares as a Markdown table."""
    lines = ["| cue | " + " | ".join(labels) + " | max/min |", "|---|" + "---:|" * (len(labels) + 1)]
    for name, by_label in shares.items():
        ratio = cue_ratio(by_label)
        cells = " | ".join(f"{by_label[label]:.1%}" for label in labels)
        lines.append(f"| {name} | {cells} | {'–' if ratio is None else f'{ratio:.2f}'} |")
    return "\n".join(lines)


# ------------------------------------------------------------- format only

_PUNCT = "，。！？!?,.…、~～：:；;（）()「」【】\"“”'"


def format_features(note: dict[str, Any]) -> list[float]:
    """What a note looks like, not what it says: length, shape, punctuation, symbols, script, language."""
    text, title = body(note), note.get("title") or ""
    n = max(len(text), 1)
    han = sum(1 for c in text if "\u4e00" <= c <= "\u9fff")
    latin = sum(1 for c in text if c.isascii() and c.isalpha())
    feats = [
        math.log1p(len(text)),
        math.log1p(len(title)),
        float(bool(title)),
        math.log1p(text.count("\n")),
        math.log1p(sum(1 for c in text if c.isdigit())),
        math.log1p(len(_EMOJI.findall(text))),
        math.log1p(text.count("#")),
        math.log1p(text.count("@")),
        han / n,
        latin / n,
        sum(1 for c in text if c.isupper()) / max(latin, 1),
        sum(1 for c in text if unicodedata.category(c).startswith("P")) / n,
        float(_question_end(note)),
        float(text.rstrip()[-1:] in "。.!！" if text.strip() else 0),
    ]
    feats += [math.log1p(text.count(p)) for p in _PUNCT]
    lang = note.get("lang")
    feats += [float(lang == "zh"), float(lang == "en"), float(lang == "mixed")]
    return feats


def format_only_f1(train: Sequence[dict[str, Any]], dev: Sequence[dict[str, Any]],
                   labels: Sequence[str] = LABELS, seed: int = 0) -> dict[str, float]:  # fmt: skip
    """Dev macro-F1 of format-only classifiers fitted on ``train``.

    Returns:
        ``{"logistic_regression": f1, "gradient_boosting": f1, "max": f1}``.
    """
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train = np.array([format_features(n) for n in train])
    x_dev = np.array([format_features(n) for n in dev])
    y_train = [labels.index(n["label"]) for n in train]
    y_dev = [labels.index(n["label"]) for n in dev]
    models = {
        "logistic_regression": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0)),
        "gradient_boosting": HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=seed),
    }
    out = {}
    for name, model in models.items():
        model.fit(x_train, y_train)
        out[name] = float(f1_score(y_dev, model.predict(x_dev), average="macro"))
    out["max"] = max(out.values())
    return out
