"""Technical indicators with TA-Lib's conventions, as state machines shared by batch and stream.

Every indicator is a small state machine: a ``*_step`` function takes the indicator's state
(plain floats) and one new bar and returns the new state and the output. The batch kernels
run the step over each row of a (symbols, time) block, keeping the state in registers, in
parallel across rows; the streaming kernels keep one row of state per symbol in an array and
run the very same step once per symbol. Same arithmetic in the same order, so a stream equals
the batch bit for bit at every bar.

Speed: once an indicator is past its seed, the EMA-family, RSI and ATR kernels switch to a
loop with the step's steady-state update only (the same helper functions, so the same
arithmetic) and no warm-up branches; divisions and square roots that are not on the
bar-to-bar chain (RSI's ratio, the Bollinger outputs, NATR) are stored for a second,
elementwise pass over the row, which LLVM vectorises. On one core an indicator costs 1.1 to
1.7 ns per bar (Bollinger Bands with %b and width about 4.3 ns).

Conventions (TA-Lib 0.6 "default" compatibility, unstable period 0), checked against TA-Lib in
tests/unit/kernels/test_ta.py:

- Lookback (leading NaNs): SMA, EMA, WMA p - 1; DEMA 2 (p - 1); TEMA 3 (p - 1); RSI, ATR,
  NATR, ROC, MOM p; MACD slow - 1 + signal - 1; BBANDS, STDDEV, VAR p - 1.
- EMA: k = 2 / (p + 1), seeded with the simple mean of its first p inputs. DEMA and TEMA chain
  EMAs, each seeded the same way on the previous one's outputs. MACD's fast EMA starts
  slow - fast bars late so that both EMAs' first values fall on the same bar (TA-Lib's
  behaviour; it differs from an EMA over the whole series).
- RSI and ATR are Wilder's: seeded with the simple mean of the first p gains/losses (true
  ranges), then avg = (avg (p - 1) + new) / p. RSI is 0 where average gain + average loss is 0
  (a constant series), as in TA-Lib.
- Standard deviation (BBANDS, STDDEV) and VAR are the population ones, from running sums of
  deviations from a recent anchor, recomputed exactly every period bars: a flat window gives
  exactly 0 (as TA-Lib 0.6 does), and values agree with TA-Lib to about 1e-12 relative. ROC
  is 0 where the value p bars back is 0; NATR is 0 where the close is 0.
- Arithmetic: recurrences are written with one fused multiply-add on the bar-to-bar chain
  (EMA val (1 - k) + x k, Wilder avg (p - 1) / p + new / p) where TA-Lib divides; values agree
  with TA-Lib to about 1e-14 relative.
- NaN: a bar with a NaN input is skipped: its output is NaN and the state does not move, so the
  indicator carries on from the last valid bar. For leading NaNs this is exactly TA-Lib's
  Python wrapper (the series starts at the first bar where every input is a number). TA-Lib
  itself lets a NaN inside the series poison its running sums (and what follows depends on how
  the library was compiled); skipping is the defined, documented alternative.

Other platforms' seeding (the ``compat`` argument; docs/indicator-compat.md): COMPAT_METASTOCK
is TA-Lib's Metastock compatibility (EMA, DEMA, TEMA and MACD's EMAs seeded with their first
input, RSI one value earlier); COMPAT_TRADINGVIEW is Pine's ``ta.*`` (ATR and NATR count the
first bar's high - low; MACD's EMAs both start on bar 0 and its line is output from the slow
EMA's first value). Only the seeding differs: past it every variant runs the same loop.

Layout: inputs are float64 arrays of shape (rows, n) (rows = symbols, time along the last
axis, C order); outputs are preallocated arrays of the same shape, or (k, rows, n) for
indicators with k outputs. 1-D series are the caller's ``x[None, :]``.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from greekfire.kernels._jit import fma_, njit, prange

__all__ = [
    "atr_run",
    "change_run",
    "ema_run",
    "macd_run",
    "realized_vol_run",
    "rsi_run",
    "sma_run",
    "state_size",
    "var_run",
    "vwap_run",
    "wma_run",
]

F64Array = npt.NDArray[np.float64]

NAN = math.nan

# Seeding conventions (the ``compat`` argument of the kernels that have one).
COMPAT_TALIB = 0  # TA-Lib's default compatibility
COMPAT_METASTOCK = 1  # TA-Lib's TA_COMPATIBILITY_METASTOCK
COMPAT_TRADINGVIEW = 2  # Pine Script's ta.* built-ins


# --- steps: (state..., inputs) -> (state..., output) -------------------------------------
#
# ``n`` counts the bars fed since the start (a float, so that a state row is all float64).


@njit(inline="always")
def sma_step(
    n: float, total: float, x: float, x_old: float, period: int
) -> tuple[float, float, float]:
    """Simple moving average. ``x_old`` is the oldest value of the window ending at ``x``
    (x p - 1 bars back), removed after the output as TA-Lib does; ignored while warming up.
    Returns (n, total, out)."""
    n += 1.0
    total += x
    if n < period:
        return n, total, NAN
    out = total / period
    total -= x_old
    return n, total, out


@njit(inline="always")
def ema_step(
    n: float, acc: float, val: float, x: float, period: int, k: float, compat: int
) -> tuple[float, float, float, float]:
    """EMA seeded with the mean of its first ``period`` inputs or, with COMPAT_METASTOCK,
    with its first input (then updated from the second; the output still starts on input
    ``period``). Returns (n, acc, val, out).

    TA-Lib writes the update (x - val) k + val; val (1 - k) + x k is the same average with
    one fused multiply-add on the bar-to-bar dependency chain instead of three operations
    (they differ by rounding, about 1e-16 relative, and the EMA does not accumulate it).
    """
    n += 1.0
    if compat == COMPAT_METASTOCK:
        val = x if n == 1.0 else ema_next(val, x, k)
        return n, acc, val, (val if n >= period else NAN)
    if n < period:
        return n, acc + x, val, NAN
    if n == period:
        acc += x
        val = acc / period
        return n, acc, val, val
    val = ema_next(val, x, k)
    return n, acc, val, val


@njit(inline="always")
def ema_next(val: float, x: float, k: float) -> float:
    """One EMA update past the seed, val (1 - k) + x k (the steady-state loops call it too)."""
    return fma_(val, 1.0 - k, x * k)


@njit(inline="always")
def wma_step(
    n: float, sub: float, wsum: float, trailing: float, x: float, x_old: float, period: int
) -> tuple[float, float, float, float, float]:
    """Linearly weighted moving average (weights 1..p) with TA-Lib's running sums.
    Returns (n, sub, wsum, trailing, out); ``x_old`` as in :func:`sma_step`."""
    n += 1.0
    if n < period:
        return n, sub + x, wsum + x * n, trailing, NAN
    sub += x
    sub -= trailing
    wsum += x * period
    out = wsum / (period * (period + 1) // 2)
    wsum -= sub
    return n, sub, wsum, x_old, out


@njit(inline="always")
def rsi_step(
    n: float, prev: float, gain: float, loss: float, x: float, period: int, compat: int
) -> tuple[float, float, float, float, float]:
    """Wilder's RSI as TA-Lib computes it: the first ``period`` differences are summed and
    averaged, later ones smoothed, avg = (avg (p - 1) + new) / p (here avg w + new / p with
    w = (p - 1) / p, one fused multiply-add on the dependency chain; within 1e-15 of TA-Lib's
    division). A difference counts as a gain unless it is negative (a NaN joins the gains, as
    in TA-Lib). COMPAT_METASTOCK adds one value a bar earlier, on input p: the first p - 1
    differences (and a difference of 0 before the first bar) summed and divided by p; the
    averages go on from the usual seed. Returns (n, prev, avg gain, avg loss, out)."""
    n += 1.0
    if n == 1.0:
        return n, x, 0.0, 0.0, NAN
    if n > period + 1.0:
        gain, loss = _rsi_update(gain, loss, x - prev, period)
        return n, x, gain, loss, rsi_value(gain, gain + loss)
    up_part, down_part = _gain_loss(x - prev)
    gain += up_part
    loss += down_part
    if n <= period:
        if n == period and compat == COMPAT_METASTOCK:
            g = gain / period
            return n, x, gain, loss, rsi_value(g, g + loss / period)
        return n, x, gain, loss, NAN
    gain /= period
    loss /= period
    return n, x, gain, loss, rsi_value(gain, gain + loss)


@njit(inline="always")
def _rsi_update(gain: float, loss: float, diff: float, period: int) -> tuple[float, float]:
    # Wilder's smoothing of the average gain and loss past the seed.
    up_part, down_part = _gain_loss(diff)
    return wilder_next(gain, up_part, period), wilder_next(loss, down_part, period)


@njit(inline="always")
def _gain_loss(diff: float) -> tuple[float, float]:
    # A difference counts as a gain unless it is negative (a NaN joins the gains).
    down = diff < 0.0
    return (0.0 if down else diff), (-diff if down else 0.0)


@njit(inline="always")
def wilder_next(avg: float, new: float, period: int) -> float:
    """Wilder's smoothing past the seed, avg (p - 1) / p + new / p (one fused multiply-add)."""
    inv_p = 1.0 / period  # constants: LLVM hoists them out of the caller's bar loop
    return fma_(avg, (period - 1) * inv_p, new * inv_p)


