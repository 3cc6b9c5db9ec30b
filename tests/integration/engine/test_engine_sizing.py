"""The engine sends the quantity the risk gate approved, not the one the strategy asked for: a
strategy asks for a million shares, fixed-fraction sizing lowers it, and the order journaled,
sent and filled carries the lowered quantity."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from engine_settings import settings_dict
from sizing_strategies import ASKED_QTY

from greekfire.engine.engine import TradingEngine
from greekfire.journal.sqlite import Journal
from greekfire.settings import Settings

pytestmark = pytest.mark.integration

RISK_FRACTION = 0.01
HUGE = [{"name": "huge", "module": "sizing_strategies:BuyHuge", "symbols": ["MSFT", "SPY"]}]


def test_the_engine_places_the_quantity_risk_approved(tmp_path: Path) -> None:
    raw = settings_dict(tmp_path, strategies=HUGE, risk={"risk_fraction": RISK_FRACTION})
    settings = Settings.model_validate(raw)
    with TradingEngine(settings, workdir=tmp_path) as engine:
        equity = engine.broker.account().equity_usd
        report = engine.run_cycle()
        assert report.errors == []
        assert report.counts["approved"] == 2, [d.reasons for d in report.decisions]
        decisions = {d.intent.symbol: d for d in report.decisions}
        positions = {s: p.qty for s, p in engine.broker.positions().items()}
    assert set(decisions) == {"MSFT", "SPY"}
    for symbol, decision in decisions.items():
        assert decision.intent.qty == ASKED_QTY  # the decision keeps what was asked
        assert 1 <= decision.qty < ASKED_QTY
        assert decision.qty == math.floor(decision.qty)
        assert any(r.startswith("sizing: qty lowered") for r in decision.reasons)
        assert positions.get(symbol) == decision.qty, positions  # filled what was sent
    journal = Journal.open_readonly(tmp_path / "journal.db")
    try:
        orders = {o.intent.symbol: o for o in journal.orders()}
    finally:
        journal.close()
    assert set(orders) == {"MSFT", "SPY"}
    for symbol, order in orders.items():
        decision = decisions[symbol]
        assert order.intent.qty == decision.qty, (symbol, order.intent.qty, decision.qty)
        assert order.intent.qty < ASKED_QTY
        assert order.filled_qty == decision.qty
        assert order.status.value == "filled"
        # fixed fraction: the stock's notional is its max loss, so the order risks <= 1 %
        assert order.intent.qty * order.avg_fill_price <= RISK_FRACTION * equity * 1.01
