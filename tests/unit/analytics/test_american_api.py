"""american_price / american_greeks / american_implied_vol: shapes, broadcasting, right parsing,
finite-difference accuracy, contract errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from greekfire.analytics import american as api
from greekfire.analytics.american import american_greeks, american_implied_vol, american_price
from greekfire.analytics.options import GREEK_NAMES, greeks
from greekfire.domain.enums import IVStatus, OptionRight
from greekfire.kernels import american as kernels


def _kernel_baw(S, K, T, v, r, q, w) -> np.ndarray:
    arrs = [
        np.ascontiguousarray(a, dtype=np.float64) for a in np.broadcast_arrays(S, K, T, r, q, v)
    ]
    right = np.ascontiguousarray(np.broadcast_to(np.int8(w), arrs[0].shape))
    out = np.empty(arrs[0].size)
    status = np.empty(arrs[0].size, dtype=np.int8)
    kernels.baw_price_into(*arrs, right, out, status)
    return out


def test_scalar_in_gives_float_out() -> None:
    price = american_price(100.0, 100.0, 1.0, 0.2, rate=0.05)
    assert type(price) is float
    assert price == _kernel_baw(100.0, 100.0, 1.0, 0.2, 0.05, 0.0, -1)[0]


def test_default_right_is_put() -> None:
    put = american_price(100.0, 110.0, 0.5, 0.3, 0.04, 0.01)
    assert put == american_price(100.0, 110.0, 0.5, 0.3, 0.04, 0.01, right="put")
    assert put != american_price(100.0, 110.0, 0.5, 0.3, 0.04, 0.01, right="call")


def test_arrays_broadcast_to_a_grid() -> None:
    spots = np.array([[90.0], [100.0], [110.0]])
    strikes = np.array([95.0, 100.0, 105.0, 110.0])
    prices = american_price(spots, strikes, 0.75, 0.25, 0.03, 0.02, "call")
    assert prices.shape == (3, 4)
    for i, s in enumerate(spots[:, 0]):
        for j, k in enumerate(strikes):
            assert prices[i, j] == american_price(s, k, 0.75, 0.25, 0.03, 0.02, "call")


def test_series_inputs_are_accepted() -> None:
    spots = pd.Series([95.0, 100.0, 105.0], index=["a", "b", "c"])
    prices = american_price(spots, 100.0, 0.5, 0.2, 0.05)
    np.testing.assert_array_equal(prices, american_price(spots.to_numpy(), 100.0, 0.5, 0.2, 0.05))


@pytest.mark.parametrize("right", ["call", "C", " Call ", 1, OptionRight.CALL])
def test_right_spellings(right: object) -> None:
    assert american_price(100.0, 100.0, 1.0, 0.2, 0.03, 0.05, right) == american_price(
        100.0, 100.0, 1.0, 0.2, 0.03, 0.05, "call"
    )


def test_array_of_rights() -> None:
    prices = american_price(100.0, 100.0, 1.0, 0.2, 0.03, 0.05, ["call", "put"])
    assert prices[0] == american_price(100.0, 100.0, 1.0, 0.2, 0.03, 0.05, "call")
    assert prices[1] == american_price(100.0, 100.0, 1.0, 0.2, 0.03, 0.05, "put")


def test_crr_method_uses_the_tree() -> None:
    tree = american_price(100.0, 100.0, 1.0, 0.2, 0.05, method="CRR", steps=200)
    arrs = [np.array([x]) for x in (100.0, 100.0, 1.0, 0.05, 0.0, 0.2)]
    out = np.empty(1)
    status = np.empty(1, dtype=np.int8)
    kernels.crr_price_into(*arrs, np.array([-1], dtype=np.int8), 200, out, status)
    assert tree == out[0]
    assert tree == pytest.approx(american_price(100.0, 100.0, 1.0, 0.2, 0.05), rel=0.01)


def test_invalid_elements_are_nan_not_errors() -> None:
    prices = american_price([100.0, -1.0, 100.0], 100.0, [1.0, 1.0, 1.0], [0.2, 0.2, -0.1])
    assert math.isfinite(prices[0])
    assert np.isnan(prices[1:]).all()


def test_mismatched_shapes_name_the_arguments() -> None:
    with pytest.raises(ValueError, match=r"spot\(3,\).*strike\(4,\)"):
        american_price(np.ones(3), np.ones(4), 1.0, 0.2)


def test_unknown_right_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"right.*'cal'"):
        american_price(100.0, 100.0, 1.0, 0.2, right="cal")


def test_unknown_method_suggests_the_closest() -> None:
    with pytest.raises(ValueError, match=r"method.*'bwa'.*did you mean 'baw'"):
        american_price(100.0, 100.0, 1.0, 0.2, method="bwa")
    with pytest.raises(TypeError, match="method"):
        american_price(100.0, 100.0, 1.0, 0.2, method=None)  # type: ignore[arg-type]


@pytest.mark.parametrize("steps", [0, -3])
def test_steps_below_one_is_rejected(steps: int) -> None:
    with pytest.raises(ValueError, match=rf"steps.*got {steps}"):
        american_price(100.0, 100.0, 1.0, 0.2, method="crr", steps=steps)


@pytest.mark.parametrize("steps", [2.5, "100", True])
def test_non_integer_steps_is_a_type_error(steps: object) -> None:
    with pytest.raises(TypeError, match="steps"):
        american_price(100.0, 100.0, 1.0, 0.2, method="crr", steps=steps)  # type: ignore[arg-type]


def test_numpy_integer_steps_are_fine() -> None:
    assert math.isfinite(american_price(100.0, 100.0, 1.0, 0.2, method="crr", steps=np.int64(50)))


def test_non_numeric_input_names_the_argument() -> None:
    with pytest.raises(TypeError, match="spot"):
        american_price("abc", 100.0, 1.0, 0.2)


def test_implied_vol_round_trip_on_a_grid() -> None:
    strikes = np.linspace(80.0, 112.0, 9)  # deeper puts sit in the exercise region at low vol
    vols = np.array([[0.15], [0.3], [0.6]])
    prices = american_price(100.0, strikes, 0.5, vols, 0.04, 0.01)
    vol, status = american_implied_vol(prices, 100.0, strikes, 0.5, 0.04, 0.01)
    assert vol.shape == status.shape == (3, 9)
    assert status.dtype == np.int8
    assert (status == IVStatus.OK).all()
    np.testing.assert_allclose(vol, np.broadcast_to(vols, (3, 9)), atol=1e-10)


def test_implied_vol_in_the_exercise_region_is_zero() -> None:
    """Price == intrinsic: every low vol reproduces it; the zero-vol answer is returned."""
    vol, status = american_implied_vol(20.0, 100.0, 120.0, 0.5, 0.05)
    assert int(status) == IVStatus.OK
    assert float(vol) == 0.0


def test_implied_vol_scalar_gives_zero_d_arrays() -> None:
    vol, status = american_implied_vol(5.0, 100.0, 100.0, 1.0, 0.05, right="p")
    assert vol.shape == status.shape == ()
    assert int(status) == IVStatus.OK
    assert american_price(100.0, 100.0, 1.0, float(vol), 0.05) == pytest.approx(5.0, abs=1e-12)


def test_implied_vol_statuses() -> None:
    vol, status = american_implied_vol([125.0, 1.0, math.nan], 100.0, 120.0, 1.0, 0.05)
    assert status.tolist() == [
        IVStatus.ABOVE_MAX_PRICE,
        IVStatus.BELOW_INTRINSIC,
        IVStatus.INVALID_INPUT,
    ]
    assert np.isnan(vol).all()


def test_implied_vol_method_must_be_baw() -> None:
    with pytest.raises(ValueError, match=r"method.*'crr'"):
        american_implied_vol(5.0, 100.0, 100.0, 1.0, method="crr")


def test_public_names() -> None:
    assert set(api.__all__) == {
        "AMERICAN_METHODS",
        "american_greeks",
        "american_implied_vol",
        "american_price",
    }
    for name in api.__all__:
        assert hasattr(api, name)


# --- american_greeks ------------------------------------------------------------------------

# A call without dividends and with r >= 0 is never exercised early, so BAW returns the European
# price and its finite differences must reproduce the analytic BSM Greeks up to the truncation
# error of the steps (1e-3 relative spot, 1e-3 vol and time, 1e-4 rate).
BAW_TOLERANCES = {
    "price": 1e-12,
    "delta": 2e-4,
    "gamma": 1e-4,
    "vega": 1e-4,
    "theta": 1e-4,
    "rho": 1e-6,
    "vanna": 5e-4,
    "volga": 3e-4,
    "charm": 5e-4,
}
# CRR adds the tree's discretisation error. Its second-order Greeks are left out: with the
# strike near a terminal node the 1 % spot step does not average over the node crossings.
CRR_TOLERANCES = {"price": 3e-3, "delta": 1.5e-2, "vega": 3e-2, "theta": 6e-2, "rho": 5e-3}

STRIKES = np.array([90.0, 100.0, 115.0])[:, None, None, None]
EXPIRIES = np.array([0.25, 1.0])[None, :, None, None]
RATES = np.array([0.0, 0.05])[None, None, :, None]
VOLS = np.array([0.2, 0.4])[None, None, None, :]


@pytest.mark.parametrize(
    ("method", "tolerances"), [("baw", BAW_TOLERANCES), ("crr", CRR_TOLERANCES)]
)
def test_call_without_dividends_has_the_european_greeks(
    method: str, tolerances: dict[str, float]
) -> None:
    american = american_greeks(
        100.0, STRIKES, EXPIRIES, VOLS, RATES, 0.0, "call", method=method, steps=500
    )
    european = greeks(100.0, STRIKES, EXPIRIES, VOLS, RATES, 0.0, "call")
    assert american["price"].shape == (3, 2, 2, 2)
    for name, tolerance in tolerances.items():
        got, want = american[name], european[name]
        if name == "rho":
            # At r = 0 the rate step down reaches r < 0, where early exercise of the call pays:
            # the American price has a kink in the rate there.
            got, want = got[:, :, 1:], want[:, :, 1:]
        np.testing.assert_allclose(got, want, rtol=tolerance, err_msg=name)


def test_american_put_is_worth_at_least_the_european_and_has_sane_greeks() -> None:
    methods = ["baw", "crr"]
    european = greeks(100.0, 105.0, 0.5, 0.25, 0.05, 0.0, "put")
    for method in methods:
        american = american_greeks(100.0, 105.0, 0.5, 0.25, 0.05, method=method, steps=400)
        assert american["price"] >= european["price"] - 1e-9, method
        assert american["price"] >= 105.0 - 100.0, method
        assert -1.0 <= american["delta"] <= european["delta"] + 1e-6, method
        assert american["gamma"] > 0.0, method
        assert american["vega"] > 0.0, method
        assert american["price"] == pytest.approx(european["price"], rel=0.1), method


def test_baw_and_crr_greeks_agree() -> None:
    baw = american_greeks(100.0, 105.0, 0.5, 0.25, 0.05)
    crr = american_greeks(100.0, 105.0, 0.5, 0.25, 0.05, method="crr", steps=400)
    assert baw["price"] == pytest.approx(crr["price"], rel=5e-3)
    assert baw["delta"] == pytest.approx(crr["delta"], rel=2e-2)
    assert baw["vega"] == pytest.approx(crr["vega"], rel=2e-2)


@pytest.mark.parametrize(("second_order", "scenarios"), [(True, 17), (False, 9)])
def test_one_kernel_call_prices_every_scenario_of_every_option(
    monkeypatch: pytest.MonkeyPatch, second_order: bool, scenarios: int
) -> None:
    sizes: list[int] = []
    real = kernels.baw_price_into

    def counting(*args: object) -> None:
        out = args[-2]
        assert isinstance(out, np.ndarray)
        sizes.append(out.size)
        real(*args)

    monkeypatch.setattr(api.kernels, "baw_price_into", counting)
    american_greeks(100.0, [90.0, 100.0, 110.0], [[0.5], [1.0]], 0.3, second_order=second_order)
    assert sizes == [scenarios * 6]


@pytest.mark.parametrize("method", ["baw", "crr"])
def test_array_call_equals_scalar_calls_and_the_price_is_american_price(method: str) -> None:
    spots = np.array([[90.0], [100.0], [110.0]])
    strikes = np.array([95.0, 100.0, 105.0, 110.0])
    rights = ["put", "call", "put", "call"]
    grid = american_greeks(spots, strikes, 0.75, 0.25, 0.03, 0.02, rights, method=method, steps=50)
    assert grid["delta"].shape == grid["status"].shape == (3, 4)
    np.testing.assert_array_equal(
        grid["price"],
        american_price(spots, strikes, 0.75, 0.25, 0.03, 0.02, rights, method=method, steps=50),
    )
    for i, s in enumerate(spots[:, 0]):
        for j, (k, w) in enumerate(zip(strikes, rights, strict=True)):
            one = american_greeks(s, k, 0.75, 0.25, 0.03, 0.02, w, method=method, steps=50)
            for name in GREEK_NAMES:
                assert grid[name][i, j] == one[name], (name, s, k)


def test_units_first_order_and_frames() -> None:
    per_year = american_greeks(100.0, 105.0, 0.5, 0.25, 0.05, 0.01)
    per_day = american_greeks(
        100.0, 105.0, 0.5, 0.25, 0.05, 0.01, theta_unit="day", vega_unit="per_point"
    )
    assert type(per_year["delta"]) is float
    assert per_day["theta"] == per_year["theta"] / 365.0
    assert per_day["charm"] == per_year["charm"] / 365.0
    assert per_day["vega"] == per_year["vega"] / 100.0
    assert per_day["vanna"] == per_year["vanna"] / 100.0
    assert per_day["volga"] == per_year["volga"] / 1e4
    first = american_greeks(100.0, 105.0, 0.5, 0.25, 0.05, 0.01, second_order=False)
    assert list(first) == ["price", "delta", "gamma", "vega", "theta", "rho", "status"]
    assert all(first[name] == per_year[name] for name in first)
    spots = pd.Series([95.0, 105.0], index=["x", "y"])
    frame = american_greeks(spots, 100.0, 0.5, 0.25, 0.05, as_frame=True)
    assert list(frame.index) == ["x", "y"]
    assert list(frame.columns) == [*GREEK_NAMES, "status"]


def test_invalid_elements_and_edges_are_nan_not_errors() -> None:
    result = american_greeks(
        [100.0, -1.0, math.inf, 100.0, 100.0], 100.0, [1.0, 1.0, 1.0, 0.0, 1.0],
        [0.2, 0.2, 0.2, 0.2, 1e-4], 0.05,
    )  # fmt: skip
    status = result["status"].tolist()
    assert status == [
        IVStatus.OK,
        IVStatus.INVALID_INPUT,
        IVStatus.INVALID_INPUT,
        IVStatus.OK,
        IVStatus.OK,
    ]
    assert all(math.isfinite(result[name][0]) for name in GREEK_NAMES)
    assert all(np.isnan(result[name][1:3]).all() for name in GREEK_NAMES)
    # t_years = 0 leaves no room for the time step; vol below the vol step none for vega.
    assert result["price"][3] == 0.0
    assert np.isnan([result["theta"][3], result["charm"][3]]).all()
    assert math.isfinite(result["delta"][3])
    assert np.isnan([result["vega"][4], result["vanna"][4], result["volga"][4]]).all()
    assert math.isfinite(result["theta"][4])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"method": "bwa"}, ValueError, r"method.*'bwa'.*did you mean 'baw'"),
        ({"method": "crr", "steps": 0}, ValueError, r"steps.*got 0"),
        ({"steps": 2.5}, TypeError, "steps"),
        ({"theta_unit": "week"}, ValueError, r"theta_unit.*'week'"),
        ({"vega_unit": "pct"}, ValueError, r"vega_unit.*'pct'"),
        ({"right": "cal"}, ValueError, r"right.*'cal'"),
        ({"spot": np.ones(3), "strike": np.ones(4)}, ValueError, r"spot\(3,\).*strike\(4,\)"),
        ({"dividend_yield": "abc"}, TypeError, "dividend_yield"),
    ],
)
def test_american_greeks_errors_name_the_argument(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    args: dict[str, object] = {"spot": 100.0, "strike": 100.0, "t_years": 1.0, "vol": 0.2}
    with pytest.raises(error, match=match):
        american_greeks(**(args | kwargs))
