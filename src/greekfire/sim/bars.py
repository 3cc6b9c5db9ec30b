"""OHLCV bars of the synthetic market at any timeframe, on the NYSE calendar.

Construction
------------
Two levels, so that any date range is cheap and reproducible.

*Daily level.* :func:`greekfire.sim.paths.simulate_paths` runs on the grid of trading days
from a fixed epoch (one session = 1/252 year), giving for each symbol and session the close
log price ``c_d``, the diffusion part ``D_d`` (drift + Gaussian), the jump part ``J_d`` and the
diffusion standard deviation ``v_d`` (``sigma sqrt(1/252)``, regime included). Per session the
price moves through *business time* ``u`` from 0 (previous close) to 1 (close) as

.. math::

    x(u) = c_{d-1} + u\\,D_d + B(u) + J_d\\,1\\{u \\ge \\tau_d\\},

with ``B`` a Brownian bridge of variance ``v_d^2`` (``B(0) = B(1) = 0``) and ``tau_d`` uniform
on ``[0, 1)``. The night takes the first ``w = overnight_variance_share`` of business time, so
the open is ``x(w)``: a gap of the right variance, and an overnight jump with probability
``w``. The day's high and low are the exact extremes of a Brownian bridge from open to close
with variance ``v_d^2 (1 - w)``: ``(o + c +/- sqrt((c - o)^2 - 2 var ln U)) / 2``. Volume is
lognormal around the symbol's average, ``V_d = avg * exp(s Z - s^2/2)``, times
``stressed_volume_multiplier`` in the stressed regime, rounded to whole shares.

*Minute level.* For intraday timeframes the session is filled minute by minute: business
time advances by ``(1 - w) q_k`` in minute ``k``, ``q`` a U-shaped variance profile (volatility
about 2.5x the midday level at the open, 1.6x at the close), and ``B`` is sampled on those
points as a bridge pinned at the open and the close. Each minute bar's high and low are the
exact bridge extremes between its endpoints; its volume is the day's ``V_d`` split by a
U-shaped profile times lognormal noise, in whole shares summing exactly to ``V_d``; its vwap
is the typical price ``(h + l + c) / 3``. Coarser intraday bars (5m, 15m, 1h, anchored at the
open; the last hour is 15:30-16:00) aggregate the minute bars: first open, max high, min low,
last close, summed volume, volume-weighted vwap.

Timestamps are bar starts in UTC; a daily bar is stamped 00:00 UTC of its session date (the
file provider's and the chain expiries' convention) and selected by its session open.

Prices are rounded to cents (round half to even) and floored at 0.01; rounding is monotone, so
``low <= min(open, close) <= max(open, close) <= high`` survives it.

Consistency across timeframes
-----------------------------
Exact for 1m/5m/15m/1h: every intraday timeframe aggregates the same rounded minute bars
(vwap equal to float rounding). Daily bars have exactly the open, close and volume of the
session's minute bars; their high and low are drawn from the exact law of the session's
range but are *not* the max/min of the minute bars (that would need every minute of every
day simulated for a daily request). Daily ``vwap`` is the typical price ``(h + l + c) / 3``.

Determinism
-----------
Daily-level streams are keyed by (seed, symbol) and drawn in time order from the epoch, so a
session's values never depend on the requested range. Minute-level streams are keyed by
(seed, symbol, session date), so only the requested sessions are simulated.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from greekfire.domain.market import Timeframe
from greekfire.sim.calendar import session_arrays, to_bounds_ns
from greekfire.sim.paths import JumpParams, RegimeParams, simulate_paths, stream, symbol_key

__all__ = [
    "TRADING_DAYS_PER_YEAR",
    "BarParams",
    "DailyLayer",
    "MarketSpec",
    "build_daily_layer",
    "daily_bars",
    "intraday_bars",
    "intraday_profile",
    "minute_prices",
    "simulate_bars",
]

TRADING_DAYS_PER_YEAR = 252
_GAP_VOLUME, _DAY_UNIFORM, _INTRADAY = 101, 102, 103
_NS = 1_000_000_000
_MINUTE_NS = 60 * _NS
_COLUMNS = ("open", "high", "low", "close", "volume", "vwap")


@dataclass(frozen=True, slots=True)
class BarParams:
    """Shape of the bars (all dimensionless).

    Attributes
    ----------
    overnight_variance_share : float
        Share of a session's diffusion variance spent between the previous close and the
        open, in [0, 1).
    volume_log_sd : float
        Standard deviation of log daily volume, >= 0.
    minute_volume_log_sd : float
        Standard deviation of the lognormal noise on the minute volume profile, >= 0.
    stressed_volume_multiplier : float
        Volume factor in the stressed regime, > 0.
    """

    overnight_variance_share: float = 0.15
    volume_log_sd: float = 0.35
    minute_volume_log_sd: float = 0.5
    stressed_volume_multiplier: float = 1.6

    def __post_init__(self) -> None:
        if not 0.0 <= self.overnight_variance_share < 1.0:
            raise ValueError(
                "bar_params.overnight_variance_share: expected a number in [0, 1), "
                f"got {self.overnight_variance_share!r}"
            )
        for name in ("volume_log_sd", "minute_volume_log_sd"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"bar_params.{name}: expected a finite number >= 0, got {value!r}")
        mult = self.stressed_volume_multiplier
        if not (math.isfinite(mult) and mult > 0):
            raise ValueError(
                f"bar_params.stressed_volume_multiplier: expected a number > 0, got {mult!r}"
            )


@dataclass(frozen=True, eq=False)
class MarketSpec:
    """Everything the synthetic bars depend on. Per-symbol arrays have shape ``(m,)`` in the
    order of ``symbols``; ``epoch`` anchors the daily grid (its first session on or after)."""

    symbols: tuple[str, ...]
    seed: int
    start_price: np.ndarray
    drift_annual: np.ndarray
    vol_annual: np.ndarray
    avg_volume: np.ndarray
    correlation: float | np.ndarray
    jumps: JumpParams
    regime: RegimeParams
    bar_params: BarParams
    epoch: dt.date


@dataclass(frozen=True, eq=False)
class DailyLayer:
    """The daily level of :class:`MarketSpec` over ``d`` sessions from the epoch.

    ``dates`` (datetime64[D]), ``open_ns``, ``close_ns`` (int64 UTC ns) and ``regimes`` (int8)
    have shape ``(d,)``; the other arrays ``(m, d)`` (symbol-major), log prices in natural log
    of dollars, ``volume`` in whole shares (float64).
    """

    dates: np.ndarray
    open_ns: np.ndarray
    close_ns: np.ndarray
    regimes: np.ndarray
    prev_close_log: np.ndarray
    open_log: np.ndarray
    close_log: np.ndarray
    high_log: np.ndarray
    low_log: np.ndarray
    diffusion: np.ndarray
    jump: np.ndarray
    jump_time: np.ndarray
    step_vol: np.ndarray
    gap_shock: np.ndarray
    volume: np.ndarray

    @property
    def n_days(self) -> int:
        """Number of sessions covered."""
        return int(self.dates.size)


def _bridge_extreme(
    a: np.ndarray, b: np.ndarray, var: np.ndarray, u: np.ndarray, sign: float
) -> np.ndarray:
    # Exact law of the max (sign=+1) / min (sign=-1) of a Brownian bridge from a to b.
    out: np.ndarray = 0.5 * (a + b + sign * np.sqrt((b - a) ** 2 - 2.0 * var * np.log1p(-u)))
    return out


def _epoch_sessions(spec: MarketSpec, end_ns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lo, _ = to_bounds_ns(spec.epoch, spec.epoch)
    if end_ns < lo:
        return session_arrays(lo, lo)
    return session_arrays(lo, end_ns)


def build_daily_layer(spec: MarketSpec, end_ns: int) -> DailyLayer:
    """Simulate the daily level from the epoch through the session containing ``end_ns``.

    Parameters
    ----------
    spec : MarketSpec
    end_ns : int
        UTC nanoseconds; every session opening at or before it is covered (at least one).

    Returns
    -------
    DailyLayer
    """
    dates, opens, closes = _epoch_sessions(spec, end_ns)
    d, m = dates.size, len(spec.symbols)
    paths = simulate_paths(
        spec.symbols,
        np.arange(d + 1) / TRADING_DAYS_PER_YEAR,
        seed=spec.seed,
        start_price=spec.start_price,
        drift_annual=spec.drift_annual,
        vol_annual=spec.vol_annual,
        correlation=spec.correlation,
        jumps=spec.jumps,
        regime=spec.regime,
    )
    normals, uniforms = np.empty((2, m, d)), np.empty((3, m, d))
    for i, symbol in enumerate(spec.symbols):
        key = symbol_key(symbol)
        normals[:, i, :] = stream(spec.seed, _GAP_VOLUME, key).standard_normal((d, 2)).T
        uniforms[:, i, :] = stream(spec.seed, _DAY_UNIFORM, key).random((d, 3)).T
    log_prices = np.log(paths.prices.T)
    prev, close = log_prices[:, :-1], log_prices[:, 1:]
    diffusion, jump, vol = paths.diffusion.T, paths.jumps.T, paths.step_vol.T
    w = spec.bar_params.overnight_variance_share
    jump_time = uniforms[0]
    open_log = prev + w * diffusion + vol * math.sqrt(w * (1 - w)) * normals[0]
    open_log += np.where(jump_time < w, jump, 0.0)
    day_var = vol**2 * (1 - w)
    return DailyLayer(
        dates=dates,
        open_ns=opens,
        close_ns=closes,
        regimes=paths.regimes,
        prev_close_log=prev,
        open_log=open_log,
        close_log=close,
        high_log=_bridge_extreme(open_log, close, day_var, uniforms[1], 1.0),
        low_log=_bridge_extreme(open_log, close, day_var, uniforms[2], -1.0),
        diffusion=diffusion,
        jump=jump,
        jump_time=jump_time,
        step_vol=vol,
        gap_shock=normals[0],
        volume=_daily_volume(spec, paths.regimes, normals[1]),
    )


def _daily_volume(spec: MarketSpec, regimes: np.ndarray, z: np.ndarray) -> np.ndarray:
    s = spec.bar_params.volume_log_sd
    stress = np.where(regimes == 1, spec.bar_params.stressed_volume_multiplier, 1.0)
    raw = spec.avg_volume[:, None] * np.exp(s * z - 0.5 * s * s) * stress[None, :]
    out: np.ndarray = np.rint(raw)
    return out


def _cents(log_price: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.maximum(np.round(np.exp(log_price), 2), 0.01)
    return out


@lru_cache(maxsize=8)
def intraday_profile(n_minutes: int) -> tuple[np.ndarray, np.ndarray]:
    """U-shaped intraday profiles of a session of ``n_minutes`` minutes.

    Returns
    -------
    variance_weights, volume_weights : ndarray, shape (n_minutes,)
        Each sums to 1. With ``x`` the minute's midpoint as a fraction of the session, the
        volatility multiplier is ``1 + 1.5 e^{-x/0.05} + 0.6 e^{-(1-x)/0.05}`` (variance
        weights are its square, normalised) and the volume weight
        ``1 + 3 e^{-x/0.04} + 2 e^{-(1-x)/0.06}``.
    """
    x = (np.arange(n_minutes) + 0.5) / n_minutes
    vol_mult = 1.0 + 1.5 * np.exp(-x / 0.05) + 0.6 * np.exp(-(1.0 - x) / 0.05)
    variance = vol_mult**2 / np.sum(vol_mult**2)
    volume = 1.0 + 3.0 * np.exp(-x / 0.04) + 2.0 * np.exp(-(1.0 - x) / 0.06)
    volume /= volume.sum()
    for arr in (variance, volume):
        arr.setflags(write=False)
    return variance, volume


def _business_time(n_minutes: int, w: float) -> tuple[np.ndarray, np.ndarray]:
    # Business-time increments per minute and the n_minutes + 1 grid points from the open.
    du = (1.0 - w) * intraday_profile(n_minutes)[0]
    u = np.empty(n_minutes + 1)
    u[0] = w
    u[1:] = w + np.cumsum(du)
    u[-1] = 1.0
    return du, u


def _intraday_draws(
    spec: MarketSpec, rows: np.ndarray, day: np.datetime64, n_minutes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Per (seed, symbol, date) streams: bridge normals, extreme uniforms, volume noise.
    k = rows.size
    z, ext, vz = np.empty((k, n_minutes)), np.empty((2, k, n_minutes)), np.empty((k, n_minutes))
    ordinal = int(day.astype("datetime64[D]").astype(np.int64))
    for r, i in enumerate(rows.tolist()):
        gen = stream(spec.seed, _INTRADAY, symbol_key(spec.symbols[i]), ordinal)
        z[r] = gen.standard_normal(n_minutes)
        ext[:, r, :] = gen.random((2, n_minutes))
        vz[r] = gen.standard_normal(n_minutes)
    return z, ext, vz


def minute_prices(
    spec: MarketSpec, layer: DailyLayer, day_index: int, rows: np.ndarray
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The minute path and minute bars of one session for the symbols ``rows``.

    Parameters
    ----------
    spec : MarketSpec
    layer : DailyLayer
    day_index : int
        Session index into ``layer``.
    rows : ndarray of int
        Symbol indices into ``spec.symbols``.

    Returns
    -------
    points : ndarray, shape (k, N + 1)
        Cent-rounded prices at the open and at the end of each of the ``N`` minutes.
    bars : dict of str to ndarray, shape (k, N)
        ``open``, ``high``, ``low``, ``close``, ``volume``, ``vwap`` of the minute bars.
    """
    j = day_index
    n_minutes = int((layer.close_ns[j] - layer.open_ns[j]) // _MINUTE_NS)
    w = spec.bar_params.overnight_variance_share
    du, u = _business_time(n_minutes, w)
    z, ext, vz = _intraday_draws(spec, rows, layer.dates[j], n_minutes)
    vol = layer.step_vol[rows, j][:, None]
    walk = np.zeros((rows.size, n_minutes + 1))
    np.cumsum(np.sqrt(du) * z, axis=1, out=walk[:, 1:])
    frac = (u - w) / (1.0 - w)
    bridge_at_open = vol[:, 0] * math.sqrt(w * (1 - w)) * layer.gap_shock[rows, j]
    bridge = np.outer(bridge_at_open, 1.0 - frac) + vol * (walk - frac * walk[:, -1:])
    x = layer.prev_close_log[rows, j][:, None] + u * layer.diffusion[rows, j][:, None] + bridge
    x += np.where(u[None, :] >= layer.jump_time[rows, j][:, None], layer.jump[rows, j][:, None], 0)
    x[:, 0], x[:, -1] = layer.open_log[rows, j], layer.close_log[rows, j]
    points = _cents(x)
    o, c = points[:, :-1], points[:, 1:]
    var = vol**2 * du[None, :]
    h = np.maximum(_cents(_bridge_extreme(x[:, :-1], x[:, 1:], var, ext[0], 1.0)), np.maximum(o, c))
    lo = np.minimum(
        _cents(_bridge_extreme(x[:, :-1], x[:, 1:], var, ext[1], -1.0)), np.minimum(o, c)
    )
    volume = _split_volume(layer.volume[rows, j], n_minutes, spec.bar_params, vz)
    bars = {"open": o, "high": h, "low": lo, "close": c, "volume": volume, "vwap": (h + lo + c) / 3}
    return points, bars


def _split_volume(total: np.ndarray, n: int, params: BarParams, z: np.ndarray) -> np.ndarray:
    # Largest-remainder split of whole-share daily volumes over the minutes.
    s = params.minute_volume_log_sd
    weights = intraday_profile(n)[1][None, :] * np.exp(s * z)
    alloc = total[:, None] * weights / weights.sum(axis=1, keepdims=True)
    floor = np.floor(alloc)
    remainder = total - floor.sum(axis=1)
    rank = np.argsort(np.argsort(floor - alloc, axis=1, kind="stable"), axis=1, kind="stable")
    out: np.ndarray = floor + (rank < remainder[:, None])
    return out


def _aggregate(bars: dict[str, np.ndarray], starts: np.ndarray) -> dict[str, np.ndarray]:
    # Minute bars -> bars starting at minute offsets ``starts`` (reduceat along axis 1).
    n = bars["open"].shape[1]
    if starts.size == n:
        return bars
    last = np.append(starts[1:], n) - 1
    volume = np.add.reduceat(bars["volume"], starts, axis=1)
    typical_value = np.add.reduceat(bars["vwap"] * bars["volume"], starts, axis=1)
    high = np.maximum.reduceat(bars["high"], starts, axis=1)
    low = np.minimum.reduceat(bars["low"], starts, axis=1)
    close = bars["close"][:, last]
    fallback = (high + low + close) / 3
    with np.errstate(invalid="ignore", divide="ignore"):
        vwap = np.where(volume > 0, typical_value / volume, fallback)
    return {
        "open": bars["open"][:, starts],
        "high": high,
        "low": low,
        "close": close,
        "volume": volume,
        "vwap": vwap,
    }


def _frames(
    symbols: list[str], ts_ns: np.ndarray, columns: dict[str, np.ndarray]
) -> dict[str, pd.DataFrame]:
    index = pd.DatetimeIndex(ts_ns.astype("datetime64[ns]"), name="timestamp").tz_localize("UTC")
    # One (n, 6) float64 block per symbol: a single pandas block, no consolidation.
    block = np.stack([np.asarray(columns[name], dtype=np.float64) for name in _COLUMNS], axis=-1)
    return {
        symbol: pd.DataFrame(block[r], index=index.copy(), columns=list(_COLUMNS))
        for r, symbol in enumerate(symbols)
    }


def _rows(spec: MarketSpec, symbols: list[str]) -> np.ndarray:
    position = {s: i for i, s in enumerate(spec.symbols)}
    unknown = [s for s in symbols if s not in position]
    if unknown:
        raise ValueError(f"symbols: unknown {unknown!r}; this market has {list(spec.symbols)!r}")
    return np.array([position[s] for s in symbols], dtype=np.int64)


def daily_bars(
    spec: MarketSpec, layer: DailyLayer, symbols: list[str], lo_ns: int, hi_ns: int
) -> dict[str, pd.DataFrame]:
    """Daily bars of the sessions opening in ``[lo_ns, hi_ns]``, stamped 00:00 UTC of the
    session date (as the file provider and chain expiries); ``layer`` must cover ``hi_ns``."""
    rows = _rows(spec, symbols)
    keep = np.flatnonzero((layer.open_ns >= lo_ns) & (layer.open_ns <= hi_ns))
    o, c = _cents(layer.open_log[np.ix_(rows, keep)]), _cents(layer.close_log[np.ix_(rows, keep)])
    h = np.maximum(_cents(layer.high_log[np.ix_(rows, keep)]), np.maximum(o, c))
    lo = np.minimum(_cents(layer.low_log[np.ix_(rows, keep)]), np.minimum(o, c))
    columns = {
        "open": o,
        "high": h,
        "low": lo,
        "close": c,
        "volume": layer.volume[np.ix_(rows, keep)],
        "vwap": (h + lo + c) / 3,
    }
    stamps = layer.dates[keep].astype("datetime64[ns]").astype(np.int64)
    return _frames(symbols, stamps, columns)


def intraday_bars(
    spec: MarketSpec,
    layer: DailyLayer,
    symbols: list[str],
    lo_ns: int,
    hi_ns: int,
    timeframe: Timeframe,
) -> dict[str, pd.DataFrame]:
    """Intraday bars (timestamp = bar start, UTC) starting in ``[lo_ns, hi_ns]``; only the
    sessions overlapping the range are simulated; ``layer`` must cover ``hi_ns``."""
    rows = _rows(spec, symbols)
    step = timeframe.seconds // 60
    days = np.flatnonzero((layer.close_ns > lo_ns) & (layer.open_ns <= hi_ns))
    stamps: list[np.ndarray] = []
    parts: list[dict[str, np.ndarray]] = []
    for j in days.tolist():
        n_minutes = int((layer.close_ns[j] - layer.open_ns[j]) // _MINUTE_NS)
        starts = np.arange(0, n_minutes, step)
        ts = layer.open_ns[j] + starts * _MINUTE_NS
        keep = (ts >= lo_ns) & (ts <= hi_ns)
        bars = _aggregate(minute_prices(spec, layer, j, rows)[1], starts)
        stamps.append(ts[keep])
        parts.append({name: arr[:, keep] for name, arr in bars.items()})
    if not parts:
        empty = np.empty((rows.size, 0))
        return _frames(symbols, np.empty(0, np.int64), dict.fromkeys(_COLUMNS, empty))
    columns = {name: np.concatenate([p[name] for p in parts], axis=1) for name in _COLUMNS}
    return _frames(symbols, np.concatenate(stamps), columns)


def simulate_bars(
    spec: MarketSpec,
    symbols: list[str],
    start: dt.date | dt.datetime | str,
    end: dt.date | dt.datetime | str,
    timeframe: Timeframe | str,
    layer: DailyLayer | None = None,
) -> dict[str, pd.DataFrame]:
    """Bars of ``symbols`` in ``[start, end]`` at ``timeframe``.

    Parameters
    ----------
    spec : MarketSpec
    symbols : list of str
        A subset of ``spec.symbols``.
    start, end : date, str or tz-aware timestamp
        Inclusive; a date covers its whole New York day; not before ``spec.epoch``.
    timeframe : Timeframe or str
    layer : DailyLayer, optional
        A cached daily level covering ``end``; built when missing or too short.

    Returns
    -------
    dict of str to pandas.DataFrame
        Frames per :mod:`greekfire.domain.market` (``open``, ``high``, ``low``, ``close``,
        ``volume``, ``vwap``; UTC ``timestamp`` index of bar starts).
    """
    tf = Timeframe.parse(timeframe)
    lo, hi = to_bounds_ns(start, end)
    epoch_lo, _ = to_bounds_ns(spec.epoch, spec.epoch)
    if lo < epoch_lo:
        raise ValueError(
            f"start: expected a date on or after the epoch {spec.epoch}, got {start!r}"
        )
    if layer is None or layer.n_days == 0 or layer.open_ns[-1] < _last_open(hi):
        layer = build_daily_layer(spec, hi)
    if tf.intraday:
        return intraday_bars(spec, layer, symbols, lo, hi, tf)
    return daily_bars(spec, layer, symbols, lo, hi)


def _last_open(hi_ns: int) -> int:
    # Open of the last session opening at or before hi_ns (or hi_ns when none is near).
    _, opens, _ = session_arrays(hi_ns - 10 * 86_400 * _NS, hi_ns)
    opens = opens[opens <= hi_ns]
    return int(opens[-1]) if opens.size else hi_ns
