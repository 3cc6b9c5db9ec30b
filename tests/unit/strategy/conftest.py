"""Builders of hand-made strategy contexts: bars, option chains, positions, orders.

The clock is fixed: Monday 2026-03-02 10:00 New York (15:00 UTC), before the DST change.
Chains are priced with a plain Black-Scholes written here (no numba), so each test knows the
deltas it will see.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from greekfire.domain.instruments import OptionContract
from greekfire.domain.market import Quote
from greekfire.domain.orders import Order, OrderIntent, OrderStatus, Side
from greekfire.domain.portfolio import Account, Position
from greekfire.strategy.base import StrategyContext

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
NOW_NS = int(NOW.timestamp()) * 1_000_000_000
NEAR = date(2026, 3, 6)  # DTE 4.25 at NOW (16:00 EST = 21:00 UTC)
MID = date(2026, 3, 27)  # DTE 25.21 (EDT: 16:00 NY = 20:00 UTC)
FAR = date(2026, 4, 10)  # DTE 39.21


def _ncdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def bsm(spot: float, strike: float, t_years: float, vol: float, call: bool) -> tuple[float, float]:
    """(price, delta) with zero rates and dividends."""
    sd = vol * math.sqrt(t_years)
    d1 = (math.log(spot / strike) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    if call:
        return spot * _ncdf(d1) - strike * _ncdf(d2), _ncdf(d1)
    return strike * _ncdf(-d2) - spot * _ncdf(-d1), _ncdf(d1) - 1.0


def occ(underlying: str, expiry: date, strike: float, right: str) -> str:
    return OptionContract(underlying, expiry, strike, right).symbol


def make_chain(
    underlying: str = "SPY",
    spot: float = 100.0,
    expiries: Iterable[date] = (NEAR, MID, FAR),
    strikes: Iterable[float] = tuple(range(80, 121, 5)),
    *,
    vol: float = 0.30,
    half_spread: float = 0.02,
    open_interest: float = 500.0,
    overrides: Mapping[str, Mapping[str, float]] | None = None,
    engine_columns: bool = True,
) -> pd.DataFrame:
    """A chain frame (CHAIN_COLUMNS, plus mid/spread/dte like the engine's when asked).

    ``half_spread`` is the bid/ask distance from the model price as a fraction of it (min one
    cent); ``overrides`` replaces fields of given contracts (e.g. a wide bid/ask).
    """
    rows: list[dict[str, Any]] = []
    for expiry in expiries:
        close = datetime(
            expiry.year,
            expiry.month,
            expiry.day,
            21 if expiry < date(2026, 3, 8) else 20,
            tzinfo=UTC,
        )
        dte = (close - NOW).total_seconds() / 86_400.0
        for strike in strikes:
            for right, call in (("C", True), ("P", False)):
                price, delta = bsm(spot, float(strike), dte / 365.0, vol, call)
                half = max(price * half_spread, 0.01)
                symbol = occ(underlying, expiry, float(strike), right)
                row: dict[str, Any] = {
                    "contract": symbol,
                    "underlying": underlying,
                    "expiry": pd.Timestamp(expiry),
                    "strike": float(strike),
                    "right": np.int8(1 if call else -1),
                    "bid": round(max(price - half, 0.0), 2),
                    "ask": round(price + half, 2),
                    "last": round(price, 2),
                    "volume": 100.0,
                    "open_interest": open_interest,
                    "iv": vol,
                    "delta": delta,
                    "gamma": math.nan,
                    "theta": math.nan,
                    "vega": math.nan,
                    "underlying_price": spot,
                    "timestamp": pd.Timestamp(NOW),
                    "dte": dte,
                }
                row.update((overrides or {}).get(symbol, {}))
                rows.append(row)
    frame = pd.DataFrame(rows)
    frame["right"] = frame["right"].astype(np.int8)
    if engine_columns:
        frame["mid"] = (frame["bid"] + frame["ask"]) / 2.0
        frame["spread"] = frame["ask"] - frame["bid"]
    else:
        frame = frame.drop(columns=["dte"])
    return frame


def make_bars(closes: Iterable[float], end: datetime = NOW) -> pd.DataFrame:
    """Daily bars ending at ``end`` with the given closes (open = previous close)."""
    close = np.asarray(list(closes), dtype=np.float64)
    index = pd.date_range(end=end, periods=len(close), freq="D", tz="UTC", name="timestamp")
    open_ = np.concatenate([close[:1], close[:-1]])
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * 1.001,
            "low": np.minimum(open_, close) * 0.999,
            "close": close,
            "volume": np.full(len(close), 1e6),
        },
        index=index,
    )


def account(cash: float = 100_000.0, equity: float | None = None) -> Account:
    eq = cash if equity is None else equity
    return Account(cash_usd=cash, equity_usd=eq, buying_power_usd=cash)


def open_order(intent: OrderIntent, coid: str = "o-1") -> Order:
    return Order(coid, intent, OrderStatus.NEW, NOW_NS, NOW_NS)


@dataclass
class Ctx:
    """Mutable builder; ``.build()`` gives the frozen StrategyContext."""

    now_ns: int = NOW_NS
    bars: dict[str, pd.DataFrame] = field(default_factory=dict)
    indicators: dict[str, dict[str, float]] = field(default_factory=dict)
    chains: dict[str, pd.DataFrame] = field(default_factory=dict)
    quotes: dict[str, Quote] = field(default_factory=dict)
    positions: dict[str, Position] = field(default_factory=dict)
    orders: list[Order] = field(default_factory=list)
    account: Account | None = field(default_factory=account)

    def hold(self, symbol: str, qty: float, avg_cost: float) -> Ctx:
        self.positions[symbol] = Position(symbol, qty, avg_cost)
        return self

    def order(
        self,
        symbol: str,
        side: Side,
        qty: float = 1,
        strategy: str = "s",
        limit: float | None = None,
    ) -> Ctx:
        intent = OrderIntent.single(symbol, side, qty, limit_price=limit, strategy=strategy)
        self.orders.append(open_order(intent, f"o-{len(self.orders) + 1}"))
        return self

    def build(self) -> StrategyContext:
        return StrategyContext(
            now_ns=self.now_ns,
            bars=self.bars,
            indicators=self.indicators,
            chains=self.chains,
            quotes=self.quotes,
            positions=self.positions,
            account=self.account,
            open_orders=tuple(self.orders),
        )


class Builders:
    """What the ``b`` fixture hands to tests."""

    now_ns = NOW_NS
    near = NEAR
    mid = MID
    far = FAR
    chain = staticmethod(make_chain)
    bars = staticmethod(make_bars)
    occ = staticmethod(occ)
    account = staticmethod(account)
    bsm = staticmethod(bsm)
    open_order = staticmethod(open_order)

    @staticmethod
    def ctx(**kwargs: Any) -> Ctx:
        return Ctx(**kwargs)


@pytest.fixture
def b() -> Builders:
    """Context builders (see the module docstring)."""
    return Builders()
