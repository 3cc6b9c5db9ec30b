"""American option prices and implied volatility, vectorised over options.

Inputs are scalars, numpy arrays or pandas Series, broadcast together like the European
functions in :mod:`greekfire.analytics.options`. Invalid elements (non-positive spot, negative
vol, NaN, ...) come back as NaN and never raise; contract errors (shapes that do not
broadcast, an unknown right or method, ``steps < 1``) raise ``ValueError``/``TypeError``
naming the argument.

Units: ``t_years`` in years; ``rate``, ``dividend_yield`` and ``vol`` annualised decimals
(0.05 = 5 %), continuously compounded.

Methods: ``"baw"`` is the Barone-Adesi-Whaley (1987) quadratic approximation (fast, accurate
to a few tenths of a percent for typical contracts); ``"crr"`` the Cox-Ross-Rubinstein binomial
tree with QuantLib's conventions (converges to the exact value as ``steps`` grows, cost
O(steps^2) per option). Kernel details and edge cases: :mod:`greekfire.kernels.american`.

Greeks (:func:`american_greeks`) are central finite differences of the price, taken in one
kernel call over every bumped scenario of every option.
"""

from __future__ import annotations

import difflib
from typing import Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt

from greekfire.analytics._inputs import F64Array, I8Array, Prepared, prepare
from greekfire.analytics.options import (
    DAYS_PER_YEAR,
    ThetaUnit,
    VegaUnit,
    _greek_result,
    _spot_args,
    _spot_inputs,
    _unit_divisors,
)
from greekfire.kernels import american as kernels
from greekfire.kernels.status import OK

__all__ = ["AMERICAN_METHODS", "american_greeks", "american_implied_vol", "american_price"]

AMERICAN_METHODS: Final = ("baw", "crr")
"""Pricing methods accepted by :func:`american_price`."""

_IV_METHODS: Final = ("baw",)


class _Bumps(NamedTuple):
    spot_rel: float  # fraction of the spot
    vol: float  # absolute, decimal
    t_years: float  # years, capped at a quarter of the time to expiry
    rate: float  # absolute, decimal


# Step sizes per method; american_greeks' Notes say why they differ.
_BUMPS: Final = {
    "baw": _Bumps(spot_rel=1e-3, vol=1e-3, t_years=1e-3, rate=1e-4),
    "crr": _Bumps(spot_rel=1e-2, vol=5e-3, t_years=1.0 / DAYS_PER_YEAR, rate=1e-3),
}

_BUMPED: Final = ("spot", "vol", "t_years", "rate")
# Multipliers of the _BUMPED steps, one row per scenario; _differences reads the rows in this
# order. The first _FIRST_ORDER rows suffice for price to rho (and volga).
_SCENARIOS: Final = np.array(
    [
        (0, 0, 0, 0),
        (1, 0, 0, 0),
        (-1, 0, 0, 0),
        (0, 1, 0, 0),
        (0, -1, 0, 0),
        (0, 0, 1, 0),
        (0, 0, -1, 0),
        (0, 0, 0, 1),
        (0, 0, 0, -1),
        (1, 1, 0, 0),
        (1, -1, 0, 0),
        (-1, 1, 0, 0),
        (-1, -1, 0, 0),
        (1, 0, 1, 0),
        (-1, 0, 1, 0),
        (1, 0, -1, 0),
        (-1, 0, -1, 0),
    ],
    dtype=np.float64,
)
_FIRST_ORDER: Final = 9


def _parse_method(method: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(method, str):
        raise TypeError(f"method: expected one of {allowed}, got {method!r}")
    key = method.strip().lower()
    if key in allowed:
        return key
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"method: expected one of {allowed}, got {method!r}{hint}")


def _parse_steps(steps: object) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer):
        raise TypeError(f"steps: expected an integer >= 1, got {steps!r}")
    count = int(steps)
    if count < 1:
        raise ValueError(f"steps: expected an integer >= 1, got {count}")
    return count


