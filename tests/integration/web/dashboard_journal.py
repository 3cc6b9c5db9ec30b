"""A small journal for the dashboard API tests, written through the Journal API, and a live
state to go with it (a plain module, not a conftest: every conftest shares one name)."""

from __future__ import annotations

import math
from pathlib import Path

from greekfire.domain.orders import Fill, Order, OrderIntent, OrderStatus, Side
from greekfire.domain.portfolio import Account, Position
from greekfire.engine.control import LiveState, PositionState, SignalRecord, StrategyState
from greekfire.journal import Journal
from greekfire.settings import Settings

T0 = 1_762_871_400_000_000_000
MIN = 60 * 10**9
PUT = "SPY261218P00500000"


class FakeClock:
    def __init__(self, now_ns: int = T0) -> None:
        self.t = now_ns

    def now_ns(self) -> int:
        return self.t


def write_journal(path: Path, cycles: int = 3) -> Path:
    """Two strategies configured, two orders (one filled), fills, a denial, snapshots, cycles."""
    clock = FakeClock()
    settings = Settings.model_validate(
        {"strategies": [{"name": "momentum", "symbols": ["SPY"]}, {"name": "wheel"}]}
    )
    with Journal(path, clock=clock) as journal:
        journal.record_run(T0, settings.model_dump_json())
        buy = Order(
            "mom-1",
            OrderIntent.single("SPY", Side.BUY, 10, strategy="momentum", reason="fast > slow"),
            created_ns=T0,
            updated_ns=T0,
        )
        journal.record_intent(buy)
        journal.update_order(
            buy.with_status(OrderStatus.FILLED, T0, filled_qty=10.0, avg_fill_price=500.0)
        )
        put = Order(
            "wheel-1",
            OrderIntent.single(PUT, Side.SELL, 1, limit_price=2.5, strategy="wheel", reason="csp"),
            created_ns=T0 + MIN,
            updated_ns=T0 + MIN,
        )
        journal.record_intent(put)
        journal.record_fills([Fill("f-1", "mom-1", "SPY", Side.BUY, 10, 500.0, 0.0, T0 + 1)])
        journal.record_note(
            "risk_denied", {"strategy": "momentum", "symbol": "AAPL", "reasons": ["max_positions"]}
        )
        journal.snapshot_account(Account(95_000.0, 100_050.0, 190_000.0, ts_ns=T0))
        journal.snapshot_positions(T0, {"SPY": Position("SPY", 10.0, 500.0)}, {"SPY": 505.0})
        for cycle in range(1, cycles + 1):
            timings = {"gate": 0.001, "fetch": 0.004 * cycle, "total": 0.006 * cycle}
            journal.record_cycle(cycle, T0 + cycle * MIN, timings, {"bars": 1})
    return path


def live_state(cycle: int = 3) -> LiveState:
    """A live state as the engine would publish it (with a NaN, as real Greeks can be)."""
    return LiveState(
        ts_ns=T0 + cycle * MIN,
        cycle=cycle,
        cash_usd=95_000.0,
        equity_usd=100_050.0,
        buying_power_usd=190_000.0,
        day_pnl_usd=50.0,
        positions=(
            PositionState("SPY", 10.0, 500.0, 505.0, 5050.0, 50.0, 10.0, 0.0, 0.0, math.nan),
        ),
        greeks={"delta_usd": 5050.0, "delta_shares": 10.0, "gamma": 0.0},
        greek_limits={"delta_usd": 20_000.0},
        strategies=(
            StrategyState(
                "momentum",
                "momentum",
                True,
                ("SPY",),
                None,
                (SignalRecord(T0, "SPY", "buy", 10.0, "fast > slow", True),),
            ),
            StrategyState("wheel", "wheel", True, ("SPY",), None),
        ),
        caches={"account": {"hits": 4.0, "misses": 1.0, "hit_rate": 0.8}},
    )
