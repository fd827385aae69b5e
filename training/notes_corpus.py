"""The project's own labelled notes: validation, near-duplicate check, splits.

    python -m training.notes_corpus validate data/notes     # schema, keywords, duplicates, shortcuts, card
    python -m training.notes_corpus split data/notes/parts/*.jsonl --out data/notes
    python -m training.notes_corpus card data/notes         # rewrite the tables in data/README.md

Rules checked (see data/README.md): valid JSON objects; ``id`` unique; ``text``
a non-empty string; ``title`` a string when present; ``label`` one of the three;
``lang`` zh/en/mixed; 3–8 keywords (0–8 for notes under :data:`SHORT_NOTE` characters,
which hold fewer search terms), each found in the title or text (case-folded);
``subtype`` a string and ``promo`` a boolean (possibly_false notes only) when
present; no two notes (within or across splits) with character 5-gram Jaccard ≥ 0.5.
On the split files it also checks the shortcuts of :mod:`training.corpus_cues` (cue
shares within 2× between labels; a format-only model's dev macro-F1 ≤ 0.50) and
that the data card's tables (between the ``corpus-tables`` markers of
data/README.md) are the ones the files give.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nlp.errors import RecordError
from nlp.io import read_records
from nlp.keywords import fold
from nlp.model_folder import LABELS

LANGS = ("zh", "en", "mixed")
SPLITS = ("train", "dev", "test")
JACCARD_LIMIT = 0.5
# A fragment ("好吃，下次还点") has fewer than three search terms in it.
SHORT_NOTE = 40
_SPACE = re.compile(r"\s+")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a JSON Lines file; raises ValueError naming the first bad line."""
    out = []
    for number, item in read_records(str(path), "jsonl"):
        if isinstance(item, RecordError):
            raise ValueError(f"{path} line {number}: {item.reason}")
        out.append(item)
    return out


def record_problems(record: dict[str, Any]) -> list[str]:
    """Schema problems of one labelled note (empty when it is valid)."""
    problems = []
    if not isinstance(record, dict):
        return ["not a JSON object"]
    if not isinstance(record.get("id"), str) or not record["id"]:
        problems.append("id missing")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        problems.append("text missing or empty")
        text = ""
    title = record.get("title")
    if title is not None and not isinstance(title, str):
        problems.append("title is not a string")
    if record.get("label") not in LABELS:
        problems.append(f"label {record.get('label')!r} not in {list(LABELS)}")
    if record.get("lang") not in LANGS:
        problems.append(f"lang {record.get('lang')!r} not in {list(LANGS)}")
    subtype = record.get("subtype")
    if subtype is not None and (not isinstance(subtype, str) or not subtype):
        problems.append(f"subtype must be a non-empty string; found {subtype!r}")
    promo = record.get("promo")
    if promo is not None and (not isinstance(promo, bool) or record.get("label") != "possibly_false"):
        problems.append(f"promo must be true/false and only on possibly_false notes; found {promo!r}")
    keywords = record.get("keywords")
    fewest = 0 if len(f"{title or ''}{text}") < SHORT_NOTE else 3
    if not isinstance(keywords, list) or not fewest <= len(keywords) <= 8:
        problems.append(f"needs {fewest}-8 keywords; found {keywords!r}")
    else:
        haystack = fold(f"{title or ''}\n{text}")
        for k in keywords:
            if not isinstance(k, str) or not fold(k):
                problems.append(f"keyword {k!r} is empty")
            elif fold(k) not in haystack:
                problems.append(f"keyword {k!r} does not occur in the note")
    return problems


def shingles(record: dict[str, Any], n: int = 5) -> set[str]:
    """Character n-grams of the title + text, whitespace folded, lower case."""
    s = _SPACE.sub(" ", f"{record.get('title') or ''} {record.get('text') or ''}".lower()).strip()
    return {s[i : i + n] for i in range(max(1, len(s) - n + 1))}


def near_duplicates(records: list[dict[str, Any]], limit: float = JACCARD_LIMIT) -> list[tuple[int, int, float]]:
    """Pairs (i, j, jaccard) of records whose 5-gram Jaccard is ≥ ``limit``.

    Candidates come from an inverted index on shingles shared by few notes, so
    the check is fast on thousands of notes.
    """
    sets = [shingles(r) for r in records]
    index: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(sets):
        for g in s:
            index[g].append(i)
    pairs: Counter[tuple[int, int]] = Counter()
    for ids in index.values():
        if 1 < len(ids) <= 50:
            for a in range(len(ids)):
                for b in range(a + 1, len(ids)):
                    pairs[(ids[a], ids[b])] += 1
    out = []
    for (i, j), shared in pairs.items():
        small = min(len(sets[i]), len(sets[j]))
        if shared < limit * small * 0.5:
            continue
        jac = len(sets[i] & sets[j]) / len(sets[i] | sets[j])
        if jac >= limit:
            out.append((i, j, jac))
    return sorted(out)


