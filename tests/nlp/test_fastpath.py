"""The fast path of `notescore score` gives the results the plain path gave, bit for bit.

Each speed-up is checked against the code it replaced (kept here as the reference):
the format-character pattern of ``clean_text``, the n-gram terms and logits computed
on text cleaned once, keywords against ones saved from the old code, and the
n-gram model and keywords run on a second thread beside the transformer.
"""

from __future__ import annotations

import json
import subprocess
import sys
import unicodedata
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from nlp import NoteClassifier
from nlp.encoding import clean_text, compose_text, format_characters
from nlp.keywords import KeywordExtractor
from nlp.ngram import NgramModel, hash_counts, ngram_terms
from nlp.records import pick_text
from tests.tiny_model import copy_with_ngram

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "tests" / "data" / "keywords_reference.jsonl"
EXAMPLES = settings(max_examples=300, deadline=None)
TRICKY = st.text(
    alphabet=st.sampled_from(
        list("ab Z9-'#@!? \n\t\u3000戳链接私信我根治ＬＩＮＫ\u200b\u200d\u2060\ufeff\u00ad\u0301é👍")
    ),
    max_size=60,
)


def _notes(limit: int | None = None) -> list[tuple[str, str | None]]:
    rows = [json.loads(line) for line in (REPO / "data" / "notes" / "test.jsonl").open(encoding="utf-8")]
    return [pick_text(r, i) for i, r in enumerate(rows[:limit], 1)]


# ------------------------------------------------------------ the references


def _clean_reference(text: str) -> str:
    import re

    if not text.isascii():
        text = unicodedata.normalize("NFKC", "".join(c for c in text if unicodedata.category(c) != "Cf"))
    text = re.sub(r"[^\S\n]+", " ", text)
    return re.sub(r" ?\n[\s]*", "\n", text).strip()


def _terms_reference(text: str) -> list[str]:
    import re

    word = re.compile(r"[a-z0-9][a-z0-9'’\-]*|[\u3400-\u9fff\uf900-\ufaff]+|[#@$%!?]")
    cjk = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
    text = _clean_reference(text).lower()
    words: list[str] = []
    terms: list[str] = []
    for token in word.findall(text):
        if cjk.match(token):
            for n in (1, 2, 3):
                terms.extend("c:" + token[i : i + n] for i in range(len(token) - n + 1))
            words.append("<cjk>")
        else:
            words.append(token)
    terms.extend("w:" + w for w in words if w != "<cjk>")
    terms.extend(f"w:{a} {b}" for a, b in zip(words, words[1:], strict=False) if "<cjk>" not in (a, b))
    return terms


def _logits_reference(model: NgramModel, texts: list[str]) -> np.ndarray:
    out = np.tile(model.bias, (len(texts), 1))
    for row, text in enumerate(texts):
        counts: dict[int, int] = {}
        for term in _terms_reference(text):
            h = zlib.crc32(term.encode("utf-8")) % model.buckets
            counts[h] = counts.get(h, 0) + 1
        if not counts:
            continue
        idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        values = (1.0 + np.log(tf)) * model.idf[idx]
        norm = float(np.sqrt((values * values).sum())) or 1.0
        out[row] += (values / norm) @ model.weights[idx]
    return out


# ------------------------------------------------------------ clean_text


