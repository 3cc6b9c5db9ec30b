"""Parameter sweeps: grid, random and walk-forward searches over any picklable objective.

This module runs sweeps (:func:`run_sweep`, :func:`walk_forward`), holds their outcome
(:class:`SweepResult`, :class:`WalkForwardResult`) and the SMA crossover objective
(:func:`sma_objective`). The parameter sets and walk-forward splits are made in
:mod:`greekfire.backtest.params`, the results table is written and read by
:mod:`greekfire.backtest.sweep_store`; both modules' public names are re-exported here.

An objective is a module-level function ``objective(params, data) -> {metric: number}``: one
backtest of one parameter set (``params``, a dict) on the data (close prices, a frame of bars,
anything picklable). :func:`run_sweep` calls it for every parameter set through the performance
toolkit's :class:`~greekfire.perf.parallel.ParallelProcessor` and returns a
:class:`SweepResult` ranked by one metric::

    sets = grid({"fast": range(5, 50, 5), "slow": range(20, 200, 10)}, constraints=["fast < slow"])
    result = run_sweep(sma_objective, sets, close, backend="processes", out=Path("sweep.parquet"))
    result.best_params                  # {"fast": 10, "slow": 50}
    result.heatmap_png(Path("sweep.png"), x="fast", y="slow")

Design
------
- Parameter sets are read ``chunk`` at a time (any iterable, a generator included). Each chunk
  is one ``ParallelProcessor.map`` with ``shared=data``: the data travels to every worker once
  per chunk (processes: through the pool initializer; Dask: one broadcast scatter), never with
  each task. With the default chunk of 10,000 sets most sweeps ship the data once.
- With ``out`` each chunk's rows are appended to a Parquet file as one row group as soon as
  the chunk is done: the sweep holds one chunk of results, whatever its size. Without ``out``
  the rows stay in memory.
- Every row carries ``run`` (the parameter set's input position), the parameters, the metrics
  (float64) and ``error`` (``"Type: message"`` of what the objective raised, else null). A
  failing set never stops the sweep. ``SweepResult.table`` ranks rows by the metric (best
  first, NaN and failures last, ties in input order), so the same sweep gives the same table
  on every backend.
- On the parallel backends numba kernels run on one thread per call (the parallelism is
  across parameter sets; kernels that each used every core would oversubscribe them).
- ``backend="serial"`` runs in this process without any pool (the reference and the fastest
  choice for a handful of sets); ``"threads"``, ``"processes"`` and ``"dask"`` (a local
  cluster, or ``scheduler_address="tcp://host:8786"``) are ParallelProcessor's backends.
"""

from __future__ import annotations

import difflib
import importlib
import itertools
import math
import numbers
import pickle
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from greekfire.backtest.params import (
    Constraint,
    FloatRange,
    IntRange,
    WalkForwardSplit,
    check_param_name,
    grid,
    iter_grid,
    parse_constraint,
    python_value,
    random_params,
    slice_bars,
    walk_forward_splits,
)
from greekfire.backtest.sweep_store import (
    ERROR_COLUMN,
    RESERVED_COLUMNS,
    RUN_COLUMN,
    Columns,
    Outcome,
    ParquetSink,
    chunk_frame,
    rank_rows,
    read_rows,
)
from greekfire.perf.parallel import ItemError, ParallelProcessor

__all__ = [
    "DEFAULT_CHUNK",
    "ERROR_COLUMN",
    "RUN_COLUMN",
    "WARMUP_PARAM",
    "Constraint",
    "FloatRange",
    "IntRange",
    "SweepResult",
    "WalkForwardResult",
    "WalkForwardSplit",
    "grid",
    "iter_grid",
    "parse_constraint",
    "random_params",
    "run_sweep",
    "slice_bars",
    "sma_objective",
    "walk_forward",
    "walk_forward_splits",
]

Objective = Callable[[dict[str, Any], Any], Mapping[str, Any]]
SweepBackend = Literal["processes", "threads", "dask", "serial"]

DEFAULT_CHUNK = 10_000
_BACKENDS = ("processes", "threads", "dask", "serial")


# --- evaluation -------------------------------------------------------------------------------


