"""The SQLite journal: pragmas, file mode, round trips of every record, write-ahead intents,
batching (invisible before the batch is written, one executemany per table), read-only
readers beside the writer (WAL), integrity."""

from __future__ import annotations

import math
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from greekfire.domain.orders import (
    BrokerEvent,
    EventKind,
    Fill,
    Leg,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    PositionEffect,
    Side,
    TimeInForce,
)
from greekfire.domain.portfolio import Account, Position
from greekfire.errors import StateError
from greekfire.journal import codec
from greekfire.journal.sqlite import Journal

T0 = 1_700_000_000_000_000_000
PUT_SHORT = "SPY240621P00440000"
PUT_LONG = "SPY240621P00430000"


class StepClock:
    """A clock that moves 1 ms each time it is read."""

    def __init__(self, start_ns: int = T0) -> None:
        self.t = start_ns

    def now_ns(self) -> int:
        self.t += 1_000_000
        return self.t


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "journal.db"


@pytest.fixture
def journal(path: Path) -> Iterator[Journal]:
    j = Journal(path, batch_size=1000, clock=StepClock())
    yield j
    j.close()


@pytest.fixture
def reader(journal: Journal, path: Path) -> Iterator[Journal]:
    r = Journal.open_readonly(path)
    yield r
    r.close()


def stock_order(cid: str = "gf-1", *, created_ns: int = T0, qty: float = 10) -> Order:
    intent = OrderIntent.single("SPY", Side.BUY, qty, strategy="momentum", reason="signal 0.8")
    return Order(cid, intent, OrderStatus.PENDING_NEW, created_ns, created_ns)


def spread_order(cid: str = "gf-spread") -> Order:
    intent = OrderIntent(
        legs=(
            Leg(PUT_SHORT, Side.SELL, 1, PositionEffect.OPEN),
            Leg(PUT_LONG, Side.BUY, 1, PositionEffect.OPEN),
        ),
        qty=2,
        order_type=OrderType.LIMIT,
        limit_price=-1.35,  # net credit
        tif=TimeInForce.GTC,
        strategy="vertical_credit",
        reason="short delta 0.20",
        opening=True,
    )
    return Order(cid, intent, OrderStatus.PENDING_NEW, T0 + 5, T0 + 5)


def fill(fid: str, cid: str = "gf-1", *, ts_ns: int = T0, qty: float = 10) -> Fill:
    return Fill(fid, cid, "SPY", Side.BUY, qty, 450.12, 0.01, ts_ns)


# --- connection settings and the file ------------------------------------------------------------


def test_pragmas_wal_full_sync_foreign_keys(journal: Journal, path: Path) -> None:
    conn = journal._db
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    # WAL is a property of the file: another connection sees it too
    other = sqlite3.connect(path)
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        other.close()


