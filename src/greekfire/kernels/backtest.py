"""Signal backtests: one long-only, all-in portfolio per symbol, from entry/exit arrays.

``signal_portfolio`` runs every row (symbol) of a (rows, T) block as an independent account
with its own cash, in parallel across rows (numba ``prange``; wrap the call in
:func:`greekfire.kernels.threads_for` so that a small block stays on one thread). It is the
compiled fast path of :mod:`greekfire.backtest.fast` and reproduces, order for order,
vectorbt's ``Portfolio.from_signals(close, entries, exits, size=np.inf, direction="longonly",
accumulate=False, fees=..., fixed_fees=..., slippage=..., min_size=...)`` with one column per
symbol and no cash sharing (vectorbt 1.2, ``portfolio/nb.py``: ``simulate_from_signals_nb``,
``buy_nb``, ``sell_nb``):

- Signals: an entry while flat buys with all the cash; an exit while long sells the whole
  position; an entry while long and an exit while flat do nothing. An entry and an exit on the
  same bar cancel (vectorbt's default ``upon_long_conflict="ignore"``).
- Fill: the signal of bar t executes on bar t + ``lag`` at ``price[r, t + lag]`` (lag 0 with
  price = close: vectorbt's default; lag 1 with price = open: the next bar's open). A NaN
  fill price skips the order (the signal is lost, as in vectorbt); a signal whose execution bar
  falls past the end is dropped.
- Buy (all cash c, fill price p, slippage s, fee fraction f, fixed fee F): fill price
  p (1 + s); the spendable notional is (c - F) / (1 + f), size = notional / fill price, fees
  = c - notional, cash after = 0. Rejected when c = 0 or c <= F.
- Sell (position q): fill price p (1 - s), proceeds q p (1 - s), fees = proceeds f + F, cash
  += proceeds - fees. Rejected (the position stays open) when the fees exceed the proceeds.
- Orders smaller than ``min_size`` shares are rejected (vectorbt's default is 1e-8).
- Tolerances: as vectorbt, cash and position within 1e-12 (absolute) of zero are taken as zero
  before an order, a sum whose terms cancel within 1e-9 relative is exactly zero, and the
  size comparisons use the same 1e-9 / 1e-12 tolerance.
- Valuation: value = cash + position x the last non-NaN close (cash alone while flat).

Trade records (``trades[r, k, :]``, ``k < n_trades[r]``, fields in ``TRADE_FIELDS`` order):
entry and exit bar index (exit -1 for a trade still open at the end), entry and exit fill
price (an open trade is marked at the last non-NaN close), size in shares, entry and exit fees
in cash units (0 exit fees while open), and the profit and loss net of both fees,
size (exit - entry) - entry fees - exit fees. The capacity of ``trades`` along axis 1 must be at
least the largest number of entry signals in a row (each trade needs one).

Whole shares (``whole_share_portfolio``): the same signals, fill bars, NaN handling, trade
records and valuation, but sized and booked as the paper broker
(:class:`greekfire.broker.paper.PaperBroker`, its :class:`~greekfire.domain.portfolio.Ledger` and
:class:`~greekfire.broker.fees.FeeModel`) books a stock account without fractional shares:

- Fill prices come in ready-made (slippage and any rounding to $0.0001 applied by the caller):
  ``buy_price`` for buys, ``sell_price`` for sells.
- Fee of an order of q shares at fill price p (whole cents, each term rounded as ``FeeModel``
  rounds it): ``cents(q x commission)`` + ``cents(fixed + fee fraction x q p)`` and, on sells
  only, ``ceil_cents((q p) x sec per million / 1e6)`` + ``ceil_cents(min(q x taf, taf max))``;
  the sum rounded to the cent. ``cents`` rounds half away from zero, ``ceil_cents`` up, both
  with the broker's 1e-7 guard against binary error.
- Buy: the largest whole q <= floor(cash / p) with q p + fee(q) <= cash (searched downwards
  from min(floor(cash / p), floor((cash - fixed) / (p (1 + fraction) + commission)) + 1), which
  is the largest for any price >= $0.01); no buy when q < 1. Cash after = cents(cash - q p -
  fee), the ledger's rounding.
- Sell: the whole position; rejected (kept open) as the paper broker rejects it, when the fee
  exceeds the proceeds by more than half a cent and leaves the cash below -$0.005. Cash after
  = cents(cash + q p - fee).
- The starting cash is rounded to the cent, as the ledger does.

All arrays are float64 except the signals (bool) and ``n_trades`` (int64); inputs and outputs
are C-contiguous (rows, T) blocks, rows = symbols, time along the last axis.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from greekfire.kernels._jit import njit, prange

__all__ = [
    "ABS_TOL",
    "N_TRADE_FIELDS",
    "REL_TOL",
    "TRADE_FIELDS",
    "signal_portfolio",
    "whole_share_portfolio",
]

F64Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
I64Array = npt.NDArray[np.int64]

TRADE_FIELDS = (
    "entry_idx",
    "exit_idx",
    "entry_price",
    "exit_price",
    "size",
    "entry_fees",
    "exit_fees",
    "pnl",
)
N_TRADE_FIELDS = len(TRADE_FIELDS)
# vectorbt's tolerances (utils/math_.py): 1e-9 relative, 1e-12 absolute.
REL_TOL = 1e-9
ABS_TOL = 1e-12


@njit(inline="always")
def _is_close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return False
    if a == b:
        return True
    return abs(a - b) <= max(REL_TOL * max(abs(a), abs(b)), ABS_TOL)


@njit(inline="always")
def _is_less(a: float, b: float) -> bool:
    return False if _is_close(a, b) else a < b


@njit(inline="always")
def _sign(x: float) -> float:
    return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else 0.0)


@njit(inline="always")
def _add(a: float, b: float) -> float:
    # a + b, exactly 0 when the terms cancel within tolerance (vectorbt's add_nb)
    zero = _is_close(abs(a), abs(b)) if _sign(a) != _sign(b) else _is_close(a + b, 0.0)
    return 0.0 if zero else a + b


@njit(inline="always")
def _clean(x: float) -> float:
    return 0.0 if _is_close(x, 0.0) else x


@njit(inline="always")
def _buy_all(
    cash: float, price: float, fees_frac: float, fixed_fee: float, slip: float, min_size: float
) -> tuple[float, float, float]:
    # All-cash buy: (size, fill price, fees); size 0 when rejected. Cash after a fill is 0.
    if cash == 0.0:
        return 0.0, math.nan, math.nan
    fill = price * (1.0 + slip)
    notional = _add(cash, -fixed_fee) / (1.0 + fees_frac)
    if notional <= 0.0:
        return 0.0, math.nan, math.nan
    size = notional / fill
    if _is_less(size, min_size):
        return 0.0, math.nan, math.nan
    return size, fill, cash - notional


@njit(inline="always")
def _sell_all(
    position: float, price: float, fees_frac: float, fixed_fee: float, slip: float, min_size: float
) -> tuple[float, float, float]:
    # Whole-position sell: (proceeds net of fees, fill price, fees); NaN proceeds when
    # rejected or ignored.
    if position == 0.0 or _is_close(position, 0.0) or _is_less(position, min_size):
        return math.nan, math.nan, math.nan
    fill = price * (1.0 - slip)
    gross = position * fill
    fees = gross * fees_frac + fixed_fee
    net = _add(gross, -fees)
    if net < 0.0:
        return math.nan, math.nan, math.nan
    return net, fill, fees


@njit(inline="always")
def _signals_at(
    entries: BoolArray, exits: BoolArray, r: int, t: int, lag: int
) -> tuple[bool, bool]:
    # (entry, exit) acted on at bar t: the signals of bar t - lag; both at once cancel out
    s = t - lag
    if s < 0:
        return False, False
    entry = bool(entries[r, s])
    exit_ = bool(exits[r, s])
    if entry and exit_:
        return False, False
    return entry, exit_


@njit(inline="always")
def _open_trade(rec: F64Array, t: int, fill: float, size: float, fees: float) -> None:
    rec[0] = t
    rec[1] = -1.0
    rec[2] = fill
    rec[4] = size
    rec[5] = fees
    rec[6] = 0.0


@njit(inline="always")
def _mark_last_trade(trades: F64Array, r: int, k: int, mark: float) -> None:
    # the row's last trade, when still open: valued at the last mark
    if k > 0 and trades[r, k - 1, 1] < 0.0:
        rec = trades[r, k - 1]
        rec[3] = mark
        rec[7] = _add(rec[4] * mark, -(rec[4] * rec[2])) - rec[5]


@njit(inline="always")
def _close_trade(rec: F64Array, t: int, fill: float, fees: float) -> None:
    rec[1] = t
    rec[3] = fill
    rec[6] = fees
    diff = _add(rec[4] * fill, -(rec[4] * rec[2]))
    rec[7] = diff - rec[5] - fees


@njit(parallel=True)
def signal_portfolio(
    close: F64Array,
    price: F64Array,
    entries: BoolArray,
    exits: BoolArray,
    lag: int,
    fees_frac: float,
    fixed_fee: float,
    slippage_frac: float,
    init_cash: float,
    min_size: float,
    cash_out: F64Array,
    position_out: F64Array,
    value_out: F64Array,
    trades: F64Array,
    n_trades: I64Array,
) -> None:
    """Long-only all-in backtest of every row; see the module docstring for the rules.

    Parameters
    ----------
    close, price : float64 (rows, T)
        Valuation price (close) and fill price of each bar (the close again, or the open).
    entries, exits : bool (rows, T)
        Signals; the signal of bar t executes on bar t + ``lag``.
    lag : int
        0 (fill on the signal's bar) or 1 (fill on the next bar).
    fees_frac, fixed_fee, slippage_frac : float
        Proportional fee (0.001 = 0.1 %), fixed fee per order (cash units), slippage fraction
        of the price (against the trader).
    init_cash : float
        Starting cash of each row (> 0).
    min_size : float
        Smallest order in shares (vectorbt: 1e-8).
    cash_out, position_out, value_out : float64 (rows, T)
        Written: cash, shares held and account value at each bar's close.
    trades : float64 (rows, capacity, N_TRADE_FIELDS)
        Written: trade records (see the module docstring).
    n_trades : int64 (rows,)
        Written: the number of trades of each row, the last possibly open.
    """
    rows, t_len = close.shape
    for r in prange(rows):
        cash = init_cash
        pos = 0.0
        mark = math.nan
        k = 0
        for t in range(t_len):
            c = close[r, t]
            if not math.isnan(c):
                mark = c
            entry, exit_ = _signals_at(entries, exits, r, t, lag)
            p = price[r, t]
            if entry and pos == 0.0:
                cash = _clean(cash)
                if not math.isnan(p):
                    size, fill, fees = _buy_all(
                        cash, p, fees_frac, fixed_fee, slippage_frac, min_size
                    )
                    if size > 0.0:
                        cash = _add(cash, -cash)
                        pos = _add(0.0, size)
                        _open_trade(trades[r, k], t, fill, size, fees)
                        k += 1
            elif exit_ and pos > 0.0:
                cash = _clean(cash)
                pos = _clean(pos)
                if not math.isnan(p):
                    net, fill, fees = _sell_all(
                        pos, p, fees_frac, fixed_fee, slippage_frac, min_size
                    )
                    if not math.isnan(net):
                        cash = cash + net
                        pos = _add(pos, -pos)
                        _close_trade(trades[r, k - 1], t, fill, fees)
            cash_out[r, t] = cash
            position_out[r, t] = pos
            value_out[r, t] = cash if pos == 0.0 else cash + pos * mark
        _mark_last_trade(trades, r, k, mark)
        n_trades[r] = k


# -- whole shares, booked as the paper broker books them ---------------------------------------


@njit(inline="always")
def _cents(amount: float) -> float:
    # greekfire.domain.portfolio.cents: half away from zero, 1e-7 guard
    scaled = amount * 100.0
    rounded = math.floor(abs(scaled) + 0.5 + 1e-7)
    return math.copysign(float(rounded), scaled) / 100.0 if rounded else 0.0


@njit(inline="always")
def _ceil_cents(amount: float) -> float:
    # greekfire.broker.fees.ceil_cents
    if amount <= 0.0:
        return 0.0
    return math.ceil(amount * 100.0 - 1e-7) / 100.0


@njit(inline="always")
def _order_fee(
    sell: bool,
    qty: float,
    fill: float,
    fees_frac: float,
    fixed_fee: float,
    commission: float,
    sec_per_million: float,
    taf_per_share: float,
    taf_max: float,
) -> float:
    # The same additions in the same order as FeeModel._equity_fee (the generic term is 0.0
    # there, and x + 0.0 == x).
    fee = _cents(qty * commission)
    fee += _cents(fixed_fee + fees_frac * (qty * fill))
    if sell:
        fee += _ceil_cents(qty * fill * sec_per_million / 1e6)
        fee += _ceil_cents(min(qty * taf_per_share, taf_max))
    return _cents(fee)


@njit(inline="always")
def _whole_qty(
    cash: float, fill: float, fees_frac: float, fixed_fee: float, commission: float
) -> float:
    # Largest whole q <= floor(cash / fill) with q fill + buy fee(q) <= cash (0: none).
    if not (cash > 0.0 and fill > 0.0):
        return 0.0
    most = math.floor(cash / fill)
    guess = math.floor((cash - fixed_fee) / (fill * (1.0 + fees_frac) + commission)) + 1
    q = float(min(most, guess))
    while q >= 1.0:
        fee = _order_fee(False, q, fill, fees_frac, fixed_fee, commission, 0.0, 0.0, 0.0)
        if not q * fill + fee > cash:
            return q
        q -= 1.0
    return 0.0


@njit(parallel=True)
def whole_share_portfolio(
    close: F64Array,
    buy_price: F64Array,
    sell_price: F64Array,
    entries: BoolArray,
    exits: BoolArray,
    lag: int,
    fees_frac: float,
    fixed_fee: float,
    commission_per_share: float,
    sec_fee_per_million: float,
    taf_per_share: float,
    taf_max: float,
    init_cash: float,
    cash_out: F64Array,
    position_out: F64Array,
    value_out: F64Array,
    trades: F64Array,
    n_trades: I64Array,
) -> None:
    """Long-only all-in backtest of every row in whole shares, booked to the cent as the paper
    broker books it; see the module docstring for the rules.

    Parameters
    ----------
    close : float64 (rows, T)
        Valuation price of each bar.
    buy_price, sell_price : float64 (rows, T)
        Fill price of a buy and of a sell on each bar (slippage included).
    entries, exits : bool (rows, T)
        Signals; the signal of bar t executes on bar t + ``lag``.
    lag : int
        0 (fill on the signal's bar) or 1 (fill on the next bar).
    fees_frac, fixed_fee : float
        Generic costs per order: fraction of the notional plus a fixed amount (rounded to the
        cent together; the paper broker has no such fee: 0 to match it).
    commission_per_share, sec_fee_per_million, taf_per_share, taf_max : float
        The paper broker's equity fee schedule (``FeeConfig``: commission per share on both
        sides; SEC fee per million of sale proceeds and FINRA TAF per share sold, capped at
        ``taf_max``, on sells).
    init_cash : float
        Starting cash of each row (> 0), rounded to the cent.
    cash_out, position_out, value_out : float64 (rows, T)
        Written: cash, shares held and account value at each bar's close.
    trades : float64 (rows, capacity, N_TRADE_FIELDS)
        Written: trade records, as :func:`signal_portfolio` writes them.
    n_trades : int64 (rows,)
        Written: the number of trades of each row, the last possibly open.
    """
    rows, t_len = close.shape
    for r in prange(rows):
        cash = _cents(init_cash)
        pos = 0.0
        mark = math.nan
        k = 0
        for t in range(t_len):
            c = close[r, t]
            if not math.isnan(c):
                mark = c
            entry, exit_ = _signals_at(entries, exits, r, t, lag)
            if entry and pos == 0.0:
                p = buy_price[r, t]
                if not math.isnan(p):
                    q = _whole_qty(cash, p, fees_frac, fixed_fee, commission_per_share)
                    if q >= 1.0:
                        fee = _order_fee(
                            False, q, p, fees_frac, fixed_fee, commission_per_share, 0.0, 0.0, 0.0
                        )
                        cash = _cents(cash - q * p - fee)
                        pos = q
                        _open_trade(trades[r, k], t, p, q, fee)
                        k += 1
            elif exit_ and pos > 0.0:
                p = sell_price[r, t]
                if not math.isnan(p):
                    fee = _order_fee(
                        True,
                        pos,
                        p,
                        fees_frac,
                        fixed_fee,
                        commission_per_share,
                        sec_fee_per_million,
                        taf_per_share,
                        taf_max,
                    )
                    net = pos * p - fee
                    if not (cash + net < -0.005 and net < -0.005):
                        cash = _cents(cash + pos * p - fee)
                        pos = 0.0
                        _close_trade(trades[r, k - 1], t, p, fee)
            cash_out[r, t] = cash
            position_out[r, t] = pos
            value_out[r, t] = cash if pos == 0.0 else cash + pos * mark
        _mark_last_trade(trades, r, k, mark)
        n_trades[r] = k