def validate(files: Iterable[Path]) -> tuple[list[str], Counter]:
    """Validate labelled files together; returns (problems, counts)."""
    problems: list[str] = []
    records: list[tuple[str, dict[str, Any]]] = []
    for path in files:
        try:
            rows = read_jsonl(path)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        for number, r in enumerate(rows, start=1):
            problems.extend(f"{path.name} line {number}: {p}" for p in record_problems(r))
            records.append((path.name, r))
    ids = Counter(r.get("id") for _, r in records)
    problems.extend(f"duplicate id {i!r} ({n} times)" for i, n in ids.items() if n > 1)
    for i, j, jac in near_duplicates([r for _, r in records]):
        (fa, a), (fb, b) = records[i], records[j]
        problems.append(f"near duplicates (5-gram Jaccard {jac:.2f}): {fa}:{a.get('id')} ~ {fb}:{b.get('id')}")
    counts = Counter()
    for name, r in records:
        counts[("file", name)] += 1
        counts[("label", r.get("label"))] += 1
        counts[("lang", r.get("lang"))] += 1
    return problems, counts


def split(records: list[dict[str, Any]], fractions=(0.7, 0.15, 0.15), seed: int = 13) -> dict[str, list]:
    """Stratified split by label × lang × sub-type (or topic, for notes without one) (seeded)."""
    rng = random.Random(seed)
    groups: dict[tuple, list] = defaultdict(list)
    for r in records:
        groups[(r["label"], r["lang"], r.get("subtype") or r.get("topic", ""))].append(r)
    out: dict[str, list] = {s: [] for s in SPLITS}
    carry = 0.0
    for key in sorted(groups):
        items = groups[key]
        rng.shuffle(items)
        n = len(items)
        n_dev = int(n * fractions[1] + carry)
        n_test = int(n * fractions[2] + carry)
        carry = (n * fractions[1] + carry) - int(n * fractions[1] + carry)
        out["test"].extend(items[:n_test])
        out["dev"].extend(items[n_test : n_test + n_dev])
        out["train"].extend(items[n_test + n_dev :])
    for s in SPLITS:
        out[s].sort(key=lambda r: r["id"])
    return out


def report(splits: dict[str, list]) -> str:
    """Counts per split × label × language, and topics, as Markdown tables."""
    lines = ["| split | notes | " + " | ".join(LABELS) + " | " + " | ".join(LANGS) + " | hard | titled |",
             "|---" * (4 + len(LABELS) + len(LANGS)) + "|"]  # fmt: skip
    total = Counter()
    for s, rows in splits.items():
        c = Counter()
        for r in rows:
            c[r["label"]] += 1
            c[r["lang"]] += 1
            c["hard"] += bool(r.get("hard"))
            c["titled"] += bool(r.get("title"))
        total.update(c)
        total["n"] += len(rows)
        lines.append(
            f"| {s} | {len(rows)} | " + " | ".join(str(c[x]) for x in (*LABELS, *LANGS, "hard", "titled")) + " |"
        )
    lines.append(
        f"| all | {total['n']} | " + " | ".join(str(total[x]) for x in (*LABELS, *LANGS, "hard", "titled")) + " |"
    )
    topics = Counter((r.get("topic", ""), r["label"]) for rows in splits.values() for r in rows)
    names = sorted({t for t, _ in topics})
    lines += ["", "| topic | " + " | ".join(LABELS) + " | total |", "|---" * (len(LABELS) + 2) + "|"]
    for t in names:
        row = [topics[(t, lab)] for lab in LABELS]
        lines.append(f"| {t} | " + " | ".join(map(str, row)) + f" | {sum(row)} |")
    return "\n".join(lines)


CARD_START = "<!-- corpus-tables:start (python -m training.notes_corpus card data/notes) -->"
CARD_END = "<!-- corpus-tables:end -->"