@njit(inline="always")
def rsi_value(gain: float, total: float) -> float:
    """100 gain / (gain + loss), 0 where the total is 0."""
    return 100.0 * (gain / total) if total != 0.0 else 0.0


@njit(inline="always")
def true_range(high: float, low: float, prev_close: float) -> float:
    """max(high - low, |prev close - high|, |prev close - low|), in TA-Lib's order."""
    greatest = high - low
    v2 = abs(prev_close - high)
    greatest = v2 if v2 > greatest else greatest
    v3 = abs(prev_close - low)
    return v3 if v3 > greatest else greatest


@njit(inline="always")
def atr_step(
    n: float,
    prev_close: float,
    avg: float,
    high: float,
    low: float,
    close: float,
    period: int,
    compat: int,
) -> tuple[float, float, float, float]:
    """Wilder's average true range, seeded with the mean of the first ``period`` true ranges.
    The first bar has no true range (TA-Lib: first value on bar p + 1) or, with
    COMPAT_TRADINGVIEW, its high - low (Pine's ``ta.tr(true)``: first value on bar p).
    Returns (n, prev close, avg, out)."""
    n += 1.0
    if n == 1.0:
        if compat != COMPAT_TRADINGVIEW:
            return n, close, 0.0, NAN
        tr = high - low
    else:
        tr = true_range(high, low, prev_close)
    first = period + (0.0 if compat == COMPAT_TRADINGVIEW else 1.0)
    if n < first:
        return n, close, avg + tr, NAN
    if n == first:
        avg = (avg + tr) / period
        return n, close, avg, avg
    avg = wilder_next(avg, tr, period)
    return n, close, avg, avg


