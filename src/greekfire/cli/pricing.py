"""One option, any model, every Greek in both unit conventions: the engine of ``greekfire price``.

BSM Greeks are analytic (``greekfire.greeks``). Black-76 and the American models expose a price
only, so their Greeks are central finite differences of that price, taken in one vectorised call
over 17 bumped scenarios.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from greekfire.analytics.options import DAYS_PER_YEAR, GREEK_NAMES
from greekfire.cli.params import Model
from greekfire.domain.enums import OptionRight

__all__ = [
    "GREEK_NAMES",
    "BumpSizes",
    "PricingInputs",
    "bumped_greeks",
    "price_option",
]

FloatArray = NDArray[np.float64]
Pricer = Callable[[FloatArray, FloatArray, FloatArray, FloatArray], FloatArray]
"""``(underlying, vol, t_years, rate) -> price``, all float64 arrays of one length."""

# Bump multipliers per scenario for (underlying, vol, t_years, rate); the row order is what
# bumped_greeks reads.
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


@dataclass(frozen=True, slots=True)
class BumpSizes:
    """Finite-difference steps.

    Attributes
    ----------
    underlying_rel : float
        Underlying bump as a fraction of its level.
    vol : float
        Absolute volatility bump (decimal).
    t_years : float
        Time bump in years; capped at a quarter of the time to expiry.
    rate : float
        Absolute rate bump (decimal).
    """

    underlying_rel: float
    vol: float
    t_years: float
    rate: float


# Closed forms take small steps; an iterative pricer (BAW solves for the exercise boundary)
# needs steps wide enough that its solver tolerance does not leak into second differences; a
# binomial tree needs steps wide enough to average out its node-crossing wiggles.
_CLOSED_FORM_BUMPS: Final = BumpSizes(underlying_rel=1e-4, vol=1e-4, t_years=1e-4, rate=1e-4)
_ITERATIVE_BUMPS: Final = BumpSizes(underlying_rel=1e-3, vol=1e-3, t_years=1e-3, rate=1e-4)
_TREE_BUMPS: Final = BumpSizes(
    underlying_rel=1e-2, vol=5e-3, t_years=1.0 / DAYS_PER_YEAR, rate=1e-3
)
_BUMPS: Final = {
    Model.BLACK76: _CLOSED_FORM_BUMPS,
    Model.AMERICAN_BAW: _ITERATIVE_BUMPS,
    Model.AMERICAN_CRR: _TREE_BUMPS,
}


@dataclass(frozen=True, slots=True)
class PricingInputs:
    """One option to price.

    Attributes
    ----------
    model : Model
        Pricing model.
    underlying : float
        Spot price (BSM, American) or forward price (Black-76), > 0.
    strike : float
        Strike, > 0.
    t_years : float
        Time to expiry in years, > 0.
    vol : float
        Annualised volatility, decimal, > 0.
    rate : float
        Continuously compounded risk-free rate, decimal per year.
    dividend_yield : float
        Continuous dividend yield, decimal per year (unused by Black-76).
    right : OptionRight
        Call or put.
    steps : int
        Binomial steps (``american-crr`` only).
    """

    model: Model
    underlying: float
    strike: float
    t_years: float
    vol: float
    rate: float
    dividend_yield: float
    right: OptionRight
    steps: int = 500


def _scalar(value: object) -> float:
    return float(np.asarray(value, dtype=np.float64).item())


def bumped_greeks(
    pricer: Pricer,
    underlying: float,
    vol: float,
    t_years: float,
    rate: float,
    bumps: BumpSizes = _CLOSED_FORM_BUMPS,
) -> dict[str, float]:
    """Price and Greeks of any pricer by central finite differences.

    Parameters
    ----------
    pricer : callable
        ``(underlying, vol, t_years, rate) -> price`` on float64 arrays; called once with 17
        bumped scenarios.
    underlying, vol, t_years, rate : float
        Base point.
    bumps : BumpSizes
        Step sizes.

    Returns
    -------
    dict of str to float
        ``GREEK_NAMES`` in library units: delta and gamma per 1.00 of the underlying, vega per
        1.00 of vol, theta per year of calendar time passing (``-dV/dT``), rho per 1.00 of rate,
        vanna ``d2V/dS dvol``, volga ``d2V/dvol2``, charm per year of time passing
        (``-d delta/dT``).
    """
    h_s = bumps.underlying_rel * underlying
    h_v = bumps.vol
    h_t = min(bumps.t_years, t_years / 4.0)
    h_r = bumps.rate
    base = np.array([underlying, vol, t_years, rate])
    points = base + _SCENARIOS * np.array([h_s, h_v, h_t, h_r])
    prices = np.asarray(
        pricer(points[:, 0].copy(), points[:, 1].copy(), points[:, 2].copy(), points[:, 3].copy()),
        dtype=np.float64,
    )
    p = [float(x) for x in prices]
    return {
        "price": p[0],
        "delta": (p[1] - p[2]) / (2 * h_s),
        "gamma": (p[1] - 2 * p[0] + p[2]) / h_s**2,
        "vega": (p[3] - p[4]) / (2 * h_v),
        "theta": -(p[5] - p[6]) / (2 * h_t),
        "rho": (p[7] - p[8]) / (2 * h_r),
        "vanna": (p[9] - p[10] - p[11] + p[12]) / (4 * h_s * h_v),
        "volga": (p[3] - 2 * p[0] + p[4]) / h_v**2,
        "charm": -((p[13] - p[14]) - (p[15] - p[16])) / (4 * h_s * h_t),
    }


def _analytic_bsm(inputs: PricingInputs) -> dict[str, float]:
    from greekfire.analytics.options import greeks

    values = greeks(
        inputs.underlying,
        inputs.strike,
        inputs.t_years,
        inputs.vol,
        inputs.rate,
        inputs.dividend_yield,
        right=inputs.right,
    )
    return {name: _scalar(values[name]) for name in GREEK_NAMES}


def _pricer(inputs: PricingInputs) -> Pricer:
    strike, right = inputs.strike, inputs.right
    if inputs.model is Model.BLACK76:
        from greekfire.analytics.options import black76

        def black76_pricer(
            fwd: FloatArray, vol: FloatArray, t: FloatArray, r: FloatArray
        ) -> FloatArray:
            return np.asarray(black76(fwd, strike, t, vol, r, right=right), dtype=np.float64)

        return black76_pricer

    from greekfire.analytics.american import american_price

    method = "crr" if inputs.model is Model.AMERICAN_CRR else "baw"
    q, steps = inputs.dividend_yield, inputs.steps

    def american_pricer(
        spot: FloatArray, vol: FloatArray, t: FloatArray, r: FloatArray
    ) -> FloatArray:
        return np.asarray(
            american_price(spot, strike, t, vol, r, q, right=right, method=method, steps=steps),
            dtype=np.float64,
        )

    return american_pricer


def price_option(inputs: PricingInputs) -> dict[str, float]:
    """Price one option and compute every Greek in both unit conventions.

    Parameters
    ----------
    inputs : PricingInputs
        The option and the model.

    Returns
    -------
    dict of str to float
        ``GREEK_NAMES`` in library units (vega per 1.00 vol, theta per year, rho per 1.00 rate,
        charm per year) plus ``vega_per_point`` (per 0.01 vol), ``theta_per_day`` (per calendar
        day, ``theta / 365``) and ``rho_per_pct`` (per 0.01 rate). Greeks of BSM are analytic,
        of the other models central finite differences of the model price.
    """
    if inputs.model is Model.BSM:
        values = _analytic_bsm(inputs)
    else:
        values = bumped_greeks(
            _pricer(inputs),
            inputs.underlying,
            inputs.vol,
            inputs.t_years,
            inputs.rate,
            _BUMPS[inputs.model],
        )
    values["vega_per_point"] = values["vega"] / 100.0
    values["theta_per_day"] = values["theta"] / DAYS_PER_YEAR
    values["rho_per_pct"] = values["rho"] / 100.0
    return values
