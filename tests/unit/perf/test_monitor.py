"""PerformanceMonitor: series names and types, recording, timed(), caches, sampling, regressions."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from greekfire.perf.monitor import (
    LATENCY_BUCKETS_S,
    PerformanceMonitor,
    RegressionStatus,
    bench_report_medians,
    compare_to_baseline,
    load_benchmark_json,
    parse_tolerance,
)


class FakeClock:
    """Returns ``now``; tests move it by hand between enter and exit."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class SteppingClock:
    """Each call returns the previous value plus ``step`` (start, start + step, ...)."""

    def __init__(self, step: float, start: float = 0.0) -> None:
        self.step, self.next = step, start

    def __call__(self) -> float:
        value, self.next = self.next, self.next + self.step
        return value


@dataclass
class FakeStats:
    hits: int = 0
    misses: int = 0
    evictions: Any = field(default_factory=dict)
    current_bytes: int = 0
    entries: int = 0


class FakeCache:
    def __init__(self, name: str = "quotes") -> None:
        self.name = name
        self.current = FakeStats()
        self.stats_calls = 0

    def stats(self) -> FakeStats:
        self.stats_calls += 1
        return self.current


class FakeProcess:
    def __init__(self, rss: int = 123_456_789, cpu_percent: float = 150.0) -> None:
        self.rss, self.cpu = rss, cpu_percent
        self.sampled = threading.Event()

    def oneshot(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def memory_info(self) -> SimpleNamespace:
        self.sampled.set()
        return SimpleNamespace(rss=self.rss)

    def cpu_percent(self, interval: float | None = None) -> float:
        return self.cpu


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def monitor(clock: FakeClock) -> Iterator[PerformanceMonitor]:
    with PerformanceMonitor(clock=clock, process=FakeProcess()) as m:  # type: ignore[arg-type]
        yield m


def families(monitor: PerformanceMonitor) -> dict[str, Any]:
    text = monitor.expose().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(monitor: PerformanceMonitor, name: str, **labels: str) -> float | None:
    return monitor.registry.get_sample_value(name, labels)


def record_one_of_everything(monitor: PerformanceMonitor) -> None:
    monitor.record_trade("SPY", "buy", latency_s=0.01)
    monitor.record_trade_error(TimeoutError())
    monitor.record_signal_generation(0.002)
    monitor.record_data_fetch("synthetic", 0.05)
    monitor.record_api_request("alpaca", "/v2/orders", error=ConnectionError())
    monitor.record_api_retry("alpaca", "/v2/orders")
    monitor.record_data_bytes("alpaca", 1234)
    monitor.set_active_positions(3)
    monitor.sample_once()
    with monitor.timed("fetch"):
        pass
    cache = FakeCache()
    cache.current = FakeStats(1, 2, {"ttl": 3}, 4, 5)
    monitor.watch_cache(cache)
    monitor.record_cycle(errors=1)
    monitor.set_account(cash_usd=1.0, equity_usd=2.0, buying_power_usd=3.0, day_pnl_usd=-0.5)
    monitor.set_trading_state(kill_switch_tripped=True, entries_paused=False)
    monitor.record_fills("wheel", 2)
    monitor.record_order_status("filled")
    monitor.set_portfolio_greeks({"delta_usd": 10.0, "gamma": 0.5}, {"delta_usd": 100.0})


# Family name as the parser reports it (counters without "_total"), type, label names.
EXPECTED_SERIES = {
    "greekfire_trades_executed": ("counter", {"symbol", "side"}),
    "greekfire_trade_errors": ("counter", {"error_type"}),
    "greekfire_trade_execution_duration_seconds": ("histogram", set()),
    "greekfire_signal_generation_duration_seconds": ("histogram", set()),
    "greekfire_data_fetch_duration_seconds": ("histogram", {"provider"}),
    "greekfire_api_requests": ("counter", {"provider", "endpoint"}),
    "greekfire_api_errors": ("counter", {"provider", "endpoint", "error_type"}),
    "greekfire_api_retries": ("counter", {"provider", "endpoint"}),
    "greekfire_data_received_bytes": ("counter", {"provider"}),
    "greekfire_active_positions": ("gauge", set()),
    "greekfire_process_resident_memory_bytes": ("gauge", set()),
    "greekfire_process_cpu_usage_ratio": ("gauge", set()),
    "greekfire_cycle_phase_duration_seconds": ("histogram", {"phase", "outcome"}),
    "greekfire_cache_hits": ("counter", {"cache"}),
    "greekfire_cache_misses": ("counter", {"cache"}),
    "greekfire_cache_evictions": ("counter", {"cache", "reason"}),
    "greekfire_cache_size_bytes": ("gauge", {"cache"}),
    "greekfire_cache_entries": ("gauge", {"cache"}),
    "greekfire_cycles": ("counter", set()),
    "greekfire_cycle_errors": ("counter", set()),
    "greekfire_equity_usd": ("gauge", set()),
    "greekfire_cash_usd": ("gauge", set()),
    "greekfire_buying_power_usd": ("gauge", set()),
    "greekfire_day_pnl_usd": ("gauge", set()),
    "greekfire_kill_switch_tripped": ("gauge", set()),
    "greekfire_entries_paused": ("gauge", set()),
    "greekfire_fills": ("counter", {"strategy"}),
    "greekfire_orders": ("counter", {"status"}),
    "greekfire_portfolio_delta_usd": ("gauge", set()),
    "greekfire_portfolio_delta_shares": ("gauge", set()),
    "greekfire_portfolio_gamma_shares_per_usd": ("gauge", set()),
    "greekfire_portfolio_vega_per_point_usd": ("gauge", set()),
    "greekfire_portfolio_theta_per_day_usd": ("gauge", set()),
    "greekfire_portfolio_greek_limit": ("gauge", {"greek"}),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_SERIES))
