"""More technical indicators (oscillators, directional movement, volume, rolling extremes).

Same design as :mod:`greekfire.kernels.ta`: each indicator is a state machine whose steps work
on plain floats, and ONE ``*_run(inputs (rows, T), state (rows, S), params..., out)`` kernel
per indicator advances every row's state over T bars. It is the batch kernel (zero state, the
whole series) and the streaming kernel (T = 1) at once, so a stream equals the batch bit for
bit at every bar. Rows run in parallel (``prange``); each row's scalar state is loaded into
locals, advanced and stored back; windows (ring buffers) live at the end of the state row. A
state row starts as zeros; slot 0 is always the number of valid bars fed so far.
``state_size_more(kind, *periods)`` gives the row length.

Conventions: TA-Lib's default compatibility, unstable period 0, checked against the installed
TA-Lib (the ``talib`` package) in tests/unit/kernels/test_ta_more.py: identical NaN positions,
values within 1e-9 (absolute, relative above 1). Where an output is a ratio of two nearly
equal numbers (a stochastic of a flat window, a CCI of a flat window, the money flow of
rounding residue) TA-Lib's result depends on its last bits, so the kernel repeats TA-Lib's
arithmetic operation for operation there and is bit for bit equal to it. That includes the
installed TA-Lib's tests of equality: two prices a, b are equal when
|a - b| <= 1e-14 (|a| + |b|) (``_nearly_equal``), and its RSI scales by a reciprocal.

- STOCH (``stoch_run``; lookback fastk - 1 + slowk - 1 + slowd - 1, 8 for the default
  5/3/3): fast %K = ((close - lowest low) / (highest high - lowest low)) 100 over ``fastk``
  bars, 0 where the highest high and lowest low are equal; %K = SMA(fast %K, slowk),
  %D = SMA(%K, slowd) (``ta.sma_step``, TA-Lib's running sum); both outputs start on the
  same bar. STOCHF is ``slowk = 1`` (an SMA of one value is that value, exactly): fast %K and
  fast %D, lookback fastk - 1 + fastd - 1. Only TA-Lib's default moving average (SMA).
- STOCHRSI (``stochrsi_run``; lookback period + fastk - 1 + fastd - 1, 20 for 14/5/3):
  TA-Lib's: the RSI, then STOCHF of the RSI (high = low = close = RSI). Its RSI is TA-Lib's
  to the bit: the first ``period`` gains (losses) summed and scaled by 1 / p, then
  avg = (avg (p - 1) + new) (1 / p) (three operations on the bar-to-bar chain, where
  ``ta.rsi_step`` has one fused multiply-add; the two differ by rounding). Over a flat
  stretch the RSI is constant up to rounding and its stochastic is a ratio of that
  rounding, which only the same roundings reproduce.
- PLUS_DI, MINUS_DI (lookback p), ADX (lookback 2p - 1) (``adx_run``, period >= 2): Wilder's
  directional movement. +DM = high - prev high when that is > 0 and > prev low - low, else
  0 (-DM the mirror image); TR the true range. The first p - 1 DMs and TRs are summed; from
  bar p on each sum is smoothed as s - s / p + new, TA-Lib's arithmetic to the bit (a fused
  s ((p - 1) / p) + new is 1.5x faster and agrees to 1e-13 on an ordinary series, but
  after thousands of bars without movement the sums decay into subnormal numbers and the
  DIs become ratios of their last bits), and
  +DI = 100 (+DM / TR), -DI = 100 (-DM / TR), both 0 where TR is 0 (so the DIs are bit for
  bit TA-Lib's).
  DX = 100 (|(-DI) - (+DI)| / ((-DI) + (+DI))), none where TR is 0 or the DI sum is below
  1e-14 (TA-Lib's zero; after a long stretch without directional movement). ADX starts
  as the sum of the DXs of bars p..2p-1 over p (a missing DX counts 0), then
  ADX = (ADX (p - 1) + DX) / p (one fused multiply-add), unchanged on a bar without a DX.
  (TA-Lib's DI with period 1 returns DM / TR, not a percentage; not replicated.)
- CCI (``cci_run``; lookback p - 1, period >= 2): typical price tp = (high + low + close) / 3
  kept in a ring; each bar the window mean and the mean absolute deviation are recomputed by
  a loop over the ring in ring order, as TA-Lib does (O(p) per bar, so that its roundings
  are the same); CCI = (tp - mean) / (0.015 mean deviation), 0 where tp - mean or the mean
  deviation is below 1e-14 |mean| (rounding noise: a flat window).
- WILLR (``willr_run``; lookback p - 1): ((highest high - close) / (highest high - lowest
  low)) (-100), 0 where the highest high and lowest low are equal.
- OBV (``obv_run``; lookback 0): starts at the first bar's volume, then adds the volume on an
  up close and subtracts it on a down close.
- MFI (``mfi_run``; lookback p, period >= 2): money flow = tp x volume, positive on a bar whose
  typical price rose, negative where it fell, none where it is unchanged (equal as above);
  the first bar only gives the previous tp. Running sums of the last p positive and negative
  flows, the leaving flows subtracted before the new ones are added (TA-Lib's order, so a
  sum's rounding residue is TA-Lib's); MFI = 100 (pos / (pos + neg)) clipped to [0, 100], 0
  where pos + neg <= 0. As the installed TA-Lib does, both sums are reset to exactly 0 while
  every flow in the window is 0 (flat prices or no volume), which clears the residue.
- MIN, MAX (``minmax_run``; lookback p - 1): rolling extreme over p bars, van Herk /
  Gil-Werman blocks in one ring (``_window_max``): O(1) amortised per bar whatever the data,
  nearly branch-free, exact. STOCH, STOCHRSI and WILLR take their extremes the same way.
- ZSCORE (``zscore_run``; lookback p - 1, period >= 2; not in TA-Lib): (x - mean) / population
  standard deviation over the window, mean and variance from ``ta.var_step`` (compensated
  running sums of x and x^2 in double-double). 0 where the standard deviation is 0, and 0 on
  a flat window: the sums may leave such a window a variance of rounding residue (about
  1e-20 of x^2 after much larger values), but its double-double mean is the value to the
  last bit (unless earlier values were some 1e16 times larger), so x - mean is exactly 0.

NaN: a bar with a NaN in any input is skipped: its outputs are NaN and the state does not
move, so the indicator carries on from the last valid bar (for leading NaNs this is exactly
TA-Lib's Python wrapper, which starts the series at the first bar where every input is a
number).

Layout: inputs are float64 (rows, T) arrays (rows = symbols, time along the last axis);
outputs are preallocated (rows, T) arrays, or (k, rows, T) for k outputs.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from greekfire.kernels._jit import fma_, njit, prange
from greekfire.kernels.ta import COMPAT_METASTOCK, sd_from_var, sma_step, true_range, var_step

__all__ = [
    "adx_run",
    "cci_run",
    "mfi_run",
    "minmax_run",
    "obv_run",
    "state_size_more",
    "stoch_run",
    "stochrsi_run",
    "willr_run",
    "zscore_run",
]

F64Array = npt.NDArray[np.float64]

NAN = math.nan
TA_EPSILON = 1e-14  # TA-Lib's zero (relative for prices, absolute for DI percentages)


def state_size_more(kind: str, *periods: int) -> int:
    """Length of one symbol's state row for indicator ``kind`` with the given periods:

    ``stoch`` (fastk, slowk, slowd), ``stochrsi`` (period, fastk, fastd), ``adx`` (),
    ``cci`` (period), ``willr`` (period), ``obv`` (), ``mfi`` (period), ``minmax`` (period),
    ``zscore`` (period).
    """
    if kind == "stoch":
        fastk, slowk, slowd = periods
        return 10 + 2 * fastk + slowk + slowd
    if kind == "stochrsi":
        _, fastk, fastd = periods
        return 11 + 2 * fastk + fastd
    if kind in ("adx", "obv"):
        if periods[1:]:
            raise TypeError(f"{kind} takes at most one period")
        return 8 if kind == "adx" else 3
    (period,) = periods
    sizes = {
        "cci": 2 + period,
        "willr": 4 + 2 * period,
        "mfi": 6 + 2 * period,
        "minmax": 3 + period,
        "zscore": 6 + period,
    }
    return sizes[kind]


# --- windows kept in a state row -----------------------------------------------------------


@njit(inline="always")
def _ring_push(
    state: F64Array, r: int, base: int, pos: int, period: int, x: float
) -> tuple[int, float, float]:
    # Store x at the ring position; return the next position, the value it replaced (x from
    # ``period`` bars back) and the oldest value of the window ending at x.
    replaced = state[r, base + pos]
    state[r, base + pos] = x
    pos = pos + 1 if pos + 1 < period else 0
    return pos, replaced, state[r, base + pos]


@njit(inline="always")
def _window_max(
    state: F64Array, r: int, base: int, period: int, j: int, prefix: float, x: float
) -> tuple[float, float]:
    """Sliding maximum over ``period`` bars (van Herk / Gil-Werman), O(1) amortised and
    nearly branch-free. Bars are taken in blocks of ``period``; ``j`` is this bar's offset in
    its block and ``prefix`` the maximum of the block so far. The ring at ``base`` holds,
    from offset j + 1 on, the suffix maxima of the previous block (the maximum of its offsets
    k..p-1 at slot k), so the window ending at offset j is max(suffix[j + 1], prefix). When a
    block completes its values are turned into their suffix maxima in place (p - 1 steps every
    p bars). Returns (prefix, window maximum; valid once ``period`` bars were pushed). For a
    minimum push -x and negate the result (exact). The caller advances j."""
    prefix = x if j == 0 or x > prefix else prefix
    state[r, base + j] = x
    if j + 1 < period:
        s = state[r, base + j + 1]
        return prefix, s if s > prefix else prefix
    m = x
    for k in range(period - 2, -1, -1):
        v = state[r, base + k]
        m = v if v > m else m
        state[r, base + k] = m
    return prefix, prefix


@njit(inline="always")
def _window_max2(
    state: F64Array,
    r: int,
    base: int,
    period: int,
    j: int,
    pre_a: float,
    pre_b: float,
    a: float,
    b: float,
) -> tuple[float, float, float, float]:
    """:func:`_window_max` of two series at once (rings at ``base`` and ``base + period``),
    one loop rebuilding both blocks. Returns (prefix a, prefix b, window max a, max b)."""
    pre_a = a if j == 0 or a > pre_a else pre_a
    pre_b = b if j == 0 or b > pre_b else pre_b
    state[r, base + j] = a
    state[r, base + period + j] = b
    if j + 1 < period:
        sa = state[r, base + j + 1]
        sb = state[r, base + period + j + 1]
        return pre_a, pre_b, sa if sa > pre_a else pre_a, sb if sb > pre_b else pre_b
    ma = a
    mb = b
    for k in range(period - 2, -1, -1):
        va = state[r, base + k]
        vb = state[r, base + period + k]
        ma = va if va > ma else ma
        mb = vb if vb > mb else mb
        state[r, base + k] = ma
        state[r, base + period + k] = mb
    return pre_a, pre_b, pre_a, pre_b


@njit(inline="always")
def _sma_push(
    state: F64Array, r: int, base: int, period: int, n: float, total: float, pos: int, x: float
) -> tuple[float, float, int, float]:
    # ta.sma_step with its ring at ``base``. Returns (n, total, ring position, out).
    pos, _, oldest = _ring_push(state, r, base, pos, period, x)
    n, total, out = sma_step(n, total, x, oldest, period)
    return n, total, pos, out


# --- steps ---------------------------------------------------------------------------------


@njit(inline="always")
def _nearly_equal(a: float, b: float) -> bool:
    """The installed TA-Lib's equality of prices: |a - b| <= 1e-14 (|a| + |b|) (a difference
    of rounding noise is no difference)."""
    return abs(a - b) <= TA_EPSILON * (abs(a) + abs(b))


@njit(inline="always")
def stoch_fast_k(close: float, highest: float, lowest: float) -> float:
    """TA-Lib's fast %K: ((close - lowest) / (highest - lowest)) 100, 0 on a flat window."""
    if _nearly_equal(highest, lowest):
        return 0.0
    return (close - lowest) / (highest - lowest) * 100.0


