"""Readers for the third-party corpora in ``../shared/data`` (never copied into
the repository; read at training and evaluation time only).

Each reader returns records in the training format: ``text``, ``source``, ``kind``
(what the corpus said: rumour, non-rumour, ad, …) and a label by LABELS.md:

- an ordinary post the corpus does not flag (a non-rumour, a review, chat, a real
  COVID post, an SMS that is not spam) is ``genuine`` — "nothing to flag" — unless
  :func:`training.real_labels.sponsorship_marks` finds sponsorship marks: then
  ``sponsored`` (non-rumours, reviews, COVID posts) or, where the corpus's own
  annotators said "not an ad" (game chat, SMS), the row is dropped as a conflict;
- rumours and fake posts are ``possibly_false``; chat ads are ``sponsored``;
- SMS spam mixes ads and prize scams (false claims, which LABELS.md ranks first),
  so it only excludes ``genuine`` (``labels_allowed``);
- HRDE's "not a rumour" health claims are ``genuine`` (true health information).

:func:`split_of` splits every corpus in two halves by a hash of the text: the
shipped model samples training rows from the ``train`` half only, and the
real-text panel (:mod:`training.panel`) evaluates the ``heldout`` half.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nlp.errors import NotescoreError
from training.real_labels import sponsorship_marks

NOT_GENUINE = ["sponsored", "possibly_false"]
# Our own judgements of some corpus rows, keyed by :func:`text_key` (no third-party text is stored).
AUDITS = Path(__file__).resolve().parents[1] / "data" / "audits"


def split_of(text: str) -> str:
    """``train`` or ``heldout``: a fixed half of every corpus, by a hash of the text."""
    return "train" if zlib.crc32(text.encode("utf-8")) % 2 == 0 else "heldout"


def ordinary(text: str, kind: str, conflict_drops: bool = False) -> dict[str, Any] | None:
    """An unflagged post: ``genuine``, or ``sponsored`` when it carries sponsorship marks.

    With ``conflict_drops`` (the corpus's annotators said "not an ad"), a post with
    marks is dropped instead (None).
    """
    marks = sponsorship_marks(text)
    if not marks:
        return {"text": text, "label": "genuine", "kind": kind}
    if conflict_drops:
        return None
    return {"text": text, "label": "sponsored", "kind": f"{kind} with sponsorship marks", "marks": marks}


class CorpusNotFoundError(NotescoreError, FileNotFoundError):
    """The shared corpora folder, or one corpus, is not on this machine."""


def shared_data_dir() -> Path | None:
    """``$NOTESCORE_SHARED_DATA``, else ``../shared/data`` beside the checkout; None if absent."""
    env = os.environ.get("NOTESCORE_SHARED_DATA")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve().parents[1]
    candidates += [here.parent / "shared" / "data", here / "shared" / "data"]
    return next((c for c in candidates if c.is_dir()), None)


def _csv_rows(path: Path, **kwargs) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="", errors="replace") as f:
        return list(csv.DictReader(f, **kwargs))


def weibo_rumor_ced(root: Path) -> list[dict[str, Any]]:
    """Weibo posts 2011–14: rumor → possibly_false; non-rumor → genuine (sponsored with marks)."""
    out = []
    for row in _csv_rows(root / "weibo_rumor_ced" / "ced_labeled.csv"):
        text = (row.get("text") or "").strip()
        if not text:
            continue
        if row["label"] == "rumor":
            out.append({"text": text, "label": "possibly_false", "kind": "rumour"})
        elif row["label"] == "non-rumor":
            out.append(ordinary(text, "non-rumour"))
    return out


def hrde_health_rumor_zh(root: Path) -> list[dict[str, Any]]:
    """Health claims: 是谣言 → possibly_false; 不是谣言 → genuine (sponsored with marks); 不相关 dropped."""
    data = json.loads((root / "hrde_health_rumor_zh" / "dev_data.json").read_text(encoding="utf-8"))
    out = []
    for item in data:
        text, label = (item.get("input") or "").strip(), item.get("label")
        if not text:
            continue
        if label == "是谣言":
            out.append({"text": text, "label": "possibly_false", "kind": "rumour"})
        elif label == "不是谣言":
            out.append(ordinary(text, "non-rumour"))
    return out


def _reviews(path: Path) -> list[dict[str, Any]]:
    return [ordinary(row["review"].strip(), "review") for row in _csv_rows(path) if (row.get("review") or "").strip()]


def chnsenticorp_htl(root: Path) -> list[dict[str, Any]]:
    """Hotel reviews: genuine (nothing says they are not), sponsored with marks."""
    return _reviews(root / "chnsenticorp_htl" / "ChnSentiCorp_htl_all.csv")


def waimai_10k(root: Path) -> list[dict[str, Any]]:
    """Food-delivery reviews: genuine, sponsored with marks."""
    return _reviews(root / "waimai_10k" / "waimai_10k.csv")


def game_chat_ads_zh(root: Path) -> list[dict[str, Any]]:
    """In-game chat: 1 (ad) → sponsored; 0 → genuine (chat); 0 with sponsorship marks dropped (conflict)."""
    out = []
    for name in ("train.txt", "validation.txt"):
        with open(root / "game_chat_ads_zh" / name, encoding="utf-8", errors="replace") as f:
            next(f, None)
            for line in f:
                label, _, text = line.rstrip("\n").partition("\t")
                text = text.strip()
                if not text or label not in ("0", "1"):
                    continue
                out.append(
                    {"text": text, "label": "sponsored", "kind": "ad"}
                    if label == "1"
                    else ordinary(text, "chat", conflict_drops=True)
                )
    return out


def text_key(text: str) -> str:
    """The key of a row in ``data/audits``: the first 16 hex digits of the SHA-256 of its text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def game_chat_audited(root: Path) -> list[dict[str, Any]]:
    """Held-out game-chat lines the corpus calls "not an ad", judged again by us (``data/audits``).

    Our judgement uses the corpus's own definition of an ad (trading currency, items or
    accounts, cheats, paid services, 引流 to QQ/WeChat): ``ad`` → sponsored, ``chat`` →
    genuine, ``unclear`` dropped. Each audited text is kept once.
    """
    judged = {}
    for line in (AUDITS / "game_chat_not_ads.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        judged[row["sha256_16"]] = row["judgement"]
    out = []
    for record in game_chat_ads_zh(root):
        if record is None or record["kind"] != "chat":
            continue
        judgement = judged.pop(text_key(record["text"]), None)
        if judgement == "chat":
            out.append({"text": record["text"], "label": "genuine", "kind": "audited chat"})
        elif judgement == "ad":
            out.append({"text": record["text"], "label": "sponsored", "kind": "audited ad"})
    return out


def sms_spam_uci(root: Path) -> list[dict[str, Any]]:
    """SMS: spam (ads and prize scams) → not genuine; ham → genuine; ham with marks dropped (conflict)."""
    out = []
    with open(root / "sms_spam_uci" / "SMSSpamCollection", encoding="utf-8", errors="replace") as f:
        for line in f:
            label, _, text = line.rstrip("\n").partition("\t")
            if not text.strip():
                continue
            out.append(
                {"text": text, "labels_allowed": NOT_GENUINE, "kind": "spam"}
                if label == "spam"
                else ordinary(text, "ham", conflict_drops=True)
            )
    return out


def _covid(root: Path, names: tuple[str, ...]) -> list[dict[str, Any]]:
    out = []
    for name in names:
        for row in _csv_rows(root / "covid_fakenews_constraint" / name, delimiter="\t"):
            text, label = (row.get("tweet") or "").strip(), (row.get("label") or "").strip()
            if not text:
                continue
            if label == "fake":
                out.append({"text": text, "label": "possibly_false", "kind": "fake"})
            elif label == "real":
                out.append(ordinary(text, "real"))
    return out


def covid_fakenews_train(root: Path) -> list[dict[str, Any]]:
    """CONSTRAINT COVID posts, train + valid splits: fake → possibly_false; real → not."""
    return _covid(root, ("train.tsv", "valid.tsv"))


def covid_fakenews_test(root: Path) -> list[dict[str, Any]]:
    """CONSTRAINT COVID posts, test split."""
    return _covid(root, ("test.tsv",))


def op_spam_ott(root: Path) -> list[dict[str, Any]]:
    """Ott et al. hotel reviews: truthful → genuine; deceptive → possibly_false.

    CC BY-NC-SA: for the retraining benchmark and evaluation only, never in the
    shipped model's training data. Records keep ``hotel`` and ``polarity``.
    """
    out = []
    for row in _csv_rows(root / "op_spam_ott" / "deceptive-opinion.csv"):
        label = "genuine" if row["deceptive"] == "truthful" else "possibly_false"
        out.append({"text": row["text"].strip(), "label": label, "kind": row["deceptive"], "hotel": row["hotel"],
                    "polarity": row["polarity"]})  # fmt: skip
    return out


# name → (reader, licence as stated in SOURCE.md)
CORPORA: dict[str, tuple[Callable[[Path], list[dict[str, Any]]], str]] = {
    "weibo_rumor_ced": (weibo_rumor_ced, "research use (no licence file; cite Song et al. 2018)"),
    "hrde_health_rumor_zh": (hrde_health_rumor_zh, "Apache-2.0 (README badge)"),
    "chnsenticorp_htl": (chnsenticorp_htl, "research use (no licence file)"),
    "waimai_10k": (waimai_10k, "research use (no licence file)"),
    "game_chat_ads_zh": (game_chat_ads_zh, "no licence file"),
    "sms_spam_uci": (sms_spam_uci, "CC BY 4.0 (UCI)"),
    "game_chat_ads_zh_audited": (game_chat_audited, "no licence file (our judgements: MIT)"),
    "covid_fakenews_constraint": (covid_fakenews_train, "research use (CONSTRAINT@AAAI-2021)"),
    "covid_fakenews_constraint_test": (covid_fakenews_test, "research use (CONSTRAINT@AAAI-2021)"),
    "op_spam_ott": (op_spam_ott, "CC BY-NC-SA 3.0"),
}


def load_corpus(
    name: str, root: Path | None = None, per_kind: int = 0, seed: int = 0, half: str | None = None
) -> list[dict[str, Any]]:
    """Read one corpus as training records with ``source`` set to its name.

    Args:
        name: a key of :data:`CORPORA`.
        root: the shared data folder (found with :func:`shared_data_dir` when None).
        per_kind: keep a seeded sample of at most this many rows of each of the
            corpus's kinds (rumour / non-rumour, ad / chat, …) (0 = all).
        seed: sampling seed.
        half: ``train`` or ``heldout`` to keep only that half (:func:`split_of`); None keeps all.

    Raises:
        CorpusNotFoundError: the folder or the corpus is missing.
    """
    root = root or shared_data_dir()
    if root is None:
        raise CorpusNotFoundError(
            "the shared corpora folder was not found; set NOTESCORE_SHARED_DATA to the folder holding them"
        )
    reader, _ = CORPORA[name]
    try:
        records = [r for r in reader(root) if r is not None]
    except FileNotFoundError as exc:
        raise CorpusNotFoundError(f"corpus {name} is not in {root} ({exc})") from exc
    if half is not None:
        records = [r for r in records if split_of(r["text"]) == half]
    for r in records:
        r["source"] = name
    if per_kind:
        rng = random.Random(seed)
        groups: dict[str, list] = {}
        for r in records:
            groups.setdefault(r["kind"], []).append(r)
        records = [r for key in sorted(groups) for r in rng.sample(groups[key], min(per_kind, len(groups[key])))]
    return records