def test_every_series_is_exported_with_its_type_and_labels(
    monitor: PerformanceMonitor, name: str
) -> None:
    record_one_of_everything(monitor)
    expected_type, expected_labels = EXPECTED_SERIES[name]
    family = families(monitor)[name]
    assert family.type == expected_type
    assert family.samples, f"{name} has no samples"
    for sample in family.samples:
        assert set(sample.labels) - {"le"} == expected_labels
    if expected_type == "counter":
        assert any(s.name == f"{name}_total" for s in family.samples)


def test_no_series_is_left_out_of_the_expected_list(monitor: PerformanceMonitor) -> None:
    record_one_of_everything(monitor)
    exported = {n for n in families(monitor) if not n.endswith("_created")}
    assert exported == set(EXPECTED_SERIES)


def test_own_registry_by_default_and_monitors_do_not_collide() -> None:
    first, second = PerformanceMonitor(), PerformanceMonitor()
    first.record_trade("SPY", "buy")
    assert first.registry is not REGISTRY
    assert value(first, "greekfire_trades_executed_total", symbol="SPY", side="buy") == 1.0
    assert value(second, "greekfire_trades_executed_total", symbol="SPY", side="buy") is None
    assert REGISTRY.get_sample_value("greekfire_active_positions") is None


def test_given_registry_and_namespace_are_used() -> None:
    registry = CollectorRegistry()
    monitor = PerformanceMonitor(registry=registry, namespace="bot")
    monitor.set_active_positions(7)
    assert registry.get_sample_value("bot_active_positions") == 7.0
    assert all(name.startswith("bot_") for name in families(monitor))


def test_counters_increase(monitor: PerformanceMonitor) -> None:
    monitor.record_trade("SPY", "buy")
    monitor.record_trade("SPY", "buy")
    monitor.record_trade("QQQ", "sell")
    monitor.record_trade_error(ValueError("bad qty"))
    monitor.record_trade_error("OrderRejected")
    monitor.record_api_request("polygon", "/v2/aggs")
    monitor.record_api_request("polygon", "/v2/aggs", error=TimeoutError())
    monitor.record_api_request("polygon", "/v2/aggs", error="http_503")

    assert value(monitor, "greekfire_trades_executed_total", symbol="SPY", side="buy") == 2.0
    assert value(monitor, "greekfire_trades_executed_total", symbol="QQQ", side="sell") == 1.0
    assert value(monitor, "greekfire_trade_errors_total", error_type="ValueError") == 1.0
    assert value(monitor, "greekfire_trade_errors_total", error_type="OrderRejected") == 1.0
    requests = value(
        monitor, "greekfire_api_requests_total", provider="polygon", endpoint="/v2/aggs"
    )
    assert requests == 3.0
    for error_type in ("TimeoutError", "http_503"):
        errors = value(
            monitor,
            "greekfire_api_errors_total",
            provider="polygon",
            endpoint="/v2/aggs",
            error_type=error_type,
        )
        assert errors == 1.0


