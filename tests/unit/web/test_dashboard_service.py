"""DashboardService: every read from a journal written through the Journal API, journal-only
and live (a hand-built LiveState), the monitor's counters, the bench report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from greekfire.domain.orders import (
    BrokerEvent,
    EventKind,
    Fill,
    Leg,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Side,
)
from greekfire.domain.portfolio import Account, Position
from greekfire.engine.control import LiveState, PositionState, SignalRecord, StrategyState
from greekfire.errors import StateError
from greekfire.journal import Journal
from greekfire.perf.monitor import PerformanceMonitor
from greekfire.risk.config import RiskConfig
from greekfire.settings import Settings
from greekfire.web.service import DashboardService

T0 = 1_762_871_400_000_000_000  # 2025-11-11 14:30 UTC
MIN = 60 * 10**9
HOUR = 60 * MIN
PUT = "SPY261218P00500000"
CALL_LONG = "SPY261218C00600000"
CALL_SHORT = "SPY261218C00610000"


class FakeClock:
    def __init__(self, now_ns: int = T0) -> None:
        self.t = now_ns

    def now_ns(self) -> int:
        return self.t


def _order(
    cid: str,
    symbol: str,
    side: Side,
    qty: float,
    *,
    strategy: str,
    reason: str,
    created_ns: int,
    limit_price: float | None = None,
) -> Order:
    intent = OrderIntent.single(
        symbol, side, qty, limit_price=limit_price, strategy=strategy, reason=reason
    )
    return Order(cid, intent, created_ns=created_ns, updated_ns=created_ns)


def _settings_json() -> str:
    settings = Settings.model_validate(
        {
            "strategies": [
                {"name": "momentum", "symbols": ["SPY", "AAPL"]},
                {"name": "wheel", "symbols": ["SPY"]},
                {"name": "mean_reversion", "enabled": False},
            ]
        }
    )
    return settings.model_dump_json()


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    """A journal with a run, orders (one a spread), fills, events, notes, snapshots, cycles."""
    path = tmp_path / "journal.db"
    clock = FakeClock()
    with Journal(path, clock=clock) as journal:
        journal.record_run(T0, _settings_json())
        buy = _order(
            "mom-1", "SPY", Side.BUY, 10, strategy="momentum", reason="fast > slow", created_ns=T0
        )
        journal.record_intent(buy)
        journal.update_order(
            buy.with_status(OrderStatus.FILLED, T0 + 1, filled_qty=10.0, avg_fill_price=500.0)
        )
        put = _order(
            "wheel-1",
            PUT,
            Side.SELL,
            1,
            strategy="wheel",
            reason="sell the put",
            created_ns=T0 + MIN,
            limit_price=2.5,
        )
        journal.record_intent(put)
        journal.update_order(put.with_status(OrderStatus.NEW, T0 + MIN))
        spread = Order(
            "vert-1",
            OrderIntent(
                (Leg(CALL_SHORT, Side.SELL), Leg(CALL_LONG, Side.BUY)),
                2,
                OrderType.LIMIT,
                -1.2,
                strategy="vertical_credit",
                reason="credit spread",
            ),
            created_ns=T0 + 2 * MIN,
            updated_ns=T0 + 2 * MIN,
        )
        journal.record_intent(spread)
        journal.update_order(
            spread.with_status(OrderStatus.REJECTED, T0 + 2 * MIN, reason="Insufficient MARGIN")
        )
        journal.record_fills(
            [
                Fill("f-1", "mom-1", "SPY", Side.BUY, 6, 500.0, 0.0, T0 + 10),
                Fill("f-2", "mom-1", "SPY", Side.BUY, 4, 500.0, 0.0, T0 + 2 * HOUR + 5),
                Fill("f-3", "ghost", "AAPL", Side.SELL, 1, 200.0, 0.01, T0 + 2 * HOUR + 9),
            ]
        )
        journal.record_event(
            BrokerEvent(EventKind.ORDER_ACCEPTED, T0 + MIN, 1, PUT, "wheel-1", detail="accepted")
        )
        clock.t = T0 + 3 * MIN
        journal.record_note(
            "risk_denied",
            {"strategy": "momentum", "symbol": "AAPL", "reasons": ["max_positions", "exposure"]},
        )
        journal.record_note(
            "strategy_disabled", {"strategy": "wheel", "error": "ZeroDivisionError"}
        )
        journal.snapshot_account(
            Account(100_000.0, 100_000.0, 200_000.0, last_equity_usd=99_000.0, ts_ns=T0)
        )
        journal.snapshot_account(
            Account(95_000.0, 100_500.0, 190_000.0, last_equity_usd=99_000.0, ts_ns=T0 + HOUR)
        )
        journal.snapshot_positions(
            T0 + HOUR,
            {
                "SPY": Position("SPY", 10.0, 500.0),
                PUT: Position(PUT, -1.0, 2.5),
                "AAPL": Position("AAPL", 3.0, 200.0),
            },
            {"SPY": 505.0, PUT: 2.0},
        )
        for cycle in range(1, 6):
            timings = {"gate": 0.001 * cycle, "fetch": 0.010 * cycle, "total": 0.012 * cycle}
            journal.record_cycle(cycle, T0 + cycle * MIN, timings, {"bars": cycle})
    return path


def test_missing_or_foreign_journal_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no journal"):
        DashboardService(tmp_path / "nope.db")
    (tmp_path / "foreign.db").write_bytes(b"")
    with pytest.raises(StateError, match="not a greekfire journal"):
        DashboardService(tmp_path / "foreign.db")


def test_history_points_is_checked(journal_path: Path) -> None:
    with pytest.raises(ValueError, match="history_points"):
        DashboardService(journal_path, history_points=0)


def test_health_in_journal_mode(journal_path: Path) -> None:
    health = DashboardService(journal_path).health()
    assert (health.status, health.mode, health.cycle) == ("ok", "journal", 5)


def test_overview_from_the_journal_alone(journal_path: Path) -> None:
    risk = RiskConfig.model_validate(
        {"greeks": {"max_abs_delta_usd": 50_000, "min_theta_per_day_usd": -300}}
    )
    view = DashboardService(journal_path, risk=risk).overview()
    assert view.as_of_ns == T0 + HOUR
    assert view.cycle == 5
    assert view.account.equity_usd == 100_500.0
    assert view.account.cash_usd == 95_000.0
    assert view.account.day_pnl_usd == pytest.approx(1_500.0)
    by_symbol = {p.symbol: p for p in view.positions}
    assert set(by_symbol) == {"AAPL", "SPY", PUT}
    assert by_symbol["SPY"].market_value_usd == pytest.approx(5_050.0)
    assert by_symbol["SPY"].unrealized_pnl_usd == pytest.approx(50.0)
    # an option counts 100 shares per contract: short 1 put from 2.50 to 2.00 gains $50
    assert by_symbol[PUT].market_value_usd == pytest.approx(-200.0)
    assert by_symbol[PUT].unrealized_pnl_usd == pytest.approx(50.0)
    assert by_symbol["AAPL"].mark is None
    assert by_symbol["AAPL"].market_value_usd is None
    assert by_symbol["SPY"].delta_shares is None  # Greeks are the live engine's
    assert view.greeks.delta_usd is None
    assert view.greek_limits.delta_usd == 50_000
    assert view.greek_limits.theta_per_day_usd == -300
    assert view.greek_limits.gamma is None
    assert view.kill_switch is None
    assert view.entries_paused is False
    assert view.controls_available is False
    assert DashboardService(journal_path).overview(controls_available=True).controls_available


def test_overview_of_an_empty_journal(tmp_path: Path) -> None:
    Journal(tmp_path / "empty.db", clock=FakeClock()).close()
    service = DashboardService(tmp_path / "empty.db")
    view = service.overview()
    assert view.as_of_ns is None
    assert view.cycle == 0
    assert view.positions == []
    assert view.account.equity_usd is None
    assert service.equity().points == []
    perf = service.performance()
    assert perf.phases == []
    assert perf.series == []
    assert perf.trades_per_hour == []
    assert service.strategies().strategies == []


def test_equity_is_oldest_first_and_limited(journal_path: Path) -> None:
    service = DashboardService(journal_path, history_points=1)
    assert [p.ts_ns for p in service.equity(10).points] == [T0, T0 + HOUR]
    latest = service.equity().points  # history_points by default
    assert [(p.ts_ns, p.equity_usd, p.cash_usd) for p in latest] == [
        (T0 + HOUR, 100_500.0, 95_000.0)
    ]


def test_performance_phases_series_and_trades_per_hour(journal_path: Path) -> None:
    perf = DashboardService(journal_path).performance(limit=4)
    assert [p.cycle for p in perf.series] == [2, 3, 4, 5]
    assert perf.series[0].total_ms == pytest.approx(24.0)
    assert perf.series[0].phases_ms == pytest.approx({"gate": 2.0, "fetch": 20.0})
    phases = {p.phase: p for p in perf.phases}
    assert set(phases) == {"gate", "fetch", "total"}
    fetch = phases["fetch"]  # 20, 30, 40, 50 ms
    assert fetch.count == 4
    assert fetch.p50_ms == pytest.approx(35.0)
    assert fetch.p95_ms == pytest.approx(48.5)
    assert fetch.max_ms == pytest.approx(50.0)
    assert sum(fetch.histogram.counts) == 4
    assert len(fetch.histogram.edges_ms) == len(fetch.histogram.counts) + 1
    assert fetch.histogram.edges_ms[-1] >= 50.0
    assert fetch.histogram.edges_ms == sorted(fetch.histogram.edges_ms)
    hour0 = T0 // HOUR * HOUR
    assert [(t.hour_ns, t.fills) for t in perf.trades_per_hour] == [
        (hour0, 1),
        (hour0 + 2 * HOUR, 2),
    ]
    # journal-only: no monitor, and this process is not the bot's
    assert perf.api == []
    assert perf.caches == []
    assert perf.system.rss_bytes is None
    assert perf.system.threads is None


def test_performance_reads_the_monitor(journal_path: Path) -> None:
    class Stats:
        hits, misses, evictions, current_bytes, entries = 3, 1, 0, 10, 2

    class Cache:
        def stats(self) -> Stats:
            return Stats()

    monitor = PerformanceMonitor(clock=lambda: 0.0)
    monitor.record_api_request("alpaca", "bars")
    monitor.record_api_request("alpaca", "bars", error="TimeoutError")
    monitor.record_api_request("alpaca", "quotes")
    monitor.watch_cache(Cache(), name="quotes")
    perf = DashboardService(journal_path, monitor=monitor).performance()
    api = {(a.provider, a.endpoint): (a.requests, a.errors) for a in perf.api}
    assert api[("alpaca", "bars")][1] == 1
    assert api[("alpaca", "quotes")][1] == 0
    assert api[("alpaca", "bars")][0] >= 1
    [cache] = perf.caches
    assert (cache.name, cache.hits, cache.misses, cache.hit_rate) == ("quotes", 3, 1, 0.75)
    assert perf.system.rss_bytes is not None
    assert perf.system.rss_bytes > 0
    assert perf.system.threads is not None
    assert perf.system.threads >= 1


def test_orders_newest_first_with_search_status_and_limit(journal_path: Path) -> None:
    service = DashboardService(journal_path)
    orders = service.orders().orders
    assert [o.client_order_id for o in orders] == ["vert-1", "wheel-1", "mom-1"]
    vert, put, mom = orders
    assert (vert.symbol, vert.side, vert.legs, vert.limit_price) == (CALL_SHORT, "sell", 2, -1.2)
    assert vert.reason == "Insufficient MARGIN"  # the broker's reason before the intent's
    assert put.reason == "sell the put"
    assert put.status == "new"
    assert mom.avg_fill_price == 500.0
    assert mom.filled_qty == 10.0
    assert put.avg_fill_price is None  # NaN before any fill
    # q: any leg's symbol, strategy, client id or reason, case-insensitive
    assert [o.client_order_id for o in service.orders(q="c00600").orders] == ["vert-1"]
    assert [o.client_order_id for o in service.orders(q="MARGIN").orders] == ["vert-1"]
    assert [o.client_order_id for o in service.orders(q="Wheel").orders] == ["wheel-1"]
    assert [o.client_order_id for o in service.orders(q="fast > SLOW").orders] == ["mom-1"]
    assert service.orders(q="100%_").orders == []  # LIKE wildcards are literal
    assert service.orders(q="open").orders == []  # a leg's effect (in its JSON) is not searched
    filled = service.orders(status=OrderStatus.FILLED).orders
    assert [o.client_order_id for o in filled] == ["mom-1"]
    assert [o.client_order_id for o in service.orders(limit=1).orders] == ["vert-1"]


def test_fills_newest_first_with_strategy_and_search(journal_path: Path) -> None:
    service = DashboardService(journal_path)
    fills = service.fills().fills
    assert [f.fill_id for f in fills] == ["f-3", "f-2", "f-1"]
    assert fills[0].strategy is None  # its order is not in the journal
    assert fills[1].strategy == "momentum"
    assert fills[1].qty == 4.0
    assert [f.fill_id for f in service.fills(q="MOMENTUM").fills] == ["f-2", "f-1"]
    assert [f.fill_id for f in service.fills(q="aapl").fills] == ["f-3"]
    assert [f.fill_id for f in service.fills(limit=2).fills] == ["f-3", "f-2"]


def test_events_and_notes(journal_path: Path) -> None:
    service = DashboardService(journal_path)
    [event] = service.events().events
    assert (event.kind, event.symbol, event.client_order_id) == ("order_accepted", PUT, "wheel-1")
    notes = service.notes().notes
    assert [n.kind for n in notes] == ["strategy_disabled", "risk_denied"]
    [denied] = service.notes(kind="risk_denied").notes
    assert denied.payload["reasons"] == ["max_positions", "exposure"]
    assert denied.ts_ns == T0 + 3 * MIN
    assert len(service.notes(limit=1).notes) == 1


def test_strategies_rebuilt_from_the_journal(journal_path: Path) -> None:
    service = DashboardService(journal_path)
    strategies = {s.name: s for s in service.strategies().strategies}
    assert set(strategies) == {"momentum", "wheel", "mean_reversion", "vertical_credit"}
    momentum = strategies["momentum"]
    assert momentum.kind == "momentum"
    assert momentum.symbols == ["SPY", "AAPL"]
    assert momentum.enabled is None  # no sign of a disable: unknown from a journal
    assert [(s.approved, s.symbol) for s in momentum.last_signals] == [
        (True, "SPY"),
        (False, "AAPL"),
    ]
    assert momentum.last_signals[0].qty == 10.0
    assert momentum.last_signals[0].side == "buy"
    assert momentum.last_signals[1].denied_by == "max_positions; exposure"
    assert momentum.last_signals[1].qty is None
    wheel = strategies["wheel"]
    assert wheel.enabled is False
    assert wheel.disabled_reason == "ZeroDivisionError"
    off = strategies["mean_reversion"]
    assert off.enabled is False
    assert off.disabled_reason == "disabled in the configuration"
    assert strategies["vertical_credit"].kind is None  # seen in orders only
    assert service.strategy_names() == {"momentum", "wheel", "mean_reversion"}


def test_a_control_note_disables_a_strategy(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal(path, clock=FakeClock()) as journal:
        journal.record_run(T0, _settings_json())
        # as the engine journals a control: the command, its strategy, reason and outcome
        journal.record_note(
            "control",
            {
                "command": "disable_strategy",
                "strategy": "momentum",
                "reason": "too noisy",
                "by": "dashboard",
                "outcome": "disabled",
            },
        )
        journal.record_note(
            "control",
            {
                "command": "disable_strategy",
                "strategy": "nope",
                "reason": "",
                "by": "dashboard",
                "outcome": "no strategy named 'nope'; nothing disabled",
            },
        )
        journal.record_note(
            "control",
            {
                "command": "pause_entries",
                "strategy": None,
                "reason": "",
                "by": "dashboard",
                "outcome": "entries paused",
            },
        )
        journal.set_meta("entries_paused", "1")
    service = DashboardService(path)
    strategies = {s.name: s for s in service.strategies().strategies}
    assert strategies["momentum"].enabled is False
    assert strategies["momentum"].disabled_reason == "too noisy"
    assert "nope" not in strategies  # the engine disabled nothing
    assert service.overview().entries_paused is True


def _live_state() -> LiveState:
    return LiveState(
        ts_ns=T0 + 7 * MIN,
        cycle=42,
        cash_usd=90_000.0,
        equity_usd=101_000.0,
        buying_power_usd=180_000.0,
        day_pnl_usd=math.nan,
        positions=(
            PositionState(PUT, -1.0, 2.5, 2.0, -200.0, 50.0, 45.0, -1.5, -30.0, 4.0),
            PositionState("SPY", 10.0, 500.0, 505.0, 5050.0, 50.0, 10.0, 0.0, 0.0, 0.0),
        ),
        greeks={
            "delta_usd": 27_775.0,
            "delta_shares": 55.0,
            "gamma": -1.5,
            "vega_per_point_usd": -30.0,
            "theta_per_day_usd": math.nan,
        },
        greek_limits={"delta_usd": 50_000.0, "gamma": None},
        kill_switch="daily loss 3.1% > 3%",
        entries_paused=True,
        strategies=(
            StrategyState(
                "momentum",
                "momentum",
                True,
                ("SPY",),
                None,
                (SignalRecord(T0, "SPY", "buy", 10.0, "fast > slow", True),),
            ),
            StrategyState("wheel", "wheel", False, ("SPY",), "operator: too risky"),
        ),
        caches={
            "account": {"hits": 9.0, "misses": 1.0, "hit_rate": 0.9},
            "risk_report": {"hits": 0.0, "misses": 0.0, "hit_rate": math.nan},
        },
    )


def test_live_state_drives_health_overview_strategies_and_caches(journal_path: Path) -> None:
    state = _live_state()
    service = DashboardService(journal_path, live=lambda: state)
    assert service.mode == "live"
    assert service.health().cycle == 42
    assert service.health().mode == "live"
    view = service.overview(controls_available=True)
    assert view.cycle == 42
    assert view.as_of_ns == T0 + 7 * MIN
    assert view.account.equity_usd == 101_000.0
    assert view.account.day_pnl_usd is None  # NaN: unknown
    put = view.positions[0]
    assert (put.symbol, put.delta_shares, put.gamma, put.theta_per_day_usd) == (
        PUT,
        45.0,
        -1.5,
        4.0,
    )
    assert view.greeks.delta_usd == 27_775.0
    assert view.greeks.theta_per_day_usd is None
    assert view.greek_limits.delta_usd == 50_000.0
    assert view.greek_limits.gamma is None
    assert view.kill_switch == "daily loss 3.1% > 3%"
    assert view.entries_paused is True
    strategies = service.strategies().strategies
    assert [(s.name, s.enabled, s.disabled_reason) for s in strategies] == [
        ("momentum", True, None),
        ("wheel", False, "operator: too risky"),
    ]
    assert strategies[0].last_signals[0].reason == "fast > slow"
    caches = {c.name: c for c in service.performance().caches}
    assert caches["account"].hit_rate == 0.9
    assert caches["account"].hits == 9
    assert caches["risk_report"].hit_rate is None
    assert service.strategy_names() >= {"momentum", "wheel", "mean_reversion"}
    # the whole answer serialises as strict JSON (no NaN)
    json.loads(view.model_dump_json(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))


def test_before_the_first_live_cycle_the_journal_answers(journal_path: Path) -> None:
    service = DashboardService(journal_path, live=LiveState)  # cycle 0: nothing published yet
    assert service.mode == "live"
    assert service.health().cycle == 5
    assert service.overview().account.equity_usd == 100_500.0
    assert "wheel" in {s.name for s in service.strategies().strategies}


def test_reads_what_a_running_writer_committed(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    journal = Journal(path, clock=FakeClock())
    try:
        journal.record_cycle(1, T0, {"total": 0.01}, {})
        journal.flush()
        service = DashboardService(path)
        assert service.latest_cycle_id() == 1
        journal.record_cycle(2, T0 + MIN, {"total": 0.02}, {})
        journal.record_cycle(3, T0 + 2 * MIN, {}, {})
        assert service.cycles_after(1) == (1, [])  # buffered rows are not committed yet
        journal.flush()
        last, events = service.cycles_after(1)
        assert last == 3
        assert [(e.cycle, e.ts_ns, e.total_ms) for e in events] == [
            (2, T0 + MIN, pytest.approx(20.0)),
            (3, T0 + 2 * MIN, None),
        ]
        assert service.cycles_after(last) == (3, [])
    finally:
        journal.close()


def _bench_report() -> dict[str, object]:
    return {
        "schema_version": 1,
        "date_utc": "2026-11-21T17:05:00+00:00",
        "cases": [
            {
                "key": "a_bsm",
                "title": "(a) 50,000 options",
                "unit": "option",
                "headline": "greekfire",
                "target": {"metric": "median_ms", "limit": 0.5, "value": 0.43, "met": True},
                "rows": [
                    {
                        "key": "greekfire",
                        "label": "kernels",
                        "status": "ok",
                        "median_ms": 0.43,
                        "min_ms": 0.42,
                        "samples_ns": [1, 2, 3],
                    },
                    {
                        "key": "slow",
                        "label": "python loop",
                        "status": "skipped",
                        "note": "too slow",
                    },
                ],
            }
        ],
    }


def test_bench_report(tmp_path: Path, journal_path: Path) -> None:
    bench_dir = tmp_path / "reports"
    service = DashboardService(journal_path, bench_dir=bench_dir)
    missing = service.bench()
    assert missing.available is False
    assert missing.cases == []
    assert missing.markdown is None
    bench_dir.mkdir()
    (bench_dir / "bench.json").write_text(json.dumps(_bench_report()))
    (bench_dir / "bench.md").write_text("# greekfire benchmark report\n")
    report = service.bench()
    assert report.available
    assert report.generated == "2026-11-21T17:05:00+00:00"
    assert report.markdown == "# greekfire benchmark report\n"
    [case] = report.cases
    assert case.target is not None
    assert case.target.met is True
    assert case.target.limit == 0.5
    assert [(r.key, r.status, r.median_ms) for r in case.rows] == [
        ("greekfire", "ok", 0.43),
        ("slow", "skipped", None),
    ]
    assert case.rows[1].note == "too slow"
    (bench_dir / "bench.json").write_text("{not json")
    broken = service.bench()
    assert broken.available is False
    assert broken.error is not None
    assert "bench.json" in broken.error
