"""Implied volatility for Black-Scholes-Merton (and Black-76) prices, vectorised over options.

Method: the price splits into intrinsic value plus an out-of-the-money part ``otm(vol)`` (see
:mod:`greekfire.kernels.bsm`); the solver inverts the out-of-the-money part with Halley steps
on a log objective, after Jaeckel ("By implication", 2006; "Let's be rational", 2015):

- below the inflection point s_c = sqrt(2 |ln(F/K)|) of otm(s), s = vol sqrt(T):
  g(vol) = ln otm(vol) - ln target, whose first and second derivatives are closed form
  (g' = sqrt(T) a / otm, g'' = T (a / otm) (d1 d2 / s - a / otm), a = S e^-qT phi(d1));
- above it, g(vol) = ln(m - target) - ln(m - otm(vol)) with m the out-of-the-money bound.

The initial guess comes from the leading asymptotics (ln b ~ -h^2 / 2 low, b ~ s / sqrt(2 pi)
near the money), a bracket [lo, hi] tightened at every step catches any overshoot, and the
iteration stops when a step is below 4 ulps of vol. It reprices with the same code as
:func:`greekfire.kernels.bsm.price_into`, so a solved vol reproduces the price it came from.

Statuses (int8, :mod:`greekfire.kernels.status`): OK; BELOW_INTRINSIC (price below the
discounted intrinsic value of the forward); ABOVE_MAX_PRICE (call >= S e^-qT, put >= K e^-rT);
NO_CONVERGENCE; INVALID_INPUT (non-finite, spot/strike/t_years <= 0, price < 0, bad right).
A price exactly at intrinsic value has vol 0 and status OK. Failed elements get NaN.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from greekfire.kernels._jit import njit, prange
from greekfire.kernels.bsm import SERIES_T_MAX, bracket_series, setup
from greekfire.kernels.special import (
    INV_SQRT2,
    INV_SQRT_2PI,
    SQRT_2PI,
    SQRT_HALF_PI,
    erfcx_,
    exp_neg_half_sq,
)
from greekfire.kernels.status import (
    ABOVE_MAX_PRICE,
    BELOW_INTRINSIC,
    INVALID_INPUT,
    NO_CONVERGENCE,
    OK,
)

__all__ = ["MAX_ITERATIONS", "implied_vol_into", "implied_vol_one"]

F64Array = npt.NDArray[np.float64]
I8Array = npt.NDArray[np.int8]

MAX_ITERATIONS = 60
STEP_ULPS = 4.0 * 2.220446049250313e-16


@njit(inline="always")
def _otm(sqrt_t: float, sdq: float, kdr: float, x: float, vol: float) -> tuple[float, float, float]:
    # The exact out-of-the-money part, a = S e^-qT phi(d1) and d1 d2, with the same arithmetic
    # as bsm.given_vol + bsm.exact_price but evaluating only the branch that price_into keeps.
    s = vol * sqrt_t
    h = x / s
    t = 0.5 * s
    z = abs(h)
    a = sdq * INV_SQRT_2PI * exp_neg_half_sq(h + t)
    if t < SERIES_T_MAX:
        otm = a * bracket_series(z, t)
    elif t <= z:
        otm = a * (
            SQRT_HALF_PI * erfcx_(abs(z - t) * INV_SQRT2)
            - SQRT_HALF_PI * erfcx_((z + t) * INV_SQRT2)
        )
    else:
        vmax = sdq if x <= 0.0 else kdr
        otm = vmax - a * (
            SQRT_HALF_PI * erfcx_(abs(z - t) * INV_SQRT2)
            + SQRT_HALF_PI * erfcx_((z + t) * INV_SQRT2)
        )
    return otm, a, z * z - t * t


@njit(inline="always")
def _bad_input(price: float, S: float, K: float, T: float, r: float, q: float, sign: float) -> bool:
    finite = (
        math.isfinite(price)
        and math.isfinite(S)
        and math.isfinite(K)
        and math.isfinite(T)
        and math.isfinite(r)
        and math.isfinite(q)
    )
    bad_right = sign != 1.0 and sign != -1.0
    return (not finite) or price < 0.0 or S <= 0.0 or K <= 0.0 or T <= 0.0 or bad_right


@njit(inline="always")
def _halley(g: float, g1: float, g2: float) -> float:
    newton = -g / g1
    denom = 1.0 - 0.5 * g * g2 / (g1 * g1)
    return newton / denom if denom > 0.5 else newton


@njit()
def implied_vol_one(
    price: float, S: float, K: float, T: float, r: float, q: float, sign: float
) -> tuple[float, int]:
    """Implied volatility of one BSM price: ``(vol, status)``; see the module docstring."""
    if _bad_input(price, S, K, T, r, q, sign):
        return np.nan, INVALID_INPUT
    sqrt_t, sdq, kdr, x = setup(S, K, T, r, q)
    intrinsic = max(sign * (sdq - kdr), 0.0)
    if price < intrinsic:
        return np.nan, BELOW_INTRINSIC
    if price >= (sdq if sign > 0.0 else kdr):
        return np.nan, ABOVE_MAX_PRICE
    target = price - intrinsic
    if target == 0.0:
        return 0.0, OK
    return _solve(price, intrinsic, target, sqrt_t, sdq, kdr, x)


@njit()
def _solve(
    price: float, intrinsic: float, target: float, sqrt_t: float, sdq: float, kdr: float, x: float
) -> tuple[float, int]:
    ax = abs(x)
    bound = min(sdq, kdr)  # the out-of-the-money option's supremum
    s_c = math.sqrt(2.0 * ax)
    otm_c = _otm(sqrt_t, sdq, kdr, x, s_c / sqrt_t)[0] if ax > 0.0 else 0.0
    upper = target > otm_c
    b = target / math.sqrt(sdq * kdr)
    s0 = max(s_c, SQRT_2PI * b) if upper else ax / math.sqrt(-2.0 * math.log(b))
    vol = s0 / sqrt_t
    lo = 0.0
    hi = math.inf
    ln_target = math.log(target)
    ln_rest = math.log(bound - target) if upper else 0.0
    best = np.nan
    best_err = math.inf
    for _ in range(MAX_ITERATIONS):
        otm, a, d1d2 = _otm(sqrt_t, sdq, kdr, x, vol)
        err = abs((intrinsic + otm) - price)
        if err < best_err:
            best = vol
            best_err = err
        if err <= 1.1102230246251565e-16 * price:  # within half an ulp: nothing left to gain
            return vol, OK
        if intrinsic + otm > price:
            hi = vol
        else:
            lo = vol
        s = vol * sqrt_t
        if upper:
            rest = bound - otm
            w = sqrt_t * a / rest
            step = _halley(ln_rest - math.log(rest), w, sqrt_t * w * (d1d2 / s + a / rest))
        else:
            w = sqrt_t * a / otm
            step = _halley(math.log(otm) - ln_target, w, sqrt_t * w * (d1d2 / s - a / otm))
        new = vol + step
        if not (lo < new < hi):
            new = 0.5 * (lo + hi) if hi < math.inf else 2.0 * vol
        if abs(new - vol) <= STEP_ULPS * vol or hi - lo <= STEP_ULPS * lo:
            break
        vol = new
    # Stalled on the rounding noise of the price: polish over the neighbouring vols, then keep
    # the best vol if it is that close.
    centre = best
    for k in (-2.0, -1.0, 1.0, 2.0):
        cand = centre * (1.0 + k * 2.220446049250313e-16)
        err = abs((intrinsic + _otm(sqrt_t, sdq, kdr, x, cand)[0]) - price)
        if err < best_err:
            best = cand
            best_err = err
    if best_err <= 1e-12 * price:
        return best, OK
    return np.nan, NO_CONVERGENCE


@njit(parallel=True)
def _iv_loop(
    price: F64Array,
    spot: F64Array,
    strike: F64Array,
    t_years: F64Array,
    rate: F64Array,
    div_yield: F64Array,
    right: I8Array,
    out_vol: F64Array,
    status: I8Array,
) -> None:
    for i in prange(price.size):
        vol, st = implied_vol_one(
            price[i], spot[i], strike[i], t_years[i], rate[i], div_yield[i], float(right[i])
        )
        out_vol[i] = vol
        status[i] = st


def implied_vol_into(
    price: F64Array,
    spot: F64Array,
    strike: F64Array,
    t_years: F64Array,
    rate: F64Array,
    div_yield: F64Array,
    right: I8Array,
    out_vol: F64Array,
    status: I8Array,
) -> None:
    """Implied volatilities of BSM prices into ``out_vol`` (float64, n) and ``status`` (int8, n).

    Inputs are 1-D arrays of length n (float64; ``right`` int8 +1 call / -1 put); the vol is
    annualised (per 1.00). Black-76 prices: pass the forward as spot and div_yield = rate.
    """
    n = price.size
    arrays: tuple[npt.NDArray[Any], ...] = (
        price,
        spot,
        strike,
        t_years,
        rate,
        div_yield,
        right,
        out_vol,
        status,
    )
    names = (
        "price",
        "spot",
        "strike",
        "t_years",
        "rate",
        "div_yield",
        "right",
        "out_vol",
        "status",
    )
    for name, arr in zip(names, arrays, strict=True):
        if arr.shape != (n,):
            raise ValueError(f"{name}: expected shape ({n},) like price, got {arr.shape}")
    _iv_loop(price, spot, strike, t_years, rate, div_yield, right, out_vol, status)