@njit(inline="always")
def willr_value(close: float, highest: float, lowest: float) -> float:
    """TA-Lib's Williams %R: ((highest - close) / (highest - lowest)) (-100), 0 when flat."""
    if _nearly_equal(highest, lowest):
        return 0.0
    return (highest - close) / (highest - lowest) * -100.0


@njit(inline="always")
def rsi_talib_step(
    n: float,
    prev: float,
    gain: float,
    loss: float,
    x: float,
    period: int,
    inv_p: float,
    compat: int,
) -> tuple[float, float, float, float, float]:
    """RSI with the installed TA-Lib's exact arithmetic (see the module docstring: STOCHRSI):
    the first ``period`` differences are summed and scaled by 1 / p, later ones smoothed as
    (avg (p - 1) + new) (1 / p); RSI = 100 (gain / (gain + loss)), 0 where the sum is 0.
    ``inv_p`` = 1 / p. COMPAT_METASTOCK adds a value on input p as ``ta.rsi_step`` does.
    Returns (n, prev, avg gain, avg loss, out)."""
    n += 1.0
    if n == 1.0:
        return n, x, 0.0, 0.0, NAN
    diff = x - prev
    down = diff < 0.0
    up_part = 0.0 if down else diff
    down_part = -diff if down else 0.0
    if n <= period + 1.0:
        gain += up_part
        loss += down_part
        if n <= period:
            if n == period and compat == COMPAT_METASTOCK:
                g = gain * inv_p
                total = g + loss * inv_p
                return n, x, gain, loss, (100.0 * (g / total) if total != 0.0 else 0.0)
            return n, x, gain, loss, NAN
        gain *= inv_p
        loss *= inv_p
    else:
        gain = (gain * (period - 1) + up_part) * inv_p
        loss = (loss * (period - 1) + down_part) * inv_p
    total = gain + loss
    out = 100.0 * (gain / total) if total != 0.0 else 0.0
    return n, x, gain, loss, out


