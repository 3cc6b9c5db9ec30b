"""SyntheticProvider: the synthetic market through the MarketDataProvider port."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pytest

from greekfire.data.port import ChainFilter, MarketDataProvider, empty_chain, empty_quotes
from greekfire.domain.enums import OptionRight
from greekfire.domain.market import CHAIN_COLUMNS, QUOTE_COLUMNS, Timeframe
from greekfire.errors import ProviderError
from greekfire.sim.market import SyntheticMarket
from greekfire.sim.provider import BAR_FRAME_COLUMNS, SyntheticProvider

T = TypeVar("T")
NOW = datetime(2024, 3, 25, 14, 30, tzinfo=UTC)  # Monday 10:30 New York, market open
GOOD_FRIDAY = date(2024, 3, 29)
SYMBOLS = ("SPY", "AAPL")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def market() -> SyntheticMarket:
    return SyntheticMarket(SYMBOLS, seed=3)


@pytest.fixture(scope="module")
def provider(market: SyntheticMarket) -> SyntheticProvider:
    return SyntheticProvider(market, seed=5, dividend_yields={"SPY": 0.013}, clock=lambda: NOW)


def test_it_satisfies_the_port(provider: SyntheticProvider) -> None:
    assert isinstance(provider, MarketDataProvider)
    assert provider.name == "synthetic"
    default = SyntheticProvider(clock=lambda: NOW)
    assert isinstance(default, MarketDataProvider)
    assert "SPY" in default.market.symbols


@pytest.mark.parametrize("timeframe", ["1m", "15m", "1h"])
def test_intraday_bars_are_the_markets_half_open(
    provider: SyntheticProvider, market: SyntheticMarket, timeframe: str
) -> None:
    start = datetime(2024, 3, 25, 13, 30, tzinfo=UTC)
    end = datetime(2024, 3, 26, 15, 30, tzinfo=UTC)  # a bar start on every timeframe
    got = run(provider.bars("SPY", start, end, Timeframe.parse(timeframe)))
    inclusive = market.bars("SPY", start, end, timeframe)["SPY"]
    assert inclusive.index[-1] == pd.Timestamp(end)  # the market includes end ...
    pd.testing.assert_frame_equal(got, inclusive.iloc[:-1])  # ... the provider does not
    assert got.index[0] == pd.Timestamp(start)
    later = run(provider.bars("SPY", end, end + timedelta(hours=1), Timeframe.parse(timeframe)))
    assert later.index[0] == pd.Timestamp(end)  # [a, b) then [b, c): no bar twice, none lost


def test_daily_bars_are_selected_by_their_stamp(
    provider: SyntheticProvider, market: SyntheticMarket
) -> None:
    full = market.bars("AAPL", date(2024, 3, 1), date(2024, 3, 31), "1d")["AAPL"]
    start, end = datetime(2024, 3, 4, tzinfo=UTC), datetime(2024, 3, 8, tzinfo=UTC)
    got = run(provider.bars("AAPL", start, end, Timeframe.D1))
    expected = full[(full.index >= pd.Timestamp(start)) & (full.index < pd.Timestamp(end))]
    pd.testing.assert_frame_equal(got, expected)
    assert list(got.index.date) == [date(2024, 3, d) for d in (4, 5, 6, 7)]
    # 00:00 UTC is the stamp of the session that opens at 14:30 UTC: a range ending before
    # the open still holds that day's bar, one starting after 00:00 does not.
    morning = run(provider.bars("AAPL", start, start + timedelta(hours=1), Timeframe.D1))
    pd.testing.assert_frame_equal(morning, full.loc[[pd.Timestamp(start)]])
    assert run(provider.bars("AAPL", start + timedelta(hours=1), end, "1d")).index[0].day == 5


def test_bars_in_any_zone_and_empty_ranges(provider: SyntheticProvider) -> None:
    new_york = timezone(timedelta(hours=-4))
    start = datetime(2024, 3, 25, 9, 30, tzinfo=new_york)
    end = datetime(2024, 3, 25, 10, 0, tzinfo=new_york)
    got = run(provider.bars("SPY", start, end, Timeframe.M1))
    assert len(got) == 30
    assert str(got.index.dtype) == "datetime64[ns, UTC]"
    for frame in (
        run(provider.bars("SPY", start, start, Timeframe.M1)),  # start == end
        run(provider.bars("SPY", datetime(2024, 3, 23, tzinfo=UTC), NOW.replace(day=24), "1h")),
        run(provider.bars("SPY", datetime(1999, 1, 1, tzinfo=UTC), NOW.replace(year=1999), "1d")),
    ):
        assert frame.empty
        assert list(frame.columns) == list(BAR_FRAME_COLUMNS)
        assert (frame.dtypes == np.float64).all()
        assert str(frame.index.dtype) == "datetime64[ns, UTC]"
        assert frame.index.name == "timestamp"
    early = datetime(2000, 2, 1, tzinfo=UTC)
    before_epoch = run(provider.bars("SPY", datetime(1999, 12, 1, tzinfo=UTC), early, "1d"))
    from_epoch = provider.market.bars("SPY", date(2000, 1, 3), date(2000, 1, 31), "1d")["SPY"]
    pd.testing.assert_frame_equal(before_epoch, from_epoch)  # clipped to the epoch, no error


def test_bar_argument_errors(provider: SyntheticProvider) -> None:
    naive = datetime(2024, 3, 25, 14, 30)
    with pytest.raises(ValueError, match="naive"):
        run(provider.bars("SPY", naive, NOW, Timeframe.M1))
    with pytest.raises(ValueError, match="naive"):
        run(provider.bars("SPY", NOW, naive, Timeframe.M1))
    with pytest.raises(ValueError, match="after end"):
        run(provider.bars("SPY", NOW, NOW - timedelta(minutes=1), Timeframe.M1))
    with pytest.raises(ValueError, match="timeframe"):
        run(provider.bars("SPY", NOW, NOW, "2m"))
    with pytest.raises(ProviderError, match=r"'MSFT'.*'SPY', 'AAPL'"):
        run(provider.bars("MSFT", NOW - timedelta(days=1), NOW, Timeframe.M1))


def test_quotes_follow_the_bars_at_the_clock(provider: SyntheticProvider) -> None:
    quotes = run(provider.latest_quotes(["SPY", "AAPL", "SPY"]))
    expected = empty_quotes()
    assert list(quotes.index) == ["SPY", "AAPL"]
    assert list(quotes.columns) == list(QUOTE_COLUMNS)
    assert quotes.dtypes.equals(expected.dtypes)
    assert quotes.index.dtype == expected.index.dtype
    assert quotes.index.name == "symbol"
    assert (quotes["timestamp"] == pd.Timestamp(NOW)).all()
    assert (quotes["bid"] < quotes["ask"]).all()
    for symbol in ("SPY", "AAPL"):
        last_bar = run(provider.bars(symbol, NOW - timedelta(hours=1), NOW, Timeframe.M1))
        close = float(last_bar["close"].iloc[-1])
        row = quotes.loc[symbol]
        assert row["last"] == close  # the close of the last completed minute
        assert row["bid"] <= close <= row["ask"]
        assert (row["bid"] + row["ask"]) / 2 == pytest.approx(close, abs=0.011)
    empty = run(provider.latest_quotes([]))
    assert empty.empty
    assert empty.dtypes.equals(expected.dtypes)
    single = run(provider.latest_quotes("AAPL"))
    pd.testing.assert_frame_equal(single, quotes.loc[["AAPL"]])


def test_quotes_when_closed_sit_on_the_last_session_close(market: SyntheticMarket) -> None:
    saturday = datetime(2024, 3, 23, 15, tzinfo=UTC)
    provider = SyntheticProvider(market, clock=lambda: saturday)
    quote = run(provider.latest_quotes(["SPY"])).loc["SPY"]
    friday = run(provider.bars("SPY", datetime(2024, 3, 22, tzinfo=UTC), saturday, "1d"))
    assert quote["last"] == friday["close"].iloc[-1]


def test_quote_errors(provider: SyntheticProvider, market: SyntheticMarket) -> None:
    with pytest.raises(ProviderError, match=r"'QQQ'.*known"):
        run(provider.latest_quotes(["SPY", "QQQ"]))
    naive = SyntheticProvider(market, clock=lambda: datetime(2024, 3, 25, 14, 30))
    with pytest.raises(ValueError, match="clock"):
        run(naive.latest_quotes(["SPY"]))


def test_chain_is_priced_off_the_quote(provider: SyntheticProvider) -> None:
    chain = run(provider.option_chain("SPY"))
    reference = empty_chain()
    assert list(chain.columns) == list(CHAIN_COLUMNS)
    assert chain.dtypes.equals(reference.dtypes)
    assert isinstance(chain.index, pd.RangeIndex)
    assert len(chain) > 0
    last = run(provider.latest_quotes(["SPY"])).loc["SPY", "last"]
    assert (chain["underlying_price"] == last).all()
    assert (chain["underlying"] == "SPY").all()
    assert (chain["timestamp"] == pd.Timestamp(NOW)).all()
    assert (chain["bid"] <= chain["ask"]).all()


def test_chain_filter_is_applied(provider: SyntheticProvider) -> None:
    chain = run(provider.option_chain("SPY"))
    only = ChainFilter(expiry_to=date(2024, 4, 30), moneyness_min=0.95, right=OptionRight.PUT)
    filtered = run(provider.option_chain("SPY", only))
    expected = only.apply(chain).reset_index(drop=True)
    assert 0 < len(filtered) < len(chain)
    pd.testing.assert_frame_equal(filtered, expected)
    assert (filtered["right"] == -1).all()
    assert (filtered["strike"] / filtered["underlying_price"] >= 0.95).all()
    assert isinstance(filtered.index, pd.RangeIndex)
    none = run(provider.option_chain("SPY", ChainFilter(strike_min=1e9)))
    assert none.empty
    assert none.dtypes.equals(empty_chain().dtypes)
    with pytest.raises(TypeError, match="apply"):
        run(provider.option_chain("SPY", object()))  # type: ignore[arg-type]


def test_chain_uses_the_providers_rate_dividends_and_seed(market: SyntheticMarket) -> None:
    def chain(**kwargs: Any) -> pd.DataFrame:
        return run(SyntheticProvider(market, clock=lambda: NOW, **kwargs).option_chain("SPY"))

    def call_deltas(frame: pd.DataFrame) -> pd.Series:
        return frame.loc[frame["right"] == 1].set_index("contract")["delta"]

    base = chain(seed=5, dividend_yields={"SPY": 0.013})
    for other in (
        chain(seed=5, dividend_yields={"SPY": 0.013}, rate=0.08),  # a higher forward ...
        chain(seed=5, dividend_yields=0.0),  # ... either way: calls' deltas rise
    ):
        higher, lower = call_deltas(other).align(call_deltas(base), join="inner")
        assert len(higher) > 50
        assert (higher >= lower).all()
        assert (higher > lower).any()
    other_seed = chain(seed=6, dividend_yields={"SPY": 0.013})
    pd.testing.assert_series_equal(other_seed["iv"], base["iv"])
    assert not other_seed["open_interest"].equals(base["open_interest"])


def test_chain_expiry_rolls_off_good_friday_by_default(provider: SyntheticProvider) -> None:
    expiries = set(run(provider.option_chain("SPY"))["expiry"].dt.date)
    assert GOOD_FRIDAY not in expiries
    assert date(2024, 3, 28) in expiries  # the Thursday before
    assert date(2024, 4, 19) in expiries  # April's third Friday, a trading day


def test_chain_errors(provider: SyntheticProvider) -> None:
    with pytest.raises(ProviderError, match=r"'TSLA'.*known"):
        run(provider.option_chain("TSLA"))


def test_deterministic(market: SyntheticMarket) -> None:
    def snapshot() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        provider = SyntheticProvider(SyntheticMarket(SYMBOLS, seed=3), seed=5, clock=lambda: NOW)
        bars = run(provider.bars("AAPL", NOW - timedelta(days=3), NOW, Timeframe.M5))
        return bars, run(provider.latest_quotes(SYMBOLS)), run(provider.option_chain("AAPL"))

    first, second = snapshot(), snapshot()
    for a, b in zip(first, second, strict=True):
        pd.testing.assert_frame_equal(a, b)
    built = SyntheticProvider(symbols=SYMBOLS, seed=3, clock=lambda: NOW)
    again = run(built.bars("AAPL", NOW - timedelta(days=3), NOW, Timeframe.M5))
    pd.testing.assert_frame_equal(again, first[0])


def test_constructor_errors(market: SyntheticMarket) -> None:
    with pytest.raises(ValueError, match="symbols"):
        SyntheticProvider(market, symbols=["SPY"])
    with pytest.raises(ValueError, match="seed"):
        SyntheticProvider(market, seed=-1)
