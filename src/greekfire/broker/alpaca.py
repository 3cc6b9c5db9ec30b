"""``AlpacaBroker``: the :class:`~greekfire.broker.port.Broker` port over Alpaca's trading API.

Every call goes through alpaca-py's ``TradingClient`` (the ``alpaca`` extra, imported when the
broker is built); :mod:`greekfire.broker.alpaca_map` turns its models into domain values.
``base_url`` (or ``AlpacaBrokerConfig.base_url``) points the client elsewhere, e.g. at a local
``serve-market``.

Errors (mapped here and nowhere else)
    ``APIError`` 403 or 422 on ``submit``/``cancel`` -> :class:`~greekfire.errors.OrderRejected`
    with Alpaca's message; 429 -> :class:`~greekfire.errors.RateLimited` (``retry_after_s``
    from ``Retry-After``); 5xx, connection errors, timeouts and broken answers ->
    :class:`~greekfire.errors.TransientError`; any other 4xx ->
    :class:`~greekfire.errors.ProviderError`; 404 on ``get_order`` -> ``None``. alpaca-py's own
    retry loop (which sleeps 3 s per 429/504) is switched off: retrying is the engine's call.
Events
    ``events()`` polls: the orders submitted since a watermark (the oldest order still open,
    else the newest seen) and the account activities ``FILL``, ``OPEXP``, ``OPASN`` and
    ``OPEXC`` after the last one seen. An order is reported when its (status, filled qty)
    changes, with the fills of its ``FILL`` activities; a settlement activity is reported as
    ``OPTION_EXPIRED`` / ``OPTION_ASSIGNED`` / ``OPTION_EXERCISED`` with the option leg as a
    fill (signed ``qty``: what the settlement bought or sold) plus, for an exercise or an
    assignment, the shares of the ``OPTRD`` activity on the underlying that day. ``seq`` is
    local (1, 2, ... per broker instance); nothing is reported twice (orders by status and
    filled qty, activities by type and id). The first poll reports the most recent 500 orders
    and 100 activities; later polls read at most 500 orders from the watermark, so more than
    500 orders submitted at one instant would hide the rest.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final, TypeVar

from pydantic import ValidationError

from greekfire.broker.alpaca_map import (
    account_from_wire,
    fill_from_activity,
    order_from_wire,
    order_request,
    position_from_wire,
    to_ns,
)
from greekfire.broker.config import AlpacaBrokerConfig
from greekfire.domain.clock import Clock
from greekfire.domain.instruments import OptionContract
from greekfire.domain.orders import (
    BrokerEvent,
    EventKind,
    Fill,
    Order,
    OrderIntent,
    OrderStatus,
    Side,
)
from greekfire.domain.portfolio import Account, Position
from greekfire.errors import (
    OrderRejected,
    ParseError,
    ProviderError,
    RateLimited,
    TransientError,
)

if TYPE_CHECKING:
    from alpaca.trading.client import TradingClient
    from alpaca.trading.models import Order as WireOrder

__all__ = ["SETTLEMENT_ACTIVITIES", "AlpacaBroker"]

SETTLEMENT_ACTIVITIES: Final[dict[str, EventKind]] = {
    "OPEXP": EventKind.OPTION_EXPIRED,
    "OPASN": EventKind.OPTION_ASSIGNED,
    "OPEXC": EventKind.OPTION_EXERCISED,
}
"""Alpaca's option settlement activity types and the event each becomes."""
_ACTIVITY_TYPES: Final = "FILL,OPTRD," + ",".join(SETTLEMENT_ACTIVITIES)
_ORDER_LIMIT: Final = 500
_PAGE: Final = 100
_MAX_EVENTS: Final = 10_000  # events kept for events(after_seq) replays
_EVENT_OF: Final[dict[OrderStatus, EventKind]] = {
    OrderStatus.NEW: EventKind.ORDER_ACCEPTED,
    OrderStatus.PARTIALLY_FILLED: EventKind.ORDER_PARTIALLY_FILLED,
    OrderStatus.FILLED: EventKind.ORDER_FILLED,
    OrderStatus.CANCELED: EventKind.ORDER_CANCELED,
    OrderStatus.EXPIRED: EventKind.ORDER_EXPIRED,
    OrderStatus.REJECTED: EventKind.ORDER_REJECTED,
}
_MICROSECOND: Final = dt.timedelta(microseconds=1)
_T = TypeVar("_T")


