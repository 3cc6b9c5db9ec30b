"""Per-symbol bar windows and streaming indicators, advanced only by new completed bars.

:class:`IndicatorBook` keeps, for every symbol of the universe, the last ``lookback`` bars and
the state of each configured indicator in one :class:`~greekfire.analytics.indicators.
IndicatorStream`. Each cycle hands it only the bars that completed since the last one; symbols
whose new bars share the same timestamps advance together in one kernel call per indicator
(``advance_rows``), so 500 symbols with one new daily bar cost one call per indicator, and a
symbol that missed a bar never blocks the others. Values equal TA-Lib on the whole history
(the stream's guarantee).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import cast

import numpy as np
import pandas as pd

from greekfire.analytics.indicators import IndicatorStream, parse_indicator

__all__ = ["IndicatorBook"]

_TRADING_DAYS = 252.0


def _ns(frame: pd.DataFrame) -> np.ndarray:
    return cast(pd.DatetimeIndex, frame.index).asi8


class IndicatorBook:
    """Bars and streaming indicators of a fixed universe.

    Parameters
    ----------
    symbols : sequence of str
        The universe (row order of the stream).
    indicators : sequence of str
        Indicator specs (``"sma_20"``, ``"rsi_14"``, ``"macd_12_26_9"``, ...).
    lookback : int
        Bars kept per symbol.
    """

    def __init__(self, symbols: Sequence[str], indicators: Sequence[str], lookback: int) -> None:
        self.symbols = tuple(symbols)
        self._row = {s: i for i, s in enumerate(self.symbols)}
        self.specs = [parse_indicator(s) for s in indicators]
        self.lookback = int(lookback)
        self._stream = IndicatorStream(list(indicators), len(self.symbols))
        self._needs = sorted({i for spec in self.specs for i in spec.inputs} | {"close"})
        self.columns = [c for spec in self.specs for c in spec.columns]
        self._latest = {c: np.full(len(self.symbols), np.nan) for c in self.columns}
        self._bars: dict[str, pd.DataFrame] = {}
        self._last_ns = np.full(len(self.symbols), np.iinfo(np.int64).min, dtype=np.int64)
        self.updates = 0
        # Values only change when bars arrive: the per-symbol views are rebuilt then, not
        # every cycle (500 symbols x 15 columns is a few ms per rebuild).
        self._views: tuple[int, Mapping[str, Mapping[str, float]]] | None = None
        self._vols: dict[tuple[int, int], dict[str, float]] = {}

    def last_bar_ns(self, symbol: str) -> int | None:
        """Start of the newest bar seen for ``symbol`` (UTC ns), ``None`` before any."""
        value = int(self._last_ns[self._row[symbol]])
        return None if value == np.iinfo(np.int64).min else value

    def add(self, new_bars: Mapping[str, pd.DataFrame]) -> int:
        """Take each symbol's bars; only those after its newest bar count. Returns bars taken."""
        fresh: dict[str, pd.DataFrame] = {}
        for symbol, frame in new_bars.items():
            row = self._row.get(symbol)
            if row is None or frame.empty:
                continue
            stamps = _ns(frame)
            keep = stamps > self._last_ns[row]
            if keep.any():
                fresh[symbol] = frame.loc[keep] if not keep.all() else frame
        taken = 0
        for rows, frames in self._cohorts(fresh):
            self._advance(rows, frames)
            taken += sum(len(f) for f in frames)
        for symbol, frame in fresh.items():
            old = self._bars.get(symbol)
            joined = frame if old is None else pd.concat([old, frame])
            self._bars[symbol] = joined.iloc[-self.lookback :]
            self._last_ns[self._row[symbol]] = _ns(frame)[-1]
        self.updates += 1 if fresh else 0
        return taken

    def _cohorts(
        self, fresh: Mapping[str, pd.DataFrame]
    ) -> list[tuple[np.ndarray, list[pd.DataFrame]]]:
        # Symbols with identical new timestamps advance in one call per indicator.
        groups: dict[bytes, list[str]] = {}
        for symbol, frame in fresh.items():
            groups.setdefault(_ns(frame).tobytes(), []).append(symbol)
        return [
            (np.array([self._row[s] for s in names], dtype=np.intp), [fresh[s] for s in names])
            for names in groups.values()
        ]

    def _advance(self, rows: np.ndarray, frames: list[pd.DataFrame]) -> None:
        inputs = {
            name: np.vstack([f[name].to_numpy(np.float64) for f in frames]) for name in self._needs
        }
        close = inputs.pop("close")
        out = self._stream.advance_rows(rows, close, **inputs)
        for column, values in out.items():
            self._latest[column][rows] = values[:, -1]

    def latest(self, symbol: str) -> dict[str, float]:
        """The newest value of every indicator column for ``symbol`` (NaN while warming up)."""
        row = self._row[symbol]
        return {c: float(v[row]) for c, v in self._latest.items()}

    def latest_all(self) -> Mapping[str, Mapping[str, float]]:
        """:meth:`latest` for every symbol that has bars (read-only mappings, rebuilt only
        after new bars)."""
        if self._views is None or self._views[0] != self.updates:
            views = {s: MappingProxyType(self.latest(s)) for s in self.symbols if s in self._bars}
            self._views = (self.updates, MappingProxyType(views))
        return self._views[1]

    def realized_vols(self, window: int = 20) -> dict[str, float]:
        """:meth:`realized_vol` of every symbol (recomputed only after new bars)."""
        key = (self.updates, window)
        vols = self._vols.get(key)
        if vols is None:
            vols = {s: self.realized_vol(s, window) for s in self.symbols}
            self._vols = {key: vols}
        return vols

    @property
    def bars(self) -> Mapping[str, pd.DataFrame]:
        """The last ``lookback`` bars of each symbol (read-only mapping)."""
        return MappingProxyType(self._bars)

    def realized_vol(self, symbol: str, window: int = 20) -> float:
        """Annualised close-to-close volatility over the last ``window`` bars (NaN if short).

        Assumes daily bars (252 per year); intraday users get a per-bar figure scaled alike.
        """
        frame = self._bars.get(symbol)
        if frame is None or len(frame) <= window:
            return math.nan
        close = frame["close"].to_numpy(np.float64)[-(window + 1) :]
        returns = np.diff(np.log(close))
        return float(np.std(returns, ddof=1) * math.sqrt(_TRADING_DAYS))
