"""vertical_credit: leg choice by delta and width, net credit limit, defined-risk sizing,
profit target / stop / DTE closes of both legs, pairing of held legs, filters."""

from __future__ import annotations

import pytest

from greekfire.domain.enums import OptionRight
from greekfire.domain.market import Quote
from greekfire.domain.orders import OrderType, PositionEffect, Side
from greekfire.errors import ConfigError
from greekfire.strategy.base import ChainRequest
from greekfire.strategy.library.vertical_credit import VerticalCreditStrategy, spreads_held

# Chain at spot 100, vol 30 %: short put nearest |delta| 0.30 in DTE 21-45 is 2026-04-10 95P
# (mid 1.83); the long leg 5 dollars lower is 2026-04-10 90P (mid 0.675): credit 1.155.


def _ctx(b, **kw):
    c = b.ctx(**kw)
    c.chains.setdefault("SPY", b.chain())
    return c


def _quotes(b, **prices: tuple[float, float]) -> dict[str, Quote]:
    return {s: Quote(s, b.now_ns, bid, ask, 10, 10) for s, (bid, ask) in prices.items()}


def _spread(b, c, expiry, short_k=95.0, long_k=90.0, qty=2, credit=(1.83, 0.675), right="P"):
    short = b.occ("SPY", expiry, short_k, right)
    long = b.occ("SPY", expiry, long_k, right)
    return c.hold(short, -qty, credit[0]).hold(long, qty, credit[1]), short, long


def test_chain_request_asks_for_its_right() -> None:
    s = VerticalCreditStrategy("vc", ["SPY"], {"right": "call"})
    assert s.chain_request("SPY") == ChainRequest(0.0, 45, 0.5, 1.5, OptionRight.CALL)


def test_opens_a_put_credit_spread_with_a_net_credit_limit(b) -> None:
    s = VerticalCreditStrategy("vc", ["SPY"])
    (o,) = s.on_cycle(_ctx(b).build())
    short, long = o.legs
    assert (short.symbol, short.side, short.effect) == (
        b.occ("SPY", b.far, 95.0, "P"),
        Side.SELL,
        PositionEffect.OPEN,
    )
    assert (long.symbol, long.side, long.effect) == (
        b.occ("SPY", b.far, 90.0, "P"),
        Side.BUY,
        PositionEffect.OPEN,
    )
    assert o.order_type is OrderType.LIMIT
    assert o.limit_price == pytest.approx(-1.16)  # negative = credit
    assert o.opening
    assert o.strategy == "vc"
    assert o.qty == 10  # 5 % of 100k / 384 = 13, capped by max_spreads 10


def test_defined_risk_sizing(b) -> None:
    s = VerticalCreditStrategy("vc", ["SPY"], {"max_spreads": 100})
    (o,) = s.on_cycle(_ctx(b).build())
    assert o.qty == 13  # floor(5_000 / ((5 - 1.16) * 100))
    (small,) = s.on_cycle(_ctx(b, account=b.account(20_000.0)).build())
    assert small.qty == 2  # floor(1_000 / 384)
    assert s.on_cycle(_ctx(b, account=b.account(7_000.0)).build()) == []  # 350 < 384
    assert s.on_cycle(_ctx(b, account=None).build()) == []  # no equity, no size


def test_call_spread_is_bearish_and_its_long_leg_is_above(b) -> None:
    s = VerticalCreditStrategy("vc", ["SPY"], {"right": "call"})
    (o,) = s.on_cycle(_ctx(b).build())
    assert [(leg.symbol, leg.side) for leg in o.legs] == [
        (b.occ("SPY", b.mid, 105.0, "C"), Side.SELL),
        (b.occ("SPY", b.mid, 110.0, "C"), Side.BUY),
    ]
    assert o.limit_price == pytest.approx(-0.86)


def test_no_entry_when_credit_too_small_or_no_long_leg_or_illiquid(b) -> None:
    s = VerticalCreditStrategy("vc", ["SPY"], {"min_credit": 2.0})
    assert s.on_cycle(_ctx(b).build()) == []
    tens = VerticalCreditStrategy("vc", ["SPY"])
    no_wing = b.chain(strikes=range(80, 121, 10))  # no strike 5 below the short
    assert tens.on_cycle(_ctx(b, chains={"SPY": no_wing}).build()) == []
    wide_wing = b.chain(overrides={b.occ("SPY", b.far, 90.0, "P"): {"bid": 0.1, "ask": 1.2}})
    (o,) = tens.on_cycle(_ctx(b, chains={"SPY": wide_wing}).build())
    assert o.legs[0].symbol == b.occ("SPY", b.mid, 95.0, "P")  # next short with a liquid wing


