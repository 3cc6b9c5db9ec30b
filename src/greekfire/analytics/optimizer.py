"""PerformanceOptimizer: the brief's facade over greekfire's vectorised analytics and perf toolkit.

One object gathers what the brief's ``PerformanceOptimizer`` wires together: a
:class:`~greekfire.perf.cache.SmartCache`, a
:class:`~greekfire.perf.monitor.PerformanceMonitor`, a
:class:`~greekfire.perf.memory.MemoryOptimizer` and a lazily started
:class:`~greekfire.perf.parallel.ParallelProcessor`.

>>> with PerformanceOptimizer(isolated=True) as optimizer:  # doctest: +SKIP
...     prices = optimizer.optimize_calculations("black_scholes", spots, strikes, times, vols)
...     small, report = optimizer.optimize_dataframe(bars)
...     print(optimizer.report_text())

Design
------
Components. By default the optimizer uses the process-wide defaults of :mod:`greekfire.perf`
(``smart_cache``, ``performance_monitor`` watching it, ``memory_optimizer`` trimming it), so
every optimizer in a program shares one cache and one metrics registry. ``isolated=True``
builds fresh ones instead and wires them the same way (the new monitor watches the
optimizer's cache, the new memory watchdog trims it): tests and embedded uses never share
global state. Components passed explicitly are used as given and never rewired. ``close()``
releases only what the optimizer created: the processor it started, the sampler and the
watchdog thread of an isolated monitor and memory optimizer.

Calculations. ``optimize_calculations(name, *args, **kwargs)`` calls the routine registered
under ``name`` with the arguments unchanged, so its result equals the direct call bit for bit:

=======================  ==============================================================
operation                routine (arguments and defaults as documented there)
=======================  ==============================================================
``black_scholes``        :func:`greekfire.analytics.options.black_scholes`
``black76``              :func:`greekfire.analytics.options.black76`
``greeks``               :func:`greekfire.analytics.options.greeks`
``implied_vol``          :func:`greekfire.analytics.options.implied_vol`
``american``             :func:`greekfire.analytics.american.american_price` (BAW; puts)
``american_greeks``      :func:`greekfire.analytics.american.american_greeks`
``technical_indicators`` :func:`greekfire.analytics.indicators.technical_indicators`
=======================  ==============================================================

Built-in routines are imported on first use. ``register_calculation`` adds user routines (per
optimizer). Each call runs inside ``monitor.timed(f"calc_{name}")`` (Prometheus
``cycle_phase_duration_seconds{phase="calc_<name>"}``) and is tallied here (calls, errors,
cache hits and misses, total and mean seconds), so :meth:`PerformanceOptimizer.report` never
parses the exposition format.

Memoisation. ``cache=True`` stores the result in the cache under a key built from the
operation, the routine's registration and a BLAKE2b digest of every argument: arrays by dtype,
shape and raw bytes; scalars, strings and containers by value; pandas objects by their values,
index and labels. Nothing is pickled: an object-dtype array (its bytes are pointers) or any
other type is refused with ``TypeError``. A hit returns a copy of the stored arrays, dicts,
tuples and frames, so a caller mutating a result cannot corrupt the cache. Entries carry the
tags ``"calc"`` and ``"calc:<name>"`` (``cache.invalidate_tag("calc:greeks")``).

Data fetching. ``optimize_data_fetching(symbols)`` is the brief's entry point to its async
data pipeline: it awaits ``pipeline.fetch_multiple_symbols_async(symbols)`` (normally a
``greekfire.data.pipeline.AsyncDataPipeline``, given at construction; this layer does not
import the data package) inside ``monitor.timed("fetch")``.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import importlib
import itertools
import math
import struct
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Protocol

import numpy as np
import pandas as pd

# The process-wide defaults, built on first access and already wired to each other.
import greekfire.perf as _perf
from greekfire.errors import ConfigError
from greekfire.perf import CacheTrimmer
from greekfire.perf.cache import SmartCache
from greekfire.perf.memory import MemoryOptimizer, OptimizationReport, TrimReport
from greekfire.perf.memory import optimize_dataframe as _optimize_dataframe
from greekfire.perf.monitor import PerformanceMonitor
from greekfire.perf.parallel import ParallelProcessor

__all__ = ["BUILTIN_CALCULATIONS", "PerformanceOptimizer", "SymbolsFetcher"]

BUILTIN_CALCULATIONS: Final[Mapping[str, str]] = {
    "american": "greekfire.analytics.american:american_price",
    "american_greeks": "greekfire.analytics.american:american_greeks",
    "black76": "greekfire.analytics.options:black76",
    "black_scholes": "greekfire.analytics.options:black_scholes",
    "greeks": "greekfire.analytics.options:greeks",
    "implied_vol": "greekfire.analytics.options:implied_vol",
    "technical_indicators": "greekfire.analytics.indicators:technical_indicators",
}
"""Operation name -> ``"module:function"`` of the routine it calls."""

_MIB: Final = float(1 << 20)
_KEY_SPACE: Final = "greekfire.analytics.optimizer"
_CALC_TAG: Final = "calc"
# Recommendation thresholds: enough cached lookups to judge, and what counts as low or near.
_MIN_LOOKUPS: Final = 20
_LOW_HIT_RATE: Final = 0.2
_RSS_WARN_FRACTION: Final = 0.9
# The isolated components mirror greekfire.perf's defaults.
_ISOLATED_ENTRIES: Final = 10_000
_ISOLATED_BYTES: Final = 512 * (1 << 20)
_ISOLATED_GC_MB: Final = 2048.0

# Registrations are numbered process-wide: two optimizers sharing a cache never mix up results
# of different routines registered under one name.
_REGISTRATIONS = itertools.count(1)
_ISOLATED_NAMES = itertools.count(1)

Calculation = Callable[..., Any]


class SymbolsFetcher(Protocol):
    """What :meth:`PerformanceOptimizer.optimize_data_fetching` needs (``AsyncDataPipeline``)."""

    async def fetch_multiple_symbols_async(self, symbols: Sequence[str], **kwargs: Any) -> Any:
        """Fetch bars of ``symbols``."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class _Route:
    fn: Calculation
    token: str  # part of the cache key: "builtin" or the registration number


