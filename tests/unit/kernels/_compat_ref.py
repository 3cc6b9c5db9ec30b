"""Slow, loop-based reference implementations of indicator warm-up conventions that differ from
TA-Lib's default ("classic") compatibility.

Only the variants that actually differ are here; everything else (SMA, WMA, ATR, NATR, ADX,
PLUS_DI, MINUS_DI, CCI, WILLR, ROC, MOM, OBV, MFI, STDDEV, VAR, MIN, MAX, and STOCH / STOCHF /
BBANDS with SMA smoothing) is identical to TA-Lib's default under ``set_compatibility(1)``.
The spec with sources and the verification results is ``docs/indicator-compat.md``.

Metastock (``*_metastock``)
    TA-Lib's ``TA_COMPATIBILITY_METASTOCK`` (``talib.set_compatibility(1)``) with unstable
    period 0. Source: TA-Lib C ``src/ta_func/ta_EMA.c`` ("TA_MA_METASTOCK: Use first price bar
    value as a seed from the begining of all the available data"), ``ta_RSI.c`` ("Metastock is
    starting the calculation one price bar earlier ... assume that the very first bar will be
    identical to the previous one"), ``ta_MACD.c``. Verified to 1e-12 against TA-Lib C 0.6.4
    (PyPI ``ta-lib==0.6.8``) by ``tools/check_compat_ref.py``. Note: the TA-Lib C 0.8.1 bundled
    with ``ta-lib==0.8.2`` (the project's oracle) has ``TA_SetCompatibility`` compiled as a
    no-op, so it cannot be used as the oracle for these.
    Leading NaNs are skipped the way the ``talib`` wrapper skips them (the first bar where every
    input is non-NaN becomes bar 0), so "seed = first bar" means the first non-NaN bar.

TradingView (``*_tradingview``)
    Pine Script v5/v6 built-ins (``ta.*``). Sources: the Pine reference manual's "same on pine"
    reference implementations (``pine_rma``, ``pine_rsi``, ``pine_atr``, ``pine_mfi``, ``ta.tr``
    ``handle_na``), and, where the manual's pseudo-code is known to disagree with the built-in
    (``pine_ema`` seeds with ``src``; the built-in seeds with an SMA), the measured laws in the
    PyneCore clean-room engine (``PyneSys/pynecore`` ``src/pynecore/lib/ta.py``), TradingView's
    EMA help article as quoted in QuantConnect/Lean#6336, and the Pine v4 manual's ``pine_ema``
    as quoted in pandas-dev/pandas#50091. None of these were checked against TradingView itself
    here; see the spec for what is unconfirmed. ``na`` is NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
MaType = Literal["sma", "ema", "dema", "tema"]

# TA-Lib's TA_IS_ZERO / TA_IS_ZERO_OR_NEG threshold (ta_utility.h).
_TA_EPSILON = 1e-8


def _as_float(x: npt.ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def _first_valid(*arrays: FloatArray) -> int:
    """Index of the first bar where every input is non-NaN (len if none): the talib wrapper's
    ``check_begidx``."""
    n = len(arrays[0])
    for t in range(n):
        if not any(math.isnan(a[t]) for a in arrays):
            return t
    return n


def _placed(n: int, begin: int, body: FloatArray) -> FloatArray:
    out = np.full(n, np.nan)
    out[begin:] = body
    return out


# --------------------------------------------------------------------------------------------
# Metastock (TA-Lib TA_COMPATIBILITY_METASTOCK, unstable period 0)
# --------------------------------------------------------------------------------------------


def _ema_ms_body(x: FloatArray, period: int, k: float | None = None) -> FloatArray:
    """EMA seeded with ``x[0]``, NaN before index ``period - 1`` (ta_EMA.c, Metastock arm)."""
    out = np.full(len(x), np.nan)
    if len(x) < period:
        return out
    k = 2.0 / (period + 1) if k is None else k
    prev = x[0]
    for t in range(1, len(x)):
        prev = (x[t] - prev) * k + prev
        if t >= period - 1:
            out[t] = prev
    if period == 1:
        out[0] = x[0]
    return out


def _sma_body(x: FloatArray, period: int) -> FloatArray:
    """TA-Lib's INT_SMA: running total, NaN before ``period - 1`` (compatibility-independent)."""
    out = np.full(len(x), np.nan)
    if len(x) < period:
        return out
    total = 0.0
    for t in range(period - 1):
        total += x[t]
    for t in range(period - 1, len(x)):
        total += x[t]
        out[t] = total / period
        total -= x[t - period + 1]
    return out


