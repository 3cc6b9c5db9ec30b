"""The crash-recovery suite: its short run (the bot SIGKILLed against serve-market), and its own
pieces (the kill plan, the flood strategy, the resumed clock)."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import pytest

from greekfire.domain.orders import Order, OrderIntent, OrderStatus, Side
from greekfire.domain.portfolio import Position
from greekfire.journal.sqlite import Journal
from greekfire.reliability.crash import (
    KILL_KINDS,
    MONDAY_OPEN,
    FloodStrategy,
    _resume_at,
    plan_kills,
    run,
)
from greekfire.strategy.base import StrategyContext


class FixedClock:
    def __init__(self, ns: int) -> None:
        self.ns = ns

    def now_ns(self) -> int:
        return self.ns


# -- the kill plan --------------------------------------------------------------------------
def test_the_kill_plan_is_seeded_and_shares_the_kinds() -> None:
    plans = plan_kills(24, seed=3)
    assert plans == plan_kills(24, seed=3)
    assert plans != plan_kills(24, seed=4)
    assert Counter(p.kind for p in plans) == dict.fromkeys(KILL_KINDS, 8)
    flushes = [p.param for p in plans if p.kind == "in_flush"]
    delays = [p.param for p in plans if p.kind == "wall_delay"]
    assert all(1 <= n <= 8 and n == int(n) for n in flushes)
    assert all(1.0 <= s <= 5.0 for s in delays)
    assert len(set(delays)) > 1  # drawn, not constant
    assert all(p.param == 0 for p in plans if p.kind == "after_intent")


@pytest.mark.parametrize("count", [0, -1, 2.5])
def test_the_kill_plan_refuses_a_bad_count(count: object) -> None:
    with pytest.raises(ValueError, match="count"):
        plan_kills(count, seed=0)  # type: ignore[arg-type]


# -- the flood strategy --------------------------------------------------------------------------
def test_the_flood_buys_below_two_sells_at_two_and_waits_on_open_orders() -> None:
    strategy = FloodStrategy("flood", ["AAA", "BBB", "CCC", "DDD"])
    waiting = Order(
        "gf-1", OrderIntent.single("DDD", Side.BUY, 1, strategy="flood"), OrderStatus.NEW
    )
    ctx = StrategyContext(
        now_ns=1,
        positions={"BBB": Position("BBB", 1.0), "CCC": Position("CCC", 2.0)},
        open_orders=(waiting,),
    )
    intents = {i.symbol: i for i in strategy.on_cycle(ctx)}
    assert sorted(intents) == ["AAA", "BBB", "CCC"]
    assert [intents[s].legs[0].side for s in ("AAA", "BBB", "CCC")] == [
        Side.BUY,
        Side.BUY,
        Side.SELL,
    ]
    assert all(i.qty == 1 and i.strategy == "flood" for i in intents.values())


# -- the bot's clock across restarts --------------------------------------------------------
def test_a_restart_resumes_after_the_latest_time_the_journal_holds(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    floor = MONDAY_OPEN + dt.timedelta(hours=1)
    assert _resume_at(path) == floor  # no journal yet
    later = floor + dt.timedelta(minutes=7)
    later_ns = int(later.timestamp()) * 1_000_000_000
    with Journal(path, clock=FixedClock(later_ns)) as journal:
        journal.snapshot_positions(later_ns, {}, {})
    assert _resume_at(path) == later + dt.timedelta(seconds=1)
    earlier_ns = int(MONDAY_OPEN.timestamp()) * 1_000_000_000
    other = tmp_path / "other.db"
    with Journal(other, clock=FixedClock(earlier_ns)) as journal:
        journal.record_cycle(1, earlier_ns, {}, {})
    assert _resume_at(other) == floor  # never before the floor


# -- the short run ------------------------------------------------------------------------------
@pytest.mark.integration
def test_the_short_crash_run_recovers_every_kill(tmp_path: Path) -> None:
    result = run(tmp_path, short=True, seed=0)
    figures = {f.name: f.value for f in result.figures}
    assert figures["kills"] == 5
    assert all(figures[f"kills_{k}"] >= 1 for k in KILL_KINDS)
    assert figures["restarts"] == 5
    assert figures["orders_sent"] > 100  # a flood: 20 symbols a cycle
    assert figures["fills"] > 0
    assert figures["recovery_ms_p50"] > 0
    for name in (
        "lost_fills",
        "phantom_fills",
        "duplicate_orders",
        "resent_intents",
        "untracked_orders",
        "status_mismatches",
        "unresolved_intents",
        "position_mismatches",
        "integrity_failures",
    ):
        assert figures[name] == 0, (name, result.failures[:10])
    assert result.passed, result.failures
    rounds = json.loads((tmp_path / "crash" / "crash_rounds.json").read_text(encoding="utf-8"))
    assert [r["killed"] for r in rounds] == [r["plan"] for r in rounds]
    assert all(p.is_relative_to(tmp_path) for p in result.artifacts)
