"""The sponsorship-mark rules that turn ordinary real posts into full labels (texts written by us)."""

import pytest

from training.real_labels import sponsorship_marks


@pytest.mark.parametrize(
    ("text", "marks"),
    [
        ("#有奖转发# 关注我们并转发本微博@3位好友，抽取5位送出新款耳机！", ["giveaway"]),
        ("转发此微博就有机会获得本店提供的50元代金券", ["giveaway"]),
        ("新品上市，下单输入优惠码 SPRING20 立减", ["coupon_or_discount"]),
        ("Use code ANNA15 for 15% off at checkout", ["coupon_or_discount"]),
        ("春季新款已到货，订购请猛戳 http://t.cn/abc", ["buy_call"]),
        ("大量供货，需要的加微信 abc12345 咨询价格", ["contact_for_orders"]),
        ("收到好评返现卡，五星好评返5元", ["incentivised_review"]),
        ("新店开业酬宾，进店即送饮料", ["shop_opening_offer"]),
    ],
)
def test_commercial_actions_aimed_at_the_reader_are_marks(text, marks):
    assert sponsorship_marks(text) == marks


@pytest.mark.parametrize(
    "text",
    [
        "【某公司一季度营收增长12%】该公司今日发布财报，新品手机售价3999元",  # news about a company
        "【紧急扩散】暴雨预警，请市民减少外出，转发提醒家人",  # a public-service repost call
        "订的大床房隔音太差，打电话给前台也没人管",  # a customer's complaint
        "满20减6和代金券冲突也不说一声，差评",  # a complaint about an offer is not an offer
        "这波操作直接秒杀全场，太强了",  # 秒杀 as slang
        "全部超五星！送餐也快",  # praise
        "If I buy now I have to park the car first",
    ],
)
def test_news_complaints_and_chatter_carry_no_marks(text):
    assert sponsorship_marks(text) == []