@njit(inline="always")
def _two_sum(a: float, b: float) -> tuple[float, float]:
    # a + b = s + e exactly (Knuth).
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@njit(inline="always")
def _neumaier(s: float, c: float, x: float) -> tuple[float, float]:
    # Compensated running sum: s + c tracks the exact sum; the chain through s is one addition.
    t = s + x
    c += (s - t) + x if abs(s) >= abs(x) else (x - t) + s
    return t, c


@njit(inline="always")
def var_step(
    n: float,
    s1h: float,
    s1l: float,
    s2h: float,
    s2l: float,
    x: float,
    x_old: float,
    period: int,
) -> tuple[float, float, float, float, float, float, float]:
    """Window mean and population variance from compensated running sums of x and x^2 (each a
    sum and its correction, Neumaier), with S2 - S1^2 / p formed in double-double: the sums are
    exact to far below an ulp and the variance does not suffer the cancellation of
    mean(x^2) - mean(x)^2 (with plain sums a flat window of prices near 50 reads a standard
    deviation of 1e-6 instead of 0). ``x_old`` as in :func:`sma_step`. Returns (n, the sums and
    their corrections, mean, variance)."""
    n += 1.0
    s1h, s1l = _neumaier(s1h, s1l, x)
    sq = x * x
    s2h, s2l = _neumaier(s2h, s2l, sq)
    s2l += fma_(x, x, -sq)
    if n < period:
        return n, s1h, s1l, s2h, s2l, NAN, NAN
    # mean = S1 / p in double-double, then D = S2 - S1 * mean, variance = D / p.
    pf = float(period)
    inv_p = 1.0 / pf  # hoisted out of the bar loop; the residual below makes up its rounding
    m_hi = s1h * inv_p
    m_lo = (fma_(-m_hi, pf, s1h) + s1l) * inv_p
    ph = s1h * m_hi
    pe = fma_(s1h, m_hi, -ph) + (s1h * m_lo + s1l * m_hi)
    d, e = _two_sum(s2h, -ph)
    var = (d + ((e + s2l) - pe)) * inv_p
    mean = m_hi + m_lo
    s1h, s1l = _neumaier(s1h, s1l, -x_old)
    sq_old = x_old * x_old
    s2h, s2l = _neumaier(s2h, s2l, -sq_old)
    s2l -= fma_(x_old, x_old, -sq_old)
    return n, s1h, s1l, s2h, s2l, mean, var


@njit(inline="always")
def sd_from_var(var: float) -> float:
    """TA-Lib's standard deviation: 0 where the variance from running sums rounds to <= 0."""
    return 0.0 if var <= 0.0 else math.sqrt(var)  # NaN stays NaN


# --- run kernels ---------------------------------------------------------------------------
#
# ``*_run(inputs (rows, T), state (rows, S), params..., out)`` advances every row's state over
# T bars and writes the T outputs; it is the batch kernel (from a zero state, T = the whole
# series) and the streaming kernel (T = 1) at once, so the two cannot drift apart. Each row's
# state is loaded into locals, advanced, and stored back. A state row starts as zeros; slot 0
# is always the number of bars fed since the first valid one (0 means "not started", and a NaN
# bar before the start is skipped, as TA-Lib's wrapper skips leading NaNs). Window indicators
# keep their last ``period`` inputs in a ring buffer at the end of the row.


def state_size(kind: str, period: int = 0) -> int:
    """Length of one symbol's state row for indicator ``kind`` (see the ``*_run`` kernels)."""
    sizes = {
        "sma": 3 + period,
        "wma": 5 + period,
        "var": 7 + period,
        "ema": 3,
        "dema": 6,
        "tema": 9,
        "macd": 9,
        "rsi": 4,
        "atr": 3,
        "change": 2 + period,
        "realized_vol": 8 + period,
        "vwap": 6,
    }
    return sizes[kind]


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


@njit(parallel=True)
def sma_run(x: F64Array, state: F64Array, period: int, out: F64Array) -> None:
    """SMA over ``period`` bars. State: n, running total, ring position, ring[period]."""
    rows, t_len = x.shape
    for r in prange(rows):
        n = state[r, 0]
        total = state[r, 1]
        pos = int(state[r, 2])
        for t in range(t_len):
            v = x[r, t]
            if math.isnan(v):
                out[r, t] = NAN
                continue
            pos, _, oldest = _ring_push(state, r, 3, pos, period, v)
            n, total, out[r, t] = sma_step(n, total, v, oldest, period)
        state[r, 0] = n
        state[r, 1] = total
        state[r, 2] = pos


