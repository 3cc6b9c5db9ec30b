"""The performance-toolkit cases of ``greekfire bench``.

(i) Cache hit: one call of a memoised function whose result is cached, through greekfire's
    ``@cached`` (TTL + LRU + memory bound + stats + lock all on), ``cachetools`` (a TTLCache
    behind a lock, its ``cached`` decorator) and ``functools.lru_cache``; a plain call of the
    undecorated function shows the loop and call overhead every row includes. Target: a hit
    through ``@cached`` <= 400 ns.
(j) ``optimize_dataframe`` on the brief's kind of frame (100,000 rows: minute timestamps
    shared by 50 symbols, symbols as strings, OHLC with 2 decimals, volume, side): time and
    bytes per row, bit-lossless by default and lossless at 2 decimals with ``decimals``, vs
    the usual pandas recipe (downcast + category + float32), which loses cents.
(k) Parallel map of a CPU-bound numpy task (16 Monte Carlo valuations) on 2 cores: serial vs
    ``ParallelProcessor.map`` on threads, processes and Dask (the process pool and the Dask
    cluster are started before timing and reused, as a long-running bot does). The headline
    is the process backend; the ratios against the serial loop are the speed-ups.

Checks (untimed): every cache returns the function's values; the optimised frames convert
back to the original (bit for bit by default, at 2 decimals with ``decimals``); every
parallel backend returns the serial results in order.
"""

from __future__ import annotations

import atexit
import functools
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from greekfire.bench.contenders import Contender, Prepared, Results, require
from greekfire.bench.harness import CaseSpec, Target

if TYPE_CHECKING:
    from greekfire.bench.cases import Sizes

__all__ = [
    "CallsWorkload",
    "FrameWorkload",
    "TasksWorkload",
    "brief_frame",
    "build_perf_cases",
    "monte_carlo_task",
]

_DISTINCT_KEYS = 1_000
_CACHE_ENTRIES = 10_000
_CACHE_TTL_S = 3_600.0
_CACHE_BYTES = 64 * 2**20


# --- workloads ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallsWorkload:
    """``calls`` calls cycling over ``_DISTINCT_KEYS`` keys, all cached before timing."""

    calls: int

    @property
    def n(self) -> int:
        """Calls per sample."""
        return self.calls

    def head(self, m: int) -> CallsWorkload:
        """The first ``m`` calls."""
        return replace(self, calls=min(m, self.calls))

    def keys(self) -> list[int]:
        """The key of every call, in order."""
        return [i % _DISTINCT_KEYS for i in range(self.calls)]


@dataclass(frozen=True, slots=True)
class FrameWorkload:
    """A DataFrame to optimise."""

    frame: pd.DataFrame

    @property
    def n(self) -> int:
        """Rows."""
        return len(self.frame)

    def head(self, m: int) -> FrameWorkload:
        """The first ``m`` rows."""
        return FrameWorkload(self.frame.iloc[:m].copy())


@dataclass(frozen=True, slots=True)
class TasksWorkload:
    """Seeds of the Monte Carlo tasks, one item each."""

    seeds: tuple[int, ...]

    @property
    def n(self) -> int:
        """Items."""
        return len(self.seeds)

    def head(self, m: int) -> TasksWorkload:
        """The first ``m`` items."""
        return TasksWorkload(self.seeds[:m])


def brief_frame(rows: int = 100_000, symbols: int = 50, seed: int = 7) -> pd.DataFrame:
    """The brief's market-data frame: ``rows // symbols`` minute timestamps shared by the
    symbols, symbols as object strings, OHLC floats with 2 decimals, integer volume under 10
    million, side "buy"/"sell" (object); about 170 bytes per row as pandas builds it.

    Parameters
    ----------
    rows, symbols, seed : int
        Size and the generator's seed (deterministic).
    """
    rng = np.random.default_rng(seed)
    minutes = rows // symbols
    stamps = pd.date_range("2024-01-02 14:30", periods=minutes, freq="min", tz="UTC")
    base = rng.uniform(5.0, 500.0, symbols)
    mid = base[None, :] * np.exp(np.cumsum(rng.normal(0.0, 1e-3, (minutes, symbols)), axis=0))
    mid = mid.reshape(-1)[:rows]
    spread = np.abs(rng.normal(0.0, 2e-3, rows)) * mid
    names = np.array([f"SYM{i:02d}" for i in range(symbols)], dtype=object)
    sides = np.where(rng.random(rows) < 0.5, "buy", "sell")
    # Strings as object columns, as pandas 2 builds them (pandas 3 would infer its str dtype).
    return pd.DataFrame(
        {
            "timestamp": np.repeat(stamps, symbols)[:rows],
            "symbol": pd.Series(np.tile(names, minutes)[:rows], dtype=object),
            "open": np.round(mid, 2),
            "high": np.round(mid + spread, 2),
            "low": np.round(mid - spread, 2),
            "close": np.round(mid + spread * rng.uniform(-1.0, 1.0, rows), 2),
            "volume": rng.integers(100, 10_000_000, rows, dtype=np.int64),
            "side": pd.Series(sides, dtype=object),
        }
    )


