"""What the event backtester's engine sees: history revealed up to the simulated clock.

:class:`HistoricalProvider` is a :class:`~greekfire.data.port.MarketDataProvider` over a fixed
daily bar history. It never serves anything the clock has not reached:

- ``bars``: a daily bar (stamped 00:00 UTC of its New York session date) is served once the
  session's close has passed (``close <= now``), and only inside the requested ``[start, end)``;
- ``latest_quotes``: the newest *price event* at or before ``now``. The events depend on the
  fill model: ``"close"`` has one event per bar, its close, at the session's close; ``"next_open"``
  adds the bar's open at the session's open. The quote is ``bid``/``ask`` ``spread_bps / 2``
  either side of that price (``last`` the price), so the paper broker's fill price is exactly
  the modelled price (plus its own slippage);
- ``option_chain``: with a chain source (:mod:`greekfire.backtest.event_chains`), the chain
  quoted at ``now`` for the underlying at its ``latest_quotes`` price (``last``), so a chain
  depends on nothing after the clock either; without one, ``ProviderError``.

:class:`PrecomputedIndicatorBook` is the engine's :class:`~greekfire.engine.indicators.
IndicatorBook` with the streaming kernels replaced by a lookup: every indicator is computed
once, vectorised, on the whole history
(:func:`~greekfire.analytics.indicators.technical_indicators`), and the row of a bar is
revealed when the engine hands that bar over. The indicators are causal, so row ``t`` depends
on bars ``<= t`` only; the values equal the streaming path's when both start from the first bar.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Literal, cast

import numpy as np
import pandas as pd

from greekfire.analytics.indicators import technical_indicators
from greekfire.backtest.event_chains import ChainSource
from greekfire.data.port import ChainFilter, empty_bars, empty_quotes, to_utc
from greekfire.domain.market import BAR_COLUMNS, Timeframe
from greekfire.engine.indicators import IndicatorBook
from greekfire.errors import ProviderError
from greekfire.sim.calendar import session_arrays

__all__ = ["FillModel", "HistoricalProvider", "PrecomputedIndicatorBook", "check_history"]

FillModel = Literal["close", "next_open"]
_FILLS = ("close", "next_open")
_DAY_NS = 86_400 * 1_000_000_000


def check_history(bars: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Validate a daily bar history; returns float64 ``BAR_COLUMNS`` frames, sorted, per symbol.

    Raises
    ------
    ValueError
        No symbols, a frame without a UTC ``DatetimeIndex`` at 00:00, a missing column,
        duplicate stamps, non-finite or non-positive prices, or a stamp that is not a session
        date of the calendar (the message names the symbol and the value).
    """
    if not bars:
        raise ValueError("bars: expected a mapping symbol -> daily bars, got an empty one")
    out: dict[str, pd.DataFrame] = {}
    for symbol, frame in bars.items():
        index = frame.index
        if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
            raise ValueError(f"bars[{symbol!r}]: expected a tz-aware DatetimeIndex, got {index!r}")
        missing = [c for c in BAR_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"bars[{symbol!r}]: missing columns {missing} (need {BAR_COLUMNS})")
        clean = frame.loc[:, list(BAR_COLUMNS)].astype(np.float64).sort_index()
        clean.index = pd.DatetimeIndex(
            cast(pd.DatetimeIndex, clean.index).tz_convert("UTC").as_unit("ns"), name="timestamp"
        )
        stamps = clean.index
        if stamps.has_duplicates:
            raise ValueError(
                f"bars[{symbol!r}]: duplicate stamps, first {stamps[stamps.duplicated()][0]}"
            )
        if len(stamps) and (stamps != stamps.normalize()).any():
            bad = stamps[stamps != stamps.normalize()][0]
            raise ValueError(f"bars[{symbol!r}]: daily bars are stamped 00:00 UTC, got {bad}")
        prices = clean[["open", "high", "low", "close"]].to_numpy()
        if not np.all(np.isfinite(prices) & (prices > 0)):
            raise ValueError(f"bars[{symbol!r}]: prices must be finite and > 0")
        out[str(symbol)] = clean
    return out