def _ma_ms_body(x: FloatArray, period: int, matype: MaType) -> FloatArray:
    """TA_MA under Metastock compatibility on a NaN-free buffer."""
    if matype == "sma":
        return _sma_body(x, period)
    if matype == "ema":
        return _ema_ms_body(x, period)
    if matype == "dema":
        return _dema_ms_body(x, period)
    if matype == "tema":
        return _tema_ms_body(x, period)
    raise ValueError(f"unsupported matype {matype!r}")


def _ma_lookback(period: int, matype: MaType) -> int:
    levels = {"sma": 1, "ema": 1, "dema": 2, "tema": 3}[matype]
    return levels * (period - 1)


def _dema_ms_body(x: FloatArray, period: int) -> FloatArray:
    lb = period - 1
    out = np.full(len(x), np.nan)
    if len(x) <= 2 * lb:
        return out
    e1 = _ema_ms_body(x, period)
    e2 = _placed(len(x), lb, _ema_ms_body(e1[lb:], period))
    for t in range(2 * lb, len(x)):
        out[t] = (2.0 * e1[t]) - e2[t]
    return out


def _tema_ms_body(x: FloatArray, period: int) -> FloatArray:
    lb = period - 1
    out = np.full(len(x), np.nan)
    if len(x) <= 3 * lb:
        return out
    e1 = _ema_ms_body(x, period)
    e2 = _placed(len(x), lb, _ema_ms_body(e1[lb:], period))
    e3 = _placed(len(x), 2 * lb, _ema_ms_body(e2[2 * lb :], period))
    for t in range(3 * lb, len(x)):
        out[t] = e3[t] + ((3.0 * e1[t]) - (3.0 * e2[t]))
    return out


def _single(body: Callable[[FloatArray], FloatArray], x: npt.ArrayLike) -> FloatArray:
    """Apply ``body`` after skipping leading NaNs, like the talib wrapper."""
    arr = _as_float(x)
    begin = _first_valid(arr)
    return _placed(len(arr), begin, body(arr[begin:]))


def ema_metastock(x: npt.ArrayLike, period: int = 30) -> FloatArray:
    """TA-Lib ``EMA`` under ``set_compatibility(1)``.

    Seed ``e[0] = x[0]`` (first non-NaN bar), then ``e[t] = (x[t] - e[t-1]) * k + e[t-1]`` with
    ``k = 2 / (period + 1)``; output from index ``period - 1`` (the lookback is unchanged, only
    the hidden bars are run through the recursion instead of being averaged). Source: TA-Lib
    ``ta_EMA.c`` (Metastock arm: ``prevMA = inReal[0]; today = 1``).
    """
    return _single(lambda a: _ema_ms_body(a, period), x)


def dema_metastock(x: npt.ArrayLike, period: int = 30) -> FloatArray:
    """TA-Lib ``DEMA`` under ``set_compatibility(1)``: ``2*e1 - e2``.

    ``e1 = ema_metastock(x)`` (seed ``x[0]``, valid from ``p-1``); ``e2`` is the Metastock EMA of
    the *valid part* of ``e1``, i.e. seeded with ``e1[p-1]``; output from ``2*(p-1)``.
    Source: TA-Lib ``ta_DEMA.c`` (second TA_INT_EMA over the first EMA's output buffer).
    """
    return _single(lambda a: _dema_ms_body(a, period), x)


def tema_metastock(x: npt.ArrayLike, period: int = 30) -> FloatArray:
    """TA-Lib ``TEMA`` under ``set_compatibility(1)``: ``e3 + 3*e1 - 3*e2``.

    Each EMA level is seeded with the first valid value of the level below (``x[0]``,
    ``e1[p-1]``, ``e2[2(p-1)]``); output from ``3*(p-1)``. Source: TA-Lib ``ta_TEMA.c``.
    """
    return _single(lambda a: _tema_ms_body(a, period), x)


