"""Performance statistics of strategies: a summary table and the common ratios on their own.

Every function takes one series (a 1-D numpy array, a list or a pandas Series) or several (a
DataFrame with one column per strategy or symbol, or a 2-D numpy array of shape
(periods, series)), in time order, as per-period simple returns (``kind="returns"``, the
default) or as equity levels or prices (``kind="equity"``, > 0). The kernels in
:mod:`greekfire.kernels.stats` do the arithmetic, one series per row, rows in parallel.

Conventions (see :mod:`greekfire.kernels.stats` for the formulas):

- ``periods_per_year`` annualises (252 daily bars, 52 weekly, 12 monthly).
- ``risk_free`` and ``target`` are annual decimals, turned into per-period rates
  geometrically: (1 + rate) ** (1 / periods_per_year) - 1.
- NaN marks a missing period and is skipped; +-inf is an error.
- Volatility, Sharpe, mean/variance Kelly and the Gaussian VaR use the sample standard
  deviation (ddof=1), as pandas and backtesting.py; the Sortino downside deviation is the root
  mean square of min(r - target, 0) over all periods (Sortino & Price).
- Drawdowns, VaR and CVaR are returns: negative numbers are losses.

Contract errors (an empty series, an unknown ``kind``, equity <= 0, ``periods_per_year`` <= 0,
a value that is not an array of numbers) raise ValueError or TypeError naming the argument and
the value it got.
"""

from __future__ import annotations

import difflib
import math
import sys
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from greekfire.kernels import stats, threads_for

__all__ = [
    "Drawdown",
    "kelly_fraction",
    "max_drawdown",
    "performance_summary",
    "sharpe_ratio",
    "sortino_ratio",
]

F64Array = npt.NDArray[np.float64]
Kind = Literal["returns", "equity"]
KellyKind = Literal["returns", "equity", "trades"]


@dataclass(frozen=True, slots=True)
class Drawdown:
    """The deepest drawdown of a series.

    Positions count periods from 0. For ``kind="equity"`` they index the input. For
    ``kind="returns"`` they index the wealth curve 1, (1 + r0), (1 + r0)(1 + r1), ..., one
    longer than the returns: position k is the wealth after the first k returns, 0 the start.

    Attributes
    ----------
    depth : float
        Largest fall from a running high, as a fraction <= 0 (-0.25 = -25 %); 0 if none.
    peak, trough : int
        Positions of the high before the deepest drawdown (the latest, if the high repeats)
        and of its lowest point (the first, if repeated); -1 without a drawdown.
    recovery : int
        First position after the trough back at or above the peak, -1 if never (or none).
    duration : int
        Periods from the peak to the recovery, or to the last observation if not recovered.
    longest_duration : int
        The longest spell under water of any drawdown, in periods (backtesting.py's "Max.
        Drawdown Duration").
    peak_at, trough_at, recovery_at : object
        Index labels of those positions for pandas input, else None (and None for -1). With
        ``kind="returns"`` position k >= 1 is labelled by the k-th return's label and the
        start by the first label.
    """

    depth: float
    peak: int
    trough: int
    recovery: int
    duration: int
    longest_duration: int
    peak_at: Any = None
    trough_at: Any = None
    recovery_at: Any = None


@dataclass(frozen=True, slots=True)
class _Table:
    # Inputs as the kernels want them: (series, periods), C-contiguous float64.
    data: F64Array
    index: Any  # pandas index of the periods, or None
    columns: Any  # names of the series (DataFrame columns, or a range), None for one series
    name: Any  # the Series name, for one pandas series

    @property
    def one(self) -> bool:
        return self.columns is None


def _pandas_type(value: object, name: str) -> bool:
    # pandas is imported by whoever built a pandas object, so never import it here to check.
    pd_module = sys.modules.get("pandas")
    return pd_module is not None and isinstance(value, getattr(pd_module, name))


