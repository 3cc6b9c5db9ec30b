"""``AlpacaBroker`` against serve-market passes the contract every Broker passes."""

from __future__ import annotations

import pytest
from broker_contract import BrokerContract

pytestmark = pytest.mark.integration


class TestAlpacaBrokerContract(BrokerContract):
    """The shared contract; ``harness`` comes from this directory's conftest."""
