"""``AlpacaProvider``: Alpaca's market-data REST API (and greekfire's ``serve-market``) over httpx.

Endpoints used
    ``GET /v2/stocks/bars`` (many symbols per request, paginated by ``next_page_token``),
    ``GET /v2/stocks/quotes/latest`` and ``GET /v2/stocks/trades/latest`` (many symbols),
    ``GET /v1beta1/options/snapshots/{underlying}`` (paginated) and, on the trading API,
    ``GET /v2/options/contracts`` (open interest, paginated).
Credentials
    ``APCA_API_KEY_ID`` and ``APCA_API_SECRET_KEY`` from the environment (or passed in), sent as
    Alpaca's ``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY`` headers. ``APCA_API_DATA_URL`` and
    ``APCA_API_BASE_URL`` override the data and trading base URLs (point both at
    ``greekfire serve-market``).
Time
    Requests take the port's half-open UTC ``[start, end)``; Alpaca's ``end`` is inclusive, so the
    adapter asks for a covering range and trims. Alpaca stamps a daily bar at midnight New York
    time (``04:00Z``/``05:00Z``); greekfire stamps it 00:00 UTC of the session date: the adapter
    converts.
Units
    Alpaca's option Greeks are per calendar day (theta) and per volatility point (vega, 1 %);
    the chain frame carries greekfire's units: theta per year (x 365), vega per 1.00 of
    volatility (x 100).
Errors
    HTTP outcomes per :mod:`greekfire.data.http` (timeouts, dropped connections, 429, 5xx and a
    garbled body are retryable; 4xx and schema errors are not). A body that is JSON but not
    Alpaca's schema raises ``ParseError`` naming the URL, symbol, row, field and value; bars that
    parse but fail :func:`~greekfire.data.validate.validate_bars` (out of order, duplicated, OHLC
    inconsistent, negative) raise ``BarValidationError`` for that symbol and return nothing for
    it.

:meth:`AlpacaProvider.bars_many` is the batching entry point used by
:class:`~greekfire.data.pipeline.AsyncDataPipeline`: one request names up to
``max_symbols_per_request`` symbols and the answer is followed page by page; each symbol's
outcome (a frame or the exception for that symbol) is returned separately.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import httpx
import numpy as np
import orjson
import pandas as pd

from greekfire.data.alpaca_wire import RawBars, parse_bars_page
from greekfire.data.http import CorruptResponse, HttpStats, get_bytes, make_client
from greekfire.data.http11 import FastHTTP11Transport
from greekfire.data.port import (
    BarRequest,
    ChainFilter,
    empty_bars,
    empty_chain,
    empty_quotes,
    to_utc,
)
from greekfire.data.resilience import DEFAULT_LIMITERS, RateLimiterRegistry
from greekfire.data.validate import validate_bars
from greekfire.domain.enums import OptionRight
from greekfire.domain.market import CHAIN_COLUMNS, QUOTE_COLUMNS, Timeframe
from greekfire.domain.occ import parse_occ
from greekfire.errors import ConfigError, DataQualityError, ParseError, ProviderError
from greekfire.kernels.barcheck import bars_all_clean
from greekfire.perf.monitor import PerformanceMonitor

__all__ = [
    "DATA_URL",
    "TRADING_URL",
    "AlpacaCredentials",
    "AlpacaProvider",
]

DATA_URL: Final = "https://data.alpaca.markets"
TRADING_URL: Final = "https://paper-api.alpaca.markets"

_TIMEFRAMES: Final = {
    Timeframe.M1: "1Min",
    Timeframe.M5: "5Min",
    Timeframe.M15: "15Min",
    Timeframe.H1: "1Hour",
    Timeframe.D1: "1Day",
}
_DAY_NS: Final = 86_400 * 10**9
_HALF_DAY_NS: Final = _DAY_NS // 2
_MAX_PAGES: Final = 100_000
_SHOWN: Final = 80
_UTC_NS: Final = "datetime64[ns, UTC]"
_THREAD_PARSE_BYTES: Final = 128 * 1024
_FRAME_COLUMNS: Final = ("open", "high", "low", "close", "volume", "vwap", "trade_count")
_RAW_FIELDS: Final = ("ts_ns", "open", "high", "low", "close", "volume", "trade_count", "vwap")


@dataclass(frozen=True, slots=True)
class AlpacaCredentials:
    """An Alpaca key pair; ``repr`` never shows the secret."""

    key_id: str
    secret_key: str

    def __repr__(self) -> str:
        return "AlpacaCredentials(key_id=***, secret_key=***)"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AlpacaCredentials:
        """Read ``APCA_API_KEY_ID`` and ``APCA_API_SECRET_KEY``.

        Raises
        ------
        ConfigError
            A variable is missing or empty (named in the message).
        """
        source = os.environ if env is None else env
        values = {}
        for name in ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY"):
            value = source.get(name, "").strip()
            if not value:
                raise ConfigError(f"env.{name}", "is not set; Alpaca needs a key id and a secret")
            values[name] = value
        return cls(values["APCA_API_KEY_ID"], values["APCA_API_SECRET_KEY"])

    def headers(self) -> dict[str, str]:
        """Alpaca's authentication headers."""
        return {"APCA-API-KEY-ID": self.key_id, "APCA-API-SECRET-KEY": self.secret_key}


