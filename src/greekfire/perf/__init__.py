"""The performance toolkit: domain-agnostic pieces any Python program can use.

- ``cache``: SmartCache (TTL, LRU, memory bound, tags, stats); ``_memoize``: ``@cached``
  (single-flight), re-exported by ``cache``;
  ``cache_redis``: the optional Redis second level.
- ``parallel``: ParallelProcessor, one ``map`` over threads, processes or Dask.
- ``memory``: ``optimize_dataframe`` and the MemoryOptimizer RSS watchdog.
- ``monitor``: PerformanceMonitor, the Prometheus registry, ``timed`` phases, ``/metrics``,
  benchmark baselines.
- ``profiler``: ``profile_block`` / ``profile_function`` (wall, CPU, tracemalloc, cProfile).

The names below load lazily (``import greekfire.perf`` imports none of pandas, psutil or
prometheus-client). The brief's process-wide defaults are created on first access:
``smart_cache`` (a SmartCache of 10,000 entries, 512 MiB and a 30-minute TTL, the brief's
figures), ``performance_monitor`` (a PerformanceMonitor with its own registry, watching
``smart_cache``) and ``memory_optimizer`` (a MemoryOptimizer at 2 GiB of RSS that trims
``smart_cache``; the brief's 512 MB is below what a process with compiled kernels and pandas
already holds, so it would trim constantly).

Nothing here imports the rest of greekfire (an import-linter contract).
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "SmartCache": "greekfire.perf.cache",
    "CacheStats": "greekfire.perf.cache",
    "cached": "greekfire.perf.cache",
    "RedisBackend": "greekfire.perf.cache_redis",
    "ParallelProcessor": "greekfire.perf.parallel",
    "MapResult": "greekfire.perf.parallel",
    "parallel_map_threads": "greekfire.perf.parallel",
    "parallel_map_processes": "greekfire.perf.parallel",
    "optimize_dataframe": "greekfire.perf.memory",
    "MemoryOptimizer": "greekfire.perf.memory",
    "PerformanceMonitor": "greekfire.perf.monitor",
    "compare_to_baseline": "greekfire.perf.monitor",
    "profile_block": "greekfire.perf.profiler",
    "profile_function": "greekfire.perf.profiler",
    "Profiler": "greekfire.perf.profiler",
}

_DEFAULTS = ("smart_cache", "performance_monitor", "memory_optimizer")

__all__ = [
    "CacheTrimmer",
    "memory_optimizer",
    "performance_monitor",
    "smart_cache",
    *sorted(_EXPORTS),
]

if TYPE_CHECKING:
    from greekfire.perf.cache import CacheStats, SmartCache, cached
    from greekfire.perf.cache_redis import RedisBackend
    from greekfire.perf.memory import MemoryOptimizer, optimize_dataframe
    from greekfire.perf.monitor import PerformanceMonitor, compare_to_baseline
    from greekfire.perf.parallel import (
        MapResult,
        ParallelProcessor,
        parallel_map_processes,
        parallel_map_threads,
    )
    from greekfire.perf.profiler import Profiler, profile_block, profile_function

    smart_cache: SmartCache
    performance_monitor: PerformanceMonitor
    memory_optimizer: MemoryOptimizer

_lock = threading.Lock()
_made: dict[str, Any] = {}


def _default(name: str) -> Any:
    # Built once, under a lock: two threads asking at once get the same object.
    with _lock:
        if name not in _made:
            from greekfire.perf.cache import SmartCache

            if "smart_cache" not in _made:
                _made["smart_cache"] = SmartCache(
                    maxsize=10_000, ttl=1800.0, max_bytes=512 * 2**20, name="default"
                )
            if name == "performance_monitor":
                from greekfire.perf.monitor import PerformanceMonitor

                monitor = PerformanceMonitor()
                monitor.watch_cache(_made["smart_cache"])
                _made[name] = monitor
            elif name == "memory_optimizer":
                from greekfire.perf.memory import MemoryOptimizer

                optimizer = MemoryOptimizer(gc_threshold_mb=2048.0)
                optimizer.register(CacheTrimmer(_made["smart_cache"]))
                _made[name] = optimizer
        return _made[name]


class CacheTrimmer:
    """Present a SmartCache to a MemoryOptimizer (its ``Trimmable`` protocol): expired entries
    go first; when that frees too little, the whole cache (entries are recomputed on demand).

    Parameters
    ----------
    cache : SmartCache
        The cache to trim; its ``name`` names it in the watchdog's reports.
    """

    def __init__(self, cache: SmartCache) -> None:
        self._cache = cache
        self.name = str(cache.name)

    def current_bytes(self) -> int:
        """The cache's estimated size in bytes."""
        return int(self._cache.stats().current_bytes)

    def trim(self, bytes_to_free: int) -> int:
        """Free at least ``bytes_to_free`` if the cache holds that much; return bytes freed."""
        before = self.current_bytes()
        self._cache.purge_expired()
        if before - self.current_bytes() < bytes_to_free:
            self._cache.clear()
        return before - self.current_bytes()


def __getattr__(name: str) -> Any:
    if name in _DEFAULTS:
        return _default(name)
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'greekfire.perf' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
