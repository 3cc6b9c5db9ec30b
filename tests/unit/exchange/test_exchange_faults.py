"""Fault injection, auth and the control endpoints of the simulated exchange, in process.

Latency and hangs wait through an injected fake sleep and the token bucket reads an injected
clock: nothing here waits on the wall clock. Drops, hangs and truncations need a real
connection; in process they surface as ``ConnectionDropped`` (the integration tests show them
on the wire).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import orjson
import pytest

from greekfire.errors import ConfigError
from greekfire.exchange.app import create_app
from greekfire.exchange.config import ExchangeConfig
from greekfire.exchange.faults import ConnectionDropped, FaultConfig, FaultInjector

NOW = dt.datetime(2024, 3, 5, 15, 0, tzinfo=dt.UTC)
AUTH = {"APCA-API-KEY-ID": "k", "APCA-API-SECRET-KEY": "s"}
BARS = (
    "/v2/stocks/bars",
    {"symbols": "SPY", "timeframe": "1Day", "start": "2024-01-02", "end": "2024-02-29"},
)


class FakeTime:
    """A monotonic clock and an async sleep that only records."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def _make(faults: FaultConfig | None = None, **config: Any) -> tuple[Any, FakeTime]:
    fake = FakeTime()
    injector = FaultInjector(faults, monotonic=fake.monotonic, sleep=fake.sleep)
    settings = ExchangeConfig(
        start=NOW, speed=0, symbols=("SPY", "AAPL"), key_id="k", secret_key="s", **config
    )
    return create_app(settings, injector=injector), fake


def _call(
    app: Any,
    method: str,
    path: str,
    params: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
    body: Any = None,
) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://exchange") as client:
            content = None if body is None else orjson.dumps(body)
            return await client.request(
                method,
                path,
                params=params,
                headers=AUTH if headers is None else headers,
                content=content,
            )

    return asyncio.run(go())


def test_auth_missing_or_wrong_keys_answer_401() -> None:
    app, _ = _make()
    for headers in (
        {},
        {"APCA-API-KEY-ID": "k"},
        {"APCA-API-KEY-ID": "k", "APCA-API-SECRET-KEY": "nope"},
    ):
        response = _call(app, "GET", "/v2/clock", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"code": 40110000, "message": "access key verification failed"}
    assert _call(app, "GET", "/_greekfire/stats", headers={}).status_code == 401
    assert _call(app, "GET", "/v2/clock").status_code == 200


def test_auth_can_be_disabled() -> None:
    app = create_app(
        ExchangeConfig(start=NOW, speed=0, symbols=("SPY",), key_id=None, secret_key=None)
    )
    assert _call(app, "GET", "/v2/clock", headers={}).status_code == 200


def test_latency_and_jitter_go_through_the_injected_sleep() -> None:
    app, fake = _make(FaultConfig(latency_ms=50, jitter_ms=10, seed=1))
    for _ in range(5):
        assert _call(app, "GET", *BARS).status_code == 200
    assert len(fake.slept) == 5
    assert all(0.050 <= s < 0.060 for s in fake.slept)
    assert len(set(fake.slept)) == 5  # jitter drawn per request
    _call(app, "GET", "/v2/account")  # trading is not faulted by default
    assert len(fake.slept) == 5


def test_fail_first_n_then_recover() -> None:
    app, _ = _make(FaultConfig(fail_first_n=3))
    statuses = [_call(app, "GET", *BARS).status_code for _ in range(5)]
    assert statuses == [503, 503, 503, 200, 200]
    stats = _call(app, "GET", "/_greekfire/stats").json()
    assert stats["by_fault"] == {"fail_first": 3}
    assert stats["by_status"]["503"] == 3


