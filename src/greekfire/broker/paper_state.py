"""The paper account in memory (:class:`PaperState`) and on disk (:class:`StateFile`).

Memory
    :class:`PaperState` keeps every open order, the last ``history_orders`` finished ones and
    the last ``history_events`` events. Dropping an event books its fills into a checkpoint
    ledger (``base``, as of event ``base_seq``), so ``base`` plus the kept events' fills is
    always the live ledger.
Snapshot
    ``state_path`` holds a JSON snapshot (format :data:`STATE_VERSION`): the save number, the
    starting cash and cash, the checkpoint (``base_seq`` and the ledger: cash, fees, realised
    P&L and every open position with its average cost), the kept orders in submission order,
    the finished ones' ids in finish order, the kept events with their fills and the counters.
    Orders and fills use :mod:`greekfire.domain.records` (the journal's form). A snapshot is
    written to a sibling temporary file (mode 0600), flushed to disk and renamed over the old
    one (``os.replace``): a crash leaves the old snapshot or the new one, never half of one.
Log
    ``<state_path>.log`` (mode 0600) gets one JSON line per save with only what changed since
    the previous save (orders added or changed, orders dropped, orders finished, new events,
    the new ``base_seq``, the counters), each line written, flushed and fsynced before the call
    that made the change returns. When the log holds ``max_lines`` lines, or more bytes than
    the last snapshot (and 64 KiB), the next save writes a fresh snapshot and then truncates the
    log, so the two files together stay within about twice the size of a snapshot of the capped
    history (plus 64 KiB), and a save costs what changed, amortised.
    Every line carries its save number; loading skips lines at or below the snapshot's (a crash
    between writing a snapshot and truncating the log is harmless) and refuses a gap. A torn
    last line (a crash mid-append: no trailing newline, or invalid JSON) is dropped and the
    next save rewrites the snapshot; invalid JSON on an earlier line is a
    :class:`~greekfire.errors.StateError` naming the file and the line.
Loading
    The checkpoint ledger plus a replay of the kept events' fills must give the stored cash
    (else :class:`~greekfire.errors.StateError` with both figures) and the kept events must be
    numbered ``base_seq + 1 .. base_seq + len``. A version-2 file (the whole history, no
    checkpoint) loads as checkpoint = the starting cash at ``base_seq`` 0; the next save
    rewrites it in the current format.
"""

from __future__ import annotations

import json
import math
import os
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import takewhile
from pathlib import Path
from typing import Any

from greekfire.domain.orders import BrokerEvent, EventKind, Order
from greekfire.domain.portfolio import Ledger, Position
from greekfire.domain.records import (
    fill_from_mapping,
    fill_to_dict,
    order_from_mapping,
    order_to_dict,
)
from greekfire.errors import StateError

__all__ = [
    "STATE_VERSION",
    "PaperState",
    "StateFile",
    "event_from_dict",
    "event_to_dict",
    "ledger_from_dict",
    "ledger_to_dict",
    "read_state",
    "write_state",
]

STATE_VERSION = 3  # 3: checkpoint ledger + capped history, snapshot + append-only log
"""Format version written to the state file (version 2 is still read)."""

_READABLE = (2, STATE_VERSION)
_LOG_MIN_BYTES = 64 * 1024  # below this the log is never folded for its size alone


def event_to_dict(event: BrokerEvent) -> dict[str, Any]:
    """A JSON-ready dict of ``event``."""
    return {
        "kind": event.kind.value,
        "ts_ns": event.ts_ns,
        "seq": event.seq,
        "symbol": event.symbol,
        "client_order_id": event.client_order_id,
        "order": None if event.order is None else order_to_dict(event.order),
        "fills": [fill_to_dict(f) for f in event.fills],
        "detail": event.detail,
    }


def event_from_dict(data: Mapping[str, Any]) -> BrokerEvent:
    """The :class:`BrokerEvent` :func:`event_to_dict` wrote."""
    return BrokerEvent(
        EventKind(data["kind"]),
        int(data["ts_ns"]),
        int(data["seq"]),
        data["symbol"],
        data["client_order_id"],
        None if data["order"] is None else order_from_mapping(data["order"]),
        tuple(fill_from_mapping(f) for f in data["fills"]),
        data["detail"],
    )


def ledger_to_dict(ledger: Ledger) -> dict[str, Any]:
    """A JSON-ready dict of ``ledger``: cash, fees, realised P&L and every open position."""
    return {
        "cash_usd": ledger.cash_usd,
        "fees_usd": ledger.fees_usd,
        "realized_pnl_usd": ledger.realized_pnl_usd,
        "positions": [
            {
                "symbol": p.symbol,
                "qty": p.qty,
                "avg_cost": p.avg_cost,
                "realized_pnl_usd": p.realized_pnl_usd,
                "fees_usd": p.fees_usd,
            }
            for p in ledger.positions.values()
        ],
    }


