"""Domain values <-> journal rows and JSON.

Every function here is pure: it turns an :class:`~greekfire.domain.orders.Order`, a
:class:`~greekfire.domain.orders.Fill`, a :class:`~greekfire.domain.orders.BrokerEvent`, a
:class:`~greekfire.domain.portfolio.Position` or an :class:`~greekfire.domain.portfolio.Account`
into plain values (SQL parameters or JSON-ready dicts) and back, so that a value read back
compares equal to the value written.

NaN
    SQLite stores a NaN ``REAL`` as ``NULL``; NaN prices are written as ``NULL`` and read back
    as :data:`math.nan` (the very object the domain defaults use, so dataclass equality holds).
JSON
    Compact, keys sorted; enums become their values, dataclasses their fields, sets sorted
    lists, anything else ``str(value)``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Sequence
from typing import Any, Protocol

from greekfire.domain.orders import (
    BrokerEvent,
    EventKind,
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

__all__ = [
    "ORDER_COLUMNS",
    "RowLike",
    "account_from_mapping",
    "account_to_dict",
    "dumps",
    "event_from_mapping",
    "event_to_dict",
    "fill_from_mapping",
    "fill_to_dict",
    "loads",
    "order_from_mapping",
    "order_to_dict",
    "position_from_mapping",
    "position_to_dict",
]


class RowLike(Protocol):
    """What the ``*_from_mapping`` functions read: a dict or a :class:`sqlite3.Row`."""

    def __getitem__(self, key: str, /) -> Any: ...


ORDER_COLUMNS: tuple[str, ...] = (
    "client_order_id",
    "broker_order_id",
    "strategy",
    "legs",
    "qty",
    "order_type",
    "limit_price",
    "tif",
    "status",
    "filled_qty",
    "avg_fill_price",
    "reason",
    "intent_reason",
    "opening",
    "created_ns",
    "updated_ns",
)
"""Columns of the ``orders`` table, in the order :func:`order_to_dict` fills them."""


def _default(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def dumps(value: object) -> str:
    """Compact JSON with sorted keys; non-JSON values are converted (see the module docstring)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=_default)


def loads(text: str | bytes) -> Any:
    """Parse JSON written by :func:`dumps`."""
    return json.loads(text)


def _nan_to_none(value: float | None) -> float | None:
    if value is None or math.isnan(value):
        return None
    return float(value)


def _none_to_nan(value: object) -> float:
    return math.nan if value is None else float(value)  # type: ignore[arg-type]


def _legs_to_list(legs: Sequence[Leg]) -> list[dict[str, object]]:
    return [
        {
            "symbol": leg.symbol,
            "side": leg.side.value,
            "ratio": leg.ratio,
            "effect": None if leg.effect is None else leg.effect.value,
        }
        for leg in legs
    ]


def _legs_from(value: object) -> tuple[Leg, ...]:
    items = loads(value) if isinstance(value, str | bytes) else value
    if not isinstance(items, list):
        raise ValueError(f"legs: expected a JSON list, got {value!r}")
    return tuple(
        Leg(
            str(item["symbol"]),
            Side(item["side"]),
            int(item["ratio"]),
            None if item.get("effect") is None else PositionEffect(item["effect"]),
        )
        for item in items
    )


def order_to_dict(order: Order, *, legs_as_json: bool = False) -> dict[str, object]:
    """The order as the ``orders`` table's columns (:data:`ORDER_COLUMNS`).

    Parameters
    ----------
    order : Order
    legs_as_json : bool, default False
        Give ``legs`` as a JSON string (for the SQL parameter) instead of a list of dicts.
    """
    intent = order.intent
    legs = _legs_to_list(intent.legs)
    return {
        "client_order_id": order.client_order_id,
        "broker_order_id": order.broker_order_id,
        "strategy": intent.strategy,
        "legs": dumps(legs) if legs_as_json else legs,
        "qty": intent.qty,
        "order_type": intent.order_type.value,
        "limit_price": _nan_to_none(intent.limit_price),
        "tif": intent.tif.value,
        "status": order.status.value,
        "filled_qty": order.filled_qty,
        "avg_fill_price": _nan_to_none(order.avg_fill_price),
        "reason": order.reason,
        "intent_reason": intent.reason,
        "opening": bool(intent.opening),
        "created_ns": order.created_ns,
        "updated_ns": order.updated_ns,
    }


