"""The four cases are wired as the brief says, and their accuracy checks count correctly."""

from __future__ import annotations

import numpy as np
import pytest

from greekfire.bench import peers
from greekfire.bench.cases import (
    FULL,
    QUICK_SIZES,
    build_cases,
    check_american,
    check_iv,
    check_prices,
    well_conditioned,
)
from greekfire.bench.harness import Target
from greekfire.bench.workloads import make_european_workload, make_iv_workload

pytest.importorskip("scipy")


def test_full_cases_sizes_peers_and_targets() -> None:
    cases = {c.key: c for c in build_cases(FULL)}
    assert list(cases)[:4] == [
        "a_bsm_greeks",
        "b_bsm_greeks_big",
        "c_implied_vol",
        "d_american_baw",
    ]
    a, b, c, d = list(cases.values())[:4]
    assert [x.key for x in a.contenders] == [
        "greekfire",
        "greekfire_1thread",
        "greekfire_api",
        "numpy",
        "py_vollib_vectorized",
        "scipy_loop",
        "quantlib",
    ]
    subsampled = {x.key: x.subsample for x in a.contenders if x.subsample}
    assert subsampled == {"scipy_loop": 2_000, "quantlib": 5_000}
    assert a.target == Target("median_ms", 0.5)
    assert b.target == Target("ns_per_option", 10.0)
    assert c.target == Target("median_ms", 100.0)
    assert {x.key for x in b.contenders} == {"greekfire", "greekfire_1thread"}
    assert "py_vollib_vectorized" in {x.key for x in c.contenders}
    assert d.target is None
    assert [x.threads for x in d.contenders] == [None, 1, None]
    assert [x.short for x in cases.values()][:4] == [
        "(a) 50k greeks",
        "(b) 10M greeks",
        "(c) 1M IV",
        "(d) 50k BAW",
    ]
    assert {x.unit for x in (a, b, c, d)} == {"option"}


def test_quick_cases_are_small() -> None:
    workloads = [c.make_workload() for c in build_cases(QUICK_SIZES)]
    assert max(w.n for w in workloads) <= 100_000


def test_check_prices_reports_the_largest_price_error_and_statuses() -> None:
    w = make_european_workload(1_000)
    ref = peers.numpy_price_greeks(w)["price"]
    bumped = ref.copy()
    bumped[10] += 0.25
    status = np.zeros(1_000, np.int8)
    status[:3] = 4
    out = check_prices(w, {"exact": {"price": ref}, "off": {"price": bumped, "status": status}})
    assert out["exact"] == {"max_abs_price_diff_vs_numpy": 0.0, "checked": 1_000}
    assert out["off"]["max_abs_price_diff_vs_numpy"] == pytest.approx(0.25)
    assert out["off"]["status_counts"] == {"OK": 997, "INVALID_INPUT": 3}


def test_check_prices_of_a_subsample_checks_its_own_length() -> None:
    w = make_european_workload(1_000)
    ref = peers.numpy_price_greeks(w)["price"]
    assert check_prices(w, {"loop": {"price": ref[:50]}})["loop"]["checked"] == 50


def test_check_iv_counts_nans_errors_and_statuses() -> None:
    iv = make_iv_workload(5_000)
    cond = well_conditioned(iv)
    assert 0 < cond.sum() < iv.n  # the workload has both kinds
    vol = iv.options.vol.copy()
    bad = int(np.flatnonzero(cond)[0])
    vol[bad] += 1e-3
    missing = int(np.flatnonzero(~cond)[0])
    vol[missing] = np.nan
    status = np.zeros(iv.n, np.int8)
    status[missing] = 3
    out = check_iv(iv, {"gf": {"vol": vol, "status": status}, "true": {"vol": iv.options.vol}})
    gf = out["gf"]
    assert gf["nan_count"] == 1
    assert gf["max_vol_error_all"] == pytest.approx(1e-3)
    assert gf["max_vol_error_well_conditioned"] == pytest.approx(1e-3)
    assert gf["well_conditioned"] == int(cond.sum())
    assert gf["well_conditioned_missing"] == 0
    assert gf["well_conditioned_error_gt_1e-06"] == 1
    assert gf["status_counts"] == {"OK": iv.n - 1, "NO_CONVERGENCE": 1}
    assert out["true"]["max_vol_error_all"] == 0.0
    assert "status_counts" not in out["true"]


def test_check_american_compares_on_the_quantlib_subsample() -> None:
    w = make_european_workload(100)
    gf = np.arange(100.0)
    ql = gf[:10] + np.linspace(0.0, 0.5, 10)
    out = check_american(
        w, {"greekfire": {"price": gf, "status": np.zeros(100, np.int8)}, "quantlib": {"price": ql}}
    )
    assert out["greekfire"]["max_abs_price_diff_vs_quantlib"] == pytest.approx(0.5)
    assert out["greekfire"]["checked"] == 10
    assert out["greekfire"]["status_counts"] == {"OK": 100}
    assert check_american(w, {"quantlib": {"price": ql}}) == {"quantlib": {}}