def _one_kernel_thread() -> None:
    # numba kernels would each use every core; a parallel sweep already does, per parameter
    # set. numba is only touched once the objective has loaded it (the setting is per thread).
    numba = sys.modules.get("numba")
    if numba is not None and numba.get_num_threads() != 1:
        numba.set_num_threads(1)


@dataclass(frozen=True, slots=True)
class _Evaluate:
    # The task each worker runs: the objective plus a check of what it returned.
    objective: Objective
    one_kernel_thread: bool = False

    def __call__(self, params: dict[str, Any], data: Any) -> dict[str, float]:
        if self.one_kernel_thread:
            _one_kernel_thread()
        metrics = self.objective(dict(params), data)
        if self.one_kernel_thread:
            _one_kernel_thread()
        if not isinstance(metrics, Mapping):
            kind = type(metrics).__name__
            raise TypeError(f"the objective must return a dict of metrics, got {kind}")
        checked: dict[str, float] = {}
        for name, value in metrics.items():
            if not isinstance(name, str) or name in RESERVED_COLUMNS:
                raise ValueError(f"metric name {name!r} is not a str or is reserved")
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"metric {name!r} must be a real number, got {value!r:.80}")
            checked[name] = float(value)
        return checked


def _run_serial(
    task: _Evaluate,
    batch: list[dict[str, Any]],
    data: Any,
    advance: Callable[[], None] | None = None,
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for params in batch:
        try:
            outcomes.append((task(params, data), None))
        except Exception as exc:
            outcomes.append((None, str(ItemError.from_exception(exc))))
        if advance is not None:
            advance()
    return outcomes


def _run_with_bar(task: _Evaluate, batch: list[dict[str, Any]], data: Any) -> list[Outcome]:
    # The serial backend's progress bar, like ParallelProcessor's (rich, on stderr).
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True)) as bar:
        bar_task = bar.add_task("serial", total=len(batch))
        return _run_serial(task, batch, data, lambda: bar.advance(bar_task, 1))


def _run_batch(
    processor: ParallelProcessor | None,
    task: _Evaluate,
    batch: list[dict[str, Any]],
    data: Any,
    progress: bool,
) -> list[Outcome]:
    if processor is None:
        return _run_with_bar(task, batch, data) if progress else _run_serial(task, batch, data)
    result = processor.map(task, batch, shared=data, progress=progress)
    return [(item.value, None if item.error is None else str(item.error)) for item in result]


def _check_objective(objective: object, backend: str) -> None:
    if not callable(objective):
        raise TypeError(f"objective must be callable, got {type(objective).__name__}")
    # Dask pickles with cloudpickle (lambdas travel by value); a process pool does not.
    if backend == "processes":
        try:
            pickle.dumps(objective)
        except Exception as exc:
            name = getattr(objective, "__qualname__", repr(objective))
            raise TypeError(
                f"objective must be picklable for backend {backend!r} (a module-level "
                f"function, not a lambda or a local function), got {name}: {exc}"
            ) from exc


@contextmanager
def _processor(
    backend: str, scheduler_address: str | None, max_workers: int | None
) -> Iterator[ParallelProcessor | None]:
    if backend not in _BACKENDS:
        close = difflib.get_close_matches(str(backend), _BACKENDS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"backend must be one of {', '.join(_BACKENDS)}, got {backend!r}{hint}")
    if scheduler_address is not None and backend != "dask":
        raise ValueError(f"scheduler_address needs backend='dask', got backend={backend!r}")
    if backend == "serial":
        yield None
        return
    with ParallelProcessor(
        backend, max_workers=max_workers, scheduler_address=scheduler_address
    ) as processor:
        yield processor


@dataclass(frozen=True, slots=True)
class _SweepOptions:
    metric: str
    ascending: bool
    chunk: int
    progress: bool