def order_from_mapping(row: RowLike) -> Order:
    """Rebuild an :class:`Order` from :func:`order_to_dict` output or an ``orders`` row."""
    limit = row["limit_price"]
    intent = OrderIntent(
        legs=_legs_from(row["legs"]),
        qty=float(row["qty"]),
        order_type=OrderType(row["order_type"]),
        limit_price=None if limit is None else float(limit),
        tif=TimeInForce(row["tif"]),
        strategy=str(row["strategy"]),
        reason=str(row["intent_reason"]),
        opening=bool(row["opening"]),
    )
    broker_id = row["broker_order_id"]
    return Order(
        client_order_id=str(row["client_order_id"]),
        intent=intent,
        status=OrderStatus(row["status"]),
        created_ns=int(row["created_ns"]),
        updated_ns=int(row["updated_ns"]),
        broker_order_id=None if broker_id is None else str(broker_id),
        filled_qty=float(row["filled_qty"]),
        avg_fill_price=_none_to_nan(row["avg_fill_price"]),
        reason=str(row["reason"]),
    )


def fill_to_dict(fill: Fill) -> dict[str, object]:
    """The fill as the ``fills`` table's columns."""
    return {
        "fill_id": fill.fill_id,
        "client_order_id": fill.client_order_id,
        "symbol": fill.symbol,
        "side": fill.side.value,
        "qty": fill.qty,
        "price": fill.price,
        "fee_usd": fill.fee_usd,
        "ts_ns": fill.ts_ns,
    }


def fill_from_mapping(row: RowLike) -> Fill:
    """Rebuild a :class:`Fill` from :func:`fill_to_dict` output or a ``fills`` row."""
    return Fill(
        fill_id=str(row["fill_id"]),
        client_order_id=str(row["client_order_id"]),
        symbol=str(row["symbol"]),
        side=Side(row["side"]),
        qty=float(row["qty"]),
        price=float(row["price"]),
        fee_usd=float(row["fee_usd"]),
        ts_ns=int(row["ts_ns"]),
    )


def event_to_dict(event: BrokerEvent) -> dict[str, object]:
    """The event as the ``events`` table's columns; ``payload`` (order and fills) as JSON."""
    payload = {
        "order": None if event.order is None else order_to_dict(event.order),
        "fills": [fill_to_dict(f) for f in event.fills],
    }
    return {
        "seq": event.seq,
        "kind": event.kind.value,
        "ts_ns": event.ts_ns,
        "symbol": event.symbol,
        "client_order_id": event.client_order_id,
        "detail": event.detail,
        "payload": dumps(payload),
    }


def event_from_mapping(row: RowLike) -> BrokerEvent:
    """Rebuild a :class:`BrokerEvent` from an ``events`` row (``payload`` as JSON or a dict)."""
    payload = row["payload"]
    if isinstance(payload, str | bytes):
        payload = loads(payload)
    order = payload.get("order")
    client_id = row["client_order_id"]
    return BrokerEvent(
        kind=EventKind(row["kind"]),
        ts_ns=int(row["ts_ns"]),
        seq=int(row["seq"]),
        symbol=str(row["symbol"]),
        client_order_id=None if client_id is None else str(client_id),
        order=None if order is None else order_from_mapping(order),
        fills=tuple(fill_from_mapping(f) for f in payload.get("fills", ())),
        detail=str(row["detail"]),
    )


def position_to_dict(position: Position, mark: float | None = None) -> dict[str, object]:
    """One row of a positions snapshot (``mark`` is ``None`` when unknown or NaN)."""
    return {
        "symbol": position.symbol,
        "qty": position.qty,
        "avg_cost": position.avg_cost,
        "realized_pnl_usd": position.realized_pnl_usd,
        "fees_usd": position.fees_usd,
        "mark": _nan_to_none(mark),
    }


def position_from_mapping(row: RowLike) -> Position:
    """Rebuild a :class:`Position` from a snapshot row."""
    return Position(
        symbol=str(row["symbol"]),
        qty=float(row["qty"]),
        avg_cost=float(row["avg_cost"]),
        realized_pnl_usd=float(row["realized_pnl_usd"]),
        fees_usd=float(row["fees_usd"]),
    )


def account_to_dict(account: Account) -> dict[str, object]:
    """The account as the ``account_snapshots`` table's columns."""
    return {
        "ts_ns": account.ts_ns,
        "cash_usd": account.cash_usd,
        "equity_usd": account.equity_usd,
        "buying_power_usd": account.buying_power_usd,
        "long_market_value_usd": account.long_market_value_usd,
        "short_market_value_usd": account.short_market_value_usd,
        "last_equity_usd": _nan_to_none(account.last_equity_usd),
    }


def account_from_mapping(row: RowLike) -> Account:
    """Rebuild an :class:`Account` from an ``account_snapshots`` row."""
    return Account(
        cash_usd=float(row["cash_usd"]),
        equity_usd=float(row["equity_usd"]),
        buying_power_usd=float(row["buying_power_usd"]),
        long_market_value_usd=float(row["long_market_value_usd"]),
        short_market_value_usd=float(row["short_market_value_usd"]),
        last_equity_usd=_none_to_nan(row["last_equity_usd"]),
        ts_ns=int(row["ts_ns"]),
    )
