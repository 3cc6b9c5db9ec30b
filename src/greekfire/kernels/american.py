"""American option kernels: Barone-Adesi-Whaley, Cox-Ross-Rubinstein and BAW implied volatility.

All kernels take 1-D C-contiguous float64 arrays of equal length ``n`` (``right`` is int8,
+1 call / -1 put), write into caller-allocated outputs and report one int8 status per element
(codes in :mod:`greekfire.kernels.status`). They never raise per element: an element that
cannot be computed gets NaN and a non-zero status.

Units: ``t_years`` in years, ``rate`` and ``div_yield`` continuously compounded per year,
``vol`` annualised (0.20 = 20 %), prices in the currency of ``spot``.

Shared edge-case policy (every kernel):

* non-finite input, ``spot <= 0``, ``strike <= 0``, ``t_years < 0``, ``vol < 0`` or a right
  other than +1/-1: NaN and ``INVALID_INPUT``;
* ``t_years == 0``: the intrinsic value;
* ``vol == 0``: the deterministic limit ``max(0, max over tau in [0, T] of
  w * (S exp(-q tau) - K exp(-r tau)))`` (``w`` = +1 call, -1 put): the underlying grows
  at ``r - q`` and the holder exercises at the best date. The maximum is at ``tau = 0``
  (intrinsic), ``tau = T`` (discounted forward payoff) or the stationary point
  ``tau* = ln(q S / (r K)) / (q - r)`` when it lies inside ``(0, T)``. This is the exact
  zero-vol American value; the BAW approximation does not tend to it as ``vol -> 0+`` (its
  exponent stays finite when the drift dominates), so BAW jumps at ``vol == 0``;
* BAW only: early exercise is never optimal for a call when ``q <= 0`` and ``q <= r`` and
  for a put when ``r <= 0`` and ``r <= q`` (holding beats exercising at every date), so the
  European value is returned; this covers ``q <= 0 <= r`` calls and negative-rate puts.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from greekfire.kernels._jit import njit, prange
from greekfire.kernels.status import (
    ABOVE_MAX_PRICE,
    BELOW_INTRINSIC,
    INVALID_INPUT,
    NO_CONVERGENCE,
    OK,
)

__all__ = ["american_iv_into", "baw_price_into", "crr_price_into"]

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_EPS = 2.220446049250313e-16

# Critical-price search: geometric scan from the strike, then safeguarded Newton.
_SCAN_GROWTH = 1.5
_SCAN_STEPS = 100
_NEWTON_MAX_ITER = 100
_NEWTON_REL_TOL = 4.0 * _EPS

# Implied-vol bracket and Brent iteration budget.
_IV_MIN_VOL = 1e-9
_IV_FIRST_HI = 0.5
_IV_MAX_VOL = 64.0
_IV_MAX_ITER = 200
_IV_XTOL = 1e-15


@njit(inline="always")
def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x * _INV_SQRT2)


@njit(inline="always")
def _norm_pdf(x: float) -> float:
    return _INV_SQRT_2PI * math.exp(-0.5 * x * x)


@njit()
def _inputs_valid(spot: float, strike: float, t: float, r: float, q: float, vol: float) -> bool:
    finite = (
        math.isfinite(spot)
        and math.isfinite(strike)
        and math.isfinite(t)
        and math.isfinite(r)
        and math.isfinite(q)
        and math.isfinite(vol)
    )
    return finite and spot > 0.0 and strike > 0.0 and t >= 0.0 and vol >= 0.0


@njit()
def _european(
    spot: float, strike: float, t: float, r: float, q: float, vol: float, w: float
) -> float:
    # Black-Scholes-Merton with continuous yield; t > 0 and vol > 0 here.
    sd = vol * math.sqrt(t)
    d1 = (math.log(spot / strike) + (r - q) * t) / sd + 0.5 * sd
    d2 = d1 - sd
    return w * (
        spot * math.exp(-q * t) * _norm_cdf(w * d1) - strike * math.exp(-r * t) * _norm_cdf(w * d2)
    )


@njit()
def _deterministic(spot: float, strike: float, t: float, r: float, q: float, w: float) -> float:
    # vol == 0: best exercise date of w * (S e^{-q tau} - K e^{-r tau}) over [0, T].
    best = max(0.0, w * (spot - strike))
    best = max(best, w * (spot * math.exp(-q * t) - strike * math.exp(-r * t)))
    if q != r and q * r > 0.0:
        tau = math.log(q * spot / (r * strike)) / (q - r)
        if 0.0 < tau < t:
            best = max(best, w * (spot * math.exp(-q * tau) - strike * math.exp(-r * tau)))
    return best


@njit()
def _never_early(r: float, q: float, w: float) -> bool:
    if w > 0.0:
        return q <= 0.0 and q <= r
    return r <= 0.0 and r <= q


@njit()
def _quadratic_exponent(t: float, r: float, q: float, vol: float, w: float) -> float:
    # BAW (1987) exponents q2 (call) / q1 (put): roots of x^2 + (N - 1) x - M/K = 0 with
    # N = 2 (r - q) / vol^2, M = 2 r / vol^2, K = 1 - exp(-r T); written without cancellation.
    var = vol * vol
    b = 2.0 * (r - q) / var - 1.0
    # M / K(T) = 2 r / (var (1 - exp(-r T))), whose r -> 0 limit is 2 / (var T).
    c = 2.0 / (var * t) if r == 0.0 else 2.0 * r / (var * -math.expm1(-r * t))
    disc = math.hypot(b, 2.0 * math.sqrt(c))
    if w > 0.0:
        return 2.0 * c / (b + disc) if b > 0.0 else 0.5 * (disc - b)
    return -2.0 * c / (disc - b) if b < 0.0 else -0.5 * (b + disc)


@njit()
def _boundary_residual(
    s: float, strike: float, t: float, r: float, q: float, vol: float, w: float, qq: float
) -> tuple[float, float]:
    # Value matching at the critical price and its derivative in s: negative on the
    # continuation side (towards the strike), positive on the exercise side.
    sd = vol * math.sqrt(t)
    d1 = (math.log(s / strike) + (r - q) * t) / sd + 0.5 * sd
    df_q = math.exp(-q * t)
    phi = 1.0 - df_q * _norm_cdf(w * d1)
    eur = _european(s, strike, t, r, q, vol, w)
    f = w * (s - strike) - eur - w * phi * s / qq
    df = w * phi * (1.0 - 1.0 / qq) + df_q * _norm_pdf(d1) / (qq * sd)
    return f, df


@njit()
def _scan_bracket(
    strike: float, t: float, r: float, q: float, vol: float, w: float, qq: float
) -> tuple[float, float]:
    # Walk away from the strike geometrically until the residual turns positive.
    inner = strike
    f_inner, _ = _boundary_residual(inner, strike, t, r, q, vol, w, qq)
    if not f_inner < 0.0:
        return math.nan, math.nan
    factor = _SCAN_GROWTH if w > 0.0 else 1.0 / _SCAN_GROWTH
    for _ in range(_SCAN_STEPS):
        outer = inner * factor
        f_outer, _ = _boundary_residual(outer, strike, t, r, q, vol, w, qq)
        if f_outer >= 0.0:
            return (inner, outer) if w > 0.0 else (outer, inner)
        inner = outer
    return math.nan, math.nan


@njit()
def _critical_price(
    strike: float, t: float, r: float, q: float, vol: float, w: float, qq: float
) -> float:
    # Safeguarded Newton (bisection when Newton leaves the bracket or stalls); NaN: no boundary.
    lo, hi = _scan_bracket(strike, t, r, q, vol, w, qq)
    if math.isnan(lo):
        return math.nan
    x = math.sqrt(lo * hi)
    step_old = hi - lo
    for _ in range(_NEWTON_MAX_ITER):
        f, df = _boundary_residual(x, strike, t, r, q, vol, w, qq)
        if f == 0.0:
            return x
        if (f < 0.0) == (w > 0.0):
            lo = x
        else:
            hi = x
        step = f / df
        x_new = x - step
        if not (lo < x_new < hi) or abs(2.0 * step) > abs(step_old):
            x_new = 0.5 * (lo + hi)
        step_old = x_new - x
        x = x_new
        if abs(step_old) <= _NEWTON_REL_TOL * x:
            return x
    return x


@njit()
def _baw_early(
    spot: float, strike: float, t: float, r: float, q: float, vol: float, w: float
) -> float:
    # BAW (1987): European value plus the premium A (S / S*)^q below (call) or above (put) S*,
    # floored at the no-arbitrage bounds max(European, intrinsic), which the approximation
    # can break when r < 0 or q < 0.
    eur = _european(spot, strike, t, r, q, vol, w)
    floor = max(eur, max(0.0, w * (spot - strike)))
    qq = _quadratic_exponent(t, r, q, vol, w)
    s_crit = _critical_price(strike, t, r, q, vol, w, qq)
    if math.isnan(s_crit) or w * (spot - s_crit) >= 0.0:
        # No exercise boundary, or spot already in the exercise region.
        return floor
    sd = vol * math.sqrt(t)
    d1 = (math.log(s_crit / strike) + (r - q) * t) / sd + 0.5 * sd
    a = w * (s_crit / qq) * (1.0 - math.exp(-q * t) * _norm_cdf(w * d1))
    return max(floor, eur + a * math.pow(spot / s_crit, qq))


@njit()
def _baw_value(
    spot: float, strike: float, t: float, r: float, q: float, vol: float, w: float
) -> float:
    # Valid inputs only. The zero-vol value bounds the price from below at every vol
    # (exercising at its best date under any vol is worth at least as much, by Jensen).
    if t == 0.0:
        return max(0.0, w * (spot - strike))
    floor = _deterministic(spot, strike, t, r, q, w)
    if vol == 0.0:
        return floor
    if _never_early(r, q, w):
        return max(floor, _european(spot, strike, t, r, q, vol, w))
    return max(floor, _baw_early(spot, strike, t, r, q, vol, w))


@njit(parallel=True)
def baw_price_into(
    spot: NDArray[np.float64],
    strike: NDArray[np.float64],
    t_years: NDArray[np.float64],
    rate: NDArray[np.float64],
    div_yield: NDArray[np.float64],
    vol: NDArray[np.float64],
    right: NDArray[np.int8],
    out: NDArray[np.float64],
    status: NDArray[np.int8],
) -> None:
    """Barone-Adesi-Whaley quadratic approximation of American option prices.

    Reference: G. Barone-Adesi and R. E. Whaley, "Efficient Analytic Approximation of American
    Option Values", Journal of Finance 42(2), 1987, with the cost of carry ``b = r - q``:
    European value plus ``A (S / S*)^q`` in the continuation region, intrinsic value beyond
    the critical price ``S*``. ``S*`` solves value matching by a geometric bracket scan from
    the strike and a safeguarded Newton iteration to a relative step of ``4 * eps``.

    Parameters
    ----------
    spot, strike : float64 array, shape (n,)
        Underlying price and strike, > 0.
    t_years : float64 array, shape (n,)
        Time to expiry in years, >= 0.
    rate, div_yield : float64 array, shape (n,)
        Continuously compounded risk-free rate and dividend yield per year; any sign.
    vol : float64 array, shape (n,)
        Annualised Black-Scholes volatility, >= 0.
    right : int8 array, shape (n,)
        +1 call, -1 put.
    out : float64 array, shape (n,)
        Receives the American price.
    status : int8 array, shape (n,)
        Receives ``OK`` or ``INVALID_INPUT`` (NaN price), or ``NO_CONVERGENCE`` (NaN price)
        if the arithmetic overflows (e.g. vol below ~1e-150).

    Notes
    -----
    Edge cases follow the module policy (expiry, zero vol, no-early-exercise regions). The
    result is floored at the European value and at the zero-vol value (itself at least the
    intrinsic value): no-arbitrage lower bounds the approximation can break when ``r < 0`` or
    ``q < 0`` (puts with ``q < r < 0`` and calls with ``r < q < 0`` may have an interval
    exercise region, outside the paper's assumptions); the floor alone is returned when
    value matching has no root. For ``r >= 0`` the values
    agree with QuantLib's ``BaroneAdesiWhaleyApproximationEngine`` up to the effect of its
    looser critical-price tolerance.
    """
    for i in prange(spot.shape[0]):
        w = float(right[i])
        args_ok = _inputs_valid(spot[i], strike[i], t_years[i], rate[i], div_yield[i], vol[i])
        if not args_ok or (right[i] != 1 and right[i] != -1):
            out[i] = math.nan
            status[i] = INVALID_INPUT
            continue
        value = _baw_value(spot[i], strike[i], t_years[i], rate[i], div_yield[i], vol[i], w)
        out[i] = value if math.isfinite(value) else math.nan
        status[i] = OK if math.isfinite(value) else NO_CONVERGENCE


@njit()
def _crr_tree(
    spot: float, strike: float, t: float, r: float, q: float, vol: float, w: float, steps: int
) -> float:
    # QuantLib's "crr" lattice: log step dx = vol sqrt(dt), up probability from the log drift
    # r - q - vol^2 / 2, exercise checked at every node including t = 0. NaN: p outside [0, 1].
    dt = t / steps
    dx = vol * math.sqrt(dt)
    p_up = 0.5 + 0.5 * (r - q - 0.5 * vol * vol) * dt / dx
    if not (0.0 <= p_up <= 1.0):
        return math.nan
    p_down = 1.0 - p_up
    disc = math.exp(-r * dt)
    # Node (i, j) sits at spot * exp((2 j - i) dx); level k = 2 j - i is shared across steps.
    levels = np.empty(2 * steps + 1)
    for k in range(2 * steps + 1):
        levels[k] = spot * math.exp((k - steps) * dx)
    values = np.empty(steps + 1)
    for j in range(steps + 1):
        values[j] = max(0.0, w * (levels[2 * j] - strike))
    for i in range(steps - 1, -1, -1):
        for j in range(i + 1):
            cont = (p_down * values[j] + p_up * values[j + 1]) * disc
            values[j] = max(cont, w * (levels[2 * j - i + steps] - strike))
    return float(values[0])


@njit()
def _crr_value(
    spot: float, strike: float, t: float, r: float, q: float, vol: float, w: float, steps: int
) -> float:
    if t == 0.0:
        return max(0.0, w * (spot - strike))
    if vol == 0.0:
        return _deterministic(spot, strike, t, r, q, w)
    return _crr_tree(spot, strike, t, r, q, vol, w, steps)


@njit(parallel=True)
def crr_price_into(
    spot: NDArray[np.float64],
    strike: NDArray[np.float64],
    t_years: NDArray[np.float64],
    rate: NDArray[np.float64],
    div_yield: NDArray[np.float64],
    vol: NDArray[np.float64],
    right: NDArray[np.int8],
    steps: int,
    out: NDArray[np.float64],
    status: NDArray[np.int8],
) -> None:
    """Cox-Ross-Rubinstein binomial tree for American options, QuantLib conventions.

    Reference: J. C. Cox, S. A. Ross and M. Rubinstein, "Option Pricing: A Simplified
    Approach", Journal of Financial Economics 7, 1979. The tree follows QuantLib's
    ``BinomialVanillaEngine(process, "crr", steps)``: ``dt = T / steps``, nodes at
    ``S exp((2 j - i) vol sqrt(dt))``, up probability
    ``p = 1/2 + (r - q - vol^2 / 2) sqrt(dt) / (2 vol)`` (log-drift matching, not the
    ``(exp((r - q) dt) - d) / (u - d)`` of the textbook), discount ``exp(-r dt)`` per step,
    exercise allowed at every node including the root. Cost O(steps^2) per option.

    Parameters
    ----------
    spot, strike, t_years, rate, div_yield, vol : float64 array, shape (n,)
        As in :func:`baw_price_into` (years, continuous rates, annualised vol).
    right : int8 array, shape (n,)
        +1 call, -1 put.
    steps : int
        Number of time steps, >= 1 (QuantLib itself requires >= 2).
    out : float64 array, shape (n,)
        Receives the American price.
    status : int8 array, shape (n,)
        Receives ``OK``; ``INVALID_INPUT`` with a NaN price for invalid inputs, for
        ``steps < 1`` and when ``p`` falls outside ``[0, 1]`` (too few steps for the drift);
        ``NO_CONVERGENCE`` with a NaN price when the top node overflows
        (``steps * vol * sqrt(dt)`` beyond ~709).
    """
    for i in prange(spot.shape[0]):
        w = float(right[i])
        args_ok = _inputs_valid(spot[i], strike[i], t_years[i], rate[i], div_yield[i], vol[i])
        if steps < 1 or not args_ok or (right[i] != 1 and right[i] != -1):
            out[i] = math.nan
            status[i] = INVALID_INPUT
            continue
        value = _crr_value(spot[i], strike[i], t_years[i], rate[i], div_yield[i], vol[i], w, steps)
        out[i] = value if math.isfinite(value) else math.nan
        if math.isfinite(value):
            status[i] = OK
        else:
            status[i] = INVALID_INPUT if math.isnan(value) else NO_CONVERGENCE


@njit()
def _brent_step(
    a: float,
    b: float,
    c: float,
    fa: float,
    fb: float,
    fc: float,
    d: float,
    e: float,
    m: float,
    tol: float,
) -> tuple[float, float]:
    # One Brent-Dekker proposal, returns (step, previous step): bisection unless interpolation
    # (inverse quadratic with three distinct points, else secant) stays safely inside.
    if abs(e) < tol or abs(fa) <= abs(fb):
        return m, m
    s = fb / fa
    if a == c:
        p = 2.0 * m * s
        qd = 1.0 - s
    else:
        qa = fa / fc
        rb = fb / fc
        p = s * (2.0 * m * qa * (qa - rb) - (b - a) * (rb - 1.0))
        qd = (qa - 1.0) * (rb - 1.0) * (s - 1.0)
    if p > 0.0:
        qd = -qd
    else:
        p = -p
    if 2.0 * p < min(3.0 * m * qd - abs(tol * qd), abs(e * qd)):
        return p / qd, d
    return m, m


@njit()
def _iv_brent(
    price: float,
    spot: float,
    strike: float,
    t: float,
    r: float,
    q: float,
    w: float,
    lo: float,
    hi: float,
    f_lo: float,
    f_hi: float,
) -> tuple[float, bool]:
    # Brent (1973, ch. 4) on f(vol) = BAW(vol) - price over a sign-changing bracket.
    a, b, c = lo, hi, lo
    fa, fb, fc = f_lo, f_hi, f_lo
    d = e = hi - lo
    for _ in range(_IV_MAX_ITER):
        if (fb > 0.0) == (fc > 0.0):
            c, fc = a, fa
            d = e = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol = 2.0 * _EPS * abs(b) + 0.5 * _IV_XTOL
        m = 0.5 * (c - b)
        if abs(m) <= tol or fb == 0.0:
            return b, True
        d, e = _brent_step(a, b, c, fa, fb, fc, d, e, m, tol)
        a, fa = b, fb
        b += d if abs(d) > tol else math.copysign(tol, m)
        fb = _baw_value(spot, strike, t, r, q, b, w) - price
    return b, False


@njit()
def _iv_bracket(
    price: float, spot: float, strike: float, t: float, r: float, q: float, w: float
) -> tuple[float, float, float, float]:
    # [lo, hi] with BAW(lo) < price < BAW(hi), hi doubling from 0.5; NaN lo: no bracket.
    lo = _IV_MIN_VOL
    f_lo = _baw_value(spot, strike, t, r, q, lo, w) - price
    if not f_lo < 0.0:
        return math.nan, math.nan, math.nan, math.nan
    hi = _IV_FIRST_HI
    f_hi = _baw_value(spot, strike, t, r, q, hi, w) - price
    while f_hi < 0.0 and hi < _IV_MAX_VOL:
        lo, f_lo = hi, f_hi
        hi *= 2.0
        f_hi = _baw_value(spot, strike, t, r, q, hi, w) - price
    if not f_hi >= 0.0:
        return math.nan, math.nan, math.nan, math.nan
    return lo, hi, f_lo, f_hi


@njit()
def _iv_one(
    price: float, spot: float, strike: float, t: float, r: float, q: float, w: float
) -> tuple[float, int]:
    # Classify against the no-arbitrage bounds, then bracket and run Brent.
    if price >= (spot if w > 0.0 else strike):
        return math.nan, ABOVE_MAX_PRICE
    floor = _deterministic(spot, strike, t, r, q, w)
    slack = 4.0 * _EPS * floor
    if price < floor - slack:
        return math.nan, BELOW_INTRINSIC
    if price <= floor + slack:
        return 0.0, OK
    lo, hi, f_lo, f_hi = _iv_bracket(price, spot, strike, t, r, q, w)
    if math.isnan(lo):
        return math.nan, NO_CONVERGENCE
    if f_hi == 0.0:
        return hi, OK
    vol, converged = _iv_brent(price, spot, strike, t, r, q, w, lo, hi, f_lo, f_hi)
    if not converged or not math.isfinite(vol):
        return math.nan, NO_CONVERGENCE
    return vol, OK


@njit(parallel=True)
def american_iv_into(
    price: NDArray[np.float64],
    spot: NDArray[np.float64],
    strike: NDArray[np.float64],
    t_years: NDArray[np.float64],
    rate: NDArray[np.float64],
    div_yield: NDArray[np.float64],
    right: NDArray[np.int8],
    out_vol: NDArray[np.float64],
    status: NDArray[np.int8],
) -> None:
    """Implied volatility of American option prices under the Barone-Adesi-Whaley model.

    Inverts :func:`baw_price_into` in ``vol`` with Brent's method (R. P. Brent, "Algorithms
    for Minimization without Derivatives", 1973, ch. 4) on a bracket ``[1e-9, hi]`` where
    ``hi`` doubles from 0.5 up to 64; the bracket width is driven below ``4 eps vol + 1e-15``.

    Parameters
    ----------
    price : float64 array, shape (n,)
        Observed American option price, >= 0, same currency as ``spot``.
    spot, strike : float64 array, shape (n,)
        Underlying price and strike, > 0.
    t_years : float64 array, shape (n,)
        Time to expiry in years, > 0.
    rate, div_yield : float64 array, shape (n,)
        Continuously compounded risk-free rate and dividend yield per year.
    right : int8 array, shape (n,)
        +1 call, -1 put.
    out_vol : float64 array, shape (n,)
        Receives the annualised implied volatility (NaN unless status is ``OK``).
    status : int8 array, shape (n,)
        ``OK``; ``INVALID_INPUT`` (non-finite input, spot/strike/t <= 0, price < 0, bad right);
        ``ABOVE_MAX_PRICE`` (call price >= spot, put price >= strike); ``BELOW_INTRINSIC``
        (price below the zero-vol value, which is at least the intrinsic value);
        ``NO_CONVERGENCE`` (no vol in ``[1e-9, 64]`` brackets the price, e.g. a price between
        the zero-vol value and BAW's small-vol limit, or the iteration budget ran out).

    Notes
    -----
    A price equal to the zero-vol value (within ``4 eps`` relative) returns vol 0 with ``OK``;
    where the BAW price is flat in vol (deep in the exercise region) any vol in the flat
    range reproduces the price and the one returned is not unique.
    """
    for i in prange(price.shape[0]):
        w = float(right[i])
        # The price is checked like a vol: finite and >= 0.
        args_ok = _inputs_valid(spot[i], strike[i], t_years[i], rate[i], div_yield[i], price[i])
        if not args_ok or t_years[i] == 0.0 or (right[i] != 1 and right[i] != -1):
            out_vol[i] = math.nan
            status[i] = INVALID_INPUT
            continue
        vol, code = _iv_one(price[i], spot[i], strike[i], t_years[i], rate[i], div_yield[i], w)
        out_vol[i] = vol
        status[i] = code
