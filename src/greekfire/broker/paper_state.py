"""The paper account's state file: JSON, written atomically.

The file holds the orders, every event (with its fills), the counters and the cash. Positions
are not stored: loading replays every fill into a fresh :class:`~greekfire.domain.portfolio.Ledger`
(the ledger is exact to the cent, so the replay reproduces it) and checks the cash against the
stored figure; a mismatch is a :class:`~greekfire.errors.StateError`. Writes go to a sibling
temporary file, are flushed to disk and then renamed over the old file (``os.replace``), so a
crash leaves either the old state or the new one, never half of one.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
from greekfire.errors import StateError

__all__ = [
    "STATE_VERSION",
    "event_from_dict",
    "event_to_dict",
    "fill_from_dict",
    "fill_to_dict",
    "order_from_dict",
    "order_to_dict",
    "read_state",
    "write_state",
]

STATE_VERSION = 1
"""Format version written to, and required of, the state file."""


def _num(value: float) -> float | None:
    return value if math.isfinite(value) else None


def order_to_dict(order: Order) -> dict[str, Any]:
    """A JSON-ready dict of ``order``."""
    intent = order.intent
    return {
        "client_order_id": order.client_order_id,
        "status": order.status.value,
        "created_ns": order.created_ns,
        "updated_ns": order.updated_ns,
        "broker_order_id": order.broker_order_id,
        "filled_qty": order.filled_qty,
        "avg_fill_price": _num(order.avg_fill_price),
        "reason": order.reason,
        "intent": {
            "legs": [
                {
                    "symbol": leg.symbol,
                    "side": leg.side.value,
                    "ratio": leg.ratio,
                    "effect": None if leg.effect is None else leg.effect.value,
                }
                for leg in intent.legs
            ],
            "qty": intent.qty,
            "order_type": intent.order_type.value,
            "limit_price": intent.limit_price,
            "tif": intent.tif.value,
            "strategy": intent.strategy,
            "reason": intent.reason,
            "opening": intent.opening,
        },
    }


def order_from_dict(data: Mapping[str, Any]) -> Order:
    """The :class:`Order` :func:`order_to_dict` wrote."""
    raw = data["intent"]
    legs = tuple(
        Leg(
            leg["symbol"],
            Side(leg["side"]),
            int(leg["ratio"]),
            None if leg["effect"] is None else PositionEffect(leg["effect"]),
        )
        for leg in raw["legs"]
    )
    intent = OrderIntent(
        legs,
        float(raw["qty"]),
        OrderType(raw["order_type"]),
        raw["limit_price"],
        TimeInForce(raw["tif"]),
        raw["strategy"],
        raw["reason"],
        bool(raw["opening"]),
    )
    avg = data["avg_fill_price"]
    return Order(
        data["client_order_id"],
        intent,
        OrderStatus(data["status"]),
        int(data["created_ns"]),
        int(data["updated_ns"]),
        data["broker_order_id"],
        float(data["filled_qty"]),
        math.nan if avg is None else float(avg),
        data["reason"],
    )


def fill_to_dict(fill: Fill) -> dict[str, Any]:
    """A JSON-ready dict of ``fill``."""
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


def fill_from_dict(data: Mapping[str, Any]) -> Fill:
    """The :class:`Fill` :func:`fill_to_dict` wrote."""
    return Fill(
        data["fill_id"],
        data["client_order_id"],
        data["symbol"],
        Side(data["side"]),
        float(data["qty"]),
        float(data["price"]),
        float(data["fee_usd"]),
        int(data["ts_ns"]),
    )


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
        None if data["order"] is None else order_from_dict(data["order"]),
        tuple(fill_from_dict(f) for f in data["fills"]),
        data["detail"],
    )


def write_state(path: Path, state: Mapping[str, Any]) -> None:
    """Write ``state`` as JSON to ``path`` atomically (temporary file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    payload = json.dumps({"version": STATE_VERSION, **state}, separators=(",", ":"))
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_state(path: Path) -> dict[str, Any] | None:
    """The state stored at ``path``, or ``None`` when there is no file.

    Raises
    ------
    StateError
        The file is not valid JSON or has another format version.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StateError(f"state_path: {str(path)!r} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        version = data.get("version") if isinstance(data, dict) else None
        raise StateError(
            f"state_path: {str(path)!r} has format version {version!r}, expected {STATE_VERSION}"
        )
    return data
