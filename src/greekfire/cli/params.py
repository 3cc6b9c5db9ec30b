"""Parsing and checking of command-line values: pure Python, no numpy, cheap to import.

Parsers raise ``ValueError`` with a message that states what was expected and what was received;
the command layer turns it into a ``typer.BadParameter`` that names the option.
"""

from __future__ import annotations

import math
from enum import StrEnum

from greekfire.domain.enums import OptionRight

__all__ = [
    "MAX_GRID_POINTS",
    "Model",
    "OutputFormat",
    "parse_expiries",
    "parse_right",
    "parse_strikes",
]

MAX_GRID_POINTS = 10_000
"""Upper bound on strikes (and on expiries) in one chain: a typo such as ``80:120:0.0001``
should fail fast instead of allocating millions of rows."""

# Grid points closer than this to ``stop`` count as ``stop`` (absorbs 0.1 + 0.2 style error).
_GRID_TOLERANCE = 1e-9


class Model(StrEnum):
    """Pricing model for ``greekfire price``."""

    BSM = "bsm"
    BLACK76 = "black76"
    AMERICAN_BAW = "american-baw"
    AMERICAN_CRR = "american-crr"


class OutputFormat(StrEnum):
    """How a command writes its result."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def _parse_number(token: str, what: str) -> float:
    text = token.strip()
    if not text:
        raise ValueError(f"empty {what}")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} {text!r} is not finite")
    return value


def _strike_range(spec: str) -> list[float]:
    parts = spec.split(":")
    if len(parts) != 3:
        raise ValueError(f"expected start:stop:step such as 80:120:5, got {spec!r}")
    start, stop, step = (_parse_number(p, "strike bound") for p in parts)
    if step <= 0:
        raise ValueError(f"step must be > 0, got {step:g} in {spec!r}")
    if stop < start:
        raise ValueError(f"stop {stop:g} is below start {start:g} in {spec!r}")
    count = math.floor((stop - start) / step + _GRID_TOLERANCE) + 1
    if count > MAX_GRID_POINTS:
        raise ValueError(f"{spec!r} gives {count} strikes, more than {MAX_GRID_POINTS}")
    # Rounding keeps 80 + 3 * 0.1 printing as 80.3, not 80.30000000000001.
    return [round(start + i * step, 10) for i in range(count)]


def parse_strikes(spec: str) -> list[float]:
    """Parse a strike specification into sorted, distinct, positive strikes.

    Parameters
    ----------
    spec : str
        Either an inclusive range ``start:stop:step`` (``80:120:5`` gives 80, 85, ..., 120) or a
        comma list (``90,100,110``).

    Returns
    -------
    list of float
        Strikes in ascending order, duplicates removed.

    Raises
    ------
    ValueError
        If the spec does not parse, a strike is not positive, or it gives more than
        ``MAX_GRID_POINTS`` strikes.
    """
    text = spec.strip()
    if ":" in text:
        strikes = _strike_range(text)
    else:
        try:
            strikes = [_parse_number(token, "strike") for token in text.split(",")]
        except ValueError as exc:
            raise ValueError(
                f"{exc}; expected start:stop:step (80:120:5) or a list (90,100)"
            ) from None
    bad = [k for k in strikes if k <= 0]
    if bad:
        raise ValueError(f"strikes must be > 0, got {bad[0]:g} in {spec!r}")
    if len(strikes) > MAX_GRID_POINTS:
        raise ValueError(f"{len(strikes)} strikes, more than {MAX_GRID_POINTS}")
    return sorted(set(strikes))


def parse_expiries(spec: str) -> list[int]:
    """Parse a comma list of days to expiry (``7,30,90``) into sorted, distinct positive ints.

    Parameters
    ----------
    spec : str
        Comma-separated whole numbers of calendar days, each at least 1.

    Returns
    -------
    list of int
        Days to expiry in ascending order, duplicates removed.

    Raises
    ------
    ValueError
        If an item is not a whole number of days or is below 1.
    """
    days: list[int] = []
    for token in spec.split(","):
        text = token.strip()
        if not text:
            raise ValueError(f"empty item in {spec!r}; expected days such as 7,30,90")
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number of days in {spec!r}") from None
        if value < 1:
            raise ValueError(f"days to expiry must be >= 1, got {value} in {spec!r}")
        days.append(value)
    if len(days) > MAX_GRID_POINTS:
        raise ValueError(f"{len(days)} expiries, more than {MAX_GRID_POINTS}")
    return sorted(set(days))


def parse_right(value: str) -> OptionRight:
    """Parse ``call``/``put``/``c``/``p`` (any case) into an ``OptionRight``.

    Raises
    ------
    ValueError
        If the text names no option right.
    """
    try:
        return OptionRight.parse(value)
    except ValueError:
        raise ValueError(f"expected 'call' or 'put' (or 'c', 'p'), got {value!r}") from None
