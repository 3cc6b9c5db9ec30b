"""The options lifecycle, end to end: the wheel through assignment, covered call and call-away.

The real :class:`TradingEngine` runs the built-in ``wheel`` strategy from the config, the real
paper broker and SQLite journal, on a simulated clock driven by ``run_continuous`` (a cycle
every two hours, closed markets skipped), against a scripted market (``scripted_market``):

====================  ======  ===========================================================
New York dates 2026   XYZ     what the wheel does
====================  ======  ===========================================================
Mon 5 - Thu 8 Oct     50.00   sells the 9 Oct 49 put (|delta| 0.26, nearest 0.30) at 0.25
Fri 9 Oct             45.00   the put is 4.00 in the money at the 16:00 close: assigned,
                              100 shares bought at 49
Mon 12 - Thu 15 Oct   48.50   sells the 16 Oct 50 call (delta 0.18, nearest 0.20 among
                              strikes >= the 49.00 cost basis) at 0.15
Fri 16 Oct            55.00   the call is 5.00 in the money: called away at 50
Mon 19 Oct            55.00   flat again: sells the 23 Oct 54 put at 0.31
====================  ======  ===========================================================

The profit target is 100 % and ``roll_dte`` 0, so nothing is bought back early and the path
is deterministic. Every assertion reads the journal, opened read-only after the run.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from scripted_market import ScriptedProvider

from greekfire.analytics.options import black_scholes
from greekfire.domain.enums import OptionRight
from greekfire.domain.instruments import OptionContract, instrument_for
from greekfire.domain.orders import BrokerEvent, EventKind, Fill, Order, OrderStatus, Side
from greekfire.domain.portfolio import Account, Position
from greekfire.engine.clock import SimulatedClock
from greekfire.engine.engine import CycleReport, TradingEngine
from greekfire.engine.runner import run_continuous
from greekfire.journal import codec
from greekfire.journal.sqlite import Journal
from greekfire.settings import Settings
from greekfire.sim.chains import expiry_close

pytestmark = pytest.mark.integration

UNDERLYING = "XYZ"
START = pd.Timestamp("2026-10-05T13:35:00+00:00")  # Monday 09:35 New York (EDT)
LAST_CYCLE = pd.Timestamp("2026-10-19T15:30:00+00:00")  # Monday 19 Oct 11:30 New York
INTERVAL_S = 7_200.0
VOL = 0.30
RATE = 0.04
SCRIPT = [
    (date(2026, 10, 5), 50.00),
    (date(2026, 10, 9), 45.00),
    (date(2026, 10, 12), 48.50),
    (date(2026, 10, 16), 55.00),
]
PUT = OptionContract(UNDERLYING, date(2026, 10, 9), 49.0, OptionRight.PUT)
CALL = OptionContract(UNDERLYING, date(2026, 10, 16), 50.0, OptionRight.CALL)
NEXT_PUT = OptionContract(UNDERLYING, date(2026, 10, 23), 54.0, OptionRight.PUT)
WHEEL_PARAMS = {
    "dte_min": 3,
    "dte_max": 10,  # only the coming Friday's weekly qualifies on a Monday (4.3 days)
    "put_delta": 0.30,
    "call_delta": 0.20,
    "profit_target": 1.0,  # never buy back early
    "roll_dte": 0,  # never roll: let the broker settle at the expiry close
    "max_spread_fraction": 0.25,
    "min_open_interest": 100,
}
STARTING_CASH = Decimal("100000.00")
CENT = Decimal("0.01")
# One option contract sold: commission 0.65 + ORF 0.02685 -> 0.03 + SEC fee on < $360 of
# proceeds -> 0.01 + TAF 0.00279 -> 0.01 (regulatory fees round up to the cent per fill).
OPTION_SALE_FEE = Decimal("0.70")


def _dec(value: float) -> Decimal:
    return Decimal(repr(value))


@dataclass(frozen=True, slots=True)
class WheelRun:
    """What the run left behind: the journal file and the cycle reports."""

    journal_path: Path
    reports: list[CycleReport]


@dataclass(frozen=True, slots=True)
class Books:
    """The journal's contents, read once (read-only) after the run."""

    orders: list[Order]
    fills: list[Fill]
    events: list[BrokerEvent]
    accounts: list[Account]
    snapshots: list[tuple[int, dict[str, Position]]]
    notes: list[dict[str, object]]
    integrity: str


