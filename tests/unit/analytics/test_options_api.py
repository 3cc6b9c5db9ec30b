"""The user-facing analytics API: inputs, broadcasting, units, frames, contract errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import greekfire as gf
from greekfire.domain import IVStatus


def test_scalar_in_float_out() -> None:
    price = gf.black_scholes(100.0, 105.0, 30 / 365, 0.2, 0.04, 0.01, "put")
    assert isinstance(price, float)
    assert price == pytest.approx(5.4323895652619, rel=1e-12)  # QuantLib 1.44, same inputs


def test_arrays_broadcast_and_keep_shape() -> None:
    strikes = np.array([[90.0, 100.0, 110.0]])
    expiries = np.array([[0.25], [1.0]])
    prices = gf.black_scholes(100.0, strikes, expiries, 0.2)
    assert prices.shape == (2, 3)
    assert (np.diff(prices, axis=1) < 0).all()


def test_series_and_mixed_rights() -> None:
    spot = pd.Series([100.0, 100.0], index=["a", "b"])
    frame = gf.greeks(spot, 100.0, 0.5, 0.25, right=["call", "P"], as_frame=True)
    assert list(frame.index) == ["a", "b"]
    assert frame.loc["a", "delta"] > 0 > frame.loc["b", "delta"]
    assert set(frame.columns) >= {
        "price",
        "delta",
        "gamma",
        "vega",
        "theta",
        "rho",
        "vanna",
        "volga",
        "charm",
        "status",
    }


def test_units_by_name() -> None:
    per_year = gf.greeks(100.0, 100.0, 0.5, 0.25)
    per_day = gf.greeks(100.0, 100.0, 0.5, 0.25, theta_unit="day", vega_unit="per_point")
    assert per_day["theta"] == pytest.approx(per_year["theta"] / 365.0, rel=1e-15)
    assert per_day["vega"] == pytest.approx(per_year["vega"] / 100.0, rel=1e-15)
    assert per_day["volga"] == pytest.approx(per_year["volga"] / 1e4, rel=1e-15)
    with pytest.raises(ValueError, match="theta_unit"):
        gf.greeks(100.0, 100.0, 0.5, 0.25, theta_unit="week")  # type: ignore[arg-type]


def test_invalid_elements_are_nan_with_status_not_exceptions() -> None:
    result = gf.greeks([100.0, -5.0], 100.0, 1.0, [0.2, 0.2])
    assert result["status"].tolist() == [IVStatus.OK, IVStatus.INVALID_INPUT]
    assert math.isnan(result["price"][1])


def test_implied_vol_round_trip_and_status() -> None:
    p = gf.black_scholes(100.0, [90.0, 110.0], 0.25, 0.3, 0.02, 0.0, ["c", "p"])
    res = gf.implied_vol(
        np.append(p, 0.5), 100.0, [90.0, 110.0, 50.0], 0.25, 0.02, 0.0, ["c", "p", "c"]
    )
    np.testing.assert_allclose(res.vol[:2], 0.3, atol=1e-13)
    assert res.status.tolist() == [IVStatus.OK, IVStatus.OK, IVStatus.BELOW_INTRINSIC]


def test_brief_names() -> None:
    spots = np.full(4, 100.0)
    strikes = np.array([90.0, 95.0, 105.0, 110.0])
    times = np.full(4, 0.5)
    vols = np.full(4, 0.2)
    np.testing.assert_array_equal(
        gf.vectorized_black_scholes(spots, strikes, times, vols),
        gf.black_scholes(spots, strikes, times, vols),
    )
    assert gf.vectorized_greeks(spots, strikes, times, vols)["gamma"].shape == (4,)
    assert gf.black76(100.0, 100.0, 1.0, 0.2, 0.05) == pytest.approx(
        math.exp(-0.05) * gf.black_scholes(100.0, 100.0, 1.0, 0.2), rel=1e-14
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"strike": [1.0, 2.0, 3.0], "spot": [1.0, 2.0]}, "broadcast"),
        ({"right": "straddle"}, "right"),
        ({"right": [1, 0]}, "right"),
        ({"spot": "abc"}, "spot"),
    ],
)
def test_contract_errors_name_the_argument(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"spot": 100.0, "strike": 100.0, "t_years": 1.0, "vol": 0.2} | kwargs
    with pytest.raises((ValueError, TypeError), match=match):
        gf.black_scholes(**args)
