"""The journal's schema: ordered migrations and the version table.

A journal file records the migrations applied to it in ``schema_version`` (one row per
version). Opening a file applies every migration newer than its version, each in its own
``BEGIN IMMEDIATE`` transaction together with its ``schema_version`` row, so a crash during a
migration leaves the file at the previous version, never half migrated. A file whose version is
newer than :data:`SCHEMA_VERSION` is refused: this code does not know its tables.

Versions
--------
1. orders (write-ahead intents and their life cycle), fills (idempotent on ``fill_id``),
   broker events, notes, meta.
2. positions snapshots (a header per snapshot, so an empty portfolio is a snapshot too),
   account snapshots, cycle timings, the ``opening`` flag of orders, read indexes.
3. runs (the settings each engine start ran with) and the market tape (each cycle's market
   data as the engine received it, Arrow IPC blobs), so ``greekfire parity`` can replay a run.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from greekfire.errors import StateError

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Migration",
    "check_version",
    "current_version",
    "migrate",
]


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: ``statements`` run in order inside one transaction.

    Attributes
    ----------
    version : int
        The version the file has once this step is applied (1, 2, ... without gaps).
    description : str
    statements : tuple of str
        SQL statements (no parameters, no transaction control).
    """

    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        1,
        "orders, fills, events, notes, meta",
        (
            """CREATE TABLE orders (
                client_order_id TEXT PRIMARY KEY,
                broker_order_id TEXT,
                strategy TEXT NOT NULL,
                legs TEXT NOT NULL,
                qty REAL NOT NULL,
                order_type TEXT NOT NULL,
                limit_price REAL,
                tif TEXT NOT NULL,
                status TEXT NOT NULL,
                filled_qty REAL NOT NULL DEFAULT 0,
                avg_fill_price REAL,
                reason TEXT NOT NULL DEFAULT '',
                intent_reason TEXT NOT NULL DEFAULT '',
                created_ns INTEGER NOT NULL,
                updated_ns INTEGER NOT NULL
            )""",
            "CREATE INDEX orders_status ON orders (status)",
            """CREATE TABLE fills (
                fill_id TEXT PRIMARY KEY,
                client_order_id TEXT NOT NULL,
                symbol TEXT NOT NULL,
                side TEXT NOT NULL,
                qty REAL NOT NULL,
                price REAL NOT NULL,
                fee_usd REAL NOT NULL,
                ts_ns INTEGER NOT NULL
            )""",
            "CREATE INDEX fills_order ON fills (client_order_id)",
            """CREATE TABLE events (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                seq INTEGER NOT NULL,
                kind TEXT NOT NULL,
                ts_ns INTEGER NOT NULL,
                symbol TEXT NOT NULL DEFAULT '',
                client_order_id TEXT,
                detail TEXT NOT NULL DEFAULT '',
                payload TEXT NOT NULL
            )""",
            """CREATE TABLE notes (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                kind TEXT NOT NULL,
                ts_ns INTEGER NOT NULL,
                payload TEXT NOT NULL
            )""",
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        ),
    ),
    Migration(
        2,
        "positions and account snapshots, cycles, orders.opening",
        (
            "ALTER TABLE orders ADD COLUMN opening INTEGER NOT NULL DEFAULT 1",
            """CREATE TABLE position_snapshots (
                snapshot_id INTEGER PRIMARY KEY,
                ts_ns INTEGER NOT NULL,
                n_positions INTEGER NOT NULL
            )""",
            "CREATE INDEX position_snapshots_ts ON position_snapshots (ts_ns)",
            """CREATE TABLE snapshot_positions (
                snapshot_id INTEGER NOT NULL
                    REFERENCES position_snapshots (snapshot_id) ON DELETE CASCADE,
                symbol TEXT NOT NULL,
                qty REAL NOT NULL,
                avg_cost REAL NOT NULL,
                realized_pnl_usd REAL NOT NULL,
                fees_usd REAL NOT NULL,
                mark REAL,
                PRIMARY KEY (snapshot_id, symbol)
            )""",
            """CREATE TABLE account_snapshots (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                ts_ns INTEGER NOT NULL,
                cash_usd REAL NOT NULL,
                equity_usd REAL NOT NULL,
                buying_power_usd REAL NOT NULL,
                long_market_value_usd REAL NOT NULL,
                short_market_value_usd REAL NOT NULL,
                last_equity_usd REAL
            )""",
            "CREATE INDEX account_snapshots_ts ON account_snapshots (ts_ns)",
            """CREATE TABLE cycles (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                cycle INTEGER NOT NULL,
                ts_ns INTEGER NOT NULL,
                timings TEXT NOT NULL,
                counts TEXT NOT NULL
            )""",
            "CREATE INDEX fills_ts ON fills (ts_ns)",
            "CREATE INDEX events_seq ON events (seq)",
            "CREATE INDEX notes_kind ON notes (kind, ts_ns)",
        ),
    ),
    Migration(
        3,
        "runs, market tape",
        (
            """CREATE TABLE runs (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                started_ns INTEGER NOT NULL,
                settings TEXT NOT NULL
            )""",
            """CREATE TABLE market_tape (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                ts_ns INTEGER NOT NULL,
                kind TEXT NOT NULL,
                key TEXT NOT NULL,
                payload BLOB NOT NULL
            )""",
            "CREATE INDEX market_tape_ts ON market_tape (ts_ns, kind)",
        ),
    ),
)
"""Every migration, oldest first."""

SCHEMA_VERSION: Final[int] = MIGRATIONS[-1].version
"""The version this code writes and reads."""

_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_ns INTEGER NOT NULL
)"""


def _rollback(conn: sqlite3.Connection) -> None:
    # SQLite may already have rolled back (an interrupt, a full disk)
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def current_version(conn: sqlite3.Connection) -> int:
    """The file's schema version: the highest ``schema_version`` row, 0 when there is none."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if exists is None:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return 0 if row is None or row[0] is None else int(row[0])


def check_version(version: int, path: str, latest: int = SCHEMA_VERSION) -> None:
    """Raise :class:`StateError` when ``version`` is newer than ``latest``."""
    if version > latest:
        raise StateError(
            f"journal {path}: schema version {version} is newer than this greekfire's"
            f" schema version {latest}; upgrade greekfire or use another journal file"
        )


def migrate(
    conn: sqlite3.Connection,
    *,
    path: str,
    now_ns: int,
    migrations: Sequence[Migration] = MIGRATIONS,
) -> int:
    """Bring the file to the newest version in ``migrations``; return that version.

    ``conn`` must be in autocommit mode (``isolation_level=None``): each migration runs in its
    own ``BEGIN IMMEDIATE`` transaction with its ``schema_version`` row.

    Raises
    ------
    StateError
        The file is newer than the code, or a migration failed (the file keeps the version it
        had before that migration).
    """
    latest = migrations[-1].version if migrations else 0
    conn.execute(_VERSION_TABLE)
    check_version(current_version(conn), path, latest)
    for step in migrations:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # re-read under the write lock: another process may have migrated meanwhile
            version = current_version(conn)
            check_version(version, path, latest)
            if version >= step.version:
                conn.execute("COMMIT")
                continue
            for statement in step.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, description, applied_ns) VALUES (?, ?, ?)",
                (step.version, step.description, now_ns),
            )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback(conn)
            raise StateError(
                f"journal {path}: migration to schema version {step.version}"
                f" ({step.description}) failed: {exc}"
            ) from exc
        except BaseException:
            _rollback(conn)
            raise
    return current_version(conn)