def monte_carlo_task(seed: int) -> float:
    """A CPU-bound numpy task: a European call valued by Monte Carlo on 400,000 paths.

    The paths are drawn in batches of 10,000: arrays of 80 KB stay in the allocator's heap,
    so the task costs the same in a fresh worker process as in a long-lived one (3.2 MB arrays
    would be fresh ``mmap`` pages, page-faulted and zeroed on every call, in a new process).
    """
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(40):
        z = rng.standard_normal(10_000)
        spot = 100.0 * np.exp(-0.5 * 0.04 + 0.2 * z)
        total += float(np.maximum(spot - 100.0, 0.0).sum())
    return total / 400_000


# --- (i) cache hit -----------------------------------------------------------------------


def _square(x: int) -> int:
    return x * x


def _hits(fn: Callable[[int], int], w: CallsWorkload) -> Prepared:
    keys = w.keys()
    for k in range(_DISTINCT_KEYS):
        fn(k)  # every key cached before timing: each timed call is a hit

    def call() -> None:
        for k in keys:
            fn(k)

    def results() -> Results:
        return {"value": np.array([fn(k) for k in range(_DISTINCT_KEYS)], dtype=np.int64)}

    return Prepared(call=call, results=results)


def prepare_plain(w: CallsWorkload) -> Prepared:
    """The undecorated function: the loop and call overhead of every row."""
    return _hits(_square, w)


def prepare_greekfire_cached(w: CallsWorkload) -> Prepared:
    """``@cached`` with TTL, LRU bound, memory bound, stats and its lock."""
    from greekfire.perf.cache import SmartCache, cached

    cache: SmartCache = SmartCache(
        maxsize=_CACHE_ENTRIES, ttl=_CACHE_TTL_S, max_bytes=_CACHE_BYTES, name="bench"
    )
    return _hits(cached(cache=cache)(_square), w)


def prepare_cachetools(w: CallsWorkload) -> Prepared:
    """``cachetools.cached`` on a TTLCache with a ``threading.Lock``."""
    cachetools = require("cachetools")
    lock = threading.Lock()
    cache = cachetools.TTLCache(maxsize=_CACHE_ENTRIES, ttl=_CACHE_TTL_S)
    return _hits(cachetools.cached(cache, lock=lock)(_square), w)


def prepare_lru_cache(w: CallsWorkload) -> Prepared:
    """``functools.lru_cache`` (C implementation; no TTL, no memory bound, no stats)."""
    return _hits(functools.lru_cache(maxsize=_CACHE_ENTRIES)(_square), w)


def check_cache(w: CallsWorkload, results: Mapping[str, Results]) -> dict[str, dict[str, Any]]:
    """Every cached function returns the function's values."""
    want = np.array([_square(k) for k in range(_DISTINCT_KEYS)], dtype=np.int64)
    return {
        key: {"values_correct": bool(np.array_equal(res["value"], want))}
        for key, res in results.items()
    }


# --- (j) optimize_dataframe --------------------------------------------------------------

_PRICES = ("open", "high", "low", "close")


def _frame_results(original: pd.DataFrame, out: list[pd.DataFrame]) -> Callable[[], Results]:
    # Untimed: bytes per row of the last output, and whether it converts back to the original
    # bit for bit and at 2 decimals.
    def results() -> Results:
        new = out[0]
        exact = all(new[c].astype(original[c].dtype).equals(original[c]) for c in original.columns)
        at_cents = all(
            np.array_equal(np.round(new[c].to_numpy(np.float64), 2), original[c].to_numpy())
            for c in _PRICES
        )
        return {
            "bytes_per_row": np.array([new.memory_usage(deep=True).sum() / len(new)]),
            "bit_exact": np.array([exact]),
            "prices_at_2_decimals": np.array([at_cents]),
        }

    return results


