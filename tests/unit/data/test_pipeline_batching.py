"""AsyncDataPipeline with a multi-symbol provider: grouping, splitting, per-symbol outcomes.

A fake ``BatchBarsProvider`` records every request (which symbols it named) and scripts its
answers; a fake clock and sleep keep backoffs instant.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from test_pipeline import FakeClock  # the same fake clock and sleep

from greekfire.data.pipeline import (
    AsyncDataPipeline,
    BatchBarsProvider,
    batch_size,
    estimate_bars,
)
from greekfire.data.resilience import BreakerState, CircuitBreaker, RetryPolicy
from greekfire.domain.market import Timeframe
from greekfire.errors import DataQualityError, ParseError, ProviderError, TransientError

START = datetime(2024, 1, 2, tzinfo=UTC)
END = datetime(2024, 2, 1, tzinfo=UTC)


def frame_for(symbol: str) -> pd.DataFrame:
    index = pd.DatetimeIndex([START], name="timestamp").as_unit("ns")
    price = float(len(symbol))
    return pd.DataFrame(
        {"open": [price], "high": [price], "low": [price], "close": [price], "volume": [1.0]},
        index=index,
    )


class BatchProvider:
    """Answers every symbol with its frame, except: symbols in ``poison`` make a request that
    names them fail with a ProviderError (like Alpaca's 400 "invalid symbol"); symbols in
    ``bad_bars`` get a DataQualityError outcome; ``transient_first`` requests fail with a
    TransientError before the rest succeed; ``missing`` symbols are absent from the answer."""

    name = "batchy"

    def __init__(
        self,
        *,
        max_symbols: int = 100,
        page_limit: int = 10_000,
        poison: Sequence[str] = (),
        bad_bars: Sequence[str] = (),
        missing: Sequence[str] = (),
        transient_first: int = 0,
        always_transient: bool = False,
    ) -> None:
        self.max_symbols_per_request = max_symbols
        self.page_limit = page_limit
        self.poison = set(poison)
        self.bad_bars = set(bad_bars)
        self.missing = set(missing)
        self.transient_left = transient_first
        self.always_transient = always_transient
        self.requests: list[tuple[str, ...]] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def bars_many(
        self, symbols: Sequence[str], start: datetime, end: datetime, timeframe: Timeframe
    ) -> Mapping[str, pd.DataFrame | Exception]:
        self.requests.append(tuple(symbols))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)
            if self.always_transient:
                raise TransientError("HTTP 503")
            if self.transient_left > 0:
                self.transient_left -= 1
                raise TransientError("HTTP 502")
            bad = sorted(self.poison.intersection(symbols))
            if bad:
                raise ProviderError(f"HTTP 400: invalid symbol: {bad[0]}")
            out: dict[str, pd.DataFrame | Exception] = {}
            for s in symbols:
                if s in self.missing:
                    continue
                if s in self.bad_bars:
                    out[s] = DataQualityError(f"{s}: row 3 field 'high': -1.0 is negative")
                else:
                    out[s] = frame_for(s)
            return out
        finally:
            self.in_flight -= 1

    # The single-symbol port method, never used when batching is on.
    async def bars(
        self, symbol: str, start: datetime, end: datetime, timeframe: Timeframe
    ) -> pd.DataFrame:
        raise AssertionError("the pipeline should batch")


def pipeline(provider: BatchProvider, **kwargs: object) -> tuple[AsyncDataPipeline, FakeClock]:
    clock = FakeClock()
    kwargs.setdefault("retry", RetryPolicy(max_attempts=3, base_delay_s=0.1, rng=lambda: 0.5))
    return (
        AsyncDataPipeline(provider, clock=clock, sleep=clock.sleep, **kwargs),  # type: ignore[arg-type]
        clock,
    )


SYMBOLS = [f"S{i:03d}" for i in range(23)]


def test_the_fake_is_a_batch_provider() -> None:
    assert isinstance(BatchProvider(), BatchBarsProvider)


def test_estimate_bars_daily_and_intraday() -> None:
    year = datetime(2025, 1, 1, tzinfo=UTC)
    daily = estimate_bars(START, START + timedelta(days=365), Timeframe.D1)
    assert 252 <= daily <= 263
    minutes = estimate_bars(year, year + timedelta(days=7), Timeframe.M1)
    assert 5 * 390 <= minutes <= 7 * 390
    # A range shorter than a session is bounded by its own length.
    assert estimate_bars(year, year + timedelta(minutes=30), Timeframe.M5) == 7
    assert estimate_bars(year, year, Timeframe.D1) == 1


def test_batch_size_fills_one_page_within_the_symbol_limit() -> None:
    ten_years = START + timedelta(days=3653)
    # ~2,610 bars per symbol: 3 symbols fit Alpaca's 10,000-bar page.
    assert batch_size(BatchProvider(), START, ten_years, Timeframe.D1) == 3
    assert batch_size(BatchProvider(max_symbols=2), START, END, Timeframe.D1) == 2
    assert batch_size(BatchProvider(), START, END, Timeframe.D1) == 100
    # More bars than a page: one symbol per request (the provider paginates).
    assert batch_size(BatchProvider(page_limit=100), START, ten_years, Timeframe.D1) == 1


def test_symbols_are_grouped_and_every_symbol_answered() -> None:
    provider = BatchProvider(max_symbols=5)
    pipe, _ = pipeline(provider)
    result = asyncio.run(pipe.fetch_bars(SYMBOLS, START, END))
    assert [len(r) for r in provider.requests] == [5, 5, 5, 5, 3]
    assert sorted(s for r in provider.requests for s in r) == SYMBOLS
    assert list(result.data) == SYMBOLS
    assert result.ok
    for s in SYMBOLS:
        pd.testing.assert_frame_equal(result.data[s], frame_for(s))
        assert result.attempts[s] == 1


def test_one_poisoned_symbol_is_isolated_and_the_rest_succeed() -> None:
    provider = BatchProvider(max_symbols=5, poison=["S007"])
    pipe, _ = pipeline(provider)
    result = asyncio.run(pipe.fetch_bars(SYMBOLS, START, END))
    assert set(result.failures) == {"S007"}
    failure = result.failures["S007"]
    assert failure.error_type == "ProviderError"
    assert "invalid symbol: S007" in failure.message
    assert not failure.retryable
    assert set(result.data) == set(SYMBOLS) - {"S007"}
    # The failed group (S005..S009) was split into single-symbol requests, nothing else.
    singles = [r for r in provider.requests if len(r) == 1]
    assert sorted(singles) == [(f"S{i:03d}",) for i in range(5, 10)]
    # The failure is final: a ProviderError is not retried.
    assert provider.requests.count(("S007",)) == 1


def test_bad_bars_fail_only_their_symbol_without_a_retry() -> None:
    provider = BatchProvider(max_symbols=50, bad_bars=["S003"], missing=["S004"])
    pipe, _ = pipeline(provider)
    result = asyncio.run(pipe.fetch_bars(SYMBOLS, START, END))
    assert len(provider.requests) == 1
    assert result.failures["S003"].error_type == "DataQualityError"
    assert "field 'high'" in result.failures["S003"].message
    assert result.failures["S004"].error_type == "ProviderError"
    assert "no entry" in result.failures["S004"].message
    assert len(result.data) == len(SYMBOLS) - 2


def test_a_transient_group_failure_is_retried_as_a_group() -> None:
    provider = BatchProvider(max_symbols=50, transient_first=2)
    pipe, clock = pipeline(provider)
    result = asyncio.run(pipe.fetch_bars(SYMBOLS, START, END))
    assert result.ok
    assert [len(r) for r in provider.requests] == [23, 23, 23]
    assert all(result.attempts[s] == 3 for s in SYMBOLS)
    assert clock.sleeps == [pytest.approx(0.05), pytest.approx(0.1)]


def test_exhausted_retries_fail_each_symbol_of_the_group_with_the_reason() -> None:
    provider = BatchProvider(max_symbols=10, always_transient=True)
    pipe, _ = pipeline(provider, breaker=CircuitBreaker(failure_threshold=100))
    result = asyncio.run(pipe.fetch_bars(SYMBOLS, START, END))
    assert not result.data
    assert set(result.failures) == set(SYMBOLS)
    for failure in result.failures.values():
        assert failure.error_type == "TransientError"
        assert failure.attempts == 3
        assert failure.retryable
    # 3 groups x 3 attempts, and no splitting for a transient failure.
    assert len(provider.requests) == 9


def test_an_open_breaker_rejects_groups_without_calling() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=2, recovery_s=30.0, clock=clock, name="b")
    provider = BatchProvider(max_symbols=5, always_transient=True)
    pipe = AsyncDataPipeline(
        provider,
        clock=clock,
        sleep=clock.sleep,
        breaker=breaker,
        max_concurrent_requests=1,
        retry=RetryPolicy(max_attempts=1),
    )
    result = asyncio.run(pipe.fetch_bars(SYMBOLS, START, END))
    assert breaker.state is BreakerState.OPEN
    assert len(provider.requests) == 2
    rejected = [f for f in result.failures.values() if f.error_type == "CircuitOpen"]
    assert len(rejected) == len(SYMBOLS) - 10
    assert all(f.attempts == 0 for f in rejected)


def test_concurrency_bounds_requests_not_symbols() -> None:
    provider = BatchProvider(max_symbols=2)
    pipe, _ = pipeline(provider, max_concurrent_requests=3)
    result = asyncio.run(pipe.fetch_bars(SYMBOLS, START, END))
    assert result.ok
    assert provider.max_in_flight == 3
    assert len(provider.requests) == 12


def test_batch_false_uses_one_request_per_symbol() -> None:
    class Both(BatchProvider):
        async def bars(
            self, symbol: str, start: datetime, end: datetime, timeframe: Timeframe
        ) -> pd.DataFrame:
            self.requests.append((symbol,))
            return frame_for(symbol)

    provider = Both()
    pipe, _ = pipeline(provider, batch=False)
    result = asyncio.run(pipe.fetch_bars(SYMBOLS[:4], START, END))
    assert result.ok
    assert provider.requests == [(s,) for s in SYMBOLS[:4]]


def test_a_parse_error_in_a_group_is_isolated_to_its_symbol() -> None:
    class Garbled(BatchProvider):
        async def bars_many(
            self, symbols: Sequence[str], start: datetime, end: datetime, timeframe: Timeframe
        ) -> Mapping[str, pd.DataFrame | Exception]:
            self.requests.append(tuple(symbols))
            if "S002" in symbols:
                raise ParseError("GET /v2/stocks/bars: symbol 'S002' bar 4 field 'o': 'x'")
            return {s: frame_for(s) for s in symbols}

    provider = Garbled(max_symbols=4)
    pipe, _ = pipeline(provider)
    result = asyncio.run(pipe.fetch_bars(SYMBOLS[:8], START, END))
    assert list(result.failures) == ["S002"]
    assert result.failures["S002"].error_type == "ParseError"
    assert set(result.data) == set(SYMBOLS[:8]) - {"S002"}
