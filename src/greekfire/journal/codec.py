"""Domain values <-> journal rows and JSON.

Events, positions and accounts are converted here; orders and fills (and the JSON helpers)
come from :mod:`greekfire.domain.records`, the codec the paper broker's state file shares, and
are re-exported. Every function is pure, and a value read back compares equal to the value
written (NaN prices are stored as ``NULL`` and read back as :data:`math.nan`).
"""

from __future__ import annotations

from greekfire.domain.orders import (
    BrokerEvent,
    EventKind,
)
from greekfire.domain.portfolio import Account, Position
from greekfire.domain.records import (
    ORDER_COLUMNS,
    RowLike,
    dumps,
    fill_from_mapping,
    fill_to_dict,
    loads,
    nan_to_none,
    none_to_nan,
    order_from_mapping,
    order_to_dict,
)

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
        "mark": nan_to_none(mark),
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
        "last_equity_usd": nan_to_none(account.last_equity_usd),
    }


def account_from_mapping(row: RowLike) -> Account:
    """Rebuild an :class:`Account` from an ``account_snapshots`` row."""
    return Account(
        cash_usd=float(row["cash_usd"]),
        equity_usd=float(row["equity_usd"]),
        buying_power_usd=float(row["buying_power_usd"]),
        long_market_value_usd=float(row["long_market_value_usd"]),
        short_market_value_usd=float(row["short_market_value_usd"]),
        last_equity_usd=none_to_nan(row["last_equity_usd"]),
        ts_ns=int(row["ts_ns"]),
    )
