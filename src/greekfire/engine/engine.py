"""``TradingEngine``: one trading cycle, timed phase by phase, and the parts it drives.

A cycle (the brief's ``run_enhanced_trading_cycle``)::

    gate        market hours from the calendar (closed: sync the broker, snapshot, stop)
    fetch       new completed bars (pipeline + history store), quotes, option chains
    indicators  streaming indicators advanced by the new bars only
    strategies  each strategy on a read-only context, behind the guard
    risk        pre-trade checks on the post-trade portfolio, sizing
    orders      write-ahead intent, then send (dry run: journal only)
    journal     broker events (fills, settlements), snapshots, the cycle's timings
    metrics     Prometheus phases and counters; a new :class:`LiveState` for the dashboard

Operator commands (:attr:`TradingEngine.controls`, submitted from any thread) are applied at
the start of the next cycle, in the gate phase (see :mod:`greekfire.engine.control`).

Every phase's duration lands in :attr:`CycleReport.timings_s`, the journal's ``cycles`` table
and the performance monitor. An exception inside one phase is logged and reported in the
cycle's ``errors``; the engine carries on (the loop's boundary is
:func:`greekfire.engine.runner.run_continuous`).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from greekfire.broker.cached import CachedBroker
from greekfire.broker.port import Broker
from greekfire.data.history import HistoryStore
from greekfire.data.pipeline import AsyncDataPipeline
from greekfire.data.port import ChainFilter, MarketDataProvider
from greekfire.data.resilience import CircuitBreaker
from greekfire.domain.instruments import OptionContract, instrument_for
from greekfire.domain.market import Timeframe
from greekfire.domain.orders import BrokerEvent, Order, OrderIntent, OrderStatus
from greekfire.domain.portfolio import Account, Position
from greekfire.engine.clock import LiveClock, SimulatedClock, perf_timer
from greekfire.engine.control import ControlCommand, ControlKind, EngineControls, LiveState
from greekfire.engine.indicators import IndicatorBook
from greekfire.engine.live import (
    OPERATOR,
    SignalBook,
    build_live_state,
    cache_states,
    flatten_intents,
    paused_decision,
    strategy_states,
)
from greekfire.engine.market import MarketSnapshot
from greekfire.engine.orders import OrderManager
from greekfire.engine.tape import MarketTape
from greekfire.engine.wiring import build_broker, build_clock, build_provider, journal_path
from greekfire.errors import GreekfireError, StrategyError
from greekfire.journal.recovery import ReconcileReport, reconcile
from greekfire.journal.sqlite import Journal
from greekfire.perf.monitor import PerformanceMonitor
from greekfire.risk.gate import RiskDecision, RiskGate
from greekfire.risk.report import RiskReport, RiskReporter
from greekfire.risk.view import PortfolioView
from greekfire.settings import Secrets, Settings
from greekfire.sim.calendar import is_open, previous_close
from greekfire.strategy.base import ChainRequest, StrategyContext
from greekfire.strategy.guard import StrategySlot, guarded_chain_request, guarded_cycle
from greekfire.strategy.loader import load_slots

__all__ = ["PHASES", "CycleReport", "TradingEngine", "completed_end"]

log = logging.getLogger("greekfire.engine")

PHASES = ("gate", "fetch", "indicators", "strategies", "risk", "orders", "journal", "metrics")
_DAY = pd.Timedelta(days=1)


def completed_end(now: pd.Timestamp, timeframe: Timeframe) -> pd.Timestamp:
    """The exclusive end of the bars completed at ``now``: intraday, ``now`` floored to the bar
    length; daily, the day after the last session that has closed (00:00 UTC stamps)."""
    if timeframe.intraday:
        return now.floor(f"{timeframe.seconds}s")
    close = previous_close(now).tz_convert("America/New_York")
    return pd.Timestamp(close.date(), tz="UTC") + _DAY


def _lookback_start(end: pd.Timestamp, timeframe: Timeframe, bars: int) -> pd.Timestamp:
    if timeframe.intraday:
        per_session = max(1, 390 * 60 // timeframe.seconds)
        sessions = bars // per_session + 2
    else:
        sessions = bars + 2
    return end - pd.Timedelta(days=math.ceil(sessions * 365 / 250) + 5)


@dataclass(frozen=True, slots=True)
class _BrokerRound:
    events: list[BrokerEvent]
    account: Account
    positions: dict[str, Position]


@dataclass(slots=True)
class CycleReport:
    """What one cycle did.

    Attributes
    ----------
    cycle : int
        1-based count over the journal's life.
    ts : pandas.Timestamp
        The clock at the start of the cycle.
    skipped : str or None
        Why the trading phases did not run (``"market closed"``, ``"halted: ..."``).
    timings_s : dict
        Seconds per phase, plus ``"total"``.
    counts : dict
        bars, quotes, chains, intents, approved, denied, sent, rejected, fills, events.
    errors : list of str
        Phase failures and disabled strategies, in words.
    decisions : list of RiskDecision
    """

    cycle: int
    ts: pd.Timestamp
    skipped: str | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    decisions: list[RiskDecision] = field(default_factory=list)


class TradingEngine:
    """The bot: data -> indicators -> strategies -> risk -> orders -> journal -> metrics.

    Parameters
    ----------
    settings : Settings
        The whole configuration.
    secrets : Secrets, optional
        API keys (from the environment); needed for Alpaca data or broker.
    clock : LiveClock or SimulatedClock, optional
        Default from ``settings.engine.clock``.
    provider : MarketDataProvider, optional
        Default from ``settings.data``.
    broker : Broker, optional
        Default from ``settings.broker`` (the paper broker fills against this engine's quotes).
    monitor : PerformanceMonitor, optional
        Default a fresh monitor (its own registry).
    workdir : path, optional
        Relative journal, state and history paths resolve here; default the current directory.

    Attributes
    ----------
    controls : EngineControls
        Operator commands (any thread); applied at the start of the next cycle.
    entries_paused : bool
        Opening intents are denied (an operator's pause or flatten; kept in the journal).
    """

    controls: EngineControls
    entries_paused: bool
    _flatten_reason: str | None
    _kill_switch: str | None
    _books: tuple[Account, dict[str, Position]] | None

    def __init__(
        self,
        settings: Settings,
        *,
        secrets: Secrets | None = None,
        clock: LiveClock | SimulatedClock | None = None,
        provider: MarketDataProvider | None = None,
        broker: Broker | None = None,
        monitor: PerformanceMonitor | None = None,
        workdir: str | Path | None = None,
    ) -> None:
        cfg = settings.engine
        self.settings = settings
        self.workdir = Path(workdir) if workdir is not None else Path.cwd()
        secrets = secrets if secrets is not None else Secrets()
        self.clock = clock if clock is not None else build_clock(cfg)
        self.timeframe = Timeframe.parse(cfg.timeframe)
        self.dry_run = cfg.dry_run
        self.monitor = monitor if monitor is not None else PerformanceMonitor()
        self.snapshot = MarketSnapshot()
        self.provider = provider or build_provider(settings.data, self.clock, secrets, cfg.symbols)
        history = settings.data.history_dir
        self.store = HistoryStore(self._path(history)) if history else None
        self.pipeline = AsyncDataPipeline(
            self.provider,
            max_concurrent_requests=settings.data.max_concurrent_requests,
            requests_per_second=settings.data.requests_per_second,
            timeout_s=settings.data.timeout_s,
            store=self.store,
            monitor=self.monitor,
            now=self.clock.now,
            # The breaker's cool-down runs on the engine's clock: simulated time in a simulation.
            breaker=CircuitBreaker(clock=self.clock.monotonic, name=self.provider.name),
        )
        jpath = self._path(
            journal_path(settings.journal.path, settings.journal.dry_run_path, self.dry_run)
        )
        inner = broker or build_broker(
            settings.broker, self.snapshot, self.clock, secrets, jpath.with_suffix(".paper.json")
        )
        self.inner_broker = inner
        self.broker = CachedBroker(inner, settings.broker.account_cache_ttl_s, self.clock.monotonic)
        self.journal = Journal(jpath, batch_size=settings.journal.batch_size, clock=self.clock)
        self.tape = MarketTape(self.journal, settings.journal.record_market)
        self.journal.record_run(self.clock.now_ns(), settings.model_dump_json())
        self.gate = RiskGate(settings.risk)
        self.reporter = RiskReporter(self.gate, settings.risk.report_ttl_s, self.clock.monotonic)
        self.slots = load_slots(settings.strategies, cfg.symbols)
        wanted = list(dict.fromkeys([*cfg.indicators, *self._strategy_indicators()]))
        warmups = [s.strategy.warmup_bars for s in self._live_slots() if s.strategy is not None]
        lookback = max([cfg.lookback_bars, *warmups])
        self.book = IndicatorBook(cfg.symbols, wanted, lookback)
        self.orders = OrderManager(
            self.broker, self.journal, self.clock, dry_run=self.dry_run, on_change=self._changed
        )
        self._loop = asyncio.new_event_loop()
        self.cycle = int(self.journal.get_meta("cycle") or 0)
        try:
            self.reconcile_report: ReconcileReport = reconcile(
                self.journal, inner, settings.journal.reconcile, self.clock
            )
        except BaseException:  # a halt (StateError) or a broker that cannot be reached
            self.journal.close()
            self.broker.close()
            self._loop.close()
            raise
        self.orders.reload()
        self.last_report: CycleReport | None = None
        self._closed = False
        self._closing_marked_ns = 0
        self._new_bars: dict[str, pd.DataFrame] = {}
        self._events_synced = False
        self._held = list(self.broker.positions())
        self._overlap_broker = inner.name != "paper"
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="greekfire-broker")
        self._init_controls()

    # -- construction helpers ---------------------------------------------------------------
    def _path(self, value: str | Path) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.workdir / path

    def _live_slots(self) -> list[StrategySlot]:
        return [s for s in self.slots if s.enabled and s.strategy is not None]

    def _strategy_indicators(self) -> list[str]:
        return [i for slot in self._live_slots() for i in slot.strategy.indicators]  # type: ignore[union-attr]

    def _changed(self) -> None:
        # The account cache invalidates itself on submit, cancel and fill events.
        self.reporter.invalidate()

    # -- the cycle ----------------------------------------------------------------------------
    @contextmanager
    def _phase(self, report: CycleReport, name: str) -> Iterator[None]:
        started = perf_timer()
        try:
            yield
        except Exception as exc:  # a phase failing must not end the cycle's bookkeeping
            log.exception("phase failed", extra={"phase": name, "cycle": report.cycle})
            report.errors.append(f"{name}: {type(exc).__name__}: {exc}")
        finally:
            elapsed = perf_timer() - started
            report.timings_s[name] = report.timings_s.get(name, 0.0) + elapsed

    def run_cycle(self) -> CycleReport:
        """Run one cycle; never raises for data, strategy, risk or broker trouble."""
        if self._closed:
            raise RuntimeError("run_cycle: the engine is closed")
        started = perf_timer()
        self.cycle += 1
        now = self.clock.now()
        report = CycleReport(self.cycle, now)
        counts = report.counts
        with self._phase(report, "gate"):
            self._apply_controls()
        with self._phase(report, "gate"):
            if self.settings.engine.market_hours_only and not is_open(now):
                report.skipped = "market closed"
        if report.skipped is not None and previous_close(now).value > self._closing_marked_ns:
            with self._phase(report, "fetch"):
                self._closing_marks(now, report)
        if report.skipped is None:
            intents: list[OrderIntent] = []
            state: _BrokerRound | None = None
            with self._phase(report, "fetch"):
                state = self._fetch_all(now, report)
            with self._phase(report, "indicators"):
                counts["bars"] = self.book.add(self._new_bars)
            view: PortfolioView | None = None
            with self._phase(report, "strategies"):
                if state is not None:
                    view = self._view(now, state.account, state.positions)
                    self._kill_switch = "; ".join(self.gate.halt_reasons(view)) or None
                    intents = self._run_strategies(now, view, report)
                    if self._flatten_reason is not None:
                        intents = [*self._flatten(state.positions), *intents]
            with self._phase(report, "risk"):
                if view is not None and intents:
                    report.decisions = self._check(intents, view)
                    self._signals.add(now.value, report.decisions)
            with self._phase(report, "orders"):
                self._place(report)
        with self._phase(report, "journal"):
            self._bookkeeping(report)
        with self._phase(report, "metrics"):
            failed = {e.split(":", 1)[0] for e in report.errors}
            for phase, seconds in report.timings_s.items():
                outcome = "error" if phase in failed else "ok"
                self.monitor.cycle_phase_duration.labels(phase, outcome).observe(seconds)
            self._publish(report, now)
        report.timings_s["total"] = perf_timer() - started
        self.journal.record_cycle(self.cycle, now.value, report.timings_s, report.counts)
        self.journal.set_meta("cycle", str(self.cycle))
        self.journal.flush()
        self.last_report = report
        return report

    # -- fetch ----------------------------------------------------------------------------------
    def _closing_marks(self, now: pd.Timestamp, report: CycleReport) -> None:
        # The first cycle after a close refreshes the quotes once, so that what settles at
        # the close (options expiring that day, day orders) sees closing prices.
        self._closing_marked_ns = previous_close(now).value
        symbols = list(self.settings.engine.symbols)
        quotes = self._loop.run_until_complete(self.pipeline.fetch_quotes(symbols, split=False))
        if quotes.data:
            parts = quotes.blocks or list(quotes.data.values())
            frame = pd.concat(parts) if len(parts) > 1 else parts[0]
            report.counts["quotes"] = self.snapshot.update_quotes(frame, now.value)
            self.tape.quotes(now.value, frame)
        for symbol, failure in quotes.failures.items():
            report.errors.append(f"fetch: quotes {symbol}: {failure.error_type}")

    def _fetch_all(self, now: pd.Timestamp, report: CycleReport) -> _BrokerRound:
        # Market data (async, concurrent) and the broker's state. A remote broker is read in
        # a worker thread meanwhile, so its round trips hide behind the data's; the paper
        # broker fills against the quotes just fetched, so it is read after them.
        self._new_bars = {}
        self.orders.resolve_pending()
        if self._overlap_broker:
            pending = self._executor.submit(self._broker_round)
            try:
                self._loop.run_until_complete(self._fetch(now, report.counts, report.errors))
            finally:
                state = pending.result()
        else:
            self._loop.run_until_complete(self._fetch(now, report.counts, report.errors))
            state = self._broker_round()
        events = self.orders.record_events(state.events)
        self._count_events(events)
        report.counts["events"] = len(events)
        report.counts["fills"] = sum(len(e.fills) for e in events)
        self._events_synced = True
        self._held = list(state.positions)
        return state

    def _broker_round(self) -> _BrokerRound:
        # Runs in the worker thread: broker calls only (the journal belongs to the main one).
        events = self.broker.events(self.orders.last_seq)
        return _BrokerRound(events, self.broker.account(), self.broker.positions())

    async def _fetch(self, now: pd.Timestamp, counts: dict[str, int], errors: list[str]) -> None:
        symbols = self.settings.engine.symbols
        held = self._held
        quote_symbols = list(
            dict.fromkeys([*symbols, *(instrument_for(s).underlying for s in held)])
        )
        chain_requests = self._chain_requests(held, now)
        tasks: list[Any] = [
            self._fetch_bars(now, errors),
            self.pipeline.fetch_quotes(quote_symbols, split=False),
        ]
        for underlying, chain_filter in chain_requests.items():
            tasks.append(self.pipeline.fetch_chains([underlying], chain_filter))
        results = await asyncio.gather(*tasks)
        quotes = results[1]
        for symbol, failure in quotes.failures.items():
            errors.append(f"quotes {symbol}: {failure.error_type}: {failure.message}")
        if quotes.data:
            parts = quotes.blocks or list(quotes.data.values())
            frame = pd.concat(parts) if len(parts) > 1 else parts[0]
            counts["quotes"] = self.snapshot.update_quotes(frame, now.value)
            self.tape.quotes(now.value, frame)
        self.tape.bars(now.value, self._new_bars)
        self.snapshot.forget_chains()
        contracts = 0
        for chains in results[2:]:
            for underlying, frame in chains.data.items():
                self.tape.chain(now.value, underlying, frame)
                contracts += len(self.snapshot.update_chain(underlying, frame, now.value))
            for underlying, failure in chains.failures.items():
                errors.append(f"chain {underlying}: {failure.error_type}: {failure.message}")
        counts["contracts"] = contracts

    async def _fetch_bars(self, now: pd.Timestamp, errors: list[str]) -> None:
        end = completed_end(now, self.timeframe)
        step = pd.Timedelta(seconds=self.timeframe.seconds)
        by_start: dict[pd.Timestamp, list[str]] = {}
        for symbol in self.settings.engine.symbols:
            last = self.book.last_bar_ns(symbol)
            if last is None:
                start = _lookback_start(end, self.timeframe, self.book.lookback)
            else:
                start = pd.Timestamp(last, tz="UTC") + step
                if start >= end:
                    continue  # up to date: no bar can have completed since
            by_start.setdefault(start, []).append(symbol)
        for start, names in by_start.items():
            result = await self.pipeline.fetch_bars(names, start, end, self.timeframe)
            self._new_bars.update(result.data)
            for symbol, failure in result.failures.items():
                errors.append(f"bars {symbol}: {failure.error_type}: {failure.message}")

    def _chain_requests(self, held: list[str], now: pd.Timestamp) -> dict[str, ChainFilter]:
        today = now.tz_convert("America/New_York").date()
        wanted: dict[str, list[ChainRequest]] = {}
        for slot in self._live_slots():
            if not slot.strategy.needs_chains:  # type: ignore[union-attr]
                continue
            for underlying in slot.strategy.symbols:  # type: ignore[union-attr]
                request, _ = guarded_chain_request(slot, underlying)
                if request is not None:
                    wanted.setdefault(underlying, []).append(request)
        filters = {u: _merge(reqs, today) for u, reqs in wanted.items()}
        for symbol in held:  # held options need marks and Greeks even if no strategy asks
            inst = instrument_for(symbol)
            if isinstance(inst, OptionContract):
                filters[inst.underlying] = _widen(filters.get(inst.underlying), inst.expiry, today)
        return filters

    # -- strategies and risk ---------------------------------------------------------------
    def _view(
        self, now: pd.Timestamp, account: Account | None = None, positions: Any = None
    ) -> PortfolioView:
        account = account if account is not None else self.broker.account()
        positions = positions if positions is not None else self.broker.positions()
        symbols = set(positions) | set(self.snapshot.quotes)
        peak = float(self.journal.get_meta("equity_peak_usd") or account.equity_usd)
        peak = max(peak, account.equity_usd)
        self.journal.set_meta("equity_peak_usd", repr(peak))
        return PortfolioView(
            account=account,
            positions=positions,
            marks=self.snapshot.marks(symbols),
            spots=self.snapshot.spots(self.settings.engine.symbols),
            greeks=self.snapshot.option_greeks(symbols),
            vol_annual=self.book.realized_vols(),
            open_orders=self.orders.open_orders,
            equity_peak_usd=peak,
            day_start_equity_usd=self._day_start(account.last_equity_usd, account.equity_usd, now),
            ts_ns=now.value,
        )

    def _day_start(self, last_equity: float, equity: float, now: pd.Timestamp) -> float:
        if math.isfinite(last_equity):
            return last_equity
        key = f"day_start:{now.tz_convert('America/New_York').date()}"
        stored = self.journal.get_meta(key)
        if stored is None:
            self.journal.set_meta(key, repr(equity))
            return equity
        return float(stored)

    def _run_strategies(
        self, now: pd.Timestamp, view: PortfolioView, report: CycleReport
    ) -> list[OrderIntent]:
        ctx = StrategyContext(
            now_ns=now.value,
            bars=self.book.bars,
            indicators=self.book.latest_all(),
            quotes=self.snapshot.quotes,
            chains=self.snapshot.chains,
            positions=view.positions,
            account=view.account,
            open_orders=self.orders.open_orders,
        )
        intents: list[OrderIntent] = []
        for slot in self.slots:
            was_enabled = slot.enabled
            got, error = guarded_cycle(slot, ctx)
            intents.extend(got)
            if error is not None and was_enabled:
                report.errors.append(str(error))
                self.journal.record_note(
                    "strategy_disabled", {"strategy": slot.name, "error": str(error)}
                )
                log.error("strategy disabled", extra={"strategy": slot.name, "error": str(error)})
        report.counts["intents"] = len(intents)
        return intents

    def _place(self, report: CycleReport) -> None:
        approved = denied = 0
        for decision in report.decisions:
            if not decision.approved:
                denied += 1
                self.journal.record_note(
                    "risk_denied",
                    {
                        "strategy": decision.intent.strategy,
                        "symbol": decision.intent.symbol,
                        "reasons": list(decision.reasons),
                    },
                )
                continue
            approved += 1
            placed = self.orders.place(decision.sized_intent)  # the quantity risk approved
            self._count_status(placed)
        report.counts.update(approved=approved, denied=denied)

    # -- journal ------------------------------------------------------------------------------
    def _bookkeeping(self, report: CycleReport) -> None:
        if not self._events_synced:  # a closed-market cycle: settlements, expiries
            self.orders.resolve_pending()
            events = self.orders.sync_events()
            self._count_events(events)
            report.counts["events"] = len(events)
            report.counts["fills"] = sum(len(e.fills) for e in events)
        self._events_synced = False
        report.counts["sent"] = self.orders.sent
        account = self.broker.account()
        positions = self.broker.positions()
        self.journal.snapshot_account(account)
        self.journal.snapshot_positions(
            self.clock.now_ns(), positions, self.snapshot.marks(positions)
        )
        self.monitor.set_active_positions(len(positions))
        self._books = (account, positions)

    # -- operator controls and live state ----------------------------------------------------
    def _init_controls(self) -> None:
        self.controls = EngineControls()
        self.entries_paused = self.journal.get_meta("entries_paused") == "1"
        self._flatten_reason = None
        self._kill_switch = None
        self._signals = SignalBook()
        self._control_log: deque[str] = deque(maxlen=20)
        self._books = None
        self._order_status: dict[str, set[OrderStatus]] = {}
        # Every label value the dashboards plot exists from the start, at 0.
        for name in [*(slot.name for slot in self.slots), OPERATOR, "settlement"]:
            self.monitor.record_fills(name, 0)
        for status in OrderStatus:
            self.monitor.record_order_status(status.value, 0)
        self._live = self._build_live(self.clock.now())

    def live_state(self) -> LiveState:
        """The bot as of its last cycle (an immutable snapshot; safe from any thread)."""
        return self._live

    def _apply_controls(self) -> None:
        for command in self.controls.take():
            outcome = self._apply(command)
            self._control_log.append(f"{command.kind.value} by {command.by}: {outcome}")
            payload = {
                "command": command.kind.value,
                "strategy": command.strategy,
                "reason": command.reason,
                "by": command.by,
                "outcome": outcome,
            }
            self.journal.record_note("control", payload)
            log.warning("operator control", extra=payload)

    def _apply(self, command: ControlCommand) -> str:
        why = f": {command.reason}" if command.reason else ""
        if command.kind is ControlKind.PAUSE_ENTRIES:
            self._set_paused(True)
            return "entries paused"
        if command.kind is ControlKind.RESUME_ENTRIES:
            self._set_paused(False)
            return "entries resumed"
        if command.kind is ControlKind.FLATTEN:
            self._set_paused(True)
            self._flatten_reason = f"flatten by {command.by}{why}"
            return "entries paused; every position closes at market in the next trading cycle"
        return self._disable(command.strategy or "", f"disabled by {command.by}{why}")

    def _set_paused(self, paused: bool) -> None:
        self.entries_paused = paused
        self.journal.set_meta("entries_paused", "1" if paused else "0")

    def _disable(self, name: str, why: str) -> str:
        slot = next((s for s in self.slots if s.name == name), None)
        if slot is None:
            known = ", ".join(repr(s.name) for s in self.slots) or "none"
            return f"no strategy named {name!r} (strategies: {known}); nothing disabled"
        if not slot.enabled:
            return f"strategy {name!r} was already disabled"
        error = StrategyError(f"strategy {name!r}: {why}")
        slot.disable(error)
        self.journal.record_note("strategy_disabled", {"strategy": name, "error": str(error)})
        return str(error)

    def _flatten(self, positions: dict[str, Position]) -> list[OrderIntent]:
        # Resting orders go first: a fill after the flatten would reopen or overshoot.
        reason = self._flatten_reason or "flatten"
        self._flatten_reason = None
        for order in self.orders.open_orders:
            try:
                self.orders.cancel(order.client_order_id)
            except GreekfireError as exc:
                log.warning(
                    "flatten: cancel failed",
                    extra={"client_order_id": order.client_order_id, "error": str(exc)},
                )
        return flatten_intents(positions, reason)

    def _check(self, intents: list[OrderIntent], view: PortfolioView) -> list[RiskDecision]:
        if not self.entries_paused:
            return self.gate.check_all(intents, view)
        exits = iter(self.gate.check_all([i for i in intents if not i.opening], view))
        return [paused_decision(i) if i.opening else next(exits) for i in intents]

    def _count_events(self, events: list[BrokerEvent]) -> None:
        for event in events:
            order = event.order
            if order is not None:
                self._count_status(order)
            if event.fills:
                strategy = order.intent.strategy if order is not None else ""
                self.monitor.record_fills(strategy or "settlement", len(event.fills))

    def _count_status(self, order: Order) -> None:
        # Each status an order reaches counts once (the send's answer and the broker's later
        # events may all report it); the orders remembered are bounded, the oldest dropped.
        seen = self._order_status.setdefault(order.client_order_id, set())
        if order.status in seen:
            return
        seen.add(order.status)
        if len(self._order_status) > 10_000:
            del self._order_status[next(iter(self._order_status))]
        self.monitor.record_order_status(order.status.value)

    def _build_live(self, now: pd.Timestamp) -> LiveState:
        account, positions = self._books if self._books is not None else (None, {})
        symbols = list(positions)
        day_pnl = math.nan
        if account is not None:
            day_pnl = account.equity_usd - self._day_start(
                account.last_equity_usd, account.equity_usd, now
            )
        return build_live_state(
            ts_ns=now.value,
            cycle=self.cycle,
            account=account,
            day_pnl_usd=day_pnl,
            positions=positions,
            marks=self.snapshot.marks(symbols),
            greeks=self.snapshot.option_greeks(symbols),
            spots=self.snapshot.spots(symbols),
            limits=self.settings.risk.greeks,
            kill_switch=self._kill_switch,
            entries_paused=self.entries_paused,
            strategies=strategy_states(self.slots, self._signals),
            caches=cache_states(self.get_cache_stats()),
            controls=tuple(self._control_log),
        )

    def _publish(self, report: CycleReport, now: pd.Timestamp) -> None:
        live = self._build_live(now)
        self._live = live  # one reference swap: readers in other threads see old or new
        monitor = self.monitor
        monitor.record_cycle(len(report.errors))
        if self._books is not None:
            monitor.set_account(
                cash_usd=live.cash_usd,
                equity_usd=live.equity_usd,
                buying_power_usd=live.buying_power_usd,
                day_pnl_usd=live.day_pnl_usd,
            )
        monitor.set_trading_state(
            kill_switch_tripped=live.kill_switch is not None, entries_paused=live.entries_paused
        )
        monitor.set_portfolio_greeks(live.greeks, live.greek_limits)

    # -- the brief's API ---------------------------------------------------------------------
    def get_risk_report(self) -> RiskReport:
        """The cached risk report of the current portfolio (see :class:`RiskReporter`)."""
        return self.reporter.get_risk_report(self._view(self.clock.now()))

    def get_cache_stats(self) -> dict[str, Any]:
        """Hit/miss statistics of the account cache and the risk-report cache, and API calls
        that reached the broker, by method."""
        return {
            "account_cache": self.broker.stats(),
            "risk_report": self.reporter.stats(),
            "broker_calls": dict(self.broker.calls),
        }

    def clear_caches(self) -> None:
        """Drop cached account, positions and risk report."""
        self.broker.invalidate()
        self.reporter.invalidate()

    def close(self) -> None:
        """Flush and close the journal, the broker and the event loop (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=True)
        try:
            try:
                self.orders.sync_events()  # the last cycle's fills, before the journal closes
            except Exception:
                log.exception("final event sync failed")
            self.journal.flush()
        finally:
            self.journal.close()
            self.broker.close()
            # A cycle abandoned by a second stop signal leaves its fetch tasks pending.
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            if pending:
                self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            release = getattr(self.provider, "release_idle", None)
            if release is not None:
                self._loop.run_until_complete(release())
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    def __enter__(self) -> TradingEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _merge(requests: list[ChainRequest], today: date) -> ChainFilter:
    dte_min = min(r.dte_min for r in requests)
    dte_max = max(r.dte_max for r in requests)
    lows = [r.moneyness_min for r in requests]
    highs = [r.moneyness_max for r in requests]
    rights = {r.right for r in requests}
    return ChainFilter(
        expiry_from=today + timedelta(days=math.floor(dte_min)),
        expiry_to=today + timedelta(days=math.ceil(dte_max)),
        moneyness_min=None if None in lows else min(x for x in lows if x is not None),
        moneyness_max=None if None in highs else max(x for x in highs if x is not None),
        right=next(iter(rights)) if len(rights) == 1 else None,
    )


def _widen(current: ChainFilter | None, expiry: date, today: date) -> ChainFilter:
    if current is None:
        return ChainFilter(expiry_from=expiry, expiry_to=expiry)
    lo = min(current.expiry_from or today, expiry)
    hi = max(current.expiry_to or expiry, expiry)
    return ChainFilter(expiry_from=lo, expiry_to=hi)
