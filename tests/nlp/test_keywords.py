from nlp import extract_keywords
from nlp.evaluation import keyword_match
from nlp.keywords import fold


def test_hashtags_both_forms_come_first():
    kws = extract_keywords("周末去露营了，天气很好 #露营[话题]# #周末去哪儿# #camping")
    assert kws[:3] == ["露营", "周末去哪儿", "camping"]


def test_disclosure_tags_are_not_keywords():
    kws = extract_keywords("Loving this moisturizer for dry skin #ad #sponsored #skincare")
    assert "ad" not in [fold(k) for k in kws]
    assert "skincare" in kws


def test_filler_numbers_and_emoji_dropped():
    kws = extract_keywords("姐妹们真的绝绝子！！这个防晒霜用了3天 😍😍 100 yyds literally obsessed")
    folded = [fold(k) for k in kws]
    for filler in ("姐妹们", "真的", "绝绝子", "yyds", "literally", "100", "😍"):
        assert filler not in folded
    assert any("防晒" in k for k in folded)


def test_english_terms():
    kws = extract_keywords("My oily skin finally calmed down after the niacinamide serum from The Ordinary.")
    folded = [fold(k) for k in kws]
    assert any("niacinamide" in k for k in folded)
    assert len(kws) <= 8


def test_top_k_and_empty():
    assert len(extract_keywords("成都 重庆 火锅 串串 冒菜 兔头 钵钵鸡 肥肠粉 担担面", top_k=3)) == 3
    assert extract_keywords("") == []


def test_keyword_match_rule():
    assert keyword_match(["#春季穿搭[话题]#", "Olaplex"], ["春季穿搭", "olaplex no.3", "护发"]) == (2, 2)
