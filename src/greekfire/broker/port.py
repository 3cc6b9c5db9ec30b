"""The broker port: what the engine needs from any broker, paper or real.

Contract of :class:`Broker`
---------------------------
Identity
    Every order carries a ``client_order_id`` chosen (and journaled) by the engine before it is
    sent. ``submit`` of an id the broker already holds never creates a second order: it raises
    :class:`~greekfire.errors.OrderRejected` mentioning the duplicate, and ``get_order`` of that
    id returns the existing order. ``get_order`` returns ``None`` for an id the broker never
    received; that is how restart recovery tells "sent" from "not sent".
Results
    Domain values only (:mod:`greekfire.domain.orders`, :mod:`greekfire.domain.portfolio`); no
    vendor field name or unit leaves an adapter. Positions are keyed by symbol (ticker or
    compact OCC), flat positions are absent.
Errors
    ``OrderRejected`` the broker refused (buying power, bad quantity, unknown symbol, market
    closed for that order type, duplicate id); the message says why. ``TransientError``
    (``RateLimited``) try again later. ``ProviderError`` any other non-retryable answer.
    ``ValueError`` the caller broke the contract.
Events
    ``events(after_seq)`` returns what happened since ``after_seq`` in order: order status
    changes with their fills, option expiries, exercises and assignments. ``seq`` increases.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from greekfire.domain.market import Quote
from greekfire.domain.orders import BrokerEvent, Order
from greekfire.domain.portfolio import Account, Position

__all__ = ["Broker", "QuoteSource"]


@runtime_checkable
class Broker(Protocol):
    """The broker port; see the module docstring for the contract.

    Attributes
    ----------
    name
        Short name for logs and the journal (``"paper"``, ``"alpaca"``).
    """

    name: str

    def account(self) -> Account:
        """Balances now."""
        ...

    def positions(self) -> dict[str, Position]:
        """Open positions by symbol."""
        ...

    def orders(self, *, open_only: bool = True) -> list[Order]:
        """Orders the broker knows, oldest first; only those that may still fill by default."""
        ...

    def get_order(self, client_order_id: str) -> Order | None:
        """The order with this client id, or ``None`` when the broker never received it."""
        ...

    def submit(self, order: Order) -> Order:
        """Send ``order`` (status ``PENDING_NEW``); return it as acknowledged (``NEW``, or
        already ``FILLED``...). Raises ``OrderRejected`` with the reason when refused."""
        ...

    def cancel(self, client_order_id: str) -> Order:
        """Cancel an open order; return its state after the request. Raises ``OrderRejected``
        when it is no longer open or unknown."""
        ...

    def events(self, after_seq: int = 0) -> list[BrokerEvent]:
        """Events with ``seq > after_seq``, oldest first."""
        ...

    def close(self) -> None:
        """Release connections; the broker is not used afterwards."""
        ...


@runtime_checkable
class QuoteSource(Protocol):
    """Latest quotes for stocks and options, as the paper broker fills against them."""

    def quote(self, symbol: str) -> Quote | None:
        """The latest quote of ``symbol`` (ticker or OCC), ``None`` when there is none."""
        ...
