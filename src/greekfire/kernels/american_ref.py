"""Slow, obviously-correct scalar references for :mod:`greekfire.kernels.american` (test oracle).

Plain Python on floats with :mod:`math` only. Each function transcribes the textbook formula
and solves its equations by bisection run until the bracket stops shrinking, trading speed
for transparency. The edge-case policy is the kernels' (see that module's docstring), so the
two can be compared element by element; the numerical methods deliberately differ (bisection
instead of Newton / Brent, per-node ``exp`` instead of tabulated levels), and the closed-form
zero-vol value has a brute-force check beside it.

``right`` is +1 for a call and -1 for a put; units as in the kernels (years, continuously
compounded rates, annualised vol).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from greekfire.kernels.status import (
    ABOVE_MAX_PRICE,
    BELOW_INTRINSIC,
    INVALID_INPUT,
    NO_CONVERGENCE,
    OK,
)

__all__ = [
    "baw_critical_price",
    "baw_exponent",
    "baw_implied_vol",
    "baw_price",
    "crr_price",
    "european_price",
    "intrinsic_value",
    "is_valid",
    "never_early_exercise",
    "zero_vol_price",
    "zero_vol_price_brute_force",
]

_ZERO_VOL_GRID = 100_000
_SCAN_FACTOR = 1.1
_SCAN_LIMIT = 1e12
_MIN_VOL = 1e-9
_MAX_VOL = 64.0


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _bisect(fn: Callable[[float], float], lo: float, hi: float) -> float:
    # fn(lo) < 0 < fn(hi) or fn(lo) > 0 > fn(hi); halve until the midpoint is an endpoint.
    f_lo = fn(lo)
    for _ in range(5000):
        mid = 0.5 * (lo + hi)
        if mid <= min(lo, hi) or mid >= max(lo, hi):
            break
        f_mid = fn(mid)
        if f_mid == 0.0:
            return mid
        if (f_mid < 0.0) == (f_lo < 0.0):
            lo, f_lo = mid, f_mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def is_valid(
    spot: float, strike: float, t_years: float, rate: float, div_yield: float, vol: float
) -> bool:
    """True when every input is finite, ``spot, strike > 0`` and ``t_years, vol >= 0``."""
    values = (spot, strike, t_years, rate, div_yield, vol)
    if not all(math.isfinite(x) for x in values):
        return False
    return spot > 0.0 and strike > 0.0 and t_years >= 0.0 and vol >= 0.0


def intrinsic_value(spot: float, strike: float, right: int) -> float:
    """Exercise value now: ``max(0, right * (spot - strike))``."""
    return max(0.0, right * (spot - strike))


def european_price(
    spot: float,
    strike: float,
    t_years: float,
    rate: float,
    div_yield: float,
    vol: float,
    right: int,
) -> float:
    """Black-Scholes-Merton price with continuous dividend yield (``t_years, vol > 0``)."""
    sd = vol * math.sqrt(t_years)
    d1 = (math.log(spot / strike) + (rate - div_yield + 0.5 * vol * vol) * t_years) / sd
    d2 = d1 - sd
    call = spot * math.exp(-div_yield * t_years) * _norm_cdf(d1) - strike * math.exp(
        -rate * t_years
    ) * _norm_cdf(d2)
    put = strike * math.exp(-rate * t_years) * _norm_cdf(-d2) - spot * math.exp(
        -div_yield * t_years
    ) * _norm_cdf(-d1)
    return call if right == 1 else put


def zero_vol_price_brute_force(
    spot: float, strike: float, t_years: float, rate: float, div_yield: float, right: int
) -> float:
    """Zero-vol American value by brute force: best of 100 001 equally spaced exercise dates.

    With no volatility the underlying at ``tau`` is ``spot * exp((rate - div_yield) * tau)``;
    exercising then is worth ``exp(-rate * tau) * payoff``. Accurate to O(dt^2); slow.
    """
    best = 0.0
    for k in range(_ZERO_VOL_GRID + 1):
        tau = t_years * k / _ZERO_VOL_GRID
        future = spot * math.exp((rate - div_yield) * tau)
        best = max(best, math.exp(-rate * tau) * intrinsic_value(future, strike, right))
    return best


def zero_vol_price(
    spot: float, strike: float, t_years: float, rate: float, div_yield: float, right: int
) -> float:
    """Zero-vol American value: the best of the candidate exercise dates.

    ``right * (spot exp(-q tau) - strike exp(-r tau))`` is smooth in ``tau``, so its maximum
    over ``[0, T]`` is at an end or where its derivative vanishes,
    ``q spot exp(-q tau) = r strike exp(-r tau)``. Checked against
    :func:`zero_vol_price_brute_force` in the tests.
    """

    def exercise_at(tau: float) -> float:
        future = spot * math.exp((rate - div_yield) * tau)
        return math.exp(-rate * tau) * intrinsic_value(future, strike, right)

    candidates = [0.0, t_years]
    ratio = div_yield * spot / (rate * strike) if rate != 0.0 else 0.0
    if ratio > 0.0 and rate != div_yield:
        candidates.append(math.log(ratio) / (div_yield - rate))
    return max(exercise_at(tau) for tau in candidates if 0.0 <= tau <= t_years)


def never_early_exercise(rate: float, div_yield: float, right: int) -> bool:
    """Call: ``q <= 0 and q <= r``; put: ``r <= 0 and r <= q`` (holding always beats exercise)."""
    if right == 1:
        return div_yield <= 0.0 and div_yield <= rate
    return rate <= 0.0 and rate <= div_yield


def baw_exponent(t_years: float, rate: float, div_yield: float, vol: float, right: int) -> float:
    """BAW (1987) exponent ``q2`` (call) or ``q1`` (put) by the textbook quadratic formula.

    ``N = 2 b / vol^2``, ``M = 2 r / vol^2``, ``K(T) = 1 - exp(-r T)``; at ``r == 0`` the ratio
    ``M / K`` takes its limit ``2 / (vol^2 T)``.
    """
    big_n = 2.0 * (rate - div_yield) / (vol * vol)
    if rate == 0.0:
        m_over_k = 2.0 / (vol * vol * t_years)
    else:
        m_over_k = 2.0 * rate / (vol * vol) / (1.0 - math.exp(-rate * t_years))
    root = math.sqrt((big_n - 1.0) ** 2 + 4.0 * m_over_k)
    return (-(big_n - 1.0) + right * root) / 2.0


def _baw_residual(
    s: float, strike: float, t_years: float, rate: float, div_yield: float, vol: float, right: int
) -> float:
    # Value matching at the critical price as "exercise minus continuation".
    exponent = baw_exponent(t_years, rate, div_yield, vol, right)
    sd = vol * math.sqrt(t_years)
    d1 = (math.log(s / strike) + (rate - div_yield + 0.5 * vol * vol) * t_years) / sd
    premium_slope = 1.0 - math.exp(-div_yield * t_years) * _norm_cdf(right * d1)
    exercise = right * (s - strike)
    continuation = european_price(s, strike, t_years, rate, div_yield, vol, right)
    continuation += right * premium_slope * s / exponent
    return exercise - continuation


def baw_critical_price(
    strike: float, t_years: float, rate: float, div_yield: float, vol: float, right: int
) -> float | None:
    """Critical price ``S*`` (call) or ``S**`` (put); ``None`` when value matching has no root.

    Scans away from the strike by factors of 1.1 (up to 1e12) for the first sign change of the
    value-matching residual, then bisects to the last representable double.
    """

    def residual(s: float) -> float:
        return _baw_residual(s, strike, t_years, rate, div_yield, vol, right)

    inner = strike
    if not residual(inner) < 0.0:
        return None
    factor = _SCAN_FACTOR if right == 1 else 1.0 / _SCAN_FACTOR
    while 1.0 / _SCAN_LIMIT < inner / strike < _SCAN_LIMIT:
        outer = inner * factor
        if residual(outer) >= 0.0:
            return _bisect(residual, inner, outer)
        inner = outer
    return None


def baw_price(
    spot: float,
    strike: float,
    t_years: float,
    rate: float,
    div_yield: float,
    vol: float,
    right: int,
) -> float:
    """Barone-Adesi-Whaley (1987) American price (call and put); NaN if invalid.

    Floored at the European value, the intrinsic value and the zero-vol value (lower bounds of
    the American value at any vol); the floor alone when there is no critical price.
    """
    if not is_valid(spot, strike, t_years, rate, div_yield, vol) or right not in (1, -1):
        return math.nan
    if t_years == 0.0:
        return intrinsic_value(spot, strike, right)
    zero_vol = zero_vol_price(spot, strike, t_years, rate, div_yield, right)
    if vol == 0.0:
        return zero_vol
    european = european_price(spot, strike, t_years, rate, div_yield, vol, right)
    floor = max(european, intrinsic_value(spot, strike, right), zero_vol)
    if never_early_exercise(rate, div_yield, right):
        return floor
    s_crit = baw_critical_price(strike, t_years, rate, div_yield, vol, right)
    if s_crit is None or right * (spot - s_crit) >= 0.0:
        return floor
    exponent = baw_exponent(t_years, rate, div_yield, vol, right)
    sd = vol * math.sqrt(t_years)
    d1 = (math.log(s_crit / strike) + (rate - div_yield + 0.5 * vol * vol) * t_years) / sd
    coefficient = right * (s_crit / exponent)
    coefficient *= 1.0 - math.exp(-div_yield * t_years) * _norm_cdf(right * d1)
    return max(floor, european + coefficient * math.pow(spot / s_crit, exponent))


def crr_price(
    spot: float,
    strike: float,
    t_years: float,
    rate: float,
    div_yield: float,
    vol: float,
    right: int,
    steps: int,
) -> float:
    """Cox-Ross-Rubinstein American price with QuantLib's ``"crr"`` tree; NaN if invalid.

    ``dt = T / steps``, ``dx = vol sqrt(dt)``, node ``(i, j)`` at ``spot exp((2 j - i) dx)``,
    ``p_up = 1/2 + (r - q - vol^2 / 2) dt / (2 dx)``, one-step discount ``exp(-r dt)``;
    NaN when ``p_up`` is outside ``[0, 1]``.
    """
    if not is_valid(spot, strike, t_years, rate, div_yield, vol) or right not in (1, -1):
        return math.nan
    if steps < 1:
        return math.nan
    if t_years == 0.0:
        return intrinsic_value(spot, strike, right)
    if vol == 0.0:
        return zero_vol_price(spot, strike, t_years, rate, div_yield, right)
    dt = t_years / steps
    dx = vol * math.sqrt(dt)
    p_up = 0.5 + 0.5 * (rate - div_yield - 0.5 * vol * vol) * dt / dx
    if not 0.0 <= p_up <= 1.0:
        return math.nan
    discount = math.exp(-rate * dt)

    def node(i: int, j: int) -> float:
        return spot * math.exp((2 * j - i) * dx)

    values = [intrinsic_value(node(steps, j), strike, right) for j in range(steps + 1)]
    for i in range(steps - 1, -1, -1):
        values = [
            max(
                discount * ((1.0 - p_up) * values[j] + p_up * values[j + 1]),
                intrinsic_value(node(i, j), strike, right),
            )
            for j in range(i + 1)
        ]
    return values[0]


def baw_implied_vol(
    price: float,
    spot: float,
    strike: float,
    t_years: float,
    rate: float,
    div_yield: float,
    right: int,
) -> tuple[float, int]:
    """BAW implied vol by bisection on ``[1e-9, 64]``: ``(vol, status)``, statuses as the kernel."""
    valid = is_valid(spot, strike, t_years, rate, div_yield, 0.0)
    if not valid or not (math.isfinite(price) and price >= 0.0) or t_years == 0.0:
        return math.nan, INVALID_INPUT
    if right not in (1, -1):
        return math.nan, INVALID_INPUT
    if price >= (spot if right == 1 else strike):
        return math.nan, ABOVE_MAX_PRICE
    floor = baw_price(spot, strike, t_years, rate, div_yield, 0.0, right)
    if price < floor * (1.0 - 1e-15):
        return math.nan, BELOW_INTRINSIC
    if price <= floor * (1.0 + 1e-15):
        return 0.0, OK

    def excess(vol: float) -> float:
        return baw_price(spot, strike, t_years, rate, div_yield, vol, right) - price

    if not excess(_MIN_VOL) < 0.0 or not excess(_MAX_VOL) > 0.0:
        return math.nan, NO_CONVERGENCE
    return _bisect(excess, _MIN_VOL, _MAX_VOL), OK