def test_new_file_and_its_wal_are_private(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / "j.db"  # parent folders are created
    j = Journal(path, clock=StepClock())
    try:
        j.record_intent(stock_order())
        for file in (path, Path(f"{path}-wal")):
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    finally:
        j.close()


def test_bad_arguments_are_named(path: Path) -> None:
    with pytest.raises(ValueError, match=r"batch_size: .*got 0"):
        Journal(path, batch_size=0, clock=StepClock())
    with pytest.raises(ValueError, match=r"path: .*got ':memory:'"):
        Journal(":memory:", clock=StepClock())
    assert not Path(":memory:").exists()


# --- orders: write-ahead intents and updates -----------------------------------------------------


def test_intent_round_trip_is_exact(journal: Journal) -> None:
    for order in (stock_order(), spread_order()):
        journal.record_intent(order)
        assert journal.order(order.client_order_id) == order
    back = journal.order("gf-spread")
    assert back is not None
    assert back.intent.limit_price == -1.35
    assert back.intent.legs[0].effect is PositionEffect.OPEN
    assert math.isnan(back.avg_fill_price)
    assert journal.order("nope") is None


def test_intent_is_committed_before_record_intent_returns(
    journal: Journal, reader: Journal
) -> None:
    journal.record_intent(stock_order())
    # another connection sees it with no flush: it was committed, not buffered
    assert [o.client_order_id for o in reader.pending_intents()] == ["gf-1"]
    assert journal.stats()["buffered"] == 0


def test_duplicate_intent_is_refused_by_id(journal: Journal) -> None:
    journal.record_intent(stock_order())
    with pytest.raises(StateError, match="'gf-1' is already in the journal"):
        journal.record_intent(stock_order())


def test_intent_must_be_pending_new(journal: Journal) -> None:
    acked = stock_order().with_status(OrderStatus.NEW, T0 + 1, broker_order_id="b-1")
    with pytest.raises(ValueError, match=r"order\.status: .*got 'new'"):
        journal.record_intent(acked)


def test_update_order_round_trip_and_upsert(journal: Journal) -> None:
    order = stock_order()
    journal.record_intent(order)
    filled = order.with_status(
        OrderStatus.FILLED, T0 + 9, broker_order_id="b-77", filled_qty=10.0, avg_fill_price=450.25
    )
    journal.update_order(filled)
    assert journal.order("gf-1") == filled
    # an order the journal never saw (adopted from the broker) is inserted
    outside = spread_order("b-only").with_status(OrderStatus.NEW, T0 + 20, broker_order_id="b-9")
    journal.update_order(outside)
    assert journal.order("b-only") == outside
    assert journal.pending_intents() == []


def test_orders_open_only_and_limit(journal: Journal) -> None:
    for i in range(4):
        journal.record_intent(stock_order(f"gf-{i}", created_ns=T0 + i))
    journal.update_order(
        stock_order("gf-1", created_ns=T0 + 1).with_status(OrderStatus.CANCELED, T0 + 10)
    )
    journal.update_order(
        stock_order("gf-2", created_ns=T0 + 2).with_status(OrderStatus.NEW, T0 + 10)
    )
    assert [o.client_order_id for o in journal.orders()] == ["gf-0", "gf-1", "gf-2", "gf-3"]
    assert [o.client_order_id for o in journal.orders(open_only=True)] == ["gf-0", "gf-2", "gf-3"]
    assert [o.client_order_id for o in journal.orders(limit=2)] == ["gf-2", "gf-3"]
    assert [o.client_order_id for o in journal.pending_intents()] == ["gf-0", "gf-3"]
    with pytest.raises(ValueError, match=r"limit: .*got -1"):
        journal.orders(limit=-1)


# --- buffered records ------------------------------------------------------------------------------


def test_fills_round_trip_and_are_idempotent(journal: Journal) -> None:
    fills = [fill("f-1"), fill("f-2", ts_ns=T0 + 5, qty=3)]
    journal.record_fills(fills)
    journal.record_fills([fill("f-1")])  # the broker reported it twice
    assert journal.fills() == fills
    assert journal.fills(limit=1) == fills[1:]
    assert journal.fills(since_ns=T0) == fills[1:]
    journal.record_fills([fill("f-1")])  # and again after it was written
    assert journal.fills() == fills


def test_event_round_trip_rebuilds_the_broker_event(journal: Journal) -> None:
    order = stock_order().with_status(
        OrderStatus.FILLED, T0 + 3, broker_order_id="b-1", filled_qty=10.0, avg_fill_price=450.12
    )
    event = BrokerEvent(
        EventKind.ORDER_FILLED,
        T0 + 3,
        42,
        "SPY",
        "gf-1",
        order,
        (fill("f-1", ts_ns=T0 + 3),),
        "filled at touch",
    )
    settlement = BrokerEvent(EventKind.OPTION_EXPIRED, T0 + 4, 43, PUT_LONG, detail="OTM")
    journal.record_event(event)
    journal.record_event(settlement)
    rows = journal.events()
    assert [r["seq"] for r in rows] == [42, 43]
    assert rows[0]["kind"] == "order_filled"
    assert rows[0]["client_order_id"] == "gf-1"
    assert isinstance(rows[0]["payload"], dict)
    assert [codec.event_from_mapping(r) for r in rows] == [event, settlement]
    assert journal.fills() == list(event.fills)  # the event's fills are journaled too
    assert [r["seq"] for r in journal.events(limit=1)] == [43]


def test_notes_round_trip_domain_values(journal: Journal) -> None:
    order = spread_order()
    journal.record_note("dry_run_order", {"order": order, "side": Side.SELL, "tags": {"b", "a"}})
    journal.record_note("risk_denied", {"reasons": ["max positions 5 reached"]})
    notes = journal.notes()
    assert [n["kind"] for n in notes] == ["dry_run_order", "risk_denied"]
    payload: Any = notes[0]["payload"]
    assert payload["side"] == "sell"
    assert payload["tags"] == ["a", "b"]
    assert payload["order"]["client_order_id"] == "gf-spread"
    assert payload["order"]["intent"]["limit_price"] == -1.35
    assert [n["kind"] for n in journal.notes(kind="risk_denied")] == ["risk_denied"]
    t0, t1 = (int(str(n["ts_ns"])) for n in notes)
    assert T0 < t0 < t1  # stamped by the injected clock
    with pytest.raises(ValueError, match="kind: "):
        journal.record_note("", {})


def test_position_snapshots_latest_wins_and_flat_book_counts(journal: Journal) -> None:
    assert journal.latest_snapshot() is None
    assert journal.latest_positions() == {}
    first = {
        "SPY": Position("SPY", 100, 450.5, 12.5, 0.02),
        PUT_SHORT: Position(PUT_SHORT, -2, 1.35, 0.0, 1.3),
    }
    journal.snapshot_positions(T0, first, {"SPY": 451.0, PUT_SHORT: math.nan})
    snapshot = journal.latest_snapshot()
    assert snapshot is not None
    assert snapshot.ts_ns == T0
    assert snapshot.positions == first
    assert snapshot.marks == {"SPY": 451.0}  # NaN marks are unknown
    second = {"QQQ": Position("QQQ", -5, 380.0)}
    journal.snapshot_positions(T0 + 10, second, {})
    assert journal.latest_positions() == second
    journal.snapshot_positions(T0 + 20, {}, {})  # everything closed
    assert journal.latest_positions() == {}


def test_account_round_trip_with_nan(journal: Journal) -> None:
    assert journal.latest_account() is None
    first = Account(100_000.0, 100_250.55, 80_000.0, 50_000.0, -1_200.5, ts_ns=T0)
    second = Account(99_000.0, 99_500.0, 70_000.0, 500.0, 0.0, 100_250.55, T0 + 1)
    journal.snapshot_account(first)
    assert journal.latest_account() == first
    assert math.isnan(first.last_equity_usd)
    journal.snapshot_account(second)
    assert journal.latest_account() == second


def test_cycles_round_trip(journal: Journal) -> None:
    journal.record_cycle(1, T0, {"fetch": 0.012, "risk": 0.0005}, {"symbols": 50, "orders": 1})
    journal.record_cycle(2, T0 + 60, {"fetch": 0.01}, {"symbols": 50})
    cycles = journal.cycles()
    assert cycles[0] == {
        "cycle": 1,
        "ts_ns": T0,
        "timings_s": {"fetch": 0.012, "risk": 0.0005},
        "counts": {"symbols": 50, "orders": 1},
    }
    assert [c["cycle"] for c in journal.cycles(limit=1)] == [2]


def test_meta_values_round_trip(journal: Journal, reader: Journal) -> None:
    assert journal.get_meta("last_event_seq") is None
    journal.set_meta("last_event_seq", 17)
    journal.set_meta("equity_peak_usd", 0.1 + 0.2)
    assert journal.get_meta("last_event_seq") == "17"  # the writer sees its buffered value
    assert reader.get_meta("last_event_seq") is None  # not committed yet
    journal.flush()
    assert reader.get_meta("last_event_seq") == "17"
    assert float(reader.get_meta("equity_peak_usd") or "nan") == 0.1 + 0.2  # exact
    journal.set_meta("last_event_seq", "18")
    journal.flush()
    assert reader.get_meta("last_event_seq") == "18"


# --- batching ------------------------------------------------------------------------------------


class CountingConnection:
    """Wraps a sqlite3 connection and records each executemany (table, row count)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        object.__setattr__(self, "_conn", conn)
        object.__setattr__(self, "calls", [])

    def executemany(self, sql: str, rows: list[Any]) -> sqlite3.Cursor:
        self.calls.append((sql.split()[2] if "OR IGNORE" not in sql else sql.split()[4], len(rows)))
        return self._conn.executemany(sql, rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._conn, name, value)


def test_batches_are_invisible_until_full_then_one_executemany_per_table(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrappers: list[CountingConnection] = []
    real_connect = sqlite3.connect

    def counting_connect(*args: Any, **kwargs: Any) -> CountingConnection:
        wrapper = CountingConnection(real_connect(*args, **kwargs))
        wrappers.append(wrapper)
        return wrapper

    monkeypatch.setattr(sqlite3, "connect", counting_connect)
    journal = Journal(path, batch_size=6, clock=StepClock())
    reader = Journal.open_readonly(path)
    try:
        calls = wrappers[0].calls
        journal.record_fills([fill("f-1"), fill("f-2")])
        journal.record_event(BrokerEvent(EventKind.ORDER_ACCEPTED, T0, 1, "SPY", "gf-1"))
        journal.record_note("decision", {"x": 1})
        journal.record_cycle(1, T0, {"total": 0.01}, {})
        # 5 rows buffered: nothing written, nothing visible to another connection
        assert calls == []
        assert reader.fills() == []
        assert reader.events() == []
        assert journal.stats()["buffered"] == 5
        journal.snapshot_account(Account(1.0, 1.0, 1.0, ts_ns=T0))  # the 6th row fills the batch
        assert sorted(calls) == [
            ("account_snapshots", 1),
            ("cycles", 1),
            ("events", 1),
            ("fills", 2),
            ("notes", 1),
        ]
        assert len(reader.fills()) == 2
        assert len(reader.events()) == 1
        assert len(reader.cycles()) == 1
        assert reader.latest_account() is not None
        # a partial batch waits for flush()
        journal.record_fills([fill(f"g-{i}") for i in range(3)])
        assert len(reader.fills()) == 2
        journal.flush()
        assert calls[-1] == ("fills", 3)
        assert len(reader.fills()) == 5
        assert journal.stats()["batches"] == 2
        assert journal.stats()["executemany"] == len(calls) == 6
        journal.flush()  # nothing buffered: no empty transaction
        assert len(calls) == 6
    finally:
        reader.close()
        journal.close()


def test_close_flushes_and_is_idempotent(path: Path) -> None:
    journal = Journal(path, clock=StepClock())
    journal.record_fills([fill("f-1")])
    journal.snapshot_positions(T0, {"SPY": Position("SPY", 10, 450.0)}, {"SPY": 451.0})
    journal.set_meta("cycle", 3)
    journal.close()
    journal.close()
    with pytest.raises(StateError, match="after close"):
        journal.fills()
    with Journal.open_readonly(path) as reader:
        assert [f.fill_id for f in reader.fills()] == ["f-1"]
        assert reader.latest_positions() == {"SPY": Position("SPY", 10, 450.0)}
        assert reader.get_meta("cycle") == "3"


# --- readers ---------------------------------------------------------------------------------------


def test_reader_sees_commits_while_the_writer_stays_open(journal: Journal, reader: Journal) -> None:
    journal.record_intent(stock_order("gf-a"))
    assert [o.client_order_id for o in reader.orders()] == ["gf-a"]
    # a reader holding a read transaction does not block the writer (WAL)
    conn = reader._db
    conn.execute("BEGIN")
    conn.execute("SELECT COUNT(*) FROM orders").fetchone()
    journal.record_intent(stock_order("gf-b", created_ns=T0 + 1))
    assert conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 1  # its snapshot
    conn.execute("COMMIT")
    assert [o.client_order_id for o in reader.orders()] == ["gf-a", "gf-b"]


def test_readonly_refuses_writes(journal: Journal, reader: Journal) -> None:
    with pytest.raises(StateError, match=r"read-only, record_intent\(\) is refused"):
        reader.record_intent(stock_order())
    with pytest.raises(StateError, match="read-only"):
        reader.record_fills([fill("f-1")])
    with pytest.raises(StateError, match="read-only"):
        reader.set_meta("k", 1)
    with pytest.raises(sqlite3.OperationalError):
        reader._db.execute("DELETE FROM orders")  # the connection itself is read-only


def test_open_readonly_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    with pytest.raises(FileNotFoundError, match=r"none\.db"):
        Journal.open_readonly(missing)
    assert not missing.exists()


def test_open_readonly_not_a_journal(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (a)")
    conn.commit()
    conn.close()
    with pytest.raises(StateError, match="not a greekfire journal"):
        Journal.open_readonly(other)


def test_integrity_check_ok(journal: Journal, reader: Journal) -> None:
    journal.record_intent(stock_order())
    journal.record_fills([fill("f-1")])
    journal.flush()
    assert journal.integrity_check() == "ok"
    assert reader.integrity_check() == "ok"