def _describe(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _as_table(name: str, value: object, *, allow_bool: bool = False) -> _Table:
    pandas_obj: Any = value
    if _pandas_type(value, "DataFrame") or _pandas_type(value, "Series"):
        raw = _pandas_values(pandas_obj)
        index = pandas_obj.index
        one = pandas_obj.ndim == 1
        columns, label = (None, pandas_obj.name) if one else (pandas_obj.columns, None)
        if _pandas_type(index, "DatetimeIndex") and not index.is_monotonic_increasing:
            raise ValueError(
                f"{name}: expected periods in time order, got a DatetimeIndex that is not "
                "sorted (call .sort_index() first)"
            )
    elif isinstance(value, np.ndarray | list | tuple):
        raw, index, columns, label = np.asarray(value), None, None, None
    else:
        raise TypeError(
            f"{name}: expected a 1-D or 2-D array, a pandas Series or DataFrame, "
            f"got {_describe(value)}"
        )
    raw = _numeric(name, raw, allow_bool)
    if raw.ndim not in (1, 2):
        raise ValueError(
            f"{name}: expected one series (1-D) or periods x series (2-D), got shape {raw.shape}"
        )
    if raw.size == 0:
        raise ValueError(f"{name}: expected at least one value, got an empty array {raw.shape}")
    if raw.ndim == 2 and columns is None:
        columns = range(raw.shape[1])
    data = np.ascontiguousarray(np.atleast_2d(raw.T), dtype=np.float64)
    return _Table(data, index, columns, label)


def _pandas_values(obj: Any) -> npt.NDArray[Any]:
    # Nullable numeric dtypes (Float64, Int64) hold pd.NA: read them as float64 with NaN.
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    dtypes = [obj.dtype] if obj.ndim == 1 else list(obj.dtypes)
    if dtypes and all(is_numeric_dtype(d) and not is_bool_dtype(d) for d in dtypes):
        return np.asarray(obj.to_numpy(dtype=np.float64, na_value=np.nan))
    return np.asarray(obj.to_numpy())


def _numeric(name: str, raw: npt.NDArray[Any], allow_bool: bool) -> npt.NDArray[Any]:
    # Integers and floats as they are, booleans only where allowed, objects only if each one is
    # a number or None (so the text "0.1" is refused, not parsed).
    kinds = "iufb" if allow_bool else "iuf"
    if raw.dtype.kind in kinds:
        return raw
    numbers = (int, float, np.integer, np.floating) + ((np.bool_,) if allow_bool else ())
    if raw.dtype.kind == "O" and all(
        v is None or (isinstance(v, numbers) and (allow_bool or not isinstance(v, bool)))
        for v in raw.flat
    ):
        return np.asarray(raw, dtype=np.float64)
    first = f" (first value {raw.reshape(-1)[:1].tolist()[0]!r})" if raw.size else ""
    raise TypeError(f"{name}: expected numbers, got an array of dtype {raw.dtype}{first}")


def _where(table: _Table, flat: int) -> str:
    row, period = divmod(flat, table.data.shape[1])
    at = f"period {period}"
    if table.index is not None:
        at += f" ({table.index[period]!r})"
    return at if table.one else f"{at} of column {table.columns[row]!r}"


def _check_values(name: str, table: _Table, kind: str) -> None:
    bad = np.flatnonzero(np.isinf(table.data))
    if bad.size:
        value = table.data.flat[bad[0]]
        raise ValueError(
            f"{name}: expected finite values (NaN marks a missing period), got {value} at "
            f"{_where(table, int(bad[0]))}"
        )
    if kind == "equity":
        bad = np.flatnonzero(table.data <= 0.0)
        if bad.size:
            value = table.data.flat[bad[0]]
            raise ValueError(
                f"{name}: kind='equity' needs equity levels or prices > 0, got {value} at "
                f"{_where(table, int(bad[0]))} (did you mean kind='returns'?)"
            )


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    if isinstance(value, str) and value in allowed:
        return value
    options = " or ".join(repr(a) for a in allowed)
    close = difflib.get_close_matches(str(value), allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"{name}: expected {options}, got {value!r}{hint}")


def _real(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name}: expected a real number, got {_describe(value)}")
    number = float(value)
    if math.isnan(number):
        raise ValueError(f"{name}: expected a number, got nan")
    return number


def _periods_per_year(value: object) -> float:
    number = _real("periods_per_year", value)
    if not 0.0 < number < math.inf:
        raise ValueError(
            "periods_per_year: expected a number of periods > 0 (252 for daily bars), "
            f"got {value!r}"
        )
    return number


def _per_period(name: str, annual: object, periods_per_year: float) -> float:
    rate = _real(name, annual)
    if not -1.0 < rate < math.inf:
        raise ValueError(f"{name}: expected an annual rate > -1 (0.04 = 4 %), got {annual!r}")
    return float((1.0 + rate) ** (1.0 / periods_per_year) - 1.0)


def _fraction(name: str, value: object, example: str) -> float:
    number = _real(name, value)
    if not 0.0 < number < 1.0:
        raise ValueError(f"{name}: expected a number between 0 and 1 ({example}), got {value!r}")
    return number


def _cap(name: str, value: object) -> float:
    number = _real(name, value)
    if not number > 0.0:
        raise ValueError(
            f"{name}: expected a fraction > 0 (0.25 = 25 %, inf: no cap), got {value!r}"
        )
    return number


def _prepare(name: str, values: object, kind: object) -> tuple[_Table, str]:
    checked = _check_choice("kind", kind, ("returns", "equity"))
    table = _as_table(name, values)
    _check_values(name, table, checked)
    return table, checked


def _returns_of(table: _Table, kind: str) -> F64Array:
    if kind == "returns":
        return table.data
    with threads_for(table.data.size):
        return stats.simple_returns_2d(table.data)


def _per_series(table: _Table, values: F64Array) -> Any:
    # One value per series: a float, an array, or a Series named by the DataFrame's columns.
    if table.one:
        return float(values[0])
    if _pandas_type(table.columns, "Index"):
        import pandas as pd

        return pd.Series(values, index=table.columns)
    return values


def sharpe_ratio(
    returns: Any,
    *,
    kind: Kind = "returns",
    risk_free: float = 0.0,
    periods_per_year: float = 252,
) -> Any:
    """Annualised Sharpe ratio, mean(r - rf) / std(r - rf, ddof=1) * sqrt(periods_per_year).

    Parameters
    ----------
    returns : array-like, pandas Series or DataFrame
        Per-period simple returns (or equity levels with ``kind="equity"``); NaN periods are
        skipped. A DataFrame or 2-D array holds one series per column.
    kind : {"returns", "equity"}
        What ``returns`` holds.
    risk_free : float
        Annual risk-free rate as a decimal, compounded down to a per-period rate.
    periods_per_year : float
        Periods per year, > 0.

    Returns
    -------
    float, or a Series (DataFrame input) or array (2-D input) with one value per column.
    NaN with fewer than two returns; +-inf for constant returns away from the risk-free rate.

    Examples
    --------
    >>> round(sharpe_ratio([0.01, -0.005, 0.02, 0.0], periods_per_year=12), 4)
    1.9528
    """
    ppy = _periods_per_year(periods_per_year)
    rf = _per_period("risk_free", risk_free, ppy)
    table, checked = _prepare("returns", returns, kind)
    r = _returns_of(table, checked)
    with threads_for(r.size):
        return _per_series(table, stats.sharpe_2d(r, rf, ppy))


def sortino_ratio(
    returns: Any,
    *,
    kind: Kind = "returns",
    target: float = 0.0,
    periods_per_year: float = 252,
) -> Any:
    """Annualised Sortino ratio, mean(r - t) / DD * sqrt(periods_per_year).

    DD = sqrt(mean(min(r - t, 0)^2)) over all non-NaN periods (Sortino & Price 1994, the same
    as backtesting.py for t = 0), where t is the per-period equivalent of the annual
    ``target`` (minimum acceptable return, default 0). Arguments and return as
    :func:`sharpe_ratio`; +inf when no period falls below the target.
    """
    ppy = _periods_per_year(periods_per_year)
    t = _per_period("target", target, ppy)
    table, checked = _prepare("returns", returns, kind)
    r = _returns_of(table, checked)
    with threads_for(r.size):
        return _per_series(table, stats.sortino_2d(r, t, ppy))


def _label(table: _Table, position: int, kind: str) -> Any:
    if table.index is None or position < 0:
        return None
    return table.index[max(position - 1, 0)] if kind == "returns" else table.index[position]


def max_drawdown(values: Any, *, kind: Kind = "returns") -> Drawdown:
    """The deepest drawdown of one series, with where it starts, bottoms and recovers.

    Parameters
    ----------
    values : 1-D array-like or pandas Series
        Per-period simple returns (compounded from a wealth of 1) or, with ``kind="equity"``,
        equity levels or prices > 0. NaN periods are skipped.
    kind : {"returns", "equity"}
        What ``values`` holds.

    Returns
    -------
    Drawdown
        Depth (<= 0), positions of the peak, trough and recovery (-1 if not recovered), the
        duration in periods, the longest spell under water, and index labels for a Series.

    Examples
    --------
    >>> dd = max_drawdown([100.0, 110.0, 99.0, 88.0, 121.0, 120.0], kind="equity")
    >>> round(dd.depth, 6), dd.peak, dd.trough, dd.recovery, dd.duration
    (-0.2, 1, 3, 4, 3)
    """
    table, checked = _prepare("values", values, kind)
    if not table.one:
        raise ValueError(
            f"values: expected one series, got {table.data.shape[0]} columns "
            "(call max_drawdown per column, or performance_summary for all)"
        )
    depth, peak, trough, recovery, duration, longest, _ = stats.max_drawdown(
        table.data[0], checked == "returns"
    )
    return Drawdown(
        depth=float(depth),
        peak=int(peak),
        trough=int(trough),
        recovery=int(recovery),
        duration=int(duration),
        longest_duration=int(longest),
        peak_at=_label(table, peak, checked),
        trough_at=_label(table, trough, checked),
        recovery_at=_label(table, recovery, checked),
    )


def _kelly_from_odds(win_rate: object, payoff_ratio: object, cap: float) -> float:
    p = _real("win_rate", win_rate)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"win_rate: expected a probability in [0, 1], got {win_rate!r}")
    b = _real("payoff_ratio", payoff_ratio)
    if not b > 0.0:
        raise ValueError(
            f"payoff_ratio: expected mean win / mean loss > 0 (1.5 = wins 1.5x the losses), "
            f"got {payoff_ratio!r}"
        )
    return float(stats.kelly_payoff(p, b, cap))


