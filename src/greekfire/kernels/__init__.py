"""Pure numerics on float64/int8 arrays (numpy + numba). Nothing here imports greekfire.

Every kernel compiles lazily on first call and caches its machine code on disk.
``threads_for(n)`` is the public way for callers to run a small batch on one thread.
"""

from greekfire.kernels._jit import PARALLEL_MIN_SIZE, threads_for

__all__ = ["PARALLEL_MIN_SIZE", "threads_for"]