@njit(inline="always")
def directional_movement(
    high: float, low: float, close: float, prev_high: float, prev_low: float, prev_close: float
) -> tuple[float, float, float]:
    """(+DM, -DM, true range) of a bar: +DM = high - prev high when that is positive and
    greater than prev low - low (-DM the mirror image), else 0."""
    diff_p = high - prev_high
    diff_m = prev_low - low
    plus = diff_p if diff_p > 0.0 and diff_p > diff_m else 0.0
    minus = diff_m if diff_m > 0.0 and diff_m > diff_p else 0.0
    return plus, minus, true_range(high, low, prev_close)


@njit(inline="always")
def di_dx(plus_dm: float, minus_dm: float, tr: float) -> tuple[float, float, float, bool]:
    """(+DI, -DI, DX, whether DX is defined) from the smoothed sums, with TA-Lib's zeros: the
    DIs are 0 where the TR sum is 0, and there is no DX where the DI sum (a percentage, so
    free of the price scale) is below 1e-14."""
    if tr == 0.0:
        return 0.0, 0.0, 0.0, False
    plus_di = 100.0 * (plus_dm / tr)
    minus_di = 100.0 * (minus_dm / tr)
    total = minus_di + plus_di
    if total < TA_EPSILON:
        return plus_di, minus_di, 0.0, False
    return plus_di, minus_di, 100.0 * (abs(minus_di - plus_di) / total), True


