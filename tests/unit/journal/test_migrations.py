"""Schema versions and migrations: a fresh file, a hand-built version-1 file migrated with its
data kept, a newer file refused naming both versions, a failing migration rolled back whole."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

from greekfire.domain.orders import OrderStatus, Side
from greekfire.domain.portfolio import Position
from greekfire.errors import StateError
from greekfire.journal.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Migration,
    current_version,
    migrate,
)
from greekfire.journal.sqlite import Journal

T0 = 1_700_000_000_000_000_000


class FixedClock:
    def __init__(self, t: int = T0) -> None:
        self.t = t

    def now_ns(self) -> int:
        return self.t


# The version-1 schema as greekfire 1 wrote it: written out here, not imported, so the test
# keeps checking the upgrade of real old files even if schema.py is edited.
V1_SCHEMA = """
CREATE TABLE schema_version (
    version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_ns INTEGER NOT NULL);
CREATE TABLE orders (
    client_order_id TEXT PRIMARY KEY, broker_order_id TEXT, strategy TEXT NOT NULL,
    legs TEXT NOT NULL, qty REAL NOT NULL, order_type TEXT NOT NULL, limit_price REAL,
    tif TEXT NOT NULL, status TEXT NOT NULL, filled_qty REAL NOT NULL DEFAULT 0,
    avg_fill_price REAL, reason TEXT NOT NULL DEFAULT '', intent_reason TEXT NOT NULL DEFAULT '',
    created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL);
CREATE INDEX orders_status ON orders (status);
CREATE TABLE fills (
    fill_id TEXT PRIMARY KEY, client_order_id TEXT NOT NULL, symbol TEXT NOT NULL,
    side TEXT NOT NULL, qty REAL NOT NULL, price REAL NOT NULL, fee_usd REAL NOT NULL,
    ts_ns INTEGER NOT NULL);
CREATE INDEX fills_order ON fills (client_order_id);
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, seq INTEGER NOT NULL, kind TEXT NOT NULL,
    ts_ns INTEGER NOT NULL, symbol TEXT NOT NULL DEFAULT '', client_order_id TEXT,
    detail TEXT NOT NULL DEFAULT '', payload TEXT NOT NULL);
CREATE TABLE notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, ts_ns INTEGER NOT NULL,
    payload TEXT NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO schema_version VALUES (1, 'orders, fills, events, notes, meta', 1);
INSERT INTO orders VALUES ('gf-old', 'b-1', 'wheel',
    '[{"effect":"open","ratio":1,"side":"sell","symbol":"SPY240621P00440000"}]', 1, 'limit',
    1.25, 'gtc', 'filled', 1, 1.27, '', 'csp 0.30 delta', 10, 20);
INSERT INTO fills VALUES ('f-old', 'gf-old', 'SPY240621P00440000', 'sell', 1, 1.27, 0.65, 20);
INSERT INTO events (seq, kind, ts_ns, symbol, client_order_id, payload)
    VALUES (7, 'order_filled', 20, 'SPY240621P00440000', 'gf-old', '{"fills":[],"order":null}');
