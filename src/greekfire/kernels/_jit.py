"""Typed numba decorators and bit-level intrinsics shared by every kernel.

``njit`` keeps the decorated function's signature for mypy and always compiles lazily (first
call) with an on-disk cache, so importing a kernel module never compiles anything.

numba keys a cached function on its own source file only, but kernels inline functions from
other kernel modules (``special.erfcx_`` into the pricer and the solver): after an edit to
special.py the pricer would recompile and the solver would load stale machine code, and the two
would no longer agree bit for bit. ``_KernelsLocator`` keys every kernel's cache entry on the
sources of the whole ``greekfire.kernels`` package instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, ParamSpec, TypeVar, cast

import numba
from llvmlite import ir
from numba import types
from numba.core import caching
from numba.extending import intrinsic

P = ParamSpec("P")
R = TypeVar("R")

__all__ = [
    "PARALLEL_MIN_SIZE",
    "f64_as_i64",
    "fma_",
    "i64_as_f64",
    "njit",
    "prange",
    "threads_for",
]

prange = numba.prange

_KERNELS_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=8)
def _sources_digest(stats: tuple[tuple[str, int, int], ...]) -> bytes:
    digest = hashlib.sha256()
    for name, _, _ in stats:
        digest.update(name.encode())
        digest.update((_KERNELS_DIR / name).read_bytes())
    return digest.digest()


def kernels_source_digest() -> bytes:
    """sha256 of every module of ``greekfire.kernels`` (re-read when one changes)."""
    stats = tuple(
        (p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(_KERNELS_DIR.glob("*.py"))
    )
    return _sources_digest(stats)


class _KernelsLocator(caching._CacheLocator):
    """numba's usual cache location, with the whole kernels package as the source stamp."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def ensure_cache_path(self) -> None:
        self._inner.ensure_cache_path()

    def get_cache_path(self) -> str:
        return str(self._inner.get_cache_path())

    def get_source_stamp(self) -> Any:
        return (self._inner.get_source_stamp(), kernels_source_digest())

    def get_disambiguator(self) -> str:
        return str(self._inner.get_disambiguator())

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> _KernelsLocator | None:
        if Path(py_file).resolve().parent != _KERNELS_DIR:
            return None
        bases: tuple[Any, ...] = (
            caching.UserProvidedCacheLocator,
            caching.InTreeCacheLocator,
            caching.UserWideCacheLocator,
        )
        for base in bases:
            inner = base.from_function(py_func, py_file)
            if inner is not None:
                return cls(inner)
        return None


_LOCATORS: list[Any] = caching.CacheImpl._locator_classes
if _KernelsLocator not in _LOCATORS:
    _LOCATORS.insert(0, _KernelsLocator)

# Below this many elements a parallel kernel runs on the calling thread alone: waking the pool
# costs tens of microseconds when the cores are idle and milliseconds when another process holds
# them, more than the work itself (16,384 options price in about 0.25 ms on one core).
PARALLEL_MIN_SIZE = 16_384


@contextmanager
def threads_for(n: int) -> Iterator[None]:
    """Limit numba's threads to 1 for a batch of ``n`` < ``PARALLEL_MIN_SIZE`` elements.

    numba's thread count is per calling thread, so this never affects other threads.
    """
    if n >= PARALLEL_MIN_SIZE:
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def njit(
    *, parallel: bool = False, inline: Literal["never", "always"] = "never"
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Compile with numba in nopython mode, cached on disk, IEEE semantics (no fastmath).

    ``error_model="numpy"`` makes division by zero produce inf/NaN instead of raising, which
    is what vector kernels that report per-element status need.
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        compiled: Any = numba.njit(
            cache=True, parallel=parallel, error_model="numpy", inline=inline, nogil=True
        )(fn)
        return compiled  # type: ignore[no-any-return]

    return decorate


@intrinsic
def _i64_as_f64(typingctx: Any, x: Any) -> Any:
    """Reinterpret the bits of an int64 as a float64 (no conversion); vectorises."""
    if x != types.int64:
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _f64_as_i64(typingctx: Any, x: Any) -> Any:
    """Reinterpret the bits of a float64 as an int64 (no conversion); vectorises."""
    if x != types.float64:
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _fma(typingctx: Any, a: Any, b: Any, c: Any) -> Any:
    """a * b + c with one rounding (llvm.fma); one instruction on FMA hardware, vectorises.

    Used where the fused result is wanted explicitly (polynomial steps); the kernels are not
    compiled with fastmath, so LLVM never fuses an expression on its own.
    """
    if not (a == types.float64 and b == types.float64 and c == types.float64):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        dbl = ir.DoubleType()
        fnty = ir.FunctionType(dbl, [dbl, dbl, dbl])
        fn = builder.module.declare_intrinsic("llvm.fma", [dbl], fnty)
        return builder.call(fn, args)

    return types.float64(types.float64, types.float64, types.float64), codegen


# Typed views of the intrinsics for callers (the same objects, which numba resolves).
i64_as_f64 = cast(Callable[[int], float], _i64_as_f64)
f64_as_i64 = cast(Callable[[float], int], _f64_as_i64)
fma_ = cast(Callable[[float, float, float], float], _fma)