@njit(inline="always")
def adx_step(
    n: float,
    sums: tuple[float, float, float, float],
    prev: tuple[float, float, float],
    bar: tuple[float, float, float],
    period: int,
    w: float,
    inv_p: float,
) -> tuple[float, tuple[float, float, float, float], float, float, float]:
    """Wilder's +DI, -DI and ADX. ``sums`` = (+DM, -DM, TR sums, DX sum then ADX), ``prev`` =
    the previous bar's (high, low, close), ``bar`` this one's; w = (p - 1) / p, inv_p = 1 / p
    (for the ADX's fused smoothing). Returns (n, sums, +DI, -DI, ADX)."""
    n += 1.0
    pdm, mdm, trs, adx = sums
    if n == 1.0:
        return n, sums, NAN, NAN, NAN
    up, down, tr = directional_movement(bar[0], bar[1], bar[2], prev[0], prev[1], prev[2])
    if n <= period:
        return n, (pdm + up, mdm + down, trs + tr, adx), NAN, NAN, NAN
    # TA-Lib's s - s / p + new exactly, not s w + new: over a long run of bars without
    # movement the sums decay into subnormal numbers and the DIs become ratios of their last
    # bits, which only the same roundings reproduce.
    pdm = pdm - pdm / period + up
    mdm = mdm - mdm / period + down
    trs = trs - trs / period + tr
    plus_di, minus_di, dx, has_dx = di_dx(pdm, mdm, trs)
    out = NAN
    if n <= 2.0 * period:  # the DXs of bars p..2p-1 are summed; their mean seeds the ADX
        adx = adx + dx
        if n == 2.0 * period:
            adx = adx / period
            out = adx
    else:
        if has_dx:
            adx = fma_(adx, w, dx * inv_p)
        out = adx
    return n, (pdm, mdm, trs, adx), plus_di, minus_di, out


