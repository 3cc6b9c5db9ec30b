"""``run_continuous``: cycles at a fixed interval, for weeks, and a clean stop.

The loop is the engine's outer boundary: whatever one cycle raises is logged and counted, and
the next cycle runs. SIGINT/SIGTERM ask for a stop: the first lets the running cycle finish
(then the journal is flushed and closed); a second abandons the cycle at once (its write-ahead
intents are resolved at the next start, never resent). Cycle starts keep to the interval grid
(a slow cycle delays the next one, never two at once). With a simulated clock, waiting
advances the clock, a step across a session close stops at the close (one closing cycle, so
that expiring options settle at closing prices), and the rest of a closed market is skipped
to the next open: a simulated trading week runs in seconds.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

import pandas as pd

from greekfire.engine.clock import SimulatedClock, perf_timer
from greekfire.engine.engine import CycleReport, TradingEngine
from greekfire.sim.calendar import is_open, next_open, previous_close

__all__ = ["CycleAbandoned", "RunSummary", "run_continuous"]

log = logging.getLogger("greekfire.engine.runner")


class CycleAbandoned(BaseException):
    """A second stop signal: unwind the running cycle now (BaseException: no phase catches it)."""


@dataclass(slots=True)
class RunSummary:
    """What a run did: cycles run, cycles that failed, why it stopped, the last report."""

    cycles: int = 0
    failed: int = 0
    skipped: int = 0
    stopped_by: str = "cycles"
    reports: list[CycleReport] = field(default_factory=list)


@contextmanager
def _stop_signals(stop: threading.Event) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be installed from the main thread
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise CycleAbandoned(signal.Signals(signum).name)
        log.warning("stop requested; finishing the cycle", extra={"signal": signum})
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def run_continuous(
    engine: TradingEngine,
    interval_s: float,
    *,
    max_cycles: int | None = None,
    stop: threading.Event | None = None,
    on_cycle: Callable[[CycleReport], None] | None = None,
    keep_reports: int = 1000,
) -> RunSummary:
    """Run cycles every ``interval_s`` seconds until ``max_cycles``, a stop signal or ``stop``.

    Parameters
    ----------
    engine : TradingEngine
        Closed by this function when the run ends (journal flushed).
    interval_s : float
        Seconds between cycle starts (> 0).
    max_cycles : int, optional
        Cycles to run (closed-market skips count); ``None`` runs until stopped.
    stop : threading.Event, optional
        Set it (from another thread) to stop after the running cycle.
    on_cycle : callable, optional
        Called with each report (the CLI's live view).
    keep_reports : int
        Reports kept in the summary (the newest).
    """
    if not interval_s > 0:
        raise ValueError(f"interval: expected seconds > 0, got {interval_s!r}")
    if max_cycles is not None and max_cycles < 1:
        raise ValueError(f"cycles: expected a whole number >= 1, got {max_cycles!r}")
    stop = stop if stop is not None else threading.Event()
    summary = RunSummary()
    clock = engine.clock
    try:
        with _stop_signals(stop):
            while not stop.is_set():
                started = perf_timer()
                report = _one_cycle(engine, summary)
                if report is not None:
                    summary.reports.append(report)
                    del summary.reports[:-keep_reports]
                    if on_cycle is not None:
                        on_cycle(report)
                if max_cycles is not None and summary.cycles >= max_cycles:
                    break
                if isinstance(clock, SimulatedClock):
                    _advance_simulated(clock, interval_s, engine)
                elif clock.wait(interval_s - (perf_timer() - started), stop):
                    summary.stopped_by = "signal"  # stopped while waiting for the next cycle
                    break
            else:
                summary.stopped_by = "signal"
    except CycleAbandoned as exc:
        summary.stopped_by = f"abandoned ({exc})"
        log.warning("cycle abandoned on a second stop signal")
    finally:
        engine.close()
    return summary


def _one_cycle(engine: TradingEngine, summary: RunSummary) -> CycleReport | None:
    summary.cycles += 1
    try:
        report = engine.run_cycle()
    except Exception:  # the loop's boundary: one bad cycle never ends a weeks-long run
        summary.failed += 1
        log.exception("cycle failed", extra={"cycle": summary.cycles})
        return None
    if report.skipped:
        summary.skipped += 1
    if report.errors:
        log.warning("cycle had errors", extra={"cycle": report.cycle, "errors": report.errors})
    return report


def _advance_simulated(clock: SimulatedClock, interval_s: float, engine: TradingEngine) -> None:
    # A step that crosses a close stops at it (one closing cycle: settlements see closing
    # prices); a step inside a closed market jumps to the next open.
    before = clock.now()
    target = before + pd.Timedelta(seconds=interval_s)
    if engine.settings.engine.market_hours_only and not is_open(target):
        close = previous_close(target)
        target = close if close > before else next_open(target)
    clock.set(target)
