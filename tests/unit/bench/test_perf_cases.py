"""Cases (i)-(k) of the bench: workloads, contenders and checks on small sizes."""

from __future__ import annotations

import numpy as np
import pytest

from greekfire.bench import perf_cases as pc
from greekfire.bench.cases import QUICK_SIZES, build_cases, select_cases


def test_the_brief_frame_is_about_170_bytes_per_row_with_2_decimal_prices() -> None:
    frame = pc.brief_frame(10_000)
    per_row = frame.memory_usage(deep=True).sum() / len(frame)
    assert 160 <= per_row <= 180
    assert frame["symbol"].nunique() == 50
    assert frame["timestamp"].nunique() == 200
    for col in ("open", "high", "low", "close"):
        assert np.array_equal(np.round(frame[col].to_numpy(), 2), frame[col].to_numpy())
    assert frame["volume"].max() < 10_000_000


def _run(contender: pc.Contender, workload: object) -> dict:  # type: ignore[name-defined]
    prepared = contender.prepare(workload)
    prepared.call()
    return dict(prepared.results())


@pytest.mark.parametrize("key", ["i_cache_hit", "j_optimize_dataframe", "k_parallel_map"])
def test_every_contender_runs_and_passes_its_check(key: str) -> None:
    (spec,) = select_cases(build_cases(QUICK_SIZES), [key])
    workload = spec.make_workload()
    results = {c.key: _run(c, workload) for c in spec.contenders}
    assert spec.check is not None
    metrics = spec.check(workload, results)
    assert set(metrics) == {c.key for c in spec.contenders}
    if key == "i_cache_hit":
        assert all(m["values_correct"] for m in metrics.values())
    elif key == "k_parallel_map":
        assert all(m["equals_serial"] for m in metrics.values())
    else:
        assert metrics["greekfire"]["bit_exact"]
        assert metrics["greekfire_decimals"]["prices_at_2_decimals"]
        # The usual float32 recipe does not convert back bit for bit; ours with decimals is
        # smaller than the bit-lossless default.
        assert not metrics["pandas"]["bit_exact"]
        after = {k: m["bytes_per_row_after"] for k, m in metrics.items()}
        assert after["greekfire_decimals"] < after["greekfire"] < 60


def test_checks_flag_wrong_results() -> None:
    calls = pc.CallsWorkload(10)
    wrong = {"x": {"value": np.zeros(1_000, dtype=np.int64)}}
    assert not pc.check_cache(calls, wrong)["x"]["values_correct"]
    tasks = pc.TasksWorkload((1, 2))
    assert not pc.check_parallel(tasks, {"x": {"value": np.array([0.0, 0.0])}})["x"][
        "equals_serial"
    ]
