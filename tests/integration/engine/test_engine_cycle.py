"""The real engine on a synthetic market, the paper broker and a SQLite journal."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from engine_settings import settings_dict

from greekfire.engine.engine import PHASES, TradingEngine
from greekfire.engine.runner import run_continuous
from greekfire.errors import StateError
from greekfire.journal.sqlite import Journal
from greekfire.settings import Settings

pytestmark = pytest.mark.integration


def make_engine(tmp_path: Path, **overrides: object) -> TradingEngine:
    settings = Settings.model_validate(settings_dict(tmp_path, **overrides))
    return TradingEngine(settings, workdir=tmp_path)


def test_a_cycle_runs_every_phase_and_journals_its_orders(tmp_path: Path) -> None:
    with make_engine(tmp_path) as engine:
        report = engine.run_cycle()
        assert report.skipped is None, report.errors
        assert report.errors == []
        assert set(PHASES) <= set(report.timings_s)
        assert report.counts["bars"] > 0
        assert report.counts["quotes"] == 4
        assert report.counts["approved"] == 2  # MSFT and SPY, 10 shares asked each
        # the positions hold what the risk gate approved (its sizing may lower the 10 asked)
        approved = {d.intent.symbol: d.qty for d in report.decisions if d.approved}
        assert set(approved) == {"MSFT", "SPY"}
        assert all(0 < q <= 10 for q in approved.values())
        positions = engine.broker.positions()
        assert {s: p.qty for s, p in positions.items()} == approved
        second = engine.run_cycle()
        assert second.counts["intents"] == 0  # held: the strategy asks for nothing
        assert second.counts["bars"] == 0  # no bar completed since the first cycle
    journal = Journal.open_readonly(tmp_path / "journal.db")
    try:
        orders = journal.orders()
        assert len(orders) == 2
        assert {o.intent.strategy for o in orders} == {"buy"}
        assert all(o.status.value == "filled" for o in orders)
        assert {f.symbol for f in journal.fills()} == {"MSFT", "SPY"}
        cycles = journal.cycles()
        assert [c["cycle"] for c in cycles] == [1, 2]
        assert set(PHASES) <= set(cycles[0]["timings_s"])
        assert journal.integrity_check() == "ok"
    finally:
        journal.close()


def test_the_market_closed_gate_skips_trading_but_keeps_the_books(tmp_path: Path) -> None:
    saturday = {"sim_start": "2026-11-14T15:00:00+00:00"}
    with make_engine(tmp_path, engine=saturday) as engine:
        first = engine.run_cycle()
        second = engine.run_cycle()
    assert first.skipped == second.skipped == "market closed"
    assert first.counts["quotes"] == 4  # closing prices, once per closed period
    assert "strategies" not in first.timings_s
    assert "fetch" not in second.timings_s
    assert "journal" in second.timings_s
    assert first.counts.get("approved", 0) == 0


def test_dry_run_journals_decisions_in_its_own_file_and_sends_nothing(tmp_path: Path) -> None:
    with make_engine(tmp_path, engine={"dry_run": True}) as engine:
        report = engine.run_cycle()
        assert report.counts["approved"] == 2
        assert engine.broker.positions() == {}
        assert engine.inner_broker.orders(open_only=False) == []
    assert not (tmp_path / "journal.db").exists()
    rows = sqlite3.connect(tmp_path / "dry.db").execute(
        "SELECT COUNT(*) FROM notes WHERE kind = 'dry_run_order'"
    )
    assert rows.fetchone()[0] == 2


def test_a_raising_strategy_is_disabled_and_the_others_trade_on(tmp_path: Path) -> None:
    strategies = [
        {"name": "buy", "module": "engine_strategies:BuyOnce", "symbols": ["SPY"]},
        {"name": "bad", "module": "engine_strategies:Explodes"},
    ]
    with make_engine(tmp_path, strategies=strategies) as engine:
        first = engine.run_cycle()
        second = engine.run_cycle()
        third = engine.run_cycle()
        assert first.errors == []
        assert any("bad" in e and "divided by zero" in e for e in second.errors)
        assert third.errors == []  # disabled once, reported once
        assert [s.enabled for s in engine.slots] == [True, False]
        assert "SPY" in engine.broker.positions()


def test_run_continuous_stops_cleanly_and_flushes_the_journal(tmp_path: Path) -> None:
    stop = threading.Event()
    engine = make_engine(tmp_path)
    seen: list[int] = []

    def on_cycle(report: object) -> None:
        seen.append(report.cycle)
        if len(seen) == 3:
            stop.set()

    summary = run_continuous(engine, 1800, stop=stop, on_cycle=on_cycle)
    assert summary.cycles == 3
    assert summary.failed == 0
    assert seen == [1, 2, 3]
    journal = Journal.open_readonly(tmp_path / "journal.db")
    try:
        assert [c["cycle"] for c in journal.cycles()] == [1, 2, 3]
    finally:
        journal.close()
    with pytest.raises(RuntimeError, match="closed"):
        engine.run_cycle()


def test_a_restart_continues_the_cycle_count_and_the_paper_account(tmp_path: Path) -> None:
    with make_engine(tmp_path) as engine:
        engine.run_cycle()
        cash = engine.broker.account().cash_usd
    with make_engine(tmp_path) as engine:
        assert engine.reconcile_report.ok
        assert engine.broker.account().cash_usd == pytest.approx(cash, abs=0.005)
        report = engine.run_cycle()
        assert report.cycle == 2
        assert report.counts["approved"] == 0  # still holds both


def test_cache_stats_and_clear(tmp_path: Path) -> None:
    with make_engine(tmp_path) as engine:
        engine.run_cycle()
        engine.run_cycle()
        stats = engine.get_cache_stats()
        assert stats["broker_calls"]["account"] >= 1
        before = stats["broker_calls"]["account"]
        engine.broker.account()
        assert engine.get_cache_stats()["broker_calls"]["account"] == before  # a hit
        engine.clear_caches()
        engine.broker.account()
        assert engine.get_cache_stats()["broker_calls"]["account"] == before + 1
        report = engine.get_risk_report()
        assert report is engine.get_risk_report()  # cached until invalidated


def test_a_mismatch_under_halt_refuses_to_start(tmp_path: Path) -> None:
    with make_engine(tmp_path) as engine:
        engine.run_cycle()  # the paper account now holds MSFT and SPY
    for stale in tmp_path.glob("journal.db*"):
        stale.unlink()  # a journal that never saw those fills
    with pytest.raises(StateError, match="MSFT"):
        make_engine(tmp_path, journal={"reconcile": "halt"})
    with make_engine(tmp_path, journal={"reconcile": "adopt"}) as engine:
        assert not engine.reconcile_report.ok
        assert {s: p.qty for s, p in engine.broker.positions().items()} == {
            "MSFT": 10.0,
            "SPY": 10.0,
        }