def _sweep(
    processor: ParallelProcessor | None,
    objective: Objective,
    param_sets: Iterable[Mapping[str, Any]],
    data: Any,
    out: Path | None,
    options: _SweepOptions,
) -> SweepResult:
    task = _Evaluate(objective, one_kernel_thread=processor is not None)
    columns = Columns()
    sink = None if out is None else ParquetSink(out, columns)
    frames: list[pd.DataFrame] = []
    started = time.perf_counter()
    iterator = iter(param_sets)
    n_runs = n_failed = 0
    try:
        while batch := [dict(p) for p in itertools.islice(iterator, options.chunk)]:
            for params in batch:
                for name in params:
                    check_param_name(name, "parameter set")
            outcomes = _run_batch(processor, task, batch, data, options.progress)
            columns.add(batch, outcomes)
            frame = chunk_frame(n_runs, batch, outcomes, columns)
            n_runs += len(batch)
            n_failed += sum(error is not None for _, error in outcomes)
            if sink is None:
                frames.append(frame)
            else:
                sink.write(frame)
    finally:
        if sink is not None:
            sink.close()
    elapsed_s = time.perf_counter() - started
    if n_runs == 0:
        raise ValueError("param_sets is empty: nothing to sweep")
    memory = None if sink is not None else pd.concat(frames, ignore_index=True)
    if memory is not None:
        memory = memory.reindex(columns=columns.names)
    return SweepResult(
        metric=options.metric,
        ascending=options.ascending,
        param_names=tuple(columns.params),
        metric_names=tuple(columns.metrics),
        n_runs=n_runs,
        n_failed=n_failed,
        elapsed_s=elapsed_s,
        frame=memory,
        path=out,
    )


def run_sweep(
    objective: Objective,
    param_sets: Iterable[Mapping[str, Any]],
    data: Any,
    *,
    backend: SweepBackend = "processes",
    scheduler_address: str | None = None,
    max_workers: int | None = None,
    out: Path | None = None,
    chunk: int = DEFAULT_CHUNK,
    metric: str = "total_return",
    ascending: bool = False,
    progress: bool = False,
) -> SweepResult:
    """Evaluate ``objective(params, data)`` for every parameter set, in parallel.

    Parameters
    ----------
    objective : callable
        ``objective(params: dict, data) -> {metric: real number}``; module-level (picklable)
        for processes; for a remote Dask cluster its module must be importable there. What
        it raises is recorded in the row's ``error`` column.
    param_sets : iterable of dict
        From :func:`grid`, :func:`random_params` or any generator; read ``chunk`` at a time.
    data : object
        Passed to every call; shipped to each worker once per chunk, not per task.
    backend : {"processes", "threads", "dask", "serial"}, default "processes"
        ``"dask"`` starts a LocalCluster of ``max_workers`` (default: cores) workers, or uses
        the cluster at ``scheduler_address``; the sweep closes what it started.
    scheduler_address : str, optional
        ``"tcp://host:8786"`` (Dask only); its workers must import greekfire and the
        objective's module.
    max_workers : int, optional
        Threads, processes or local Dask workers (default: cores).
    out : Path, optional
        Stream the rows to this Parquet file (one row group per chunk) instead of keeping them.
    chunk : int, default 10,000
        Parameter sets per round: bounds the rows in memory at once.
    metric : str, default "total_return"
        The metric that ranks the table; must be one the objective returns.
    ascending : bool, default False
        Rank the lowest value first (for a loss or a drawdown length).
    progress : bool, default False
        A rich progress bar (on stderr) per chunk, on every backend.

    Returns
    -------
    SweepResult
        The ranked table (in memory, or read from ``out``), the best row, a heatmap.

    Raises
    ------
    ValueError
        Unknown backend, bad chunk, empty ``param_sets``, a reserved or clashing name, or a
        ``metric`` the objective never returned (every set failed: the first error is named).
    TypeError
        The objective is not callable, or not picklable for processes.
    """
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be an int >= 1, got {chunk!r}")
    _check_objective(objective, backend)
    options = _SweepOptions(metric, ascending, chunk, progress)
    with _processor(backend, scheduler_address, max_workers) as processor:
        result = _sweep(processor, objective, param_sets, data, out, options)
    result.check_metric()
    return result


# --- results ----------------------------------------------------------------------------------