def test_retries_and_bytes_add_up(monitor: PerformanceMonitor) -> None:
    monitor.record_api_retry("alpaca", "bars")
    monitor.record_api_retry("alpaca", "bars")
    monitor.record_data_bytes("alpaca", 1000)
    monitor.record_data_bytes("alpaca", 24)
    assert value(monitor, "greekfire_api_retries_total", provider="alpaca", endpoint="bars") == 2
    assert value(monitor, "greekfire_data_received_bytes_total", provider="alpaca") == 1024
    with pytest.raises(ValueError, match="nbytes"):
        monitor.record_data_bytes("alpaca", -1)


def test_str_enum_side_is_exported_by_value(monitor: PerformanceMonitor) -> None:
    from enum import StrEnum

    class Side(StrEnum):
        BUY = "buy"

    monitor.record_trade("SPY", Side.BUY)
    assert value(monitor, "greekfire_trades_executed_total", symbol="SPY", side="buy") == 1.0


def test_histograms_observe_the_given_durations(monitor: PerformanceMonitor) -> None:
    monitor.record_trade("SPY", "buy", latency_s=0.25)
    monitor.record_signal_generation(0.004)
    monitor.record_data_fetch("synthetic", 1.5)
    monitor.record_data_fetch("synthetic", 0.5)

    name = "greekfire_trade_execution_duration_seconds"
    assert value(monitor, f"{name}_sum") == pytest.approx(0.25)
    assert value(monitor, f"{name}_bucket", le="0.1") == 0.0
    assert value(monitor, f"{name}_bucket", le="0.25") == 1.0
    assert value(monitor, "greekfire_signal_generation_duration_seconds_count") == 1.0
    fetch = "greekfire_data_fetch_duration_seconds"
    assert value(monitor, f"{fetch}_count", provider="synthetic") == 2.0
    assert value(monitor, f"{fetch}_sum", provider="synthetic") == pytest.approx(2.0)


def test_histogram_buckets_are_seconds_from_100us_to_60s(monitor: PerformanceMonitor) -> None:
    assert LATENCY_BUCKETS_S[0] == 1e-4
    assert LATENCY_BUCKETS_S[-1] == 60.0
    assert list(LATENCY_BUCKETS_S) == sorted(LATENCY_BUCKETS_S)


def test_trade_without_latency_observes_nothing(monitor: PerformanceMonitor) -> None:
    monitor.record_trade("SPY", "buy")
    assert value(monitor, "greekfire_trade_execution_duration_seconds_count") == 0.0


def test_set_active_positions(monitor: PerformanceMonitor) -> None:
    monitor.set_active_positions(4)
    monitor.set_active_positions(2)
    assert value(monitor, "greekfire_active_positions") == 2.0


PHASE = "greekfire_cycle_phase_duration_seconds"


def test_timed_context_manager_records_the_clock_duration(
    monitor: PerformanceMonitor, clock: FakeClock
) -> None:
    with monitor.timed("signals"):
        clock.now += 0.75
    assert value(monitor, f"{PHASE}_sum", phase="signals", outcome="ok") == pytest.approx(0.75)
    assert value(monitor, f"{PHASE}_count", phase="signals", outcome="ok") == 1.0


def test_timed_nested_reuse_of_one_object(monitor: PerformanceMonitor, clock: FakeClock) -> None:
    timer = monitor.timed("risk")
    with timer:
        clock.now += 1.0
        with timer:
            clock.now += 0.5
    assert value(monitor, f"{PHASE}_sum", phase="risk", outcome="ok") == pytest.approx(2.0)
    assert value(monitor, f"{PHASE}_count", phase="risk", outcome="ok") == 2.0