def _settings(tmp: Path) -> Settings:
    return Settings.model_validate(
        {
            "engine": {
                "symbols": [UNDERLYING],
                "clock": "simulated",
                "sim_start": START.isoformat(),
                "interval_s": INTERVAL_S,
                "lookback_bars": 60,
                "log_path": str(tmp / "logs" / "trading_system.jsonl"),
            },
            "data": {"provider": "synthetic", "history_dir": None},  # replaced by the script
            "journal": {"path": str(tmp / "journal.db"), "dry_run_path": str(tmp / "dry.db")},
            # a cash-secured 49 put risks ~$4,875: fixed-fraction sizing at the default 2 % of
            # $100k would deny it, 10 % allows one contract
            "risk": {"risk_fraction": 0.10},
            "strategies": [{"name": "wheel", "symbols": [UNDERLYING], "params": WHEEL_PARAMS}],
        }
    )


@pytest.fixture(scope="module")
def wheel_run(tmp_path_factory: pytest.TempPathFactory) -> WheelRun:
    tmp = tmp_path_factory.mktemp("wheel")
    settings = _settings(tmp)
    clock = SimulatedClock(START)
    provider = ScriptedProvider(UNDERLYING, SCRIPT, clock.now, vol=VOL, rate=RATE)
    engine = TradingEngine(settings, clock=clock, provider=provider, workdir=tmp)
    stop = threading.Event()
    reports: list[CycleReport] = []

    def on_cycle(report: CycleReport) -> None:
        reports.append(report)
        if report.ts >= LAST_CYCLE:
            stop.set()

    summary = run_continuous(engine, INTERVAL_S, stop=stop, on_cycle=on_cycle, max_cycles=100)
    assert summary.failed == 0
    assert reports
    assert reports[-1].ts == LAST_CYCLE, "the run stopped before 19 Oct"
    return WheelRun(tmp / "journal.db", reports)


def _history(path: Path) -> tuple[list[Account], list[tuple[int, dict[str, Position]]]]:
    # Every account and positions snapshot (the Journal API reads only the latest ones).
    uri = f"{path.resolve().as_uri()}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as conn:
        conn.row_factory = sqlite3.Row
        accounts = [
            codec.account_from_mapping(row)
            for row in conn.execute("SELECT * FROM account_snapshots ORDER BY id")
        ]
        heads = conn.execute(
            "SELECT snapshot_id, ts_ns FROM position_snapshots ORDER BY ts_ns, snapshot_id"
        ).fetchall()
        snapshots = []
        for head in heads:
            rows = conn.execute(
                "SELECT * FROM snapshot_positions WHERE snapshot_id = ?", (head["snapshot_id"],)
            )
            positions = {r["symbol"]: codec.position_from_mapping(r) for r in rows}
            snapshots.append((int(head["ts_ns"]), positions))
    return accounts, snapshots


@pytest.fixture(scope="module")
def books(wheel_run: WheelRun) -> Iterator[Books]:
    journal = Journal.open_readonly(wheel_run.journal_path)
    try:
        accounts, snapshots = _history(wheel_run.journal_path)
        yield Books(
            orders=journal.orders(),
            fills=journal.fills(),
            events=[codec.event_from_mapping(row) for row in journal.events()],
            accounts=accounts,
            snapshots=snapshots,
            notes=journal.notes(),
            integrity=journal.integrity_check(),
        )
    finally:
        journal.close()


def _cash_delta(fill: Fill) -> Decimal:
    """Cash moved by one fill, recomputed in decimal: premium or price * multiplier * qty,
    minus the fee."""
    multiplier = instrument_for(fill.symbol).multiplier
    notional = _dec(fill.price) * multiplier * _dec(fill.qty)
    signed = notional if fill.side is Side.SELL else -notional
    return signed - _dec(fill.fee_usd)


def _event(books: Books, kind: EventKind, symbol: str) -> BrokerEvent:
    found = [e for e in books.events if e.kind is kind and e.symbol == symbol]
    assert len(found) == 1, f"expected one {kind.value} of {symbol}, got {found}"
    return found[0]


def _bs_mid(contract: OptionContract, spot: float, now: pd.Timestamp) -> Decimal:
    """The scripted market's mid: Black-Scholes at ``VOL``, rounded to the cent."""
    years = (expiry_close(contract.expiry).value - now.value) / (365.0 * 86_400e9)
    right = "put" if contract.right is OptionRight.PUT else "call"
    value = float(black_scholes(spot, contract.strike, years, VOL, RATE, 0.0, right))
    return Decimal(repr(value)).quantize(CENT)


