"""SmartCache and @cached: TTL on an injected clock, LRU, bounds, invalidation, stats,
single-flight (threads and asyncio), errors, and the L2 protocol against an in-memory fake."""

from __future__ import annotations

import asyncio
import math
import sys
import threading
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from greekfire.perf.cache import (
    CacheStats,
    EvictionReason,
    L2Entry,
    SmartCache,
    cached,
    estimate_bytes,
    live_caches,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def wait_until(predicate: Callable[[], bool], rounds: int = 20_000) -> bool:
    """Bounded wait for another thread to reach a state (synchronisation, not timing)."""
    gate = threading.Event()
    for _ in range(rounds):
        if predicate():
            return True
        gate.wait(0.0005)
    return predicate()


# -- TTL, LRU, bounds -------------------------------------------------------------------


def test_ttl_per_cache_expires_on_the_injected_clock(clock: FakeClock) -> None:
    cache = SmartCache(ttl=10, clock=clock)
    cache.set("a", 1)
    clock.advance(9.999)
    assert cache.get("a") == 1
    clock.advance(0.001)
    assert cache.get("a") is None
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.evictions_ttl, stats.entries) == (1, 1, 1, 0)


def test_ttl_per_entry_overrides_the_default(clock: FakeClock) -> None:
    cache = SmartCache(ttl=10, clock=clock)
    cache.set("short", 1, ttl=2)
    cache.set("long", 2, ttl=100)
    cache.set("forever", 3, ttl=math.inf)
    cache.set("default", 4)
    clock.advance(5)
    assert cache.get("short") is None
    assert cache.get("default") == 4
    clock.advance(50)
    assert cache.get("default") is None
    assert cache.get("long") == 2
    clock.advance(10_000)
    assert cache.get("long") is None
    assert cache.get("forever") == 3


def test_no_ttl_means_no_expiry(clock: FakeClock) -> None:
    cache = SmartCache(clock=clock)
    cache.set("a", 1)
    clock.advance(1e9)
    assert cache.get("a") == 1


def test_contains_ignores_expired_and_does_not_count(clock: FakeClock) -> None:
    cache = SmartCache(ttl=1, clock=clock)
    cache.set("a", 1)
    assert "a" in cache
    assert cache.contains("a")
    clock.advance(1)
    assert "a" not in cache
    assert cache.stats().hits == cache.stats().misses == 0


def test_lru_order_a_read_refreshes_recency() -> None:
    cache = SmartCache(maxsize=3)
    for key in "abc":
        cache.set(key, key.upper())
    assert cache.get("a") == "A"  # a is now the most recent; b the least
    cache.set("d", "D")
    assert "b" not in cache
    assert all(k in cache for k in "acd")
    cache.set("e", "E")
    assert "c" not in cache
    assert cache.stats().evictions_size == 2


def test_overwrite_does_not_evict_and_refreshes() -> None:
    cache = SmartCache(maxsize=2)
    cache.set("a", 1)
    cache.set("b", 2)
    cache.set("a", 10)
    cache.set("c", 3)
    assert cache.get("a") == 10
    assert "b" not in cache
    assert cache.stats().evictions_size == 1


def test_count_bound_holds(clock: FakeClock) -> None:
    cache = SmartCache(maxsize=5, clock=clock)
    for i in range(100):
        cache.set(i, i)
    assert len(cache) == 5
    assert sorted(k for k in range(100) if k in cache) == [95, 96, 97, 98, 99]
    assert cache.stats().evictions_size == 95


def test_expired_lru_victim_counts_as_ttl_eviction(clock: FakeClock) -> None:
    cache = SmartCache(maxsize=2, clock=clock)
    cache.set("old", 1, ttl=1)
    cache.set("b", 2)
    clock.advance(5)
    cache.set("c", 3)
    stats = cache.stats()
    assert (stats.evictions_ttl, stats.evictions_size) == (1, 0)


