"""The compiled fast path: backtest signal strategies (entries/exits known as arrays) at once.

:func:`run_signals` runs one independent long-only account per symbol (its own
``init_cash``), all in, fractional shares, through the numba kernel
:func:`greekfire.kernels.backtest.signal_portfolio`, and returns a
:class:`~greekfire.backtest.results.BacktestResult`. The rules (and the tolerances) are
vectorbt's ``Portfolio.from_signals(size=np.inf, direction="longonly", accumulate=False)``, so
the two agree order for order (tests/integration/backtest/test_vectorbt_parity.py):

- an entry while flat buys with all the cash, fees included so that cash ends at exactly 0:
  size = (cash - fixed fee) / (1 + fee fraction) / fill price;
- an exit while long sells everything; an entry while long, an exit while flat, and an entry
  and an exit on the same bar do nothing;
- ``fill="close"``: the signal's bar's close; ``fill="next_open"``: the next bar's open (a
  signal on the last bar is then dropped). Slippage moves the fill price against the trader:
  x (1 + s) buying, x (1 - s) selling.

``size="whole_shares"`` sizes and books the account as the paper broker
(:class:`greekfire.broker.paper.PaperBroker`) does a stock account without fractional shares
(:func:`greekfire.kernels.backtest.whole_share_portfolio`): a buy takes the largest whole number
of shares whose cost and fee fit in the cash, fill prices are rounded to $0.0001 as the
broker's slippage model rounds them, fees are whole cents (``paper_fees``: the broker's
:class:`~greekfire.broker.config.FeeConfig`, rounded term by term as
:class:`~greekfire.broker.fees.FeeModel` rounds it) and cash is rounded to the cent at every
fill as its ledger does. Then the event path (:class:`~greekfire.backtest.event.EventBacktester`,
risk gate on) of a strategy that buys the same whole shares trades exactly these trades: same
times, prices and quantities, same fees (tests/integration/backtest/test_event_backtest.py),
provided the event run quotes no spread (``spread_bps=0``), fills at the mid, and uses
``slippage_bps = 10_000 x slippage_frac``.

:func:`sma_cross_signals` gives the SMA crossover's entries and exits with greekfire's
vectorised SMA (:func:`greekfire.kernels.ta.sma_run`, TA-Lib's convention) and crossing
kernel (:func:`greekfire.kernels.signals.cross_run`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from greekfire.backtest.results import TOTAL, BacktestResult
from greekfire.kernels import backtest as kb
from greekfire.kernels import signals as ks
from greekfire.kernels import ta, threads_for

if TYPE_CHECKING:
    from greekfire.broker.config import FeeConfig

__all__ = ["FILL_MODELS", "MIN_ORDER_SHARES", "SIZE_MODES", "run_signals", "sma_cross_signals"]

F64Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Fill = Literal["close", "next_open"]
Size = Literal["all", "whole_shares"]

FILL_MODELS: tuple[str, ...] = ("close", "next_open")
"""Fill models of :func:`run_signals`."""

SIZE_MODES: tuple[str, ...] = ("all", "whole_shares")
"""Position sizing modes of :func:`run_signals`."""

MIN_ORDER_SHARES = 1e-8
"""Orders for fewer shares are rejected (vectorbt's default ``min_size``)."""

_DAY_NS = 86_400 * 10**9


def _frame(value: Any, name: str) -> pd.DataFrame:
    # A Series is one symbol (named by the Series, else "close").
    if isinstance(value, pd.Series):
        return value.to_frame(str(value.name) if value.name is not None else "close")
    if isinstance(value, pd.DataFrame):
        return value
    raise TypeError(
        f"{name}: expected a pandas DataFrame (bars x symbols) or Series, "
        f"got {type(value).__name__}"
    )


def _utc_index(frame: pd.DataFrame, name: str) -> pd.DatetimeIndex:
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex):
        raise TypeError(
            f"{name}.index: expected a DatetimeIndex of bar times, got {type(index).__name__}"
        )
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    if len(index) > 1 and not index.is_monotonic_increasing:
        raise ValueError(f"{name}.index: expected increasing bar times, got {index[:3].tolist()}")
    return index.as_unit("ns")


