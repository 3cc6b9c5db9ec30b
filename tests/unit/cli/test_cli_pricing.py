"""greekfire.cli.pricing: a thin caller of the analytics that restates each Greek in CLI units."""

from __future__ import annotations

import numpy as np
import pytest

import greekfire
from greekfire.cli.params import Model
from greekfire.cli.pricing import GREEK_NAMES, GREEKS_METHOD, PricingInputs, price_option
from greekfire.domain.enums import OptionRight


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


def _library(model: Model, q: float) -> dict[str, float]:
    option = (100.0, 105.0, 0.5, 0.25, 0.05)
    if model is Model.BSM:
        return greekfire.greeks(*option, q, "put")
    if model is Model.BLACK76:
        return greekfire.black76_greeks(*option, "put")
    method = "crr" if model is Model.AMERICAN_CRR else "baw"
    return greekfire.american_greeks(*option, q, "put", method=method, steps=400)


@pytest.mark.parametrize("model", list(Model))
def test_each_model_is_the_library_function(model: Model) -> None:
    q = 0.0 if model is Model.BLACK76 else 0.02
    record = price_option(_inputs(model, dividend_yield=q))
    expected = _library(model, q)
    assert set(record) == {*GREEK_NAMES, "vega_per_point", "theta_per_day", "rho_per_pct"}
    for name in GREEK_NAMES:
        assert record[name] == expected[name], name
        assert type(record[name]) is float, name


def test_only_the_american_models_use_finite_differences() -> None:
    assert set(GREEKS_METHOD) == set(Model)
    assert {m for m, how in GREEKS_METHOD.items() if how == "finite-difference"} == {
        Model.AMERICAN_BAW,
        Model.AMERICAN_CRR,
    }


def test_black76_on_the_forward_equals_bsm_on_spot() -> None:
    spot, rate, q, t = 100.0, 0.05, 0.02, 0.5
    forward = spot * np.exp((rate - q) * t)
    b76 = price_option(_inputs(Model.BLACK76, OptionRight.CALL, underlying=forward))
    bsm = price_option(_inputs(Model.BSM, OptionRight.CALL, dividend_yield=q))
    assert b76["price"] == pytest.approx(bsm["price"], rel=1e-12)
    assert b76["vega"] == pytest.approx(bsm["vega"], rel=1e-12)
    # Delta to the forward is delta to spot divided by dF/dS = exp((r - q) t).
    assert b76["delta"] * np.exp((rate - q) * t) == pytest.approx(bsm["delta"], rel=1e-12)
