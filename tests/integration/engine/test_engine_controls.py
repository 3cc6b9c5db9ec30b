"""Operator controls, the live state and the engine's Prometheus series, on the real engine
(synthetic market, paper broker, SQLite journal, simulated clock)."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from engine_settings import settings_dict

from greekfire.domain.instruments import OptionContract, instrument_for
from greekfire.engine.control import ControlCommand, ControlKind, LiveState
from greekfire.engine.engine import TradingEngine
from greekfire.engine.live import PAUSED_REASON
from greekfire.engine.runner import run_continuous
from greekfire.journal.sqlite import Journal
from greekfire.settings import Settings

pytestmark = pytest.mark.integration

STOCK = {"name": "stock", "module": "control_strategies:InAndOut", "symbols": ["MSFT"]}
HOLD = {"name": "hold", "module": "engine_strategies:BuyOnce", "symbols": ["MSFT"]}
CALLS = {"name": "calls", "module": "control_strategies:OneOption", "symbols": ["INTC"]}
PUTS = {"name": "puts", "module": "control_strategies:SellOnePut", "symbols": ["INTC"]}


def make_engine(
    tmp_path: Path, strategies: list[dict[str, Any]], **overrides: Any
) -> TradingEngine:
    raw = settings_dict(tmp_path, strategies=strategies, **overrides)
    return TradingEngine(Settings.model_validate(raw), workdir=tmp_path)


def control_notes(tmp_path: Path) -> list[dict[str, object]]:
    journal = Journal.open_readonly(tmp_path / "journal.db")
    try:
        return [n["payload"] for n in journal.notes("control")]  # type: ignore[misc]
    finally:
        journal.close()


def sample(engine: TradingEngine, name: str, **labels: str) -> float | None:
    return engine.monitor.registry.get_sample_value(name, labels)


def test_pause_denies_entries_lets_exits_through_and_resume_lifts_it(tmp_path: Path) -> None:
    with make_engine(tmp_path, [STOCK]) as engine:
        first = engine.run_cycle()
        assert [(d.intent.reason, d.approved) for d in first.decisions] == [("entry", True)]
        engine.controls.submit(ControlCommand(ControlKind.PAUSE_ENTRIES, reason="lunch"))
        exit_cycle = engine.run_cycle()
        # the exit passes the pause: MSFT is sold
        assert [(d.intent.reason, d.approved) for d in exit_cycle.decisions] == [("exit", True)]
        assert "MSFT" not in engine.broker.positions()
        denied = engine.run_cycle()
        assert [(d.intent.reason, d.approved) for d in denied.decisions] == [("entry", False)]
        assert denied.decisions[0].reasons == (PAUSED_REASON,)
        assert denied.counts["denied"] == 1
        assert engine.live_state().entries_paused is True
        assert sample(engine, "greekfire_entries_paused") == 1.0
        engine.controls.submit(ControlCommand(ControlKind.RESUME_ENTRIES, by="dashboard"))
        resumed = engine.run_cycle()
        assert [(d.intent.reason, d.approved) for d in resumed.decisions] == [("entry", True)]
        live = engine.live_state()
        assert live.entries_paused is False
        assert sample(engine, "greekfire_entries_paused") == 0.0
        assert live.controls[-1].startswith("resume_entries by dashboard")
        signals = next(s for s in live.strategies if s.name == "stock").last_signals
        assert [(s.reason, s.approved, s.denied_by) for s in signals] == [
            ("entry", True, ""),
            ("exit", True, ""),
            ("entry", False, "paused"),
            ("entry", True, ""),
        ]
    notes = control_notes(tmp_path)
    assert [(n["command"], n["reason"], n["by"]) for n in notes] == [
        ("pause_entries", "lunch", "operator"),
        ("resume_entries", "", "dashboard"),
    ]
    journal = Journal.open_readonly(tmp_path / "journal.db")
    try:
        denials = journal.notes("risk_denied")
    finally:
        journal.close()
    assert [n["payload"]["reasons"] for n in denials] == [[PAUSED_REASON]]  # type: ignore[index]


def test_a_pause_survives_a_restart(tmp_path: Path) -> None:
    with make_engine(tmp_path, [HOLD]) as engine:
        engine.controls.submit(ControlCommand(ControlKind.PAUSE_ENTRIES))
        report = engine.run_cycle()
        assert [d.approved for d in report.decisions] == [False]
    with make_engine(tmp_path, [HOLD]) as engine:
        assert engine.entries_paused is True
        assert engine.live_state().entries_paused is True  # before any cycle
        assert [d.approved for d in engine.run_cycle().decisions] == [False]
        engine.controls.submit(ControlCommand(ControlKind.RESUME_ENTRIES))
        assert [d.approved for d in engine.run_cycle().decisions] == [True]
    with make_engine(tmp_path, [HOLD]) as engine:
        assert engine.entries_paused is False


def test_flatten_closes_stock_and_option_positions_at_market(tmp_path: Path) -> None:
    with make_engine(tmp_path, [HOLD, CALLS, PUTS]) as engine:
        engine.run_cycle()
        held = {s: p.qty for s, p in engine.broker.positions().items()}
        assert len(held) == 3
        assert held["MSFT"] == 10
        options = {s: q for s, q in held.items() if isinstance(instrument_for(s), OptionContract)}
        assert sorted(options.values()) == [-1.0, 1.0]  # a short put and a long call
        engine.controls.submit(ControlCommand(ControlKind.FLATTEN, reason="end of test"))
        report = engine.run_cycle()
        assert engine.broker.positions() == {}
        operator = [d for d in report.decisions if d.intent.strategy == "operator"]
        sides = {d.intent.symbol: (d.intent.side.value, d.qty, d.approved) for d in operator}
        assert sides == {s: ("sell" if q > 0 else "buy", abs(q), True) for s, q in held.items()}
        assert all(not d.intent.opening for d in operator)
        assert all(d.intent.order_type.value == "market" for d in operator)
        # entries are paused: the strategies' new entries are denied, positions stay flat
        again = engine.run_cycle()
        assert again.decisions
        assert all(not d.approved for d in again.decisions)
        assert engine.broker.positions() == {}
        live = engine.live_state()
        assert live.entries_paused is True
        assert live.positions == ()
    journal = Journal.open_readonly(tmp_path / "journal.db")
    try:
        placed = [o for o in journal.orders() if o.intent.strategy == "operator"]
        assert len(placed) == 3
        assert all(o.status.value == "filled" for o in placed)
        assert journal.get_meta("entries_paused") == "1"
    finally:
        journal.close()
    (note,) = control_notes(tmp_path)
    assert note["command"] == "flatten"
    assert "next trading cycle" in str(note["outcome"])


def test_disable_a_strategy_by_name_and_an_unknown_name_is_noted(tmp_path: Path) -> None:
    with make_engine(tmp_path, [STOCK, CALLS]) as engine:
        constructed = engine.slots[1].calls
        engine.controls.submit(
            ControlCommand(ControlKind.DISABLE_STRATEGY, strategy="calls", reason="too risky")
        )
        engine.controls.submit(ControlCommand(ControlKind.DISABLE_STRATEGY, strategy="nope"))
        report = engine.run_cycle()
        assert {d.intent.strategy for d in report.decisions} == {"stock"}
        assert [s.enabled for s in engine.slots] == [True, False]
        states = {s.name: s for s in engine.live_state().strategies}
        assert states["calls"].enabled is False
        assert "disabled by operator: too risky" in str(states["calls"].disabled_reason)
        assert states["stock"].disabled_reason is None
        engine.run_cycle()
        assert engine.slots[1].calls == constructed  # never called again
    notes = control_notes(tmp_path)
    assert [n["strategy"] for n in notes] == ["calls", "nope"]
    assert "no strategy named 'nope'" in str(notes[1]["outcome"])
    assert "'calls'" in str(notes[1]["outcome"])  # the names that exist
    journal = Journal.open_readonly(tmp_path / "journal.db")
    try:
        disabled = journal.notes("strategy_disabled")
    finally:
        journal.close()
    assert [n["payload"]["strategy"] for n in disabled] == ["calls"]  # type: ignore[index]


def test_commands_from_another_thread_while_cycles_run(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, [HOLD], engine={"market_hours_only": False})
    stop = threading.Event()
    result: dict[str, Any] = {}

    def run() -> None:
        result["summary"] = run_continuous(engine, 60, stop=stop)

    worker = threading.Thread(target=run, name="engine-under-test")
    worker.start()
    try:
        assert _wait(lambda: engine.live_state().cycle >= 3), "no cycles ran"
        for _ in range(50):  # many submissions racing the cycles: none may be lost
            engine.controls.submit(ControlCommand(ControlKind.PAUSE_ENTRIES, by="thread"))
        assert _wait(lambda: engine.live_state().entries_paused)
        engine.controls.submit(ControlCommand(ControlKind.RESUME_ENTRIES, by="thread"))
        assert _wait(lambda: not engine.live_state().entries_paused)
        start = engine.live_state().cycle
        assert _wait(lambda: engine.live_state().cycle >= start + 2)
    finally:
        stop.set()
        worker.join(30)
    assert not worker.is_alive()
    assert result["summary"].failed == 0
    notes = control_notes(tmp_path)
    assert [n["command"] for n in notes] == ["pause_entries"] * 50 + ["resume_entries"]


def _wait(condition: Any, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_live_state_after_a_cycle(tmp_path: Path) -> None:
    limits = {"greeks": {"max_abs_delta_usd": 50_000.0, "min_theta_per_day_usd": -500.0}}
    with make_engine(tmp_path, [HOLD, CALLS], risk=limits) as engine:
        before = engine.live_state()
        assert isinstance(before, LiveState)
        assert before.cycle == 0
        assert math.isnan(before.equity_usd)
        assert [s.name for s in before.strategies] == ["hold", "calls"]
        engine.run_cycle()
        live = engine.live_state()
        account = engine.broker.account()
    assert live is not before
    assert live.cycle == 1
    assert live.ts_ns > 0
    assert live.equity_usd == pytest.approx(account.equity_usd)
    assert live.cash_usd == pytest.approx(account.cash_usd)
    assert live.buying_power_usd == pytest.approx(account.buying_power_usd)
    assert math.isfinite(live.day_pnl_usd)
    by_symbol = {p.symbol: p for p in live.positions}
    stock = by_symbol.pop("MSFT")
    assert stock.qty == 10
    assert stock.delta_shares == 10
    assert stock.gamma == 0
    assert stock.market_value_usd == pytest.approx(10 * stock.mark)
    (call,) = by_symbol.values()
    assert call.qty == 1
    assert 0 < call.delta_shares < 100
    assert call.gamma > 0
    assert call.theta_per_day_usd < 0
    assert live.greeks["delta_shares"] == pytest.approx(stock.delta_shares + call.delta_shares)
    assert set(live.greeks) == {
        "delta_usd",
        "delta_shares",
        "gamma",
        "vega_per_point_usd",
        "theta_per_day_usd",
    }
    assert live.greek_limits == {
        "delta_usd": 50_000.0,
        "delta_shares": None,
        "gamma": None,
        "vega_per_point_usd": None,
        "theta_per_day_usd": -500.0,
    }
    assert live.kill_switch is None
    assert live.entries_paused is False
    signals = {s.name: s.last_signals for s in live.strategies}
    assert [(r.symbol, r.side, r.approved) for r in signals["hold"]] == [("MSFT", "buy", True)]
    assert signals["calls"][0].side == "buy"
    assert {s.kind for s in live.strategies} == {"buy_once", "one_option"}
    assert set(live.caches) == {"account_cache", "risk_report"}
    assert live.caches["account_cache"]["misses"] >= 1


def test_signals_keep_the_last_twenty_per_strategy(tmp_path: Path) -> None:
    with make_engine(tmp_path, [STOCK]) as engine:
        for _ in range(24):
            engine.run_cycle()
        (state,) = engine.live_state().strategies
    assert len(state.last_signals) == 20
    assert state.last_signals[-1].ts_ns == engine.live_state().ts_ns


def test_the_kill_switch_reason_shows_in_the_live_state_and_metrics(tmp_path: Path) -> None:
    with make_engine(tmp_path, [HOLD]) as engine:
        engine.journal.set_meta("equity_peak_usd", "1000000.0")  # a 90 % drawdown
        report = engine.run_cycle()
        assert [d.denied_by for d in report.decisions] == ["kill_switch"]
        live = engine.live_state()
        assert live.kill_switch is not None
        assert "drawdown" in live.kill_switch
        assert sample(engine, "greekfire_kill_switch_tripped") == 1.0


def test_the_engine_metrics_move(tmp_path: Path) -> None:
    limits = {"greeks": {"max_abs_vega_per_point_usd": 900.0}}
    with make_engine(tmp_path, [HOLD, CALLS], risk=limits) as engine:
        assert sample(engine, "greekfire_cycles_total") == 0.0
        assert sample(engine, "greekfire_fills_total", strategy="hold") == 0.0
        assert sample(engine, "greekfire_orders_total", status="filled") == 0.0
        engine.run_cycle()
        engine.run_cycle()
        live = engine.live_state()
        assert sample(engine, "greekfire_cycles_total") == 2.0
        assert sample(engine, "greekfire_cycle_errors_total") == 0.0
        assert sample(engine, "greekfire_equity_usd") == pytest.approx(live.equity_usd)
        assert sample(engine, "greekfire_cash_usd") == pytest.approx(live.cash_usd)
        assert sample(engine, "greekfire_buying_power_usd") == pytest.approx(live.buying_power_usd)
        assert sample(engine, "greekfire_day_pnl_usd") == pytest.approx(live.day_pnl_usd)
        assert sample(engine, "greekfire_fills_total", strategy="hold") == 1.0
        assert sample(engine, "greekfire_fills_total", strategy="calls") == 1.0
        assert sample(engine, "greekfire_orders_total", status="filled") == 2.0
        assert sample(engine, "greekfire_kill_switch_tripped") == 0.0
        assert sample(engine, "greekfire_portfolio_delta_shares") == pytest.approx(
            live.greeks["delta_shares"]
        )
        assert sample(engine, "greekfire_portfolio_gamma_shares_per_usd") == pytest.approx(
            live.greeks["gamma"]
        )
        assert sample(engine, "greekfire_portfolio_greek_limit", greek="vega_per_point_usd") == 900
        no_limit = sample(engine, "greekfire_portfolio_greek_limit", greek="delta_usd")
        assert no_limit is not None
        assert math.isnan(no_limit)
        text = engine.monitor.expose().decode()
    assert 'greekfire_cycle_phase_duration_seconds_count{outcome="ok",phase="risk"}' in text