def _block(value: Any, like: pd.DataFrame, name: str, dtype: type) -> Any:
    # (symbols, bars) C-contiguous block of ``value``, which is shaped and labelled like ``like``.
    if isinstance(value, pd.Series | pd.DataFrame):
        frame = _frame(value, name)
        if frame.shape != like.shape:
            raise ValueError(
                f"{name}: expected the shape of close {like.shape} (bars, symbols), "
                f"got {frame.shape}"
            )
        if not frame.columns.equals(like.columns):
            raise ValueError(
                f"{name}.columns: expected the symbols of close {list(like.columns)[:5]}, "
                f"got {list(frame.columns)[:5]}"
            )
        if not frame.index.equals(like.index):
            raise ValueError(f"{name}.index: expected the bar times of close")
        array = frame.to_numpy()
    elif isinstance(value, np.ndarray):
        array = value if value.ndim == 2 else value.reshape(-1, 1)
        if array.shape != like.shape:
            raise ValueError(
                f"{name}: expected an array of shape {like.shape} (bars, symbols), "
                f"got {value.shape}"
            )
    else:
        raise TypeError(
            f"{name}: expected a DataFrame like close or a numpy array, got {type(value).__name__}"
        )
    if dtype is np.bool_ and array.dtype != np.bool_:
        raise TypeError(f"{name}: expected booleans, got dtype {array.dtype}")
    return np.ascontiguousarray(array.T, dtype=dtype)


def _check_costs(fees_frac: float, fixed_fee_usd: float, slippage_frac: float, cash: float) -> None:
    checks = (
        ("fees_frac", fees_frac, 0.0 <= fees_frac < 1.0, "a fraction in [0, 1) (0.001 = 0.1 %)"),
        ("fixed_fee_usd", fixed_fee_usd, 0.0 <= fixed_fee_usd < math.inf, "dollars >= 0"),
        ("slippage_frac", slippage_frac, 0.0 <= slippage_frac < 1.0, "a fraction in [0, 1)"),
        ("init_cash", cash, 0.0 < cash < math.inf, "dollars > 0"),
    )
    for name, value, ok, expected in checks:
        if not ok:
            raise ValueError(f"{name}: expected {expected}, got {value!r}")


def _trades_and_orders(
    trades: F64Array, n_trades: npt.NDArray[np.int64], symbols: pd.Index, index: pd.DatetimeIndex
) -> tuple[dict[str, Any], pd.DataFrame]:
    cap = trades.shape[1]
    recs = trades[np.arange(cap)[None, :] < n_trades[:, None]]
    symbol = np.repeat(np.asarray(symbols, dtype=object), n_trades)
    entry_i = recs[:, 0].astype(np.int64)
    exit_i = recs[:, 1].astype(np.int64)
    closed = exit_i >= 0
    bar_ns = index.asi8
    entry_ts = index[entry_i]
    exit_ns = np.where(closed, bar_ns[np.where(closed, exit_i, 0)], np.iinfo(np.int64).min)
    exit_ts = pd.DatetimeIndex(exit_ns.view("M8[ns]")).tz_localize("UTC")  # min int64: NaT
    qty, entry_fees, exit_fees, pnl = recs[:, 4], recs[:, 5], recs[:, 6], recs[:, 7]
    cost = qty * recs[:, 2] + entry_fees
    columns: dict[str, Any] = {
        "symbol": symbol,
        "entry_ts": entry_ts,
        "exit_ts": exit_ts,
        "entry_price": recs[:, 2],
        "exit_price": recs[:, 3],
        "qty": qty,
        "pnl_usd": pnl,
        "fees_usd": entry_fees + exit_fees,
        "return_pct": pnl / cost * 100.0,
        "bars_held": np.where(closed, exit_i, len(index) - 1) - entry_i,
    }
    # One buy per trade, one sell per closed trade; by symbol, then bar.
    sym_code = np.repeat(np.arange(len(symbols)), n_trades)
    bar = np.concatenate([entry_i, exit_i[closed]])
    code = np.concatenate([sym_code, sym_code[closed]])
    order = np.lexsort((bar, code))
    n_sells = int(closed.sum())
    fills_qty = np.concatenate([qty, qty[closed]])[order]
    orders = pd.DataFrame(
        {
            "symbol": np.concatenate([symbol, symbol[closed]])[order],
            "side": np.array(["buy"] * len(qty) + ["sell"] * n_sells, dtype=object)[order],
            "qty": fills_qty,
            "filled_qty": fills_qty,
            "avg_fill_price": np.concatenate([recs[:, 2], recs[closed, 3]])[order],
            "fee_usd": np.concatenate([entry_fees, exit_fees[closed]])[order],
            "status": "filled",
            "created_ts": index[bar[order]],
        }
    )
    return columns, orders