def session_times(stamps: pd.DatetimeIndex, symbol: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Open and close (UTC ns) of the session of each daily bar stamp.

    Raises
    ------
    ValueError
        A stamp whose date is not a trading day of the calendar.
    """
    if len(stamps) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    ns = stamps.asi8
    dates, opens, closes = session_arrays(int(ns[0]), int(ns[-1]) + _DAY_NS)
    day_ns = dates.astype("datetime64[ns]").astype(np.int64)
    pos = np.searchsorted(day_ns, ns)
    ok = (pos < len(day_ns)) & (day_ns[np.minimum(pos, len(day_ns) - 1)] == ns)
    if not ok.all():
        bad = stamps[~ok][0]
        raise ValueError(f"bars[{symbol!r}]: {bad.date()} is not a trading day of the calendar")
    return opens[pos], closes[pos]


class HistoricalProvider:
    """A ``MarketDataProvider`` that reveals a daily bar history up to the clock's now.

    Parameters
    ----------
    bars : mapping of str to DataFrame
        Daily bars per symbol (see :func:`check_history`).
    clock : callable returning a pandas.Timestamp
        The simulated clock's ``now``.
    fill : {"close", "next_open"}
        Which prices the quotes carry (see the module docstring).
    spread_bps : float
        Quoted spread around the price, basis points (>= 0).
    chains : ChainSource, optional
        Where option chains come from; ``None``: the history has none.
    """

    name = "history"

    def __init__(
        self,
        bars: Mapping[str, pd.DataFrame],
        clock: Callable[[], pd.Timestamp],
        *,
        fill: FillModel = "close",
        spread_bps: float = 0.0,
        chains: ChainSource | None = None,
    ) -> None:
        if fill not in _FILLS:
            raise ValueError(f"fill: expected one of {_FILLS}, got {fill!r}")
        if not (np.isfinite(spread_bps) and spread_bps >= 0):
            raise ValueError(f"spread_bps: expected a number >= 0, got {spread_bps!r}")
        self.history = check_history(bars)
        self._clock = clock
        self.fill: FillModel = fill
        self.spread_bps = float(spread_bps)
        self.chains = chains
        self.sessions: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._events: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for symbol, frame in self.history.items():
            opens, closes = session_times(cast(pd.DatetimeIndex, frame.index), symbol)
            self.sessions[symbol] = (opens, closes)
            self._events[symbol] = self._price_events(frame, opens, closes)
        self.calls: dict[str, int] = {"bars": 0, "latest_quotes": 0, "option_chain": 0}

    def _price_events(
        self, frame: pd.DataFrame, opens: np.ndarray, closes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        close = frame["close"].to_numpy(np.float64)
        if self.fill == "close":
            return closes.copy(), close
        times = np.empty(2 * len(close), dtype=np.int64)
        prices = np.empty(2 * len(close), dtype=np.float64)
        times[0::2], times[1::2] = opens, closes
        prices[0::2], prices[1::2] = frame["open"].to_numpy(np.float64), close
        return times, prices

    def _now_ns(self) -> int:
        return int(pd.Timestamp(self._clock()).tz_convert("UTC").value)

    def _frame(self, symbol: str) -> pd.DataFrame:
        frame = self.history.get(symbol)
        if frame is None:
            raise ProviderError(f"symbol: {symbol!r} is not in the history ({list(self.history)})")
        return frame

    def price_at(self, symbol: str, now_ns: int) -> float:
        """The newest modelled price of ``symbol`` at or before ``now_ns`` (NaN before any)."""
        self._frame(symbol)
        times, prices = self._events[symbol]
        i = int(np.searchsorted(times, now_ns, side="right")) - 1
        return float(prices[i]) if i >= 0 else float("nan")

    async def bars(
        self, symbol: str, start: datetime, end: datetime, timeframe: Timeframe
    ) -> pd.DataFrame:
        """Completed daily bars of ``symbol`` stamped in ``[start, end)``."""
        self.calls["bars"] += 1
        lo, hi = to_utc(start, "start"), to_utc(end, "end")
        if lo > hi:
            raise ValueError(f"start {lo} is after end {hi}; the range is [start, end)")
        if Timeframe.parse(timeframe) is not Timeframe.D1:
            raise ProviderError(f"timeframe: the history holds daily bars only, got {timeframe!r}")
        frame = self._frame(symbol)
        stamps = cast(pd.DatetimeIndex, frame.index).asi8
        _, closes = self.sessions[symbol]
        keep = (stamps >= lo.value) & (stamps < hi.value) & (closes <= self._now_ns())
        if not keep.any():
            return empty_bars()
        return frame.loc[keep]

    async def latest_quotes(self, symbols: Sequence[str]) -> pd.DataFrame:
        """The modelled price at now of each symbol that has one, as a quote."""
        self.calls["latest_quotes"] += 1
        names = list(dict.fromkeys([symbols] if isinstance(symbols, str) else symbols))
        now = self._now_ns()
        rows = [(s, self.price_at(s, now)) for s in names]
        rows = [(s, p) for s, p in rows if np.isfinite(p)]
        if not rows:
            return empty_quotes()
        price = np.array([p for _, p in rows], dtype=np.float64)
        half = price * self.spread_bps / 20_000.0
        frame = pd.DataFrame(
            {
                "timestamp": pd.DatetimeIndex(
                    np.full(len(rows), now, dtype="datetime64[ns]"), tz="UTC"
                ),
                "bid": price - half,
                "ask": price + half,
                "bid_size": 100.0,
                "ask_size": 100.0,
                "last": price,
            },
            index=pd.Index([s for s, _ in rows], dtype="str", name="symbol"),
        )
        return frame  # built with the port's dtypes (an astype per cycle costs more than the rest)

    async def option_chain(
        self, underlying: str, chain_filter: ChainFilter | None = None
    ) -> pd.DataFrame:
        """The chain of ``underlying`` at now, from the chain source, at the quoted price.

        Raises
        ------
        ProviderError
            No chain source, an underlying not in the history, or no price before now.
        """
        self.calls["option_chain"] += 1
        if self.chains is None:
            raise ProviderError(
                f"underlying: the bar history has no option chains ({underlying!r});"
                " pass chains='synthetic' (or stored chains) to the backtester"
            )
        now_ns = self._now_ns()
        spot = self.price_at(underlying, now_ns)
        if not np.isfinite(spot):
            raise ProviderError(
                f"underlying: {underlying!r} has no price at or before"
                f" {pd.Timestamp(now_ns, tz='UTC')}, so no chain"
            )
        chain = self.chains.chain(underlying, spot, pd.Timestamp(now_ns, tz="UTC"))
        if chain_filter is None or chain.empty:
            return chain
        return chain_filter.apply(chain).reset_index(drop=True)


class PrecomputedIndicatorBook(IndicatorBook):
    """An :class:`IndicatorBook` whose values come from a table computed once per symbol.

    Parameters
    ----------
    symbols, indicators, lookback
        As :class:`IndicatorBook`.
    history : mapping of str to DataFrame
        The whole bar history per symbol (``BAR_COLUMNS``); each symbol of ``symbols`` must
        be in it.
    """

    def __init__(
        self,
        symbols: Sequence[str],
        indicators: Sequence[str],
        lookback: int,
        history: Mapping[str, pd.DataFrame],
    ) -> None:
        super().__init__(symbols, indicators, lookback)
        self.tables: dict[str, tuple[np.ndarray, dict[str, np.ndarray]]] = {}
        for symbol in self.symbols:
            frame = history[symbol]
            stamps = cast(pd.DatetimeIndex, frame.index).asi8
            values: dict[str, np.ndarray] = {}
            if self.columns and len(frame):
                table = technical_indicators(frame, list(indicators))
                values = {c: table[c].to_numpy(np.float64) for c in self.columns}
            self.tables[symbol] = (stamps, values)

    def _advance(self, rows: np.ndarray, frames: list[pd.DataFrame]) -> None:
        # Reveal the precomputed row of each symbol's newest bar instead of streaming.
        for row, frame in zip(rows.tolist(), frames, strict=True):
            stamps, values = self.tables[self.symbols[row]]
            last = cast(pd.DatetimeIndex, frame.index).asi8[-1]
            i = int(np.searchsorted(stamps, last))
            if i >= len(stamps) or stamps[i] != last:
                raise ValueError(
                    f"bars[{self.symbols[row]!r}]: bar {pd.Timestamp(last, tz='UTC')} is not in"
                    " the precomputed history"
                )
            for column, series in values.items():
                self._latest[column][row] = series[i]