def test_no_new_spread_while_one_is_held_or_an_order_is_open(b) -> None:
    s = VerticalCreditStrategy("vc", ["SPY"])
    held, _, _ = _spread(b, _ctx(b), b.far)
    assert s.on_cycle(held.build()) == []  # marks ~ the credit: nothing to close either
    resting = _ctx(b).order(b.occ("SPY", b.far, 95.0, "P"), Side.SELL, 1, strategy="vc", limit=1)
    assert s.on_cycle(resting.build()) == []


def test_profit_target_closes_both_legs_at_the_mid(b) -> None:
    s = VerticalCreditStrategy("vc", ["SPY"])
    c, short, long = _spread(b, _ctx(b), b.far)
    c.quotes.update(_quotes(b, **{short: (0.40, 0.50), long: (0.05, 0.09)}))  # debit 0.38
    (o,) = s.on_cycle(c.build())
    assert [(leg.symbol, leg.side, leg.effect) for leg in o.legs] == [
        (short, Side.BUY, PositionEffect.CLOSE),
        (long, Side.SELL, PositionEffect.CLOSE),
    ]
    assert (o.qty, o.opening, o.order_type) == (2, False, OrderType.LIMIT)
    assert o.limit_price == pytest.approx(0.38)  # positive = debit
    assert "profit target" in o.reason


def test_not_yet_at_the_profit_target(b) -> None:
    s = VerticalCreditStrategy("vc", ["SPY"])
    c, short, long = _spread(b, _ctx(b), b.far)
    c.quotes.update(_quotes(b, **{short: (0.60, 0.70), long: (0.05, 0.07)}))  # debit 0.59
    assert s.on_cycle(c.build()) == []  # 0.59 > 0.5775


def test_stop_closes_at_the_natural_price(b) -> None:
    s = VerticalCreditStrategy("vc", ["SPY"])
    c, short, long = _spread(b, _ctx(b), b.far)
    c.quotes.update(_quotes(b, **{short: (4.90, 5.10), long: (1.40, 1.60)}))  # debit 3.5
    (o,) = s.on_cycle(c.build())
    assert "stop" in o.reason
    assert o.opening is False
    assert o.limit_price == pytest.approx(3.70)  # short ask - long bid
    looser = VerticalCreditStrategy("vc", ["SPY"], {"stop_multiple": 3.0})
    assert looser.on_cycle(c.build()) == []  # loss 2.345 < 3 x 1.155


def test_close_at_dte(b) -> None:
    s = VerticalCreditStrategy("vc", ["SPY"])
    c, short, long = _spread(b, _ctx(b), b.near, credit=(1.0, 0.3))
    (o,) = s.on_cycle(c.build())
    assert "DTE 4.2" in o.reason
    assert [leg.side for leg in o.legs] == [Side.BUY, Side.SELL]
    chain = b.chain()
    ask = chain.loc[chain["contract"] == short, "ask"].iloc[0]
    bid = chain.loc[chain["contract"] == long, "bid"].iloc[0]
    assert o.limit_price == pytest.approx(ask - bid)


def test_close_without_any_market_is_a_market_order(b) -> None:
    s = VerticalCreditStrategy("vc", ["SPY"])
    c, _, _ = _spread(b, b.ctx(), b.near, credit=(1.0, 0.3))
    (o,) = s.on_cycle(c.build())
    assert o.order_type is OrderType.MARKET
    assert o.limit_price is None


def test_open_close_order_is_not_duplicated(b) -> None:
    s = VerticalCreditStrategy("vc", ["SPY"])
    c, short, _ = _spread(b, _ctx(b), b.near, credit=(1.0, 0.3))
    c.order(short, Side.BUY, 2, strategy="vc", limit=1.0)
    assert s.on_cycle(c.build()) == []


def test_spreads_held_pairs_each_short_with_its_wing(b) -> None:
    c, s1, l1 = _spread(b, b.ctx(), b.far, 95.0, 90.0, qty=2)
    c, s2, l2 = _spread(b, c, b.mid, 100.0, 95.0, qty=1)
    c.hold(b.occ("SPY", b.far, 100.0, "P"), -1, 3.0)  # a naked short put: no wing, no spread
    c.hold(b.occ("SPY", b.far, 105.0, "C"), -1, 2.0)  # a call: other right
    got = spreads_held(c.build(), "SPY", OptionRight.PUT)
    pairs = sorted((sp.short.symbol, sp.long.symbol, sp.qty, sp.width) for sp in got)
    assert pairs == sorted([(s1, l1, 2, 5.0), (s2, l2, 1, 5.0)])
    assert {round(sp.credit, 3) for sp in got} == {1.155}


def test_params_are_checked() -> None:
    with pytest.raises(ConfigError) as info:
        VerticalCreditStrategy("vc", ["SPY"], {"right": "straddle"})
    assert info.value.field == "params.right"
    assert "'straddle'" in str(info.value)
    with pytest.raises(ConfigError, match="close_dte"):
        VerticalCreditStrategy("vc", ["SPY"], {"close_dte": 25})
