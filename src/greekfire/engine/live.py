"""The engine's side of :mod:`greekfire.engine.control`: building :class:`LiveState` snapshots
and the order intents and denials that operator commands turn into.

Everything here is a pure function of values the engine already holds (positions, marks,
Greeks, slots, decisions), so the engine's cycle only gathers them and swaps one reference.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from greekfire.domain.instruments import OptionContract
from greekfire.domain.orders import OrderIntent, Side
from greekfire.domain.portfolio import Account, OptionGreeks, Position, portfolio_greeks
from greekfire.engine.control import LiveState, PositionState, SignalRecord, StrategyState
from greekfire.risk.config import GreeksLimits
from greekfire.risk.gate import RiskDecision
from greekfire.strategy.guard import StrategySlot

__all__ = [
    "OPERATOR",
    "PAUSED_REASON",
    "SignalBook",
    "build_live_state",
    "cache_states",
    "flatten_intents",
    "greek_limits",
    "paused_decision",
    "position_states",
    "strategy_states",
]

OPERATOR = "operator"
"""The ``strategy`` of the intents an operator's flatten places."""

PAUSED_REASON = "entries paused by operator"
"""The reason of every opening intent denied while entries are paused."""

_NAN = math.nan


class SignalBook:
    """The last ``keep`` intents per strategy with the risk gate's answer (newest last).

    Parameters
    ----------
    keep : int, default 20
    """

    def __init__(self, keep: int = 20) -> None:
        if keep < 1:
            raise ValueError(f"keep: expected a whole number >= 1, got {keep!r}")
        self.keep = keep
        self._by_strategy: dict[str, deque[SignalRecord]] = {}

    def add(self, ts_ns: int, decisions: Iterable[RiskDecision]) -> None:
        """Record each decision's intent (its strategy, first leg, quantity asked)."""
        for d in decisions:
            intent = d.intent
            record = SignalRecord(
                ts_ns=ts_ns,
                symbol=intent.symbol,
                side=intent.side.value,
                qty=float(intent.qty),
                reason=intent.reason,
                approved=d.approved,
                denied_by=d.denied_by,
            )
            book = self._by_strategy.setdefault(intent.strategy, deque(maxlen=self.keep))
            book.append(record)

    def get(self, strategy: str) -> tuple[SignalRecord, ...]:
        """The recorded signals of ``strategy``, oldest first (empty when none)."""
        return tuple(self._by_strategy.get(strategy, ()))


def paused_decision(intent: OrderIntent) -> RiskDecision:
    """The denial of an opening ``intent`` while an operator has paused entries."""
    return RiskDecision(False, intent, 0.0, (PAUSED_REASON,), ("paused",), "paused")


def flatten_intents(positions: Mapping[str, Position], reason: str) -> list[OrderIntent]:
    """Market intents closing every position: sell longs, buy shorts back (stock and options).

    Parameters
    ----------
    positions : mapping of symbol to Position
        Flat positions are skipped.
    reason : str
        Recorded on each intent (``"flatten by operator: ..."``).
    """
    intents = []
    for symbol, pos in sorted(positions.items()):
        if pos.is_flat:
            continue
        side = Side.SELL if pos.qty > 0 else Side.BUY
        intents.append(
            OrderIntent.single(
                symbol, side, abs(pos.qty), strategy=OPERATOR, reason=reason, opening=False
            )
        )
    return intents


def position_states(
    positions: Mapping[str, Position],
    marks: Mapping[str, float],
    greeks: Mapping[str, OptionGreeks],
) -> tuple[PositionState, ...]:
    """Each open position with its mark, value, P&L and Greeks (see :class:`PositionState`).

    A stock's delta is its quantity (no gamma, vega or theta); an option without Greeks, or
    any position without a mark, gets NaN where the figure needs them.
    """
    states = []
    for symbol, pos in sorted(positions.items()):
        if pos.is_flat:
            continue
        mark = marks.get(symbol, _NAN)
        delta = gamma = vega = theta = 0.0
        if isinstance(pos.instrument, OptionContract):
            g = greeks.get(symbol)
            shares = pos.qty * pos.multiplier
            if g is None:
                delta = gamma = vega = theta = _NAN
            else:
                delta, gamma = shares * g.delta, shares * g.gamma
                vega, theta = shares * g.vega / 100.0, shares * g.theta / 365.0
        else:
            delta = pos.qty
        states.append(
            PositionState(
                symbol=symbol,
                qty=pos.qty,
                avg_cost=pos.avg_cost,
                mark=mark,
                market_value_usd=pos.market_value_usd(mark) if math.isfinite(mark) else _NAN,
                unrealized_pnl_usd=pos.unrealized_pnl_usd(mark) if math.isfinite(mark) else _NAN,
                delta_shares=delta,
                gamma=gamma,
                vega_per_point_usd=vega,
                theta_per_day_usd=theta,
            )
        )
    return tuple(states)


