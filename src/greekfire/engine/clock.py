"""Clocks: the only place in greekfire that reads wall time.

:class:`LiveClock` tells the wall time and waits on it; :class:`SimulatedClock` tells a time
that moves only when the runner advances it, so a simulated trading week runs in seconds and
every test controls time completely. Both satisfy :class:`greekfire.domain.clock.Clock` and
add ``now()`` (a UTC ``pandas.Timestamp``), ``monotonic()`` (seconds, for timings and TTLs)
and ``wait(seconds, stop)``.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pandas as pd

__all__ = ["LiveClock", "SimulatedClock", "parse_interval", "perf_timer"]

perf_timer = time.perf_counter
"""The duration counter for phase timings (real elapsed seconds, whatever the clock)."""

_NS = 1_000_000_000
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_interval(text: str | float) -> float:
    """Seconds in an interval such as ``"30s"``, ``"5m"``, ``"1h"``, ``"1d"`` or ``"90"``.

    Raises
    ------
    ValueError
        Naming the text, when it is not a positive number with an optional unit.
    """
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        raw = str(text).strip().lower()
        unit = raw[-1:] if raw[-1:] in _UNITS else "s"
        number = raw[:-1] if raw[-1:] in _UNITS else raw
        try:
            seconds = float(number) * _UNITS[unit]
        except ValueError:
            raise ValueError(
                f"interval: expected a number with an optional unit s, m, h or d (e.g. '5m'),"
                f" got {text!r}"
            ) from None
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"interval: expected a positive duration, got {text!r}")
    return seconds


class LiveClock:
    """Wall time (UTC) and the monotonic clock; ``wait`` sleeps until stopped or timed out."""

    def now_ns(self) -> int:
        """Wall time, UTC nanoseconds since the epoch."""
        return time.time_ns()

    def now(self) -> pd.Timestamp:
        """Wall time as a UTC timestamp."""
        return pd.Timestamp(self.now_ns(), tz="UTC")

    def monotonic(self) -> float:
        """Monotonic seconds (for durations and TTLs)."""
        return time.monotonic()

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        """Sleep up to ``seconds``; return True when ``stop`` was set meanwhile."""
        return stop.wait(max(0.0, seconds))


class SimulatedClock:
    """A clock that stands still until advanced.

    Parameters
    ----------
    start : datetime or pandas.Timestamp
        Simulated start time, timezone-aware.

    ``monotonic()`` follows the simulated time, so TTLs expire in simulated seconds, and
    ``wait(seconds, stop)`` advances the clock by ``seconds`` at once.
    """

    def __init__(self, start: datetime | pd.Timestamp) -> None:
        stamp = pd.Timestamp(start)
        if stamp.tzinfo is None:
            raise ValueError(f"start: expected a timezone-aware datetime, got {start!r}")
        self._ns = int(stamp.tz_convert("UTC").as_unit("ns").value)
        self._lock = threading.Lock()

    def now_ns(self) -> int:
        """Simulated now, UTC nanoseconds."""
        return self._ns

    def now(self) -> pd.Timestamp:
        """Simulated now as a UTC timestamp."""
        return pd.Timestamp(self._ns, tz="UTC")

    def monotonic(self) -> float:
        """Simulated seconds since the epoch."""
        return self._ns / _NS

    def advance(self, seconds: float) -> pd.Timestamp:
        """Move the clock forward by ``seconds`` (>= 0); returns the new now."""
        if not seconds >= 0:
            raise ValueError(f"seconds: expected a duration >= 0, got {seconds!r}")
        with self._lock:
            self._ns += round(seconds * _NS)
        return self.now()

    def set(self, when: datetime | pd.Timestamp) -> pd.Timestamp:
        """Jump to ``when`` (tz-aware, not before now)."""
        stamp = pd.Timestamp(when)
        if stamp.tzinfo is None:
            raise ValueError(f"when: expected a timezone-aware datetime, got {when!r}")
        ns = int(stamp.tz_convert("UTC").as_unit("ns").value)
        with self._lock:
            if ns < self._ns:
                raise ValueError(f"when: {stamp} is before the clock's now {self.now()}")
            self._ns = ns
        return self.now()

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        """Advance by ``seconds`` at once; True when ``stop`` is already set."""
        if stop.is_set():
            return True
        self.advance(max(0.0, seconds))
        return False
