"""``SimClock``: the simulated exchange's notion of now.

``now = start + (wall() - wall_at_start) * speed``: real time from a chosen start at
``speed = 1``, frozen at ``speed = 0``, accelerated above 1. The wall source is injectable so
that tests never wait on the wall clock.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import pandas as pd

__all__ = ["SimClock"]

_NS = 1_000_000_000


class SimClock:
    """A simulated clock; call it for a UTC :class:`pandas.Timestamp`.

    Parameters
    ----------
    start : datetime or None
        Simulated time at construction (tz-aware); ``None`` means the wall time.
    speed : float, default 1.0
        Simulated seconds per wall second, >= 0.
    wall_ns : callable returning int, default ``time.time_ns``
        The wall clock in UTC nanoseconds (tests inject one).
    """

    def __init__(
        self,
        start: dt.datetime | None = None,
        speed: float = 1.0,
        *,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        if not speed >= 0:
            raise ValueError(f"speed: expected a number >= 0, got {speed!r}")
        self._wall_ns = wall_ns
        self._wall0 = wall_ns()
        if start is None:
            self._start_ns = self._wall0
        else:
            if start.tzinfo is None:
                raise ValueError(f"start: expected a timezone-aware datetime, got {start!r}")
            self._start_ns = int(pd.Timestamp(start).tz_convert("UTC").as_unit("ns").value)
        self.speed = float(speed)

    def now_ns(self) -> int:
        """Simulated now, UTC nanoseconds since the epoch."""
        return self._start_ns + int((self._wall_ns() - self._wall0) * self.speed)

    def __call__(self) -> pd.Timestamp:
        """Simulated now as a UTC timestamp."""
        return pd.Timestamp(self.now_ns(), tz="UTC")
