"""Startup reconciliation against an in-memory broker: intents resolved by asking (adopted or
canceled, never resent), open orders and positions compared, ``adopt`` writes the broker's
view, ``halt`` raises naming every mismatch with both sides."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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
from greekfire.errors import OrderRejected, StateError
from greekfire.journal.recovery import (
    NEVER_REACHED_BROKER,
    UNKNOWN_TO_BROKER,
    Mismatch,
    journal_positions,
    reconcile,
)
from greekfire.journal.sqlite import Journal

T0 = 1_700_000_000_000_000_000


class FixedClock:
    def __init__(self, t: int = T0 + 1_000_000_000) -> None:
        self.t = t

    def now_ns(self) -> int:
        return self.t


class FakeBroker:
    """An in-memory broker that records every call; ``submit`` must never be reached."""

    name = "fake"

    def __init__(self) -> None:
        self.held: dict[str, Order] = {}
        self.held_positions: dict[str, Position] = {}
        self.held_events: list[BrokerEvent] = []
        self.calls: list[tuple[str, Any]] = []

    def account(self) -> Account:
        self.calls.append(("account", None))
        return Account(100_000.0, 100_000.0, 100_000.0)

    def positions(self) -> dict[str, Position]:
        self.calls.append(("positions", None))
        return dict(self.held_positions)

    def orders(self, *, open_only: bool = True) -> list[Order]:
        self.calls.append(("orders", open_only))
        return [o for o in self.held.values() if o.is_open or not open_only]

    def get_order(self, client_order_id: str) -> Order | None:
        self.calls.append(("get_order", client_order_id))
        return self.held.get(client_order_id)

    def submit(self, order: Order) -> Order:
        self.calls.append(("submit", order.client_order_id))
        if order.client_order_id in self.held:
            raise OrderRejected(f"duplicate client_order_id {order.client_order_id}")
        acked = order.with_status(OrderStatus.NEW, order.created_ns, broker_order_id="b-new")
        self.held[order.client_order_id] = acked
        return acked

    def cancel(self, client_order_id: str) -> Order:
        self.calls.append(("cancel", client_order_id))
        raise OrderRejected(f"{client_order_id} is not open")

    def events(self, after_seq: int = 0) -> list[BrokerEvent]:
        self.calls.append(("events", after_seq))
        return [e for e in self.held_events if e.seq > after_seq]

    def close(self) -> None:
        self.calls.append(("close", None))

    @property
    def submitted(self) -> list[Any]:
        return [arg for name, arg in self.calls if name == "submit"]


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "journal.db", clock=FixedClock())
    yield j
    j.close()


@pytest.fixture
def broker() -> FakeBroker:
    return FakeBroker()


def intent_order(cid: str = "gf-1", symbol: str = "SPY", qty: float = 10) -> Order:
    intent = OrderIntent.single(symbol, Side.BUY, qty, strategy="momentum")
    return Order(cid, intent, OrderStatus.PENDING_NEW, T0, T0)


def test_fake_broker_speaks_the_broker_port(broker: FakeBroker) -> None:
    assert isinstance(broker, Broker)


def test_acknowledged_intent_takes_the_brokers_state_and_fills(
    journal: Journal, broker: FakeBroker
) -> None:
    order = intent_order()
    journal.record_intent(order)
    # the broker got it and filled it before the crash
    filled = order.with_status(
        OrderStatus.FILLED, T0 + 5, broker_order_id="b-1", filled_qty=10.0, avg_fill_price=450.5
    )
    broker.held["gf-1"] = filled
    broker.held_positions["SPY"] = Position("SPY", 10, 450.5)
    fill = Fill("x-1", "gf-1", "SPY", Side.BUY, 10, 450.5, 0.0, T0 + 5)
    broker.held_events.append(
        BrokerEvent(EventKind.ORDER_FILLED, T0 + 5, 1, "SPY", "gf-1", filled, (fill,))
    )

    report = reconcile(journal, broker, "adopt", FixedClock())

    assert broker.submitted == []
    assert [(r.client_order_id, r.outcome, r.status) for r in report.resolved] == [
        ("gf-1", "sent", OrderStatus.FILLED)
    ]
    after = journal.order("gf-1")
    assert after is not None
    assert after.status is OrderStatus.FILLED
    assert after.broker_order_id == "b-1"
    assert after.filled_qty == 10.0
    assert after.avg_fill_price == 450.5
    assert after.intent == order.intent  # what we asked for is kept
    assert journal.fills() == [fill]
    assert journal.pending_intents() == []
    # the fill explains the broker's position: nothing to adopt
    assert report.ok, report.mismatches
    assert report.adopted is False


def test_acknowledged_open_intent_becomes_new(journal: Journal, broker: FakeBroker) -> None:
    order = intent_order()
    journal.record_intent(order)
    broker.held["gf-1"] = order.with_status(OrderStatus.NEW, T0 + 1, broker_order_id="b-1")
    report = reconcile(journal, broker, "halt", FixedClock())
    assert report.ok
    after = journal.order("gf-1")
    assert after is not None
    assert (after.status, after.broker_order_id) == (OrderStatus.NEW, "b-1")
    assert [o.client_order_id for o in journal.orders(open_only=True)] == ["gf-1"]
    assert broker.submitted == []


def test_intent_never_received_is_canceled_and_not_resent(
    journal: Journal, broker: FakeBroker
) -> None:
    journal.record_intent(intent_order("gf-lost"))
    clock = FixedClock()

    report = reconcile(journal, broker, "halt", clock)

    assert broker.submitted == []
    assert ("get_order", "gf-lost") in broker.calls
    after = journal.order("gf-lost")
    assert after is not None
    assert after.status is OrderStatus.CANCELED
    assert after.reason == NEVER_REACHED_BROKER == "never reached the broker"
    assert after.updated_ns == clock.t
    assert [(r.outcome, r.status) for r in report.resolved] == [
        ("never_sent", OrderStatus.CANCELED)
    ]
    assert report.ok
    assert journal.pending_intents() == []
    # a second start has nothing left to resolve
    again = reconcile(journal, broker, "halt", clock)
    assert again.resolved == ()
    assert broker.submitted == []


def test_position_mismatch_adopt_writes_the_brokers_positions(
    journal: Journal, broker: FakeBroker
) -> None:
    journal.snapshot_positions(T0, {"SPY": Position("SPY", 100, 450.0)}, {"SPY": 451.0})
    broker.held_positions = {
        "SPY": Position("SPY", 200, 449.0),
        "QQQ": Position("QQQ", 5, 380.0),
    }
    clock = FixedClock()

    report = reconcile(journal, broker, "adopt", clock)

    assert not report.ok
    assert report.adopted
    assert set(report.mismatches) == {
        Mismatch("position", "SPY", "qty 100", "qty 200"),
        Mismatch("position", "QQQ", "qty 0", "qty 5"),
    }
    assert journal.latest_positions() == broker.held_positions
    snapshot = journal.latest_snapshot()
    assert snapshot is not None
    assert snapshot.ts_ns == clock.t
    note = journal.notes(kind="reconciliation")[-1]["payload"]
    assert isinstance(note, dict)
    assert note["adopted"] is True
    assert {m["key"] for m in note["mismatches"]} == {"SPY", "QQQ"}
    # once adopted, the next start agrees
    assert reconcile(journal, broker, "halt", clock).ok


def test_position_mismatch_halt_raises_naming_symbol_and_both_quantities(
    journal: Journal, broker: FakeBroker
) -> None:
    journal.snapshot_positions(T0, {"SPY": Position("SPY", 100, 450.0)}, {})
    broker.held_positions = {"SPY": Position("SPY", 200, 449.0)}

    with pytest.raises(StateError) as caught:
        reconcile(journal, broker, "halt", FixedClock())

    message = str(caught.value)
    assert "position SPY: journal qty 100, broker qty 200" in message
    assert journal.latest_positions() == {"SPY": Position("SPY", 100, 450.0)}  # not adopted
    note = journal.notes(kind="reconciliation")[-1]["payload"]
    assert isinstance(note, dict)
    assert (note["ok"], note["adopted"], note["policy"]) == (False, False, "halt")


def test_halt_lists_every_mismatch(journal: Journal, broker: FakeBroker) -> None:
    journal.snapshot_positions(T0, {"SPY": Position("SPY", 100, 450.0)}, {})
    broker.held_positions = {"QQQ": Position("QQQ", -3, 380.0)}
    broker.held["manual-1"] = intent_order("manual-1", "IWM", 7).with_status(
        OrderStatus.NEW, T0, broker_order_id="b-9"
    )
    with pytest.raises(StateError, match="3 mismatch") as caught:
        reconcile(journal, broker, "halt", FixedClock())
    message = str(caught.value)
    assert "position SPY: journal qty 100, broker qty 0" in message
    assert "position QQQ: journal qty 0, broker qty -3" in message
    assert "order manual-1: journal absent, broker new, filled 0 of 7" in message


def test_quantities_within_tolerance_agree(journal: Journal, broker: FakeBroker) -> None:
    journal.snapshot_positions(T0, {"SPY": Position("SPY", 100, 450.0)}, {})
    broker.held_positions = {"SPY": Position("SPY", 100 + 1e-9, 450.0)}
    assert reconcile(journal, broker, "halt", FixedClock()).ok
    broker.held_positions = {"SPY": Position("SPY", 100.5, 450.0)}
    with pytest.raises(StateError, match=r"qty 100\.5"):
        reconcile(journal, broker, "halt", FixedClock())


def test_journal_view_is_snapshot_plus_later_fills(journal: Journal) -> None:
    journal.snapshot_positions(T0, {"SPY": Position("SPY", 100, 450.0)}, {})
    journal.record_fills(
        [
            Fill("old", "gf-0", "SPY", Side.BUY, 50, 440.0, 0.0, T0),  # in the snapshot
            Fill("new", "gf-1", "SPY", Side.SELL, 100, 460.0, 0.0, T0 + 1),
            Fill("opt", "gf-2", "SPY240621P00440000", Side.SELL, 1, 1.2, 0.65, T0 + 2),
        ]
    )
    view = journal_positions(journal)
    assert set(view) == {"SPY240621P00440000"}  # SPY closed to flat
    assert view["SPY240621P00440000"].qty == -1


def test_open_order_filled_while_down_is_updated_not_a_mismatch(
    journal: Journal, broker: FakeBroker
) -> None:
    order = intent_order().with_status(OrderStatus.NEW, T0 + 1, broker_order_id="b-1")
    journal.record_intent(intent_order())
    journal.update_order(order)
    broker.held["gf-1"] = order.with_status(
        OrderStatus.FILLED, T0 + 9, filled_qty=10.0, avg_fill_price=451.0
    )
    broker.held_positions = {"SPY": Position("SPY", 10, 451.0)}
    broker.held_events.append(
        BrokerEvent(
            EventKind.ORDER_FILLED,
            T0 + 9,
            1,
            "SPY",
            "gf-1",
            broker.held["gf-1"],
            (Fill("x-1", "gf-1", "SPY", Side.BUY, 10, 451.0, 0.0, T0 + 9),),
        )
    )
    journal.record_fills(broker.held_events[0].fills)  # the engine's event loop got it

    report = reconcile(journal, broker, "halt", FixedClock())

    assert report.ok
    assert [(r.outcome, r.status) for r in report.resolved] == [("updated", OrderStatus.FILLED)]
    after = journal.order("gf-1")
    assert after is not None
    assert (after.status, after.filled_qty) == (OrderStatus.FILLED, 10.0)


def test_open_order_unknown_to_the_broker_adopt_cancels_it(
    journal: Journal, broker: FakeBroker
) -> None:
    journal.record_intent(intent_order("gf-ghost"))
    journal.update_order(
        intent_order("gf-ghost").with_status(OrderStatus.NEW, T0 + 1, broker_order_id="b-0")
    )
    report = reconcile(journal, broker, "adopt", FixedClock())
    assert report.mismatches == (Mismatch("order", "gf-ghost", "new, filled 0 of 10", "absent"),)
    after = journal.order("gf-ghost")
    assert after is not None
    assert (after.status, after.reason) == (OrderStatus.CANCELED, UNKNOWN_TO_BROKER)
    assert broker.submitted == []


def test_open_order_only_at_the_broker_is_adopted(journal: Journal, broker: FakeBroker) -> None:
    outside = intent_order("manual-1", "IWM", 7).with_status(
        OrderStatus.NEW, T0, broker_order_id="b-9"
    )
    broker.held["manual-1"] = outside
    report = reconcile(journal, broker, "adopt", FixedClock())
    assert [str(m) for m in report.mismatches] == [
        "order manual-1: journal absent, broker new, filled 0 of 7"
    ]
    adopted = journal.order("manual-1")
    assert adopted is not None
    assert (adopted.status, adopted.broker_order_id, adopted.qty) == (OrderStatus.NEW, "b-9", 7)
    assert reconcile(journal, broker, "halt", FixedClock()).ok


def test_every_reconciliation_is_noted(journal: Journal, broker: FakeBroker) -> None:
    journal.record_intent(intent_order("gf-lost"))
    reconcile(journal, broker, "adopt", FixedClock())
    notes = journal.notes(kind="reconciliation")
    assert len(notes) == 1
    payload = notes[0]["payload"]
    assert isinstance(payload, dict)
    assert payload["ok"] is True
    assert payload["resolved"] == [
        {
            "client_order_id": "gf-lost",
            "outcome": "never_sent",
            "status": "canceled",
            "detail": "never reached the broker; not resent",
        }
    ]


def test_bad_policy_is_named(journal: Journal, broker: FakeBroker) -> None:
    with pytest.raises(ValueError, match="policy: expected 'adopt' or 'halt', got 'ignore'"):
        reconcile(journal, broker, "ignore", FixedClock())  # type: ignore[arg-type]
    assert broker.calls == []
