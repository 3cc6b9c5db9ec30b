"""What a running bot shows and accepts from outside its cycle: live state and operator controls.

The dashboard (:mod:`greekfire.web`) runs in threads of the bot's process while the engine runs
its cycles in the main thread. They never share mutable objects:

- :class:`LiveState` is an immutable snapshot the engine publishes at the end of every cycle
  (one reference swap); readers take whatever snapshot is current.
- :class:`EngineControls` queues operator commands (pause entries, resume, flatten, disable a
  strategy) under a lock; the engine takes them at the start of its next cycle, applies them in
  order, journals each one (a ``control`` note) and records the outcome in the next snapshot.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

__all__ = [
    "ControlCommand",
    "ControlKind",
    "EngineControls",
    "LiveState",
    "PositionState",
    "SignalRecord",
    "StrategyState",
]

_MAX_PENDING: Final = 1_000


class ControlKind(StrEnum):
    """The operator commands."""

    PAUSE_ENTRIES = "pause_entries"  # risk denies every opening intent; exits go on
    RESUME_ENTRIES = "resume_entries"
    FLATTEN = "flatten"  # pause entries and close every position at market next cycle
    DISABLE_STRATEGY = "disable_strategy"  # the named strategy is never called again


@dataclass(frozen=True, slots=True)
class ControlCommand:
    """One queued command: ``kind``, the strategy for ``DISABLE_STRATEGY``, a free-text
    ``reason`` and who asked (``by``: e.g. ``"dashboard"``)."""

    kind: ControlKind
    strategy: str | None = None
    reason: str = ""
    by: str = "operator"


@dataclass(frozen=True, slots=True)
class PositionState:
    """One open position with its mark and Greeks (per position, signed; NaN when unknown).

    ``delta_shares`` is in shares of the underlying (an option's delta x qty x multiplier),
    ``gamma`` in shares per dollar, ``vega_per_point_usd`` in dollars per vol point,
    ``theta_per_day_usd`` in dollars per calendar day.
    """

    symbol: str
    qty: float
    avg_cost: float
    mark: float
    market_value_usd: float
    unrealized_pnl_usd: float
    delta_shares: float
    gamma: float
    vega_per_point_usd: float
    theta_per_day_usd: float


@dataclass(frozen=True, slots=True)
class SignalRecord:
    """An order intent a strategy returned: when, what, and the risk gate's answer."""

    ts_ns: int
    symbol: str
    side: str
    qty: float
    reason: str
    approved: bool
    denied_by: str = ""


@dataclass(frozen=True, slots=True)
class StrategyState:
    """A configured strategy: enabled or not (and why not), its recent signals (newest last)."""

    name: str
    kind: str
    enabled: bool
    symbols: tuple[str, ...]
    disabled_reason: str | None
    last_signals: tuple[SignalRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class LiveState:
    """The bot as of its last cycle (see the module docstring).

    Attributes
    ----------
    ts_ns, cycle : int
        The cycle's time (UTC ns) and number; 0 before the first cycle.
    cash_usd, equity_usd, buying_power_usd, day_pnl_usd : float
    positions : tuple of PositionState
    greeks : dict
        Portfolio Greeks: ``delta_usd``, ``delta_shares``, ``gamma``, ``vega_per_point_usd``,
        ``theta_per_day_usd``.
    greek_limits : dict
        The risk section's limits for the same keys (``None``: no limit).
    kill_switch : str or None
        Why the kill switch is tripped (entries halted), ``None`` when it is not.
    entries_paused : bool
        Entries paused by an operator command.
    strategies : tuple of StrategyState
    caches : dict
        Per cache: ``hits``, ``misses``, ``hit_rate`` (NaN before any lookup).
    controls : tuple of str
        The last commands applied, in words (newest last).
    """

    ts_ns: int = 0
    cycle: int = 0
    cash_usd: float = 0.0
    equity_usd: float = 0.0
    buying_power_usd: float = 0.0
    day_pnl_usd: float = 0.0
    positions: tuple[PositionState, ...] = ()
    greeks: dict[str, float] = field(default_factory=dict)
    greek_limits: dict[str, float | None] = field(default_factory=dict)
    kill_switch: str | None = None
    entries_paused: bool = False
    strategies: tuple[StrategyState, ...] = ()
    caches: dict[str, dict[str, float]] = field(default_factory=dict)
    controls: tuple[str, ...] = ()


class EngineControls:
    """A thread-safe queue of :class:`ControlCommand` (see the module docstring).

    ``submit`` is called from any thread (the dashboard's); ``take`` by the engine, once per
    cycle, returns and clears everything queued.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[ControlCommand] = []

    def submit(self, command: ControlCommand) -> int:
        """Queue ``command``; returns how many commands wait for the next cycle.

        Raises
        ------
        ValueError
            ``DISABLE_STRATEGY`` without a strategy name, or the queue is full (1,000).
        """
        if command.kind is ControlKind.DISABLE_STRATEGY and not command.strategy:
            raise ValueError("strategy: disable_strategy needs a strategy name, got none")
        with self._lock:
            if len(self._pending) >= _MAX_PENDING:
                raise ValueError(f"controls: {_MAX_PENDING} commands already wait for a cycle")
            self._pending.append(command)
            return len(self._pending)

    def take(self) -> list[ControlCommand]:
        """Every queued command, oldest first; the queue is then empty."""
        with self._lock:
            taken, self._pending = self._pending, []
        return taken

    def pending(self) -> int:
        """Commands waiting for the next cycle."""
        with self._lock:
            return len(self._pending)
