"""Orders and fills as plain dicts (JSON-ready, or the columns of a table row) and back.

One codec for every place that stores domain values: the SQLite journal (its ``orders`` and
``fills`` columns and event payloads) and the paper broker's state file. A value read back
compares equal to the value written. NaN prices are written as ``None`` (SQLite stores a NaN
``REAL`` as ``NULL``; JSON has no NaN) and read back as :data:`math.nan`. :func:`dumps` is
compact JSON with sorted keys; enums become their values, dataclasses their fields, sets sorted
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

__all__ = [
    "ORDER_COLUMNS",
    "RowLike",
    "dumps",
    "fill_from_mapping",
    "fill_to_dict",
    "loads",
    "nan_to_none",
    "none_to_nan",
    "order_from_mapping",
    "order_to_dict",
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


def nan_to_none(value: float | None) -> float | None:
    """``None`` for NaN (or ``None``), else the float."""
    if value is None or math.isnan(value):
        return None
    return float(value)


def none_to_nan(value: object) -> float:
    """NaN for ``None``, else the float."""
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
        "limit_price": nan_to_none(intent.limit_price),
        "tif": intent.tif.value,
        "status": order.status.value,
        "filled_qty": order.filled_qty,
        "avg_fill_price": nan_to_none(order.avg_fill_price),
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
        avg_fill_price=none_to_nan(row["avg_fill_price"]),
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
