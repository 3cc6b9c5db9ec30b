"""Cases (e)-(h): wiring, selection, and checks that catch wrong outputs (tiny sizes)."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from greekfire.bench import ta_peers, ta_subjects
from greekfire.bench.cases import FULL, QUICK_SIZES, build_cases, select_cases
from greekfire.bench.contenders import Prepared, Unavailable
from greekfire.bench.harness import Target
from greekfire.bench.series import (
    INDICATOR_OUTPUTS,
    make_ohlc_workload,
    make_returns_workload,
    make_stream_workload,
)
from greekfire.bench.ta_cases import (
    TOLERANCE,
    check_indicators,
    check_stats,
    check_stream,
    compare_outputs,
)


def _run(prepared: Prepared, times: int = 1) -> dict[str, np.ndarray]:
    for _ in range(times):
        prepared.call()
    return {k: np.array(v, copy=True) for k, v in prepared.results().items()}


def test_series_cases_sizes_contenders_and_targets() -> None:
    cases = {c.key: c for c in build_cases(FULL)}
    e, f, g, h = (
        cases[k]
        for k in (
            "e_indicators",
            "f_indicators_block",
            "g_indicators_stream",
            "h_performance_stats",
        )
    )
    assert [x.key for x in e.contenders] == [
        "greekfire",
        "greekfire_api",
        "talib",
        "pandas",
        "pandas_ta_classic",
    ]
    assert e.contenders[0].threads == 1
    assert e.target == Target("median_ms", 1.0, relative_to="talib")
    assert [x.key for x in f.contenders] == [
        "greekfire",
        "greekfire_1thread",
        "talib",
        "pandas",
        "pandas_ta_classic",
    ]
    assert {x.key: x.subsample for x in f.contenders if x.subsample} == {"pandas_ta_classic": 25}
    assert f.target == Target("median_ms", 10.0)
    assert [x.key for x in g.contenders] == [
        "greekfire",
        "greekfire_kernels",
        "greekfire_recompute",
        "greekfire_recompute_1thread",
        "talib_recompute",
    ]
    assert g.target == Target("median_ms", 0.3)
    assert [x.key for x in h.contenders] == ["greekfire", "greekfire_1thread", "numpy", "pandas"]
    assert h.target is None
    assert (e.unit, f.unit, g.unit, h.unit) == ("bar", "bar", "bar", "return")
    assert e.make_workload().n == 10_000
    assert f.short == "(f) 6 TA 500x2,520"


def test_quick_series_cases_are_small() -> None:
    quick = select_cases(build_cases(QUICK_SIZES), ["e", "f", "g", "h"])
    assert max(c.make_workload().n for c in quick) <= 10_000


def test_select_cases_by_letter_or_key_in_suite_order() -> None:
    suite = build_cases(QUICK_SIZES)
    keys = [c.key for c in select_cases(suite, ["H", " e ", "f_indicators_block", ""])]
    assert keys == ["e_indicators", "f_indicators_block", "h_performance_stats"]
    with pytest.raises(ValueError, match=r"unknown case\(s\) x, zz; choose among a, b, c"):
        select_cases(suite, ["e", "x", "zz"])
    with pytest.raises(ValueError, match="no case given"):
        select_cases(suite, [" "])


# --- checks ---------------------------------------------------------------------------------


def test_greekfire_kernels_and_api_match_talib() -> None:
    pytest.importorskip("talib")
    w = make_ohlc_workload(1, 400)
    talib = _run(ta_peers.prepare_talib(w))
    out = check_indicators(
        w,
        {
            "talib": talib,
            "greekfire": _run(ta_subjects.prepare_ta_kernels(w), times=2),  # states re-zeroed
            "greekfire_api": _run(ta_subjects.prepare_ta_api(w)),
        },
    )
    for key in ("greekfire", "greekfire_api"):
        assert out[key]["matches_talib"] is True, out[key]
        assert out[key]["max_rel_diff_vs_talib"] <= TOLERANCE
        assert out[key]["nan_positions_differing"] == 0
        assert out[key]["checked_symbols"] == 1
    assert "talib" not in out


def test_indicator_check_flags_a_wrong_value_and_a_moved_nan() -> None:
    w = make_ohlc_workload(3, 200)
    good = ta_subjects.ta_batch(w)
    wrong = {k: v.copy() for k, v in good.items()}
    wrong["rsi_14"][1, 150] *= 1.0 + 1e-8  # RSI ~50: 5e-7 absolute, above 1e-9 * 50
    moved = {k: v.copy() for k, v in good.items()}
    moved["macd"][2, 33] = np.nan  # MACD's first value
    out = check_indicators(w, {"talib": good, "wrong": wrong, "moved": moved, "same": good})
    assert out["same"]["matches_talib"] is True
    assert out["same"]["max_rel_diff_vs_talib"] == 0.0
    assert out["wrong"]["matches_talib"] is False
    assert out["wrong"]["worst_output"] == "rsi_14"
    assert out["wrong"]["max_rel_diff_vs_talib"] == pytest.approx(1e-8, rel=1e-3)
    assert out["moved"]["matches_talib"] is False
    assert out["moved"]["nan_positions_differing"] == 1


def test_indicator_check_without_talib_says_so() -> None:
    w = make_ohlc_workload(1, 100)
    out = check_indicators(w, {"greekfire": ta_subjects.ta_batch(w)})
    assert out == {"greekfire": {"vs_talib": "TA-Lib did not run"}}


def test_compare_outputs_uses_the_rows_of_a_subsample() -> None:
    ref = {"x": np.arange(12.0).reshape(3, 4)}
    res = {"x": ref["x"][:1] + np.array([[0.0, 0.0, 0.0, 3e-9 * 3]])}
    m = compare_outputs(ref, res, ["x"], "ref")
    assert m["checked_symbols"] == 1
    assert m["max_rel_diff_vs_ref"] == pytest.approx(3e-9)
    assert m["max_rel_diff_vs_ref_last_half"] == pytest.approx(3e-9)
    assert m["matches_ref"] is False


def test_pandas_matches_talib_once_the_seeds_have_decayed() -> None:
    pytest.importorskip("talib")
    w = make_ohlc_workload(2, 1_000)
    m = compare_outputs(
        _run(ta_peers.prepare_talib(w)), _run(ta_peers.prepare_pandas(w)), INDICATOR_OUTPUTS, "t"
    )
    assert m["nan_positions_differing"] == 0
    assert m["max_rel_diff_vs_t_last_half"] < 1e-9
    assert m["max_rel_diff_vs_t"] > 1e-6  # the seeds differ early: the check sees it


def test_pandas_one_series_and_wide_frame_agree() -> None:
    w = make_ohlc_workload(3, 300)
    wide = _run(ta_peers.prepare_pandas(w))
    one = _run(ta_peers.prepare_pandas(w.head(1)))
    for name in INDICATOR_OUTPUTS:
        np.testing.assert_allclose(one[name][0], wide[name][0], rtol=1e-12, err_msg=name)


def test_pandas_ta_classic_tracks_talib_when_installed() -> None:
    pytest.importorskip("talib")
    try:
        prepared = ta_peers.prepare_pandas_ta_classic(make_ohlc_workload(2, 600))
    except Unavailable as exc:
        pytest.skip(str(exc))
    w = make_ohlc_workload(2, 600)
    m = compare_outputs(_run(ta_peers.prepare_talib(w)), _run(prepared), INDICATOR_OUTPUTS, "t")
    assert m["max_rel_diff_vs_t_last_half"] < 1e-6
    assert m["checked_symbols"] == 2


def test_pandas_ta_classic_that_does_not_import_is_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = make_ohlc_workload(1, 50)
    monkeypatch.setitem(sys.modules, "pandas_ta_classic", None)
    with pytest.raises(Unavailable, match="peer not installed: pandas-ta-classic"):
        ta_peers.prepare_pandas_ta_classic(w)

    def broken(module: str, distribution: str | None = None) -> types.ModuleType:
        raise AttributeError("module 'numpy' has no attribute 'NaN'")

    monkeypatch.setattr(ta_peers, "require", broken)
    with pytest.raises(Unavailable, match=r"does not import here: AttributeError: .*NaN"):
        ta_peers.prepare_pandas_ta_classic(w)


def test_stream_rows_equal_the_batch_last_bar_bit_for_bit() -> None:
    w = make_stream_workload(4, 120, upcoming=3)
    results = {
        "greekfire": _run(ta_subjects.prepare_stream_update(w), times=5),  # cycles the 3 bars
        "greekfire_kernels": _run(ta_subjects.prepare_stream_kernels(w), times=2),
    }
    out = check_stream(w, results)
    assert out["greekfire"] == {
        "bars_fed": 5,
        "values_differing_from_batch_last_bar": 0,
        "equals_batch_bit_for_bit": True,
    }
    assert out["greekfire_kernels"]["bars_fed"] == 2
    assert out["greekfire_kernels"]["equals_batch_bit_for_bit"] is True
    np.testing.assert_array_equal(results["greekfire"]["fed"], [0, 1, 2, 0, 1])


def test_stream_check_flags_a_value_one_ulp_off() -> None:
    w = make_stream_workload(3, 80, upcoming=2)
    res = _run(ta_subjects.prepare_stream_kernels(w), times=2)
    res["atr_14"][1] = np.nextafter(res["atr_14"][1], np.inf)
    out = check_stream(w, {"greekfire": res})["greekfire"]
    assert out["values_differing_from_batch_last_bar"] == 1
    assert out["equals_batch_bit_for_bit"] is False


def test_stream_check_compares_recompute_rows_with_talib() -> None:
    pytest.importorskip("talib")
    w = make_stream_workload(2, 100, upcoming=2)
    out = check_stream(
        w,
        {
            "greekfire_recompute": _run(ta_subjects.prepare_ta_recompute(w)),
            "talib_recompute": _run(ta_peers.prepare_talib_recompute(w)),
        },
    )
    assert out["greekfire_recompute"]["matches_talib"] is True
    assert out["greekfire_recompute"]["checked_symbols"] == 2


def test_numpy_stats_on_a_hand_computed_example() -> None:
    r = np.array([[0.1, -0.5, 0.2], [-0.1, 0.05, 0.02]])
    s = ta_peers.numpy_stats(r)
    # Wealth 1.1, 0.55, 0.66: from the 1.1 peak down to 0.55. Row 2 falls from the start, 1.
    np.testing.assert_allclose(s["max_drawdown"], [-0.5, -0.1])
    mean = r.mean(axis=1)
    np.testing.assert_allclose(s["sharpe"], mean / r.std(axis=1, ddof=1) * np.sqrt(252.0))
    downside = np.sqrt([0.25 / 3, 0.01 / 3])
    np.testing.assert_allclose(s["sortino"], mean / downside * np.sqrt(252.0))


def test_pandas_stats_equal_numpy_stats() -> None:
    w = make_returns_workload(6, 300)
    pandas = _run(ta_peers.prepare_pandas_stats(w))
    out = check_stats(w, {"pandas": pandas})["pandas"]
    assert out["matches_numpy"] is True
    assert out["max_rel_diff_vs_numpy"] < 1e-12


def test_greekfire_stats_kernels_match_numpy_and_a_wrong_one_is_flagged() -> None:
    pytest.importorskip("greekfire.kernels.stats")
    w = make_returns_workload(5, 400)
    try:
        gf = _run(ta_subjects.prepare_stats_kernels(w))
    except Unavailable as exc:  # the stats kernels are still being written
        pytest.skip(str(exc))
    wrong = {k: v.copy() for k, v in gf.items()}
    wrong["max_drawdown"][3] -= 1e-6
    out = check_stats(w, {"greekfire": gf, "wrong": wrong})
    assert out["greekfire"]["matches_numpy"] is True, out["greekfire"]
    assert out["wrong"]["matches_numpy"] is False
    assert out["wrong"]["worst_output"] == "max_drawdown"


def test_missing_stats_kernels_make_the_row_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "greekfire.kernels.stats", types.ModuleType("stats"))
    with pytest.raises(Unavailable, match=r"greekfire.kernels.stats.sharpe_2d not available"):
        ta_subjects.prepare_stats_kernels(make_returns_workload(2, 10))
