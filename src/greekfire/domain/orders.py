"""Orders, their legs and statuses, fills and broker events.

Conventions
-----------
Quantities
    ``qty`` is a positive number of units (shares, contracts, or spread units for a multi-leg
    order); the direction is the leg's :class:`Side`. A leg's ``ratio`` multiplies the order's
    ``qty`` (a 1x1 vertical has two legs of ratio 1).
Prices
    Per share, in the price currency; an option premium is quoted per share (the dollar value is
    ``price * 100``). The limit price of a single-leg order is positive. The *net* limit price of
    a multi-leg order is per spread unit: positive for a net debit (paid), negative for a net
    credit (received), as Alpaca's ``mleg`` orders take it.
Status
    :data:`TRANSITIONS` is the whole state machine; :meth:`Order.with_status` refuses anything
    it does not list with a :class:`~greekfire.errors.StateError`. ``PENDING_NEW`` is the
    journal's write-ahead state: the intent is recorded, the broker has not acknowledged it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Final, TypeVar

from greekfire.domain.instruments import instrument_for
from greekfire.errors import StateError

__all__ = [
    "TERMINAL_STATUSES",
    "TRANSITIONS",
    "BrokerEvent",
    "EventKind",
    "Fill",
    "Leg",
    "Order",
    "OrderIntent",
    "OrderStatus",
    "OrderType",
    "PositionEffect",
    "Side",
    "TimeInForce",
]


class Side(StrEnum):
    """Buy or sell."""

    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        """The other side."""
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    """Market or limit."""

    MARKET = "market"
    LIMIT = "limit"


class TimeInForce(StrEnum):
    """``DAY`` expires at the session close; ``GTC`` rests until filled or canceled."""

    DAY = "day"
    GTC = "gtc"


class PositionEffect(StrEnum):
    """Whether a leg opens or closes a position (risk lets closing orders through a halt)."""

    OPEN = "open"
    CLOSE = "close"


class OrderStatus(StrEnum):
    """Life cycle of an order; see :data:`TRANSITIONS`."""

    PENDING_NEW = "pending_new"
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    PENDING_CANCEL = "pending_cancel"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"

    @property
    def is_open(self) -> bool:
        """True while the order may still fill."""
        return self not in TERMINAL_STATUSES


_S = OrderStatus
TERMINAL_STATUSES: Final = frozenset({_S.FILLED, _S.CANCELED, _S.EXPIRED, _S.REJECTED})
TRANSITIONS: Final[dict[OrderStatus, frozenset[OrderStatus]]] = {
    _S.PENDING_NEW: frozenset(
        {_S.NEW, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.EXPIRED, _S.REJECTED}
    ),
    _S.NEW: frozenset(
        {_S.PARTIALLY_FILLED, _S.FILLED, _S.PENDING_CANCEL, _S.CANCELED, _S.EXPIRED, _S.REJECTED}
    ),
    _S.PARTIALLY_FILLED: frozenset(
        {_S.PARTIALLY_FILLED, _S.FILLED, _S.PENDING_CANCEL, _S.CANCELED, _S.EXPIRED}
    ),
    _S.PENDING_CANCEL: frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.EXPIRED}),
    _S.FILLED: frozenset(),
    _S.CANCELED: frozenset(),
    _S.EXPIRED: frozenset(),
    _S.REJECTED: frozenset(),
}
"""Allowed status changes: ``TRANSITIONS[old]`` holds every legal ``new``."""

_E = TypeVar("_E", bound=StrEnum)


def _enum(kind: type[_E], value: str, name: str) -> _E:
    # the enum's own error names neither the field nor the choices
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(repr(member.value) for member in kind)
        raise ValueError(f"{name}: expected one of {choices}, got {value!r}") from None


@dataclass(frozen=True, slots=True)
class Leg:
    """One instrument of an order: ``symbol`` (ticker or OCC), ``side``, ``ratio`` (units per
    order unit) and, optionally, whether it opens or closes a position."""

    symbol: str
    side: Side
    ratio: int = 1
    effect: PositionEffect | None = None

    def __post_init__(self) -> None:
        instrument_for(self.symbol)  # validates the symbol, naming the bad field
        object.__setattr__(self, "side", _enum(Side, self.side, "side"))
        if not isinstance(self.ratio, int) or isinstance(self.ratio, bool) or self.ratio < 1:
            raise ValueError(f"ratio: expected a whole number >= 1, got {self.ratio!r}")
        if self.effect is not None:
            object.__setattr__(self, "effect", _enum(PositionEffect, self.effect, "effect"))


def _check_qty(qty: float) -> float:
    value = float(qty)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"qty: expected a finite number > 0, got {qty!r}")
    return value


def _check_limit(order_type: OrderType, limit_price: float | None, legs: int) -> None:
    if order_type is OrderType.MARKET:
        if limit_price is not None:
            raise ValueError(f"limit_price: a market order takes none, got {limit_price!r}")
        return
    if limit_price is None or not math.isfinite(limit_price):
        raise ValueError(f"limit_price: a limit order needs a finite price, got {limit_price!r}")
    if legs == 1 and limit_price <= 0:
        raise ValueError(f"limit_price: expected a price > 0 for one leg, got {limit_price!r}")


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What a strategy asks for; the engine sizes, risk-checks and turns it into an :class:`Order`.

    Attributes
    ----------
    legs : tuple of Leg
        One leg for a stock or single option order; two or more for a spread.
    qty : float
        Order units (> 0); risk sizing may lower it.
    order_type : OrderType
    limit_price : float or None
        Required for limit orders; see the module docstring for the multi-leg sign.
    tif : TimeInForce, default DAY
    strategy : str
        Name of the strategy that asked (set by the engine when empty).
    reason : str
        Why, in words, for the journal and the logs.
    opening : bool, default True
        True when the order adds risk; False for exits, which a risk halt still allows.
    """

    legs: tuple[Leg, ...]
    qty: float
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    tif: TimeInForce = TimeInForce.DAY
    strategy: str = ""
    reason: str = ""
    opening: bool = True

    def __post_init__(self) -> None:
        if not self.legs:
            raise ValueError("legs: an order needs at least one leg, got none")
        symbols = [leg.symbol for leg in self.legs]
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"legs: each symbol may appear once, got {symbols!r}")
        object.__setattr__(self, "qty", _check_qty(self.qty))
        object.__setattr__(self, "order_type", _enum(OrderType, self.order_type, "order_type"))
        object.__setattr__(self, "tif", _enum(TimeInForce, self.tif, "tif"))
        _check_limit(self.order_type, self.limit_price, len(self.legs))

    @classmethod
    def single(
        cls,
        symbol: str,
        side: Side | str,
        qty: float,
        *,
        limit_price: float | None = None,
        tif: TimeInForce = TimeInForce.DAY,
        strategy: str = "",
        reason: str = "",
        opening: bool = True,
    ) -> OrderIntent:
        """A one-leg order: market when ``limit_price`` is ``None``, else limit."""
        effect = PositionEffect.OPEN if opening else PositionEffect.CLOSE
        order_type = OrderType.MARKET if limit_price is None else OrderType.LIMIT
        return cls(
            (Leg(symbol, _enum(Side, side, "side"), 1, effect),),
            qty,
            order_type,
            limit_price,
            tif,
            strategy,
            reason,
            opening,
        )

    @property
    def is_multi_leg(self) -> bool:
        """True for a spread."""
        return len(self.legs) > 1

    @property
    def symbol(self) -> str:
        """The first leg's symbol (the only one for a single-leg order)."""
        return self.legs[0].symbol

    @property
    def side(self) -> Side:
        """The first leg's side."""
        return self.legs[0].side