def test_timed_decorates_a_sync_function() -> None:
    monitor = PerformanceMonitor(clock=SteppingClock(0.125))

    @monitor.timed("orders")
    def place(qty: int) -> int:
        """Place an order."""
        return qty * 2

    assert place(21) == 42
    assert place(1) == 2
    assert place.__name__ == "place"
    assert place.__doc__ == "Place an order."
    assert value(monitor, f"{PHASE}_count", phase="orders", outcome="ok") == 2.0
    assert value(monitor, f"{PHASE}_sum", phase="orders", outcome="ok") == pytest.approx(0.25)


def test_timed_decorates_an_async_function() -> None:
    monitor = PerformanceMonitor(clock=SteppingClock(0.5))

    @monitor.timed("fetch")
    async def fetch(symbol: str) -> str:
        await asyncio.sleep(0)
        return symbol.lower()

    assert inspect.iscoroutinefunction(fetch)
    assert asyncio.run(fetch("SPY")) == "spy"
    assert value(monitor, f"{PHASE}_count", phase="fetch", outcome="ok") == 1.0
    assert value(monitor, f"{PHASE}_sum", phase="fetch", outcome="ok") == pytest.approx(0.5)


def test_timed_context_manager_records_a_failure_as_outcome_error(
    monitor: PerformanceMonitor, clock: FakeClock
) -> None:
    def fail_after(seconds: float) -> None:
        with monitor.timed("risk"):
            clock.now += seconds
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_after(0.3)
    assert value(monitor, f"{PHASE}_sum", phase="risk", outcome="error") == pytest.approx(0.3)
    assert value(monitor, f"{PHASE}_count", phase="risk", outcome="ok") is None


def test_timed_decorated_failures_are_recorded_sync_and_async() -> None:
    monitor = PerformanceMonitor(clock=SteppingClock(1.0))

    @monitor.timed("orders")
    def place() -> None:
        raise ValueError("rejected")

    @monitor.timed("fetch")
    async def fetch() -> None:
        raise TimeoutError

    with pytest.raises(ValueError, match="rejected"):
        place()
    with pytest.raises(TimeoutError):
        asyncio.run(fetch())
    assert value(monitor, f"{PHASE}_count", phase="orders", outcome="error") == 1.0
    assert value(monitor, f"{PHASE}_count", phase="fetch", outcome="error") == 1.0
    assert value(monitor, f"{PHASE}_sum", phase="fetch", outcome="error") == pytest.approx(1.0)


def test_cache_stats_are_read_at_scrape_time(monitor: PerformanceMonitor) -> None:
    cache = FakeCache("quotes")
    monitor.watch_cache(cache)
    calls_before = cache.stats_calls
    cache.current = FakeStats(
        hits=10, misses=4, evictions={"ttl": 2, "lru": 5}, current_bytes=2048, entries=6
    )
    scraped = families(monitor)
    assert cache.stats_calls == calls_before + 1
    assert scraped["greekfire_cache_hits"].samples[0].value == 10.0

    cache.current = FakeStats(hits=11, misses=4, evictions={"ttl": 3, "lru": 5})
    assert value(monitor, "greekfire_cache_hits_total", cache="quotes") == 11.0
    assert value(monitor, "greekfire_cache_misses_total", cache="quotes") == 4.0
    assert value(monitor, "greekfire_cache_evictions_total", cache="quotes", reason="ttl") == 3.0
    assert value(monitor, "greekfire_cache_evictions_total", cache="quotes", reason="lru") == 5.0
    assert value(monitor, "greekfire_cache_size_bytes", cache="quotes") == 0.0
    assert value(monitor, "greekfire_cache_entries", cache="quotes") == 0.0


def test_cache_eviction_total_without_reasons_is_reason_all(monitor: PerformanceMonitor) -> None:
    cache = FakeCache()
    cache.current = FakeStats(evictions=9)
    monitor.watch_cache(cache, name="chains")
    assert value(monitor, "greekfire_cache_evictions_total", cache="chains", reason="all") == 9.0