def kelly_fraction(
    values: Any = None,
    *,
    kind: KellyKind = "returns",
    cap: float = 0.25,
    win_rate: float | None = None,
    payoff_ratio: float | None = None,
    risk_free: float = 0.0,
    periods_per_year: float = 252,
) -> Any:
    """Kelly fraction of capital to put at risk, at most ``cap`` (25 % by default).

    Three ways in:

    - ``kind="returns"`` (or ``"equity"``): the mean/variance form mean(r - rf) / var(r,
      ddof=1) of per-period returns, the leverage that maximises expected log growth;
      ``risk_free`` is annual, compounded down to one period of ``periods_per_year``.
    - ``kind="trades"``: ``values`` are trade results (P&L or returns per trade) and the
      fraction is p - (1 - p) / b with p the share of winning trades and b = mean win / mean
      |loss| (as backtesting.py's "Kelly Criterion").
    - ``win_rate=p, payoff_ratio=b`` without ``values``: p - (1 - p) / b directly.

    Returns
    -------
    float (or one value per column for 2-D input). A negative value means a negative edge
    (stake nothing) and is not capped; NaN without enough data.

    Examples
    --------
    >>> round(kelly_fraction(win_rate=0.4, payoff_ratio=3.0), 12)
    0.2
    >>> kelly_fraction([100.0, -50.0, 200.0, -50.0, 0.0], kind="trades", cap=0.1)
    0.1
    """
    limit = _cap("cap", cap)
    if values is None:
        if win_rate is None or payoff_ratio is None:
            raise ValueError(
                "values: expected a series of returns or trades, or both win_rate and "
                f"payoff_ratio; got values=None, win_rate={win_rate!r}, "
                f"payoff_ratio={payoff_ratio!r}"
            )
        return _kelly_from_odds(win_rate, payoff_ratio, limit)
    if win_rate is not None or payoff_ratio is not None:
        raise ValueError(
            "values: pass either a series or win_rate and payoff_ratio, not both "
            f"(got win_rate={win_rate!r}, payoff_ratio={payoff_ratio!r})"
        )
    checked = _check_choice("kind", kind, ("returns", "equity", "trades"))
    ppy = _periods_per_year(periods_per_year)
    rf = _per_period("risk_free", risk_free, ppy)
    table, series_kind = _prepare("values", values, "returns" if checked == "trades" else checked)
    r = _returns_of(table, series_kind)
    with threads_for(r.size):
        if checked == "trades":
            return _per_series(table, stats.kelly_trades_2d(r, limit))
        return _per_series(table, stats.kelly_returns_2d(r, rf, limit))


