"""Shared fixtures: how a test asks for an external service (redis, promtool, chromium)."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest


def _require(name: str, available: bool, why: str = "") -> None:
    if available:
        return
    message = f"{name} is not available{': ' + why if why else ''}"
    if os.environ.get("GREEKFIRE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} (GREEKFIRE_REQUIRE_SERVICES=1 makes a missing service a failure)")
    pytest.skip(message)


@pytest.fixture
def require_service() -> Callable[..., None]:
    """``require_service(name, available, why="")``: skip the test when the service is
    missing, or fail it when ``GREEKFIRE_REQUIRE_SERVICES=1`` (as CI sets)."""
    return _require
