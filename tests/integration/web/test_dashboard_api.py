"""The dashboard app: every endpoint (ASGI transport), filters and limits, the controls and
their token, server-sent events and the bind rule on a real server, local assets only, and
the API over the journal of a real engine run."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashboard_journal import T0, FakeClock, live_state, write_journal
from fastapi import FastAPI

from greekfire.engine.control import ControlCommand, ControlKind, EngineControls
from greekfire.errors import ConfigError
from greekfire.journal import Journal
from greekfire.perf.monitor import PerformanceMonitor
from greekfire.web.api import STATIC_DIR, create_app
from greekfire.web.config import check_bind
from greekfire.web.server import DashboardServer
from greekfire.web.service import DashboardService

pytestmark = pytest.mark.integration

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# a URL to another host, or protocol-relative; the SVG/XML namespaces are names, not fetches
EXTERNAL = re.compile(r"(?:https?:|wss?:)?//(?!www\.w3\.org/)[a-z0-9-]+(?:\.[a-z0-9-]+)+", re.I)


def call(app: FastAPI, method: str, url: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dashboard") as c:
            return await c.request(method, url, **kwargs)

    return asyncio.run(go())


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    return write_journal(tmp_path / "journal.db")


@pytest.fixture
def controls() -> EngineControls:
    return EngineControls()


@pytest.fixture
def live_app(journal: Path, controls: EngineControls) -> FastAPI:
    monitor = PerformanceMonitor(clock=lambda: 0.0)
    monitor.record_api_request("alpaca", "quotes")
    state = live_state()
    service = DashboardService(journal, live=lambda: state, monitor=monitor)
    return create_app(service, controls=controls, token=TOKEN, registry=monitor.registry)


@pytest.fixture
def journal_app(journal: Path, tmp_path: Path) -> FastAPI:
    return create_app(DashboardService(journal, bench_dir=tmp_path / "no-reports"))


def test_every_read_endpoint_answers(live_app: FastAPI) -> None:
    health = call(live_app, "GET", "/api/health").json()
    assert health == {"status": "ok", "mode": "live", "cycle": 3}
    overview = call(live_app, "GET", "/api/overview").json()
    assert overview["account"]["equity_usd"] == 100_050.0
    assert overview["positions"][0]["symbol"] == "SPY"
    assert overview["positions"][0]["theta_per_day_usd"] is None  # NaN is sent as null
    assert overview["greek_limits"]["delta_usd"] == 20_000.0
    assert overview["controls_available"] is True
    assert [p["ts_ns"] for p in call(live_app, "GET", "/api/equity").json()["points"]] == [T0]
    perf = call(live_app, "GET", "/api/performance").json()
    assert {p["phase"] for p in perf["phases"]} == {"gate", "fetch", "total"}
    assert [s["cycle"] for s in perf["series"]] == [1, 2, 3]
    assert perf["api"] == [{"provider": "alpaca", "endpoint": "quotes", "requests": 1, "errors": 0}]
    assert perf["caches"][0]["name"] == "account"
    assert perf["system"]["rss_bytes"] > 0
    assert perf["trades_per_hour"][0]["fills"] == 1
    orders = call(live_app, "GET", "/api/orders").json()["orders"]
    assert [o["client_order_id"] for o in orders] == ["wheel-1", "mom-1"]
    assert call(live_app, "GET", "/api/fills").json()["fills"][0]["strategy"] == "momentum"
    assert call(live_app, "GET", "/api/events").json() == {"events": []}
    notes = call(live_app, "GET", "/api/notes?kind=risk_denied").json()["notes"]
    assert notes[0]["payload"]["symbol"] == "AAPL"
    strategies = call(live_app, "GET", "/api/strategies").json()["strategies"]
    assert [s["name"] for s in strategies] == ["momentum", "wheel"]
    assert strategies[0]["last_signals"][0]["approved"] is True
    metrics = call(live_app, "GET", "/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'greekfire_api_requests_total{endpoint="quotes",provider="alpaca"} 1.0' in metrics.text


def test_journal_only_mode(journal_app: FastAPI) -> None:
    assert call(journal_app, "GET", "/api/health").json()["mode"] == "journal"
    overview = call(journal_app, "GET", "/api/overview").json()
    assert overview["controls_available"] is False
    assert overview["greeks"]["delta_usd"] is None
    strategies = call(journal_app, "GET", "/api/strategies").json()["strategies"]
    assert {s["name"]: s["enabled"] for s in strategies} == {"momentum": None, "wheel": None}
    assert call(journal_app, "GET", "/api/bench").json() == {
        "available": False,
        "generated": None,
        "markdown": None,
        "cases": [],
        "error": None,
    }
    assert call(journal_app, "GET", "/metrics").status_code == 404  # no registry given


def test_the_bench_page_reads_the_latest_report(journal: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "bench.json").write_text(
        '{"date_utc": "2026-11-21T17:05:00+00:00", "cases": [{"key": "a", "title": "(a)",'
        ' "rows": [{"key": "greekfire", "label": "kernels", "status": "ok", "median_ms": 0.4}]}]}'
    )
    (reports / "bench.md").write_text("# report\n")
    app = create_app(DashboardService(journal, bench_dir=reports))
    bench = call(app, "GET", "/api/bench").json()
    assert bench["available"] is True
    assert bench["markdown"] == "# report\n"
    assert bench["cases"][0]["rows"][0]["median_ms"] == 0.4


def test_filters_and_limits(live_app: FastAPI) -> None:
    def ids(url: str) -> list[str]:
        response = call(live_app, "GET", url)
        assert response.status_code == 200, response.text
        return [o["client_order_id"] for o in response.json()["orders"]]

    assert ids("/api/orders?q=spy261218") == ["wheel-1"]
    assert ids("/api/orders?q=FAST") == ["mom-1"]
    assert ids("/api/orders?status=filled") == ["mom-1"]
    assert ids("/api/orders?status=pending_new&q=wheel") == ["wheel-1"]
    assert ids("/api/orders?limit=1") == ["wheel-1"]
    fills = call(live_app, "GET", "/api/fills?q=momentum&limit=5").json()["fills"]
    assert [f["fill_id"] for f in fills] == ["f-1"]
    assert call(live_app, "GET", "/api/fills?q=wheel").json()["fills"] == []
    assert len(call(live_app, "GET", "/api/equity?limit=1").json()["points"]) == 1
    for url in (
        "/api/orders?limit=0",
        "/api/orders?limit=10001",
        "/api/orders?status=bogus",
        "/api/orders?q=" + "x" * 201,
        "/api/fills?limit=-1",
        "/api/equity?limit=0",
        "/api/performance?limit=10001",
        "/api/events?limit=abc",
        "/api/notes?limit=0",
    ):
        assert call(live_app, "GET", url).status_code == 422, url


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/api/control/pause", ControlKind.PAUSE_ENTRIES),
        ("/api/control/resume", ControlKind.RESUME_ENTRIES),
        ("/api/control/flatten", ControlKind.FLATTEN),
    ],
)
def test_a_control_with_the_token_is_queued(
    live_app: FastAPI, controls: EngineControls, path: str, kind: ControlKind
) -> None:
    response = call(live_app, "POST", path, headers=AUTH, json={"reason": "lunch"})
    assert response.status_code == 202
    assert response.json() == {"accepted": True, "pending": 1}
    assert call(live_app, "POST", path, headers=AUTH).json()["pending"] == 2  # body optional
    assert controls.take() == [
        ControlCommand(kind, None, "lunch", "dashboard"),
        ControlCommand(kind, None, "", "dashboard"),
    ]


def test_disable_a_strategy(live_app: FastAPI, controls: EngineControls) -> None:
    url = "/api/control/strategies/wheel/disable"
    response = call(live_app, "POST", url, headers=AUTH, json={"reason": "too risky"})
    assert response.status_code == 202
    assert controls.take() == [
        ControlCommand(ControlKind.DISABLE_STRATEGY, "wheel", "too risky", "dashboard")
    ]
    unknown = call(live_app, "POST", "/api/control/strategies/nope/disable", headers=AUTH)
    assert unknown.status_code == 404
    assert "nope" in unknown.json()["detail"]
    bad_body = call(live_app, "POST", url, headers=AUTH, json={"reason": 3, "extra": 1})
    assert bad_body.status_code == 422
    assert controls.pending() == 0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ],
)
def test_a_control_without_the_right_token_is_refused(
    live_app: FastAPI, controls: EngineControls, headers: dict[str, str]
) -> None:
    for path in ("/api/control/pause", "/api/control/strategies/wheel/disable"):
        response = call(live_app, "POST", path, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert "token" in response.json()["detail"]
    assert controls.pending() == 0


def test_controls_are_disabled_without_an_engine_or_a_token(
    journal: Path, journal_app: FastAPI, controls: EngineControls
) -> None:
    response = call(journal_app, "POST", "/api/control/pause", headers=AUTH)
    assert response.status_code == 403
    assert response.json()["detail"].startswith("controls are disabled: ")
    no_token = create_app(DashboardService(journal), controls=controls, token="")
    response = call(no_token, "POST", "/api/control/flatten", headers={"Authorization": "Bearer "})
    assert response.status_code == 403
    assert "no token" in response.json()["detail"]
    assert call(no_token, "GET", "/api/overview").json()["controls_available"] is False
    assert controls.pending() == 0


def test_the_spec_is_served_without_external_pages(live_app: FastAPI) -> None:
    spec = call(live_app, "GET", "/openapi.json")
    assert spec.status_code == 200
    assert "/api/control/strategies/{name}/disable" in spec.json()["paths"]
    assert call(live_app, "GET", "/docs").status_code == 404  # Swagger UI would load a CDN
    assert not EXTERNAL.search(spec.text)


def test_no_external_url_in_any_served_asset(live_app: FastAPI) -> None:
    index = call(live_app, "GET", "/")
    if not (STATIC_DIR / "index.html").is_file():
        assert index.status_code == 404
        return
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert not EXTERNAL.search(index.text)
    referenced = set(re.findall(r"""(?:src|href)=["'](/static/[^"']+)["']""", index.text))
    assets = {
        f"/static/{p.relative_to(STATIC_DIR).as_posix()}"
        for p in STATIC_DIR.rglob("*")
        if p.is_file()
    }
    assert referenced <= assets
    for url in sorted(assets):
        response = call(live_app, "GET", url)
        assert response.status_code == 200, url
        assert not EXTERNAL.search(response.text), (url, EXTERNAL.search(response.text))
    assert call(live_app, "GET", "/static/../api.py").status_code == 404


def test_the_external_url_check_can_fail() -> None:
    assert EXTERNAL.search('<script src="https://cdn.jsdelivr.net/npm/x.js">')
    assert EXTERNAL.search("import('//unpkg.com/lib')")
    assert not EXTERNAL.search('fetch("/api/overview") // local')
    assert not EXTERNAL.search('createElementNS("http://www.w3.org/2000/svg", "svg")')


# --------------------------------------------------------------------------- a real server


def test_server_sends_an_event_for_each_new_cycle(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    with Journal(path, clock=FakeClock()) as writer:
        writer.record_cycle(1, T0, {"total": 0.01}, {})
        writer.flush()
        app = create_app(DashboardService(path), stream_poll_s=0.05, heartbeat_s=0.2)
        with DashboardServer(app, "127.0.0.1", 0) as server, httpx.Client(timeout=10) as client:
            assert server.port > 0
            assert server.url == f"http://127.0.0.1:{server.port}/"
            assert client.get(server.url + "api/health").json()["cycle"] == 1
            with client.stream("GET", server.url + "api/stream") as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                lines = stream.iter_lines()
                assert next(line for line in lines if line.startswith(":")) == ": connected"
                writer.record_cycle(2, T0 + 60 * 10**9, {"total": 0.025}, {})
                writer.flush()
                seen: list[str] = []
                for line in lines:
                    seen.append(line)
                    if line.startswith("data:"):
                        break
                assert "event: cycle" in seen
                assert "id: 2" in seen
                assert seen[-1] == f'data: {{"cycle":2,"ts_ns":{T0 + 60 * 10**9},"total_ms":25.0}}'
                assert next(line for line in lines if line.startswith(":")) == ": heartbeat"
        assert not server.running


def test_a_stream_left_open_does_not_block_close(journal: Path) -> None:
    app = create_app(DashboardService(journal), stream_poll_s=0.05)
    server = DashboardServer(app, "127.0.0.1", 0)
    with httpx.Client(timeout=10) as client, client.stream("GET", server.url + "api/stream") as s:
        assert next(s.iter_lines()).startswith("retry:")
        server.close()
        server.close()  # idempotent
        assert not server.running


def test_the_server_refuses_a_non_loopback_host_without_a_token(journal: Path) -> None:
    app = create_app(DashboardService(journal))
    with pytest.raises(ConfigError, match=r"0\.0\.0\.0") as info:
        DashboardServer(app, "0.0.0.0", 0)
    assert info.value.field == "dashboard.host"
    with pytest.raises(ConfigError, match=r"192\.168\.1\.20"):
        check_bind("192.168.1.20", None)
    check_bind("192.168.1.20", TOKEN)  # with a token: allowed
    for host in ("127.0.0.1", "localhost", "::1", "[::1]", "LOCALHOST"):
        check_bind(host, None)


def test_a_busy_port_is_an_error(journal: Path) -> None:
    app = create_app(DashboardService(journal))
    with (
        DashboardServer(app, "127.0.0.1", 0) as first,
        pytest.raises(OSError, match=f"127.0.0.1:{first.port}"),
    ):
        DashboardServer(create_app(DashboardService(journal)), "127.0.0.1", first.port)


# --------------------------------------------------------------------------- a real engine


def test_the_api_over_a_real_engine_run(tmp_path: Path) -> None:
    import pandas as pd

    from greekfire.engine.clock import SimulatedClock
    from greekfire.engine.engine import PHASES, TradingEngine
    from greekfire.settings import Settings

    settings = Settings.model_validate(
        {
            "engine": {
                "symbols": ["SPY", "MSFT"],
                "clock": "simulated",
                "lookback_bars": 60,
                "log_path": str(tmp_path / "log.jsonl"),
            },
            "data": {"provider": "synthetic", "history_dir": None},
            "risk": {"risk_fraction": 0.1},
            "journal": {"path": str(tmp_path / "j.db"), "dry_run_path": str(tmp_path / "d.db")},
            "strategies": [{"name": "momentum", "symbols": ["SPY", "MSFT"]}],
        }
    )
    clock = SimulatedClock(pd.Timestamp("2026-11-09T14:35:00+00:00"))
    with TradingEngine(settings, clock=clock, workdir=tmp_path) as engine:
        for _ in range(4):
            engine.run_cycle()
            clock.advance(1800)
    app = create_app(DashboardService(tmp_path / "j.db", risk=settings.risk))
    assert call(app, "GET", "/api/health").json()["cycle"] == 4
    perf = call(app, "GET", "/api/performance").json()
    assert set(PHASES) <= {p["phase"] for p in perf["phases"]}
    assert [s["cycle"] for s in perf["series"]] == [1, 2, 3, 4]
    assert all(s["total_ms"] > 0 for s in perf["series"])
    assert len(call(app, "GET", "/api/equity").json()["points"]) == 4
    overview = call(app, "GET", "/api/overview").json()
    assert overview["account"]["equity_usd"] > 0
    assert overview["cycle"] == 4
    strategies = call(app, "GET", "/api/strategies").json()["strategies"]
    assert [(s["name"], s["symbols"]) for s in strategies] == [("momentum", ["SPY", "MSFT"])]
