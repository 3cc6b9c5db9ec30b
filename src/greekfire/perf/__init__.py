"""The performance toolkit: domain-agnostic pieces any Python program can use.

- ``cache``: SmartCache (TTL, LRU, memory bound, tags, stats) and ``@cached`` (single-flight);
  ``cache_redis``: the optional Redis second level.
- ``parallel``: ParallelProcessor, one ``map`` over threads, processes or Dask.
- ``memory``: ``optimize_dataframe`` and the MemoryOptimizer RSS watchdog.
- ``monitor``: PerformanceMonitor, the Prometheus registry, ``timed`` phases, ``/metrics``.
- ``profiler``: ``profile_block`` / ``profile_function`` (wall, CPU, tracemalloc, cProfile).

Nothing here imports the rest of greekfire (an import-linter contract).
"""
