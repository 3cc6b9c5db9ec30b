"""Synthetic bars: the domain schema, OHLC consistency, cents, the intraday shape, and
consistency across timeframes."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from greekfire.domain.market import BAR_COLUMNS
from greekfire.sim import calendar
from greekfire.sim.bars import (
    BarParams,
    MarketSpec,
    build_daily_layer,
    intraday_profile,
    simulate_bars,
)
from greekfire.sim.paths import JumpParams, RegimeParams

SYMBOLS = ("AAA", "BBB", "CCC")


def make_spec(seed: int = 5, epoch: dt.date = dt.date(2024, 1, 2)) -> MarketSpec:
    return MarketSpec(
        symbols=SYMBOLS,
        seed=seed,
        start_price=np.array([50.0, 120.0, 3.0]),
        drift_annual=np.array([0.05, 0.0, -0.1]),
        vol_annual=np.array([0.2, 0.35, 0.6]),
        avg_volume=np.array([1e6, 3e6, 2e5]),
        correlation=0.3,
        jumps=JumpParams(10.0, -0.02, 0.05),
        regime=RegimeParams(0.03, 0.1, 2.0),
        bar_params=BarParams(),
        epoch=epoch,
    )


def check_schema(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == [*BAR_COLUMNS, "vwap"]
    assert all(frame[c].dtype == np.float64 for c in frame.columns)
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert str(frame.index.dtype) == "datetime64[ns, UTC]"
    assert frame.index.name == "timestamp"
    assert frame.index.is_monotonic_increasing
    assert frame.index.is_unique
    o, h, lo, c = (frame[k].to_numpy() for k in ("open", "high", "low", "close"))
    assert np.all(lo > 0)
    assert np.all(lo <= np.minimum(o, c))
    assert np.all(np.maximum(o, c) <= h)
    for arr in (o, h, lo, c):
        np.testing.assert_allclose(arr * 100, np.round(arr * 100), atol=1e-6)  # cents
    vol = frame["volume"].to_numpy()
    assert np.all(vol >= 0)
    assert np.all(vol == np.round(vol))
    vwap = frame["vwap"].to_numpy()
    assert np.all(lo - 1e-9 <= vwap)
    assert np.all(vwap <= h + 1e-9)


@pytest.mark.parametrize("timeframe", ["1m", "5m", "15m", "1h", "1d"])
def test_schema_and_calendar_grid(timeframe: str) -> None:
    start, end = dt.date(2024, 11, 26), dt.date(2024, 12, 3)
    frames = simulate_bars(make_spec(), list(SYMBOLS), start, end, timeframe)
    assert list(frames) == list(SYMBOLS)
    expected = calendar.minutes(start, end, timeframe)
    for frame in frames.values():
        check_schema(frame)
        pd.testing.assert_index_equal(frame.index, expected)


def test_early_close_day_has_210_minutes() -> None:
    frames = simulate_bars(make_spec(), ["AAA"], "2024-11-29", "2024-11-29", "1m")
    assert len(frames["AAA"]) == 210


def aggregate(minute: pd.DataFrame, step_minutes: int, opens_ns: np.ndarray) -> pd.DataFrame:
    ts = minute.index.asi8
    session_open = opens_ns[np.searchsorted(opens_ns, ts, side="right") - 1]
    step_ns = step_minutes * 60 * 10**9
    bar_start = session_open + (ts - session_open) // step_ns * step_ns
    bar_start = pd.DatetimeIndex(bar_start.astype("datetime64[ns]")).tz_localize("UTC")
    groups = minute.assign(pv=minute["vwap"] * minute["volume"]).groupby(bar_start)
    out = pd.DataFrame(
        {
            "open": groups["open"].first(),
            "high": groups["high"].max(),
            "low": groups["low"].min(),
            "close": groups["close"].last(),
            "volume": groups["volume"].sum(),
            "vwap": groups["pv"].sum() / groups["volume"].sum(),
        }
    )
    out.index.name = "timestamp"
    return out


@pytest.mark.parametrize(("timeframe", "step"), [("5m", 5), ("15m", 15), ("1h", 60)])
def test_intraday_timeframes_aggregate_the_minute_bars(timeframe: str, step: int) -> None:
    spec = make_spec()
    start, end = dt.date(2024, 7, 2), dt.date(2024, 7, 5)  # includes the 3 July early close
    minute = simulate_bars(spec, list(SYMBOLS), start, end, "1m")
    coarse = simulate_bars(spec, list(SYMBOLS), start, end, timeframe)
    opens = pd.DatetimeIndex(calendar.sessions(start, end)["open"]).asi8
    for symbol in SYMBOLS:
        want = aggregate(minute[symbol], step, opens)
        got = coarse[symbol]
        pd.testing.assert_frame_equal(
            got[list(BAR_COLUMNS)], want[list(BAR_COLUMNS)], check_exact=True, check_freq=False
        )
        np.testing.assert_allclose(got["vwap"], want["vwap"], rtol=1e-12)


def test_daily_bars_share_open_close_volume_with_the_minutes() -> None:
    spec = make_spec()
    start, end = dt.date(2024, 5, 1), dt.date(2024, 5, 10)
    minute = simulate_bars(spec, list(SYMBOLS), start, end, "1m")
    daily = simulate_bars(spec, list(SYMBOLS), start, end, "1d")
    for symbol in SYMBOLS:
        m = minute[symbol]
        day = m.index.normalize()
        groups = m.groupby(day)
        d = daily[symbol]
        np.testing.assert_array_equal(groups["open"].first().to_numpy(), d["open"].to_numpy())
        np.testing.assert_array_equal(groups["close"].last().to_numpy(), d["close"].to_numpy())
        np.testing.assert_array_equal(groups["volume"].sum().to_numpy(), d["volume"].to_numpy())


def test_minute_bars_are_continuous_within_a_session() -> None:
    frame = simulate_bars(make_spec(), ["BBB"], "2024-06-04", "2024-06-04", "1m")["BBB"]
    np.testing.assert_array_equal(frame["open"].to_numpy()[1:], frame["close"].to_numpy()[:-1])


def test_intraday_profile_is_u_shaped() -> None:
    for n in (390, 210):
        variance, volume = intraday_profile(n)
        assert variance.sum() == pytest.approx(1.0)
        assert volume.sum() == pytest.approx(1.0)
        mid = n // 2
        assert variance[0] > 4 * variance[mid]
        assert variance[-1] > 1.5 * variance[mid]
        assert volume[0] > 2 * volume[mid]
        assert volume[-1] > 1.5 * volume[mid]


def test_simulated_volatility_and_volume_are_higher_at_the_open_and_close() -> None:
    frame = simulate_bars(make_spec(), ["AAA"], "2024-03-01", "2024-04-30", "1m")["AAA"]
    minute_of_day = frame.groupby(frame.index.normalize()).cumcount().to_numpy()
    full_days = frame.groupby(frame.index.normalize())["open"].transform("size").to_numpy() == 390
    ret = np.log(frame["close"] / frame["open"]).to_numpy()
    vol = frame["volume"].to_numpy()
    first = full_days & (minute_of_day < 15)
    middle = full_days & (minute_of_day >= 180) & (minute_of_day < 210)
    last = full_days & (minute_of_day >= 375)
    assert ret[first].std() > 1.5 * ret[middle].std()
    assert ret[last].std() > 1.1 * ret[middle].std()
    assert vol[first].mean() > 1.5 * vol[middle].mean()
    assert vol[last].mean() > 1.3 * vol[middle].mean()


def test_daily_volume_is_lognormal_around_the_average() -> None:
    spec = make_spec(epoch=dt.date(2015, 1, 2))
    frame = simulate_bars(spec, ["BBB"], dt.date(2015, 1, 2), dt.date(2024, 12, 31), "1d")["BBB"]
    median = float(np.median(frame["volume"]))
    assert 2.0e6 < median < 4.0e6


def test_penny_stock_prices_stay_at_least_one_cent() -> None:
    spec = make_spec()
    frames = simulate_bars(spec, ["CCC"], dt.date(2024, 1, 2), dt.date(2024, 12, 31), "1d")
    check_schema(frames["CCC"])


def test_same_call_twice_is_identical_and_seed_matters() -> None:
    a = simulate_bars(make_spec(), ["AAA"], "2024-02-01", "2024-02-02", "5m")["AAA"]
    b = simulate_bars(make_spec(), ["AAA"], "2024-02-01", "2024-02-02", "5m")["AAA"]
    c = simulate_bars(make_spec(seed=6), ["AAA"], "2024-02-01", "2024-02-02", "5m")["AAA"]
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_a_cached_layer_gives_the_same_bars() -> None:
    spec = make_spec()
    _lo, hi = calendar.to_bounds_ns(dt.date(2024, 1, 2), dt.date(2024, 12, 31))
    layer = build_daily_layer(spec, hi)
    with_layer = simulate_bars(spec, ["AAA"], "2024-03-01", "2024-03-05", "15m", layer=layer)
    without = simulate_bars(spec, ["AAA"], "2024-03-01", "2024-03-05", "15m")
    pd.testing.assert_frame_equal(with_layer["AAA"], without["AAA"])


def test_an_empty_range_gives_empty_frames() -> None:
    frames = simulate_bars(make_spec(), ["AAA"], "2024-03-09", "2024-03-10", "1m")  # weekend
    assert frames["AAA"].empty
    check_schema(frames["AAA"])


def test_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match="start: expected a date on or after the epoch"):
        simulate_bars(make_spec(), ["AAA"], "2023-12-01", "2024-01-05", "1d")
    with pytest.raises(ValueError, match="symbols: unknown"):
        simulate_bars(make_spec(), ["ZZZ"], "2024-01-02", "2024-01-05", "1d")
    with pytest.raises(ValueError, match=r"bar_params\.overnight_variance_share"):
        BarParams(overnight_variance_share=1.0)
    with pytest.raises(ValueError, match=r"bar_params\.volume_log_sd"):
        BarParams(volume_log_sd=-1.0)
    with pytest.raises(ValueError, match=r"bar_params\.stressed_volume_multiplier"):
        BarParams(stressed_volume_multiplier=0.0)
