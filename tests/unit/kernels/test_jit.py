"""The shared numba machinery: the fused multiply-add, the small-batch thread limit, the cache."""

from __future__ import annotations

import numba
import numpy as np
from numba.core import caching

from greekfire.kernels import _jit, bsm
from greekfire.kernels._jit import PARALLEL_MIN_SIZE, fma_, njit, threads_for


@njit()
def _fused(a: float, b: float, c: float) -> float:
    return fma_(a, b, c)


def test_fma_rounds_once() -> None:
    a = 1.0 + 2.0**-30
    # a * a = 1 + 2^-29 + 2^-60: the unfused product rounds the 2^-60 away.
    assert a * a - (1.0 + 2.0**-29) == 0.0
    assert _fused(a, a, -(1.0 + 2.0**-29)) == 2.0**-60


def test_threads_for_limits_small_batches_and_restores() -> None:
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    before = numba.get_num_threads()
    with threads_for(PARALLEL_MIN_SIZE - 1):
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before
    with threads_for(PARALLEL_MIN_SIZE):
        assert numba.get_num_threads() == before


def test_kernel_cache_is_keyed_on_the_whole_kernels_package() -> None:
    assert caching.CacheImpl._locator_classes[0] is _jit._KernelsLocator
    # Compile (or load) one kernel so its cache is set up, then look at its locator.
    out = np.empty(1)
    status = np.empty(1, dtype=np.int8)
    one = np.ones(1)
    bsm.price_into(one, one, one, 0 * one, 0 * one, 0.2 * one, np.ones(1, np.int8), out, status)
    locator = bsm._VECTOR_PASSES[(0, True)]._cache._impl.locator
    assert isinstance(locator, _jit._KernelsLocator)
    stamp = locator.get_source_stamp()
    assert stamp[1] == _jit.kernels_source_digest()
    assert len(stamp[1]) == 32