def read_splits(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """The split files of a notes folder."""
    return {s: read_jsonl(folder / f"{s}.jsonl") for s in SPLITS if (folder / f"{s}.jsonl").is_file()}


def shortcut_problems(splits: dict[str, list]) -> tuple[list[str], dict[str, Any]]:
    """Cue-share and format-only problems of the splits, and the numbers behind them."""
    from training.corpus_cues import MAX_FORMAT_F1, cue_problems, cue_shares, format_only_f1

    notes = [r for rows in splits.values() for r in rows]
    shares = cue_shares(notes)
    problems = cue_problems(shares)
    numbers: dict[str, Any] = {"cue_shares": shares}
    if "train" in splits and "dev" in splits:
        f1 = format_only_f1(splits["train"], splits["dev"])
        numbers["format_only"] = f1
        if f1["logistic_regression"] > MAX_FORMAT_F1:
            problems.append(
                f"a format-only logistic regression reaches dev macro-F1 {f1['logistic_regression']:.3f} "
                f"(allowed {MAX_FORMAT_F1}); the notes' shape still gives their label away"
            )
    return problems, numbers


def card_tables(splits: dict[str, list], numbers: dict[str, Any]) -> str:
    """The data card's generated block: counts, sub-types, cue shares, the format-only score."""
    from training.corpus_cues import MAX_CUE_RATIO, MAX_FORMAT_F1, cue_table

    notes = [r for rows in splits.values() for r in rows]
    subtypes = Counter((r.get("subtype") or "(first-generation note)", r["label"]) for r in notes)
    names = sorted({t for t, _ in subtypes})
    lines = [CARD_START, "", report(splits), "", "| sub-type | " + " | ".join(LABELS) + " | total |",
             "|---" * (len(LABELS) + 2) + "|"]  # fmt: skip
    for t in names:
        row = [subtypes[(t, lab)] for lab in LABELS]
        lines.append(f"| {t} | " + " | ".join(map(str, row)) + f" | {sum(row)} |")
    lines += ["", f"Surface cues: share of each label's notes carrying the cue (limit: max/min ≤ {MAX_CUE_RATIO:g}; "
              "cues under 3% in every label are not judged).", "", cue_table(numbers["cue_shares"])]  # fmt: skip
    if "format_only" in numbers:
        f1 = numbers["format_only"]
        lines += ["", f"Format-only models (length, lines, punctuation, emoji, hashtags, digits, script shares, "
                  f"language, title) fitted on train, macro-F1 on dev (chance 0.33; limit {MAX_FORMAT_F1} for the "
                  f"logistic regression): logistic regression **{f1['logistic_regression']:.3f}**, gradient-boosted "
                  f"trees {f1['gradient_boosting']:.3f}."]  # fmt: skip
    return "\n".join([*lines, "", CARD_END])


def card_problems(card: Path, tables: str) -> list[str]:
    """Whether the data card's generated block is the one the files give."""
    if not card.is_file():
        return []
    text = card.read_text(encoding="utf-8")
    if CARD_START not in text or CARD_END not in text:
        return [f"{card}: no generated tables block ({CARD_START!r} … {CARD_END!r})"]
    current = text[text.index(CARD_START) : text.index(CARD_END) + len(CARD_END)]
    return [] if current == tables else [f"{card}: its tables are stale; run python -m training.notes_corpus card"]


def write_card(card: Path, tables: str) -> None:
    """Replace the generated block of the data card."""
    text = card.read_text(encoding="utf-8")
    start, end = text.index(CARD_START), text.index(CARD_END) + len(CARD_END)
    card.write_text(text[:start] + tables + text[end:], encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="check a folder of split files (or files)")
    v.add_argument("paths", nargs="+", type=Path)
    c = sub.add_parser("card", help="rewrite the generated tables of data/README.md from a notes folder")
    c.add_argument("folder", type=Path)
    s = sub.add_parser("split", help="merge, drop invalid and near-duplicate notes, write splits")
    s.add_argument("files", nargs="+", type=Path)
    s.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "card":
        splits = read_splits(args.folder)
        write_card(args.folder.parent / "README.md", card_tables(splits, shortcut_problems(splits)[1]))
        return 0
    if args.command == "validate":
        files = [p for path in args.paths for p in (sorted(path.glob("*.jsonl")) if path.is_dir() else [path])]
        problems, counts = validate(files)
        for folder in [p for p in args.paths if p.is_dir() and (p / "train.jsonl").is_file()]:
            splits = read_splits(folder)
            more, numbers = shortcut_problems(splits)
            problems += more + card_problems(folder.parent / "README.md", card_tables(splits, numbers))
        for p in problems[:200]:
            print(p)
        print(f"{sum(v for (k, _), v in counts.items() if k == 'file')} notes in {len(files)} files; "
              f"{len(problems)} problems")  # fmt: skip
        return 1 if problems else 0
    records = [r for f in args.files for r in read_jsonl(f)]
    good = [r for r in records if not record_problems(r)]
    dropped = set()
    for i, j, _ in near_duplicates(good):
        if i not in dropped and j not in dropped:
            dropped.add(j)
    kept = [r for k, r in enumerate(good) if k not in dropped]
    invalid = len(records) - len(good)
    print(
        f"{len(records)} notes: {invalid} invalid, {len(dropped)} near duplicates dropped, {len(kept)} kept",
        file=sys.stderr,
    )
    splits = split(kept)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, rows in splits.items():
        with open(args.out / f"{name}.jsonl", "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(report(splits))
    return 0


if __name__ == "__main__":
    sys.exit(main())
