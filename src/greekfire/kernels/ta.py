"""Technical indicators with TA-Lib's conventions, as state machines shared by batch and stream.

Every indicator is a small state machine: a ``*_step`` function takes the indicator's state
(plain floats) and one new bar and returns the new state and the output. The batch kernels
run the step over each row of a (symbols, time) block, keeping the state in registers, in
parallel across rows; the streaming kernels keep one row of state per symbol in an array and
run the very same step once per symbol. Same arithmetic in the same order, so a stream equals
the batch bit for bit at every bar.

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
    n: float, acc: float, val: float, x: float, period: int, k: float
) -> tuple[float, float, float, float]:
    """EMA seeded with the mean of its first ``period`` inputs. Returns (n, acc, val, out).

    TA-Lib writes the update (x - val) k + val; val (1 - k) + x k is the same average with
    one fused multiply-add on the bar-to-bar dependency chain instead of three operations
    (they differ by rounding, about 1e-16 relative, and the EMA does not accumulate it).
    """
    n += 1.0
    if n < period:
        return n, acc + x, val, NAN
    if n == period:
        acc += x
        val = acc / period
        return n, acc, val, val
    val = fma_(val, 1.0 - k, x * k)
    return n, acc, val, val


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
    n: float, prev: float, gain: float, loss: float, x: float, period: int
) -> tuple[float, float, float, float, float]:
    """Wilder's RSI as TA-Lib computes it: the first ``period`` differences are summed and
    averaged, later ones smoothed, avg = (avg (p - 1) + new) / p (here avg w + new / p with
    w = (p - 1) / p, one fused multiply-add on the dependency chain; within 1e-15 of TA-Lib's
    division). A difference counts as a gain unless it is negative (a NaN joins the gains, as
    in TA-Lib). Returns (n, prev, avg gain, avg loss, out)."""
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
            return n, x, gain, loss, NAN
        gain /= period
        loss /= period
    else:
        inv_p = 1.0 / period  # constants: LLVM hoists them out of the caller's bar loop
        w = (period - 1) * inv_p
        gain = fma_(gain, w, up_part * inv_p)
        loss = fma_(loss, w, down_part * inv_p)
    total = gain + loss
    out = 100.0 * (gain / total) if total != 0.0 else 0.0
    return n, x, gain, loss, out


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
    n: float, prev_close: float, avg: float, high: float, low: float, close: float, period: int
) -> tuple[float, float, float, float]:
    """Wilder's average true range (the first bar has no true range). Returns
    (n, prev close, avg, out)."""
    n += 1.0
    if n == 1.0:
        return n, close, 0.0, NAN
    tr = true_range(high, low, prev_close)
    if n <= period:
        return n, close, avg + tr, NAN
    if n == period + 1.0:
        avg = (avg + tr) / period
        return n, close, avg, avg
    # Wilder's smoothing as in rsi_step: one fused multiply-add on the chain.
    inv_p = 1.0 / period
    avg = fma_(avg, (period - 1) * inv_p, tr * inv_p)
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
        for t in range(t_len):
            v = x[r, t]
            mean = NAN
            var = NAN
            if not math.isnan(v):
                last = state[r, 7 + (pos - 1 if pos > 0 else period - 1)]
                pos, replaced, _ = _ring_push(state, r, 7, pos, period, v)
                n += 1.0
                run = run + 1.0 if (n > 1.0 and v == last) else 1.0
                if n == 1.0:
                    anchor = v
                if n > period and since >= period:
                    # Re-anchor on the current value and recompute the window sums exactly.
                    anchor = v
                    s1 = 0.0
                    s2 = 0.0
                    for j in range(period):
                        d = state[r, 7 + j] - anchor
                        s1 += d
                        s2 += d * d
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
            if mode == 0:
                out[0, r, t] = var
            elif mode == 1:
                out[0, r, t] = sd_from_var(var) * nbdev
            else:
                sd = sd_from_var(var)
                upper = mean + nbdev * sd
                lower = mean - nbdev * sd
                band = upper - lower
                out[0, r, t] = upper
                out[1, r, t] = mean
                out[2, r, t] = lower
                prod = band * mean
                if prod != 0.0:  # one division for both ratios
                    inv = 1.0 / prod
                    out[3, r, t] = (v - lower) * mean * inv
                    out[4, r, t] = band * band * inv
                else:
                    out[3, r, t] = (v - lower) / band if band != 0.0 else NAN
                    out[4, r, t] = band / mean if mean != 0.0 else NAN
        state[r, 0] = n
        state[r, 1] = s1
        state[r, 2] = s2
        state[r, 3] = anchor
        state[r, 4] = since
        state[r, 5] = run
        state[r, 6] = pos


@njit(parallel=True)
def ema_run(x: F64Array, state: F64Array, period: int, depth: int, out: F64Array) -> None:
    """EMA (depth 1), DEMA (2: 2 e1 - e2) or TEMA (3: 3 e1 - 3 e2 + e3), k = 2 / (p + 1),
    each EMA seeded with the mean of its first ``period`` inputs. State: (n, acc, val) per EMA.
    """
    rows, t_len = x.shape
    k = 2.0 / (period + 1)
    for r in prange(rows):
        n1 = state[r, 0]
        a1 = state[r, 1]
        v1 = state[r, 2]
        n2 = state[r, 3] if depth > 1 else 0.0
        a2 = state[r, 4] if depth > 1 else 0.0
        v2 = state[r, 5] if depth > 1 else 0.0
        n3 = state[r, 6] if depth > 2 else 0.0
        a3 = state[r, 7] if depth > 2 else 0.0
        v3 = state[r, 8] if depth > 2 else 0.0
        for t in range(t_len):
            v = x[r, t]
            out[r, t] = NAN
            if math.isnan(v):
                continue
            n1, a1, v1, e1 = ema_step(n1, a1, v1, v, period, k)
            if depth == 1:
                out[r, t] = e1
            elif n1 >= period:
                n2, a2, v2, e2 = ema_step(n2, a2, v2, e1, period, k)
                if depth == 2:
                    out[r, t] = 2.0 * e1 - e2
                elif n2 >= period:
                    n3, a3, v3, e3 = ema_step(n3, a3, v3, e2, period, k)
                    out[r, t] = 3.0 * e1 - 3.0 * e2 + e3
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


@njit(parallel=True)
def macd_run(
    x: F64Array, state: F64Array, fast: int, slow: int, signal: int, out: F64Array
) -> None:
    """MACD line, signal, histogram into ``out`` (3, rows, T). State: (n, acc, val) of the
    slow, fast and signal EMAs.

    As TA-Lib: the fast EMA starts ``slow - fast`` bars after the slow one, so both give their
    first value on bar ``slow - 1``; outputs start on bar ``slow + signal - 2``.
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
        for t in range(t_len):
            v = x[r, t]
            o_line = o_sig = o_hist = NAN
            if not math.isnan(v):
                ns, a_s, vs, es = ema_step(ns, a_s, vs, v, slow, ks)
                if ns > slow - fast:
                    nf, af, vf, ef = ema_step(nf, af, vf, v, fast, kf)
                    if ns >= slow:
                        line = ef - es
                        ng, ag, vg, sig = ema_step(ng, ag, vg, line, signal, kg)
                        if ng >= signal:
                            o_line = line
                            o_sig = sig
                            o_hist = line - sig
            out[0, r, t] = o_line
            out[1, r, t] = o_sig
            out[2, r, t] = o_hist
        state[r, 0] = ns
        state[r, 1] = a_s
        state[r, 2] = vs
        state[r, 3] = nf
        state[r, 4] = af
        state[r, 5] = vf
        state[r, 6] = ng
        state[r, 7] = ag
        state[r, 8] = vg