@njit(parallel=True)
def wma_run(x: F64Array, state: F64Array, period: int, out: F64Array) -> None:
    """Weighted MA. State: n, sub, weighted sum, trailing, ring position, ring[period]."""
    rows, t_len = x.shape
    for r in prange(rows):
        n = state[r, 0]
        sub = state[r, 1]
        wsum = state[r, 2]
        trailing = state[r, 3]
        pos = int(state[r, 4])
        for t in range(t_len):
            v = x[r, t]
            if math.isnan(v):
                out[r, t] = NAN
                continue
            pos, _, oldest = _ring_push(state, r, 5, pos, period, v)
            n, sub, wsum, trailing, out[r, t] = wma_step(n, sub, wsum, trailing, v, oldest, period)
        state[r, 0] = n
        state[r, 1] = sub
        state[r, 2] = wsum
        state[r, 3] = trailing
        state[r, 4] = pos


@njit(inline="always")
def _deviation_sums(
    state: F64Array, r: int, base: int, period: int, anchor: float
) -> tuple[float, float]:
    # Sum and sum of squares of the ring's deviations from ``anchor``, in four interleaved
    # partial sums (a single running sum would be one long chain of dependent additions).
    a1 = 0.0
    b1 = 0.0
    c1 = 0.0
    e1 = 0.0
    a2 = 0.0
    b2 = 0.0
    c2 = 0.0
    e2 = 0.0
    j = 0
    while j + 4 <= period:
        d = state[r, base + j] - anchor
        a1 += d
        a2 = fma_(d, d, a2)
        d = state[r, base + j + 1] - anchor
        b1 += d
        b2 = fma_(d, d, b2)
        d = state[r, base + j + 2] - anchor
        c1 += d
        c2 = fma_(d, d, c2)
        d = state[r, base + j + 3] - anchor
        e1 += d
        e2 = fma_(d, d, e2)
        j += 4
    while j < period:
        d = state[r, base + j] - anchor
        a1 += d
        a2 = fma_(d, d, a2)
        j += 1
    return (a1 + b1) + (c1 + e1), (a2 + b2) + (c2 + e2)


@njit(inline="always")
def _bands(v: float, mean: float, sd: float, nbdev: float, out: F64Array, r: int, t: int) -> bool:
    # Bollinger outputs from the window mean and standard deviation: upper, middle, lower,
    # %b = (v - lower) / (upper - lower), width = (upper - lower) / middle, with one division
    # for both ratios. Returns whether that division was by 0 (a flat window or a zero
    # middle): the caller then fixes the ratios with _band_ratios_at_zero.
    upper = mean + nbdev * sd
    lower = mean - nbdev * sd
    band = upper - lower
    prod = band * mean
    inv = 1.0 / prod
    out[0, r, t] = upper
    out[1, r, t] = mean
    out[2, r, t] = lower
    out[3, r, t] = (v - lower) * mean * inv
    out[4, r, t] = band * band * inv
    return prod == 0.0


@njit(inline="always")
def _band_ratios_at_zero(v: float, out: F64Array, r: int, t: int) -> None:
    # %b and width where band * middle is 0: each ratio on its own, NaN where its own
    # denominator is 0.
    upper = out[0, r, t]
    mean = out[1, r, t]
    lower = out[2, r, t]
    band = upper - lower
    if band * mean == 0.0:
        out[3, r, t] = (v - lower) / band if band != 0.0 else NAN
        out[4, r, t] = band / mean if mean != 0.0 else NAN


@njit(inline="always")
def _var_outputs(x: F64Array, out: F64Array, r: int, mode: int, nbdev: float) -> None:
    # From the variances in out[0] (and means in out[1]) of row r: the standard deviation
    # x nbdev (mode 1) or the five Bollinger outputs (mode 2); elementwise, so it vectorises.
    t_len = x.shape[1]
    if mode == 1:
        for t in range(t_len):
            out[0, r, t] = sd_from_var(out[0, r, t]) * nbdev
    elif mode == 2:
        zeros = 0
        for t in range(t_len):
            zeros += _bands(x[r, t], out[1, r, t], sd_from_var(out[0, r, t]), nbdev, out, r, t)
        if zeros:  # rare (flat windows): kept out of the vectorised loop
            for t in range(t_len):
                _band_ratios_at_zero(x[r, t], out, r, t)


