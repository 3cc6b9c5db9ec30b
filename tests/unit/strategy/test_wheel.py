"""wheel: put -> assigned -> covered call at/above cost basis -> called away -> put, by positions;
profit target, roll at DTE, the spread and open-interest filters, open orders, cash cap."""

from __future__ import annotations

from datetime import date

import pytest

from greekfire.domain.market import Quote
from greekfire.domain.orders import OrderType, Side
from greekfire.errors import ConfigError
from greekfire.strategy.base import ChainRequest
from greekfire.strategy.library.wheel import WheelStrategy

# Chain at spot 100, vol 30 %: puts nearest |delta| 0.30 in DTE 21-45 are 2026-04-10 95P
# (-0.284, mid 1.83) then 2026-03-27 95P (-0.245); calls: 2026-03-27 105C (0.281, mid 1.32),
# then 2026-04-10 105C (0.327).


@pytest.fixture
def wheel() -> WheelStrategy:
    return WheelStrategy("wheel", ["SPY"])


def _ctx(b, **kw):
    c = b.ctx(**kw)
    c.chains.setdefault("SPY", b.chain())
    return c


def _quote(b, symbol: str, bid: float, ask: float) -> dict[str, Quote]:
    return {symbol: Quote(symbol, b.now_ns, bid, ask, 10, 10)}


def test_chain_request_covers_held_and_new_contracts(wheel: WheelStrategy) -> None:
    assert wheel.chain_request("SPY") == ChainRequest(0.0, 45, 0.7, 1.3, None)
    assert wheel.needs_chains


def test_no_stock_no_put_sells_a_cash_secured_put_at_target_delta(b, wheel) -> None:
    (sell,) = wheel.on_cycle(_ctx(b).build())
    assert sell.symbol == b.occ("SPY", b.far, 95.0, "P")
    assert (sell.side, sell.qty, sell.opening, sell.strategy) == (Side.SELL, 1, True, "wheel")
    assert sell.order_type is OrderType.LIMIT
    assert sell.limit_price == 1.83  # the mid, on the cent grid
    assert "cash-secured put 95" in sell.reason


def test_put_limit_rounds_to_the_tick(b) -> None:
    wheel = WheelStrategy("wheel", ["SPY"], {"tick": 0.05})
    (sell,) = wheel.on_cycle(_ctx(b).build())
    assert sell.limit_price == 1.85  # 1.83 to the nearest 0.05


def test_wide_spread_and_low_open_interest_are_skipped(b, wheel) -> None:
    far95 = b.occ("SPY", b.far, 95.0, "P")
    mid95 = b.occ("SPY", b.mid, 95.0, "P")
    wide = {far95: {"bid": 1.0, "ask": 2.6}}  # spread/mid 0.89 > 0.10
    chain = b.chain(overrides=wide)
    (sell,) = wheel.on_cycle(_ctx(b, chains={"SPY": chain}).build())
    assert sell.symbol == mid95  # the next nearest delta
    thin = b.chain(overrides={far95: {"bid": 1.0, "ask": 2.6}, mid95: {"open_interest": 20.0}})
    # The best liquid put left is |delta| 0.131, 0.169 from the 0.30 target: too far by default
    assert wheel.on_cycle(_ctx(b, chains={"SPY": thin}).build()) == []
    tolerant = WheelStrategy("wheel", ["SPY"], {"max_delta_error": 0.2})
    (sell,) = tolerant.on_cycle(_ctx(b, chains={"SPY": thin}).build())
    assert sell.symbol == b.occ("SPY", b.far, 90.0, "P")  # |-0.131 - 0.3| < |-0.480 - 0.3|


def test_nothing_liquid_means_no_order(b, wheel) -> None:
    assert wheel.on_cycle(_ctx(b, chains={"SPY": b.chain(open_interest=5.0)}).build()) == []
    assert wheel.on_cycle(b.ctx().build()) == []  # no chain at all


def test_cash_secures_the_put(b, wheel) -> None:
    assert wheel.on_cycle(_ctx(b, account=b.account(9_000.0)).build()) == []
    many = WheelStrategy("wheel", ["SPY"], {"contracts": 5})
    (sell,) = many.on_cycle(_ctx(b, account=b.account(20_000.0)).build())
    assert sell.qty == 2  # floor(20_000 / 9_500)


def test_short_put_open_is_held_until_a_rule_fires(b, wheel) -> None:
    put = b.occ("SPY", b.far, 95.0, "P")
    c = _ctx(b).hold(put, -1, 1.83)  # mark 1.83: nothing captured
    assert wheel.on_cycle(c.build()) == []  # and no second put


def test_profit_target_buys_the_put_back(b, wheel) -> None:
    put = b.occ("SPY", b.far, 95.0, "P")
    c = _ctx(b, quotes=_quote(b, put, 0.80, 0.90)).hold(put, -1, 1.83)  # mid 0.85: 54 %
    (buy,) = wheel.on_cycle(c.build())
    assert (buy.symbol, buy.side, buy.qty, buy.opening) == (put, Side.BUY, 1, False)
    assert buy.limit_price == 0.85
    assert "profit target" in buy.reason
    below = _ctx(b, quotes=_quote(b, put, 0.90, 1.00)).hold(put, -1, 1.83)  # 48 %
    assert wheel.on_cycle(below.build()) == []


