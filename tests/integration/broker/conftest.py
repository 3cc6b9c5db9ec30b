"""Fixtures for the Alpaca broker tests: serve-market on loopback with a frozen clock.

The exchange's clock is frozen (``speed=0``) inside a regular session, so every fill happens at
the quote ``SyntheticMarket`` (stocks) or ``option_chain`` (options) gives for ``NOW``; the
broker's own clock is frozen at the same instant. Faults are switched with the exchange's
control endpoint and reset after each test.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from greekfire.broker.alpaca import AlpacaBroker
from greekfire.broker.config import AlpacaBrokerConfig
from greekfire.domain.enums import OptionRight
from greekfire.domain.market import Quote
from greekfire.exchange.config import ExchangeConfig
from greekfire.exchange.server import ServerThread, serve_in_thread
from greekfire.sim.chains import option_chain
from greekfire.sim.market import SyntheticMarket

# broker_contract.py lives beside the unit tests; make it importable from here.
_CONTRACT_DIR = str(Path(__file__).resolve().parents[2] / "unit" / "broker")
if _CONTRACT_DIR not in sys.path:
    sys.path.insert(0, _CONTRACT_DIR)

SYMBOLS = ("SPY", "AAPL")
SEED = 11
NOW = pd.Timestamp("2024-03-05 15:00", tz="UTC")  # Tuesday, 10:00 New York: open
NOW_NS = int(NOW.value)
KEY, SECRET = "broker-key", "broker-secret"
RATE = 0.04


class FrozenClock:
    """A ``Clock`` stopped at ``NOW``."""

    def now_ns(self) -> int:
        return NOW_NS


@dataclass
class AlpacaHarness:
    """The ``BrokerHarness`` of the contract suite for ``AlpacaBroker`` on serve-market."""

    broker: AlpacaBroker
    market: SyntheticMarket
    stock: str = "SPY"

    def quote(self, symbol: str) -> Quote:
        if symbol in self.market.symbols:
            q = self.market.quote(symbol, NOW)
            return Quote(symbol, NOW_NS, q.bid, q.ask, 100.0, 100.0)
        row = _chain_row(self.market, symbol)
        return Quote(symbol, NOW_NS, float(row["bid"]), float(row["ask"]), 10.0, 10.0)

    def listed_option(self, right: OptionRight) -> str:
        return listed_option(self.market, self.stock, right)


def _chain(market: SyntheticMarket, underlying: str, right: OptionRight) -> pd.DataFrame:
    spot = market.spot(underlying, NOW)
    return option_chain(underlying, spot, NOW, rate=RATE, right=right)


def _chain_row(market: SyntheticMarket, symbol: str) -> pd.Series[Any]:
    for right in (OptionRight.CALL, OptionRight.PUT):
        chain = _chain(market, symbol[:-15], right)
        rows = chain[chain["contract"] == symbol]
        if len(rows):
            return rows.iloc[0]
    raise LookupError(f"symbol: {symbol!r} is not in the synthetic chain at {NOW}")


def listed_option(market: SyntheticMarket, underlying: str, right: OptionRight) -> str:
    """The contract nearest the money among expiries 2-8 weeks out."""
    chain = _chain(market, underlying, right)
    spot = market.spot(underlying, NOW)
    days = (pd.to_datetime(chain["expiry"], utc=True) - NOW.normalize()).dt.days
    window = chain[(days >= 14) & (days <= 56)]
    assert len(window), "no expiry 2-8 weeks out in the synthetic chain"
    best = (window["strike"] - spot).abs().idxmin()
    return str(window.loc[best, "contract"])


@dataclass(frozen=True)
class Exchange:
    server: ServerThread
    market: SyntheticMarket

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def faults(self, **settings: Any) -> None:
        """Replace the exchange's faults (``{}`` switches them off)."""
        with httpx.Client(base_url=self.base_url, headers=self.server.headers) as client:
            answer = client.post("/_greekfire/faults", json=settings)
            answer.raise_for_status()


@pytest.fixture(scope="module")
def exchange() -> Iterator[Exchange]:
    config = ExchangeConfig(
        symbols=SYMBOLS,
        seed=SEED,
        start=NOW.to_pydatetime(),
        speed=0.0,
        key_id=KEY,
        secret_key=SECRET,
    )
    with serve_in_thread(config) as server:
        yield Exchange(server, SyntheticMarket(SYMBOLS, seed=SEED))


@pytest.fixture
def make_broker(exchange: Exchange) -> Iterator[Callable[..., AlpacaBroker]]:
    """Builds brokers on the exchange (``timeout_s``, ``secret_key`` overridable); closes
    them and switches faults off after the test."""
    made: list[AlpacaBroker] = []

    def build(*, timeout_s: float = 10.0, secret_key: str = SECRET) -> AlpacaBroker:
        cfg = AlpacaBrokerConfig(base_url=exchange.base_url, timeout_s=timeout_s)
        broker = AlpacaBroker(cfg, key_id=KEY, secret_key=secret_key, clock=FrozenClock())
        made.append(broker)
        return broker

    try:
        yield build
    finally:
        exchange.faults()
        for broker in made:
            broker.close()


@pytest.fixture
def broker(make_broker: Callable[..., AlpacaBroker]) -> AlpacaBroker:
    return make_broker()


@pytest.fixture
def now() -> pd.Timestamp:
    """The frozen instant of the exchange and of the brokers' clock."""
    return NOW


@pytest.fixture
def option_symbol(exchange: Exchange) -> Callable[[str, OptionRight], str]:
    """``option_symbol(underlying, right)``: a contract listed now, near the money."""
    return lambda underlying, right: listed_option(exchange.market, underlying, right)


@pytest.fixture
def harness(broker: AlpacaBroker, exchange: Exchange) -> AlpacaHarness:
    return AlpacaHarness(broker, exchange.market)
