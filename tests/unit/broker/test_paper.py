"""Paper-only rules: fill prices and fees, resting limits, DAY/GTC, spreads, buying power,
option settlement (a whole wheel to the cent) and restart from the state file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from broker_fakes import NO_FEES, DictQuotes, FakeClock

from greekfire.broker.paper import PaperBroker
from greekfire.broker.paper_state import STATE_VERSION
from greekfire.domain.orders import (
    EventKind,
    Leg,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from greekfire.errors import OrderRejected, StateError

MakeBroker = Callable[..., PaperBroker]
SPY = "SPY"
PUT_500 = "SPY240405P00500000"
PUT_490 = "SPY240405P00490000"
XYZ = "XYZ"
XYZ_PUT = "XYZ240405P00050000"
XYZ_CALL_APR5 = "XYZ240405C00050000"
XYZ_CALL_APR19 = "XYZ240419C00050000"
FEES_OFF = {"fees": NO_FEES.model_dump()}

_ids = iter(range(1, 10**6))


def order(
    symbol: str,
    side: Side,
    qty: float,
    *,
    limit: float | None = None,
    tif: TimeInForce = TimeInForce.DAY,
    opening: bool = True,
) -> Order:
    intent = OrderIntent.single(symbol, side, qty, limit_price=limit, tif=tif, opening=opening)
    return Order(f"t-{next(_ids)}", intent)


def kinds(broker: PaperBroker, after: int = 0) -> list[EventKind]:
    return [e.kind for e in broker.events(after)]


# ------------------------------------------------------------------ fill prices and fees


def test_market_buy_fills_at_mid_plus_slippage(make_broker: MakeBroker) -> None:
    broker = make_broker(fill_at="mid", slippage_bps=1.0)
    filled = broker.submit(order(SPY, Side.BUY, 10))
    # mid 500.02 * (1 + 0.0001) = 500.070002 -> 500.0700; buys pay no fee by default
    assert filled.status is OrderStatus.FILLED
    assert filled.avg_fill_price == 500.07
    assert broker.account().cash_usd == 100_000 - 5_000.70
    assert broker.positions()[SPY].avg_cost == 500.07


def test_market_orders_fill_at_touch_plus_slippage_with_sell_fees(
    make_broker: MakeBroker,
) -> None:
    broker = make_broker(fill_at="touch", slippage_bps=1.0)
    bought = broker.submit(order(SPY, Side.BUY, 10))
    sold = broker.submit(order(SPY, Side.SELL, 10, opening=False))
    # buy 500.04 * 1.0001 = 500.090004 -> 500.09; sell 500.00 * 0.9999 = 499.95
    assert (bought.avg_fill_price, sold.avg_fill_price) == (500.09, 499.95)
    fills = [f for e in broker.events() for f in e.fills]
    # sell: SEC 4999.50 * 27.80e-6 = 0.139 -> 0.14, TAF 10 * 0.000166 -> 0.01
    assert [f.fee_usd for f in fills] == [0.0, 0.15]
    assert broker.account().cash_usd == 99_998.45  # 100,000 - 5,000.90 + 4,999.50 - 0.15
    assert SPY not in broker.positions()
    assert broker.account().buying_power_usd == 99_998.45


def test_option_fill_and_fees(make_broker: MakeBroker) -> None:
    broker = make_broker(fill_at="mid", option_slippage_fraction=0.0)
    filled = broker.submit(order("SPY240405C00500000", Side.BUY, 2))
    # mid 8.05; fee 2 * 0.65 + ORF 2 * 0.02685 = 0.0537 -> 0.06
    assert filled.avg_fill_price == 8.05
    assert broker.account().cash_usd == 100_000 - 1_610 - 1.36
    position = broker.positions()["SPY240405C00500000"]
    assert (position.qty, position.avg_cost, position.fees_usd) == (2, 8.05, 1.36)


# ------------------------------------------------------------------ resting orders


def test_limit_rests_then_fills_when_the_quote_crosses(
    make_broker: MakeBroker, quotes: DictQuotes
) -> None:
    broker = make_broker(fill_at="mid", slippage_bps=0.0, **FEES_OFF)
    resting = broker.submit(order(SPY, Side.BUY, 10, limit=499.00))
    assert resting.status is OrderStatus.NEW
    # the rested cost is reserved out of buying power
    assert broker.account().buying_power_usd == 100_000 - 4_990
    quotes.set(SPY, 499.00, 499.04)  # mid 499.02: still above the limit
    assert broker.get_order(resting.client_order_id).status is OrderStatus.NEW  # type: ignore[union-attr]
    quotes.set(SPY, 498.90, 498.96)  # mid 498.93 <= 499.00
    filled = broker.get_order(resting.client_order_id)
    assert filled is not None
    assert filled.status is OrderStatus.FILLED
    assert filled.avg_fill_price == 498.93  # the model price, better than the limit
    assert broker.account().cash_usd == 100_000 - 4_989.30
    assert kinds(broker) == [EventKind.ORDER_ACCEPTED, EventKind.ORDER_FILLED]


def test_sell_limit_fills_only_at_or_above_its_price(
    make_broker: MakeBroker, quotes: DictQuotes
) -> None:
    broker = make_broker(fill_at="touch", slippage_bps=0.0, **FEES_OFF)
    broker.submit(order(SPY, Side.BUY, 5))
    sell = broker.submit(order(SPY, Side.SELL, 5, limit=501.00, opening=False))
    assert sell.status is OrderStatus.NEW
    quotes.set(SPY, 501.00, 501.04)
    after = broker.get_order(sell.client_order_id)
    assert after is not None
    assert after.status is OrderStatus.FILLED
    assert after.avg_fill_price == 501.00


def test_day_order_expires_at_the_close_gtc_survives(
    make_broker: MakeBroker, clock: FakeClock, quotes: DictQuotes
) -> None:
    broker = make_broker(**FEES_OFF)
    day = broker.submit(order(SPY, Side.BUY, 1, limit=400.00))
    gtc = broker.submit(order(SPY, Side.BUY, 1, limit=400.00, tif=TimeInForce.GTC))
    clock.set("2024-03-12 15:59:59.999-04:00")
    assert broker.get_order(day.client_order_id).status is OrderStatus.NEW  # type: ignore[union-attr]
    clock.set("2024-03-12 16:00-04:00")
    expired = broker.get_order(day.client_order_id)
    assert expired is not None
    assert expired.status is OrderStatus.EXPIRED
    assert [o.client_order_id for o in broker.orders()] == [gtc.client_order_id]
    event = broker.events()[-1]
    assert event.kind is EventKind.ORDER_EXPIRED
    assert event.ts_ns == clock.now
    # the GTC order is still there the next day and fills when crossed
    clock.set("2024-03-13 10:00-04:00")
    quotes.set(SPY, 399.00, 399.50)
    assert broker.get_order(gtc.client_order_id).status is OrderStatus.FILLED  # type: ignore[union-attr]


def test_market_order_waits_for_the_open(make_broker: MakeBroker, clock: FakeClock) -> None:
    broker = make_broker(**FEES_OFF)
    clock.set("2024-03-15 17:00-04:00")  # Friday after the close
    waiting = broker.submit(order(SPY, Side.BUY, 1))
    assert waiting.status is OrderStatus.NEW
    clock.set("2024-03-18 09:29:59-04:00")  # Monday, just before the open
    assert broker.get_order(waiting.client_order_id).status is OrderStatus.NEW  # type: ignore[union-attr]
    clock.set("2024-03-18 09:30-04:00")
    filled = broker.get_order(waiting.client_order_id)
    assert filled is not None
    assert filled.status is OrderStatus.FILLED
    assert filled.updated_ns == clock.now


# ------------------------------------------------------------------ multi-leg


def credit_spread(limit: float) -> Order:
    legs = (Leg(PUT_500, Side.SELL), Leg(PUT_490, Side.BUY))
    intent = OrderIntent(legs, 1, OrderType.LIMIT, limit, TimeInForce.GTC)
    return Order(f"t-{next(_ids)}", intent)


def test_credit_spread_fills_all_legs_at_the_net_limit_or_none(
    make_broker: MakeBroker, quotes: DictQuotes
) -> None:
    quotes.set(PUT_490, 4.40, 4.50)
    broker = make_broker(fill_at="mid", option_slippage_fraction=0.0, **FEES_OFF)
    spread = broker.submit(credit_spread(-3.20))  # net mid -7.55 + 4.45 = -3.10: not enough
    assert spread.status is OrderStatus.NEW
    assert broker.positions() == {}
    # resting, it reserves max loss minus the credit asked: 1000 - 320
    assert broker.account().buying_power_usd == 100_000 - 680
    quotes.set(PUT_500, 7.80, 7.90)  # net mid -7.85 + 4.45 = -3.40 <= -3.20
    filled = broker.get_order(spread.client_order_id)
    assert filled is not None
    assert filled.status is OrderStatus.FILLED
    assert filled.avg_fill_price == pytest.approx(-3.40)
    positions = broker.positions()
    assert (positions[PUT_500].qty, positions[PUT_490].qty) == (-1, 1)
    event = broker.events()[-1]
    assert event.kind is EventKind.ORDER_FILLED
    assert [(f.symbol, f.side, f.price) for f in event.fills] == [
        (PUT_500, Side.SELL, 7.85),
        (PUT_490, Side.BUY, 4.45),
    ]
    account = broker.account()
    assert account.cash_usd == 100_340.00
    assert account.buying_power_usd == 100_340.00 - 1_000  # the vertical's max loss


def test_spread_with_a_leg_unquoted_fills_nothing(
    make_broker: MakeBroker, quotes: DictQuotes
) -> None:
    quotes.set(PUT_490, 4.40, 4.50)
    broker = make_broker(**FEES_OFF)
    spread = broker.submit(credit_spread(-1.00))
    assert spread.status is OrderStatus.FILLED  # marketable at once
    quotes.book.pop(PUT_490)
    with pytest.raises(OrderRejected, match=PUT_490):
        broker.submit(credit_spread(-1.00))
    quotes.set(PUT_490, 4.40, 4.50)
    resting = broker.submit(credit_spread(-4.00))  # net mid -3.10: rests
    assert resting.status is OrderStatus.NEW
    quotes.book.pop(PUT_490)  # the long leg loses its quote
    quotes.set(PUT_500, 9.50, 9.60)  # the short leg alone would now pay 9.55
    assert broker.get_order(resting.client_order_id).status is OrderStatus.NEW  # type: ignore[union-attr]
    assert broker.positions()[PUT_500].qty == -1
    assert broker.positions()[PUT_490].qty == 1
    quotes.set(PUT_490, 5.40, 5.50)  # back: net -9.55 + 5.45 = -4.10 <= -4.00
    assert broker.get_order(resting.client_order_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert broker.positions()[PUT_500].qty == -2
    assert broker.positions()[PUT_490].qty == 2


def test_multi_leg_with_a_stock_leg_is_refused(make_broker: MakeBroker) -> None:
    broker = make_broker()
    legs = (Leg(SPY, Side.BUY), Leg("SPY240405C00500000", Side.SELL))
    intent = OrderIntent(legs, 1, OrderType.LIMIT, 490.0)
    with pytest.raises(OrderRejected, match="legs"):
        broker.submit(Order("t-buywrite", intent))


# ------------------------------------------------------------------ buying power


def test_cash_secured_put_reserves_strike_less_premium(make_broker: MakeBroker) -> None:
    broker = make_broker(fill_at="mid", option_slippage_fraction=0.0, **FEES_OFF)
    broker.submit(order(PUT_500, Side.SELL, 1))  # mid 7.55
    account = broker.account()
    assert account.cash_usd == 100_755.00
    assert account.buying_power_usd == 100_755.00 - 50_000


def test_put_larger_than_cash_is_refused(make_broker: MakeBroker) -> None:
    broker = make_broker(starting_cash_usd=40_000.0, **FEES_OFF)
    with pytest.raises(OrderRejected, match="buying power"):
        broker.submit(order(PUT_500, Side.SELL, 1))
    assert broker.positions() == {}
    assert broker.orders(open_only=False) == []


def test_naked_call_refused_covered_call_allowed(
    make_broker: MakeBroker, quotes: DictQuotes
) -> None:
    call = "SPY240405C00500000"
    broker = make_broker(**FEES_OFF)
    with pytest.raises(OrderRejected, match="naked short call"):
        broker.submit(order(call, Side.SELL, 1))
    broker.submit(order(SPY, Side.BUY, 100))
    assert broker.submit(order(call, Side.SELL, 1)).status is OrderStatus.FILLED
    with pytest.raises(OrderRejected, match="naked short call"):
        broker.submit(order(call, Side.SELL, 1))  # the second needs 100 more shares
    with pytest.raises(OrderRejected, match="naked short call"):
        broker.submit(order(SPY, Side.SELL, 1, opening=False))  # would uncover the call


def test_short_stock_refused(make_broker: MakeBroker) -> None:
    broker = make_broker()
    with pytest.raises(OrderRejected, match="short stock"):
        broker.submit(order(SPY, Side.SELL, 1))


def test_call_covered_by_a_long_call_reserves_the_width(
    make_broker: MakeBroker, quotes: DictQuotes
) -> None:
    quotes.set("SPY240405C00510000", 4.00, 4.10)
    broker = make_broker(fill_at="mid", option_slippage_fraction=0.0, **FEES_OFF)
    broker.submit(order("SPY240405C00510000", Side.BUY, 1))  # 4.05
    broker.submit(order("SPY240405C00500000", Side.SELL, 1))  # 8.05
    account = broker.account()
    assert account.cash_usd == 100_000 - 405 + 805
    assert account.buying_power_usd == account.cash_usd - 1_000


# ------------------------------------------------------------------ option settlement


@pytest.fixture
def xyz(quotes: DictQuotes) -> DictQuotes:
    quotes.set(XYZ, 49.98, 50.02, 50.00)
    quotes.set(XYZ_PUT, 1.20, 1.30)
    quotes.set(XYZ_CALL_APR5, 1.00, 1.10)
    return quotes


def test_wheel_lifecycle_exact_to_the_cent(
    make_broker: MakeBroker, clock: FakeClock, xyz: DictQuotes
) -> None:
    broker = make_broker(fill_at="mid", option_slippage_fraction=0.0)  # default fees

    # 1. sell a cash-secured put at the mid 1.25; fee 0.65 + ORF 0.03 + SEC 0.01 + TAF 0.01
    put = broker.submit(order(XYZ_PUT, Side.SELL, 1))
    assert put.avg_fill_price == 1.25
    account = broker.account()
    assert account.cash_usd == 100_124.30
    assert account.buying_power_usd == 95_124.30  # 5,000 reserved for the put

    # 2. expiry Friday 5 April, XYZ closes at 48.00: assigned 100 shares at the strike
    seq = broker.events()[-1].seq
    clock.set("2024-04-05 16:30-04:00")
    xyz.set(XYZ, 47.98, 48.02, 48.00)
    events = broker.events(seq)
    assert [e.kind for e in events] == [EventKind.OPTION_ASSIGNED]
    assigned = events[0]
    assert assigned.symbol == XYZ_PUT
    assert assigned.seq == seq + 1
    assert assigned.ts_ns == int(1712347200 * 1e9)  # 16:00 New York
    assert [(f.symbol, f.side, f.qty, f.price, f.fee_usd) for f in assigned.fills] == [
        (XYZ_PUT, Side.BUY, 1, 0.0, 0.0),
        (XYZ, Side.BUY, 100, 50.0, 0.0),
    ]
    positions = broker.positions()
    assert list(positions) == [XYZ]
    assert (positions[XYZ].qty, positions[XYZ].avg_cost) == (100, 50.0)
    assert broker.account().cash_usd == 95_124.30
    assert broker.account().buying_power_usd == 95_124.30

    # 3. Monday: sell a covered call at the mid 0.95; fee 0.70 again
    clock.set("2024-04-08 11:00-04:00")
    xyz.set(XYZ_CALL_APR19, 0.90, 1.00)
    call = broker.submit(order(XYZ_CALL_APR19, Side.SELL, 1))
    assert call.status is OrderStatus.FILLED
    assert call.avg_fill_price == 0.95
    account = broker.account()
    assert account.cash_usd == 95_218.60
    assert account.buying_power_usd == 95_218.60  # covered: nothing reserved

    # 4. expiry Friday 19 April, XYZ at 53.00: called away at the strike
    seq = broker.events()[-1].seq
    clock.set("2024-04-19 17:00-04:00")
    xyz.set(XYZ, 52.98, 53.02, 53.00)
    events = broker.events(seq)
    assert [e.kind for e in events] == [EventKind.OPTION_ASSIGNED]
    assert [(f.symbol, f.side, f.qty, f.price) for f in events[0].fills] == [
        (XYZ_CALL_APR19, Side.BUY, 1, 0.0),
        (XYZ, Side.SELL, 100, 50.0),
    ]
    assert broker.positions() == {}
    account = broker.account()
    # 100,000 + 125 + 95 premiums - 1.40 fees; the shares were bought and sold at 50
    assert account.cash_usd == 100_218.60
    assert account.equity_usd == account.buying_power_usd == 100_218.60
    assert [e.kind for e in broker.events()] == [
        EventKind.ORDER_ACCEPTED,
        EventKind.ORDER_FILLED,
        EventKind.OPTION_ASSIGNED,
        EventKind.ORDER_ACCEPTED,
        EventKind.ORDER_FILLED,
        EventKind.OPTION_ASSIGNED,
    ]


def test_otm_put_expires_worthless(
    make_broker: MakeBroker, clock: FakeClock, xyz: DictQuotes
) -> None:
    broker = make_broker(fill_at="mid", option_slippage_fraction=0.0, **FEES_OFF)
    broker.submit(order(XYZ_PUT, Side.SELL, 2))
    assert broker.account().cash_usd == 100_250.00
    clock.set("2024-04-05 15:59-04:00")
    xyz.set(XYZ, 49.98, 49.99, 49.995)  # in the money by half a cent: not exercised
    assert broker.positions()[XYZ_PUT].qty == -2  # not settled before the close
    clock.set("2024-04-05 16:00-04:00")
    event = broker.events()[-1]
    assert event.kind is EventKind.OPTION_EXPIRED
    assert [(f.side, f.qty, f.price) for f in event.fills] == [(Side.BUY, 2, 0.0)]
    assert broker.positions() == {}
    assert broker.account().cash_usd == 100_250.00
    assert broker.account().buying_power_usd == 100_250.00


def test_long_call_is_exercised_into_stock(
    make_broker: MakeBroker, clock: FakeClock, xyz: DictQuotes
) -> None:
    broker = make_broker(fill_at="mid", option_slippage_fraction=0.0)
    broker.submit(order(XYZ_CALL_APR5, Side.BUY, 1))  # 1.05 + 0.65 + ORF 0.03
    assert broker.account().cash_usd == 99_894.32
    clock.set("2024-04-06 10:00-04:00")  # Saturday: settled at Friday's close
    xyz.set(XYZ, 51.99, 52.01, 52.00)
    event = broker.events()[-1]
    assert event.kind is EventKind.OPTION_EXERCISED
    assert [(f.symbol, f.side, f.qty, f.price) for f in event.fills] == [
        (XYZ_CALL_APR5, Side.SELL, 1, 0.0),
        (XYZ, Side.BUY, 100, 50.0),
    ]
    assert broker.positions()[XYZ].qty == 100
    assert broker.account().cash_usd == 94_894.32
    assert broker.account().equity_usd == 94_894.32 + 5_200.00


def test_order_on_an_expired_option_expires(
    make_broker: MakeBroker, clock: FakeClock, xyz: DictQuotes
) -> None:
    broker = make_broker()
    gtc = broker.submit(order(XYZ_CALL_APR5, Side.BUY, 1, limit=0.05, tif=TimeInForce.GTC))
    clock.set("2024-04-08 10:00-04:00")
    assert broker.get_order(gtc.client_order_id).status is OrderStatus.EXPIRED  # type: ignore[union-attr]
    with pytest.raises(OrderRejected, match="expired"):
        broker.submit(order(XYZ_CALL_APR5, Side.BUY, 1))


# ------------------------------------------------------------------ persistence


def test_restart_from_the_state_file_continues(
    make_broker: MakeBroker, quotes: DictQuotes, tmp_path: Path
) -> None:
    path = tmp_path / "paper.json"
    first = make_broker(state_path=path)
    first.submit(order(SPY, Side.BUY, 10))
    first.submit(order(PUT_500, Side.SELL, 1))
    resting = first.submit(order(SPY, Side.BUY, 1, limit=100.0, tif=TimeInForce.GTC))
    before = (first.account(), first.positions(), first.orders(open_only=False), first.events())
    assert json.loads(path.read_text())["version"] == STATE_VERSION

    second = make_broker(state_path=path, starting_cash_usd=1.0)  # the file wins

    assert second.account() == before[0]
    assert second.positions() == before[1]
    assert second.orders(open_only=False) == before[2]
    assert second.events() == before[3]
    canceled = second.cancel(resting.client_order_id)
    assert canceled.status is OrderStatus.CANCELED
    assert second.events()[-1].seq == before[3][-1].seq + 1
    with pytest.raises(OrderRejected, match="duplicate"):
        second.submit(Order(resting.client_order_id, resting.intent))
    third = make_broker(state_path=path)
    assert third.get_order(resting.client_order_id) == canceled
    assert not list(tmp_path.glob(".*.tmp"))


def test_state_file_with_wrong_cash_is_refused(make_broker: MakeBroker, tmp_path: Path) -> None:
    path = tmp_path / "paper.json"
    make_broker(state_path=path).submit(order(SPY, Side.BUY, 10))
    data = json.loads(path.read_text())
    data["cash_usd"] += 1.0
    path.write_text(json.dumps(data))
    with pytest.raises(StateError, match="cash"):
        make_broker(state_path=path)


def test_unreadable_state_file_is_refused(make_broker: MakeBroker, tmp_path: Path) -> None:
    path = tmp_path / "paper.json"
    path.write_text("{not json")
    with pytest.raises(StateError, match="state_path"):
        make_broker(state_path=path)
