"""Search-keyword extraction for notes (Chinese, English and mixed).

A keyword is a term a person would type into the platform's search box to find
the note (see LABELS.md): product and brand names, product types, needs and
effects, places, activities, and the note's own hashtags. Chinese text is cut
with jieba, helped by the project's user dictionary; English terms come from a
multi-word term list and single words; hashtags in both the ``#话题[话题]#`` and
``#tag`` forms are kept first. Filler, function words, generic verbs, emoji and
bare numbers are dropped through the stop-word lists.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from nlp.encoding import clean_text

log = logging.getLogger(__name__)

DEFAULT_TOP_K = 6

# Disclosure and platform tags are hashtags but not what anyone searches for.
_NON_KEYWORD_TAGS = {
    "ad", "ads", "advert", "sponsored", "spon", "gifted", "pr", "prpackage", "partner",
    "paidpartnership", "collab", "广告", "合作", "商务合作", "推广", "赞助",
}  # fmt: skip

_ZH_TAG = re.compile(r"#([^#\n]{1,40}?)(?:\[话题\])?#")
_EN_TAG = re.compile(r"#([0-9A-Za-z_\u3400-\u9fff][0-9A-Za-z_'’\-\u3400-\u9fff]*)")
_HAN = re.compile(r"[\u3400-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'’\-\.\+]*[A-Za-z0-9\+]|[A-Za-z]{2,}")
_NUMBERISH = re.compile(r"^[\d\W_]+$")
# 五年, 三個, 一週, 两次, 10分钟: a count and a measure word is not a search term.
_COUNT = re.compile(r"^[\d一二三四五六七八九十百千万两几半每]+[\u3400-\u9fff]?$")


def find_lexicon_dir() -> Path | None:
    """Find the lexicon folder: packaged with the wheel, or in a source checkout (None when absent)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_lexicon", here.parent / "data" / "lexicon"):
        if (candidate / "stopwords_zh.txt").is_file():
            return candidate
    return None


def _read_list(path: Path) -> list[str]:
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [s.strip() for s in lines if s.strip() and not s.lstrip().startswith("#")]


def fold(term: str) -> str:
    """Case-fold and NFKC-normalise a keyword, stripping ``#`` and ``[话题]``.

    This is the comparison form LABELS.md prescribes.

    Example:
        >>> fold("#春季穿搭[话题]#")
        '春季穿搭'
    """
    term = unicodedata.normalize("NFKC", term).casefold()
    return term.replace("[话题]", "").strip("#").strip()


@dataclass
class _Lexicon:
    stop: set[str] = field(default_factory=set)
    user_terms: set[str] = field(default_factory=set)
    en_terms: list[tuple[str, ...]] = field(default_factory=list)
    en_max: int = 1
    userdict: Path | None = None


