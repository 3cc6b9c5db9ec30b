"""The dashboard's JSON API against its own OpenAPI spec (schemathesis, ASGI transport): every
GET endpoint and the control POSTs, with valid and invalid inputs; no server error, and every
answer matches the schema the spec gives for its status code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from dashboard_journal import live_state, write_journal
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from greekfire.engine.control import EngineControls
from greekfire.perf.monitor import PerformanceMonitor
from greekfire.web.api import create_app
from greekfire.web.service import DashboardService

pytestmark = pytest.mark.integration

TOKEN = "schema-token"
CHECKS = [not_a_server_error, response_schema_conformance]
# /api/stream never ends: tests/integration/web/test_dashboard_api.py reads it on a real server
OPERATIONS = [
    ("GET", "/api/health"),
    ("GET", "/api/overview"),
    ("GET", "/api/equity"),
    ("GET", "/api/performance"),
    ("GET", "/api/orders"),
    ("GET", "/api/fills"),
    ("GET", "/api/events"),
    ("GET", "/api/notes"),
    ("GET", "/api/strategies"),
    ("GET", "/api/bench"),
    ("GET", "/metrics"),
    ("POST", "/api/control/pause"),
    ("POST", "/api/control/resume"),
    ("POST", "/api/control/flatten"),
    ("POST", "/api/control/strategies/{name}/disable"),
]


def _live_schema(tmp: Path, controls: EngineControls) -> Any:
    # the app as the bot serves it: live state, controls, a token, /metrics
    path = write_journal(tmp / "journal.db")
    monitor = PerformanceMonitor(clock=lambda: 0.0)
    monitor.record_api_request("alpaca", "bars", error="TimeoutError")
    state = live_state()
    service = DashboardService(path, live=lambda: state, monitor=monitor, bench_dir=tmp / "none")
    app = create_app(service, controls=controls, token=TOKEN, registry=monitor.registry)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def _journal_schema(tmp: Path) -> Any:
    # a journal served alone: no live state, no controls (they answer 403), no /metrics
    path = write_journal(tmp / "journal.db")
    app = create_app(DashboardService(path, bench_dir=Path("reports")))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def _fuzz(
    schema: Any,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    after: Callable[[], object] = lambda: None,
) -> int:
    operation = schema[path][method]
    raw = operation.definition.raw
    calls = 0
    modes = [GenerationMode.POSITIVE]
    if raw.get("parameters") or raw.get("requestBody"):  # something to get wrong
        modes.append(GenerationMode.NEGATIVE)
    for mode in modes:

        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            nonlocal calls
            case.call_and_validate(headers=headers, checks=CHECKS)
            calls += 1
            after()

        run()
    return calls


def test_the_spec_lists_every_operation(tmp_path: Path) -> None:
    schema = _live_schema(tmp_path, EngineControls())
    found = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    assert found == {*OPERATIONS, ("GET", "/api/stream")}
    (tmp_path / "j").mkdir()
    assert ("GET", "/metrics") not in {
        (op.ok().method.upper(), op.ok().path)
        for op in _journal_schema(tmp_path / "j").get_all_operations()
    }


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_live_api_conforms_with_the_token(tmp_path: Path, method: str, path: str) -> None:
    controls = EngineControls()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert _fuzz(_live_schema(tmp_path, controls), method, path, headers, controls.take) > 0


@pytest.mark.parametrize(("method", "path"), [op for op in OPERATIONS if op[0] == "POST"])
def test_live_controls_conform_without_the_token(tmp_path: Path, method: str, path: str) -> None:
    controls = EngineControls()
    assert _fuzz(_live_schema(tmp_path, controls), method, path) > 0
    assert controls.pending() == 0  # nothing got through


@pytest.mark.parametrize(("method", "path"), [op for op in OPERATIONS if op[1] != "/metrics"])
def test_journal_only_api_conforms(tmp_path: Path, method: str, path: str) -> None:
    (tmp_path / "j").mkdir()
    assert _fuzz(_journal_schema(tmp_path / "j"), method, path) > 0