def test_cache_evictions_from_per_reason_fields_with_the_rest_as_other(
    monitor: PerformanceMonitor,
) -> None:
    stats = SimpleNamespace(
        hits=0, misses=0, current_bytes=0, entries=0, evictions=5, evictions_ttl=1, evictions_size=2
    )
    monitor.watch_cache(SimpleNamespace(name="chains", stats=lambda: stats))
    evictions = "greekfire_cache_evictions_total"
    assert value(monitor, evictions, cache="chains", reason="ttl") == 1.0
    assert value(monitor, evictions, cache="chains", reason="size") == 2.0
    assert value(monitor, evictions, cache="chains", reason="other") == 2.0
    assert value(monitor, evictions, cache="chains", reason="all") is None


def test_watch_a_real_smart_cache(monitor: PerformanceMonitor) -> None:
    from greekfire.perf.cache import SmartCache

    cache = SmartCache(maxsize=1, name="quotes")
    monitor.watch_cache(cache)
    cache.set("a", 1)
    cache.set("b", 2)  # evicts "a": the cache holds one entry
    assert cache.get("b") == 2
    assert cache.get("a") is None
    assert value(monitor, "greekfire_cache_hits_total", cache="quotes") == 1.0
    assert value(monitor, "greekfire_cache_misses_total", cache="quotes") == 1.0
    assert value(monitor, "greekfire_cache_evictions_total", cache="quotes", reason="size") == 1.0
    assert value(monitor, "greekfire_cache_evictions_total", cache="quotes", reason="ttl") == 0.0
    assert value(monitor, "greekfire_cache_entries", cache="quotes") == 1.0
    size = value(monitor, "greekfire_cache_size_bytes", cache="quotes")
    assert size is not None
    assert size > 0


def test_two_caches_and_unwatch(monitor: PerformanceMonitor) -> None:
    quotes, chains = FakeCache("quotes"), FakeCache("chains")
    monitor.watch_cache(quotes)
    monitor.watch_cache(chains)
    monitor.watch_cache(quotes)  # the same object again is harmless
    assert value(monitor, "greekfire_cache_hits_total", cache="chains") == 0.0
    monitor.unwatch_cache("chains")
    assert value(monitor, "greekfire_cache_hits_total", cache="chains") is None
    assert value(monitor, "greekfire_cache_hits_total", cache="quotes") == 0.0
    with pytest.raises(KeyError, match="chains"):
        monitor.unwatch_cache("chains")


def test_watch_cache_needs_a_unique_name(monitor: PerformanceMonitor) -> None:
    nameless = SimpleNamespace(stats=FakeStats)
    with pytest.raises(ValueError, match="needs a name"):
        monitor.watch_cache(nameless)
    monitor.watch_cache(FakeCache("quotes"))
    with pytest.raises(ValueError, match="already watched as 'quotes'"):
        monitor.watch_cache(FakeCache("quotes"))


def test_sample_once_sets_rss_and_cpu_gauges(monitor: PerformanceMonitor) -> None:
    monitor.sample_once()
    assert value(monitor, "greekfire_process_resident_memory_bytes") == 123_456_789.0
    assert value(monitor, "greekfire_process_cpu_usage_ratio") == pytest.approx(1.5)


def test_sample_once_reads_this_process_by_default() -> None:
    monitor = PerformanceMonitor()
    monitor.sample_once()
    rss = value(monitor, "greekfire_process_resident_memory_bytes")
    cpu = value(monitor, "greekfire_process_cpu_usage_ratio")
    assert rss is not None
    assert rss > 1_000_000
    assert cpu is not None
    assert cpu >= 0.0


def test_sampler_thread_samples_then_stops_on_request() -> None:
    process = FakeProcess(rss=42)
    monitor = PerformanceMonitor(process=process)  # type: ignore[arg-type]
    monitor.start_sampler(interval_s=3600.0)
    try:
        assert monitor.sampler_running
        assert process.sampled.wait(timeout=10.0), "the sampler never sampled"
        with pytest.raises(RuntimeError, match="already running"):
            monitor.start_sampler(interval_s=1.0)
    finally:
        monitor.stop_sampler()
    assert not monitor.sampler_running
    assert value(monitor, "greekfire_process_resident_memory_bytes") == 42.0
    monitor.stop_sampler()  # a second stop is a no-op


