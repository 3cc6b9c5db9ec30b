"""Test doubles of the paper broker tests: a clock that moves only when told, a dict of quotes."""

from __future__ import annotations

import math

import pandas as pd

from greekfire.broker.config import FeeConfig
from greekfire.domain.market import Quote

# Tuesday 12 March 2024, 11:00 New York (EDT): the regular session is open.
T0_NS = int(pd.Timestamp("2024-03-12 15:00", tz="UTC").value)


class FakeClock:
    """A clock that only moves when a test sets or advances it."""

    def __init__(self, now_ns: int = T0_NS) -> None:
        self.now = now_ns

    def now_ns(self) -> int:
        return self.now

    def set(self, when: str) -> None:
        """Jump to a tz-aware timestamp string."""
        self.now = int(pd.Timestamp(when).tz_convert("UTC").value)


class DictQuotes:
    """A quote source backed by a dict; ``set`` replaces a symbol's quote."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.book: dict[str, Quote] = {}

    def set(self, symbol: str, bid: float, ask: float, last: float = math.nan) -> None:
        self.book[symbol] = Quote(symbol, self.clock.now, bid, ask, 100.0, 100.0, last)

    def quote(self, symbol: str) -> Quote | None:
        return self.book.get(symbol)


NO_FEES = FeeConfig(
    equity_commission_per_share_usd=0.0,
    option_commission_per_contract_usd=0.0,
    sec_fee_per_million_usd=0.0,
    taf_per_share_usd=0.0,
    taf_max_usd=0.0,
    taf_per_contract_usd=0.0,
    orf_per_contract_usd=0.0,
)
