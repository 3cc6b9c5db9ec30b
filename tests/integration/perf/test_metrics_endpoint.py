"""/metrics over real loopback HTTP (checked by promtool) and through the ASGI app."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from greekfire.perf.monitor import MetricsServer, PerformanceMonitor

pytestmark = pytest.mark.integration


class StaticCache:
    name = "quotes"

    def stats(self) -> SimpleNamespace:
        evictions = {"ttl": 1, "lru": 2}
        return SimpleNamespace(
            hits=7, misses=3, evictions=evictions, current_bytes=4096, entries=12
        )


@pytest.fixture
def monitor() -> Iterator[PerformanceMonitor]:
    with PerformanceMonitor() as m:
        m.record_trade("SPY", "buy", latency_s=0.012)
        m.record_trade_error(TimeoutError())
        m.record_signal_generation(0.003)
        m.record_data_fetch("synthetic", 0.04)
        m.record_api_request("alpaca", "/v2/orders")
        m.record_api_request("alpaca", "/v2/orders", error=ConnectionError())
        m.set_active_positions(2)
        m.sample_once()
        with m.timed("fetch"):
            pass
        m.watch_cache(StaticCache())
        yield m


@pytest.fixture
def server(monitor: PerformanceMonitor) -> Iterator[MetricsServer]:
    with monitor.start_http_server(0) as running:
        yield running


def get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers["Content-Type"], response.read()


def promtool_check(body: bytes) -> subprocess.CompletedProcess[bytes]:
    promtool = shutil.which("promtool")
    assert promtool is not None
    return subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=60, check=False
    )


@pytest.mark.service
def test_http_metrics_pass_promtool_check_metrics(
    server: MetricsServer, require_service: Callable[..., None]
) -> None:
    require_service("promtool", shutil.which("promtool") is not None)
    status, content_type, body = get(server.url)
    assert status == 200
    assert content_type.startswith("text/plain")
    assert b"greekfire_trades_executed_total" in body
    assert b'greekfire_cache_hits_total{cache="quotes"} 7.0' in body

    result = promtool_check(body)
    problems = (result.stdout + result.stderr).decode()
    assert result.returncode == 0, problems
    assert problems.strip() == "", problems


@pytest.mark.service
def test_promtool_catches_a_badly_named_series(require_service: Callable[..., None]) -> None:
    # The check above only means something if promtool does flag lint problems here.
    require_service("promtool", shutil.which("promtool") is not None)
    body = b"# HELP bad_requests Requests.\n# TYPE bad_requests counter\nbad_requests 1\n"
    result = promtool_check(body)
    assert result.returncode != 0
    assert b"_total" in result.stdout + result.stderr


def test_http_server_binds_loopback_and_closes(monitor: PerformanceMonitor) -> None:
    running = monitor.start_http_server(0)
    try:
        assert running.server.server_address[0] == "127.0.0.1"
        assert running.port > 0
        assert running.url == f"http://127.0.0.1:{running.port}/metrics"
        assert running.thread.daemon
        status, _, body = get(running.url)
        assert status == 200
        names = {f.name for f in text_string_to_metric_families(body.decode())}
        assert "greekfire_cycle_phase_duration_seconds" in names
    finally:
        running.close()
    assert not running.thread.is_alive()
    with pytest.raises(urllib.error.URLError):
        get(running.url)


async def call_asgi(app: Any, path: str = "/metrics") -> list[dict[str, Any]]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"accept", b"text/plain")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def test_asgi_app_serves_the_registry(monitor: PerformanceMonitor) -> None:
    start, body = asyncio.run(call_asgi(monitor.asgi_app()))
    assert start["type"] == "http.response.start"
    assert start["status"] == 200
    headers = dict(start["headers"])
    assert headers[b"Content-Type"].startswith(b"text/plain")
    assert body["type"] == "http.response.body"
    text = body["body"].decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["greekfire_trades_executed"].type == "counter"
    assert families["greekfire_cache_evictions"].type == "counter"
    assert "greekfire_active_positions 2.0" in text


@pytest.mark.service
def test_asgi_body_passes_promtool(
    monitor: PerformanceMonitor, require_service: Callable[..., None]
) -> None:
    require_service("promtool", shutil.which("promtool") is not None)
    _, body = asyncio.run(call_asgi(monitor.asgi_app()))
    result = promtool_check(body["body"])
    assert result.returncode == 0, (result.stdout + result.stderr).decode()
    assert (result.stdout + result.stderr).strip() == b""