def _rsi_ms_body(x: FloatArray, period: int) -> FloatArray:
    n = len(x)
    out = np.full(n, np.nan)
    if n < period:
        return out
    # Extra first output at period-1: the first bar is compared with itself (a zero change),
    # so the average runs over one zero plus the first period-1 real changes.
    gain = loss = 0.0
    prev = x[0]
    for t in range(period):
        diff = x[t] - prev
        prev = x[t]
        if diff < 0.0:
            loss -= diff
        else:
            gain += diff
    avg_loss = loss / period
    avg_gain = gain / period
    total = avg_gain + avg_loss
    out[period - 1] = 100.0 * (avg_gain / total) if abs(total) >= _TA_EPSILON else 0.0
    if n <= period:
        return out
    # From here on this is exactly the classic (default) RSI: the extra value is not fed into
    # the Wilder recursion, which restarts from the SMA of the first `period` real changes.
    gain = loss = 0.0
    prev = x[0]
    for t in range(1, period + 1):
        diff = x[t] - prev
        prev = x[t]
        if diff < 0.0:
            loss -= diff
        else:
            gain += diff
    loss /= period
    gain /= period
    total = gain + loss
    out[period] = 100.0 * (gain / total) if abs(total) >= _TA_EPSILON else 0.0
    for t in range(period + 1, n):
        diff = x[t] - prev
        prev = x[t]
        loss *= period - 1
        gain *= period - 1
        if diff < 0.0:
            loss -= diff
        else:
            gain += diff
        loss /= period
        gain /= period
        total = gain + loss
        out[t] = 100.0 * (gain / total) if abs(total) >= _TA_EPSILON else 0.0
    return out


def rsi_metastock(x: npt.ArrayLike, period: int = 14) -> FloatArray:
    """TA-Lib ``RSI`` under ``set_compatibility(1)`` (unstable period 0).

    Lookback ``period - 1`` (one bar earlier than classic). The value at ``period - 1`` is
    ``100*G/(G+L)`` with ``G``, ``L`` the average gain / loss over the ``period`` changes
    ``x[0]-x[0] (=0), x[1]-x[0], ..., x[p-1]-x[p-2]``. Every later value is the classic Wilder
    RSI (seed = mean of the first ``period`` real changes at index ``period``), i.e. identical to
    the default output. ``G+L`` below 1e-8 gives 0. With an RSI unstable period ``u >= 1`` the
    special bar is not produced and the output is the classic RSI from index ``period + u - 1``.
    Source: TA-Lib ``ta_RSI.c`` (``TA_RSI_Lookback`` subtracts 1 under Metastock; the
    ``unstablePeriod == 0 && METASTOCK`` block).
    """
    return _single(lambda a: _rsi_ms_body(a, period), x)