@njit(inline="always")
def _cci_value(state: F64Array, r: int, base: int, period: int, tp: float) -> float:
    # TA-Lib's CCI of a full window held in the ring (summed in ring order, as TA-Lib).
    total = 0.0
    for j in range(period):
        total += state[r, base + j]
    mean = total / period
    dev = 0.0
    for j in range(period):
        dev += abs(state[r, base + j] - mean)
    diff = tp - mean
    mean_dev = dev / period
    tol = TA_EPSILON * abs(mean)  # TA-Lib's: below it the deviation is rounding noise
    if diff != 0.0 and mean_dev != 0.0 and abs(diff) >= tol and mean_dev >= tol:
        return diff / (0.015 * mean_dev)
    return 0.0


@njit(inline="always")
def money_flow(tp: float, prev_tp: float, volume: float) -> tuple[float, float, float]:
    """(flow, positive flow, negative flow) of a bar: flow = tp x volume, on the side of the
    move, 0 when the typical price is unchanged (within TA-Lib's relative 1e-14, see
    :func:`_nearly_equal`). Selects, no branches: the direction is a coin toss."""
    flow = 0.0 if _nearly_equal(tp, prev_tp) else tp * volume
    return flow, flow if tp > prev_tp else 0.0, flow if tp < prev_tp else 0.0


@njit(inline="always")
def mfi_value(pos: float, neg: float) -> float:
    """100 pos / (pos + neg) clipped to [0, 100] (the sums carry rounding residue), 0 where
    the sum is not positive."""
    total = pos + neg
    if total <= 0.0:
        return 0.0
    v = 100.0 * (pos / total)
    return min(max(v, 0.0), 100.0)


# --- run kernels ---------------------------------------------------------------------------


@njit(parallel=True)
def stoch_run(
    high: F64Array,
    low: F64Array,
    close: F64Array,
    state: F64Array,
    fastk: int,
    slowk: int,
    slowd: int,
    out: F64Array,
) -> None:
    """Stochastic oscillator into ``out`` (2, rows, T): %K = SMA(fast %K, slowk) and
    %D = SMA(%K, slowd); TA-Lib's STOCH (defaults 5, 3, 3), or STOCHF (fast %K, fast %D)
    with ``slowk = 1``. State (``state_size_more("stoch", fastk, slowk, slowd)``): n, block
    offset, block maxima of the highs and of -lows, (n, total, ring position) of both SMAs,
    the two window rings (fastk each), the SMAs' rings (slowk, slowd)."""
    rows, t_len = close.shape
    b_hi = 10
    b_lo = b_hi + fastk
    b_k = b_lo + fastk
    b_d = b_k + slowk
    for r in prange(rows):
        n = state[r, 0]
        j = int(state[r, 1])
        hi_pre = state[r, 2]
        lo_pre = state[r, 3]
        nk = state[r, 4]
        tk = state[r, 5]
        pk = int(state[r, 6])
        nd = state[r, 7]
        td = state[r, 8]
        pd = int(state[r, 9])
        for t in range(t_len):
            h = high[r, t]
            lo = low[r, t]
            c = close[r, t]
            k = d = NAN
            if not (math.isnan(h) or math.isnan(lo) or math.isnan(c)):
                n += 1.0
                hi_pre, hh = _window_max(state, r, b_hi, fastk, j, hi_pre, h)
                lo_pre, neg_ll = _window_max(state, r, b_lo, fastk, j, lo_pre, -lo)
                j = j + 1 if j + 1 < fastk else 0
                if n >= fastk:
                    fk = stoch_fast_k(c, hh, -neg_ll)
                    if slowk == 1:  # STOCHF: an SMA of one value is the value
                        nk, k = n, fk
                    else:
                        nk, tk, pk, k = _sma_push(state, r, b_k, slowk, nk, tk, pk, fk)
                    if nk >= slowk:
                        nd, td, pd, d = _sma_push(state, r, b_d, slowd, nd, td, pd, k)
                if nd < slowd:
                    k = d = NAN
            out[0, r, t] = k
            out[1, r, t] = d
        state[r, 0] = n
        state[r, 1] = j
        state[r, 2] = hi_pre
        state[r, 3] = lo_pre
        state[r, 4] = nk
        state[r, 5] = tk
        state[r, 6] = pk
        state[r, 7] = nd
        state[r, 8] = td
        state[r, 9] = pd


