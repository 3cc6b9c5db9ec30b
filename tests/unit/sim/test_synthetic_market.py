"""SyntheticMarket: determinism over any range, spot and quotes, errors.

(Named test_synthetic_market.py: tests/unit/domain/test_market.py already owns the module
name test_market, and test module names must be unique without package __init__ files.)"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greekfire.domain.market import Quote
from greekfire.sim.calendar import sessions
from greekfire.sim.market import SyntheticMarket
from greekfire.sim.paths import random_correlation

EPOCH = dt.date(2023, 1, 3)


def market(symbols: tuple[str, ...] = ("AAPL", "MSFT", "SPY"), **kwargs: object) -> SyntheticMarket:
    return SyntheticMarket(symbols, seed=kwargs.pop("seed", 42), epoch=EPOCH, **kwargs)  # type: ignore[arg-type]


def test_same_call_twice_returns_identical_frames() -> None:
    m = market()
    a = m.bars(["AAPL", "SPY"], "2024-03-01", "2024-03-08", "5m")
    b = m.bars(["AAPL", "SPY"], "2024-03-01", "2024-03-08", "5m")
    for symbol in ("AAPL", "SPY"):
        pd.testing.assert_frame_equal(a[symbol], b[symbol])


@pytest.mark.parametrize("timeframe", ["1d", "1m", "15m"])
def test_sub_range_is_exactly_the_rows_of_a_longer_range(timeframe: str) -> None:
    long = market().bars("MSFT", "2024-02-26", "2024-03-08", timeframe)["MSFT"]
    fresh = market()  # a new instance that has never seen the longer range
    short = fresh.bars("MSFT", "2024-03-04", "2024-03-05", timeframe)["MSFT"]
    assert len(short) > 0
    pd.testing.assert_frame_equal(short, long.loc[short.index[0] : short.index[-1]])


def test_a_later_request_first_does_not_change_earlier_bars() -> None:
    first = market().bars("SPY", "2023-06-01", "2023-06-30", "1d")["SPY"]
    m = market()
    m.bars("SPY", "2026-01-02", "2026-01-05", "1h")  # extends the daily level by years
    again = m.bars("SPY", "2023-06-01", "2023-06-30", "1d")["SPY"]
    pd.testing.assert_frame_equal(first, again)


def test_timestamp_bounds_select_bars_inclusively() -> None:
    m = market()
    day = m.bars("AAPL", "2024-03-05", "2024-03-05", "1m")["AAPL"]
    part = m.bars("AAPL", "2024-03-05T15:00:00Z", "2024-03-05T15:09:00Z", "1m")["AAPL"]
    assert len(part) == 10
    pd.testing.assert_frame_equal(part, day.loc[part.index[0] : part.index[-1]])


def test_a_symbol_does_not_depend_on_the_other_symbols() -> None:
    a = market(("AAPL", "MSFT")).bars("MSFT", "2024-01-02", "2024-01-31", "1d")["MSFT"]
    b = market(("MSFT", "XOM", "TSLA")).bars("MSFT", "2024-01-02", "2024-01-31", "1d")["MSFT"]
    pd.testing.assert_frame_equal(a, b)


def test_seed_changes_the_market() -> None:
    a = market(seed=1).bars("AAPL", "2024-01-02", "2024-01-31", "1d")["AAPL"]
    b = market(seed=2).bars("AAPL", "2024-01-02", "2024-01-31", "1d")["AAPL"]
    assert not a.equals(b)


def test_correlation_matrix_and_explicit_parameters() -> None:
    m = SyntheticMarket(
        ["A", "B", "C"],
        seed=3,
        epoch=EPOCH,
        start_price={"A": 10.0, "B": 20.0, "C": 30.0},
        vol=[0.1, 0.2, 0.3],
        avg_volume=1e6,
        correlation=random_correlation(3, seed=1),
    )
    frames = m.bars(["A", "B", "C"], EPOCH, "2023-03-31", "1d")
    assert frames["A"]["open"].iloc[0] == pytest.approx(10.0, rel=0.05)
    assert frames["C"]["open"].iloc[0] == pytest.approx(30.0, rel=0.1)


def test_daily_returns_are_correlated_across_symbols() -> None:
    m = SyntheticMarket(["A", "B"], seed=9, epoch=dt.date(2010, 1, 4), correlation=0.6)
    frames = m.bars(["A", "B"], "2010-01-04", "2024-12-31", "1d")
    ret = {s: np.diff(np.log(f["close"].to_numpy())) for s, f in frames.items()}
    assert np.corrcoef(ret["A"], ret["B"])[0, 1] == pytest.approx(0.6, abs=0.08)


def test_spot_follows_the_bars() -> None:
    m = market()
    minute = m.bars("AAPL", "2024-03-05", "2024-03-05", "1m")["AAPL"]
    daily = m.bars("AAPL", "2024-03-04", "2024-03-05", "1d")["AAPL"]
    open_ts = minute.index[0]
    assert m.spot("AAPL", open_ts) == minute["open"].iloc[0]
    assert m.spot("AAPL", open_ts + pd.Timedelta(seconds=59)) == minute["open"].iloc[0]
    assert m.spot("AAPL", minute.index[10]) == minute["close"].iloc[9]
    assert m.spot("AAPL", "2024-03-05T21:00:00Z") == daily["close"].iloc[1]  # at the close
    assert m.spot("AAPL", "2024-03-05T13:00:00Z") == daily["close"].iloc[0]  # before the open
    # Saturday: the last close is Friday's.
    friday = m.bars("AAPL", "2024-03-08", "2024-03-08", "1d")["AAPL"]
    assert m.spot("AAPL", "2024-03-09T16:00:00Z") == friday["close"].iloc[0]


def test_quote_brackets_spot_with_a_few_bps() -> None:
    m = market()
    ts = pd.Timestamp("2024-03-05 16:00", tz="UTC")
    q = m.quote("SPY", ts)
    assert isinstance(q, Quote)
    assert q.symbol == "SPY"
    assert q.ts_ns == ts.value
    assert q.bid < q.last < q.ask
    assert 0 < q.spread / q.mid < 10e-4
    assert round(q.bid * 100) == pytest.approx(q.bid * 100)
    assert q.bid_size > 0
    assert q.ask_size > 0
    assert q.bid_size % 100 == 0
    assert m.quote("SPY", ts) == q


def test_errors_name_the_argument() -> None:
    m = market()
    with pytest.raises(ValueError, match="symbol: unknown 'NOPE'"):
        m.spot("NOPE", "2024-03-05T16:00:00Z")
    with pytest.raises(ValueError, match="symbol: unknown"):
        m.bars(["AAPL", "NOPE"], "2024-03-05", "2024-03-05", "1d")
    with pytest.raises(ValueError, match="ts: expected a tz-aware"):
        m.spot("AAPL", dt.datetime(2024, 3, 5, 16))
    with pytest.raises(ValueError, match="ts: expected a time after the first session open"):
        m.spot("AAPL", "2022-12-30T16:00:00Z")
    with pytest.raises(ValueError, match="start: expected a date on or after the epoch"):
        m.bars("AAPL", "2022-12-01", "2023-01-10", "1d")
    with pytest.raises(ValueError, match="timeframe"):
        m.bars("AAPL", "2024-03-05", "2024-03-05", "4h")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"symbols": ["A", "A"]}, "symbols"),
        ({"seed": -3}, "seed"),
        ({"vol": -0.2}, "vol: expected"),
        ({"start_price": 0.0}, "start_price: expected"),
        ({"start_price": {"A": 10.0}}, "start_price: no value for"),
        ({"avg_volume": -1.0}, "avg_volume"),
        ({"correlation": 1.5}, "correlation"),
        ({"spread_bps": -1.0}, "spread_bps"),
    ],
)
def test_bad_parameters(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"symbols": ["A", "B"], "epoch": EPOCH}
    args.update(kwargs)
    symbols = args.pop("symbols")
    with pytest.raises(ValueError, match=match):
        SyntheticMarket(symbols, **args)  # type: ignore[arg-type]


def test_default_epoch_and_defaults_are_plausible() -> None:
    m = SyntheticMarket(["AAPL"], seed=0)
    daily = m.bars("AAPL", "2024-01-02", "2024-12-31", "1d")["AAPL"]
    assert len(daily) == len(sessions("2024-01-02", "2024-12-31"))
    assert 0.5 < daily["close"].iloc[-1] < 50_000
    assert daily["volume"].min() > 0


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    first=st.dates(dt.date(2023, 1, 3), dt.date(2024, 12, 20)),
    days=st.integers(0, 6),
    timeframe=st.sampled_from(["1m", "5m", "1h", "1d"]),
)
def test_property_ranges_nest_and_bars_are_consistent(
    seed: int, first: dt.date, days: int, timeframe: str
) -> None:
    m = SyntheticMarket(["X"], seed=seed, epoch=EPOCH)
    last = first + dt.timedelta(days=days)
    whole = m.bars("X", first, last + dt.timedelta(days=3), timeframe)["X"]
    part = SyntheticMarket(["X"], seed=seed, epoch=EPOCH).bars("X", first, last, timeframe)["X"]
    pd.testing.assert_frame_equal(part, whole.iloc[: len(part)])
    o, h, lo, c = (whole[k].to_numpy() for k in ("open", "high", "low", "close"))
    assert np.all((lo <= np.minimum(o, c)) & (np.maximum(o, c) <= h) & (lo >= 0.01))
