"""greekfire.analytics.chain.build_chain: shape, order, units and no-arbitrage identities."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import greekfire
from greekfire.analytics.chain import CHAIN_COLUMNS, DAYS_PER_YEAR, build_chain

SPOT, VOL, RATE, DIV = 100.0, 0.25, 0.04, 0.01


@pytest.fixture(scope="module")
def chain() -> pd.DataFrame:
    return build_chain(SPOT, [110, 80, 90, 100, 90], [90, 7, 30], VOL, RATE, DIV)


def test_shape_columns_and_order(chain: pd.DataFrame) -> None:
    assert tuple(chain.columns) == CHAIN_COLUMNS
    assert len(chain) == 4 * 3 * 2  # duplicate strike 90 dropped
    assert chain["expiry_days"].tolist() == [7] * 8 + [30] * 8 + [90] * 8
    assert chain["strike"].tolist()[:8] == [80, 80, 90, 90, 100, 100, 110, 110]
    assert chain["right"].tolist()[:4] == ["call", "put", "call", "put"]
    assert chain["expiry_days"].dtype == np.int64


def test_t_years_is_act_365(chain: pd.DataFrame) -> None:
    np.testing.assert_array_equal(chain["t_years"], chain["expiry_days"] / 365.0)
    assert DAYS_PER_YEAR == 365.0


def test_prices_and_greeks_match_the_library(chain: pd.DataFrame) -> None:
    for right in ("call", "put"):
        rows = chain[chain["right"] == right]
        expected = greekfire.greeks(
            SPOT,
            rows["strike"].to_numpy(),
            rows["t_years"].to_numpy(),
            VOL,
            RATE,
            DIV,
            right=right,
        )
        for name in ("price", "delta", "gamma", "vega", "theta", "rho", "vanna", "volga", "charm"):
            np.testing.assert_allclose(rows[name], expected[name], rtol=1e-12, err_msg=name)


def test_restated_units_match_the_library_unit_options(chain: pd.DataFrame) -> None:
    calls = chain[chain["right"] == "call"]
    args = (SPOT, calls["strike"].to_numpy(), calls["t_years"].to_numpy(), VOL, RATE, DIV)
    per_day = greekfire.greeks(*args, right="call", theta_unit="day", vega_unit="per_point")
    np.testing.assert_allclose(calls["theta_per_day"], per_day["theta"], rtol=1e-12)
    np.testing.assert_allclose(calls["vega_per_point"], per_day["vega"], rtol=1e-12)
    np.testing.assert_allclose(calls["rho_per_pct"], calls["rho"] / 100.0, rtol=1e-15)


def test_put_call_parity_and_shared_greeks(chain: pd.DataFrame) -> None:
    calls = chain[chain["right"] == "call"].reset_index(drop=True)
    puts = chain[chain["right"] == "put"].reset_index(drop=True)
    t = calls["t_years"]
    forward_value = SPOT * np.exp(-DIV * t) - calls["strike"] * np.exp(-RATE * t)
    np.testing.assert_allclose(calls["price"] - puts["price"], forward_value, atol=1e-10)
    np.testing.assert_allclose(calls["delta"] - puts["delta"], np.exp(-DIV * t), atol=1e-12)
    np.testing.assert_allclose(calls["gamma"], puts["gamma"], rtol=1e-10)
    np.testing.assert_allclose(calls["vega"], puts["vega"], rtol=1e-10)


def test_inputs_are_carried(chain: pd.DataFrame) -> None:
    assert set(chain["iv"]) == {VOL}
    assert set(chain["spot"]) == {SPOT}
    assert set(chain["rate"]) == {RATE}
    assert set(chain["dividend_yield"]) == {DIV}
    assert list(chain["right"].cat.categories) == ["call", "put"]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"spot": -1.0}, "spot"),
        ({"spot": math.nan}, "spot"),
        ({"vol": 0.0}, "vol"),
        ({"rate": math.inf}, "rate"),
        ({"strikes": []}, "strikes"),
        ({"strikes": [100.0, -5.0]}, "strikes.*position 1"),
        ({"expiry_days": [7, 0]}, "expiry_days"),
        ({"expiry_days": [7.5]}, "whole numbers"),
    ],
)
def test_bad_inputs_raise_value_error_naming_the_parameter(
    kwargs: dict[str, object], fragment: str
) -> None:
    arguments: dict[str, object] = {
        "spot": SPOT,
        "strikes": [100.0],
        "expiry_days": [30],
        "vol": VOL,
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=fragment):
        build_chain(**arguments)  # type: ignore[arg-type]
