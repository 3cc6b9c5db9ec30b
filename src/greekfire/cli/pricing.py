"""One option, any model, every Greek in both unit conventions: the engine of ``greekfire price``.

A thin caller of the analytics: BSM and Black-76 Greeks are analytic (``greekfire.greeks``,
``greekfire.black76_greeks``); the American models expose a price only, so their Greeks are
central finite differences of it (``greekfire.american_greeks``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from greekfire.analytics.options import DAYS_PER_YEAR, GREEK_NAMES
from greekfire.cli.params import Model
from greekfire.domain.enums import OptionRight

__all__ = ["GREEKS_METHOD", "GREEK_NAMES", "PricingInputs", "price_option"]

GREEKS_METHOD: Final[Mapping[Model, str]] = {
    Model.BSM: "analytic",
    Model.BLACK76: "analytic",
    Model.AMERICAN_BAW: "finite-difference",
    Model.AMERICAN_CRR: "finite-difference",
}
"""How each model's Greeks are computed, as ``greekfire price`` reports it."""


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


def _model_greeks(inputs: PricingInputs) -> Mapping[str, Any]:
    from greekfire.analytics.american import american_greeks
    from greekfire.analytics.options import black76_greeks, greeks

    option = (inputs.underlying, inputs.strike, inputs.t_years, inputs.vol, inputs.rate)
    result: Mapping[str, Any]
    if inputs.model is Model.BSM:
        result = greeks(*option, inputs.dividend_yield, inputs.right)
    elif inputs.model is Model.BLACK76:
        result = black76_greeks(*option, inputs.right)
    else:
        method = "crr" if inputs.model is Model.AMERICAN_CRR else "baw"
        result = american_greeks(
            *option, inputs.dividend_yield, inputs.right, method=method, steps=inputs.steps
        )
    return result


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
        day, ``theta / 365``) and ``rho_per_pct`` (per 0.01 rate). Computed as
        :data:`GREEKS_METHOD` says for the model.
    """
    computed = _model_greeks(inputs)
    values = {name: float(computed[name]) for name in GREEK_NAMES}
    values["vega_per_point"] = values["vega"] / 100.0
    values["theta_per_day"] = values["theta"] / DAYS_PER_YEAR
    values["rho_per_pct"] = values["rho"] / 100.0
    return values
