"""The market-data port: Protocol conformance, request checks, ChainFilter, empty frames."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from greekfire.data.port import (
    BarRequest,
    ChainFilter,
    MarketDataProvider,
    empty_bars,
    empty_chain,
    empty_quotes,
    to_utc,
)
from greekfire.domain.enums import OptionRight
from greekfire.domain.market import BAR_COLUMNS, CHAIN_COLUMNS, QUOTE_COLUMNS, Timeframe
from greekfire.errors import ProviderError


class MemoryProvider:
    """A tiny in-memory provider: the smallest thing that satisfies the port."""

    name = "memory"

    def __init__(self, bars: pd.DataFrame, chain: pd.DataFrame) -> None:
        self._bars = bars
        self._chain = chain

    async def bars(
        self, symbol: str, start: datetime, end: datetime, timeframe: Timeframe
    ) -> pd.DataFrame:
        req = BarRequest.of(symbol, start, end, timeframe)
        index = self._bars.index
        return self._bars.loc[(index >= req.start) & (index < req.end)]

    async def latest_quotes(self, symbols: Sequence[str]) -> pd.DataFrame:
        return empty_quotes()

    async def option_chain(
        self, underlying: str, chain_filter: ChainFilter | None = None
    ) -> pd.DataFrame:
        if underlying != "SPY":
            raise ProviderError(f"memory: unknown underlying {underlying!r}")
        return self._chain if chain_filter is None else chain_filter.apply(self._chain)


def _chain() -> pd.DataFrame:
    rows = [
        ("SPY240119C00090000", date(2024, 1, 19), 90.0, 1),
        ("SPY240119P00100000", date(2024, 1, 19), 100.0, -1),
        ("SPY240216C00110000", date(2024, 2, 16), 110.0, 1),
        ("SPY240315P00120000", date(2024, 3, 15), 120.0, -1),
    ]
    frame = empty_chain().reindex(range(len(rows)))
    frame["contract"] = [r[0] for r in rows]
    frame["underlying"] = "SPY"
    frame["expiry"] = pd.to_datetime([r[1] for r in rows]).as_unit("ns").tz_localize("UTC")
    frame["strike"] = [r[2] for r in rows]
    frame["right"] = np.array([r[3] for r in rows], dtype=np.int8)
    frame["underlying_price"] = [100.0, 100.0, 100.0, np.nan]
    return frame


def _bars() -> pd.DataFrame:
    index = pd.date_range("2024-01-02", periods=5, freq="D", tz="UTC", name="timestamp")
    frame = empty_bars().reindex(index)
    frame[list(BAR_COLUMNS)] = 1.0
    return frame


def test_memory_provider_satisfies_the_protocol() -> None:
    provider = MemoryProvider(_bars(), _chain())
    assert isinstance(provider, MarketDataProvider)
    assert not isinstance(object(), MarketDataProvider)


def test_bars_range_is_half_open() -> None:
    provider = MemoryProvider(_bars(), _chain())
    start, end = datetime(2024, 1, 3, tzinfo=UTC), datetime(2024, 1, 5, tzinfo=UTC)
    got = asyncio.run(provider.bars("SPY", start, end, Timeframe.D1))
    assert list(got.index.day) == [3, 4]


def test_request_rejects_naive_datetimes_and_reversed_ranges() -> None:
    aware = datetime(2024, 1, 2, tzinfo=UTC)
    with pytest.raises(ValueError, match=r"start: expected a timezone-aware datetime, got naive"):
        BarRequest.of("SPY", datetime(2024, 1, 2), aware, "1d")
    with pytest.raises(ValueError, match=r"is after end .*\[start, end\)"):
        BarRequest.of("SPY", aware, aware - timedelta(days=1), "1d")
    with pytest.raises(ValueError, match="symbol: expected a non-empty string"):
        BarRequest.of(" ", aware, aware, "1d")
    with pytest.raises(TypeError, match="end: expected a timezone-aware datetime"):
        BarRequest.of("SPY", aware, "2024-01-02", "1d")  # type: ignore[arg-type]


def test_request_converts_other_zones_to_utc() -> None:
    eastern = timezone(timedelta(hours=-5))
    req = BarRequest.of(" spy ", datetime(2024, 1, 2, 9, 30, tzinfo=eastern),
                        datetime(2024, 1, 2, 16, tzinfo=eastern), "5min")  # fmt: skip
    assert req.symbol == "spy"
    assert req.start == pd.Timestamp("2024-01-02 14:30", tz="UTC")
    assert req.timeframe is Timeframe.M5
    assert to_utc(pd.Timestamp("2024-01-02", tz="UTC")).unit == "ns"


def test_empty_frames_have_the_exact_schema() -> None:
    bars = empty_bars()
    assert tuple(bars.columns) == BAR_COLUMNS
    assert str(bars.index.dtype) == "datetime64[ns, UTC]"
    assert bars.index.name == "timestamp"
    assert (bars.dtypes == np.float64).all()
    assert tuple(empty_bars(optional=True).columns)[-2:] == ("vwap", "trade_count")
    quotes = empty_quotes()
    assert tuple(quotes.columns) == QUOTE_COLUMNS
    assert quotes.index.name == "symbol"
    assert str(quotes["timestamp"].dtype) == "datetime64[ns, UTC]"
    chain = empty_chain()
    assert tuple(chain.columns) == CHAIN_COLUMNS
    assert chain["right"].dtype == np.int8
    assert str(chain["expiry"].dtype) == "datetime64[ns, UTC]"
    assert str(chain["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert chain["strike"].dtype == np.float64


@pytest.mark.parametrize(
    ("chain_filter", "contracts"),
    [
        (ChainFilter(), [0, 1, 2, 3]),
        (ChainFilter(expiry_from=date(2024, 2, 1)), [2, 3]),
        (ChainFilter(expiry_to=date(2024, 2, 16)), [0, 1, 2]),
        (ChainFilter(strike_min=100.0, strike_max=110.0), [1, 2]),
        (ChainFilter(moneyness_min=0.95, moneyness_max=1.1), [1, 2]),
        (ChainFilter(right="put"), [1, 3]),  # type: ignore[arg-type]
        (ChainFilter(right=OptionRight.CALL, strike_max=100.0), [0]),
    ],
)
def test_chain_filter_apply(chain_filter: ChainFilter, contracts: list[int]) -> None:
    provider = MemoryProvider(_bars(), _chain())
    got = asyncio.run(provider.option_chain("SPY", chain_filter))
    assert list(got.index) == contracts
    assert tuple(got.columns) == CHAIN_COLUMNS


def test_chain_filter_accepts_naive_expiry() -> None:
    chain = _chain()
    chain["expiry"] = chain["expiry"].dt.tz_localize(None)
    assert list(ChainFilter(expiry_to=date(2024, 1, 19)).apply(chain).index) == [0, 1]


def test_chain_filter_rejects_crossed_bounds_and_bad_rights() -> None:
    with pytest.raises(ValueError, match=r"strike_min=120\.0 is greater than strike_max=100\.0"):
        ChainFilter(strike_min=120.0, strike_max=100.0)
    with pytest.raises(ValueError, match="right: expected"):
        ChainFilter(right="straddle")  # type: ignore[arg-type]
    assert ChainFilter(right=-1).right is OptionRight.PUT  # type: ignore[arg-type]


def test_unknown_underlying_is_a_provider_error() -> None:
    provider = MemoryProvider(_bars(), _chain())
    with pytest.raises(ProviderError, match="unknown underlying 'QQQ'"):
        asyncio.run(provider.option_chain("QQQ"))
