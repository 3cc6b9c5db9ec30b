"""Turning user inputs (scalars, arrays, pandas Series) into the kernels' 1-D float64 arrays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from greekfire.domain.enums import OptionRight

F64Array = npt.NDArray[np.float64]
I8Array = npt.NDArray[np.int8]

_RIGHT_WORDS = {"call": 1, "c": 1, "put": -1, "p": -1}


@dataclass(frozen=True, slots=True)
class Prepared:
    """Flattened, broadcast inputs plus what is needed to shape the outputs back."""

    arrays: dict[str, F64Array]
    right: I8Array
    shape: tuple[int, ...]
    index: Any  # the pandas index of the first Series input, or None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def shaped(self, values: npt.NDArray[Any]) -> Any:
        """A scalar for scalar inputs, else an array of the broadcast shape."""
        if self.shape == ():
            return values.reshape(()).item()
        return values.reshape(self.shape)


def _as_float(name: str, value: Any) -> tuple[npt.NDArray[Any], Any]:
    index = getattr(value, "index", None) if hasattr(value, "to_numpy") else None
    raw = value.to_numpy() if hasattr(value, "to_numpy") else value
    try:
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: expected a number or an array of numbers, got {value!r}") from exc
    return arr, index


def parse_rights(right: Any) -> npt.NDArray[np.int8]:
    """Option rights as int8 codes (+1 call, -1 put) from a scalar or an array-like."""
    if isinstance(right, str | int | OptionRight) and not isinstance(right, bool):
        return np.asarray(int(OptionRight.parse(right)), dtype=np.int8)
    raw = right.to_numpy() if hasattr(right, "to_numpy") else np.asarray(right)
    if raw.dtype.kind in "iu":
        bad = raw[(raw != 1) & (raw != -1)]
        if bad.size:
            raise ValueError(f"right: expected +1 (call) or -1 (put), got {bad.flat[0]!r}")
        return raw.astype(np.int8)
    if raw.dtype.kind in "UO":
        words = np.char.lower(np.char.strip(raw.astype(str)))
        codes = np.zeros(words.shape, dtype=np.int8)
        for word, code in _RIGHT_WORDS.items():
            codes[words == word] = code
        if (codes == 0).any():
            first = raw[codes == 0].flat[0]
            raise ValueError(
                f"right: expected 'call', 'put', 'c' or 'p', got {first!r} (did you mean 'call'?)"
            )
        return codes
    raise TypeError(f"right: expected 'call'/'put' or +1/-1, got an array of dtype {raw.dtype}")


def prepare(right: Any, **named: Any) -> Prepared:
    """Broadcast the named numeric inputs and ``right`` together; flatten to contiguous 1-D."""
    arrays: dict[str, npt.NDArray[Any]] = {}
    index = None
    for name, value in named.items():
        arr, idx = _as_float(name, value)
        arrays[name] = arr
        if index is None and idx is not None:
            index = idx
    codes = parse_rights(right)
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays.values()), codes.shape)
    except ValueError:
        described = ", ".join(f"{n}{a.shape}" for n, a in arrays.items())
        raise ValueError(
            f"inputs do not broadcast together: {described}, right{codes.shape}"
        ) from None
    flat = {
        name: np.ascontiguousarray(np.broadcast_to(a, shape), dtype=np.float64).reshape(-1)
        for name, a in arrays.items()
    }
    right_flat = np.ascontiguousarray(np.broadcast_to(codes, shape)).reshape(-1)
    return Prepared(flat, right_flat, tuple(shape), index)
