"""PerformanceMonitor: the bot's Prometheus metrics, phase timing and benchmark regressions.

Design
------
- One ``CollectorRegistry`` per monitor (never the process-global default unless passed in),
  so two monitors, or a monitor and a test, never share series or collide on names.
- Names follow the Prometheus conventions: a ``greekfire_`` namespace, base units in the name
  (``_seconds``, ``_bytes``, ``_ratio``), ``_total`` on counters, no ``_count`` on gauges, so
  ``promtool check metrics`` has nothing to say. The series (namespace ``greekfire``)::

      trades_executed_total{symbol,side}                    counter
      trade_execution_duration_seconds                      histogram
      trade_errors_total{error_type}                        counter
      signal_generation_duration_seconds                    histogram
      data_fetch_duration_seconds{provider}                 histogram
      api_requests_total{provider,endpoint}                 counter
      api_errors_total{provider,endpoint,error_type}        counter
      api_retries_total{provider,endpoint}                  counter
      data_received_bytes_total{provider}                   counter
      active_positions                                      gauge
      process_resident_memory_bytes                         gauge (RSS, sampled)
      process_cpu_usage_ratio                               gauge (1.0 = one core busy, sampled)
      cycle_phase_duration_seconds{phase,outcome}           histogram
      cache_hits_total{cache} / cache_misses_total{cache}   counter (read at scrape time)
      cache_evictions_total{cache,reason}                   counter (read at scrape time)
      cache_size_bytes{cache} / cache_entries{cache}        gauge (read at scrape time)
      cycles_total / cycle_errors_total                     counter (trading cycles, their errors)
      equity_usd / cash_usd / buying_power_usd / day_pnl_usd   gauge (the account, each cycle)
      kill_switch_tripped / entries_paused                  gauge (0 or 1)
      fills_total{strategy} / orders_total{status}          counter
      portfolio_delta_usd / portfolio_delta_shares / portfolio_gamma_shares_per_usd /
      portfolio_vega_per_point_usd / portfolio_theta_per_day_usd    gauge (net Greeks)
      portfolio_greek_limit{greek}                          gauge (the risk limit; NaN: none)

- Recording is thin: ``record_*`` methods only touch prometheus-client children, which are
  thread-safe. Durations come from an injectable ``clock`` so tests are deterministic.
- ``timed(phase)`` records every run into the phase histogram, failures included: a slow
  failure is still time spent in the phase. The ``outcome`` label (``"ok"`` or ``"error"``)
  keeps failed runs apart, so fast failures do not flatter the latency of successful runs and
  ``..._count{outcome="error"}`` counts failures per phase. The exception is re-raised.
- Caches are not polled: ``watch_cache`` registers the object, and a custom collector reads
  its ``stats()`` when Prometheus scrapes. A ``stats()`` that raises fails that scrape.
- System gauges come from psutil, either from ``sample_once()`` or a daemon sampler thread
  that sleeps on an ``Event`` (``stop_sampler`` wakes it at once).
- Regression detection (``compare_to_baseline``, ``load_benchmark_json``) lives in
  :mod:`greekfire.perf.regression` and is re-exported here.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar, cast
from wsgiref.simple_server import WSGIServer

import psutil
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    make_asgi_app,
)
from prometheus_client import start_http_server as _prom_start_http_server
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

# re-exported: the regression detection used to live in this module
from greekfire.perf.regression import (
    RegressionEntry,
    RegressionReport,
    RegressionStatus,
    bench_report_medians,
    compare_to_baseline,
    load_benchmark_json,
    parse_tolerance,
)

__all__ = [
    "LATENCY_BUCKETS_S",
    "ASGIApp",
    "CacheStatsLike",
    "MetricsServer",
    "PerformanceMonitor",
    "RegressionEntry",
    "RegressionReport",
    "RegressionStatus",
    "StatsSource",
    "bench_report_medians",
    "compare_to_baseline",
    "load_benchmark_json",
    "parse_tolerance",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")

ASGIApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[MutableMapping[str, Any]]],
        Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]
"""The ASGI 3 application signature: ``app(scope, receive, send)``."""

_FAST_S = (1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05)
LATENCY_BUCKETS_S: tuple[float, ...] = (*_FAST_S, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Histogram buckets in seconds: 100 µs (a kernel call) to 60 s (a slow vendor fetch)."""