class SweepResult:
    """The outcome of a sweep: one row per parameter set, ranked by ``metric``.

    Attributes
    ----------
    metric : str
        The ranking metric.
    ascending : bool
        Whether lower is better.
    param_names, metric_names : tuple of str
        The table's parameter and metric columns, in order of first appearance.
    n_runs, n_failed : int
        Parameter sets evaluated, and how many raised.
    elapsed_s : float
        Wall time of the sweep (workers' start included).
    path : Path or None
        The Parquet file the rows were streamed to, if any.
    """

    def __init__(
        self,
        *,
        metric: str,
        ascending: bool,
        param_names: tuple[str, ...],
        metric_names: tuple[str, ...],
        n_runs: int,
        n_failed: int,
        elapsed_s: float,
        frame: pd.DataFrame | None,
        path: Path | None,
    ) -> None:
        self.metric = metric
        self.ascending = ascending
        self.param_names = param_names
        self.metric_names = metric_names
        self.n_runs = n_runs
        self.n_failed = n_failed
        self.elapsed_s = elapsed_s
        self.path = path
        self._frame = frame
        self._ranked: pd.DataFrame | None = None

    def __repr__(self) -> str:
        return (
            f"SweepResult(metric={self.metric!r}, n_runs={self.n_runs}, "
            f"n_failed={self.n_failed}, elapsed_s={self.elapsed_s:.3f})"
        )

    @property
    def throughput(self) -> float:
        """Parameter sets (backtests) per second of wall time."""
        return self.n_runs / self.elapsed_s if self.elapsed_s > 0 else math.inf

    def check_metric(self) -> None:
        """Raise ValueError unless ``metric`` is one of the objective's metrics."""
        if self.metric in self.metric_names:
            return
        if not self.metric_names:
            first = self.errors[ERROR_COLUMN].iloc[0]
            raise ValueError(f"all {self.n_runs} parameter sets failed; the first: {first}")
        close = difflib.get_close_matches(self.metric, self.metric_names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"metric {self.metric!r} is not among the objective's metrics "
            f"{list(self.metric_names)}{hint}"
        )

    def _raw(self) -> pd.DataFrame:
        if self._frame is not None:
            return self._frame
        assert self.path is not None
        return read_rows(self.path)

    @property
    def table(self) -> pd.DataFrame:
        """Every row (``run``, parameters, metrics, ``error``), best ``metric`` first."""
        if self._ranked is None:
            self.check_metric()
            self._ranked = rank_rows(self._raw(), self.metric, self.ascending)
        return self._ranked.copy()

    @property
    def errors(self) -> pd.DataFrame:
        """The rows whose objective raised, in input order."""
        raw = self._raw()
        return raw[raw[ERROR_COLUMN].notna()].reset_index(drop=True)

    @property
    def best(self) -> pd.Series:
        """The top row of :attr:`table`.

        Raises
        ------
        ValueError
            No parameter set produced the metric.
        """
        top = self.table.iloc[0]
        if pd.isna(top[self.metric]):
            raise ValueError(
                f"no parameter set produced metric {self.metric!r} ({self.n_failed} of "
                f"{self.n_runs} failed)"
            )
        return top

    @property
    def best_params(self) -> dict[str, Any]:
        """The parameters of :attr:`best`, as Python values ready for the objective."""
        top = self.best
        return {name: python_value(top[name]) for name in self.param_names}

    def heatmap_png(self, path: Path, x: str, y: str, metric: str | None = None) -> Path:
        """Draw ``metric`` over a 2-parameter grid as a PNG heatmap.

        Parameters
        ----------
        path : Path
            Where to write the PNG (parents are created).
        x, y : str
            Parameter names for the horizontal and vertical axes.
        metric : str, optional
            Default: the ranking metric. When other parameters vary too, each cell shows the
            best value over them.

        Returns
        -------
        Path
            ``path``.
        """
        metric = self.metric if metric is None else metric
        for role, name in (("x", x), ("y", y)):
            if name not in self.param_names:
                raise ValueError(f"{role}={name!r} is not a parameter: {list(self.param_names)}")
        if metric not in self.metric_names:
            raise ValueError(f"metric={metric!r} is not a metric: {list(self.metric_names)}")
        if x == y:
            raise ValueError(f"x and y must be different parameters, got {x!r} twice")
        cells = self._raw().pivot_table(
            index=y, columns=x, values=metric, aggfunc="min" if self.ascending else "max"
        )
        _draw_heatmap(cells, path, x, y, metric, len(self.param_names) > 2)
        return path


