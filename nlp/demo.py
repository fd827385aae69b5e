"""``python -m nlp.demo SCORED.jsonl``: summarise a scored dump (labels, keywords)."""

from __future__ import annotations

import json
import sys
from collections import Counter

from nlp.keywords import fold


def summarise(path: str, top: int = 15) -> str:
    """Label counts, mean scores and the most frequent keywords of a scored file.

    Args:
        path: JSON Lines written by ``notescore score``.
        top: how many keywords to list.

    Returns:
        The summary as text.
    """
    labels: Counter[str] = Counter()
    keywords: Counter[str] = Counter()
    examples: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            result = json.loads(line)["notescore"]
            labels[result["label"]] += 1
            for k in result["keywords"]:
                keywords[fold(k)] += 1
            text = json.loads(line).get("title") or json.loads(line).get("desc", "")
            examples.setdefault(result["label"], text.replace("\n", " ")[:60])
    total = sum(labels.values())
    out = [f"{total} notes"]
    for label, n in labels.most_common():
        out.append(f"  {label:<15} {n:>5}  {n / total:6.1%}   e.g. {examples[label]}")
    out.append("top keywords: " + ", ".join(f"{k} ({n})" for k, n in keywords.most_common(top)))
    return "\n".join(out)


if __name__ == "__main__":
    print(summarise(sys.argv[1]))
