"""Benchmark workloads: deterministic, kernel layout, the advertised distributions."""

from __future__ import annotations

import numpy as np
import pytest

from greekfire.bench.workloads import (
    DAYS_PER_YEAR,
    OptionWorkload,
    make_american_workload,
    make_european_workload,
    make_iv_workload,
)

pytest.importorskip("scipy")


def _assert_kernel_layout(w: OptionWorkload, n: int) -> None:
    for a in w.arrays()[:6]:
        assert a.dtype == np.float64
        assert a.shape == (n,)
        assert a.flags.c_contiguous
    assert w.right.dtype == np.int8
    assert set(np.unique(w.right).tolist()) == {-1, 1}


def test_same_seed_gives_identical_arrays() -> None:
    a, b = make_european_workload(500, seed=3), make_european_workload(500, seed=3)
    for x, y in zip(a.arrays(), b.arrays(), strict=True):
        np.testing.assert_array_equal(x, y)


def test_different_seeds_give_different_arrays() -> None:
    a, b = make_european_workload(500, seed=3), make_european_workload(500, seed=4)
    assert not np.array_equal(a.spot, b.spot)


def test_european_workload_ranges() -> None:
    w = make_european_workload(20_000)
    _assert_kernel_layout(w, 20_000)
    days = w.t_years * DAYS_PER_YEAR
    np.testing.assert_allclose(days, np.round(days), atol=1e-9)
    assert (days.min(), days.max()) == (1, 730)
    assert 80 < np.median(w.spot) < 120
    assert 0.05 <= w.vol.min() < w.vol.max() <= 1.0
    assert w.rate.min() < 0 < w.rate.max()
    assert 0 <= w.div_yield.min() < w.div_yield.max() <= 0.04
    assert np.all(w.strike > 0)
    assert np.std(np.log(w.strike / w.spot)) > 0.1  # strikes are spread, not all ATM


def test_american_workload_has_no_negative_rates() -> None:
    w = make_american_workload(5_000)
    _assert_kernel_layout(w, 5_000)
    assert w.rate.min() >= 0.0


def test_head_returns_leading_views() -> None:
    w = make_european_workload(100)
    h = w.head(10)
    assert h.n == 10
    np.testing.assert_array_equal(h.strike, w.strike[:10])
    assert np.shares_memory(h.spot, w.spot)
    assert w.head(1_000).n == 100


def test_flags_follow_rights() -> None:
    w = make_european_workload(50)
    assert w.flags() == ["c" if r == 1 else "p" for r in w.right]


def test_iv_workload_mix_of_short_dated_and_deep_options() -> None:
    iv = make_iv_workload(40_000)
    o = iv.options
    _assert_kernel_layout(o, 40_000)
    short = o.t_years <= 14 / DAYS_PER_YEAR
    np.testing.assert_array_equal(short, iv.short_dated)
    assert abs(short.mean() - 0.25) < 0.01
    assert abs(iv.deep.mean() - 0.40) < 0.01
    fwd = o.spot * np.exp((o.rate - o.div_yield) * o.t_years)
    z = np.abs(np.log(fwd / o.strike)) / (o.vol * np.sqrt(o.t_years))
    assert z[iv.deep].min() >= 2.5 - 1e-9
    assert z[~iv.deep].max() <= 1.5 + 1e-9


def test_iv_prices_lie_within_no_arbitrage_bounds() -> None:
    iv = make_iv_workload(10_000)
    o = iv.options
    disc_s = o.spot * np.exp(-o.div_yield * o.t_years)
    disc_k = o.strike * np.exp(-o.rate * o.t_years)
    intrinsic = np.maximum(o.right * (disc_s - disc_k), 0.0)
    upper = np.where(o.right == 1, disc_s, disc_k)
    tol = 1e-9 * np.maximum(disc_s, disc_k)
    assert np.all(iv.price >= intrinsic - tol)
    assert np.all(iv.price <= upper + tol)
    assert iv.head(5).price.shape == (5,)
