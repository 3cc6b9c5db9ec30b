"""Startup reconciliation of the journal against the broker.

Order of work
-------------
1. **Intents** (orders journaled ``PENDING_NEW``: written, never acknowledged). Each one is
   resolved by asking the broker, ``broker.get_order(client_order_id)``, and *never* by sending
   it again: found -> the journal takes the broker's status, ids and fill totals (and the
   order's fills from ``broker.events`` after the journal's ``last_event_seq``); not found ->
   the intent is marked ``CANCELED`` with the reason ``"never reached the broker"``.
2. **Open orders**, journal vs broker. A journaled order the broker moved on legally (filled or
   canceled while the bot was down) is brought up to date: that is news, not a mismatch. A
   mismatch is an open order only one side knows, or a status change the state machine forbids.
3. **Positions**: the journal's view (its latest positions snapshot plus the fills journaled
   after it) vs ``broker.positions()``, quantities compared with a tolerance.

Policy
------
``"adopt"`` writes the broker's view (orders, a positions snapshot); ``"halt"`` raises
:class:`~greekfire.errors.StateError` listing every mismatch with both sides. In both cases the
report is recorded as a ``"reconciliation"`` note before returning or raising.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Final, Literal, Protocol

from greekfire.domain.clock import Clock
from greekfire.domain.orders import TRANSITIONS, BrokerEvent, Fill, Order, OrderStatus
from greekfire.domain.portfolio import Position
from greekfire.errors import StateError
from greekfire.journal.sqlite import Journal

__all__ = [
    "NEVER_REACHED_BROKER",
    "UNKNOWN_TO_BROKER",
    "Mismatch",
    "ReconcileBroker",
    "ReconcileReport",
    "Resolution",
    "journal_positions",
    "reconcile",
]

NEVER_REACHED_BROKER: Final = "never reached the broker"
"""Reason given to an intent the broker never received."""
UNKNOWN_TO_BROKER: Final = "unknown to the broker at reconciliation"
"""Reason given (policy ``adopt``) to a journaled open order the broker does not know."""

Policy = Literal["adopt", "halt"]


class ReconcileBroker(Protocol):
    """The part of :class:`greekfire.broker.port.Broker` that reconciliation reads."""

    def positions(self) -> dict[str, Position]:
        """Open positions by symbol."""
        ...

    def orders(self, *, open_only: bool = True) -> list[Order]:
        """Orders the broker knows."""
        ...

    def get_order(self, client_order_id: str) -> Order | None:
        """The order with this client id, ``None`` when never received."""
        ...

    def events(self, after_seq: int = 0) -> list[BrokerEvent]:
        """Events with ``seq > after_seq``."""
        ...


@dataclass(frozen=True, slots=True)
class Resolution:
    """What reconciliation did to one journaled order.

    Attributes
    ----------
    client_order_id : str
    outcome : str
        ``"sent"`` (an intent the broker has: its state adopted), ``"never_sent"`` (an intent
        the broker never received: canceled, not resent) or ``"updated"`` (an open order the
        broker moved on while the bot was down).
    status : OrderStatus
        The order's status in the journal afterwards.
    detail : str
    """

    client_order_id: str
    outcome: str
    status: OrderStatus
    detail: str

    def to_dict(self) -> dict[str, str]:
        """Plain values for the journal note."""
        return {
            "client_order_id": self.client_order_id,
            "outcome": self.outcome,
            "status": self.status.value,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A difference between the journal and the broker, with both sides in words.

    Attributes
    ----------
    kind : str
        ``"position"`` or ``"order"``.
    key : str
        The symbol or the client order id.
    journal, broker : str
        Each side's view (``"qty 100"``, ``"absent"``, ``"new, filled 0 of 2"``).
    """

    kind: str
    key: str
    journal: str
    broker: str

    def __str__(self) -> str:
        return f"{self.kind} {self.key}: journal {self.journal}, broker {self.broker}"

    def to_dict(self) -> dict[str, str]:
        """Plain values for the journal note."""
        return {"kind": self.kind, "key": self.key, "journal": self.journal, "broker": self.broker}


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """The outcome of :func:`reconcile`.

    Attributes
    ----------
    policy : str
    ts_ns : int
    resolved : tuple of Resolution
        Intents resolved and orders brought up to date.
    mismatches : tuple of Mismatch
    adopted : bool
        True when the broker's view was written over mismatches (policy ``adopt``).
    """

    policy: str
    ts_ns: int
    resolved: tuple[Resolution, ...] = ()
    mismatches: tuple[Mismatch, ...] = ()
    adopted: bool = False

    @property
    def ok(self) -> bool:
        """True when journal and broker agreed (after resolving intents)."""
        return not self.mismatches

    def to_dict(self) -> dict[str, object]:
        """Plain values for the journal note."""
        return {
            "policy": self.policy,
            "ts_ns": self.ts_ns,
            "ok": self.ok,
            "adopted": self.adopted,
            "resolved": [r.to_dict() for r in self.resolved],
            "mismatches": [m.to_dict() for m in self.mismatches],
        }


