"""The SQLite journal: write-ahead order intents, batched records, domain values back.

Durability
    The file runs in WAL mode with ``synchronous=FULL``: once :meth:`Journal.record_intent` or
    :meth:`Journal.update_order` returns, the row is in the WAL and fsynced, so it survives a
    SIGKILL of the process and a power cut. That is the write-ahead rule the engine relies on:
    the intent is durable *before* the order is sent, and restart recovery resolves it by
    asking the broker (:mod:`greekfire.journal.recovery`), never by sending it again.
Batching
    Fills, events, notes, snapshots, cycles and meta values are buffered and written together,
    one ``executemany`` per table inside one transaction, when ``batch_size`` rows are
    buffered, on :meth:`Journal.flush` and on :meth:`Journal.close`. Until then other
    connections do not see them; the journal's own read methods flush first, so a writer
    always reads what it wrote. A meta value (``last_event_seq``) is committed in the same
    transaction as the events buffered before it, so it never runs ahead of them.
Concurrency
    One writer per file (the engine); any number of readers, e.g. ``greekfire status`` through
    :meth:`Journal.open_readonly`, which see every committed row while the writer runs.
    Methods of one :class:`Journal` may be called from several threads (a lock serialises them).
Files
    A new journal file is created with mode 0600; SQLite gives its ``-wal`` and ``-shm`` files
    the same mode.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
from collections.abc import Generator, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from greekfire.domain.clock import Clock
from greekfire.domain.orders import TERMINAL_STATUSES, BrokerEvent, Fill, Order, OrderStatus
from greekfire.domain.portfolio import Account, Position
from greekfire.errors import StateError
from greekfire.journal import codec
from greekfire.journal.schema import SCHEMA_VERSION, check_version, current_version, migrate

__all__ = ["FAULT_FLUSH_ENV", "TAPE_KINDS", "Journal", "PositionSnapshot"]

FAULT_FLUSH_ENV: Final = "GREEKFIRE_FAULT_KILL_IN_FLUSH"
"""Fault injection for crash tests: when this variable is a whole number ``N >= 1``, the process
kills itself with SIGKILL inside its ``N``-th batched write (:meth:`Journal.flush`), after the
rows are written and before ``COMMIT``: a crash mid-journal-write. Unset (or not a number): off."""

_BUSY_TIMEOUT_MS: Final = 10_000
_ALL: Final = -1  # SQLite's LIMIT for "no limit"
_TERMINAL: Final = tuple(sorted(s.value for s in TERMINAL_STATUSES))

_ORDER_INSERT: Final = (
    f"INSERT INTO orders ({', '.join(codec.ORDER_COLUMNS)})"
    f" VALUES ({', '.join(':' + c for c in codec.ORDER_COLUMNS)})"
)
_ORDER_UPSERT: Final = (
    _ORDER_INSERT
    + " ON CONFLICT (client_order_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in codec.ORDER_COLUMNS[1:])
)
_FILL_INSERT: Final = (
    "INSERT OR IGNORE INTO fills (fill_id, client_order_id, symbol, side, qty, price, fee_usd,"
    " ts_ns) VALUES (:fill_id, :client_order_id, :symbol, :side, :qty, :price, :fee_usd, :ts_ns)"
)
_EVENT_INSERT: Final = (
    "INSERT INTO events (seq, kind, ts_ns, symbol, client_order_id, detail, payload)"
    " VALUES (:seq, :kind, :ts_ns, :symbol, :client_order_id, :detail, :payload)"
)
_NOTE_INSERT: Final = "INSERT INTO notes (kind, ts_ns, payload) VALUES (?, ?, ?)"
_SNAPSHOT_INSERT: Final = (
    "INSERT INTO position_snapshots (snapshot_id, ts_ns, n_positions) VALUES (?, ?, ?)"
)
_SNAPSHOT_ROW_INSERT: Final = (
    "INSERT INTO snapshot_positions (snapshot_id, symbol, qty, avg_cost, realized_pnl_usd,"
    " fees_usd, mark) VALUES (:snapshot_id, :symbol, :qty, :avg_cost, :realized_pnl_usd,"
    " :fees_usd, :mark)"
)
_ACCOUNT_INSERT: Final = (
    "INSERT INTO account_snapshots (ts_ns, cash_usd, equity_usd, buying_power_usd,"
    " long_market_value_usd, short_market_value_usd, last_equity_usd) VALUES (:ts_ns, :cash_usd,"
    " :equity_usd, :buying_power_usd, :long_market_value_usd, :short_market_value_usd,"
    " :last_equity_usd)"
)
_CYCLE_INSERT: Final = "INSERT INTO cycles (cycle, ts_ns, timings, counts) VALUES (?, ?, ?, ?)"
_RUN_INSERT: Final = "INSERT INTO runs (started_ns, settings) VALUES (?, ?)"
_TAPE_INSERT: Final = "INSERT INTO market_tape (ts_ns, kind, key, payload) VALUES (?, ?, ?, ?)"
_META_UPSERT: Final = (
    "INSERT INTO meta (key, value) VALUES (?, ?)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
# buffers are flushed in this order: a snapshot header before its rows (foreign key)
_BUFFERS: Final = (
    ("fills", _FILL_INSERT),
    ("events", _EVENT_INSERT),
    ("notes", _NOTE_INSERT),
    ("snapshots", _SNAPSHOT_INSERT),
    ("snapshot_rows", _SNAPSHOT_ROW_INSERT),
    ("accounts", _ACCOUNT_INSERT),
    ("cycles", _CYCLE_INSERT),
    ("runs", _RUN_INSERT),
    ("tape", _TAPE_INSERT),
    ("meta", _META_UPSERT),
)
TAPE_KINDS: Final = ("quotes", "bars", "chain")
"""What the market tape holds: a cycle's quotes, the bars it received, an underlying's chain."""


class _NoClock:
    def now_ns(self) -> int:
        return 0


@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    """A positions snapshot as recorded: when, the positions and the marks used."""

    ts_ns: int
    positions: dict[str, Position]
    marks: dict[str, float]


def _create_private(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)
    os.chmod(path, 0o600)  # whatever the umask


class Journal:
    """The trading journal in one SQLite file.

    Parameters
    ----------
    path : str or os.PathLike
        The database file; created (mode 0600, parent folders too) and migrated when needed.
    batch_size : int, default 256
        Buffered rows that trigger a batched write.
    clock : Clock
        Timestamps of notes and migrations.

    Raises
    ------
    StateError
        The file's schema is newer than this code's, or a migration failed.
    ValueError
        ``batch_size`` < 1, or ``path`` is not a file path (``":memory:"``, a URI).
    """

    def __init__(
        self, path: str | os.PathLike[str], *, batch_size: int = 256, clock: Clock
    ) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected a whole number >= 1, got {batch_size!r}")
        if str(path) in ("", ":memory:") or str(path).startswith("file:"):
            raise ValueError(f"path: the journal needs a file path (WAL mode), got {str(path)!r}")
        self._setup(Path(path), batch_size, clock, readonly=False)

    @classmethod
    def open_readonly(cls, path: str | os.PathLike[str]) -> Journal:
        """Open an existing journal read-only (``mode=ro``), e.g. for ``greekfire status``.

        Every write method raises :class:`StateError`. Readers see what the writer committed.

        Raises
        ------
        FileNotFoundError
            ``path`` does not exist.
        StateError
            Not a greekfire journal, or its schema version differs from this code's.
        """
        file = Path(path)
        if not file.is_file():
            raise FileNotFoundError(f"path: no journal at {str(file)!r}")
        journal = cls.__new__(cls)
        journal._setup(file, 1, _NoClock(), readonly=True)
        return journal

    def _setup(self, path: Path, batch_size: int, clock: Clock, *, readonly: bool) -> None:
        self.path = path
        self.readonly = readonly
        self._batch_size = batch_size
        self._clock = clock
        self._lock = threading.RLock()
        self._buffers: dict[str, list[Any]] = {name: [] for name, _ in _BUFFERS}
        self._pending_meta: dict[str, str] = {}
        self._buffered = 0
        self._stats = {"batches": 0, "rows": 0, "executemany": 0, "intents": 0, "updates": 0}
        if readonly:
            uri = f"{path.resolve().as_uri()}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        else:
            _create_private(path)
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn: sqlite3.Connection | None = conn
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            if readonly:
                conn.execute("PRAGMA query_only = ON")
                self._check_readonly_schema(conn)
            else:
                self._configure_writer(conn)
                self.schema_version = migrate(conn, path=str(path), now_ns=clock.now_ns())
                row = conn.execute("SELECT MAX(snapshot_id) FROM position_snapshots").fetchone()
                self._next_snapshot_id = 1 if row[0] is None else int(row[0]) + 1
        except BaseException:
            conn.close()
            self._conn = None
            raise

    @staticmethod
    def _configure_writer(conn: sqlite3.Connection) -> None:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StateError(f"journal_mode: expected 'wal', SQLite kept {mode!r}")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")

    def _check_readonly_schema(self, conn: sqlite3.Connection) -> None:
        version = current_version(conn)
        if version == 0:
            raise StateError(f"journal {self.path}: not a greekfire journal (no schema_version)")
        check_version(version, str(self.path))
        if version < SCHEMA_VERSION:
            raise StateError(
                f"journal {self.path}: schema version {version} is older than this greekfire's"
                f" schema version {SCHEMA_VERSION}; open it read-write once to migrate it"
            )
        self.schema_version = version

    # ------------------------------------------------------------------ plumbing

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StateError(f"journal {self.path}: used after close()")
        return self._conn

    def _writable(self, operation: str) -> sqlite3.Connection:
        if self.readonly:
            raise StateError(f"journal {self.path}: opened read-only, {operation}() is refused")
        return self._db

    @contextmanager
    def _transaction(self, conn: sqlite3.Connection) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:  # SQLite may have rolled back already (interrupt, I/O)
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _buffer(self, name: str, rows: list[Any]) -> None:
        self._buffers[name].extend(rows)
        self._buffered += len(rows)
        if self._buffered >= self._batch_size:
            self.flush()

    # ------------------------------------------------------------------ writes

    def record_intent(self, order: Order) -> None:
        """Insert a new order in ``PENDING_NEW``, committed and fsynced before returning.

        Call it before sending the order; nothing else (buffered rows) is written with it.

        Raises
        ------
        ValueError
            ``order.status`` is not ``PENDING_NEW``.
        StateError
            ``order.client_order_id`` is already journaled, or the journal is read-only.
        """
        if order.status is not OrderStatus.PENDING_NEW:
            raise ValueError(
                f"order.status: an intent is recorded as 'pending_new', got {order.status.value!r}"
            )
        with self._lock:
            conn = self._writable("record_intent")
            try:
                with self._transaction(conn):
                    conn.execute(_ORDER_INSERT, codec.order_to_dict(order, legs_as_json=True))
            except sqlite3.IntegrityError as exc:
                raise StateError(
                    f"client_order_id: {order.client_order_id!r} is already in the journal"
                ) from exc
            self._stats["intents"] += 1

    def update_order(self, order: Order) -> None:
        """Write ``order``'s current state at once (insert it when the journal lacks it, e.g.
        an order adopted from the broker)."""
        with self._lock:
            conn = self._writable("update_order")
            with self._transaction(conn):
                conn.execute(_ORDER_UPSERT, codec.order_to_dict(order, legs_as_json=True))
            self._stats["updates"] += 1

    def record_fills(self, fills: Iterable[Fill]) -> None:
        """Buffer fills; a ``fill_id`` already journaled is ignored (idempotent)."""
        rows = [codec.fill_to_dict(f) for f in fills]
        with self._lock:
            self._writable("record_fills")
            self._buffer("fills", rows)

    def record_event(self, event: BrokerEvent) -> None:
        """Buffer a broker event, and its fills (idempotent, as :meth:`record_fills`)."""
        with self._lock:
            self._writable("record_event")
            self._buffers["fills"].extend(codec.fill_to_dict(f) for f in event.fills)
            self._buffered += len(event.fills)
            self._buffer("events", [codec.event_to_dict(event)])

    def record_note(self, kind: str, payload: Mapping[str, object]) -> None:
        """Buffer a note (a decision, a risk denial, a dry-run order, a reconciliation report,
        a strategy failure...), stamped with the clock; ``payload`` is stored as JSON."""
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"kind: expected a non-empty string, got {kind!r}")
        row = (kind, self._clock.now_ns(), codec.dumps(dict(payload)))
        with self._lock:
            self._writable("record_note")
            self._buffer("notes", [row])

    def snapshot_positions(
        self, ts_ns: int, positions: Mapping[str, Position], marks: Mapping[str, float]
    ) -> None:
        """Buffer a snapshot of every position (an empty mapping is a flat-book snapshot) with
        the mark of each symbol (missing marks are stored as unknown)."""
        with self._lock:
            self._writable("snapshot_positions")
            snapshot_id = self._next_snapshot_id
            self._next_snapshot_id += 1
            rows = []
            for pos in positions.values():
                row = codec.position_to_dict(pos, marks.get(pos.symbol))
                row["snapshot_id"] = snapshot_id
                rows.append(row)
            self._buffers["snapshots"].append((snapshot_id, int(ts_ns), len(rows)))
            self._buffered += 1
            self._buffer("snapshot_rows", rows)

    def snapshot_account(self, account: Account) -> None:
        """Buffer a snapshot of the account's balances (stamped with ``account.ts_ns``)."""
        with self._lock:
            self._writable("snapshot_account")
            self._buffer("accounts", [codec.account_to_dict(account)])

    def record_cycle(
        self,
        cycle: int,
        ts_ns: int,
        timings_s: Mapping[str, float],
        counts: Mapping[str, int],
    ) -> None:
        """Buffer one trading cycle's phase timings (seconds) and counts."""
        row = (int(cycle), int(ts_ns), codec.dumps(dict(timings_s)), codec.dumps(dict(counts)))
        with self._lock:
            self._writable("record_cycle")
            self._buffer("cycles", [row])

    def record_run(self, started_ns: int, settings_json: str) -> None:
        """Buffer the start of an engine run and the settings it runs with (JSON, no secrets)."""
        with self._lock:
            self._writable("record_run")
            self._buffer("runs", [(int(started_ns), str(settings_json))])

    def record_tape(self, ts_ns: int, kind: str, key: str, payload: bytes) -> None:
        """Buffer one piece of a cycle's market data (see :data:`TAPE_KINDS`).

        ``payload`` is opaque here (the engine writes Arrow IPC streams); ``key`` is the
        underlying of a chain, empty otherwise.
        """
        if kind not in TAPE_KINDS:
            raise ValueError(f"kind: expected one of {TAPE_KINDS}, got {kind!r}")
        with self._lock:
            self._writable("record_tape")
            self._buffer("tape", [(int(ts_ns), kind, str(key), bytes(payload))])

    def set_meta(self, key: str, value: str | int | float) -> None:
        """Buffer ``key = str(value)``; it is committed with the rows buffered before it.

        Floats are stored with ``repr`` (exact); read them back with ``float(get_meta(key))``.
        """
        if not isinstance(key, str) or not key:
            raise ValueError(f"key: expected a non-empty string, got {key!r}")
        text = repr(value) if isinstance(value, float) else str(value)
        with self._lock:
            self._writable("set_meta")
            self._pending_meta[key] = text
            self._buffered += 1
            if self._buffered >= self._batch_size:
                self.flush()

    def flush(self) -> None:
        """Write every buffered row: one ``executemany`` per table, one transaction.

        On failure nothing is written and the rows stay buffered.
        """
        with self._lock:
            if self._buffered == 0 or self.readonly:
                return
            conn = self._db
            self._buffers["meta"] = list(self._pending_meta.items())
            with self._transaction(conn):
                for name, sql in _BUFFERS:
                    rows = self._buffers[name]
                    if rows:
                        conn.executemany(sql, rows)
                        self._stats["executemany"] += 1
                if os.environ.get(FAULT_FLUSH_ENV) == str(self._stats["batches"] + 1):
                    os.kill(os.getpid(), signal.SIGKILL)
            self._stats["batches"] += 1
            self._stats["rows"] += self._buffered
            for rows in self._buffers.values():
                rows.clear()
            self._pending_meta.clear()
            self._buffered = 0

    def close(self) -> None:
        """Flush and close; a second call does nothing."""
        with self._lock:
            if self._conn is None:
                return
            try:
                self.flush()
            finally:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ reads

    def _query(self, sql: str, params: Iterable[object] = ()) -> list[sqlite3.Row]:
        with self._lock:
            self.flush()
            return list(self._db.execute(sql, tuple(params)).fetchall())

    def get_meta(self, key: str) -> str | None:
        """The value last set for ``key`` (buffered or committed), ``None`` when never set."""
        with self._lock:
            if key in self._pending_meta:
                return self._pending_meta[key]
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def order(self, client_order_id: str) -> Order | None:
        """The journaled order with this client id, ``None`` when unknown."""
        rows = self._query("SELECT * FROM orders WHERE client_order_id = ?", (client_order_id,))
        return codec.order_from_mapping(rows[0]) if rows else None

    def orders(self, open_only: bool = False, limit: int | None = None) -> list[Order]:
        """Journaled orders, oldest first (the latest ``limit`` when given); ``open_only``
        keeps those that may still fill (``PENDING_NEW`` intents included)."""
        where = f"WHERE status NOT IN ({', '.join('?' * len(_TERMINAL))})" if open_only else ""
        params: list[object] = list(_TERMINAL) if open_only else []
        sql = (
            f"SELECT * FROM (SELECT rowid AS rid, * FROM orders {where}"
            " ORDER BY created_ns DESC, rid DESC LIMIT ?) ORDER BY created_ns, rid"
        )
        rows = self._query(sql, [*params, _limit(limit)])
        return [codec.order_from_mapping(r) for r in rows]

    def pending_intents(self) -> list[Order]:
        """Orders still ``PENDING_NEW``: written, never acknowledged; oldest first."""
        rows = self._query(
            "SELECT * FROM orders WHERE status = ? ORDER BY created_ns, rowid",
            (OrderStatus.PENDING_NEW.value,),
        )
        return [codec.order_from_mapping(r) for r in rows]

    def fills(self, limit: int | None = None, *, since_ns: int | None = None) -> list[Fill]:
        """Fills in the order they were journaled (the latest ``limit`` when given); only those
        stamped after ``since_ns`` when given."""
        where = "" if since_ns is None else "WHERE ts_ns > ?"
        params: list[object] = [] if since_ns is None else [int(since_ns)]
        sql = (
            f"SELECT * FROM (SELECT rowid AS rid, * FROM fills {where} ORDER BY rid DESC"
            " LIMIT ?) ORDER BY rid"
        )
        return [codec.fill_from_mapping(r) for r in self._query(sql, [*params, _limit(limit)])]

    def events(self, limit: int | None = None) -> list[dict[str, object]]:
        """Broker events as dicts (``id, seq, kind, ts_ns, symbol, client_order_id, detail,
        payload``; ``payload`` decoded), oldest first; rebuild a
        :class:`~greekfire.domain.orders.BrokerEvent` with
        :func:`greekfire.journal.codec.event_from_mapping`."""
        sql = "SELECT * FROM (SELECT * FROM events ORDER BY id DESC LIMIT ?) ORDER BY id"
        out: list[dict[str, object]] = []
        for row in self._query(sql, [_limit(limit)]):
            item = dict(zip(row.keys(), tuple(row), strict=True))
            item["payload"] = codec.loads(str(item["payload"]))
            out.append(item)
        return out

    def notes(self, kind: str | None = None, limit: int | None = None) -> list[dict[str, object]]:
        """Notes as dicts (``id, kind, ts_ns, payload`` decoded), oldest first."""
        where = "" if kind is None else "WHERE kind = ?"
        params: list[object] = [] if kind is None else [kind]
        sql = f"SELECT * FROM (SELECT * FROM notes {where} ORDER BY id DESC LIMIT ?) ORDER BY id"
        return [
            {
                "id": r["id"],
                "kind": r["kind"],
                "ts_ns": r["ts_ns"],
                "payload": codec.loads(r["payload"]),
            }
            for r in self._query(sql, [*params, _limit(limit)])
        ]

    def latest_snapshot(self) -> PositionSnapshot | None:
        """The most recent positions snapshot (latest ``ts_ns``), ``None`` before the first."""
        head = self._query(
            "SELECT snapshot_id, ts_ns FROM position_snapshots"
            " ORDER BY ts_ns DESC, snapshot_id DESC LIMIT 1"
        )
        if not head:
            return None
        rows = self._query(
            "SELECT * FROM snapshot_positions WHERE snapshot_id = ? ORDER BY symbol",
            (head[0]["snapshot_id"],),
        )
        positions = {r["symbol"]: codec.position_from_mapping(r) for r in rows}
        marks = {r["symbol"]: float(r["mark"]) for r in rows if r["mark"] is not None}
        return PositionSnapshot(int(head[0]["ts_ns"]), positions, marks)

    def latest_positions(self) -> dict[str, Position]:
        """Positions of the most recent snapshot (empty before the first)."""
        snapshot = self.latest_snapshot()
        return {} if snapshot is None else snapshot.positions

    def latest_account(self) -> Account | None:
        """The most recent account snapshot, ``None`` before the first."""
        rows = self._query("SELECT * FROM account_snapshots ORDER BY ts_ns DESC, id DESC LIMIT 1")
        return codec.account_from_mapping(rows[0]) if rows else None

    def cycles(self, limit: int | None = None) -> list[dict[str, object]]:
        """Cycle records (``cycle, ts_ns, timings_s, counts``), oldest first."""
        sql = "SELECT * FROM (SELECT * FROM cycles ORDER BY id DESC LIMIT ?) ORDER BY id"
        return [
            {
                "cycle": int(r["cycle"]),
                "ts_ns": int(r["ts_ns"]),
                "timings_s": codec.loads(r["timings"]),
                "counts": codec.loads(r["counts"]),
            }
            for r in self._query(sql, [_limit(limit)])
        ]

    def runs(self) -> list[dict[str, object]]:
        """Engine starts (``started_ns``, ``settings`` JSON text), oldest first."""
        rows = self._query("SELECT started_ns, settings FROM runs ORDER BY id")
        return [{"started_ns": int(r["started_ns"]), "settings": str(r["settings"])} for r in rows]

    def tape(
        self, *, start_ns: int | None = None, end_ns: int | None = None
    ) -> Generator[tuple[int, str, str, bytes], None, None]:
        """The market tape, ``(ts_ns, kind, key, payload)`` in recording order, optionally only
        ``start_ns <= ts_ns <= end_ns``; rows are streamed, not loaded at once."""
        lo = -(2**63) if start_ns is None else int(start_ns)
        hi = 2**63 - 1 if end_ns is None else int(end_ns)
        with self._lock:
            self.flush()
            cursor = self._db.execute(
                "SELECT ts_ns, kind, key, payload FROM market_tape"
                " WHERE ts_ns BETWEEN ? AND ? ORDER BY id",
                (lo, hi),
            )
            rows = cursor.fetchmany(256)
        while rows:
            for row in rows:
                yield int(row[0]), str(row[1]), str(row[2]), bytes(row[3])
            with self._lock:
                rows = cursor.fetchmany(256)

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check``: ``"ok"`` for a sound file, else the problems found."""
        rows = self._query("PRAGMA integrity_check")
        return "\n".join(str(r[0]) for r in rows)

    def stats(self) -> dict[str, int]:
        """Counters: ``batches`` written, ``rows`` in them, ``executemany`` calls, ``intents``
        recorded, order ``updates``, rows ``buffered`` now."""
        with self._lock:
            return {**self._stats, "buffered": self._buffered}


def _limit(limit: int | None) -> int:
    if limit is None:
        return _ALL
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise ValueError(f"limit: expected a whole number >= 0 or None, got {limit!r}")
    return limit
