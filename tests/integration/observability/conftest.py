"""Puts this folder on sys.path (the tests import ``observability_support`` from it) and
provides the live bot and the real Prometheus, once per test module."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from observability_support import (
    PROMETHEUS,
    PROMTOOL,
    RunningBot,
    RunningPrometheus,
    binary,
    running_bot,
    running_prometheus,
    scrape_config_for,
)


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBot]:
    """A TradingEngine cycling in a thread, its metrics on a free loopback port."""
    with running_bot(tmp_path_factory.mktemp("bot")) as running:
        yield running


@pytest.fixture
def promtool(require_service: Callable[..., None]) -> str:
    """Debian's promtool (skips, or fails under GREEKFIRE_REQUIRE_SERVICES=1, without it)."""
    path = binary("promtool", PROMTOOL)
    require_service("promtool", path is not None, "apt-get install prometheus")
    assert path is not None
    return path


@pytest.fixture(scope="module")
def prometheus_binary() -> str | None:
    """Debian's prometheus server binary, or None."""
    return binary("prometheus", PROMETHEUS)


@pytest.fixture(scope="module")
def prometheus(
    prometheus_binary: str | None, bot: RunningBot, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningPrometheus | None]:
    """A real Prometheus scraping ``bot`` every second (None when the binary is missing: the
    test then asks ``require_service``)."""
    if prometheus_binary is None:
        yield None
        return
    workdir = tmp_path_factory.mktemp("prometheus")
    config = scrape_config_for(bot.target, workdir)
    with running_prometheus(prometheus_binary, config, workdir) as running:
        yield running