def _optimiser(decimals: int | None) -> Callable[[FrameWorkload], Prepared]:
    def prepare(w: FrameWorkload) -> Prepared:
        from greekfire.perf.memory import optimize_dataframe

        declared: dict[Hashable, int] | None = (
            None if decimals is None else dict.fromkeys(_PRICES, decimals)
        )
        out: list[pd.DataFrame] = [w.frame]

        def call() -> None:
            out[0] = optimize_dataframe(w.frame, decimals=declared)[0]

        return Prepared(call=call, results=_frame_results(w.frame, out))

    return prepare


def naive_downcast(frame: pd.DataFrame) -> pd.DataFrame:
    """The usual pandas recipe: integers downcast, floats to float32, strings with few
    distinct values to category. Nothing checks what the float32 prices lose."""
    new = frame.copy()
    for name in new.columns:
        col = new[name]
        if pd.api.types.is_integer_dtype(col):
            new[name] = pd.to_numeric(col, downcast="unsigned" if col.min() >= 0 else "integer")
        elif pd.api.types.is_float_dtype(col):
            new[name] = col.astype(np.float32)
        elif col.dtype == object and col.nunique() < 0.5 * len(col):
            new[name] = col.astype("category")
    return new


def prepare_naive_downcast(w: FrameWorkload) -> Prepared:
    """``naive_downcast`` on the workload's frame."""
    out: list[pd.DataFrame] = [w.frame]

    def call() -> None:
        out[0] = naive_downcast(w.frame)

    return Prepared(call=call, results=_frame_results(w.frame, out))


def check_frames(w: FrameWorkload, results: Mapping[str, Results]) -> dict[str, dict[str, Any]]:
    """Bytes per row before and after, the reduction, and what converts back."""
    before = float(w.frame.memory_usage(deep=True).sum() / len(w.frame))
    metrics: dict[str, dict[str, Any]] = {}
    for key, res in results.items():
        after = float(res["bytes_per_row"][0])
        metrics[key] = {
            "bytes_per_row_before": round(before, 2),
            "bytes_per_row_after": round(after, 2),
            "reduction_pct": round(100.0 * (1.0 - after / before), 1),
            "bit_exact": bool(res["bit_exact"][0]),
            "prices_at_2_decimals": bool(res["prices_at_2_decimals"][0]),
        }
    return metrics


# --- (k) parallel map --------------------------------------------------------------------


def prepare_serial(w: TasksWorkload) -> Prepared:
    """A plain loop in this process."""
    seeds = list(w.seeds)
    out: list[list[float]] = [[]]

    def call() -> None:
        out[0] = [monte_carlo_task(s) for s in seeds]

    return Prepared(call=call, results=lambda: {"value": np.array(out[0])})


def _parallel(backend: str) -> Callable[[TasksWorkload], Prepared]:
    def prepare(w: TasksWorkload) -> Prepared:
        from greekfire.perf.parallel import ParallelProcessor

        if backend == "dask":
            require("distributed", "dask[distributed]")
        processor = ParallelProcessor(backend=backend, max_workers=2)
        _PROCESSORS.append(processor)
        atexit.register(processor.close)
        seeds = list(w.seeds)
        processor.map(monte_carlo_task, seeds[:2])  # start the pool or cluster before timing
        out: list[list[float]] = [[]]

        def call() -> None:
            result = processor.map(monte_carlo_task, seeds)
            if not result.ok:
                raise RuntimeError(f"{backend}: {result.errors[0].error}")
            out[0] = result.values

        return Prepared(call=call, results=lambda: {"value": np.array(out[0])})

    return prepare


_PROCESSORS: list[Any] = []


def close_processors() -> None:
    """Stop the pools and the Dask cluster case (k) started (its teardown)."""
    while _PROCESSORS:
        _PROCESSORS.pop().close()


def check_parallel(w: TasksWorkload, results: Mapping[str, Results]) -> dict[str, dict[str, Any]]:
    """Every backend returns the serial results, in order."""
    want = np.array([monte_carlo_task(s) for s in w.seeds])
    return {
        key: {"equals_serial": bool(np.array_equal(res["value"], want))}
        for key, res in results.items()
    }


