"""A scripted ``MarketDataProvider`` for engine tests: the underlying follows a price script.

The script is a list of ``(first day, price)`` steps: the underlying trades at the price of the
latest step on or before the New York date of the clock, the whole day long (before the first
step, at the first step's price). Everything the engine asks for is derived from that price:

- ``bars``: one daily bar per session (stamped 00:00 UTC of the session's date, as the
  synthetic market stamps them), opening at the previous session's price and closing at the
  day's price; only sessions that have closed by the clock are returned;
- ``latest_quotes``: bid/ask one cent either side of the price, ``last`` the price;
- ``option_chain``: the weekly expiries (Fridays that are trading days, this week's included
  until its close), strikes every ``strike_step`` from 70 % to 130 % of the price, priced by
  Black-Scholes at a fixed volatility; each quote is the theoretical value rounded to the cent
  with one cent either side (so every mid is a whole cent and a limit order at the mid fills at
  once), open interest high: liquid enough for any strategy's filters.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from greekfire.analytics.options import greeks
from greekfire.data.port import ChainFilter, empty_bars, empty_chain, empty_quotes, to_utc
from greekfire.domain.enums import OptionRight
from greekfire.domain.instruments import OptionContract
from greekfire.domain.market import BAR_COLUMNS, CHAIN_COLUMNS, Timeframe
from greekfire.errors import ProviderError
from greekfire.sim.calendar import is_trading_day
from greekfire.sim.chains import expiry_close

__all__ = ["ScriptedProvider"]

_NY = "America/New_York"
_YEAR_NS = 365.0 * 86_400 * 1_000_000_000
_FRIDAY = 4


class ScriptedProvider:
    """A one-underlying market whose price follows ``script`` (see the module docstring).

    Parameters
    ----------
    underlying : str
        The only symbol served.
    script : sequence of (date, float)
        Price steps: from each date on (New York calendar), the underlying trades at the price.
    clock : callable returning a pandas.Timestamp
        "Now" (UTC); the engine's simulated clock's ``now``.
    vol : float
        The volatility every option is priced at.
    rate : float
        Continuously compounded risk-free rate of the pricing (the engine's snapshot uses 0.04).
    weeks : int
        Weekly expiries listed.
    strike_step : float
        Distance between strikes.
    open_interest : float
        Open interest of every contract.
    """

    name = "scripted"

    def __init__(
        self,
        underlying: str,
        script: Sequence[tuple[date, float]],
        clock: Callable[[], pd.Timestamp],
        *,
        vol: float = 0.30,
        rate: float = 0.04,
        weeks: int = 3,
        strike_step: float = 1.0,
        open_interest: float = 5_000.0,
    ) -> None:
        if not script:
            raise ValueError("script: expected at least one (date, price) step, got none")
        steps = sorted(script)
        for day, price in steps:
            if not (math.isfinite(price) and price > 0):
                raise ValueError(f"script: price on {day} must be > 0, got {price!r}")
        self.underlying = underlying
        self._steps = steps
        self._clock = clock
        self.vol = float(vol)
        self.rate = float(rate)
        self.weeks = int(weeks)
        self.strike_step = float(strike_step)
        self.open_interest = float(open_interest)
        self.calls: dict[str, int] = {"bars": 0, "latest_quotes": 0, "option_chain": 0}

    # -- the script -----------------------------------------------------------------------
    def price_on(self, day: date) -> float:
        """The scripted price on New York calendar day ``day``."""
        price = self._steps[0][1]
        for first, value in self._steps:
            if first <= day:
                price = value
        return price

    def _now(self) -> pd.Timestamp:
        return pd.Timestamp(self._clock()).tz_convert("UTC")

    def spot(self) -> float:
        """The underlying's price at the clock's now."""
        return self.price_on(self._now().tz_convert(_NY).date())

    def _check(self, symbol: str) -> None:
        if symbol != self.underlying:
            raise ProviderError(f"symbol: {symbol!r} is not in this market ({self.underlying!r})")

    # -- MarketDataProvider ---------------------------------------------------------------
    async def bars(
        self, symbol: str, start: datetime, end: datetime, timeframe: Timeframe
    ) -> pd.DataFrame:
        """Daily bars of ``symbol`` stamped in ``[start, end)`` whose session has closed."""
        self.calls["bars"] += 1
        lo, hi = to_utc(start, "start"), to_utc(end, "end")
        if lo > hi:
            raise ValueError(f"start {lo} is after end {hi}; the range is [start, end)")
        if Timeframe.parse(timeframe) is not Timeframe.D1:
            raise ProviderError(
                f"timeframe: the scripted market has daily bars only, got {timeframe!r}"
            )
        self._check(symbol)
        now = self._now()
        rows: list[tuple[pd.Timestamp, float, float]] = []
        day = lo.date()
        previous = None
        while pd.Timestamp(day, tz="UTC") < hi:
            stamp = pd.Timestamp(day, tz="UTC")
            if is_trading_day(day) and stamp >= lo and expiry_close(day) <= now:
                close = self.price_on(day)
                opening = (
                    self.price_on(_previous_trading_day(day)) if previous is None else previous
                )
                rows.append((stamp, opening, close))
                previous = close
            day += timedelta(days=1)
        if not rows:
            return empty_bars()
        index = pd.DatetimeIndex([r[0] for r in rows], name="timestamp").as_unit("ns")
        opens = np.array([r[1] for r in rows], dtype=np.float64)
        closes = np.array([r[2] for r in rows], dtype=np.float64)
        columns = {
            "open": opens,
            "high": np.maximum(opens, closes),
            "low": np.minimum(opens, closes),
            "close": closes,
            "volume": np.full(len(rows), 1_000_000.0),
        }
        return pd.DataFrame({c: columns[c] for c in BAR_COLUMNS}, index=index)

    async def latest_quotes(self, symbols: Sequence[str]) -> pd.DataFrame:
        """Bid/ask one cent around the scripted price, ``last`` the price."""
        self.calls["latest_quotes"] += 1
        names = list(dict.fromkeys([symbols] if isinstance(symbols, str) else symbols))
        if not names:
            return empty_quotes()
        for name in names:
            self._check(name)
        now = self._now()
        price = self.spot()
        frame = empty_quotes().reindex(pd.Index(names, dtype="str", name="symbol"))
        frame["timestamp"] = now
        frame["bid"] = round(price - 0.01, 2)
        frame["ask"] = round(price + 0.01, 2)
        frame["bid_size"] = 100.0
        frame["ask_size"] = 100.0
        frame["last"] = price
        return frame.astype(empty_quotes().dtypes.to_dict())

    async def option_chain(
        self, underlying: str, chain_filter: ChainFilter | None = None
    ) -> pd.DataFrame:
        """Weekly expiries, strikes every ``strike_step``, Black-Scholes quotes at ``vol``."""
        self.calls["option_chain"] += 1
        self._check(underlying)
        now = self._now()
        spot = self.spot()
        expiries = self._expiries(now)
        step = self.strike_step
        strikes = np.arange(
            math.ceil(0.7 * spot / step) * step,
            math.floor(1.3 * spot / step) * step + step / 2,
            step,
        )
        grid = [
            (e, k, r)
            for e in expiries
            for k in strikes
            for r in (OptionRight.CALL, OptionRight.PUT)
        ]
        if not grid:
            return empty_chain()
        expiry = [g[0] for g in grid]
        strike = np.array([g[1] for g in grid], dtype=np.float64)
        right = np.array([int(g[2]) for g in grid], dtype=np.int8)
        close_ns = np.array([expiry_close(e).value for e in expiry], dtype=np.float64)
        t_years = (close_ns - now.value) / _YEAR_NS
        g = greeks(spot, strike, t_years, self.vol, self.rate, 0.0, right, second_order=False)
        theo = np.round(np.asarray(g["price"], dtype=np.float64), 2)
        bid = np.maximum(np.round(theo - 0.01, 2), 0.0)
        ask = np.round(bid + 0.02, 2)
        mid = np.round(bid + 0.01, 2)
        frame = pd.DataFrame(
            {
                "contract": [OptionContract(underlying, e, float(k), r).symbol for e, k, r in grid],
                "underlying": underlying,
                "expiry": [pd.Timestamp(e, tz="UTC") for e in expiry],
                "strike": strike,
                "right": right,
                "bid": bid,
                "ask": ask,
                "last": mid,
                "volume": 100.0,
                "open_interest": self.open_interest,
                "iv": self.vol,
                "delta": np.asarray(g["delta"], dtype=np.float64),
                "gamma": np.asarray(g["gamma"], dtype=np.float64),
                "theta": np.asarray(g["theta"], dtype=np.float64),
                "vega": np.asarray(g["vega"], dtype=np.float64),
                "underlying_price": spot,
                "timestamp": now,
            }
        )
        frame = frame.astype(empty_chain().dtypes.to_dict())
        if chain_filter is not None:
            frame = chain_filter.apply(frame)
        return frame.loc[:, list(CHAIN_COLUMNS)].reset_index(drop=True)

    def _expiries(self, now: pd.Timestamp) -> list[date]:
        today = now.tz_convert(_NY).date()
        friday = today + timedelta(days=(_FRIDAY - today.weekday()) % 7)
        out: list[date] = []
        while len(out) < self.weeks:
            day = friday
            while not is_trading_day(day):  # a holiday Friday: the Thursday before
                day -= timedelta(days=1)
            if expiry_close(day) > now:
                out.append(day)
            friday += timedelta(days=7)
        return out


def _previous_trading_day(day: date) -> date:
    day -= timedelta(days=1)
    while not is_trading_day(day):
        day -= timedelta(days=1)
    return day