def test_rate_limit_token_bucket_with_retry_after() -> None:
    app, fake = _make(FaultConfig(rate_limit_rps=2, rate_limit_burst=3))
    statuses = [_call(app, "GET", *BARS).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = _call(app, "GET", *BARS)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"
    assert limited.json() == {"code": 42910000, "message": "rate limit exceeded"}
    fake.now += 1.0  # two tokens back
    assert [_call(app, "GET", *BARS).status_code for _ in range(3)] == [200, 200, 429]


def test_retry_after_can_be_set() -> None:
    app, _ = _make(FaultConfig(rate_limit_rps=0.1, rate_limit_burst=1, retry_after_s=7))
    assert _call(app, "GET", *BARS).status_code == 200
    assert _call(app, "GET", *BARS).headers["retry-after"] == "7"


def test_error_rate_answers_alpaca_5xx() -> None:
    app, _ = _make(FaultConfig(error_rate=1.0, seed=4))
    responses = [_call(app, "GET", *BARS) for _ in range(12)]
    assert {r.status_code for r in responses} <= {500, 502, 503, 504}
    assert len({r.status_code for r in responses}) > 1
    assert all(r.json()["code"] == 50010000 and r.json()["message"] for r in responses)


def test_fault_sequence_is_deterministic_per_seed() -> None:
    def run(seed: int) -> list[int]:
        app, _ = _make(FaultConfig(error_rate=0.5, seed=seed))
        return [_call(app, "GET", *BARS).status_code for _ in range(16)]

    assert run(9) == run(9)
    assert 200 in run(9)
    assert set(run(9)) != {200}
    assert run(9) != run(10)


def test_malformed_answers_200_with_invalid_json() -> None:
    app, _ = _make(FaultConfig(malformed_rate=1.0))
    for encoding in ("gzip", "identity"):
        response = _call(app, "GET", *BARS, headers={**AUTH, "Accept-Encoding": encoding})
        assert response.status_code == 200
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(response.content)
        assert response.content.startswith(b'{"bars":{"SPY":[')


def test_drop_and_truncate_close_the_connection() -> None:
    for faults in (FaultConfig(drop_rate=1.0), FaultConfig(truncate_rate=1.0)):
        app, _ = _make(faults)
        with pytest.raises(ConnectionDropped):
            _call(app, "GET", *BARS)


def test_hang_waits_hang_s_then_drops() -> None:
    app, fake = _make(FaultConfig(hang_rate=1.0, hang_s=42.0))
    with pytest.raises(ConnectionDropped):
        _call(app, "GET", *BARS)
    assert fake.slept == [42.0]


def test_paths_restrict_faults() -> None:
    app, _ = _make(FaultConfig(error_rate=1.0, paths=("/v2/clock",)))
    assert _call(app, "GET", *BARS).status_code == 200
    assert _call(app, "GET", "/v2/clock").status_code >= 500
    everything, _ = _make(FaultConfig(error_rate=1.0, paths=("*",)))
    assert _call(everything, "GET", "/v2/account").status_code >= 500
    assert _call(everything, "GET", "/_greekfire/stats").status_code == 200  # never faulted


def test_reject_symbols_answer_422_naming_the_symbol() -> None:
    app, _ = _make(FaultConfig(reject_symbols=("AAPL",)))
    response = _call(app, "GET", "/v2/stocks/bars", {"symbols": "SPY,AAPL", "timeframe": "1Day"})
    assert response.status_code == 422
    assert response.json() == {"code": 42210000, "message": "symbol rejected: AAPL"}
    assert _call(app, "GET", "/v2/stocks/AAPL/quotes/latest").status_code == 422
    assert _call(app, "GET", "/v2/stocks/quotes/latest", {"symbols": "SPY"}).status_code == 200


def test_control_endpoints_replace_faults_and_count() -> None:
    app, _ = _make()
    assert _call(app, "GET", *BARS).status_code == 200
    new = _call(
        app, "POST", "/_greekfire/faults", body={"error_rate": 1.0, "paths": ["/v2/stocks/"]}
    )
    assert new.status_code == 200
    assert new.json()["error_rate"] == 1.0
    assert _call(app, "GET", "/_greekfire/faults").json()["paths"] == ["/v2/stocks/"]
    assert _call(app, "GET", *BARS).status_code >= 500
    stats = _call(app, "GET", "/_greekfire/stats").json()
    assert stats["by_path"]["/v2/stocks/bars"] == 2
    assert stats["by_fault"] == {"error": 1}
    assert len(stats["bars_requests"]) == 1  # the faulted request never reached the route
    assert _call(app, "POST", "/_greekfire/reset-stats").status_code == 200
    after = _call(app, "GET", "/_greekfire/stats").json()
    assert after["by_fault"] == {}
    assert after["bars_requests"] == []
    assert after["requests"] == 1  # this GET itself is counted once answered
    assert _call(app, "POST", "/_greekfire/faults", body={}).json()["error_rate"] == 0.0


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"error_rate": 2}, "faults.error_rate"),
        ({"bogus": 1}, "faults.bogus"),
        ({"error_rate": 0.6, "drop_rate": 0.6}, "sum to at most 1"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_bad_fault_settings_answer_400(body: Any, fragment: str) -> None:
    app, _ = _make()
    response = _call(app, "POST", "/_greekfire/faults", body=body)
    assert response.status_code == 400
    assert fragment in response.json()["message"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"latency_ms": -1}, "faults.latency_ms"),
        ({"hang_rate": 1.5}, "faults.hang_rate"),
        ({"rate_limit_burst": 0}, "faults.rate_limit_burst"),
        ({"retry_after_s": float("nan")}, "faults.retry_after_s"),
        ({"paths": [""]}, "faults.paths"),
        ({"seed": -1}, "faults.seed"),
        ({"fail_first_n": True}, "faults.fail_first_n"),
    ],
)
def test_fault_config_validation_names_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        FaultConfig(**kwargs)
    assert caught.value.field == field
    assert repr(next(iter(kwargs.values())))[:3] in str(caught.value)


def test_unknown_routes_answer_alpaca_404() -> None:
    app, _ = _make()
    response = _call(app, "GET", "/v2/nowhere")
    assert response.status_code == 404
    assert response.json()["code"] == 40410000
