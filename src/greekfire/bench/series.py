"""Deterministic synthetic price and return series for the indicator and statistics cases.

Layout follows the kernels in :mod:`greekfire.kernels.ta` and :mod:`greekfire.kernels.stats`:
float64 arrays of shape (symbols, bars), C order, time along the last axis. Every generator
takes a seed and returns the same arrays for the same arguments on every machine (numpy's
PCG64 ``default_rng``).

A workload's size ``n`` counts symbol-bars (``symbols * bars``; for the streaming case, one
bar of each symbol), and ``head(m)`` keeps the first ``m`` symbols, so the harness can time a
slow per-symbol loop on a few symbols and scale it to all of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "INDICATORS",
    "INDICATOR_OUTPUTS",
    "OHLCWorkload",
    "ReturnsWorkload",
    "StreamWorkload",
    "make_ohlc_workload",
    "make_returns_workload",
    "make_stream_workload",
]

F64 = NDArray[np.float64]

INDICATORS = ("sma_20", "ema_12", "rsi_14", "macd", "bollinger_bands", "atr_14")
"""The six indicators of cases (e)-(g), as ``greekfire.technical_indicators`` names them:
SMA 20, EMA 12, RSI 14, MACD 12/26/9, Bollinger Bands 20/2, ATR 14."""

INDICATOR_OUTPUTS = (
    "sma_20",
    "ema_12",
    "rsi_14",
    "macd",
    "macd_signal",
    "macd_histogram",
    "bb_upper",
    "bb_middle",
    "bb_lower",
    "atr_14",
)
"""The ten output series every indicator contender returns (TA-Lib's outputs of the six)."""


def _contiguous(a: F64) -> F64:
    return np.ascontiguousarray(a, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class OHLCWorkload:
    """High, low and close prices of ``rows`` symbols over ``bars`` bars.

    Attributes
    ----------
    high, low, close : ndarray of float64, shape (rows, bars)
        C-contiguous; low <= close <= high on every bar.
    """

    high: F64
    low: F64
    close: F64

    @property
    def rows(self) -> int:
        """Number of symbols."""
        return int(self.close.shape[0])

    @property
    def bars(self) -> int:
        """Number of bars per symbol."""
        return int(self.close.shape[1])

    @property
    def n(self) -> int:
        """Symbol-bars: ``rows * bars``."""
        return self.rows * self.bars

    def head(self, m: int) -> OHLCWorkload:
        """Return the first ``m`` symbols (clipped to ``rows``; leading rows are views).

        Parameters
        ----------
        m : int
            Number of symbols.
        """
        m = max(1, min(m, self.rows))
        return OHLCWorkload(self.high[:m], self.low[:m], self.close[:m])

    def bar(self, j: int) -> OHLCWorkload:
        """Return bar ``j`` of every symbol as a (rows, 1) workload (contiguous copies).

        Parameters
        ----------
        j : int
            Bar position.
        """
        return OHLCWorkload(
            _contiguous(self.high[:, j : j + 1]),
            _contiguous(self.low[:, j : j + 1]),
            _contiguous(self.close[:, j : j + 1]),
        )

    def extended(self, more: OHLCWorkload, columns: NDArray[np.int64]) -> OHLCWorkload:
        """Return this history followed by the bars ``columns`` of ``more``.

        Parameters
        ----------
        more : OHLCWorkload
            Bars to append (same symbols).
        columns : ndarray of int
            Positions in ``more``, in the order they are appended.
        """

        def cat(a: F64, b: F64) -> F64:
            return _contiguous(np.concatenate([a, b[:, columns]], axis=1))

        return OHLCWorkload(
            cat(self.high, more.high), cat(self.low, more.low), cat(self.close, more.close)
        )


@dataclass(frozen=True, slots=True)
class StreamWorkload:
    """A history to build streaming states from and the bars that come next.

    Attributes
    ----------
    history : OHLCWorkload
        Past bars, (rows, history bars).
    upcoming : OHLCWorkload
        Bars to feed one at a time, (rows, k); a timed call feeds the next one (cycling).
    """

    history: OHLCWorkload
    upcoming: OHLCWorkload

    @property
    def n(self) -> int:
        """One bar of every symbol: ``rows``."""
        return self.history.rows

    def head(self, m: int) -> StreamWorkload:
        """Return the first ``m`` symbols.

        Parameters
        ----------
        m : int
            Number of symbols.
        """
        return StreamWorkload(self.history.head(m), self.upcoming.head(m))

    def recompute_input(self) -> OHLCWorkload:
        """The history with the first upcoming bar appended: what a recompute-per-bar
        strategy processes when that bar arrives."""
        return self.history.extended(self.upcoming, np.zeros(1, dtype=np.int64))


@dataclass(frozen=True, slots=True)
class ReturnsWorkload:
    """Daily simple returns of ``rows`` symbols over ``bars`` days.

    Attributes
    ----------
    returns : ndarray of float64, shape (rows, bars)
        C-contiguous decimals (0.01 = 1 %), all > -1, no NaN.
    """

    returns: F64

    @property
    def rows(self) -> int:
        """Number of symbols."""
        return int(self.returns.shape[0])

    @property
    def bars(self) -> int:
        """Number of returns per symbol."""
        return int(self.returns.shape[1])

    @property
    def n(self) -> int:
        """Symbol-returns: ``rows * bars``."""
        return self.rows * self.bars

    def head(self, m: int) -> ReturnsWorkload:
        """Return the first ``m`` symbols (a view).

        Parameters
        ----------
        m : int
            Number of symbols.
        """
        return ReturnsWorkload(self.returns[: max(1, min(m, self.rows))])


def _fat_tailed(rng: np.random.Generator, shape: tuple[int, int]) -> F64:
    # Student t with 4 degrees of freedom scaled to unit variance: daily returns have fat tails.
    return np.asarray(rng.standard_t(4.0, shape) / math.sqrt(2.0), dtype=np.float64)


def make_ohlc_workload(rows: int, bars: int, seed: int = 20240605) -> OHLCWorkload:
    """Generate ``rows`` daily OHLC paths of ``bars`` bars.

    Each symbol starts between 20 and 200 with a daily volatility of 0.8 % to 2.5 % and a
    small drift; log returns are Student t (4 degrees of freedom, unit variance). The open
    gaps from the previous close; high and low extend beyond the open and close by half-normal
    amounts. Prices are rounded to cents (flat bars and ties happen, as in real data) and are
    at least 0.01.

    Parameters
    ----------
    rows : int
        Number of symbols.
    bars : int
        Number of bars.
    seed : int
        Seed of numpy's ``default_rng``.

    Returns
    -------
    OHLCWorkload
    """
    rng = np.random.default_rng(seed)
    start = rng.uniform(math.log(20.0), math.log(200.0), (rows, 1))
    sigma = rng.uniform(0.008, 0.025, (rows, 1))
    drift = rng.uniform(-0.0002, 0.0004, (rows, 1))
    log_close = start + np.cumsum(drift + sigma * _fat_tailed(rng, (rows, bars)), axis=1)
    close = np.exp(log_close)
    prev = np.concatenate([np.exp(start), close[:, :-1]], axis=1)
    open_ = prev * np.exp(0.2 * sigma * rng.standard_normal((rows, bars)))
    up = np.abs(rng.standard_normal((rows, bars))) * 0.5 * sigma
    down = np.abs(rng.standard_normal((rows, bars))) * 0.5 * sigma
    high = np.maximum(open_, close) * np.exp(up)
    low = np.minimum(open_, close) * np.exp(-down)

    def cents(x: F64) -> F64:
        return _contiguous(np.maximum(np.round(x, 2), 0.01))

    high, low, close = cents(high), cents(low), cents(close)
    return OHLCWorkload(high=np.maximum(high, close), low=np.minimum(low, close), close=close)


def make_stream_workload(
    rows: int, history: int, upcoming: int = 256, seed: int = 20240606
) -> StreamWorkload:
    """Generate ``history + upcoming`` bars of ``rows`` symbols and split them.

    Parameters
    ----------
    rows : int
        Number of symbols.
    history : int
        Bars the streaming states are built from.
    upcoming : int
        Bars available to feed one at a time (timed calls cycle through them).
    seed : int
        Seed of numpy's ``default_rng``.

    Returns
    -------
    StreamWorkload
    """
    w = make_ohlc_workload(rows, history + upcoming, seed)

    def part(sl: slice) -> OHLCWorkload:
        return OHLCWorkload(
            _contiguous(w.high[:, sl]), _contiguous(w.low[:, sl]), _contiguous(w.close[:, sl])
        )

    return StreamWorkload(part(slice(0, history)), part(slice(history, None)))


def make_returns_workload(rows: int, bars: int, seed: int = 20240607) -> ReturnsWorkload:
    """Generate daily simple returns: Student t (4 d.o.f.), 0.5 % to 3 % daily volatility.

    Each symbol has its own volatility and a drift between -2 and +8 basis points a day, so
    Sharpe and Sortino ratios spread around zero and drawdowns range from shallow to deep.
    Returns are clipped at -0.9.

    Parameters
    ----------
    rows : int
        Number of symbols.
    bars : int
        Number of days.
    seed : int
        Seed of numpy's ``default_rng``.

    Returns
    -------
    ReturnsWorkload
    """
    rng = np.random.default_rng(seed)
    sigma = rng.uniform(0.005, 0.03, (rows, 1))
    drift = rng.uniform(-0.0002, 0.0008, (rows, 1))
    returns = np.maximum(drift + sigma * _fat_tailed(rng, (rows, bars)), -0.9)
    return ReturnsWorkload(_contiguous(returns))