INSERT INTO notes (kind, ts_ns, payload) VALUES ('decision', 5, '{"why":"wheel"}');
INSERT INTO meta VALUES ('last_event_seq', '7');
"""


def build_v1(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.executescript(V1_SCHEMA)
        conn.commit()
    finally:
        conn.close()


def versions(path: Path) -> list[tuple[int, int]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT version, applied_ns FROM schema_version ORDER BY 1").fetchall()
    finally:
        conn.close()


def tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        return {r[0] for r in rows}
    finally:
        conn.close()


def test_migrations_are_numbered_without_gaps() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert SCHEMA_VERSION == MIGRATIONS[-1].version >= 2
    assert all(m.description and m.statements for m in MIGRATIONS)


def test_fresh_file_gets_every_migration_once(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    Journal(path, clock=FixedClock(T0)).close()
    assert versions(path) == [(m.version, T0) for m in MIGRATIONS]
    assert {
        "orders",
        "fills",
        "events",
        "notes",
        "meta",
        "position_snapshots",
        "snapshot_positions",
        "account_snapshots",
        "cycles",
    } <= tables(path)
    Journal(path, clock=FixedClock(T0 + 1)).close()  # reopening applies nothing
    assert versions(path) == [(m.version, T0) for m in MIGRATIONS]


def test_version_1_file_is_migrated_with_its_data(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    build_v1(path)
    with Journal(path, clock=FixedClock(T0)) as journal:
        assert journal.schema_version == SCHEMA_VERSION
        order = journal.order("gf-old")
        assert order is not None
        assert order.status is OrderStatus.FILLED
        assert order.intent.opening is True  # the column version 2 added, defaulted
        assert order.intent.limit_price == 1.25
        assert order.avg_fill_price == 1.27
        assert order.intent.legs[0].side is Side.SELL
        assert [f.fill_id for f in journal.fills()] == ["f-old"]
        assert [e["seq"] for e in journal.events()] == [7]
        assert [n["payload"] for n in journal.notes()] == [{"why": "wheel"}]
        assert journal.get_meta("last_event_seq") == "7"
        # version-2 tables work
        journal.snapshot_positions(T0, {"SPY": Position("SPY", 100, 440.0)}, {})
        journal.record_cycle(1, T0, {"total": 0.01}, {"orders": 0})
        assert journal.latest_positions() == {"SPY": Position("SPY", 100, 440.0)}
        assert journal.integrity_check() == "ok"
    assert versions(path) == [(1, 1)] + [(m.version, T0) for m in MIGRATIONS[1:]]


def test_newer_file_is_refused_naming_both_versions(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    Journal(path, clock=FixedClock()).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_version VALUES (99, 'from the future', 0)")
    conn.commit()
    conn.close()
    want = rf"schema version 99 is newer than this greekfire's schema version {SCHEMA_VERSION}"
    with pytest.raises(StateError, match=want):
        Journal(path, clock=FixedClock())
    with pytest.raises(StateError, match=want):
        Journal.open_readonly(path)
    assert max(v for v, _ in versions(path)) == 99  # untouched


def test_readonly_open_of_an_old_file_asks_for_a_migration(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    build_v1(path)
    with pytest.raises(StateError, match=r"schema version 1 is older.*read-write once"):
        Journal.open_readonly(path)


def test_failing_migration_rolls_back_whole(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    Journal(path, clock=FixedClock()).close()
    bad = Migration(
        SCHEMA_VERSION + 1,
        "half good",
        ("CREATE TABLE extra (a INTEGER)", "ALTER TABLE orders ADD COLUMN strategy TEXT"),
    )
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        with pytest.raises(StateError, match=rf"migration to schema version {bad.version}"):
            migrate(conn, path=str(path), now_ns=T0, migrations=(*MIGRATIONS, bad))
        assert current_version(conn) == SCHEMA_VERSION
        assert not conn.in_transaction
    finally:
        conn.close()
    assert "extra" not in tables(path)  # the first statement was rolled back too


def test_interrupted_migration_leaves_the_old_version_then_completes(tmp_path: Path) -> None:
    # SQLite aborts the migration part-way (a progress handler asking to interrupt): the file
    # stays at version 1 with nothing of version 2, and the next open migrates it
    path = tmp_path / "v1.db"
    build_v1(path)
    seen: list[str] = []
    fired: list[bool] = []

    def interrupt_once_armed() -> int:
        # armed once version 2 has altered orders and created a table: interrupt once, mid-way
        if fired or not any("CREATE TABLE position_snapshots" in s for s in seen):
            return 0
        fired.append(True)
        return 1

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.set_trace_callback(seen.append)
        conn.set_progress_handler(interrupt_once_armed, 1)
        with pytest.raises(StateError, match=r"migration to schema version 2 .*interrupted"):
            migrate(conn, path=str(path), now_ns=T0)
        conn.set_progress_handler(None, 1)
        conn.set_trace_callback(None)
        assert current_version(conn) == 1
    finally:
        conn.close()
    assert fired
    assert any("ALTER TABLE orders ADD COLUMN opening" in s for s in seen)
    assert "cycles" not in tables(path)
    assert "position_snapshots" not in tables(path)
    with Journal(path, clock=FixedClock()) as journal:
        assert journal.schema_version == SCHEMA_VERSION
        order = journal.order("gf-old")
        assert order is not None
        assert math.isclose(order.filled_qty, 1.0)
