"""Baselines of the indicator and statistics cases (e)-(h).

- ``talib``: the TA-Lib Python package (C library), one call per indicator and symbol, in a
  loop over symbols; outputs copied into (symbols, bars) arrays.
- ``pandas``: the six indicators written the idiomatic way with ``rolling`` and ``ewm`` on a
  Series (one symbol) or a wide DataFrame (bars x symbols, one column per symbol). EMAs are
  ``ewm(span=n, adjust=False)``, Wilder's smoothing (RSI, ATR) ``ewm(alpha=1/n,
  adjust=False)``, both seeded with the first value instead of TA-Lib's simple mean of the
  first n, so early values differ from TA-Lib's and the difference decays geometrically;
  ``min_periods`` puts the first value on the same bar as TA-Lib's.
- ``pandas_ta_classic``: the pandas-ta-classic package with ``talib=False`` (its own pandas
  code), a loop over symbols.
- Statistics: Sharpe, Sortino and maximum drawdown written column-wise on a wide DataFrame
  (``pandas``) and along rows of the (symbols, days) array (``numpy``), with greekfire's
  conventions (sample standard deviation, downside deviation over all periods, drawdown of
  the wealth starting at 1).

Every peer is imported inside ``prepare_*``; a missing one raises ``Unavailable``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray

from greekfire.bench.contenders import Prepared, Results, Unavailable, allocating, require
from greekfire.bench.series import INDICATOR_OUTPUTS, OHLCWorkload, ReturnsWorkload, StreamWorkload

__all__ = [
    "numpy_stats",
    "pandas_indicators",
    "prepare_numpy_stats",
    "prepare_pandas",
    "prepare_pandas_stats",
    "prepare_pandas_ta_classic",
    "prepare_talib",
    "prepare_talib_recompute",
    "talib_indicators",
]

F64 = NDArray[np.float64]
PERIODS_PER_YEAR = 252.0


# --- TA-Lib ---------------------------------------------------------------------------------


def talib_indicators(talib: Any, w: OHLCWorkload) -> dict[str, F64]:
    """The six indicators of every symbol of ``w`` with TA-Lib, a loop over symbols.

    Parameters
    ----------
    talib : module
        The ``talib`` package.
    w : OHLCWorkload

    Returns
    -------
    dict of str to ndarray (rows, bars)
        Keys ``INDICATOR_OUTPUTS``.
    """
    out = {name: np.empty((w.rows, w.bars)) for name in INDICATOR_OUTPUTS}
    for i in range(w.rows):
        h, lo, c = w.high[i], w.low[i], w.close[i]
        out["sma_20"][i] = talib.SMA(c, 20)
        out["ema_12"][i] = talib.EMA(c, 12)
        out["rsi_14"][i] = talib.RSI(c, 14)
        line, signal, hist = talib.MACD(c, 12, 26, 9)
        out["macd"][i], out["macd_signal"][i], out["macd_histogram"][i] = line, signal, hist
        upper, middle, lower = talib.BBANDS(c, 20, 2.0, 2.0, 0)
        out["bb_upper"][i], out["bb_middle"][i], out["bb_lower"][i] = upper, middle, lower
        out["atr_14"][i] = talib.ATR(h, lo, c, 14)
    return out


def _talib() -> Any:
    return require("talib", "TA-Lib")


def prepare_talib(w: OHLCWorkload) -> Prepared:
    """Prepare TA-Lib: SMA, EMA, RSI, MACD, BBANDS (SMA middle), ATR per symbol.

    Parameters
    ----------
    w : OHLCWorkload
    """
    talib = _talib()
    return allocating(lambda: talib_indicators(talib, w))


def prepare_talib_recompute(w: StreamWorkload) -> Prepared:
    """Prepare TA-Lib over the history plus the new bar: recomputing every bar.

    Parameters
    ----------
    w : StreamWorkload
    """
    talib = _talib()
    full = w.recompute_input()
    return allocating(lambda: talib_indicators(talib, full))


# --- pandas ---------------------------------------------------------------------------------


def _sma(close: Any, n: int) -> Any:
    return close.rolling(n).mean()


def _ema(close: Any, n: int) -> Any:
    return close.ewm(span=n, adjust=False, min_periods=n).mean()


def _rsi(close: Any, n: int) -> Any:
    diff = close.diff()
    gain = diff.clip(lower=0.0).ewm(alpha=1.0 / n, adjust=False, min_periods=n).mean()
    loss = (-diff).clip(lower=0.0).ewm(alpha=1.0 / n, adjust=False, min_periods=n).mean()
    return 100.0 * gain / (gain + loss)


def _macd(close: Any, fast: int, slow: int, signal: int) -> tuple[Any, Any, Any]:
    line = _ema(close, fast) - _ema(close, slow)
    sig = line.ewm(span=signal, adjust=False, min_periods=signal).mean()
    return line.where(sig.notna()), sig, line - sig


def _bbands(close: Any, n: int, k: float) -> tuple[Any, Any, Any]:
    window = close.rolling(n)
    middle = window.mean()
    sd = window.std(ddof=0)
    return middle + k * sd, middle, middle - k * sd


def _atr(high: Any, low: Any, close: Any, n: int) -> Any:
    prev = close.shift(1)
    true_range = np.maximum(high - low, np.maximum((high - prev).abs(), (low - prev).abs()))
    return true_range.ewm(alpha=1.0 / n, adjust=False, min_periods=n).mean()


def pandas_indicators(high: Any, low: Any, close: Any) -> dict[str, Any]:
    """The six indicators with pandas ``rolling``/``ewm`` on Series or wide DataFrames.

    Parameters
    ----------
    high, low, close : Series or DataFrame
        Bars along the index; a DataFrame has one column per symbol.

    Returns
    -------
    dict of str to Series or DataFrame
        Keys ``INDICATOR_OUTPUTS``.
    """
    line, signal, hist = _macd(close, 12, 26, 9)
    upper, middle, lower = _bbands(close, 20, 2.0)
    values = (
        _sma(close, 20),
        _ema(close, 12),
        _rsi(close, 14),
        line,
        signal,
        hist,
        upper,
        middle,
        lower,
        _atr(high, low, close, 14),
    )
    return dict(zip(INDICATOR_OUTPUTS, values, strict=True))


def _as_rows(value: Any) -> F64:
    # Series (bars,) -> (1, bars); wide frame (bars, symbols) -> (symbols, bars).
    arr = np.asarray(value.to_numpy(dtype=np.float64))
    return arr[None, :] if arr.ndim == 1 else np.ascontiguousarray(arr.T)


def prepare_pandas(w: OHLCWorkload) -> Prepared:
    """Prepare the pandas implementations: a Series for one symbol, else a wide DataFrame.

    Parameters
    ----------
    w : OHLCWorkload
    """
    pd = require("pandas")
    if w.rows == 1:
        high, low, close = (pd.Series(a[0]) for a in (w.high, w.low, w.close))
    else:
        high, low, close = (pd.DataFrame(a.T) for a in (w.high, w.low, w.close))
    last: list[dict[str, Any]] = [{}]

    def call() -> None:
        last[0] = pandas_indicators(high, low, close)

    return Prepared(call=call, results=lambda: {k: _as_rows(v) for k, v in last[0].items()})


# --- pandas-ta-classic ----------------------------------------------------------------------


def _import_pandas_ta_classic() -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return require("pandas_ta_classic", "pandas-ta-classic")
    except Unavailable:
        raise
    except Exception as exc:  # an import that breaks on this numpy/pandas
        raise Unavailable(
            f"pandas-ta-classic does not import here: {type(exc).__name__}: {exc}"
        ) from exc


def _column(frame: Any, prefix: str) -> Any:
    for col in frame.columns:
        if str(col).startswith(prefix):
            return frame[col]
    raise KeyError(
        f"pandas-ta-classic: no column starting with {prefix!r} in {list(frame.columns)}"
    )


def _pta_symbol(ta: Any, high: Any, low: Any, close: Any) -> dict[str, Any]:
    macd = ta.macd(close, fast=12, slow=26, signal=9, talib=False)
    bands = ta.bbands(close, length=20, std=2.0, talib=False)
    return {
        "sma_20": ta.sma(close, length=20, talib=False),
        "ema_12": ta.ema(close, length=12, talib=False),
        "rsi_14": ta.rsi(close, length=14, talib=False),
        "macd": _column(macd, "MACD_"),
        "macd_signal": _column(macd, "MACDs_"),
        "macd_histogram": _column(macd, "MACDh_"),
        "bb_upper": _column(bands, "BBU_"),
        "bb_middle": _column(bands, "BBM_"),
        "bb_lower": _column(bands, "BBL_"),
        "atr_14": ta.atr(high, low, close, length=14, talib=False),
    }


def prepare_pandas_ta_classic(w: OHLCWorkload) -> Prepared:
    """Prepare pandas-ta-classic (``talib=False``: its pandas code), a loop over symbols.

    Parameters
    ----------
    w : OHLCWorkload
    """
    ta = _import_pandas_ta_classic()
    pd = require("pandas")
    symbols = [
        (pd.Series(w.high[i]), pd.Series(w.low[i]), pd.Series(w.close[i])) for i in range(w.rows)
    ]
    last: list[list[dict[str, Any]]] = [[]]

    def call() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            last[0] = [_pta_symbol(ta, h, lo, c) for h, lo, c in symbols]

    def results() -> Results:
        return {
            name: np.vstack([np.asarray(s[name].to_numpy(dtype=np.float64)) for s in last[0]])
            for name in INDICATOR_OUTPUTS
        }

    try:  # one symbol now, untimed: a failure inside the package becomes a skipped row
        h, lo, c = symbols[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _pta_symbol(ta, h, lo, c)
    except Exception as exc:
        raise Unavailable(f"pandas-ta-classic fails here: {type(exc).__name__}: {exc}") from exc
    return Prepared(call=call, results=results)


# --- statistics -----------------------------------------------------------------------------


def numpy_stats(returns: F64) -> dict[str, F64]:
    """Sharpe, Sortino (target 0) and maximum drawdown of each row, vectorised numpy.

    Sharpe = mean / std(ddof=1) * sqrt(252); Sortino = mean / sqrt(mean(min(r, 0)^2)) *
    sqrt(252); drawdown = min over t of wealth / max(1, running max wealth) - 1 with
    wealth = cumprod(1 + r) (the start, 1, counts as a peak).

    Parameters
    ----------
    returns : ndarray (symbols, days)

    Returns
    -------
    dict of str to ndarray (symbols,)
        ``sharpe``, ``sortino``, ``max_drawdown``.
    """
    ann = math.sqrt(PERIODS_PER_YEAR)
    mean = returns.mean(axis=1)
    sharpe = mean / returns.std(axis=1, ddof=1) * ann
    downside = np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2, axis=1))
    wealth = np.cumprod(1.0 + returns, axis=1)
    peak = np.maximum(np.maximum.accumulate(wealth, axis=1), 1.0)
    drawdown = np.minimum((wealth / peak - 1.0).min(axis=1), 0.0)
    return {"sharpe": sharpe, "sortino": mean / downside * ann, "max_drawdown": drawdown}


def prepare_numpy_stats(w: ReturnsWorkload) -> Prepared:
    """Prepare ``numpy_stats`` on the (symbols, days) array (reductions along rows).

    Parameters
    ----------
    w : ReturnsWorkload
    """
    return allocating(lambda: numpy_stats(w.returns))


def _pandas_stats(frame: Any) -> dict[str, Any]:
    ann = math.sqrt(PERIODS_PER_YEAR)
    mean = frame.mean()
    sharpe = mean / frame.std() * ann
    sortino = mean / np.sqrt((frame.clip(upper=0.0) ** 2).mean()) * ann
    wealth = (1.0 + frame).cumprod()
    drawdown = (wealth / wealth.cummax().clip(lower=1.0) - 1.0).min().clip(upper=0.0)
    return {"sharpe": sharpe, "sortino": sortino, "max_drawdown": drawdown}


def prepare_pandas_stats(w: ReturnsWorkload) -> Prepared:
    """Prepare the column-wise pandas formulas on a wide frame (days x symbols).

    Parameters
    ----------
    w : ReturnsWorkload
    """
    pd = require("pandas")
    frame = pd.DataFrame(w.returns.T)
    last: list[dict[str, Any]] = [{}]

    def call() -> None:
        last[0] = _pandas_stats(frame)

    def results() -> Results:
        return {k: np.asarray(v.to_numpy(dtype=np.float64)) for k, v in last[0].items()}

    return Prepared(call=call, results=results)
