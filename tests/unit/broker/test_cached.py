"""``CachedBroker``: TTL on an injected timer, invalidation by orders and fill events, call
counts, and the API calls a trading loop saves."""

from __future__ import annotations

import pytest

from greekfire.broker.cached import CachedBroker, changes_holdings
from greekfire.broker.port import Broker
from greekfire.domain.orders import (
    BrokerEvent,
    EventKind,
    Fill,
    Order,
    OrderIntent,
    OrderStatus,
    Side,
)
from greekfire.domain.portfolio import Account, Position
from greekfire.errors import OrderRejected


class FakeTimer:
    """Seconds that only move when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingBroker:
    """A Broker that counts every call and whose balances change on demand."""

    name = "fake"

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.cash = 1000.0
        self.pending: list[BrokerEvent] = []
        self.reject = False

    def _hit(self, method: str) -> None:
        self.calls[method] = self.calls.get(method, 0) + 1

    def account(self) -> Account:
        self._hit("account")
        return Account(self.cash, self.cash, self.cash)

    def positions(self) -> dict[str, Position]:
        self._hit("positions")
        return {"SPY": Position("SPY", self.cash / 100)}

    def orders(self, *, open_only: bool = True) -> list[Order]:
        self._hit("orders")
        return []

    def get_order(self, client_order_id: str) -> Order | None:
        self._hit("get_order")
        return None

    def submit(self, order: Order) -> Order:
        self._hit("submit")
        if self.reject:
            raise OrderRejected("no")
        return order.with_status(OrderStatus.NEW, 1)

    def cancel(self, client_order_id: str) -> Order:
        self._hit("cancel")
        return _order(client_order_id).with_status(OrderStatus.CANCELED, 1)

    def events(self, after_seq: int = 0) -> list[BrokerEvent]:
        self._hit("events")
        found, self.pending = self.pending, []
        return found

    def close(self) -> None:
        self._hit("close")


def _order(cid: str = "c1") -> Order:
    return Order(cid, OrderIntent.single("SPY", Side.BUY, 1))


def _fill_event(seq: int, kind: EventKind = EventKind.ORDER_FILLED) -> BrokerEvent:
    fill = Fill(f"f{seq}", "c1", "SPY", Side.BUY, 1, 10.0, 0.0, seq)
    return BrokerEvent(kind, seq, seq, "SPY", "c1", fills=(fill,))


@pytest.fixture
def inner() -> CountingBroker:
    return CountingBroker()


@pytest.fixture
def timer() -> FakeTimer:
    return FakeTimer()


@pytest.fixture
def cached(inner: CountingBroker, timer: FakeTimer) -> CachedBroker:
    return CachedBroker(inner, 5.0, timer)


def test_is_a_broker(cached: CachedBroker) -> None:
    assert isinstance(cached, Broker)
    assert cached.name == "fake"


def test_account_and_positions_cached_until_the_ttl(
    cached: CachedBroker, inner: CountingBroker, timer: FakeTimer
) -> None:
    assert cached.account().cash_usd == 1000.0
    inner.cash = 2000.0
    timer.now += 4.999
    assert cached.account().cash_usd == 1000.0  # still fresh
    assert cached.positions()["SPY"].qty == 20.0
    assert cached.positions()["SPY"].qty == 20.0
    timer.now += 0.001  # account now exactly ttl_s old: expired
    assert cached.account().cash_usd == 2000.0
    assert cached.positions()["SPY"].qty == 20.0  # positions were read 5 ms later
    assert inner.calls == {"account": 2, "positions": 1}
    assert cached.calls == inner.calls
    stats = cached.stats()
    assert (stats.hits, stats.misses) == (3, 3)
    assert stats.hit_rate == 0.5


def test_positions_are_a_copy(cached: CachedBroker) -> None:
    cached.positions().clear()
    assert "SPY" in cached.positions()


@pytest.mark.parametrize("action", ["submit", "cancel", "rejected submit"])
def test_orders_invalidate(cached: CachedBroker, inner: CountingBroker, action: str) -> None:
    cached.account()
    cached.positions()
    inner.cash = 3000.0
    if action == "submit":
        cached.submit(_order())
    elif action == "cancel":
        cached.cancel("c1")
    else:
        inner.reject = True
        with pytest.raises(OrderRejected):
            cached.submit(_order())
    assert cached.account().cash_usd == 3000.0
    assert cached.positions()["SPY"].qty == 30.0
    assert inner.calls["account"] == inner.calls["positions"] == 2
    assert cached.stats().invalidations == 1


@pytest.mark.parametrize(
    ("kind", "with_fill", "invalidates"),
    [
        (EventKind.ORDER_FILLED, True, True),
        (EventKind.ORDER_PARTIALLY_FILLED, True, True),
        (EventKind.OPTION_EXPIRED, False, True),
        (EventKind.OPTION_ASSIGNED, True, True),
        (EventKind.OPTION_EXERCISED, True, True),
        (EventKind.ORDER_ACCEPTED, False, False),
        (EventKind.ORDER_CANCELED, False, False),
    ],
)
def test_fill_and_settlement_events_invalidate(
    cached: CachedBroker, inner: CountingBroker, kind: EventKind, with_fill: bool, invalidates: bool
) -> None:
    event = _fill_event(1, kind) if with_fill else BrokerEvent(kind, 1, 1, "SPY")
    assert changes_holdings(event) is invalidates
    cached.account()
    inner.cash = 4000.0
    inner.pending = [event]

    assert cached.events(0) == [event]

    assert cached.account().cash_usd == (4000.0 if invalidates else 1000.0)
    assert inner.calls["account"] == (2 if invalidates else 1)


def test_pass_through_calls_are_counted(cached: CachedBroker, inner: CountingBroker) -> None:
    cached.orders()
    cached.orders(open_only=False)
    assert cached.get_order("x") is None
    cached.events(3)
    cached.close()
    assert cached.calls == {"orders": 2, "get_order": 1, "events": 1}
    assert inner.calls == {**cached.calls, "close": 1}
    assert cached.api_calls == 4


def test_zero_ttl_never_caches(inner: CountingBroker, timer: FakeTimer) -> None:
    broker = CachedBroker(inner, 0, timer)
    broker.account()
    broker.account()
    assert inner.calls["account"] == 2


@pytest.mark.parametrize("ttl", [-1.0, float("nan"), float("inf")])
def test_bad_ttl_names_the_field(inner: CountingBroker, timer: FakeTimer, ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        CachedBroker(inner, ttl, timer)


def _loop(broker: Broker, inner: CountingBroker, timer: FakeTimer, cycles: int) -> None:
    # One engine cycle: read account + positions (sizing, risk), poll events, and on every
    # fifth cycle send an order that fills by the next poll. Cycles are 1 s apart.
    for cycle in range(cycles):
        broker.account()
        broker.positions()
        broker.account()  # the risk report reads it again
        broker.positions()
        broker.events(0)
        if cycle % 5 == 4:
            broker.submit(_order(f"c{cycle}"))
            inner.pending = [_fill_event(cycle)]
        timer.now += 1.0


def test_twenty_cycle_loop_saves_the_expected_share_of_calls(timer: FakeTimer) -> None:
    cycles, ttl_s = 20, 5.0
    plain = CountingBroker()
    _loop(plain, plain, timer, cycles)
    inner = CountingBroker()
    cached = CachedBroker(inner, ttl_s, timer)
    _loop(cached, inner, timer, cycles)

    reads_plain = plain.calls["account"] + plain.calls["positions"]
    reads_cached = inner.calls["account"] + inner.calls["positions"]
    assert reads_plain == 4 * cycles
    # Expected misses: the cache is refilled at cycle 0, then after each fill event (seen in
    # cycles 5, 10, 15: the poll follows the reads, so the refill happens at cycles 6, 11, 16)
    # and after each submit (cycles 4, 9, 14, 19 -> refills at 5, 10, 15); the TTL (5 s)
    # never expires first. Refills: 0, 5, 6, 10, 11, 15, 16 -> 7 cycles x 2 reads.
    expected_refills = [0, 5, 6, 10, 11, 15, 16]
    assert reads_cached == 2 * len(expected_refills)
    saved = 1 - reads_cached / reads_plain
    assert saved == pytest.approx(1 - 14 / 80)  # 82.5 %: the brief's "80 % fewer" holds here
    total_plain, total_cached = sum(plain.calls.values()), sum(inner.calls.values())
    assert total_cached == total_plain - (reads_plain - reads_cached)
    assert cached.stats().misses == reads_cached
    assert cached.stats().hits == reads_plain - reads_cached
