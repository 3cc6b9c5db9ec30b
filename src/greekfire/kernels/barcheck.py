"""One-pass check that a batch of bars is clean (the common case of every fetch).

:func:`bars_all_clean` answers "would ``greekfire.data.validate.validate_bars`` reject or drop
any row?" without allocating: it returns ``True`` only when every row passes every rule there,

- timestamps: no NaT, strictly increasing (so no duplicate and no row out of order);
- open, high, low, close: finite and > 0, ``low <= high``, ``low <= min(open, close)``,
  ``high >= max(open, close)``;
- volume and trade count: not infinite, not negative (NaN allowed: "unknown");
- vwap: NaN allowed, otherwise finite and > 0.

When it returns ``False`` the caller runs the full validation, which finds and reports each
bad row; the two must agree on every input (tested property).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from greekfire.kernels._jit import njit

__all__ = ["NAT", "bars_all_clean"]

NAT = np.iinfo(np.int64).min

F64 = npt.NDArray[np.float64]


@njit()
def _price_ok(x: float) -> bool:
    return math.isfinite(x) and x > 0.0


@njit()
def _count_ok(x: float) -> bool:
    return math.isnan(x) or (not math.isinf(x) and x >= 0.0)


@njit()
def bars_all_clean(
    ts_ns: npt.NDArray[np.int64],
    open_: F64,
    high: F64,
    low: F64,
    close: F64,
    volume: F64,
    vwap: F64,
    trade_count: F64,
) -> bool:
    """True when no row breaks a bar rule (see the module docstring).

    ``vwap`` and ``trade_count`` may be empty arrays (the column is absent); every other
    array has the length of ``ts_ns``.
    """
    n = ts_ns.size
    has_vwap = vwap.size == n
    has_count = trade_count.size == n
    previous = NAT
    for i in range(n):
        t = ts_ns[i]
        if t == NAT or (i > 0 and t <= previous):
            return False
        previous = t
        o = open_[i]
        h = high[i]
        lo = low[i]
        c = close[i]
        if not (_price_ok(o) and _price_ok(h) and _price_ok(lo) and _price_ok(c)):
            return False
        if lo > h or lo > min(o, c) or h < max(o, c):
            return False
        if not _count_ok(volume[i]):
            return False
        if has_count and not _count_ok(trade_count[i]):
            return False
        if has_vwap:
            w = vwap[i]
            if not math.isnan(w) and not (math.isfinite(w) and w > 0.0):
                return False
    return True
