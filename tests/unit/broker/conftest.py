"""Fixtures of the broker tests (the doubles live in ``broker_fakes``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from broker_fakes import DictQuotes, FakeClock

from greekfire.broker.config import PaperBrokerConfig
from greekfire.broker.paper import PaperBroker


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def quotes(clock: FakeClock) -> DictQuotes:
    book = DictQuotes(clock)
    book.set("SPY", 500.00, 500.04, 500.02)
    book.set("SPY240405C00500000", 8.00, 8.10)
    book.set("SPY240405P00500000", 7.50, 7.60)
    return book


@pytest.fixture
def make_broker(
    clock: FakeClock, quotes: DictQuotes, tmp_path: Path
) -> Iterator[Callable[..., PaperBroker]]:
    """A factory: ``make_broker(**cfg_fields, state_path=...)`` -> PaperBroker."""
    made: list[PaperBroker] = []

    def make(state_path: Path | None = None, **fields: object) -> PaperBroker:
        cfg = PaperBrokerConfig.model_validate(fields)
        broker = PaperBroker(cfg, quotes, clock, state_path=state_path)
        made.append(broker)
        return broker

    yield make
    for broker in made:
        broker.close()
