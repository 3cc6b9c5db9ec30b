"""The async fetch pipeline: many symbols from one provider, concurrently and resiliently.

:class:`AsyncDataPipeline` wraps a :class:`~greekfire.data.port.MarketDataProvider` (or a
history store in front of it) and fetches one request per symbol with

- at most ``max_concurrent_requests`` requests in flight (an ``asyncio.Semaphore``);
- a client-side rate limit shared by every pipeline calling the same provider name
  (:class:`~greekfire.data.resilience.RateLimiterRegistry`, ``aiolimiter`` underneath);
- a per-request timeout (``asyncio.timeout``; a timeout is a retryable ``TimeoutError``);
- retries with exponential backoff and full jitter on ``TransientError``, ``RateLimited``
  (honouring ``retry_after_s``), ``TimeoutError`` and ``ConnectionError``
  (:class:`~greekfire.data.resilience.RetryPolicy`);
- a per-provider :class:`~greekfire.data.resilience.CircuitBreaker`;
- per-symbol results: every symbol ends in :attr:`FetchResult.data` or in
  :attr:`FetchResult.failures` with the reason. One bad symbol never sinks the batch; only
  cancellation (and ``BaseException``) propagates.

Metrics (when a :class:`~greekfire.perf.monitor.PerformanceMonitor` is given): one
``record_api_request(provider, endpoint, error=...)`` per attempt that reached the provider
(errors labelled by class), one ``record_data_fetch(provider, duration)`` per symbol (latency
histogram, retries and backoff included). The monitor has no retry or byte counters, so
retries and bytes are reported in :class:`FetchResult` (``retries``, ``nbytes``).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import pandas as pd

from greekfire.data.port import ChainFilter, MarketDataProvider, to_utc
from greekfire.data.resilience import (
    DEFAULT_LIMITERS,
    CircuitBreaker,
    CircuitOpen,
    RateLimiterRegistry,
    RetryPolicy,
    is_retryable,
)
from greekfire.domain.market import BAR_COLUMNS, CHAIN_COLUMNS, Timeframe
from greekfire.errors import DataQualityError, GreekfireError, ProviderError
from greekfire.perf.monitor import PerformanceMonitor

__all__ = [
    "AsyncDataPipeline",
    "FetchFailedError",
    "FetchFailure",
    "FetchResult",
    "HistoryStore",
]

_Call = Callable[[str], Awaitable[object]]
_Check = Callable[[str, object], pd.DataFrame]


class HistoryStore(Protocol):
    """What the pipeline needs from the local history store (``greekfire.data.history``)."""

    async def fetch(
        self,
        provider: MarketDataProvider,
        symbol: str,
        start: datetime,
        end: datetime,
        timeframe: Timeframe,
    ) -> pd.DataFrame:
        """Bars of ``symbol`` in ``[start, end)``, from the store, asking ``provider`` for gaps."""
        ...


@dataclass(frozen=True, slots=True)
class FetchFailure:
    """Why one symbol has no data.

    Attributes
    ----------
    error_type : str
        Class name of the final exception (``"ProviderError"``, ``"TimeoutError"``, ...).
    message : str
    attempts : int
        Attempts made (0 when the circuit breaker rejected the first one).
    retryable : bool
        Whether trying again later may help (transient errors, timeouts, an open circuit).
    """

    error_type: str
    message: str
    attempts: int
    retryable: bool


class FetchFailedError(GreekfireError):
    """Raised by :meth:`FetchResult.raise_for_failures`; ``failures`` maps symbol to reason."""

    def __init__(self, failures: dict[str, FetchFailure]) -> None:
        shown = ", ".join(
            f"{k}: {v.error_type}: {v.message}" for k, v in list(failures.items())[:5]
        )
        more = f" (+{len(failures) - 5} more)" if len(failures) > 5 else ""
        super().__init__(f"{len(failures)} symbol(s) failed: {shown}{more}")
        self.failures = failures


@dataclass(slots=True)
class FetchResult:
    """The per-symbol answer of one pipeline call.

    Attributes
    ----------
    provider, endpoint : str
    data : dict of str to DataFrame
        Symbols that succeeded.
    failures : dict of str to FetchFailure
        Symbols that failed, with the reason.
    attempts : dict of str to int
        Attempts per symbol (succeeded or not).
    elapsed_s : float
        Wall time of the whole call (the pipeline's clock).
    nbytes : int
        Deep memory size of the returned frames.
    """

    provider: str
    endpoint: str
    data: dict[str, pd.DataFrame] = field(default_factory=dict)
    failures: dict[str, FetchFailure] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    nbytes: int = 0

    @property
    def ok(self) -> bool:
        """True when no symbol failed."""
        return not self.failures

    @property
    def retries(self) -> int:
        """Attempts beyond the first, summed over symbols."""
        return sum(max(n - 1, 0) for n in self.attempts.values())

    @property
    def requested(self) -> int:
        """Number of distinct symbols asked for."""
        return len(self.data) + len(self.failures)

    def raise_for_failures(self) -> FetchResult:
        """Return ``self`` when every symbol succeeded, else raise :class:`FetchFailedError`."""
        if self.failures:
            raise FetchFailedError(dict(self.failures))
        return self


def _unique(symbols: Iterable[str]) -> list[str]:
    if isinstance(symbols, str):
        raise TypeError(f"symbols: expected a sequence of symbols, got the string {symbols!r}")
    out = list(dict.fromkeys(symbols))
    for sym in out:
        if not isinstance(sym, str) or not sym.strip():
            raise ValueError(f"symbols: expected non-empty strings, got {sym!r}")
    return out


def _frame_with(columns: Sequence[str], what: str) -> _Check:
    def check(symbol: str, value: object) -> pd.DataFrame:
        if not isinstance(value, pd.DataFrame):
            raise DataQualityError(f"{symbol}: {what} is {type(value).__name__}, not a DataFrame")
        missing = [c for c in columns if c not in value.columns]
        if missing:
            raise DataQualityError(f"{symbol}: {what} lacks columns {missing}")
        return value

    return check


def _quote_row(symbol: str, value: object) -> pd.DataFrame:
    if not isinstance(value, pd.DataFrame):
        raise DataQualityError(f"{symbol}: quotes are {type(value).__name__}, not a DataFrame")
    if symbol not in value.index:
        raise ProviderError(f"{symbol}: the provider returned no quote")
    return value.loc[[symbol]]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AsyncDataPipeline:
    """Fetch bars, quotes or option chains for many symbols concurrently.

    Parameters
    ----------
    provider : MarketDataProvider
        The source; its ``name`` labels metrics, the breaker and the shared rate limiter.
    max_concurrent_requests : int, default 10
        Requests in flight at once (per pipeline and event loop).
    requests_per_second : float, optional
        Client-side rate limit shared by every pipeline on the same ``limiters`` registry and
        provider name; ``None`` for no limit.
    timeout_s : float, default 10
        Per-attempt timeout; a timeout is retryable.
    retry : RetryPolicy, optional
        Default ``RetryPolicy()`` (4 attempts, 0.2 s base, 10 s cap, full jitter).
    breaker : CircuitBreaker, optional
        Default ``CircuitBreaker(clock=clock, name=provider.name)``.
    monitor : PerformanceMonitor, optional
        Receives the metrics listed in the module docstring.
    store : HistoryStore, optional
        When given, bars come from ``store.fetch(provider, ...)`` instead of the provider.
    limiters : RateLimiterRegistry, optional
        Default: the process-wide ``DEFAULT_LIMITERS``.
    clock : callable, default time.monotonic
        Monotonic seconds for ``elapsed_s`` and durations.
    sleep : callable, default asyncio.sleep
        Backoff sleep; inject a fake one in tests.
    now : callable, default ``datetime.now(UTC)``
        Wall time for :meth:`fetch_multiple_symbols_async`'s default range.

    Examples
    --------
    >>> pipeline = AsyncDataPipeline(provider, max_concurrent_requests=10)  # doctest: +SKIP
    >>> result = await pipeline.fetch_multiple_symbols_async(["SPY", "QQQ"])  # doctest: +SKIP
    >>> result.data["SPY"], result.failures  # doctest: +SKIP
    """

    def __init__(
        self,
        provider: MarketDataProvider,
        *,
        max_concurrent_requests: int = 10,
        requests_per_second: float | None = None,
        timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        monitor: PerformanceMonitor | None = None,
        store: HistoryStore | None = None,
        limiters: RateLimiterRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        if max_concurrent_requests < 1:
            raise ValueError(f"max_concurrent_requests must be >= 1, got {max_concurrent_requests}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
        if requests_per_second is not None and not requests_per_second > 0:
            raise ValueError(f"requests_per_second must be > 0 or None, got {requests_per_second}")
        self.provider = provider
        self.name = str(provider.name)
        self.max_concurrent_requests = max_concurrent_requests
        self.requests_per_second = requests_per_second
        self.timeout_s = timeout_s
        self.retry = retry if retry is not None else RetryPolicy()
        self.breaker = (
            breaker if breaker is not None else CircuitBreaker(clock=clock, name=self.name)
        )
        self.monitor = monitor
        self.store = store
        self.limiters = limiters if limiters is not None else DEFAULT_LIMITERS
        self._clock = clock
        self._sleep = sleep
        self._now = now
        # A Semaphore binds to the loop it first waits on: keep one per running loop.
        self._semaphores: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Semaphore
        ] = weakref.WeakKeyDictionary()

    # -- public API --------------------------------------------------------------------------

    async def fetch_bars(
        self,
        symbols: Iterable[str],
        start: datetime,
        end: datetime,
        timeframe: Timeframe | str = Timeframe.D1,
    ) -> FetchResult:
        """Bars of each symbol in ``[start, end)``; see the module docstring for the policy.

        Raises
        ------
        TypeError, ValueError
            Naive datetimes, ``start > end``, unknown timeframe, empty symbols.
        """
        if to_utc(start, "start") > to_utc(end, "end"):
            raise ValueError(f"start {start} is after end {end}; the range is [start, end)")
        tf = Timeframe.parse(timeframe)
        store = self.store

        def call(symbol: str) -> Awaitable[object]:
            if store is not None:
                return store.fetch(self.provider, symbol, start, end, tf)
            return self.provider.bars(symbol, start, end, tf)

        return await self._run(_unique(symbols), "bars", call, _frame_with(BAR_COLUMNS, "bars"))

    async def fetch_quotes(self, symbols: Iterable[str]) -> FetchResult:
        """The latest quote of each symbol (one request per symbol, one-row frame each)."""
        return await self._run(
            _unique(symbols), "quotes", lambda s: self.provider.latest_quotes([s]), _quote_row
        )

    async def fetch_chains(
        self, underlyings: Iterable[str], chain_filter: ChainFilter | None = None
    ) -> FetchResult:
        """The option chain of each underlying, restricted by ``chain_filter``."""
        return await self._run(
            _unique(underlyings),
            "option_chain",
            lambda u: self.provider.option_chain(u, chain_filter),
            _frame_with(CHAIN_COLUMNS, "option chain"),
        )

    async def fetch_multiple_symbols_async(
        self,
        symbols: Iterable[str],
        *,
        lookback: timedelta = timedelta(days=30),
        timeframe: Timeframe | str = Timeframe.D1,
    ) -> FetchResult:
        """The brief's entry point: bars of each symbol over the last ``lookback``
        (``[now - lookback, now)``)."""
        end = self._now()
        return await self.fetch_bars(symbols, end - lookback, end, timeframe)

    def fetch_bars_sync(
        self,
        symbols: Iterable[str],
        start: datetime,
        end: datetime,
        timeframe: Timeframe | str = Timeframe.D1,
    ) -> FetchResult:
        """:meth:`fetch_bars` for synchronous callers (runs its own event loop).

        Raises
        ------
        RuntimeError
            Called from inside a running event loop: ``await fetch_bars(...)`` there instead.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.fetch_bars(symbols, start, end, timeframe))
        raise RuntimeError(
            "fetch_bars_sync() was called inside a running event loop; "
            "use 'await pipeline.fetch_bars(...)' instead"
        )

    # -- machinery ---------------------------------------------------------------------------

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        sem = self._semaphores.get(loop)
        if sem is None:
            sem = self._semaphores[loop] = asyncio.Semaphore(self.max_concurrent_requests)
        return sem

    async def _run(self, keys: list[str], endpoint: str, call: _Call, check: _Check) -> FetchResult:
        result = FetchResult(provider=self.name, endpoint=endpoint)
        started = self._clock()
        # TaskGroup: a cancelled caller cancels every request; per-symbol errors never escape.
        async with asyncio.TaskGroup() as group:
            for key in keys:
                group.create_task(self._fetch_one(key, endpoint, call, check, result))
        result.data = {k: result.data[k] for k in keys if k in result.data}
        result.failures = {k: result.failures[k] for k in keys if k in result.failures}
        result.elapsed_s = self._clock() - started
        return result

    async def _fetch_one(
        self, key: str, endpoint: str, call: _Call, check: _Check, result: FetchResult
    ) -> None:
        started = self._clock()
        attempts = 0
        while True:
            attempts += 1
            try:
                frame = await self._attempt(key, endpoint, call, check)
            # The per-symbol boundary: any provider exception becomes this symbol's failure.
            except Exception as exc:
                if self.retry.should_retry(exc, attempts):
                    await self._sleep(self.retry.delay_s(attempts, exc))
                    continue
                if isinstance(exc, CircuitOpen):
                    attempts -= 1  # rejected before the provider was called
                retryable = isinstance(exc, CircuitOpen) or is_retryable(exc)
                result.failures[key] = FetchFailure(
                    type(exc).__name__, str(exc), attempts, retryable
                )
                break
            result.data[key] = frame
            result.nbytes += int(frame.memory_usage(deep=True).sum())
            break
        result.attempts[key] = attempts
        if self.monitor is not None:
            self.monitor.record_data_fetch(self.name, self._clock() - started)

    async def _attempt(self, key: str, endpoint: str, call: _Call, check: _Check) -> pd.DataFrame:
        async with self._semaphore():
            self.breaker.before_call()
            try:
                if self.requests_per_second is not None:
                    await self.limiters.acquire(self.name, self.requests_per_second)
                raw = await self._call_with_timeout(key, endpoint, call)
                frame = check(key, raw)
            except asyncio.CancelledError:
                self.breaker.release()
                raise
            except Exception as exc:
                self._record(endpoint, exc)
                raise
            self._record(endpoint, None)
            return frame

    async def _call_with_timeout(self, key: str, endpoint: str, call: _Call) -> object:
        try:
            async with asyncio.timeout(self.timeout_s):
                return await call(key)
        except TimeoutError as exc:
            if str(exc):
                raise
            # asyncio's own timeout carries no message: say what timed out.
            raise TimeoutError(f"{endpoint} {key}: no answer within {self.timeout_s}s") from exc

    def _record(self, endpoint: str, error: Exception | None) -> None:
        self.breaker.record(error)
        if self.monitor is not None:
            self.monitor.record_api_request(self.name, endpoint, error=error)