def greek_limits(limits: GreeksLimits) -> dict[str, float | None]:
    """The risk section's Greek limits under :attr:`LiveState.greeks`'s keys (theta's is a
    minimum, the others bound the absolute value; ``None``: no limit)."""
    return {
        "delta_usd": limits.max_abs_delta_usd,
        "delta_shares": None,
        "gamma": limits.max_abs_gamma_shares_per_usd,
        "vega_per_point_usd": limits.max_abs_vega_per_point_usd,
        "theta_per_day_usd": limits.min_theta_per_day_usd,
    }


def _counts(stats: Any) -> tuple[float, float]:
    if isinstance(stats, Mapping):
        return float(stats.get("hits", 0)), float(stats.get("misses", 0))
    return float(getattr(stats, "hits", 0)), float(getattr(stats, "misses", 0))


def cache_states(stats: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """Per cache of ``TradingEngine.get_cache_stats()``: ``hits``, ``misses``, ``hit_rate``
    (NaN before any lookup); entries without hit counts (API calls) are left out."""
    out: dict[str, dict[str, float]] = {}
    for name, value in stats.items():
        if not (isinstance(value, Mapping) and "hits" in value) and not hasattr(value, "hits"):
            continue
        hits, misses = _counts(value)
        total = hits + misses
        out[name] = {"hits": hits, "misses": misses, "hit_rate": hits / total if total else _NAN}
    return out


def strategy_states(
    slots: Iterable[StrategySlot], signals: SignalBook
) -> tuple[StrategyState, ...]:
    """Each configured strategy: kind, enabled, symbols, why it was disabled, last signals."""
    states = []
    for slot in slots:
        strategy = slot.strategy
        states.append(
            StrategyState(
                name=slot.name,
                kind=strategy.kind if strategy is not None else "unknown",
                enabled=slot.enabled,
                symbols=strategy.symbols if strategy is not None else (),
                disabled_reason=None if slot.enabled else str(slot.error or "disabled"),
                last_signals=signals.get(slot.name),
            )
        )
    return tuple(states)


def build_live_state(
    *,
    ts_ns: int,
    cycle: int,
    account: Account | None,
    day_pnl_usd: float,
    positions: Mapping[str, Position],
    marks: Mapping[str, float],
    greeks: Mapping[str, OptionGreeks],
    spots: Mapping[str, float],
    limits: GreeksLimits,
    kill_switch: str | None,
    entries_paused: bool,
    strategies: tuple[StrategyState, ...],
    caches: dict[str, dict[str, float]],
    controls: tuple[str, ...],
) -> LiveState:
    """A :class:`LiveState` from the engine's books after a cycle (``account`` None: before
    the first one; the money fields are then NaN). ``day_pnl_usd`` is the engine's (equity
    against the day-start equity it keeps when the broker has no previous close)."""
    net = portfolio_greeks(positions.values(), greeks, spots)
    return LiveState(
        ts_ns=ts_ns,
        cycle=cycle,
        cash_usd=account.cash_usd if account is not None else _NAN,
        equity_usd=account.equity_usd if account is not None else _NAN,
        buying_power_usd=account.buying_power_usd if account is not None else _NAN,
        day_pnl_usd=day_pnl_usd,
        positions=position_states(positions, marks, greeks),
        greeks={
            "delta_usd": net.delta_usd,
            "delta_shares": net.delta_shares,
            "gamma": net.gamma_shares_per_usd,
            "vega_per_point_usd": net.vega_per_point_usd,
            "theta_per_day_usd": net.theta_per_day_usd,
        },
        greek_limits=greek_limits(limits),
        kill_switch=kill_switch,
        entries_paused=entries_paused,
        strategies=strategies,
        caches=caches,
        controls=controls,
    )
