"""Enumerations shared across the domain. Values match the int8 codes used inside kernels."""

from __future__ import annotations

from enum import IntEnum


class OptionRight(IntEnum):
    """Option right; the value is the int8 code kernels use (+1 call, -1 put)."""

    CALL = 1
    PUT = -1

    @classmethod
    def parse(cls, value: object) -> OptionRight:
        """Accept ``"call"``/``"put"``/``"c"``/``"p"`` (any case), ``+1``/``-1`` or a member."""
        if isinstance(value, OptionRight):
            return value
        if isinstance(value, str):
            key = value.strip().lower()
            if key in ("call", "c"):
                return cls.CALL
            if key in ("put", "p"):
                return cls.PUT
        elif isinstance(value, int) and not isinstance(value, bool) and value in (1, -1):
            return cls(value)
        raise ValueError(
            f"right: expected 'call', 'put', 'c', 'p', +1 or -1, got {value!r}"
            " (did you mean 'call' or 'put'?)"
        )


class IVStatus(IntEnum):
    """Why an implied volatility is (or is not) available for an input."""

    OK = 0
    BELOW_INTRINSIC = 1
    ABOVE_MAX_PRICE = 2
    NO_CONVERGENCE = 3
    INVALID_INPUT = 4
