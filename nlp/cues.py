"""The cue lexicon: phrases that often carry a label's evidence (``data/lexicon/cues.txt``).

Disclosures, calls to action and discount codes point to ``sponsored``; miracle
claims and invented statistics to ``possibly_false``; invented scarcity to both
(LABELS.md). :mod:`nlp.explain` uses cues only to pre-rank the spans it tries: a
cue becomes evidence only when deleting it lowers the model's own score.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from nlp.keywords import find_lexicon_dir

log = logging.getLogger(__name__)

CUE_FILE = "cues.txt"
# Which labels a cue category speaks for.
CATEGORY_LABELS: dict[str, tuple[str, ...]] = {
    "disclosure": ("sponsored",),
    "call_to_action": ("sponsored",),
    "code": ("sponsored",),
    "miracle": ("possibly_false",),
    "statistic": ("possibly_false",),
    "scarcity": ("sponsored", "possibly_false"),
}


@dataclass(frozen=True)
class Cue:
    """One cue found in a text: its category and character offsets."""

    category: str
    start: int
    end: int

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels the cue's category speaks for."""
        return CATEGORY_LABELS.get(self.category, ())


class CueLexicon:
    """Compiled cue patterns, one alternation per category; safe to share between threads.

    Args:
        entries: ``(category, pattern)`` pairs; a pattern is a phrase, or a regular
            expression prefixed with ``re:``.

    Raises:
        ValueError: an unknown category or an invalid regular expression (naming it).
    """

    def __init__(self, entries: list[tuple[str, str]]) -> None:
        by_category: dict[str, list[str]] = {}
        for category, pattern in entries:
            if category not in CATEGORY_LABELS:
                raise ValueError(f"cue category {category!r}; expected one of {sorted(CATEGORY_LABELS)}")
            source = pattern[3:] if pattern.startswith("re:") else re.escape(pattern)
            try:
                re.compile(source)
            except re.error as exc:
                raise ValueError(f"cue {category}\t{pattern}: invalid regular expression ({exc})") from exc
            by_category.setdefault(category, []).append(source)
        # Longest alternatives first, so a phrase wins over its own prefix.
        self._patterns = {
            c: re.compile("|".join(f"(?:{s})" for s in sorted(sources, key=len, reverse=True)), re.IGNORECASE)
            for c, sources in by_category.items()
        }

    @classmethod
    def load(cls, path: str | Path | None = None) -> CueLexicon:
        """Read a cue file (the packaged ``cues.txt`` when None; empty when it is absent)."""
        if path is None:
            folder = find_lexicon_dir()
            path = folder / CUE_FILE if folder is not None else None
        if path is None or not Path(path).is_file():
            log.warning("cue lexicon not found; explanations are pre-ranked by the n-gram model alone")
            return cls([])
        entries = []
        for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            category, sep, pattern = line.partition("\t")
            if not sep or not pattern.strip():
                raise ValueError(f"{path} line {number}: expected CATEGORY<TAB>PHRASE; found {line!r}")
            entries.append((category.strip(), pattern.strip()))
        return cls(entries)

    def find(self, text: str) -> list[Cue]:
        """Every cue in ``text`` (offsets into ``text`` itself), in order of position.

        Example:
            >>> CueLexicon([("code", "优惠码")]).find("私信拿优惠码")
            [Cue(category='code', start=3, end=6)]
        """
        found = [
            Cue(category, m.start(), m.end())
            for category, pattern in self._patterns.items()
            for m in pattern.finditer(text)
            if m.end() > m.start()
        ]
        return sorted(found, key=lambda c: (c.start, c.end, c.category))


_default: CueLexicon | None = None
_lock = threading.Lock()


def default_cues() -> CueLexicon:
    """The process's one cue lexicon, read from the packaged ``cues.txt`` on first use."""
    global _default
    if _default is None:
        with _lock:
            if _default is None:
                _default = CueLexicon.load()
    return _default
