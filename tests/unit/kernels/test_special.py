"""Special functions against mpmath at 40 digits, in ulps."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest

from greekfire.kernels._jit import njit
from greekfire.kernels.special import erfcx_, exp_, exp_neg_half_sq, log_, mills1_, norm_cdf

mp.mp.dps = 40


@njit()
def _apply(which: int, x: np.ndarray, out: np.ndarray) -> None:
    for i in range(x.size):
        v = x[i]
        if which == 0:
            out[i] = exp_(v)
        elif which == 1:
            out[i] = log_(v)
        elif which == 2:
            out[i] = erfcx_(v)
        elif which == 3:
            out[i] = mills1_(v)
        elif which == 4:
            out[i] = exp_neg_half_sq(v)
        else:
            out[i] = norm_cdf(v)


def _erfcx(y: mp.mpf) -> mp.mpf:
    return mp.exp(y * y) * mp.erfc(y)


RNG = np.random.default_rng(20261121)
CASES = {
    "exp": (0, RNG.uniform(-745.0, 709.7, 1500), mp.exp, 1.0),
    "log": (1, np.exp(RNG.uniform(-740.0, 709.0, 1500)), mp.log, 1.0),
    "erfcx": (
        2,
        np.concatenate([RNG.uniform(0, 12, 1200), np.exp(RNG.uniform(2, 30, 300))]),
        _erfcx,
        4.0,
    ),
    "mills1": (
        3,
        np.concatenate([RNG.uniform(0, 12, 1200), np.exp(RNG.uniform(2, 30, 300))]),
        lambda y: 1 - mp.sqrt(mp.pi) * y * _erfcx(y),
        8.0,
    ),
    "exp_neg_half_sq": (4, RNG.uniform(-38.0, 38.0, 1500), lambda x: mp.exp(-x * x / 2), 8.0),
    "norm_cdf": (5, RNG.uniform(-37.0, 8.0, 1500), mp.ncdf, 8.0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_accuracy_in_ulps(name: str) -> None:
    which, x, ref, max_ulps = CASES[name]
    out = np.empty_like(x)
    _apply(which, x, out)
    expected = np.array([float(ref(mp.mpf(float(v)))) for v in x])
    finite = np.isfinite(expected) & (expected != 0.0)
    ulps = np.abs(out[finite] - expected[finite]) / np.spacing(np.abs(expected[finite]))
    assert ulps.max() <= max_ulps, f"{name}: {ulps.max()} ulps at x={x[finite][ulps.argmax()]!r}"


def test_exp_and_log_special_values() -> None:
    x = np.array([0.0, -0.0, math.inf, -math.inf, math.nan, 710.0, -746.0, 5e-324, -1.0])
    out = np.empty_like(x)
    _apply(0, x, out)
    assert out[0] == 1.0
    assert out[1] == 1.0
    assert out[2] == math.inf
    assert out[3] == 0.0
    assert math.isnan(out[4])
    assert out[5] == math.inf
    assert out[6] == 0.0
    _apply(1, x, out)
    assert out[0] == -math.inf
    assert out[2] == math.inf
    assert math.isnan(out[4])
    assert out[7] == pytest.approx(math.log(5e-324), rel=1e-15)
    assert math.isnan(out[8])


def test_exp_subnormal_results_within_one_ulp_of_libm() -> None:
    # Two power-of-two scalings round once more in the subnormal range: 1 ulp at most.
    x = np.linspace(-744.0, -708.5, 400)
    out = np.empty_like(x)
    _apply(0, x, out)
    assert (np.abs(out - np.exp(x)) <= np.spacing(np.exp(x))).all()