_SCHEDULE = (
    "equity_commission_per_share_usd",
    "sec_fee_per_million_usd",
    "taf_per_share_usd",
    "taf_max_usd",
)


def _paper_fee_schedule(paper_fees: Any, size: str) -> tuple[float, float, float, float]:
    # (commission per share, SEC fee per million, TAF per share, TAF cap) of a FeeConfig.
    if paper_fees is None:
        return (0.0, 0.0, 0.0, 0.0)
    from greekfire.broker.config import FeeConfig  # only when asked: keeps the import light

    if not isinstance(paper_fees, FeeConfig):
        raise TypeError(
            f"paper_fees: expected a greekfire.broker.config.FeeConfig or None, "
            f"got {type(paper_fees).__name__}"
        )
    if size != "whole_shares":
        raise ValueError(
            f"paper_fees: the paper broker's fees round to the cent and need "
            f"size='whole_shares', got size={size!r}"
        )
    return (
        float(paper_fees.equity_commission_per_share_usd),
        float(paper_fees.sec_fee_per_million_usd),
        float(paper_fees.taf_per_share_usd),
        float(paper_fees.taf_max_usd),
    )


def _paper_prices(price: F64Array, factor: float) -> F64Array:
    # price x factor rounded to $0.0001 exactly as Python's round(x, 4) rounds it (the paper
    # broker's slippage model). np.round picks the same multiple of 0.0001 except where x * 1e4
    # is within its own rounding error of a half: only those go through round(). Elsewhere
    # both give the nearest double to k / 10**4 (an IEEE division of exact integers).
    moved = price * factor
    scaled = moved * 1e4
    out = np.rint(scaled) / 1e4
    with np.errstate(invalid="ignore"):  # inf - inf: not a tie, masked out below
        tie = np.abs(scaled - np.floor(scaled) - 0.5) <= 8.0 * np.spacing(np.abs(scaled))
    tie &= np.isfinite(moved)
    if tie.any():
        out[tie] = [round(x, 4) for x in moved[tie].tolist()]
    return out


def _periods_per_year(index: pd.DatetimeIndex) -> dict[str, float]:
    # Daily (or coarser) bars: 252 a year; intraday is left to the caller.
    if len(index) < 2:
        return {}
    step = float(np.median(np.diff(index.asi8)))
    return {"periods_per_year": 252.0} if step >= 0.5 * _DAY_NS else {}


