"""``SyntheticMarket``: the facade over the calendar, the price paths and the bars.

A market is fixed by its symbols, a seed and the model parameters (see
:mod:`greekfire.sim.paths` for the price model, :mod:`greekfire.sim.bars` for the bars). Its
daily grid is anchored at ``epoch`` (default 2000-01-03, the first NYSE session of 2000), never
at a requested date, so

- the same request twice returns identical frames;
- any sub-range of a request returns exactly the rows of the longer request, at every
  timeframe, whatever was asked before (daily streams are drawn in time order from the epoch,
  minute streams are keyed by (seed, symbol, date));
- with a float ``correlation`` (one-factor model) and the default per-symbol parameters, a
  symbol's bars depend only on the seed and its name, not on the other symbols of the market;
  with a correlation matrix they depend on the symbols before it in the list.

Per-symbol parameters left at ``None`` are drawn from (seed, symbol): start price log-uniform in
[20, 400] dollars at the epoch, calm volatility uniform in [0.15, 0.45], average daily volume
log-uniform in [0.5, 20] million shares.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from greekfire.domain.market import Quote, Timeframe
from greekfire.sim.bars import (
    BarParams,
    DailyLayer,
    MarketSpec,
    build_daily_layer,
    minute_prices,
    simulate_bars,
)
from greekfire.sim.calendar import DateLike, TimestampLike, to_bounds_ns, to_ns
from greekfire.sim.paths import JumpParams, RegimeParams, stream, symbol_key

__all__ = ["DEFAULT_JUMPS", "DEFAULT_REGIME", "SyntheticMarket"]

DEFAULT_JUMPS = JumpParams(intensity_per_year=3.0, mean_log_size=-0.02, log_size_vol=0.05)
"""About three jumps a year per symbol, mean -2 %, standard deviation 5 %."""
DEFAULT_REGIME = RegimeParams(
    p_calm_to_stressed=0.01, p_stressed_to_calm=0.05, stressed_vol_multiplier=2.0
)
"""Stress about once in 100 sessions, lasting about 20, with twice the volatility."""

_PARAMS = 104
_NS = 1_000_000_000
_MINUTE_NS = 60 * _NS
_QUOTE_PERSON = b"greekfire-quote"
_SESSIONS_CACHED = 4  # sessions whose minute paths stay in memory (500 symbols: 1.6 MB each)
_YEAR_NS = 366 * 86_400 * _NS
PerSymbol = float | Sequence[float] | Mapping[str, float] | None


def _per_symbol(
    name: str, value: PerSymbol, symbols: tuple[str, ...], default: np.ndarray
) -> np.ndarray:
    if value is None:
        return default
    if isinstance(value, Mapping):
        missing = [s for s in symbols if s not in value]
        if missing:
            raise ValueError(f"{name}: no value for {missing!r}")
        return np.array([float(value[s]) for s in symbols])
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(len(symbols), float(arr))
    if arr.shape != (len(symbols),):
        raise ValueError(f"{name}: expected one value per symbol ({len(symbols)}), got {arr.shape}")
    return arr


def _defaults(seed: int, symbols: tuple[str, ...]) -> np.ndarray:
    # (m, 3) per-symbol draws keyed by (seed, symbol): start price, vol, average volume.
    u = np.array([stream(seed, _PARAMS, symbol_key(s)).random(3) for s in symbols])
    return np.column_stack(
        [
            np.round(20.0 * 20.0 ** u[:, 0], 2),
            0.15 + 0.30 * u[:, 1],
            np.rint(5e5 * 40.0 ** u[:, 2]),
        ]
    )


class SyntheticMarket:
    """A deterministic synthetic equity market on the NYSE calendar.

    Parameters
    ----------
    symbols : sequence of str
        Unique symbols.
    seed : int
        Non-negative seed.
    start_price, vol, drift, avg_volume : float, sequence, mapping or None
        Per-symbol price at the epoch (> 0), calm annual volatility (>= 0), annual drift and
        average daily volume in shares (>= 0); a float applies to all, a sequence follows
        ``symbols``, a mapping is keyed by symbol; ``None`` draws from (seed, symbol).
    correlation : float or ndarray
        A float in [0, 1) (one factor) or an ``m x m`` positive-definite matrix.
    jumps : JumpParams
    regime : RegimeParams
    bar_params : BarParams
    epoch : datetime.date
        Anchor of the daily grid; no bars before it.
    spread_bps : float
        Quoted spread in basis points of the mid (at least one cent).

    Raises
    ------
    ValueError
        A bad parameter, named in the message.
    """

    def __init__(
        self,
        symbols: Sequence[str],
        *,
        seed: int = 0,
        start_price: PerSymbol = None,
        vol: PerSymbol = None,
        drift: PerSymbol = 0.05,
        avg_volume: PerSymbol = None,
        correlation: float | np.ndarray = 0.3,
        jumps: JumpParams = DEFAULT_JUMPS,
        regime: RegimeParams = DEFAULT_REGIME,
        bar_params: BarParams | None = None,
        epoch: dt.date = dt.date(2000, 1, 3),
        spread_bps: float = 2.0,
    ) -> None:
        names = tuple(str(s) for s in ([symbols] if isinstance(symbols, str) else symbols))
        if not names or len(set(names)) != len(names):
            raise ValueError(f"symbols: expected a non-empty list of unique names, got {names!r}")
        if not (isinstance(seed, int) and seed >= 0):
            raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
        if not (math.isfinite(spread_bps) and spread_bps >= 0):
            raise ValueError(f"spread_bps: expected a number >= 0, got {spread_bps!r}")
        defaults = _defaults(seed, names)
        avg = _per_symbol("avg_volume", avg_volume, names, defaults[:, 2])
        if not np.all(np.isfinite(avg) & (avg >= 0)):
            raise ValueError(f"avg_volume: expected volumes >= 0, got {avg.tolist()!r}")
        prices = _per_symbol("start_price", start_price, names, defaults[:, 0])
        if not np.all(np.isfinite(prices) & (prices > 0)):
            raise ValueError(f"start_price: expected prices > 0, got {prices.tolist()!r}")
        vols = _per_symbol("vol", vol, names, defaults[:, 1])
        if not np.all(np.isfinite(vols) & (vols >= 0)):
            raise ValueError(f"vol: expected annual volatilities >= 0, got {vols.tolist()!r}")
        self._spec = MarketSpec(
            symbols=names,
            seed=seed,
            start_price=prices,
            drift_annual=_per_symbol("drift", drift, names, np.zeros(len(names))),
            vol_annual=vols,
            avg_volume=avg,
            correlation=correlation,
            jumps=jumps,
            regime=regime,
            bar_params=bar_params if bar_params is not None else BarParams(),
            epoch=epoch,
        )
        self._spread_bps = float(spread_bps)
        self._layer: DailyLayer | None = None
        self._points: dict[int, np.ndarray] = {}
        self._ensure_layer(to_bounds_ns(epoch, epoch)[1])  # validates every parameter now

    @property
    def symbols(self) -> tuple[str, ...]:
        """The market's symbols, in order."""
        return self._spec.symbols

    @property
    def spec(self) -> MarketSpec:
        """The full model specification."""
        return self._spec

    def _ensure_layer(self, hi_ns: int) -> DailyLayer:
        # Extend the cached daily level a year past what is asked, to amortise rebuilds.
        layer = self._layer
        if layer is None or layer.close_ns[-1] < hi_ns:
            layer = build_daily_layer(self._spec, hi_ns + _YEAR_NS)
            self._layer = layer
        return layer

    def _row(self, symbol: str) -> int:
        try:
            return self._spec.symbols.index(symbol)
        except ValueError:
            raise ValueError(
                f"symbol: unknown {symbol!r}; this market has {list(self._spec.symbols)!r}"
            ) from None

    def bars(
        self,
        symbols: str | Sequence[str],
        start: DateLike | TimestampLike,
        end: DateLike | TimestampLike,
        timeframe: Timeframe | str = Timeframe.D1,
    ) -> dict[str, pd.DataFrame]:
        """OHLCV bars per symbol.

        Parameters
        ----------
        symbols : str or sequence of str
            One or more of :attr:`symbols`.
        start, end : date, str or tz-aware timestamp
            Inclusive; a date covers its whole New York day; not before the epoch.
        timeframe : Timeframe or str
            ``"1m"``, ``"5m"``, ``"15m"``, ``"1h"`` or ``"1d"``.

        Returns
        -------
        dict of str to pandas.DataFrame
            Frames per :mod:`greekfire.domain.market` with a ``vwap`` column; bar starts as
            the UTC index (daily bars: 00:00 UTC of the session date, selected by their open).
        """
        names = [symbols] if isinstance(symbols, str) else list(symbols)
        for name in names:
            self._row(name)
        layer = self._ensure_layer(to_bounds_ns(start, end)[1])
        return simulate_bars(self._spec, names, start, end, timeframe, layer=layer)

    def spot(self, symbol: str, ts: TimestampLike) -> float:
        """The last traded price at or before ``ts``: the session's open or the close of the
        last completed minute while open, otherwise the last session close.

        Raises
        ------
        ValueError
            Unknown symbol, naive ``ts``, or ``ts`` before the first session's open.
        """
        row = self._row(symbol)
        ns = to_ns(ts)
        layer = self._ensure_layer(ns)
        j = int(np.searchsorted(layer.open_ns, ns, side="right")) - 1
        if j < 0:
            raise ValueError(f"ts: expected a time after the first session open, got {ts!r}")
        if ns >= layer.close_ns[j]:
            return float(np.maximum(np.round(np.exp(layer.close_log[row, j]), 2), 0.01))
        points = self._session_points(layer, j)
        return float(points[row, (ns - int(layer.open_ns[j])) // _MINUTE_NS])

    def _session_points(self, layer: DailyLayer, j: int) -> np.ndarray:
        # Every symbol's minute path of one session, computed once: a quote or trade is then
        # a lookup (the minute path of a symbol does not depend on which others are asked).
        key = int(layer.open_ns[j])
        points = self._points.get(key)
        if points is None:
            points, _ = minute_prices(self._spec, layer, j, np.arange(len(self._spec.symbols)))
            self._points[key] = points
            while len(self._points) > _SESSIONS_CACHED:
                self._points.pop(next(iter(self._points)))
        return points

    def quote(self, symbol: str, ts: TimestampLike) -> Quote:
        """Best bid and offer around :meth:`spot`: ``spread_bps`` wide (at least a cent) in
        whole cents, sizes in round lots drawn from (seed, symbol, ts)."""
        last = self.spot(symbol, ts)
        ns = to_ns(ts)
        mid_cents = round(last * 100)
        half = max(1, math.ceil(mid_cents * self._spread_bps / 20_000 - 1e-9))
        bid_cents = max(mid_cents - half, 1)
        # Sizes in round lots from a hash of (seed, symbol, ts): deterministic, and ~20x
        # cheaper than seeding a generator per quote (the exchange serves 500 per request).
        key = f"{self._spec.seed}:{symbol}:{ns}".encode()
        digest = hashlib.blake2b(key, digest_size=2, person=_QUOTE_PERSON).digest()
        sizes = (100.0 * (digest[0] % 20 + 1), 100.0 * (digest[1] % 20 + 1))
        return Quote(
            symbol=symbol,
            ts_ns=ns,
            bid=bid_cents / 100,
            ask=(mid_cents + half) / 100,
            bid_size=float(sizes[0]),
            ask_size=float(sizes[1]),
            last=last,
        )
