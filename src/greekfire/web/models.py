"""The dashboard API's response models: what every page gets, and its OpenAPI schema.

Every number is finite or ``None`` (JSON has no NaN): fields typed :data:`Num` turn NaN and
infinities into ``None`` as the model is built.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict

__all__ = [
    "AccountView",
    "ApiEndpointStats",
    "BenchCase",
    "BenchReport",
    "BenchRow",
    "BenchTarget",
    "CachePoint",
    "CycleEvent",
    "CyclePoint",
    "EquityCurve",
    "EquityPoint",
    "EventRow",
    "EventsPage",
    "FillRow",
    "FillsPage",
    "GreeksView",
    "Health",
    "LatencyHistogram",
    "NoteRow",
    "NotesPage",
    "Num",
    "OrderRow",
    "OrdersPage",
    "Overview",
    "Performance",
    "PhaseStats",
    "PositionView",
    "SignalView",
    "StrategiesPage",
    "StrategyView",
    "SystemStats",
    "TradesInHour",
    "to_num",
]


def _finite(value: object) -> object:
    # JSON has no NaN: unknown numbers are null
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


Num = Annotated[float | None, BeforeValidator(_finite)]
"""A float that is ``None`` when unknown (NaN and infinities become ``None``)."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------- response models


class Health(_Model):
    """``/api/health``: up, and whether a live engine stands behind the dashboard."""

    status: Literal["ok"] = "ok"
    mode: Literal["live", "journal"]
    cycle: int


class AccountView(_Model):
    """Balances in dollars (``day_pnl_usd`` against the previous close)."""

    cash_usd: Num = None
    equity_usd: Num = None
    buying_power_usd: Num = None
    day_pnl_usd: Num = None


class PositionView(_Model):
    """An open position: qty (shares or contracts), prices per share, Greeks (``None``: unknown)."""

    symbol: str
    qty: float
    avg_cost: Num = None
    mark: Num = None
    market_value_usd: Num = None
    unrealized_pnl_usd: Num = None
    delta_shares: Num = None
    gamma: Num = None
    vega_per_point_usd: Num = None
    theta_per_day_usd: Num = None


class GreeksView(_Model):
    """Portfolio Greeks (or their limits): delta in dollars and shares, gamma in shares per
    dollar, vega in dollars per vol point, theta in dollars per day."""

    delta_usd: Num = None
    delta_shares: Num = None
    gamma: Num = None
    vega_per_point_usd: Num = None
    theta_per_day_usd: Num = None


class Overview(_Model):
    """``/api/overview``: the account, positions, portfolio Greeks against limits, halts."""

    as_of_ns: int | None
    cycle: int
    account: AccountView
    positions: list[PositionView]
    greeks: GreeksView
    greek_limits: GreeksView
    kill_switch: str | None
    entries_paused: bool
    controls_available: bool


class EquityPoint(_Model):
    """One account snapshot."""

    ts_ns: int
    equity_usd: Num = None
    cash_usd: Num = None


class EquityCurve(_Model):
    """``/api/equity``: account snapshots, oldest first."""

    points: list[EquityPoint]


class LatencyHistogram(_Model):
    """``counts[i]`` cycles took from ``edges_ms[i]`` (exclusive, but the first) to
    ``edges_ms[i + 1]`` (inclusive) milliseconds; the edges are the Prometheus buckets."""

    edges_ms: list[float]
    counts: list[int]


class PhaseStats(_Model):
    """Latency of one cycle phase over the cycles considered."""

    phase: str
    count: int
    p50_ms: Num = None
    p95_ms: Num = None
    p99_ms: Num = None
    max_ms: Num = None
    histogram: LatencyHistogram


class CyclePoint(_Model):
    """One cycle's total and per-phase time."""

    cycle: int
    ts_ns: int
    total_ms: Num = None
    phases_ms: dict[str, float]


class CachePoint(_Model):
    """A cache's counters (``hit_rate`` ``None`` before any lookup)."""

    name: str
    hits: int
    misses: int
    hit_rate: Num = None


