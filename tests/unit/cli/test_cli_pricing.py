"""greekfire.cli.pricing: the finite-difference Greeks agree with the analytic BSM Greeks."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

import greekfire
from greekfire.cli.params import Model
from greekfire.cli.pricing import GREEK_NAMES, PricingInputs, bumped_greeks, price_option
from greekfire.domain.enums import OptionRight

Array = NDArray[np.float64]

# Second-order and cross differences carry more truncation and rounding error.
TOLERANCES = {
    "price": 1e-14,
    "delta": 1e-6,
    "gamma": 1e-4,
    "vega": 1e-6,
    "theta": 1e-5,
    "rho": 1e-6,
    "vanna": 1e-4,
    "volga": 1e-3,
    "charm": 1e-3,
}


@pytest.mark.parametrize("right", ["call", "put"])
@pytest.mark.parametrize(("strike", "t_years"), [(90.0, 0.25), (100.0, 1.0), (115.0, 0.1)])
def test_bumped_greeks_match_analytic_bsm(right: str, strike: float, t_years: float) -> None:
    spot, vol, rate, q = 100.0, 0.3, 0.05, 0.02

    def pricer(s: Array, v: Array, t: Array, r: Array) -> Array:
        return np.asarray(greekfire.black_scholes(s, strike, t, v, r, q, right=right))

    bumped = bumped_greeks(pricer, spot, vol, t_years, rate)
    exact = greekfire.greeks(spot, strike, t_years, vol, rate, q, right=right)
    for name in GREEK_NAMES:
        assert bumped[name] == pytest.approx(float(exact[name]), rel=TOLERANCES[name], abs=1e-9), (
            name
        )


def _inputs(model: Model, right: OptionRight = OptionRight.PUT, **changes: float) -> PricingInputs:
    values: dict[str, float] = {
        "underlying": 100.0,
        "strike": 105.0,
        "t_years": 0.5,
        "vol": 0.25,
        "rate": 0.05,
        "dividend_yield": 0.0,
    }
    values.update(changes)
    return PricingInputs(model=model, right=right, steps=400, **values)


def test_bsm_record_restates_units() -> None:
    record = price_option(_inputs(Model.BSM))
    assert record["theta_per_day"] == pytest.approx(record["theta"] / 365.0, rel=1e-15)
    assert record["vega_per_point"] == pytest.approx(record["vega"] / 100.0, rel=1e-15)
    assert record["rho_per_pct"] == pytest.approx(record["rho"] / 100.0, rel=1e-15)
    assert record["price"] == pytest.approx(
        greekfire.black_scholes(100.0, 105.0, 0.5, 0.25, 0.05, 0.0, right="put"), rel=1e-14
    )


def test_black76_on_the_forward_equals_bsm_on_spot() -> None:
    spot, rate, q, t = 100.0, 0.05, 0.02, 0.5
    forward = spot * np.exp((rate - q) * t)
    b76 = price_option(_inputs(Model.BLACK76, OptionRight.CALL, underlying=forward))
    bsm = price_option(_inputs(Model.BSM, OptionRight.CALL, dividend_yield=q))
    assert b76["price"] == pytest.approx(bsm["price"], rel=1e-12)
    assert b76["vega"] == pytest.approx(bsm["vega"], rel=1e-5)
    # Delta to the forward is delta to spot divided by dF/dS = exp((r - q) t).
    assert b76["delta"] * np.exp((rate - q) * t) == pytest.approx(bsm["delta"], rel=1e-6)


@pytest.mark.parametrize("model", [Model.AMERICAN_BAW, Model.AMERICAN_CRR])
def test_american_put_is_worth_at_least_the_european_and_has_sane_greeks(model: Model) -> None:
    american = price_option(_inputs(model))
    european = price_option(_inputs(Model.BSM))
    assert american["price"] >= european["price"] - 1e-9
    assert american["price"] >= 105.0 - 100.0
    assert -1.0 <= american["delta"] <= european["delta"] + 1e-6
    assert american["gamma"] > 0.0
    assert american["vega"] > 0.0
    assert american["price"] == pytest.approx(european["price"], rel=0.1)


def test_american_models_agree_with_each_other() -> None:
    baw = price_option(_inputs(Model.AMERICAN_BAW))
    crr = price_option(_inputs(Model.AMERICAN_CRR))
    assert baw["price"] == pytest.approx(crr["price"], rel=5e-3)
    assert baw["delta"] == pytest.approx(crr["delta"], rel=2e-2)
