"""Issue 11, "tampering and evasion": Unicode tricks that hide text from a reader must not
move a score or empty the keywords; jieba's cache is private."""

from __future__ import annotations

import json
import marshal
import os
import stat

import numpy as np
import pytest
from typer.testing import CliRunner

from nlp import RecordError, extract_keywords
from nlp.cli import EXIT_ROWS_FAILED, app
from nlp.encoding import clean_text
from nlp.keywords import KeywordExtractor
from nlp.ngram import ngram_terms

CLEAN = "Link in bio for 20% off, use my code ANNA20 #ad"
ZERO_WIDTH = "\u200b".join(CLEAN)  # a zero-width space between every two characters
FULL_WIDTH = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" for c in CLEAN)
MIXED = "L\u200ci\u200dn\u2060k\ufeff in\u00a0\u00a0bio  for\t20%\u00ad off, use my code ＡＮＮＡ２０ #ad"
EVASIONS = [ZERO_WIDTH, FULL_WIDTH, MIXED]


@pytest.mark.parametrize("text", EVASIONS)
def test_clean_text_undoes_the_evasion(text):
    assert clean_text(text) == CLEAN


def test_clean_text_keeps_line_breaks_and_ordinary_text():
    assert clean_text("标题\r\n\r\n  正文\u3000内容  ") == "标题\n正文 内容"
    assert clean_text("emoji 👍🏽 and ZWJ family 👩\u200d👩\u200d👧") == "emoji 👍🏽 and ZWJ family 👩👩👧"
    assert clean_text("\u200b\u200c\u200d\u2060\ufeff \n ") == ""
    assert clean_text("cafe\u200d\u0301") == clean_text("café") == "café"


@pytest.mark.parametrize("text", EVASIONS)
def test_scores_of_hidden_text_equal_the_clean_text(classifier, text):
    clean = classifier.predict(CLEAN)
    tricked = classifier.predict(text)
    assert tricked.label == clean.label
    assert np.allclose(list(tricked.scores.values()), list(clean.scores.values()), atol=1e-6)
    # The same normal form reaches training: the encoder's ids and the n-gram terms.
    assert classifier.encoder.token_ids([text]) == classifier.encoder.token_ids([CLEAN])
    assert ngram_terms(text) == ngram_terms(CLEAN)


@pytest.mark.parametrize("text", EVASIONS)
def test_keywords_of_hidden_text_equal_the_clean_text(text):
    assert extract_keywords(CLEAN)  # the baseline finds some
    assert extract_keywords(text) == extract_keywords(CLEAN)
    assert extract_keywords("成都\u200b火锅\u200b探店 #成都美食#") == extract_keywords("成都火锅探店 #成都美食#")


def test_a_text_of_only_invisible_characters_is_an_empty_note(classifier, tmp_path, tiny_model):
    with pytest.raises(RecordError, match="empty"):
        classifier.predict("\u200b\u200b\ufeff\u2060")
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": "a real note"}) + "\n" + json.dumps({"text": "\u200b\u200c\u200d"}) + "\n")
    r = CliRunner().invoke(app, ["score", str(src), "-o", str(tmp_path / "o.jsonl"), "--model", str(tiny_model)])
    assert r.exit_code == EXIT_ROWS_FAILED
    (error,) = [json.loads(x) for x in (tmp_path / "o.errors.jsonl").read_text().splitlines()]
    assert error["reason"] == "field 'text' is empty after removing invisible characters"


def test_jieba_cache_is_private_and_a_planted_one_is_ignored(tmp_path, monkeypatch):
    import tempfile

    # A planted cache in the shared temporary folder that would make jieba cut nothing but single characters.
    shared = tmp_path / "shared-tmp"
    shared.mkdir()
    (shared / "jieba.cache").write_bytes(marshal.dumps(({"x": 1}, 1)))
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    cache_root = tmp_path / "cache"
    monkeypatch.setenv("NOTESCORE_CACHE", str(cache_root))
    text = "在成都吃到的火锅，牛油锅底很香，服务也好"
    assert KeywordExtractor().extract(text) == extract_keywords(text)
    assert sorted(p.name for p in shared.iterdir()) == ["jieba.cache"]  # nothing read or written there
    folder = cache_root / "jieba"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and (folder / "jieba.cache").is_file()
    # A cache folder others can write to is not trusted: the dictionary is built in memory.
    os.chmod(folder, 0o777)
    (folder / "jieba.cache").write_bytes(marshal.dumps(({"x": 1}, 1)))
    assert KeywordExtractor().extract(text) == extract_keywords(text)
    assert not list(shared.glob("notescore-jieba-*"))


def test_has_visible_text_agrees_with_clean_text():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from nlp.encoding import has_visible_text

    @settings(max_examples=300, deadline=None)
    @given(st.text(st.characters(codec="utf-8"), max_size=8))
    def check(text):
        assert has_visible_text(text) == bool(clean_text(text))
        assert clean_text(clean_text(text)) == clean_text(text)  # idempotent

    check()
