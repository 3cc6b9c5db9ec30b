"""PerformanceOptimizer: routing (bit for bit), timing, memoisation, DataFrames, report, lifetime."""

from __future__ import annotations

import math
import pickle
import struct
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

import greekfire
import greekfire.perf
from greekfire.analytics import american, indicators, options
from greekfire.analytics.optimizer import BUILTIN_CALCULATIONS, PerformanceOptimizer
from greekfire.perf.cache import SmartCache
from greekfire.perf.memory import MemoryOptimizer, optimize_dataframe
from greekfire.perf.parallel import ParallelProcessor

MIB = 1 << 20
PHASE_COUNT = "greekfire_cycle_phase_duration_seconds_count"

SPOTS = np.array([90.0, 100.0, 110.0, np.nan])
TIMES = np.array([0.25, 0.5, 1.0, 1.0])
VOLS = np.array([0.2, 0.25, 0.3, 0.2])
PRICES = np.array([1.5, 5.0, 14.0, 3.0])
CLOSES = pd.Series(
    100.0 + np.cumsum(np.sin(np.arange(60.0))),
    index=pd.date_range("2024-01-02", periods=60, freq="D", tz="UTC"),
    name="close",
)

# operation -> (the direct call, positional args, keyword args)
CASES: dict[str, tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = {
    "black_scholes": (
        options.black_scholes,
        (SPOTS, 100.0, TIMES, VOLS),
        {"rate": 0.03, "dividend_yield": 0.01, "right": "put"},
    ),
    "black76": (options.black76, (SPOTS, 100.0, TIMES, VOLS), {"rate": 0.03}),
    "greeks": (options.greeks, (SPOTS, 100.0, TIMES, VOLS, 0.03), {"theta_unit": "day"}),
    "implied_vol": (options.implied_vol, (PRICES, SPOTS, 100.0, TIMES), {"rate": 0.03}),
    "american": (american.american_price, (SPOTS, 100.0, TIMES, VOLS), {"rate": 0.05}),
    "american_greeks": (
        american.american_greeks,
        (SPOTS, 100.0, TIMES, VOLS),
        {"rate": 0.05, "second_order": False},
    ),
    "technical_indicators": (
        indicators.technical_indicators,
        (CLOSES, ["sma_5", "rsi_14", "macd"]),
        {},
    ),
}


def bits(value: Any) -> Any:
    """A comparable structure holding every bit of a result (NaN == NaN, -0.0 != 0.0)."""
    if isinstance(value, pd.DataFrame):
        columns = [bits(value.iloc[:, i].to_numpy()) for i in range(value.shape[1])]
        index = value.index
        times = index.asi8 if isinstance(index, pd.DatetimeIndex) else index.to_numpy()
        return ("frame", list(value.columns), str(index.dtype), bits(times), columns)
    if isinstance(value, np.ndarray):
        return (value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, dict):
        return {key: bits(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return (type(value).__name__, [bits(item) for item in value])
    if isinstance(value, float):
        return struct.pack("<d", value)
    return value


class SteppingClock:
    """Each call returns the previous value plus ``step``."""

    def __init__(self, step: float) -> None:
        self.step, self.now = step, 0.0

    def __call__(self) -> float:
        value, self.now = self.now, self.now + self.step
        return value


@pytest.fixture
def optimizer() -> Iterator[PerformanceOptimizer]:
    with PerformanceOptimizer(isolated=True) as opt:
        yield opt


def phase_count(opt: PerformanceOptimizer, operation: str, outcome: str = "ok") -> float:
    labels = {"phase": f"calc_{operation}", "outcome": outcome}
    return opt.monitor.registry.get_sample_value(PHASE_COUNT, labels) or 0.0


# -- routing ---------------------------------------------------------------------------------


def test_every_builtin_operation_has_a_case() -> None:
    assert set(CASES) == set(BUILTIN_CALCULATIONS)


@pytest.mark.parametrize("operation", sorted(CASES))
def test_routed_operation_equals_the_direct_call_bit_for_bit(
    optimizer: PerformanceOptimizer, operation: str
) -> None:
    direct, args, kwargs = CASES[operation]
    routed = optimizer.optimize_calculations(operation, *args, **kwargs)
    assert type(routed) is type(direct(*args, **kwargs))
    assert bits(routed) == bits(direct(*args, **kwargs))


@pytest.mark.parametrize("operation", sorted(CASES))
def test_cached_result_equals_the_direct_call_bit_for_bit(
    optimizer: PerformanceOptimizer, operation: str
) -> None:
    direct, args, kwargs = CASES[operation]
    first = optimizer.optimize_calculations(operation, *args, cache=True, **kwargs)
    again = optimizer.optimize_calculations(operation, *args, cache=True, **kwargs)
    assert bits(first) == bits(again) == bits(direct(*args, **kwargs))
    tally = optimizer.report()["calculations"][operation]
    assert (tally["cache_misses"], tally["cache_hits"]) == (1, 1)


def test_the_briefs_call_uses_the_analytics_defaults(optimizer: PerformanceOptimizer) -> None:
    prices = optimizer.optimize_calculations("black_scholes", SPOTS, 100.0, TIMES, VOLS)
    assert bits(prices) == bits(options.vectorized_black_scholes(SPOTS, 100.0, TIMES, VOLS))
    scalar = optimizer.optimize_calculations("black_scholes", 100.0, 100.0, 1.0, 0.2)
    assert isinstance(scalar, float)
    assert scalar == options.black_scholes(100.0, 100.0, 1.0, 0.2, 0.0, 0.0, "call")


def test_unknown_operation_lists_the_valid_ones_with_a_suggestion(
    optimizer: PerformanceOptimizer,
) -> None:
    with pytest.raises(ValueError, match="unknown operation 'black_schole'") as info:
        optimizer.optimize_calculations("black_schole", 100.0, 100.0, 1.0, 0.2)
    message = str(info.value)
    assert "did you mean 'black_scholes'?" in message
    assert all(name in message for name in BUILTIN_CALCULATIONS)
    with pytest.raises(TypeError, match="operation: expected a str"):
        optimizer.optimize_calculations(3, 1.0)  # type: ignore[arg-type]
    assert optimizer.report()["calculations"] == {}


def test_register_calculation_routes_times_and_guards_names(
    optimizer: PerformanceOptimizer,
) -> None:
    def spread(bid: np.ndarray, ask: np.ndarray, *, relative: bool = False) -> np.ndarray:
        return (ask - bid) / ask if relative else ask - bid

    assert optimizer.register_calculation("spread", spread) is spread
    bid, ask = np.array([1.0, 2.0]), np.array([1.5, 2.5])
    out = optimizer.optimize_calculations("spread", bid, ask, relative=True)
    assert bits(out) == bits(spread(bid, ask, relative=True))
    assert "spread" in optimizer.operations
    assert phase_count(optimizer, "spread") == 1.0
    with pytest.raises(ValueError, match="already exists; pass replace=True"):
        optimizer.register_calculation("spread", spread)
    with pytest.raises(ValueError, match="already exists"):
        optimizer.register_calculation("greeks", spread)
    with pytest.raises(TypeError, match="fn: expected a callable"):
        optimizer.register_calculation("bad", 42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-empty"):
        optimizer.register_calculation(" ", spread)


def test_replaced_calculation_never_returns_the_old_routines_cached_results(
    optimizer: PerformanceOptimizer,
) -> None:
    optimizer.register_calculation("f", lambda x: x + 1.0)
    assert optimizer.optimize_calculations("f", 1.0, cache=True) == 2.0
    optimizer.register_calculation("f", lambda x: x * 10.0, replace=True)
    assert optimizer.optimize_calculations("f", 1.0, cache=True) == 10.0
    assert optimizer.report()["calculations"]["f"]["cache_hits"] == 0


def test_registered_calculations_belong_to_one_optimizer() -> None:
    with (
        PerformanceOptimizer(isolated=True) as first,
        PerformanceOptimizer(isolated=True) as second,
    ):
        first.register_calculation("double", lambda x: 2 * x)
        assert first.optimize_calculations("double", 2) == 4
        with pytest.raises(ValueError, match="unknown operation 'double'"):
            second.optimize_calculations("double", 2)


# -- timing ----------------------------------------------------------------------------------


def test_monitor_records_one_phase_per_call_and_failures_as_errors(
    optimizer: PerformanceOptimizer,
) -> None:
    optimizer.optimize_calculations("black_scholes", SPOTS, 100.0, TIMES, VOLS)
    optimizer.optimize_calculations("black_scholes", SPOTS, 100.0, TIMES, VOLS, cache=True)
    optimizer.optimize_calculations("black_scholes", SPOTS, 100.0, TIMES, VOLS, cache=True)
    assert phase_count(optimizer, "black_scholes") == 3.0

    def broken(x: float) -> float:
        raise ArithmeticError(f"cannot {x}")

    optimizer.register_calculation("broken", broken)
    with pytest.raises(ArithmeticError, match="cannot 1"):
        optimizer.optimize_calculations("broken", 1)
    assert phase_count(optimizer, "broken", "error") == 1.0
    assert phase_count(optimizer, "broken", "ok") == 0.0
    tally = optimizer.report()["calculations"]["broken"]
    assert (tally["calls"], tally["errors"]) == (1, 1)


def test_tally_counts_and_times_every_call_on_the_injected_clock() -> None:
    with PerformanceOptimizer(isolated=True, clock=SteppingClock(0.25)) as opt:
        opt.register_calculation("square", lambda x: x * x)
        for x in (1.0, 2.0, 1.0):
            opt.optimize_calculations("square", x, cache=True)
        tally = opt.report()["calculations"]["square"]
    assert tally == {
        "calls": 3,
        "errors": 0,
        "cache_hits": 1,
        "cache_misses": 2,
        "total_s": 0.75,
        "mean_s": 0.25,
    }


# -- memoisation -----------------------------------------------------------------------------


def test_identical_call_hits_and_one_changed_element_misses(
    optimizer: PerformanceOptimizer,
) -> None:
    spots = np.array([95.0, 100.0, 105.0])
    args = (100.0, 0.5, 0.2)
    first = optimizer.optimize_calculations("black_scholes", spots, *args, cache=True)
    assert optimizer.cache.stats().misses == 1
    again = optimizer.optimize_calculations("black_scholes", spots.copy(), *args, cache=True)
    assert optimizer.cache.stats().hits == 1
    assert bits(again) == bits(first)

    changed = spots.copy()
    changed[2] = 105.0 + 1e-12
    optimizer.optimize_calculations("black_scholes", changed, *args, cache=True)
    optimizer.optimize_calculations("black_scholes", spots, *args, right="put", cache=True)
    stats = optimizer.cache.stats()
    assert (stats.hits, stats.misses, stats.entries) == (1, 3, 3)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (np.array([1.0, 2.0]), np.array([1.0, 2.0], dtype=np.float32)),
        (np.array([[1.0, 2.0]]), np.array([1.0, 2.0])),
        (np.array([0.0]), np.array([-0.0])),
        (pd.Series([1.0, 2.0], index=["a", "b"]), pd.Series([1.0, 2.0], index=["a", "c"])),
        (pd.Series([1.0, 2.0], name="x"), pd.Series([1.0, 2.0], name="y")),
        (pd.DataFrame({"a": [1.0]}), pd.DataFrame({"b": [1.0]})),
        (CLOSES, CLOSES.tz_convert("America/New_York")),
        ([1, 2], (1, 2)),
        (1, 1.0),
        ("ab", b"ab"),
        (["a", "bc"], ["ab", "c"]),
        ({"a": 1}, {"a": 2}),
    ],
    ids=lambda value: type(value).__name__,
)
def test_different_arguments_never_share_a_key(
    optimizer: PerformanceOptimizer, first: Any, second: Any
) -> None:
    optimizer.register_calculation("identity", lambda value: value)
    optimizer.optimize_calculations("identity", first, cache=True)
    optimizer.optimize_calculations("identity", second, cache=True)
    assert optimizer.cache.stats().hits == 0


def test_key_follows_values_not_memory_layout(optimizer: PerformanceOptimizer) -> None:
    c_order = np.arange(6.0).reshape(2, 3)
    optimizer.optimize_calculations("black_scholes", c_order + 90.0, 100.0, 1.0, 0.2, cache=True)
    f_order = np.asfortranarray(c_order + 90.0)
    optimizer.optimize_calculations("black_scholes", f_order, 100.0, 1.0, 0.2, cache=True)
    assert optimizer.cache.stats().hits == 1


def test_hits_return_copies_so_callers_cannot_corrupt_the_cache(
    optimizer: PerformanceOptimizer,
) -> None:
    args = (SPOTS, 100.0, TIMES, VOLS)
    first = optimizer.optimize_calculations("greeks", *args, cache=True)
    expected = bits(first)
    first["delta"][:] = 0.0
    first.pop("gamma")
    second = optimizer.optimize_calculations("greeks", *args, cache=True)
    assert bits(second) == expected
    iv = optimizer.optimize_calculations("implied_vol", PRICES, *args[:3], cache=True)
    iv.vol[:] = 0.0
    again = optimizer.optimize_calculations("implied_vol", PRICES, *args[:3], cache=True)
    assert type(again) is options.IVResult
    assert bits(again) == bits(options.implied_vol(PRICES, *args[:3]))


def test_object_arrays_and_arbitrary_objects_are_refused_never_pickled(
    optimizer: PerformanceOptimizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_pickle(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("pickled")

    monkeypatch.setattr(pickle, "dumps", no_pickle)
    monkeypatch.setattr(pickle, "dump", no_pickle)
    optimizer.register_calculation("identity", lambda value: value)
    mixed = np.array([1.0, "x", None], dtype=object)
    with pytest.raises(
        TypeError, match=r"argument 1 is an array of Python objects \(dtype object\)"
    ):
        optimizer.optimize_calculations("identity", mixed, cache=True)
    with pytest.raises(TypeError, match="values is an array of Python objects"):
        optimizer.optimize_calculations("identity", pd.Series([1, "a"], dtype=object), cache=True)

    class Opaque:
        pass

    with pytest.raises(TypeError, match=r"cannot build a cache key from marker \(Opaque\)"):
        optimizer.optimize_calculations("identity", 1.0, marker=Opaque(), cache=True)
    assert optimizer.cache.stats().misses == 0
    # The same arguments run fine without the cache, and cacheable ones never pickle.
    assert optimizer.optimize_calculations("identity", mixed) is mixed
    optimizer.optimize_calculations("technical_indicators", CLOSES, ["sma_5"], cache=True)


def test_cached_entries_are_tagged_by_operation(optimizer: PerformanceOptimizer) -> None:
    optimizer.optimize_calculations("black_scholes", 100.0, 100.0, 1.0, 0.2, cache=True)
    optimizer.optimize_calculations("black76", 100.0, 100.0, 1.0, 0.2, cache=True)
    assert optimizer.cache.invalidate_tag("calc:black_scholes") == 1
    assert len(optimizer.cache) == 1


# -- isolation -------------------------------------------------------------------------------


def test_isolated_optimizers_share_nothing_unless_given_the_same_cache() -> None:
    args = ("black_scholes", 100.0, 100.0, 1.0, 0.2)
    with (
        PerformanceOptimizer(isolated=True) as first,
        PerformanceOptimizer(isolated=True) as second,
    ):
        assert first.cache is not second.cache
        assert first.monitor is not second.monitor
        assert first.memory is not second.memory
        first.optimize_calculations(*args, cache=True)
        second.optimize_calculations(*args, cache=True)
        assert (first.cache.stats().hits, second.cache.stats().hits) == (0, 0)
        assert phase_count(second, "black_scholes") == 1.0

        with PerformanceOptimizer(isolated=True, cache=first.cache) as sharing:
            sharing.optimize_calculations(*args, cache=True)
        assert first.cache.stats().hits == 1


def test_isolated_components_are_wired_to_the_optimizers_cache(
    optimizer: PerformanceOptimizer,
) -> None:
    assert [c.name for c in optimizer.memory.caches] == [optimizer.cache.name]
    assert f'cache="{optimizer.cache.name}"'.encode() in optimizer.monitor.expose()
    assert optimizer.cache is not greekfire.perf.smart_cache


def test_default_optimizer_uses_the_perf_defaults() -> None:
    with PerformanceOptimizer() as opt:
        assert opt.cache is greekfire.perf.smart_cache
        assert opt.monitor is greekfire.perf.performance_monitor
        assert opt.memory is greekfire.perf.memory_optimizer


def test_given_components_are_used_as_given() -> None:
    cache = SmartCache(16, name="mine")
    memory = MemoryOptimizer(gc_threshold_mb=64.0, rss=lambda: 1)
    with PerformanceOptimizer(isolated=True, cache=cache, memory=memory) as opt:
        assert opt.cache is cache
        assert opt.memory is memory
        assert memory.caches == ()
    with pytest.raises(TypeError, match="cache: expected a SmartCache or None, got dict"):
        PerformanceOptimizer(cache={})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="isolated: expected a bool"):
        PerformanceOptimizer(isolated="yes")  # type: ignore[arg-type]


# -- memory ----------------------------------------------------------------------------------


def test_optimize_dataframe_delegates_and_records_bytes_saved(
    optimizer: PerformanceOptimizer,
) -> None:
    n = 1_000
    df = pd.DataFrame(
        {
            "close": np.round(np.linspace(100.0, 200.0, n), 2),
            "volume": np.arange(n, dtype=np.int64),
            "symbol": ["SPY", "QQQ"] * (n // 2),
        }
    )
    frame, report = optimizer.optimize_dataframe(df, decimals={"close": 2})
    expected_frame, expected = optimize_dataframe(df, decimals={"close": 2})
    pd.testing.assert_frame_equal(frame, expected_frame)
    assert report == expected
    assert report.bytes_after < report.bytes_before
    frames = optimizer.report()["memory"]["dataframes"]
    assert frames == {
        "calls": 1,
        "bytes_before": report.bytes_before,
        "bytes_after": report.bytes_after,
        "bytes_saved": report.bytes_before - report.bytes_after,
    }
    with pytest.raises(TypeError, match="expected a pandas DataFrame"):
        optimizer.optimize_dataframe([1, 2])  # type: ignore[arg-type]
    assert optimizer.report()["memory"]["dataframes"]["calls"] == 1


def test_check_memory_runs_one_watchdog_pass() -> None:
    rss = [100 * MIB]
    memory = MemoryOptimizer(gc_threshold_mb=128.0, rss=lambda: rss[0], clock=lambda: 7.0)
    with PerformanceOptimizer(isolated=True, memory=memory) as opt:
        report = opt.check_memory()
        assert (report.rss_before_bytes, report.triggered) == (100 * MIB, False)
        assert memory.last_report is report


# -- report ----------------------------------------------------------------------------------


def test_report_contents(optimizer: PerformanceOptimizer) -> None:
    optimizer.optimize_calculations("black_scholes", 100.0, 100.0, 1.0, 0.2, cache=True)
    optimizer.optimize_calculations("black_scholes", 100.0, 100.0, 1.0, 0.2, cache=True)
    data = optimizer.report()
    assert set(data) == {"cache", "calculations", "memory", "recommendations"}
    assert data["cache"]["name"] == optimizer.cache.name
    assert (data["cache"]["hits"], data["cache"]["misses"], data["cache"]["entries"]) == (1, 1, 1)
    tally = data["calculations"]["black_scholes"]
    assert (tally["calls"], tally["cache_hits"], tally["cache_misses"]) == (2, 1, 1)
    assert tally["mean_s"] == pytest.approx(tally["total_s"] / 2)
    memory = data["memory"]
    assert (memory["rss_bytes"], memory["last_trim"]) == (None, None)
    assert memory["threshold_bytes"] == 2048 * MIB
    assert data["recommendations"] == [
        "memory not measured yet: call check_memory() or start the watchdog"
    ]


def test_recommends_dropping_the_cache_when_inputs_never_repeat(
    optimizer: PerformanceOptimizer,
) -> None:
    optimizer.register_calculation("once", lambda x: x)
    optimizer.register_calculation("often", lambda x: x)
    for i in range(20):
        optimizer.optimize_calculations("once", float(i), cache=True)
        optimizer.optimize_calculations("often", float(i % 2), cache=True)
    advice = optimizer.report()["recommendations"]
    assert any(text.startswith("once: cache hit rate 0% over 20 cached calls") for text in advice)
    assert not any(text.startswith("often:") for text in advice)


def test_recommends_room_when_the_cache_evicts() -> None:
    with PerformanceOptimizer(isolated=True, cache=SmartCache(1, name="tiny")) as opt:
        opt.register_calculation("identity", lambda x: x)
        opt.optimize_calculations("identity", 1.0, cache=True)
        opt.optimize_calculations("identity", 2.0, cache=True)
        advice = opt.report()["recommendations"]
    assert any("cache 'tiny' evicted 1 entries for room" in text for text in advice)


@pytest.mark.parametrize(
    ("rss_mib", "expected"),
    [(50, None), (95, "is near the watchdog threshold"), (150, "is above the watchdog threshold")],
)
def test_recommendation_on_rss_against_the_threshold(rss_mib: int, expected: str | None) -> None:
    memory = MemoryOptimizer(
        gc_threshold_mb=100.0, rss=lambda: rss_mib * MIB, clock=lambda: 5.0, collect=lambda: 0
    )
    with PerformanceOptimizer(isolated=True, memory=memory) as opt:
        opt.check_memory()
        data = opt.report()
    assert data["memory"]["rss_bytes"] == rss_mib * MIB
    assert data["memory"]["measured_at_s"] == 5.0
    rss_advice = [text for text in data["recommendations"] if "RSS" in text]
    if expected is None:
        assert rss_advice == []
        assert data["memory"]["last_trim"] is None
    else:
        assert len(rss_advice) == 1
        assert f"RSS {rss_mib:.1f} MiB {expected}" in rss_advice[0]
    if rss_mib > 100:
        assert data["memory"]["last_trim"]["rss_before_bytes"] == rss_mib * MIB


def test_report_text_is_a_readable_table(optimizer: PerformanceOptimizer) -> None:
    assert "calculations\n  none yet" in optimizer.report_text()
    optimizer.register_calculation("broken", lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        optimizer.optimize_calculations("broken")
    optimizer.optimize_calculations("black_scholes", 100.0, 100.0, 1.0, 0.2)
    text = optimizer.report_text()
    lines = text.splitlines()
    assert lines[0] == "PerformanceOptimizer report"
    assert lines[1].startswith(f"cache {optimizer.cache.name}: 0 entries")
    header = next(line for line in lines if line.strip().startswith("operation"))
    assert header.split() == ["operation", "calls", "errors", "hits", "misses", "total", "mean"]
    row = next(line for line in lines if line.strip().startswith("black_scholes"))
    assert row.split()[1:5] == ["1", "0", "0", "0"]
    assert "memory: RSS not measured yet (threshold 2,048.0 MiB)" in text
    assert "  - broken: 1 of 1 calls raised" in lines


def test_report_mean_is_nan_free_for_called_operations(optimizer: PerformanceOptimizer) -> None:
    optimizer.optimize_calculations("black_scholes", 100.0, 100.0, 1.0, 0.2)
    assert not math.isnan(optimizer.report()["calculations"]["black_scholes"]["mean_s"])


# -- lifetime --------------------------------------------------------------------------------


def test_close_closes_the_processor_it_started() -> None:
    with PerformanceOptimizer(isolated=True) as opt:
        processor = opt.processor
        assert opt.processor is processor
        assert processor.map(len, ["ab"]).values == [2]
    with pytest.raises(RuntimeError, match="closed"):
        processor.map(len, ["ab"])
    with pytest.raises(RuntimeError, match="this PerformanceOptimizer is closed"):
        _ = opt.processor
    opt.close()  # idempotent


def test_close_leaves_a_given_processor_open() -> None:
    with ParallelProcessor() as processor:
        with PerformanceOptimizer(isolated=True, processor=processor) as opt:
            assert opt.processor is processor
        assert processor.map(len, ["abc"]).values == [3]


def test_close_stops_the_isolated_watchdog(optimizer: PerformanceOptimizer) -> None:
    optimizer.memory.start(interval_s=3600.0)
    assert optimizer.memory.running
    optimizer.close()
    assert not optimizer.memory.running


# -- package facade --------------------------------------------------------------------------


def test_top_level_exports() -> None:
    from greekfire import PerformanceOptimizer as Exported
    from greekfire import cached

    assert Exported is PerformanceOptimizer
    assert cached is greekfire.perf.cached
    assert {"PerformanceOptimizer", "cached"} <= set(greekfire.__all__)


# -- optimize_data_fetching (the brief's async pipeline entry point) ----------------------


class _RecordingPipeline:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[list[str], dict[str, object]]] = []
        self.fail = fail

    async def fetch_multiple_symbols_async(self, symbols, **kwargs):  # type: ignore[no-untyped-def]
        self.calls.append((list(symbols), kwargs))
        if self.fail:
            raise RuntimeError("provider down")
        return {s: len(s) for s in symbols}


def test_optimize_data_fetching_goes_through_the_pipeline_and_is_timed() -> None:
    import asyncio

    pipeline = _RecordingPipeline()
    optimizer = PerformanceOptimizer(isolated=True, pipeline=pipeline)
    out = asyncio.run(optimizer.optimize_data_fetching(["SPY", "QQQQ"], timeframe="1d"))
    assert out == {"SPY": 3, "QQQQ": 4}
    assert pipeline.calls == [(["SPY", "QQQQ"], {"timeframe": "1d"})]
    samples = {
        (s.name, s.labels.get("phase"), s.labels.get("outcome")): s.value
        for metric in optimizer.monitor.registry.collect()
        for s in metric.samples
    }
    assert samples[("greekfire_cycle_phase_duration_seconds_count", "fetch", "ok")] == 1


def test_optimize_data_fetching_records_a_failure_and_needs_a_pipeline() -> None:
    import asyncio

    from greekfire.errors import ConfigError

    optimizer = PerformanceOptimizer(isolated=True, pipeline=_RecordingPipeline(fail=True))
    with pytest.raises(RuntimeError, match="provider down"):
        asyncio.run(optimizer.optimize_data_fetching(["SPY"]))
    samples = {
        (s.name, s.labels.get("phase"), s.labels.get("outcome")): s.value
        for metric in optimizer.monitor.registry.collect()
        for s in metric.samples
    }
    assert samples[("greekfire_cycle_phase_duration_seconds_count", "fetch", "error")] == 1
    with pytest.raises(ConfigError, match="pipeline"):
        asyncio.run(PerformanceOptimizer(isolated=True).optimize_data_fetching(["SPY"]))
    with pytest.raises(TypeError, match="fetch_multiple_symbols_async"):
        PerformanceOptimizer(isolated=True, pipeline=object())  # type: ignore[arg-type]
