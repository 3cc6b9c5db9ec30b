"""The broker contract, run by the paper broker against a dict of quotes on a frozen clock."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from broker_contract import BrokerContract, BrokerHarness
from broker_fakes import DictQuotes, FakeClock

from greekfire.broker.config import PaperBrokerConfig
from greekfire.broker.paper import PaperBroker
from greekfire.broker.port import Broker
from greekfire.domain.enums import OptionRight
from greekfire.domain.market import Quote


@dataclass
class PaperHarness:
    broker: Broker
    stock: str
    book: DictQuotes

    def quote(self, symbol: str) -> Quote:
        found = self.book.quote(symbol)
        assert found is not None, symbol
        return found

    def listed_option(self, right: OptionRight) -> str:
        return "SPY240405C00500000" if right is OptionRight.CALL else "SPY240405P00500000"


@pytest.fixture(params=["mid", "touch"])
def harness(request: pytest.FixtureRequest, clock: FakeClock, quotes: DictQuotes) -> BrokerHarness:
    cfg = PaperBrokerConfig(fill_at=request.param, slippage_bps=5.0, option_slippage_fraction=0.1)
    broker = PaperBroker(cfg, quotes, clock)
    assert isinstance(broker, Broker)
    return PaperHarness(broker, "SPY", quotes)


class TestPaperBrokerContract(BrokerContract):
    """Every contract test, for fills at the mid and at the touch."""
