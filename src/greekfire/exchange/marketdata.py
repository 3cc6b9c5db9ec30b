"""Market-data routes in Alpaca's wire format: bars, latest quotes and trades, clock, calendar.

=====================================  ==================================================
route                                  answer
=====================================  ==================================================
``GET /v2/stocks/bars``                ``{"bars": {"SYM": [bar, ...]}, "next_page_token"}``
``GET /v2/stocks/{symbol}/bars``       ``{"bars": [bar, ...], "symbol", "next_page_token"}``
``GET /v2/stocks/quotes/latest``       ``{"quotes": {"SYM": quote}}``
``GET /v2/stocks/{symbol}/quotes/latest``  ``{"symbol", "quote"}``
``GET /v2/stocks/trades/latest``       ``{"trades": {"SYM": trade}}``
``GET /v2/stocks/{symbol}/trades/latest``  ``{"symbol", "trade"}``
``GET /v2/clock``                      ``{"timestamp", "is_open", "next_open", "next_close"}``
``GET /v2/calendar``                   ``[{"date", "open", "close", "session_open", ...}]``
=====================================  ==================================================

Bars (see :mod:`greekfire.exchange.barstore` for the row format and stamps) take
``symbols``, ``timeframe``, ``start``, ``end`` (inclusive; see
:mod:`greekfire.exchange.params`), ``limit`` (default 1000, at most 10000, counted over all
symbols of the page), ``page_token`` and ``sort`` (asc|desc); ``feed``, ``adjustment``,
``asof`` and ``currency`` are accepted and ignored. A page is filled symbol by symbol in symbol
order, then by time; symbols outside the universe, or without bars in the range, are absent.

Quotes: bid and ask in whole cents around the last price; sizes ``as``/``bs`` in **shares**
(the synthetic market quotes 100 to 2,000 shares; Alpaca's older SIP feed counted round lots
of 100, so a client must not rescale these); exchange codes ``V`` (IEX), condition ``R``, tape
``C``; ``t`` is the simulated now. Trades: the last price, 100 shares, condition ``@``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable
from functools import lru_cache
from typing import Any, Final

import orjson
import pandas as pd
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from greekfire.domain.market import Timeframe
from greekfire.exchange.params import (
    decode_token,
    encode_token,
    parse_bounds,
    parse_date,
    parse_limit,
    parse_sort,
    parse_symbol,
    parse_symbols,
    parse_timeframe,
)
from greekfire.exchange.state import ExchangeState
from greekfire.exchange.wire import (
    CODE_NOT_FOUND,
    ApiError,
    accepts_gzip,
    bad_request,
    json_response,
    ny_rfc3339,
    rfc3339_z,
)
from greekfire.sim.calendar import (
    is_open,
    is_trading_day,
    next_open,
    previous_close,
    session_arrays,
    sessions,
)

__all__ = ["bars_page", "marketdata_routes", "quote_json", "trade_json"]

_NS: Final = 1_000_000_000
_JSON: Final = "application/json; charset=utf-8"
_T1_FROM: Final = dt.date(2024, 5, 28)  # US equities settle T+1 from this date, T+2 before
_CALENDAR_FIRST: Final = dt.date(2000, 1, 1)


def exchange(request: Request) -> ExchangeState:
    """The shared state of the app serving ``request``."""
    state: ExchangeState = request.app.state.exchange
    return state


async def _send_cached(
    request: Request, state: ExchangeState, key: Hashable, build: Any
) -> Response:
    entry = state.bodies.get_or_build(key, build)
    body, gzipped = await state.encoded(key, entry, accepts_gzip(request))
    headers = {"content-encoding": "gzip", "vary": "Accept-Encoding"} if gzipped else None
    return Response(body, 200, headers=headers, media_type=_JSON)


def _completion_marker(tf: Timeframe, now_ns: int) -> int:
    # The set of complete bars changes only at this instant: a minute, or a session close.
    if tf.intraday:
        return now_ns - now_ns % (60 * _NS)
    return int(previous_close(_stamp(now_ns)).value)


def _stamp(ns: int) -> pd.Timestamp:
    return pd.Timestamp(ns, tz="UTC")


def bars_page(
    state: ExchangeState,
    symbols: list[str],
    tf: Timeframe,
    bounds: tuple[int, int],
    limit: int,
    token: tuple[str, str] | None,
    desc: bool,
) -> tuple[list[tuple[str, bytes]], str | None]:
    """One page of bars: ``[(symbol, rows JSON), ...]`` and the next page token.

    ``symbols`` are sorted; unknown ones are skipped. The token holds the symbol and stamp of
    the next row, so a page boundary may fall inside a symbol.
    """
    lo, hi = bounds
    now_ns = state.clock.now_ns()
    universe = set(state.market.symbols)
    known = [s for s in symbols if s in universe]
    first = 0
    resume: int | None = None
    if token is not None:
        if token[0] not in known or not token[1].lstrip("-").isdigit():
            raise bad_request(f"invalid page_token: {encode_token(*token)!r}")
        first, resume = known.index(token[0]), int(token[1])
    remaining = limit
    out: list[tuple[str, bytes]] = []
    for index in range(first, len(known)):
        symbol = known[index]
        lo_s, hi_s = lo, hi
        if resume is not None and index == first:
            lo_s, hi_s = (lo, resume) if desc else (resume, hi)
        wanted = remaining + 1 if remaining else 1
        chosen = state.store.select(symbol, tf, lo_s, hi_s, now_ns, wanted, desc=desc)
        if chosen is None:
            continue
        if remaining == 0:
            return out, encode_token(symbol, str(chosen.stamp(0)))
        take = min(chosen.count, remaining)
        out.append((symbol, chosen.body(take)))
        remaining -= take
        if chosen.count > take:
            return out, encode_token(symbol, str(chosen.stamp(take)))
    return out, None


def _token_json(token: str | None) -> bytes:
    return b"null" if token is None else b'"' + token.encode() + b'"'


def _bars_request(request: Request, symbols: list[str]) -> tuple[Hashable, Any]:
    state = exchange(request)
    query = request.query_params
    tf = parse_timeframe(query.get("timeframe"))
    now_ns = state.clock.now_ns()
    lo, hi = parse_bounds(query, now_ns)
    limit = parse_limit(query, 1000, 10_000)
    desc = parse_sort(query)
    raw_token = query.get("page_token") or None
    token = decode_token(raw_token)
    state.stats.bars_request(
        {
            "path": request.url.path,
            "symbols": symbols,
            "timeframe": query.get("timeframe"),
            "start": query.get("start"),
            "end": query.get("end"),
            "limit": query.get("limit"),
            "page_token": raw_token,
        }
    )
    marker = _completion_marker(tf, now_ns)
    key = (
        request.url.path,
        tuple(symbols),
        tf.value,
        lo,
        hi if hi < marker else None,
        marker,
        limit,
        raw_token,
        desc,
    )
    return key, lambda: bars_page(state, symbols, tf, (lo, hi), limit, token, desc)


async def stock_bars(request: Request) -> Response:
    """``GET /v2/stocks/bars``: bars of several symbols (see the module docstring)."""
    symbols = parse_symbols(request.query_params)
    key, page = _bars_request(request, symbols)

    def build() -> bytes:
        parts, token = page()
        inner = b",".join(b'"' + s.encode() + b'":[' + rows + b"]" for s, rows in parts)
        return b'{"bars":{' + inner + b'},"next_page_token":' + _token_json(token) + b"}"

    return await _send_cached(request, exchange(request), key, build)


async def stock_bars_single(request: Request) -> Response:
    """``GET /v2/stocks/{symbol}/bars``: bars of one symbol."""
    symbol = parse_symbol(request.path_params["symbol"])
    key, page = _bars_request(request, [symbol])

    def build() -> bytes:
        parts, token = page()
        rows = parts[0][1] if parts else b""
        return (
            b'{"bars":['
            + rows
            + b'],"symbol":"'
            + symbol.encode()
            + b'","next_page_token":'
            + _token_json(token)
            + b"}"
        )

    return await _send_cached(request, exchange(request), key, build)


def quote_json(state: ExchangeState, symbol: str, now: Any) -> dict[str, Any]:
    """Alpaca's latest-quote object of ``symbol`` at ``now``."""
    quote = state.market.quote(symbol, now)
    return {
        "t": rfc3339_z(quote.ts_ns),
        "ax": "V",
        "ap": quote.ask,
        "as": int(quote.ask_size),
        "bx": "V",
        "bp": quote.bid,
        "bs": int(quote.bid_size),
        "c": ["R"],
        "z": "C",
    }