class KeywordExtractor:
    """Extracts search keywords; one instance is safe to share between threads.

    jieba's dictionary and the idf table load on first use (about a second), not
    at import time.

    Args:
        lexicon_dir: folder with ``stopwords_zh.txt``, ``stopwords_en.txt``,
            ``userdict_zh.txt`` and ``terms_en.txt``; the packaged lexicon when
            None. Missing files are treated as empty lists.
    """

    def __init__(self, lexicon_dir: str | Path | None = None) -> None:
        self._dir = Path(lexicon_dir) if lexicon_dir is not None else find_lexicon_dir()
        self._lock = threading.Lock()
        self._ready = False
        self._lex = _Lexicon()
        self._jieba = None
        self._idf: dict[str, float] = {}
        self._idf_default = 10.0

    def _load(self) -> None:
        with self._lock:
            if self._ready:
                return
            import jieba

            jieba.setLogLevel(logging.WARNING)
            lex = _Lexicon()
            if self._dir is None:
                log.warning("keyword lexicon not found; extracting with jieba defaults only")
            else:
                for name in ("stopwords_zh.txt", "stopwords_en.txt"):
                    lex.stop.update(fold(w) for w in _read_list(self._dir / name))
                userdict = self._dir / "userdict_zh.txt"
                if userdict.is_file():
                    lex.userdict = userdict
                    lex.user_terms = {fold(line.split()[0]) for line in _read_list(userdict) if line.split()}
                for term in _read_list(self._dir / "terms_en.txt"):
                    words = tuple(fold(term).split())
                    if words:
                        lex.en_terms.append(words)
                lex.en_max = max((len(t) for t in lex.en_terms), default=1)
            tok = _jieba_tokenizer(jieba)
            if lex.userdict is not None:
                tok.load_userdict(str(lex.userdict))
            self._jieba = tok
            self._idf, self._idf_default = _load_jieba_idf()
            self._lex = lex
            self._en_term_set = set(lex.en_terms)
            self._ready = True

    def load_in_background(self) -> None:
        """Start loading jieba's dictionary and the lexicon in a daemon thread; return at once.

        The first :meth:`extract` waits for it (or loads them itself, raising what loading
        raises, when the background load failed).
        """
        if not self._ready:
            threading.Thread(target=self._load_quietly, name="notescore-keywords-load", daemon=True).start()

    def _load_quietly(self) -> None:
        try:
            self._load()
        except Exception:  # the first extract() loads again and raises it where it can be handled
            log.debug("loading the keyword lexicon in the background failed", exc_info=True)

    def extract(self, text: str, title: str | None = None, top_k: int = DEFAULT_TOP_K) -> list[str]:
        """Return up to ``top_k`` keywords, hashtags first, then by score.

        Args:
            text: the note body.
            title: the note title, whose terms weigh more.
            top_k: the most keywords to return.

        Returns:
            Keywords in their surface form, without ``#`` or ``[话题]``;
            duplicates (after folding) removed.

        Example:
            >>> KeywordExtractor().extract("成都火锅太好吃了 #成都美食#")[:1]
            ['成都美食']
        """
        if not self._ready:
            self._load()
        text, title = clean_text(text), clean_text(title) if title else title
        if top_k <= 0 or not text and not title:
            return []
        # Hashtags are read once per part; the rest of each part is scored, the title weighing more.
        title_tags, title_rest = self._hashtags(title) if title else ([], "")
        body_tags, body_rest = self._hashtags(text)
        tags = title_tags + body_tags
        scores: Counter[str] = Counter()
        surface: dict[str, str] = {}
        for part, weight in ((title_rest, 1.5), (body_rest, 1.0)):
            if part:
                self._score_part(part, weight, scores, surface)
        chosen: list[str] = []
        seen: set[str] = set()
        for tag in tags:
            key = fold(tag)
            if key and key not in seen and key not in _NON_KEYWORD_TAGS and key not in self._lex.stop:
                chosen.append(tag)
                seen.add(key)
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
        for key, _ in ranked:
            if len(chosen) >= top_k:
                break
            if key in seen or any(key in s for s in seen if len(s) > len(key)):
                continue
            chosen.append(surface[key])
            seen.add(key)
        return chosen[:top_k]

    def words(self, text: str) -> list[tuple[str, int, int]]:
        """The words of a text as jieba cuts it (with the project's user dictionary).

        Latin words, numbers and punctuation come out as tokens too; offsets are
        character offsets into ``text`` itself (no cleaning is applied).

        Returns:
            ``(word, start, end)`` for every token, spaces included, in order.

        Example:
            >>> KeywordExtractor().words("戳链接 link")[:2]
            [('戳', 0, 1), ('链接', 1, 3)]
        """
        if not self._ready:
            self._load()
        return list(self._jieba.tokenize(text)) if text else []

    def _hashtags(self, text: str) -> tuple[list[str], str]:
        tags: list[str] = []
        for m in _ZH_TAG.finditer(text):
            inner = m.group(1).strip()
            if inner and not inner.startswith(" ") and len(inner.split()) <= 4:
                tags.append(inner)
        rest = _ZH_TAG.sub(" ", text)
        for m in _EN_TAG.finditer(rest):
            tags.append(m.group(1).rstrip("'’-"))
        rest = _EN_TAG.sub(" ", rest)
        return tags, rest

    def _score_part(self, text: str, weight: float, scores: Counter, surface: dict) -> None:
        lex = self._lex
        # English multi-word terms first, so their words are not counted again.
        words = [(m.group(0), m.start(), m.end()) for m in _LATIN_WORD.finditer(text)]
        folded = [fold(w) for w, _, _ in words]
        used = [False] * len(words)
        i = 0
        while i < len(words):
            for n in range(min(lex.en_max, len(words) - i), 1, -1):
                if tuple(folded[i : i + n]) in self._en_term_set:
                    start, end = words[i][1], words[i + n - 1][2]
                    phrase = text[start:end]
                    key = fold(phrase)
                    if key in lex.stop:  # platform phrases: "link in bio", "not sponsored"
                        for j in range(i, i + n):
                            used[j] = True
                        i += n - 1
                        break
                    scores[key] += 3.0 * weight
                    surface.setdefault(key, phrase)
                    for j in range(i, i + n):
                        used[j] = True
                    i += n - 1
                    break
            i += 1
        for (word, _, _), key, is_used in zip(words, folded, used, strict=True):
            key = key.strip(".'’-")
            if is_used or len(key) < 3 or key in lex.stop or _NUMBERISH.match(key):
                continue
            boost = 1.6 if word[:1].isupper() or any(c.isdigit() for c in word) else 1.0
            if (key,) in self._en_term_set:
                boost *= 2.0
            scores[key] += boost * weight
            surface.setdefault(key, word.strip(".'’-"))
        if not _HAN.search(text):
            return
        for token in self._jieba.cut(text):
            token = token.strip()
            if not _HAN.search(token):
                continue
            key = fold(token)
            if len(key) < 2 or key in lex.stop or _NUMBERISH.match(key) or _COUNT.match(key):
                continue
            idf = self._idf.get(key, self._idf_default)
            boost = 1.5 if key in lex.user_terms else 1.0
            scores[key] += weight * boost * idf / 10.0
            surface.setdefault(key, token)


