"""Alpaca's wire models <-> greekfire's domain values, in one place.

The adapter (:mod:`greekfire.broker.alpaca`) talks to alpaca-py; this module turns alpaca-py's
pydantic models (orders, account, positions) and the raw account-activity rows into domain
values, and domain orders into alpaca-py order requests. No Alpaca field name leaves it.

Statuses
    Alpaca has more order states than :class:`~greekfire.domain.orders.OrderStatus`; every
    "received, not done" state (``new``, ``accepted``, ``pending_new``, ``held``,
    ``done_for_day``...) maps to ``NEW`` (``PARTIALLY_FILLED`` once something filled),
    ``replaced`` maps to ``CANCELED`` (with a reason naming the replacement) and
    ``calculated`` to ``FILLED`` when everything filled.
Multi-leg orders
    Sent as Alpaca's ``mleg`` order class: ``qty`` spread units, one ``OptionLegRequest`` per
    leg (``ratio_qty``, side and, when the leg says so, ``position_intent``) and a net
    ``limit_price`` positive for a debit, negative for a credit, as the domain takes it.

alpaca-py is imported lazily (inside the functions that build requests), so importing this
module costs nothing without the ``alpaca`` extra.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from greekfire.domain.instruments import is_option_symbol
from greekfire.domain.orders import (
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
from greekfire.errors import ParseError

if TYPE_CHECKING:
    from alpaca.trading.models import Order as WireOrder
    from alpaca.trading.models import Position as WirePosition
    from alpaca.trading.models import TradeAccount
    from alpaca.trading.requests import OrderRequest

__all__ = [
    "account_from_wire",
    "fill_from_activity",
    "intent_from_wire",
    "order_from_wire",
    "order_request",
    "position_from_wire",
    "status_from_wire",
    "to_ns",
]

_S = OrderStatus
_STATUS: Final[dict[str, OrderStatus]] = {
    "new": _S.NEW,
    "accepted": _S.NEW,
    "pending_new": _S.NEW,
    "accepted_for_bidding": _S.NEW,
    "pending_review": _S.NEW,
    "pending_replace": _S.NEW,
    "held": _S.NEW,
    "suspended": _S.NEW,
    "stopped": _S.NEW,
    "done_for_day": _S.NEW,
    "calculated": _S.NEW,
    "partially_filled": _S.PARTIALLY_FILLED,
    "filled": _S.FILLED,
    "pending_cancel": _S.PENDING_CANCEL,
    "canceled": _S.CANCELED,
    "replaced": _S.CANCELED,
    "expired": _S.EXPIRED,
    "rejected": _S.REJECTED,
}
_INTENT_EFFECT: Final[dict[str, tuple[Side, PositionEffect]]] = {
    "buy_to_open": (Side.BUY, PositionEffect.OPEN),
    "buy_to_close": (Side.BUY, PositionEffect.CLOSE),
    "sell_to_open": (Side.SELL, PositionEffect.OPEN),
    "sell_to_close": (Side.SELL, PositionEffect.CLOSE),
}
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _text(value: object) -> str:
    # alpaca-py enums are str subclasses; .value is the wire text.
    raw = getattr(value, "value", value)
    return "" if raw is None else str(raw)


def _number(name: str, value: object, default: float = math.nan) -> float:
    if value is None or value == "":
        return default
    try:
        return float(str(value))
    except ValueError:
        raise ParseError(f"{name}: expected a number from Alpaca, got {value!r}") from None


def to_ns(stamp: dt.datetime | None, default: int = 0) -> int:
    """UTC nanoseconds of a tz-aware datetime (naive counts as UTC); ``default`` for None."""
    if stamp is None:
        return default
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    delta = stamp - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def status_from_wire(status: str, filled_qty: float, qty: float) -> OrderStatus:
    """The domain status of an Alpaca order status (see the module docstring).

    Raises
    ------
    ParseError
        A status Alpaca does not document.
    """
    mapped = _STATUS.get(status)
    if mapped is None:
        raise ParseError(f"status: unknown Alpaca order status {status!r}")
    if mapped is OrderStatus.NEW and filled_qty > 0:
        return OrderStatus.FILLED if filled_qty >= qty - 1e-9 else OrderStatus.PARTIALLY_FILLED
    return mapped


def _leg_from_wire(symbol: str, side: str, ratio: object, position_intent: str) -> Leg:
    effect = _INTENT_EFFECT[position_intent][1] if position_intent in _INTENT_EFFECT else None
    if not side and position_intent in _INTENT_EFFECT:
        side = _INTENT_EFFECT[position_intent][0].value
    whole = _number("ratio_qty", ratio, 1.0)
    return Leg(symbol, Side(side), max(1, round(whole)), effect)


def intent_from_wire(wire: WireOrder, qty: float) -> OrderIntent:
    """The :class:`OrderIntent` an Alpaca order carries: legs (symbol, side, ratio, effect from
    ``position_intent``), ``qty``, type (stop-limit as limit, other stops as market), limit
    price, time in force (``day`` unless ``gtc``); ``opening`` unless every leg closes."""
    if _text(wire.order_class) == "mleg":
        legs = tuple(
            _leg_from_wire(
                str(leg.symbol), _text(leg.side), leg.ratio_qty, _text(leg.position_intent)
            )
            for leg in wire.legs or ()
        )
    else:
        legs = (_leg_from_wire(str(wire.symbol), _text(wire.side), 1, _text(wire.position_intent)),)
    if not legs:
        raise ParseError(f"legs: Alpaca order {wire.client_order_id!r} has no legs")
    limit = _number("limit_price", wire.limit_price, math.nan)
    kind = OrderType.LIMIT if math.isfinite(limit) else OrderType.MARKET
    tif = TimeInForce.GTC if _text(wire.time_in_force) == "gtc" else TimeInForce.DAY
    opening = not all(leg.effect is PositionEffect.CLOSE for leg in legs)
    return OrderIntent(
        legs, qty, kind, limit if kind is OrderType.LIMIT else None, tif, opening=opening
    )


def _same_order(local: OrderIntent, wire: OrderIntent) -> bool:
    def shape(intent: OrderIntent) -> tuple[object, ...]:
        return (
            tuple((leg.symbol, leg.side, leg.ratio) for leg in intent.legs),
            intent.order_type,
            intent.tif,
        )

    same_limit = (local.limit_price is None and wire.limit_price is None) or (
        local.limit_price is not None
        and wire.limit_price is not None
        and abs(local.limit_price - wire.limit_price) < 1e-6
    )
    return shape(local) == shape(wire) and abs(local.qty - wire.qty) < 1e-9 and same_limit


def order_from_wire(wire: WireOrder, local: OrderIntent | None = None) -> Order:
    """The domain :class:`Order` of an alpaca-py order.

    ``local`` is the intent this process sent under the same client id, if any: when the wire
    agrees with it (legs, qty, type, limit, tif) it is kept, so the strategy name, reason and
    leg effects survive the round trip; otherwise the intent is the one rebuilt from the wire.

    Raises
    ------
    ParseError
        An order greekfire cannot represent (a notional order with nothing filled yet, an
        unknown status, a bad number).
    """
    filled = _number("filled_qty", wire.filled_qty, 0.0)
    qty = _number("qty", wire.qty, math.nan)
    if not math.isfinite(qty) or qty <= 0:
        if filled <= 0:
            raise ParseError(
                f"qty: Alpaca order {wire.client_order_id!r} has no quantity"
                f" (notional {wire.notional!r}); greekfire orders need one"
            )
        qty = filled
    intent = intent_from_wire(wire, qty)
    if local is not None and _same_order(local, intent):
        intent = local
    status_text = _text(wire.status)
    status = status_from_wire(status_text, filled, qty)
    reason = ""
    if status_text == "replaced":
        reason = f"replaced by Alpaca order {wire.replaced_by}"
    elif status in (OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED):
        reason = f"alpaca: {status_text}"
    avg = _number("filled_avg_price", wire.filled_avg_price, math.nan) if filled > 0 else math.nan
    created = to_ns(wire.created_at)
    return Order(
        client_order_id=wire.client_order_id,
        intent=intent,
        status=status,
        created_ns=created,
        updated_ns=to_ns(wire.updated_at, created),
        broker_order_id=str(wire.id),
        filled_qty=filled,
        avg_fill_price=avg,
        reason=reason,
    )


def account_from_wire(wire: TradeAccount, ts_ns: int) -> Account:
    """The domain :class:`Account` of Alpaca's account object, taken at ``ts_ns``."""
    return Account(
        cash_usd=_number("cash", wire.cash),
        equity_usd=_number("equity", wire.equity),
        buying_power_usd=_number("buying_power", wire.buying_power),
        long_market_value_usd=_number("long_market_value", wire.long_market_value, 0.0),
        short_market_value_usd=_number("short_market_value", wire.short_market_value, 0.0),
        last_equity_usd=_number("last_equity", wire.last_equity),
        ts_ns=ts_ns,
    )


