"""Typed numba decorators and bit-level intrinsics shared by every kernel.

``njit`` keeps the decorated function's signature for mypy and always compiles lazily (first
call) with an on-disk cache, so importing a kernel module never compiles anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, ParamSpec, TypeVar, cast

import numba
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

P = ParamSpec("P")
R = TypeVar("R")

__all__ = ["f64_as_i64", "i64_as_f64", "njit", "prange"]

prange = numba.prange


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


# Typed views of the intrinsics for callers (the same objects, which numba resolves).
i64_as_f64 = cast(Callable[[int], float], _i64_as_f64)
f64_as_i64 = cast(Callable[[float], int], _f64_as_i64)