# Keys of a portfolio-Greeks mapping -> the gauge names (without namespace and "portfolio_").
_GREEK_METRICS: Mapping[str, str] = {
    "delta_usd": "delta_usd",
    "delta_shares": "delta_shares",
    "gamma": "gamma_shares_per_usd",
    "vega_per_point_usd": "vega_per_point_usd",
    "theta_per_day_usd": "theta_per_day_usd",
}


class CacheStatsLike(Protocol):
    """What ``stats()`` of a watched cache returns (SmartCache's stats satisfy it).

    ``evictions`` is a mapping ``reason -> count`` (``{"ttl": 3, "size": 10}``) or a total.
    With a total, integer fields ``evictions_<reason>`` (as SmartCache's ``CacheStats`` has)
    give the reasons, any remainder is reason ``"other"``; without them, reason ``"all"``.
    """

    @property
    def hits(self) -> int: ...

    @property
    def misses(self) -> int: ...

    @property
    def evictions(self) -> int | Mapping[str, int]: ...

    @property
    def current_bytes(self) -> int: ...

    @property
    def entries(self) -> int: ...


class StatsSource(Protocol):
    """Anything with a ``stats()`` method returning :class:`CacheStatsLike`."""

    def stats(self) -> CacheStatsLike: ...


def _evictions_by_reason(stats: CacheStatsLike) -> Mapping[str, int]:
    # A mapping as given; else SmartCache-style ``evictions_<reason>`` fields; else the total.
    total = stats.evictions
    if isinstance(total, Mapping):
        return total
    fields = {n: getattr(stats, n) for n in dir(stats) if n.startswith("evictions_")}
    reasons = {n[10:]: v for n, v in fields.items() if type(v) is int}
    if not reasons:
        return {"all": total}
    rest = total - sum(reasons.values())
    return {**reasons, "other": rest} if rest > 0 else reasons


class _CacheCollector:
    # Reads the watched caches when the registry is collected (at scrape time), not on a timer.
    def __init__(self, namespace: str) -> None:
        self._prefix = f"{namespace}_" if namespace else ""
        self._lock = threading.Lock()
        self._caches: dict[str, StatsSource] = {}

    def add(self, name: str, cache: StatsSource) -> None:
        with self._lock:
            if name in self._caches and self._caches[name] is not cache:
                raise ValueError(
                    f"a different cache is already watched as {name!r}; "
                    "pass name=... to watch_cache or unwatch_cache the old one first"
                )
            self._caches[name] = cache

    def remove(self, name: str) -> None:
        with self._lock:
            if name not in self._caches:
                raise KeyError(f"no cache is watched as {name!r}; watched: {sorted(self._caches)}")
            del self._caches[name]

    def _build(self, caches: list[tuple[str, StatsSource]]) -> list[Metric]:
        p, one, two = self._prefix, ["cache"], ["cache", "reason"]
        hits = CounterMetricFamily(f"{p}cache_hits", "Lookups that found a value.", labels=one)
        misses = CounterMetricFamily(f"{p}cache_misses", "Lookups that found nothing.", labels=one)
        evictions = CounterMetricFamily(f"{p}cache_evictions", "Evictions by reason.", labels=two)
        size = GaugeMetricFamily(f"{p}cache_size_bytes", "Estimated bytes held.", labels=one)
        entries = GaugeMetricFamily(f"{p}cache_entries", "Entries held.", labels=one)
        for name, cache in caches:
            stats = cache.stats()
            hits.add_metric([name], float(stats.hits))
            misses.add_metric([name], float(stats.misses))
            for reason, count in sorted(_evictions_by_reason(stats).items()):
                evictions.add_metric([name, str(reason)], float(count))
            size.add_metric([name], float(stats.current_bytes))
            entries.add_metric([name], float(stats.entries))
        return [hits, misses, evictions, size, entries]

    def describe(self) -> list[Metric]:
        return self._build([])

    def collect(self) -> list[Metric]:
        with self._lock:
            caches = sorted(self._caches.items())
        return self._build(caches)


