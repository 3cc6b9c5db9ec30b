"""Case (p)'s sweep throughput: backtests per second, serial vs 2 processes vs Dask.

The workload: a grid of SMA crossover parameter sets (``fast`` x ``slow``, 200 by default)
over the closes of case (p)'s synthetic market (:func:`~greekfire.bench.backtest_cases.
make_sma_workload`, fewer symbols), each set one :func:`~greekfire.backtest.sweep.sma_objective`
call (signals, the fast-path backtest of every symbol, total return, Sharpe, drawdown).

:func:`measure_sweep_throughput` runs the same sweep through
:func:`~greekfire.backtest.sweep.run_sweep` on each backend: ``serial`` (this process, no
pool; its numba kernels use every core), ``processes`` (a pool of 2 worker processes) and
``dask`` (a LocalCluster of 2 single-threaded worker processes), each timed end to end: pool or
cluster start, shipping the data, every backtest, shutdown. The whole sweep is repeated and
the median kept. A small sweep of one set per worker (the probe, run once before the repeats)
separates start-up from the steady rate by a straight line through both timings,
``t(n) = start-up + n / rate``.
Every backend's ranked table is compared with the serial one (``assert_frame_equal``, exact:
the same code on the same data gives the same bits on any backend).
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "BACKENDS",
    "FULL_SWEEP",
    "QUICK_SWEEP",
    "SweepSizes",
    "SweepWorkload",
    "fit_startup",
    "make_sweep_workload",
    "measure_sweep_throughput",
    "sma_grid",
]

BACKENDS: tuple[tuple[str, int], ...] = (("serial", 1), ("processes", 2), ("dask", 2))
"""(backend, workers) pairs timed by :func:`measure_sweep_throughput`, serial first."""

_FAST_STEP = 5
_FAST_VALUES = 10
_SLOW_FIRST = 60
_SLOW_STEP = 10

Clock = Callable[[], float]
SweepFn = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class SweepSizes:
    """Size of the sweep measurement.

    Attributes
    ----------
    symbols, bars : int
        The price block each backtest runs on.
    sets : int
        Parameter sets in the sweep (backtests per run).
    repeats : int
        Runs of the whole sweep per backend (the median is reported).
    """

    symbols: int
    bars: int
    sets: int
    repeats: int


FULL_SWEEP = SweepSizes(symbols=200, bars=2_520, sets=200, repeats=2)
"""``greekfire bench``: 200 SMA sets on 200 symbols x 2,520 bars, median of 2.

