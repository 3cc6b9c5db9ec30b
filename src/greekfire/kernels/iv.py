"""Implied volatility for Black-Scholes-Merton (and Black-76) prices, vectorised over options.

Method: the price splits into intrinsic value plus an out-of-the-money part ``otm(vol)`` (see
:mod:`greekfire.kernels.bsm`); the solver inverts the out-of-the-money part with Halley steps
on a log objective, after Jaeckel ("By implication", 2006; "Let's be rational", 2015):

- below the inflection point s_c = sqrt(2 |ln(F/K)|) of otm(s), s = vol sqrt(T):
  g(vol) = ln otm(vol) - ln target, whose first and second derivatives are closed form
  (g' = sqrt(T) a / otm, g'' = T (a / otm) (d1 d2 / s - a / otm), a = S e^-qT phi(d1));
- above it, where otm is more than half its bound m, g(vol) = ln(m - target) - ln(m - otm(vol))
  (elsewhere m - otm would round away otm's last digits).

The initial guess inverts the Bachelier limit of the normalised price (see
``tools/fit_iv_guess.py``): beta / u ~ G(z) with beta the out-of-the-money price over
sqrt(S e^-qT K e^-rT), u = |ln(F/K)|, z = u / s, read from a cubic Hermite table of G's
inverse; its relative error is O(s^2), under 1e-3 for most options. Every option then takes the
same three Halley steps in lock step, chunk by chunk (branch-free loops that vectorise), with a
bracket [lo, hi] tightened at each step, and one more evaluation scores the last vol; the best
vol seen is kept. It must reprice the option to within one "granule" of the price as a
function of vol (an ulp of the price, or vega times an ulp of vol when that is larger, deep out
of the money); short of that it is polished over the neighbouring vols and kept within two
granules. An option whose step at the last vol is above 1e-11 of it (not converged), still short
after the polish, or whose inputs are out of range or invalid goes to the scalar solver (its
own guess, up to 60 steps, the same polish): about 1 in 10,000 on the benchmark workload.
Both reprice with the same arithmetic as :func:`greekfire.kernels.bsm.price_into`, so a solved
vol reproduces the price it came from.

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

from greekfire.kernels._iv_guess_table import (
    GUESS_C,
    GUESS_DZ,
    GUESS_NODES,
    GUESS_STEP,
    GUESS_Z,
)
from greekfire.kernels._jit import njit, prange, threads_for
from greekfire.kernels.bsm import SERIES_T_MAX, bracket_series, given_vol, setup
from greekfire.kernels.special import SQRT_2PI, log_
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
VECTOR_STEPS = 3  # Halley steps every option takes in the vector pass
CONVERGED_STEP = 1e-11  # a Halley step this small (relative): the vol it started from is exact
NEEDS_SCALAR = 127  # internal status between the vector pass and the scalar pass


@njit(inline="always")
def _otm(sqrt_t: float, sdq: float, kdr: float, x: float, vol: float) -> tuple[float, float, float]:
    # The exact out-of-the-money part, a = S e^-qT phi(d1) and d1 d2: bsm.given_vol and
    # bsm.exact_price's arithmetic, so that intrinsic + otm is bit for bit price_into's price.
    res = given_vol(sqrt_t, sdq, kdr, x, vol, 1.0)
    a = res[2]
    z = res[3]
    t = res[4]
    otm = a * bracket_series(z, t) if t < SERIES_T_MAX else res[1]
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


@njit(inline="always")
def _guess(beta: float, u: float) -> float:
    """s = vol sqrt(T) from the Bachelier-limit inverse: beta / u = G(z), s = u / z."""
    v = log_(beta / u)  # +inf at the money (u = 0)
    w2 = GUESS_C - v
    pos = math.sqrt(w2 if w2 > 0.0 else 0.0) * (1.0 / GUESS_STEP)
    pos = pos if pos < GUESS_NODES - 1.0 else GUESS_NODES - 1.0
    j = int(pos)
    j = j if j < GUESS_NODES - 2 else GUESS_NODES - 2
    f = pos - j
    g = 1.0 - f
    # Cubic Hermite on [j, j + 1] from the values and slopes (per step) at both nodes.
    z = (
        (1.0 + 2.0 * f) * g * g * GUESS_Z[j]
        + f * g * g * (GUESS_STEP * GUESS_DZ[j])
        + f * f * (3.0 - 2.0 * f) * GUESS_Z[j + 1]
        - f * f * g * (GUESS_STEP * GUESS_DZ[j + 1])
    )
    # Above the table (z < 2e-5) G(z) = phi(0) / z - 1/2 + O(z), so s = sqrt(2 pi) (beta + u / 2).
    return SQRT_2PI * (beta + 0.5 * u) if v > GUESS_C else u / z


@njit(inline="always")
def _step(
    state: tuple[float, float, float, float, float],
    price: float,
    intrinsic: float,
    sqrt_t: float,
    sdq: float,
    kdr: float,
    x: float,
    bound: float,
    ln_target: float,
    ln_rest: float,
    upper: bool,
) -> tuple[float, float, float, float, float, float, float]:
    # One branch-free Halley step from state (vol, lo, hi, best vol, best error); returns the
    # new state, the size of the step and the vega at ``vol``.
    vol, lo, hi, best, best_err = state
    otm, a, d1d2 = _otm(sqrt_t, sdq, kdr, x, vol)
    err = abs((intrinsic + otm) - price)
    better = err < best_err
    best = vol if better else best
    best_err = err if better else best_err
    # Bracket on the out-of-the-money objective the step uses: deep in the money, adding the
    # intrinsic value rounds away differences the step still sees.
    high = otm > price - intrinsic
    hi = vol if high else hi
    lo = lo if high else vol
    s = vol * sqrt_t
    rest = bound - otm
    w_up = sqrt_t * a / rest
    w_lo = sqrt_t * a / otm
    g = ln_rest - log_(rest) if upper else log_(otm) - ln_target
    g1 = w_up if upper else w_lo
    g2 = sqrt_t * w_up * (d1d2 / s + a / rest) if upper else sqrt_t * w_lo * (d1d2 / s - a / otm)
    new = vol + _halley(g, g1, g2)
    inside = (new >= lo) & (new <= hi)  # a converged vol sits on a bracket end
    fallback = 0.5 * (lo + hi) if hi < math.inf else 2.0 * vol
    new = new if inside else fallback
    return new, lo, hi, best, best_err, abs(new - vol), sqrt_t * a


@njit(inline="always")
def _regular_inputs(
    price: float, S: float, K: float, T: float, r: float, q: float, sign: float
) -> bool:
    # False for NaN, inf, non-positive inputs, and magnitudes where the vector arithmetic could
    # overflow; the scalar pass classifies those.
    return (
        (price > 0.0)
        & (price < 1e300)
        & (S > 1e-300)
        & (S < 1e300)
        & (K > 1e-300)
        & (K < 1e300)
        & (T > 1e-300)
        & (T < 1e300)
        & (abs(r) < 1e300)
        & (abs(q) < 1e300)
        & ((sign == 1.0) | (sign == -1.0))
    )


# The vector pass works through the options in chunks small enough that a chunk's solver state
# stays in the L1/L2 cache: one loop sets up every option of the chunk, then each Halley step
# is one loop over the chunk. Each loop body is straight-line code, so LLVM vectorises it, and
# the step is compiled once however many steps run.
CHUNK = 256
# Row offsets into the flat state of a chunk: constant offsets let LLVM see that the rows never
# overlap (with a 2-D array's runtime row stride it gave up vectorising).
_PRICE, _SQRT_T, _SDQ, _KDR, _X, _INTRINSIC, _BOUND, _LN_TARGET, _LN_REST, _UPPER, _OK = (
    k * CHUNK for k in range(11)
)
_VOL, _LO, _HI, _BEST, _BEST_ERR, _LAST, _VEGA = (k * CHUNK for k in range(11, 18))
_ROWS = 18
EPS = 2.220446049250313e-16


@njit(inline="always")
def _start(
    price: float, S: float, K: float, T: float, r: float, q: float, sign: float
) -> tuple[float, float, float, float, float, float, float, float, float, float, float, float]:
    # Constants and initial vol of one option: (price, sqrt_t, sdq, kdr, x, intrinsic, bound,
    # ln_target, ln_rest, upper, solvable, vol), flags as 1.0 / 0.0. Irregular or unsolvable
    # options run on harmless stand-ins and are left to the scalar pass.
    ok = _regular_inputs(price, S, K, T, r, q, sign)
    p = price if ok else 10.0
    sign = sign if ok else 1.0
    sqrt_t, sdq, kdr, x = setup(
        S if ok else 100.0,
        K if ok else 100.0,
        T if ok else 1.0,
        r if ok else 0.0,
        q if ok else 0.0,
    )
    intrinsic = max(sign * (sdq - kdr), 0.0)
    vmax = sdq if sign > 0.0 else kdr
    bound = min(sdq, kdr)  # the out-of-the-money option's supremum
    solvable = ok & (p > intrinsic) & (p < vmax)
    target = p - intrinsic if solvable else 0.5 * bound
    u = abs(x)
    beta = target / math.sqrt(sdq * kdr)
    s_guess = _guess(beta, u)
    upper = s_guess * s_guess > 2.0 * u  # beyond the inflection point s_c = sqrt(2 u)
    s_up = max(s_guess, max(math.sqrt(2.0 * u), SQRT_2PI * beta))
    s0 = s_up if upper else s_guess
    # The complementary objective ln(bound - otm) resolves otm only to an ulp of the bound:
    # use it only where otm is of the bound's size anyway.
    upper = upper & (target > 0.5 * bound)
    return (
        p if solvable else intrinsic + target,
        sqrt_t,
        sdq,
        kdr,
        x,
        intrinsic,
        bound,
        log_(target),
        log_(bound - target),
        1.0 if upper else 0.0,
        1.0 if solvable else 0.0,
        s0 / sqrt_t,
    )


@njit()
def _vector_chunk(
    start: int,
    m: int,
    price: F64Array,
    spot: F64Array,
    strike: F64Array,
    t_years: F64Array,
    rate: F64Array,
    div_yield: F64Array,
    right: I8Array,
    out_vol: F64Array,
    status: I8Array,
) -> int:
    # Solve options start .. start + m - 1 (m <= CHUNK); returns how many need the scalar pass.
    # A plain function called from the parallel loop: numba's parallel passes slow down a lot
    # on big loop bodies. Each inner loop vectorises on its own; their bodies take and return
    # scalars only (an array passed to a helper brings reference-count calls that stop LLVM
    # from vectorising).
    st = np.empty(_ROWS * CHUNK)
    for j in range(m):
        i = start + j
        c = _start(price[i], spot[i], strike[i], t_years[i], rate[i], div_yield[i], float(right[i]))
        st[_PRICE + j] = c[0]
        st[_SQRT_T + j] = c[1]
        st[_SDQ + j] = c[2]
        st[_KDR + j] = c[3]
        st[_X + j] = c[4]
        st[_INTRINSIC + j] = c[5]
        st[_BOUND + j] = c[6]
        st[_LN_TARGET + j] = c[7]
        st[_LN_REST + j] = c[8]
        st[_UPPER + j] = c[9]
        st[_OK + j] = c[10]
        st[_VOL + j] = c[11]
        st[_LO + j] = 0.0
        st[_HI + j] = math.inf
        st[_BEST + j] = c[11]
        st[_BEST_ERR + j] = math.inf
        st[_LAST + j] = math.inf
        st[_VEGA + j] = 0.0
    # VECTOR_STEPS Halley steps, then one more evaluation to score the last vol.
    for _ in range(VECTOR_STEPS + 1):
        for j in range(m):
            new, lo, hi, best, best_err, last, vega = _step(
                (st[_VOL + j], st[_LO + j], st[_HI + j], st[_BEST + j], st[_BEST_ERR + j]),
                st[_PRICE + j],
                st[_INTRINSIC + j],
                st[_SQRT_T + j],
                st[_SDQ + j],
                st[_KDR + j],
                st[_X + j],
                st[_BOUND + j],
                st[_LN_TARGET + j],
                st[_LN_REST + j],
                st[_UPPER + j] > 0.5,
            )
            st[_VOL + j] = new
            st[_LO + j] = lo
            st[_HI + j] = hi
            st[_BEST + j] = best
            st[_BEST_ERR + j] = best_err
            st[_LAST + j] = last
            st[_VEGA + j] = vega
    redo = 0
    for j in range(m):
        # The step computed at the last vol must be at the rounding level (the vol was
        # exact), and the best vol must reprice the option to within one granule of the
        # price as a function of vol: an ulp of the price, or what one ulp of vol moves it
        # (vega ulp(vol), the larger one deep out of the money). A converged option short of
        # that is polished over the neighbouring vols (a few per cent of them, so this loop
        # stays scalar) and kept if within two granules; the rest go to the scalar solver.
        vol = st[_VOL + j]
        price_j = st[_PRICE + j]
        granule = max(EPS * price_j, EPS * vol * st[_VEGA + j])
        settled = (st[_OK + j] > 0.5) & (st[_LAST + j] <= CONVERGED_STEP * vol)
        best = st[_BEST + j]
        err = st[_BEST_ERR + j]
        if settled and err > granule:
            intrinsic = st[_INTRINSIC + j]
            centre = best
            for k in (-2.0, -1.0, 1.0, 2.0):
                cand = centre * (1.0 + k * EPS)
                otm = _otm(st[_SQRT_T + j], st[_SDQ + j], st[_KDR + j], st[_X + j], cand)[0]
                e = abs((intrinsic + otm) - price_j)
                if e < err:
                    best = cand
                    err = e
        converged = settled & (err <= 2.0 * granule)
        out_vol[start + j] = best
        status[start + j] = OK if converged else NEEDS_SCALAR
        redo += 0 if converged else 1
    return redo


@njit(parallel=True)
def _vector_pass(
    price: F64Array,
    spot: F64Array,
    strike: F64Array,
    t_years: F64Array,
    rate: F64Array,
    div_yield: F64Array,
    right: I8Array,
    out_vol: F64Array,
    status: I8Array,
) -> int:
    n = price.size
    redo = 0
    for c in prange((n + CHUNK - 1) // CHUNK):
        start = c * CHUNK
        redo += _vector_chunk(
            start,
            min(CHUNK, n - start),
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
    return redo


@njit()
def _scalar_pass(
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
    for i in range(price.size):
        if status[i] == NEEDS_SCALAR:
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
    args = (price, spot, strike, t_years, rate, div_yield, right, out_vol, status)
    with threads_for(n):
        redo = _vector_pass(*args)
    if redo:
        _scalar_pass(*args)
