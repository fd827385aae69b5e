"""Readers of the third-party corpora: run only where ../shared/data exists (here and CI)."""

import pytest

from training.corpora import CORPORA, CorpusNotFoundError, load_corpus, shared_data_dir

ROOT = shared_data_dir()
needs_data = pytest.mark.skipif(ROOT is None, reason="../shared/data is not on this machine")


@needs_data
@pytest.mark.parametrize("name", ["sms_spam_uci", "hrde_health_rumor_zh", "op_spam_ott", "weibo_rumor_ced"])
def test_mapping(name):
    rows = load_corpus(name, ROOT)
    assert rows and all(r["source"] == name and r["text"] for r in rows)
    labels = {r.get("label") for r in rows} | {tuple(r.get("labels_allowed") or ()) for r in rows}
    expected = {
        "sms_spam_uci": {"genuine", ("sponsored", "possibly_false")},
        "hrde_health_rumor_zh": {"possibly_false", "genuine"},
        "op_spam_ott": {"genuine", "possibly_false"},
        "weibo_rumor_ced": {"possibly_false", "genuine", "sponsored"},  # sponsored: non-rumours with giveaways
    }[name]
    assert expected <= labels


@needs_data
def test_cap_is_balanced_and_seeded():
    a = load_corpus("game_chat_ads_zh", ROOT, per_kind=100, seed=1)
    assert len(a) == 200
    assert sum(r.get("label") == "sponsored" for r in a) == 100
    assert a == load_corpus("game_chat_ads_zh", ROOT, per_kind=100, seed=1)


@needs_data
def test_halves_are_disjoint_and_cover_the_corpus():
    whole = {r["text"] for r in load_corpus("weibo_rumor_ced", ROOT)}
    train = {r["text"] for r in load_corpus("weibo_rumor_ced", ROOT, half="train")}
    heldout = {r["text"] for r in load_corpus("weibo_rumor_ced", ROOT, half="heldout")}
    assert not train & heldout and train | heldout == whole
    assert 0.4 < len(train) / len(whole) < 0.6


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusNotFoundError, match="not in"):
        load_corpus("sms_spam_uci", tmp_path)
    assert set(CORPORA) >= {"op_spam_ott", "weibo_rumor_ced"}


def test_audited_game_chat_uses_our_judgements_and_stores_no_text(tmp_path, monkeypatch):
    import json

    from training import corpora

    folder = tmp_path / "game_chat_ads_zh"
    folder.mkdir()
    lines = {"出售金币 要的加我": "ad", "今晚一起打副本吗": "chat", "12345": "unclear", "不在审核里的一句": None}
    (folder / "train.txt").write_text("label\ttext\n" + "".join(f"0\t{t}\n" for t in lines) + "1\t卖号加q\n")
    (folder / "validation.txt").write_text("label\ttext\n")
    audits = tmp_path / "audits"
    audits.mkdir()
    rows = [{"sha256_16": corpora.text_key(t), "judgement": j} for t, j in lines.items() if j]
    (audits / "game_chat_not_ads.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setattr(corpora, "AUDITS", audits)
    got = {r["text"]: (r["label"], r["kind"]) for r in load_corpus("game_chat_ads_zh_audited", tmp_path)}
    assert got == {"出售金币 要的加我": ("sponsored", "audited ad"), "今晚一起打副本吗": ("genuine", "audited chat")}
    assert "出售" not in (audits / "game_chat_not_ads.jsonl").read_text()


@needs_data
def test_the_shipped_audit_matches_the_corpus():
    rows = load_corpus("game_chat_ads_zh_audited", ROOT)
    kinds = [r["kind"] for r in rows]
    assert kinds.count("audited chat") == 135 and kinds.count("audited ad") == 56