def macd_metastock(
    x: npt.ArrayLike, fastperiod: int = 12, slowperiod: int = 26, signalperiod: int = 9
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """TA-Lib ``MACD`` under ``set_compatibility(1)`` -> ``(macd, signal, hist)``.

    Fast and slow EMAs (``k = 2/(p+1)``, periods swapped if slow < fast) are both seeded with
    ``x[0]``; the MACD line ``fast - slow`` exists from ``slow - 1``; the signal EMA is seeded
    with the MACD line at ``slow - 1`` and iterated; all three outputs are published from
    ``slow + signal - 2`` (same lookback as default). Source: TA-Lib ``ta_MACD.c`` (Metastock
    arm: ``prevFast = prevSlow = inReal[0]`` ... ``prevSignal = macdValue``).
    """
    if slowperiod < fastperiod:
        fastperiod, slowperiod = slowperiod, fastperiod

    def body(a: FloatArray) -> FloatArray:
        n = len(a)
        res = np.full((3, n), np.nan)
        start = slowperiod - 1
        if n <= start + signalperiod - 1:
            return res
        fast = _ema_ms_body(a, fastperiod)
        slow = _ema_ms_body(a, slowperiod)
        line = np.full(n, np.nan)
        line[start:] = fast[start:] - slow[start:]
        signal = _placed(n, start, _ema_ms_body(line[start:], signalperiod))
        first = start + signalperiod - 1
        res[0, first:] = line[first:]
        res[1, first:] = signal[first:]
        res[2, first:] = line[first:] - signal[first:]
        return res

    arr = _as_float(x)
    begin = _first_valid(arr)
    body_out = body(arr[begin:])
    out = np.full((3, len(arr)), np.nan)
    out[:, begin:] = body_out
    return out[0], out[1], out[2]


def bbands_metastock(
    x: npt.ArrayLike,
    period: int = 5,
    nbdevup: float = 2.0,
    nbdevdn: float = 2.0,
    matype: MaType = "ema",
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """TA-Lib ``BBANDS`` under ``set_compatibility(1)`` -> ``(upper, middle, lower)``.

    Differs from default only when ``matype`` is EMA/DEMA/TEMA: the middle band is the
    Metastock-seeded MA; the deviation is still TA-Lib's population STDDEV of ``x`` over
    ``period`` (around the rolling mean, variance below 1e-8 -> 0). First output at the MA's
    lookback (``p-1`` for EMA, ``2(p-1)`` DEMA, ``3(p-1)`` TEMA). With ``matype="sma"`` this
    is just the default BBANDS. Source: TA-Lib ``ta_BBANDS.c`` (TA_MA + TA_STDDEV).
    """

    def body(a: FloatArray) -> FloatArray:
        n = len(a)
        res = np.full((3, n), np.nan)
        first = max(_ma_lookback(period, matype), period - 1)
        if n <= first:
            return res
        mid = _ma_ms_body(a, period, matype)
        # TA-Lib's rolling sums (INT_VAR, or stddev_using_precalc_ma for SMA), started at the
        # first output's window so the rounding matches.
        total1 = 0.0
        total2 = 0.0
        for i in range(first - period + 1, first):
            total1 += a[i]
            total2 += a[i] * a[i]
        for t in range(first, n):
            total1 += a[t]
            total2 += a[t] * a[t]
            mean2 = total2 / period
            if matype == "sma":
                var = mean2 - mid[t] * mid[t]
            else:
                mean1 = total1 / period
                var = mean2 - mean1 * mean1
            trailing = a[t - period + 1]
            total1 -= trailing
            total2 -= trailing * trailing
            std = math.sqrt(var) if var >= _TA_EPSILON else 0.0
            res[0, t] = mid[t] + std * nbdevup
            res[1, t] = mid[t]
            res[2, t] = mid[t] - std * nbdevdn
        return res

    arr = _as_float(x)
    begin = _first_valid(arr)
    out = np.full((3, len(arr)), np.nan)
    out[:, begin:] = body(arr[begin:])
    return out[0], out[1], out[2]


def _fast_k_body(high: FloatArray, low: FloatArray, close: FloatArray, fastk: int) -> FloatArray:
    """TA-Lib raw %K: ``(close - LL) / ((HH - LL) / 100)``, 0 when ``HH == LL``."""
    n = len(close)
    out = np.full(n, np.nan)
    for t in range(fastk - 1, n):
        hh = max(high[t - fastk + 1 : t + 1])
        ll = min(low[t - fastk + 1 : t + 1])
        diff = (hh - ll) / 100.0
        out[t] = (close[t] - ll) / diff if diff != 0.0 else 0.0
    return out


def _stoch_ms_body(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    fastk: int,
    slowk: int,
    slowk_matype: MaType,
    slowd: int,
    slowd_matype: MaType,
) -> FloatArray:
    n = len(close)
    res = np.full((2, n), np.nan)
    lb_k = fastk - 1
    lb_ks = _ma_lookback(slowk, slowk_matype)
    lb_ds = _ma_lookback(slowd, slowd_matype)
    first = lb_k + lb_ks + lb_ds
    if n <= first:
        return res
    raw = _fast_k_body(high, low, close, fastk)
    k_line = _placed(n, lb_k, _ma_ms_body(raw[lb_k:], slowk, slowk_matype))
    d_line = _placed(n, lb_k + lb_ks, _ma_ms_body(k_line[lb_k + lb_ks :], slowd, slowd_matype))
    res[0, first:] = k_line[first:]
    res[1, first:] = d_line[first:]
    return res


def stoch_metastock(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    fastk_period: int = 5,
    slowk_period: int = 3,
    slowk_matype: MaType = "ema",
    slowd_period: int = 3,
    slowd_matype: MaType = "ema",
) -> tuple[FloatArray, FloatArray]:
    """TA-Lib ``STOCH`` under ``set_compatibility(1)`` -> ``(slowk, slowd)``.

    Differs from default only through EMA/DEMA/TEMA smoothing: raw %K exists from
    ``fastk - 1``; slow %K is the Metastock MA of raw %K seeded with its first value (at
    ``fastk - 1``); slow %D is the Metastock MA of slow %K seeded with slow %K's first value (at
    ``fastk - 1 + lb(slowk)``); both published from ``fastk - 1 + lb(slowk) + lb(slowd)``
    (``lb`` = MA lookback, ``p-1`` for SMA/EMA). Source: TA-Lib ``ta_STOCH.c``.
    """
    h, lo, c = _as_float(high), _as_float(low), _as_float(close)
    begin = _first_valid(h, lo, c)
    out = np.full((2, len(c)), np.nan)
    out[:, begin:] = _stoch_ms_body(
        h[begin:],
        lo[begin:],
        c[begin:],
        fastk_period,
        slowk_period,
        slowk_matype,
        slowd_period,
        slowd_matype,
    )
    return out[0], out[1]


def _stochf_ms_body(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    fastk: int,
    fastd: int,
    fastd_matype: MaType,
) -> FloatArray:
    n = len(close)
    res = np.full((2, n), np.nan)
    lb_k = fastk - 1
    first = lb_k + _ma_lookback(fastd, fastd_matype)
    if n <= first:
        return res
    raw = _fast_k_body(high, low, close, fastk)
    d_line = _placed(n, lb_k, _ma_ms_body(raw[lb_k:], fastd, fastd_matype))
    res[0, first:] = raw[first:]
    res[1, first:] = d_line[first:]
    return res


def stochf_metastock(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    fastk_period: int = 5,
    fastd_period: int = 3,
    fastd_matype: MaType = "ema",
) -> tuple[FloatArray, FloatArray]:
    """TA-Lib ``STOCHF`` under ``set_compatibility(1)`` -> ``(fastk, fastd)``.

    Differs from default only through EMA/DEMA/TEMA %D: %D is the Metastock MA of raw %K
    seeded with raw %K at ``fastk - 1``; both published from ``fastk - 1 + lb(fastd)``.
    Source: TA-Lib ``ta_STOCHF.c``.
    """
    h, lo, c = _as_float(high), _as_float(low), _as_float(close)
    begin = _first_valid(h, lo, c)
    out = np.full((2, len(c)), np.nan)
    out[:, begin:] = _stochf_ms_body(
        h[begin:], lo[begin:], c[begin:], fastk_period, fastd_period, fastd_matype
    )
    return out[0], out[1]


def stochrsi_metastock(
    x: npt.ArrayLike,
    timeperiod: int = 14,
    fastk_period: int = 5,
    fastd_period: int = 3,
    fastd_matype: MaType = "sma",
) -> tuple[FloatArray, FloatArray]:
    """TA-Lib ``STOCHRSI`` under ``set_compatibility(1)`` -> ``(fastk, fastd)``.

    ``STOCHF`` (Metastock, with ``high = low = close = rsi``) over ``rsi_metastock(x)``'s valid
    part, which starts at ``timeperiod - 1`` with the special Metastock RSI bar. First output
    at ``(timeperiod - 1) + (fastk - 1) + lb(fastd)``, one bar earlier than default.
    Source: TA-Lib ``ta_STOCHRSI.c`` (TA_RSI then TA_STOCHF on the RSI buffer).
    """

    def body(a: FloatArray) -> FloatArray:
        n = len(a)
        res = np.full((2, n), np.nan)
        lb_rsi = timeperiod - 1
        if n <= lb_rsi:
            return res
        rsi = _rsi_ms_body(a, timeperiod)[lb_rsi:]
        res[:, lb_rsi:] = _stochf_ms_body(rsi, rsi, rsi, fastk_period, fastd_period, fastd_matype)
        return res

    arr = _as_float(x)
    begin = _first_valid(arr)
    out = np.full((2, len(arr)), np.nan)
    out[:, begin:] = body(arr[begin:])
    return out[0], out[1]


# --------------------------------------------------------------------------------------------
# TradingView (Pine Script v5/v6 built-ins)
# --------------------------------------------------------------------------------------------


def _wilder_like_tradingview(
    x: npt.ArrayLike, period: int, step: Callable[[float, float], float]
) -> FloatArray:
    """Shared machine of ``ta.ema`` / ``ta.rma``: na bars output na and do not advance the state;
    the seed is the SMA of the first ``period`` non-na values, on the bar where it completes."""
    arr = _as_float(x)
    out = np.full(len(arr), np.nan)
    window: list[float] = []
    prev = math.nan
    for t, v in enumerate(arr):
        if math.isnan(v):
            continue
        if math.isnan(prev):
            window.append(v)
            if len(window) == period:
                total = 0.0
                for w in window:
                    total += w
                prev = total / period
                out[t] = prev
            continue
        prev = step(prev, v)
        out[t] = prev
    return out


def ema_tradingview(x: npt.ArrayLike, period: int) -> FloatArray:
    """Pine ``ta.ema(x, period)`` (built-in behaviour).

    Seed: SMA of the first ``period`` non-na values, published on that bar (index
    ``period - 1`` for a NaN-free series); then ``e = e + a*(x - e)``, ``a = 2/(period+1)``.
    An na input bar returns na and leaves the state untouched (so an EMA of a series with a
    leading na run, e.g. the MACD line, is seeded by the SMA of its first ``period`` values).
    For NaN-free input this is bit-for-bit TA-Lib's default EMA; it differs only in na handling
    (TA-Lib propagates an interior NaN forever). Sources: PyneCore ``ta.ema`` (measured law:
    "The seed is the na-compacted sma on the bar where that sma first exists", step
    ``prev + alpha*(source - prev)``); pineforge-engine PR #93 (na bar -> na, state kept);
    TradingView's EMA help article ("For the first EMA, we use the SMA(previous day)") quoted in
    QuantConnect/Lean#6336. Conflicts with the current manual's ``pine_ema`` pseudo-code, which
    seeds with ``src`` on the first bar (that variant equals ``ema_metastock`` without the
    hidden bars). ``period == 1`` returns ``x`` (PyneCore shortcut).
    """
    if period == 1:
        return _as_float(x).copy()
    alpha = 2.0 / (period + 1)
    return _wilder_like_tradingview(x, period, lambda prev, v: prev + alpha * (v - prev))


def rma_tradingview(x: npt.ArrayLike, period: int) -> FloatArray:
    """Pine ``ta.rma(x, period)`` (Wilder's smoothing, alpha = 1/period).

    Seed: SMA of the first ``period`` non-na values, on that bar (index ``period - 1`` for a
    NaN-free series); then ``r = (r*(period-1) + x) / period``; na bars -> na, state kept.
    Sources: Pine manual ``pine_rma`` (``sum := na(sum[1]) ? ta.sma(src, length) : alpha*src +
    (1-alpha)*nz(sum[1])``; remark "na values in the source series are ignored; the function
    calculates on the length quantity of non-na values"); PyneCore ``ta.rma`` (measured step
    form ``(prev*(length-1) + source)/length``, which is also TA-Lib's Wilder step).
    TA-Lib has no standalone RMA; this is the building block of the TradingView RSI/ATR.
    """
    if period == 1:
        return _as_float(x).copy()
    return _wilder_like_tradingview(x, period, lambda prev, v: (prev * (period - 1) + v) / period)


def rsi_tradingview(x: npt.ArrayLike, period: int = 14) -> FloatArray:
    """Pine ``ta.rsi(x, period)``.

    ``u = max(x - x[1], 0)``, ``d = max(x[1] - x, 0)`` (na on bar 0), ``rs = rma(u)/rma(d)``,
    ``rsi = 100 - 100/(1 + rs)``; first output at index ``period`` (seed = mean of the first
    ``period`` changes), the same bar and seed as TA-Lib's default RSI, so for ordinary data the
    two agree to rounding (~1e-13). Differs only in degenerate windows: ``rma(d) == 0`` gives 100
    (IEEE ``u/0 = inf``) in both, but ``rma(u) == rma(d) == 0`` gives NaN here (IEEE 0/0) where
    TA-Lib gives 0 (and TA-Lib also gives 0 whenever ``G+L < 1e-8``). The flat-window value on
    TradingView itself is unconfirmed. Sources: Pine manual ``pine_rsi``; PyneCore ``ta.rsi``.
    """
    arr = _as_float(x)
    up = np.full(len(arr), np.nan)
    down = np.full(len(arr), np.nan)
    for t in range(1, len(arr)):
        if math.isnan(arr[t]) or math.isnan(arr[t - 1]):
            continue
        up[t] = max(arr[t] - arr[t - 1], 0.0)
        down[t] = max(arr[t - 1] - arr[t], 0.0)
    ru = rma_tradingview(up, period)
    rd = rma_tradingview(down, period)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(100.0 - 100.0 / (1.0 + ru / rd), dtype=np.float64)


def tr_tradingview(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, handle_na: bool = False
) -> FloatArray:
    """Pine ``ta.tr(handle_na)`` / the ``ta.tr`` variable (``handle_na=False``).

    ``max(high - low, |high - close[1]|, |low - close[1]|)``; where ``close[1]`` is na (bar 0)
    the result is ``high - low`` if ``handle_na`` else na. ``ta.tr`` == TA-Lib ``TRANGE`` (first
    output at 1); ``ta.tr(true)`` also outputs bar 0. Source: Pine manual ``ta.tr()``
    ("If true, and previous day's close is NaN then tr would be calculated as current day
    high-low. Otherwise (if false) tr would return NaN in such cases").
    """
    h, lo, c = _as_float(high), _as_float(low), _as_float(close)
    out = np.full(len(c), np.nan)
    for t in range(len(c)):
        prev_close = c[t - 1] if t > 0 else math.nan
        if math.isnan(prev_close):
            if handle_na:
                out[t] = h[t] - lo[t]
            continue
        out[t] = max(h[t] - lo[t], abs(h[t] - prev_close), abs(lo[t] - prev_close))
    return out


def atr_tradingview(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int = 14
) -> FloatArray:
    """Pine ``ta.atr(period)`` = ``ta.rma(ta.tr(true), period)``.

    Bar 0's true range is ``high - low``, so the seed is the mean of ``TR[0..period-1]`` and the
    first output is at ``period - 1``. TA-Lib ``ATR`` instead starts the true range at bar 1,
    seeds with the mean of ``TR[1..period]`` and first outputs at ``period``; the two then run
    the same Wilder recursion, so the difference decays like ``((period-1)/period)**t``.
    Sources: Pine manual ``pine_atr`` (``trueRange = na(high[1]) ? high-low : ...``; "true
    range can be also calculated with ta.tr(true)"; ``ta.rma(trueRange, length)``); PyneCore
    ``ta.atr`` (``rma(tr(True), length)``).
    """
    return rma_tradingview(tr_tradingview(high, low, close, handle_na=True), period)


def macd_tradingview(
    x: npt.ArrayLike, fastlen: int = 12, slowlen: int = 26, siglen: int = 9
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Pine ``ta.macd(x, fastlen, slowlen, siglen)`` -> ``(macd, signal, hist)``.

    ``macd = ema(x, fast) - ema(x, slow)`` published from ``slowlen - 1``;
    ``signal = ema(macd, sig)`` (SMA of the first ``sig`` MACD values, published from
    ``slowlen + siglen - 2``); ``hist = macd - signal``. Differs from TA-Lib's default MACD in
    two ways: (1) the fast EMA is seeded with the SMA of ``x[0..fast-1]`` at bar ``fast - 1``,
    while TA-Lib seeds it with the SMA of ``x[slow-fast .. slow-1]`` at bar ``slow - 1`` (its
    seed window ends with the slow one), so the MACD line differs by a decaying amount;
    (2) TA-Lib hides the MACD line until the signal exists (all three from
    ``slow + signal - 2``). Lengths are not swapped. Sources: PyneCore ``ta.macd`` (composition
    of ``ema``); Pine manual ``ta.macd``. The composition is confirmed by the manual; the
    seed of the inner EMAs is the built-in EMA's (see ``ema_tradingview``).
    """
    fast = ema_tradingview(x, fastlen)
    slow = ema_tradingview(x, slowlen)
    line = fast - slow
    signal = ema_tradingview(line, siglen)
    return line, signal, line - signal


def mfi_tradingview(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    volume: npt.ArrayLike,
    period: int = 14,
) -> FloatArray:
    """Pine ``ta.mfi(hlc3, period)`` (the built-in "Money Flow Index" uses ``hlc3``).

    With ``src = hlc3`` and ``chg = src - src[1]`` (na on bar 0):
    ``upper = sum(volume * (chg <= 0 ? 0 : src), period)``,
    ``lower = sum(volume * (chg >= 0 ? 0 : src), period)``,
    ``mfi = 100 - 100/(1 + upper/lower)``. A comparison with na is false, so bar 0's flow is
    counted in *both* sums and the first output is at ``period - 1`` (TA-Lib ``MFI``: flows from
    bar 1 only, first output at ``period``). ``lower == 0`` gives 100 (TA-Lib: 100 as well when
    only the negative sum is 0, but 0 when both are; C 0.6.4 also when ``pos + neg < 1``).
    After bar ``period - 1`` drops
    out of the window the two agree except for rounding. PyneCore's measured law compares with a
    1e-10 tolerance; this reference compares exactly. Sources: Pine manual ``pine_mfi``;
    PyneCore ``ta.mfi`` (bar 0 included, ``lower == 0 -> 100``).
    """
    h, lo, c, v = _as_float(high), _as_float(low), _as_float(close), _as_float(volume)
    src = (h + lo + c) / 3.0
    n = len(src)
    up_flow = np.full(n, np.nan)
    down_flow = np.full(n, np.nan)
    for t in range(n):
        chg = src[t] - src[t - 1] if t > 0 else math.nan
        known = not math.isnan(chg)
        up_flow[t] = v[t] * (0.0 if known and chg <= 0.0 else src[t])
        down_flow[t] = v[t] * (0.0 if known and chg >= 0.0 else src[t])
    out = np.full(n, np.nan)
    for t in range(period - 1, n):
        upper = 0.0
        lower = 0.0
        for i in range(t - period + 1, t + 1):
            upper += up_flow[i]
            lower += down_flow[i]
        if math.isnan(upper) or math.isnan(lower):
            continue
        out[t] = 100.0 if lower == 0.0 else 100.0 - (100.0 / (1.0 + upper / lower))
    return out


def _sma_tradingview(x: FloatArray, period: int) -> FloatArray:
    """``ta.sma`` over the last ``period`` non-na values; an na bar repeats the last mean (na
    before the first full window). The na-bar rule is pineforge-engine PR #93's measurement;
    for series whose only na values are leading ones it is a plain rolling mean."""
    out = np.full(len(x), np.nan)
    window: list[float] = []
    last = math.nan
    for t, v in enumerate(x):
        if math.isnan(v):
            out[t] = last
            continue
        window.append(v)
        if len(window) > period:
            window.pop(0)
        if len(window) == period:
            total = 0.0
            for w in window:
                total += w
            last = total / period
            out[t] = last
    return out


def stoch_tradingview(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    period_k: int = 14,
    smooth_k: int = 1,
    period_d: int = 3,
) -> tuple[FloatArray, FloatArray]:
    """TradingView "Stochastic": ``k = ta.sma(ta.stoch(close, high, low, period_k), smooth_k)``,
    ``d = ta.sma(k, period_d)`` -> ``(k, d)``.

    ``ta.stoch`` = ``100 * (close - lowest(low, n)) / (highest(high, n) - lowest(low, n))``
    (multiplication first, not clamped), first at ``period_k - 1``; ``k`` first at
    ``period_k + smooth_k - 2``; ``d`` at ``period_k + smooth_k + period_d - 3``. Same values as
    TA-Lib ``STOCH(fastk=period_k, slowk=smooth_k, SMA, slowd=period_d, SMA)`` where both exist
    (up to rounding: TA-Lib divides by ``(HH-LL)/100``), but TA-Lib publishes slow %K only from
    %D's first bar, and gives 0 where ``HH == LL`` (here IEEE 0/0 = NaN; TradingView's value
    there is unconfirmed). The wrapper composition is the built-in indicator's source as
    commonly reproduced (unconfirmed here); ``ta.stoch`` itself is per PyneCore ``ta.stoch``
    ("the bare ratio with the multiplication done FIRST, and without any clamping").
    """
    h, lo, c = _as_float(high), _as_float(low), _as_float(close)
    n = len(c)
    raw = np.full(n, np.nan)
    for t in range(period_k - 1, n):
        hh = max(h[t - period_k + 1 : t + 1])
        ll = min(lo[t - period_k + 1 : t + 1])
        with np.errstate(divide="ignore", invalid="ignore"):
            raw[t] = np.float64(100.0 * (c[t] - ll)) / np.float64(hh - ll)
    k = _sma_tradingview(raw, smooth_k)
    d = _sma_tradingview(k, period_d)
    return k, d