def test_format_character_pattern_matches_every_cf_code_point():
    cf = {chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"}
    matched = {chr(c) for c in range(sys.maxunicode + 1) if format_characters().fullmatch(chr(c))}
    assert matched == cf


@EXAMPLES
@given(TRICKY)
def test_clean_text_is_the_reference(text):
    assert clean_text(text) == _clean_reference(text)


def test_clean_text_on_the_test_split():
    for text, title in _notes():
        assert clean_text(compose_text(text, title)) == _clean_reference(compose_text(text, title))


# ------------------------------------------------------------ the n-gram model


@EXAMPLES
@given(TRICKY)
def test_ngram_terms_are_the_reference(text):
    assert ngram_terms(text) == _terms_reference(text)


def test_ngram_logits_are_bit_identical_to_the_reference():
    rng = np.random.default_rng(0)
    buckets = 4096
    model = NgramModel(rng.normal(size=(buckets, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32),
                       rng.uniform(1, 12, size=buckets).astype(np.float32))  # fmt: skip
    texts = [compose_text(t, ti) for t, ti in _notes()] + ["", "\u200b", "Link in bio 戳链接 戳链接!!"]
    assert np.array_equal(model.logits(texts), _logits_reference(model, texts))
    assert np.array_equal(model.logits_of_clean([clean_text(t) for t in texts]), _logits_reference(model, texts))
    counts = hash_counts(texts[0], buckets)
    assert sum(counts.values()) == len(_terms_reference(texts[0]))


# ------------------------------------------------------------ keywords


def test_keywords_match_those_saved_from_the_old_code():
    """tests/data/keywords_reference.jsonl: every 4th note of data/notes/test.jsonl, extracted
    by the code before the fast path (jieba 0.42, the packaged lexicon)."""
    wanted = {r["id"]: r["keywords"] for r in map(json.loads, REFERENCE.open(encoding="utf-8"))}
    rows = [json.loads(line) for line in (REPO / "data" / "notes" / "test.jsonl").open(encoding="utf-8")]
    extractor = KeywordExtractor()
    extractor.load_in_background()
    found = {r["id"]: extractor.extract(*pick_text(r, 0)) for r in rows if r["id"] in wanted}
    assert found == wanted


def test_the_idf_table_loads_without_jieba_analyse():
    code = (
        "import sys; from nlp.keywords import _load_jieba_idf; idf, median = _load_jieba_idf(); "
        "assert len(idf) > 100000 and 5 < median < 20, (len(idf), median); "
        "assert 'jieba.analyse' not in sys.modules and 'jieba.posseg' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# ------------------------------------------------------------ the side thread


@pytest.fixture(scope="module")
def ngram_classifier(tmp_path_factory, tiny_model):
    folder = tmp_path_factory.mktemp("fastpath") / "m"
    copy_with_ngram(
        tiny_model, folder, {"sponsored": ["戳链接", "link in bio"], "possibly_false": ["根治"]}, weight=0.5
    )
    return NoteClassifier.load(folder, threads=1, batch_size=4)


def test_predict_batch_with_an_executor_is_the_same(ngram_classifier):
    notes = _notes(600)  # more than one side chunk
    texts, titles = [t for t, _ in notes], [ti for _, ti in notes]
    alone, outputs = ngram_classifier.predict_batch(texts, titles)
    with ThreadPoolExecutor(1) as executor:
        beside, outputs2 = ngram_classifier.predict_batch(texts, titles, executor=executor)
    assert [p.to_dict() for p in beside] == [p.to_dict() for p in alone]
    assert np.array_equal(outputs2.probs, outputs.probs) and np.array_equal(outputs2.ngram, outputs.ngram)
    assert np.array_equal(outputs.probs, ngram_classifier.outputs([compose_text(t, ti) for t, ti in notes]).probs)
    with ThreadPoolExecutor(1) as executor:
        assert ngram_classifier.predict_batch([], [], executor=executor)[0] == []


def test_score_records_gives_what_predict_gives(ngram_classifier):
    from nlp.scoring import score_records

    rows = [json.loads(line) for line in (REPO / "data" / "notes" / "dev.jsonl").open(encoding="utf-8")][:300]
    scored = [item for _, item in score_records(enumerate(rows, 1), ngram_classifier)]
    expected = ngram_classifier.predict([r["text"] for r in rows], [r.get("title") for r in rows])
    got, want = [s["notescore"] for s in scored], [p.to_dict() for p in expected]
    # The same labels and keywords; scores to float rounding (the two paths batch the notes
    # differently, and ONNX Runtime's int8 sums can differ in the last bits between batches).
    assert [{k: v for k, v in g.items() if k != "scores"} for g in got] == [
        {k: v for k, v in w.items() if k != "scores"} for w in want
    ]
    for g, w in zip(got, want, strict=True):
        assert g["scores"] == pytest.approx(w["scores"], abs=1e-6)


def test_a_stopped_job_leaves_no_side_thread_running(ngram_classifier):
    import threading

    from nlp.scoring import score_records

    def side_threads():
        return {t for t in threading.enumerate() if t.name.startswith("notescore-side")}

    before = side_threads()
    rows = [(i, {"text": f"戳链接 note {i}"}) for i in range(1, 500)]
    results = score_records(iter(rows), ngram_classifier)
    next(results)
    assert side_threads() - before
    results.close()
    assert not side_threads() - before


def test_a_job_stopped_by_a_bad_row_leaves_no_side_thread_running(ngram_classifier, tmp_path):
    import threading

    from nlp.scoring import StrictModeError, score_file

    before = set(threading.enumerate())
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": f"note {i}"}) + "\n" for i in range(100)) + "{bad\n", encoding="utf-8")
    with pytest.raises(StrictModeError) as caught:  # its traceback keeps the job's frames alive
        score_file(src, tmp_path / "out.jsonl", ngram_classifier, strict=True)
    assert not {t for t in set(threading.enumerate()) - before if t.name.startswith("notescore-side")}
    assert caught.value.line == 101