@dataclass(frozen=True, slots=True)
class MetricsServer:
    """A running ``/metrics`` HTTP server (a daemon thread); ``close()`` stops it.

    Attributes
    ----------
    server : WSGIServer
        The prometheus-client WSGI server.
    thread : threading.Thread
        The daemon thread running ``server.serve_forever``.
    """

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        """The bound port (useful after ``start_http_server(0)``)."""
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        """``http://host:port/metrics`` for the bound address."""
        host = str(self.server.server_address[0])
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/metrics"

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop serving, close the socket and join the thread."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout_s)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Timed:
    # One object is both the context manager and the decorator returned by monitor.timed().
    def __init__(self, histogram: Histogram, phase: str, clock: Callable[[], float]) -> None:
        self._histogram = histogram
        self._phase = phase
        self._clock = clock
        self._starts: list[float] = []

    def _observe(self, start: float, failed: bool) -> None:
        outcome = "error" if failed else "ok"
        self._histogram.labels(self._phase, outcome).observe(self._clock() - start)

    def __enter__(self) -> _Timed:
        self._starts.append(self._clock())
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self._observe(self._starts.pop(), exc_type is not None)

    def __call__(self, func: Callable[_P, _R]) -> Callable[_P, _R]:
        if inspect.iscoroutinefunction(func):
            async_func = cast(Callable[_P, Awaitable[Any]], func)

            @functools.wraps(func)
            async def async_wrapper(*args: _P.args, **kwargs: _P.kwargs) -> Any:
                start, failed = self._clock(), True
                try:
                    result = await async_func(*args, **kwargs)
                    failed = False
                    return result
                finally:
                    self._observe(start, failed)

            return cast(Callable[_P, _R], async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            start, failed = self._clock(), True
            try:
                result = func(*args, **kwargs)
                failed = False
                return result
            finally:
                self._observe(start, failed)

        return wrapper


def _error_type(error: BaseException | str) -> str:
    return error if isinstance(error, str) else type(error).__name__


class PerformanceMonitor:
    """The bot's Prometheus metrics on a registry of its own.

    Parameters
    ----------
    registry : CollectorRegistry, optional
        Where the series are registered. Default: a new registry owned by this monitor (pass
        ``prometheus_client.REGISTRY`` to use the process-global one, e.g. beside other
        instrumented libraries).
    namespace : str, default "greekfire"
        Prefix of every metric name (``greekfire_trades_executed_total``).
    clock : callable, default time.perf_counter
        Monotonic seconds used by ``timed``; inject a fake one in tests.
    process : psutil.Process, optional
        The process sampled by ``sample_once`` (default: this one).

    Examples
    --------
    >>> monitor = PerformanceMonitor()
    >>> monitor.record_trade("SPY", "buy", latency_s=0.012)
    >>> with monitor.timed("signals"):
    ...     pass
    >>> b"greekfire_trades_executed_total" in monitor.expose()
    True
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        namespace: str = "greekfire",
        clock: Callable[[], float] = time.perf_counter,
        process: psutil.Process | None = None,
    ) -> None:
        self.registry = CollectorRegistry() if registry is None else registry
        self.namespace = namespace
        self._clock = clock
        self._process = psutil.Process() if process is None else process
        # cpu_percent(None) measures since the previous call: prime it so the first sample counts.
        self._process.cpu_percent(None)
        self._sampler: tuple[threading.Thread, threading.Event] | None = None
        self._sampler_lock = threading.Lock()
        self._build_trading_metrics()
        self._build_system_metrics()
        self._build_engine_metrics()
        self._caches = _CacheCollector(namespace)
        self.registry.register(self._caches)

    def _common(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "registry": self.registry}

    def _latency(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> Histogram:
        return Histogram(name, doc, labels, buckets=LATENCY_BUCKETS_S, **self._common())

    def _build_trading_metrics(self) -> None:
        kw = self._common()
        self.trades_executed = Counter(
            "trades_executed", "Trades executed, by symbol and side.", ("symbol", "side"), **kw
        )
        self.trade_errors = Counter(
            "trade_errors", "Trade executions that failed, by error type.", ("error_type",), **kw
        )
        self.trade_execution_duration = self._latency(
            "trade_execution_duration_seconds", "From order intent to broker acknowledgement."
        )
        self.signal_generation_duration = self._latency(
            "signal_generation_duration_seconds", "Time to compute the strategies' signals."
        )
        self.data_fetch_duration = self._latency(
            "data_fetch_duration_seconds", "Time to fetch market data, by provider.", ("provider",)
        )
        route = ("provider", "endpoint")
        self.api_requests = Counter("api_requests", "Vendor API requests.", route, **kw)
        self.api_errors = Counter(
            "api_errors", "Vendor API requests that failed.", (*route, "error_type"), **kw
        )
        self.api_retries = Counter(
            "api_retries", "Vendor API requests retried after a failure.", route, **kw
        )
        self.data_received_bytes = Counter(
            "data_received_bytes",
            "Bytes of market data received from a provider (as sent on the wire).",
            ("provider",),
            **kw,
        )
        self.active_positions = Gauge("active_positions", "Open positions.", **kw)
        self.cycle_phase_duration = self._latency(
            "cycle_phase_duration_seconds",
            "Time spent in a phase of the trading cycle; outcome is ok or error.",
            ("phase", "outcome"),
        )

    def _build_system_metrics(self) -> None:
        kw = self._common()
        self.resident_memory = Gauge(
            "process_resident_memory_bytes", "Resident set size of this process (sampled).", **kw
        )
        self.cpu_usage = Gauge(
            "process_cpu_usage_ratio",
            "CPU used by this process since the previous sample; 1.0 is one core fully busy.",
            **kw,
        )

    def _build_engine_metrics(self) -> None:
        kw = self._common()
        self.cycles = Counter("cycles", "Trading cycles run.", **kw)
        self.cycle_errors = Counter(
            "cycle_errors",
            "Errors reported by trading cycles (a failed phase or fetch, a disabled strategy).",
            **kw,
        )
        self.account_gauges = {
            key: Gauge(f"{key}_usd", doc, **kw)
            for key, doc in (
                ("equity", "Account equity: cash plus marked positions."),
                ("cash", "Account cash."),
                ("buying_power", "Account buying power."),
                ("day_pnl", "Equity change since the previous close."),
            )
        }
        self.kill_switch_tripped = Gauge(
            "kill_switch_tripped", "1 while the risk gate halts entries (loss limits).", **kw
        )
        self.entries_paused = Gauge("entries_paused", "1 while an operator paused entries.", **kw)
        self.fills = Counter("fills", "Fills recorded, by strategy.", ("strategy",), **kw)
        self.orders = Counter("orders", "Orders by the status they reached.", ("status",), **kw)
        self.greek_gauges = {
            key: Gauge(f"portfolio_{key}", f"Net portfolio Greek: {key}.", **kw)
            for key in _GREEK_METRICS.values()
        }
        self.greek_limit = Gauge(
            "portfolio_greek_limit",
            "The risk limit on a portfolio Greek, labelled by its gauge (NaN: no limit).",
            ("greek",),
            **kw,
        )

    # -- recording ---------------------------------------------------------------------------

    def record_cycle(self, errors: int = 0) -> None:
        """Count one trading cycle and the ``errors`` (>= 0) it reported."""
        if errors < 0:
            raise ValueError(f"errors: expected >= 0, got {errors}")
        self.cycles.inc()
        self.cycle_errors.inc(errors)

    def set_account(
        self, *, cash_usd: float, equity_usd: float, buying_power_usd: float, day_pnl_usd: float
    ) -> None:
        """Set the account gauges (``greekfire_equity_usd`` and the others)."""
        values = {
            "equity": equity_usd,
            "cash": cash_usd,
            "buying_power": buying_power_usd,
            "day_pnl": day_pnl_usd,
        }
        for key, value in values.items():
            self.account_gauges[key].set(value)

    def set_trading_state(self, *, kill_switch_tripped: bool, entries_paused: bool) -> None:
        """Set the 0/1 gauges of the kill switch and of an operator's pause."""
        self.kill_switch_tripped.set(1 if kill_switch_tripped else 0)
        self.entries_paused.set(1 if entries_paused else 0)

    def record_fills(self, strategy: str, count: int = 1) -> None:
        """Add ``count`` (>= 0; 0 creates the series) fills of ``strategy``."""
        if count < 0:
            raise ValueError(f"count: expected >= 0, got {count}")
        self.fills.labels(str(strategy)).inc(count)

    def record_order_status(self, status: str, count: int = 1) -> None:
        """Add ``count`` (>= 0; 0 creates the series) orders that reached ``status``."""
        if count < 0:
            raise ValueError(f"count: expected >= 0, got {count}")
        self.orders.labels(str(status)).inc(count)

    def set_portfolio_greeks(
        self, greeks: Mapping[str, float], limits: Mapping[str, float | None]
    ) -> None:
        """Set the net Greeks and their limits.

        Parameters
        ----------
        greeks, limits : mapping
            Keyed ``delta_usd``, ``delta_shares``, ``gamma``, ``vega_per_point_usd``,
            ``theta_per_day_usd`` (missing keys and ``None`` limits export NaN).
        """
        for key, metric in _GREEK_METRICS.items():
            self.greek_gauges[metric].set(greeks.get(key, math.nan))
            limit = limits.get(key)
            self.greek_limit.labels(metric).set(math.nan if limit is None else limit)

    def record_trade(self, symbol: str, side: str, latency_s: float | None = None) -> None:
        """Count one executed trade and, when given, observe its execution latency.

        Parameters
        ----------
        symbol : str
            Instrument symbol (a bounded set: one series per symbol and side).
        side : str
            Order side; a ``StrEnum`` member is exported by its value.
        latency_s : float, optional
            Seconds from order intent to broker acknowledgement.
        """
        self.trades_executed.labels(str(symbol), str(side)).inc()
        if latency_s is not None:
            self.trade_execution_duration.observe(latency_s)

    def record_trade_error(self, error: BaseException | str) -> None:
        """Count one failed trade execution, labelled by the exception's class name."""
        self.trade_errors.labels(_error_type(error)).inc()

    def record_signal_generation(self, duration_s: float) -> None:
        """Observe the time one signal generation took, in seconds."""
        self.signal_generation_duration.observe(duration_s)

    def record_data_fetch(self, provider: str, duration_s: float) -> None:
        """Observe the time one market-data fetch from ``provider`` took, in seconds."""
        self.data_fetch_duration.labels(str(provider)).observe(duration_s)

    def record_api_request(
        self, provider: str, endpoint: str, error: BaseException | str | None = None
    ) -> None:
        """Count one vendor API request and, when ``error`` is given, one API error.

        Parameters
        ----------
        provider, endpoint : str
            Who was called and which endpoint (a route template, not a URL with ids in it).
        error : BaseException or str, optional
            The failure; exported as ``error_type`` (the exception's class name, or the string).
        """
        self.api_requests.labels(str(provider), str(endpoint)).inc()
        if error is not None:
            self.api_errors.labels(str(provider), str(endpoint), _error_type(error)).inc()

    def record_api_retry(self, provider: str, endpoint: str) -> None:
        """Count one retry of a vendor API request (after a failure, before the backoff)."""
        self.api_retries.labels(str(provider), str(endpoint)).inc()

    def record_data_bytes(self, provider: str, nbytes: int) -> None:
        """Add ``nbytes`` received from ``provider`` (>= 0)."""
        if nbytes < 0:
            raise ValueError(f"nbytes: expected >= 0, got {nbytes}")
        self.data_received_bytes.labels(str(provider)).inc(nbytes)

    def set_active_positions(self, count: int) -> None:
        """Set the number of open positions."""
        self.active_positions.set(count)

    def timed(self, phase: str) -> _Timed:
        """Time a cycle phase into ``cycle_phase_duration_seconds{phase, outcome}``.

        Usable as ``with monitor.timed("fetch"):`` and as ``@monitor.timed("fetch")`` on sync
        or async functions. A run that raises is recorded with ``outcome="error"`` and the
        exception propagates; otherwise ``outcome="ok"``.

        Parameters
        ----------
        phase : str
            The phase name (a small fixed set: "fetch", "signals", "risk", "orders", ...).
        """
        return _Timed(self.cycle_phase_duration, str(phase), self._clock)

    # -- caches ------------------------------------------------------------------------------

    def watch_cache(self, cache: StatsSource, name: str | None = None) -> None:
        """Export ``cache.stats()`` at every scrape, labelled ``cache=name``.

        Parameters
        ----------
        cache : StatsSource
            Any object whose ``stats()`` has ``hits``, ``misses``, ``evictions``,
            ``current_bytes`` and ``entries``. It must be safe to call from the scrape thread.
        name : str, optional
            The ``cache`` label; default ``cache.name``.

        Raises
        ------
        ValueError
            No name given and the cache has no ``name`` attribute, or another cache already
            uses that name.
        """
        label = name if name is not None else getattr(cache, "name", None)
        if not isinstance(label, str) or not label:
            raise ValueError(
                f"watch_cache needs a name: {type(cache).__name__} has no 'name' attribute; "
                "call watch_cache(cache, name='quotes')"
            )
        self._caches.add(label, cache)

    def unwatch_cache(self, name: str) -> None:
        """Stop exporting the cache watched as ``name`` (``KeyError`` if there is none)."""
        self._caches.remove(name)

    # -- system sampling ---------------------------------------------------------------------

    def sample_once(self) -> None:
        """Read this process's RSS and CPU usage (since the previous sample) into the gauges."""
        with self._process.oneshot():
            rss = self._process.memory_info().rss
            cpu_percent = self._process.cpu_percent(None)
        self.resident_memory.set(rss)
        self.cpu_usage.set(cpu_percent / 100.0)

    def _sample_loop(self, interval_s: float, stop: threading.Event) -> None:
        while True:
            # A transient /proc read failure keeps the last values; the next tick tries again.
            with contextlib.suppress(psutil.Error):
                self.sample_once()
            if stop.wait(interval_s):
                return

    def start_sampler(self, interval_s: float = 15.0) -> None:
        """Sample system gauges every ``interval_s`` seconds in a daemon thread.

        Raises
        ------
        ValueError
            ``interval_s`` is not a positive finite number.
        RuntimeError
            The sampler is already running.
        """
        if not (math.isfinite(interval_s) and interval_s > 0):
            raise ValueError(f"interval_s must be a positive number of seconds, got {interval_s!r}")
        with self._sampler_lock:
            if self._sampler is not None:
                raise RuntimeError("the sampler is already running; call stop_sampler() first")
            # A fresh Event per thread: a restart never revives a thread being stopped.
            stop = threading.Event()
            thread = threading.Thread(
                target=self._sample_loop, args=(interval_s, stop), name="gf-sampler", daemon=True
            )
            self._sampler = (thread, stop)
            thread.start()

    def stop_sampler(self, timeout_s: float = 5.0) -> None:
        """Stop the sampler thread and wait for it (no-op when it is not running)."""
        with self._sampler_lock:
            sampler, self._sampler = self._sampler, None
        if sampler is not None:
            sampler[1].set()
            sampler[0].join(timeout_s)

    @property
    def sampler_running(self) -> bool:
        """Whether the background sampler thread is alive."""
        sampler = self._sampler
        return sampler is not None and sampler[0].is_alive()

    # -- exposition --------------------------------------------------------------------------

    def expose(self) -> bytes:
        """The registry in the Prometheus text format (what ``/metrics`` serves)."""
        return generate_latest(self.registry)

    def start_http_server(self, port: int, addr: str = "127.0.0.1") -> MetricsServer:
        """Serve ``/metrics`` from this monitor's registry in a daemon thread.

        Parameters
        ----------
        port : int
            TCP port; 0 picks a free one (read it back from ``MetricsServer.port``).
        addr : str, default "127.0.0.1"
            Bind address; loopback by default, pass ``"0.0.0.0"`` deliberately.

        Returns
        -------
        MetricsServer
            Call ``close()`` (or use it as a context manager) to stop it.
        """
        server, thread = _prom_start_http_server(port, addr=addr, registry=self.registry)
        return MetricsServer(server, thread)

    def asgi_app(self) -> ASGIApp:
        """An ASGI app answering with this registry's metrics.

        It answers every path, so mount it where it belongs, e.g.
        ``app.mount("/metrics", monitor.asgi_app())`` in FastAPI/Starlette.
        """
        return cast(ASGIApp, make_asgi_app(self.registry))

    def close(self) -> None:
        """Stop the sampler (HTTP servers are closed through their ``MetricsServer``)."""
        self.stop_sampler()

    def __enter__(self) -> PerformanceMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
