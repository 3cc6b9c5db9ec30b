"""run_case: side-by-side rows, skips with reasons, subsample extrapolation, ratios, targets.

The numpy baseline stands in for greekfire so these tests do not depend on the kernels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from greekfire.bench import peers
from greekfire.bench.contenders import Contender, Prepared, Results, Unavailable, allocating
from greekfire.bench.harness import CaseSpec, Policies, Target, numba_threads, run_case
from greekfire.bench.timing import RepeatPolicy
from greekfire.bench.workloads import OptionWorkload, make_european_workload

pytest.importorskip("scipy")

TINY = RepeatPolicy(min_repeats=3, max_repeats=3, budget_s=0.0, warmup=1)
POLICIES = Policies(fast=TINY, slow=TINY)


def _missing(_w: OptionWorkload) -> Prepared:
    raise Unavailable("peer not installed: imaginary")


def _sized(w: OptionWorkload) -> Prepared:
    # Records the batch size it was prepared with, so the test can see the subsample.
    return allocating(lambda: {"price": np.zeros(w.n), "n": np.array([w.n])})


def _price_check(w: OptionWorkload, results: Mapping[str, Results]) -> dict[str, dict[str, Any]]:
    return {key: {"n_prices": len(res["price"])} for key, res in results.items()}


def _spec(**overrides: Any) -> CaseSpec[OptionWorkload]:
    fields: dict[str, Any] = {
        "key": "t",
        "title": "test case",
        "description": "numpy stands in for greekfire",
        "make_workload": lambda: make_european_workload(1_000),
        "contenders": (
            Contender("greekfire", "numpy as greekfire", peers.prepare_numpy),
            Contender("loop", "subsampled", _sized, subsample=100, slow=True),
            Contender("ghost", "missing peer", _missing),
        ),
        "check": _price_check,
        "target": Target("median_ms", 1e9),
    }
    fields.update(overrides)
    return CaseSpec(**fields)


def _rows(case: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["key"]: row for row in case["rows"]}


def test_every_contender_gets_a_row_in_order() -> None:
    case = run_case(_spec(), POLICIES)
    assert [r["key"] for r in case["rows"]] == ["greekfire", "loop", "ghost"]
    assert case["n_options"] == 1_000
    assert len(case["load_average_1m"]) == 2


def test_missing_peer_is_skipped_with_its_reason() -> None:
    ghost = _rows(run_case(_spec(), POLICIES))["ghost"]
    assert ghost["status"] == "skipped"
    assert ghost["note"] == "peer not installed: imaginary"
    assert "median_ms" not in ghost


def test_subsampled_contender_is_timed_on_head_and_extrapolated() -> None:
    rows = _rows(run_case(_spec(), POLICIES))
    loop = rows["loop"]
    assert loop["n_timed"] == 100
    assert loop["extrapolated"] is True
    assert "extrapolated from a 100-option subsample" in loop["note"]
    assert loop["median_ms"] == pytest.approx(loop["timed_median_ns"] * 10 / 1e6)
    assert loop["ns_per_option"] == pytest.approx(loop["timed_median_ns"] / 100)
    assert loop["metrics"] == {"n_prices": 100}
    assert rows["greekfire"]["extrapolated"] is False


def test_ratios_are_relative_to_the_headline_median() -> None:
    rows = _rows(run_case(_spec(), POLICIES))
    assert rows["greekfire"]["ratio_to_headline"] == 1.0
    expected = rows["loop"]["median_ms"] / rows["greekfire"]["median_ms"]
    assert rows["loop"]["ratio_to_headline"] == pytest.approx(expected)
    assert rows["greekfire"]["repeats"] == 3
    assert len(rows["greekfire"]["samples_ns"]) == 3
    assert rows["greekfire"]["min_ms"] <= rows["greekfire"]["median_ms"]


def test_target_is_evaluated_on_the_headline() -> None:
    met = run_case(_spec(), POLICIES)["target"]
    assert met["met"] is True
    assert met["value"] > 0
    missed = run_case(_spec(target=Target("ns_per_option", 0.0)), POLICIES)["target"]
    assert missed["met"] is False


def test_no_ratio_and_no_target_value_when_headline_is_skipped() -> None:
    spec = _spec(
        contenders=(
            Contender("greekfire", "missing greekfire", _missing),
            Contender("numpy", "numpy", peers.prepare_numpy),
        )
    )
    case = run_case(spec, POLICIES)
    assert _rows(case)["numpy"]["ratio_to_headline"] is None
    assert case["target"] == {"metric": "median_ms", "limit": 1e9, "value": None, "met": None}


def test_numba_threads_restores_the_thread_count() -> None:
    numba = pytest.importorskip("numba")
    before = numba.get_num_threads()
    with numba_threads(1):
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before
    with numba_threads(None):
        assert numba.get_num_threads() == before


def test_teardown_runs_once_after_the_case_even_when_a_prepare_raises() -> None:
    calls: list[str] = []

    def boom(_w: OptionWorkload) -> Prepared:
        raise KeyboardInterrupt  # not an Unavailable: it escapes run_case

    run_case(_spec(teardown=lambda: calls.append("down")), POLICIES)
    assert calls == ["down"]
    broken = _spec(
        contenders=(Contender("greekfire", "interrupted", boom),),
        teardown=lambda: calls.append("down again"),
    )
    with pytest.raises(KeyboardInterrupt):
        run_case(broken, POLICIES)
    assert calls == ["down", "down again"]