@njit(parallel=True)
def var_run(
    x: F64Array, state: F64Array, period: int, mode: int, nbdev: float, out: F64Array
) -> None:
    """Rolling population variance (mode 0), standard deviation x nbdev (mode 1, TA-Lib's
    STDDEV), or Bollinger Bands (mode 2, out (5, rows, T): upper, middle, lower, %b, width,
    with nbdev for both bands; the middle band is the window mean).

    The window sums are of deviations from an anchor, a recent value of the series, and are
    recomputed exactly from the ring buffer every ``period`` bars (the anchor moves to the
    current value then): the cancellation in mean(d^2) - mean(d)^2 is of the size of the
    recent moves, not of the price level, and rounding cannot build up over a long stream.
    A window of ``period`` equal values gives mean = the value and variance exactly 0, as
    TA-Lib does. %b = (x - lower) / (upper - lower) and width = (upper - lower) / middle are
    NaN where their denominator is 0 (a flat window, a zero middle).

    State: n, sum and sum of squares of the deviations, anchor, bars since the last
    recomputation, length of the current run of equal values, ring position, ring[period].
    """
    rows, t_len = x.shape
    inv_p = 1.0 / period
    for r in prange(rows):
        n = state[r, 0]
        s1 = state[r, 1]
        s2 = state[r, 2]
        anchor = state[r, 3]
        since = state[r, 4]
        run = state[r, 5]
        pos = int(state[r, 6])
        last = state[r, 7 + (pos - 1 if pos > 0 else period - 1)]  # the previous valid input
        for t in range(t_len):
            v = x[r, t]
            mean = NAN
            var = NAN
            if not math.isnan(v):
                pos, replaced, _ = _ring_push(state, r, 7, pos, period, v)
                n += 1.0
                run = run + 1.0 if (n > 1.0 and v == last) else 1.0
                last = v
                if n == 1.0:
                    anchor = v
                if n > period and since >= period:
                    # Re-anchor on the current value and recompute the window sums exactly.
                    anchor = v
                    s1, s2 = _deviation_sums(state, r, 7, period, anchor)
                    since = 0.0
                else:
                    d_new = v - anchor
                    d_old = replaced - anchor if n > period else 0.0
                    s1 += d_new - d_old
                    s2 += d_new * d_new - d_old * d_old
                    since += 1.0
                if n >= period:
                    if run >= period:
                        mean = v
                        var = 0.0
                    else:
                        m = s1 * inv_p
                        mean = anchor + m
                        var = s2 * inv_p - m * m
            # The recurrence stores the variance (and the mean); the elementwise rest (square
            # root, bands, ratios) runs below over the whole row, where it vectorises.
            out[0, r, t] = var
            if mode == 2:
                out[1, r, t] = mean
        _var_outputs(x, out, r, mode, nbdev)
        state[r, 0] = n
        state[r, 1] = s1
        state[r, 2] = s2
        state[r, 3] = anchor
        state[r, 4] = since
        state[r, 5] = run
        state[r, 6] = pos


@njit(inline="always")
def _ema_seed(
    x: F64Array,
    state: F64Array,
    out: F64Array,
    r: int,
    period: int,
    depth: int,
    k: float,
    compat: int,
) -> int:
    # Run row r with ema_step until every EMA of the chain has its first value (or the bars
    # end); returns the next bar. State: (n, acc, val) per EMA.
    t_len = x.shape[1]
    n1 = state[r, 0]
    a1 = state[r, 1]
    v1 = state[r, 2]
    n2 = state[r, 3] if depth > 1 else 0.0
    a2 = state[r, 4] if depth > 1 else 0.0
    v2 = state[r, 5] if depth > 1 else 0.0
    n3 = state[r, 6] if depth > 2 else 0.0
    a3 = state[r, 7] if depth > 2 else 0.0
    v3 = state[r, 8] if depth > 2 else 0.0
    t = 0
    while t < t_len and (n1 if depth == 1 else n2 if depth == 2 else n3) < period:
        v = x[r, t]
        out[r, t] = NAN
        t += 1
        if math.isnan(v):
            continue
        n1, a1, v1, e1 = ema_step(n1, a1, v1, v, period, k, compat)
        if depth == 1:
            out[r, t - 1] = e1
        elif n1 >= period:
            n2, a2, v2, e2 = ema_step(n2, a2, v2, e1, period, k, compat)
            if depth == 2:
                out[r, t - 1] = 2.0 * e1 - e2
            elif n2 >= period:
                n3, a3, v3, e3 = ema_step(n3, a3, v3, e2, period, k, compat)
                out[r, t - 1] = 3.0 * e1 - 3.0 * e2 + e3
    state[r, 0] = n1
    state[r, 1] = a1
    state[r, 2] = v1
    if depth > 1:
        state[r, 3] = n2
        state[r, 4] = a2
        state[r, 5] = v2
    if depth > 2:
        state[r, 6] = n3
        state[r, 7] = a3
        state[r, 8] = v3
    return t


@njit(inline="always")
def _ema1_steady(xs: F64Array, os: F64Array, v1: float, k: float) -> tuple[float, float]:
    # EMA past its seed over xs into os; returns (val, valid bars). A NaN leaves the inner
    # loop instead of being blended into the update (a select on the fused multiply-add's
    # chain would lengthen it).
    m = xs.shape[0]
    fed = 0.0
    u = 0
    while u < m:
        while u < m:
            v = xs[u]
            if math.isnan(v):
                break
            v1 = ema_next(v1, v, k)
            os[u] = v1
            u += 1
            fed += 1.0
        if u < m:
            os[u] = NAN
            u += 1
    return v1, fed


@njit(inline="always")
def _ema23_steady(
    xs: F64Array, os: F64Array, v1: float, v2: float, v3: float, k: float, depth: int
) -> tuple[float, float, float, float]:
    # DEMA (depth 2) or TEMA (3) past the seeds; returns (vals, valid bars).
    fed = 0.0
    for u in range(xs.shape[0]):
        v = xs[u]
        os[u] = NAN
        if not math.isnan(v):
            fed += 1.0
            v1 = ema_next(v1, v, k)
            v2 = ema_next(v2, v1, k)
            if depth == 2:
                os[u] = 2.0 * v1 - v2
            else:
                v3 = ema_next(v3, v2, k)
                os[u] = 3.0 * v1 - 3.0 * v2 + v3
    return v1, v2, v3, fed