def _durations(table: _Table, kind: str, ints: npt.NDArray[np.int64]) -> list[Any]:
    # "Max. Drawdown Duration" per series: periods, or a Timedelta between the labels of the
    # spell's ends when the index holds dates (looked up for all series at once).
    longest = ints[:, stats.DRAWDOWN_FIELDS.index("longest")]
    start = ints[:, stats.DRAWDOWN_FIELDS.index("longest_start")]
    if not _pandas_type(table.index, "DatetimeIndex"):
        return [int(v) for v in longest]
    # Wealth position k is labelled by return k - 1 (the start by the first label). Without
    # a drawdown start is -1 and longest 0, so both ends fall on the first label: 0 days.
    shift = 1 if kind == "returns" else 0
    first = np.maximum(start - shift, 0)
    last = np.maximum(start + longest - shift, 0)
    return list(table.index.take(last) - table.index.take(first))


def _percent(confidence: float) -> str:
    return f"{confidence * 100:g} %"


def _column(
    head: dict[str, Any],
    floats: F64Array,
    duration: Any,
    exposure: float | None,
    confidence: float,
) -> dict[str, Any]:
    # One series' rows of the summary, in display order.
    f = dict(zip(stats.SUMMARY_FIELDS, (float(v) for v in floats), strict=True))
    rows: dict[str, Any] = {**head, "Periods": int(f["periods"])}
    if exposure is not None:
        rows["Exposure Time [%]"] = exposure * 100.0
    c = _percent(confidence)
    rows |= {
        "Return [%]": f["total_return"] * 100.0,
        "CAGR [%]": f["cagr"] * 100.0,
        "Volatility (Ann.) [%]": f["vol_annual"] * 100.0,
        "Sharpe Ratio": f["sharpe"],
        "Sortino Ratio": f["sortino"],
        "Calmar Ratio": f["calmar"],
        "Max. Drawdown [%]": f["max_drawdown"] * 100.0,
        "Max. Drawdown Duration": duration,
        "Win Rate [%]": f["win_rate"] * 100.0,
        "Profit Factor": f["profit_factor"],
        "Expectancy [%]": f["expectancy"] * 100.0,
        "Kelly Fraction": f["kelly"],
        f"VaR {c} [%]": f["var"] * 100.0,
        f"CVaR {c} [%]": f["cvar"] * 100.0,
        f"Gaussian VaR {c} [%]": f["var_gaussian"] * 100.0,
        f"Gaussian CVaR {c} [%]": f["cvar_gaussian"] * 100.0,
    }
    return rows