def run_signals(
    close: pd.DataFrame | pd.Series,
    entries: pd.DataFrame | pd.Series | BoolArray,
    exits: pd.DataFrame | pd.Series | BoolArray,
    *,
    open: pd.DataFrame | pd.Series | F64Array | None = None,
    fill: Fill = "close",
    fees_frac: float = 0.0,
    fixed_fee_usd: float = 0.0,
    slippage_frac: float = 0.0,
    init_cash: float = 100_000.0,
    strategy: str = "signals",
    params: Mapping[str, Any] | None = None,
    size: Size = "all",
    paper_fees: FeeConfig | None = None,
) -> BacktestResult:
    """Backtest long-only entry/exit signals, one all-in account per symbol.

    Parameters
    ----------
    close : pandas.DataFrame or Series
        Closing prices, bars x symbols, a DatetimeIndex (naive = UTC). NaN closes are allowed
        (no fill on that bar; valuation at the last close).
    entries, exits : pandas.DataFrame, Series or bool ndarray
        Signals shaped (and labelled) like ``close``.
    open : pandas.DataFrame, Series or float ndarray, optional
        Opening prices like ``close``; required by ``fill="next_open"``.
    fill : {"close", "next_open"}
        Fill at the signal bar's close, or at the next bar's open.
    fees_frac : float
        Fee as a fraction of the traded value (0.001 = 0.1 %), in [0, 1).
    fixed_fee_usd : float
        Fixed fee per order in dollars.
    slippage_frac : float
        Fraction of the price lost on each fill (buys dearer, sells cheaper), in [0, 1).
    init_cash : float
        Starting cash of each symbol's account in dollars.
    strategy : str
        Written to the trades' ``strategy`` column.
    params : mapping, optional
        Strategy parameters kept in the result (``{"fast": 10, "slow": 50}``).
    size : {"all", "whole_shares"}
        ``"all"``: all the cash in fractional shares, fees taken so that cash ends at 0
        (vectorbt's ``size=np.inf``); ``"whole_shares"``: the largest whole number of shares
        whose cost and fee fit in the cash, booked to the cent as the paper broker books it
        (fill prices rounded to $0.0001, whole-cent fees and cash; see the module docstring).
    paper_fees : greekfire.broker.config.FeeConfig, optional
        ``size="whole_shares"`` only: also charge the paper broker's equity fees (commission
        per share; SEC fee and FINRA TAF on sells), rounded as its fee model rounds them.
        ``fees_frac`` and ``fixed_fee_usd`` are charged on top (whole cents).

    Returns
    -------
    BacktestResult
        ``equity`` (per symbol and ``"total"`` when several), ``trades`` (open trades marked
        at the last close), ``orders`` (the fills), ``exposure`` (invested fraction of each
        symbol's equity), ``params`` and ``meta`` (engine ``"fast"``, fill, fees, init cash,
        start, end).

    Raises
    ------
    TypeError
        An argument of the wrong type (the message names it).
    ValueError
        Shapes, labels or costs out of range, an unknown ``fill`` or ``"next_open"`` without
        ``open``, an unknown ``size``, or ``paper_fees`` without ``size="whole_shares"``.

    Examples
    --------
    >>> idx = pd.date_range("2024-01-01", periods=4, tz="UTC")
    >>> close = pd.DataFrame({"A": [10.0, 11.0, 12.0, 11.0]}, index=idx)
    >>> entries = pd.DataFrame({"A": [True, False, False, False]}, index=idx)
    >>> exits = pd.DataFrame({"A": [False, False, True, False]}, index=idx)
    >>> run_signals(close, entries, exits, init_cash=100.0).total_return()["A"]
    np.float64(0.19999999999999996)
    """
    frame = _frame(close, "close")
    index = _utc_index(frame, "close")
    if fill not in FILL_MODELS:
        raise ValueError(f"fill: expected one of {FILL_MODELS}, got {fill!r}")
    if size not in SIZE_MODES:
        raise ValueError(f"size: expected one of {SIZE_MODES}, got {size!r}")
    _check_costs(fees_frac, fixed_fee_usd, slippage_frac, init_cash)
    schedule = _paper_fee_schedule(paper_fees, size)
    close_b = _block(frame, frame, "close", np.float64)
    entries_b = _block(entries, frame, "entries", np.bool_)
    exits_b = _block(exits, frame, "exits", np.bool_)
    if fill == "next_open":
        if open is None:
            raise ValueError("open: fill='next_open' needs the opening prices, got None")
        price_b = _block(open, frame, "open", np.float64)
    else:
        price_b = close_b
    rows, t_len = close_b.shape
    many = rows > 1
    cap = max(int(np.count_nonzero(entries_b, axis=1).max(initial=0)), 1)
    value = np.empty((rows + many, t_len))
    cash = np.empty((rows, t_len))
    position = np.empty((rows, t_len))
    trades = np.empty((rows, cap, kb.N_TRADE_FIELDS))
    n_trades = np.zeros(rows, dtype=np.int64)
    lag = 1 if fill == "next_open" else 0
    if size == "whole_shares":
        slip = float(slippage_frac)
        buy_b = _paper_prices(price_b, 1.0 + slip)
        sell_b = _paper_prices(price_b, 1.0 - slip)
        with threads_for(rows * t_len):
            kb.whole_share_portfolio(
                close_b,
                buy_b,
                sell_b,
                entries_b,
                exits_b,
                lag,
                float(fees_frac),
                float(fixed_fee_usd),
                *schedule,
                float(init_cash),
                cash,
                position,
                value[:rows],
                trades,
                n_trades,
            )
    else:
        with threads_for(rows * t_len):
            kb.signal_portfolio(
                close_b,
                price_b,
                entries_b,
                exits_b,
                lag,
                float(fees_frac),
                float(fixed_fee_usd),
                float(slippage_frac),
                float(init_cash),
                MIN_ORDER_SHARES,
                cash,
                position,
                value[:rows],
                trades,
                n_trades,
            )
    symbols = frame.columns
    if many:
        value[rows] = value[:rows].sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        invested = np.where(position != 0.0, (value[:rows] - cash) / value[:rows], 0.0)
    trade_columns, orders = _trades_and_orders(trades, n_trades, symbols, index)
    meta: dict[str, Any] = {
        "engine": "fast",
        "fill": fill,
        "size": size,
        "fees_frac": float(fees_frac),
        "fixed_fee_usd": float(fixed_fee_usd),
        "slippage_frac": float(slippage_frac),
        "init_cash": float(init_cash),
        **(
            {}
            if paper_fees is None
            else {"paper_fees": dict(zip(_SCHEDULE, schedule, strict=True))}
        ),
        "start": index[0] if t_len else None,
        "end": index[-1] if t_len else None,
        **_periods_per_year(index),
    }
    return BacktestResult(
        equity=pd.DataFrame(
            value.T, index=index, columns=[*symbols, TOTAL] if many else list(symbols)
        ),
        trades=pd.DataFrame(trade_columns).assign(strategy=strategy),
        orders=orders,
        exposure=pd.DataFrame(invested.T, index=index, columns=symbols),
        params=dict(params or {}),
        meta=meta,
    )