def test_memory_bound_counts_numpy_arrays_by_nbytes(clock: FakeClock) -> None:
    array = np.arange(10_000, dtype=np.float64)  # 80,000 bytes
    per_entry = estimate_bytes(array)
    assert array.nbytes <= per_entry < array.nbytes + 1024
    assert sys.getsizeof(array[::2]) < 1024  # a view's wrapper is tiny...
    assert estimate_bytes(array[::2]) >= 40_000  # ...but it holds 40,000 bytes
    cache = SmartCache(max_bytes=2 * per_entry + 10, clock=clock)
    cache.set("a", array)
    cache.set("b", array.copy())
    assert cache.stats().current_bytes == 2 * per_entry
    cache.set("c", array.copy())
    stats = cache.stats()
    assert "a" not in cache
    assert (stats.entries, stats.evictions_memory, stats.current_bytes) == (2, 1, 2 * per_entry)


def test_memory_bound_counts_dataframes_deep(clock: FakeClock) -> None:
    symbols = pd.Series([f"SYMBOL-{i:04d}" for i in range(1000)], dtype=object)
    frame = pd.DataFrame({"px": np.ones(1000), "sym": symbols})
    deep = int(frame.memory_usage(index=True, deep=True).sum())
    shallow = int(frame.memory_usage(index=True, deep=False).sum())
    assert estimate_bytes(frame) == deep
    assert deep > shallow + 1000 * 40  # the str objects behind the pointers are counted
    series = frame["sym"]
    assert estimate_bytes(series) == int(series.memory_usage(index=True, deep=True))
    cache = SmartCache(max_bytes=deep + deep // 2, clock=clock)
    cache.set("f1", frame)
    assert cache.stats().current_bytes == deep
    cache.set("f2", frame.copy())
    assert "f1" not in cache
    assert cache.stats().evictions_memory == 1


def test_value_larger_than_the_budget_is_not_stored() -> None:
    cache = SmartCache(max_bytes=1000)
    cache.set("small", b"x" * 10)
    cache.set("big", np.zeros(1000))
    assert "big" not in cache
    assert "small" in cache
    assert cache.stats().evictions_memory == 1


def test_delete_and_overwrite_keep_the_byte_count_exact() -> None:
    cache = SmartCache(max_bytes=10**9)
    cache.set("a", np.zeros(100))
    cache.set("a", np.zeros(200))
    assert cache.stats().current_bytes == estimate_bytes(np.zeros(200))
    cache.delete("a")
    assert cache.stats().current_bytes == 0


def test_estimate_bytes_of_builtins_and_containers() -> None:
    text = "x" * 10_000
    assert estimate_bytes(text) == sys.getsizeof(text)
    assert estimate_bytes(b"y" * 5000) == sys.getsizeof(b"y" * 5000)
    strings = [
        f"{i:05d}" * (1 + i // 50) for i in range(1000)
    ]  # growing: a prefix sample would miss
    estimate = estimate_bytes(strings)
    exact = sys.getsizeof(strings) + sum(sys.getsizeof(s) for s in strings)
    assert 0.8 * exact < estimate < 1.2 * exact  # extrapolated from a sample
    nested = {"a": [np.zeros(1000)], "b": (1, 2.0)}
    assert estimate_bytes(nested) > 8000


def test_custom_sizeof_is_used() -> None:
    cache = SmartCache(max_bytes=10, sizeof=lambda value: 4)
    for key in range(3):
        cache.set(key, object())
    assert cache.stats().current_bytes == 8
    assert cache.stats().evictions_memory == 1


def test_purge_expired(clock: FakeClock) -> None:
    cache = SmartCache(ttl=5, clock=clock)
    cache.set("a", 1)
    cache.set("b", 2, ttl=100)
    clock.advance(10)
    assert cache.purge_expired() == 1
    assert len(cache) == 1
    assert cache.stats().evictions_ttl == 1


# -- invalidation -----------------------------------------------------------------------


def test_invalidate_by_key_tag_and_prefix() -> None:
    cache = SmartCache()
    cache.set("quote:AAPL", 1, tags=("quotes", "AAPL"))
    cache.set("quote:MSFT", 2, tags=("quotes",))
    cache.set("chain:AAPL", 3, tags=("chains", "AAPL"))
    cache.set(("tuple", 1), 4)
    assert cache.invalidate_tag("AAPL") == 2
    assert "quote:AAPL" not in cache
    assert "chain:AAPL" not in cache
    assert "quote:MSFT" in cache
    assert cache.invalidate_tag("AAPL") == 0
    cache.set("quote:AAPL", 5)
    assert cache.invalidate_prefix("quote:") == 2
    assert len(cache) == 1
    assert cache.delete(("tuple", 1)) is True
    assert cache.delete(("tuple", 1)) is False
    assert len(cache) == 0
    assert cache.stats().evictions == 0  # invalidation is not eviction


def test_tag_index_forgets_evicted_entries() -> None:
    cache = SmartCache(maxsize=1)
    cache.set("a", 1, tags=("t",))
    cache.set("b", 2)
    cache.set("a", 3)  # same key again, now untagged
    assert cache.invalidate_tag("t") == 0
    assert cache.get("a") == 3


def test_clear_keeps_stats() -> None:
    cache = SmartCache()
    cache.set("a", 1, tags=("t",))
    cache.get("a")
    cache.clear()
    assert len(cache) == 0
    assert cache.stats().hits == 1
    assert cache.stats().current_bytes == 0
    assert cache.invalidate_tag("t") == 0


# -- stats ------------------------------------------------------------------------------


def test_stats_snapshot(clock: FakeClock) -> None:
    cache = SmartCache(maxsize=2, ttl=10, max_bytes=10**6, name="quotes", clock=clock)
    cache.set("a", 1)
    cache.get("a")
    cache.get("a")
    cache.get("a")
    cache.get("missing")
    stats = cache.stats()
    assert isinstance(stats, CacheStats)
    assert stats.name == "quotes"
    assert (stats.hits, stats.misses) == (3, 1)
    assert stats.hit_rate == pytest.approx(0.75)
    assert stats.current_bytes == estimate_bytes(1)
    assert (stats.max_entries, stats.max_bytes) == (2, 10**6)
    with pytest.raises(AttributeError):
        stats.hits = 0  # type: ignore[misc]
    assert SmartCache().stats().hit_rate == 0.0
    assert [r.value for r in EvictionReason] == ["ttl", "size", "memory"]


def test_live_caches_lists_named_caches() -> None:
    cache = SmartCache(name="registry-probe")
    assert cache in live_caches()
    assert "registry-probe" in repr(cache)


# -- get_or_compute ---------------------------------------------------------------------


def test_get_or_compute(clock: FakeClock) -> None:
    cache = SmartCache(ttl=5, clock=clock)
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return 42

    assert cache.get_or_compute("k", compute, tags=("t",)) == 42
    assert cache.get_or_compute("k", compute) == 42
    assert len(calls) == 1
    clock.advance(5)
    assert cache.get_or_compute("k", compute, tags=("t",)) == 42
    assert len(calls) == 2
    assert cache.invalidate_tag("t") == 1


def test_get_or_compute_recursive_key_raises() -> None:
    cache = SmartCache()

    def compute() -> int:
        return cache.get_or_compute("k", compute)

    with pytest.raises(RuntimeError, match="recursive computation of key 'k'"):
        cache.get_or_compute("k", compute)
    assert cache.get_or_compute("k", lambda: 1) == 1  # the failed flight was cleaned up


def test_aget_or_compute() -> None:
    cache = SmartCache()
    calls: list[int] = []

    async def compute() -> str:
        calls.append(1)
        return "v"

    async def main() -> list[str]:
        return [await cache.aget_or_compute("k", compute) for _ in range(3)]

    assert asyncio.run(main()) == ["v", "v", "v"]
    assert len(calls) == 1


# -- the decorator ----------------------------------------------------------------------


def test_cached_sync_function(clock: FakeClock) -> None:
    calls: list[tuple[Any, ...]] = []

    @cached(ttl=10, clock=clock)
    def price(symbol: str, strike: float = 100.0, *, right: int = 1) -> str:
        calls.append((symbol, strike, right))
        return f"{symbol}-{strike}-{right}"

    assert price("A") == "A-100.0-1"
    assert price("A") == "A-100.0-1"
    assert price("A", 90.0) == "A-90.0-1"
    assert price("A", strike=90.0, right=-1) == price("A", right=-1, strike=90.0)
    assert len(calls) == 3
    assert price.__name__ == "price"
    assert price.cache.stats().hits == 2  # type: ignore[attr-defined]
    clock.advance(10)
    price("A")
    assert len(calls) == 4
    assert price.invalidate("A") is True  # type: ignore[attr-defined]
    assert price.invalidate("A") is False  # type: ignore[attr-defined]
    price("A")
    assert len(calls) == 5


def test_cached_plain_signature_normalises_keywords_and_defaults() -> None:
    calls: list[tuple[float, float]] = []

    @cached
    def strike_grid(spot: float, width: float = 5.0, /) -> tuple[float, float]:
        calls.append((spot, width))
        return (spot - width, spot + width)

    @cached
    def moneyness(spot: float, strike: float = 100.0) -> float:
        calls.append((spot, strike))
        return spot / strike

    assert strike_grid(100.0) == strike_grid(100.0, 5.0) == (95.0, 105.0)
    assert moneyness(110.0) == moneyness(110.0, 100.0) == moneyness(strike=100.0, spot=110.0)
    assert calls == [(100.0, 5.0), (110.0, 100.0)]
    assert moneyness.__wrapped__(1.0, 2.0) == 0.5  # type: ignore[attr-defined]
    assert moneyness.invalidate(spot=110.0) is True  # type: ignore[attr-defined]
    assert strike_grid.invalidate(100.0, 5.0) is True  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="positional-only"):
        strike_grid(spot=1.0)  # type: ignore[call-arg]


def test_cached_generic_signature_keeps_varargs_and_keyword_only() -> None:
    @cached
    def total(*values: float, scale: float = 1.0) -> float:
        return sum(values) * scale

    assert total(1.0, 2.0) == 3.0
    assert total(1.0, 2.0, scale=2.0) == 6.0
    assert total(1.0, 2.0, scale=2.0) == 6.0
    assert total.cache.stats().hits == 1  # type: ignore[attr-defined]
    assert total.invalidate(1.0, 2.0, scale=2.0) is True  # type: ignore[attr-defined]


def test_cached_bare_decorator_and_bounds() -> None:
    calls: list[int] = []

    @cached
    def double(x: int) -> int:
        calls.append(x)
        return 2 * x

    assert [double(1), double(1)] == [2, 2]
    assert calls == [1]
    assert double.cache.maxsize == 1024  # type: ignore[attr-defined]

    @cached(maxsize=2)
    def triple(x: int) -> int:
        return 3 * x

    for x in range(5):
        triple(x)
    assert triple.cache.stats().evictions_size == 3  # type: ignore[attr-defined]


def test_cached_tags_static_and_computed() -> None:
    cache = SmartCache()

    @cached(cache=cache, tags=("quotes",))
    def quote(symbol: str) -> str:
        return symbol.lower()

    @cached(cache=cache, tags=lambda symbol: ("chains", symbol))
    def chain(symbol: str) -> str:
        return symbol * 2

    quote("A"), quote("B"), chain("A"), chain("B")
    assert len(cache) == 4
    assert cache.invalidate_tag("A") == 1
    assert cache.invalidate_tag("quotes") == 2
    assert len(cache) == 1


def test_shared_cache_namespaces_functions_and_keeps_per_entry_ttl(clock: FakeClock) -> None:
    cache = SmartCache(ttl=100, clock=clock)
    calls: list[str] = []

    @cached(cache=cache, ttl=1)
    def f(x: int) -> str:
        calls.append("f")
        return "f"

    @cached(cache=cache)
    def g(x: int) -> str:
        calls.append("g")
        return "g"

    assert (f(1), g(1), f(x=1)) == ("f", "g", "f")  # same args, different functions
    assert len(cache) == 2  # f(1) and f(x=1) are one call
    clock.advance(2)  # f's entry (ttl=1) expired, g's (the cache's 100) did not
    assert (f(1), g(1)) == ("f", "g")
    assert calls == ["f", "g", "f"]
    assert f.invalidate(1) is True  # type: ignore[attr-defined]
    assert g.invalidate(1) is True  # type: ignore[attr-defined]


def test_cached_key_function_builds_str_keys_for_prefix_invalidation() -> None:
    cache = SmartCache()
    calls: list[str] = []

    @cached(cache=cache, key=lambda symbol: f"quote:{symbol}")
    def quote(symbol: str) -> str:
        calls.append(symbol)
        return symbol

    quote("A"), quote("B")
    assert "quote:A" in cache
    assert cache.invalidate_prefix("quote:") == 2
    quote("A")
    assert calls == ["A", "B", "A"]


class Pricer:
    def __init__(self, spot: float) -> None:
        self.spot = spot
        self.calls = 0

    @cached(ttl=60)
    def value(self, strike: float) -> float:
        self.calls += 1
        return self.spot - strike


def test_cached_method_keys_on_the_instance() -> None:
    a, b = Pricer(100.0), Pricer(200.0)
    assert a.value(90.0) == 10.0
    assert b.value(90.0) == 110.0
    assert a.value(90.0) == 10.0
    assert (a.calls, b.calls) == (1, 1)
    assert Pricer.value.invalidate(a, 90.0) is True  # type: ignore[attr-defined]
    a.value(90.0)
    assert a.calls == 2


def test_cached_method_on_unhashable_instance_says_use_key() -> None:
    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

        @cached
        def one(self) -> int:
            return 1

        @cached(key=lambda self: id(self))
        def two(self) -> int:
            return 2

    obj = Unhashable()
    with pytest.raises(TypeError, match=r"hashable key .*key=lambda self"):
        obj.one()
    assert obj.two() == 2


def test_cached_async_function(clock: FakeClock) -> None:
    calls: list[int] = []

    @cached(ttl=5, clock=clock)
    async def fetch(x: int) -> int:
        calls.append(x)
        return x + 1

    async def main() -> list[int]:
        return [await fetch(1), await fetch(1), await fetch(2)]

    assert asyncio.run(main()) == [2, 2, 3]
    assert calls == [1, 2]
    assert asyncio.iscoroutinefunction(fetch)
    clock.advance(5)
    asyncio.run(main())
    assert calls == [1, 2, 1, 2]


def test_cached_async_method() -> None:
    class Client:
        def __init__(self) -> None:
            self.calls = 0

        @cached
        async def get(self, path: str) -> str:
            self.calls += 1
            return path.upper()

    client = Client()

    async def main() -> list[str]:
        return [await client.get("a"), await client.get("a")]

    assert asyncio.run(main()) == ["A", "A"]
    assert client.calls == 1


# -- single-flight ----------------------------------------------------------------------


def test_single_flight_threads_50_callers_compute_once() -> None:
    callers = 50
    calls: list[int] = []

    @cached(ttl=60)
    def slow(x: int) -> int:
        calls.append(x)
        # Hold the computation until every caller has missed and is waiting on it.
        assert wait_until(lambda: slow.cache.stats().misses == callers)  # type: ignore[attr-defined]
        return x * 2

    barrier = threading.Barrier(callers)
    results: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            results.append(slow(21))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert calls == [21]
    assert results == [42] * callers
    assert slow(21) == 42
    assert calls == [21]


def test_single_flight_threads_exception_reaches_all_and_is_not_cached() -> None:
    callers = 20
    calls: list[int] = []
    fail = threading.Event()
    fail.set()
    cache = SmartCache()

    def compute() -> str:
        calls.append(1)
        if fail.is_set():
            assert wait_until(lambda: cache.stats().misses == callers)
            raise KeyError("vendor down")
        return "ok"

    barrier = threading.Barrier(callers)
    outcomes: list[object] = []

    def worker() -> None:
        barrier.wait()
        try:
            outcomes.append(cache.get_or_compute("k", compute))
        except KeyError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(calls) == 1
    assert len(outcomes) == callers
    assert all(isinstance(o, KeyError) and "vendor down" in str(o) for o in outcomes)
    assert "k" not in cache
    fail.clear()
    assert cache.get_or_compute("k", compute) == "ok"
    assert len(calls) == 2


def test_single_flight_asyncio_50_tasks_compute_once() -> None:
    callers = 50
    calls: list[int] = []

    async def main() -> list[int]:
        gate = asyncio.Event()

        @cached(ttl=60)
        async def fetch(x: int) -> int:
            calls.append(x)
            await gate.wait()
            return x * 3

        tasks = [asyncio.create_task(fetch(7)) for _ in range(callers)]
        for _ in range(10_000):  # let every task reach its miss (yields, not sleeps)
            if fetch.cache.stats().misses == callers:  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0)
        assert fetch.cache.stats().misses == callers  # type: ignore[attr-defined]
        gate.set()
        results = list(await asyncio.gather(*tasks))
        assert await fetch(7) == 21
        return results

    assert asyncio.run(main()) == [21] * callers
    assert calls == [7]


