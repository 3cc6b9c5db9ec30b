"""Option routes in Alpaca's wire format: chain snapshots (data API) and contracts (trading API).

``GET /v1beta1/options/snapshots/{underlying}``
    ``{"snapshots": {"AAPL240621C00190000": {"latestQuote", "latestTrade"?, "greeks",
    "impliedVolatility"}}, "next_page_token"}``. Filters ``type`` (call|put),
    ``strike_price_gte``/``_lte``, ``expiration_date``, ``expiration_date_gte``/``_lte``,
    ``root_symbol``; ``limit`` default 100, at most 1000; ``feed`` and ``updated_since``
    accepted and ignored. Contracts in symbol order. ``latestTrade`` only for contracts that
    traded (the chain's ``volume > 0``).
``GET /v2/options/contracts``
    ``{"option_contracts": [...], "next_page_token"}`` with Alpaca's fields, numbers as strings
    (``"strike_price": "190"``, ``"size": "100"``, ``"open_interest": "237"``). Filters
    ``underlying_symbols`` (default: the whole universe), ``status`` (``active``; ``inactive``
    gives none), ``type``, ``style`` (``american``; ``european`` gives none), ``root_symbol``,
    ``strike_price_gte``/``_lte``, ``expiration_date``, ``expiration_date_gte``/``_lte``;
    as on Alpaca, with no expiration filter only contracts expiring on or before the coming
    Sunday are listed. ``limit`` default 100, at most 10000.
``GET /v2/options/contracts/{symbol_or_id}``
    One contract by OCC symbol, or by the ``id`` of a contract listed earlier; 404 otherwise.

Chains come from :class:`greekfire.sim.provider.SyntheticProvider` at the simulated now, so
they equal what the embedded provider returns. Greeks in Alpaca's units: ``theta`` per calendar
day (the chain's per-year theta / 365), ``vega`` and ``rho`` per 1 point (1 %) of vol and rate
(the chain's per-1.00 values / 100); ``rho`` is computed here (the chain frame has none) with
the provider's rate and no dividend. Quote sizes (contracts) derive from open interest.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Any, Final

import numpy as np
import pandas as pd
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from greekfire.domain.occ import parse_occ
from greekfire.exchange.marketdata import exchange
from greekfire.exchange.params import (
    decode_token,
    encode_token,
    parse_date,
    parse_float,
    parse_limit,
    parse_symbol,
    parse_symbols,
)
from greekfire.exchange.state import ExchangeState
from greekfire.exchange.wire import (
    CODE_NOT_FOUND,
    ApiError,
    bad_request,
    json_response,
    rfc3339_z,
)
from greekfire.sim.calendar import previous_close
from greekfire.sim.chains import year_fraction

__all__ = ["chain_at", "contract_json", "option_routes", "snapshot_json"]

_NAMESPACE: Final = uuid.UUID("5f3c1a0e-9d1b-4c55-8a57-6772656b6669")
_TOKEN_KIND: Final = "occ"
_CHAIN_CACHE: Final = 64
_DAYS_PER_YEAR: Final = 365.0  # the chains' ACT/365 year: theta per year / 365 = per day


def _uuid(name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, name))


async def chain_at(state: ExchangeState, underlying: str) -> pd.DataFrame:
    """The full chain of ``underlying`` at the simulated now, sorted by contract symbol, with
    an ``rho`` column (per 1.00 of rate); cached per (underlying, now)."""
    now_ns = state.clock.now_ns()
    cache = state.chains
    key = (underlying, now_ns)
    cached = cache.get(key)
    if cached is not None:
        return cached
    chain = await state.provider.option_chain(underlying)
    chain = chain.sort_values("contract", kind="stable").reset_index(drop=True)
    chain["rho"] = _rho(chain, state.config.rate)
    if len(cache) >= _CHAIN_CACHE:
        cache.clear()
    cache[key] = chain
    return chain


def _norm_cdf(x: np.ndarray) -> np.ndarray:
    return np.array([0.5 * math.erfc(-v / math.sqrt(2.0)) for v in x.tolist()])


def _rho(chain: pd.DataFrame, rate: float) -> np.ndarray:
    # Black-Scholes rho per 1.00 of rate: right * K T e^{-rT} N(right * d2), no dividend.
    if chain.empty:
        return np.zeros(0)
    now = chain["timestamp"].iloc[0]
    t_years = np.array([year_fraction(now, d.date()) for d in chain["expiry"]])
    spot, strike = chain["underlying_price"].to_numpy(), chain["strike"].to_numpy()
    vol, right = chain["iv"].to_numpy(), chain["right"].to_numpy().astype(np.float64)
    sd = vol * np.sqrt(t_years)
    d2 = (np.log(spot / strike) + (rate - 0.5 * vol**2) * t_years) / sd
    rho: np.ndarray = right * strike * t_years * np.exp(-rate * t_years) * _norm_cdf(right * d2)
    return rho


def _dates(query: QueryParams) -> tuple[dt.date | None, dt.date | None, dt.date | None]:
    exact = query.get("expiration_date")
    low, high = query.get("expiration_date_gte"), query.get("expiration_date_lte")
    return (
        parse_date(exact, "expiration_date") if exact else None,
        parse_date(low, "expiration_date_gte") if low else None,
        parse_date(high, "expiration_date_lte") if high else None,
    )


def _right(query: QueryParams) -> int | None:
    raw = query.get("type")
    if not raw:
        return None
    if raw not in ("call", "put"):
        raise bad_request(f"invalid type: {raw!r}; expected call or put")
    return 1 if raw == "call" else -1


def _filter(
    chain: pd.DataFrame,
    query: QueryParams,
    dates: tuple[dt.date | None, dt.date | None, dt.date | None],
) -> pd.DataFrame:
    keep = np.ones(len(chain), dtype=bool)
    right = _right(query)
    if right is not None:
        keep &= chain["right"].to_numpy() == right
    low, high = parse_float(query, "strike_price_gte"), parse_float(query, "strike_price_lte")
    strikes = chain["strike"].to_numpy()
    if low is not None:
        keep &= strikes >= low - 1e-9
    if high is not None:
        keep &= strikes <= high + 1e-9
    expiry = chain["expiry"].dt.tz_convert(None).to_numpy().astype("datetime64[D]")
    exact, first, last = dates
    if exact is not None:
        keep &= expiry == np.datetime64(exact, "D")
    if first is not None:
        keep &= expiry >= np.datetime64(first, "D")
    if last is not None:
        keep &= expiry <= np.datetime64(last, "D")
    root = query.get("root_symbol")
    if root:
        keep &= np.array([c.startswith(root) and c[len(root)].isdigit() for c in chain["contract"]])
    return chain.loc[keep]


def _page(symbols: list[str], token: str | None, limit: int) -> tuple[int, int, str | None]:
    # Rows [first, last) of a symbol-sorted list, and the next token (the next symbol).
    first = 0
    decoded = decode_token(token)
    if decoded is not None:
        if decoded[0] != _TOKEN_KIND:
            raise bad_request(f"invalid page_token: {token!r}")
        first = int(np.searchsorted(np.array(symbols, dtype=object), decoded[1]))
    last = min(first + limit, len(symbols))
    following = encode_token(_TOKEN_KIND, symbols[last]) if last < len(symbols) else None
    return first, last, following


def _sizes(open_interest: float) -> int:
    return max(1, min(500, int(open_interest // 20)))


def snapshot_json(row: Any, now_ns: int) -> dict[str, Any]:
    """Alpaca's snapshot object of one chain row (a namedtuple from ``itertuples``)."""
    stamp = rfc3339_z(now_ns)
    size = _sizes(row.open_interest)
    snapshot: dict[str, Any] = {
        "latestQuote": {
            "ap": row.ask,
            "as": size,
            "ax": "C",
            "bp": row.bid,
            "bs": size if row.bid > 0 else 0,
            "bx": "C",
            "c": "A",
            "t": stamp,
        },
        "greeks": {
            "delta": row.delta,
            "gamma": row.gamma,
            "rho": row.rho / 100.0,
            "theta": row.theta / _DAYS_PER_YEAR,
            "vega": row.vega / 100.0,
        },
        "impliedVolatility": row.iv,
    }
    if row.volume > 0 and math.isfinite(row.last):
        snapshot["latestTrade"] = {
            "c": "I",
            "p": row.last,
            "s": max(1, int(row.volume // 10)),
            "t": stamp,
            "x": "C",
        }
    return snapshot


async def option_snapshots(request: Request) -> Response:
    """``GET /v1beta1/options/snapshots/{underlying}``."""
    state = exchange(request)
    underlying = parse_symbol(request.path_params["underlying"], "underlying")
    query = request.query_params
    limit = parse_limit(query, 100, 1000)
    dates = _dates(query)
    if underlying not in state.market.symbols:
        return json_response(request, {"snapshots": {}, "next_page_token": None})
    chain = _filter(await chain_at(state, underlying), query, dates)
    first, last, following = _page(chain["contract"].tolist(), query.get("page_token"), limit)
    now_ns = state.clock.now_ns()
    snapshots = {
        row.contract: snapshot_json(row, now_ns) for row in chain.iloc[first:last].itertuples()
    }
    return json_response(request, {"snapshots": snapshots, "next_page_token": following})


def _strike_text(strike: float) -> str:
    return f"{strike:.3f}".rstrip("0").rstrip(".")


def contract_json(state: ExchangeState, row: Any, now: pd.Timestamp) -> dict[str, Any]:
    """Alpaca's option-contract object of one chain row."""
    occ = parse_occ(row.contract)
    expiry: dt.date = occ.expiry
    kind = "call" if row.right > 0 else "put"
    strike = _strike_text(row.strike)
    last_day = previous_close(now).tz_convert("America/New_York").date().isoformat()
    contract_id = _uuid(row.contract)
    state.contract_ids[contract_id] = row.contract
    return {
        "id": contract_id,
        "symbol": row.contract,
        "name": f"{occ.root} {expiry.strftime('%b %d %Y')} {strike} {kind.title()}",
        "status": "active",
        "tradable": True,
        "expiration_date": expiry.isoformat(),
        "root_symbol": occ.root,
        "underlying_symbol": row.underlying,
        "underlying_asset_id": _uuid(f"asset:{row.underlying}"),
        "type": kind,
        "style": "american",
        "strike_price": strike,
        "multiplier": "100",
        "size": "100",
        "open_interest": str(int(row.open_interest)),
        "open_interest_date": last_day,
        "close_price": None if not math.isfinite(row.last) else f"{row.last:g}",
        "close_price_date": last_day if math.isfinite(row.last) else None,
    }


def _coming_sunday(now: pd.Timestamp) -> dt.date:
    today = now.tz_convert("America/New_York").date()
    return today + dt.timedelta(days=6 - today.weekday())


async def option_contracts(request: Request) -> Response:
    """``GET /v2/options/contracts``."""
    state = exchange(request)
    query = request.query_params
    limit = parse_limit(query, 100, 10_000)
    underlyings = parse_symbols(query, "underlying_symbols", required=False)
    status, style = query.get("status") or "active", query.get("style") or "american"
    if status not in ("active", "inactive"):
        raise bad_request(f"invalid status: {status!r}; expected active or inactive")
    if style not in ("american", "european"):
        raise bad_request(f"invalid style: {style!r}; expected american or european")
    now = state.now()
    dates = _dates(query)
    if dates == (None, None, None):
        dates = (None, None, _coming_sunday(now))
    names = [s for s in (underlyings or sorted(state.market.symbols)) if s in state.market.symbols]
    frames = []
    if status == "active" and style == "american":
        frames = [_filter(await chain_at(state, name), query, dates) for name in names]
    rows: list[Any] = [row for frame in frames for row in frame.itertuples()]
    rows.sort(key=lambda row: str(row.contract))
    symbols = [str(r.contract) for r in rows]
    first, last, following = _page(symbols, query.get("page_token"), limit)
    contracts = [contract_json(state, row, now) for row in rows[first:last]]
    return json_response(request, {"option_contracts": contracts, "next_page_token": following})


async def option_contract(request: Request) -> Response:
    """``GET /v2/options/contracts/{symbol_or_id}``."""
    state = exchange(request)
    key = request.path_params["symbol_or_id"]
    symbol = state.contract_ids.get(key, key)
    try:
        occ = parse_occ(symbol)
    except ValueError:
        raise ApiError(404, CODE_NOT_FOUND, f"option contract not found: {key}") from None
    if occ.root not in state.market.symbols:
        raise ApiError(404, CODE_NOT_FOUND, f"option contract not found: {key}")
    chain = await chain_at(state, occ.root)
    match = chain.loc[chain["contract"] == symbol]
    if match.empty:
        raise ApiError(404, CODE_NOT_FOUND, f"option contract not found: {key}")
    row = next(match.itertuples())
    return json_response(request, contract_json(state, row, state.now()))


def option_routes() -> list[BaseRoute]:
    """The option snapshot and contract routes."""
    return [
        Route("/v1beta1/options/snapshots/{underlying}", option_snapshots),
        Route("/v2/options/contracts", option_contracts),
        Route("/v2/options/contracts/{symbol_or_id}", option_contract),
    ]