@dataclass(frozen=True, slots=True)
class Order:
    """An order as sent and tracked: the intent plus its ids, status and fills so far.

    Attributes
    ----------
    client_order_id : str
        Our id, written to the journal before the order is sent; the broker deduplicates on it.
    intent : OrderIntent
    status : OrderStatus
    created_ns, updated_ns : int
        UTC nanoseconds.
    broker_order_id : str or None
        The broker's id once acknowledged.
    filled_qty : float
        Order units filled.
    avg_fill_price : float
        Average net fill price per order unit (NaN before any fill).
    reason : str
        Why the broker or the engine rejected, canceled or expired it.
    """

    client_order_id: str
    intent: OrderIntent
    status: OrderStatus = OrderStatus.PENDING_NEW
    created_ns: int = 0
    updated_ns: int = 0
    broker_order_id: str | None = None
    filled_qty: float = 0.0
    avg_fill_price: float = math.nan
    reason: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.client_order_id, str) or not 0 < len(self.client_order_id) <= 128:
            raise ValueError(
                f"client_order_id: expected 1-128 characters, got {self.client_order_id!r}"
            )
        object.__setattr__(self, "status", _enum(OrderStatus, self.status, "status"))

    @property
    def symbol(self) -> str:
        """The first leg's symbol."""
        return self.intent.symbol

    @property
    def side(self) -> Side:
        """The first leg's side."""
        return self.intent.side

    @property
    def qty(self) -> float:
        """Order units."""
        return self.intent.qty

    @property
    def remaining_qty(self) -> float:
        """Units not yet filled."""
        return max(0.0, self.intent.qty - self.filled_qty)

    @property
    def is_open(self) -> bool:
        """True while the order may still fill."""
        return self.status.is_open

    def with_status(self, status: OrderStatus, ts_ns: int, **changes: object) -> Order:
        """A copy in ``status`` (plus any other field changes), if :data:`TRANSITIONS` allows it.

        A change to the same status is allowed and only updates the other fields.

        Raises
        ------
        StateError
            The transition is not in the table.
        """
        status = _enum(OrderStatus, status, "status")
        if status is not self.status and status not in TRANSITIONS[self.status]:
            raise StateError(
                f"order {self.client_order_id}: status {self.status.value!r} cannot become"
                f" {status.value!r}"
            )
        return replace(self, status=status, updated_ns=ts_ns, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of one leg.

    Attributes
    ----------
    fill_id : str
        Unique per fill (the broker's execution id).
    client_order_id : str
    symbol : str
        The leg's symbol.
    side : Side
    qty : float
        Units of that instrument (shares or contracts), > 0.
    price : float
        Per share (option premium per share).
    fee_usd : float
        Commissions and regulatory fees charged for this fill, >= 0.
    ts_ns : int
        UTC nanoseconds.
    """

    fill_id: str
    client_order_id: str
    symbol: str
    side: Side
    qty: float
    price: float
    fee_usd: float
    ts_ns: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "side", _enum(Side, self.side, "side"))
        _check_qty(self.qty)
        if not (math.isfinite(self.price) and self.price >= 0):
            raise ValueError(f"price: expected a finite price >= 0, got {self.price!r}")
        if not (math.isfinite(self.fee_usd) and self.fee_usd >= 0):
            raise ValueError(f"fee_usd: expected a finite fee >= 0, got {self.fee_usd!r}")


class EventKind(StrEnum):
    """What a :class:`BrokerEvent` reports."""

    ORDER_ACCEPTED = "order_accepted"
    ORDER_FILLED = "order_filled"
    ORDER_PARTIALLY_FILLED = "order_partially_filled"
    ORDER_CANCELED = "order_canceled"
    ORDER_EXPIRED = "order_expired"
    ORDER_REJECTED = "order_rejected"
    OPTION_EXPIRED = "option_expired"
    """An out-of-the-money option expired worthless."""
    OPTION_EXERCISED = "option_exercised"
    """A long in-the-money option was exercised into stock at the strike."""
    OPTION_ASSIGNED = "option_assigned"
    """A short in-the-money option was assigned: stock delivered or taken at the strike."""


@dataclass(frozen=True, slots=True)
class BrokerEvent:
    """Something the broker did: an order update (with its fills) or an option settlement.

    Attributes
    ----------
    kind : EventKind
    ts_ns : int
        UTC nanoseconds.
    seq : int
        Increasing per broker; ``Broker.events(after_seq)`` resumes after it.
    client_order_id : str or None
        The order concerned, if any.
    symbol : str
        The instrument concerned (the option for settlements).
    order : Order or None
        The order's state after the event.
    fills : tuple of Fill
        Executions this event reports (settlements report the stock leg and the option leg as
        fills at the strike and at 0).
    detail : str
        Human-readable explanation.
    """

    kind: EventKind
    ts_ns: int
    seq: int
    symbol: str = ""
    client_order_id: str | None = None
    order: Order | None = None
    fills: tuple[Fill, ...] = field(default=())
    detail: str = ""