def _draw_heatmap(
    cells: pd.DataFrame, path: Path, x: str, y: str, metric: str, aggregated: bool
) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    values = cells.to_numpy(dtype=np.float64)
    figure = Figure(
        figsize=(max(4.0, 0.5 * values.shape[1] + 2), max(3.0, 0.4 * values.shape[0] + 1.5))
    )
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(np.ma.masked_invalid(values), origin="lower", aspect="auto", cmap="viridis")
    axes.set_xticks(range(values.shape[1]), [str(v) for v in cells.columns], rotation=90)
    axes.set_yticks(range(values.shape[0]), [str(v) for v in cells.index])
    axes.set_xlabel(x)
    axes.set_ylabel(y)
    axes.set_title(f"{'best ' if aggregated else ''}{metric}")
    if values.size <= 400:
        for (row, col), value in np.ndenumerate(values):
            if math.isfinite(value):
                axes.text(col, row, f"{value:.3g}", ha="center", va="center", fontsize=6)
    figure.colorbar(image, ax=axes, label=metric)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=100)


# --- walk-forward -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WalkForwardResult:
    """A walk-forward optimisation: per split, the best training parameters and their test
    metrics.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per split: ``split``, the bar bounds, the chosen parameters, ``train_<m>``
        (the best training row's metrics), ``test_<m>`` (those parameters on the test bars)
        and ``test_error``.
    sweeps : tuple of SweepResult
        The training sweep of each split.
    """

    table: pd.DataFrame
    sweeps: tuple[SweepResult, ...]


def _test_row(
    split: WalkForwardSplit,
    sweep: SweepResult,
    objective: Objective,
    data: Any,
    warmup_bars: int = 0,
) -> dict[str, Any]:
    best = sweep.best
    params = sweep.best_params
    row: dict[str, Any] = {
        "split": split.index,
        "train_start": split.train_start,
        "train_stop": split.train_stop,
        "test_start": split.test_start,
        "test_stop": split.test_stop,
        **params,
    }
    row.update({f"train_{name}": float(best[name]) for name in sweep.metric_names})
    test = split.test
    lead = min(warmup_bars, test.start or 0)  # bars before the window, for the warm-up
    run_params = {**params, WARMUP_PARAM: lead} if warmup_bars else params
    window = slice_bars(data, slice((test.start or 0) - lead, test.stop))
    [(metrics, error)] = _run_serial(_Evaluate(objective), [run_params], window)
    row["test_warmup_bars"] = lead
    row.update({f"test_{name}": value for name, value in (metrics or {}).items()})
    row["test_error"] = error
    return row


def walk_forward(
    objective: Objective,
    param_sets: Iterable[Mapping[str, Any]],
    data: Any,
    splits: Sequence[WalkForwardSplit],
    *,
    backend: SweepBackend = "processes",
    scheduler_address: str | None = None,
    max_workers: int | None = None,
    out_dir: Path | None = None,
    chunk: int = DEFAULT_CHUNK,
    metric: str = "total_return",
    ascending: bool = False,
    progress: bool = False,
    warmup_bars: int = 0,
) -> WalkForwardResult:
    """Optimise on each split's training bars, then evaluate the best set on its test bars.

    The arguments are those of :func:`run_sweep`, plus ``splits`` (from
    :func:`walk_forward_splits`; the data is cut with :func:`slice_bars`) and ``out_dir``
    (each split's training rows streamed to ``split_<k>.parquet`` there). One pool or
    cluster serves every split; the test runs happen in this process, one per split.

    ``warmup_bars`` > 0 gives each test run up to that many bars before its window (the
    training window's tail, never the test window's future) so that indicators are warm
    when the window opens; the objective is told how many in the parameter ``warmup_bars``
    (:data:`WARMUP_PARAM`) and must neither trade nor score them (:func:`sma_objective`
    does this). With 0 (the default) the test window stands alone and the parameter is not
    passed.

    Returns
    -------
    WalkForwardResult
        The per-split table and the training sweeps.
    """
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be an int >= 1, got {chunk!r}")
    if not splits:
        raise ValueError("splits is empty: make them with walk_forward_splits")
    if isinstance(warmup_bars, bool) or not isinstance(warmup_bars, int) or warmup_bars < 0:
        raise ValueError(f"warmup_bars must be an int >= 0, got {warmup_bars!r}")
    _check_objective(objective, backend)
    sets = [dict(params) for params in param_sets]
    options = _SweepOptions(metric, ascending, chunk, progress)
    sweeps: list[SweepResult] = []
    rows: list[dict[str, Any]] = []
    with _processor(backend, scheduler_address, max_workers) as processor:
        for split in splits:
            out = None if out_dir is None else out_dir / f"split_{split.index}.parquet"
            train = slice_bars(data, split.train)
            sweep = _sweep(processor, objective, sets, train, out, options)
            sweep.check_metric()
            sweeps.append(sweep)
            rows.append(_test_row(split, sweep, objective, data, warmup_bars))
    return WalkForwardResult(pd.DataFrame.from_records(rows), tuple(sweeps))


