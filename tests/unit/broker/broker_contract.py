"""The contract every :class:`~greekfire.broker.port.Broker` passes.

Use it by subclassing :class:`BrokerContract` in a ``test_*.py`` module that provides a
``harness`` fixture returning a :class:`BrokerHarness`::

    from broker_contract import BrokerContract, BrokerHarness

    @pytest.fixture
    def harness(...) -> Iterator[BrokerHarness]:
        ...

    class TestMyBrokerContract(BrokerContract):
        pass

(This module sits in ``tests/unit/broker``; pytest's default ``prepend`` import mode puts a
test module's directory on ``sys.path``, so a module elsewhere adds this directory itself.)

Assumptions about the harness: the clock is frozen inside regular market hours for the whole
test and the broker is the only thing that moves; the account may hold positions from earlier
tests (assertions use differences), and it has buying power for a few hundred shares of
``stock`` and a few option contracts. The assertions hold for a broker that fills at the mid
with slippage and fees (paper) and for one that fills at the touch without fees (Alpaca against
serve-market): prices are checked against the harness quote with a tolerance, cash against the
fills the broker itself reports.
"""

from __future__ import annotations

import math
import uuid
from typing import Protocol

import pytest

from greekfire.broker.port import Broker
from greekfire.domain.enums import OptionRight
from greekfire.domain.instruments import instrument_for
from greekfire.domain.market import Quote
from greekfire.domain.orders import (
    BrokerEvent,
    EventKind,
    Fill,
    Order,
    OrderIntent,
    OrderStatus,
    Side,
)
from greekfire.errors import OrderRejected

__all__ = ["BrokerContract", "BrokerHarness"]

STOCK_QTY = 10
"""Shares bought by the fill tests."""
EQUITY_SLIPPAGE_FRACTION = 0.002
"""Tolerance of a stock fill outside the quote, as a fraction of the price (20 bps)."""
SETTLE_POLLS = 20
"""How many times an order is re-read while a broker acknowledges it asynchronously."""


class BrokerHarness(Protocol):
    """What a contract test needs besides the broker."""

    broker: Broker
    stock: str
    """A liquid stock the broker fills now."""

    def quote(self, symbol: str) -> Quote:
        """The quote the broker fills ``symbol`` against now."""
        ...

    def listed_option(self, right: OptionRight) -> str:
        """An OCC symbol listed now, near the money, a few weeks out."""
        ...


def new_id(tag: str) -> str:
    """A fresh client order id."""
    return f"ct-{tag}-{uuid.uuid4().hex[:16]}"


def market(symbol: str, side: Side, qty: float, *, opening: bool = True) -> Order:
    """A market order ready to submit."""
    intent = OrderIntent.single(symbol, side, qty, opening=opening)
    return Order(new_id(side.value), intent)


def limit(symbol: str, side: Side, qty: float, price: float) -> Order:
    """A DAY limit order ready to submit."""
    intent = OrderIntent.single(symbol, side, qty, limit_price=price)
    return Order(new_id("lmt"), intent)


def last_seq(broker: Broker) -> int:
    """The highest event sequence number so far (0 without events)."""
    events = broker.events(0)
    return events[-1].seq if events else 0


def settled(broker: Broker, order: Order) -> Order:
    """``order`` re-read until it is no longer waiting for an acknowledgement (or a cancel)."""
    current = order
    for _ in range(SETTLE_POLLS):
        if current.status not in _WAITING:
            return current
        found = broker.get_order(order.client_order_id)
        assert found is not None, f"get_order lost {order.client_order_id}"
        current = found
    return current


_WAITING = (OrderStatus.PENDING_NEW, OrderStatus.NEW, OrderStatus.PENDING_CANCEL)


def held(broker: Broker, symbol: str) -> float:
    """Signed quantity of ``symbol`` held (0 when flat)."""
    position = broker.positions().get(symbol)
    return 0.0 if position is None else position.qty