@pytest.mark.parametrize("interval_s", [0.0, -1.0, float("nan"), float("inf")])
def test_start_sampler_rejects_a_bad_interval(
    monitor: PerformanceMonitor, interval_s: float
) -> None:
    with pytest.raises(ValueError, match="interval_s"):
        monitor.start_sampler(interval_s)


def test_expose_is_the_text_format(monitor: PerformanceMonitor) -> None:
    body = monitor.expose()
    assert body.startswith(b"# HELP greekfire_")
    assert b"# TYPE greekfire_trades_executed_total counter" in body


# -- regression detection ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("baseline_s", "current_s", "status"),
    [
        (1.0, 1.5, RegressionStatus.SLOWER),
        (1.0, 1.2, RegressionStatus.OK),  # exactly at the tolerance is not a regression
        (1.0, 1.1, RegressionStatus.OK),
        (1.0, 0.9, RegressionStatus.OK),
        (1.0, 0.8, RegressionStatus.OK),
        (1.0, 0.5, RegressionStatus.FASTER),
    ],
)
def test_compare_classifies_against_the_tolerance(
    baseline_s: float, current_s: float, status: RegressionStatus
) -> None:
    report = compare_to_baseline({"a": current_s}, {"a": baseline_s}, tolerance=0.2)
    (entry,) = report.entries
    assert entry.status is status
    assert entry.ratio == pytest.approx(current_s / baseline_s)
    assert report.has_regressions is (status is RegressionStatus.SLOWER)


def test_compare_new_and_missing_are_not_regressions() -> None:
    report = compare_to_baseline({"new_case": 0.1, "same": 1.0}, {"gone": 0.1, "same": 1.0})
    statuses = {e.name: e.status for e in report.entries}
    assert statuses == {
        "gone": RegressionStatus.MISSING,
        "new_case": RegressionStatus.NEW,
        "same": RegressionStatus.OK,
    }
    gone = report.by_status(RegressionStatus.MISSING)[0]
    assert (gone.baseline_s, gone.current_s, gone.ratio) == (0.1, None, None)
    assert not report.has_regressions


def test_regressions_are_listed_worst_first_and_formatted() -> None:
    report = compare_to_baseline(
        {"a": 2.0, "b": 3.0, "c": 1.0}, {"a": 1.0, "b": 1.0, "c": 1.0}, tolerance=0.1
    )
    assert [e.name for e in report.regressions] == ["b", "a"]
    text = report.format_text()
    assert "2 regression(s) beyond 10%" in text
    assert "3.00x" in text
    assert "slower" in text


def test_compare_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        compare_to_baseline({}, {}, tolerance=-0.1)
    with pytest.raises(ValueError, match=r"baseline\['a'\]"):
        compare_to_baseline({"a": 1.0}, {"a": 0.0})
    with pytest.raises(TypeError, match=r"current\['a'\]"):
        compare_to_baseline({"a": "fast"}, {"a": 1.0})  # type: ignore[dict-item]


@pytest.mark.parametrize(("text", "expected"), [("20%", 0.2), ("0.2", 0.2), (" 5 % ", 0.05)])
def test_parse_tolerance(text: str, expected: float) -> None:
    assert parse_tolerance(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["fast", "-5%", "%"])
def test_parse_tolerance_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="tolerance"):
        parse_tolerance(text)


def bench_report() -> dict[str, Any]:
    # The shape of reports/bench.json (greekfire.bench.report, schema_version 1), trimmed.
    ok = {"status": "ok", "n_timed": 1000, "repeats": 5, "min_ms": 0.02}
    return {
        "schema_version": 1,
        "date_utc": "2026-01-02T03:04:05+00:00",
        "command": "greekfire bench --quick",
        "quick": True,
        "machine": {},
        "method": [],
        "first_call": [],
        "cases": [
            {
                "key": "e_indicators",
                "rows": [
                    {**ok, "key": "greekfire", "median_ms": 0.025},
                    {**ok, "key": "talib", "median_ms": 0.041},
                    {"key": "tulipy", "status": "skipped", "note": "not installed"},
                ],
            },
            {"key": "a_bsm", "rows": [{**ok, "key": "greekfire", "median_ms": 15.0}]},
        ],
    }


