"""The journal-only half of the dashboard's read model: state rebuilt from journal rows.

Each function takes a read-only connection (see
:class:`~greekfire.web.service.DashboardService`) and returns response models: the latest
positions snapshot, the cycle count, the operator's pause kept in meta, the session's P&L, and
the strategies as configured at the last engine start with what the journal says they did
(orders, risk denials, disables).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from greekfire.domain.instruments import instrument_for
from greekfire.journal import codec
from greekfire.web.models import PositionView, SignalView, StrategyView, to_num

__all__ = [
    "day_pnl_from_meta",
    "journal_cycle",
    "journal_paused",
    "journal_positions",
    "journal_strategies",
    "last_run",
]

_SIGNALS_PER_STRATEGY: Final = 20
_NEW_YORK: Final = ZoneInfo("America/New_York")
# Journal meta keys under which the engine may keep the operator's pause across restarts.
_PAUSED_META_KEYS: Final = ("entries_paused", "controls.entries_paused", "paused")


def _multiplier(symbol: str) -> int:
    try:
        return int(instrument_for(symbol).multiplier)
    except ValueError:  # a symbol the domain does not parse: count it as shares
        return 1


def journal_cycle(conn: sqlite3.Connection) -> int:
    """The newest journaled cycle number (0 before the first)."""
    row = conn.execute("SELECT MAX(cycle) FROM cycles").fetchone()
    return 0 if row[0] is None else int(row[0])


def _meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def journal_paused(conn: sqlite3.Connection) -> bool:
    """Whether the operator's pause, as the engine keeps it in meta, is on."""
    for key in _PAUSED_META_KEYS:
        value = _meta(conn, key)
        if value is not None:
            return value.strip().lower() in ("1", "true", "yes", "on")
    return False


def day_pnl_from_meta(conn: sqlite3.Connection, ts_ns: int, equity: float) -> float | None:
    """``equity`` minus the session's starting equity the engine kept for the New York day of
    ``ts_ns`` (when the broker reports no previous close); ``None`` without one."""
    # the engine keeps the session's starting equity when the broker has no previous close
    day = datetime.fromtimestamp(ts_ns / 1e9, _NEW_YORK).date()
    start = to_num(_meta(conn, f"day_start:{day}"))
    return None if start is None else equity - start


def journal_positions(conn: sqlite3.Connection) -> list[PositionView]:
    """The latest positions snapshot with marks and values (an option counts its multiplier);
    Greeks are unknown here."""
    head = conn.execute(
        "SELECT snapshot_id FROM position_snapshots ORDER BY ts_ns DESC, snapshot_id DESC LIMIT 1"
    ).fetchone()
    if head is None:
        return []
    rows = conn.execute(
        "SELECT * FROM snapshot_positions WHERE snapshot_id = ? ORDER BY symbol",
        (head["snapshot_id"],),
    ).fetchall()
    out = []
    for row in rows:
        pos = codec.position_from_mapping(row)
        mark = to_num(row["mark"])
        mult = _multiplier(pos.symbol)
        out.append(
            PositionView(
                symbol=pos.symbol,
                qty=pos.qty,
                avg_cost=pos.avg_cost,
                mark=mark,
                market_value_usd=None if mark is None else pos.qty * mark * mult,
                unrealized_pnl_usd=None if mark is None else (mark - pos.avg_cost) * pos.qty * mult,
            )
        )
    return out


