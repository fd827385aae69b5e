"""Rebalancing the surface cues of the first-generation notes (parts 1–8), once.

The first 3,660 notes carried their writers' habits as label cues (「」, ～ and
"link in bio" in ads; questions and "不是广告" in genuine notes; no emoji or prices
in false ones). :func:`plan` chooses, per cue and label, which notes gain or lose
the cue so that every label ends within a factor 1.3 of the cue's mean share (a
ratio ≤ 1.7 between labels, under the 2× limit of :mod:`training.corpus_cues`), at most
two edits per note, seeded. :data:`TYPOGRAPHIC` edits are done here, by rule,
because they change typography only (brackets, tildes, emoji, tags from the
note's own keywords, line breaks at sentence ends); the others (a question, a
disclaimer, a link mention, a price, a headline, a 「」-quoted name) change
wording and were done by hand from the plan, keeping every label valid under
LABELS.md. Applied once to parts 1–8 with seed 11 (see data/README.md).

    python -m training.corpus_rebalance plan data/notes/parts --out plan.json
    python -m training.corpus_rebalance apply data/notes/parts plan.json
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from nlp.keywords import fold
from nlp.model_folder import LABELS
from training.corpus_cues import _EMOJI, _EN_TAG, CUES
from training.notes_corpus import read_jsonl

# cue name (training.corpus_cues.CUES) -> edit key
EDITABLE = {
    "「」 quotes": "quotes",
    "～ tilde": "tilde",
    "【】 headline": "headline",
    "#话题# tag": "zh_tag",
    "#tag": "en_tag",
    "emoji": "emoji",
    "question at the end": "question",
    "'not an ad' disclaimer": "disclaimer",
    "link / bio / 主页 / 戳": "link",
    "price": "price",
    "line breaks": "line_breaks",
}
# Shape cues the format-only model of training.corpus_cues leans on beyond the listed ones.
SHAPE_CUES = {
    "exclamation": lambda n: bool(re.search(r"[！!]", n.get("text") or "")),
    "title": lambda n: bool(n.get("title")),
    "several emoji": lambda n: len(_EMOJI.findall(n.get("text") or "")) >= 2,
    "three lines or more": lambda n: (n.get("text") or "").strip().count("\n") >= 2,
    "a question mark": lambda n: bool(re.search(r"[？?]", n.get("text") or "")),
}
EDITABLE_SHAPES = {"exclamation": "exclamation", "title": "title", "several emoji": "extra_emoji",
                   "three lines or more": "line_breaks", "a question mark": "question_mark"}  # fmt: skip
TYPOGRAPHIC = {
    "remove:quotes", "remove:tilde", "remove:headline", "remove:en_tag", "remove:emoji",
    "add:emoji", "add:tilde", "add:zh_tag", "add:en_tag", "add:line_breaks",
    "remove:exclamation", "add:exclamation", "remove:title", "remove:extra_emoji", "add:extra_emoji",
}  # fmt: skip
BAND = 1.3
FLOOR = 0.08
# Disclosure tags are sponsorship evidence: never removed.
DISCLOSURE_TAGS = re.compile(
    r"#(ad|ads|sponsored|spon|gifted|pr|partner|paidpartnership|collab|广告|合作|推广)\b", re.I
)
EMOJI = ["😂", "🥹", "😭", "✨", "💕", "👍", "🙏", "😅", "🤔", "❤️", "🔥", "😋", "🌟", "💪", "😍", "🥲", "👀", "🙌"]


def plan(parts: list[Path], editable_parts: set[str], seed: int = 11, shapes: bool = False) -> dict[str, list[str]]:
    """Note id -> edits (``add:KEY`` / ``remove:KEY``) that bring cue shares within the band.

    With ``shapes`` the :data:`SHAPE_CUES` are balanced instead of the listed cues.
    """
    rng = random.Random(seed)
    notes = [r for p in parts for r in read_jsonl(p)]
    editable = [r for p in parts if p.name in editable_parts for r in read_jsonl(p)]
    sizes = Counter(r["label"] for r in notes)
    tests = SHAPE_CUES if shapes else CUES
    keys = EDITABLE_SHAPES if shapes else EDITABLE
    shares = {c: {lab: sum(1 for r in notes if r["label"] == lab and tests[c](r)) / sizes[lab] for lab in LABELS}
              for c in keys}  # fmt: skip
    out: dict[str, list[str]] = defaultdict(list)
    load: Counter[str] = Counter()
    for cue, key in keys.items():
        target = max(sum(shares[cue].values()) / len(LABELS), FLOOR)
        for label in LABELS:
            current = shares[cue][label]
            if target / BAND <= current <= target * BAND:
                continue
            op = "remove" if current > target else "add"
            has = tests[cue]
            pool = [r for r in editable if r["label"] == label and has(r) == (op == "remove") and load[r["id"]] < 2]
            pool.sort(key=lambda r: (load[r["id"]], rng.random()))
            edge = target * BAND if op == "remove" else target / BAND  # move to the band's edge, no further
            for r in pool[: round(abs(current - edge) * sizes[label])]:
                out[r["id"]].append(f"{op}:{key}")
                load[r["id"]] += 1
    return dict(out)


def _sentences_end(text: str) -> list[int]:
    return [m.end() for m in re.finditer(r"[。！？!?](?=\S)", text)]


def typographic(note: dict[str, Any], edit: str, rng: random.Random) -> dict[str, Any]:
    """Apply one typographic edit; returns the note unchanged when it does not apply."""
    r = dict(note)
    text = r["text"]
    if edit == "remove:quotes":
        r["text"] = re.sub(r"[「『](.*?)[」』]", r"\1", text)
        if r.get("title"):
            r["title"] = re.sub(r"[「『](.*?)[」』]", r"\1", r["title"])
    elif edit == "remove:tilde":
        r["text"] = re.sub(r"[～~]+(?=\s|$)", "！", re.sub(r"[～~]+(?=\S)", "，", text))
        r["text"] = re.sub(r"，([，。！？!?])", r"\1", r["text"])
    elif edit == "remove:headline":
        r["text"] = re.sub(r"【(.*?)】", r"\1：", text).replace("：：", "：")
    elif edit == "remove:en_tag":
        r["text"] = _EN_TAG.sub(lambda m: m.group(0) if DISCLOSURE_TAGS.fullmatch(m.group(0)) else "", text).rstrip()
    elif edit == "remove:emoji":
        r["text"] = re.sub(r" {2,}", " ", _EMOJI.sub("", text).replace("\ufe0f", "")).strip()
    elif edit == "add:emoji":
        ends = _sentences_end(text) or [len(text)]
        at = rng.choice(ends)
        r["text"] = text[:at] + rng.choice(EMOJI) + text[at:]
    elif edit == "add:tilde":
        r["text"] = re.sub(r"[！!]", "～", text, count=1) if re.search(r"[！!]", text) else text.rstrip("。.") + "～"
    elif edit in ("add:zh_tag", "add:en_tag"):
        r["text"] = _with_tags(r, edit == "add:zh_tag", rng)
    elif edit == "remove:exclamation":
        r["text"] = re.sub(r"！+", "。", re.sub(r"!+(?=\s|$)", ".", re.sub(r"!+(?=\S)", ", ", text)))
    elif edit == "add:exclamation":
        if "。" in text[:-1]:
            r["text"] = re.sub(r"。(?=.)", "！", text, count=1)
        else:
            r["text"] = re.sub(r"\.(\s)", r"!\1", text, count=1)
    elif edit == "remove:title" and r.get("title"):
        kept = [k for k in r.get("keywords") or [] if fold(k) in fold(text)]
        if len(kept) >= 3 or len(text) < 40:
            r.pop("title")
            r["keywords"] = kept
    elif edit == "remove:extra_emoji" and len(_EMOJI.findall(text)) >= 2:  # keep the first
        first = _EMOJI.search(text).end()
        r["text"] = text[:first] + _EMOJI.sub("", text[first:]).replace("\ufe0f", "")
    elif edit == "add:extra_emoji":
        for _ in range(2 - min(len(_EMOJI.findall(text)), 1)):
            r = typographic(r, "add:emoji", rng)
    elif edit == "add:line_breaks" and text.strip().count("\n") < 2:
        ends = _sentences_end(text)
        if ends:
            cuts = sorted(rng.sample(ends, min(len(ends), rng.randint(1, 3))))
            pieces = [text[i:j].strip() for i, j in zip([0, *cuts], [*cuts, len(text)], strict=True)]
            r["text"] = "\n".join(p for p in pieces if p)
    return r


def _with_tags(note: dict[str, Any], zh: bool, rng: random.Random) -> str:
    words = [k for k in note.get("keywords") or [] if k.strip() and " " not in k.strip()]
    if zh:
        words = [k for k in words if re.search(r"[\u4e00-\u9fff]", k)] or words
    if not words:
        return note["text"]
    picked = rng.sample(words, min(len(words), rng.randint(1, 3)))
    if zh:
        tags = " ".join(f"#{k}[话题]#" if rng.random() < 0.6 else f"#{k}#" for k in picked)
    else:
        tags = " ".join("#" + re.sub(r"[\s\-]+", "", k.lower()) for k in picked)
    return note["text"].rstrip() + rng.choice(["\n", " ", "\n\n"]) + tags


def apply(parts: list[Path], edits: dict[str, list[str]], seed: int = 11) -> Counter:
    """Apply the typographic edits of ``edits`` to the part files in place; returns counts per edit."""
    rng = random.Random(seed)
    done: Counter[str] = Counter()
    for path in parts:
        rows = read_jsonl(path)
        for i, row in enumerate(rows):
            for edit in edits.get(row.get("id"), []):
                if edit in TYPOGRAPHIC:
                    new = typographic(row, edit, rng)
                    done[edit if new != row else f"{edit} (did not apply)"] += 1
                    rows[i] = row = new
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return done


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plan")
    p.add_argument("parts", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--editable", nargs="+", default=[f"part{i}.jsonl" for i in range(1, 9)])
    p.add_argument("--shapes", action="store_true", help="balance the shape cues (SHAPE_CUES) instead")
    a = sub.add_parser("apply")
    a.add_argument("parts", type=Path)
    a.add_argument("plan", type=Path)
    args = parser.parse_args(argv)
    files = sorted(args.parts.glob("*.jsonl"))
    if args.command == "plan":
        edits = plan(files, set(args.editable), shapes=args.shapes)
        args.out.write_text(json.dumps(edits, ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"{len(edits)} notes, {sum(len(v) for v in edits.values())} edits: "
              f"{Counter(e for v in edits.values() for e in v).most_common()}")  # fmt: skip
    else:
        print(apply(files, json.loads(args.plan.read_text(encoding="utf-8"))).most_common())


if __name__ == "__main__":
    main()