def test_bench_report_medians_are_seconds_keyed_case_slash_implementation() -> None:
    medians = bench_report_medians(bench_report())
    assert medians == pytest.approx(
        {"e_indicators/greekfire": 25e-6, "e_indicators/talib": 41e-6, "a_bsm/greekfire": 0.015}
    )


def test_load_benchmark_json_reads_a_bench_report(tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(bench_report()))
    assert load_benchmark_json(path) == bench_report_medians(bench_report())


def test_load_benchmark_json_reads_a_flat_mapping(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"bsm/greekfire": 0.015, "iv/greekfire": 2}))
    assert load_benchmark_json(str(path)) == {"bsm/greekfire": 0.015, "iv/greekfire": 2.0}


@pytest.mark.parametrize(
    "content",
    [[1, 2], {"a": "fast"}, {"a": True}, {"cases": [{"rows": [{"status": "ok", "key": "x"}]}]}],
)
def test_load_benchmark_json_rejects_other_shapes(tmp_path: Path, content: Any) -> None:
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=r"odd\.json"):
        load_benchmark_json(path)


def test_bench_report_round_trip_through_compare(tmp_path: Path) -> None:
    baseline_path, current_path = tmp_path / "base.json", tmp_path / "cur.json"
    baseline_path.write_text(json.dumps(bench_report()))
    slower = bench_report()
    slower["cases"][1]["rows"][0]["median_ms"] = 30.0
    current_path.write_text(json.dumps(slower))
    report = compare_to_baseline(
        load_benchmark_json(current_path), load_benchmark_json(baseline_path), tolerance=0.2
    )
    assert [e.name for e in report.regressions] == ["a_bsm/greekfire"]
    assert report.regressions[0].ratio == pytest.approx(2.0)


@pytest.mark.parametrize("module_name", ["greekfire.perf.monitor", "greekfire.perf.profiler"])
def test_all_is_importable_and_complete(module_name: str) -> None:
    import importlib

    module = importlib.import_module(module_name)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    defined_here = {
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and name != "TYPE_CHECKING"
        and (getattr(obj, "__module__", None) == module_name or name.isupper())
        and not inspect.ismodule(obj)
    }
    assert defined_here <= set(module.__all__)


def test_the_engine_series_take_what_the_engine_reports(monitor: PerformanceMonitor) -> None:
    monitor.record_cycle()
    monitor.record_cycle(errors=3)
    monitor.set_account(cash_usd=10.0, equity_usd=12.5, buying_power_usd=20.0, day_pnl_usd=-1.0)
    monitor.set_trading_state(kill_switch_tripped=False, entries_paused=True)
    monitor.record_fills("wheel", 0)
    monitor.record_fills("wheel", 2)
    monitor.record_order_status("filled")
    monitor.set_portfolio_greeks(
        {"delta_usd": 5.0, "gamma": 0.25}, {"theta_per_day_usd": -500.0, "gamma": None}
    )
    assert value(monitor, "greekfire_cycles_total") == 2.0
    assert value(monitor, "greekfire_cycle_errors_total") == 3.0
    assert value(monitor, "greekfire_equity_usd") == 12.5
    assert value(monitor, "greekfire_day_pnl_usd") == -1.0
    assert value(monitor, "greekfire_kill_switch_tripped") == 0.0
    assert value(monitor, "greekfire_entries_paused") == 1.0
    assert value(monitor, "greekfire_fills_total", strategy="wheel") == 2.0
    assert value(monitor, "greekfire_orders_total", status="filled") == 1.0
    assert value(monitor, "greekfire_portfolio_delta_usd") == 5.0
    assert value(monitor, "greekfire_portfolio_gamma_shares_per_usd") == 0.25
    assert math.isnan(value(monitor, "greekfire_portfolio_vega_per_point_usd") or 0.0)
    theta = value(monitor, "greekfire_portfolio_greek_limit", greek="theta_per_day_usd")
    assert theta == -500.0
    gamma = value(monitor, "greekfire_portfolio_greek_limit", greek="gamma_shares_per_usd")
    assert math.isnan(gamma or 0.0)
    with pytest.raises(ValueError, match="errors"):
        monitor.record_cycle(errors=-1)
    with pytest.raises(ValueError, match="count"):
        monitor.record_fills("wheel", -1)
