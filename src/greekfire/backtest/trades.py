"""Trades: the frame both engines produce, comparing two sets, and pairing fills into trades.

- :data:`TRADE_COLUMNS` / :data:`TRADE_DTYPES`: the columns of a trades frame and their dtypes
  (times UTC ``datetime64[ns]``, ``exit_ts`` NaT for a trade still open at the end);
  :func:`normalize_trades` brings any frame holding them to exactly that shape.
- :func:`same_trades` lists, in words, where two sets of trades differ (empty: identical).
- :func:`trades_from_fills` pairs the buys and sells of a long-only book into round trips,
  first in first out (the event path builds its trades from the journal's fills with it).

:mod:`greekfire.backtest.results` re-exports every public name here.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from greekfire.backtest.results import BacktestResult

__all__ = [
    "TRADE_COLUMNS",
    "TRADE_DTYPES",
    "empty_trades",
    "normalize_trades",
    "same_trades",
    "trades_from_fills",
]

TRADE_COLUMNS: tuple[str, ...] = (
    "symbol",
    "entry_ts",
    "exit_ts",
    "entry_price",
    "exit_price",
    "qty",
    "pnl_usd",
    "fees_usd",
    "return_pct",
    "bars_held",
    "strategy",
)
"""Columns of :attr:`~greekfire.backtest.results.BacktestResult.trades`, in this order."""

TRADE_DTYPES: dict[str, str] = {
    "symbol": "str",
    "entry_ts": "datetime64[ns, UTC]",
    "exit_ts": "datetime64[ns, UTC]",
    "entry_price": "float64",
    "exit_price": "float64",
    "qty": "float64",
    "pnl_usd": "float64",
    "fees_usd": "float64",
    "return_pct": "float64",
    "bars_held": "int64",
    "strategy": "str",
}
"""dtype of each trade column. ``bars_held`` is -1 where the bar index was unknown."""

_TS_DTYPE: Any = "datetime64[ns, UTC]"


# ----------------------------------------------------------------------------------------------
# Trades frames


def empty_trades() -> pd.DataFrame:
    """A trades frame without rows: :data:`TRADE_COLUMNS` with their :data:`TRADE_DTYPES`."""
    return pd.DataFrame({c: pd.Series([], dtype=TRADE_DTYPES[c]) for c in TRADE_COLUMNS})


def _utc(values: Any, name: str) -> pd.Series:
    # Naive times are taken as UTC; tz-aware ones converted. Integers are epoch nanoseconds.
    series = pd.Series(values)
    if series.dtype.kind in "iu":
        stamps: pd.Series = pd.to_datetime(series, unit="ns", utc=True).astype(_TS_DTYPE)
        return stamps
    try:
        converted = pd.to_datetime(series, utc=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"trades.{name}: expected timestamps, got {series.head(3).tolist()!r}"
        ) from exc
    result: pd.Series = converted.astype(_TS_DTYPE)
    return result


def normalize_trades(trades: pd.DataFrame) -> pd.DataFrame:
    """The same trades with exactly :data:`TRADE_COLUMNS`, in order, as :data:`TRADE_DTYPES`.

    Parameters
    ----------
    trades : pandas.DataFrame
        Holds at least every column of :data:`TRADE_COLUMNS` (extra columns are dropped).
        Times may be naive (read as UTC), tz-aware or int64 epoch nanoseconds.

    Returns
    -------
    pandas.DataFrame
        A new frame with a fresh RangeIndex.

    Raises
    ------
    TypeError
        ``trades`` is not a DataFrame.
    ValueError
        A column is missing or cannot take its dtype.
    """
    if not isinstance(trades, pd.DataFrame):
        raise TypeError(f"trades: expected a pandas DataFrame, got {type(trades).__name__}")
    missing = [c for c in TRADE_COLUMNS if c not in trades.columns]
    if missing:
        raise ValueError(
            f"trades: missing column(s) {missing}; expected {list(TRADE_COLUMNS)}, "
            f"got {list(trades.columns)}"
        )
    out: dict[str, pd.Series] = {}
    for name in TRADE_COLUMNS:
        column = trades[name].reset_index(drop=True)
        if name in ("entry_ts", "exit_ts"):
            out[name] = _utc(column, name)
            continue
        try:
            dtype: Any = TRADE_DTYPES[name]
            out[name] = column.astype(dtype)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"trades.{name}: cannot read as {TRADE_DTYPES[name]}: {exc} "
                f"(first values {column.head(3).tolist()!r})"
            ) from exc
    return pd.DataFrame(out)


# ----------------------------------------------------------------------------------------------
# Comparing trades


def _trades_of(value: BacktestResult | pd.DataFrame, name: str) -> pd.DataFrame:
    from greekfire.backtest.results import BacktestResult  # results imports this module

    if isinstance(value, BacktestResult):
        trades = value.trades
    elif isinstance(value, pd.DataFrame):
        trades = normalize_trades(value)
    else:
        raise TypeError(
            f"{name}: expected a BacktestResult or a trades DataFrame, got {type(value).__name__}"
        )
    return trades.sort_values(["symbol", "entry_ts"], kind="mergesort").reset_index(drop=True)


def _close(x: float, y: float, tol: float) -> bool:
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return x == y or math.isclose(x, y, rel_tol=tol, abs_tol=0.0)


def _ts_text(value: Any) -> str:
    return "open" if pd.isna(value) else pd.Timestamp(value).isoformat()


def _same_ts(x: Any, y: Any) -> bool:
    return (pd.isna(x) and pd.isna(y)) or (not pd.isna(x) and not pd.isna(y) and x == y)


def _compare_trade(where: str, x: Any, y: Any, price_tol: float, qty_tol: float) -> list[str]:
    out: list[str] = []
    for name in ("entry_ts", "exit_ts"):
        if not _same_ts(getattr(x, name), getattr(y, name)):
            out.append(
                f"{where}: {name} {_ts_text(getattr(x, name))} vs {_ts_text(getattr(y, name))}"
            )
    for name, tol in (("entry_price", price_tol), ("exit_price", price_tol), ("qty", qty_tol)):
        a, b = float(getattr(x, name)), float(getattr(y, name))
        if not _close(a, b, tol):
            out.append(f"{where}: {name} {a!r} vs {b!r} (difference {b - a:+.6g})")
    return out


def same_trades(
    a: BacktestResult | pd.DataFrame,
    b: BacktestResult | pd.DataFrame,
    *,
    price_tol: float = 0.0,
    qty_tol: float | None = None,
) -> list[str]:
    """Where two sets of trades differ, in words; an empty list when they are the same.

    Trades are matched per symbol in order of entry time, and compared on entry and exit time
    (an open trade's exit is NaT on both sides), entry and exit price and quantity. P&L,
    fees and returns follow from those and are not compared.

    Parameters
    ----------
    a, b : BacktestResult or pandas.DataFrame
        Results, or trades frames with :data:`TRADE_COLUMNS`.
    price_tol : float
        Relative tolerance of the prices (1e-9: equal to nine significant digits); 0 means
        exactly equal. NaN equals NaN.
    qty_tol : float, optional
        Relative tolerance of the quantities; default ``price_tol``.

    Returns
    -------
    list of str
        One line per difference, e.g. ``"AAPL trade 2: exit_ts 2024-03-01T00:00:00+00:00 vs
        2024-03-04T00:00:00+00:00"`` or ``"MSFT: 3 trades in a, 2 in b"``.

    Examples
    --------
    >>> same_trades(empty_trades(), empty_trades())
    []
    """
    for name, tol in (("price_tol", price_tol), ("qty_tol", qty_tol)):
        if tol is not None and not (isinstance(tol, int | float) and 0.0 <= tol < math.inf):
            raise ValueError(f"{name}: expected a relative tolerance >= 0, got {tol!r}")
    q_tol = price_tol if qty_tol is None else qty_tol
    left, right = _trades_of(a, "a"), _trades_of(b, "b")
    out: list[str] = []
    if len(left) != len(right):
        out.append(f"trade count: {len(left)} in a, {len(right)} in b")
    symbols = sorted(set(left["symbol"]) | set(right["symbol"]))
    for symbol in symbols:
        xs = list(left[left["symbol"] == symbol].itertuples(index=False))
        ys = list(right[right["symbol"] == symbol].itertuples(index=False))
        if len(xs) != len(ys):
            out.append(f"{symbol}: {len(xs)} trades in a, {len(ys)} in b")
        for i, (x, y) in enumerate(zip(xs, ys, strict=False)):
            out.extend(_compare_trade(f"{symbol} trade {i + 1}", x, y, price_tol, q_tol))
        for side, extra in (("a", xs[len(ys) :]), ("b", ys[len(xs) :])):
            for j, t in enumerate(extra, start=min(len(xs), len(ys)) + 1):
                out.append(
                    f"{symbol} trade {j} only in {side}: entry {_ts_text(t.entry_ts)} at "
                    f"{t.entry_price!r}, exit {_ts_text(t.exit_ts)} at {t.exit_price!r}, "
                    f"qty {t.qty!r}"
                )
    return out


# ----------------------------------------------------------------------------------------------
# Fills to round trips


@dataclass(slots=True)
class _Lot:
    entry_ns: int
    qty: float
    price: float
    fee_usd: float
    closed_qty: float = 0.0
    exit_notional: float = 0.0
    exit_fees: float = 0.0
    exit_ns: int = 0
    exit_price: float = math.nan  # the one price of every exit fill so far; NaN once they differ

    @property
    def open_qty(self) -> float:
        return self.qty - self.closed_qty


def _fill_times(fills: pd.DataFrame) -> np.ndarray:
    if "ts_ns" in fills.columns:
        return fills["ts_ns"].to_numpy(dtype=np.int64)
    if "ts" in fills.columns:
        return pd.DatetimeIndex(_utc(fills["ts"], "ts")).asi8
    raise ValueError(
        f"fills: expected a 'ts_ns' (int64 UTC ns) or 'ts' column, got {list(fills.columns)}"
    )


def _bar_positions(times_ns: np.ndarray, index: pd.DatetimeIndex | None) -> np.ndarray:
    # Position of the bar at or before each time (-1: no index, or before the first bar).
    if index is None:
        return np.full(times_ns.shape, -1, dtype=np.int64)
    bars = pd.DatetimeIndex(index)
    bars = bars.tz_localize("UTC") if bars.tz is None else bars.tz_convert("UTC")
    bar_ns = bars.as_unit("ns").asi8
    return np.searchsorted(bar_ns, times_ns, side="right").astype(np.int64) - 1


class _Book:
    # FIFO lots of one symbol and the trades closed so far.

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.lots: deque[_Lot] = deque()
        self.rows: list[dict[str, Any]] = []

    def buy(self, ts_ns: int, qty: float, price: float, fee: float) -> None:
        self.lots.append(_Lot(ts_ns, qty, price, fee))

    def sell(self, ts_ns: int, qty: float, price: float, fee: float) -> None:
        remaining = qty
        while remaining > 1e-12 * qty:
            if not self.lots:
                held = qty - remaining
                raise ValueError(
                    f"fills: a sell of {qty!r} {self.symbol} at ts_ns={ts_ns} exceeds the long "
                    f"position ({held!r} held); trades_from_fills pairs a long-only book"
                )
            lot = self.lots[0]
            take = min(lot.open_qty, remaining)
            # one exit price (the usual case) is kept as is: q * p / q can be one ulp off p
            same = lot.closed_qty == 0.0 or lot.exit_price == price
            lot.exit_price = price if same else math.nan
            lot.closed_qty += take
            lot.exit_notional += take * price
            lot.exit_fees += fee if take == qty else fee * take / qty
            lot.exit_ns = ts_ns
            remaining -= take
            if lot.open_qty <= 1e-12 * lot.qty:
                self.lots.popleft()
                self.rows.append(self._closed(lot, lot.qty, lot.fee_usd))

    def _closed(self, lot: _Lot, qty: float, entry_fee: float) -> dict[str, Any]:
        one = lot.exit_price
        exit_price = one if one == one else lot.exit_notional / lot.closed_qty
        return _row(self.symbol, lot, qty, entry_fee, lot.exit_ns, exit_price, lot.exit_fees)

    def finish(self, marks: Mapping[str, float]) -> list[dict[str, Any]]:
        for lot in self.lots:
            entry_fee = lot.fee_usd
            if lot.closed_qty > 0:
                # A partly closed lot: the closed part is a trade, the rest stays open.
                part_fee = lot.fee_usd * lot.closed_qty / lot.qty
                self.rows.append(self._closed(lot, lot.closed_qty, part_fee))
                entry_fee -= part_fee
            mark = float(marks.get(self.symbol, math.nan))
            self.rows.append(_row(self.symbol, lot, lot.open_qty, entry_fee, None, mark, 0.0))
        self.lots.clear()
        return self.rows


def _row(
    symbol: str,
    lot: _Lot,
    qty: float,
    entry_fee: float,
    exit_ns: int | None,
    exit_price: float,
    exit_fees: float,
) -> dict[str, Any]:
    fees = entry_fee + exit_fees
    cost = qty * lot.price + entry_fee
    pnl = qty * (exit_price - lot.price) - fees
    return {
        "symbol": symbol,
        "entry_ns": lot.entry_ns,
        "exit_ns": exit_ns,
        "entry_price": lot.price,
        "exit_price": exit_price,
        "qty": qty,
        "pnl_usd": pnl,
        "fees_usd": fees,
        "return_pct": pnl / cost * 100.0 if cost != 0 else math.nan,
    }


def trades_from_fills(
    fills: pd.DataFrame,
    *,
    index: pd.DatetimeIndex | None = None,
    strategy: str = "event",
    marks: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Pair the buys and sells of a long-only book into round-trip trades, first in first out.

    Each buy fill opens a lot; sells close the oldest lots first. A lot becomes one trade when
    it is closed (possibly by several sells: the exit price is their quantity-weighted mean,
    exactly the fill price when all are at one price; the exit time the last one's; the sell
    fees shared in proportion to quantity). Lots still open at the end are open trades
    (``exit_ts`` NaT); a lot partly closed at the end is split into a closed trade and an open
    one, its buy fee shared pro rata.

    Parameters
    ----------
    fills : pandas.DataFrame
        Columns ``symbol``, ``side`` ("buy"/"sell" or :class:`~greekfire.domain.orders.Side`),
        ``qty`` (> 0), ``price``, ``fee_usd`` and ``ts_ns`` (int64 UTC ns; or ``ts``,
        timestamps), e.g. the journal's ``fills`` table. Order of execution: by time, ties in
        row order.
    index : pandas.DatetimeIndex, optional
        The bar times; ``bars_held`` counts bars from the entry's bar to the exit's (for an
        open trade, to the last bar). Without it ``bars_held`` is -1.
    strategy : str
        Written to the ``strategy`` column.
    marks : mapping symbol -> price, optional
        Prices at which open trades are valued (their ``exit_price``, unrealised P&L and
        return); NaN for symbols not in it.

    Returns
    -------
    pandas.DataFrame
        :data:`TRADE_COLUMNS`, sorted by symbol then entry time.

    Raises
    ------
    ValueError
        A missing column, a side other than buy/sell, qty <= 0, or a sell larger than the open
        long position (the message names the symbol, quantity and time).
    """
    required = ("symbol", "side", "qty", "price", "fee_usd")
    missing = [c for c in required if c not in fills.columns]
    if missing:
        raise ValueError(f"fills: missing column(s) {missing}, got {list(fills.columns)}")
    times = _fill_times(fills)
    order = np.argsort(times, kind="mergesort")
    books: dict[str, _Book] = {}
    columns = [fills[c].to_numpy() for c in required]
    for i in order:
        symbol, side, qty, price, fee = (col[i] for col in columns)
        qty, price, fee, side_text = float(qty), float(price), float(fee), str(side).lower()
        if not qty > 0:
            raise ValueError(f"fills.qty: expected > 0, got {qty!r} ({symbol} at ts_ns={times[i]})")
        book = books.setdefault(str(symbol), _Book(str(symbol)))
        if side_text == "buy":
            book.buy(int(times[i]), qty, price, fee)
        elif side_text == "sell":
            book.sell(int(times[i]), qty, price, fee)
        else:
            raise ValueError(f"fills.side: expected 'buy' or 'sell', got {side!r} ({symbol})")
    rows = [row for book in books.values() for row in book.finish(marks or {})]
    return _trades_frame(rows, index, strategy)


def _trades_frame(
    rows: Iterable[dict[str, Any]], index: pd.DatetimeIndex | None, strategy: str
) -> pd.DataFrame:
    rows = list(rows)
    if not rows:
        return empty_trades()
    raw = pd.DataFrame(rows)
    entry_ns = raw["entry_ns"].to_numpy(dtype=np.int64)
    exit_known = raw["exit_ns"].notna().to_numpy()
    exit_ns = raw["exit_ns"].fillna(0).to_numpy(dtype=np.int64)
    entry_pos = _bar_positions(entry_ns, index)
    exit_pos = _bar_positions(exit_ns, index)
    if index is not None:
        exit_pos = np.where(exit_known, exit_pos, len(index) - 1)
        held = np.where(entry_pos >= 0, exit_pos - entry_pos, -1)
    else:
        held = np.full(len(raw), -1, dtype=np.int64)
    exit_ts = pd.Series(pd.to_datetime(exit_ns, unit="ns", utc=True)).where(exit_known)
    frame = raw.drop(columns=["entry_ns", "exit_ns"]).assign(
        entry_ts=pd.to_datetime(entry_ns, unit="ns", utc=True),
        exit_ts=exit_ts,
        bars_held=held,
        strategy=strategy,
    )
    frame = normalize_trades(frame)
    return frame.sort_values(["symbol", "entry_ts"], kind="mergesort").reset_index(drop=True)