def _head(table: _Table) -> dict[str, Any]:
    # Start, End, Duration: the same for every series, and only with dates.
    if not _pandas_type(table.index, "DatetimeIndex"):
        return {}
    start, end = table.index[0], table.index[-1]
    return {"Start": start, "End": end, "Duration": end - start}


def _exposures(positions: Any, table: _Table) -> F64Array | None:
    if positions is None:
        return None
    held = _as_table("positions", positions, allow_bool=True)
    if held.data.shape != table.data.shape:
        raise ValueError(
            f"positions: expected one position per period and series, shape "
            f"{table.data.shape[::-1] if not table.one else table.data.shape[1:]}, "
            f"got {held.data.shape[::-1] if not held.one else held.data.shape[1:]}"
        )
    with threads_for(held.data.size):
        return stats.exposure_2d(held.data)


def performance_summary(
    returns_or_equity: Any,
    *,
    kind: Kind = "returns",
    periods_per_year: float = 252,
    risk_free: float = 0.0,
    confidence: float = 0.95,
    kelly_cap: float = 0.25,
    positions: Any = None,
) -> Any:
    """Performance statistics of one or more strategies, one row per statistic.

    Parameters
    ----------
    returns_or_equity : array-like, pandas Series or DataFrame
        Per-period simple returns, or equity levels / prices > 0 with ``kind="equity"``, in time
        order; NaN periods are skipped. A DataFrame (or a 2-D array, periods x series) holds one
        strategy or symbol per column.
    kind : {"returns", "equity"}
        What ``returns_or_equity`` holds. Equity is turned into simple returns; its drawdowns
        are measured on the levels themselves.
    periods_per_year : float
        Periods per year for annualising (252 daily bars, 52 weekly, 12 monthly), > 0.
    risk_free : float
        Annual risk-free rate (0.04 = 4 %), compounded down to one period. The Sharpe ratio and
        the Kelly fraction subtract it; the Sortino ratio uses it as its target.
    confidence : float
        Confidence level of the VaR and CVaR rows, in (0, 1).
    kelly_cap : float
        Upper bound of the Kelly fraction, > 0 (``math.inf``: uncapped).
    positions : array-like, Series or DataFrame, optional
        Position per period (any sign; 0 = flat), shaped like ``returns_or_equity``; adds
        "Exposure Time [%]", the share of periods with a position.

    Returns
    -------
    pandas.Series (one series in) or pandas.DataFrame (one column per series), dtype object:

    ======================== ====================================================================
    Start, End, Duration     first and last label and their distance (DatetimeIndex only)
    Periods                  number of non-NaN returns
    Return [%]               compounded return over all periods
    CAGR [%]                 compound annual growth rate over Periods / periods_per_year years
    Volatility (Ann.) [%]    sample standard deviation * sqrt(periods_per_year)
    Sharpe Ratio             annualised, excess over risk_free, sample std
    Sortino Ratio            annualised, downside deviation below risk_free over all periods
    Calmar Ratio             CAGR / abs(Max. Drawdown)
    Max. Drawdown [%]        deepest fall from a running high (<= 0)
    Max. Drawdown Duration   longest spell under water: periods, or a Timedelta with dates
    Win Rate [%]             share of periods with a positive return
    Profit Factor            sum of positive returns / abs(sum of negative returns)
    Expectancy [%]           mean return per period
    Kelly Fraction           mean/variance Kelly fraction, at most kelly_cap
    VaR / CVaR c % [%]       historical (1 - c) quantile of the returns / mean at or below it
    Gaussian VaR / CVaR      the same for a normal fit (sample mean and std)
    ======================== ====================================================================

    Raises
    ------
    TypeError
        Input that is not numbers, non-numeric parameters.
    ValueError
        An empty or 3-D input, +-inf, equity <= 0, an unknown kind, periods_per_year <= 0,
        confidence outside (0, 1), kelly_cap <= 0, positions of another shape.

    Examples
    --------
    >>> s = performance_summary([0.01, -0.02, 0.015, 0.005], periods_per_year=252)
    >>> round(s["Return [%]"], 3), round(s["Max. Drawdown [%]"], 3)
    (0.967, -2.0)
    """
    ppy = _periods_per_year(periods_per_year)
    rf = _per_period("risk_free", risk_free, ppy)
    level = _fraction("confidence", confidence, "0.95 for 95 %")
    cap = _cap("kelly_cap", kelly_cap)
    table, checked = _prepare("returns_or_equity", returns_or_equity, kind)
    exposures = _exposures(positions, table)
    with threads_for(table.data.size):
        floats, ints = stats.summary_2d(table.data, checked == "equity", rf, ppy, level, cap)
    head = _head(table)
    durations = _durations(table, checked, ints)
    columns = [
        _column(
            head,
            floats[i],
            durations[i],
            None if exposures is None else float(exposures[i]),
            level,
        )
        for i in range(table.data.shape[0])
    ]
    import pandas as pd

    if table.one:
        return pd.Series(columns[0], dtype=object, name=table.name)
    names = list(columns[0])
    cells = [[column[row] for column in columns] for row in names]
    return pd.DataFrame(cells, index=names, columns=table.columns, dtype=object)