def american_price(
    spot: Any,
    strike: Any,
    t_years: Any,
    vol: Any,
    rate: Any = 0.0,
    dividend_yield: Any = 0.0,
    right: Any = "put",
    *,
    method: str = "baw",
    steps: int = 500,
) -> Any:
    """Price American options with Barone-Adesi-Whaley or a Cox-Ross-Rubinstein tree.

    Parameters
    ----------
    spot, strike : float or array-like
        Underlying price and strike, > 0.
    t_years : float or array-like
        Time to expiry in years, >= 0 (0 gives the intrinsic value).
    vol : float or array-like
        Annualised volatility, >= 0 (0 gives the exact zero-vol American value).
    rate, dividend_yield : float or array-like
        Continuously compounded annual risk-free rate and dividend yield; any sign.
    right : str, int, OptionRight or array-like of them
        ``"call"``/``"put"``/``"c"``/``"p"``/``+1``/``-1``; default put.
    method : {"baw", "crr"}
        Barone-Adesi-Whaley (1987) approximation or Cox-Ross-Rubinstein (1979) tree.
    steps : int
        Tree steps for ``method="crr"`` (>= 1; ignored by ``"baw"``).

    Returns
    -------
    float or ndarray of float64
        A float when every input is scalar, else an array of the broadcast shape. NaN where an
        input is invalid, or (``"crr"``) where ``steps`` is too small for the drift and the
        tree's up probability leaves ``[0, 1]``.

    Raises
    ------
    ValueError
        Inputs that do not broadcast, an unknown right or method, ``steps < 1``.
    TypeError
        Non-numeric inputs, a non-string method or a non-integer ``steps``.

    Examples
    --------
    >>> round(american_price(100.0, 100.0, 1.0, 0.2, rate=0.05), 4)
    6.0976
    """
    chosen = _parse_method(method, AMERICAN_METHODS)
    count = _parse_steps(steps)
    p = _spot_inputs(spot, strike, t_years, vol, rate, dividend_yield, right)
    out, _ = _price(p.arrays, p.right, chosen, count)
    return p.shaped(out)


def _price(
    a: dict[str, F64Array], right: I8Array, method: str, steps: int
) -> tuple[F64Array, I8Array]:
    args = _spot_args(a, right)
    out = np.empty(right.size)
    status = np.empty(right.size, dtype=np.int8)
    if method == "crr":
        kernels.crr_price_into(*args, steps, out, status)
    else:
        kernels.baw_price_into(*args, out, status)
    return out, status


def american_greeks(
    spot: Any,
    strike: Any,
    t_years: Any,
    vol: Any,
    rate: Any = 0.0,
    dividend_yield: Any = 0.0,
    right: Any = "put",
    *,
    method: str = "baw",
    steps: int = 500,
    theta_unit: ThetaUnit = "year",
    vega_unit: VegaUnit = "per_1",
    second_order: bool = True,
    as_frame: bool = False,
) -> Any:
    """Price and Greeks of American options, by central finite differences of the price.

    Every bumped scenario of every option goes to the pricing kernel in one call (17 scenarios
    per option, 9 without ``second_order``).

    Parameters
    ----------
    spot, strike, t_years, vol, rate, dividend_yield, right, method, steps
        As :func:`american_price`.
    theta_unit : {"year", "day"}
        Theta and charm per year of calendar time, or per calendar day (/365).
    vega_unit : {"per_1", "per_point"}
        Vega and vanna per 1.00 of vol, or per vol point (/100; volga /100^2).
    second_order : bool
        Also compute vanna, volga and charm.
    as_frame : bool
        Return a pandas DataFrame, one row per option (the index of the first Series input).

    Returns
    -------
    dict or pandas.DataFrame
        The keys and units of :func:`greekfire.analytics.options.greeks`: price, delta, gamma
        (per 1.00 of spot), vega, theta (``-dV/dT``), rho (per 1.00 of rate) and, with
        ``second_order``, vanna, volga, charm (``-d delta/dT``), plus ``status``, the status
        of the unbumped price: OK, or INVALID_INPUT / NO_CONVERGENCE with every value NaN. A Greek
        whose bumped scenarios cannot be priced is NaN: theta and charm at ``t_years == 0``,
        vega, vanna and volga when ``vol`` is below the vol step.

    Raises
    ------
    ValueError
        Inputs that do not broadcast, an unknown right, method, theta_unit or vega_unit,
        ``steps < 1``.
    TypeError
        Non-numeric inputs, a non-string method or a non-integer ``steps``.

    Notes
    -----
    Steps (spot relative to its level; vol, rate absolute; time in years, capped at a quarter
    of ``t_years``):

    ======  ======  ======  =========  ======
    method  spot    vol     t_years    rate
    ======  ======  ======  =========  ======
    baw     1e-3    1e-3    1e-3       1e-4
    crr     1e-2    5e-3    1/365      1e-3
    ======  ======  ======  =========  ======

    BAW solves for the early-exercise boundary iteratively, so its steps are wider than a
    closed form would need, so that the solver's tolerance does not leak into the second
    differences. The CRR price is piecewise in the spot (tree nodes cross the strike as the
    spot moves), so its steps are wider still, to average over those wiggles. That works only
    where the terminal nodes lie closer together than the spot step, ``2 vol sqrt(t_years /
    steps) < 0.01``; for longer or more volatile options the CRR gamma, vanna, volga and charm
    can be off by a multiple of their value and change with the parity of ``steps`` (prefer
    ``"baw"`` for second-order Greeks). CRR first-order Greeks carry the tree's error, up to
    a few percent at 500 steps.

    Examples
    --------
    >>> g = american_greeks(100.0, 100.0, 1.0, 0.2, rate=0.05)
    >>> round(g["delta"], 3), round(g["gamma"], 4)
    (-0.405, 0.0225)
    """
    chosen = _parse_method(method, AMERICAN_METHODS)
    count = _parse_steps(steps)
    divisors = _unit_divisors(theta_unit, vega_unit)
    p = _spot_inputs(spot, strike, t_years, vol, rate, dividend_yield, right)
    out, status = _finite_differences(p, chosen, count, second_order)
    return _greek_result(p, out, status, divisors, as_frame)