@njit(parallel=True)
def ema_run(
    x: F64Array, state: F64Array, period: int, depth: int, out: F64Array, compat: int = 0
) -> None:
    """EMA (depth 1), DEMA (2: 2 e1 - e2) or TEMA (3: 3 e1 - 3 e2 + e3), k = 2 / (p + 1),
    each EMA seeded with the mean of its first ``period`` inputs (COMPAT_METASTOCK: with its
    first input; each EMA of the chain starts on the previous one's first value). Same
    lookback either way. State: (n, acc, val) per EMA.

    Each row runs ema_step while seeding, then the same update past the seed without its
    branches, on row views from the first steady bar (indexed from 0, so that numba drops its
    negative-index handling).
    """
    rows = x.shape[0]
    k = 2.0 / (period + 1)
    for r in prange(rows):
        t = _ema_seed(x, state, out, r, period, depth, k, compat)
        xs = x[r, t:]
        os = out[r, t:]
        if depth == 1:
            state[r, 2], fed = _ema1_steady(xs, os, state[r, 2], k)
        else:
            v3 = state[r, 8] if depth > 2 else 0.0
            state[r, 2], state[r, 5], v3, fed = _ema23_steady(
                xs, os, state[r, 2], state[r, 5], v3, k, depth
            )
            state[r, 3] += fed
            if depth > 2:
                state[r, 8] = v3
                state[r, 6] += fed
        state[r, 0] += fed


@njit(parallel=True)
def macd_run(
    x: F64Array,
    state: F64Array,
    fast: int,
    slow: int,
    signal: int,
    out: F64Array,
    compat: int = 0,
) -> None:
    """MACD line, signal, histogram into ``out`` (3, rows, T). State: (n, acc, val) of the
    slow, fast and signal EMAs.

    As TA-Lib: the fast EMA starts ``slow - fast`` bars after the slow one, so both give their
    first value on bar ``slow - 1``; outputs start on bar ``slow + signal - 2``.
    COMPAT_METASTOCK: both EMAs start on bar 0, seeded with its value, and the signal EMA is
    seeded with the first MACD value (bar ``slow - 1``); same lookback.
    COMPAT_TRADINGVIEW (Pine's ta.macd): both EMAs start on bar 0, seeded with simple means,
    the MACD line is output from bar ``slow - 1``, signal and histogram from
    ``slow + signal - 2``.
    """
    rows, t_len = x.shape
    kf = 2.0 / (fast + 1)
    ks = 2.0 / (slow + 1)
    kg = 2.0 / (signal + 1)
    for r in prange(rows):
        ns = state[r, 0]
        a_s = state[r, 1]
        vs = state[r, 2]
        nf = state[r, 3]
        af = state[r, 4]
        vf = state[r, 5]
        ng = state[r, 6]
        ag = state[r, 7]
        vg = state[r, 8]
        t = 0
        # Seeding: until the signal EMA has its first value.
        while t < t_len and ng < signal:
            v = x[r, t]
            o_line = o_sig = o_hist = NAN
            if not math.isnan(v):
                ns, a_s, vs, es = ema_step(ns, a_s, vs, v, slow, ks, compat)
                if ns > (slow - fast if compat == COMPAT_TALIB else 0):
                    nf, af, vf, ef = ema_step(nf, af, vf, v, fast, kf, compat)
                    if ns >= slow:
                        line = ef - es
                        ng, ag, vg, sig = ema_step(ng, ag, vg, line, signal, kg, compat)
                        if compat == COMPAT_TRADINGVIEW:
                            o_line = line
                        if ng >= signal:
                            o_line = line
                            o_sig = sig
                            o_hist = line - sig
            out[0, r, t] = o_line
            out[1, r, t] = o_sig
            out[2, r, t] = o_hist
            t += 1
        # Steady state: ema_step's updates past the seeds, without its branches (on row views
        # from t, indexed from 0, so that numba drops its negative-index handling).
        xs = x[r, t:]
        line_out = out[0, r, t:]
        sig_out = out[1, r, t:]
        hist_out = out[2, r, t:]
        fed = 0.0
        for u in range(t_len - t):
            v = xs[u]
            if math.isnan(v):
                line_out[u] = NAN
                sig_out[u] = NAN
                hist_out[u] = NAN
                continue
            fed += 1.0
            vs = ema_next(vs, v, ks)
            vf = ema_next(vf, v, kf)
            line = vf - vs
            vg = ema_next(vg, line, kg)
            line_out[u] = line
            sig_out[u] = vg
            hist_out[u] = line - vg
        ns += fed
        nf += fed
        ng += fed
        state[r, 0] = ns
        state[r, 1] = a_s
        state[r, 2] = vs
        state[r, 3] = nf
        state[r, 4] = af
        state[r, 5] = vf
        state[r, 6] = ng
        state[r, 7] = ag
        state[r, 8] = vg


_DEFER_MIN = 64  # bars from which a kernel moves its divisions out of the recurrence loop
_BLOCK = 16  # rows per parallel task in kernels that need a scratch row


