"""Synthetic option chains: every strike x expiry, a call and a put each, priced with Greeks.

A synthetic chain is a grid of European options on one underlying, priced with
Black-Scholes-Merton at one flat volatility. It is what ``greekfire chain`` prints and a quick
way to get realistic-looking numbers for tests and demos.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from greekfire.analytics.options import DAYS_PER_YEAR, GREEK_NAMES, greeks
from greekfire.domain.enums import OptionRight

__all__ = ["CHAIN_COLUMNS", "DAYS_PER_YEAR", "build_chain"]

CHAIN_COLUMNS: Final = (
    "expiry_days",
    "t_years",
    "strike",
    "right",
    *GREEK_NAMES,
    "vega_per_point",
    "theta_per_day",
    "rho_per_pct",
    "iv",
    "spot",
    "rate",
    "dividend_yield",
)
"""Columns of :func:`build_chain`, in order."""

_RIGHTS: Final = (OptionRight.CALL, OptionRight.PUT)
_RIGHT_LABELS: Final = [r.name.lower() for r in _RIGHTS]


def _check_scalar(name: str, value: float, *, positive: bool) -> float:
    number = float(value)
    if not math.isfinite(number) or (positive and number <= 0.0):
        wanted = "a finite number > 0" if positive else "a finite number"
        raise ValueError(f"{name}: expected {wanted}, got {value!r}")
    return number


def _check_grid(name: str, values: Sequence[float] | NDArray[np.float64]) -> NDArray[np.float64]:
    grid = np.asarray(values, dtype=np.float64)
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError(f"{name}: expected a non-empty 1-D sequence, got shape {grid.shape}")
    bad = ~(np.isfinite(grid) & (grid > 0.0))
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name}: expected finite numbers > 0, got {grid[position]!r} at position {position}"
        )
    return np.unique(grid)


def _check_days(values: Sequence[int] | NDArray[np.int64]) -> NDArray[np.int64]:
    raw = np.asarray(values)
    if raw.dtype.kind not in "iu":
        raise ValueError(
            f"expiry_days: expected whole numbers of days, got dtype {raw.dtype}"
            " (did you mean to pass ints such as [7, 30, 90]?)"
        )
    days = _check_grid("expiry_days", raw.astype(np.float64))
    return days.astype(np.int64)


def build_chain(
    spot: float,
    strikes: Sequence[float] | NDArray[np.float64],
    expiry_days: Sequence[int] | NDArray[np.int64],
    vol: float,
    rate: float = 0.0,
    dividend_yield: float = 0.0,
) -> pd.DataFrame:
    """Price a synthetic chain: every strike x expiry, a call and a put, with all Greeks.

    Parameters
    ----------
    spot : float
        Underlying spot price, > 0.
    strikes : sequence of float
        Strikes, each > 0; sorted and de-duplicated.
    expiry_days : sequence of int
        Calendar days to expiry, each >= 1; sorted and de-duplicated. ``t_years`` is
        ``expiry_days / DAYS_PER_YEAR`` (ACT/365).
    vol : float
        Annualised volatility as a decimal (0.25 is 25 %), > 0; flat across the grid.
    rate : float, default 0.0
        Continuously compounded risk-free rate, decimal per year.
    dividend_yield : float, default 0.0
        Continuous dividend yield, decimal per year.

    Returns
    -------
    pandas.DataFrame
        One row per (expiry, strike, right), ordered by expiry, then strike, call before put;
        ``len(strikes) * len(expiry_days) * 2`` rows, columns :data:`CHAIN_COLUMNS`.
        ``right`` is a categorical of ``"call"``/``"put"``. Greeks use the library units:
        ``vega`` per 1.00 of vol, ``theta`` per year, ``rho`` per 1.00 of rate, ``charm`` per
        year; ``vega_per_point`` (per 0.01 vol), ``theta_per_day`` (per calendar day) and
        ``rho_per_pct`` (per 0.01 rate) restate them. ``iv`` is the flat ``vol`` used.

    Raises
    ------
    ValueError
        If a scalar is not finite, ``spot`` or ``vol`` is not > 0, a strike is not > 0 or an
        expiry is not a whole number of days >= 1.

    Examples
    --------
    >>> chain = build_chain(100.0, [90, 100, 110], [30, 90], vol=0.2, rate=0.03)
    >>> len(chain)
    12
    """
    spot = _check_scalar("spot", spot, positive=True)
    vol = _check_scalar("vol", vol, positive=True)
    rate = _check_scalar("rate", rate, positive=False)
    dividend_yield = _check_scalar("dividend_yield", dividend_yield, positive=False)
    strike_axis = _check_grid("strikes", strikes)
    day_axis = _check_days(expiry_days)

    day_grid, strike_grid = (a.ravel() for a in np.meshgrid(day_axis, strike_axis, indexing="ij"))
    t_grid = day_grid / DAYS_PER_YEAR
    by_right = [
        greeks(spot, strike_grid, t_grid, vol, rate, dividend_yield, right=right)
        for right in _RIGHTS
    ]
    n_rows = 2 * day_grid.size
    # Interleave so each (expiry, strike) pair reads call then put.
    columns: dict[str, object] = {
        "expiry_days": np.repeat(day_grid, 2),
        "t_years": np.repeat(t_grid, 2),
        "strike": np.repeat(strike_grid, 2),
        "right": pd.Categorical(np.tile(_RIGHT_LABELS, day_grid.size), categories=_RIGHT_LABELS),
    }
    for name in GREEK_NAMES:
        pair = [np.asarray(values[name], dtype=np.float64) for values in by_right]
        columns[name] = np.column_stack(pair).ravel()
    frame = pd.DataFrame(columns)
    frame["vega_per_point"] = frame["vega"] / 100.0
    frame["theta_per_day"] = frame["theta"] / DAYS_PER_YEAR
    frame["rho_per_pct"] = frame["rho"] / 100.0
    frame["iv"] = np.full(n_rows, vol)
    frame["spot"] = np.full(n_rows, spot)
    frame["rate"] = np.full(n_rows, rate)
    frame["dividend_yield"] = np.full(n_rows, dividend_yield)
    return frame.loc[:, list(CHAIN_COLUMNS)]
