"""``EventBacktester``: the live trading engine run over a daily bar history.

The real :class:`~greekfire.engine.engine.TradingEngine` (strategies from the config, the
strategy guard, the :class:`~greekfire.risk.gate.RiskGate`, the order manager, the
:class:`~greekfire.broker.paper.PaperBroker` with its fee and slippage model, the SQLite
journal) runs one cycle per bar on a :class:`~greekfire.engine.clock.SimulatedClock`, against a
:class:`~greekfire.backtest.event_data.HistoricalProvider` that reveals the history only up to
the clock. Indicators are computed once, vectorised, and revealed bar by bar
(:class:`~greekfire.backtest.event_data.PrecomputedIndicatorBook`).

Timing of the cycle of bar ``t`` (a session date): at the open of the session of bar ``t + 1``
(the next session's open after the last bar). Then bar ``t`` has completed, no later bar has,
and the paper broker's market is open, so market orders fill at once, at the quote:

- ``fill="close"``: the quote is bar ``t``'s close: the strategy sees bar ``t`` and its orders
  fill at that close;
- ``fill="next_open"``: the quote is bar ``t + 1``'s open (the clock is at that open); the last
  bar gets no cycle (nothing to fill at).

Option chains (``chains=``): served by the provider at the clock's time from a chain source
(:mod:`greekfire.backtest.event_chains`: the sim's synthetic chain model over the bar prices,
or stored snapshots); the default ``"auto"`` uses synthetic chains when an enabled strategy
needs chains (``wheel``, ``vertical_credit``) and none otherwise. Options expire, are exercised
and assigned by the paper broker at the expiry close against the underlying's quote, which
must then be the expiry bar's close: with ``fill="close"`` it is (the next cycle, at the next
open, still quotes that close); with ``fill="next_open"`` and chains, the plan adds a closing
cycle at each bar's close (the live engine's closing cycle: the market is closed, quotes are
refreshed, the broker settles), so settlement never sees the next open.

Spread and slippage: quotes are ``spread_bps`` wide around the price; the paper broker fills
market orders at the mid (or the touch) moved by its ``slippage_bps``. Fees are the paper
broker's :class:`~greekfire.broker.config.FeeConfig`.

The result (:class:`~greekfire.backtest.results.BacktestResult`) is built from the journal's
fills, their times mapped to the bar whose price they filled at: trades (first in first out,
long-only stock), equity per bar (cash plus positions at the bar's close; options, counted
under their underlying, at the chain source's mid at the bar's close, else their intrinsic
value), exposure (stock only), orders.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from greekfire.backtest.event_chains import (
    ChainSource,
    ChainsSpec,
    option_marks,
    resolve_chains,
)
from greekfire.backtest.event_data import (
    FillModel,
    HistoricalProvider,
    PrecomputedIndicatorBook,
    session_times,
)
from greekfire.backtest.results import TOTAL, BacktestResult, trades_from_fills
from greekfire.broker.paper import PaperBroker
from greekfire.domain.instruments import OptionContract, instrument_for
from greekfire.domain.market import Quote
from greekfire.domain.orders import Fill, Order, OrderIntent
from greekfire.engine.clock import SimulatedClock
from greekfire.engine.engine import CycleReport, TradingEngine
from greekfire.journal.sqlite import Journal
from greekfire.risk.gate import RiskDecision, RiskGate
from greekfire.risk.view import PortfolioView
from greekfire.settings import Settings
from greekfire.sim.calendar import next_open
from greekfire.strategy.loader import resolve_class

__all__ = ["EventBacktester", "EventRun"]


class _LateQuotes:
    # The paper broker needs a quote source before the engine (which owns the snapshot) exists.
    def __init__(self) -> None:
        self.source: Any = None

    def quote(self, symbol: str) -> Quote | None:
        return None if self.source is None else cast(Quote | None, self.source.quote(symbol))


class _NoRiskGate(RiskGate):
    # risk=False: every intent approved as asked (the strategy's own sizing decides).
    def check_all(self, intents: Any, view: PortfolioView) -> list[RiskDecision]:
        decisions: list[RiskDecision] = []
        for intent in intents:
            assert isinstance(intent, OrderIntent)
            decisions.append(RiskDecision(True, intent, intent.qty, checks=("off",)))
        return decisions


@dataclass(slots=True)
class EventRun:
    """What :meth:`EventBacktester.run` did besides the result.

    Attributes
    ----------
    journal_path : Path
        The SQLite journal (deleted after the run when it was a temporary one).
    reports : list of CycleReport
        One per cycle.
    errors : list of str
        Every cycle's errors, prefixed by the cycle's time.
    """

    journal_path: Path
    reports: list[CycleReport] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class EventBacktester:
    """The live code path over history (see the module docstring).

    Parameters
    ----------
    settings : Settings
        Strategies, risk, broker (paper config: cash, fees, slippage), engine lookback and
        indicators, journal batch size. The engine's symbols, clock, data and journal path are
        replaced by the backtest's.
    bars : mapping of str to DataFrame
        Daily bars per symbol (``BAR_COLUMNS``, 00:00 UTC stamps of session dates), the whole
        history including the warm-up before ``start``.
    fill : {"close", "next_open"}
        Fill model (see the module docstring).
    spread_bps : float
        Quoted spread around the modelled price (the paper broker's ``fill_at="touch"`` pays
        half of it).
    risk : bool
        Run the risk gate (True, the live path) or approve every intent as asked.
    start, end : timestamp-like, optional
        First and last bar that get a cycle (default the whole history).
    journal_path : str or Path, optional
        Where to write the journal (must not exist); default a temporary file, removed after
        the run.
    precompute_indicators : bool
        Reveal vectorised indicators (True) or stream them as the live engine does.
    chains : "auto", None, "none", "synthetic", mapping or ChainSource
        Option chains (see :func:`~greekfire.backtest.event_chains.resolve_chains`):
        ``"auto"`` (default) is ``"synthetic"`` when an enabled strategy needs chains, else
        none; ``"synthetic"`` is ``SyntheticChains()`` (pass a
        :class:`~greekfire.backtest.event_chains.SyntheticChains` for another seed, rate,
        surface or expiry schedule); a mapping of underlying to chain snapshots is
        :class:`~greekfire.backtest.event_chains.StoredChains`.
    """

    def __init__(
        self,
        settings: Settings,
        bars: Mapping[str, pd.DataFrame],
        *,
        fill: FillModel = "close",
        spread_bps: float = 0.0,
        risk: bool = True,
        start: Any = None,
        end: Any = None,
        journal_path: str | Path | None = None,
        precompute_indicators: bool = True,
        chains: ChainsSpec = "auto",
    ) -> None:
        self.settings = settings
        self.fill: FillModel = fill
        self.risk = bool(risk)
        self.precompute_indicators = bool(precompute_indicators)
        self._clock_box: list[SimulatedClock] = []
        self.chains: ChainSource | None = resolve_chains(
            ("synthetic" if _needs_chains(settings) else None) if chains == "auto" else chains
        )
        self.provider = HistoricalProvider(
            bars, self._now, fill=fill, spread_bps=spread_bps, chains=self.chains
        )
        self.symbols = tuple(self.provider.history)
        self.journal_path = None if journal_path is None else Path(journal_path)
        if self.journal_path is not None and self.journal_path.exists():
            raise ValueError(
                f"journal_path: {str(self.journal_path)!r} exists; a backtest starts a new journal"
            )
        self.index = self._bar_index()
        self.cycles = self._cycle_plan(start, end)
        self.last_run: EventRun | None = None

    def _now(self) -> pd.Timestamp:
        return self._clock_box[0].now()

    # -- the plan -------------------------------------------------------------------------------
    def _bar_index(self) -> pd.DatetimeIndex:
        stamps = [cast(pd.DatetimeIndex, f.index) for f in self.provider.history.values()]
        union = stamps[0]
        for other in stamps[1:]:
            union = union.union(other)
        if len(union) == 0:
            raise ValueError("bars: the history holds no bars")
        return union

    def _cycle_plan(self, start: Any, end: Any) -> pd.DataFrame:
        # One row per bar that gets a cycle: its stamp, the cycle time, the bar its fills price at.
        index = self.index
        opens = np.empty(len(index), dtype=np.int64)
        closes = np.empty(len(index), dtype=np.int64)
        for symbol, frame in self.provider.history.items():
            pos = index.get_indexer(cast(pd.DatetimeIndex, frame.index))
            opens[pos], closes[pos] = self.provider.sessions[symbol]
        after_last = next_open(pd.Timestamp(int(closes[-1]), tz="UTC")).value
        cycle_ns = np.append(opens[1:], after_last)
        fill_bar = np.arange(len(index)) + (1 if self.fill == "next_open" else 0)
        keep = fill_bar < len(index)
        if start is not None:
            keep &= index >= _utc(start, "start")
        if end is not None:
            keep &= index <= _utc(end, "end")
        if not keep.any():
            raise ValueError(
                f"start/end: no bar between {start!r} and {end!r} gets a cycle"
                f" (history {index[0].date()} .. {index[-1].date()}, fill {self.fill!r})"
            )
        plan = pd.DataFrame(
            {
                "bar": index[keep],
                "cycle_ns": cycle_ns[keep],
                "fill_bar": index[np.minimum(fill_bar, len(index) - 1)][keep],
                "closing": np.zeros(int(keep.sum()), dtype=bool),
            }
        )
        if self.chains is None or self.fill != "next_open":
            return plan
        # Settlement at each close with the close's quote (see the module docstring).
        first, last = plan["bar"].iloc[0], plan["fill_bar"].iloc[-1]
        closing = (index >= first) & (index <= last)
        extra = pd.DataFrame(
            {
                "bar": index[closing],
                "cycle_ns": closes[closing],
                "fill_bar": index[closing],
                "closing": np.ones(int(closing.sum()), dtype=bool),
            }
        )
        both = pd.concat([plan, extra], ignore_index=True)
        return both.sort_values("cycle_ns", kind="mergesort", ignore_index=True)

    # -- the run --------------------------------------------------------------------------------
    def _engine_settings(self, journal: Path, first: pd.Timestamp) -> Settings:
        raw = self.settings.model_dump()
        raw["engine"].update(
            symbols=list(self.symbols),
            clock="simulated",
            sim_start=first.to_pydatetime(),
            timeframe="1d",
            dry_run=False,
        )
        raw["data"].update(history_dir=None)
        raw["broker"].update(kind="paper")
        raw["journal"].update(path=str(journal), dry_run_path=str(journal.with_suffix(".dry.db")))
        return Settings.model_validate(raw)

    def _build(self, journal: Path) -> TradingEngine:
        first = pd.Timestamp(int(self.cycles["cycle_ns"].iloc[0]), tz="UTC")
        clock = SimulatedClock(first)
        self._clock_box[:] = [clock]
        settings = self._engine_settings(journal, first)
        quotes = _LateQuotes()
        broker = PaperBroker(settings.broker.paper, quotes, clock, state_path=None)
        engine = TradingEngine(
            settings, clock=clock, provider=self.provider, broker=broker, workdir=journal.parent
        )
        quotes.source = engine.snapshot
        if self.precompute_indicators:
            book = engine.book
            engine.book = PrecomputedIndicatorBook(
                book.symbols, [s.name for s in book.specs], book.lookback, self.provider.history
            )
        if not self.risk:
            engine.gate = _NoRiskGate(settings.risk)
        return engine

    def run(self) -> BacktestResult:
        """Run every planned cycle; returns the result built from the journal.

        The run's journal path, cycle reports and errors are in :attr:`last_run`.
        """
        if self.journal_path is not None:
            return self._run(self.journal_path)
        with tempfile.TemporaryDirectory(prefix="greekfire-backtest-") as tmp:
            return self._run(Path(tmp) / "backtest.db")

    def _run(self, journal_path: Path) -> BacktestResult:
        journal_path.parent.mkdir(parents=True, exist_ok=True)
        run = EventRun(journal_path)
        self.last_run = run
        engine = self._build(journal_path)
        try:
            clock = self._clock_box[0]
            for cycle_ns in self.cycles["cycle_ns"].tolist():
                clock.set(pd.Timestamp(int(cycle_ns), tz="UTC"))
                report = engine.run_cycle()
                run.reports.append(report)
                run.errors.extend(f"{report.ts.isoformat()}: {e}" for e in report.errors)
            # The last cycle's fills: live, the next cycle would journal them.
            engine.orders.sync_events()
            engine.journal.flush()
        finally:
            engine.close()
        journal = Journal.open_readonly(journal_path)
        try:
            fills = journal.fills()
            orders = journal.orders()
            integrity = journal.integrity_check()
        finally:
            journal.close()
        return self._result(fills, orders, integrity, run)

    # -- the result -----------------------------------------------------------------------------
    def _fill_bar(self, ts_ns: int) -> pd.Timestamp:
        # The bar a fill priced at: the planned cycle's fill bar; other fills (settlements at a
        # close) the bar of their New York date.
        plan = self.cycles
        hit = np.flatnonzero(plan["cycle_ns"].to_numpy() == ts_ns)
        if hit.size:
            return cast(pd.Timestamp, plan["fill_bar"].iloc[int(hit[0])])
        day = pd.Timestamp(ts_ns, tz="UTC").tz_convert("America/New_York").date()
        return pd.Timestamp(day, tz="UTC")

    def _fills_frame(self, fills: Sequence[Fill]) -> pd.DataFrame:
        rows = [
            {
                "symbol": f.symbol,
                "side": f.side.value,
                "qty": f.qty,
                "price": f.price,
                "fee_usd": f.fee_usd,
                "ts_ns": self._fill_bar(f.ts_ns).value,
                "multiplier": instrument_for(f.symbol).multiplier,
                "underlying": instrument_for(f.symbol).underlying,
                "client_order_id": f.client_order_id,
            }
            for f in fills
        ]
        columns = ["symbol", "side", "qty", "price", "fee_usd", "ts_ns", "multiplier", "underlying"]
        if not rows:
            return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
        return pd.DataFrame(rows)

    def _option_book(
        self, underlying: str, fills: pd.DataFrame, index: pd.DatetimeIndex, close: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        # Cash flows of the options on ``underlying`` and their value at each bar's close.
        flow = np.zeros(len(index))
        held: dict[str, np.ndarray] = {}
        positions = index.searchsorted(
            pd.DatetimeIndex(fills["ts_ns"].to_numpy(np.int64), tz="UTC")
        )
        for pos, symbol, side, qty, price, fee, mult in zip(
            positions.tolist(),
            fills["symbol"].tolist(),
            fills["side"].tolist(),
            fills["qty"].to_numpy(np.float64).tolist(),
            fills["price"].to_numpy(np.float64).tolist(),
            fills["fee_usd"].to_numpy(np.float64).tolist(),
            fills["multiplier"].to_numpy(np.float64).tolist(),
            strict=True,
        ):
            units = qty if side == "buy" else -qty
            flow[pos:] -= units * price * mult + fee
            held.setdefault(symbol, np.zeros(len(index)))[pos:] += units
        value = np.zeros(len(index))
        close_ns = session_times(index, underlying)[1]
        for i in range(len(index)):
            open_now = [s for s, q in held.items() if abs(q[i]) > 1e-9]
            if not open_now or not np.isfinite(close[i]):
                continue
            stamp = pd.Timestamp(int(close_ns[i]), tz="UTC")
            marks = self._marks(underlying, float(close[i]), stamp, open_now)
            for symbol in open_now:
                contract = instrument_for(symbol)
                value[i] += held[symbol][i] * marks[symbol] * contract.multiplier
        return flow, value

    def _marks(
        self, underlying: str, spot: float, stamp: pd.Timestamp, symbols: list[str]
    ) -> dict[str, float]:
        if self.chains is not None:
            return option_marks(self.chains, underlying, spot, stamp, symbols)
        out: dict[str, float] = {}
        for symbol in symbols:
            contract = instrument_for(symbol)
            assert isinstance(contract, OptionContract)
            out[symbol] = contract.intrinsic(spot)
        return out

    def _equity(self, fills: pd.DataFrame, cash0: float) -> tuple[pd.DataFrame, pd.DataFrame]:
        index = self.index[self.index <= self.cycles["fill_bar"].iloc[-1]]
        index = index[index >= self.cycles["bar"].iloc[0]]
        share = cash0 / len(self.symbols)
        values: dict[str, np.ndarray] = {}
        held: dict[str, np.ndarray] = {}
        for symbol in self.symbols:
            close = self.provider.history[symbol]["close"].reindex(index).ffill().to_numpy()
            mine = fills[fills["symbol"] == symbol] if len(fills) else fills
            flow = np.zeros(len(index))
            qty = np.zeros(len(index))
            positions = index.searchsorted(
                pd.DatetimeIndex(mine["ts_ns"].to_numpy(np.int64), tz="UTC")
            )
            signs = np.where(mine["side"].to_numpy() == "buy", 1.0, -1.0)
            units = mine["qty"].to_numpy(np.float64) * signs
            cash = units * mine["price"].to_numpy(np.float64) + mine["fee_usd"].to_numpy(np.float64)
            for pos, moved, spent in zip(
                positions.tolist(), units.tolist(), cash.tolist(), strict=True
            ):
                flow[pos:] -= spent
                qty[pos:] += moved
            value = np.where(qty != 0, qty * np.nan_to_num(close), 0.0)
            options = fills[(fills["underlying"] == symbol) & (fills["symbol"] != symbol)]
            if len(options):
                option_flow, option_value = self._option_book(symbol, options, index, close)
                flow += option_flow
                values[symbol] = share + flow + value + option_value
            else:
                values[symbol] = share + flow + value
            held[symbol] = value
        equity = pd.DataFrame(values, index=index)
        exposure = pd.DataFrame(held, index=index)
        if len(self.symbols) > 1:
            equity[TOTAL] = equity.sum(axis=1)
            total = equity[TOTAL].to_numpy()
            exposure = exposure.div(np.where(total != 0, total, np.nan), axis=0)
        else:
            exposure = exposure.div(equity.iloc[:, 0].replace(0.0, np.nan), axis=0)
        return equity, exposure

    def _result(
        self, fills: list[Fill], orders: list[Order], integrity: str, run: EventRun
    ) -> BacktestResult:
        frame = self._fills_frame(fills)
        stock = frame[frame["symbol"].isin(self.symbols)] if len(frame) else frame
        names = sorted({o.intent.strategy for o in orders})
        strategy = names[0] if len(names) == 1 else "event"
        equity, exposure = self._equity(frame, self.settings.broker.paper.starting_cash_usd)
        last = {
            s: float(self.provider.history[s]["close"].loc[: equity.index[-1]].to_numpy()[-1])
            for s in self.symbols
        }
        trades = trades_from_fills(stock, index=self.index, strategy=strategy, marks=last)
        paper = self.settings.broker.paper
        meta: dict[str, Any] = {
            "engine": "event",
            "fill": self.fill,
            "spread_bps": self.provider.spread_bps,
            "fill_at": paper.fill_at,
            "slippage_bps": paper.slippage_bps,
            "fees": paper.fees.model_dump(),
            "init_cash": paper.starting_cash_usd / len(self.symbols),
            "account_cash": paper.starting_cash_usd,
            "start": equity.index[0],
            "end": equity.index[-1],
            "risk": self.risk,
            "cycles": len(run.reports),
            "cycle_errors": len(run.errors),
            "journal_integrity": integrity,
            "option_fills": int(len(frame) - len(stock)),
            "chains": None if self.chains is None else self.chains.name,
            "periods_per_year": 252.0,
        }
        params = {e.name: dict(e.params) for e in self.settings.strategies if e.enabled}
        return BacktestResult(
            equity=equity,
            trades=trades,
            orders=_orders_frame(orders),
            exposure=exposure,
            params=params,
            meta=meta,
        )


def _needs_chains(settings: Settings) -> bool:
    # Whether an enabled strategy of the config asks for option chains (class attribute).
    return any(
        bool(getattr(resolve_class(entry, i), "needs_chains", False))
        for i, entry in enumerate(settings.strategies)
        if entry.enabled
    )


def _orders_frame(orders: Sequence[Order]) -> pd.DataFrame:
    rows = [
        {
            "client_order_id": o.client_order_id,
            "symbol": o.intent.symbol,
            "side": o.intent.side.value,
            "qty": float(o.intent.qty),
            "order_type": o.intent.order_type.value,
            "limit_price": math.nan if o.intent.limit_price is None else o.intent.limit_price,
            "status": o.status.value,
            "created_ts": pd.Timestamp(o.created_ns, tz="UTC"),
            "filled_qty": float(o.filled_qty),
            "avg_fill_price": math.nan if o.avg_fill_price is None else o.avg_fill_price,
            "strategy": o.intent.strategy,
            "reason": o.intent.reason,
        }
        for o in orders
    ]
    return pd.DataFrame(rows)


def _utc(value: Any, name: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a date or a timestamp, got {value!r}") from None
    # A naive value is a UTC date (daily bars are stamped 00:00 UTC).
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