# --- the cases ---------------------------------------------------------------------------


def build_perf_cases(sizes: Sizes) -> list[CaseSpec[Any]]:
    """Return cases (i) to (k) at the given sizes.

    Parameters
    ----------
    sizes : Sizes
        ``cases.FULL`` or ``cases.QUICK_SIZES``.
    """
    calls, rows, tasks = sizes.cache_calls, sizes.frame_rows, sizes.parallel_tasks
    hit: CaseSpec[CallsWorkload] = CaseSpec(
        key="i_cache_hit",
        short="(i) cache hit",
        title="(i) A cache hit through a memoising decorator",
        description=(
            f"{calls:,} calls per sample of a memoised function, every key already cached "
            f"({_DISTINCT_KEYS:,} keys; bound {_CACHE_ENTRIES:,} entries, TTL "
            f"{_CACHE_TTL_S:g} s, greekfire's memory bound {_CACHE_BYTES // 2**20} MiB). "
            "ns/call includes the Python loop and call, which the plain row measures alone."
        ),
        make_workload=lambda: CallsWorkload(calls),
        contenders=(
            Contender(
                "greekfire",
                "greekfire @cached (TTL, LRU, memory bound, stats, lock)",
                prepare_greekfire_cached,
            ),
            Contender(
                "cachetools", "cachetools.cached, TTLCache + threading.Lock", prepare_cachetools
            ),
            Contender(
                "lru_cache",
                "functools.lru_cache (no TTL, memory bound or stats)",
                prepare_lru_cache,
            ),
            Contender("plain", "the undecorated function (loop + call overhead)", prepare_plain),
        ),
        check=check_cache,
        target=Target("ns_per_option", 400.0),
        unit="call",
    )
    frame: CaseSpec[FrameWorkload] = CaseSpec(
        key="j_optimize_dataframe",
        short=f"(j) optimize {rows // 1000}K rows",
        title=f"(j) optimize_dataframe on the brief's {rows:,}-row market-data frame",
        description=(
            "Minute timestamps shared by 50 symbols, symbols and side as object strings, OHLC "
            "with 2 decimals, int64 volume (about 170 bytes per row as pandas builds it). The "
            "checks give bytes per row after, and whether the result converts back bit for "
            "bit and restores the prices at 2 decimals."
        ),
        make_workload=lambda: FrameWorkload(brief_frame(rows)),
        contenders=(
            Contender(
                "greekfire",
                "greekfire optimize_dataframe (bit-lossless)",
                _optimiser(None),
                slow=True,
            ),
            Contender(
                "greekfire_decimals",
                "greekfire optimize_dataframe(decimals=2 on OHLC)",
                _optimiser(2),
                slow=True,
            ),
            Contender(
                "pandas",
                "pandas downcast + float32 + category (unchecked)",
                prepare_naive_downcast,
                slow=True,
            ),
        ),
        check=check_frames,
        unit="row",
    )
    parallel: CaseSpec[TasksWorkload] = CaseSpec(
        key="k_parallel_map",
        short=f"(k) parallel map x{tasks}",
        title=f"(k) Parallel map of {tasks} CPU-bound numpy tasks on 2 cores",
        description=(
            "Each task values a European call by Monte Carlo on 400,000 normal draws (numpy, "
            "in batches of 10,000 so that a fresh worker process does not page-fault new "
            "arrays on every call). "
            "ParallelProcessor.map with 2 workers; the process pool and the Dask cluster are "
            "started before timing and reused by every call, as in a long-running bot. "
            "Target: the process backend at most 0.75x the serial loop."
        ),
        make_workload=lambda: TasksWorkload(tuple(range(1, tasks + 1))),
        contenders=(
            Contender(
                "greekfire",
                "greekfire ParallelProcessor, processes",
                _parallel("processes"),
                slow=True,
            ),
            Contender(
                "greekfire_threads",
                "greekfire ParallelProcessor, threads",
                _parallel("threads"),
                slow=True,
            ),
            Contender(
                "greekfire_dask",
                "greekfire ParallelProcessor, Dask LocalCluster",
                _parallel("dask"),
                slow=True,
            ),
            Contender("serial", "serial loop", prepare_serial, slow=True),
        ),
        check=check_parallel,
        target=Target("median_ms", 0.75, relative_to="serial"),
        unit="task",
        teardown=close_processors,
    )
    return [hit, frame, parallel]
