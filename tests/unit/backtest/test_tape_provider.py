"""``TapeProvider`` serves a journal's market tape on a simulated clock: the quotes recorded at
the clock's time and never a later row (no look-ahead), bars once recorded and restricted to
``[start, end)`` (a bar recorded twice is served once, its first copy), option chains at their
time through the filter, and a ``ProviderError`` naming the underlying and time otherwise."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from greekfire.backtest.tape import TapeProvider
from greekfire.data.port import ChainFilter, empty_bars, empty_chain, empty_quotes
from greekfire.domain.enums import OptionRight
from greekfire.domain.market import Timeframe
from greekfire.engine.clock import SimulatedClock
from greekfire.engine.tape import stack_bars
from greekfire.errors import ProviderError
from greekfire.journal.sqlite import Journal
from greekfire.journal.tape import encode_frame

T1 = pd.Timestamp("2026-11-09T14:35:00+00:00")
T2 = pd.Timestamp("2026-11-09T15:05:00+00:00")
T3 = pd.Timestamp("2026-11-09T15:35:00+00:00")
HUGE = 1e9  # a price recorded at T3: served before T3 it would be look-ahead
DAY = Timeframe.parse("1d")
EARLY = pd.Timestamp("2026-01-01", tz="UTC")
LATE = pd.Timestamp("2027-01-01", tz="UTC")


class Clock:
    def __init__(self, t: int) -> None:
        self.t = t

    def now_ns(self) -> int:
        return self.t


def quotes(when: pd.Timestamp, prices: dict[str, float]) -> pd.DataFrame:
    schema = empty_quotes()
    frame = pd.DataFrame(
        {
            "timestamp": [when] * len(prices),
            "bid": [p - 0.01 for p in prices.values()],
            "ask": [p + 0.01 for p in prices.values()],
            "bid_size": [100.0] * len(prices),
            "ask_size": [100.0] * len(prices),
            "last": list(prices.values()),
        },
        index=pd.Index(list(prices), dtype="str", name="symbol"),
    )
    return frame.astype(schema.dtypes.to_dict())


def bars(days: list[str], closes: list[float]) -> pd.DataFrame:
    index = pd.DatetimeIndex(days, tz="UTC", name="timestamp").as_unit("ns")
    close = np.asarray(closes, dtype=np.float64)
    frame = pd.DataFrame(
        {
            "open": close,
            "high": close + 1.0,
            "low": close - 1.0,
            "close": close,
            "volume": np.full(len(close), 10.0),
        },
        index=index,
    )
    return frame[list(empty_bars().columns)]


def chain(underlying: str, spot: float) -> pd.DataFrame:
    schema = empty_chain()
    rows = []
    for strike in (spot - 10.0, spot, spot + 10.0):
        for right in (1, -1):
            row: dict[str, object] = {c: 1.0 for c in schema.columns}
            row.update(
                contract=f"{underlying}261218{'C' if right == 1 else 'P'}{int(strike * 1000):08d}",
                underlying=underlying,
                expiry=pd.Timestamp("2026-12-18", tz="UTC"),
                strike=strike,
                right=right,
                underlying_price=spot,
                timestamp=T2,
            )
            rows.append(row)
    return pd.DataFrame(rows, columns=schema.columns).astype(schema.dtypes.to_dict())


SPY_T1 = bars(["2026-11-04", "2026-11-05"], [500.0, 501.0])
# the restart at T2 fetched 11-05 again (another value) and the new 11-06 bar
SPY_T2 = bars(["2026-11-05", "2026-11-06"], [777.0, 502.0])
SPY_T3 = bars(["2026-11-09"], [HUGE])
MSFT_T2 = bars(["2026-11-06"], [410.0])


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "run.db", clock=Clock(T1.value)) as journal:
        journal.record_tape(T1.value, "quotes", "", encode_frame(quotes(T1, {"SPY": 500.0})))
        journal.record_tape(T1.value, "bars", "", encode_frame(stack_bars({"SPY": SPY_T1})))
        two = quotes(T2, {"SPY": 501.0, "MSFT": 410.0, "AAPL": 250.0})
        journal.record_tape(T2.value, "quotes", "", encode_frame(two))
        both = stack_bars({"SPY": SPY_T2, "MSFT": MSFT_T2})
        journal.record_tape(T2.value, "bars", "", encode_frame(both))
        journal.record_tape(T2.value, "chain", "SPY", encode_frame(chain("SPY", 500.0)))
        journal.record_tape(T2.value, "chain", "MSFT", encode_frame(chain("MSFT", 410.0)))
        huge = quotes(T3, {"SPY": HUGE, "MSFT": HUGE})
        journal.record_tape(T3.value, "quotes", "", encode_frame(huge))
        journal.record_tape(T3.value, "bars", "", encode_frame(stack_bars({"SPY": SPY_T3})))
        journal.flush()
        yield journal


def latest(provider: TapeProvider, symbols: list[str]) -> pd.DataFrame:
    return asyncio.run(provider.latest_quotes(symbols))


def spy_bars(
    provider: TapeProvider, start: pd.Timestamp = EARLY, end: pd.Timestamp = LATE
) -> pd.DataFrame:
    return asyncio.run(provider.bars("SPY", start, end, DAY))


def test_quotes_are_those_recorded_at_the_clock_time_never_later_ones(journal: Journal) -> None:
    clock = SimulatedClock(T1)
    provider = TapeProvider(journal, clock.now)
    at_t1 = latest(provider, ["SPY", "MSFT"])
    assert_frame_equal(at_t1, quotes(T1, {"SPY": 500.0}))  # MSFT was not quoted at T1
    assert provider.rows_read == 2  # the T1 rows only: the tape is read up to now
    clock.set(T2)
    at_t2 = latest(provider, ["AAPL", "SPY", "MSFT", "SPY"])
    assert list(at_t2.index) == ["AAPL", "SPY", "MSFT"]  # asked order, once each
    assert at_t2.loc["SPY", "last"] == 501.0
    assert (at_t2[["bid", "ask", "last"]].to_numpy() < HUGE / 2).all()
    clock.set(T3)
    at_t3 = latest(provider, ["SPY"])
    assert at_t3.loc["SPY", "last"] == HUGE  # the planted row exists: served at its time


def test_no_quotes_recorded_at_the_clock_time_is_an_empty_frame(journal: Journal) -> None:
    clock = SimulatedClock(T1 - pd.Timedelta(minutes=30))
    provider = TapeProvider(journal, clock.now)
    assert_frame_equal(latest(provider, ["SPY"]), empty_quotes())  # before the tape starts
    clock.set(T2 + pd.Timedelta(minutes=1))  # between two recorded cycles (a failed fetch)
    gap = latest(provider, ["SPY", "MSFT"])
    assert_frame_equal(gap, empty_quotes())
    clock.set(T3)
    assert list(latest(provider, ["SPY"]).index) == ["SPY"]


def test_bars_are_served_only_once_recorded(journal: Journal) -> None:
    clock = SimulatedClock(T1 - pd.Timedelta(seconds=1))
    provider = TapeProvider(journal, clock.now)
    assert_frame_equal(spy_bars(provider), empty_bars())
    clock.set(T1)
    assert_frame_equal(spy_bars(provider), SPY_T1)
    assert_frame_equal(asyncio.run(provider.bars("MSFT", EARLY, LATE, DAY)), empty_bars())
    clock.set(T2)
    served = spy_bars(provider)
    assert served["close"].tolist() == [500.0, 501.0, 502.0]  # no HUGE bar recorded at T3
    assert_frame_equal(asyncio.run(provider.bars("MSFT", EARLY, LATE, DAY)), MSFT_T2)
    clock.set(T3)
    assert spy_bars(provider)["close"].tolist() == [500.0, 501.0, 502.0, HUGE]


def test_a_bar_recorded_twice_is_served_once_as_first_recorded(journal: Journal) -> None:
    clock = SimulatedClock(T2)
    provider = TapeProvider(journal, clock.now)
    served = spy_bars(provider)
    assert served.index.is_unique
    assert served.index.is_monotonic_increasing
    assert list(pd.DatetimeIndex(served.index).strftime("%m-%d")) == ["11-04", "11-05", "11-06"]
    assert served["close"].tolist() == [500.0, 501.0, 502.0]  # 11-05 is not the restart's 777


def test_bars_are_restricted_to_start_inclusive_end_exclusive(journal: Journal) -> None:
    clock = SimulatedClock(T3)
    provider = TapeProvider(journal, clock.now)
    day = pd.Timestamp("2026-11-05", tz="UTC")
    window = spy_bars(provider, day, day + pd.Timedelta(days=1))
    assert window["close"].tolist() == [501.0]
    window = spy_bars(provider, day, pd.Timestamp("2026-11-09", tz="UTC"))
    assert window["close"].tolist() == [501.0, 502.0]  # 11-09 is the end: excluded
    assert len(spy_bars(provider, day, day)) == 0
    with pytest.raises(ValueError, match="after end"):
        spy_bars(provider, day, day - pd.Timedelta(days=1))


def test_option_chain_at_its_time_through_the_filter(journal: Journal) -> None:
    clock = SimulatedClock(T2)
    provider = TapeProvider(journal, clock.now)
    whole = asyncio.run(provider.option_chain("SPY"))
    assert_frame_equal(whole, chain("SPY", 500.0))
    puts = asyncio.run(
        provider.option_chain("SPY", ChainFilter(right=OptionRight.PUT, strike_min=495.0))
    )
    assert puts["right"].tolist() == [-1, -1]
    assert puts["strike"].tolist() == [500.0, 510.0]
    msft = asyncio.run(provider.option_chain("MSFT"))
    assert set(msft["underlying"]) == {"MSFT"}


@pytest.mark.parametrize(
    ("when", "underlying"),
    [(T1, "SPY"), (T2, "AAPL"), (T3, "SPY"), (T2 + pd.Timedelta(seconds=1), "MSFT")],
)
def test_option_chain_not_recorded_then_is_a_provider_error(
    journal: Journal, when: pd.Timestamp, underlying: str
) -> None:
    provider = TapeProvider(journal, SimulatedClock(when).now)
    wanted = re.escape(f"{underlying!r} recorded at {when.isoformat()}")
    with pytest.raises(ProviderError, match=wanted):
        asyncio.run(provider.option_chain(underlying))


def test_naive_bounds_are_refused(journal: Journal) -> None:
    provider = TapeProvider(journal, SimulatedClock(T1).now)
    with pytest.raises(ValueError, match="start"):
        asyncio.run(provider.bars("SPY", EARLY.tz_localize(None), LATE, DAY))
