"""The paper broker's open-order index and its bounded history (orders and events)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from broker_fakes import NO_FEES, DictQuotes, FakeClock
from hypothesis import given, settings
from hypothesis import strategies as st

from greekfire.broker.config import PaperBrokerConfig
from greekfire.broker.paper import PaperBroker
from greekfire.domain.orders import Order, OrderIntent, OrderStatus, Side, TimeInForce
from greekfire.errors import OrderRejected

MakeBroker = Callable[..., PaperBroker]
SPY = "SPY"
CALL = "SPY240405C00500000"
FEES_OFF = {"fees": NO_FEES.model_dump()}


def limit_buy(cid: str, limit: float, tif: TimeInForce) -> Order:
    return Order(cid, OrderIntent.single(SPY, Side.BUY, 1, limit_price=limit, tif=tif))


def market(cid: str, symbol: str, side: Side) -> Order:
    return Order(cid, OrderIntent.single(symbol, side, 1, opening=side is Side.BUY))


# one step of a random session: (action, argument)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("limit"), st.sampled_from([498.0, 499.0, 500.5])),
        st.tuples(st.just("gtc"), st.sampled_from([497.0, 499.5])),
        st.tuples(st.just("market"), st.sampled_from([SPY, CALL])),
        st.tuples(st.just("cancel"), st.integers(0, 30)),
        st.tuples(st.just("quote"), st.sampled_from([497.0, 499.0, 501.0])),
        st.tuples(st.just("hours"), st.sampled_from([1, 5, 18])),
    ),
    max_size=60,
)


def run_step(
    broker: PaperBroker, clock: FakeClock, quotes: DictQuotes, n: int, step: tuple[str, object]
) -> None:
    action, arg = step
    try:
        if action in ("limit", "gtc"):
            tif = TimeInForce.DAY if action == "limit" else TimeInForce.GTC
            broker.submit(limit_buy(f"o-{n}", float(arg), tif))  # type: ignore[arg-type]
        elif action == "market":
            broker.submit(market(f"o-{n}", str(arg), Side.BUY))
        elif action == "cancel":
            placed = broker.orders(open_only=False)
            if placed:
                broker.cancel(placed[int(arg) % len(placed)].client_order_id)  # type: ignore[call-overload]
        elif action == "quote":
            bid = float(arg)  # type: ignore[arg-type]
            quotes.set(SPY, bid, bid + 0.04)
        else:
            clock.now += int(arg) * 3_600_000_000_000  # type: ignore[call-overload]
    except OrderRejected:
        pass  # not open any more, or no buying power: part of the random walk


@settings(max_examples=60, deadline=None)
@given(steps)
def test_open_orders_equal_the_brute_force_filter(walk: list[tuple[str, object]]) -> None:
    clock = FakeClock()
    quotes = DictQuotes(clock)
    quotes.set(SPY, 500.00, 500.04)
    quotes.set(CALL, 8.00, 8.10)
    broker = PaperBroker(PaperBrokerConfig(history_orders=5, history_events=7), quotes, clock)
    for n, step in enumerate(walk):
        run_step(broker, clock, quotes, n, step)
        everything = broker.orders(open_only=False)
        assert broker.orders() == [o for o in everything if o.is_open]
        kept, events = broker.history_size()
        assert kept == len(everything)
        assert kept - len(broker.orders()) <= 5
        assert events <= 7


def test_index_follows_fills_cancels_and_expiries(
    make_broker: MakeBroker, clock: FakeClock, quotes: DictQuotes
) -> None:
    broker = make_broker(**FEES_OFF)
    day = broker.submit(limit_buy("day", 490.0, TimeInForce.DAY))
    gtc = broker.submit(limit_buy("gtc", 495.0, TimeInForce.GTC))
    low = broker.submit(limit_buy("low", 480.0, TimeInForce.GTC))
    gone = broker.submit(limit_buy("gone", 485.0, TimeInForce.GTC))
    broker.cancel(gone.client_order_id)
    assert [o.client_order_id for o in broker.orders()] == ["day", "gtc", "low"]
    clock.set("2024-03-12 16:00-04:00")  # the DAY order expires
    assert [o.client_order_id for o in broker.orders()] == ["gtc", "low"]
    clock.set("2024-03-13 10:00-04:00")
    quotes.set(SPY, 494.00, 494.04)  # fills "gtc" only
    assert [o.client_order_id for o in broker.orders()] == ["low"]
    statuses = {o.client_order_id: o.status for o in broker.orders(open_only=False)}
    assert statuses == {
        day.client_order_id: OrderStatus.EXPIRED,
        gtc.client_order_id: OrderStatus.FILLED,
        low.client_order_id: OrderStatus.NEW,
        gone.client_order_id: OrderStatus.CANCELED,
    }


def order_number(i: int) -> Order:
    # A deterministic mix: market round trips in stock and options, resting GTC limits that
    # fill later, DAY limits that expire, and sells that close filled limits.
    kind = i % 6
    if kind == 0:
        return market(f"m-{i}", SPY, Side.BUY)
    if kind == 1:
        return market(f"s-{i}", SPY, Side.SELL)
    if kind == 2:
        return market(f"c-{i}", CALL, Side.BUY if i % 4 == 2 else Side.SELL)
    if kind == 3:
        return limit_buy(f"l-{i}", 499.0, TimeInForce.GTC)
    if kind == 4:
        return limit_buy(f"d-{i}", 400.0, TimeInForce.DAY)
    return market(f"x-{i}", SPY, Side.SELL)


def drive(
    brokers: list[PaperBroker], clock: FakeClock, quotes: DictQuotes, start: int, count: int
) -> None:
    # The same orders, cancels, quotes and days on every broker.
    for i in range(start, start + count):
        placed = order_number(i)
        outcomes = set()
        for broker in brokers:
            try:
                outcomes.add(broker.submit(placed).status)
            except OrderRejected as exc:
                outcomes.add(str(exc))
            if i % 12 == 5 and broker.orders():
                broker.cancel(broker.orders()[-1].client_order_id)
        assert len(outcomes) == 1, outcomes  # every broker did the same
        if i % 50 == 49:
            quotes.set(SPY, 498.50, 498.54)  # the resting 499 limits fill
        elif i % 50 == 0:
            quotes.set(SPY, 500.00, 500.04)
        if i % 200 == 199:
            clock.now += 24 * 3_600_000_000_000  # next day: DAY orders expired


def test_bounded_history_keeps_the_books_of_an_unbounded_one(
    make_broker: MakeBroker, clock: FakeClock, quotes: DictQuotes
) -> None:
    cash = {"starting_cash_usd": 1_000_000.0}
    bounded = make_broker(history_orders=50, history_events=80, **cash)
    unbounded = make_broker(history_orders=1_000_000, history_events=1_000_000, **cash)
    for batch in range(10):
        drive([bounded, unbounded], clock, quotes, batch * 100, 100)
        open_now = len(bounded.orders())  # advances first: history_size() does not
        kept, events = bounded.history_size()
        assert kept <= 50 + open_now
        assert events <= 80
        seqs = [e.seq for e in bounded.events()]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    everything = unbounded.events()
    assert len(everything) > 1_000  # the caps did drop something
    assert bounded.account() == unbounded.account()
    assert bounded.positions() == unbounded.positions()
    assert bounded.positions()  # stock and option positions are held
    assert bounded.orders() == unbounded.orders()
    assert bounded.events() == everything[-80:]
    assert bounded.events(everything[-10].seq) == everything[-9:]
    assert bounded.events(0) == bounded.events(everything[0].seq)
    finished = [o for o in unbounded.orders(open_only=False) if not o.is_open]
    kept_finished = [o for o in bounded.orders(open_only=False) if not o.is_open]
    assert len(kept_finished) == 50
    assert bounded.get_order(finished[0].client_order_id) is None
    assert unbounded.get_order(finished[0].client_order_id) is not None
    # new events keep counting from the unbounded sequence
    bounded.submit(market("next", SPY, Side.BUY))
    accepted = [e for e in bounded.events() if e.client_order_id == "next"]
    assert accepted[0].seq == everything[-1].seq + 1


def test_dropped_client_order_ids_are_forgotten(make_broker: MakeBroker) -> None:
    broker = make_broker(history_orders=2, **FEES_OFF)
    first = broker.submit(market("first", SPY, Side.BUY))
    with pytest.raises(OrderRejected, match="duplicate"):
        broker.submit(market("first", SPY, Side.BUY))
    broker.submit(market("second", SPY, Side.BUY))
    broker.submit(market("third", SPY, Side.BUY))
    assert broker.get_order(first.client_order_id) is None
    again = broker.submit(market("first", SPY, Side.BUY))  # documented: the id is forgotten
    assert again.status is OrderStatus.FILLED
    assert [o.client_order_id for o in broker.orders(open_only=False)] == ["third", "first"]