def _jieba_tokenizer(jieba):
    """jieba's tokenizer, its prefix-dictionary cache kept in a private per-user folder.

    jieba caches the dictionary with ``marshal`` in the shared temporary folder by
    default, where another user can plant a file (changing our keywords, or worse)
    or own the name (a traceback and a 9 MB stray file on every run). When no
    private folder can be had, the dictionary is built in memory and the cache
    written to a fresh private temporary folder that is removed at once.
    """
    import shutil
    import tempfile

    from nlp.cache import private_cache_dir

    tok = jieba.Tokenizer()
    folder = private_cache_dir("jieba")
    if folder is not None:
        tok.tmp_dir = str(folder)
        tok.initialize()
        return tok
    scratch = tempfile.mkdtemp(prefix="notescore-jieba-")
    try:
        tok.tmp_dir = scratch
        tok.initialize()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return tok


def _load_jieba_idf() -> tuple[dict[str, float], float]:
    """jieba's idf table (shipped inside the jieba package) and its median.

    The file is found through the ``jieba`` package itself: naming ``jieba.analyse``
    would import it, and with it ``jieba.posseg`` and a second idf table of its own
    (most of a second of start-up, for nothing).
    """
    try:
        from importlib.resources import files

        raw = files("jieba").joinpath("analyse", "idf.txt").read_text(encoding="utf-8")
    except (OSError, ModuleNotFoundError):
        return {}, 10.0
    idf: dict[str, float] = {}
    for line in raw.splitlines():
        parts = line.split(" ")
        if len(parts) == 2:
            try:
                idf[parts[0]] = float(parts[1])
            except ValueError:
                continue
    values = sorted(idf.values())
    median = values[len(values) // 2] if values else 10.0
    return idf, median if math.isfinite(median) else 10.0


_default: KeywordExtractor | None = None
_default_lock = threading.Lock()


def extract_keywords(text: str, title: str | None = None, top_k: int = DEFAULT_TOP_K) -> list[str]:
    """Extract search keywords from one note with the packaged lexicon.

    Args:
        text: the note body.
        title: the note title, if any.
        top_k: the most keywords to return.

    Returns:
        Up to ``top_k`` keywords, the note's own hashtags first.

    Raises:
        TypeError: ``text`` is not a string.

    Example:
        >>> extract_keywords("在成都吃到的火锅，牛油锅底很香 #成都美食#")
        ['成都美食', ...]
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str; found {type(text).__name__}")
    return default_extractor().extract(text, title, top_k)


def default_extractor() -> KeywordExtractor:
    """The process's one extractor with the packaged lexicon (jieba's dictionary loads once)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = KeywordExtractor()
    return _default