def _qty(value: float) -> str:
    return f"{value:g}"


def _describe(order: Order) -> str:
    return f"{order.status.value}, filled {_qty(order.filled_qty)} of {_qty(order.qty)}"


def _take_broker_state(ours: Order, theirs: Order, now_ns: int) -> Order:
    # our intent stays (it is what we asked for); status, ids and fill totals are the broker's
    return replace(
        ours,
        status=theirs.status,
        broker_order_id=theirs.broker_order_id or ours.broker_order_id,
        filled_qty=theirs.filled_qty,
        avg_fill_price=theirs.avg_fill_price,
        reason=theirs.reason or ours.reason,
        updated_ns=now_ns,
    )


def _same_state(ours: Order, theirs: Order, qty_tolerance: float) -> bool:
    same_price = (
        math.isnan(ours.avg_fill_price) and math.isnan(theirs.avg_fill_price)
    ) or ours.avg_fill_price == theirs.avg_fill_price
    return (
        ours.status is theirs.status
        and abs(ours.filled_qty - theirs.filled_qty) <= qty_tolerance
        and same_price
        and (theirs.broker_order_id is None or theirs.broker_order_id == ours.broker_order_id)
    )


def _last_event_seq(journal: Journal) -> int:
    text = journal.get_meta("last_event_seq")
    try:
        return int(text) if text is not None else 0
    except ValueError:
        return 0


class _Reconciler:
    def __init__(
        self, journal: Journal, broker: ReconcileBroker, policy: Policy, now_ns: int, tol: float
    ) -> None:
        self.journal = journal
        self.broker = broker
        self.policy = policy
        self.now_ns = now_ns
        self.tol = tol
        self.resolved: list[Resolution] = []
        self.mismatches: list[Mismatch] = []
        self.adoptions: list[Order] = []  # written only under "adopt"
        self.broker_positions: dict[str, Position] = {}

    def resolve_intents(self) -> None:
        sent: set[str] = set()
        for intent in self.journal.pending_intents():
            cid = intent.client_order_id
            theirs = self.broker.get_order(cid)
            if theirs is None:
                order = intent.with_status(
                    OrderStatus.CANCELED, self.now_ns, reason=NEVER_REACHED_BROKER
                )
                outcome, detail = "never_sent", f"{NEVER_REACHED_BROKER}; not resent"
            else:
                order = _take_broker_state(intent, theirs, self.now_ns)
                sent.add(cid)
                outcome = "sent"
                detail = f"the broker has it ({_describe(theirs)}, id {theirs.broker_order_id})"
            self.journal.update_order(order)
            self.resolved.append(Resolution(cid, outcome, order.status, detail))
        if sent:
            self.journal.record_fills(self._fills_of(sent))

    def _fills_of(self, client_ids: set[str]) -> Iterable[Fill]:
        # the engine's event loop resumes from last_event_seq too; fills are idempotent
        for event in self.broker.events(_last_event_seq(self.journal)):
            yield from (f for f in event.fills if f.client_order_id in client_ids)

    def compare_orders(self) -> None:
        ours = {o.client_order_id: o for o in self.journal.orders(open_only=True)}
        theirs = {o.client_order_id: o for o in self.broker.orders(open_only=True)}
        for cid, order in ours.items():
            broker_order = theirs.get(cid) or self.broker.get_order(cid)
            if broker_order is None:
                self.mismatches.append(Mismatch("order", cid, _describe(order), "absent"))
                self.adoptions.append(
                    replace(
                        order,
                        status=OrderStatus.CANCELED,
                        reason=UNKNOWN_TO_BROKER,
                        updated_ns=self.now_ns,
                    )
                )
            else:
                self._compare_order(order, broker_order)
        for cid, broker_order in theirs.items():
            if cid in ours:
                continue
            journaled = self.journal.order(cid)
            mine = "absent" if journaled is None else _describe(journaled)
            self.mismatches.append(Mismatch("order", cid, mine, _describe(broker_order)))
            adopted = broker_order if journaled is None else journaled
            self.adoptions.append(_take_broker_state(adopted, broker_order, self.now_ns))

    def _compare_order(self, ours: Order, theirs: Order) -> None:
        if _same_state(ours, theirs, self.tol):
            return
        updated = _take_broker_state(ours, theirs, self.now_ns)
        if theirs.status is ours.status or theirs.status in TRANSITIONS[ours.status]:
            self.journal.update_order(updated)
            detail = f"{_describe(ours)} -> {_describe(theirs)} at the broker"
            self.resolved.append(Resolution(ours.client_order_id, "updated", theirs.status, detail))
            return
        self.mismatches.append(
            Mismatch("order", ours.client_order_id, _describe(ours), _describe(theirs))
        )
        self.adoptions.append(updated)

    def compare_positions(self) -> None:
        mine = journal_positions(self.journal)
        self.broker_positions = dict(self.broker.positions())
        for symbol in sorted(set(mine) | set(self.broker_positions)):
            ours = mine[symbol].qty if symbol in mine else 0.0
            theirs = self.broker_positions[symbol].qty if symbol in self.broker_positions else 0.0
            if abs(ours - theirs) > self.tol:
                self.mismatches.append(
                    Mismatch("position", symbol, f"qty {_qty(ours)}", f"qty {_qty(theirs)}")
                )

    def adopt(self) -> None:
        for order in self.adoptions:
            self.journal.update_order(order)
        if any(m.kind == "position" for m in self.mismatches):
            self.journal.snapshot_positions(self.now_ns, self.broker_positions, {})