Serial takes 2-3 s on an idle 2-core machine (more when it is shared); the three backends
with their probes take about 30 s idle, 60 s under load."""
QUICK_SWEEP = SweepSizes(symbols=5, bars=252, sets=8, repeats=1)
"""``greekfire bench --quick``: a smoke test of every backend, numbers not worth quoting."""


@dataclass(frozen=True, eq=False)
class SweepWorkload:
    """Close prices (bars x symbols, UTC index) and the parameter sets to sweep."""

    close: pd.DataFrame
    param_sets: tuple[dict[str, int], ...]

    @property
    def symbols(self) -> int:
        """Symbols per backtest."""
        return int(self.close.shape[1])

    @property
    def bars(self) -> int:
        """Bars per symbol."""
        return int(self.close.shape[0])


def sma_grid(sets: int) -> tuple[dict[str, int], ...]:
    """``sets`` points of the grid fast 5, 10, ..., 50 x slow 60, 70, ..., row-major.

    The grid has as many slow values as ``sets`` needs (``ceil(sets / 10)``), so a small
    grid still spans every fast value.

    Parameters
    ----------
    sets : int
        Number of parameter sets (>= 1); 200 gives the full 10 x 20 grid (slow up to 250).

    Returns
    -------
    tuple of dict
        ``{"fast": int, "slow": int}`` with ``fast < slow`` in every set.
    """
    if isinstance(sets, bool) or not isinstance(sets, int) or sets < 1:
        raise ValueError(f"sets: expected an int >= 1, got {sets!r}")
    n_slow = -(-sets // _FAST_VALUES)
    fasts = [_FAST_STEP * (i + 1) for i in range(_FAST_VALUES)]
    slows = [_SLOW_FIRST + _SLOW_STEP * j for j in range(n_slow)]
    grid = [{"fast": f, "slow": s} for f in fasts for s in slows]
    return tuple(grid[:sets])


def make_sweep_workload(sizes: SweepSizes = FULL_SWEEP, seed: int = 42) -> SweepWorkload:
    """Case (p)'s synthetic closes (``sizes.symbols`` x ``sizes.bars``) and the SMA grid.

    Parameters
    ----------
    sizes : SweepSizes
        Block and grid size.
    seed : int
        Seed of the synthetic market.
    """
    from greekfire.bench.backtest_cases import make_sma_workload

    close = make_sma_workload(sizes.symbols, sizes.bars, seed).close
    return SweepWorkload(close, sma_grid(sizes.sets))


def fit_startup(n_full: int, t_full_s: float, n_probe: int, t_probe_s: float) -> dict[str, Any]:
    """Start-up and steady rate from two sweep timings, ``t(n) = startup_s + n / rate``.

    Parameters
    ----------
    n_full, t_full_s : int, float
        Sets and wall time of the full sweep.
    n_probe, t_probe_s : int, float
        Sets and wall time of the probe (a smaller sweep on the same backend).

    Returns
    -------
    dict
        ``startup_s`` (clamped at 0) and ``steady_backtests_per_s``; both None when the
        timings do not fit a line (the probe not smaller, or not faster, than the full sweep).
    """
    extra_s = t_full_s - t_probe_s
    if n_full <= n_probe or extra_s <= 0.0:
        return {"startup_s": None, "steady_backtests_per_s": None}
    rate = (n_full - n_probe) / extra_s
    return {"startup_s": max(0.0, t_probe_s - n_probe / rate), "steady_backtests_per_s": rate}


def _default_sweep() -> SweepFn:
    from greekfire.backtest.sweep import run_sweep

    return run_sweep


def _objective() -> Callable[..., Any]:
    from greekfire.backtest.sweep import sma_objective

    return sma_objective


def _table_difference(reference: pd.DataFrame, other: pd.DataFrame) -> str | None:
    try:
        pd.testing.assert_frame_equal(reference, other, check_exact=True)
    except AssertionError as exc:
        return " ".join(str(exc).split())[:300]
    return None


def _timed(clock: Clock, fn: Callable[[], Any]) -> tuple[float, Any]:
    start = clock()
    out = fn()
    return clock() - start, out


def _run_backend(
    sweep: SweepFn,
    w: SweepWorkload,
    backend: str,
    workers: int,
    repeats: int,
    clock: Clock,
) -> tuple[dict[str, Any], pd.DataFrame]:
    objective = _objective()
    n_probe = min(workers, len(w.param_sets))
    probe_sets = list(w.param_sets[:n_probe])
    full_sets = list(w.param_sets)

    def run(sets: list[dict[str, int]]) -> Any:
        return sweep(objective, sets, w.close, backend=backend, max_workers=workers)

    # The probe runs once, first: it also pays for what only the first pool of a process
    # starts (multiprocessing's forkserver), which the repeated full sweeps then share.
    probe_s, _probe = _timed(clock, lambda: run(probe_sets))
    samples: list[float] = []
    table: pd.DataFrame | None = None
    failed = 0
    for _ in range(repeats):
        full_s, result = _timed(clock, lambda: run(full_sets))
        samples.append(full_s)
        failed = max(failed, int(result.n_failed))
        if table is None:
            table = result.table
    assert table is not None
    median_s = statistics.median(samples)
    row: dict[str, Any] = {
        "backend": backend,
        "workers": workers,
        "status": "ok",
        "sets": len(full_sets),
        "repeats": repeats,
        "samples_s": samples,
        "probe_sets": n_probe,
        "probe_s": probe_s,
        "end_to_end_s": median_s,
        "backtests_per_s": len(full_sets) / median_s if median_s > 0 else None,
        "failed_sets": failed,
        **fit_startup(len(full_sets), median_s, n_probe, probe_s),
    }
    return row, table


def measure_sweep_throughput(
    workload: SweepWorkload | None = None,
    *,
    repeats: int = FULL_SWEEP.repeats,
    backends: Sequence[tuple[str, int]] = BACKENDS,
    progress: Callable[[str], None] | None = None,
    sweep: SweepFn | None = None,
    clock: Clock = time.perf_counter,
) -> dict[str, Any]:
    """Time the same SMA sweep on each backend: backtests per second, start-up, identical tables.

    Parameters
    ----------
    workload : SweepWorkload, optional
        Default: :func:`make_sweep_workload` (``FULL_SWEEP``).
    repeats : int, default 2
        Runs of the whole sweep per backend; the median wall time is reported.
    backends : sequence of (str, int)
        ``(backend, workers)`` pairs, the first one the reference (its table is what the
        others must equal; ratios are to its rate). Default :data:`BACKENDS`.
    progress : callable, optional
        Called with a short message before each backend.
    sweep : callable, optional
        Stand-in for :func:`~greekfire.backtest.sweep.run_sweep` (tests).
    clock : callable, default time.perf_counter
        Seconds; injectable for tests.

    Returns
    -------
    dict
        ``symbols``, ``bars``, ``sets``, ``repeats``, ``reference`` (the first backend),
        ``identical`` (every ok backend's table equals the reference's), ``duration_s`` (the
        whole measurement) and ``rows``: per backend ``backend``, ``workers``, ``status``
        (``"ok"``, ``"unavailable"`` or ``"error"`` with a ``note``) and, when ok,
        ``end_to_end_s`` (median), ``samples_s``, ``backtests_per_s``, ``ratio_to_serial``,
        ``startup_s`` and ``steady_backtests_per_s`` (see :func:`fit_startup`), ``probe_sets``
        and ``probe_s`` (the probe, run once before the repeats), ``failed_sets``,
        ``identical_to_serial`` and, when not, ``difference``.

    Raises
    ------
    ValueError
        ``repeats`` < 1 or no backend.
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats: expected an int >= 1, got {repeats!r}")
    if not backends:
        raise ValueError("backends: expected at least one (backend, workers) pair, got none")
    started_s = clock()
    w = workload if workload is not None else make_sweep_workload()
    run_sweep = sweep if sweep is not None else _default_sweep()
    # The reference's first call loads (or compiles) the numba kernels here: not its cost.
    _objective()(dict(w.param_sets[0]), w.close)
    rows: list[dict[str, Any]] = []
    reference: pd.DataFrame | None = None
    reference_rate: float | None = None
    for backend, workers in backends:
        if progress is not None:
            progress(f"sweep throughput: {backend} ({workers} worker(s), {len(w.param_sets)} sets)")
        try:
            with _environ_kept():
                row, table = _run_backend(run_sweep, w, backend, workers, repeats, clock)
        except ImportError as exc:
            rows.append(_failed_row(backend, workers, "unavailable", exc))
            continue
        except Exception as exc:  # one backend that breaks must not sink the other rows
            rows.append(_failed_row(backend, workers, "error", exc))
            continue
        if reference is None:
            reference, reference_rate = table, row["backtests_per_s"]
        difference = _table_difference(reference, table)
        row["identical_to_serial"] = difference is None
        if difference is not None:
            row["difference"] = difference
        rate = row["backtests_per_s"]
        row["ratio_to_serial"] = (
            rate / reference_rate if rate is not None and reference_rate else None
        )
        rows.append(_finite(row))
    ok = [r for r in rows if r["status"] == "ok"]
    return {
        "symbols": w.symbols,
        "bars": w.bars,
        "sets": len(w.param_sets),
        "repeats": repeats,
        "reference": backends[0][0],
        "identical": bool(ok) and all(r["identical_to_serial"] for r in ok),
        "rows": rows,
        "duration_s": clock() - started_s,
    }


@contextmanager
def _environ_kept() -> Iterator[None]:
    # A LocalCluster's nannies run in this process and write dask's pre-spawn environment
    # (MALLOC_TRIM_THRESHOLD_, OMP_NUM_THREADS, ...) into os.environ: undo it, so that no
    # backend changes the processes started after it (the next pool, the next case).
    saved = dict(os.environ)
    try:
        yield
    finally:
        for key in set(os.environ) - set(saved):
            del os.environ[key]
        for key, value in saved.items():
            if os.environ.get(key) != value:
                os.environ[key] = value


def _failed_row(backend: str, workers: int, status: str, exc: BaseException) -> dict[str, Any]:
    return {
        "backend": backend,
        "workers": workers,
        "status": status,
        "note": f"{type(exc).__name__}: {exc}"[:300],
    }


def _finite(row: Mapping[str, Any]) -> dict[str, Any]:
    # bench.json is written with allow_nan=False.
    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, np.generic):
            return clean(value.item())
        return value

    return {key: clean(value) for key, value in row.items()}
