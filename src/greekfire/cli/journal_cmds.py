"""What ``greekfire status``, ``greekfire positions`` and ``greekfire orders`` show.

Each function opens the journal read-only, reads what it needs, closes it and returns a rich
renderable; :mod:`greekfire.cli.main` registers them as commands and prints the result. Nothing
here writes to the journal or talks to a broker: the journal is the record of what the bot did.

Units: money in dollars (two decimals), prices per share, phase timings in milliseconds, times
in UTC.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from greekfire.domain.orders import Order
from greekfire.domain.portfolio import Account, Position
from greekfire.errors import ConfigError
from greekfire.journal.sqlite import Journal

__all__ = ["orders_view", "positions_view", "status_view"]

RECENT_EVENTS: Final = 10
"""Events listed by :func:`status_view`."""

_NS_PER_S: Final = 1_000_000_000
_PHASE_ORDER: Final = (
    "fetch",
    "data",
    "indicators",
    "signals",
    "strategies",
    "risk",
    "orders",
    "events",
    "journal",
    "metrics",
)


@contextmanager
def _journal(journal_path: str | Path) -> Iterator[Journal]:
    path = Path(journal_path)
    missing = ConfigError("journal.path", f"no journal at {path}; run `greekfire run` first")
    if not path.is_file():
        raise missing
    try:
        journal = Journal.open_readonly(path)
    except FileNotFoundError:  # removed between the check and the open
        raise missing from None
    try:
        yield journal
    finally:
        journal.close()


def _time(ts_ns: object) -> str:
    if not isinstance(ts_ns, int) or ts_ns <= 0:
        return "-"
    moment = datetime.fromtimestamp(ts_ns // _NS_PER_S, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _number(value: float | None, spec: str) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    text = format(value, spec)
    # a tiny negative rounded to zero reads better without its sign
    return text[1:] if text.startswith("-") and float(text.replace(",", "")) == 0.0 else text


def _usd(value: float | None) -> str:
    return _number(value, ",.2f")


def _price(value: float | None) -> str:
    # per-share prices: cents always shown, sub-cent digits only when there are any
    text = _number(value, ",.4f")
    while text.endswith("0") and len(text) - text.find(".") > 3:
        text = text[:-1]
    return text


def _qty(value: float) -> str:
    # whole units as integers, fractional shares with up to four decimals
    text = _number(value, ",.4f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _pnl(value: float | None) -> Text:
    text = _usd(value)
    if value is None or not math.isfinite(value) or text.lstrip("-") == "0.00":
        return Text(text)
    return Text(text, style="green" if value > 0 else "red")


def _table() -> Table:
    return Table(box=box.SIMPLE_HEAD, pad_edge=False)


def _titled(title: str, body: RenderableType) -> Group:
    # a heading above the table rather than a table title, which wraps at the table's width
    return Group(Text(title, style="bold"), body)


# --- status -------------------------------------------------------------------------------------


def _phases(timings: object) -> dict[str, float]:
    # the journal stores timings as JSON with sorted keys: put the cycle's phases back in the
    # order they run, unknown phases after them
    phases = {str(k): float(v) for k, v in timings.items()} if isinstance(timings, Mapping) else {}
    known = [name for name in _PHASE_ORDER if name in phases]
    return {name: phases[name] for name in [*known, *(p for p in phases if p not in known)]}


def _cycle_table(cycle: Mapping[str, object] | None) -> RenderableType:
    if cycle is None:
        return Text("Last cycle: none recorded yet")
    timings = cycle.get("timings_s")
    counts = cycle.get("counts")
    title = f"Last cycle #{cycle.get('cycle')} at {_time(cycle.get('ts_ns'))} UTC"
    table = _table()
    table.add_column("phase")
    table.add_column("time (ms)", justify="right")
    table.add_column("share", justify="right")
    phases = _phases(timings)
    total = phases.pop("total", None)
    whole = sum(phases.values()) if total is None else total
    for phase, seconds in phases.items():
        share = seconds / whole if whole > 0 else math.nan
        table.add_row(phase, _number(seconds * 1e3, ",.1f"), _number(share, ".0%"))
    table.add_row("total", _number(whole * 1e3, ",.1f"), "", style="bold")
    if isinstance(counts, Mapping) and counts:
        listed = ", ".join(f"{key} {value}" for key, value in counts.items())
        return _titled(title, Group(table, Text(f"counts: {listed}")))
    return _titled(title, table)


def _account_table(account: Account | None, n_open_orders: int, n_positions: int) -> Group:
    title = "Account"
    if account is not None and account.ts_ns > 0:
        title = f"Account at {_time(account.ts_ns)} UTC"
    table = _table()
    table.add_column("item")
    table.add_column("value", justify="right")
    if account is None:
        table.add_row("snapshot", "none recorded yet")
    else:
        table.add_row("equity (USD)", _usd(account.equity_usd))
        table.add_row("cash (USD)", _usd(account.cash_usd))
        table.add_row("buying power (USD)", _usd(account.buying_power_usd))
        table.add_row("day P&L (USD)", _pnl(account.day_pnl_usd))
    table.add_row("open orders", str(n_open_orders))
    table.add_row("positions", str(n_positions))
    return _titled(title, table)


def _events_table(events: Sequence[Mapping[str, object]]) -> RenderableType:
    if not events:
        return Text("Recent events: none recorded yet")
    table = _table()
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("seq", justify="right")
    table.add_column("kind", no_wrap=True)
    table.add_column("symbol", no_wrap=True)
    table.add_column("client id")
    table.add_column("detail")
    for event in events:
        table.add_row(
            _time(event.get("ts_ns")),
            str(event.get("seq", "")),
            str(event.get("kind", "")),
            str(event.get("symbol") or ""),
            str(event.get("client_order_id") or ""),
            str(event.get("detail") or ""),
        )
    return _titled("Recent events (newest first)", table)


def status_view(journal_path: str | Path) -> RenderableType:
    """The bot's state as its journal records it, for ``greekfire status``.

    Shows the last cycle with its phase timings, the latest account snapshot (equity, cash,
    buying power, day P&L), the numbers of open orders and of positions, and the most recent
    broker events.

    Parameters
    ----------
    journal_path : str or Path
        The journal database file.

    Returns
    -------
    rich.console.RenderableType

    Raises
    ------
    ConfigError
        ``journal.path`` when there is no journal at ``journal_path``.
    """
    with _journal(journal_path) as journal:
        cycles = journal.cycles(limit=1)
        account = journal.latest_account()
        n_open = len(journal.orders(open_only=True))
        n_positions = len(journal.latest_positions())
        events = journal.events(limit=RECENT_EVENTS)
    return Group(
        _cycle_table(cycles[-1] if cycles else None),
        _account_table(account, n_open, n_positions),
        _events_table(events[::-1]),  # newest first
    )


# --- positions ----------------------------------------------------------------------------------


def _positions_table(
    positions: Mapping[str, Position], marks: Mapping[str, float], ts_ns: int
) -> Group:
    table = _table()
    for name in ("symbol", "qty", "avg cost", "mark", "market value (USD)", "unrealised P&L (USD)"):
        table.add_column(name, justify="left" if name == "symbol" else "right", no_wrap=True)
    total_value = total_pnl = 0.0
    for symbol in sorted(positions):
        position = positions[symbol]
        mark = marks.get(symbol, math.nan)
        value = position.market_value_usd(mark)
        pnl = position.unrealized_pnl_usd(mark)
        if math.isfinite(mark):
            total_value += value
            total_pnl += pnl
        table.add_row(
            symbol,
            _qty(position.qty),
            _price(position.avg_cost),
            _price(mark),
            _usd(value),
            _pnl(pnl),
        )
    if positions:
        table.add_row("total", "", "", "", _usd(total_value), _pnl(total_pnl), style="bold")
    return _titled(f"Positions at {_time(ts_ns)} UTC", table)


def positions_view(journal_path: str | Path) -> RenderableType:
    """The latest positions snapshot, for ``greekfire positions``.

    One row per position: symbol, signed quantity, average cost and mark per share, market
    value and unrealised P&L in dollars (``-`` where the snapshot has no mark).

    Parameters
    ----------
    journal_path : str or Path
        The journal database file.

    Returns
    -------
    rich.console.RenderableType

    Raises
    ------
    ConfigError
        ``journal.path`` when there is no journal at ``journal_path``.
    """
    with _journal(journal_path) as journal:
        snapshot = journal.latest_snapshot()
    if snapshot is None:
        return Text("No positions snapshot recorded yet.")
    if not snapshot.positions:
        return Text(f"No positions (snapshot at {_time(snapshot.ts_ns)} UTC).")
    return _positions_table(snapshot.positions, snapshot.marks, snapshot.ts_ns)


# --- orders -------------------------------------------------------------------------------------


def _legs(order: Order) -> str:
    parts = []
    for leg in order.intent.legs:
        ratio = f"{leg.ratio}x " if leg.ratio != 1 else ""
        parts.append(f"{leg.side.value} {ratio}{leg.symbol}")
    return "\n".join(parts)


def _orders_table(orders: Sequence[Order], title: str) -> Group:
    # ten columns in a terminal: one space between them, and long ids fold instead of
    # being cut, so nothing a user may need to copy is hidden behind an ellipsis
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, padding=0)
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("client id", overflow="fold")
    table.add_column("strategy", overflow="fold")
    table.add_column("legs", no_wrap=True)
    for name in ("qty", "type", "limit", "status", "filled", "avg price"):
        left = name in ("type", "status")
        table.add_column(name, justify="left" if left else "right", no_wrap=True)
    for order in orders:
        intent = order.intent
        table.add_row(
            _time(order.created_ns),
            order.client_order_id,
            intent.strategy or "-",
            _legs(order),
            _qty(intent.qty),
            intent.order_type.value,
            _price(intent.limit_price),
            order.status.value,
            _qty(order.filled_qty),
            _price(order.avg_fill_price),
        )
    return _titled(title, table)


def orders_view(
    journal_path: str | Path, open_only: bool = False, limit: int = 50
) -> RenderableType:
    """The journal's orders, newest first, for ``greekfire orders``.

    Parameters
    ----------
    journal_path : str or Path
        The journal database file.
    open_only : bool, default False
        Only orders that may still fill.
    limit : int, default 50
        At most this many orders (>= 1).

    Returns
    -------
    rich.console.RenderableType

    Raises
    ------
    ConfigError
        ``journal.path`` when there is no journal at ``journal_path``.
    ValueError
        ``limit`` below 1.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit: expected a whole number >= 1, got {limit!r}")
    with _journal(journal_path) as journal:
        orders = journal.orders(open_only=open_only, limit=limit)
    if not orders:
        return Text("No open orders." if open_only else "No orders recorded yet.")
    title = "Open orders" if open_only else "Orders"
    # the journal answers oldest first; a user wants the latest on top
    return _orders_table(orders[::-1], f"{title} (newest first, at most {limit})")
