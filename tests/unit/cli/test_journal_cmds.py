"""``status``, ``positions`` and ``orders`` views over a journal written through its API."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console, RenderableType

from greekfire.cli.journal_cmds import orders_view, positions_view, status_view
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
from greekfire.errors import ConfigError, StateError
from greekfire.journal.sqlite import Journal

T0 = int(datetime(2026, 1, 5, 14, 30, tzinfo=UTC).timestamp()) * 1_000_000_000
MINUTE = 60 * 1_000_000_000
PUT = "SPY260220P00440000"
SHORT_CALL = "SPY260220C00470000"
LONG_CALL = "SPY260220C00475000"


class FixedClock:
    def __init__(self, ts_ns: int) -> None:
        self.ts_ns = ts_ns

    def now_ns(self) -> int:
        return self.ts_ns


def render(renderable: RenderableType) -> str:
    console = Console(record=True, width=120, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def _orders() -> list[Order]:
    stock = OrderIntent.single("SPY", Side.BUY, 10, strategy="momentum", reason="signal 0.8")
    put = OrderIntent.single(PUT, Side.SELL, 1, limit_price=2.35, strategy="wheel")
    spread = OrderIntent(
        (Leg(SHORT_CALL, Side.SELL), Leg(LONG_CALL, Side.BUY)),
        2,
        OrderType.LIMIT,
        -1.10,
        strategy="vertical_credit",
    )
    stale = OrderIntent.single("QQQ", Side.BUY, 5, limit_price=380.0, strategy="mean_reversion")
    return [
        Order("cid-stock", stock, created_ns=T0, updated_ns=T0),
        Order("cid-put", put, created_ns=T0 + MINUTE, updated_ns=T0 + MINUTE),
        Order("cid-spread", spread, created_ns=T0 + 2 * MINUTE, updated_ns=T0 + 2 * MINUTE),
        Order("cid-stale", stale, created_ns=T0 + 3 * MINUTE, updated_ns=T0 + 3 * MINUTE),
    ]


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return build_journal(tmp_path / "journal.db")


def build_journal(path: Path) -> Path:
    stock, put, spread, stale = _orders()
    fill = Fill("fill-1", "cid-stock", "SPY", Side.BUY, 10, 450.12, 0.0, T0 + 1)
    with Journal(path, clock=FixedClock(T0)) as journal:
        for order in (stock, put, spread, stale):
            journal.record_intent(order)
        filled = stock.with_status(
            OrderStatus.FILLED, T0 + 1, filled_qty=10.0, avg_fill_price=450.12
        )
        journal.update_order(filled)
        journal.update_order(put.with_status(OrderStatus.NEW, T0 + MINUTE + 1))
        journal.update_order(
            stale.with_status(OrderStatus.CANCELED, T0 + 4 * MINUTE, reason="stale")
        )
        journal.record_event(
            BrokerEvent(
                EventKind.ORDER_FILLED,
                T0 + 1,
                1,
                "SPY",
                "cid-stock",
                filled,
                (fill,),
                "filled 10 @ 450.12",
            )
        )
        journal.record_event(
            BrokerEvent(
                EventKind.OPTION_ASSIGNED,
                T0 + 5 * MINUTE,
                2,
                PUT,
                None,
                detail="assigned 100 SPY at 440.00",
            )
        )
        journal.snapshot_positions(
            T0 + 5 * MINUTE,
            {
                "SPY": Position("SPY", 10, 450.12),
                PUT: Position(PUT, -1, 2.35),
                "QQQ": Position("QQQ", 5, 380.0),
            },
            {"SPY": 451.0, PUT: 1.80},  # no mark for QQQ
        )
        journal.snapshot_account(
            Account(
                cash_usd=95_734.20,
                equity_usd=101_234.56,
                buying_power_usd=51_000.0,
                last_equity_usd=100_000.0,
                ts_ns=T0 + 5 * MINUTE,
            )
        )
        journal.record_cycle(
            6, T0, {"fetch": 0.02, "total": 0.03}, {"symbols": 5}
        )  # an older cycle, not shown
        journal.record_cycle(
            7,
            T0 + 5 * MINUTE,
            {
                "fetch": 0.0125,
                "indicators": 0.0031,
                "strategies": 0.0042,
                "risk": 0.0011,
                "orders": 0.0020,
                "journal": 0.0021,
                "total": 0.025,
            },
            {"symbols": 5, "intents": 2, "orders": 1},
        )
    return path


@pytest.fixture
def empty_journal_path(tmp_path: Path) -> Path:
    path = tmp_path / "empty.db"
    Journal(path, clock=FixedClock(T0)).close()
    return path


def _row(text: str, first: str) -> str:
    # the (first) line of a table row that starts with ``first``
    for line in text.splitlines():
        if line.strip().startswith(first):
            return line
    raise AssertionError(f"no row starting with {first!r} in:\n{text}")


def _cells(line: str) -> list[str]:
    return line.split()


# --- status --------------------------------------------------------------------------------------


def test_status_shows_the_last_cycle_and_its_phases(journal_path: Path) -> None:
    text = render(status_view(journal_path))
    assert "Last cycle #7 at 2026-01-05 14:35:00 UTC" in text
    assert "#6" not in text
    assert _cells(_row(text, "fetch")) == ["fetch", "12.5", "50%"]
    assert _cells(_row(text, "indicators")) == ["indicators", "3.1", "12%"]
    assert _cells(_row(text, "risk")) == ["risk", "1.1", "4%"]
    assert _cells(_row(text, "total")) == ["total", "25.0"]
    assert "counts: intents 2, orders 1, symbols 5" in text  # the journal sorts the keys


def test_status_lists_phases_in_the_order_a_cycle_runs_them(journal_path: Path) -> None:
    # the journal stores timings with sorted keys; the view restores the pipeline order
    text = render(status_view(journal_path))
    order = ["fetch", "indicators", "strategies", "risk", "orders", "journal", "total"]
    lines = [_row(text, phase) for phase in order]
    assert [text.index(line) for line in lines] == sorted(text.index(line) for line in lines)


def test_status_shows_the_account_and_counts(journal_path: Path) -> None:
    text = render(status_view(journal_path))
    assert "Account at 2026-01-05 14:35:00 UTC" in text
    assert _cells(_row(text, "equity (USD)"))[-1] == "101,234.56"
    assert _cells(_row(text, "cash (USD)"))[-1] == "95,734.20"
    assert _cells(_row(text, "buying power (USD)"))[-1] == "51,000.00"
    assert _cells(_row(text, "day P&L (USD)"))[-1] == "1,234.56"
    assert _cells(_row(text, "open orders"))[-1] == "2"  # the NEW put and the PENDING_NEW spread
    assert _cells(_row(text, "positions"))[-1] == "3"


def test_status_lists_recent_events_newest_first(journal_path: Path) -> None:
    text = render(status_view(journal_path))
    assert "Recent events (newest first)" in text
    assigned = _row(text, "2026-01-05 14:35:00")
    filled = _row(text, "2026-01-05 14:30:00")
    assert "option_assigned" in assigned
    assert PUT in assigned
    assert "assigned 100 SPY at 440.00" in assigned
    assert "order_filled" in filled
    assert "cid-stock" in filled
    assert text.index("option_assigned") < text.index("order_filled")


def test_status_of_an_empty_journal(empty_journal_path: Path) -> None:
    text = render(status_view(empty_journal_path))
    assert "Last cycle: none recorded yet" in text
    assert "none recorded yet" in _row(text, "snapshot")
    assert _cells(_row(text, "open orders"))[-1] == "0"
    assert _cells(_row(text, "positions"))[-1] == "0"
    assert "Recent events: none recorded yet" in text


# --- positions -----------------------------------------------------------------------------------


def test_positions_table(journal_path: Path) -> None:
    text = render(positions_view(journal_path))
    assert "Positions at 2026-01-05 14:35:00 UTC" in text
    header = _row(text, "symbol")
    for column in ("qty", "avg cost", "mark", "market value (USD)", "unrealised P&L (USD)"):
        assert column in header
    assert _cells(_row(text, "SPY ")) == ["SPY", "10", "450.12", "451.00", "4,510.00", "8.80"]
    # a short put: 1 contract = 100 shares; it gained (2.35 - 1.80) * 100
    assert _cells(_row(text, PUT)) == [PUT, "-1", "2.35", "1.80", "-180.00", "55.00"]
    # no mark in the snapshot: value and P&L unknown, left out of the totals
    assert _cells(_row(text, "QQQ")) == ["QQQ", "5", "380.00", "-", "-", "-"]
    assert _cells(_row(text, "total")) == ["total", "4,330.00", "63.80"]


def test_positions_rows_are_sorted_by_symbol(journal_path: Path) -> None:
    text = render(positions_view(journal_path))
    assert text.index("QQQ") < text.index("SPY ") < text.index(PUT)


def test_positions_of_an_empty_journal(empty_journal_path: Path) -> None:
    assert "No positions snapshot recorded yet." in render(positions_view(empty_journal_path))


def test_positions_of_a_flat_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "flat.db"
    with Journal(path, clock=FixedClock(T0)) as journal:
        journal.snapshot_positions(T0, {"SPY": Position("SPY", 1, 10.0)}, {})
        journal.snapshot_positions(T0 + MINUTE, {}, {})
    text = render(positions_view(path))
    assert "No positions (snapshot at 2026-01-05 14:31:00 UTC)." in text


# --- orders --------------------------------------------------------------------------------------


def test_orders_table_newest_first(journal_path: Path) -> None:
    text = render(orders_view(journal_path, open_only=False, limit=50))
    assert "Orders (newest first, at most 50)" in text
    header = _row(text, "time (UTC)")
    for column in ("client id", "strategy", "legs", "qty", "type", "limit", "status", "filled"):
        assert column in header
    assert "avg price" in text
    ids = ["cid-stale", "cid-spread", "cid-put", "cid-stock"]
    positions = [text.index(cid) for cid in ids]
    assert positions == sorted(positions)

    stock = _cells(_row(text, "2026-01-05 14:30:00"))
    assert stock[2:] == [
        "cid-stock",
        "momentum",
        "buy",
        "SPY",
        "10",
        "market",
        "-",
        "filled",
        "10",
        "450.12",
    ]
    put = _cells(_row(text, "2026-01-05 14:31:00"))
    assert put[2:] == ["cid-put", "wheel", "sell", PUT, "1", "limit", "2.35", "new", "0", "-"]
    stale = _cells(_row(text, "2026-01-05 14:33:00"))
    assert stale[4:6] == ["buy", "QQQ"]
    assert "canceled" in stale


def test_multi_leg_order_shows_every_leg_and_the_net_credit(journal_path: Path) -> None:
    text = render(orders_view(journal_path, open_only=False, limit=50))
    lines = text.splitlines()
    first = lines.index(_row(text, "2026-01-05 14:32:00"))
    assert _cells(lines[first])[2:] == [
        "cid-spread",
        "vertical_credit",
        "sell",
        SHORT_CALL,
        "2",
        "limit",
        "-1.10",
        "pending_new",
        "0",
        "-",
    ]
    assert _cells(lines[first + 1]) == ["buy", LONG_CALL]


def test_orders_open_only(journal_path: Path) -> None:
    text = render(orders_view(journal_path, open_only=True, limit=50))
    assert "Open orders" in text
    assert "cid-put" in text
    assert "cid-spread" in text
    assert "cid-stock" not in text
    assert "cid-stale" not in text


def test_orders_limit_keeps_the_latest(journal_path: Path) -> None:
    text = render(orders_view(journal_path, open_only=False, limit=2))
    assert "at most 2" in text
    assert "cid-stale" in text
    assert "cid-spread" in text
    assert "cid-put" not in text
    assert "cid-stock" not in text


def test_orders_of_an_empty_journal(empty_journal_path: Path) -> None:
    assert "No orders recorded yet." in render(orders_view(empty_journal_path, False, 10))
    assert "No open orders." in render(orders_view(empty_journal_path, True, 10))


@pytest.mark.parametrize("limit", [0, -1, True])
def test_orders_limit_must_be_positive(journal_path: Path, limit: int) -> None:
    with pytest.raises(
        ValueError, match=re.escape(f"limit: expected a whole number >= 1, got {limit!r}")
    ):
        orders_view(journal_path, open_only=False, limit=limit)


# --- errors and side effects ---------------------------------------------------------------------


VIEWS: dict[str, Callable[[Path], RenderableType]] = {
    "status": status_view,
    "positions": positions_view,
    "orders": lambda path: orders_view(path, open_only=False, limit=10),
}


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_missing_journal_is_a_config_error(tmp_path: Path, view: str) -> None:
    path = tmp_path / "nowhere" / "journal.db"
    with pytest.raises(ConfigError) as info:
        VIEWS[view](path)
    assert info.value.field == "journal.path"
    assert str(info.value) == (f"journal.path: no journal at {path}; run `greekfire run` first")
    assert not path.parent.exists()  # reading never creates anything


def test_views_do_not_change_the_journal(journal_path: Path) -> None:
    before = journal_path.read_bytes()
    render(status_view(str(journal_path)))
    render(positions_view(str(journal_path)))
    render(orders_view(str(journal_path), open_only=True, limit=5))
    assert journal_path.read_bytes() == before
    with Journal(journal_path, clock=FixedClock(T0)) as journal:
        assert journal.integrity_check() == "ok"
        assert len(journal.orders()) == 4


def test_a_directory_is_not_a_journal(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no journal at"):
        status_view(tmp_path)


def test_a_file_that_is_not_a_journal_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"")
    with pytest.raises(StateError, match="not a greekfire journal"):
        status_view(path)


def test_losses_and_unknown_day_pnl(tmp_path: Path) -> None:
    path = tmp_path / "loss.db"
    with Journal(path, clock=FixedClock(T0)) as journal:
        journal.snapshot_account(Account(900.0, 9_750.0, 900.0, last_equity_usd=10_000.0))
    assert _cells(_row(render(status_view(path)), "day P&L (USD)"))[-1] == "-250.00"
    with Journal(path, clock=FixedClock(T0)) as journal:
        journal.snapshot_account(Account(900.0, 9_750.0, 900.0, ts_ns=T0))  # no previous close
    assert _cells(_row(render(status_view(path)), "day P&L (USD)"))[-1] == "-"


def test_views_read_while_the_bot_writes(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    with Journal(path, clock=FixedClock(T0)) as writer:
        writer.record_cycle(1, T0, {"fetch": 0.004, "total": 0.005}, {})
        writer.flush()
        assert "Last cycle #1" in render(status_view(path))
        writer.record_cycle(2, T0 + MINUTE, {"fetch": 0.003, "total": 0.004}, {})
        writer.flush()
        assert "Last cycle #2 at 2026-01-05 14:31:00 UTC" in render(status_view(path))


def test_fractional_shares_keep_their_decimals(tmp_path: Path) -> None:
    path = tmp_path / "fractional.db"
    with Journal(path, clock=FixedClock(T0)) as journal:
        journal.snapshot_positions(T0, {"SPY": Position("SPY", 0.5, 400.0)}, {"SPY": 410.0})
    row = _cells(_row(render(positions_view(path)), "SPY"))
    assert row == ["SPY", "0.5", "400.00", "410.00", "205.00", "5.00"]
