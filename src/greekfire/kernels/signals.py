"""Trading signals from indicator values: -1 (sell / short), 0 (flat), +1 (buy / long).

Every kernel works on (rows, T) float64 blocks (rows = symbols) and writes an int8 block. A
NaN input (not enough history yet) gives 0. Kernels that look at the previous bar (crosses,
the z-score's trailing window) carry that in a state row, like the indicator kernels in
:mod:`greekfire.kernels.ta`: the batch call is the streaming call with T bars, so a stream
gives exactly the batch signals.

- ``cross_run``: +1 on the bar where ``fast`` crosses above ``slow`` (fast > slow after
  fast <= slow), -1 where it crosses below, 0 otherwise. SMA/EMA crossover and MACD cross
  (macd vs its signal line) are this kernel on the indicator outputs. State: previous sign.
- ``level_signal``: +1 while ``fast > slow``, -1 while ``fast < slow`` (the brief's MACD
  signal); 0 on equality or NaN.
- ``band_signal``: +1 where ``x < lower``, -1 where ``x > upper``, else 0: RSI thresholds
  (x = RSI, lower 30, upper 70) and Bollinger mean reversion (x = close, the bands).
- ``zscore_run``: z = (x - mean) / std over the ``lookback`` bars *before* the current one
  (population std), -1 where z > threshold, +1 where z < -threshold (mean reversion), 0 where
  the window is not full or flat (std below 1e-7 of |mean|: z would be rounding noise). O(1)
  per bar with compensated running sums (the brief's version recomputes the window:
  O(n x lookback)). State: sums and a ring buffer.
- ``composite``: sign(w_mom * momentum + w_rsi * rsi_signal + w_macd * macd_signal), the
  brief's momentum composite (momentum = percent change over 5 bars, weights 0.4/0.3/0.3 by
  default; note the momentum term is in per cent, so with the default weights it dominates
  unless the move is under about 1 %: as in the brief).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from greekfire.kernels._jit import fma_, njit, prange

__all__ = [
    "band_signal",
    "composite",
    "cross_run",
    "level_signal",
    "zscore_run",
    "zscore_state_size",
]

F64Array = npt.NDArray[np.float64]
I8Array = npt.NDArray[np.int8]


@njit(parallel=True)
def cross_run(fast: F64Array, slow: F64Array, state: F64Array, out: I8Array) -> None:
    """Crossing events of ``fast`` over ``slow``. A touch (fast == slow) is not a cross: the
    event fires when the sign of fast - slow flips against the last non-zero sign. State
    (rows, 1): that last non-zero sign (0 before any)."""
    rows, t_len = fast.shape
    for r in prange(rows):
        prev = state[r, 0]
        for t in range(t_len):
            d = fast[r, t] - slow[r, t]
            signal = 0
            if d > 0.0:
                signal = 1 if prev < 0.0 else 0
                prev = 1.0
            elif d < 0.0:
                signal = -1 if prev > 0.0 else 0
                prev = -1.0
            out[r, t] = signal
        state[r, 0] = prev


@njit(parallel=True)
def level_signal(fast: F64Array, slow: F64Array, out: I8Array) -> None:
    """+1 while fast > slow, -1 while fast < slow, 0 on equality or NaN."""
    rows, t_len = fast.shape
    for r in prange(rows):
        for t in range(t_len):
            d = fast[r, t] - slow[r, t]
            out[r, t] = 1 if d > 0.0 else (-1 if d < 0.0 else 0)


@njit(parallel=True)
def band_signal(x: F64Array, lower: F64Array, upper: F64Array, out: I8Array) -> None:
    """+1 where x < lower, -1 where x > upper, else 0 (NaN anywhere gives 0). ``lower`` and
    ``upper`` are blocks like ``x``; pass constant blocks for fixed RSI thresholds."""
    rows, t_len = x.shape
    for r in prange(rows):
        for t in range(t_len):
            v = x[r, t]
            out[r, t] = 1 if v < lower[r, t] else (-1 if v > upper[r, t] else 0)


def zscore_state_size(lookback: int) -> int:
    """State row length of :func:`zscore_run`: n, two compensated sums, ring position, ring."""
    return 6 + lookback


@njit(inline="always")
def _neumaier(s: float, c: float, x: float) -> tuple[float, float]:
    t = s + x
    c += (s - t) + x if abs(s) >= abs(x) else (x - t) + s
    return t, c


@njit(parallel=True)
def zscore_run(
    x: F64Array, state: F64Array, lookback: int, threshold: float, z_out: F64Array, out: I8Array
) -> None:
    """Mean-reversion signal from the z-score of each bar against the ``lookback`` bars
    before it; writes z (NaN until the window is full or where it is flat) and the signal.
    NaN bars are skipped (signal 0, state unchanged)."""
    rows, t_len = x.shape
    inv = 1.0 / lookback
    for r in prange(rows):
        n = state[r, 0]
        s1 = state[r, 1]
        c1 = state[r, 2]
        s2 = state[r, 3]
        c2 = state[r, 4]
        pos = int(state[r, 5])
        for t in range(t_len):
            v = x[r, t]
            z = math.nan
            if not math.isnan(v):
                if n >= lookback:
                    mean = (s1 + c1) * inv
                    var = (s2 + c2) * inv - mean * mean
                    if var > 1e-14 * mean * mean:
                        z = (v - mean) / math.sqrt(var)
                    old = state[r, 6 + pos]
                    s1, c1 = _neumaier(s1, c1, -old)
                    sq = old * old
                    s2, c2 = _neumaier(s2, c2, -sq)
                    c2 -= fma_(old, old, -sq)
                s1, c1 = _neumaier(s1, c1, v)
                sq = v * v
                s2, c2 = _neumaier(s2, c2, sq)
                c2 += fma_(v, v, -sq)
                state[r, 6 + pos] = v
                pos = pos + 1 if pos + 1 < lookback else 0
                n += 1.0
            z_out[r, t] = z
            out[r, t] = -1 if z > threshold else (1 if z < -threshold else 0)
        state[r, 0] = n
        state[r, 1] = s1
        state[r, 2] = c1
        state[r, 3] = s2
        state[r, 4] = c2
        state[r, 5] = pos


@njit(parallel=True)
def composite(
    momentum: F64Array,
    rsi_signal: I8Array,
    macd_signal: I8Array,
    w_mom: float,
    w_rsi: float,
    w_macd: float,
    out: I8Array,
) -> None:
    """sign(w_mom momentum + w_rsi rsi_signal + w_macd macd_signal); a NaN momentum counts 0."""
    rows, t_len = momentum.shape
    for r in prange(rows):
        for t in range(t_len):
            m = momentum[r, t]
            total = (0.0 if math.isnan(m) else w_mom * m) + w_rsi * rsi_signal[r, t]
            total += w_macd * macd_signal[r, t]
            out[r, t] = 1 if total > 0.0 else (-1 if total < 0.0 else 0)
