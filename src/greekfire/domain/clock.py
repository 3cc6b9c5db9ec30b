"""The ``Clock`` role: the one way code below the engine learns what time it is.

Implementations live in :mod:`greekfire.engine.clock` (a live clock that reads wall time and a
simulated one that only moves when told); everything else receives a clock and never reads
wall time itself, so tests, backtests and the demo control time completely.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Clock"]


@runtime_checkable
class Clock(Protocol):
    """Something that tells the time."""

    def now_ns(self) -> int:
        """Now, in UTC nanoseconds since the epoch."""
        ...
