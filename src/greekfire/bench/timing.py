"""The timing harness: warm-up, adaptive repeats, order statistics.

Each sample is one call of a zero-argument callable, timed with ``time.perf_counter_ns`` with
the garbage collector paused (as ``timeit`` does). The number of repeats adapts to the cost
of the call: enough samples to fill a time budget, never fewer than a floor (15 for fast
cases, so the median means something on a shared machine) and never more than a ceiling.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["FAST", "QUICK", "SLOW", "RepeatPolicy", "Timing", "measure", "median", "quantile"]


@dataclass(frozen=True, slots=True)
class RepeatPolicy:
    """How many times to call a benchmarked function.

    Attributes
    ----------
    min_repeats, max_repeats : int
        Bounds on the number of timed samples.
    budget_s : float
        Wall-time budget for the timed samples; the repeat count is
        ``clip(ceil(budget_s / warm-up time), min_repeats, max_repeats)``.
    warmup : int
        Untimed calls before sampling (JIT compilation, caches, page faults).
    """

    min_repeats: int
    max_repeats: int
    budget_s: float
    warmup: int = 2

    def __post_init__(self) -> None:
        if not 1 <= self.min_repeats <= self.max_repeats:
            raise ValueError(
                f"RepeatPolicy: need 1 <= min_repeats <= max_repeats, got "
                f"{self.min_repeats} and {self.max_repeats}"
            )
        if self.warmup < 1:
            raise ValueError(f"RepeatPolicy: warmup must be >= 1, got {self.warmup}")

    def repeats_for(self, call_ns: int) -> int:
        """Return the repeat count for a call that took ``call_ns`` nanoseconds.

        Parameters
        ----------
        call_ns : int
            Duration of one (warm) call.
        """
        wanted = math.ceil(self.budget_s * 1e9 / max(call_ns, 1))
        return max(self.min_repeats, min(self.max_repeats, wanted))


FAST = RepeatPolicy(min_repeats=15, max_repeats=201, budget_s=1.5)
"""Sub-second calls: at least 15 samples."""
SLOW = RepeatPolicy(min_repeats=5, max_repeats=15, budget_s=4.0, warmup=1)
"""Calls of a second or so (Python loops, big batches): at least 5 samples."""
QUICK = RepeatPolicy(min_repeats=3, max_repeats=5, budget_s=0.2, warmup=1)
"""Smoke-test runs (``--quick``): a few samples, no statistics worth quoting."""


def quantile(samples: Sequence[int], q: float) -> float:
    """Return the ``q``-quantile of ``samples`` by linear interpolation between order stats.

    Parameters
    ----------
    samples : sequence of int
        At least one value.
    q : float
        In [0, 1]; 0.5 is the median.

    Returns
    -------
    float
    """
    if not samples:
        raise ValueError("quantile: expected at least one sample, got none")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile: q must be in [0, 1], got {q}")
    ordered = sorted(samples)
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def median(samples: Sequence[int]) -> float:
    """Return the median of ``samples`` (mean of the two middle values when even).

    Parameters
    ----------
    samples : sequence of int
        At least one value.
    """
    return quantile(samples, 0.5)


@dataclass(frozen=True, slots=True)
class Timing:
    """Timed samples of one call, in nanoseconds.

    Attributes
    ----------
    samples_ns : tuple of int
        One duration per timed call, in call order.
    warmup : int
        Untimed calls made before the samples.
    """

    samples_ns: tuple[int, ...]
    warmup: int

    @property
    def repeats(self) -> int:
        """Number of timed samples."""
        return len(self.samples_ns)

    @property
    def median_ns(self) -> float:
        """Median sample."""
        return median(self.samples_ns)

    @property
    def min_ns(self) -> int:
        """Fastest sample."""
        return min(self.samples_ns)

    @property
    def max_ns(self) -> int:
        """Slowest sample."""
        return max(self.samples_ns)

    @property
    def iqr_ns(self) -> float:
        """Interquartile range (p75 - p25): the noise of the measurement."""
        return quantile(self.samples_ns, 0.75) - quantile(self.samples_ns, 0.25)


def _timed_call(fn: Callable[[], object], clock: Callable[[], int]) -> int:
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = clock()
        fn()
        return clock() - start
    finally:
        if gc_was_enabled:
            gc.enable()


def measure(
    fn: Callable[[], object],
    policy: RepeatPolicy,
    *,
    clock: Callable[[], int] = time.perf_counter_ns,
) -> Timing:
    """Time ``fn`` after ``policy.warmup`` untimed calls.

    The last warm-up call sizes the repeat count (``RepeatPolicy.repeats_for``).

    Parameters
    ----------
    fn : callable
        Zero-argument callable; its result is discarded.
    policy : RepeatPolicy
        Warm-up, repeat bounds and time budget.
    clock : callable, optional
        Monotonic nanosecond clock; injectable for tests.

    Returns
    -------
    Timing
    """
    last_ns = 0
    for _ in range(policy.warmup):
        last_ns = _timed_call(fn, clock)
    repeats = policy.repeats_for(last_ns)
    samples = tuple(_timed_call(fn, clock) for _ in range(repeats))
    return Timing(samples_ns=samples, warmup=policy.warmup)