@dataclasses.dataclass(slots=True)
class _Tally:
    calls: int = 0
    errors: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    total_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        mean = self.total_s / self.calls if self.calls else math.nan
        return {**dataclasses.asdict(self), "mean_s": mean}


@dataclasses.dataclass(slots=True)
class _FrameTally:
    calls: int = 0
    bytes_before: int = 0
    bytes_after: int = 0

    def as_dict(self) -> dict[str, int]:
        return {**dataclasses.asdict(self), "bytes_saved": self.bytes_before - self.bytes_after}


class PerformanceOptimizer:
    """The brief's facade: routed, timed, optionally memoised calculations; DataFrame
    shrinking; memory checks; one report.

    Parameters
    ----------
    cache : SmartCache, optional
        Where ``cache=True`` results go. Default: ``greekfire.perf.smart_cache``.
    monitor : PerformanceMonitor, optional
        Times every calculation. Default: ``greekfire.perf.performance_monitor``.
    memory : MemoryOptimizer, optional
        The RSS watchdog behind :meth:`check_memory`. Default:
        ``greekfire.perf.memory_optimizer``.
    processor : ParallelProcessor, optional
        Returned by :attr:`processor`. Default: a thread-backed one, started on first access
        and closed by :meth:`close`.
    isolated : bool, default False
        Build a fresh cache (10,000 entries, 512 MiB), monitor (its own registry, watching
        that cache) and memory watchdog (2 GiB, trimming that cache) for every component not
        given, instead of sharing the process-wide defaults.
    clock : callable, default time.perf_counter
        Monotonic seconds for the calculation tally; inject a fake one in tests.
    pipeline : object with ``fetch_multiple_symbols_async``, optional
        What :meth:`optimize_data_fetching` calls (an ``AsyncDataPipeline``).

    Examples
    --------
    >>> optimizer = PerformanceOptimizer(isolated=True)
    >>> price = optimizer.optimize_calculations("black_scholes", 100.0, 100.0, 1.0, 0.2)
    >>> round(price, 4)
    7.9656
    >>> optimizer.report()["calculations"]["black_scholes"]["calls"]
    1
    """

    def __init__(
        self,
        *,
        cache: SmartCache | None = None,
        monitor: PerformanceMonitor | None = None,
        memory: MemoryOptimizer | None = None,
        processor: ParallelProcessor | None = None,
        isolated: bool = False,
        clock: Callable[[], float] = time.perf_counter,
        pipeline: SymbolsFetcher | None = None,
    ) -> None:
        _check_component("cache", cache, SmartCache)
        _check_component("monitor", monitor, PerformanceMonitor)
        _check_component("memory", memory, MemoryOptimizer)
        _check_component("processor", processor, ParallelProcessor)
        if not isinstance(isolated, bool):
            raise TypeError(f"isolated: expected a bool, got {isolated!r}")
        if not callable(clock):
            raise TypeError(f"clock: expected a callable returning seconds, got {clock!r}")
        if pipeline is not None and not callable(
            getattr(pipeline, "fetch_multiple_symbols_async", None)
        ):
            raise TypeError(
                "pipeline: expected an object with fetch_multiple_symbols_async (an "
                f"AsyncDataPipeline), got {type(pipeline).__name__}"
            )
        self.pipeline = pipeline
        self._clock = clock
        self._lock = threading.Lock()
        self._owned: list[Callable[[], None]] = []  # close() hooks of what this optimizer built
        self._cache = (
            cache if cache is not None else _new_cache() if isolated else _perf.smart_cache
        )
        self._monitor = monitor if monitor is not None else self._new_monitor(isolated)
        self._memory = memory if memory is not None else self._new_memory(isolated)
        self._processor = processor
        self._owns_processor = processor is None
        self._closed = False
        self._routes: dict[str, _Route] = {}
        self._tallies: dict[str, _Tally] = {}
        self._frames = _FrameTally()

    def _new_monitor(self, isolated: bool) -> PerformanceMonitor:
        if not isolated:
            return _perf.performance_monitor
        monitor = PerformanceMonitor()
        monitor.watch_cache(self._cache)
        self._owned.append(monitor.close)
        return monitor

    def _new_memory(self, isolated: bool) -> MemoryOptimizer:
        if not isolated:
            return _perf.memory_optimizer
        memory = MemoryOptimizer(gc_threshold_mb=_ISOLATED_GC_MB)
        memory.register(CacheTrimmer(self._cache))
        self._owned.append(memory.stop)
        return memory

    # -- components ------------------------------------------------------------------------

    @property
    def cache(self) -> SmartCache:
        """The cache behind ``optimize_calculations(..., cache=True)``."""
        return self._cache

    @property
    def monitor(self) -> PerformanceMonitor:
        """The monitor timing every calculation (phase ``calc_<operation>``)."""
        return self._monitor

    @property
    def memory(self) -> MemoryOptimizer:
        """The RSS watchdog behind :meth:`check_memory`."""
        return self._memory

    @property
    def processor(self) -> ParallelProcessor:
        """The parallel processor: the one given, or a thread-backed one started now.

        Raises
        ------
        RuntimeError
            The optimizer is closed.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("this PerformanceOptimizer is closed")
            if self._processor is None:
                self._processor = ParallelProcessor()
            return self._processor

    @property
    def operations(self) -> tuple[str, ...]:
        """Every operation :meth:`optimize_calculations` accepts, sorted."""
        with self._lock:
            return tuple(sorted({*BUILTIN_CALCULATIONS, *self._routes}))

    # -- calculations ----------------------------------------------------------------------

    def register_calculation(
        self, name: str, fn: Calculation, *, replace: bool = False
    ) -> Calculation:
        """Route ``optimize_calculations(name, ...)`` to ``fn`` (for this optimizer only).

        Parameters
        ----------
        name : str
            The operation name; also the monitor phase ``calc_<name>``.
        fn : callable
            Called as ``fn(*args, **kwargs)`` with the caller's arguments.
        replace : bool, default False
            Allow replacing an existing operation (a built-in one included). Results cached
            for the replaced routine are never returned for the new one.

        Returns
        -------
        callable
            ``fn``, unchanged.

        Raises
        ------
        TypeError
            ``name`` is not a str or ``fn`` is not callable.
        ValueError
            ``name`` is empty or already taken and ``replace`` is false.
        """
        if not isinstance(name, str):
            raise TypeError(f"name: expected a str, got {name!r}")
        if not name.strip():
            raise ValueError("name: expected a non-empty operation name")
        if not callable(fn):
            raise TypeError(f"fn: expected a callable, got {fn!r}")
        with self._lock:
            taken = name in self._routes or name in BUILTIN_CALCULATIONS
            if taken and not replace:
                raise ValueError(
                    f"operation {name!r} already exists; pass replace=True to replace it"
                )
            self._routes[name] = _Route(fn, f"user-{next(_REGISTRATIONS)}")
        return fn

    def optimize_calculations(
        self,
        operation: str,
        /,
        *args: Any,
        cache: bool = False,
        cache_ttl: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run a named calculation on greekfire's vectorised implementation, timed.

        Parameters
        ----------
        operation : str
            One of :attr:`operations` (see the module docstring's table), e.g.
            ``"black_scholes"`` with ``spots, strikes, t_years, vols`` and the keywords
            ``rate``, ``dividend_yield``, ``right``.
        *args, **kwargs
            Passed unchanged to the routine.
        cache : bool, default False
            Memoise the result in :attr:`cache`, keyed on a digest of the arguments (never a
            pickle); a repeated call with identical arguments returns a copy of it.
        cache_ttl : float, optional
            Lifetime of a memoised result in seconds (default: the cache's own).

        Returns
        -------
        Any
            What the routine returns (bit for bit the same as calling it directly).

        Raises
        ------
        ValueError
            An unknown operation (the message lists the valid ones and the closest match).
        TypeError
            ``cache=True`` with an argument that cannot be digested (an object array, an
            arbitrary object).
        """
        route = self._route(operation)
        key = None
        if cache:
            key = (_KEY_SPACE, operation, route.token, _digest(args, kwargs))
        start = self._clock()
        hit: bool | None = None
        failed = True
        try:
            with self._monitor.timed(f"calc_{operation}"):
                if key is None:
                    result = route.fn(*args, **kwargs)
                else:
                    result, hit = self._memoised(key, operation, route, args, kwargs, cache_ttl)
            failed = False
        finally:
            self._record(operation, self._clock() - start, failed, hit)
        return result

    def _route(self, operation: str) -> _Route:
        if not isinstance(operation, str):
            raise TypeError(f"operation: expected a str, got {operation!r}")
        with self._lock:
            route = self._routes.get(operation)
        if route is not None:
            return route
        target = BUILTIN_CALCULATIONS.get(operation)
        if target is None:
            raise _unknown_operation(operation, self.operations)
        module, _, attr = target.partition(":")
        return _Route(getattr(importlib.import_module(module), attr), "builtin")

    def _memoised(
        self,
        key: tuple[str, ...],
        operation: str,
        route: _Route,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        ttl: float | None,
    ) -> tuple[Any, bool]:
        computed = False

        def compute() -> Any:
            nonlocal computed
            computed = True
            return route.fn(*args, **kwargs)

        tags = (_CALC_TAG, f"{_CALC_TAG}:{operation}")
        value = self._cache.get_or_compute(key, compute, ttl, tags)
        # The stored object stays private: the caller gets a copy, hit or miss.
        return _copy_result(value), not computed

    def _record(self, operation: str, seconds: float, failed: bool, hit: bool | None) -> None:
        with self._lock:
            tally = self._tallies.setdefault(operation, _Tally())
            tally.calls += 1
            tally.total_s += seconds
            tally.errors += failed
            if hit is not None:
                tally.cache_hits += hit
                tally.cache_misses += not hit

    # -- data ------------------------------------------------------------------------------

    async def optimize_data_fetching(self, symbols: Sequence[str], **kwargs: Any) -> Any:
        """Fetch ``symbols`` through the pipeline, timed as the ``fetch`` phase.

        Parameters
        ----------
        symbols : sequence of str
        **kwargs
            Passed on (``lookback``, ``timeframe`` for an ``AsyncDataPipeline``).

        Returns
        -------
        Whatever the pipeline returns (an ``AsyncDataPipeline`` gives a ``FetchResult``:
        ``data`` and ``failures`` per symbol).

        Raises
        ------
        ConfigError
            No pipeline was given to the optimizer.
        """
        if self.pipeline is None:
            raise ConfigError(
                "pipeline",
                "optimize_data_fetching needs a pipeline: PerformanceOptimizer(pipeline="
                "AsyncDataPipeline(provider))",
            )
        with self._monitor.timed("fetch"):
            return await self.pipeline.fetch_multiple_symbols_async(symbols, **kwargs)

    # -- memory ----------------------------------------------------------------------------

    def optimize_dataframe(
        self, df: pd.DataFrame, **kwargs: Any
    ) -> tuple[pd.DataFrame, OptimizationReport]:
        """Shrink a DataFrame's dtypes with :func:`greekfire.perf.memory.optimize_dataframe`.

        Parameters
        ----------
        df : pandas.DataFrame
            The frame (not modified unless ``inplace=True`` is passed).
        **kwargs
            ``decimals``, ``tolerance``, ``categorical_threshold``, ``inplace``: see there.

        Returns
        -------
        (pandas.DataFrame, OptimizationReport)
            Exactly what the function returns; the bytes before and after are added to
            :meth:`report`'s ``memory.dataframes``.
        """
        frame, details = _optimize_dataframe(df, **kwargs)
        with self._lock:
            self._frames.calls += 1
            self._frames.bytes_before += details.bytes_before
            self._frames.bytes_after += details.bytes_after
        return frame, details

    def check_memory(self) -> TrimReport:
        """Run one pass of the memory watchdog (:meth:`MemoryOptimizer.check`).

        Returns
        -------
        TrimReport
            The RSS measured and, above the threshold, what was trimmed and collected.
        """
        return self._memory.check()

    # -- reporting -------------------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        """Cache, calculation and memory figures, with recommendations, as plain values.

        Memory figures come from the watchdog's latest pass (:meth:`check_memory` or its
        thread): the report itself measures nothing and trims nothing.

        Returns
        -------
        dict
            ``cache``: the cache's :class:`~greekfire.perf.cache.CacheStats` as a dict;
            ``calculations``: per operation ``calls``, ``errors``, ``cache_hits``,
            ``cache_misses``, ``total_s``, ``mean_s`` (NaN before any call);
            ``memory``: ``rss_bytes`` and ``measured_at_s`` (None before the first check),
            ``threshold_bytes``, ``target_bytes``, ``last_trim`` (the latest pass that
            trimmed, or None) and ``dataframes`` (``calls``, ``bytes_before``,
            ``bytes_after``, ``bytes_saved``); ``recommendations``: a list of str.
        """
        with self._lock:
            calculations = {name: t.as_dict() for name, t in sorted(self._tallies.items())}
            frames = self._frames.as_dict()
        result: dict[str, Any] = {
            "cache": dataclasses.asdict(self._cache.stats()),
            "calculations": calculations,
            "memory": {**self._memory_figures(), "dataframes": frames},
        }
        result["recommendations"] = _recommendations(result)
        return result

    def _memory_figures(self) -> dict[str, Any]:
        last = self._memory.last_report
        history = self._memory.history
        trim = history[-1] if history else None
        return {
            "rss_bytes": None if last is None else last.rss_after_bytes,
            "measured_at_s": None if last is None else last.at_s,
            "threshold_bytes": self._memory.threshold_bytes,
            "target_bytes": self._memory.target_bytes,
            "last_trim": None
            if trim is None
            else {**dataclasses.asdict(trim), "freed_bytes": trim.freed_bytes},
        }

    def report_text(self) -> str:
        """:meth:`report` as a readable plain-text table."""
        data = self.report()
        lines = ["PerformanceOptimizer report", _cache_line(data["cache"]), "", "calculations"]
        lines += _calculation_table(data["calculations"])
        lines += ["", *_memory_lines(data["memory"]), "", "recommendations"]
        lines += [f"  - {text}" for text in data["recommendations"]] or ["  none"]
        return "\n".join(lines)

    # -- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        """Close the processor this optimizer started and stop the background threads of the
        monitor and memory watchdog it built (``isolated=True``); idempotent. Components
        passed in, and the process-wide defaults, are left alone."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            processor = self._processor if self._owns_processor else None
        if processor is not None:
            processor.close()
        for hook in self._owned:
            hook()

    def __enter__(self) -> PerformanceOptimizer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# -- construction helpers -------------------------------------------------------------------