def test_single_flight_asyncio_exception_reaches_all_and_is_not_cached() -> None:
    callers = 50
    calls: list[int] = []
    cache = SmartCache()

    async def failing() -> int:
        calls.append(1)
        await asyncio.sleep(0)
        raise ValueError("bad chain")

    async def ok() -> int:
        return 5

    async def main() -> list[BaseException | int]:
        tasks = [asyncio.create_task(cache.aget_or_compute("k", failing)) for _ in range(callers)]
        return list(await asyncio.gather(*tasks, return_exceptions=True))

    outcomes = asyncio.run(main())
    assert len(calls) == 1
    assert all(isinstance(o, ValueError) and str(o) == "bad chain" for o in outcomes)
    assert "k" not in cache
    assert asyncio.run(cache.aget_or_compute("k", ok)) == 5


# -- argument validation ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: SmartCache(maxsize=0), ValueError, r"maxsize must be >= 1, got 0"),
        (lambda: SmartCache(maxsize=2.5), TypeError, r"maxsize must be an int >= 1, got 2.5"),
        (lambda: SmartCache(ttl=-1), ValueError, r"ttl must be a positive .*got -1"),
        (lambda: SmartCache(ttl=0), ValueError, r"ttl must be a positive .*got 0"),
        (lambda: SmartCache(ttl=math.nan), ValueError, r"ttl must be a positive .*got nan"),
        (lambda: SmartCache(ttl="5"), TypeError, r"ttl must be a number of seconds .*got '5'"),
        (lambda: SmartCache(max_bytes=0), ValueError, r"max_bytes must be >= 1, got 0"),
        (lambda: SmartCache(clock=5), TypeError, r"clock must be callable, got 5"),
        (lambda: SmartCache(sizeof="x"), TypeError, r"sizeof must be callable, got 'x'"),
        (lambda: SmartCache(l2_retry_after=-1), ValueError, r"l2_retry_after must be >= 0"),
        (lambda: SmartCache().set("k", 1, ttl=-5), ValueError, r"ttl must be a positive .*-5"),
        (lambda: SmartCache().set("k", 1, tags="ab"), TypeError, r"got the str 'ab'"),
        (lambda: SmartCache().set("k", 1, tags=[1]), TypeError, r"tags must be str, got 1"),
        (lambda: SmartCache().get_or_compute("k", 3), TypeError, r"compute must be callable"),
        (lambda: cached(ttl=-2), ValueError, r"ttl must be a positive .*got -2"),
        (lambda: cached(key=42), TypeError, r"key must be callable, got 42"),
        (lambda: cached(cache={}), TypeError, r"cache must be a SmartCache, got \{\}"),
        (lambda: cached(cache=SmartCache(), maxsize=3), TypeError, r"maxsize configure"),
        (lambda: cached(maxsize=0)(len), ValueError, r"maxsize must be >= 1, got 0"),
    ],
)
def test_bad_arguments_name_the_parameter_and_value(
    make: Callable[[], object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        make()


def test_unhashable_key_in_smartcache_raises_type_error() -> None:
    with pytest.raises(TypeError):
        SmartCache().set(["list"], 1)  # type: ignore[arg-type]


# -- the second level (an in-memory fake; Redis itself is in tests/integration) ----------


class FakeL2:
    def __init__(self) -> None:
        self.store: dict[Hashable, tuple[Any, float | None, frozenset[str]]] = {}
        self.down = False
        self.refuse = False
        self.calls: list[str] = []

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.down:
            raise ConnectionError("connection refused")

    def get(self, key: Hashable) -> L2Entry | None:
        self._call("get")
        if self.refuse:
            raise ValueError("refusing to unpickle")
        item = self.store.get(key)
        return None if item is None else L2Entry(*item)

    def set(self, key: Hashable, value: Any, ttl: float | None, tags: frozenset[str]) -> bool:
        self._call("set")
        if isinstance(value, set):
            return False
        self.store[key] = (value, ttl, tags)
        return True

    def delete(self, key: Hashable) -> None:
        self._call("delete")
        self.store.pop(key, None)

    def invalidate_tag(self, tag: str) -> None:
        self._call("invalidate_tag")
        for key in [k for k, v in self.store.items() if tag in v[2]]:
            del self.store[key]

    def invalidate_prefix(self, prefix: str) -> None:
        self._call("invalidate_prefix")
        for key in [k for k in self.store if isinstance(k, str) and k.startswith(prefix)]:
            del self.store[key]

    def clear(self) -> None:
        self._call("clear")
        self.store.clear()


def test_l2_miss_fills_l1_with_the_remaining_l2_lifetime(clock: FakeClock) -> None:
    l2 = FakeL2()
    l2.store["k"] = ("from-l2", 3.0, frozenset({"t"}))
    cache = SmartCache(ttl=60, clock=clock, l2=l2)
    assert cache.get("k") == "from-l2"
    assert cache.get("k") == "from-l2"
    assert l2.calls == ["get"]
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.l2_hits) == (1, 1, 1)
    clock.advance(3)  # L1 expires with L2's remaining 3 s, not the cache's 60 s
    del l2.store["k"]
    assert cache.get("k") is None
    assert cache.stats().l2_misses == 1


def test_l2_receives_writes_and_invalidations(clock: FakeClock) -> None:
    l2 = FakeL2()
    cache = SmartCache(ttl=60, clock=clock, l2=l2)
    cache.set("a", 1, tags=("t",))
    cache.set("p:1", 2, ttl=5)
    assert l2.store["a"] == (1, 60.0, frozenset({"t"}))
    assert l2.store["p:1"][1] == 5.0
    cache.invalidate_tag("t")
    cache.invalidate_prefix("p:")
    assert l2.store == {}
    cache.set("b", 3)
    cache.delete("b")
    cache.set("c", 4)
    cache.clear()
    assert l2.store == {}
    cache.set("unserialisable", {1, 2})
    assert cache.stats().l2_skipped == 1
    assert cache.get("unserialisable") == {1, 2}


def test_l2_down_falls_back_to_l1_and_backs_off(clock: FakeClock) -> None:
    l2 = FakeL2()
    cache = SmartCache(clock=clock, l2=l2, l2_retry_after=10)
    l2.down = True
    cache.set("a", 1)  # L1 stored; the L2 write fails
    assert cache.get("a") == 1
    assert cache.get("b", "default") == "default"
    cache.set("c", 3)
    assert cache.stats().l2_errors == 1
    assert l2.calls == ["set"]  # backing off: no further calls to a dead L2
    clock.advance(10)
    assert cache.get("d") is None
    assert cache.stats().l2_errors == 2
    assert l2.calls == ["set", "get"]
    l2.down = False
    clock.advance(10)
    cache.set("e", 5)
    assert "e" in l2.store
    assert cache.stats().l2_errors == 2


def test_l2_refused_payload_is_a_counted_miss(clock: FakeClock) -> None:
    l2 = FakeL2()
    l2.store["k"] = ("poison", None, frozenset())
    l2.refuse = True
    cache = SmartCache(clock=clock, l2=l2)
    assert cache.get_or_compute("k", lambda: "fresh") == "fresh"
    stats = cache.stats()
    assert (stats.l2_rejected, stats.l2_errors) == (1, 0)
    l2.refuse = False
    assert l2.store["k"][0] == "fresh"  # the computed value replaced it