def test_roll_at_dte_then_a_new_put_next_cycle(b, wheel) -> None:
    near = b.occ("SPY", b.near, 95.0, "P")  # DTE 4.25 <= roll_dte 7
    (close,) = wheel.on_cycle(_ctx(b).hold(near, -2, 1.50).build())
    assert (close.symbol, close.side, close.qty, close.opening) == (near, Side.BUY, 2, False)
    assert "roll" in close.reason
    chain = b.chain()
    row = chain[chain["contract"] == near].iloc[0]
    assert close.limit_price == pytest.approx(row["mid"], abs=0.01)
    assert close.limit_price >= row["mid"]  # rounded up: a buy-to-close pays up to the tick
    # next cycle the put is gone (closed): the wheel sells the new one (the roll)
    (new,) = wheel.on_cycle(_ctx(b).build())
    assert new.symbol == b.occ("SPY", b.far, 95.0, "P")


def test_expired_short_put_is_left_to_the_broker(b, wheel) -> None:
    old = b.occ("SPY", date(2026, 2, 27), 95.0, "P")
    assert wheel.on_cycle(_ctx(b).hold(old, -1, 1.0).build()) == []


def test_assigned_stock_sells_a_covered_call(b, wheel) -> None:
    c = _ctx(b).hold("SPY", 100, 95.0)
    (call,) = wheel.on_cycle(c.build())
    assert call.symbol == b.occ("SPY", b.mid, 105.0, "C")
    assert (call.side, call.qty, call.opening, call.limit_price) == (Side.SELL, 1, True, 1.32)
    assert "covered call 105 >= cost basis 95.00" in call.reason


def test_covered_call_strike_is_at_or_above_the_cost_basis(b, wheel) -> None:
    (call,) = wheel.on_cycle(_ctx(b).hold("SPY", 100, 106.0).build())
    contract = call.symbol
    assert contract == b.occ("SPY", b.far, 110.0, "C")  # 105 is nearer the delta but < 106
    (at,) = wheel.on_cycle(_ctx(b).hold("SPY", 100, 110.0).build())
    assert at.symbol in {b.occ("SPY", b.far, 110.0, "C"), b.occ("SPY", b.mid, 110.0, "C")}
    assert wheel.on_cycle(_ctx(b).hold("SPY", 100, 125.0).build()) == []  # no strike that high


def test_one_call_per_round_lot(b, wheel) -> None:
    call = b.occ("SPY", b.mid, 105.0, "C")
    covered = _ctx(b).hold("SPY", 100, 95.0).hold(call, -1, 1.32)
    assert wheel.on_cycle(covered.build()) == []
    more = _ctx(b).hold("SPY", 250, 95.0).hold(call, -1, 1.32)
    (extra,) = wheel.on_cycle(more.build())
    assert (extra.side, extra.qty, extra.opening) == (Side.SELL, 1, True)
    assert extra.symbol == call  # the same best contract: now 2 calls for 2 round lots


def test_short_call_profit_target_and_roll(b, wheel) -> None:
    call = b.occ("SPY", b.mid, 105.0, "C")
    c = _ctx(b, quotes=_quote(b, call, 0.40, 0.50)).hold("SPY", 100, 95.0).hold(call, -1, 1.32)
    (buy,) = wheel.on_cycle(c.build())
    assert (buy.symbol, buy.side, buy.opening) == (call, Side.BUY, False)
    assert "profit target" in buy.reason
    near_call = b.occ("SPY", b.near, 105.0, "C")
    rolled = _ctx(b).hold("SPY", 100, 95.0).hold(near_call, -1, 1.0)
    (roll,) = wheel.on_cycle(rolled.build())
    assert (roll.symbol, roll.side, roll.opening) == (near_call, Side.BUY, False)
    assert "roll" in roll.reason


def test_full_cycle_by_positions(b, wheel) -> None:
    put = b.occ("SPY", b.far, 95.0, "P")
    call = b.occ("SPY", b.mid, 105.0, "C")
    steps = [
        (_ctx(b), (put, Side.SELL)),  # 1. cash only: sell a put
        (_ctx(b).hold(put, -1, 1.83), None),  # 2. put open: wait
        (_ctx(b).hold("SPY", 100, 95.0), (call, Side.SELL)),  # 3. assigned: covered call
        (_ctx(b).hold("SPY", 100, 95.0).hold(call, -1, 1.32), None),  # 4. covered: wait
        (_ctx(b), (put, Side.SELL)),  # 5. called away: back to puts
    ]
    for i, (c, expected) in enumerate(steps):
        intents = wheel.on_cycle(c.build())
        got = [(x.symbol, x.side) for x in intents]
        assert got == ([] if expected is None else [expected]), f"step {i + 1}"


def test_never_two_orders_on_one_contract(b, wheel) -> None:
    put = b.occ("SPY", b.far, 95.0, "P")
    # our own resting put sale: wait for it, no second put
    resting = _ctx(b).order(put, Side.SELL, 1, strategy="wheel", limit=1.83)
    assert wheel.on_cycle(resting.build()) == []
    # a close already working on the held put: no second close
    closing = _ctx(b, quotes=_quote(b, put, 0.1, 0.2)).hold(put, -1, 1.83)
    closing.order(put, Side.BUY, 1, strategy="wheel", limit=0.15)
    assert wheel.on_cycle(closing.build()) == []
    # another strategy's order on the best contract: the wheel picks another one
    other = _ctx(b).order(put, Side.BUY, 1, strategy="someone_else", limit=1.0)
    (sell,) = wheel.on_cycle(other.build())
    assert sell.symbol != put
    assert sell.symbol == b.occ("SPY", b.mid, 95.0, "P")


def test_params_are_checked() -> None:
    with pytest.raises(ConfigError) as info:
        WheelStrategy("w", ["SPY"], {"put_delta": 0})
    assert info.value.field == "params.put_delta"
    with pytest.raises(ConfigError, match="roll_dte"):
        WheelStrategy("w", ["SPY"], {"roll_dte": 30, "dte_min": 21})