def _finite_differences(
    p: Prepared, method: str, steps: int, second_order: bool
) -> tuple[F64Array, I8Array]:
    a, n = p.arrays, p.size
    scenarios = _SCENARIOS if second_order else _SCENARIOS[:_FIRST_ORDER]
    count = len(scenarios)
    bumps = _BUMPS[method]
    # Invalid inputs (inf, NaN) make NaN steps and prices here; the kernel flags them.
    with np.errstate(invalid="ignore", over="ignore"):
        h = np.stack(
            [
                bumps.spot_rel * a["spot"],
                np.full(n, bumps.vol),
                np.minimum(bumps.t_years, a["t_years"] / 4.0),
                np.full(n, bumps.rate),
            ]
        )
        # Scenario-major (scenario, option) blocks, flattened: scenario 0 is the first n.
        bumped = {
            name: (a[name] + scenarios[:, k, np.newaxis] * h[k]).reshape(-1)
            for k, name in enumerate(_BUMPED)
        }
    for name in ("strike", "dividend_yield"):
        bumped[name] = np.tile(a[name], count)
    prices, status = _price(bumped, np.tile(p.right, count), method, steps)
    out = _differences(prices.reshape(count, n), h, second_order)
    base_status = status[:n].copy()
    out[:, base_status != OK] = np.nan
    return out, base_status


def _differences(v: F64Array, h: F64Array, second_order: bool) -> F64Array:
    h_s, h_v, h_t, h_r = h
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rows = [
            v[0],
            (v[1] - v[2]) / (2 * h_s),
            (v[1] - 2 * v[0] + v[2]) / h_s**2,
            (v[3] - v[4]) / (2 * h_v),
            -(v[5] - v[6]) / (2 * h_t),
            (v[7] - v[8]) / (2 * h_r),
        ]
        if second_order:
            rows += [
                (v[9] - v[10] - v[11] + v[12]) / (4 * h_s * h_v),
                (v[3] - 2 * v[0] + v[4]) / h_v**2,
                -((v[13] - v[14]) - (v[15] - v[16])) / (4 * h_s * h_t),
            ]
    return np.stack(rows)


def american_implied_vol(
    price: Any,
    spot: Any,
    strike: Any,
    t_years: Any,
    rate: Any = 0.0,
    dividend_yield: Any = 0.0,
    right: Any = "put",
    *,
    method: str = "baw",
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int8]]:
    """Implied volatility of American option prices under Barone-Adesi-Whaley.

    Parameters
    ----------
    price : float or array-like
        Observed American option price, >= 0.
    spot, strike : float or array-like
        Underlying price and strike, > 0.
    t_years : float or array-like
        Time to expiry in years, > 0.
    rate, dividend_yield : float or array-like
        Continuously compounded annual risk-free rate and dividend yield; any sign.
    right : str, int, OptionRight or array-like of them
        ``"call"``/``"put"``/``"c"``/``"p"``/``+1``/``-1``; default put.
    method : {"baw"}
        The pricing model inverted; only Barone-Adesi-Whaley is supported.

    Returns
    -------
    vol : ndarray of float64
        Annualised implied volatility, NaN where the status is not OK.
    status : ndarray of int8
        :class:`greekfire.domain.enums.IVStatus` codes: OK, BELOW_INTRINSIC (price below the
        zero-vol value), ABOVE_MAX_PRICE (call >= spot, put >= strike), NO_CONVERGENCE,
        INVALID_INPUT.

    Both arrays have the broadcast shape of the inputs (0-d when every input is scalar).

    Raises
    ------
    ValueError
        Inputs that do not broadcast, an unknown right or method.
    TypeError
        Non-numeric inputs or a non-string method.
    """
    _parse_method(method, _IV_METHODS)
    p = prepare(
        right,
        price=price,
        spot=spot,
        strike=strike,
        t_years=t_years,
        rate=rate,
        dividend_yield=dividend_yield,
    )
    a = p.arrays
    vol = np.empty(p.size)
    status = np.empty(p.size, dtype=np.int8)
    kernels.american_iv_into(
        a["price"],
        a["spot"],
        a["strike"],
        a["t_years"],
        a["rate"],
        a["dividend_yield"],
        p.right,
        vol,
        status,
    )
    return vol.reshape(p.shape), status.reshape(p.shape)