def _build_client(
    cfg: AlpacaBrokerConfig, key_id: str, secret_key: str, base_url: str | None
) -> tuple[TradingClient, type[Exception]]:
    import warnings

    with warnings.catch_warnings():  # alpaca.trading imports websockets.legacy (deprecated)
        warnings.simplefilter("ignore", DeprecationWarning)
        from alpaca.common.exceptions import APIError
        from alpaca.trading.client import TradingClient

    client = TradingClient(key_id, secret_key, paper=cfg.paper, url_override=base_url)
    client._retry = 0  # alpaca-py would sleep and retry 429/504 itself
    session = client._session
    session.request = functools.partial(session.request, timeout=cfg.timeout_s)  # type: ignore[method-assign]
    return client, APIError


def _alpaca_message(exc: Exception) -> str:
    text = str(exc)
    try:
        body = json.loads(text)
    except ValueError:
        return text[:300]
    if isinstance(body, dict) and "message" in body:
        return str(body["message"])
    return text[:300]


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    raw = None if response is None else response.headers.get("Retry-After")
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) and value >= 0 else None


def _activity_ns(row: Mapping[str, Any], default: int) -> int:
    stamp = row.get("transaction_time")
    if stamp:
        try:
            return to_ns(dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00")))
        except ValueError:
            pass
    prefix = str(row.get("id", "")).split("::", 1)[0]  # "YYYYMMDDHHMMSSmmm::uuid"
    try:
        base = dt.datetime.strptime(prefix[:14], "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
        return to_ns(base) + int(prefix[14:17] or 0) * 1_000_000
    except ValueError:
        return default


class AlpacaBroker:
    """The :class:`~greekfire.broker.port.Broker` port over Alpaca (see the module docstring).

    Parameters
    ----------
    cfg : AlpacaBrokerConfig
        ``paper`` endpoint or live, ``base_url`` override, ``timeout_s`` per request.
    key_id, secret_key : str
        Alpaca's API key pair (from the environment; never logged).
    clock : Clock
        Stamps account snapshots and events that carry no broker time.
    base_url : str, optional
        Overrides ``cfg.base_url`` (e.g. a local serve-market's ``http://127.0.0.1:port``).

    Raises
    ------
    ValueError
        An empty key or secret.
    ImportError
        alpaca-py is not installed (``pip install greekfire[alpaca]``).
    """

    name = "alpaca"

    def __init__(
        self,
        cfg: AlpacaBrokerConfig,
        *,
        key_id: str,
        secret_key: str,
        clock: Clock,
        base_url: str | None = None,
    ) -> None:
        if not key_id:
            raise ValueError("key_id: expected Alpaca's API key id, got an empty value")
        if not secret_key:
            raise ValueError("secret_key: expected Alpaca's API secret, got an empty value")
        self._client, self._api_error = _build_client(
            cfg, key_id, secret_key, base_url or cfg.base_url
        )
        self._clock = clock
        self._lock = threading.RLock()
        self._intents: dict[str, OrderIntent] = {}  # what this process sent, by client id
        self._client_ids: dict[str, str] = {}  # broker order id -> client order id
        self._seen: dict[str, tuple[OrderStatus, float]] = {}
        self._open_created: dict[str, dt.datetime] = {}  # client id -> created_at, open ones
        self._newest: dt.datetime | None = None
        self._activity_ids: set[str] = set()
        self._stock_legs: list[dict[str, Any]] = []  # OPTRD rows awaiting their settlement
        self._last_activity: str | None = None
        self._log: list[BrokerEvent] = []
        self._seq = 0
        self.skipped = 0
        """Orders the event poll could not represent (e.g. unfilled notional orders)."""

    # ------------------------------------------------------------------ error mapping

    def _call(self, action: str, fn: Callable[..., _T], *args: Any, reject: bool = False) -> _T:
        try:
            return fn(*args)
        except ValidationError as exc:
            raise ParseError(f"{action}: Alpaca's answer does not parse: {exc}") from exc
        except OSError as exc:  # requests' ConnectionError, Timeout, broken bodies
            raise TransientError(f"{action}: {type(exc).__name__}: {exc}") from exc
        except Exception as exc:
            if not isinstance(exc, self._api_error):
                raise
            raise self._translate(action, exc, reject) from exc

    def _translate(self, action: str, exc: Exception, reject: bool) -> Exception:
        status = getattr(exc, "status_code", None) or 0
        message = f"{action}: Alpaca answered {status}: {_alpaca_message(exc)}"
        if status == 429:
            return RateLimited(message, _retry_after(exc))
        if status >= 500:
            return TransientError(message)
        if reject and status in (403, 422):
            return OrderRejected(message)
        return ProviderError(message)

    def _status_of(self, exc: BaseException) -> int:
        cause = exc.__cause__
        return int(getattr(cause, "status_code", 0) or 0) if cause is not None else 0

    # ------------------------------------------------------------------ reads

    def account(self) -> Account:
        """Balances now (``buying_power`` is Alpaca's, margin included)."""
        wire = self._call("account", self._client.get_account)
        return account_from_wire(wire, self._clock.now_ns())  # type: ignore[arg-type]

    def positions(self) -> dict[str, Position]:
        """Open positions by symbol (ticker or OCC), qty signed."""
        wires = self._call("positions", self._client.get_all_positions)
        found = (position_from_wire(w) for w in wires)  # type: ignore[arg-type]
        return {p.symbol: p for p in found if not p.is_flat}

    def _wire_orders(self, status: str, direction: str, after: dt.datetime | None) -> list[Any]:
        from alpaca.common.enums import Sort
        from alpaca.trading.enums import QueryOrderStatus
        from alpaca.trading.requests import GetOrdersRequest

        request = GetOrdersRequest(
            status=QueryOrderStatus(status),
            limit=_ORDER_LIMIT,
            direction=Sort(direction),
            after=after,
            nested=True,
        )
        wires = self._call("orders", self._client.get_orders, request)
        return list(wires)

    def _to_order(self, wire: WireOrder) -> Order:
        self._client_ids[str(wire.id)] = wire.client_order_id
        return order_from_wire(wire, self._intents.get(wire.client_order_id))

    def orders(self, *, open_only: bool = True) -> list[Order]:
        """Orders oldest first: every open one (up to 500), or the 500 most recent."""
        if open_only:
            wires = self._wire_orders("open", "asc", None)
        else:
            wires = self._wire_orders("all", "desc", None)[::-1]
        return [self._to_order(w) for w in wires]

    def get_order(self, client_order_id: str) -> Order | None:
        """The order with this client id, or ``None`` when Alpaca answers 404."""
        try:
            wire = self._call("get_order", self._client.get_order_by_client_id, client_order_id)
        except ProviderError as exc:
            if self._status_of(exc) == 404:
                return None
            raise
        return self._to_order(wire)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ writes

    def submit(self, order: Order) -> Order:
        """Send ``order`` (``PENDING_NEW``); return it as Alpaca acknowledged it.

        Raises
        ------
        OrderRejected
            Alpaca refused (403/422: buying power, unknown symbol, duplicate client id, an
            order class it does not take...), or alpaca-py refused to build the request.
        ValueError
            ``order`` is not ``PENDING_NEW``.
        """
        if order.status is not OrderStatus.PENDING_NEW:
            raise ValueError(
                f"status: submit takes a pending_new order, got {order.status.value!r}"
                f" for {order.client_order_id!r}"
            )
        try:
            request = order_request(order)
        except ValidationError as exc:
            raise OrderRejected(
                f"submit: alpaca-py refused order {order.client_order_id!r}: {exc}"
            ) from exc
        cid = order.client_order_id
        previous = self._intents.get(cid)
        self._intents[cid] = order.intent  # kept on a transient error: get_order may find it
        try:
            wire = self._call("submit", self._client.submit_order, request, reject=True)
        except OrderRejected:
            if previous is None:
                self._intents.pop(cid, None)
            else:
                self._intents[cid] = previous
            raise
        return self._to_order(wire)  # type: ignore[arg-type]

    def cancel(self, client_order_id: str) -> Order:
        """Cancel an open order; its state after the request (``CANCELED`` or
        ``PENDING_CANCEL``). ``OrderRejected`` when unknown or no longer open."""
        current = self.get_order(client_order_id)
        if current is None:
            raise OrderRejected(f"cancel: no order with client_order_id {client_order_id!r}")
        if not current.is_open:
            raise OrderRejected(
                f"cancel: order {client_order_id!r} is {current.status.value}, not open"
            )
        broker_id = current.broker_order_id or ""
        self._call("cancel", self._client.cancel_order_by_id, broker_id, reject=True)
        wire = self._call("cancel", self._client.get_order_by_id, broker_id)
        return self._to_order(wire)  # type: ignore[arg-type]

    def close(self) -> None:
        """Close the HTTP session."""
        self._client._session.close()

    # ------------------------------------------------------------------ events

    def events(self, after_seq: int = 0) -> list[BrokerEvent]:
        """Poll Alpaca, then return the events with ``seq > after_seq`` (see the module
        docstring)."""
        with self._lock:
            if not self._seen and not self._log:
                # the first poll of this instance numbers its events after the caller's cursor
                self._seq = max(self._seq, after_seq)
            self._poll()
            return [e for e in self._log if e.seq > after_seq]

    def _emit(self, kind: EventKind, ts_ns: int, **fields: Any) -> None:
        self._seq += 1
        self._log.append(BrokerEvent(kind, ts_ns, self._seq, **fields))
        if len(self._log) > _MAX_EVENTS:
            del self._log[: len(self._log) - _MAX_EVENTS]

    def _poll(self) -> None:
        changed = self._changed_orders()
        fills, settlements = self._new_activities()
        for order in changed:
            kind = _EVENT_OF.get(order.status)  # None: pending_cancel, reported when it ends
            if kind is not None:
                mine = tuple(fills.pop(order.broker_order_id or "", ()))
                self._emit(
                    kind,
                    order.updated_ns or self._clock.now_ns(),
                    symbol=order.symbol,
                    client_order_id=order.client_order_id,
                    order=order,
                    fills=mine,
                    detail=f"alpaca order {order.broker_order_id} is {order.status.value}",
                )
        for broker_id, late in fills.items():
            self._late_fills(broker_id, late)
        for kind, row in settlements:
            self._settlement(kind, row)
        del self._stock_legs[: max(0, len(self._stock_legs) - _PAGE)]  # unmatched: keep a few

    def _watermark(self) -> tuple[str, dt.datetime | None]:
        if not self._seen:
            return "desc", None
        if self._open_created:
            return "asc", min(self._open_created.values()) - _MICROSECOND
        return "asc", (self._newest - _MICROSECOND) if self._newest is not None else None

    def _changed_orders(self) -> list[Order]:
        direction, after = self._watermark()
        wires = self._wire_orders("all", direction, after)
        if direction == "desc":
            wires.reverse()
        changed: list[Order] = []
        for wire in wires:
            try:
                order = self._to_order(wire)
            except ParseError:
                self.skipped += 1
                continue
            cid = order.client_order_id
            if order.is_open:
                self._open_created[cid] = wire.created_at
            else:
                self._open_created.pop(cid, None)
            if self._newest is None or wire.created_at > self._newest:
                self._newest = wire.created_at
            state = (order.status, order.filled_qty)
            if self._seen.get(cid) != state:
                self._seen[cid] = state
                changed.append(order)
        return changed

    def _activity_rows(self) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"activity_types": _ACTIVITY_TYPES, "page_size": _PAGE}
        if self._last_activity is None:
            params["direction"] = "desc"
            rows = self._call("activities", self._client.get, "/account/activities", params)
            return list(reversed(rows or []))
        params["direction"] = "asc"
        collected: list[dict[str, Any]] = []
        token: str | None = self._last_activity
        while token is not None:
            params["page_token"] = token
            rows = self._call("activities", self._client.get, "/account/activities", params)
            page = list(rows or [])
            collected.extend(page)
            token = str(page[-1]["id"]) if len(page) == _PAGE else None
        return collected

    def _new_activities(
        self,
    ) -> tuple[dict[str, list[Fill]], list[tuple[EventKind, dict[str, Any]]]]:
        fills: dict[str, list[Fill]] = {}
        settlements: list[tuple[EventKind, dict[str, Any]]] = []
        for row in self._activity_rows():
            ident = str(row.get("id"))
            self._last_activity = ident
            kind = str(row.get("activity_type"))
            if f"{kind}:{ident}" in self._activity_ids:
                continue
            self._activity_ids.add(f"{kind}:{ident}")
            if kind == "FILL":
                broker_id = str(row.get("order_id"))
                cid = self._client_ids.get(broker_id, "")
                fills.setdefault(broker_id, []).append(fill_from_activity(row, cid))
            elif kind in SETTLEMENT_ACTIVITIES:
                settlements.append((SETTLEMENT_ACTIVITIES[kind], row))
            elif kind == "OPTRD":
                self._stock_legs.append(row)
        return fills, settlements

    def _late_fills(self, broker_id: str, fills: list[Fill]) -> None:
        # Fills whose order update was reported by an earlier poll (or lies outside the
        # order window): report them with the order's current state.
        try:
            wire = self._call("events", self._client.get_order_by_id, broker_id)
            order: Order | None = self._to_order(wire)  # type: ignore[arg-type]
        except (ProviderError, TransientError):
            order = None
        cid = order.client_order_id if order is not None else fills[0].client_order_id
        if order is not None:
            self._seen[cid] = (order.status, order.filled_qty)
            if not order.is_open:
                self._open_created.pop(cid, None)
        fixed = tuple(f if f.client_order_id else replace(f, client_order_id=cid) for f in fills)
        filled = order is not None and order.status is OrderStatus.FILLED
        self._emit(
            EventKind.ORDER_FILLED if filled else EventKind.ORDER_PARTIALLY_FILLED,
            fixed[-1].ts_ns,
            symbol=fixed[0].symbol,
            client_order_id=cid or None,
            order=order,
            fills=fixed,
            detail=f"fills of alpaca order {broker_id} reported after its status",
        )

    def _take_stock_legs(self, option: str, day: object) -> list[dict[str, Any]]:
        # Alpaca books the shares of an exercise/assignment as an OPTRD activity on the
        # underlying, the same day.
        try:
            underlying = OptionContract.from_occ(option).underlying
        except ValueError:
            return []
        taken = [
            r for r in self._stock_legs if r.get("symbol") == underlying and r.get("date") == day
        ]
        self._stock_legs = [r for r in self._stock_legs if not any(r is t for t in taken)]
        return taken

    def _settlement(self, kind: EventKind, row: Mapping[str, Any]) -> None:
        symbol = str(row.get("symbol", ""))
        ts_ns = _activity_ns(row, self._clock.now_ns())
        legs = [row]
        if kind is not EventKind.OPTION_EXPIRED:
            legs += self._take_stock_legs(symbol, row.get("date"))
        fills: list[Fill] = []
        for leg in legs:
            qty = float(str(leg.get("qty") or 0))
            if qty:  # signed: what the settlement bought (> 0) or sold (< 0)
                side = Side.BUY if qty > 0 else Side.SELL
                price = float(str(leg.get("price") or 0))
                fills.append(
                    Fill(
                        f"{leg.get('id')}:{leg.get('activity_type')}",
                        "",
                        str(leg.get("symbol")),
                        side,
                        abs(qty),
                        price,
                        0.0,
                        ts_ns,
                    )
                )
        self._emit(
            kind,
            ts_ns,
            symbol=symbol,
            fills=tuple(fills),
            detail=str(row.get("description") or f"alpaca {row.get('activity_type')}"),
        )