class ApiEndpointStats(_Model):
    """Vendor API calls and failures for one endpoint (the monitor's counters)."""

    provider: str
    endpoint: str
    requests: int
    errors: int


class SystemStats(_Model):
    """The bot process: resident memory, CPU (100 = one core busy), threads."""

    rss_bytes: int | None = None
    cpu_percent: Num = None
    threads: int | None = None


class TradesInHour(_Model):
    """Fills stamped in the hour starting at ``hour_ns`` (UTC ns)."""

    hour_ns: int
    fills: int


class Performance(_Model):
    """``/api/performance``."""

    phases: list[PhaseStats]
    series: list[CyclePoint]
    caches: list[CachePoint]
    api: list[ApiEndpointStats]
    system: SystemStats
    trades_per_hour: list[TradesInHour]


class OrderRow(_Model):
    """A journaled order; ``symbol`` and ``side`` are its first leg's; ``reason`` is why the
    broker or engine ended it, else why the strategy asked."""

    client_order_id: str
    strategy: str
    symbol: str
    side: str
    qty: float
    order_type: str
    limit_price: Num = None
    status: str
    filled_qty: float
    avg_fill_price: Num = None
    created_ns: int
    updated_ns: int
    legs: int
    reason: str


class OrdersPage(_Model):
    """``/api/orders``: newest first."""

    orders: list[OrderRow]


class FillRow(_Model):
    """One execution; ``strategy`` from its order (``None`` when the order is not journaled)."""

    fill_id: str
    client_order_id: str
    symbol: str
    side: str
    qty: float
    price: float
    fee_usd: float
    ts_ns: int
    strategy: str | None = None


class FillsPage(_Model):
    """``/api/fills``: newest first."""

    fills: list[FillRow]


class SignalView(_Model):
    """An order intent and the risk gate's answer (``qty``/``side`` ``None`` when only the
    denial was journaled)."""

    ts_ns: int
    symbol: str
    side: str | None = None
    qty: Num = None
    reason: str
    approved: bool
    denied_by: str = ""


class StrategyView(_Model):
    """A strategy: ``enabled`` ``None`` when unknown (journal only, no sign of a disable)."""

    name: str
    kind: str | None = None
    enabled: bool | None = None
    symbols: list[str]
    disabled_reason: str | None = None
    last_signals: list[SignalView]


class StrategiesPage(_Model):
    """``/api/strategies``."""

    strategies: list[StrategyView]


class BenchTarget(_Model):
    """A case's target (e.g. median below a limit) and whether it was met."""

    metric: str
    limit: Num = None
    value: Num = None
    met: bool | None = None


class BenchRow(_Model):
    """One contender of a benchmark case."""

    key: str
    label: str
    status: str
    median_ms: Num = None
    min_ms: Num = None
    note: str = ""


class BenchCase(_Model):
    """One benchmark case with its contenders (samples left out)."""

    key: str
    title: str
    unit: str | None = None
    headline: str | None = None
    target: BenchTarget | None = None
    rows: list[BenchRow]


class BenchReport(_Model):
    """``/api/bench``: the latest ``make bench`` report (``available`` false without one)."""

    available: bool
    generated: str | None = None
    markdown: str | None = None
    cases: list[BenchCase]
    error: str | None = None


class EventRow(_Model):
    """A broker event as journaled (payload left out)."""

    id: int
    seq: int
    kind: str
    ts_ns: int
    symbol: str
    client_order_id: str | None = None
    detail: str


class EventsPage(_Model):
    """``/api/events``: newest first."""

    events: list[EventRow]


class NoteRow(_Model):
    """A journal note: a risk denial, a disabled strategy, an operator control, ..."""

    id: int
    kind: str
    ts_ns: int
    payload: dict[str, Any]


class NotesPage(_Model):
    """``/api/notes``: newest first."""

    notes: list[NoteRow]


class CycleEvent(_Model):
    """What ``/api/stream`` sends as a ``cycle`` event when a cycle is journaled."""

    cycle: int
    ts_ns: int
    total_ms: Num = None


def to_num(value: object) -> float | None:
    """``value`` as a float, ``None`` when missing, not a number, NaN or infinite."""
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None
