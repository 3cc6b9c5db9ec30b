"""Slow, obviously-correct reference implementations: the test oracle beside the fast kernels.

Textbook formulas (Hull, "Options, Futures and Other Derivatives", ch. 19; Haug, "The Complete
Guide to Option Pricing Formulas", 2.1-2.3) in plain numpy with math.erfc, element by element,
no tricks. Inputs broadcast; ``right`` is +1 (call) / -1 (put).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["bsm_reference"]

_erfc = np.frompyfunc(math.erfc, 1, 1)


def _ncdf(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.asarray(0.5 * _erfc(-x / math.sqrt(2.0)), dtype=np.float64)


def _npdf(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def bsm_reference(
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t_years: npt.ArrayLike,
    rate: npt.ArrayLike,
    div_yield: npt.ArrayLike,
    vol: npt.ArrayLike,
    right: npt.ArrayLike,
) -> dict[str, npt.NDArray[np.float64]]:
    """Price and Greeks by the textbook BSM formulas, for regular inputs (T > 0, vol > 0).

    Units as :mod:`greekfire.kernels.bsm`: vega per 1.00, theta and charm per year of calendar
    time, rho per 1.00.
    """
    S, K, T, r, q, v, w = np.broadcast_arrays(
        *(
            np.asarray(a, dtype=np.float64)
            for a in (spot, strike, t_years, rate, div_yield, vol, right)
        )
    )
    sqrt_t = np.sqrt(T)
    d1 = (np.log(S / K) + (r - q + 0.5 * v * v) * T) / (v * sqrt_t)
    d2 = d1 - v * sqrt_t
    dq = np.exp(-q * T)
    dr = np.exp(-r * T)
    n1 = _npdf(d1)
    nd1 = _ncdf(w * d1)
    nd2 = _ncdf(w * d2)
    price = w * (S * dq * nd1 - K * dr * nd2)
    vega = S * dq * n1 * sqrt_t
    return {
        "price": price,
        "delta": w * dq * nd1,
        "gamma": dq * n1 / (S * v * sqrt_t),
        "vega": vega,
        "theta": -S * dq * n1 * v / (2.0 * sqrt_t) - w * r * K * dr * nd2 + w * q * S * dq * nd1,
        "rho": w * K * T * dr * nd2,
        "vanna": -dq * n1 * d2 / v,
        "volga": vega * d1 * d2 / v,
        "charm": w * q * dq * nd1
        - dq * n1 * (2.0 * (r - q) * T - d2 * v * sqrt_t) / (2.0 * T * v * sqrt_t),
    }