def trade_json(state: ExchangeState, symbol: str, now: Any) -> dict[str, Any]:
    """Alpaca's latest-trade object of ``symbol`` at ``now`` (the market's last price)."""
    ns = int(now.value)
    return {
        "t": rfc3339_z(ns),
        "x": "V",
        "p": state.market.spot(symbol, now),
        "s": 100,
        "c": ["@"],
        "i": (ns // 1_000) % 10**12,
        "z": "C",
    }


def _known(state: ExchangeState, symbols: list[str]) -> list[str]:
    universe = set(state.market.symbols)
    return [s for s in symbols if s in universe]


async def latest_quotes(request: Request) -> Response:
    """``GET /v2/stocks/quotes/latest?symbols=...``."""
    state = exchange(request)
    symbols = parse_symbols(request.query_params)
    now = state.now()
    quotes = {s: quote_json(state, s, now) for s in _known(state, symbols)}
    return json_response(request, {"quotes": quotes})


async def latest_quote_single(request: Request) -> Response:
    """``GET /v2/stocks/{symbol}/quotes/latest``; 404 for a symbol outside the universe."""
    state = exchange(request)
    symbol = parse_symbol(request.path_params["symbol"])
    if symbol not in state.market.symbols:
        raise _not_found(f"no quote found for {symbol}")
    return json_response(
        request, {"symbol": symbol, "quote": quote_json(state, symbol, state.now())}
    )


async def latest_trades(request: Request) -> Response:
    """``GET /v2/stocks/trades/latest?symbols=...``."""
    state = exchange(request)
    symbols = parse_symbols(request.query_params)
    now = state.now()
    trades = {s: trade_json(state, s, now) for s in _known(state, symbols)}
    return json_response(request, {"trades": trades})


async def latest_trade_single(request: Request) -> Response:
    """``GET /v2/stocks/{symbol}/trades/latest``; 404 for a symbol outside the universe."""
    state = exchange(request)
    symbol = parse_symbol(request.path_params["symbol"])
    if symbol not in state.market.symbols:
        raise _not_found(f"no trade found for {symbol}")
    return json_response(
        request, {"symbol": symbol, "trade": trade_json(state, symbol, state.now())}
    )


def _not_found(message: str) -> ApiError:
    return ApiError(404, CODE_NOT_FOUND, message)


def clock_json(now_ns: int) -> dict[str, Any]:
    """Alpaca's clock at ``now_ns``: New York offsets; ``next_close`` is today's close while
    open, else the next session's."""
    now = _stamp(now_ns)
    _, _, closes = session_arrays(now_ns, now_ns + 15 * 86_400 * _NS)
    upcoming = closes[closes > now_ns]
    return {
        "timestamp": ny_rfc3339(now_ns),
        "is_open": is_open(now),
        "next_open": ny_rfc3339(int(next_open(now).value)),
        "next_close": ny_rfc3339(int(upcoming[0])),
    }


async def market_clock(request: Request) -> Response:
    """``GET /v2/clock``."""
    return json_response(request, clock_json(exchange(request).clock.now_ns()))


def _settlement(day: dt.date) -> dt.date:
    steps = 1 if day >= _T1_FROM else 2
    current = day
    while steps:
        current += dt.timedelta(days=1)
        if is_trading_day(current):
            steps -= 1
    return current


@lru_cache(maxsize=64)
def calendar_body(start: dt.date, end: dt.date) -> bytes:
    """Alpaca's calendar of the sessions from ``start`` to ``end`` (New York dates): ``open``
    and ``close`` as local ``HH:MM``, ``session_open``/``session_close`` the extended hours
    ``0400``/``2000``, ``settlement_date`` T+1 (T+2 before 2024-05-28)."""
    frame = sessions(start, end)
    rows = []
    for day, opened, closed in zip(frame["date"], frame["open"], frame["close"], strict=True):
        rows.append(
            {
                "date": day.isoformat(),
                "open": opened.tz_convert("America/New_York").strftime("%H:%M"),
                "close": closed.tz_convert("America/New_York").strftime("%H:%M"),
                "session_open": "0400",
                "session_close": "2000",
                "settlement_date": _settlement(day).isoformat(),
            }
        )
    return orjson.dumps(rows)


async def market_calendar(request: Request) -> Response:
    """``GET /v2/calendar?start=&end=`` (dates; default from 2000-01-01 to the end of next
    year)."""
    state = exchange(request)
    query = request.query_params
    today = state.now().tz_convert("America/New_York").date()
    start = parse_date(query["start"], "start") if query.get("start") else _CALENDAR_FIRST
    end = parse_date(query["end"], "end") if query.get("end") else dt.date(today.year + 1, 12, 31)
    if end < start:
        raise bad_request(f"invalid end: {end.isoformat()} is before start {start.isoformat()}")
    return json_response(request, calendar_body(start, end))


def marketdata_routes() -> list[BaseRoute]:
    """The market-data, clock and calendar routes."""
    return [
        Route("/v2/stocks/bars", stock_bars),
        Route("/v2/stocks/quotes/latest", latest_quotes),
        Route("/v2/stocks/trades/latest", latest_trades),
        Route("/v2/stocks/{symbol}/bars", stock_bars_single),
        Route("/v2/stocks/{symbol}/quotes/latest", latest_quote_single),
        Route("/v2/stocks/{symbol}/trades/latest", latest_trade_single),
        Route("/v2/clock", market_clock),
        Route("/v2/calendar", market_calendar),
    ]
