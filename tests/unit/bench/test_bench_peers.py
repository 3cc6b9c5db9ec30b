"""Baselines agree with each other: a fast wrong baseline would make every ratio a lie."""

from __future__ import annotations

import numpy as np
import pytest

from greekfire.bench import peers
from greekfire.bench.contenders import Prepared, Unavailable, require
from greekfire.bench.workloads import (
    OptionWorkload,
    make_american_workload,
    make_european_workload,
    make_iv_workload,
)

pytest.importorskip("scipy")


def _run(prepared: Prepared) -> dict[str, np.ndarray]:
    prepared.call()
    return dict(prepared.results())


def test_numpy_satisfies_put_call_parity() -> None:
    w = make_european_workload(1_000)
    calls = peers.numpy_price_greeks(OptionWorkload(*w.arrays()[:6], right=np.ones(w.n, np.int8)))
    puts = peers.numpy_price_greeks(OptionWorkload(*w.arrays()[:6], right=-np.ones(w.n, np.int8)))
    fwd_diff = w.spot * np.exp(-w.div_yield * w.t_years) - w.strike * np.exp(-w.rate * w.t_years)
    np.testing.assert_allclose(calls["price"] - puts["price"], fwd_diff, atol=1e-10)
    np.testing.assert_allclose(calls["delta"] - puts["delta"], np.exp(-w.div_yield * w.t_years))
    np.testing.assert_allclose(calls["gamma"], puts["gamma"])


def test_numpy_delta_matches_finite_difference() -> None:
    w = make_european_workload(200)
    h = 1e-4
    up = peers.numpy_price_greeks(OptionWorkload(w.spot + h, *w.arrays()[1:]))
    down = peers.numpy_price_greeks(OptionWorkload(w.spot - h, *w.arrays()[1:]))
    fd = (up["price"] - down["price"]) / (2 * h)
    np.testing.assert_allclose(peers.numpy_price_greeks(w)["delta"], fd, atol=1e-6)


def test_scipy_loop_matches_numpy() -> None:
    w = make_european_workload(300)
    loop = _run(peers.prepare_scipy_loop(w))
    ref = peers.numpy_price_greeks(w)
    for name in peers.GREEK_NAMES:
        np.testing.assert_allclose(loop[name], ref[name], rtol=1e-9, atol=1e-10, err_msg=name)


def test_quantlib_european_matches_numpy_in_greekfire_units() -> None:
    pytest.importorskip("QuantLib")
    w = make_european_workload(300)
    ql = _run(peers.prepare_quantlib_european(w))
    ref = peers.numpy_price_greeks(w)
    for name in peers.GREEK_NAMES:
        np.testing.assert_allclose(ql[name], ref[name], rtol=1e-7, atol=1e-9, err_msg=name)


def test_quantlib_baw_is_at_least_european_price() -> None:
    pytest.importorskip("QuantLib")
    w = make_american_workload(300)
    american = _run(peers.prepare_quantlib_baw(w))["price"]
    assert np.all(american >= peers.numpy_price_greeks(w)["price"] - 1e-9)


def test_py_vollib_vectorized_prices_and_iv_agree() -> None:
    pytest.importorskip("py_vollib_vectorized")
    w = make_european_workload(300)
    pvv = _run(peers.prepare_pvv_greeks(w))
    np.testing.assert_allclose(pvv["price"], peers.numpy_price_greeks(w)["price"], atol=1e-10)
    assert set(peers.GREEK_NAMES) <= set(pvv)
    iv = make_iv_workload(300)
    vol = _run(peers.prepare_pvv_iv(iv))["vol"]
    assert vol.shape == (300,)


def test_missing_peer_is_reported_not_raised_as_import_error() -> None:
    with pytest.raises(Unavailable, match="peer not installed: not-a-real-peer"):
        require("greekfire_bench_no_such_module", "not-a-real-peer")