def journal_positions(journal: Journal) -> dict[str, Position]:
    """The journal's view of the positions: its latest snapshot plus the fills journaled with
    a later timestamp (all fills when there is no snapshot); flat positions are dropped."""
    snapshot = journal.latest_snapshot()
    positions: dict[str, Position] = {} if snapshot is None else dict(snapshot.positions)
    since = None if snapshot is None else snapshot.ts_ns
    for fill in journal.fills(since_ns=since):
        position = positions.get(fill.symbol, Position(fill.symbol))
        positions[fill.symbol], _ = position.apply(fill.side.sign * fill.qty, fill.price)
    return {s: p for s, p in positions.items() if not p.is_flat}


def reconcile(
    journal: Journal,
    broker: ReconcileBroker,
    policy: Policy,
    clock: Clock,
    *,
    qty_tolerance: float = 1e-6,
) -> ReconcileReport:
    """Reconcile ``journal`` with ``broker`` at startup (see the module docstring).

    Parameters
    ----------
    journal : Journal
        Opened read-write.
    broker : Broker
        Any :class:`greekfire.broker.port.Broker` (only the reads of :class:`ReconcileBroker`
        are used; nothing is ever submitted).
    policy : {"adopt", "halt"}
    clock : Clock
    qty_tolerance : float, default 1e-6
        Largest quantity difference still counted as equal.

    Returns
    -------
    ReconcileReport

    Raises
    ------
    StateError
        Policy ``halt`` and at least one mismatch; the message lists every one with both sides.
    ValueError
        Unknown ``policy`` or a negative ``qty_tolerance``.
    """
    if policy not in ("adopt", "halt"):
        raise ValueError(f"policy: expected 'adopt' or 'halt', got {policy!r}")
    if not (math.isfinite(qty_tolerance) and qty_tolerance >= 0):
        raise ValueError(f"qty_tolerance: expected a finite number >= 0, got {qty_tolerance!r}")
    journal.flush()
    work = _Reconciler(journal, broker, policy, clock.now_ns(), qty_tolerance)
    work.resolve_intents()
    work.compare_orders()
    work.compare_positions()
    adopted = bool(work.mismatches) and policy == "adopt"
    if adopted:
        work.adopt()
    report = ReconcileReport(
        policy, work.now_ns, tuple(work.resolved), tuple(work.mismatches), adopted
    )
    journal.record_note("reconciliation", report.to_dict())
    journal.flush()
    if report.mismatches and policy == "halt":
        listing = "; ".join(str(m) for m in report.mismatches)
        raise StateError(
            f"reconciliation (policy 'halt'): {len(report.mismatches)} mismatch(es) between"
            f" the journal and the broker: {listing}"
        )
    return report