@njit(parallel=True)
def rsi_run(x: F64Array, state: F64Array, period: int, out: F64Array) -> None:
    """Wilder's RSI. State: n, previous value, average gain, average loss."""
    rows, t_len = x.shape
    for r in prange(rows):
        n = state[r, 0]
        prev = state[r, 1]
        gain = state[r, 2]
        loss = state[r, 3]
        for t in range(t_len):
            v = x[r, t]
            if math.isnan(v):
                out[r, t] = NAN
                continue
            n, prev, gain, loss, out[r, t] = rsi_step(n, prev, gain, loss, v, period)
        state[r, 0] = n
        state[r, 1] = prev
        state[r, 2] = gain
        state[r, 3] = loss


@njit(parallel=True)
def atr_run(
    high: F64Array,
    low: F64Array,
    close: F64Array,
    state: F64Array,
    period: int,
    normalised: bool,
    out: F64Array,
) -> None:
    """Wilder's ATR, or NATR = 100 ATR / close (0 where the close is within 1e-8 of 0) when
    ``normalised``. The series starts at the first bar where high, low and close are all
    numbers. State: n, previous close, average."""
    rows, t_len = close.shape
    for r in prange(rows):
        n = state[r, 0]
        prev = state[r, 1]
        avg = state[r, 2]
        for t in range(t_len):
            h = high[r, t]
            lo = low[r, t]
            c = close[r, t]
            if math.isnan(h) or math.isnan(lo) or math.isnan(c):
                out[r, t] = NAN
                continue
            n, prev, avg, v = atr_step(n, prev, avg, h, lo, c, period)
            if normalised:
                v = (v / c) * 100.0 if c != 0.0 else 0.0
            out[r, t] = v
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