# --- the SMA crossover objective --------------------------------------------------------------

_SMA_OPTIONS = ("fill", "fees_frac", "fixed_fee_usd", "slippage_frac", "init_cash")
WARMUP_PARAM = "warmup_bars"
"""The parameter that tells an objective how many leading bars are warm-up only."""


def sma_objective(params: dict[str, Any], data: Any) -> dict[str, float]:
    """A long-only SMA crossover backtest on the compiled fast path, as a sweep objective.

    Parameters
    ----------
    params : dict
        ``fast`` and ``slow`` (window lengths in bars), optionally any of ``fill``,
        ``fees_frac``, ``fixed_fee_usd``, ``slippage_frac``, ``init_cash`` (passed to
        :func:`greekfire.backtest.fast.run_signals`), and ``warmup_bars`` (the first that many
        bars only warm the averages up: no signal there, and the metrics start after them).
    data : pandas.DataFrame or Series or dict
        Close prices (UTC index, one column per symbol), or ``{"close": ..., "open": ...}``
        (``open`` is needed by ``fill="next_open"``).

    Returns
    -------
    dict
        ``total_return`` (fraction, of the whole account: the mean over symbols with
        independent, equal cash), ``sharpe`` (annualised, daily bars), ``max_drawdown``
        (fraction <= 0) of the account equity, and ``n_trades``.
    """
    from greekfire.analytics.performance import max_drawdown, sharpe_ratio

    # Imported here: a sweep of another objective never loads numba kernels.
    fast: Any = importlib.import_module("greekfire.backtest.fast")

    unknown = set(params) - {"fast", "slow", WARMUP_PARAM, *_SMA_OPTIONS}
    if unknown or "fast" not in params or "slow" not in params:
        raise ValueError(
            f"sma_objective takes fast, slow and optionally {', '.join(_SMA_OPTIONS)}; got "
            f"{sorted(params)}"
        )
    close = data["close"] if isinstance(data, Mapping) else data
    open_ = data.get("open") if isinstance(data, Mapping) else None
    options = {name: params[name] for name in _SMA_OPTIONS if name in params}
    warmup = int(params.get(WARMUP_PARAM, 0))
    if not 0 <= warmup < len(close):
        raise ValueError(f"{WARMUP_PARAM} must be in [0, {len(close)}), got {warmup}")
    entries, exits = fast.sma_cross_signals(close, int(params["fast"]), int(params["slow"]))
    if warmup:
        entries.iloc[:warmup] = False
        exits.iloc[:warmup] = False
    result = fast.run_signals(close, entries, exits, open=open_, **options)
    equity = result.equity
    account = equity["total"] if "total" in equity.columns else equity.iloc[:, 0]
    # from the close before the first scored bar: the starting cash when there is a warm-up
    values = account.to_numpy(dtype=np.float64)[max(warmup - 1, 0) :]
    return {
        "total_return": float(values[-1] / values[0] - 1.0),
        "sharpe": float(sharpe_ratio(values, kind="equity")),
        "max_drawdown": float(max_drawdown(values, kind="equity").depth),
        "n_trades": float(len(result.trades)),
    }
