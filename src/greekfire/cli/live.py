"""Rich renderables for the trading commands: the live status view and the run summary."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from greekfire.domain.portfolio import Account, PortfolioGreeks, Position
from greekfire.engine.engine import PHASES, CycleReport

__all__ = ["cycle_view", "phase_table", "summary_view"]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}" if math.isfinite(seconds) else "-"


def _usd(amount: float) -> str:
    return f"{amount:,.2f}" if math.isfinite(amount) else "-"


def _hit_rate(stats: Any) -> str:
    hits = getattr(stats, "hits", None)
    misses = getattr(stats, "misses", None)
    if isinstance(stats, dict):
        hits, misses = stats.get("hits"), stats.get("misses")
    if not isinstance(hits, int) or not isinstance(misses, int) or hits + misses == 0:
        return "-"
    return f"{hits / (hits + misses):.0%}"


def phase_table(reports: Sequence[CycleReport], title: str = "cycle time by phase (ms)") -> Table:
    """p50 / p95 / last of each phase over ``reports`` (trading cycles only)."""
    table = Table(title=title, title_justify="left")
    for column in ("phase", "p50", "p95", "last"):
        table.add_column(column, justify="right" if column != "phase" else "left")
    traded = [r for r in reports if r.skipped is None] or list(reports)
    for phase in (*PHASES, "total"):
        values = np.array([r.timings_s.get(phase, math.nan) for r in traded], dtype=float)
        values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        table.add_row(
            phase,
            _ms(float(np.median(values))),
            _ms(float(np.percentile(values, 95))),
            _ms(float(values[-1])),
        )
    return table


def _positions_table(positions: dict[str, Position], marks: dict[str, float]) -> Table:
    table = Table(title="positions", title_justify="left")
    for column in ("symbol", "qty", "avg cost", "mark", "unrealised P&L"):
        table.add_column(column, justify="left" if column == "symbol" else "right")
    for symbol, pos in sorted(positions.items()):
        mark = marks.get(symbol, math.nan)
        pnl = pos.unrealized_pnl_usd(mark) if math.isfinite(mark) else math.nan
        table.add_row(symbol, f"{pos.qty:g}", _usd(pos.avg_cost), _usd(mark), _usd(pnl))
    if not positions:
        table.add_row("(flat)", "", "", "", "")
    return table


def cycle_view(
    report: CycleReport,
    reports: Sequence[CycleReport],
    account: Account | None,
    positions: dict[str, Position],
    marks: dict[str, float],
    cache: dict[str, Any],
) -> RenderableType:
    """The live status view: the last cycle, timings by phase, account, positions, caches."""
    head = Text()
    head.append(f"cycle {report.cycle}  ", style="bold")
    head.append(f"{report.ts:%Y-%m-%d %H:%M} UTC  ")
    head.append(report.skipped or "traded", style="yellow" if report.skipped else "green")
    counts = "  ".join(f"{k}={v}" for k, v in sorted(report.counts.items()))
    lines: list[RenderableType] = [head, Text(counts, style="dim")]
    if account is not None:
        pnl = account.day_pnl_usd
        lines.append(
            Text(
                f"equity {_usd(account.equity_usd)}  cash {_usd(account.cash_usd)}  "
                f"buying power {_usd(account.buying_power_usd)}  day P&L {_usd(pnl)}"
            )
        )
    lines.append(
        Text(
            f"account cache hit rate {_hit_rate(cache.get('account_cache'))}  "
            f"risk report hit rate {_hit_rate(cache.get('risk_report'))}"
        )
    )
    for error in report.errors[-3:]:
        lines.append(Text(error, style="red"))
    lines.append(phase_table(reports))
    lines.append(_positions_table(positions, marks))
    return Group(*lines)


def summary_view(
    *,
    reports: Sequence[CycleReport],
    start_equity: float,
    account: Account,
    positions: dict[str, Position],
    marks: dict[str, float],
    greeks: PortfolioGreeks,
    fills_by_strategy: dict[str, int],
    events_by_kind: dict[str, int],
    cache: dict[str, Any],
) -> RenderableType:
    """The end-of-run summary: trades, P&L, Greeks, cycle timings, cache statistics."""
    traded = sum(1 for r in reports if r.skipped is None)
    first = reports[0].ts if reports else None
    last = reports[-1].ts if reports else None
    span = f"{first:%a %Y-%m-%d %H:%M} -> {last:%a %Y-%m-%d %H:%M} UTC" if first and last else "-"
    trades = Table(title="trades", title_justify="left")
    trades.add_column("strategy")
    trades.add_column("fills", justify="right")
    for name, count in sorted(fills_by_strategy.items()):
        trades.add_row(name, str(count))
    for kind, count in sorted(events_by_kind.items()):
        trades.add_row(f"event: {kind}", str(count))
    pnl = account.equity_usd - start_equity
    money = Text(
        f"equity {_usd(start_equity)} -> {_usd(account.equity_usd)}  (P&L {_usd(pnl)}, "
        f"{pnl / start_equity:+.2%})  cash {_usd(account.cash_usd)}"
    )
    greek_line = Text(
        f"net delta {greeks.delta_shares:,.1f} sh ({_usd(greeks.delta_usd)} $)  "
        f"gamma {greeks.gamma_shares_per_usd:,.3f} sh/$  vega {_usd(greeks.vega_per_point_usd)}"
        f" $/pt  theta {_usd(greeks.theta_per_day_usd)} $/day"
    )
    calls = cache.get("broker_calls", {})
    cache_line = Text(
        f"account cache hit rate {_hit_rate(cache.get('account_cache'))}; broker calls "
        + ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
    )
    return Group(
        Text(f"{len(reports)} cycles ({traded} traded) over {span}", style="bold"),
        money,
        greek_line,
        trades,
        _positions_table(positions, marks),
        phase_table(reports),
        cache_line,
    )