def fills_of(events: list[BrokerEvent], client_order_id: str) -> list[Fill]:
    """Every fill the events report for one order."""
    return [
        fill
        for event in events
        if event.client_order_id == client_order_id
        for fill in event.fills
        if fill.client_order_id == client_order_id
    ]


def far_below(quote: Quote) -> float:
    """A buy limit far below the market, so it rests."""
    return max(0.01, round(quote.bid * 0.5, 2))


class BrokerContract:
    """The tests every broker passes; a subclass provides the ``harness`` fixture."""

    def test_account_fields_sane(self, harness: BrokerHarness) -> None:
        account = harness.broker.account()
        assert math.isfinite(account.cash_usd)
        assert math.isfinite(account.equity_usd)
        assert account.equity_usd > 0
        assert math.isfinite(account.buying_power_usd)
        assert account.buying_power_usd >= 0
        assert account.long_market_value_usd >= 0 >= account.short_market_value_usd
        assert account.ts_ns > 0
        assert isinstance(harness.broker.name, str)
        assert harness.broker.name

    def test_market_buy_fills_and_moves_cash(self, harness: BrokerHarness) -> None:
        broker, symbol = harness.broker, harness.stock
        quote = harness.quote(symbol)
        qty_before = held(broker, symbol)
        cash_before = broker.account().cash_usd
        seq = last_seq(broker)

        order = settled(broker, broker.submit(market(symbol, Side.BUY, STOCK_QTY)))

        assert order.status is OrderStatus.FILLED
        assert order.filled_qty == pytest.approx(STOCK_QTY)
        tolerance = EQUITY_SLIPPAGE_FRACTION * quote.ask
        assert quote.bid - tolerance <= order.avg_fill_price <= quote.ask + tolerance
        assert held(broker, symbol) == pytest.approx(qty_before + STOCK_QTY)
        fills = fills_of(broker.events(seq), order.client_order_id)
        assert sum(f.qty for f in fills) == pytest.approx(STOCK_QTY)
        paid = sum(f.qty * f.price + f.fee_usd for f in fills)
        assert cash_before - broker.account().cash_usd == pytest.approx(paid, abs=0.011)
        assert paid == pytest.approx(
            STOCK_QTY * order.avg_fill_price + sum(f.fee_usd for f in fills), abs=0.011
        )

    def test_sell_closes_the_position(self, harness: BrokerHarness) -> None:
        broker, symbol = harness.broker, harness.stock
        qty_before = held(broker, symbol)
        bought = settled(broker, broker.submit(market(symbol, Side.BUY, STOCK_QTY)))
        assert bought.status is OrderStatus.FILLED
        cash_mid = broker.account().cash_usd

        sold = settled(broker, broker.submit(market(symbol, Side.SELL, STOCK_QTY, opening=False)))

        assert sold.status is OrderStatus.FILLED
        assert sold.filled_qty == pytest.approx(STOCK_QTY)
        assert held(broker, symbol) == pytest.approx(qty_before)
        if qty_before == 0:
            assert symbol not in broker.positions()
        assert broker.account().cash_usd > cash_mid

    def test_limit_far_from_market_rests_then_cancels(self, harness: BrokerHarness) -> None:
        broker, symbol = harness.broker, harness.stock
        order = limit(symbol, Side.BUY, 1, far_below(harness.quote(symbol)))

        acked = broker.submit(order)

        assert acked.status.is_open
        assert acked.filled_qty == 0
        listed = {o.client_order_id for o in broker.orders()}
        assert order.client_order_id in listed
        found = broker.get_order(order.client_order_id)
        assert found is not None
        assert found.is_open
        assert found.intent.limit_price == pytest.approx(order.intent.limit_price)

        canceled = settled(broker, broker.cancel(order.client_order_id))

        assert canceled.status is OrderStatus.CANCELED
        again = broker.get_order(order.client_order_id)
        assert again is not None
        assert again.status is OrderStatus.CANCELED
        assert order.client_order_id not in {o.client_order_id for o in broker.orders()}
        every = {o.client_order_id for o in broker.orders(open_only=False)}
        assert order.client_order_id in every
        with pytest.raises(OrderRejected):
            broker.cancel(order.client_order_id)

    def test_duplicate_client_order_id_is_rejected(self, harness: BrokerHarness) -> None:
        broker, symbol = harness.broker, harness.stock
        first = limit(symbol, Side.BUY, 1, far_below(harness.quote(symbol)))
        broker.submit(first)
        twin = Order(first.client_order_id, OrderIntent.single(symbol, Side.BUY, 2))
        try:
            with pytest.raises(OrderRejected):
                broker.submit(twin)
            found = broker.get_order(first.client_order_id)
            assert found is not None
            assert found.intent.qty == pytest.approx(1)
            assert found.intent.limit_price == pytest.approx(first.intent.limit_price)
        finally:
            broker.cancel(first.client_order_id)

    def test_get_order_of_unknown_id_is_none(self, harness: BrokerHarness) -> None:
        assert harness.broker.get_order(new_id("never-sent")) is None

    def test_unknown_symbol_is_rejected_by_name(self, harness: BrokerHarness) -> None:
        symbol = "ZZQXW"
        with pytest.raises(OrderRejected, match=symbol):
            harness.broker.submit(market(symbol, Side.BUY, 1))

    def test_insufficient_buying_power_is_rejected(self, harness: BrokerHarness) -> None:
        broker, symbol = harness.broker, harness.stock
        account = broker.account()
        qty = math.ceil(
            3 * max(account.buying_power_usd, account.cash_usd) / harness.quote(symbol).ask
        )
        qty_before = held(broker, symbol)

        with pytest.raises(OrderRejected):
            broker.submit(market(symbol, Side.BUY, qty))

        assert held(broker, symbol) == pytest.approx(qty_before)

    def test_events_report_fills_and_resume(self, harness: BrokerHarness) -> None:
        broker, symbol = harness.broker, harness.stock
        seq = last_seq(broker)
        order = settled(broker, broker.submit(market(symbol, Side.BUY, STOCK_QTY)))
        assert order.status is OrderStatus.FILLED

        events = broker.events(seq)

        assert events, "no event after a fill"
        seqs = [e.seq for e in events]
        assert all(s > seq for s in seqs)
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == len(seqs)
        filled = [
            e
            for e in events
            if e.kind is EventKind.ORDER_FILLED and e.client_order_id == order.client_order_id
        ]
        assert len(filled) == 1
        assert filled[0].fills, "the fill event carries no Fill"
        assert all(f.symbol == symbol and f.side is Side.BUY for f in filled[0].fills)
        assert filled[0].order is not None
        assert filled[0].order.status is OrderStatus.FILLED
        assert broker.events(seqs[-1]) == []
        assert [e.seq for e in broker.events(seqs[0])] == seqs[1:]

    def test_single_leg_option_buy_opens_a_position(self, harness: BrokerHarness) -> None:
        broker = harness.broker
        symbol = harness.listed_option(OptionRight.CALL)
        quote = harness.quote(symbol)
        contract = instrument_for(symbol)
        qty_before = held(broker, symbol)
        cash_before = broker.account().cash_usd
        seq = last_seq(broker)

        order = settled(broker, broker.submit(market(symbol, Side.BUY, 1)))

        assert order.status is OrderStatus.FILLED
        tick = 0.01 + 1e-9
        assert quote.bid - tick <= order.avg_fill_price <= quote.ask + tick
        position = broker.positions()[symbol]
        assert position.qty == pytest.approx(qty_before + 1)
        assert position.multiplier == contract.multiplier == 100
        fills = fills_of(broker.events(seq), order.client_order_id)
        assert [f.symbol for f in fills] == [symbol]
        paid = sum(f.qty * f.price * 100 + f.fee_usd for f in fills)
        assert paid >= 100 * order.avg_fill_price
        assert cash_before - broker.account().cash_usd == pytest.approx(paid, abs=0.011)