@njit(parallel=True)
def stochrsi_run(
    x: F64Array,
    state: F64Array,
    period: int,
    fastk: int,
    fastd: int,
    out: F64Array,
    compat: int = 0,
) -> None:
    """TA-Lib's STOCHRSI into ``out`` (2, rows, T): fast %K and fast %D of the RSI(period)
    (defaults 14, 5, 3). State (``state_size_more("stochrsi", period, fastk, fastd)``): the
    RSI's (n, prev, gain, loss), the count of RSI values, block offset, block maxima of the
    RSI and of -RSI, the %D SMA's (n, total, ring position), the window rings (fastk each),
    the SMA's ring (fastd). COMPAT_METASTOCK: Metastock's RSI, one value earlier (see
    ``ta.rsi_step``), so the outputs start a bar earlier."""
    rows, t_len = x.shape
    inv_p = 1.0 / period
    b_hi = 11
    b_lo = b_hi + fastk
    b_d = b_lo + fastk
    first_rsi = period - (1 if compat == COMPAT_METASTOCK else 0)  # bars before the first RSI
    for r in prange(rows):
        n = state[r, 0]
        prev = state[r, 1]
        gain = state[r, 2]
        loss = state[r, 3]
        nr = state[r, 4]
        j = int(state[r, 5])
        hi_pre = state[r, 6]
        lo_pre = state[r, 7]
        nd = state[r, 8]
        td = state[r, 9]
        pd = int(state[r, 10])
        for t in range(t_len):
            v = x[r, t]
            k = d = NAN
            if not math.isnan(v):
                n, prev, gain, loss, rsi = rsi_talib_step(
                    n, prev, gain, loss, v, period, inv_p, compat
                )
                if n > first_rsi:
                    nr += 1.0
                    hi_pre, lo_pre, hh, neg_ll = _window_max2(
                        state, r, b_hi, fastk, j, hi_pre, lo_pre, rsi, -rsi
                    )
                    j = j + 1 if j + 1 < fastk else 0
                    if nr >= fastk:
                        k = stoch_fast_k(rsi, hh, -neg_ll)
                        nd, td, pd, d = _sma_push(state, r, b_d, fastd, nd, td, pd, k)
                if nd < fastd:
                    k = d = NAN
            out[0, r, t] = k
            out[1, r, t] = d
        state[r, 0] = n
        state[r, 1] = prev
        state[r, 2] = gain
        state[r, 3] = loss
        state[r, 4] = nr
        state[r, 5] = j
        state[r, 6] = hi_pre
        state[r, 7] = lo_pre
        state[r, 8] = nd
        state[r, 9] = td
        state[r, 10] = pd


@njit(parallel=True)
def adx_run(
    high: F64Array, low: F64Array, close: F64Array, state: F64Array, period: int, out: F64Array
) -> None:
    """+DI, -DI and ADX into ``out`` (3, rows, T) (TA-Lib's PLUS_DI, MINUS_DI, ADX; period
    >= 2). State (``state_size_more("adx")``, 8): n, previous high, low, close, the +DM, -DM
    and TR sums, the DX sum then the ADX."""
    rows, t_len = close.shape
    w = (period - 1) / period
    inv_p = 1.0 / period
    for r in prange(rows):
        n = state[r, 0]
        prev = (state[r, 1], state[r, 2], state[r, 3])
        sums = (state[r, 4], state[r, 5], state[r, 6], state[r, 7])
        for t in range(t_len):
            bar = (high[r, t], low[r, t], close[r, t])
            if math.isnan(bar[0]) or math.isnan(bar[1]) or math.isnan(bar[2]):
                out[0, r, t] = NAN
                out[1, r, t] = NAN
                out[2, r, t] = NAN
                continue
            n, sums, out[0, r, t], out[1, r, t], out[2, r, t] = adx_step(
                n, sums, prev, bar, period, w, inv_p
            )
            prev = bar
        state[r, 0] = n
        state[r, 1] = prev[0]
        state[r, 2] = prev[1]
        state[r, 3] = prev[2]
        state[r, 4] = sums[0]
        state[r, 5] = sums[1]
        state[r, 6] = sums[2]
        state[r, 7] = sums[3]