@njit(parallel=True)
def rsi_run(x: F64Array, state: F64Array, period: int, out: F64Array, compat: int = 0) -> None:
    """Wilder's RSI (COMPAT_METASTOCK: one more value, a bar earlier; see rsi_step). State:
    n, previous value, average gain, average loss."""
    rows, t_len = x.shape
    # Rows in blocks of _BLOCK, one scratch row per block (for the deferred divisions).
    deferred = t_len >= _DEFER_MIN
    for b in prange((rows + _BLOCK - 1) // _BLOCK):
        scratch = np.empty(t_len if deferred else 0)
        for r in range(b * _BLOCK, min(rows, (b + 1) * _BLOCK)):
            n = state[r, 0]
            prev = state[r, 1]
            gain = state[r, 2]
            loss = state[r, 3]
            t = 0
            while t < t_len and n <= period + 1.0:  # seeding (the first value is on n = p + 1)
                v = x[r, t]
                if math.isnan(v):
                    out[r, t] = NAN
                else:
                    n, prev, gain, loss, out[r, t] = rsi_step(
                        n, prev, gain, loss, v, period, compat
                    )
                t += 1
            # Steady state: rsi_step's updates without its branches, on row views from t
            # (indexed from 0, so that numba drops its negative-index handling). On a long
            # series the gains go to the scratch row and the averages' totals to ``out``, and
            # the divisions run afterwards, vectorised; a stream's bar divides in the loop.
            xs = x[r, t:]
            os = out[r, t:]
            fed = 0.0
            if deferred:
                for u in range(t_len - t):
                    v = xs[u]
                    scratch[u] = NAN
                    os[u] = NAN
                    if not math.isnan(v):
                        fed += 1.0
                        gain, loss = _rsi_update(gain, loss, v - prev, period)
                        prev = v
                        scratch[u] = gain
                        os[u] = gain + loss
                for u in range(t_len - t):
                    os[u] = rsi_value(scratch[u], os[u])
            else:
                for u in range(t_len - t):
                    v = xs[u]
                    os[u] = NAN
                    if not math.isnan(v):
                        fed += 1.0
                        gain, loss = _rsi_update(gain, loss, v - prev, period)
                        prev = v
                        os[u] = rsi_value(gain, gain + loss)
            n += fed
            state[r, 0] = n
            state[r, 1] = prev
            state[r, 2] = gain
            state[r, 3] = loss


@njit(inline="always")
def _natr(atr: float, close: float) -> float:
    return (atr / close) * 100.0 if close != 0.0 else 0.0


@njit(parallel=True)
def atr_run(
    high: F64Array,
    low: F64Array,
    close: F64Array,
    state: F64Array,
    period: int,
    normalised: bool,
    out: F64Array,
    compat: int = 0,
) -> None:
    """Wilder's ATR, or NATR = 100 ATR / close (0 where the close is 0, as the installed TA-Lib
    does) when ``normalised``. The series starts at the first bar where high, low and close
    are all numbers. COMPAT_TRADINGVIEW: the first bar's true range is its high - low, so the
    first value comes a bar earlier (see atr_step). State: n, previous close, average."""
    rows, t_len = close.shape
    for r in prange(rows):
        n = state[r, 0]
        prev = state[r, 1]
        avg = state[r, 2]
        t = 0
        while t < t_len and n <= period + 1.0:  # seeding (the first value is on n = p + 1)
            h = high[r, t]
            lo = low[r, t]
            c = close[r, t]
            t += 1
            if math.isnan(h) or math.isnan(lo) or math.isnan(c):
                out[r, t - 1] = NAN
                continue
            n, prev, avg, v = atr_step(n, prev, avg, h, lo, c, period, compat)
            out[r, t - 1] = _natr(v, c) if normalised else v
        # Steady state: atr_step's update without its branches (on row views from t, indexed
        # from 0, so that numba drops its negative-index handling).
        hs = high[r, t:]
        ls = low[r, t:]
        cs = close[r, t:]
        os = out[r, t:]
        fed = 0.0
        for u in range(t_len - t):
            h = hs[u]
            lo = ls[u]
            c = cs[u]
            if math.isnan(h) or math.isnan(lo) or math.isnan(c):
                os[u] = NAN
                continue
            fed += 1.0
            avg = wilder_next(avg, true_range(h, lo, prev), period)
            prev = c
            os[u] = avg
        if normalised:  # NATR: the divisions afterwards, on the bars that were not skipped
            for u in range(t_len - t):
                if not (math.isnan(hs[u]) or math.isnan(ls[u]) or math.isnan(cs[u])):
                    os[u] = _natr(os[u], cs[u])
        n += fed
        state[r, 0] = n
        state[r, 1] = prev
        state[r, 2] = avg


@njit(parallel=True)
def change_run(x: F64Array, state: F64Array, period: int, percent: bool, out: F64Array) -> None:
    """Momentum x - x[-period] or, when ``percent``, TA-Lib's ROC 100 (x / x[-period] - 1)
    (0 where x[-period] is 0). State: n, ring position, ring[period]."""
    rows, t_len = x.shape
    for r in prange(rows):
        n = state[r, 0]
        pos = int(state[r, 1])
        for t in range(t_len):
            v = x[r, t]
            if math.isnan(v):
                out[r, t] = NAN
                continue
            pos, old, _ = _ring_push(state, r, 2, pos, period, v)
            n += 1.0
            if n <= period:
                out[r, t] = NAN
            elif percent:
                out[r, t] = ((v / old) - 1.0) * 100.0 if old != 0.0 else 0.0
            else:
                out[r, t] = v - old
        state[r, 0] = n
        state[r, 1] = pos


# --- realized volatility and VWAP (not in TA-Lib) -------------------------------------------

RV_CLOSE_TO_CLOSE = 0
RV_PARKINSON = 1
RV_GARMAN_KLASS = 2
_GK_C = 2.0 * math.log(2.0) - 1.0


@njit(parallel=True)
def realized_vol_run(
    open_: F64Array,
    high: F64Array,
    low: F64Array,
    close: F64Array,
    state: F64Array,
    period: int,
    method: int,
    periods_per_year: float,
    out: F64Array,
) -> None:
    """Annualised realized volatility over ``period`` bars, in decimals (0.2 = 20 %).

    - ``RV_CLOSE_TO_CLOSE``: sample standard deviation (ddof 1) of the last ``period`` log
      returns ln(c / c_prev), times sqrt(periods_per_year); needs period + 1 closes.
    - ``RV_PARKINSON``: sqrt(periods_per_year / (4 ln 2) * mean of ln(h / l)^2).
    - ``RV_GARMAN_KLASS``: sqrt(periods_per_year * mean of 0.5 ln(h / l)^2
      - (2 ln 2 - 1) ln(c / o)^2), 0 if that mean is negative.

    Only the inputs a method reads must be numbers (close-to-close reads the close alone); a
    bar with a NaN in one of them is skipped. State: n (terms fed), has-previous-close flag,
    previous close, the window sums of the per-bar term and of its square (compensated,
    4 words), ring position, ring[period].
    """
    rows, t_len = close.shape
    c2c = method == RV_CLOSE_TO_CLOSE
    for r in prange(rows):
        n = state[r, 0]
        has_prev = state[r, 1]
        prev = state[r, 2]
        s1h = state[r, 3]
        s1l = state[r, 4]
        s2h = state[r, 5]
        s2l = state[r, 6]
        pos = int(state[r, 7])
        for t in range(t_len):
            o = open_[r, t]
            h = high[r, t]
            lo = low[r, t]
            c = close[r, t]
            out[r, t] = NAN
            if c2c:
                if math.isnan(c):
                    continue
                if has_prev == 0.0:
                    has_prev = 1.0
                    prev = c
                    continue
                term = math.log(c / prev)
                prev = c
            elif method == RV_PARKINSON:
                if math.isnan(h) or math.isnan(lo):
                    continue
                hl = math.log(h / lo)
                term = hl * hl
            else:
                if math.isnan(o) or math.isnan(h) or math.isnan(lo) or math.isnan(c):
                    continue
                hl = math.log(h / lo)
                co = math.log(c / o)
                term = 0.5 * hl * hl - _GK_C * co * co
            pos, _, oldest = _ring_push(state, r, 8, pos, period, term)
            n, s1h, s1l, s2h, s2l, mean, var = var_step(n, s1h, s1l, s2h, s2l, term, oldest, period)
            if math.isnan(mean):
                continue
            if c2c:
                sample = var * period / (period - 1)
                out[r, t] = math.sqrt(sample * periods_per_year) if sample > 0.0 else 0.0
            elif method == RV_PARKINSON:
                out[r, t] = math.sqrt(periods_per_year * mean / (4.0 * math.log(2.0)))
            else:
                out[r, t] = math.sqrt(periods_per_year * mean) if mean > 0.0 else 0.0
        state[r, 0] = n
        state[r, 1] = has_prev
        state[r, 2] = prev
        state[r, 3] = s1h
        state[r, 4] = s1l
        state[r, 5] = s2h
        state[r, 6] = s2l
        state[r, 7] = pos


@njit(parallel=True)
def vwap_run(
    high: F64Array,
    low: F64Array,
    close: F64Array,
    volume: F64Array,
    session: F64Array,
    state: F64Array,
    out: F64Array,
) -> None:
    """Session-anchored VWAP of the typical price (h + l + c) / 3, restarting whenever the
    ``session`` key changes (e.g. the trading date). NaN until the session has volume; a bar
    with a NaN input is skipped. State: started flag, session key, sum of price x volume and
    of volume (each compensated: 4 words)."""
    rows, t_len = close.shape
    for r in prange(rows):
        started = state[r, 0]
        key = state[r, 1]
        pvh = state[r, 2]
        pvl = state[r, 3]
        vh = state[r, 4]
        vl = state[r, 5]
        for t in range(t_len):
            h = high[r, t]
            lo = low[r, t]
            c = close[r, t]
            v = volume[r, t]
            k = session[r, t]
            if math.isnan(h) or math.isnan(lo) or math.isnan(c) or math.isnan(v) or math.isnan(k):
                out[r, t] = NAN
                continue
            if started == 0.0 or k != key:
                started = 1.0
                key = k
                pvh = pvl = vh = vl = 0.0
            tp = (h + lo + c) / 3.0
            pvh, pvl = _neumaier(pvh, pvl, tp * v)
            vh, vl = _neumaier(vh, vl, v)
            total_v = vh + vl
            out[r, t] = (pvh + pvl) / total_v if total_v > 0.0 else NAN
        state[r, 0] = started
        state[r, 1] = key
        state[r, 2] = pvh
        state[r, 3] = pvl
        state[r, 4] = vh
        state[r, 5] = vl