def ledger_from_dict(data: Mapping[str, Any]) -> Ledger:
    """The :class:`Ledger` :func:`ledger_to_dict` wrote, equal to the float."""
    positions = [
        Position(
            str(p["symbol"]),
            float(p["qty"]),
            float(p["avg_cost"]),
            float(p["realized_pnl_usd"]),
            float(p["fees_usd"]),
        )
        for p in data["positions"]
    ]
    return Ledger.restore(
        float(data["cash_usd"]),
        float(data["fees_usd"]),
        float(data["realized_pnl_usd"]),
        positions,
    )


def _copy_ledger(ledger: Ledger) -> Ledger:
    return ledger_from_dict(ledger_to_dict(ledger))


@dataclass(slots=True)
class PaperState:
    """Everything the paper account holds; see the module docstring.

    Attributes
    ----------
    starting_cash_usd : float
    ledger : Ledger
        The live book (every fill so far).
    base : Ledger
        The checkpoint: the book as of event ``base_seq`` (fills of dropped events).
    base_seq : int
        Seq of the last dropped event (0 when none was dropped).
    orders : dict of str to Order
        Kept orders (open + the latest finished ones) in submission order.
    open : dict of str to None
        Ids of the open orders, in submission order (the open-order index).
    finished : OrderedDict of str to None
        Ids of the kept finished orders, oldest finished first.
    events : deque of BrokerEvent
        Kept events, seq ``base_seq + 1 ..``.
    next_fill, next_order : int
        Counters of the broker's fill and order ids.
    last_close_ns : int
        The session close ``last_equity_usd`` was taken at.
    last_equity_usd : float
        Equity at that close (NaN before the first).
    """

    starting_cash_usd: float
    ledger: Ledger
    base: Ledger
    base_seq: int = 0
    orders: dict[str, Order] = field(default_factory=dict)
    open: dict[str, None] = field(default_factory=dict)
    finished: OrderedDict[str, None] = field(default_factory=OrderedDict)
    events: deque[BrokerEvent] = field(default_factory=deque)
    next_fill: int = 1
    next_order: int = 1
    last_close_ns: int = 0
    last_equity_usd: float = math.nan

    @classmethod
    def new(cls, starting_cash_usd: float) -> PaperState:
        """A fresh account holding ``starting_cash_usd``."""
        return cls(starting_cash_usd, Ledger(starting_cash_usd), Ledger(starting_cash_usd))

    @property
    def last_seq(self) -> int:
        """Seq of the newest event (``base_seq`` when no event is kept)."""
        return self.base_seq + len(self.events)

    def snapshot(self, save_no: int) -> dict[str, Any]:
        """The whole state as a JSON-ready dict (without the version)."""
        return {
            "save": save_no,
            "starting_cash_usd": self.starting_cash_usd,
            "cash_usd": self.ledger.cash_usd,
            "checkpoint": {"seq": self.base_seq, "ledger": ledger_to_dict(self.base)},
            "orders": [order_to_dict(o) for o in self.orders.values()],
            "finished": list(self.finished),
            "events": [event_to_dict(e) for e in self.events],
            **self._counters(),
        }

    def _counters(self) -> dict[str, Any]:
        last = self.last_equity_usd
        return {
            "next_fill": self.next_fill,
            "next_order": self.next_order,
            "last_close_ns": self.last_close_ns,
            "last_equity_usd": None if math.isnan(last) else last,
        }


