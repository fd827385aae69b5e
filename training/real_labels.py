"""Rules that decide when a real post from a third-party corpus carries sponsorship marks.

The real corpora say one thing about a post (a rumour or not, an ad in game chat
or not, a review's sentiment). LABELS.md says more: an ordinary post — news, an
official notice, chatter, a review — is ``genuine`` ("nothing to flag") unless
something points to sponsorship or a likely-false claim. These rules find the
sponsorship marks, so that a non-rumour Weibo post that is really a brand's
giveaway becomes ``sponsored`` instead of ``genuine``.

They are deliberately narrow (precision over recall): a brand or a price in a
news item is *news about a company*, which LABELS.md says is not sponsorship; a
call to repost a public-service notice is not either. A mark needs a commercial
action aimed at the reader: a giveaway for reposting, a coupon or discount offer,
a buy/book call with a way to do it, a 加V/QQ contact for orders, an incentivised
review, a shop opening offer. Each rule has a name; :func:`sponsorship_marks`
returns the names that match (documented in data/README.md, tested).
"""

from __future__ import annotations

import re

RULES: dict[str, re.Pattern[str]] = {
    # 转发抽奖 / 转发本微博…有机会获得 / 关注+转发…送出 / 有奖转发
    "giveaway": re.compile(
        r"有奖转发|转发抽奖|抽奖活动|(转发|关注|@\S{0,12}好友).{0,40}(抽取|抽奖|有机会(获得|赢)|送出|赢取|奖品)"
        r"|(抽取|抽奖|送出|赢取|奖品).{0,30}(转发|关注)"
    ),
    # 优惠码 / 领券 / 限时特价 / 秒杀价 / 包邮 / 全场五折 (a customer's complaint about 满减 is not an offer)
    "coupon_or_discount": re.compile(
        r"优惠码|折扣码|领券|领取优惠券|限时(特价|优惠|折扣|抢购)|秒杀价|限时秒杀|秒杀活动|包邮|全场\S{0,3}折|"
        r"promo code|coupon code|discount code|\d+% off\b|use code\b",
        re.I,
    ),
    # 购买/订购/预订 … 戳/链接/热线/咨询 (a way to buy, aimed at the reader)
    "buy_call": re.compile(
        r"(购买|订购|预订|抢购|购票)\S{0,10}(猛戳|戳这|戳链接|链接|http|热线|详询|咨询|私信)"
        r"|(戳|猛戳)\s*(这里|链接)?\s*(购买|订购|抢购|下单)|order now|shop now|call now to order",
        re.I,
    ),
    # 加微信 xxx 订购 / QQ … 批发 代购 招商 加盟
    "contact_for_orders": re.compile(
        r"(加微信|微信号|加V|加v|vx|QQ群?|扣扣)\s*[:：]?\s*[A-Za-z0-9_\-]{5,}.{0,20}(订购|代购|批发|招商|加盟|咨询|价格|下单)"
        r"|(订购|代购|批发|招商|加盟).{0,20}(加微信|微信号|加V|QQ)"
    ),
    # 好评返现 / 五星好评送 / 晒图返 (an incentivised review)
    "incentivised_review": re.compile(
        r"好评返现|好评\S{0,4}返\S{0,3}\d|(五星|晒图|追评)\S{0,3}(返|送)\s*\d+\s*(元|块)"
    ),
    # 新店开业 / 开业酬宾 / 店庆
    "shop_opening_offer": re.compile(r"新店开业|开业酬宾|开业大酬宾|店庆(特惠|活动)|开张大吉.{0,10}(优惠|折)"),
}


def sponsorship_marks(text: str) -> list[str]:
    """Names of the rules whose marks occur in ``text`` (empty when none).

    Example:
        >>> sponsorship_marks("转发此微博就有机会获得10元话费")
        ['giveaway']
        >>> sponsorship_marks("【华为击中了小米什么？】对赌协议10亿元")
        []
    """
    return [name for name, pattern in RULES.items() if pattern.search(text)]
