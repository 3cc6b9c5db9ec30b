"""The event backtester's data side never reveals the future: bars, quotes and precomputed
indicators at a simulated time depend only on what had happened by then."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest

from greekfire.backtest.event_data import HistoricalProvider, PrecomputedIndicatorBook
from greekfire.domain.market import Timeframe
from greekfire.engine.clock import SimulatedClock
from greekfire.engine.indicators import IndicatorBook
from greekfire.errors import ProviderError
from greekfire.sim.market import SyntheticMarket

INDICATORS = ["sma_5", "rsi_14", "macd", "bollinger_bands_20_2", "atr_14"]


def history(planted: bool = False) -> dict[str, pd.DataFrame]:
    bars = SyntheticMarket(["AAA", "BBB"], seed=11).bars(["AAA", "BBB"], "2024-01-02", "2024-06-28")
    if planted:
        frame = bars["AAA"].copy()
        frame.iloc[80, :4] = [1e6, 1e6, 1e6, 1e6]
        bars["AAA"] = frame
    return bars


def test_bars_and_quotes_at_a_time_hold_nothing_later() -> None:
    bars = history(planted=True)
    planted = bars["AAA"].index[80]
    clock = SimulatedClock(pd.Timestamp("2024-01-02T14:30:00Z"))
    for fill in ("close", "next_open"):
        provider = HistoricalProvider(bars, clock.now, fill=fill)
        _, closes = provider.sessions["AAA"]
        opens, _ = provider.sessions["AAA"]
        for when in (closes[79], closes[80] - 1, opens[80], closes[80], closes[81]):
            clock = SimulatedClock(pd.Timestamp(int(when), tz="UTC"))
            provider._clock = clock.now
            got = asyncio.run(
                provider.bars(
                    "AAA", bars["AAA"].index[0], planted + pd.Timedelta(days=30), Timeframe.D1
                )
            )
            quotes = asyncio.run(provider.latest_quotes(["AAA"]))
            seen_planted = bool((got["high"] > 1e5).any())
            assert seen_planted == (when >= closes[80]), (fill, when)
            assert (got.index <= pd.Timestamp(int(when), tz="UTC")).all()
            last = float(quotes.loc["AAA", "last"])
            if when < closes[80] and not (fill == "next_open" and when >= opens[80]):
                assert last < 1e5, (fill, when, last)
            elif when < closes[81]:
                assert last == 1e6, (fill, when, last)  # the planted bar's own price, in time


def test_quotes_carry_the_close_or_the_next_open() -> None:
    bars = history()
    frame = bars["BBB"]
    clock = SimulatedClock(pd.Timestamp("2024-01-02T14:30:00Z"))
    provider = HistoricalProvider(bars, clock.now, fill="next_open", spread_bps=10.0)
    opens, closes = provider.sessions["BBB"]
    clock.set(pd.Timestamp(int(opens[5]), tz="UTC"))
    quote = asyncio.run(provider.latest_quotes(["BBB"])).loc["BBB"]
    assert quote["last"] == frame["open"].iloc[5]
    assert quote["ask"] - quote["bid"] == pytest.approx(frame["open"].iloc[5] * 10e-4)
    clock.set(pd.Timestamp(int(closes[5]), tz="UTC"))
    assert asyncio.run(provider.latest_quotes(["BBB"])).loc["BBB", "last"] == frame["close"].iloc[5]
    with pytest.raises(ProviderError, match="option chains"):
        asyncio.run(provider.option_chain("BBB"))
    with pytest.raises(ProviderError, match="ZZZ"):
        asyncio.run(provider.latest_quotes(["ZZZ"]))


def test_a_stamp_off_the_calendar_is_refused_by_name() -> None:
    bars = history()
    frame = bars["AAA"].copy()
    frame.index = frame.index.where(
        frame.index != frame.index[3], pd.Timestamp("2024-01-06", tz="UTC")
    )
    with pytest.raises(ValueError, match="2024-01-06 is not a trading day"):
        HistoricalProvider({"AAA": frame.sort_index()}, SimulatedClock(frame.index[0]).now)


@pytest.mark.parametrize("planted", [False, True])
def test_precomputed_indicators_equal_streaming_and_ignore_the_future(planted: bool) -> None:
    bars = history(planted)
    clean = history(False)
    symbols = ["AAA", "BBB"]
    streaming = IndicatorBook(symbols, INDICATORS, 30)
    revealed = PrecomputedIndicatorBook(symbols, INDICATORS, 30, bars)
    for t in range(80):  # bar by bar, up to (not including) the planted bar
        step = {s: clean[s].iloc[t : t + 1] for s in symbols}
        assert streaming.add(step) == revealed.add(step) == 2
        for s in symbols:
            a, b = streaming.latest(s), revealed.latest(s)
            assert a.keys() == b.keys()
            np.testing.assert_allclose(list(b.values()), list(a.values()), rtol=1e-9, atol=1e-9)
            pd.testing.assert_frame_equal(streaming.bars[s], revealed.bars[s])
    assert np.isfinite(revealed.latest("AAA")["rsi_14"])
