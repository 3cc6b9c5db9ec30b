"""What a backtest produces: equity, trades, orders, exposure, its parameters; saved and loaded.

Both engines (the compiled fast path and the event path over the live code) return a
:class:`BacktestResult`, so results compare, save and report the same way whoever made them.

- ``trades`` has exactly :data:`TRADE_COLUMNS` with the dtypes of :data:`TRADE_DTYPES` (times
  UTC ``datetime64[ns]``, ``exit_ts`` NaT for a trade still open at the end); the trades
  frame, :func:`same_trades` and :func:`trades_from_fills` live in
  :mod:`greekfire.backtest.trades` and are re-exported here.
- ``equity`` is the account value in dollars per bar (UTC index), one column per symbol, plus
  a ``"total"`` column when there are several symbols.
- :meth:`BacktestResult.save` writes ``meta.json`` (meta and params, NaN-safe), ``stats.json``
  and one Parquet file per frame; :meth:`BacktestResult.load` reads them back unchanged.
- :meth:`BacktestResult.stats` is the statistics table of
  :func:`greekfire.analytics.performance.performance_summary` plus rows from the trades.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from greekfire.backtest.trades import (
    TRADE_COLUMNS,
    TRADE_DTYPES,
    empty_trades,
    normalize_trades,
    same_trades,
    trades_from_fills,
)

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

TOTAL = "total"
"""Name of the equity column that sums all symbols."""

FRAME_NAMES: tuple[str, ...] = ("equity", "trades", "orders", "exposure")
"""The frames of a result, each saved as ``<name>.parquet``."""

_FORMAT = 1

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