# -- the run ----------------------------------------------------------------------------------
def test_every_cycle_ran_cleanly(wheel_run: WheelRun, books: Books) -> None:
    # 4 trading cycles a day (09:30/09:35 .. 15:30/15:35) for 10 sessions, then 2 on 19 Oct,
    # plus one closing cycle at each of the 10 closes (the 16:00 marks settle expiries)
    traded = [r for r in wheel_run.reports if r.skipped is None]
    closing = [r for r in wheel_run.reports if r.skipped is not None]
    assert len(traded) == 42
    assert len(closing) == 10
    assert all(r.skipped == "market closed" and r.ts.hour in (20, 21) for r in closing)
    assert [r.errors for r in wheel_run.reports if r.errors] == []
    assert [n for n in books.notes if n["kind"] != "reconciliation"] == []  # no risk denial
    assert len(books.accounts) == 52
    assert books.integrity == "ok"


def test_the_wheel_orders_sold_put_call_put_at_the_mid(books: Books) -> None:
    sold = [(o.intent.symbol, o.intent.side, o.intent.qty, o.status) for o in books.orders]
    assert sold == [
        (PUT.symbol, Side.SELL, 1, OrderStatus.FILLED),
        (CALL.symbol, Side.SELL, 1, OrderStatus.FILLED),
        (NEXT_PUT.symbol, Side.SELL, 1, OrderStatus.FILLED),
    ]
    assert all(o.intent.strategy == "wheel" and o.intent.opening for o in books.orders)
    put, call, next_put = books.orders
    # each sold at the scripted market's mid the moment the order was sent
    assert _dec(put.avg_fill_price or 0.0) == _bs_mid(PUT, 50.00, START) == Decimal("0.25")
    monday_12 = pd.Timestamp("2026-10-12T13:30:00+00:00")
    assert _dec(call.avg_fill_price or 0.0) == _bs_mid(CALL, 48.50, monday_12) == Decimal("0.15")
    monday_19 = pd.Timestamp("2026-10-19T13:30:00+00:00")
    assert _dec(next_put.avg_fill_price or 0.0) == _bs_mid(NEXT_PUT, 55.00, monday_19)
    assert "cost basis 49.00" in call.intent.reason


# -- the events -------------------------------------------------------------------------------
def test_the_journal_shows_every_event_in_order(books: Books) -> None:
    put, call, next_put = books.orders
    kinds = [(e.kind, e.symbol, e.client_order_id) for e in books.events]
    assert kinds == [
        (EventKind.ORDER_ACCEPTED, PUT.symbol, put.client_order_id),
        (EventKind.ORDER_FILLED, PUT.symbol, put.client_order_id),
        (EventKind.OPTION_ASSIGNED, PUT.symbol, None),
        (EventKind.ORDER_ACCEPTED, CALL.symbol, call.client_order_id),
        (EventKind.ORDER_FILLED, CALL.symbol, call.client_order_id),
        (EventKind.OPTION_ASSIGNED, CALL.symbol, None),
        (EventKind.ORDER_ACCEPTED, NEXT_PUT.symbol, next_put.client_order_id),
        (EventKind.ORDER_FILLED, NEXT_PUT.symbol, next_put.client_order_id),
    ]
    assert [e.seq for e in books.events] == list(range(1, 9))
    # settlements happen at the expiry close, 16:00 New York
    assigned_put = _event(books, EventKind.OPTION_ASSIGNED, PUT.symbol)
    assigned_call = _event(books, EventKind.OPTION_ASSIGNED, CALL.symbol)
    assert assigned_put.ts_ns == expiry_close(PUT.expiry).value
    assert assigned_call.ts_ns == expiry_close(CALL.expiry).value
    assert "at 45.00" in assigned_put.detail
    assert "at 55.00" in assigned_call.detail


def test_assignment_and_call_away_move_100_shares_at_the_strike(books: Books) -> None:
    put_tag = f"option_assigned:{PUT.symbol}"
    call_tag = f"option_assigned:{CALL.symbol}"
    by_order = {
        tag: [
            (f.symbol, f.side, f.qty, f.price, f.fee_usd)
            for f in books.fills
            if f.client_order_id == tag
        ]
        for tag in (put_tag, call_tag)
    }
    assert by_order[put_tag] == [
        (PUT.symbol, Side.BUY, 1, 0.0, 0.0),  # the short put closed at 0.00
        (UNDERLYING, Side.BUY, 100, 49.0, 0.0),  # 100 shares in at the put's strike
    ]
    assert by_order[call_tag] == [
        (CALL.symbol, Side.BUY, 1, 0.0, 0.0),
        (UNDERLYING, Side.SELL, 100, 50.0, 0.0),  # called away at the call's strike
    ]
    # the events carry exactly the fills the journal holds
    from_events = [f.fill_id for e in books.events for f in e.fills]
    assert from_events == [f.fill_id for f in books.fills]
    assert len(set(from_events)) == len(from_events) == 7