def _window(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name}: expected an integer window >= 1, got {value!r}")
    return int(value)


def sma_cross_signals(
    close: pd.DataFrame | pd.Series, fast: int, slow: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long-only SMA crossover: enter when SMA(fast) crosses above SMA(slow), exit below.

    A cross is a flip of the sign of SMA(fast) - SMA(slow) against its last non-zero sign
    (:func:`greekfire.kernels.signals.cross_run`): a touch is not a cross, and the warm-up
    (either SMA still NaN) gives no signal, nor does the first bar where both exist.

    Parameters
    ----------
    close : pandas.DataFrame or Series
        Closing prices, bars x symbols.
    fast, slow : int
        SMA windows in bars (>= 1).

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        ``entries`` and ``exits``: booleans shaped and labelled like ``close``.
    """
    frame = _frame(close, "close")
    fast_n, slow_n = _window(fast, "fast"), _window(slow, "slow")
    x = np.ascontiguousarray(frame.to_numpy(dtype=np.float64).T)
    rows, t_len = x.shape
    fast_ma = np.empty_like(x)
    slow_ma = np.empty_like(x)
    cross = np.empty(x.shape, dtype=np.int8)
    with threads_for(rows * t_len):
        ta.sma_run(x, np.zeros((rows, ta.state_size("sma", fast_n))), fast_n, fast_ma)
        ta.sma_run(x, np.zeros((rows, ta.state_size("sma", slow_n))), slow_n, slow_ma)
        ks.cross_run(fast_ma, slow_ma, np.zeros((rows, 1)), cross)
    entries = pd.DataFrame((cross == 1).T, index=frame.index, columns=frame.columns)
    exits = pd.DataFrame((cross == -1).T, index=frame.index, columns=frame.columns)
    return entries, exits