@functools.cache
def _frame_columns() -> pd.Index:
    # Built once: a str Index costs a pyarrow array per frame otherwise (Index is immutable).
    return pd.Index(_FRAME_COLUMNS)


def _base_url(value: str | None, env_name: str, default: str, env: Mapping[str, str]) -> str:
    url = value if value is not None else env.get(env_name, "").strip() or default
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(env_name if value is None else "url", f"not an http(s) URL: {url!r}")
    return url.rstrip("/")


def _rfc3339(ns: int) -> str:
    stamp = pd.Timestamp(ns, tz="UTC")
    if stamp.nanosecond or stamp.microsecond:
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def _loads(body: bytes, source: str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise CorruptResponse(f"{source}: the answer is not valid JSON ({exc})") from exc


def _number(row: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> float:
    value = row.get(key)
    if value is None and not required:
        return float("nan")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParseError(f"{where}: field {key!r} must be a number, got {_shown(value)}")
    return float(value)


def _timestamp(value: object, where: str, key: str = "t") -> pd.Timestamp:
    if not isinstance(value, str):
        raise ParseError(f"{where}: field {key!r} must be an RFC 3339 string, got {_shown(value)}")
    try:
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is None:
            raise ParseError(f"{where}: field {key!r} has no time zone: {_shown(value)}")
        # out of the nanosecond range (years before 1677 or after 2262) raises here
        return stamp.tz_convert("UTC").as_unit("ns")
    except (ValueError, OverflowError) as exc:  # OutOfBoundsDatetime is a ValueError
        raise ParseError(f"{where}: field {key!r} is not a timestamp: {_shown(value)}") from exc


def _object(value: object, where: str, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ParseError(f"{where}: {what} must be a JSON object, got {_shown(value)}")
    return value


def _page_token(doc: Mapping[str, Any], where: str) -> str | None:
    token = doc.get("next_page_token")
    if token is not None and (not isinstance(token, str) or not token):
        raise ParseError(f"{where}: next_page_token must be a string or null, got {_shown(token)}")
    return token


class AlpacaProvider:
    """Alpaca market data through the port (see the module docstring).

    Parameters
    ----------
    credentials : AlpacaCredentials, optional
        Default: :meth:`AlpacaCredentials.from_env`.
    data_url, trading_url : str, optional
        Base URLs; default ``APCA_API_DATA_URL`` / ``APCA_API_BASE_URL`` from the environment,
        else Alpaca's data API and paper trading API.
    feed : str, default "iex"
        Stock data feed (``"iex"`` is free; ``"sip"`` needs a subscription).
    options_feed : str, default "indicative"
    adjustment : str, default "raw"
        Corporate-action adjustment of bars (``"raw"``, ``"split"``, ``"dividend"``, ``"all"``).
    page_limit : int, default 10000
        Bars per page (Alpaca's maximum; counted over all symbols of a page).
    max_symbols_per_request : int, default 100
        Symbols named in one bars/quotes request.
    client : httpx.AsyncClient, optional
        Use this client (the caller closes it); default a pooled client from
        :func:`~greekfire.data.http.make_client` that :meth:`aclose` closes.
    max_connections : int, default 100
        Pool size of the default client.
    timeout_s : float, default 10
        Read timeout of the default client.
    env : mapping, optional
        Environment to read (default ``os.environ``).
    requests_per_second : float, optional
        Client-side limit on HTTP requests (every page counts), shared through ``limiters``
        by every provider named ``name``; use it instead of the pipeline's per-call limit.
    limiters : RateLimiterRegistry, optional
        Default: the process-wide registry the pipeline uses too.
    monitor : PerformanceMonitor, optional
        Receives the bytes of every answer (``data_received_bytes_total{provider="alpaca"}``);
        the pipeline records requests, errors, retries and latency.
    """

    name: str = "alpaca"

    def __init__(
        self,
        credentials: AlpacaCredentials | None = None,
        *,
        data_url: str | None = None,
        trading_url: str | None = None,
        feed: str = "iex",
        options_feed: str = "indicative",
        adjustment: str = "raw",
        page_limit: int = 10_000,
        max_symbols_per_request: int = 100,
        client: httpx.AsyncClient | None = None,
        max_connections: int = 100,
        timeout_s: float = 10.0,
        env: Mapping[str, str] | None = None,
        requests_per_second: float | None = None,
        limiters: RateLimiterRegistry | None = None,
        monitor: PerformanceMonitor | None = None,
    ) -> None:
        source = os.environ if env is None else env
        if not 1 <= page_limit <= 10_000:
            raise ValueError(f"page_limit must be in [1, 10000], got {page_limit}")
        if max_symbols_per_request < 1:
            raise ValueError(f"max_symbols_per_request must be >= 1, got {max_symbols_per_request}")
        self.credentials = credentials or AlpacaCredentials.from_env(source)
        self.data_url = _base_url(data_url, "APCA_API_DATA_URL", DATA_URL, source)
        self.trading_url = _base_url(trading_url, "APCA_API_BASE_URL", TRADING_URL, source)
        self.feed = feed
        self.options_feed = options_feed
        self.adjustment = adjustment
        self.page_limit = page_limit
        self.max_symbols_per_request = max_symbols_per_request
        if requests_per_second is not None and not requests_per_second > 0:
            raise ValueError(f"requests_per_second must be > 0 or None, got {requests_per_second}")
        self.requests_per_second = requests_per_second
        self.limiters = limiters if limiters is not None else DEFAULT_LIMITERS
        self.monitor = monitor
        self.stats = HttpStats()
        self._own_client = client is None
        self._transport = (
            FastHTTP11Transport(max_connections=max_connections) if client is None else None
        )
        self._client = client or make_client(
            max_connections=max_connections,
            timeout_s=timeout_s,
            headers=self.credentials.headers(),
            transport=self._transport,
        )
        self._auth = {} if self._own_client else self.credentials.headers()

    def __repr__(self) -> str:
        return f"AlpacaProvider(data_url={self.data_url!r}, feed={self.feed!r})"

    async def __aenter__(self) -> AlpacaProvider:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def release_idle(self) -> None:
        """Close idle keep-alive connections; the provider stays usable. Called by the
        pipeline's sync wrapper before its event loop ends."""
        if self._transport is not None:
            await self._transport.close_idle()

    async def aclose(self) -> None:
        """Close the connection pool (only the client this provider created)."""
        if self._own_client:
            await self._client.aclose()

    async def _get(self, url: str, params: Mapping[str, str]) -> tuple[str, bytes]:
        if self.requests_per_second is not None:
            await self.limiters.acquire(self.name, self.requests_per_second)
        before = self.stats.bytes_received
        try:
            # A caller-owned client does not carry our credentials: they go with each request.
            response, body = await get_bytes(
                self._client, url, params, headers=self._auth or None, stats=self.stats
            )
        finally:
            if self.monitor is not None:
                self.monitor.record_data_bytes(self.name, self.stats.bytes_received - before)
        return str(response.url), body

    # -- bars ----------------------------------------------------------------------------------

    async def bars(
        self, symbol: str, start: datetime, end: datetime, timeframe: Timeframe | str
    ) -> pd.DataFrame:
        """Bars of ``symbol`` in ``[start, end)`` (port contract); see :meth:`bars_many`."""
        request = BarRequest.of(symbol, start, end, timeframe)
        outcome = (await self.bars_many([request.symbol], start, end, request.timeframe))[
            request.symbol
        ]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def bars_many(
        self,
        symbols: Sequence[str],
        start: datetime,
        end: datetime,
        timeframe: Timeframe | str,
    ) -> dict[str, pd.DataFrame | Exception]:
        """Bars of several symbols in ``[start, end)``: one request chain per
        ``max_symbols_per_request`` symbols, every page followed.

        Returns
        -------
        dict of str to DataFrame or Exception
            Per requested symbol: its frame (``BAR_COLUMNS`` plus ``vwap`` and ``trade_count``;
            empty when Alpaca has no bars) or the ``BarValidationError`` of its bars.

        Raises
        ------
        ValueError
            Naive datetimes, ``start > end``, an empty or malformed symbol list.
        TransientError, ProviderError, ParseError, TimeoutError, ConnectionError
            The request failed; no symbol of the call has a result.
        """
        names = list(dict.fromkeys(BarRequest.of(s, start, end, timeframe).symbol for s in symbols))
        if not names:
            raise ValueError("symbols: expected at least one symbol, got none")
        lo = int(to_utc(start, "start").value)
        hi = int(to_utc(end, "end").value)
        tf = Timeframe.parse(timeframe)
        out: dict[str, pd.DataFrame | Exception] = {}
        if lo == hi:
            return {name: empty_bars(optional=True) for name in names}
        step = self.max_symbols_per_request
        groups = [names[i : i + step] for i in range(0, len(names), step)]
        if len(groups) == 1:
            pages = [await self._bars_pages(groups[0], lo, hi, tf)]
        else:
            pages = await asyncio.gather(*(self._bars_pages(g, lo, hi, tf) for g in groups))
        for group, parts in zip(groups, pages, strict=True):
            for name in group:
                out[name] = self._bars_frame(name, parts.get(name, []), lo, hi, tf)
        return out

    def _bars_query(
        self, symbols: Sequence[str], lo: int, hi: int, tf: Timeframe
    ) -> dict[str, str]:
        if tf is Timeframe.D1:
            # Daily bars: Alpaca stamps them 04:00/05:00Z; cover whole UTC days, trim later.
            first = lo - lo % _DAY_NS
            last_day = (hi - 1) - (hi - 1) % _DAY_NS
            q_start, q_end = first, last_day + _HALF_DAY_NS
        else:
            q_start, q_end = lo, hi  # Alpaca's end is inclusive: a bar at ``end`` is trimmed.
        return {
            "symbols": ",".join(symbols),
            "timeframe": _TIMEFRAMES[tf],
            "start": _rfc3339(q_start),
            "end": _rfc3339(q_end),
            "limit": str(self.page_limit),
            "adjustment": self.adjustment,
            "feed": self.feed,
            "sort": "asc",
        }

    async def _bars_pages(
        self, symbols: Sequence[str], lo: int, hi: int, tf: Timeframe
    ) -> dict[str, list[RawBars]]:
        url = f"{self.data_url}/v2/stocks/bars"
        params = self._bars_query(symbols, lo, hi, tf)
        parts: dict[str, list[RawBars]] = {}
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            shown, body = await self._get(url, params)
            try:
                if len(body) >= _THREAD_PARSE_BYTES:
                    # The scanner releases the GIL: a big page parses on another core while
                    # this loop reads the next answers.
                    page = await asyncio.to_thread(parse_bars_page, body, source=shown)
                else:
                    page = parse_bars_page(body, source=shown)
            except ParseError as exc:
                if isinstance(exc.__cause__, orjson.JSONDecodeError):
                    raise CorruptResponse(str(exc)) from exc  # garbled or cut: retried
                raise
            for name, raw in page.bars.items():
                parts.setdefault(name, []).append(raw)
            token = page.next_page_token
            if token is None:
                return parts
            if token in seen:
                raise ParseError(f"{shown}: next_page_token {_shown(token)} repeats a page")
            seen.add(token)
            params = {**params, "page_token": token}
        raise ParseError(f"{url}: more than {_MAX_PAGES} pages; refusing to follow further")

    def _bars_frame(
        self, symbol: str, parts: list[RawBars], lo: int, hi: int, tf: Timeframe
    ) -> pd.DataFrame | Exception:
        if not parts:
            return empty_bars(optional=True)
        raw = parts[0] if len(parts) == 1 else RawBars.concat(parts)
        ts = raw.ts_ns
        if tf is Timeframe.D1:
            ts = ts - ts % _DAY_NS
        keep = (ts >= lo) & (ts < hi)
        if not keep.all():
            raw = RawBars(**{f: getattr(raw, f)[keep] for f in _RAW_FIELDS})
            ts = ts[keep]
        index = pd.DatetimeIndex(ts.view("datetime64[ns]"), name="timestamp").tz_localize("UTC")
        columns = (raw.open, raw.high, raw.low, raw.close, raw.volume, raw.vwap, raw.trade_count)
        # One (n, 7) block: a frame of one float64 block builds in a third of the time.
        frame = pd.DataFrame(np.stack(columns, axis=1), index=index, columns=_frame_columns())
        if bars_all_clean(ts, *columns):
            return frame  # the common case: every row clean (one pass over the arrays)
        try:
            clean, _ = validate_bars(frame, source=self.name, symbol=symbol, strict=True)
        except DataQualityError as exc:  # per-symbol outcome: this symbol's bars are refused
            return exc
        return clean

    # -- quotes --------------------------------------------------------------------------------

    async def latest_quotes(self, symbols: Sequence[str]) -> pd.DataFrame:
        """The latest quote and trade of each symbol (port contract: ``QUOTE_COLUMNS`` on a
        ``symbol`` index; ``last`` is the latest trade's price).

        Symbols Alpaca has no quote for are absent from the frame.
        """
        names = [symbols] if isinstance(symbols, str) else list(dict.fromkeys(symbols))
        if not names:
            return empty_quotes()
        step = self.max_symbols_per_request
        groups = [names[i : i + step] for i in range(0, len(names), step)]
        rows: dict[str, dict[str, object]] = {}
        for part in await asyncio.gather(*(self._quotes(g) for g in groups)):
            rows.update(part)
        kept = [n for n in names if n in rows]
        if not kept:
            return empty_quotes()
        frame = pd.DataFrame([rows[n] for n in kept], index=pd.Index(kept, dtype="str"))
        frame.index.name = "symbol"
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True).astype(_UTC_NS)
        for column in QUOTE_COLUMNS[1:]:
            frame[column] = frame[column].astype(np.float64)
        return frame[list(QUOTE_COLUMNS)]

    async def _quotes(self, symbols: Sequence[str]) -> dict[str, dict[str, object]]:
        params = {"symbols": ",".join(symbols), "feed": self.feed}
        (q_url, q_body), (t_url, t_body) = await asyncio.gather(
            self._get(f"{self.data_url}/v2/stocks/quotes/latest", params),
            self._get(f"{self.data_url}/v2/stocks/trades/latest", params),
        )
        quotes = _object(_loads(q_body, q_url), q_url, "the answer").get("quotes") or {}
        trades = _object(_loads(t_body, t_url), t_url, "the answer").get("trades") or {}
        _object(quotes, q_url, "'quotes'")
        _object(trades, t_url, "'trades'")
        wanted = set(symbols)
        rows: dict[str, dict[str, object]] = {}
        for name, raw in quotes.items():
            if name not in wanted:
                continue
            where = f"{q_url}: symbol {name!r}"
            quote = _object(raw, where, "a quote")
            trade = trades.get(name)
            last = float("nan")
            if trade is not None:
                last = _number(_object(trade, f"{t_url}: symbol {name!r}", "a trade"), "p", where)
            rows[name] = {
                "timestamp": _timestamp(quote.get("t"), where),
                "bid": _number(quote, "bp", where),
                "ask": _number(quote, "ap", where),
                "bid_size": _number(quote, "bs", where),
                "ask_size": _number(quote, "as", where),
                "last": last,
            }
        return rows

    # -- option chains -------------------------------------------------------------------------

    async def option_chain(
        self, underlying: str, chain_filter: ChainFilter | None = None
    ) -> pd.DataFrame:
        """A snapshot of ``underlying``'s option chain (port contract: ``CHAIN_COLUMNS``).

        Quotes, last trade, daily volume, IV and Greeks come from the snapshots endpoint, open
        interest from the trading API's contracts endpoint, the underlying price from its
        latest trade. Expiry, strike and right bounds of ``chain_filter`` are sent to Alpaca;
        the whole filter (moneyness too) is applied to the answer.
        """
        if not isinstance(underlying, str) or not underlying.strip():
            raise ValueError(f"underlying: expected a non-empty string, got {underlying!r}")
        root = underlying.strip().upper()
        params = self._chain_query(chain_filter)
        snapshots, interest, spot = await asyncio.gather(
            self._snapshots(root, params),
            self._open_interest(root, params),
            self._spot(root),
        )
        frame = self._chain_frame(root, snapshots, interest, spot)
        if chain_filter is not None:
            frame = chain_filter.apply(frame).reset_index(drop=True)
        return frame

    @staticmethod
    def _chain_query(chain_filter: ChainFilter | None) -> dict[str, str]:
        params: dict[str, str] = {}
        if chain_filter is None:
            return params
        if chain_filter.expiry_from is not None:
            params["expiration_date_gte"] = chain_filter.expiry_from.isoformat()
        if chain_filter.expiry_to is not None:
            params["expiration_date_lte"] = chain_filter.expiry_to.isoformat()
        if chain_filter.strike_min is not None:
            params["strike_price_gte"] = repr(float(chain_filter.strike_min))
        if chain_filter.strike_max is not None:
            params["strike_price_lte"] = repr(float(chain_filter.strike_max))
        if chain_filter.right is not None:
            params["type"] = "call" if chain_filter.right == OptionRight.CALL else "put"
        return params

    async def _paged(self, url: str, params: Mapping[str, str], key: str) -> tuple[str, list[Any]]:
        out: list[Any] = []
        query = dict(params)
        seen: set[str] = set()
        shown = url
        for _ in range(_MAX_PAGES):
            shown, body = await self._get(url, query)
            doc = _object(_loads(body, shown), shown, "the answer")
            items = doc.get(key)
            if isinstance(items, dict):
                out.extend(items.items())
            elif isinstance(items, list):
                out.extend(items)
            elif items is not None:
                raise ParseError(f"{shown}: field {key!r} must be an object or a list, got "
                                 f"{_shown(items)}")  # fmt: skip
            token = _page_token(doc, shown)
            if token is None:
                return shown, out
            if token in seen:
                raise ParseError(f"{shown}: next_page_token {_shown(token)} repeats a page")
            seen.add(token)
            query["page_token"] = token
        raise ParseError(f"{url}: more than {_MAX_PAGES} pages; refusing to follow further")

    async def _snapshots(self, root: str, params: Mapping[str, str]) -> tuple[str, list[Any]]:
        query = {**params, "feed": self.options_feed, "limit": "1000"}
        return await self._paged(f"{self.data_url}/v1beta1/options/snapshots/{root}", query,
                                 "snapshots")  # fmt: skip

    async def _open_interest(self, root: str, params: Mapping[str, str]) -> dict[str, float]:
        query = {**params, "underlying_symbols": root, "limit": "10000"}
        url, items = await self._paged(f"{self.trading_url}/v2/options/contracts", query,
                                       "option_contracts")  # fmt: skip
        interest: dict[str, float] = {}
        for row, item in enumerate(items):
            where = f"{url}: option_contracts[{row}]"
            contract = _object(item, where, "a contract")
            symbol = contract.get("symbol")
            if not isinstance(symbol, str):
                raise ParseError(f"{where}: field 'symbol' must be a string, got {_shown(symbol)}")
            value = contract.get("open_interest")
            if value is None:
                interest[symbol] = float("nan")
                continue
            try:
                interest[symbol] = float(value)
            except (TypeError, ValueError) as exc:
                raise ParseError(
                    f"{where}: field 'open_interest' must be a number, got {_shown(value)}"
                ) from exc
        return interest

    async def _spot(self, root: str) -> float:
        url = f"{self.data_url}/v2/stocks/trades/latest"
        shown, body = await self._get(url, {"symbols": root, "feed": self.feed})
        trades = _object(_loads(body, shown), shown, "the answer").get("trades") or {}
        trade = _object(trades, shown, "'trades'").get(root)
        if trade is None:
            raise ProviderError(f"{shown}: no latest trade for underlying {root!r}")
        return _number(_object(trade, shown, "a trade"), "p", f"{shown}: symbol {root!r}")

    def _chain_frame(
        self,
        root: str,
        snapshots: tuple[str, list[Any]],
        interest: Mapping[str, float],
        spot: float,
    ) -> pd.DataFrame:
        url, items = snapshots
        if not items:
            return empty_chain()
        rows: list[dict[str, object]] = []
        for item in items:
            # "snapshots" is an object {contract: snapshot}; a list of anything else is refused
            if not (isinstance(item, tuple) and len(item) == 2):
                raise ParseError(
                    f"{url}: field 'snapshots' must be an object of contract -> snapshot,"
                    f" got an entry {_shown(item)}"
                )
            contract, raw = item
            rows.append(self._chain_row(url, root, contract, raw, interest, spot))
        frame = pd.DataFrame(rows)
        frame["expiry"] = pd.to_datetime(frame["expiry"]).dt.tz_localize("UTC").astype(_UTC_NS)
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True).astype(_UTC_NS)
        frame["right"] = frame["right"].astype(np.int8)
        for column in CHAIN_COLUMNS:
            if column not in ("contract", "underlying", "expiry", "right", "timestamp"):
                frame[column] = frame[column].astype(np.float64)
        frame["contract"] = frame["contract"].astype("str")
        frame["underlying"] = frame["underlying"].astype("str")
        frame = frame[list(CHAIN_COLUMNS)].sort_values(["expiry", "strike", "right"])
        return frame.reset_index(drop=True)

    @staticmethod
    def _chain_row(
        url: str,
        root: str,
        contract: object,
        raw: object,
        interest: Mapping[str, float],
        spot: float,
    ) -> dict[str, object]:
        where = f"{url}: contract {_shown(contract)}"
        if not isinstance(contract, str):
            raise ParseError(f"{where}: the snapshot key must be an OCC symbol string")
        try:
            occ = parse_occ(contract)
        except ValueError as exc:
            raise ParseError(f"{where}: not an OCC option symbol ({exc})") from exc
        snap = _object(raw, where, "a snapshot")
        quote = _object(snap.get("latestQuote") or {}, where, "'latestQuote'")
        trade = _object(snap.get("latestTrade") or {}, where, "'latestTrade'")
        greeks = _object(snap.get("greeks") or {}, where, "'greeks'")
        daily = _object(snap.get("dailyBar") or {}, where, "'dailyBar'")
        stamp = quote.get("t") or trade.get("t")
        iv = snap.get("impliedVolatility")
        return {
            "contract": contract,
            "underlying": root,
            "expiry": pd.Timestamp(occ.expiry),
            "strike": occ.strike,
            "right": int(occ.right),
            "bid": _number(quote, "bp", where, required=False),
            "ask": _number(quote, "ap", where, required=False),
            "last": _number(trade, "p", where, required=False),
            "volume": _number(daily, "v", where, required=False),
            "open_interest": interest.get(contract, float("nan")),
            "iv": _number({"iv": iv}, "iv", where, required=False),
            "delta": _number(greeks, "delta", where, required=False),
            "gamma": _number(greeks, "gamma", where, required=False),
            "theta": _number(greeks, "theta", where, required=False) * 365.0,
            "vega": _number(greeks, "vega", where, required=False) * 100.0,
            "underlying_price": spot,
            "timestamp": _timestamp(stamp, where) if stamp is not None else pd.NaT,
        }