# -- cash and positions -----------------------------------------------------------------------
def test_cash_after_every_event_is_exact_to_the_cent(books: Books) -> None:
    option_sales = [f for f in books.fills if f.side is Side.SELL and f.symbol != UNDERLYING]
    assert [_dec(f.fee_usd) for f in option_sales] == [OPTION_SALE_FEE] * 3
    # the running cash after each event with fills, recomputed from the journal's fills
    running = STARTING_CASH
    after_event: list[tuple[int, Decimal]] = []
    for event in books.events:
        if event.fills:
            running += sum((_cash_delta(f) for f in event.fills), Decimal(0))
            after_event.append((event.ts_ns, running))
    assert [cash for _, cash in after_event] == [
        Decimal("100024.30"),  # + 0.25 * 100 - 0.70
        Decimal("95124.30"),  # - 49 * 100
        Decimal("95138.60"),  # + 0.15 * 100 - 0.70
        Decimal("100138.60"),  # + 50 * 100
        Decimal("100168.90"),  # + 0.31 * 100 - 0.70
    ]
    # every account snapshot (one per cycle) holds the cash of the events up to its time
    checked = set()
    for account in books.accounts:
        expected = STARTING_CASH
        for ts_ns, cash in after_event:
            if ts_ns <= account.ts_ns:
                expected = cash
                checked.add(ts_ns)
        assert _dec(account.cash_usd) == expected, pd.Timestamp(account.ts_ns, tz="UTC")
    assert checked == {ts for ts, _ in after_event}  # each event is seen by some snapshot
    assert _dec(books.accounts[-1].cash_usd) == Decimal("100168.90")


def _first_after(books: Books, ts_ns: int) -> dict[str, Position]:
    return next(positions for ts, positions in books.snapshots if ts > ts_ns)


def test_positions_after_assignment_and_after_call_away(books: Books) -> None:
    assigned = _event(books, EventKind.OPTION_ASSIGNED, PUT.symbol).ts_ns
    called = _event(books, EventKind.OPTION_ASSIGNED, CALL.symbol).ts_ns
    before = [p for ts, p in books.snapshots if ts < assigned]
    assert before
    assert all(set(p) == {PUT.symbol} for p in before)
    assert all(p[PUT.symbol].qty == -1 for p in before)

    held = _first_after(books, assigned)  # Monday 12 Oct: the shares, and the call sold
    assert PUT.symbol not in held
    stock = held[UNDERLYING]
    assert (stock.qty, _dec(stock.avg_cost)) == (100, Decimal("49"))
    assert CALL.strike >= stock.avg_cost  # the covered call at or above the cost basis
    assert held[CALL.symbol].qty == -1
    between = [p for ts, p in books.snapshots if assigned < ts < called]
    assert all(set(p) == {UNDERLYING, CALL.symbol} for p in between)
    assert all(p[UNDERLYING].qty == 100 for p in between)

    after = _first_after(books, called)  # Monday 19 Oct: flat stock, the new put
    assert UNDERLYING not in after
    assert CALL.symbol not in after
    assert set(after) == {NEXT_PUT.symbol}
    assert after[NEXT_PUT.symbol].qty == -1
    final = books.snapshots[-1][1]
    assert set(final) == {NEXT_PUT.symbol}


def test_realised_pnl_of_the_wheel_equals_the_hand_computed_sum(books: Books) -> None:
    put, call, next_put = books.orders
    premiums = (_dec(put.avg_fill_price or 0.0) + _dec(call.avg_fill_price or 0.0)) * 100
    fees = 2 * OPTION_SALE_FEE
    stock = (Decimal(repr(CALL.strike)) - Decimal(repr(PUT.strike))) * 100
    by_hand = premiums - fees + stock
    assert by_hand == Decimal("138.60")  # 25.00 + 15.00 - 1.40 + 100.00
    # from the journal's fills up to the call-away: the book is flat, all of it realised
    called = _event(books, EventKind.OPTION_ASSIGNED, CALL.symbol).ts_ns
    realised = sum((_cash_delta(f) for f in books.fills if f.ts_ns <= called), Decimal(0))
    assert realised == by_hand
    # and from the last account snapshot: that, plus the new put's premium less its fee
    new_put = _dec(next_put.avg_fill_price or 0.0) * 100 - OPTION_SALE_FEE
    assert _dec(books.accounts[-1].cash_usd) - STARTING_CASH - new_put == by_hand
