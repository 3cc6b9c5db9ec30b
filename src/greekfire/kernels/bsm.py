"""Black-Scholes-Merton (continuous dividend yield) and Black-76: prices and Greeks.

All kernels take 1-D float64 arrays of equal length ``n`` (``right`` is int8, +1 call / -1
put), write into caller-allocated outputs and return nothing. An element that cannot be
priced gets NaN and ``status.INVALID_INPUT``; kernels never raise per element.

Units: ``t_years`` in years (ACT/365 is the caller's choice), ``rate``/``div_yield``/``vol``
continuously compounded, annualised, as decimals (0.05 = 5 %). Greek rows:

====== ============================================================
row    meaning
====== ============================================================
price  option value
delta  dV/dS
gamma  d2V/dS2
vega   dV/dvol per 1.00 of vol (divide by 100 for per vol point)
theta  dV/dt per year of calendar time (= -dV/dT; divide by 365 per day)
rho    dV/drate per 1.00 of rate
vanna  d2V/dS dvol per 1.00 of vol
volga  d2V/dvol2 per 1.00 of vol (vomma)
charm  dDelta/dt per year of calendar time (= -dDelta/dT)
====== ============================================================

Pricing method. With x = ln(F/K), s = vol sqrt(T), z = |x|/s and t = s/2 the value splits into
the intrinsic value of the forward plus an out-of-the-money part (normalised Black, Jaeckel
2015, "Let's be rational", section 2)::

    V = max(right (S e^-qT - K e^-rT), 0) + S e^-qT phi(d1) [M(z - t) - M(z + t)]

where M(u) = Phi(-u) / phi(u) is Mills' ratio, evaluated through erfcx. When the bracket
cancels (short expiries near the money, far out of the money) the exact path sums the series
M(z - t) - M(z + t) = 2 sum_j t^(2j+1) / (2j+1)! I_(2j+1)(z) with the positive moments
I_k(z) = int_0^inf u^k exp(-z u - u^2 / 2) du, so the price is accurate to a few ulps
everywhere; the throughput path skips that series and is accurate to about 1e-14 relative.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from greekfire.kernels._jit import njit, prange, threads_for
from greekfire.kernels.special import (
    INV_SQRT2,
    INV_SQRT_2PI,
    SQRT_HALF_PI,
    erfcx_,
    exp_,
    exp_neg_half_sq,
    log_,
    mills1_,
)
from greekfire.kernels.status import INVALID_INPUT, OK

__all__ = [
    "N_ALL_GREEKS",
    "N_GREEKS",
    "all_greeks_into",
    "black76_all_greeks_into",
    "black76_price_into",
    "bracket_series",
    "core",
    "exact_price",
    "given_vol",
    "price_greeks_into",
    "price_into",
    "setup",
]

F64Array = npt.NDArray[np.float64]
I8Array = npt.NDArray[np.int8]

N_GREEKS = 6  # price, delta, gamma, vega, theta, rho
N_ALL_GREEKS = 9  # + vanna, volga, charm
NEEDS_SCALAR = 127  # internal status between the vector pass and the scalar pass
SERIES_T_MAX = 0.75  # the exact path sums the bracket series below this t = vol sqrt(T) / 2
SERIES_TERMS = 13  # enough for t < 0.75 at any z: the tail is below 1e-18 relative


@njit(inline="always")
def setup(S: float, K: float, T: float, r: float, q: float) -> tuple[float, float, float, float]:
    """The vol-independent parts of one option: (sqrt(T), S e^-qT, K e^-rT, ln(F/K))."""
    return math.sqrt(T), S * exp_(-q * T), K * exp_(-r * T), log_(S / K) + (r - q) * T


@njit(inline="always")
def core(
    S: float, K: float, T: float, r: float, q: float, vol: float, sign: float
) -> tuple[
    float, float, float, float, float, float, float, float, float, float, float, float, float
]:
    """Price parts and Greeks of one regular option (S, K, T, vol > 0); inlined, branch-free.

    Returns (intrinsic, direct out-of-the-money part, delta, gamma, vega, theta, rho, vanna,
    volga, charm, z, t, a) with a = S e^-qT phi(d1); units as in the module docstring. Every
    comparison compiles to a select, so a caller's loop vectorises.
    """
    sqrt_t, sdq, kdr, x = setup(S, K, T, r, q)
    intrinsic, otm, a, z, t, s_n1, k_n2 = given_vol(sqrt_t, sdq, kdr, x, vol, sign)
    s = vol * sqrt_t
    h = x / s
    d1 = h + t
    d2 = h - t
    delta = sign * s_n1 / S
    gamma = a / (S * S * s)
    vega = a * sqrt_t
    theta = -0.5 * a * vol / sqrt_t - sign * r * k_n2 + sign * q * s_n1
    rho = sign * T * k_n2
    vanna = -a * d2 / (S * vol)
    volga = vega * d1 * d2 / vol
    charm = sign * q * s_n1 / S - a * (2.0 * (r - q) * T - d2 * s) / (2.0 * T * s * S)
    return intrinsic, otm, delta, gamma, vega, theta, rho, vanna, volga, charm, z, t, a


@njit(inline="always")
def given_vol(
    sqrt_t: float, sdq: float, kdr: float, x: float, vol: float, sign: float
) -> tuple[float, float, float, float, float, float, float]:
    """The vol-dependent price parts: (intrinsic, direct otm part, a, z, t, S e^-qT Phi(sign d1),
    K e^-rT Phi(sign d2)). Shared bit for bit by the pricers and the implied-vol solver.
    """
    s = vol * sqrt_t
    h = x / s
    t = 0.5 * s
    d1 = h + t
    d2 = h - t
    z = abs(h)
    a = sdq * INV_SQRT_2PI * exp_neg_half_sq(d1)  # = K e^-rT phi(d2)
    m_lo = SQRT_HALF_PI * erfcx_(abs(z - t) * INV_SQRT2)
    m_hi = SQRT_HALF_PI * erfcx_((z + t) * INV_SQRT2)
    otm_call = x <= 0.0
    m1 = m_lo if otm_call else m_hi  # Mills ratio at |d1|
    m2 = m_hi if otm_call else m_lo  # Mills ratio at |d2|
    # S e^-qT Phi(sign d1) and K e^-rT Phi(sign d2), each from its smaller tail.
    s_n1 = a * m1 if sign * d1 < 0.0 else sdq - a * m1
    k_n2 = a * m2 if sign * d2 < 0.0 else kdr - a * m2
    vmax = sdq if otm_call else kdr
    otm = a * (m_lo - m_hi) if t <= z else vmax - a * (m_lo + m_hi)
    intrinsic = max(sign * (sdq - kdr), 0.0)
    return intrinsic, otm, a, z, t, s_n1, k_n2


@njit(inline="always")
def bracket_series(z: float, t: float) -> float:
    """M(z - t) - M(z + t) as a sum of positive terms; M(u) = Phi(-u) / phi(u).

    M(z - t) - M(z + t) = 2 sum_j t^(2j+1) / (2j+1)! I_(2j+1)(z) with the moments
    I_k(z) = int_0^inf u^k exp(-z u - u^2 / 2) du; I_0 and I_1 come from their Chebyshev series
    (``erfcx_``, ``mills1_``), the rest from I_(k+1) = k I_(k-1) - z I_k. That recurrence loses
    about (z t)^(2j) / (2j+1)! ulps on term j, i.e. (|ln(F/K)| / 2)^(2j) / (2j+1)!: under 2 ulps
    for |ln(F/K)| < 5. Fixed length (``SERIES_TERMS``), valid for t < ``SERIES_T_MAX``.
    """
    zc = 40.0 if z > 40.0 else z  # beyond, phi(d1) underflows and the caller multiplies by 0
    y = zc * INV_SQRT2
    i_prev = SQRT_HALF_PI * erfcx_(y)
    i_cur = mills1_(y)
    t2 = t * t
    coef = t
    total = t * i_cur
    k = 1.0
    for _ in range(SERIES_TERMS):
        i_next = k * i_prev - zc * i_cur
        i_next2 = (k + 1.0) * i_cur - zc * i_next
        coef *= t2 * (1.0 / ((k + 1.0) * (k + 2.0)))
        total += coef * i_next2
        i_prev = i_next
        i_cur = i_next2
        k += 2.0
    return 2.0 * total


@njit(inline="always")
def exact_price(
    res: tuple[
        float, float, float, float, float, float, float, float, float, float, float, float, float
    ],
) -> float:
    """The exact price from the parts ``_core`` returns: intrinsic + phi-scaled bracket."""
    t = res[11]
    otm = res[12] * bracket_series(res[10], t) if t < SERIES_T_MAX else res[1]
    return res[0] + otm


@njit(inline="always")
def _regular(S: float, K: float, T: float, r: float, q: float, vol: float) -> bool:
    # False for NaN, inf, non-positive S/K/T/vol, and s so small that d1 would overflow.
    return (
        (S > 0.0)
        & (S < 1e300)
        & (K > 0.0)
        & (K < 1e300)
        & (T > 0.0)
        & (T < 1e300)
        & (vol > 1e-150)
        & (vol < 1e300)
        & (abs(r) < 1e300)
        & (abs(q) < 1e300)
        & (vol * math.sqrt(T) > 1e-150)
    )


@njit(inline="always")
def _load(
    i: int,
    spot: F64Array,
    strike: F64Array,
    t_years: F64Array,
    rate: F64Array,
    div_yield: F64Array,
    vol: F64Array,
    right: I8Array,
) -> tuple[float, float, float, float, float, float, float, bool]:
    S = spot[i]
    K = strike[i]
    T = t_years[i]
    r = rate[i]
    q = div_yield[i]
    v = vol[i]
    sign = right[i]
    ok = _regular(S, K, T, r, q, v) & ((sign == 1) | (sign == -1))
    # Irregular elements run on harmless stand-ins here and are redone by the scalar pass.
    return (
        S if ok else 1.0,
        K if ok else 1.0,
        T if ok else 1.0,
        r if ok else 0.0,
        q if ok else 0.0,
        v if ok else 0.2,
        float(sign) if ok else 1.0,
        ok,
    )


@njit(inline="always")
def _vector_element(
    i: int,
    spot: F64Array,
    strike: F64Array,
    t_years: F64Array,
    rate: F64Array,
    div_yield: F64Array,
    vol: F64Array,
    right: I8Array,
    out: F64Array,
    status: I8Array,
    rows: int,
    exact: bool,
) -> int:
    # One element of a vector pass; returns 1 if the scalar pass must redo it. Callers pass
    # ``rows`` and ``exact`` as literals, so after inlining every store is unconditional and
    # only one price formula is compiled: with a runtime row count the loop ran 1.2 to 7 times
    # slower depending on where the caller's arrays sit in memory, and a runtime ``exact`` made
    # every element pay for the series.
    S, K, T, r, q, v, sign, ok = _load(i, spot, strike, t_years, rate, div_yield, vol, right)
    res = core(S, K, T, r, q, v, sign)
    price = exact_price(res) if exact else res[0] + res[1]
    if rows == 0:
        out[i] = price
    else:
        out[0, i] = price
        out[1, i] = res[2]
        out[2, i] = res[3]
        out[3, i] = res[4]
        out[4, i] = res[5]
        out[5, i] = res[6]
    if rows == N_ALL_GREEKS:
        out[6, i] = res[7]
        out[7, i] = res[8]
        out[8, i] = res[9]
    status[i] = OK if ok else NEEDS_SCALAR
    return 0 if ok else 1


def _make_vector_pass(rows: int, exact: bool) -> Callable[..., int]:
    # One vector pass per output shape and price method. numba freezes the closure's ``rows``
    # and ``exact`` into the compiled code as constants (and keys its disk cache on them).
    # The element stays inside the prange body: numba compiles that body with its array
    # arguments marked noalias, which LLVM needs to vectorise stores into a 2-D output (the
    # same loop in a plain function stays scalar, 13x slower).
    @njit(parallel=True)
    def vector_pass(
        spot: F64Array,
        strike: F64Array,
        t_years: F64Array,
        rate: F64Array,
        div_yield: F64Array,
        vol: F64Array,
        right: I8Array,
        out: F64Array,
        status: I8Array,
    ) -> int:
        redo = 0  # elements the scalar pass must redo
        for i in prange(spot.size):
            redo += _vector_element(
                i, spot, strike, t_years, rate, div_yield, vol, right, out, status, rows, exact
            )
        return redo

    return vector_pass


_VECTOR_PASSES = {
    (rows, exact): _make_vector_pass(rows, exact)
    for rows in (0, N_GREEKS, N_ALL_GREEKS)
    for exact in (False, True)
}


@njit()
def _degenerate(
    S: float, K: float, T: float, r: float, q: float, vol: float, sign: float
) -> tuple[float, float, float, float, float, float, float, float, float]:
    # vol * sqrt(T) == 0: the deterministic limit (intrinsic value of the forward).
    dq = math.exp(-q * T)
    dr = math.exp(-r * T)
    sdq = S * dq
    kdr = K * dr
    x = math.log(S / K) + (r - q) * T
    if x != 0.0:
        ind = 1.0 if sign * x > 0.0 else 0.0
        return (
            max(sign * (sdq - kdr), 0.0),
            sign * dq * ind,
            0.0,
            0.0,
            sign * (q * sdq - r * kdr) * ind,
            sign * T * kdr * ind,
            0.0,
            0.0,
            sign * q * dq * ind,
        )
    # At the money the limits are the d1 = d2 = 0 values; gamma (and theta when T = 0) diverge.
    a = sdq * INV_SQRT_2PI
    theta_time = -math.inf if (T == 0.0 and vol > 0.0) else 0.0
    charm = 0.0 if r == q else -math.copysign(math.inf, r - q)
    return (
        0.0,
        0.5 * sign * dq,
        math.inf,
        a * math.sqrt(T),
        theta_time + 0.5 * sign * (q * sdq - r * kdr),
        0.5 * sign * T * kdr,
        0.0,
        0.0,
        0.5 * sign * q * dq + charm,
    )


@njit()
def _invalid(S: float, K: float, T: float, r: float, q: float, vol: float, sign: float) -> bool:
    finite = (
        math.isfinite(S)
        and math.isfinite(K)
        and math.isfinite(T)
        and math.isfinite(r)
        and math.isfinite(q)
        and math.isfinite(vol)
    )
    return (not finite) or S <= 0.0 or K <= 0.0 or T < 0.0 or vol < 0.0 or abs(sign) != 1.0


@njit()
def _scalar_pass(
    spot: F64Array,
    strike: F64Array,
    t_years: F64Array,
    rate: F64Array,
    div_yield: F64Array,
    vol: F64Array,
    right: I8Array,
    out: F64Array,
    status: I8Array,
) -> None:
    rows = out.shape[0]
    for i in range(spot.size):
        if status[i] != NEEDS_SCALAR:
            continue
        S = spot[i]
        K = strike[i]
        T = t_years[i]
        r = rate[i]
        q = div_yield[i]
        v = vol[i]
        sign = float(right[i])
        if _invalid(S, K, T, r, q, v, sign):
            for row in range(rows):
                out[row, i] = np.nan
            status[i] = INVALID_INPUT
        else:
            res = _degenerate(S, K, T, r, q, v, sign)
            for row in range(rows):
                out[row, i] = res[row]
            status[i] = OK


def _run(
    args: tuple[F64Array, F64Array, F64Array, F64Array, F64Array, F64Array, I8Array],
    out: F64Array,
    status: I8Array,
    exact: bool,
) -> None:
    n = args[0].size
    arrays: tuple[npt.NDArray[Any], ...] = args
    for name, arr in zip(
        ("spot", "strike", "t_years", "rate", "div_yield", "vol", "right"), arrays, strict=True
    ):
        if arr.shape != (n,):
            raise ValueError(f"{name}: expected shape ({n},) like spot, got {arr.shape}")
    if status.shape != (n,):
        raise ValueError(f"status: expected shape ({n},), got {status.shape}")
    vector_pass = _VECTOR_PASSES[(0 if out.ndim == 1 else out.shape[0], exact)]
    with threads_for(n):
        redo = vector_pass(*args, out, status)
    if redo:
        _scalar_pass(*args, out.reshape(-1, n), status)


def _check(out: F64Array, rows: int, n: int) -> None:
    shape = (rows, n) if rows else (n,)
    if out.shape != shape:
        raise ValueError(f"out: expected shape {shape}, got {out.shape}")


def price_greeks_into(
    spot: F64Array,
    strike: F64Array,
    t_years: F64Array,
    rate: F64Array,
    div_yield: F64Array,
    vol: F64Array,
    right: I8Array,
    out: F64Array,
    status: I8Array,
    *,
    exact: bool = False,
) -> None:
    """Price and first-order Greeks into ``out`` (float64, shape (6, n)).

    Rows: price, delta, gamma, vega (per 1.00), theta (per year), rho (per 1.00). ``status``
    (int8, n) receives OK or INVALID_INPUT. ``exact=False`` is the throughput path (price to
    about 1e-14 relative); ``exact=True`` sums the series where the price formula cancels.
    """
    _check(out, N_GREEKS, spot.size)
    _run((spot, strike, t_years, rate, div_yield, vol, right), out, status, exact)


def all_greeks_into(
    spot: F64Array,
    strike: F64Array,
    t_years: F64Array,
    rate: F64Array,
    div_yield: F64Array,
    vol: F64Array,
    right: I8Array,
    out: F64Array,
    status: I8Array,
    *,
    exact: bool = True,
) -> None:
    """Price, first- and second-order Greeks into ``out`` (float64, shape (9, n)).

    Rows as :func:`price_greeks_into` plus vanna (per 1.00 vol), volga (per 1.00 vol squared)
    and charm (per year). The price is exact by default.
    """
    _check(out, N_ALL_GREEKS, spot.size)
    _run((spot, strike, t_years, rate, div_yield, vol, right), out, status, exact)


def price_into(
    spot: F64Array,
    strike: F64Array,
    t_years: F64Array,
    rate: F64Array,
    div_yield: F64Array,
    vol: F64Array,
    right: I8Array,
    out: F64Array,
    status: I8Array,
    *,
    exact: bool = True,
) -> None:
    """Price only, into ``out`` (float64, shape (n,)); exact (a few ulps) by default."""
    _check(out, 0, spot.size)
    _run((spot, strike, t_years, rate, div_yield, vol, right), out, status, exact)


def black76_price_into(
    forward: F64Array,
    strike: F64Array,
    t_years: F64Array,
    rate: F64Array,
    vol: F64Array,
    right: I8Array,
    out: F64Array,
    status: I8Array,
) -> None:
    """Black-76 price of options on a forward/future, into ``out`` (float64, (n,)), exact."""
    price_into(forward, strike, t_years, rate, rate, vol, right, out, status, exact=True)


def black76_all_greeks_into(
    forward: F64Array,
    strike: F64Array,
    t_years: F64Array,
    rate: F64Array,
    vol: F64Array,
    right: I8Array,
    out: F64Array,
    status: I8Array,
) -> None:
    """Black-76 price and Greeks into ``out`` (float64, (9, n)); derivatives hold F fixed.

    Black-76 is BSM with spot = forward and dividend yield = rate; only rho differs: with the
    forward held fixed dV/drate = -T V.
    """
    all_greeks_into(forward, strike, t_years, rate, rate, vol, right, out, status, exact=True)
    out[5] = -t_years * out[0]
