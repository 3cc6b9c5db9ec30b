"""The simulated exchange's trading side: Alpaca's trading API v2 over a ``SyntheticMarket``.

:class:`TradingDesk` holds one account (cash, positions, orders, fill activities) and
:func:`trading_routes` serves it as Starlette routes with Alpaca's paths, JSON field names and
error bodies (``{"code": ..., "message": ...}``), so that alpaca-py's ``TradingClient`` parses
every answer. Numbers are strings, as Alpaca sends them; times are RFC 3339 UTC.

Model
-----
Time
    The desk never reads wall time: ``clock()`` is the exchange's "now". Every request first
    calls :meth:`TradingDesk.advance`, which walks the NYSE sessions between the previous
    evaluation and now in order: at each open, queued market orders fill at the open quote and
    limit orders fill when the open quote is marketable; during the session an equity limit
    order fills at its limit price at the end of the first completed minute bar whose low (buy)
    or high (sell) touches it; at each close day orders expire, options expiring that day are
    cash-settled at their intrinsic value (an ``OPEXP`` activity) and ``last_equity`` is taken.
    Finally, while the market is open, limit orders marketable at the current quote fill at it.
Fills
    Whole orders, no partial fills, no fees (as Alpaca's commission-free equities; options too).
    A market order fills at once at the ask (buy) or bid (sell) while the market is open, else
    it stays ``accepted`` until the next open. A limit order rests as ``new`` (``accepted``
    while closed) and fills at its limit or better. ``ioc`` and ``fok`` fill at once or are
    canceled (also while the market is closed). ``notional`` (equities, market orders) buys
    ``notional / price`` shares, to 9 decimals. Fractional ``qty``: stocks, day orders only.
    Not supported (422 naming the field): stop, stop-limit and trailing orders, bracket/OCO/OTO
    and multi-leg classes, extended hours, ``opg``/``cls``.
Options
    Single-leg orders on OCC symbols (``SPY240621C00450000``) of the market's symbols, day only,
    whole contracts, multiplier 100; the contract must be listed now (its expiry and strike are
    in :func:`greekfire.sim.chains.option_chain`). Quotes are the chain's: Black-Scholes-Merton
    on the default vol surface with its spread model, at ``rate``, no dividends. Positions are
    marked at the mid. Approved level 2: buying, and selling what is held; no short options.
Buying power
    Reg T margin, multiplier 2. Initial margin is 50 % of every equity position's absolute
    market value plus 100 % of option value; the excess equity minus what open opening orders
    hold (half an equity order's notional, an option order's whole premium) is the free excess:
    ``buying_power`` is twice it, ``non_marginable_buying_power`` and ``options_buying_power``
    are it (``regt_buying_power`` and ``daytrading_buying_power`` equal ``buying_power``: no
    pattern-day-trader model). Maintenance margin: 25 % long, 30 % short stock, 100 % options.
    Shorting stock is allowed; cash rises by the proceeds and the short is marked at the
    current price. An order that would open more than the free excess covers is refused with
    403 ``insufficient buying power``.
Errors
    Alpaca's bodies: 422 ``40010001`` naming the field and the value for a bad order or query
    (and ``client_order_id must be unique``), 403 ``40310000`` for buying power or quantity,
    404 ``40410000`` for an unknown order or position (``position does not exist``), 422
    ``42210000`` for canceling or replacing an order that is no longer open.
Marks
    ``equity = cash + long_market_value + short_market_value`` at the current prices (stock:
    the last price; options: the mid). ``lastday_price`` is the close of the session before the
    most recent one that has opened.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import threading
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import orjson
import pandas as pd
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from greekfire.analytics.options import greeks
from greekfire.domain.occ import OccSymbol, parse_occ
from greekfire.exchange.wire import (
    CODE_BAD_REQUEST,
    CODE_FORBIDDEN,
    CODE_NOT_FOUND,
    CODE_UNPROCESSABLE,
    ApiError,
    json_response,
)
from greekfire.sim.calendar import is_open, previous_close, session_arrays, to_ns
from greekfire.sim.chains import SpreadModel, expiry_close, option_chain, quote_prices
from greekfire.sim.chains import year_fraction as years_to_expiry
from greekfire.sim.market import SyntheticMarket
from greekfire.sim.surface import VolSurface

__all__ = ["ASSET_NAMESPACE", "TradingDesk", "asset_id", "trading_routes"]

ASSET_NAMESPACE: Final = uuid.UUID("5f3c1a0e-9d1b-4c55-8a57-6772656b6669")
"""Namespace of asset ids, the one :mod:`greekfire.exchange.options` uses for contract ids."""

_BAD_REQUEST, _FORBIDDEN, _NOT_FOUND = CODE_BAD_REQUEST, CODE_FORBIDDEN, CODE_NOT_FOUND
_NOT_CANCELABLE = CODE_UNPROCESSABLE
_OPEN_STATUSES: Final = frozenset({"new", "accepted", "partially_filled", "pending_new"})
_SIDES: Final = ("buy", "sell")
_TYPES: Final = ("market", "limit")
_TIFS: Final = ("day", "gtc", "ioc", "fok")
_INTENTS: Final = {
    "buy_to_open": "buy",
    "buy_to_close": "buy",
    "sell_to_open": "sell",
    "sell_to_close": "sell",
}
_UNSUPPORTED: Final = ("stop_price", "trail_price", "trail_percent", "take_profit", "stop_loss")
_MINUTE_NS: Final = 60_000_000_000
_OPTION_MULTIPLIER: Final = 100
_UTC_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_CHAIN_STREAM: Final = 0x0C4A1  # the chain seed SyntheticProvider derives from its seed


def _bad(message: str) -> ApiError:
    return ApiError(422, _BAD_REQUEST, message)


def asset_id(symbol: str) -> str:
    """The exchange's stable asset id of ``symbol``: ``uuid5(ASSET_NAMESPACE, "asset:SPY")``
    for a stock, ``uuid5(ASSET_NAMESPACE, contract)`` for an OCC option contract."""
    name = symbol if len(symbol) > 15 and symbol[-9] in "CP" else f"asset:{symbol}"
    return str(uuid.uuid5(ASSET_NAMESPACE, name))


def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    stamp = _UTC_EPOCH + dt.timedelta(microseconds=ns // 1000)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ny_date(ns: int) -> str:
    return pd.Timestamp(ns, tz="UTC").tz_convert("America/New_York").date().isoformat()


def _num(value: float | None, places: int = 9) -> str | None:
    if value is None:
        return None
    text = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _positive(name: str, raw: object) -> float:
    value = raw
    if isinstance(raw, str):
        try:
            value = float(raw)
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(f"{name}: expected a number > 0, got {raw!r}")
    if value <= 0:
        raise _bad(f"{name}: expected a number > 0, got {raw!r}")
    return float(value)


def _choice(name: str, raw: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(raw, str) or raw.lower() not in allowed:
        raise _bad(f"{name}: expected one of {list(allowed)!r}, got {raw!r}")
    return raw.lower()


def _timestamp_param(name: str, raw: str) -> int:
    try:
        stamp = pd.Timestamp(raw)
    except ValueError:
        raise _bad(f"{name}: expected an RFC 3339 timestamp or a date, got {raw!r}") from None
    if pd.isna(stamp):
        raise _bad(f"{name}: expected an RFC 3339 timestamp or a date, got {raw!r}")
    return to_ns(stamp if stamp.tzinfo is not None else stamp.tz_localize("UTC"))


def _check_unsupported(payload: Mapping[str, Any]) -> None:
    for name in _UNSUPPORTED:
        if payload.get(name) is not None:
            raise _bad(f"{name}: not supported by the simulated exchange, got {payload[name]!r}")
    order_class = payload.get("order_class") or "simple"
    if order_class != "simple":
        raise _bad(f"order_class: only 'simple' is supported, got {order_class!r}")
    if payload.get("extended_hours") not in (None, False):
        raise _bad(f"extended_hours: not supported, got {payload['extended_hours']!r}")


def _side_and_intent(payload: Mapping[str, Any]) -> tuple[str, str | None]:
    intent = payload.get("position_intent")
    if intent is not None:
        intent = _choice("position_intent", intent, tuple(_INTENTS))
    side = _choice("side", payload.get("side") or _INTENTS.get(intent or "", ""), _SIDES)
    if intent is not None and _INTENTS[intent] != side:
        raise _bad(f"position_intent: {intent!r} contradicts side {side!r}")
    return side, intent


@dataclass(frozen=True, slots=True)
class _Instrument:
    symbol: str
    occ: OccSymbol | None  # None for a stock

    @property
    def asset_class(self) -> str:
        return "us_equity" if self.occ is None else "us_option"

    @property
    def multiplier(self) -> int:
        return 1 if self.occ is None else _OPTION_MULTIPLIER


@dataclass(slots=True)
class _Order:
    id: str
    client_order_id: str
    instrument: _Instrument
    side: str
    order_type: str
    time_in_force: str
    qty: float | None
    notional: float | None
    limit_price: float | None
    created_ns: int
    position_intent: str
    status: str = "new"
    updated_ns: int = 0
    filled_ns: int | None = None
    expired_ns: int | None = None
    canceled_ns: int | None = None
    replaced_ns: int | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    filled_qty: float = 0.0
    filled_avg_price: float | None = None
    reserve: float = 0.0  # free excess equity this open order holds

    @property
    def is_open(self) -> bool:
        return self.status in _OPEN_STATUSES

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "created_at": _iso(self.created_ns),
            "updated_at": _iso(self.updated_ns or self.created_ns),
            "submitted_at": _iso(self.created_ns),
            "filled_at": _iso(self.filled_ns),
            "expired_at": _iso(self.expired_ns),
            "expires_at": None,
            "canceled_at": _iso(self.canceled_ns),
            "failed_at": None,
            "replaced_at": _iso(self.replaced_ns),
            "replaced_by": self.replaced_by,
            "replaces": self.replaces,
            "asset_id": asset_id(self.instrument.symbol),
            "symbol": self.instrument.symbol,
            "asset_class": self.instrument.asset_class,
            "notional": _num(self.notional, 2),
            "qty": _num(self.qty),
            "filled_qty": _num(self.filled_qty),
            "filled_avg_price": _num(self.filled_avg_price, 4),
            "order_class": "simple",
            "order_type": self.order_type,
            "type": self.order_type,
            "side": self.side,
            "position_intent": self.position_intent,
            "time_in_force": self.time_in_force,
            "limit_price": _num(self.limit_price, 4),
            "stop_price": None,
            "status": self.status,
            "extended_hours": False,
            "legs": None,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
            "subtag": None,
            "source": None,
        }


@dataclass(slots=True)
class _Position:
    instrument: _Instrument
    opened_ns: int
    qty: float = 0.0
    cost: float = 0.0  # signed cost basis: qty * avg entry price * multiplier

    def apply(self, signed_qty: float, price: float, ts_ns: int) -> None:
        old, new = self.qty, self.qty + signed_qty
        if old == 0 or (old > 0) == (signed_qty > 0):  # opening or adding
            self.cost += signed_qty * price * self.instrument.multiplier
        elif new != 0 and (old > 0) == (new > 0):  # reducing: the basis shrinks pro rata
            self.cost *= new / old
        else:  # closed or flipped: what is left opened at this price
            self.cost = new * price * self.instrument.multiplier
            self.opened_ns = ts_ns
        self.qty = 0.0 if abs(new) < 1e-9 else new


@dataclass(frozen=True, slots=True)
class _Totals:
    long_value: float
    short_value: float
    initial_margin: float
    maintenance_margin: float
    equity: float


class TradingDesk:
    """One simulated Alpaca trading account over a synthetic market (see the module docstring).

    Parameters
    ----------
    market : SyntheticMarket
        The equities (and, through their OCC symbols, the options) this desk trades.
    clock : callable returning a tz-aware pandas.Timestamp
        The exchange's current time; it must not go backwards.
    starting_cash : float, default 100_000.0
        Opening cash in USD, > 0.
    seed : int, default 0
        Seeds order ids, default client order ids and the option chains' activity columns.
    account_id : str, optional
        The account's UUID; default derived from ``seed``.
    rate : float, default 0.04
        Continuously compounded annual risk-free rate of the option quotes.

    Raises
    ------
    ValueError
        A bad ``starting_cash`` or ``account_id``, named in the message.
    """

    def __init__(
        self,
        market: SyntheticMarket,
        clock: Callable[[], pd.Timestamp],
        starting_cash: float = 100_000.0,
        seed: int = 0,
        account_id: str | None = None,
        *,
        rate: float = 0.04,
    ) -> None:
        if not (math.isfinite(starting_cash) and starting_cash > 0):
            raise ValueError(f"starting_cash: expected a number > 0, got {starting_cash!r}")
        ident = account_id or str(uuid.uuid5(ASSET_NAMESPACE, f"account-{seed}"))
        try:
            self.account_id = str(uuid.UUID(ident))
        except ValueError:
            raise ValueError(f"account_id: expected a UUID, got {account_id!r}") from None
        self.market, self._clock, self._rate = market, clock, float(rate)
        self._rng = random.Random(seed)
        self._surface, self._spreads = VolSurface(), SpreadModel()
        state = np.random.SeedSequence([seed, _CHAIN_STREAM]).generate_state(1, np.uint32)
        self._chain_seed = int(state[0])
        self._lock = threading.RLock()
        self._cash = float(starting_cash)
        self._positions: dict[str, _Position] = {}
        self._orders: dict[str, _Order] = {}
        self._by_client_id: dict[str, str] = {}
        self._activities: list[dict[str, Any]] = []
        self._quote_cache: dict[tuple[str, int], tuple[float, float]] = {}
        self._created_ns = self._evaluated_ns = self._now_ns()
        self._last_equity = float(starting_cash)

    # ----------------------------------------------------------------- time, prices, marks

    def _now_ns(self) -> int:
        return to_ns(self._clock(), "clock()")

    def advance(self) -> pd.Timestamp:
        """Bring the account up to ``clock()``: fills, expiries and settlements since the
        previous evaluation, in time order (see the module docstring). Returns "now"."""
        with self._lock:
            now = max(self._now_ns(), self._evaluated_ns)
            lo = self._evaluated_ns
            if now > lo:
                _, opens, closes = session_arrays(lo, now)
                for open_ns, close_ns in zip(opens.tolist(), closes.tolist(), strict=True):
                    if open_ns > lo:
                        self._at_open(open_ns)
                    self._scan_minutes(max(open_ns, lo), min(close_ns, now))
                    if close_ns <= now:
                        self._at_close(close_ns)
                self._evaluated_ns = now
            if is_open(pd.Timestamp(now, tz="UTC")):
                self._fill_marketable(now)
            return pd.Timestamp(now, tz="UTC")

    def _instrument(self, symbol: object) -> _Instrument:
        if not isinstance(symbol, str) or not symbol:
            raise _bad(f"symbol: expected a non-empty string, got {symbol!r}")
        if symbol in self.market.symbols:
            return _Instrument(symbol, None)
        occ = None
        if len(symbol) > 15:
            try:
                occ = parse_occ(symbol)
            except ValueError:
                occ = None
        if occ is None or occ.root not in self.market.symbols:
            raise _bad(f"symbol: asset {symbol!r} not found")
        return _Instrument(occ.format(), occ)

    def _quote(self, inst: _Instrument, ns: int) -> tuple[float, float]:
        if inst.occ is None:
            quote = self.market.quote(inst.symbol, pd.Timestamp(ns, tz="UTC"))
            return quote.bid, quote.ask
        key = (inst.symbol, ns)
        if key not in self._quote_cache:
            if len(self._quote_cache) > 4096:
                self._quote_cache.clear()
            self._quote_cache[key] = self._option_quote(inst.occ, ns)
        return self._quote_cache[key]

    def _option_quote(self, occ: OccSymbol, ns: int) -> tuple[float, float]:
        # One contract priced as greekfire.sim.chains.option_chain prices its rows.
        stamp = pd.Timestamp(ns, tz="UTC")
        spot = self.market.spot(occ.root, stamp)
        t_years = years_to_expiry(stamp, occ.expiry)
        if t_years <= 0:
            value = self._intrinsic(occ, ns)
            return value, value
        fwd = spot * math.exp(self._rate * t_years)
        vol = float(np.asarray(self._surface.implied_vol(occ.strike, t_years, fwd)))
        g = greeks(
            spot, occ.strike, t_years, vol, self._rate, 0.0, int(occ.right), second_order=False
        )
        mid = float(np.asarray(g["price"]))
        atm = float(np.asarray(self._surface.atm_vol_at(t_years)))
        sd = math.log(occ.strike / fwd) / (atm * math.sqrt(t_years))
        bid, ask = quote_prices(mid, self._spreads.spread(mid, g["vega"], sd, t_years))
        return float(bid), float(ask)

    def _intrinsic(self, occ: OccSymbol, ns: int) -> float:
        at = min(ns, to_ns(expiry_close(occ.expiry)))
        spot = self.market.spot(occ.root, pd.Timestamp(at, tz="UTC"))
        return max(0.0, int(occ.right) * (spot - occ.strike))

    def _mark(self, inst: _Instrument, ns: int) -> float:
        if inst.occ is None:
            return self.market.spot(inst.symbol, pd.Timestamp(ns, tz="UTC"))
        bid, ask = self._quote(inst, ns)
        return round((bid + ask) / 2, 4)

    def _totals(self, ns: int) -> _Totals:
        long_value = short_value = initial = maintenance = 0.0
        for pos in self._positions.values():
            value = pos.qty * self._mark(pos.instrument, ns) * pos.instrument.multiplier
            long_value += max(value, 0.0)
            short_value += min(value, 0.0)
            if pos.instrument.occ is not None:
                initial, maintenance = initial + abs(value), maintenance + abs(value)
            else:
                initial += 0.5 * abs(value)
                maintenance += (0.25 if value > 0 else 0.30) * abs(value)
        equity = self._cash + long_value + short_value
        return _Totals(long_value, short_value, initial, maintenance, equity)

    def _free_excess(self, ns: int, ignore: _Order | None = None) -> float:
        totals = self._totals(ns)
        held = sum(o.reserve for o in self._orders.values() if o.is_open and o is not ignore)
        return max(0.0, totals.equity - totals.initial_margin - held)

    # ----------------------------------------------------------------- the session walk

    def _open_orders(self) -> list[_Order]:
        return [o for o in self._orders.values() if o.is_open]

    def _at_open(self, open_ns: int) -> None:
        for order in self._open_orders():
            bid, ask = self._quote(order.instrument, open_ns)
            price = ask if order.side == "buy" else bid
            if order.order_type == "market" or self._crosses(order, price):
                self._fill(order, price, open_ns)
            else:
                order.status, order.updated_ns = "new", open_ns

    @staticmethod
    def _crosses(order: _Order, price: float) -> bool:
        limit = order.limit_price if order.limit_price is not None else math.nan
        return price <= limit if order.side == "buy" else price >= limit

    def _scan_minutes(self, lo: int, hi: int) -> None:
        # Equity limit orders: the first completed minute bar in [lo, hi] that touches the limit.
        if hi - _MINUTE_NS < lo:
            return
        start, end = pd.Timestamp(lo, tz="UTC"), pd.Timestamp(hi - _MINUTE_NS, tz="UTC")
        frames: dict[str, pd.DataFrame] = {}
        events: list[tuple[int, int, _Order]] = []
        for seq, order in enumerate(self._open_orders()):
            symbol, limit = order.instrument.symbol, order.limit_price
            if limit is None or order.instrument.occ is not None:
                continue
            if symbol not in frames:
                frames[symbol] = self.market.bars(symbol, start, end, "1m")[symbol]
            bars = frames[symbol]
            touched = bars["low"] <= limit if order.side == "buy" else bars["high"] >= limit
            hits = bars.index[touched.to_numpy()]
            if len(hits):
                events.append((int(hits[0].value) + _MINUTE_NS, seq, order))
        for ts_ns, _, order in sorted(events, key=lambda e: (e[0], e[1])):
            self._fill(order, float(order.limit_price or 0.0), ts_ns)

    def _fill_marketable(self, now: int) -> None:
        for order in self._open_orders():
            if order.order_type != "limit":
                continue
            bid, ask = self._quote(order.instrument, now)
            price = ask if order.side == "buy" else bid
            if self._crosses(order, price):
                self._fill(order, price, now)

    def _at_close(self, close_ns: int) -> None:
        for order in self._open_orders():
            if order.time_in_force == "day":
                order.status, order.expired_ns, order.updated_ns = "expired", close_ns, close_ns
                order.reserve = 0.0
        session_day = _ny_date(close_ns)
        for symbol, pos in list(self._positions.items()):
            occ = pos.instrument.occ
            if occ is not None and occ.expiry.isoformat() <= session_day:
                self._settle(symbol, pos, occ, close_ns)
        self._last_equity = self._totals(close_ns).equity

    def _settle(self, symbol: str, pos: _Position, occ: OccSymbol, close_ns: int) -> None:
        value = self._intrinsic(occ, close_ns)
        amount = round(pos.qty * value * _OPTION_MULTIPLIER, 2)
        self._cash = round(self._cash + amount, 2)
        del self._positions[symbol]
        self._activities.append(
            {
                "id": self._activity_id(close_ns),
                "account_id": self.account_id,
                "activity_type": "OPEXP",
                "date": _ny_date(close_ns),
                "net_amount": _num(amount, 2),
                "description": f"option expiration, cash-settled at intrinsic {value:.2f}",
                "symbol": symbol,
                "qty": _num(-pos.qty),
                "price": _num(value, 4),
                "status": "executed",
                "_ts_ns": close_ns,
            }
        )

    def _fill(self, order: _Order, price: float, ts_ns: int) -> None:
        inst = order.instrument
        if order.qty is not None:
            qty = order.qty
        else:
            qty = round((order.notional or 0.0) / price, 9) if price > 0 else 0.0
        signed = qty if order.side == "buy" else -qty
        self._cash = round(self._cash - signed * price * inst.multiplier, 2)
        pos = self._positions.setdefault(inst.symbol, _Position(inst, ts_ns))
        pos.apply(signed, price, ts_ns)
        if pos.qty == 0:
            del self._positions[inst.symbol]
        order.status, order.filled_ns, order.updated_ns = "filled", ts_ns, ts_ns
        order.filled_qty, order.filled_avg_price, order.reserve = qty, price, 0.0
        self._activities.append(
            {
                "id": self._activity_id(ts_ns),
                "account_id": self.account_id,
                "activity_type": "FILL",
                "transaction_time": _iso(ts_ns),
                "type": "fill",
                "price": _num(price, 4),
                "qty": _num(qty),
                "side": order.side,
                "symbol": inst.symbol,
                "leaves_qty": "0",
                "order_id": order.id,
                "cum_qty": _num(qty),
                "order_status": "filled",
                "_ts_ns": ts_ns,
            }
        )

    def _new_uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _activity_id(self, ts_ns: int) -> str:
        stamp = _UTC_EPOCH + dt.timedelta(microseconds=ts_ns // 1000)
        return (
            f"{stamp.strftime('%Y%m%d%H%M%S')}{stamp.microsecond // 1000:03d}::{self._new_uuid()}"
        )

    # ----------------------------------------------------------------- account and positions

    def account(self) -> dict[str, Any]:
        """``GET /v2/account``: Alpaca's account object, numbers as strings."""
        with self._lock:
            now = to_ns(self.advance())
            totals = self._totals(now)
            free = self._free_excess(now)
            return {
                "id": self.account_id,
                "account_number": "PA" + str(uuid.UUID(self.account_id).int % 10**10).zfill(10),
                "status": "ACTIVE",
                "crypto_status": "INACTIVE",
                "currency": "USD",
                "cash": _num(self._cash, 2),
                "portfolio_value": _num(totals.equity, 2),
                "equity": _num(totals.equity, 2),
                "last_equity": _num(self._last_equity, 2),
                "buying_power": _num(2 * free, 2),
                "regt_buying_power": _num(2 * free, 2),
                "daytrading_buying_power": _num(2 * free, 2),
                "effective_buying_power": _num(2 * free, 2),
                "non_marginable_buying_power": _num(free, 2),
                "options_buying_power": _num(free, 2),
                "options_approved_level": 2,
                "options_trading_level": 2,
                "long_market_value": _num(totals.long_value, 2),
                "short_market_value": _num(totals.short_value, 2),
                "position_market_value": _num(totals.long_value - totals.short_value, 2),
                "initial_margin": _num(totals.initial_margin, 2),
                "maintenance_margin": _num(totals.maintenance_margin, 2),
                "last_maintenance_margin": "0",
                "multiplier": "2",
                "sma": "0",
                "accrued_fees": "0",
                "pending_transfer_in": "0",
                "pending_transfer_out": "0",
                "pattern_day_trader": False,
                "daytrade_count": 0,
                "trading_blocked": False,
                "transfers_blocked": False,
                "account_blocked": False,
                "trade_suspended_by_user": False,
                "shorting_enabled": True,
                "created_at": _iso(self._created_ns),
                "balance_asof": _ny_date(to_ns(previous_close(pd.Timestamp(now, tz="UTC")))),
            }

    def _lastday_ns(self, now: int) -> int:
        stamp = pd.Timestamp(now, tz="UTC")
        last_close = previous_close(stamp)
        if is_open(stamp):
            return to_ns(last_close)
        return to_ns(previous_close(last_close - pd.Timedelta(1, "ns")))

    def _position_wire(self, pos: _Position, now: int) -> dict[str, Any]:
        inst, mult = pos.instrument, pos.instrument.multiplier
        price = self._mark(inst, now)
        lastday_ns = self._lastday_ns(now)
        lastday = self._mark(inst, lastday_ns)
        value, avg = pos.qty * price * mult, pos.cost / (pos.qty * mult)
        unrealized = value - pos.cost
        basis = pos.cost if pos.opened_ns >= lastday_ns else pos.qty * lastday * mult
        intraday = value - basis
        held = sum(
            o.qty or 0.0
            for o in self._orders.values()
            if o.is_open
            and o.instrument.symbol == inst.symbol
            and (o.side == "sell") == (pos.qty > 0)
        )
        return {
            "asset_id": asset_id(inst.symbol),
            "symbol": inst.symbol,
            "exchange": "NYSE" if inst.occ is None else "",
            "asset_class": inst.asset_class,
            "asset_marginable": inst.occ is None,
            "avg_entry_price": _num(avg, 4),
            "qty": _num(pos.qty),
            "qty_available": _num(math.copysign(max(abs(pos.qty) - held, 0.0), pos.qty)),
            "side": "long" if pos.qty > 0 else "short",
            "market_value": _num(value, 2),
            "cost_basis": _num(pos.cost, 2),
            "unrealized_pl": _num(unrealized, 2),
            "unrealized_plpc": _num(unrealized / abs(pos.cost) if pos.cost else 0.0, 8),
            "unrealized_intraday_pl": _num(intraday, 2),
            "unrealized_intraday_plpc": _num(intraday / abs(basis) if basis else 0.0, 8),
            "current_price": _num(price, 4),
            "lastday_price": _num(lastday, 4),
            "change_today": _num((price - lastday) / lastday if lastday else 0.0, 8),
        }

    def positions(self) -> list[dict[str, Any]]:
        """``GET /v2/positions``: every open position, sorted by symbol."""
        with self._lock:
            now = to_ns(self.advance())
            return [self._position_wire(p, now) for _, p in sorted(self._positions.items())]

    def _find_position(self, symbol_or_asset_id: str) -> _Position:
        for symbol, pos in self._positions.items():
            if symbol_or_asset_id in (symbol, asset_id(symbol)):
                return pos
        raise ApiError(404, _NOT_FOUND, "position does not exist")

    def position(self, symbol_or_asset_id: str) -> dict[str, Any]:
        """``GET /v2/positions/{symbol_or_asset_id}``; 404 when there is none."""
        with self._lock:
            now = to_ns(self.advance())
            return self._position_wire(self._find_position(symbol_or_asset_id), now)

    def close_position(
        self, symbol_or_asset_id: str, qty: str | None = None, percentage: str | None = None
    ) -> dict[str, Any]:
        """``DELETE /v2/positions/{symbol_or_asset_id}``: a market order closing all, ``qty``
        or ``percentage`` of the position; returns the order."""
        with self._lock:
            self.advance()
            pos = self._find_position(symbol_or_asset_id)
            size = abs(pos.qty)
            if qty is not None and percentage is not None:
                raise _bad(f"qty: give qty or percentage, not both (qty={qty!r})")
            if qty is not None:
                size = _positive("qty", qty)
            elif percentage is not None:
                share = _positive("percentage", percentage)
                if share > 100:
                    raise _bad(f"percentage: expected a number in (0, 100], got {percentage!r}")
                size = round(abs(pos.qty) * share / 100, 9)
            if size > abs(pos.qty) + 1e-9:
                raise ApiError(
                    403,
                    _FORBIDDEN,
                    f"insufficient qty available for order (requested: {_num(size)},"
                    f" available: {_num(abs(pos.qty))})",
                )
            payload = {
                "symbol": pos.instrument.symbol,
                "qty": size,
                "side": "sell" if pos.qty > 0 else "buy",
                "type": "market",
                "time_in_force": "day",
            }
            return self._submit(payload)

    def close_all_positions(self, cancel_orders: bool = False) -> list[dict[str, Any]]:
        """``DELETE /v2/positions``: close every position (after canceling open orders when
        ``cancel_orders``); one ``{symbol, status, order_id, body}`` per position."""
        with self._lock:
            self.advance()
            if cancel_orders:
                self.cancel_all_orders()
            results: list[dict[str, Any]] = []
            for symbol in sorted(self._positions):
                try:
                    body = self.close_position(symbol)
                    results.append(
                        {"symbol": symbol, "status": 200, "order_id": body["id"], "body": body}
                    )
                except ApiError as exc:
                    failure = {"code": exc.code, "message": exc.message, "symbol": symbol}
                    results.append({"symbol": symbol, "status": exc.status, "body": failure})
            return results

    # ----------------------------------------------------------------- orders

    def submit_order(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /v2/orders``: validate, check buying power, fill or rest; returns the order.

        Raises
        ------
        ApiError
            422 naming the bad field and value, or a duplicate ``client_order_id``; 403 for
            insufficient buying power or quantity.
        """
        with self._lock:
            self.advance()
            return self._submit(payload)

    def _submit(self, payload: Mapping[str, Any], replaces: _Order | None = None) -> dict[str, Any]:
        if not isinstance(payload, Mapping):
            raise _bad(f"request body: expected a JSON object, got {payload!r}")
        order = self._validate(payload)
        now = self._evaluated_ns
        self._check_funds(order, now, ignore=replaces)
        if replaces is not None:
            order.replaces = replaces.id
            replaces.status, replaces.replaced_by = "replaced", order.id
            replaces.replaced_ns = replaces.updated_ns = now
            replaces.reserve = 0.0
        self._orders[order.id] = order
        self._by_client_id[order.client_order_id] = order.id
        self._execute_new(order, now)
        return order.wire()

    def _validate(self, payload: Mapping[str, Any]) -> _Order:
        _check_unsupported(payload)
        inst = self._instrument(payload.get("symbol"))
        side, intent = _side_and_intent(payload)
        kind = _choice("type", payload.get("type") or payload.get("order_type"), _TYPES)
        tif = _choice("time_in_force", payload.get("time_in_force"), _TIFS)
        qty, notional = self._quantity(payload, inst, kind, tif)
        limit = None
        if kind == "limit":
            limit = _positive("limit_price", payload.get("limit_price"))
        elif payload.get("limit_price") is not None:
            raise _bad(
                f"limit_price: not allowed on a market order, got {payload['limit_price']!r}"
            )
        if inst.occ is not None:
            self._check_listed(inst, tif)
        cid = payload.get("client_order_id")
        if cid is None:
            cid = self._new_uuid()
        elif not isinstance(cid, str) or not 0 < len(cid) <= 128:
            raise _bad(f"client_order_id: expected 1-128 characters, got {cid!r}")
        if cid in self._by_client_id:
            raise _bad("client_order_id must be unique")
        if intent is None:
            held = self._positions.get(inst.symbol)
            held_qty = held.qty if held is not None else 0.0
            opening = held_qty >= 0 if side == "buy" else held_qty <= 0
            intent = f"{side}_to_{'open' if opening else 'close'}"
        now = self._evaluated_ns
        return _Order(
            self._new_uuid(), cid, inst, side, kind, tif, qty, notional, limit, now, intent
        )

    def _quantity(
        self, payload: Mapping[str, Any], inst: _Instrument, kind: str, tif: str
    ) -> tuple[float | None, float | None]:
        raw_qty, raw_notional = payload.get("qty"), payload.get("notional")
        if (raw_qty is None) == (raw_notional is None):
            raise _bad(
                f"qty: give exactly one of qty and notional, got qty={raw_qty!r}"
                f" notional={raw_notional!r}"
            )
        if raw_notional is not None:
            notional = _positive("notional", raw_notional)
            if inst.occ is not None or kind != "market":
                raise _bad(f"notional: only for market orders on stocks, got {raw_notional!r}")
            return None, round(notional, 2)
        qty = _positive("qty", raw_qty)
        whole = abs(qty - round(qty)) < 1e-9
        if not whole and (inst.occ is not None or tif != "day"):
            raise _bad(f"qty: fractional quantities need a stock and a day order, got {raw_qty!r}")
        return (float(round(qty)) if whole else round(qty, 9)), None

    def _check_listed(self, inst: _Instrument, tif: str) -> None:
        occ = inst.occ
        assert occ is not None
        if tif != "day":
            raise _bad(f"time_in_force: options orders must be 'day', got {tif!r}")
        stamp = pd.Timestamp(self._evaluated_ns, tz="UTC")
        listed = False
        if expiry_close(occ.expiry) > stamp:
            chain = option_chain(
                occ.root,
                self.market.spot(occ.root, stamp),
                stamp,
                rate=self._rate,
                seed=self._chain_seed,
                expiry_range=(occ.expiry, occ.expiry),
                strike_range=(occ.strike, occ.strike),
                right=occ.right,
            )
            listed = bool(len(chain))
        if not listed:
            raise _bad(f"symbol: option contract {inst.symbol!r} is not listed or has expired")

    def _check_funds(self, order: _Order, now: int, ignore: _Order | None) -> None:
        inst = order.instrument
        held = self._positions.get(inst.symbol)
        held_qty = held.qty if held is not None else 0.0
        bid, ask = self._quote(inst, now)
        price = order.limit_price or (ask if order.side == "buy" else bid)
        if order.qty is None:
            opening = order.notional or 0.0
        else:
            signed = order.qty if order.side == "buy" else -order.qty
            closing = min(abs(signed), abs(held_qty)) if held_qty * signed < 0 else 0.0
            opening = (abs(signed) - closing) * price * inst.multiplier
        if inst.occ is not None and order.side == "sell":
            self._check_option_sale(order, held_qty)
            return
        reserve = opening if inst.occ is not None else 0.5 * opening
        if reserve > self._free_excess(now, ignore) + 1e-9:
            raise ApiError(403, _FORBIDDEN, "insufficient buying power")
        order.reserve = reserve

    def _check_option_sale(self, order: _Order, held_qty: float) -> None:
        pending = sum(
            o.qty or 0.0
            for o in self._open_orders()
            if o.instrument.symbol == order.instrument.symbol and o.side == "sell"
        )
        available = max(held_qty - pending, 0.0)
        if (order.qty or 0.0) > available + 1e-9:
            raise ApiError(
                403,
                _FORBIDDEN,
                f"insufficient qty available for order (requested: {_num(order.qty)},"
                f" available: {_num(available)}); uncovered options are not allowed",
            )

    def _execute_new(self, order: _Order, now: int) -> None:
        market_open = is_open(pd.Timestamp(now, tz="UTC"))
        order.updated_ns = now
        if market_open:
            bid, ask = self._quote(order.instrument, now)
            price = ask if order.side == "buy" else bid
            if order.order_type == "market" or self._crosses(order, price):
                self._fill(order, price, now)
                return
        else:
            order.status = "accepted"
        if order.time_in_force in ("ioc", "fok"):
            order.status, order.canceled_ns, order.reserve = "canceled", now, 0.0

    def _get_order(self, order_id: str) -> _Order:
        order = self._orders.get(order_id)
        if order is None:
            raise ApiError(404, _NOT_FOUND, f"order not found for {order_id}")
        return order

    def order(self, order_id: str) -> dict[str, Any]:
        """``GET /v2/orders/{order_id}``; 404 when unknown."""
        with self._lock:
            self.advance()
            return self._get_order(order_id).wire()

    def order_by_client_id(self, client_order_id: str | None) -> dict[str, Any]:
        """``GET /v2/orders:by_client_order_id?client_order_id=...``; 404 when unknown."""
        with self._lock:
            self.advance()
            if not client_order_id:
                raise _bad(f"client_order_id: required, got {client_order_id!r}")
            order_id = self._by_client_id.get(client_order_id)
            if order_id is None:
                raise ApiError(404, _NOT_FOUND, f"order not found for {client_order_id}")
            return self._orders[order_id].wire()

    def orders(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """``GET /v2/orders``: ``status`` (open, closed, all; default open), ``limit``
        (default 50, at most 500), ``after``/``until`` (on submission time), ``direction``
        (asc, desc; default desc), ``symbols`` (comma-separated), ``side``; ``nested`` is
        accepted (every order is simple)."""
        with self._lock:
            self.advance()
            status = _choice("status", params.get("status", "open"), ("open", "closed", "all"))
            direction = _choice("direction", params.get("direction", "desc"), ("asc", "desc"))
            raw_limit = params.get("limit", "50")
            if not raw_limit.isdigit() or not 0 < int(raw_limit) <= 500:
                raise _bad(f"limit: expected a whole number in [1, 500], got {raw_limit!r}")
            after = _timestamp_param("after", params["after"]) if "after" in params else None
            until = _timestamp_param("until", params["until"]) if "until" in params else None
            symbols = {s for s in params.get("symbols", "").split(",") if s}
            side = _choice("side", params["side"], _SIDES) if "side" in params else None
            chosen = [
                o
                for o in self._orders.values()
                if status == "all" or o.is_open == (status == "open")
                if after is None or o.created_ns > after
                if until is None or o.created_ns < until
                if not symbols or o.instrument.symbol in symbols
                if side is None or o.side == side
            ]
            chosen.sort(key=lambda o: o.created_ns, reverse=direction == "desc")
            return [o.wire() for o in chosen[: int(raw_limit)]]

    def _cancel(self, order: _Order, now: int) -> None:
        if not order.is_open:
            raise ApiError(422, _NOT_CANCELABLE, f"order is already in {order.status!r} state")
        order.status, order.canceled_ns, order.updated_ns = "canceled", now, now
        order.reserve = 0.0

    def cancel_order(self, order_id: str) -> None:
        """``DELETE /v2/orders/{order_id}``: 404 when unknown, 422 when not open."""
        with self._lock:
            now = to_ns(self.advance())
            self._cancel(self._get_order(order_id), now)

    def cancel_all_orders(self) -> list[dict[str, Any]]:
        """``DELETE /v2/orders``: cancel every open order; ``{id, status, body}`` for each."""
        with self._lock:
            now = to_ns(self.advance())
            results: list[dict[str, Any]] = []
            for order in self._open_orders():
                self._cancel(order, now)
                results.append({"id": order.id, "status": 200, "body": order.wire()})
            return results

    def replace_order(self, order_id: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """``PATCH /v2/orders/{order_id}``: a new order with the given ``qty``,
        ``limit_price``, ``time_in_force`` and ``client_order_id`` replaces an open one."""
        with self._lock:
            self.advance()
            old = self._get_order(order_id)
            if not isinstance(payload, Mapping):
                raise _bad(f"request body: expected a JSON object, got {payload!r}")
            if not old.is_open:
                raise ApiError(422, _NOT_CANCELABLE, f"order is already in {old.status!r} state")
            merged: dict[str, Any] = {
                "symbol": old.instrument.symbol,
                "side": old.side,
                "type": old.order_type,
                "time_in_force": payload.get("time_in_force") or old.time_in_force,
                "qty": payload.get("qty") if payload.get("qty") is not None else old.qty,
                "notional": None if payload.get("qty") is not None else old.notional,
                "limit_price": payload.get("limit_price", old.limit_price),
                "client_order_id": payload.get("client_order_id"),
                "position_intent": old.position_intent,
            }
            for name in ("stop_price", "trail"):
                if payload.get(name) is not None:
                    raise _bad(f"{name}: not supported, got {payload[name]!r}")
            return self._submit(merged, replaces=old)

    def activities(
        self, params: Mapping[str, str], activity_type: str | None = None
    ) -> list[dict[str, Any]]:
        """``GET /v2/account/activities[/{activity_type}]``: ``FILL`` and ``OPEXP`` entries;
        ``activity_types`` (comma-separated), ``direction`` (default desc), ``after``,
        ``until``, ``date``, ``page_size`` (default 100) and ``page_token`` (an activity id)."""
        with self._lock:
            self.advance()
            kinds = {activity_type} if activity_type else set()
            kinds |= {k for k in params.get("activity_types", "").split(",") if k}
            direction = _choice("direction", params.get("direction", "desc"), ("asc", "desc"))
            size = params.get("page_size", "100")
            if not size.isdigit() or not 0 < int(size) <= 100:
                raise _bad(f"page_size: expected a whole number in [1, 100], got {size!r}")
            lo = _timestamp_param("after", params["after"]) if "after" in params else None
            hi = _timestamp_param("until", params["until"]) if "until" in params else None
            day = params.get("date")
            rows = [
                a
                for a in self._activities
                if not kinds or a["activity_type"] in kinds
                if lo is None or a["_ts_ns"] > lo
                if hi is None or a["_ts_ns"] < hi
                if day is None or str(a.get("transaction_time") or a.get("date")).startswith(day)
            ]
            rows.sort(key=lambda a: int(a["_ts_ns"]))  # stable: ties keep their order
            if direction == "desc":
                rows.reverse()
            token = params.get("page_token")
            if token is not None:
                ids = [a["id"] for a in rows]
                rows = rows[ids.index(token) + 1 :] if token in ids else []
            return [{k: v for k, v in a.items() if k != "_ts_ns"} for a in rows[: int(size)]]


# --------------------------------------------------------------------- HTTP

_Handler = Callable[[Request], Awaitable[Response]]


def _api(handler: _Handler) -> _Handler:
    # Maps the desk's ApiError to Alpaca's error body, in exactly one place.
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return exc.response()

    return endpoint


async def _body(request: Request) -> Any:
    raw = await request.body()
    try:
        return orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError:
        raise _bad(f"request body: invalid JSON, got {raw[:80]!r}") from None


def trading_routes(desk: TradingDesk) -> list[BaseRoute]:
    """Starlette routes of Alpaca's trading API v2 served by ``desk``.

    Parameters
    ----------
    desk : TradingDesk

    Returns
    -------
    list of starlette.routing.BaseRoute
        ``/v2/account``, ``/v2/account/activities[/{activity_type}]``, ``/v2/positions``,
        ``/v2/positions/{symbol_or_asset_id}``, ``/v2/orders``,
        ``/v2/orders:by_client_order_id`` and ``/v2/orders/{order_id}``. Errors answer
        ``{"code", "message"}`` with Alpaca's status and code.
    """
    return [*_account_routes(desk), *_order_routes(desk)]


def _account_routes(desk: TradingDesk) -> list[BaseRoute]:
    @_api
    async def account(request: Request) -> Response:
        return json_response(request, desk.account())

    @_api
    async def activities(request: Request) -> Response:
        kind = request.path_params.get("activity_type")
        return json_response(request, desk.activities(request.query_params, kind))

    @_api
    async def positions(request: Request) -> Response:
        if request.method == "DELETE":
            cancel = request.query_params.get("cancel_orders", "false").lower() == "true"
            return json_response(request, desk.close_all_positions(cancel), 207)
        return json_response(request, desk.positions())

    @_api
    async def position(request: Request) -> Response:
        key = request.path_params["symbol_or_asset_id"]
        if request.method == "DELETE":
            query = request.query_params
            closing = desk.close_position(key, query.get("qty"), query.get("percentage"))
            return json_response(request, closing)
        return json_response(request, desk.position(key))

    return [
        Route("/v2/account", account, methods=["GET"]),
        Route("/v2/account/activities", activities, methods=["GET"]),
        Route("/v2/account/activities/{activity_type}", activities, methods=["GET"]),
        Route("/v2/positions", positions, methods=["GET", "DELETE"]),
        Route("/v2/positions/{symbol_or_asset_id}", position, methods=["GET", "DELETE"]),
    ]


def _order_routes(desk: TradingDesk) -> list[BaseRoute]:
    @_api
    async def orders(request: Request) -> Response:
        if request.method == "POST":
            return json_response(request, desk.submit_order(await _body(request)))
        if request.method == "DELETE":
            return json_response(request, desk.cancel_all_orders(), 207)
        return json_response(request, desk.orders(request.query_params))

    @_api
    async def by_client_id(request: Request) -> Response:
        client_order_id = request.query_params.get("client_order_id")
        return json_response(request, desk.order_by_client_id(client_order_id))

    @_api
    async def order(request: Request) -> Response:
        order_id = request.path_params["order_id"]
        if request.method == "DELETE":
            desk.cancel_order(order_id)
            return Response(status_code=204)
        if request.method == "PATCH":
            return json_response(request, desk.replace_order(order_id, await _body(request)))
        return json_response(request, desk.order(order_id))

    return [
        Route("/v2/orders", orders, methods=["GET", "POST", "DELETE"]),
        Route("/v2/orders:by_client_order_id", by_client_id, methods=["GET"]),
        Route("/v2/orders/{order_id}", order, methods=["GET", "DELETE", "PATCH"]),
    ]