@njit(parallel=True)
def cci_run(
    high: F64Array, low: F64Array, close: F64Array, state: F64Array, period: int, out: F64Array
) -> None:
    """TA-Lib's CCI (period >= 2) into ``out`` (rows, T). State
    (``state_size_more("cci", period)``): n, ring position, ring of typical prices."""
    rows, t_len = close.shape
    for r in prange(rows):
        n = state[r, 0]
        pos = int(state[r, 1])
        for t in range(t_len):
            h = high[r, t]
            lo = low[r, t]
            c = close[r, t]
            if math.isnan(h) or math.isnan(lo) or math.isnan(c):
                out[r, t] = NAN
                continue
            tp = (h + lo + c) / 3.0
            state[r, 2 + pos] = tp
            pos = pos + 1 if pos + 1 < period else 0
            n += 1.0
            out[r, t] = _cci_value(state, r, 2, period, tp) if n >= period else NAN
        state[r, 0] = n
        state[r, 1] = pos


@njit(parallel=True)
def willr_run(
    high: F64Array, low: F64Array, close: F64Array, state: F64Array, period: int, out: F64Array
) -> None:
    """TA-Lib's Williams %R into ``out`` (rows, T). State
    (``state_size_more("willr", period)``): n, block offset, block maxima of the highs and of
    -lows, the two window rings (period each)."""
    rows, t_len = close.shape
    b_hi = 4  # the -lows' ring follows at b_hi + period
    for r in prange(rows):
        n = state[r, 0]
        j = int(state[r, 1])
        hi_pre = state[r, 2]
        lo_pre = state[r, 3]
        for t in range(t_len):
            h = high[r, t]
            lo = low[r, t]
            c = close[r, t]
            if math.isnan(h) or math.isnan(lo) or math.isnan(c):
                out[r, t] = NAN
                continue
            n += 1.0
            hi_pre, lo_pre, hh, neg_ll = _window_max2(
                state, r, b_hi, period, j, hi_pre, lo_pre, h, -lo
            )
            j = j + 1 if j + 1 < period else 0
            out[r, t] = willr_value(c, hh, -neg_ll) if n >= period else NAN
        state[r, 0] = n
        state[r, 1] = j
        state[r, 2] = hi_pre
        state[r, 3] = lo_pre


@njit(parallel=True)
def obv_run(close: F64Array, volume: F64Array, state: F64Array, out: F64Array) -> None:
    """TA-Lib's on-balance volume into ``out`` (rows, T). State
    (``state_size_more("obv")``, 3): n, previous close, OBV."""
    rows, t_len = close.shape
    for r in prange(rows):
        n = state[r, 0]
        prev = state[r, 1]
        obv = state[r, 2]
        for t in range(t_len):
            c = close[r, t]
            v = volume[r, t]
            if math.isnan(c) or math.isnan(v):
                out[r, t] = NAN
                continue
            n += 1.0
            signed = v if c > prev else (-v if c < prev else 0.0)
            obv = v if n == 1.0 else obv + signed
            prev = c
            out[r, t] = obv
        state[r, 0] = n
        state[r, 1] = prev
        state[r, 2] = obv


