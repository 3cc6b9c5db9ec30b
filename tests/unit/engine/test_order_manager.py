"""OrderManager: write-ahead intents and what each kind of send failure leaves behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from greekfire.domain.orders import BrokerEvent, Order, OrderIntent, OrderStatus, Side
from greekfire.engine.orders import OrderManager
from greekfire.errors import OrderRejected, ParseError, ProviderError, TransientError
from greekfire.journal.sqlite import Journal


class Clock:
    def __init__(self) -> None:
        self.ns = 1_790_000_000_000_000_000

    def now_ns(self) -> int:
        self.ns += 1_000_000
        return self.ns


class Broker:
    """Accepts, refuses or fails each submit as told; remembers what it accepted."""

    name = "fake"

    def __init__(self, outcome: Exception | None = None, *, keep: bool = False) -> None:
        self.outcome = outcome
        self.keep = keep  # accept the order even when the answer fails (a lost acknowledgement)
        self.accepted: dict[str, Order] = {}
        self.submits = 0

    def submit(self, order: Order) -> Order:
        self.submits += 1
        acked = order.with_status(OrderStatus.NEW, order.created_ns, broker_order_id="b-1")
        if self.outcome is None or self.keep:
            self.accepted[order.client_order_id] = acked
        if self.outcome is not None:
            raise self.outcome
        return acked

    def get_order(self, client_order_id: str) -> Order | None:
        return self.accepted.get(client_order_id)

    def events(self, after_seq: int = 0) -> list[BrokerEvent]:
        return []


def manager(tmp_path: Path, broker: Broker) -> tuple[OrderManager, Journal]:
    clock = Clock()
    journal = Journal(tmp_path / "j.db", clock=clock)
    return OrderManager(broker, journal, clock), journal  # type: ignore[arg-type]


INTENT = OrderIntent.single("SPY", Side.BUY, 10, strategy="test")


def test_an_accepted_order_is_journaled_before_and_after_the_send(tmp_path: Path) -> None:
    orders, journal = manager(tmp_path, Broker())
    placed = orders.place(INTENT)
    assert placed.status is OrderStatus.NEW
    stored = journal.order(placed.client_order_id)
    assert stored is not None
    assert stored.status is OrderStatus.NEW
    assert stored.broker_order_id == "b-1"
    journal.close()


@pytest.mark.parametrize(
    "error", [OrderRejected("insufficient buying power"), ProviderError("400")]
)
def test_a_refusal_is_rejected_with_its_reason(tmp_path: Path, error: Exception) -> None:
    orders, journal = manager(tmp_path, Broker(error))
    placed = orders.place(INTENT)
    assert placed.status is OrderStatus.REJECTED
    assert str(error) in placed.reason
    assert orders.open_orders == ()
    journal.close()


@pytest.mark.parametrize(
    "error", [TransientError("502"), ParseError("garbled"), TimeoutError("read timed out")]
)
def test_an_unknown_outcome_stays_pending_until_the_broker_is_asked(
    tmp_path: Path, error: Exception
) -> None:
    lost = Broker(error, keep=True)  # the broker got it; the answer was lost
    orders, journal = manager(tmp_path, lost)
    placed = orders.place(INTENT)
    assert placed.status is OrderStatus.PENDING_NEW
    assert orders.resolve_pending() == 1
    resolved = journal.order(placed.client_order_id)
    assert resolved is not None
    assert resolved.status is OrderStatus.NEW  # adopted from the broker, not resent
    assert lost.submits == 1
    journal.close()


def test_a_send_that_never_arrived_is_canceled_not_resent(tmp_path: Path) -> None:
    never = Broker(ConnectionError("connection refused"))
    orders, journal = manager(tmp_path, never)
    placed = orders.place(INTENT)
    orders.resolve_pending()
    resolved = journal.order(placed.client_order_id)
    assert resolved is not None
    assert resolved.status is OrderStatus.CANCELED
    assert resolved.reason == "never reached the broker"
    assert never.submits == 1
    assert orders.open_orders == ()
    journal.close()
