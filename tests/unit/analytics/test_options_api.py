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


# --- black76_greeks -------------------------------------------------------------------------

# Central differences with 1e-4 steps: second-order and cross differences carry more
# truncation and rounding error.
FD_TOLERANCES = {
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


def _black76_differences(
    forward: float, strike: float, t: float, vol: float, rate: float, right: str
) -> dict[str, float]:
    h_f, h = 1e-4 * forward, 1e-4

    def v(df: int = 0, dv: int = 0, dt: int = 0, dr: int = 0) -> float:
        return float(
            gf.black76(forward + df * h_f, strike, t + dt * h, vol + dv * h, rate + dr * h, right)
        )

    return {
        "price": v(),
        "delta": (v(1) - v(-1)) / (2 * h_f),
        "gamma": (v(1) - 2 * v() + v(-1)) / h_f**2,
        "vega": (v(dv=1) - v(dv=-1)) / (2 * h),
        "theta": -(v(dt=1) - v(dt=-1)) / (2 * h),
        "rho": (v(dr=1) - v(dr=-1)) / (2 * h),
        "vanna": (v(1, 1) - v(1, -1) - v(-1, 1) + v(-1, -1)) / (4 * h_f * h),
        "volga": (v(dv=1) - 2 * v() + v(dv=-1)) / h**2,
        "charm": -((v(1, dt=1) - v(-1, dt=1)) - (v(1, dt=-1) - v(-1, dt=-1))) / (4 * h_f * h),
    }


@pytest.mark.parametrize("right", ["call", "put"])
@pytest.mark.parametrize(("strike", "t_years"), [(90.0, 0.25), (100.0, 1.0), (115.0, 0.1)])
def test_black76_greeks_match_finite_differences_of_black76(
    right: str, strike: float, t_years: float
) -> None:
    forward, vol, rate = 100.0, 0.3, 0.05
    analytic = gf.black76_greeks(forward, strike, t_years, vol, rate, right)
    numeric = _black76_differences(forward, strike, t_years, vol, rate, right)
    for name, tolerance in FD_TOLERANCES.items():
        assert analytic[name] == pytest.approx(numeric[name], rel=tolerance, abs=1e-9), name


def test_black76_greeks_are_bsm_greeks_with_dividend_yield_equal_to_rate_except_rho() -> None:
    forward = np.array([[80.0], [100.0], [125.0]])
    strike = np.array([90.0, 100.0, 110.0, 120.0])
    t_years, vol, rate = np.array([0.05, 0.5, 1.0, 3.0]), 0.35, np.array([-0.01, 0.0, 0.03, 0.1])
    rights = ["call", "put", "p", "c"]
    b76 = gf.black76_greeks(forward, strike, t_years, vol, rate, rights)
    bsm = gf.greeks(forward, strike, t_years, vol, rate, rate, rights)
    for name in ("price", "delta", "gamma", "vega", "theta", "vanna", "volga", "charm", "status"):
        np.testing.assert_array_equal(b76[name], bsm[name], err_msg=name)
    # Only the discount factor moves with the rate when the forward is held fixed.
    np.testing.assert_array_equal(b76["rho"], -t_years * b76["price"])
    assert not np.allclose(b76["rho"], bsm["rho"])


def test_black76_greeks_on_the_forward_are_bsm_greeks_on_the_spot() -> None:
    spot, strike, t, vol, rate, q = 100.0, np.array([90.0, 100.0, 110.0]), 0.75, 0.25, 0.04, 0.01
    growth = math.exp((rate - q) * t)  # dF/dS
    b76 = gf.black76_greeks(spot * growth, strike, t, vol, rate, "put")
    bsm = gf.greeks(spot, strike, t, vol, rate, q, "put")
    np.testing.assert_allclose(b76["price"], bsm["price"], rtol=1e-13)
    np.testing.assert_allclose(b76["vega"], bsm["vega"], rtol=1e-13)
    np.testing.assert_allclose(b76["delta"] * growth, bsm["delta"], rtol=1e-13)
    np.testing.assert_allclose(b76["gamma"] * growth**2, bsm["gamma"], rtol=1e-13)


def test_black76_greeks_units_and_first_order_only() -> None:
    per_year = gf.black76_greeks(100.0, 95.0, 0.5, 0.25, 0.03, "put")
    per_day = gf.black76_greeks(
        100.0, 95.0, 0.5, 0.25, 0.03, "put", theta_unit="day", vega_unit="per_point"
    )
    assert per_day["theta"] == per_year["theta"] / 365.0
    assert per_day["charm"] == per_year["charm"] / 365.0
    assert per_day["vega"] == per_year["vega"] / 100.0
    assert per_day["vanna"] == per_year["vanna"] / 100.0
    assert per_day["volga"] == per_year["volga"] / 1e4
    assert per_day["rho"] == per_year["rho"]
    first = gf.black76_greeks(100.0, 95.0, 0.5, 0.25, 0.03, "put", second_order=False)
    assert list(first) == ["price", "delta", "gamma", "vega", "theta", "rho", "status"]
    assert all(first[name] == per_year[name] for name in first)


def test_black76_greeks_shapes_frames_and_invalid_elements() -> None:
    scalar = gf.black76_greeks(100.0, 100.0, 1.0, 0.2, 0.05)
    assert type(scalar["price"]) is float
    assert scalar["price"] == gf.black76(100.0, 100.0, 1.0, 0.2, 0.05)
    forwards = pd.Series([100.0, -5.0, 100.0], index=["a", "b", "c"])
    frame = gf.black76_greeks(forwards, 100.0, 1.0, [0.2, 0.2, math.nan], as_frame=True)
    assert list(frame.index) == ["a", "b", "c"]
    assert frame["status"].tolist() == [IVStatus.OK, IVStatus.INVALID_INPUT, IVStatus.INVALID_INPUT]
    assert frame.loc[["b", "c"], ["price", "delta", "rho", "charm"]].isna().all().all()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"strike": [1.0, 2.0, 3.0], "forward": [1.0, 2.0]}, ValueError, r"forward\(2,\)"),
        ({"right": "straddle"}, ValueError, "right"),
        ({"forward": "abc"}, TypeError, "forward"),
        ({"rate": "abc"}, TypeError, "rate"),
        ({"theta_unit": "week"}, ValueError, "theta_unit.*'week'"),
        ({"vega_unit": "pct"}, ValueError, "vega_unit.*'pct'"),
    ],
)
def test_black76_greeks_errors_name_the_argument(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    args: dict[str, object] = {"forward": 100.0, "strike": 100.0, "t_years": 1.0, "vol": 0.2}
    with pytest.raises(error, match=match):
        gf.black76_greeks(**(args | kwargs))


def test_black76_price_errors_name_the_forward() -> None:
    with pytest.raises(TypeError, match="forward"):
        gf.black76("abc", 100.0, 1.0, 0.2)
    with pytest.raises(ValueError, match=r"forward\(2,\).*strike\(3,\)"):
        gf.black76([1.0, 2.0], [1.0, 2.0, 3.0], 1.0, 0.2)