def last_run(conn: sqlite3.Connection) -> tuple[int, list[dict[str, Any]]]:
    """When the engine last started and its ``strategies`` entries (empty without a run)."""
    row = conn.execute("SELECT started_ns, settings FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:
        return 0, []
    try:
        settings = json.loads(row["settings"])
        entries = settings.get("strategies") or []
    except (ValueError, AttributeError):
        return int(row["started_ns"]), []
    return int(row["started_ns"]), [e for e in entries if isinstance(e, dict)]


def _disabled_since(conn: sqlite3.Connection, started_ns: int) -> dict[str, str]:
    # strategy -> why, from the guard's notes and operator controls since the last start
    out: dict[str, str] = {}
    rows = conn.execute(
        "SELECT kind, payload FROM notes WHERE kind IN ('strategy_disabled', 'control')"
        " AND ts_ns >= ? ORDER BY id",
        (started_ns,),
    ).fetchall()
    for row in rows:
        payload = codec.loads(row["payload"])
        if not isinstance(payload, dict) or not payload.get("strategy"):
            continue
        name = str(payload["strategy"])
        if row["kind"] == "strategy_disabled":
            out[name] = str(payload.get("error") or payload.get("reason") or "disabled")
        elif payload.get("command") == "disable_strategy" and not str(
            payload.get("outcome") or ""
        ).startswith("no strategy"):  # the engine notes an unknown name and disables nothing
            out[name] = str(payload.get("reason") or "disabled by operator")
    return out


def _journal_signals(conn: sqlite3.Connection) -> dict[str, list[SignalView]]:
    signals: dict[str, list[SignalView]] = {}
    orders = conn.execute(
        "SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY strategy"
        " ORDER BY created_ns DESC, rowid DESC) AS rn FROM orders) WHERE rn <= ?",
        (_SIGNALS_PER_STRATEGY,),
    ).fetchall()
    for row in orders:
        order = codec.order_from_mapping(row)
        signals.setdefault(order.intent.strategy, []).append(
            SignalView(
                ts_ns=order.created_ns,
                symbol=order.symbol,
                side=order.side.value,
                qty=order.qty,
                reason=order.intent.reason,
                approved=True,
            )
        )
    denials = conn.execute(
        "SELECT ts_ns, payload FROM notes WHERE kind = 'risk_denied' ORDER BY id DESC LIMIT 2000"
    ).fetchall()
    for row in denials:
        payload = codec.loads(row["payload"])
        if not isinstance(payload, dict) or not payload.get("strategy"):
            continue
        reasons = payload.get("reasons") or []
        signals.setdefault(str(payload["strategy"]), []).append(
            SignalView(
                ts_ns=int(row["ts_ns"]),
                symbol=str(payload.get("symbol") or ""),
                reason="",
                approved=False,
                denied_by="; ".join(str(r) for r in reasons)
                if isinstance(reasons, list)
                else str(reasons),
            )
        )
    for name, items in signals.items():
        items.sort(key=lambda s: s.ts_ns)
        signals[name] = items[-_SIGNALS_PER_STRATEGY:]
    return signals


def journal_strategies(conn: sqlite3.Connection) -> list[StrategyView]:
    """The strategies of the last start, then any other name seen in orders or notes:
    ``enabled`` is ``False`` when configured off or disabled since, else ``None`` (unknown);
    last signals are orders (approved) and risk denials, newest last."""
    started_ns, entries = last_run(conn)
    disabled = _disabled_since(conn, started_ns)
    signals = _journal_signals(conn)
    out: list[StrategyView] = []
    seen: set[str] = set()
    for entry in entries:
        name = str(entry.get("name") or "")
        if not name or name in seen:
            continue
        seen.add(name)
        enabled: bool | None = None
        reason = disabled.get(name)
        if entry.get("enabled") is False:
            enabled, reason = False, reason or "disabled in the configuration"
        elif reason is not None:
            enabled = False
        symbols = entry.get("symbols") or []
        out.append(
            StrategyView(
                name=name,
                kind=str(entry.get("module") or name),
                enabled=enabled,
                symbols=[str(s) for s in symbols] if isinstance(symbols, list) else [],
                disabled_reason=reason,
                last_signals=signals.get(name, []),
            )
        )
    for name in sorted((set(signals) | set(disabled)) - seen):
        if not name:
            continue
        out.append(
            StrategyView(
                name=name,
                enabled=False if name in disabled else None,
                symbols=[],
                disabled_reason=disabled.get(name),
                last_signals=signals.get(name, []),
            )
        )
    return out
