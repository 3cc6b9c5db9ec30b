"""Sweeps on a real Dask LocalCluster of two worker processes (issue 7, acceptance 4): 200
parameter sets give exactly the serial table, in memory and streamed to Parquet in chunks
through an existing scheduler; walk-forward on Dask equals serial.

Every cluster is closed by the test that starts it (an idle cluster left running logs
heartbeat warnings once the machine is busy).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from greekfire.backtest.sweep import (
    random_params,
    run_sweep,
    sma_objective,
    walk_forward,
    walk_forward_splits,
)
from greekfire.perf.parallel import ParallelProcessor

pytestmark = pytest.mark.integration


def ema_cross_return(params: dict[str, Any], close: np.ndarray) -> dict[str, float]:
    """Long-only crossover of two exponential averages, in the market the bar after fast > slow."""
    fast_alpha = 2.0 / (int(params["fast"]) + 1.0)
    slow_alpha = 2.0 / (int(params["slow"]) + 1.0)
    fast = np.empty_like(close)
    slow = np.empty_like(close)
    fast[0] = slow[0] = close[0]
    for row in range(1, close.shape[0]):
        fast[row] = fast[row - 1] + fast_alpha * (close[row] - fast[row - 1])
        slow[row] = slow[row - 1] + slow_alpha * (close[row] - slow[row - 1])
    held = np.zeros(close.shape)
    held[1:] = fast[:-1] > slow[:-1]
    returns = np.zeros(close.shape)
    returns[1:] = close[1:] / close[:-1] - 1.0
    equity = np.cumprod(1.0 + returns * held, axis=0)
    drawdown = float(np.min(equity / np.maximum.accumulate(equity, axis=0) - 1.0))
    entries = float(np.sum(np.diff(held, axis=0) > 0))
    return {
        "total_return": float(equity[-1].mean() - 1.0),
        "max_drawdown": drawdown,
        "n_trades": entries,
    }


@pytest.fixture(scope="module")
def close() -> np.ndarray:
    rng = np.random.default_rng(2024)
    steps = rng.normal(0.0002, 0.015, size=(504, 10))
    return np.asarray(100.0 * np.exp(np.cumsum(steps, axis=0)))


@pytest.fixture(scope="module")
def param_sets() -> list[dict[str, Any]]:
    space = {"fast": (2, 60), "slow": (10, 250)}
    return random_params(space, 200, seed=4, constraints="fast < slow")


@pytest.fixture(scope="module")
def serial_table(close: np.ndarray, param_sets: list[dict[str, Any]]) -> pd.DataFrame:
    return run_sweep(ema_cross_return, param_sets, close, backend="serial").table


@pytest.fixture(scope="module")
def scheduler_address() -> Iterator[str]:
    with ParallelProcessor("dask", max_workers=2) as processor:
        client: Any = processor.dask_client()
        client.wait_for_workers(2, timeout=60)
        yield str(client.scheduler.address)


def test_200_sets_on_a_two_worker_local_cluster_equal_the_serial_table(
    close: np.ndarray, param_sets: list[dict[str, Any]], serial_table: pd.DataFrame
) -> None:
    result = run_sweep(ema_cross_return, param_sets, close, backend="dask", max_workers=2)
    assert (result.n_runs, result.n_failed) == (200, 0)
    pd.testing.assert_frame_equal(result.table, serial_table, check_exact=True)
    assert result.table["total_return"].nunique() > 150


def test_a_sweep_streamed_through_an_existing_scheduler_equals_serial(
    scheduler_address: str,
    tmp_path: Path,
    close: np.ndarray,
    param_sets: list[dict[str, Any]],
    serial_table: pd.DataFrame,
) -> None:
    out = tmp_path / "sweep.parquet"
    result = run_sweep(
        ema_cross_return,
        iter(param_sets),
        close,
        backend="dask",
        scheduler_address=scheduler_address,
        out=out,
        chunk=64,
    )
    assert pq.ParquetFile(out).metadata.num_row_groups == 4
    pd.testing.assert_frame_equal(result.table, serial_table, check_exact=True)

    splits = walk_forward_splits(len(close), train_bars=252, test_bars=126)
    sets = param_sets[:40]
    on_dask = walk_forward(
        ema_cross_return, sets, close, splits, backend="dask", scheduler_address=scheduler_address
    )
    serial = walk_forward(ema_cross_return, sets, close, splits, backend="serial")
    pd.testing.assert_frame_equal(on_dask.table, serial.table, check_exact=True)
    assert on_dask.table["test_start"].tolist() == [252, 378]


@pytest.mark.skipif(
    importlib.util.find_spec("greekfire.backtest.fast") is None,
    reason="greekfire.backtest.fast (helper F) is not there yet",
)
def test_200_sma_backtests_on_the_fast_path_on_dask_equal_serial(
    scheduler_address: str, close: np.ndarray, param_sets: list[dict[str, Any]]
) -> None:
    index = pd.date_range("2022-01-03", periods=len(close), freq="B", tz="UTC")
    frame = pd.DataFrame(close[:, :5], index=index, columns=[f"S{k}" for k in range(5)])
    sets = [{**params, "fees_frac": 0.001} for params in param_sets]
    serial = run_sweep(sma_objective, sets, frame, backend="serial")
    on_dask = run_sweep(
        sma_objective, sets, frame, backend="dask", scheduler_address=scheduler_address
    )
    assert (on_dask.n_runs, on_dask.n_failed) == (200, 0)
    pd.testing.assert_frame_equal(on_dask.table, serial.table, check_exact=True)
    assert on_dask.table["n_trades"].sum() > 0
