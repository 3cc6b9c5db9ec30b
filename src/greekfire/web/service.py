"""The dashboard's read model: what each page shows, from the journal and the live engine.

Sources
-------
Journal
    Read through a read-only SQLite connection opened for each call (``mode=ro``, WAL): the bot
    keeps writing while the dashboard reads, and a reader sees every committed row. Account
    and positions snapshots, cycles with their phase timings, orders, fills, broker events and
    notes (risk denials, disabled strategies, operator controls), and the settings of the last
    engine start (the ``runs`` table) for the configured strategies.
Live state
    Inside the bot, ``live`` returns the engine's latest
    :class:`~greekfire.engine.control.LiveState` (an immutable snapshot published each cycle):
    Greeks per position and for the portfolio, limits, the kill switch, paused entries,
    strategies and their last signals, caches. Standalone (``greekfire dashboard --journal``)
    those fields are null or empty.
Monitor
    Inside the bot, the :class:`~greekfire.perf.monitor.PerformanceMonitor`'s registry gives
    API calls and errors by endpoint, cache counters and the sampled CPU and memory.

The answers are the response models of :mod:`greekfire.web.models` (every number finite or
``None``), which are also the API's OpenAPI schema.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, Literal

import psutil
from prometheus_client.metrics_core import Metric

from greekfire.domain.orders import OrderStatus
from greekfire.engine.control import LiveState
from greekfire.journal import codec
from greekfire.journal.sqlite import Journal
from greekfire.perf.monitor import LATENCY_BUCKETS_S, PerformanceMonitor
from greekfire.risk.config import RiskConfig
from greekfire.web.journal_view import (
    day_pnl_from_meta,
    journal_cycle,
    journal_paused,
    journal_positions,
    journal_strategies,
    last_run,
)
from greekfire.web.models import (
    AccountView,
    ApiEndpointStats,
    BenchCase,
    BenchReport,
    BenchRow,
    BenchTarget,
    CachePoint,
    CycleEvent,
    CyclePoint,
    EquityCurve,
    EquityPoint,
    EventRow,
    EventsPage,
    FillRow,
    FillsPage,
    GreeksView,
    Health,
    LatencyHistogram,
    NoteRow,
    NotesPage,
    OrderRow,
    OrdersPage,
    Overview,
    Performance,
    PhaseStats,
    PositionView,
    SignalView,
    StrategiesPage,
    StrategyView,
    SystemStats,
    TradesInHour,
    to_num,
)

__all__ = ["GREEK_KEYS", "DashboardService"]

GREEK_KEYS: Final = (
    "delta_usd",
    "delta_shares",
    "gamma",
    "vega_per_point_usd",
    "theta_per_day_usd",
)
"""The portfolio Greeks, as :class:`~greekfire.engine.control.LiveState` names them."""

_HOUR_NS: Final = 3_600 * 10**9
_BUSY_TIMEOUT_MS: Final = 5_000


# --------------------------------------------------------------------------- helpers


def _quantile(ordered: list[float], q: float) -> float | None:
    # linear interpolation between closest ranks (numpy's default)
    if not ordered:
        return None
    pos = (len(ordered) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _histogram(ordered: list[float]) -> LatencyHistogram:
    top = ordered[-1] if ordered else 0.0
    edges = [0.0]
    for bound in (b * 1e3 for b in LATENCY_BUCKETS_S):
        edges.append(bound)
        if bound >= top:
            break
    if edges[-1] < top:
        edges.append(top)
    counts = [0] * (len(edges) - 1)
    i = 0
    for value in ordered:
        while i < len(counts) - 1 and value > edges[i + 1]:
            i += 1
        counts[i] += 1
    return LatencyHistogram(edges_ms=edges, counts=counts)


def _like(q: str) -> str:
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _family(metrics: list[Metric], suffix: str) -> Metric | None:
    return next((m for m in metrics if m.name.endswith(suffix)), None)


def _total(
    metric: Metric | None, key: Callable[[dict[str, str]], tuple[str, ...]]
) -> dict[tuple[str, ...], float]:
    out: dict[tuple[str, ...], float] = {}
    if metric is None:
        return out
    for sample in metric.samples:
        if sample.name.endswith("_total"):
            k = key(sample.labels)
            out[k] = out.get(k, 0.0) + float(sample.value)
    return out


def _gauge(metric: Metric | None) -> float | None:
    if metric is None or not metric.samples:
        return None
    return to_num(metric.samples[0].value)


# --------------------------------------------------------------------------- the service


class DashboardService:
    """What the dashboard's pages show (see the module docstring).

    Parameters
    ----------
    journal_path : str or os.PathLike
        The bot's journal; opened read-only for each call.
    live : callable, optional
        Returns the engine's current :class:`~greekfire.engine.control.LiveState` (inside the
        bot); without it the service serves the journal alone.
    monitor : PerformanceMonitor, optional
        The bot's monitor (API counters, caches, CPU and memory).
    risk : RiskConfig, optional
        Greek limits when there is no live state (e.g. the config the bot ran with).
    bench_dir : str or os.PathLike, default "reports"
        Where ``bench.json`` and ``bench.md`` of the latest ``make bench`` are.
    history_points : int, default 2000
        Points of the equity curve when the caller asks for no particular number.

    Raises
    ------
    FileNotFoundError
        No journal at ``journal_path``.
    StateError
        Not a greekfire journal, or another schema version.
    """

    def __init__(
        self,
        journal_path: str | os.PathLike[str],
        *,
        live: Callable[[], LiveState] | None = None,
        monitor: PerformanceMonitor | None = None,
        risk: RiskConfig | None = None,
        bench_dir: str | os.PathLike[str] = "reports",
        history_points: int = 2000,
    ) -> None:
        if not isinstance(history_points, int) or history_points < 1:
            raise ValueError(
                f"history_points: expected a whole number >= 1, got {history_points!r}"
            )
        Journal.open_readonly(journal_path).close()  # refuses a missing or foreign file now
        self.journal_path = Path(journal_path)
        self._uri = f"{self.journal_path.resolve().as_uri()}?mode=ro"
        self.live = live
        self.monitor = monitor
        self.risk = risk
        self.bench_dir = Path(bench_dir)
        self.history_points = history_points
        self._process = psutil.Process() if monitor is not None or live is not None else None
        self._process_lock = threading.Lock()

    @property
    def mode(self) -> Literal["live", "journal"]:
        """``"live"`` inside the bot, ``"journal"`` when serving a journal file alone."""
        return "live" if self.live is not None else "journal"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self._uri, uri=True, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA query_only = ON")
            yield conn
        finally:
            conn.close()

    def _live_state(self) -> LiveState | None:
        # the engine publishes its first snapshot after its first cycle
        if self.live is None:
            return None
        state = self.live()
        return state if state.cycle > 0 else None

    # ------------------------------------------------------------------ health, overview

    def health(self) -> Health:
        """Up, the mode and the latest cycle."""
        state = self._live_state()
        if state is not None:
            return Health(mode=self.mode, cycle=state.cycle)
        with self._connect() as conn:
            return Health(mode=self.mode, cycle=journal_cycle(conn))

    def overview(self, *, controls_available: bool = False) -> Overview:
        """The account, positions (with Greeks when live), portfolio Greeks and limits, halts.

        Parameters
        ----------
        controls_available : bool
            Whether the API accepts control commands (it knows, the read model does not).
        """
        state = self._live_state()
        if state is not None:
            return self._live_overview(state, controls_available)
        with self._connect() as conn:
            account = conn.execute(
                "SELECT * FROM account_snapshots ORDER BY ts_ns DESC, id DESC LIMIT 1"
            ).fetchone()
            acct = None if account is None else codec.account_from_mapping(account)
            day_pnl = None if acct is None else to_num(acct.day_pnl_usd)
            if acct is not None and day_pnl is None:
                day_pnl = day_pnl_from_meta(conn, acct.ts_ns, acct.equity_usd)
            return Overview(
                as_of_ns=None if acct is None else acct.ts_ns,
                cycle=journal_cycle(conn),
                account=AccountView(
                    cash_usd=None if acct is None else acct.cash_usd,
                    equity_usd=None if acct is None else acct.equity_usd,
                    buying_power_usd=None if acct is None else acct.buying_power_usd,
                    day_pnl_usd=day_pnl,
                ),
                positions=journal_positions(conn),
                greeks=GreeksView(),
                greek_limits=self._limits(None),
                kill_switch=None,
                entries_paused=journal_paused(conn),
                controls_available=controls_available,
            )

    def _live_overview(self, state: LiveState, controls_available: bool) -> Overview:
        positions = [
            PositionView(
                symbol=p.symbol,
                qty=p.qty,
                avg_cost=p.avg_cost,
                mark=p.mark,
                market_value_usd=p.market_value_usd,
                unrealized_pnl_usd=p.unrealized_pnl_usd,
                delta_shares=p.delta_shares,
                gamma=p.gamma,
                vega_per_point_usd=p.vega_per_point_usd,
                theta_per_day_usd=p.theta_per_day_usd,
            )
            for p in state.positions
        ]
        return Overview(
            as_of_ns=state.ts_ns,
            cycle=state.cycle,
            account=AccountView(
                cash_usd=state.cash_usd,
                equity_usd=state.equity_usd,
                buying_power_usd=state.buying_power_usd,
                day_pnl_usd=state.day_pnl_usd,
            ),
            positions=positions,
            greeks=GreeksView(**{k: to_num(state.greeks.get(k)) for k in GREEK_KEYS}),
            greek_limits=self._limits(state),
            kill_switch=state.kill_switch,
            entries_paused=state.entries_paused,
            controls_available=controls_available,
        )

    def _limits(self, state: LiveState | None) -> GreeksView:
        if state is not None and state.greek_limits:
            return GreeksView(**{k: to_num(state.greek_limits.get(k)) for k in GREEK_KEYS})
        if self.risk is None:
            return GreeksView()
        g = self.risk.greeks
        return GreeksView(
            delta_usd=g.max_abs_delta_usd,
            gamma=g.max_abs_gamma_shares_per_usd,
            vega_per_point_usd=g.max_abs_vega_per_point_usd,
            theta_per_day_usd=g.min_theta_per_day_usd,
        )

    # ------------------------------------------------------------------ equity, performance

    def equity(self, limit: int | None = None) -> EquityCurve:
        """The latest ``limit`` account snapshots (default ``history_points``), oldest first."""
        n = self.history_points if limit is None else limit
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT ts_ns, equity_usd, cash_usd FROM account_snapshots"
                " ORDER BY ts_ns DESC, id DESC LIMIT ?",
                (n,),
            ).fetchall()
        points = [
            EquityPoint(ts_ns=int(r["ts_ns"]), equity_usd=r["equity_usd"], cash_usd=r["cash_usd"])
            for r in reversed(rows)
        ]
        return EquityCurve(points=points)

    def performance(self, limit: int = 500) -> Performance:
        """Phase latencies over the latest ``limit`` cycles, their series, caches, API calls,
        the process, and fills per hour (the latest 168 hours with fills)."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT cycle, ts_ns, timings FROM (SELECT * FROM cycles ORDER BY id DESC"
                " LIMIT ?) ORDER BY id",
                (limit,),
            ).fetchall()
            hours = conn.execute(
                "SELECT ts_ns / ? AS h, COUNT(*) AS n FROM fills GROUP BY h ORDER BY h DESC"
                " LIMIT 168",
                (_HOUR_NS,),
            ).fetchall()
        by_phase: dict[str, list[float]] = {}
        series: list[CyclePoint] = []
        for row in rows:
            timings = codec.loads(row["timings"])
            phases_ms: dict[str, float] = {}
            for phase, seconds in timings.items():
                ms = to_num(seconds)
                if ms is None:
                    continue
                by_phase.setdefault(str(phase), []).append(ms * 1e3)
                if phase != "total":
                    phases_ms[str(phase)] = ms * 1e3
            total = to_num(timings.get("total"))
            series.append(
                CyclePoint(
                    cycle=int(row["cycle"]),
                    ts_ns=int(row["ts_ns"]),
                    total_ms=None if total is None else total * 1e3,
                    phases_ms=phases_ms,
                )
            )
        phases = []
        for phase, values in by_phase.items():
            values.sort()
            phases.append(
                PhaseStats(
                    phase=phase,
                    count=len(values),
                    p50_ms=_quantile(values, 0.50),
                    p95_ms=_quantile(values, 0.95),
                    p99_ms=_quantile(values, 0.99),
                    max_ms=values[-1],
                    histogram=_histogram(values),
                )
            )
        metrics = list(self.monitor.registry.collect()) if self.monitor is not None else []
        return Performance(
            phases=phases,
            series=series,
            caches=self._caches(metrics),
            api=_api_stats(metrics),
            system=self._system(metrics),
            trades_per_hour=[
                TradesInHour(hour_ns=int(r["h"]) * _HOUR_NS, fills=int(r["n"]))
                for r in reversed(hours)
            ],
        )

    def _caches(self, metrics: list[Metric]) -> list[CachePoint]:
        found: dict[str, CachePoint] = {}
        state = self._live_state()
        for name, stats in (state.caches if state is not None else {}).items():
            n_hits, n_misses = int(stats.get("hits", 0)), int(stats.get("misses", 0))
            rate = to_num(stats.get("hit_rate"))
            if rate is None and n_hits + n_misses > 0:
                rate = n_hits / (n_hits + n_misses)
            found[name] = CachePoint(name=name, hits=n_hits, misses=n_misses, hit_rate=rate)
        by_cache = lambda labels: (labels.get("cache", ""),)  # noqa: E731
        hits_by = _total(_family(metrics, "cache_hits"), by_cache)
        misses_by = _total(_family(metrics, "cache_misses"), by_cache)
        for (name,), hits in hits_by.items():
            if name in found:
                continue
            misses = misses_by.get((name,), 0.0)
            lookups = hits + misses
            found[name] = CachePoint(
                name=name,
                hits=int(hits),
                misses=int(misses),
                hit_rate=hits / lookups if lookups else None,
            )
        return sorted(found.values(), key=lambda c: c.name)

    def _system(self, metrics: list[Metric]) -> SystemStats:
        if self._process is None:  # a standalone dashboard: not the bot's process
            return SystemStats()
        rss = _gauge(_family(metrics, "process_resident_memory_bytes"))
        cpu = _gauge(_family(metrics, "process_cpu_usage_ratio"))
        with self._process_lock:
            if not rss:  # the monitor's sampler has not run yet
                rss = float(self._process.memory_info().rss)
            threads = self._process.num_threads()
        return SystemStats(
            rss_bytes=int(rss),
            cpu_percent=None if cpu is None else cpu * 100.0,
            threads=threads,
        )

    # ------------------------------------------------------------------ orders, fills, notes

    def orders(
        self, q: str = "", status: OrderStatus | None = None, limit: int = 200
    ) -> OrdersPage:
        """The newest ``limit`` orders in ``status`` whose symbol (any leg), strategy, client id
        or reason contains ``q`` (case-insensitive); newest first."""
        needle = q.strip().lower()
        sql = "SELECT * FROM orders WHERE 1 = 1"
        params: list[object] = []
        if status is not None:
            sql += " AND status = ?"
            params.append(OrderStatus(status).value)
        if needle and needle.isascii():  # SQLite's LIKE folds ASCII only: prefilter, then check
            sql += (
                " AND lower(client_order_id || ' ' || strategy || ' ' || legs || ' ' || reason"
                " || ' ' || intent_reason) LIKE ? ESCAPE '\\'"
            )
            params.append(_like(needle))
        sql += " ORDER BY created_ns DESC, rowid DESC"
        out: list[OrderRow] = []
        with self._connect() as conn:
            for row in conn.execute(sql, params):
                order = codec.order_from_mapping(row)
                legs = [leg.symbol for leg in order.intent.legs]
                if needle:
                    intent = order.intent
                    text = " ".join([*legs, intent.strategy, order.client_order_id, order.reason])
                    text += " " + intent.reason
                    if needle not in text.lower():
                        continue
                out.append(
                    OrderRow(
                        client_order_id=order.client_order_id,
                        strategy=order.intent.strategy,
                        symbol=order.symbol,
                        side=order.side.value,
                        qty=order.qty,
                        order_type=order.intent.order_type.value,
                        limit_price=order.intent.limit_price,
                        status=order.status.value,
                        filled_qty=order.filled_qty,
                        avg_fill_price=order.avg_fill_price,
                        created_ns=order.created_ns,
                        updated_ns=order.updated_ns,
                        legs=len(legs),
                        reason=order.reason or order.intent.reason,
                    )
                )
                if len(out) >= limit:
                    break
        return OrdersPage(orders=out)

    def fills(self, q: str = "", limit: int = 200) -> FillsPage:
        """The newest ``limit`` fills whose symbol, strategy, client order id or fill id
        contains ``q`` (case-insensitive); newest first."""
        needle = q.strip().lower()
        sql = (
            "SELECT f.*, o.strategy AS strategy FROM fills AS f"
            " LEFT JOIN orders AS o ON o.client_order_id = f.client_order_id"
        )
        params: list[object] = []
        if needle and needle.isascii():
            sql += (
                " WHERE lower(f.symbol || ' ' || f.client_order_id || ' ' || f.fill_id || ' ' ||"
                " coalesce(o.strategy, '')) LIKE ? ESCAPE '\\'"
            )
            params.append(_like(needle))
        sql += " ORDER BY f.rowid DESC"
        out: list[FillRow] = []
        with self._connect() as conn:
            for row in conn.execute(sql, params):
                fill = codec.fill_from_mapping(row)
                strategy = row["strategy"]
                text = f"{fill.symbol} {fill.client_order_id} {fill.fill_id} {strategy or ''}"
                if needle and needle not in text.lower():
                    continue
                out.append(
                    FillRow(
                        fill_id=fill.fill_id,
                        client_order_id=fill.client_order_id,
                        symbol=fill.symbol,
                        side=fill.side.value,
                        qty=fill.qty,
                        price=fill.price,
                        fee_usd=fill.fee_usd,
                        ts_ns=fill.ts_ns,
                        strategy=None if strategy is None else str(strategy),
                    )
                )
                if len(out) >= limit:
                    break
        return FillsPage(fills=out)

    def events(self, limit: int = 200) -> EventsPage:
        """The newest ``limit`` broker events, newest first."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT id, seq, kind, ts_ns, symbol, client_order_id, detail FROM events"
                " ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return EventsPage(events=[EventRow(**dict(r)) for r in rows])

    def notes(self, kind: str | None = None, limit: int = 200) -> NotesPage:
        """The newest ``limit`` notes (of ``kind`` when given), newest first."""
        where = "" if not kind else "WHERE kind = ?"
        params: list[object] = [] if not kind else [kind]
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT * FROM notes {where} ORDER BY id DESC LIMIT ?", [*params, limit]
            ).fetchall()
        notes = []
        for r in rows:
            payload = codec.loads(r["payload"])
            notes.append(
                NoteRow(
                    id=int(r["id"]),
                    kind=str(r["kind"]),
                    ts_ns=int(r["ts_ns"]),
                    payload=payload if isinstance(payload, dict) else {"value": payload},
                )
            )
        return NotesPage(notes=notes)

    # ------------------------------------------------------------------ strategies

    def strategies(self) -> StrategiesPage:
        """Each strategy: state, symbols, last signals; from the live engine when there is
        one, else rebuilt from the journal (configured strategies of the last start, orders,
        risk denials and disable notes)."""
        state = self._live_state()
        if state is not None:
            return StrategiesPage(
                strategies=[
                    StrategyView(
                        name=s.name,
                        kind=s.kind,
                        enabled=s.enabled,
                        symbols=list(s.symbols),
                        disabled_reason=s.disabled_reason,
                        last_signals=[
                            SignalView(
                                ts_ns=g.ts_ns,
                                symbol=g.symbol,
                                side=g.side,
                                qty=g.qty,
                                reason=g.reason,
                                approved=g.approved,
                                denied_by=g.denied_by,
                            )
                            for g in s.last_signals
                        ],
                    )
                    for s in state.strategies
                ]
            )
        with self._connect() as conn:
            return StrategiesPage(strategies=journal_strategies(conn))

    def strategy_names(self) -> set[str]:
        """Strategies an operator may disable: the live engine's, and those configured at the
        last start."""
        names: set[str] = set()
        if self.live is not None:
            names.update(s.name for s in self.live().strategies)
        with self._connect() as conn:
            _, entries = last_run(conn)
        names.update(str(e.get("name")) for e in entries if e.get("name"))
        return names

    # ------------------------------------------------------------------ bench, stream

    def bench(self) -> BenchReport:
        """The latest benchmark report from ``bench_dir`` (``available`` false without one)."""
        json_path, md_path = self.bench_dir / "bench.json", self.bench_dir / "bench.md"
        if not json_path.is_file():
            return BenchReport(available=False, cases=[])
        try:
            report = json.loads(json_path.read_text(encoding="utf-8"))
            markdown = md_path.read_text(encoding="utf-8") if md_path.is_file() else None
            cases = [_bench_case(c) for c in report.get("cases", []) if isinstance(c, dict)]
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            return BenchReport(available=False, cases=[], error=f"{json_path}: {exc}")
        generated = report.get("date_utc")
        return BenchReport(
            available=True,
            generated=None if generated is None else str(generated),
            markdown=markdown,
            cases=cases,
        )

    def latest_cycle_id(self) -> int:
        """The row id of the newest journaled cycle (0 before the first)."""
        with self._connect() as conn:
            row = conn.execute("SELECT MAX(id) FROM cycles").fetchone()
        return 0 if row[0] is None else int(row[0])

    def cycles_after(self, row_id: int, limit: int = 100) -> tuple[int, list[CycleEvent]]:
        """Cycles journaled after row ``row_id`` (oldest first, at most ``limit``) and the row
        id to ask from next time."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT id, cycle, ts_ns, timings FROM cycles WHERE id > ? ORDER BY id LIMIT ?",
                (row_id, limit),
            ).fetchall()
        events = []
        for r in rows:
            total = to_num(codec.loads(r["timings"]).get("total"))
            events.append(
                CycleEvent(
                    cycle=int(r["cycle"]),
                    ts_ns=int(r["ts_ns"]),
                    total_ms=None if total is None else total * 1e3,
                )
            )
        return (int(rows[-1]["id"]) if rows else row_id), events