@njit(parallel=True)
def mfi_run(
    high: F64Array,
    low: F64Array,
    close: F64Array,
    volume: F64Array,
    state: F64Array,
    period: int,
    out: F64Array,
) -> None:
    """TA-Lib's money flow index (period >= 2) into ``out`` (rows, T). State
    (``state_size_more("mfi", period)``): n, previous typical price, positive and negative
    sums, the last bar with a non-zero flow, ring position, rings of positive and negative
    flows (period each)."""
    rows, t_len = close.shape
    b_pos = 6
    b_neg = b_pos + period
    for r in prange(rows):
        n = state[r, 0]
        prev_tp = state[r, 1]
        pos_sum = state[r, 2]
        neg_sum = state[r, 3]
        last_flow = state[r, 4]
        pos = int(state[r, 5])
        for t in range(t_len):
            h = high[r, t]
            lo = low[r, t]
            c = close[r, t]
            v = volume[r, t]
            if math.isnan(h) or math.isnan(lo) or math.isnan(c) or math.isnan(v):
                out[r, t] = NAN
                continue
            tp = (h + lo + c) / 3.0
            n += 1.0
            mfi = NAN
            if n > 1.0:
                # The leaving flows (0 while the ring fills) go out before the new ones come
                # in, as in TA-Lib, so the sums carry TA-Lib's rounding residue.
                old_p = state[r, b_pos + pos]
                old_n = state[r, b_neg + pos]
                flow, plus, minus = money_flow(tp, prev_tp, v)
                pos_sum = (pos_sum - old_p) + plus
                neg_sum = (neg_sum - old_n) + minus
                state[r, b_pos + pos] = plus
                state[r, b_neg + pos] = minus
                pos = pos + 1 if pos + 1 < period else 0
                if flow != 0.0:
                    last_flow = n
                elif n - last_flow >= period:  # every flow in the window is 0
                    pos_sum = 0.0
                    neg_sum = 0.0
                    # (A store keeps LLVM from turning this rare branch into selects on the
                    # sums' bar-to-bar dependency chain.)
                    state[r, 2] = 0.0
                if n > period:
                    mfi = mfi_value(pos_sum, neg_sum)
            prev_tp = tp
            out[r, t] = mfi
        state[r, 0] = n
        state[r, 1] = prev_tp
        state[r, 2] = pos_sum
        state[r, 3] = neg_sum
        state[r, 4] = last_flow
        state[r, 5] = pos


@njit(parallel=True)
def minmax_run(x: F64Array, state: F64Array, period: int, is_max: bool, out: F64Array) -> None:
    """Rolling maximum (``is_max``, TA-Lib's MAX) or minimum (MIN) over ``period`` bars into
    ``out`` (rows, T). State (``state_size_more("minmax", period)``): n, block offset, block
    maximum, the window ring (period; a minimum is kept as the maximum of -x)."""
    rows, t_len = x.shape
    sign = 1.0 if is_max else -1.0
    for r in prange(rows):
        n = state[r, 0]
        j = int(state[r, 1])
        prefix = state[r, 2]
        for t in range(t_len):
            v = x[r, t]
            if math.isnan(v):
                out[r, t] = NAN
                continue
            n += 1.0
            prefix, m = _window_max(state, r, 3, period, j, prefix, sign * v)
            j = j + 1 if j + 1 < period else 0
            out[r, t] = sign * m if n >= period else NAN
        state[r, 0] = n
        state[r, 1] = j
        state[r, 2] = prefix


@njit(parallel=True)
def zscore_run(x: F64Array, state: F64Array, period: int, out: F64Array) -> None:
    """Rolling z-score (x - mean) / population standard deviation over ``period`` bars
    (period >= 2) into ``out`` (rows, T); 0 where the standard deviation is 0. State
    (``state_size_more("zscore", period)``): n, the compensated sums of x and x^2 with their
    corrections (``ta.var_step``), ring position, ring[period]."""
    rows, t_len = x.shape
    for r in prange(rows):
        n = state[r, 0]
        s1h = state[r, 1]
        s1l = state[r, 2]
        s2h = state[r, 3]
        s2l = state[r, 4]
        pos = int(state[r, 5])
        for t in range(t_len):
            v = x[r, t]
            if math.isnan(v):
                out[r, t] = NAN
                continue
            pos, _, oldest = _ring_push(state, r, 6, pos, period, v)
            n, s1h, s1l, s2h, s2l, mean, var = var_step(n, s1h, s1l, s2h, s2l, v, oldest, period)
            z = NAN
            if n >= period:
                sd = sd_from_var(var)
                z = (v - mean) / sd if sd > 0.0 else 0.0
            out[r, t] = z
        state[r, 0] = n
        state[r, 1] = s1h
        state[r, 2] = s1l
        state[r, 3] = s2h
        state[r, 4] = s2l
        state[r, 5] = pos
