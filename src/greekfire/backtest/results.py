"""What a backtest produces: equity, trades, orders, exposure, its parameters; saved and loaded.

Both engines (the compiled fast path and the event path over the live code) return a
:class:`BacktestResult`, so results compare, save and report the same way whoever made them.

- ``trades`` has exactly :data:`TRADE_COLUMNS` with the dtypes of :data:`TRADE_DTYPES` (times
  UTC ``datetime64[ns]``, ``exit_ts`` NaT for a trade still open at the end).
- ``equity`` is the account value in dollars per bar (UTC index), one column per symbol, plus
  a ``"total"`` column when there are several symbols.
- :meth:`BacktestResult.save` writes ``meta.json`` (meta and params, NaN-safe), ``stats.json``
  and one Parquet file per frame; :meth:`BacktestResult.load` reads them back unchanged.
- :func:`same_trades` lists, in words, where two sets of trades differ (empty: identical).
- :func:`trades_from_fills` pairs the buys and sells of a long-only book into round trips,
  first in first out (the event path builds its trades from the journal's fills with it).
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "FRAME_NAMES",
    "TOTAL",
    "TRADE_COLUMNS",
    "TRADE_DTYPES",
    "BacktestResult",
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
"""Columns of :attr:`BacktestResult.trades`, in this order."""

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

TOTAL = "total"
"""Name of the equity column that sums all symbols."""

FRAME_NAMES: tuple[str, ...] = ("equity", "trades", "orders", "exposure")
"""The frames of a result, each saved as ``<name>.parquet``."""

_FORMAT = 1
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
# NaN-safe JSON: non-finite floats, timestamps, tuples and non-string keys survive a round trip.

_TAGS = ("$float", "$timestamp", "$datetime", "$date", "$timedelta", "$tuple", "$items")


def _encode(value: Any, where: str) -> Any:
    if value is None or isinstance(value, bool | str):
        return str(value) if isinstance(value, enum.Enum) else value
    if isinstance(value, enum.Enum):
        return _encode(value.value, where)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, np.generic):
        return _encode(value.item(), where)
    return _encode_object(value, where)


def _encode_object(value: Any, where: str) -> Any:
    if value is pd.NaT:
        return {"$timestamp": None}
    if isinstance(value, pd.Timestamp):
        return {"$timestamp": value.isoformat()}
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"$timedelta": int(pd.Timedelta(value).value)}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list | np.ndarray):
        return [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        if all(isinstance(k, str) for k in value):
            return {k: _encode(v, f"{where}.{k}") for k, v in value.items()}
        return {
            "$items": [[_encode(k, where), _encode(v, f"{where}[{k!r}]")] for k, v in value.items()]
        }
    raise TypeError(
        f"{where}: cannot save a value of type {type(value).__name__} ({value!r:.60}) as JSON; "
        "use numbers, strings, booleans, None, timestamps, lists, tuples or dicts"
    )


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((tag, inner),) = value.items()
        if tag in _TAGS:
            return _decode_tag(tag, inner)
    return {k: _decode(v) for k, v in value.items()}


def _decode_tag(tag: str, inner: Any) -> Any:
    if tag == "$float":
        return float(inner)
    if tag == "$timestamp":
        return pd.NaT if inner is None else pd.Timestamp(inner)
    if tag == "$datetime":
        return dt.datetime.fromisoformat(inner)
    if tag == "$date":
        return dt.date.fromisoformat(inner)
    if tag == "$timedelta":
        return pd.Timedelta(int(inner))
    if tag == "$tuple":
        return tuple(_decode(v) for v in inner)
    return {_decode(k): _decode(v) for k, v in inner}


def _dump_json(value: Any, path: Path, where: str) -> None:
    text = json.dumps(_encode(value, where), indent=2, allow_nan=False, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")


def _load_json(path: Path) -> Any:
    return _decode(json.loads(path.read_text(encoding="utf-8")))


# ----------------------------------------------------------------------------------------------
# The result


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """Everything a backtest produced, from either engine.

    Attributes
    ----------
    equity : pandas.DataFrame
        Account value in dollars per bar: UTC DatetimeIndex, one column per symbol (each
        symbol has its own cash), plus ``"total"`` (their sum) when there are several.
    trades : pandas.DataFrame
        Round trips, :data:`TRADE_COLUMNS` (normalised to :data:`TRADE_DTYPES` on creation).
    orders : pandas.DataFrame
        Orders as the engine recorded them (free-form columns; may be empty).
    exposure : pandas.DataFrame
        Fraction of each symbol's equity invested per bar, shaped like the symbol columns of
        ``equity`` (may be empty).
    params : dict
        Strategy parameters (e.g. ``{"fast": 10, "slow": 50}``).
    meta : dict
        How it ran: fill model, fees, ``init_cash`` (per symbol: a number, or a mapping symbol
        -> cash), start, end, ``engine`` ("fast" or "event"), optionally ``periods_per_year``.

    Notes
    -----
    Frozen: the attributes cannot be rebound. The frames themselves are mutable pandas
    objects; treat them as read-only.
    """

    equity: pd.DataFrame
    trades: pd.DataFrame = field(default_factory=empty_trades)
    orders: pd.DataFrame = field(default_factory=pd.DataFrame)
    exposure: pd.DataFrame = field(default_factory=pd.DataFrame)
    params: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("equity", "orders", "exposure"):
            value = getattr(self, name)
            if not isinstance(value, pd.DataFrame):
                raise TypeError(f"{name}: expected a pandas DataFrame, got {type(value).__name__}")
        if not isinstance(self.equity.index, pd.DatetimeIndex):
            raise TypeError(
                "equity: expected a DatetimeIndex (UTC bar times), got "
                f"{type(self.equity.index).__name__}"
            )
        for name in ("params", "meta"):
            if not isinstance(getattr(self, name), dict):
                raise TypeError(
                    f"{name}: expected a dict, got {type(getattr(self, name)).__name__}"
                )
        object.__setattr__(self, "trades", normalize_trades(self.trades))

    # ------------------------------------------------------------------ numbers

    @property
    def symbols(self) -> list[str]:
        """The symbol columns of ``equity`` (without ``"total"``)."""
        return [str(c) for c in self.equity.columns if c != TOTAL]

    def initial_equity(self) -> pd.Series:
        """Starting cash per equity column: ``meta["init_cash"]``, else the first value.

        ``init_cash`` is per symbol (a number, or a mapping symbol -> cash); the ``"total"``
        column starts with the sum over the symbols.
        """
        init = self.meta.get("init_cash")
        first: pd.Series = (
            self.equity.astype("float64").bfill().iloc[0]
            if len(self.equity)
            else pd.Series(math.nan, index=self.equity.columns)
        )
        values: dict[Any, float] = {}
        for column in self.equity.columns:
            if column == TOTAL:
                continue
            if isinstance(init, Mapping) and column in init:
                values[column] = float(init[column])
            elif isinstance(init, int | float) and not isinstance(init, bool):
                values[column] = float(init)
            else:
                values[column] = float(first[column])
        if TOTAL in self.equity.columns:
            values[TOTAL] = math.fsum(values.values()) if values else float(first[TOTAL])
        return pd.Series(values, dtype="float64")

    def returns(self) -> pd.DataFrame:
        """Per-bar simple returns of each equity column; the first bar's is against the cash.

        A bar with NaN equity has a NaN return (skipped by the statistics).
        """
        equity = self.equity.astype("float64")
        previous = equity.ffill().shift(1).fillna(self.initial_equity())
        return equity / previous - 1.0

    def total_return(self) -> pd.Series:
        """Total return per equity column as a fraction: last value / starting cash - 1.

        Returns
        -------
        pandas.Series
            Indexed by the equity columns (the symbols, and ``"total"``).
        """
        last = self.equity.astype("float64").ffill().iloc[-1]
        return (last / self.initial_equity() - 1.0).rename("total_return")

    def stats(
        self, *, periods_per_year: float | None = None, risk_free: float = 0.0
    ) -> pd.DataFrame:
        """The statistics table of :func:`greekfire.analytics.performance.performance_summary`.

        Computed per equity column on :meth:`returns` (so "Return [%]" is
        :meth:`total_return`), with the exposure ("Exposure Time [%]": share of bars with a
        position, "Avg. Exposure [%]") and rows from the trades: "Trades", "Open Trades",
        "Trade Win Rate [%]", "Trade Profit Factor", "Avg. Trade [%]", "Best Trade [%]",
        "Worst Trade [%]", "Avg. Holding [bars]" (closed trades), "Fees [$]", and
        "Start Value [$]" / "End Value [$]". The per-bar "Win Rate [%]" and "Profit
        Factor" rows are the table's own (of bar returns).

        Parameters
        ----------
        periods_per_year : float, optional
            Bars per year; default ``meta["periods_per_year"]``, else 252 (daily bars).
        risk_free : float
            Annual risk-free rate (0.04 = 4 %).

        Returns
        -------
        pandas.DataFrame
            One row per statistic, one column per equity column, dtype object.
        """
        from greekfire.analytics.performance import performance_summary

        if self.equity.empty:
            raise ValueError("equity: expected at least one bar and one column, got none")
        ppy = (
            periods_per_year
            if periods_per_year is not None
            else self.meta.get("periods_per_year", 252)
        )
        table = performance_summary(
            self.returns(),
            kind="returns",
            periods_per_year=ppy,
            risk_free=risk_free,
            positions=self._exposure_by_column(),
        )
        exposure = self._exposure_by_column()
        start = self.initial_equity()
        end = self.equity.astype("float64").ffill().iloc[-1]
        by_symbol = {str(k): v for k, v in self.trades.groupby("symbol", sort=False)}
        columns = [
            _trade_rows(
                self.trades if c == TOTAL else by_symbol.get(str(c), self.trades.iloc[:0]),
                float(start[c]),
                float(end[c]),
            )
            for c in self.equity.columns
        ]
        if exposure is not None:
            for rows, column in zip(columns, self.equity.columns, strict=True):
                rows["Avg. Exposure [%]"] = float(exposure[column].mean() * 100.0)
        names = list(columns[0])
        cells = [[rows[name] for rows in columns] for name in names]
        extra = pd.DataFrame(cells, index=names, columns=self.equity.columns, dtype=object)
        combined: pd.DataFrame = pd.concat([table, extra.reindex(columns=table.columns)], axis=0)
        return combined

    def _exposure_by_column(self) -> pd.DataFrame | None:
        # The exposure per equity column; "total" is the equity-weighted mean of the symbols.
        if self.exposure.empty:
            return None
        exposure = self.exposure.reindex(index=self.equity.index, columns=self.symbols)
        exposure = exposure.astype("float64").fillna(0.0)
        if TOTAL in self.equity.columns:
            if TOTAL in self.exposure.columns:
                exposure[TOTAL] = self.exposure[TOTAL].reindex(self.equity.index).fillna(0.0)
            else:
                weights = self.equity[self.symbols].astype("float64").fillna(0.0)
                invested = (exposure[self.symbols] * weights).sum(axis=1)
                exposure[TOTAL] = (invested / self.equity[TOTAL].astype("float64")).fillna(0.0)
        return exposure[list(self.equity.columns)]

    # ------------------------------------------------------------------ files

    def save(self, directory: str | Path) -> Path:
        """Write the result to ``directory`` (created if needed) and return its path.

        Files: ``meta.json`` (format, meta, params and the frames' index frequencies),
        ``stats.json`` (:meth:`stats`, when it can be computed) and ``equity.parquet``,
        ``trades.parquet``, ``orders.parquet``, ``exposure.parquet`` (pyarrow; UTC times kept).
        JSON is strict: NaN and infinities, timestamps, timedeltas and tuples are written as
        tagged objects (``{"$float": "nan"}``) that :meth:`load` turns back.

        Raises
        ------
        TypeError
            A meta or params value that JSON cannot hold (the message names its key).
        """
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        freqs: dict[str, str | None] = {}
        for name in FRAME_NAMES:
            frame: pd.DataFrame = getattr(self, name)
            index = frame.index
            freqs[name] = index.freqstr if isinstance(index, pd.DatetimeIndex) else None
            _frame_for_parquet(frame, name).to_parquet(root / f"{name}.parquet", engine="pyarrow")
        header = {"format": _FORMAT, "meta": self.meta, "params": self.params, "freq": freqs}
        _dump_json(header, root / "meta.json", "meta")
        if not self.equity.empty:
            table = self.stats()
            stats = {str(c): dict(table[c].items()) for c in table.columns}
            _dump_json(stats, root / "stats.json", "stats")
        return root

    @classmethod
    def load(cls, directory: str | Path) -> BacktestResult:
        """Read a result written by :meth:`save`.

        Raises
        ------
        FileNotFoundError
            ``directory`` lacks ``meta.json`` or one of the Parquet files.
        ValueError
            ``meta.json`` is of an unknown format.
        """
        root = Path(directory)
        header = _load_json(root / "meta.json")
        if not isinstance(header, dict) or header.get("format") != _FORMAT:
            got = header.get("format") if isinstance(header, dict) else header
            raise ValueError(f"{root / 'meta.json'}: expected format {_FORMAT}, got {got!r}")
        frames: dict[str, pd.DataFrame] = {}
        for name in FRAME_NAMES:
            frame = pd.read_parquet(root / f"{name}.parquet", engine="pyarrow")
            freq = header.get("freq", {}).get(name)
            if freq and isinstance(frame.index, pd.DatetimeIndex):
                frame.index = pd.DatetimeIndex(frame.index, freq=freq)
            frames[name] = frame
        return cls(
            equity=frames["equity"],
            trades=frames["trades"],
            orders=frames["orders"],
            exposure=frames["exposure"],
            params=dict(header.get("params") or {}),
            meta=dict(header.get("meta") or {}),
        )


def _profit_factor(pnl: np.ndarray) -> float:
    wins, losses = float(pnl[pnl > 0].sum()), float(-pnl[pnl < 0].sum())
    if losses > 0:
        return wins / losses
    return math.inf if wins > 0 else math.nan


def _trade_rows(trades: pd.DataFrame, start: float, end: float) -> dict[str, Any]:
    # The trade rows of the statistics table for one equity column.
    closed = trades[trades["exit_ts"].notna()]
    pnl = closed["pnl_usd"].to_numpy(dtype=np.float64)
    held = closed["bars_held"].to_numpy()
    held = held[held >= 0]
    returns = closed["return_pct"].to_numpy(dtype=np.float64)
    some = returns.size > 0
    return {
        "Trades": len(trades),
        "Open Trades": len(trades) - len(closed),
        "Trade Win Rate [%]": float((pnl > 0).mean() * 100.0) if some else math.nan,
        "Trade Profit Factor": _profit_factor(pnl) if some else math.nan,
        "Avg. Trade [%]": float(returns.mean()) if some else math.nan,
        "Best Trade [%]": float(returns.max()) if some else math.nan,
        "Worst Trade [%]": float(returns.min()) if some else math.nan,
        "Avg. Holding [bars]": float(held.mean()) if held.size else math.nan,
        "Fees [$]": float(trades["fees_usd"].sum()),
        "Start Value [$]": start,
        "End Value [$]": end,
    }


def _frame_for_parquet(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    # Parquet wants string column names; refuse rather than silently rename.
    bad = [c for c in frame.columns if not isinstance(c, str)]
    if bad:
        raise TypeError(
            f"{name}: Parquet needs string column names, got {bad[:5]!r} "
            f"(rename them, e.g. frame.columns = frame.columns.map(str))"
        )
    return frame


# ----------------------------------------------------------------------------------------------
# Comparing trades


def _trades_of(value: BacktestResult | pd.DataFrame, name: str) -> pd.DataFrame:
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
            lot.closed_qty += take
            lot.exit_notional += take * price
            lot.exit_fees += fee * take / qty
            lot.exit_ns = ts_ns
            remaining -= take
            if lot.open_qty <= 1e-12 * lot.qty:
                self.lots.popleft()
                self.rows.append(self._closed(lot, lot.qty, lot.fee_usd))

    def _closed(self, lot: _Lot, qty: float, entry_fee: float) -> dict[str, Any]:
        exit_price = lot.exit_notional / lot.closed_qty
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
    the exit time the last one's, the sell fees shared in proportion to quantity). Lots still
    open at the end are open trades (``exit_ts`` NaT); a lot partly closed at the end is split
    into a closed trade and an open one, its buy fee shared pro rata.

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