def write_state(path: Path, state: Mapping[str, Any]) -> int:
    """Write ``state`` as JSON to ``path`` atomically (temporary file, fsync, rename).

    Returns
    -------
    int
        The bytes written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    payload = json.dumps({"version": STATE_VERSION, **state}, separators=(",", ":"))
    with open(tmp, "w", encoding="utf-8", opener=lambda p, f: os.open(p, f, 0o600)) as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return len(payload)


def read_state(path: Path) -> dict[str, Any] | None:
    """The snapshot stored at ``path``, or ``None`` when there is no file.

    Raises
    ------
    StateError
        The file is not valid JSON or has a format version other than 2 or 3.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StateError(f"state_path: {str(path)!r} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("version") not in _READABLE:
        version = data.get("version") if isinstance(data, dict) else None
        raise StateError(
            f"state_path: {str(path)!r} has format version {version!r}, expected one of"
            f" {list(_READABLE)}"
        )
    return data


def _read_log(path: Path) -> tuple[list[dict[str, Any]], bool, int]:
    # (complete lines, whether a torn last line was dropped, file size in bytes)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return [], False, 0
    parts = raw.split(b"\n")
    torn = parts.pop() != b""  # bytes after the last newline: an unfinished append
    lines: list[dict[str, Any]] = []
    for number, part in enumerate(parts, 1):
        try:
            line = json.loads(part)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            if number == len(parts) and not torn:
                return lines, True, len(raw)
            raise StateError(f"state log {str(path)!r}: line {number} is not valid JSON") from exc
        if not isinstance(line, dict):
            raise StateError(f"state log {str(path)!r}: line {number} is not a JSON object")
        lines.append(line)
    return lines, torn, len(raw)


def _check_seqs(state: PaperState, where: str) -> None:
    seqs = [e.seq for e in state.events]
    first = state.base_seq + 1
    if seqs != list(range(first, first + len(seqs))):
        raise StateError(f"{where} event seq is not {first}..{first + len(seqs) - 1}")


def _check_cash(state: PaperState, stored_cash: float, where: str) -> None:
    if abs(state.ledger.cash_usd - stored_cash) > 0.005:
        raise StateError(
            f"{where}: fills add up to cash {state.ledger.cash_usd:.2f},"
            f" the file says {stored_cash:.2f}"
        )


def _drop_events_to(state: PaperState, base_seq: int) -> None:
    while state.events and state.events[0].seq <= base_seq:
        event = state.events.popleft()
        for fill in event.fills:
            state.base.apply_fill(fill)
        state.base_seq = event.seq


class StateFile:
    """The snapshot at ``path`` plus its append-only log; see the module docstring.

    Parameters
    ----------
    path : Path
        The snapshot; the log is ``<path>.log`` beside it.
    max_lines : int
        Log lines after which the next save writes a snapshot instead.
    """

    def __init__(self, path: Path, max_lines: int) -> None:
        self.path = path
        self.log_path = path.with_name(f"{path.name}.log")
        self.max_lines = max_lines
        self.save_no = 0
        self._snapshot_bytes = 0
        self._log_lines = 0
        self._log_bytes = 0
        self._compact = True  # no current-format snapshot yet
        self._saved_seq = 0
        self._upserts: dict[str, None] = {}
        self._finished: dict[str, None] = {}
        self._drops: list[str] = []
        self._dropped_events: list[BrokerEvent] = []

    # ----------------------------------------------------------------- change tracking

    def order_put(self, client_order_id: str, *, finished: bool) -> None:
        """Record that the order was added or changed (and whether it just finished)."""
        self._upserts[client_order_id] = None
        if finished:
            self._finished[client_order_id] = None

    def order_dropped(self, client_order_id: str) -> None:
        """Record that the finished order left the history."""
        self._upserts.pop(client_order_id, None)
        self._finished.pop(client_order_id, None)
        self._drops.append(client_order_id)

    def event_dropped(self, event: BrokerEvent) -> None:
        """Record that ``event`` left the history (kept for the log when not saved yet)."""
        if event.seq > self._saved_seq:
            self._dropped_events.append(event)

    # ----------------------------------------------------------------- save

    def save(self, state: PaperState) -> None:
        """Persist the changes since the last save: a log line, or a snapshot when due."""
        save_no = self.save_no + 1
        too_big = self._log_bytes > max(self._snapshot_bytes, _LOG_MIN_BYTES)
        due = self._log_lines >= self.max_lines or too_big
        try:
            if self._compact or due:
                self._snapshot_bytes = write_state(self.path, state.snapshot(save_no))
                self._truncate_log()
            else:
                self._append(self._line(state, save_no))
        except BaseException:
            self._compact = True  # the log may end in a partial line: rewrite everything
            raise
        self.save_no = save_no
        self._saved_seq = state.last_seq
        self._upserts.clear()
        self._finished.clear()
        self._drops.clear()
        self._dropped_events.clear()

    def _line(self, state: PaperState, save_no: int) -> dict[str, Any]:
        saved = self._saved_seq
        kept = list(takewhile(lambda e: e.seq > saved, reversed(state.events)))
        kept.reverse()
        return {
            "save": save_no,
            "drop_orders": self._drops,
            "orders": [order_to_dict(state.orders[c]) for c in self._upserts],
            "finished": list(self._finished),
            "events": [event_to_dict(e) for e in (*self._dropped_events, *kept)],
            "base_seq": state.base_seq,
            "cash_usd": state.ledger.cash_usd,
            **state._counters(),
        }

    def _append(self, line: Mapping[str, Any]) -> None:
        payload = (json.dumps(line, separators=(",", ":")) + "\n").encode("utf-8")
        fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        self._log_lines += 1
        self._log_bytes += len(payload)

    def _truncate_log(self) -> None:
        if self._log_bytes or self.log_path.exists():
            fd = os.open(self.log_path, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o600)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._log_lines = self._log_bytes = 0
        self._compact = False

    # ----------------------------------------------------------------- load

    def load(self) -> PaperState | None:
        """The stored account (snapshot + log), ``None`` when there is no snapshot.

        Raises
        ------
        StateError
            Unreadable or inconsistent files (see the module docstring).
        """
        data = read_state(self.path)
        if data is None:
            if self.log_path.exists():
                raise StateError(
                    f"state_path: {str(self.path)!r} is missing but its log"
                    f" {str(self.log_path)!r} exists"
                )
            return None
        lines, torn, self._log_bytes = _read_log(self.log_path)
        self._log_lines = len(lines)
        self._snapshot_bytes = self.path.stat().st_size
        try:
            state = self._from_snapshot(data)
            for number, line in enumerate(lines, 1):
                self._apply_line(state, line, number)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StateError(
                f"state_path: {str(self.path)!r} is not a paper account ({exc!r})"
            ) from exc
        self._finish_load(state)
        self._compact = data["version"] != STATE_VERSION or torn
        self._saved_seq = state.last_seq
        return state

    def _from_snapshot(self, data: Mapping[str, Any]) -> PaperState:
        starting = float(data["starting_cash_usd"])
        state = PaperState.new(starting)
        if data["version"] == STATE_VERSION:
            self.save_no = int(data["save"])
            state.base = ledger_from_dict(data["checkpoint"]["ledger"])
            state.base_seq = int(data["checkpoint"]["seq"])
            finished: list[str] | None = [str(c) for c in data["finished"]]
        else:
            finished = None
        orders = [order_from_mapping(o) for o in data["orders"]]
        state.orders = {o.client_order_id: o for o in orders}
        if finished is None:  # version 2: finish order taken from the last update, stable
            done = sorted((o for o in orders if not o.is_open), key=lambda o: o.updated_ns)
            finished = [o.client_order_id for o in done]
        state.finished = OrderedDict.fromkeys(finished)
        state.events = deque(event_from_dict(e) for e in data["events"])
        where = f"state_path: {str(self.path)!r}"
        _check_seqs(state, where)
        state.ledger = _copy_ledger(state.base)
        for event in state.events:
            for fill in event.fills:
                state.ledger.apply_fill(fill)
        _check_cash(state, float(data["cash_usd"]), where)
        self._set_counters(state, data)
        return state

    @staticmethod
    def _set_counters(state: PaperState, data: Mapping[str, Any]) -> None:
        state.next_fill = int(data["next_fill"])
        state.next_order = int(data["next_order"])
        state.last_close_ns = int(data["last_close_ns"])
        last = data["last_equity_usd"]
        state.last_equity_usd = math.nan if last is None else float(last)

    def _apply_line(self, state: PaperState, line: Mapping[str, Any], number: int) -> None:
        where = f"state_path: {str(self.path)!r}, log {str(self.log_path)!r} line {number}"
        save_no = int(line["save"])
        if save_no <= self.save_no:
            return  # already in the snapshot (a crash before the log was truncated)
        if save_no != self.save_no + 1:
            raise StateError(f"{where}: save {save_no} follows save {self.save_no}")
        self.save_no = save_no
        for client_order_id in line["drop_orders"]:
            state.orders.pop(client_order_id, None)
            state.finished.pop(client_order_id, None)
        for raw in line["orders"]:
            order = order_from_mapping(raw)
            state.orders[order.client_order_id] = order
        for client_order_id in line["finished"]:
            state.finished[client_order_id] = None
        for raw in line["events"]:
            event = event_from_dict(raw)
            if event.seq != state.last_seq + 1:
                raise StateError(f"{where}: event seq {event.seq}, expected {state.last_seq + 1}")
            state.events.append(event)
            for fill in event.fills:
                state.ledger.apply_fill(fill)
        base_seq = int(line["base_seq"])
        _drop_events_to(state, base_seq)
        if state.base_seq != base_seq:
            raise StateError(
                f"{where}: drops events up to seq {base_seq}, the history holds"
                f" {state.base_seq + 1}..{state.last_seq}"
            )
        _check_cash(state, float(line["cash_usd"]), where)
        self._set_counters(state, line)

    @staticmethod
    def _finish_load(state: PaperState) -> None:
        state.open = {c: None for c, o in state.orders.items() if o.is_open}
        kept = OrderedDict((c, None) for c in state.finished if c in state.orders)
        for client_order_id, order in state.orders.items():
            if not order.is_open and client_order_id not in kept:
                kept[client_order_id] = None
        state.finished = kept
