"""Resilience primitives for calling market-data providers: retry policy, circuit breaker and
a per-provider rate limiter registry.

Retry classification follows :mod:`greekfire.errors`: ``TransientError`` (and its subclass
``RateLimited``) and the builtin ``TimeoutError`` / ``ConnectionError`` are retryable;
``ProviderError``, ``DataQualityError``, contract errors and everything else are not.
:class:`CircuitOpen` is a ``TransientError`` (the caller may try again later) that is never
retried within the same fetch: the breaker already says the provider is down.

The retry loop itself lives in :mod:`greekfire.data.pipeline`; it is a short hand-written loop
rather than ``tenacity.AsyncRetrying`` because every attempt must pass the circuit breaker, the
rate limiter and the metrics, the delay depends on the exception (``Retry-After``), and the
random source and ``sleep`` must be injectable for tests without wall-clock waits.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from aiolimiter import AsyncLimiter

from greekfire.errors import RateLimited, TransientError

__all__ = [
    "DEFAULT_LIMITERS",
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpen",
    "RateLimiterRegistry",
    "RetryPolicy",
    "is_retryable",
]


class CircuitOpen(TransientError):
    """The provider's circuit breaker is open: the call was rejected without being made.

    Retryable *later* (a ``TransientError``), but never retried within the same fetch.
    ``retry_in_s`` is the time until the breaker lets a probe through.
    """

    def __init__(self, provider: str, retry_in_s: float) -> None:
        super().__init__(f"circuit open for provider {provider!r}; next probe in {retry_in_s:.1f}s")
        self.provider = provider
        self.retry_in_s = retry_in_s


def is_retryable(error: BaseException) -> bool:
    """Whether ``error`` is worth another attempt within the same fetch.

    ``TransientError`` (including ``RateLimited``), ``TimeoutError`` and ``ConnectionError``
    are; :class:`CircuitOpen` and every other exception are not.
    """
    if isinstance(error, CircuitOpen):
        return False
    return isinstance(error, TransientError | TimeoutError | ConnectionError)


def _counts_as_outage(error: BaseException) -> bool:
    # Only failures that say "the provider is unhealthy" move the breaker; an unknown symbol
    # (ProviderError) or bad data is a healthy answer.
    return isinstance(error, TransientError | TimeoutError | ConnectionError) and not isinstance(
        error, CircuitOpen
    )


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many attempts and how long to wait between them.

    Parameters
    ----------
    max_attempts : int, default 4
        Total attempts per request (1 = no retry).
    base_delay_s : float, default 0.2
        Delay cap before the second attempt; doubles per attempt.
    max_delay_s : float, default 10
        Upper bound of every delay, ``Retry-After`` included.
    jitter : {"full", "none"}, default "full"
        ``"full"``: uniform in ``[0, min(max, base * 2**(n-1))]`` (AWS "full jitter");
        ``"none"``: exactly the exponential cap.
    rng : callable, default random.random
        Uniform ``[0, 1)`` source; inject a fixed one in tests.
    """

    max_attempts: int = 4
    base_delay_s: float = 0.2
    max_delay_s: float = 10.0
    jitter: Literal["full", "none"] = "full"
    rng: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts!r}")
        if not (self.base_delay_s >= 0 and self.max_delay_s >= 0):
            raise ValueError("base_delay_s and max_delay_s must be >= 0")
        if self.jitter not in ("full", "none"):
            raise ValueError(f"jitter must be 'full' or 'none', got {self.jitter!r}")

    def should_retry(self, error: BaseException, attempt: int) -> bool:
        """True when ``error`` on attempt number ``attempt`` (1-based) deserves another try."""
        return attempt < self.max_attempts and is_retryable(error)

    def delay_s(self, attempt: int, error: BaseException | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        Exponential backoff with jitter; a ``RateLimited`` error with ``retry_after_s`` waits at
        least that long. Every delay is capped at ``max_delay_s``.
        """
        cap = min(self.max_delay_s, self.base_delay_s * 2.0 ** max(attempt - 1, 0))
        delay = cap * self.rng() if self.jitter == "full" else cap
        if isinstance(error, RateLimited) and error.retry_after_s is not None:
            retry_after = float(error.retry_after_s)
            if math.isfinite(retry_after):
                delay = max(delay, retry_after)
        return min(max(delay, 0.0), self.max_delay_s)


class BreakerState(StrEnum):
    """Circuit breaker states."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """A per-provider circuit breaker.

    Closed: calls pass; ``failure_threshold`` consecutive outage failures (transient errors,
    timeouts, connection errors) open it. Open: :meth:`before_call` raises :class:`CircuitOpen`
    without calling the provider. After ``recovery_s`` it is half-open: up to ``half_open_max``
    probes pass; a probe success closes it, a probe failure opens it again for ``recovery_s``.
    Any non-outage answer (data, an unknown symbol, bad data) counts as a success.

    Parameters
    ----------
    failure_threshold : int, default 5
    recovery_s : float, default 30
    half_open_max : int, default 1
    clock : callable, default time.monotonic
        Monotonic seconds; inject a fake one in tests.
    name : str, default "provider"
        Used in :class:`CircuitOpen` messages.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        recovery_s: float = 30.0,
        half_open_max: int = 1,
        clock: Callable[[], float] = time.monotonic,
        name: str = "provider",
    ) -> None:
        if failure_threshold < 1 or half_open_max < 1 or recovery_s < 0:
            raise ValueError(
                "failure_threshold and half_open_max must be >= 1 and recovery_s >= 0, got "
                f"{failure_threshold!r}, {half_open_max!r}, {recovery_s!r}"
            )
        self.failure_threshold = failure_threshold
        self.recovery_s = recovery_s
        self.half_open_max = half_open_max
        self.name = name
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probes = 0

    @property
    def state(self) -> BreakerState:
        """The current state (open turns half-open once ``recovery_s`` has passed)."""
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.recovery_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    @property
    def consecutive_failures(self) -> int:
        """Outage failures since the last success."""
        return self._failures

    def before_call(self) -> None:
        """Admit one call or raise :class:`CircuitOpen`.

        Every admitted call must be followed by :meth:`record_success` or
        :meth:`record_failure` (or :meth:`release` when it was cancelled).
        """
        state = self.state
        if state is BreakerState.CLOSED:
            return
        if state is BreakerState.HALF_OPEN and self._probes < self.half_open_max:
            self._probes += 1
            return
        assert self._opened_at is not None
        retry_in = max(self._opened_at + self.recovery_s - self._clock(), 0.0)
        raise CircuitOpen(self.name, retry_in)

    def record_success(self) -> None:
        """A call answered: close the breaker and reset the failure count."""
        self._failures = 0
        self._opened_at = None
        self._probes = 0

    def record_failure(self, error: BaseException) -> None:
        """A call failed; outage failures count towards opening the breaker."""
        if not _counts_as_outage(error):
            self.record_success()
            return
        self._failures += 1
        if self._opened_at is not None or self._failures >= self.failure_threshold:
            # A failed half-open probe (or the threshold reached) restarts the recovery period.
            self._opened_at = self._clock()
            self._probes = 0

    def release(self) -> None:
        """An admitted call was cancelled: give its half-open probe slot back."""
        if self._probes:
            self._probes -= 1

    def record(self, error: BaseException | None) -> None:
        """Record the outcome of an admitted call (``None`` for success)."""
        if error is None:
            self.record_success()
        else:
            self.record_failure(error)