def position_from_wire(wire: WirePosition) -> Position:
    """The domain :class:`Position`: signed qty (short < 0 whatever the wire's sign),
    ``avg_entry_price`` as the average cost per share, the OCC symbol as is."""
    qty = abs(_number("qty", wire.qty))
    if _text(wire.side) == "short":
        qty = -qty
    return Position(wire.symbol, qty, _number("avg_entry_price", wire.avg_entry_price))


def fill_from_activity(row: Mapping[str, Any], client_order_id: str) -> Fill:
    """A :class:`Fill` from a ``FILL`` account activity (Alpaca charges no commission)."""
    stamp = str(row.get("transaction_time") or "")
    try:
        ts = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        raise ParseError(f"transaction_time: expected RFC 3339, got {stamp!r}") from None
    return Fill(
        fill_id=str(row.get("id")),
        client_order_id=client_order_id,
        symbol=str(row.get("symbol")),
        side=Side(str(row.get("side"))),
        qty=abs(_number("qty", row.get("qty"))),
        price=_number("price", row.get("price")),
        fee_usd=0.0,
        ts_ns=to_ns(ts),
    )


def _position_intent(side: Side, effect: PositionEffect | None) -> str | None:
    if effect is None:
        return None
    return f"{side.value}_to_{effect.value}"


