"""Implied volatility: round trips, statuses, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greekfire.kernels import bsm, iv
from greekfire.kernels.status import (
    ABOVE_MAX_PRICE,
    BELOW_INTRINSIC,
    INVALID_INPUT,
    NO_CONVERGENCE,
    OK,
)


def _arrays(*values):
    arrs = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in values))
    return [np.ascontiguousarray(a) for a in arrs]


def _price(S, K, T, r, q, v, w):
    S, K, T, r, q, v, wf = _arrays(S, K, T, r, q, v, w)
    out = np.empty(S.size)
    status = np.empty(S.size, dtype=np.int8)
    bsm.price_into(S, K, T, r, q, v, wf.astype(np.int8), out, status)
    return out


def _iv(p, S, K, T, r, q, w):
    p, S, K, T, r, q, wf = _arrays(p, S, K, T, r, q, w)
    vol = np.empty(p.size)
    status = np.empty(p.size, dtype=np.int8)
    iv.implied_vol_into(p, S, K, T, r, q, wf.astype(np.int8), vol, status)
    return vol, status


contract = st.tuples(
    st.floats(50.0, 200.0),  # spot
    st.one_of(st.floats(-1.0, 1.0), st.floats(-6.0, -1.5), st.floats(1.5, 6.0)),  # sd moneyness
    st.one_of(st.just(1.0 / 365.0), st.floats(1.0 / 365.0, 14.0 / 365.0), st.floats(0.04, 3.0)),
    st.floats(-0.02, 0.10),
    st.floats(0.0, 0.06),
    st.floats(0.03, 1.5),
    st.sampled_from([1, -1]),
)


@settings(max_examples=500, deadline=None)
@given(contract)
def test_round_trip_reprices_and_recovers_sigma(c) -> None:
    S, z, T, r, q, v, w = c
    K = S * math.exp(z * v * math.sqrt(T))
    p = _price(S, K, T, r, q, v, w)
    if not (p[0] > 0.0) or p[0] < 1e-250:
        return  # underflowed: no information left to invert
    vol, status = _iv(p, S, K, T, r, q, w)
    assert status[0] == OK
    repriced = _price(S, K, T, r, q, vol, w)[0]
    # Measured: 98.5 % of a million reprice within 1e-15 relative, the worst 5e-15.
    assert abs(repriced - p[0]) <= 8e-15 * p[0]
    vega = bsm_vega(S, K, T, r, q, v, w)
    if vega >= 0.01 * S / 100.0:
        # One ulp of the price moves sigma by ulp/vega: deep in the money (price ~ intrinsic)
        # that conditioning limit, not the solver, bounds the recovery.
        assert abs(vol[0] - v) <= max(1e-12, 2.0 * np.spacing(p[0]) / vega)


def bsm_vega(S, K, T, r, q, v, w) -> float:
    arrs = _arrays(S, K, T, r, q, v)
    out = np.empty((6, 1))
    status = np.empty(1, dtype=np.int8)
    bsm.price_greeks_into(*arrs, np.array([w], np.int8), out, status)
    return float(out[3, 0])


def test_bulk_round_trip_statistics() -> None:
    rng = np.random.default_rng(11)
    n = 100_000
    S = np.full(n, 100.0)
    T = np.where(rng.random(n) < 0.25, rng.uniform(1, 14, n), rng.uniform(15, 730, n)) / 365.0
    v = rng.uniform(0.05, 1.0, n)
    z = np.where(
        rng.random(n) < 0.4, rng.choice([-1, 1], n) * rng.uniform(1.5, 4, n), rng.uniform(-1, 1, n)
    )
    K = S * np.exp(z * v * np.sqrt(T))
    r = rng.uniform(-0.01, 0.06, n)
    q = rng.uniform(0, 0.04, n)
    w = np.where(rng.random(n) < 0.5, 1, -1)
    p = _price(S, K, T, r, q, v, w)
    vol, status = _iv(p, S, K, T, r, q, w)
    assert (status == OK).all()
    rel = np.abs(_price(S, K, T, r, q, vol, w) - p) / p
    assert (rel <= 1e-15).mean() >= 0.97
    assert rel.max() <= 8e-15


@pytest.mark.parametrize(
    ("price", "S", "K", "T", "expected"),
    [
        (-1.0, 100.0, 100.0, 1.0, INVALID_INPUT),
        (math.nan, 100.0, 100.0, 1.0, INVALID_INPUT),
        (5.0, 0.0, 100.0, 1.0, INVALID_INPUT),
        (5.0, 100.0, -1.0, 1.0, INVALID_INPUT),
        (5.0, 100.0, 100.0, 0.0, INVALID_INPUT),
        (5.0, 120.0, 100.0, 1.0, BELOW_INTRINSIC),
        (100.0, 100.0, 100.0, 1.0, ABOVE_MAX_PRICE),
        (150.0, 100.0, 100.0, 1.0, ABOVE_MAX_PRICE),
    ],
)
def test_statuses(price: float, S: float, K: float, T: float, expected: int) -> None:
    vol, status = _iv(price, S, K, T, 0.0, 0.0, 1)
    assert status[0] == expected
    assert math.isnan(vol[0])


def test_price_at_intrinsic_gives_zero_vol() -> None:
    vol, status = _iv(20.0, 120.0, 100.0, 1.0, 0.0, 0.0, 1)
    assert status[0] == OK
    assert vol[0] == 0.0


def test_statuses_never_leave_a_nan_without_reason() -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    p = rng.uniform(-1, 60, n)
    S = rng.uniform(-10, 150, n)
    K = rng.uniform(-10, 150, n)
    T = rng.uniform(-0.1, 2, n)
    vol, status = _iv(p, S, K, T, 0.01, 0.0, np.where(rng.random(n) < 0.5, 1, -1))
    assert set(np.unique(status)) <= {
        OK,
        BELOW_INTRINSIC,
        ABOVE_MAX_PRICE,
        NO_CONVERGENCE,
        INVALID_INPUT,
    }
    assert np.isnan(vol[status != OK]).all()
    assert np.isfinite(vol[status == OK]).all()


def test_black76_round_trip() -> None:
    F, K, T, r, v = 105.0, 100.0, 0.75, 0.03, 0.31
    p = _price(F, K, T, r, r, v, -1)
    vol, status = _iv(p, F, K, T, r, r, -1)
    assert status[0] == OK
    assert vol[0] == pytest.approx(v, abs=1e-14)


def test_shape_mismatch_is_a_value_error() -> None:
    a = np.ones(3)
    with pytest.raises(ValueError, match="spot"):
        iv.implied_vol_into(
            a, np.ones(2), a, a, a, a, np.ones(3, np.int8), np.empty(3), np.empty(3, np.int8)
        )


def _psi_over_z(z: float) -> float:
    # G(z) = psi(z) / z with psi(z) = phi(z) - z Phi(-z), the Bachelier limit of beta / u.
    import mpmath as mp

    mp.mp.dps = 40
    zm = mp.mpf(z)
    return float((mp.npdf(zm) - zm * mp.ncdf(-zm)) / zm)


@pytest.mark.parametrize("z", [1e-7, 1e-5, 3e-5, 1e-3, 0.05, 0.4, 1.0, 2.5, 7.0, 15.0, 30.0])
def test_initial_guess_inverts_the_bachelier_limit(z: float) -> None:
    # The table covers z from 1.8e-5 to 39 (cubic Hermite, within 2e-5), a series below.
    u = 0.3
    s = iv._guess(_psi_over_z(z) * u, u)
    assert u / s == pytest.approx(z, rel=2e-5)


def test_initial_guess_at_the_money_is_the_normal_approximation() -> None:
    # u = 0: beta = 2 Phi(s / 2) - 1 ~ s / sqrt(2 pi).
    assert iv._guess(0.01, 0.0) == pytest.approx(0.01 * math.sqrt(2.0 * math.pi), rel=1e-15)


def _bulk_contracts(n: int, seed: int):
    rng = np.random.default_rng(seed)
    S = np.full(n, 100.0)
    T = np.where(rng.random(n) < 0.25, rng.uniform(1, 14, n), rng.uniform(15, 730, n)) / 365.0
    v = rng.uniform(0.05, 1.0, n)
    z = np.where(
        rng.random(n) < 0.4, rng.choice([-1, 1], n) * rng.uniform(1.5, 4, n), rng.uniform(-1, 1, n)
    )
    K = S * np.exp(z * v * np.sqrt(T))
    r = rng.uniform(-0.01, 0.06, n)
    q = rng.uniform(0, 0.04, n)
    w = np.where(rng.random(n) < 0.5, 1, -1)
    return S, K, T, r, q, v, w


def test_vector_pass_solves_nearly_everything_and_agrees_with_the_scalar_solver() -> None:
    n = 5_000
    S, K, T, r, q, v, w = _bulk_contracts(n, 21)
    p = _price(S, K, T, r, q, v, w)
    vol = np.empty(n)
    status = np.empty(n, np.int8)
    args = _arrays(p, S, K, T, r, q)
    redo = iv._vector_pass(*args, w.astype(np.int8), vol, status)
    assert redo == int((status == iv.NEEDS_SCALAR).sum())
    assert redo <= n // 100  # the guess is good enough for three Halley steps
    done = status == OK
    for i in np.flatnonzero(done)[:: n // 500]:
        scalar_vol, scalar_status = iv.implied_vol_one(
            p[i], S[i], K[i], T[i], r[i], q[i], float(w[i])
        )
        assert scalar_status == OK
        assert vol[i] == pytest.approx(scalar_vol, rel=1e-12)
    rel = np.abs(_price(S, K, T, r, q, vol, w) - p) / p
    assert rel[done].max() <= 8e-15


@pytest.mark.parametrize("n", [0, 1, iv.CHUNK - 1, iv.CHUNK, iv.CHUNK + 1, 3 * iv.CHUNK + 7])
def test_chunk_edges_and_mixed_statuses(n: int) -> None:
    S, K, T, r, q, v, w = _bulk_contracts(n, n)
    p = _price(S, K, T, r, q, v, w)
    bad = np.arange(n) % 7 == 3
    p[bad] = -1.0  # invalid, interleaved with valid options in every chunk
    vol, status = _iv(p, S, K, T, r, q, w)
    assert (status[bad] == INVALID_INPUT).all()
    assert np.isnan(vol[bad]).all()
    assert (status[~bad] == OK).all()
    rel = np.abs(_price(S, K, T, r, q, vol, w) - p)[~bad] / p[~bad]
    assert (rel <= 8e-15).all()