class RateLimiterRegistry:
    """One ``aiolimiter.AsyncLimiter(rate, 1 s)`` per provider name and event loop.

    Every pipeline built on the same registry (the module default :data:`DEFAULT_LIMITERS`
    unless one is passed) shares the limiter of a provider name. Limiters are kept per event
    loop because an ``AsyncLimiter`` is bound to the loop it first ran on.
    """

    def __init__(self) -> None:
        self._by_loop: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, AsyncLimiter]
        ] = weakref.WeakKeyDictionary()
        self.acquired: dict[str, int] = {}

    def get(self, provider: str, requests_per_second: float) -> AsyncLimiter:
        """The limiter of ``provider`` on the running loop (created on first use).

        Raises
        ------
        ValueError
            ``requests_per_second`` is not positive and finite.
        RuntimeError
            No event loop is running.
        """
        if not (math.isfinite(requests_per_second) and requests_per_second > 0):
            raise ValueError(f"requests_per_second must be > 0, got {requests_per_second!r}")
        loop = asyncio.get_running_loop()
        limiters = self._by_loop.setdefault(loop, {})
        limiter = limiters.get(provider)
        if limiter is None:
            limiter = limiters[provider] = AsyncLimiter(requests_per_second, 1.0)
        return limiter

    async def acquire(self, provider: str, requests_per_second: float) -> None:
        """Wait for one request slot of ``provider``; counts it in ``acquired``."""
        await self.get(provider, requests_per_second).acquire()
        self.acquired[provider] = self.acquired.get(provider, 0) + 1


DEFAULT_LIMITERS = RateLimiterRegistry()
"""The process-wide registry: all pipelines share one limiter per provider name."""