def _check_component(name: str, value: object, kind: type) -> None:
    if value is not None and not isinstance(value, kind):
        raise TypeError(f"{name}: expected a {kind.__name__} or None, got {type(value).__name__}")


def _new_cache() -> SmartCache:
    name = f"optimizer-{next(_ISOLATED_NAMES)}"
    return SmartCache(_ISOLATED_ENTRIES, max_bytes=_ISOLATED_BYTES, name=name)


def _unknown_operation(operation: str, valid: tuple[str, ...]) -> ValueError:
    close = difflib.get_close_matches(operation, valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ValueError(
        f"unknown operation {operation!r}{hint}; valid operations: {', '.join(valid)} "
        "(register_calculation adds your own)"
    )


# -- argument digests -----------------------------------------------------------------------


def _digest(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str:
    h = hashlib.blake2b(digest_size=20)
    for position, value in enumerate(args):
        _feed(h, value, f"argument {position + 1}")
    h.update(b"|kwargs|")
    for name in sorted(kwargs):
        _feed(h, name, name)
        _feed(h, kwargs[name], name)
    return h.hexdigest()


def _feed(h: Any, value: Any, where: str) -> None:
    # Every value is written as a type tag, then a length or fixed-size body, so no two
    # different argument lists produce the same byte stream.
    if _feed_scalar(h, value):
        return
    if isinstance(value, np.ndarray | np.generic):
        _feed_array(h, np.asarray(value), where)
    elif isinstance(value, pd.DataFrame | pd.Series | pd.Index):
        _feed_pandas(h, value, where)
    elif isinstance(value, list | tuple):
        h.update(b"L" if isinstance(value, list) else b"T")
        h.update(struct.pack("<q", len(value)))
        for item in value:
            _feed(h, item, where)
    elif isinstance(value, Mapping):
        h.update(b"M" + struct.pack("<q", len(value)))
        for item_key, item in value.items():
            _feed(h, item_key, where)
            _feed(h, item, where)
    else:
        raise TypeError(
            f"cache=True: cannot build a cache key from {where} ({type(value).__name__}); "
            "keys are digests of numbers, strings, numpy arrays, pandas objects and "
            "lists/tuples/dicts of them (never pickles). Pass cache=False for this call"
        )


def _feed_scalar(h: Any, value: Any) -> bool:
    if value is None:
        h.update(b"N")
    elif isinstance(value, bool):
        h.update(b"B1" if value else b"B0")
    elif isinstance(value, int):
        text = str(value).encode()
        h.update(b"I" + struct.pack("<q", len(text)) + text)
    elif isinstance(value, float):
        h.update(b"F" + struct.pack("<d", value))
    elif isinstance(value, complex):
        h.update(b"C" + struct.pack("<dd", value.real, value.imag))
    elif isinstance(value, str | bytes):
        data = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
        h.update((b"S" if isinstance(value, str) else b"Y") + struct.pack("<q", len(data)))
        h.update(data)
    else:
        return False
    return True


def _feed_array(h: Any, arr: np.ndarray[Any, Any], where: str) -> None:
    if arr.dtype.hasobject:
        raise TypeError(
            f"cache=True: {where} is an array of Python objects (dtype {arr.dtype}); its bytes "
            "are pointers, so it has no stable cache key and is never pickled. Convert it "
            "(e.g. .astype(float) or .astype(str)) or pass cache=False"
        )
    header = f"{arr.dtype.str}{arr.dtype.descr}{arr.shape}".encode()
    h.update(b"A" + struct.pack("<q", len(header)) + header)
    h.update(np.ascontiguousarray(arr).reshape(-1).view(np.uint8))


def _feed_pandas(h: Any, value: pd.DataFrame | pd.Series | pd.Index, where: str) -> None:
    if isinstance(value, pd.Index):
        _feed_index(h, value, where)
    elif isinstance(value, pd.Series):
        h.update(b"PS")
        _feed(h, value.name, f"{where} name")
        _feed_index(h, value.index, f"{where} index")
        _feed(h, str(value.dtype), where)
        _feed_array(h, value.to_numpy(), f"{where} values")
    else:
        h.update(b"PF")
        _feed_index(h, value.columns, f"{where} columns")
        _feed_index(h, value.index, f"{where} index")
        for position in range(value.shape[1]):
            column = value.iloc[:, position]
            _feed(h, str(column.dtype), where)
            _feed_array(h, column.to_numpy(), f"{where} column {value.columns[position]!r}")


def _feed_index(h: Any, index: pd.Index, where: str) -> None:
    # Labels (strings, tuples of a MultiIndex) go element by element; times by their integers.
    h.update(b"PI")
    _feed(h, str(index.dtype), where)
    _feed(h, [index.name] if not isinstance(index, pd.MultiIndex) else list(index.names), where)
    if isinstance(index, pd.DatetimeIndex | pd.TimedeltaIndex | pd.PeriodIndex):
        _feed_array(h, index.asi8, where)
        return
    values = index.to_numpy()
    if values.dtype.hasobject:
        _feed(h, index.tolist(), where)
    else:
        _feed_array(h, values, where)


def _copy_result(value: Any) -> Any:
    if isinstance(value, np.ndarray | pd.DataFrame | pd.Series):
        return value.copy()
    if isinstance(value, dict):
        return {k: _copy_result(v) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_make"):  # a NamedTuple (IVResult)
        return value._make(_copy_result(v) for v in value)
    if isinstance(value, tuple | list):
        return type(value)(_copy_result(v) for v in value)
    return value


# -- report helpers -------------------------------------------------------------------------


def _recommendations(data: Mapping[str, Any]) -> list[str]:
    return [
        *_cache_advice(data["calculations"], data["cache"]),
        *_memory_advice(data["memory"]),
        *_error_advice(data["calculations"]),
    ]


def _cache_advice(calculations: Mapping[str, Any], stats: Mapping[str, Any]) -> list[str]:
    advice = []
    for name, tally in calculations.items():
        lookups = tally["cache_hits"] + tally["cache_misses"]
        if lookups >= _MIN_LOOKUPS and tally["cache_hits"] / lookups < _LOW_HIT_RATE:
            advice.append(
                f"{name}: cache hit rate {tally['cache_hits'] / lookups:.0%} over {lookups} "
                f"cached calls (below {_LOW_HIT_RATE:.0%}); its inputs rarely repeat, so "
                "cache=True only costs a digest and memory: drop it for this operation"
            )
    crowded = stats["evictions_size"] + stats["evictions_memory"]
    if crowded:
        advice.append(
            f"cache {stats['name']!r} evicted {crowded} entries for room; raise its maxsize or "
            "max_bytes, or cache fewer operations"
        )
    return advice


def _memory_advice(memory: Mapping[str, Any]) -> list[str]:
    rss, threshold = memory["rss_bytes"], memory["threshold_bytes"]
    if rss is None:
        return ["memory not measured yet: call check_memory() or start the watchdog"]
    if rss < _RSS_WARN_FRACTION * threshold:
        return []
    where = "above" if rss > threshold else "near"
    return [
        f"RSS {rss / _MIB:,.1f} MiB is {where} the watchdog threshold "
        f"({threshold / _MIB:,.1f} MiB, {rss / threshold:.0%}); shrink frames with "
        "optimize_dataframe, lower the cache's max_bytes or raise gc_threshold_mb"
    ]


def _error_advice(calculations: Mapping[str, Any]) -> list[str]:
    return [
        f"{name}: {tally['errors']} of {tally['calls']} calls raised"
        for name, tally in calculations.items()
        if tally["errors"]
    ]


def _cache_line(stats: Mapping[str, Any]) -> str:
    return (
        f"cache {stats['name']}: {stats['entries']:,} entries, "
        f"{stats['current_bytes'] / _MIB:,.1f} MiB, hit rate {stats['hit_rate']:.1%} "
        f"({stats['hits']:,} hits, {stats['misses']:,} misses), "
        f"{stats['evictions']:,} evictions"
    )


def _calculation_table(calculations: Mapping[str, Any]) -> list[str]:
    if not calculations:
        return ["  none yet"]
    head = ("operation", "calls", "errors", "hits", "misses", "total", "mean")
    counts = ("calls", "errors", "cache_hits", "cache_misses")
    rows = [head] + [
        (name, *(f"{t[k]:,}" for k in counts), _fmt_s(t["total_s"]), _fmt_s(t["mean_s"]))
        for name, t in calculations.items()
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return [
        "  "
        + "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]


def _memory_lines(memory: Mapping[str, Any]) -> list[str]:
    rss = memory["rss_bytes"]
    measured = "not measured yet" if rss is None else f"{rss / _MIB:,.1f} MiB"
    trim = memory["last_trim"]
    trimmed = "none" if trim is None else f"freed {trim['freed_bytes'] / _MIB:,.1f} MiB"
    frames = memory["dataframes"]
    return [
        f"memory: RSS {measured} (threshold {memory['threshold_bytes'] / _MIB:,.1f} MiB)",
        f"  last trim: {trimmed}",
        f"  dataframes: {frames['calls']:,} optimised, {frames['bytes_saved']:,} bytes saved",
    ]


def _fmt_s(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"
