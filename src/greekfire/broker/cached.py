"""``CachedBroker``: account and positions through a TTL cache in front of any broker.

The engine reads the account and the positions every cycle; they only change when an order
is sent, canceled or filled, or an option settles. :class:`CachedBroker` keeps each answer for
``ttl_s`` seconds of its injected ``timer`` and drops both as soon as it sees one of those
changes: ``submit`` or ``cancel`` through it (even when they raise, since a refused or timed
out request may still have changed the account), or an event from ``events()`` that reports a
fill (any event with fills, ``ORDER_FILLED``, ``ORDER_PARTIALLY_FILLED``) or a settlement
(``OPTION_EXPIRED``, ``OPTION_EXERCISED``, ``OPTION_ASSIGNED``). Everything else passes
straight through. ``calls`` counts the calls that reached the inner broker, per method, which
is how the bench measures the API calls the cache saves.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeVar

from greekfire.broker.port import Broker
from greekfire.domain.orders import BrokerEvent, EventKind, Order
from greekfire.domain.portfolio import Account, Position

__all__ = ["CacheCounts", "CachedBroker", "changes_holdings"]

_HOLDING_EVENTS: Final = frozenset(
    {
        EventKind.ORDER_FILLED,
        EventKind.ORDER_PARTIALLY_FILLED,
        EventKind.OPTION_EXPIRED,
        EventKind.OPTION_EXERCISED,
        EventKind.OPTION_ASSIGNED,
    }
)
_T = TypeVar("_T")


def changes_holdings(event: BrokerEvent) -> bool:
    """True when ``event`` moves cash or positions (a fill or an option settlement)."""
    return bool(event.fills) or event.kind in _HOLDING_EVENTS


@dataclass(frozen=True, slots=True)
class CacheCounts:
    """Hits and misses of :class:`CachedBroker`'s account and positions cache.

    Attributes
    ----------
    hits, misses : int
        Reads served from the cache, reads that went to the inner broker.
    invalidations : int
        Times the cache was dropped by an order, a cancel or a fill/settlement event.
    """

    hits: int
    misses: int
    invalidations: int

    @property
    def hit_rate(self) -> float:
        """``hits / (hits + misses)``; 0 before any read."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class CachedBroker:
    """A :class:`~greekfire.broker.port.Broker` whose ``account()`` and ``positions()`` come from
    a TTL cache (see the module docstring).

    Parameters
    ----------
    inner : Broker
        The broker that answers the misses and every other call.
    ttl_s : float
        Seconds an answer stays valid (>= 0; 0 disables the cache).
    timer : callable returning seconds
        A monotonic clock (``time.monotonic`` live; a fake in tests).

    Attributes
    ----------
    calls : dict of str to int
        Calls that reached ``inner``, by method name.

    Raises
    ------
    ValueError
        A negative or non-finite ``ttl_s``.
    """

    def __init__(self, inner: Broker, ttl_s: float, timer: Callable[[], float]) -> None:
        if not (isinstance(ttl_s, int | float) and math.isfinite(ttl_s) and ttl_s >= 0):
            raise ValueError(f"ttl_s: expected a number of seconds >= 0, got {ttl_s!r}")
        self.inner = inner
        self.name = inner.name
        self.ttl_s = float(ttl_s)
        self._timer = timer
        self.calls: dict[str, int] = {}
        self._account: tuple[float, Account] | None = None
        self._positions: tuple[float, dict[str, Position]] | None = None
        self._hits = self._misses = self._invalidations = 0

    def _count(self, method: str) -> None:
        self.calls[method] = self.calls.get(method, 0) + 1

    def _fresh(self, entry: tuple[float, _T] | None) -> _T | None:
        if entry is None or self._timer() - entry[0] >= self.ttl_s:
            return None
        self._hits += 1
        return entry[1]

    def invalidate(self) -> None:
        """Drop the cached account and positions."""
        if self._account is not None or self._positions is not None:
            self._invalidations += 1
        self._account = self._positions = None

    def account(self) -> Account:
        """Balances, at most ``ttl_s`` old and newer than the last order, cancel or fill."""
        cached = self._fresh(self._account)
        if cached is not None:
            return cached
        self._misses += 1
        self._count("account")
        value = self.inner.account()
        self._account = (self._timer(), value)
        return value

    def positions(self) -> dict[str, Position]:
        """Open positions (a copy of the cached mapping), as fresh as :meth:`account`."""
        cached = self._fresh(self._positions)
        if cached is None:
            self._misses += 1
            self._count("positions")
            cached = self.inner.positions()
            self._positions = (self._timer(), cached)
        return dict(cached)

    def orders(self, *, open_only: bool = True) -> list[Order]:
        """Passed through."""
        self._count("orders")
        return self.inner.orders(open_only=open_only)

    def get_order(self, client_order_id: str) -> Order | None:
        """Passed through."""
        self._count("get_order")
        return self.inner.get_order(client_order_id)

    def submit(self, order: Order) -> Order:
        """Passed through; drops the cache (also when the inner broker raises)."""
        self._count("submit")
        try:
            return self.inner.submit(order)
        finally:
            self.invalidate()

    def cancel(self, client_order_id: str) -> Order:
        """Passed through; drops the cache (also when the inner broker raises)."""
        self._count("cancel")
        try:
            return self.inner.cancel(client_order_id)
        finally:
            self.invalidate()

    def events(self, after_seq: int = 0) -> list[BrokerEvent]:
        """Passed through; a fill or settlement among the events drops the cache."""
        self._count("events")
        found = self.inner.events(after_seq)
        if any(changes_holdings(e) for e in found):
            self.invalidate()
        return found

    def close(self) -> None:
        """Closes the inner broker."""
        self.inner.close()

    def stats(self) -> CacheCounts:
        """Hits, misses and invalidations so far."""
        return CacheCounts(self._hits, self._misses, self._invalidations)

    @property
    def api_calls(self) -> int:
        """Total calls that reached the inner broker."""
        return sum(self.calls.values())
