"""The fetch pipeline + AlpacaProvider against ``serve-market`` on loopback, one fault at a time.

Market-data acceptance 1: with each fault injected, every symbol ends as data (equal to the
synthetic market's own bars) or as a reported failure with its reason; retries are bounded;
Retry-After is honoured (measured); the circuit breaker opens and recovers. Acceptance 3: the
history store asks the server only for what it lacks (counted at the server).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pandas as pd
import pytest

from greekfire.data.alpaca import AlpacaCredentials, AlpacaProvider
from greekfire.data.history import HistoryStore
from greekfire.data.pipeline import AsyncDataPipeline, FetchResult
from greekfire.data.resilience import BreakerState, CircuitBreaker, RetryPolicy
from greekfire.exchange.config import ExchangeConfig
from greekfire.exchange.faults import FaultConfig
from greekfire.exchange.server import ServerThread, serve_in_thread
from greekfire.sim.market import SyntheticMarket

pytestmark = pytest.mark.integration

SYMBOLS = ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH")
START = datetime(2023, 1, 1, tzinfo=UTC)
END = datetime(2024, 1, 1, tzinfo=UTC)
CONFIG = ExchangeConfig(
    symbols=SYMBOLS,
    seed=11,
    start=datetime(2024, 3, 5, 15, 0, tzinfo=UTC),
    speed=0.0,
    key_id="kid",
    secret_key="secret",
)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with serve_in_thread(CONFIG) as running:
        yield running


@pytest.fixture(scope="module")
def expected(server: ServerThread) -> dict[str, pd.DataFrame]:
    market = SyntheticMarket(list(SYMBOLS), seed=CONFIG.seed)
    # The synthetic market's own daily bars over [START, END): what every fetch must return.
    frames = market.bars(list(SYMBOLS), START.date(), END.date(), "1d")
    return {s: f.loc[(f.index >= START) & (f.index < END)] for s, f in frames.items()}


def set_faults(server: ServerThread, **faults: object) -> None:
    body = FaultConfig(**faults).to_dict()  # type: ignore[arg-type]
    response = httpx.post(f"{server.base_url}/_greekfire/faults", json=body, headers=server.headers)
    response.raise_for_status()
    httpx.post(f"{server.base_url}/_greekfire/reset-stats", headers=server.headers)


def stats(server: ServerThread) -> dict:
    response = httpx.get(f"{server.base_url}/_greekfire/stats", headers=server.headers)
    response.raise_for_status()
    return response.json()


def provider(server: ServerThread, **kwargs: object) -> AlpacaProvider:
    return AlpacaProvider(
        AlpacaCredentials("kid", "secret"),
        data_url=server.base_url,
        trading_url=server.base_url,
        timeout_s=float(kwargs.pop("timeout_s", 10.0)),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


async def fetch(
    server: ServerThread,
    *,
    symbols: tuple[str, ...] = SYMBOLS,
    per_request: int = 2,
    **pipeline_kwargs: object,
) -> FetchResult:
    async with provider(server, max_symbols_per_request=per_request) as p:
        pipeline_kwargs.setdefault(
            "retry", RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=2.0)
        )
        pipe = AsyncDataPipeline(p, **pipeline_kwargs)  # type: ignore[arg-type]
        return await pipe.fetch_bars(list(symbols), START, END, "1d")


def check_outcomes(result: FetchResult, expected: dict[str, pd.DataFrame]) -> None:
    assert set(result.data) | set(result.failures) == set(SYMBOLS)
    assert not set(result.data) & set(result.failures)
    for symbol, frame in result.data.items():
        want = expected[symbol]
        pd.testing.assert_frame_equal(
            frame[["open", "high", "low", "close", "volume"]],
            want[["open", "high", "low", "close", "volume"]],
            check_freq=False,
        )
    for failure in result.failures.values():
        assert failure.error_type
        assert failure.message
        assert 0 <= failure.attempts <= 4


def test_no_faults_every_symbol_equals_the_synthetic_market(
    server: ServerThread, expected: dict[str, pd.DataFrame]
) -> None:
    set_faults(server)
    result = asyncio.run(fetch(server))
    assert result.ok
    check_outcomes(result, expected)
    # Grouped: 8 symbols in 4 requests of 2 (max_symbols_per_request=2).
    requests = stats(server)["bars_requests"]
    assert len(requests) == 4


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [
        ({"error_rate": 0.5}, "ServerError"),
        ({"malformed_rate": 0.5}, "CorruptResponse"),
        ({"truncate_rate": 0.5}, "ConnectionLost"),
        ({"drop_rate": 0.5}, "ConnectionLost"),
    ],
)
def test_each_fault_ends_as_data_or_a_reported_failure(
    server: ServerThread,
    expected: dict[str, pd.DataFrame],
    fault: dict[str, float],
    error_type: str,
) -> None:
    set_faults(server, seed=5, **fault)
    result = asyncio.run(
        fetch(server, per_request=1, breaker=CircuitBreaker(failure_threshold=1000))
    )
    check_outcomes(result, expected)
    seen = stats(server)
    assert sum(seen["by_fault"].values()) > 0, "the fault was never injected"
    assert result.retries > 0
    for failure in result.failures.values():
        assert failure.error_type == error_type
        assert failure.attempts == 4
        assert failure.retryable
    # Bounded: at most 4 attempts for each of the 8 requests.
    assert seen["by_path"]["/v2/stocks/bars"] <= 32


def test_every_request_failing_is_reported_per_symbol_after_bounded_retries(
    server: ServerThread, expected: dict[str, pd.DataFrame]
) -> None:
    set_faults(server, error_rate=1.0)
    result = asyncio.run(fetch(server, breaker=CircuitBreaker(failure_threshold=1000)))
    check_outcomes(result, expected)
    assert not result.data
    assert all(
        f.error_type == "ServerError" and "HTTP 5" in f.message for f in result.failures.values()
    )
    assert stats(server)["by_path"]["/v2/stocks/bars"] == 16


def test_a_hang_times_out_and_is_retried(
    server: ServerThread, expected: dict[str, pd.DataFrame]
) -> None:
    set_faults(server, hang_rate=0.3, hang_s=5.0, seed=3)
    result = asyncio.run(
        fetch(server, per_request=1, timeout_s=0.5, breaker=CircuitBreaker(failure_threshold=1000))
    )
    check_outcomes(result, expected)
    assert stats(server)["by_fault"].get("hang", 0) > 0
    assert result.retries > 0
    for failure in result.failures.values():
        assert failure.error_type == "TimeoutError"


def test_a_rejected_symbol_fails_alone(
    server: ServerThread, expected: dict[str, pd.DataFrame]
) -> None:
    set_faults(server, reject_symbols=("CCC",))
    result = asyncio.run(fetch(server))
    check_outcomes(result, expected)
    assert list(result.failures) == ["CCC"]
    failure = result.failures["CCC"]
    assert failure.error_type == "ProviderError"
    assert "CCC" in failure.message
    assert "HTTP 422" in failure.message
    assert failure.attempts == 1  # a 4xx is final
    assert len(result.data) == len(SYMBOLS) - 1


def test_retry_after_is_honoured(server: ServerThread, expected: dict[str, pd.DataFrame]) -> None:
    set_faults(server, rate_limit_rps=2.0, rate_limit_burst=2, retry_after_s=0.6)
    waits: list[tuple[float, float]] = []

    async def timed_sleep(delay_s: float) -> None:
        started = time.monotonic()
        await asyncio.sleep(delay_s)
        waits.append((delay_s, time.monotonic() - started))

    result = asyncio.run(
        fetch(
            server,
            max_concurrent_requests=4,
            sleep=timed_sleep,
            breaker=CircuitBreaker(failure_threshold=1000),
            retry=RetryPolicy(max_attempts=6, base_delay_s=0.001, max_delay_s=5.0),
        )
    )
    check_outcomes(result, expected)
    assert result.ok
    seen = stats(server)
    assert seen["by_status"].get("429", 0) > 0
    # Every backoff after a 429 waited the server's 0.6 s (the policy alone would wait <= 4 ms).
    assert waits
    assert all(asked >= 0.6 for asked, _ in waits)
    assert all(slept >= 0.59 for _, slept in waits)


def test_the_circuit_breaker_opens_and_recovers(
    server: ServerThread, expected: dict[str, pd.DataFrame]
) -> None:
    set_faults(server, fail_first_n=3)
    breaker = CircuitBreaker(failure_threshold=3, recovery_s=0.3, name="alpaca")

    async def two_rounds() -> tuple[FetchResult, BreakerState, FetchResult]:
        async with provider(server, max_symbols_per_request=2) as p:
            pipe = AsyncDataPipeline(
                p, breaker=breaker, max_concurrent_requests=1, retry=RetryPolicy(max_attempts=1)
            )
            first = await pipe.fetch_bars(list(SYMBOLS), START, END, "1d")
            state = breaker.state
            await asyncio.sleep(0.35)  # the breaker's recovery time, on the real clock
            second = await pipe.fetch_bars(list(SYMBOLS), START, END, "1d")
            return first, state, second

    first, state_after_first, second = asyncio.run(two_rounds())
    assert state_after_first is BreakerState.OPEN
    check_outcomes(first, expected)
    kinds = {f.error_type for f in first.failures.values()}
    assert kinds == {"ServerError", "CircuitOpen"}
    # 3 groups failed (503), the 4th was rejected without a request.
    assert stats(server)["by_path"]["/v2/stocks/bars"] == 3 + 4
    assert sum(f.error_type == "CircuitOpen" for f in first.failures.values()) == 2
    # After the recovery time a probe goes through, succeeds, and the breaker closes.
    assert second.ok
    check_outcomes(second, expected)
    assert breaker.state is BreakerState.CLOSED


def test_quotes_and_chains_survive_faults(server: ServerThread) -> None:
    set_faults(server, error_rate=0.3, seed=9)

    async def go() -> tuple[FetchResult, FetchResult]:
        async with provider(server) as p:
            pipe = AsyncDataPipeline(
                p,
                retry=RetryPolicy(max_attempts=6, base_delay_s=0.01),
                breaker=CircuitBreaker(failure_threshold=1000),
            )
            quotes = await pipe.fetch_quotes(list(SYMBOLS))
            chains = await pipe.fetch_chains(["AAA", "BBB"])
            return quotes, chains

    quotes, chains = asyncio.run(go())
    assert set(quotes.data) | set(quotes.failures) == set(SYMBOLS)
    assert len(quotes.data) >= len(SYMBOLS) - 1
    for frame in quotes.data.values():
        row = frame.iloc[0]
        assert 0 < row["bid"] < row["ask"]
    assert set(chains.data) | set(chains.failures) == {"AAA", "BBB"}
    for chain in chains.data.values():
        assert len(chain) > 20
        assert (chain["ask"] >= chain["bid"]).all()
        assert chain["open_interest"].notna().any()


def test_history_store_asks_only_for_missing_ranges(server: ServerThread, tmp_path: Path) -> None:
    set_faults(server)
    store = HistoryStore(tmp_path / "history")
    mid = datetime(2023, 7, 1, tzinfo=UTC)
    late = datetime(2023, 10, 1, tzinfo=UTC)

    async def go(start: datetime, end: datetime) -> FetchResult:
        async with provider(server, max_symbols_per_request=100) as p:
            pipe = AsyncDataPipeline(p, store=store)
            return await pipe.fetch_bars(list(SYMBOLS), start, end, "1d")

    def logged() -> list[dict]:
        return stats(server)["bars_requests"]

    first = asyncio.run(go(START, mid))
    assert first.ok
    assert len(logged()) == 1  # all 8 symbols lack the same range: one batched request
    assert set(logged()[0]["symbols"]) == set(SYMBOLS)

    httpx.post(f"{server.base_url}/_greekfire/reset-stats", headers=server.headers)
    second = asyncio.run(go(START, late))
    assert second.ok
    log = logged()
    assert len(log) == 1
    # Only the missing quarter was asked for.
    assert pd.Timestamp(log[0]["start"]) >= pd.Timestamp(mid) - pd.Timedelta(days=1)
    assert len(second.data["AAA"]) > len(first.data["AAA"])

    httpx.post(f"{server.base_url}/_greekfire/reset-stats", headers=server.headers)
    third = asyncio.run(go(datetime(2023, 3, 1, tzinfo=UTC), datetime(2023, 9, 1, tzinfo=UTC)))
    assert third.ok
    assert logged() == []  # everything was on disk
    pd.testing.assert_frame_equal(
        third.data["BBB"], second.data["BBB"].loc["2023-03-01":"2023-08-31"], check_freq=False
    )

    # A symbol added later is fetched alone; the others stay on disk.
    httpx.post(f"{server.base_url}/_greekfire/reset-stats", headers=server.headers)

    async def with_new() -> FetchResult:
        async with provider(server) as p:
            pipe = AsyncDataPipeline(p, store=store)
            return await pipe.fetch_bars(["AAA", "ZZZ"], START, mid, "1d")

    fourth = asyncio.run(with_new())
    assert [r["symbols"] for r in logged()] == [["ZZZ"]]
    assert fourth.data["ZZZ"].empty  # not in the exchange's universe: no bars
    assert not fourth.data["AAA"].empty


def test_the_sync_wrapper_reuses_one_provider_across_calls(
    server: ServerThread, expected: dict[str, pd.DataFrame]
) -> None:
    # Each fetch_bars_sync runs its own event loop; the provider's keep-alive connections
    # belong to the loop that opened them and are released before it ends (the second call
    # failed with RuntimeError before, and left sockets open).
    set_faults(server)
    p = provider(server)
    pipe = AsyncDataPipeline(p)
    for _ in range(3):
        result = pipe.fetch_bars_sync(list(SYMBOLS), START, END, "1d")
        assert result.ok, result.failures
        check_outcomes(result, expected)
    asyncio.run(p.aclose())
