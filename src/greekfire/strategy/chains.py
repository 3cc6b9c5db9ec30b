"""Option-chain helpers for strategies: days to expiry, liquidity filters, picking a contract.

Chain frames have ``CHAIN_COLUMNS`` (see :mod:`greekfire.domain.market`); the engine adds
``mid``, ``spread`` and ``dte``. :func:`prepared` adds them when a frame lacks them, so the
helpers also work on raw chains (tests, notebooks).
"""

from __future__ import annotations

import math
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from greekfire.domain.enums import OptionRight
from greekfire.strategy.base import StrategyContext

__all__ = [
    "contract_bid_ask",
    "contract_mark",
    "contract_row",
    "days_to_expiry",
    "liquid",
    "pick_by_delta",
    "prepared",
    "rank_by_delta",
    "round_to_tick",
]

_NY = ZoneInfo("America/New_York")
_NS_PER_DAY = 86_400 * 1_000_000_000
_CLOSE = time(16, 0)


def days_to_expiry(expiry: date, now_ns: int) -> float:
    """Calendar days from ``now_ns`` to the expiry session's close (16:00 New York); < 0 after."""
    close = datetime.combine(expiry, _CLOSE, tzinfo=_NY)
    close_ns = int(close.timestamp()) * 1_000_000_000
    return (close_ns - now_ns) / _NS_PER_DAY


def _expiry_dates(column: pd.Series) -> list[date]:
    values = pd.to_datetime(column)
    return [ts.date() for ts in values]


def prepared(chain: pd.DataFrame, now_ns: int) -> pd.DataFrame:
    """``chain`` with ``mid``, ``spread`` and ``dte`` columns (added only when missing)."""
    missing = [c for c in ("mid", "spread", "dte") if c not in chain.columns]
    if not missing:
        return chain
    out = chain.copy()
    bid = out["bid"].to_numpy(dtype=np.float64)
    ask = out["ask"].to_numpy(dtype=np.float64)
    if "mid" in missing:
        out["mid"] = (bid + ask) / 2.0
    if "spread" in missing:
        out["spread"] = ask - bid
    if "dte" in missing:
        out["dte"] = [days_to_expiry(d, now_ns) for d in _expiry_dates(out["expiry"])]
    return out


def liquid(
    chain: pd.DataFrame, *, max_spread_fraction: float, min_open_interest: float
) -> pd.DataFrame:
    """Rows with a two-sided market, ``spread / mid <= max_spread_fraction`` and
    ``open_interest >= min_open_interest`` (a NaN open interest fails when a minimum is set)."""
    bid = chain["bid"].to_numpy(dtype=np.float64)
    ask = chain["ask"].to_numpy(dtype=np.float64)
    mid = (bid + ask) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = (ask - bid) / mid
        ok = (bid > 0) & (ask >= bid) & (fraction <= max_spread_fraction)
        if min_open_interest > 0:
            ok &= chain["open_interest"].to_numpy(dtype=np.float64) >= min_open_interest
    out: pd.DataFrame = chain[ok]
    return out


def rank_by_delta(
    chain: pd.DataFrame,
    *,
    now_ns: int,
    right: OptionRight,
    target_abs_delta: float,
    dte_min: float,
    dte_max: float,
    max_spread_fraction: float,
    min_open_interest: float,
    strike_min: float | None = None,
    strike_max: float | None = None,
) -> pd.DataFrame:
    """The liquid contracts of ``right`` in the DTE window (and strike bounds), best first.

    Best is the ``|delta|`` nearest the target; ties go to the shorter expiry, then to the
    further out-of-the-money strike. Contracts with a NaN delta are left out. The frame has
    ``mid``, ``spread`` and ``dte`` (see :func:`prepared`).
    """
    frame = prepared(chain, now_ns)
    dte = frame["dte"].to_numpy(dtype=np.float64)
    strike = frame["strike"].to_numpy(dtype=np.float64)
    delta = frame["delta"].to_numpy(dtype=np.float64)
    mask = (frame["right"].to_numpy() == int(right)) & (dte >= dte_min) & (dte <= dte_max)
    mask &= np.isfinite(delta)
    if strike_min is not None:
        mask &= strike >= strike_min
    if strike_max is not None:
        mask &= strike <= strike_max
    candidates = liquid(
        frame[mask], max_spread_fraction=max_spread_fraction, min_open_interest=min_open_interest
    )
    distance = (candidates["delta"].abs() - target_abs_delta).abs()
    otm_key = candidates["strike"] * (1 if right is OptionRight.PUT else -1)
    keys = pd.DataFrame({"d": distance, "t": candidates["dte"], "k": otm_key})
    order = keys.sort_values(["d", "t", "k"], kind="mergesort").index
    ranked: pd.DataFrame = candidates.loc[order]
    return ranked


def pick_by_delta(
    chain: pd.DataFrame,
    *,
    now_ns: int,
    right: OptionRight,
    target_abs_delta: float,
    dte_min: float,
    dte_max: float,
    max_spread_fraction: float,
    min_open_interest: float,
    strike_min: float | None = None,
    strike_max: float | None = None,
) -> pd.Series | None:
    """The best contract of :func:`rank_by_delta` (its chain row), or None when none qualifies."""
    ranked = rank_by_delta(
        chain,
        now_ns=now_ns,
        right=right,
        target_abs_delta=target_abs_delta,
        dte_min=dte_min,
        dte_max=dte_max,
        max_spread_fraction=max_spread_fraction,
        min_open_interest=min_open_interest,
        strike_min=strike_min,
        strike_max=strike_max,
    )
    if ranked.empty:
        return None
    row: pd.Series = ranked.iloc[0]
    return row


def contract_row(chain: pd.DataFrame | None, symbol: str) -> pd.Series | None:
    """The chain row of OCC ``symbol`` (None when absent)."""
    if chain is None or chain.empty:
        return None
    hit = chain[chain["contract"] == symbol]
    return None if hit.empty else hit.iloc[0]


def contract_bid_ask(ctx: StrategyContext, symbol: str, underlying: str) -> tuple[float, float]:
    """(bid, ask) of an option: its quote, else its chain row; (NaN, NaN) without a market."""
    quote = ctx.quotes.get(symbol)
    if quote is not None and quote.bid >= 0 and quote.ask > 0 and quote.ask >= quote.bid:
        return float(quote.bid), float(quote.ask)
    row = contract_row(ctx.chains.get(underlying), symbol)
    if row is not None:
        bid, ask = float(row["bid"]), float(row["ask"])
        if bid >= 0 and ask > 0 and ask >= bid:
            return bid, ask
    return math.nan, math.nan


def contract_mark(ctx: StrategyContext, symbol: str, underlying: str) -> float:
    """Mid price of an option: its quote, else its chain row; NaN when neither has a market."""
    bid, ask = contract_bid_ask(ctx, symbol, underlying)
    return (bid + ask) / 2.0


def round_to_tick(price: float, tick: float, *, up: bool | None = None) -> float:
    """``price`` on the ``tick`` grid: nearest (None), rounded up (True) or down (False)."""
    steps = price / tick
    if up is None:
        n = math.floor(steps + 0.5 + 1e-9)
    elif up:
        n = math.ceil(steps - 1e-9)
    else:
        n = math.floor(steps + 1e-9)
    return round(n * tick, 10)
