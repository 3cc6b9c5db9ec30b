"""Parameter sweeps: grid, random and walk-forward sets; run_sweep on every local backend gives
the serial table; data shipped once per worker; results streamed to Parquet in row groups;
ranking, failures, the heatmap, the SMA objective and the contract errors.

Objectives are module-level so that worker processes can import them.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from greekfire.backtest import sweep, sweep_store
from greekfire.backtest.sweep import (
    FloatRange,
    IntRange,
    WalkForwardSplit,
    grid,
    iter_grid,
    parse_constraint,
    random_params,
    run_sweep,
    slice_bars,
    walk_forward,
    walk_forward_splits,
)

# --- objectives (module-level: picklable by reference) ----------------------------------------


def sma_cross_return(params: dict[str, Any], close: np.ndarray) -> dict[str, float]:
    """A long-only SMA crossover in plain numpy: in the market the bar after fast > slow."""
    fast, slow = int(params["fast"]), int(params["slow"])
    padded = np.vstack([np.zeros((1, close.shape[1])), close])
    csum = np.cumsum(padded, axis=0)

    def sma(window: int) -> np.ndarray:
        out = np.full(close.shape, np.nan)
        if window <= close.shape[0]:
            out[window - 1 :] = (csum[window:] - csum[:-window]) / window
        return out

    with np.errstate(invalid="ignore"):
        above = sma(fast) > sma(slow)
    held = np.zeros(close.shape)
    held[1:] = above[:-1]
    returns = np.zeros(close.shape)
    returns[1:] = close[1:] / close[:-1] - 1.0
    growth = np.prod(1.0 + returns * held, axis=0)
    entries = np.sum(np.diff(held, axis=0) > 0)
    return {"total_return": float(growth.mean() - 1.0), "n_trades": float(entries)}


def score(params: dict[str, Any], data: Any) -> dict[str, float]:
    return {"total_return": params["a"] * 10.0 + params["b"], "loss": -float(params["a"])}


def fail_when_negative(params: dict[str, Any], data: Any) -> dict[str, float]:
    if params["a"] < 0:
        raise ValueError(f"a={params['a']} is negative")
    return {"total_return": float(params["a"])}


def data_identity(params: dict[str, Any], data: Any) -> dict[str, float]:
    return {"total_return": float(params["a"]), "data_id": float(id(data))}


def returns_text(params: dict[str, Any], data: Any) -> dict[str, Any]:
    return {"total_return": "high"}


def closeness_to_window_mean(params: dict[str, Any], data: np.ndarray) -> dict[str, float]:
    return {"total_return": -abs(float(np.mean(data)) - params["target"])}


def kernel_threads(params: dict[str, Any], data: Any) -> dict[str, float]:
    import numba

    return {"total_return": float(numba.get_num_threads())}


class CountingData:
    """Data that counts how often it is pickled in this (the calling) process."""

    pickles = 0

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def __reduce__(self) -> tuple[Any, ...]:
        CountingData.pickles += 1
        return (CountingData, (self.values,))


def use_counting_data(params: dict[str, Any], data: CountingData) -> dict[str, float]:
    return {"total_return": float(data.values.sum()) + params["a"]}


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def close() -> np.ndarray:
    rng = np.random.default_rng(7)
    steps = rng.normal(0.0003, 0.015, size=(300, 4))
    return np.asarray(100.0 * np.exp(np.cumsum(steps, axis=0)))


@pytest.fixture(scope="module")
def sma_sets() -> list[dict[str, Any]]:
    return grid({"fast": range(3, 30, 3), "slow": range(10, 80, 10)}, constraints="fast < slow")


@pytest.fixture(scope="module")
def serial_table(close: np.ndarray, sma_sets: list[dict[str, Any]]) -> pd.DataFrame:
    return run_sweep(sma_cross_return, sma_sets, close, backend="serial").table


# --- grid, random, constraints ----------------------------------------------------------------


def test_grid_is_the_filtered_product_with_the_last_name_fastest() -> None:
    sets = grid({"fast": np.arange(1, 4), "slow": [2, 3]}, constraints=["fast < slow"])
    assert sets == [
        {"fast": 1, "slow": 2},
        {"fast": 1, "slow": 3},
        {"fast": 2, "slow": 3},
    ]
    assert all(type(value) is int for params in sets for value in params.values())
    by_callable = grid(
        {"fast": [1, 2, 3], "slow": [2, 3]}, constraints=lambda p: p["fast"] < p["slow"]
    )
    assert by_callable == sets
    assert list(iter_grid({"x": [1, 2]})) == [{"x": 1}, {"x": 2}]


@pytest.mark.parametrize(
    ("text", "params", "expected"),
    [
        ("fast < slow", {"fast": 5, "slow": 20}, True),
        ("5 <= fast < slow", {"fast": 4, "slow": 20}, False),
        ("slow >= 2 * fast + 1", {"fast": 5, "slow": 11}, True),
        ("slow >= 2 * fast + 1", {"fast": 5, "slow": 10}, False),
        ("fast < slow and not slow % 10", {"fast": 5, "slow": 30}, True),
        ("fast == 1 or -slow > -3", {"fast": 2, "slow": 2}, True),
    ],
)
def test_parse_constraint_evaluates_the_whitelisted_grammar(
    text: str, params: dict[str, int], expected: bool
) -> None:
    assert parse_constraint(text)(params) is expected


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("fast <", "is not an expression"),
        ("fast.__class__", "is not allowed"),
        ("__import__('os')", "is not allowed"),
    ],
)
def test_parse_constraint_refuses_anything_else(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_constraint(text)


def test_a_constraint_naming_an_unknown_parameter_suggests_the_close_one() -> None:
    with pytest.raises(ValueError, match="'fats', not a parameter; did you mean 'fast'"):
        grid({"fast": [1], "slow": [2]}, constraints="fats < slow")


@pytest.mark.parametrize(
    ("space", "error", "match"),
    [
        ({}, ValueError, "non-empty mapping"),
        ({"fast": 10}, TypeError, r"space\['fast'\] must be a list of values, got int"),
        ({"fast": "10"}, TypeError, r"space\['fast'\] must be a list"),
        ({"fast": []}, ValueError, r"space\['fast'\] is empty"),
        ({"run": [1]}, ValueError, "'run' is reserved"),
        ({"not a name": [1]}, ValueError, "identifiers"),
    ],
)
def test_grid_refuses_bad_spaces(space: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        grid(space)


def test_random_params_are_seeded_bounded_unique_and_constrained() -> None:
    space = {
        "fast": (2, 30),
        "slow": IntRange(20, 200, step=10),
        "stop": (0.01, 0.1),
        "fees": FloatRange(1e-5, 1e-2, log=True),
        "fill": ["close", "next_open"],
    }
    first = random_params(space, 50, seed=11, constraints="fast < slow")
    assert first == random_params(space, 50, seed=11, constraints="fast < slow")
    assert first != random_params(space, 50, seed=12, constraints="fast < slow")
    assert len({tuple(p.values()) for p in first}) == 50
    for params in first:
        assert type(params["fast"]) is int
        assert 2 <= params["fast"] <= 30
        assert params["slow"] in range(20, 201, 10)
        assert type(params["stop"]) is float
        assert 0.01 <= params["stop"] < 0.1
        assert 1e-5 <= params["fees"] < 1e-2
        assert params["fill"] in ("close", "next_open")
        assert params["fast"] < params["slow"]
    both_ends = {p["fast"] for p in random_params({"fast": (1, 3)}, 3, seed=0)}
    assert both_ends == {1, 2, 3}


def test_random_params_gives_up_when_the_space_is_too_small() -> None:
    with pytest.raises(ValueError, match="accepted only 3 of n=4"):
        random_params({"fast": (1, 3)}, 4, seed=0)
    assert len(random_params({"fast": (1, 3)}, 4, seed=0, unique=False)) == 4
    with pytest.raises(TypeError, match=r"space\['x'\] must be IntRange"):
        random_params({"x": 5}, 1, seed=0)
    with pytest.raises(ValueError, match="low <= high"):
        IntRange(5, 1)


# --- walk-forward splits and slicing ----------------------------------------------------------


def test_rolling_and_anchored_walk_forward_splits() -> None:
    rolling = walk_forward_splits(100, train_bars=40, test_bars=20)
    assert [(s.train_start, s.train_stop, s.test_start, s.test_stop) for s in rolling] == [
        (0, 40, 40, 60),
        (20, 60, 60, 80),
        (40, 80, 80, 100),
    ]
    anchored = walk_forward_splits(100, train_bars=40, test_bars=20, step_bars=30, anchored=True)
    assert [(s.train.start, s.train.stop, s.test.start, s.test.stop) for s in anchored] == [
        (0, 40, 40, 60),
        (0, 70, 70, 90),
    ]
    assert [s.index for s in anchored] == [0, 1]
    with pytest.raises(ValueError, match="train_bars=80 \\+ test_bars=30 > n_bars=100"):
        walk_forward_splits(100, train_bars=80, test_bars=30)
    with pytest.raises(ValueError, match="test_bars must be an int >= 1, got 0"):
        walk_forward_splits(100, train_bars=80, test_bars=0)


def test_slice_bars_cuts_rows_of_frames_arrays_and_containers() -> None:
    frame = pd.DataFrame({"A": range(10)}, index=pd.date_range("2024-01-01", periods=10, tz="UTC"))
    cut = slice_bars(
        {"close": frame, "raw": np.arange(10), "pair": (frame["A"], [0] * 0)}, slice(2, 5)
    )
    assert cut["close"]["A"].tolist() == [2, 3, 4]
    assert cut["raw"].tolist() == [2, 3, 4]
    assert cut["pair"][0].tolist() == [2, 3, 4]
    with pytest.raises(TypeError, match="got int"):
        slice_bars(5, slice(0, 1))


# --- run_sweep --------------------------------------------------------------------------------


def test_serial_table_is_ranked_best_first_with_ties_in_input_order() -> None:
    sets = [{"a": a, "b": b} for a in (1, 3, 2) for b in (0, 0)]
    result = run_sweep(score, sets, None, backend="serial")
    table = result.table
    assert table["run"].tolist() == [2, 3, 4, 5, 0, 1]
    assert table["total_return"].tolist() == [30.0, 30.0, 20.0, 20.0, 10.0, 10.0]
    assert list(table.columns) == ["run", "a", "b", "total_return", "loss", "error"]
    assert table["error"].isna().all()
    assert result.best_params == {"a": 3, "b": 0}
    assert result.best["run"] == 2
    assert (result.n_runs, result.n_failed) == (6, 0)
    lowest = run_sweep(score, sets, None, backend="serial", metric="loss", ascending=True)
    assert lowest.best_params == {"a": 3, "b": 0}
    assert lowest.table["loss"].is_monotonic_increasing


def test_the_sma_table_matches_direct_calls(
    close: np.ndarray, sma_sets: list[dict[str, Any]], serial_table: pd.DataFrame
) -> None:
    expected = [sma_cross_return(params, close)["total_return"] for params in sma_sets]
    by_run = serial_table.sort_values("run")
    assert by_run["total_return"].tolist() == expected
    assert serial_table["total_return"].iloc[0] == max(expected)
    assert serial_table["total_return"].is_monotonic_decreasing
    assert len(serial_table) == len(sma_sets) == 54


@pytest.mark.parametrize("backend", ["threads", "processes"])
def test_local_backends_return_the_serial_table(
    backend: Any, close: np.ndarray, sma_sets: list[dict[str, Any]], serial_table: pd.DataFrame
) -> None:
    result = run_sweep(sma_cross_return, sma_sets, close, backend=backend, max_workers=2)
    pd.testing.assert_frame_equal(result.table, serial_table, check_exact=True)


def test_failures_are_rows_with_their_error_ranked_last() -> None:
    sets = [{"a": a} for a in (2, -1, 5, -3)]
    result = run_sweep(fail_when_negative, sets, None, backend="threads", max_workers=2)
    table = result.table
    assert table["run"].tolist() == [2, 0, 1, 3]
    assert table["total_return"].iloc[:2].tolist() == [5.0, 2.0]
    assert table["total_return"].iloc[2:].isna().all()
    assert table["error"].iloc[2] == "ValueError: a=-1 is negative"
    assert result.n_failed == 2
    assert result.errors["run"].tolist() == [1, 3]


def test_a_non_numeric_metric_is_that_rows_error_and_all_failed_names_the_first() -> None:
    with pytest.raises(ValueError, match="all 2 parameter sets failed; the first: TypeError: "):
        run_sweep(returns_text, [{"a": 1}, {"a": 2}], None, backend="serial")


def test_parallel_backends_run_numba_kernels_on_one_thread_per_call() -> None:
    import numba

    sets = [{"a": a} for a in range(6)]
    before = numba.get_num_threads()
    serial = run_sweep(kernel_threads, sets, None, backend="serial").table
    threaded = run_sweep(kernel_threads, sets, None, backend="threads", max_workers=2).table
    assert set(serial["total_return"]) == {float(before)}
    assert set(threaded["total_return"]) == {1.0}
    assert numba.get_num_threads() == before


def test_threads_pass_the_very_data_object() -> None:
    data = np.arange(5.0)
    result = run_sweep(data_identity, [{"a": a} for a in range(8)], data, backend="threads")
    assert set(result.table["data_id"]) == {float(id(data))}


@pytest.mark.parametrize(("chunk", "shipments"), [(100, 2), (10, 4)])
def test_processes_receive_the_data_once_per_worker_per_chunk(chunk: int, shipments: int) -> None:
    CountingData.pickles = 0
    data = CountingData(np.arange(1000.0))
    sets = [{"a": a} for a in range(20)]
    result = run_sweep(
        use_counting_data, sets, data, backend="processes", max_workers=2, chunk=chunk
    )
    assert (result.n_runs, result.n_failed) == (20, 0)
    assert result.best_params == {"a": 19}
    assert CountingData.pickles == shipments


def test_out_streams_one_row_group_per_chunk(
    tmp_path: Path, close: np.ndarray, sma_sets: list[dict[str, Any]], serial_table: pd.DataFrame
) -> None:
    out = tmp_path / "deep" / "sweep.parquet"
    written: list[int] = []
    real_write = sweep_store.ParquetSink.write

    def spy(self: Any, frame: pd.DataFrame) -> None:
        written.append(len(frame))
        real_write(self, frame)

    patch = pytest.MonkeyPatch()
    patch.setattr(sweep_store.ParquetSink, "write", spy)
    try:
        result = run_sweep(
            sma_cross_return, iter(sma_sets), close, backend="serial", out=out, chunk=10
        )
    finally:
        patch.undo()
    assert written == [10, 10, 10, 10, 10, 4]
    meta = pq.ParquetFile(out).metadata
    assert (meta.num_row_groups, meta.num_rows) == (6, 54)
    assert result.path == out
    pd.testing.assert_frame_equal(result.table, serial_table, check_exact=True)


def test_chunks_that_all_failed_are_written_once_the_metrics_are_known(tmp_path: Path) -> None:
    sets = [{"a": a} for a in (-1, -2, -3, 4, -5, 6)]
    out = tmp_path / "sweep.parquet"
    result = run_sweep(fail_when_negative, sets, None, backend="serial", out=out, chunk=2)
    stored = pd.read_parquet(out)
    assert stored["run"].tolist() == [0, 1, 2, 3, 4, 5]
    assert stored["error"].notna().tolist() == [True, True, True, False, True, False]
    assert result.table["run"].tolist()[:2] == [5, 3]
    assert pq.ParquetFile(out).metadata.num_row_groups == 3


def test_a_failure_after_a_clean_first_chunk_is_stored(tmp_path: Path) -> None:
    sets = [{"a": a} for a in (1, 2, 3, -4)]
    out = tmp_path / "sweep.parquet"
    result = run_sweep(fail_when_negative, sets, None, backend="serial", out=out, chunk=2)
    assert result.errors["error"].tolist() == ["ValueError: a=-4 is negative"]
    assert pq.ParquetFile(out).schema_arrow.field("error").type == "string"


def test_progress_bar_reaches_the_total_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    run_sweep(score, [{"a": a, "b": 0} for a in range(6)], None, backend="threads", progress=True)
    captured = capsys.readouterr()
    assert "6/6" in captured.err
    assert captured.out == ""


def test_heatmap_png_draws_the_grid(
    tmp_path: Path, close: np.ndarray, sma_sets: list[dict[str, Any]]
) -> None:
    result = run_sweep(sma_cross_return, sma_sets, close, backend="serial")
    path = result.heatmap_png(tmp_path / "plots" / "heat.png", x="fast", y="slow")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib.image import imread

    height, width = imread(path).shape[:2]
    assert width > height > 200
    with pytest.raises(ValueError, match="x='fats' is not a parameter"):
        result.heatmap_png(tmp_path / "x.png", x="fats", y="slow")
    with pytest.raises(ValueError, match="metric='sharpe' is not a metric"):
        result.heatmap_png(tmp_path / "x.png", x="fast", y="slow", metric="sharpe")


# --- walk-forward -----------------------------------------------------------------------------


def test_walk_forward_picks_the_best_on_train_and_scores_it_on_test() -> None:
    data = np.arange(100.0)
    splits = walk_forward_splits(100, train_bars=40, test_bars=20)
    targets = [{"target": float(t)} for t in range(100)]
    result = walk_forward(closeness_to_window_mean, targets, data, splits, backend="serial")
    table = result.table
    # Train means 19.5, 39.5, 59.5: of the two closest targets the first in input order wins.
    assert table["target"].tolist() == [19.0, 39.0, 59.0]
    assert table["train_total_return"].tolist() == [-0.5, -0.5, -0.5]
    # Test means 49.5, 69.5, 89.5.
    assert table["test_total_return"].tolist() == [-30.5, -30.5, -30.5]
    assert table[["train_start", "test_stop"]].values.tolist() == [[0, 60], [20, 80], [40, 100]]
    assert table["test_error"].isna().all()
    assert [s.n_runs for s in result.sweeps] == [100, 100, 100]


def test_walk_forward_on_threads_equals_serial(tmp_path: Path, close: np.ndarray) -> None:
    sets = grid({"fast": [3, 5, 10], "slow": [20, 40]})
    splits = walk_forward_splits(len(close), train_bars=120, test_bars=60)
    serial = walk_forward(sma_cross_return, sets, close, splits, backend="serial")
    threaded = walk_forward(
        sma_cross_return, sets, close, splits, backend="threads", out_dir=tmp_path
    )
    pd.testing.assert_frame_equal(threaded.table, serial.table, check_exact=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"split_{k}.parquet" for k in range(3)]


# --- contract errors --------------------------------------------------------------------------


def test_contract_errors_name_the_argument_and_value() -> None:
    sets = [{"a": 1, "b": 2}]
    with pytest.raises(ValueError, match="got 'proceses'; did you mean 'processes'"):
        run_sweep(score, sets, None, backend="proceses")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scheduler_address needs backend='dask'"):
        run_sweep(score, sets, None, backend="threads", scheduler_address="tcp://x:8786")
    with pytest.raises(ValueError, match="chunk must be an int >= 1, got 0"):
        run_sweep(score, sets, None, chunk=0)
    with pytest.raises(TypeError, match="objective must be picklable for backend 'processes'"):
        run_sweep(lambda p, d: {"x": 1.0}, sets, None)
    with pytest.raises(ValueError, match="param_sets is empty"):
        run_sweep(score, [], None, backend="serial")
    with pytest.raises(ValueError, match=r"metric 'total_retrun' .*did you mean 'total_return'"):
        run_sweep(score, sets, None, backend="serial", metric="total_retrun")
    with pytest.raises(ValueError, match="'error' is reserved"):
        run_sweep(score, [{"a": 1, "b": 2, "error": 0}], None, backend="serial")


def test_walk_forward_split_slices() -> None:
    split = WalkForwardSplit(0, 0, 10, 10, 15)
    assert (split.train, split.test) == (slice(0, 10), slice(10, 15))


# --- the SMA objective on the fast path -------------------------------------------------------

needs_fast = pytest.mark.skipif(
    importlib.util.find_spec("greekfire.backtest.fast") is None,
    reason="greekfire.backtest.fast (helper F) is not there yet",
)


@needs_fast
def test_sma_objective_reports_the_fast_paths_account_return() -> None:
    from greekfire.backtest import fast

    index = pd.date_range("2020-01-01", periods=300, freq="D", tz="UTC")
    rng = np.random.default_rng(3)
    close = pd.DataFrame(
        100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, size=(300, 3)), axis=0)),
        index=index,
        columns=["AAA", "BBB", "CCC"],
    )
    metrics = sweep.sma_objective({"fast": 5, "slow": 20}, close)
    entries, exits = fast.sma_cross_signals(close, 5, 20)
    direct = fast.run_signals(close, entries, exits)
    per_symbol = direct.equity[["AAA", "BBB", "CCC"]]
    expected = float((per_symbol.iloc[-1] / per_symbol.iloc[0] - 1.0).mean())
    assert math.isclose(metrics["total_return"], expected, rel_tol=0, abs_tol=1e-12)
    assert metrics["n_trades"] == len(direct.trades) > 0
    assert metrics["max_drawdown"] <= 0.0
    with pytest.raises(ValueError, match="sma_objective takes fast, slow"):
        sweep.sma_objective({"fast": 5, "slowest": 20}, close)
