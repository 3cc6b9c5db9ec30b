"""The paper broker's state file: snapshot + append-only log, checkpoint, restart, v2 files."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from broker_fakes import DictQuotes, FakeClock

from greekfire.broker.paper import PaperBroker
from greekfire.broker.paper_state import (
    STATE_VERSION,
    event_to_dict,
    ledger_from_dict,
    ledger_to_dict,
)
from greekfire.domain.orders import Fill, Order, OrderIntent, Side, TimeInForce
from greekfire.domain.portfolio import Ledger
from greekfire.domain.records import order_to_dict
from greekfire.errors import StateError

MakeBroker = Callable[..., PaperBroker]
SPY = "SPY"
CALL = "SPY240405C00500000"
PUT = "SPY240405P00500000"
SMALL = {"history_orders": 6, "history_events": 9, "state_log_lines": 5}


def market(cid: str, symbol: str, side: Side, qty: float = 1) -> Order:
    return Order(cid, OrderIntent.single(symbol, side, qty, opening=side is Side.BUY))


def resting(cid: str) -> Order:
    intent = OrderIntent.single(SPY, Side.BUY, 1, limit_price=100.0, tif=TimeInForce.GTC)
    return Order(cid, intent)


def trade(broker: PaperBroker, quotes: DictQuotes, start: int, count: int) -> None:
    # Stock and option round trips at moving prices (partial closes, realised P&L) + rests.
    for i in range(start, start + count):
        bid = 500.0 + (i % 7) * 0.37
        quotes.set(SPY, bid, bid + 0.04)
        quotes.set(CALL, 8.0 + (i % 5) * 0.11, 8.1 + (i % 5) * 0.11)
        kind = i % 5
        if kind == 0:
            broker.submit(market(f"b-{i}", SPY, Side.BUY, 3))
        elif kind == 1:
            broker.submit(market(f"s-{i}", SPY, Side.SELL, 1))
        elif kind == 2:
            broker.submit(market(f"c-{i}", CALL, Side.BUY, 2))
        elif kind == 3:
            broker.submit(market(f"x-{i}", CALL, Side.SELL, 1))
        else:
            broker.submit(resting(f"r-{i}"))
            stale = broker.get_order(f"r-{i - 10}")
            if stale is not None and stale.is_open:
                broker.cancel(stale.client_order_id)


def view(broker: PaperBroker) -> tuple[object, ...]:
    return (
        broker.account(),
        broker.positions(),
        broker.orders(),
        broker.orders(open_only=False),
        broker.events(),
        broker.history_size(),
    )


def files_bytes(path: Path) -> int:
    log = path.with_name(path.name + ".log")
    return path.stat().st_size + (log.stat().st_size if log.exists() else 0)


def test_restart_equals_the_running_broker_with_small_caps(
    make_broker: MakeBroker, quotes: DictQuotes, tmp_path: Path
) -> None:
    path = tmp_path / "paper.json"
    first = make_broker(state_path=path, **SMALL)
    trade(first, quotes, 0, 43)
    before = view(first)
    assert first.events()[0].seq > 1  # events were dropped into the checkpoint
    positions = first.positions()
    assert positions[SPY].realized_pnl_usd != 0  # partial closes realised P&L
    assert positions[CALL].realized_pnl_usd != 0

    second = make_broker(state_path=path, **SMALL)  # no close(): every save is durable

    assert view(second) == before
    last = before[4][-1].seq  # type: ignore[index]
    second.submit(resting("after"))
    assert second.events()[-1].seq == last + 1
    first.submit(resting("after"))
    assert view(first) == view(second)


def test_restart_across_compactions_and_a_crash_before_the_log_was_truncated(
    make_broker: MakeBroker, quotes: DictQuotes, tmp_path: Path
) -> None:
    path = tmp_path / "paper.json"
    log = path.with_name("paper.json.log")
    broker = make_broker(state_path=path, **SMALL)
    trade(broker, quotes, 0, 3)
    old_lines = log.read_bytes()
    assert old_lines.count(b"\n") >= 1
    snapshots = 0
    for i in range(3, 40):
        before = path.stat().st_mtime_ns, path.stat().st_size
        trade(broker, quotes, i, 1)
        snapshots += (path.stat().st_mtime_ns, path.stat().st_size) != before
        assert log.read_bytes().count(b"\n") <= SMALL["state_log_lines"]
        assert view(make_broker(state_path=path, **SMALL)) == view(broker)
    assert snapshots >= 3
    # a crash between the snapshot's rename and the log's truncation leaves old lines behind
    log.write_bytes(old_lines + log.read_bytes())
    assert view(make_broker(state_path=path, **SMALL)) == view(broker)


def test_torn_last_line_is_dropped_and_rewritten(
    make_broker: MakeBroker, quotes: DictQuotes, tmp_path: Path
) -> None:
    path = tmp_path / "paper.json"
    log = path.with_name("paper.json.log")
    caps = {**SMALL, "state_log_lines": 100}
    first = make_broker(state_path=path, **caps)
    trade(first, quotes, 0, 12)
    before = view(first)
    lines = log.read_bytes().splitlines(keepends=True)
    assert len(lines) >= 2
    torn = lines[-1][: len(lines[-1]) // 2]
    log.write_bytes(b"".join(lines) + torn)  # crash mid-append: no newline
    second = make_broker(state_path=path, **caps)
    assert view(second) == before
    log.write_bytes(b"".join(lines) + b"{not json}\n")  # a complete but invalid last line
    third = make_broker(state_path=path, **caps)
    assert view(third) == before
    third.submit(resting("after-tear"))  # the next save rewrites the snapshot, log emptied
    assert torn not in log.read_bytes()
    assert make_broker(state_path=path, **caps).get_order("after-tear") is not None


def test_invalid_earlier_line_and_a_gap_are_refused(
    make_broker: MakeBroker, quotes: DictQuotes, tmp_path: Path
) -> None:
    path = tmp_path / "paper.json"
    log = path.with_name("paper.json.log")
    trade(make_broker(state_path=path, **SMALL), quotes, 0, 3)
    lines = log.read_bytes().splitlines(keepends=True)
    assert len(lines) >= 3
    log.write_bytes(lines[0] + b"{oops\n" + b"".join(lines[2:]))
    with pytest.raises(StateError, match=r"paper\.json\.log.* line 2"):
        make_broker(state_path=path, **SMALL)
    log.write_bytes(lines[0] + b"".join(lines[2:]))  # a save is missing
    with pytest.raises(StateError, match="follows save"):
        make_broker(state_path=path, **SMALL)


def test_log_line_with_wrong_cash_is_refused(
    make_broker: MakeBroker, quotes: DictQuotes, tmp_path: Path
) -> None:
    path = tmp_path / "paper.json"
    log = path.with_name("paper.json.log")
    trade(make_broker(state_path=path, **SMALL), quotes, 0, 2)
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    lines[-1]["cash_usd"] += 5.0
    log.write_text("".join(json.dumps(x) + "\n" for x in lines))
    with pytest.raises(StateError, match=r"state_path: .*paper\.json.*cash .* the file says"):
        make_broker(state_path=path, **SMALL)


def test_files_stay_bounded_by_the_caps(
    make_broker: MakeBroker, quotes: DictQuotes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # sizes only: skip the disk flush so 5,000 orders stay fast (durability is tested above)
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    caps = {"history_orders": 100, "history_events": 100}
    path = tmp_path / "paper.json"
    broker = make_broker(state_path=path, starting_cash_usd=10_000_000.0, **caps)
    largest = 0
    for batch in range(50):
        trade(broker, quotes, batch * 100, 100)
        largest = max(largest, files_bytes(path))
    order_bytes = max(len(json.dumps(order_to_dict(o))) for o in broker.orders(open_only=False))
    event_bytes = max(len(json.dumps(event_to_dict(e))) for e in broker.events())
    open_orders = len(broker.orders())
    snapshot = (100 + open_orders) * order_bytes + 100 * event_bytes + 4_096
    # the log never outgrows max(the last snapshot, 64 KiB) by more than one save's line
    bound = 2 * snapshot + 64 * 1024 + 4 * (order_bytes + event_bytes)
    assert largest < bound
    assert bound < 5_000 * order_bytes  # what a full history would cost, at least
    assert view(make_broker(state_path=path, **caps)) == view(broker)


def test_version_2_file_loads_and_is_rewritten(
    make_broker: MakeBroker, quotes: DictQuotes, tmp_path: Path
) -> None:
    source = make_broker()  # in memory: the history the old format held in full
    trade(source, quotes, 0, 20)
    ledger_cash = source.account().cash_usd
    orders = source.orders(open_only=False)
    events = source.events()
    old = {
        "version": 2,
        "starting_cash_usd": 100_000.0,
        "cash_usd": ledger_cash,
        "orders": [order_to_dict(o) for o in orders],
        "expires": {},
        "events": [event_to_dict(e) for e in events],
        "next_fill": sum(len(e.fills) for e in events) + 1,
        "next_order": len(orders) + 1,
        "last_close_ns": source._st.last_close_ns,
        "last_equity_usd": source.account().last_equity_usd,
    }
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    loaded = make_broker(state_path=path)
    assert view(loaded) == view(source)
    assert json.loads(path.read_text())["version"] == 2  # nothing changed, nothing written
    for broker in (loaded, source):
        broker.submit(resting("after-upgrade"))
    assert json.loads(path.read_text())["version"] == STATE_VERSION  # rewritten at the first save
    assert view(loaded) == view(source)
    events = source.events()
    again = make_broker(state_path=path, history_orders=4, history_events=5)  # caps shrink
    assert again.history_size() == (4 + len(source.orders()), 5)
    assert again.account() == source.account()
    assert again.positions() == source.positions()
    assert again.events() == events[-5:]
    again.close()
    assert make_broker(state_path=path, history_orders=4, history_events=5).events() == events[-5:]


def test_files_are_private(make_broker: MakeBroker, quotes: DictQuotes, tmp_path: Path) -> None:
    path = tmp_path / "paper.json"
    trade(make_broker(state_path=path, **SMALL), quotes, 0, 3)
    for file in (path, path.with_name("paper.json.log")):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600


def test_log_without_snapshot_is_refused(make_broker: MakeBroker, tmp_path: Path) -> None:
    path = tmp_path / "paper.json"
    path.with_name("paper.json.log").write_text("{}\n")
    with pytest.raises(StateError, match="missing"):
        make_broker(state_path=path)


def test_ledger_round_trip_is_exact() -> None:
    ledger = Ledger(10_000.0)
    fills = [
        (SPY, Side.BUY, 3, 500.37),
        (SPY, Side.BUY, 7, 501.11),
        (SPY, Side.SELL, 4, 502.93),
        (PUT, Side.SELL, 2, 7.55),
        (PUT, Side.BUY, 1, 6.05),
        (CALL, Side.BUY, 1, 8.05),
        (CALL, Side.SELL, 1, 9.15),  # closed: only the ledger keeps its P&L
    ]
    for n, (symbol, side, qty, price) in enumerate(fills):
        ledger.apply_fill(Fill(f"f{n}", "o", symbol, side, qty, price, 0.37, 0))
    restored = ledger_from_dict(json.loads(json.dumps(ledger_to_dict(ledger))))
    assert restored.positions == ledger.positions
    assert list(restored.positions) == [SPY, PUT]
    assert (restored.cash_usd, restored.fees_usd, restored.realized_pnl_usd) == (
        ledger.cash_usd,
        ledger.fees_usd,
        ledger.realized_pnl_usd,
    )
    assert ledger.realized_pnl_usd != 0
    assert restored.positions[PUT].multiplier == 100


def test_clock_fixture_is_used(clock: FakeClock, make_broker: MakeBroker) -> None:
    broker = make_broker()
    assert broker.account().ts_ns == clock.now
