"""american_price / american_implied_vol: shapes, broadcasting, right parsing, contract errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from greekfire.analytics import american as api
from greekfire.analytics.american import american_implied_vol, american_price
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
    assert set(api.__all__) == {"AMERICAN_METHODS", "american_implied_vol", "american_price"}
    for name in api.__all__:
        assert hasattr(api, name)