def order_request(order: Order) -> OrderRequest:
    """The alpaca-py request that sends ``order``: market or limit, day or gtc, its client id;
    a single leg as a simple order (``position_intent`` for an option leg with an effect), two
    or more legs as an ``mleg`` order with a net limit price."""
    from alpaca.trading.enums import OrderClass, OrderSide, PositionIntent
    from alpaca.trading.enums import OrderType as WireType
    from alpaca.trading.enums import TimeInForce as WireTif
    from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest, OptionLegRequest

    intent = order.intent
    fields: dict[str, Any] = {
        "qty": intent.qty,
        "time_in_force": WireTif(intent.tif.value),
        "client_order_id": order.client_order_id,
    }
    if intent.is_multi_leg:
        fields["order_class"] = OrderClass.MLEG
        fields["legs"] = [
            OptionLegRequest(
                symbol=leg.symbol,
                ratio_qty=leg.ratio,
                side=OrderSide(leg.side.value),
                position_intent=(
                    None
                    if leg.effect is None
                    else PositionIntent(_position_intent(leg.side, leg.effect))
                ),
            )
            for leg in intent.legs
        ]
    else:
        leg = intent.legs[0]
        fields["symbol"] = leg.symbol
        fields["side"] = OrderSide(leg.side.value)
        fields["qty"] = intent.qty * leg.ratio
        wire_intent = _position_intent(leg.side, leg.effect)
        if wire_intent is not None and is_option_symbol(leg.symbol):
            fields["position_intent"] = PositionIntent(wire_intent)
    if intent.order_type is OrderType.LIMIT:
        return LimitOrderRequest(type=WireType.LIMIT, limit_price=intent.limit_price, **fields)
    return MarketOrderRequest(type=WireType.MARKET, **fields)
