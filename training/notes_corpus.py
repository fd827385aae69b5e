"""The project's own labelled notes: validation, near-duplicate check, splits.

    python -m training.notes_corpus validate data/notes     # schema, labels, keywords, duplicates
    python -m training.notes_corpus split data/notes/parts/*.jsonl --out data/notes

Rules checked (see data/README.md): valid JSON objects; ``id`` unique; ``text``
a non-empty string; ``title`` a string when present; ``label`` one of the three;
``lang`` zh/en/mixed; 3–8 keywords (0–8 for notes under :data:`SHORT_NOTE` characters,
which hold fewer search terms), each found in the title or text (case-folded);
``subtype`` a string and ``promo`` a boolean (possibly_false notes only) when
present; no two notes (within or across splits) with character 5-gram Jaccard ≥ 0.5.
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
    """Stratified split by label × lang × topic (seeded)."""
    rng = random.Random(seed)
    groups: dict[tuple, list] = defaultdict(list)
    for r in records:
        groups[(r["label"], r["lang"], r.get("topic", ""))].append(r)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="check a folder of split files (or files)")
    v.add_argument("paths", nargs="+", type=Path)
    s = sub.add_parser("split", help="merge, drop invalid and near-duplicate notes, write splits")
    s.add_argument("files", nargs="+", type=Path)
    s.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "validate":
        files = [p for path in args.paths for p in (sorted(path.glob("*.jsonl")) if path.is_dir() else [path])]
        problems, counts = validate(files)
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
