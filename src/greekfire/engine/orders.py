"""Orders from approval to fill: write-ahead intents, sending, broker events, open orders.

The rule that makes a crash safe: every order's ``client_order_id`` is written to the journal
(``PENDING_NEW``, committed and synced) **before** the broker hears of it. If the process dies
between the two, the next start asks the broker about every pending intent (see
:func:`greekfire.journal.recovery.reconcile`) and never sends it again blindly. A send that
fails with a transient error (a timeout: the broker may or may not have it) is left pending
and resolved the same way at the next cycle.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
from collections.abc import Callable

from greekfire.broker.port import Broker
from greekfire.domain.clock import Clock
from greekfire.domain.orders import BrokerEvent, EventKind, Order, OrderIntent, OrderStatus
from greekfire.errors import (
    OrderRejected,
    ParseError,
    ProviderError,
    StateError,
    TransientError,
)
from greekfire.journal.sqlite import Journal

__all__ = ["FAULT_ENV", "OrderManager"]

log = logging.getLogger("greekfire.engine.orders")

FAULT_ENV = "GREEKFIRE_FAULT_KILL_AFTER_INTENT"
"""Fault injection for crash tests: when this variable is ``1``, the process kills itself with
SIGKILL right after the first intent is journaled and before it is sent."""

_SETTLEMENTS = frozenset(
    {EventKind.OPTION_EXPIRED, EventKind.OPTION_EXERCISED, EventKind.OPTION_ASSIGNED}
)


class OrderManager:
    """Places approved intents and keeps the journal in step with the broker.

    Parameters
    ----------
    broker : Broker
    journal : Journal
    clock : Clock
    dry_run : bool
        Journal what would be sent (as ``dry_run_order`` notes) and send nothing.
    on_change : callable, optional
        Called after an order is sent or a fill/settlement arrives (the engine invalidates its
        risk report and account cache there).
    """

    def __init__(
        self,
        broker: Broker,
        journal: Journal,
        clock: Clock,
        *,
        dry_run: bool = False,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.broker = broker
        self.journal = journal
        self.clock = clock
        self.dry_run = dry_run
        self._on_change = on_change or (lambda: None)
        seq = journal.get_meta("last_event_seq")
        self.last_seq = int(seq) if seq is not None else 0
        self._open: dict[str, Order] = {
            o.client_order_id: o for o in journal.orders(open_only=True)
        }
        self.sent = self.rejected = self.fills = 0

    def reload(self) -> None:
        """Re-read the open orders from the journal (after startup reconciliation)."""
        self._open = {o.client_order_id: o for o in self.journal.orders(open_only=True)}

    @property
    def open_orders(self) -> tuple[Order, ...]:
        """Orders that may still fill, oldest first."""
        return tuple(self._open.values())

    def new_client_id(self, intent: OrderIntent) -> str:
        """A fresh client order id: strategy, clock time and randomness (unique across runs)."""
        tag = "".join(ch for ch in intent.strategy.lower() if ch.isalnum())[:12] or "manual"
        return f"gf-{tag}-{self.clock.now_ns() // 1_000_000:x}-{secrets.token_hex(4)}"

    def place(self, intent: OrderIntent) -> Order:
        """Journal ``intent`` as a write-ahead order, then send it (unless dry run)."""
        now = self.clock.now_ns()
        order = Order(self.new_client_id(intent), intent, OrderStatus.PENDING_NEW, now, now)
        self.journal.record_intent(order)
        if os.environ.get(FAULT_ENV) == "1":
            os.kill(os.getpid(), signal.SIGKILL)
        if self.dry_run:
            self.journal.record_note("dry_run_order", _describe(order))
            done = order.with_status(OrderStatus.CANCELED, now, reason="dry run: not sent")
            self.journal.update_order(done)
            return done
        try:
            acked = self.broker.submit(order)
        except (TransientError, ParseError, TimeoutError, ConnectionError) as exc:
            # Unknown outcome (the broker may have it): keep the intent pending; the next
            # cycle asks the broker by client order id.
            self._open[order.client_order_id] = order
            log.warning(
                "order outcome unknown",
                extra={"client_order_id": order.client_order_id, "error": str(exc)},
            )
            return order
        except (OrderRejected, ProviderError) as exc:  # refused (a 4xx): nothing was placed
            self.rejected += 1
            rejected = order.with_status(OrderStatus.REJECTED, self.clock.now_ns(), reason=str(exc))
            self.journal.update_order(rejected)
            log.warning(
                "order rejected",
                extra={"client_order_id": order.client_order_id, "reason": str(exc)},
            )
            return rejected
        self.sent += 1
        self._track(acked)
        self.journal.update_order(acked)
        self._on_change()
        return acked

    def _track(self, order: Order) -> None:
        if order.is_open:
            self._open[order.client_order_id] = order
        else:
            self._open.pop(order.client_order_id, None)

    def resolve_pending(self) -> int:
        """Ask the broker about intents whose send had an unknown outcome; returns resolved."""
        resolved = 0
        for order in [o for o in self._open.values() if o.status is OrderStatus.PENDING_NEW]:
            try:
                found = self.broker.get_order(order.client_order_id)
            except (TransientError, TimeoutError, ConnectionError):
                continue
            now = self.clock.now_ns()
            if found is None:
                found = order.with_status(
                    OrderStatus.CANCELED, now, reason="never reached the broker"
                )
            self.journal.update_order(found)
            self._track(found)
            resolved += 1
        return resolved

    def sync_events(self) -> list[BrokerEvent]:
        """Record the broker's new events (fills, order updates, settlements) in the journal."""
        return self.record_events(self.broker.events(self.last_seq))

    def record_events(self, events: list[BrokerEvent]) -> list[BrokerEvent]:
        """Record events read from the broker (``events(last_seq)``); returns the new ones."""
        events = [e for e in events if e.seq > self.last_seq]
        changed = False
        for event in events:
            self.journal.record_event(event)
            if event.fills:
                self.journal.record_fills(event.fills)
                self.fills += len(event.fills)
                changed = True
            if event.order is not None:
                self.journal.update_order(event.order)
                self._track(event.order)
            if event.kind in _SETTLEMENTS:
                changed = True
            self.last_seq = max(self.last_seq, event.seq)
        if events:
            self.journal.set_meta("last_event_seq", str(self.last_seq))
        if changed:
            self._on_change()
        return events

    def cancel(self, client_order_id: str) -> Order:
        """Cancel an open order at the broker and journal the result."""
        if client_order_id not in self._open:
            raise StateError(f"client_order_id: {client_order_id!r} is not an open order")
        order = self.broker.cancel(client_order_id)
        self.journal.update_order(order)
        self._track(order)
        self._on_change()
        return order


def _describe(order: Order) -> dict[str, object]:
    intent = order.intent
    return {
        "client_order_id": order.client_order_id,
        "strategy": intent.strategy,
        "legs": [f"{leg.side.value} {leg.ratio}x {leg.symbol}" for leg in intent.legs],
        "qty": intent.qty,
        "type": intent.order_type.value,
        "limit_price": intent.limit_price,
        "reason": intent.reason,
    }
