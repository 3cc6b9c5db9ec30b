"""AsyncDataPipeline: per-symbol results, retries, Retry-After, breaker, concurrency, metrics.

Fake providers script each symbol's behaviour; a fake clock and a fake sleep (which records the
delay and advances the clock) mean no test waits for a backoff. Only the hang test waits for
real, for its 10 ms timeouts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from greekfire.data.pipeline import AsyncDataPipeline, FetchFailedError, FetchResult
from greekfire.data.port import ChainFilter, empty_bars, empty_chain, empty_quotes
from greekfire.data.resilience import (
    BreakerState,
    CircuitBreaker,
    RateLimiterRegistry,
    RetryPolicy,
)
from greekfire.domain.market import Timeframe
from greekfire.errors import DataQualityError, ProviderError, RateLimited, TransientError
from greekfire.perf.monitor import PerformanceMonitor

START = datetime(2024, 1, 2, tzinfo=UTC)
END = datetime(2024, 1, 10, tzinfo=UTC)


def bars() -> pd.DataFrame:
    index = pd.DatetimeIndex([START], name="timestamp").as_unit("ns")
    return pd.DataFrame(
        {"open": [1.0], "high": [2.0], "low": [0.5], "close": [1.5], "volume": [10.0]},
        index=index,
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay_s: float) -> None:
        self.sleeps.append(delay_s)
        self.now += delay_s


class ScriptedProvider:
    """Each symbol's script: a list of actions consumed one per call; the last one repeats.

    Actions: "ok", "transient", "rate_limited" (retry_after_s=2.5), "provider_error", "hang",
    "bad" (not a DataFrame), "connection".
    """

    name = "scripted"

    def __init__(self, scripts: dict[str, list[str]], *, delay_s: float = 0.0) -> None:
        self.scripts = scripts
        self.quote_requests: list[list[str]] = []
        self.calls: dict[str, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.delay_s = delay_s

    async def _act(self, symbol: str) -> object:
        n = self.calls.get(symbol, 0)
        self.calls[symbol] = n + 1
        script = self.scripts.get(symbol, ["ok"])
        action = script[min(n, len(script) - 1)]
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay_s)  # yield so that concurrent calls overlap
            if action == "hang":
                await asyncio.Event().wait()
            if action == "transient":
                raise TransientError(f"503 for {symbol}")
            if action == "connection":
                raise ConnectionError("reset by peer")
            if action == "rate_limited":
                raise RateLimited("429", retry_after_s=2.5)
            if action == "provider_error":
                raise ProviderError(f"unknown symbol {symbol}")
            if action == "bad":
                return {"not": "a frame"}
            return bars()
        finally:
            self.in_flight -= 1

    async def bars(
        self, symbol: str, start: datetime, end: datetime, timeframe: Timeframe
    ) -> pd.DataFrame:
        return await self._act(symbol)  # type: ignore[return-value]

    async def latest_quotes(self, symbols: Sequence[str]) -> pd.DataFrame:
        for symbol in symbols:  # a vendor refuses the whole request for one bad symbol
            await self._act(symbol)
        self.quote_requests.append(list(symbols))
        frame = empty_quotes()
        n = len(symbols)
        row = pd.DataFrame(
            {"timestamp": [pd.Timestamp(START)] * n, "bid": [1.0] * n, "ask": [1.1] * n}
            | {"bid_size": [1.0] * n, "ask_size": [1.0] * n, "last": [1.05] * n},
            index=pd.Index(list(symbols), name="symbol"),
        )
        return pd.concat([frame, row]) if len(frame) else row

    async def option_chain(
        self, underlying: str, chain_filter: ChainFilter | None = None
    ) -> pd.DataFrame:
        await self._act(underlying)
        return empty_chain()


def make(
    scripts: dict[str, list[str]], clock: FakeClock | None = None, **kwargs: object
) -> tuple[AsyncDataPipeline, ScriptedProvider, FakeClock]:
    clock = clock or FakeClock()
    provider = ScriptedProvider(scripts)
    kwargs.setdefault("retry", RetryPolicy(max_attempts=4, rng=lambda: 0.5))
    pipeline = AsyncDataPipeline(
        provider,
        clock=clock,
        sleep=clock.sleep,
        **kwargs,  # type: ignore[arg-type]
    )
    return pipeline, provider, clock


def run_bars(pipeline: AsyncDataPipeline, symbols: list[str]) -> FetchResult:
    return asyncio.run(pipeline.fetch_bars(symbols, START, END, "1d"))


def test_every_symbol_ends_as_data_or_reported_failure() -> None:
    scripts = {
        "OK": ["ok"],
        "FLAKY": ["transient", "transient", "ok"],
        "DOWN": ["transient"],
        "UNKNOWN": ["provider_error"],
        "BAD": ["bad"],
    }
    pipeline, _, _ = make(scripts, breaker=CircuitBreaker(failure_threshold=100))
    result = run_bars(pipeline, list(scripts))
    assert set(result.data) == {"OK", "FLAKY"}
    assert set(result.failures) == {"DOWN", "UNKNOWN", "BAD"}
    assert result.requested == 5
    assert not result.ok
    assert result.failures["UNKNOWN"].error_type == "ProviderError"
    assert result.failures["BAD"].error_type == "DataQualityError"
    assert result.failures["DOWN"].retryable
    assert not result.failures["UNKNOWN"].retryable
    assert result.attempts["FLAKY"] == 3
    assert result.nbytes > 0


def test_retries_are_bounded_by_max_attempts() -> None:
    pipeline, provider, clock = make({"DOWN": ["transient"]})
    result = run_bars(pipeline, ["DOWN"])
    assert provider.calls["DOWN"] == 4
    assert result.attempts["DOWN"] == 4
    assert result.failures["DOWN"].attempts == 4
    assert result.retries == 3
    assert len(clock.sleeps) == 3


def test_backoff_grows_exponentially_with_jitter() -> None:
    pipeline, _, clock = make(
        {"DOWN": ["connection"]},
        retry=RetryPolicy(max_attempts=4, base_delay_s=1.0, rng=lambda: 0.5),
    )
    run_bars(pipeline, ["DOWN"])
    assert clock.sleeps == [0.5, 1.0, 2.0]


def test_retry_after_is_honoured() -> None:
    pipeline, provider, clock = make({"SPY": ["rate_limited", "ok"]})
    result = run_bars(pipeline, ["SPY"])
    assert result.ok
    assert provider.calls["SPY"] == 2
    assert clock.sleeps[0] >= 2.5


@pytest.mark.parametrize("action", ["provider_error", "bad"])
def test_non_retryable_errors_are_not_retried(action: str) -> None:
    pipeline, provider, clock = make({"X": [action]})
    result = run_bars(pipeline, ["X"])
    assert provider.calls["X"] == 1
    assert result.failures["X"].attempts == 1
    assert clock.sleeps == []


def test_a_hanging_request_times_out_and_is_retried() -> None:
    pipeline, provider, _ = make(
        {"HANG": ["hang"], "OK": ["ok"]}, timeout_s=0.01, retry=RetryPolicy(max_attempts=2)
    )
    result = run_bars(pipeline, ["HANG", "OK"])
    assert provider.calls["HANG"] == 2
    assert result.failures["HANG"].error_type == "TimeoutError"
    assert "0.01" in result.failures["HANG"].message
    assert "OK" in result.data


def test_concurrency_never_exceeds_the_limit() -> None:
    clock = FakeClock()
    provider = ScriptedProvider({}, delay_s=0.001)
    pipeline = AsyncDataPipeline(
        provider, max_concurrent_requests=3, clock=clock, sleep=clock.sleep
    )
    result = run_bars(pipeline, [f"S{i}" for i in range(20)])
    assert result.ok
    assert len(result.data) == 20
    assert provider.max_in_flight == 3


def test_breaker_opens_rejects_half_opens_and_closes() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=2, recovery_s=30.0, clock=clock)
    pipeline, provider, _ = make(
        {"DOWN": ["transient"]},
        clock=clock,
        breaker=breaker,
        max_concurrent_requests=1,
        retry=RetryPolicy(max_attempts=4, rng=lambda: 0.0),
    )
    first = run_bars(pipeline, ["DOWN"])
    assert breaker.state is BreakerState.OPEN
    assert provider.calls["DOWN"] == 2  # the third attempt was rejected by the open breaker
    assert first.failures["DOWN"].error_type == "CircuitOpen"
    assert first.failures["DOWN"].retryable

    rejected = run_bars(pipeline, ["A", "B"])
    assert set(rejected.failures) == {"A", "B"}
    assert all(f.attempts == 0 for f in rejected.failures.values())
    assert "A" not in provider.calls

    clock.now += 30.0
    assert breaker.state is BreakerState.HALF_OPEN
    recovered = run_bars(pipeline, ["A"])
    assert recovered.ok
    assert breaker.state is BreakerState.CLOSED


def test_duplicate_symbols_are_fetched_once_in_order() -> None:
    pipeline, provider, _ = make({})
    result = run_bars(pipeline, ["B", "A", "B"])
    assert list(result.data) == ["B", "A"]
    assert provider.calls == {"B": 1, "A": 1}


def test_raise_for_failures() -> None:
    pipeline, _, _ = make({"X": ["provider_error"]})
    result = run_bars(pipeline, ["OK", "X"])
    with pytest.raises(FetchFailedError, match="X: ProviderError") as info:
        result.raise_for_failures()
    assert set(info.value.failures) == {"X"}
    ok = run_bars(pipeline, ["OK"])
    assert ok.raise_for_failures() is ok


def test_sync_wrapper_runs_outside_a_loop_and_refuses_inside() -> None:
    pipeline, _, _ = make({})
    result = pipeline.fetch_bars_sync(["SPY"], START, END, Timeframe.D1)
    assert list(result.data) == ["SPY"]

    async def inside() -> None:
        with pytest.raises(RuntimeError, match=r"await pipeline\.fetch_bars"):
            pipeline.fetch_bars_sync(["SPY"], START, END)

    asyncio.run(inside())


def test_fetch_multiple_symbols_async_uses_the_recent_range() -> None:
    seen: list[tuple[datetime, datetime]] = []

    class Recording(ScriptedProvider):
        async def bars(
            self, symbol: str, start: datetime, end: datetime, timeframe: Timeframe
        ) -> pd.DataFrame:
            seen.append((start, end))
            return bars()

    clock = FakeClock()
    pipeline = AsyncDataPipeline(Recording({}), clock=clock, sleep=clock.sleep, now=lambda: END)
    result = asyncio.run(pipeline.fetch_multiple_symbols_async(["SPY"], lookback=timedelta(days=5)))
    assert result.ok
    assert seen == [(END - timedelta(days=5), END)]


def test_quotes_and_chains_are_per_symbol() -> None:
    pipeline, _, _ = make({"BAD": ["provider_error"]})
    quotes = asyncio.run(pipeline.fetch_quotes(["SPY", "BAD"]))
    assert list(quotes.data["SPY"].index) == ["SPY"]
    assert set(quotes.failures) == {"BAD"}
    assert quotes.failures["BAD"].error_type == "ProviderError"


def test_quotes_go_in_groups_and_a_bad_symbol_is_isolated() -> None:
    symbols = [f"S{i:03d}" for i in range(250)]
    pipeline, provider, _ = make({"S120": ["provider_error"]})
    quotes = asyncio.run(pipeline.fetch_quotes(symbols, group_size=100))
    assert set(quotes.failures) == {"S120"}
    assert list(quotes.data) == [s for s in symbols if s != "S120"]
    grouped = [r for r in provider.quote_requests if len(r) > 1]
    assert sorted(len(r) for r in grouped) == [50, 100]  # the failed group went one by one
    assert sum(len(r) == 1 for r in provider.quote_requests) == 99


def test_quotes_of_a_group_that_keeps_failing_are_reported_per_symbol() -> None:
    pipeline, _, _ = make({"A": ["transient"]})
    quotes = asyncio.run(pipeline.fetch_quotes(["A", "B"]))
    assert set(quotes.failures) == {"A", "B"}
    assert quotes.failures["B"].retryable
    chains = asyncio.run(pipeline.fetch_chains(["SPY"], ChainFilter()))
    assert chains.ok
    assert chains.endpoint == "option_chain"


def test_store_is_used_instead_of_the_provider() -> None:
    class Store:
        def __init__(self) -> None:
            self.calls: list[tuple[str, str, Timeframe]] = []

        async def fetch(
            self,
            provider: ScriptedProvider,
            symbol: str,
            start: datetime,
            end: datetime,
            timeframe: Timeframe,
        ) -> pd.DataFrame:
            self.calls.append((provider.name, symbol, timeframe))
            return empty_bars()

    store = Store()
    pipeline, provider, _ = make({}, store=store)
    result = run_bars(pipeline, ["SPY"])
    assert result.ok
    assert store.calls == [("scripted", "SPY", Timeframe.D1)]
    assert provider.calls == {}


def test_rate_limiter_is_acquired_for_every_attempt() -> None:
    registry = RateLimiterRegistry()
    pipeline, _, _ = make(
        {"FLAKY": ["transient", "ok"]}, requests_per_second=1000.0, limiters=registry
    )
    run_bars(pipeline, ["FLAKY", "OK"])
    assert registry.acquired == {"scripted": 3}


def test_monitor_counters_move() -> None:
    monitor = PerformanceMonitor()
    pipeline, _, _ = make({"FLAKY": ["transient", "ok"], "X": ["provider_error"]}, monitor=monitor)
    run_bars(pipeline, ["FLAKY", "X", "OK"])
    text = monitor.expose().decode()
    assert 'greekfire_api_requests_total{endpoint="bars",provider="scripted"} 4.0' in text
    assert (
        'greekfire_api_errors_total{endpoint="bars",error_type="TransientError",'
        'provider="scripted"} 1.0'
    ) in text
    assert 'error_type="ProviderError"' in text
    assert 'greekfire_data_fetch_duration_seconds_count{provider="scripted"} 3.0' in text
    # One retry (FLAKY's transient failure); the ProviderError is final.
    assert 'greekfire_api_retries_total{endpoint="bars",provider="scripted"} 1.0' in text


def test_cancellation_propagates() -> None:
    pipeline, provider, _ = make({"HANG": ["hang"]}, timeout_s=60.0)

    async def main() -> None:
        task = asyncio.create_task(pipeline.fetch_bars(["HANG", "OK"], START, END))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert provider.in_flight == 0
    assert pipeline.breaker.state is BreakerState.CLOSED


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((["SPY"], END, START), ValueError),
        (("SPY", START, END), TypeError),
        ((["SPY"], START.replace(tzinfo=None), END), ValueError),
        (([""], START, END), ValueError),
    ],
)
def test_contract_errors_raise_before_any_request(args: tuple[object, ...], error: type) -> None:
    pipeline, provider, _ = make({})
    with pytest.raises(error):
        asyncio.run(pipeline.fetch_bars(*args))  # type: ignore[arg-type]
    assert provider.calls == {}


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="max_concurrent_requests"):
        AsyncDataPipeline(ScriptedProvider({}), max_concurrent_requests=0)
    with pytest.raises(ValueError, match="timeout_s"):
        AsyncDataPipeline(ScriptedProvider({}), timeout_s=0)


def test_data_quality_error_from_provider_is_a_failure() -> None:
    class Dirty(ScriptedProvider):
        async def bars(
            self, symbol: str, start: datetime, end: datetime, timeframe: Timeframe
        ) -> pd.DataFrame:
            raise DataQualityError(f"{symbol}: NaN close")

    clock = FakeClock()
    pipeline = AsyncDataPipeline(Dirty({}), clock=clock, sleep=clock.sleep)
    result = run_bars(pipeline, ["SPY"])
    assert result.failures["SPY"].error_type == "DataQualityError"
    assert not result.failures["SPY"].retryable
