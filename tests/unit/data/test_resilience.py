"""RetryPolicy delays, the circuit breaker state machine and the rate limiter registry."""

from __future__ import annotations

import asyncio
import time

import pytest

from greekfire.data.resilience import (
    BreakerState,
    CircuitBreaker,
    CircuitOpen,
    RateLimiterRegistry,
    RetryPolicy,
    is_retryable,
)
from greekfire.errors import (
    DataQualityError,
    ProviderError,
    RateLimited,
    TransientError,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (TransientError("5xx"), True),
        (RateLimited("429", retry_after_s=1.0), True),
        (TimeoutError(), True),
        (ConnectionError(), True),
        (ProviderError("unknown symbol"), False),
        (DataQualityError("nan"), False),
        (ValueError("bad"), False),
        (CircuitOpen("p", 1.0), False),
    ],
)
def test_is_retryable_follows_the_error_tree(error: BaseException, expected: bool) -> None:
    assert is_retryable(error) is expected


def test_circuit_open_is_a_transient_error() -> None:
    assert isinstance(CircuitOpen("alpaca", 3.0), TransientError)


def test_retry_delay_without_jitter_doubles_and_caps() -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=3.0, jitter="none")
    assert [policy.delay_s(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_full_jitter_scales_the_cap_by_the_random_draw() -> None:
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=10.0, rng=lambda: 0.25)
    assert policy.delay_s(1) == pytest.approx(0.25)
    assert policy.delay_s(3) == pytest.approx(1.0)


def test_retry_after_overrides_the_backoff_and_is_capped() -> None:
    policy = RetryPolicy(base_delay_s=0.2, max_delay_s=5.0, rng=lambda: 0.0)
    assert policy.delay_s(1, RateLimited("429", retry_after_s=2.5)) == pytest.approx(2.5)
    assert policy.delay_s(1, RateLimited("429", retry_after_s=60.0)) == pytest.approx(5.0)
    assert policy.delay_s(1, RateLimited("429")) == 0.0


def test_should_retry_is_bounded_by_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.should_retry(TransientError("x"), 2)
    assert not policy.should_retry(TransientError("x"), 3)
    assert not policy.should_retry(ProviderError("x"), 1)


@pytest.mark.parametrize(
    "kwargs", [{"max_attempts": 0}, {"base_delay_s": -1.0}, {"jitter": "half"}]
)
def test_retry_policy_rejects_bad_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_breaker_opens_after_threshold_and_rejects() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, recovery_s=30.0, clock=clock, name="alpaca")
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure(TransientError("503"))
    assert breaker.state is BreakerState.CLOSED
    breaker.before_call()
    breaker.record_failure(TimeoutError())
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpen, match="alpaca") as info:
        breaker.before_call()
    assert info.value.retry_in_s == pytest.approx(30.0)


def test_breaker_half_opens_lets_one_probe_and_closes_on_success() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, recovery_s=10.0, half_open_max=1, clock=clock)
    breaker.record_failure(ConnectionError())
    clock.now = 10.0
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_call()
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # only one probe at a time
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0


def test_failed_probe_reopens_for_a_full_recovery_period() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, recovery_s=10.0, clock=clock)
    breaker.record_failure(TransientError("x"))
    clock.now = 15.0
    breaker.before_call()
    breaker.record_failure(TransientError("still down"))
    assert breaker.state is BreakerState.OPEN
    clock.now = 24.0
    assert breaker.state is BreakerState.OPEN
    clock.now = 25.0
    assert breaker.state is BreakerState.HALF_OPEN


def test_non_outage_errors_reset_the_failure_count() -> None:
    breaker = CircuitBreaker(failure_threshold=2, clock=FakeClock())
    breaker.record_failure(TransientError("x"))
    breaker.record_failure(ProviderError("unknown symbol"))
    breaker.record_failure(TransientError("x"))
    assert breaker.state is BreakerState.CLOSED


def test_release_returns_a_probe_slot() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, recovery_s=1.0, clock=clock)
    breaker.record_failure(TransientError("x"))
    clock.now = 1.0
    breaker.before_call()
    breaker.release()
    breaker.before_call()  # the slot is free again


def test_breaker_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(failure_threshold=0)


def test_registry_shares_one_limiter_per_provider_and_loop() -> None:
    registry = RateLimiterRegistry()

    async def main() -> None:
        assert registry.get("alpaca", 5.0) is registry.get("alpaca", 5.0)
        assert registry.get("alpaca", 5.0) is not registry.get("files", 5.0)
        await registry.acquire("alpaca", 5.0)
        await registry.acquire("alpaca", 5.0)

    asyncio.run(main())
    asyncio.run(main())  # a new loop gets a new limiter, no cross-loop reuse warning
    assert registry.acquired == {"alpaca": 4}


def test_registry_rejects_a_bad_rate() -> None:
    async def main() -> None:
        RateLimiterRegistry().get("p", 0.0)

    with pytest.raises(ValueError, match="requests_per_second"):
        asyncio.run(main())


@pytest.mark.slow
def test_limiter_spaces_requests_beyond_the_burst_real_time() -> None:
    # Real time, bounded: 20 req/s allows a burst of 20, the next 4 wait ~50 ms each (~0.2 s).
    registry = RateLimiterRegistry()

    async def main() -> float:
        t0 = time.perf_counter()
        await asyncio.gather(*(registry.acquire("p", 20.0) for _ in range(24)))
        return time.perf_counter() - t0

    elapsed = asyncio.run(main())
    assert 0.15 <= elapsed < 1.0
