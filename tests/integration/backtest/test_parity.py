"""Parity (issue 7, point 3): a paper run over a simulated week, replayed from its journal
through the backtester, trades identically; a replay under other settings shows where they part."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from greekfire.backtest.parity import ParityReport, parity
from greekfire.engine.engine import TradingEngine
from greekfire.engine.runner import run_continuous
from greekfire.journal.sqlite import Journal
from greekfire.settings import Settings

pytestmark = pytest.mark.integration

MONDAY = "2026-11-09T14:35:00+00:00"
WEEK_CYCLES = 70  # 30-minute cycles from Monday 09:35 New York to the Friday close


def week_settings(workdir: Path, **journal: Any) -> Settings:
    return Settings.model_validate(
        {
            "engine": {
                "symbols": ["AAPL", "F", "INTC", "MSFT", "NVDA", "SPY"],
                "clock": "simulated",
                "sim_start": MONDAY,
                "interval_s": 1800,
                "log_path": str(workdir / "bot.jsonl"),
            },
            "data": {"provider": "synthetic"},
            "broker": {"kind": "paper", "paper": {"slippage_bps": 2.0}},
            "risk": {"max_symbol_exposure_fraction": 0.25, "risk_fraction": 0.05},
            "journal": {"path": str(workdir / "greekfire.db"), **journal},
            "strategies": [
                {
                    "name": "wheel",
                    "symbols": ["F", "INTC"],
                    "params": {"dte_min": 1, "dte_max": 10, "roll_dte": 0, "put_delta": 0.40},
                },
                {"name": "momentum", "symbols": ["AAPL", "F", "INTC", "MSFT", "NVDA", "SPY"]},
            ],
        }
    )


def run_week(workdir: Path, cycles: int = WEEK_CYCLES, **journal: Any) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    settings = week_settings(workdir, **journal)
    engine = TradingEngine(settings, workdir=workdir)
    summary = run_continuous(engine, settings.engine.interval_s, max_cycles=cycles)
    assert summary.failed == 0
    return workdir / "greekfire.db"


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ParityReport]:
    journal = run_week(tmp_path_factory.mktemp("week"))
    return journal, parity(journal)


def test_a_paper_week_replays_to_identical_fills(week: tuple[Path, ParityReport]) -> None:
    journal_path, report = week
    journal = Journal.open_readonly(journal_path)
    try:
        live = journal.fills()
        cycles = journal.cycles()
        events = journal.events()
    finally:
        journal.close()
    # the week really traded: stock and options, over the whole week
    assert len(cycles) == WEEK_CYCLES == report.cycles
    assert pd.Timestamp(cycles[-1]["ts_ns"], tz="UTC") >= pd.Timestamp("2026-11-13T21:00Z")
    options = [f for f in live if len(f.symbol) > 6]
    stock = [f for f in live if len(f.symbol) <= 6]
    assert options, live
    assert len(stock) >= 2, live
    assert events
    # ... and the replay traded exactly that: every fill paired, same time, qty, price, fee
    counts = report.counts()
    assert counts["live_fills"] == counts["replay_fills"] == counts["same"] == len(live)
    assert report.identical
    assert report.differences() == []
    table = report.fills
    np.testing.assert_array_equal(table["live_price"], table["replay_price"])
    assert (table["delay_s"] == 0.0).all()
    assert report.equity_usd["live"] == report.equity_usd["replay"]
    assert report.errors == []
    assert report.runs == 1
    assert report.live_broker == "paper"
    assert set(report.by_strategy().index) == {"wheel", "momentum"}


def test_a_replay_under_other_fill_settings_shows_where_it_parts(
    week: tuple[Path, ParityReport], tmp_path: Path
) -> None:
    journal_path, _ = week
    other = week_settings(tmp_path).model_dump()
    other["broker"]["paper"]["slippage_bps"] = 25.0
    report = parity(journal_path, settings=Settings.model_validate(other), settings_from="x.yaml")
    assert not report.identical
    assert report.settings_from == "x.yaml"
    differs = report.fills[report.fills["status"] != "same"]
    assert len(differs) >= 1
    lines = report.differences()
    assert any("bps" in line for line in lines), lines
    # market orders pay 23 bps more slippage: the buys' prices move up
    stock_buys = differs[(differs["side"] == "buy") & (differs["symbol"].str.len() <= 6)]
    paired = stock_buys.dropna(subset=["live_price", "replay_price"])
    if len(paired):
        assert (paired["replay_price"] > paired["live_price"]).all()


def test_the_window_limits_what_is_compared(week: tuple[Path, ParityReport]) -> None:
    journal_path, whole = week
    start = pd.Timestamp("2026-11-11T00:00Z")
    report = parity(journal_path, start=start)
    live_ts = whole.fills["live_ts"]
    assert report.counts()["live_fills"] == int((live_ts >= start).sum())
    assert report.identical
    assert report.window == (start, None)
    with pytest.raises(ValueError, match="before start"):
        parity(journal_path, start="2026-11-12", end="2026-11-10")


def test_the_report_saves_json_and_parquet(week: tuple[Path, ParityReport], tmp_path: Path) -> None:
    import json

    _, report = week
    path = report.save(tmp_path / "parity")
    summary = json.loads(path.read_text())
    assert summary["identical"] is True
    assert summary["live_fills"] == report.counts()["live_fills"]
    table = pd.read_parquet(tmp_path / "parity" / "parity_fills.parquet")
    assert list(table["status"]) == list(report.fills["status"])


def test_a_run_without_the_market_tape_cannot_be_replayed(tmp_path: Path) -> None:
    journal = run_week(tmp_path / "untaped", cycles=3, record_market=False)
    with pytest.raises(ValueError, match="no market tape recorded"):
        parity(journal)