def _api_stats(metrics: list[Metric]) -> list[ApiEndpointStats]:
    def route(labels: Mapping[str, str]) -> tuple[str, ...]:
        return labels.get("provider", ""), labels.get("endpoint", "")

    requests = _total(_family(metrics, "api_requests"), route)
    errors = _total(_family(metrics, "api_errors"), route)
    return [
        ApiEndpointStats(
            provider=key[0],
            endpoint=key[1],
            requests=int(requests.get(key, 0.0)),
            errors=int(errors.get(key, 0.0)),
        )
        for key in sorted(set(requests) | set(errors))
    ]


def _bench_case(case: Mapping[str, Any]) -> BenchCase:
    target = case.get("target")
    rows = []
    for row in case.get("rows") or []:
        if not isinstance(row, dict):
            continue
        rows.append(
            BenchRow(
                key=str(row.get("key", "")),
                label=str(row.get("label", row.get("key", ""))),
                status=str(row.get("status", "")),
                median_ms=to_num(row.get("median_ms")),
                min_ms=to_num(row.get("min_ms")),
                note=str(row.get("note") or ""),
            )
        )
    return BenchCase(
        key=str(case.get("key", "")),
        title=str(case.get("title", case.get("key", ""))),
        unit=None if case.get("unit") is None else str(case["unit"]),
        headline=None if case.get("headline") is None else str(case["headline"]),
        target=BenchTarget(
            metric=str(target.get("metric", "")),
            limit=to_num(target.get("limit")),
            value=to_num(target.get("value")),
            met=target.get("met") if isinstance(target.get("met"), bool) else None,
        )
        if isinstance(target, dict)
        else None,
        rows=rows,
    )
