"""Synthetic option chains: schema, quotes, Greeks, expiries, strikes, determinism, filters."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from greekfire.analytics.options import black_scholes, greeks
from greekfire.domain.enums import OptionRight
from greekfire.domain.market import CHAIN_COLUMNS
from greekfire.domain.occ import parse_occ
from greekfire.sim.chains import (
    ExpirySchedule,
    SpreadModel,
    expiry_close,
    is_weekday,
    listed_expiries,
    option_chain,
    quote_prices,
    strike_grid,
    strike_increment,
    third_friday,
    year_fraction,
)
from greekfire.sim.surface import VolSurface

VALUATION = pd.Timestamp("2024-03-25 14:30", tz="UTC")  # a Monday, 10:30 New York
SPOT, RATE, DIVIDEND = 450.0, 0.05, 0.013
GOOD_FRIDAY = date(2024, 3, 29)


def _no_good_friday(day: date) -> bool:
    return day.weekday() < 5 and day != GOOD_FRIDAY


def _chain(**kwargs: object) -> pd.DataFrame:
    args: dict[str, object] = {"rate": RATE, "dividend_yield": DIVIDEND, "seed": 7} | kwargs
    return option_chain("SPY", SPOT, VALUATION, **args)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def chain() -> pd.DataFrame:
    return _chain()


def _t_years(frame: pd.DataFrame) -> np.ndarray:
    return np.array([year_fraction(VALUATION, day) for day in frame["expiry"].dt.date])


def _model_price(frame: pd.DataFrame) -> np.ndarray:
    return np.asarray(
        black_scholes(
            SPOT, frame["strike"], _t_years(frame), frame["iv"], RATE, DIVIDEND, frame["right"]
        )
    )


def _otm(frame: pd.DataFrame) -> pd.Series:
    return ((frame["right"] == 1) & (frame["strike"] > SPOT)) | (
        (frame["right"] == -1) & (frame["strike"] < SPOT)
    )


def test_columns_and_dtypes_are_exactly_the_schema(chain: pd.DataFrame) -> None:
    assert tuple(chain.columns) == CHAIN_COLUMNS
    assert isinstance(chain.index, pd.RangeIndex)
    assert chain["contract"].dtype == "str"
    assert chain["underlying"].dtype == "str"
    assert chain["expiry"].dtype == "datetime64[ns, UTC]"
    assert chain["timestamp"].dtype == "datetime64[ns, UTC]"
    assert chain["right"].dtype == np.int8
    floats = set(CHAIN_COLUMNS) - {"contract", "underlying", "expiry", "timestamp", "right"}
    for name in floats:
        assert chain[name].dtype == np.float64, name
    assert (chain["expiry"] == chain["expiry"].dt.normalize()).all()
    assert (chain["timestamp"] == VALUATION).all()
    assert (chain["underlying"] == "SPY").all()
    assert (chain["underlying_price"] == SPOT).all()
    assert set(chain["right"]) == {1, -1}
    assert not chain[["bid", "ask", "iv", "delta", "gamma", "theta", "vega"]].isna().any().any()


def test_rows_are_ordered_expiry_strike_call_then_put(chain: pd.DataFrame) -> None:
    keys = chain.assign(order=-chain["right"])[["expiry", "strike", "order"]]
    assert keys.equals(keys.sort_values(["expiry", "strike", "order"]).reset_index(drop=True))
    assert not chain.duplicated(["expiry", "strike", "right"]).any()


def test_contract_is_the_occ_symbol_of_the_row(chain: pd.DataFrame) -> None:
    parsed = [parse_occ(text) for text in chain["contract"].tolist()]
    assert all(p.root == "SPY" for p in parsed)
    assert [p.expiry for p in parsed] == chain["expiry"].dt.date.tolist()
    assert [int(p.right) for p in parsed] == chain["right"].tolist()
    assert [p.strike for p in parsed] == chain["strike"].tolist()
    assert chain["contract"].is_unique


def test_iv_is_the_surface_vol_and_greeks_equal_greekfire_greeks(chain: pd.DataFrame) -> None:
    t = _t_years(chain)
    forward = SPOT * np.exp((RATE - DIVIDEND) * t)
    np.testing.assert_array_equal(
        chain["iv"], VolSurface().implied_vol(chain["strike"].to_numpy(), t, forward)
    )
    want = greeks(SPOT, chain["strike"], t, chain["iv"], RATE, DIVIDEND, chain["right"])
    for name in ("delta", "gamma", "theta", "vega"):
        np.testing.assert_allclose(chain[name], want[name], rtol=1e-13, atol=0.0, err_msg=name)


def test_year_fraction_runs_to_the_new_york_close() -> None:
    # 16:00 EDT is 20:00 UTC on 2024-03-28; 16:00 EST is 21:00 UTC on 2024-01-19.
    assert expiry_close(date(2024, 3, 28)) == pd.Timestamp("2024-03-28 20:00", tz="UTC")
    assert expiry_close(date(2024, 1, 19)) == pd.Timestamp("2024-01-19 21:00", tz="UTC")
    hours = (3 * 24 + 5.5) / 24.0
    assert year_fraction(VALUATION, date(2024, 3, 28)) == pytest.approx(hours / 365.0)


def test_bid_ask_straddle_the_model_price_and_mids_keep_put_call_parity(
    chain: pd.DataFrame,
) -> None:
    model = _model_price(chain)
    assert (chain["bid"] <= model + 1e-12).all()
    assert (chain["ask"] >= model - 1e-12).all()
    mid = ((chain["bid"] + chain["ask"]) / 2.0).to_numpy()
    calls, puts = chain["right"].to_numpy() == 1, chain["right"].to_numpy() == -1
    t = _t_years(chain)[calls]
    strike = chain["strike"].to_numpy()[calls]
    parity = SPOT * np.exp(-DIVIDEND * t) - strike * np.exp(-RATE * t)
    both_bid = (chain["bid"].to_numpy()[calls] > 0) & (chain["bid"].to_numpy()[puts] > 0)
    gap = np.abs(mid[calls] - mid[puts] - parity)[both_bid]
    assert both_bid.sum() > 100
    assert gap.max() <= 0.05 + 1e-9  # half a tick each side, at most 0.05
    np.testing.assert_allclose(model[calls] - model[puts], parity, atol=1e-9)


def test_quotes_respect_ticks_and_are_never_crossed(chain: pd.DataFrame) -> None:
    for side in ("bid", "ask", "last"):
        prices = chain[side].dropna().to_numpy()
        cents = np.round(prices * 100.0)
        assert np.abs(prices * 100.0 - cents).max() < 1e-6, side
        assert (cents[prices >= 3.0] % 5 == 0).all(), side
    assert (chain["bid"] >= 0.0).all()
    assert (chain["bid"] < chain["ask"]).all()
    traded = chain.dropna(subset=["last"])
    assert (traded["last"] >= traded["bid"]).all()
    assert (traded["last"] <= traded["ask"]).all()
    assert chain["last"].isna().equals(chain["volume"] == 0)


def test_deep_out_of_the_money_options_have_no_bid(chain: pd.DataFrame) -> None:
    model = _model_price(chain)
    assert (chain["bid"][model < 0.005] == 0.0).all()
    assert (model < 0.005).any()
    assert (chain["ask"][chain["bid"] == 0.0] > 0.0).all()


def test_spreads_widen_away_from_the_money_and_for_short_expiries(chain: pd.DataFrame) -> None:
    quoted = chain[_otm(chain) & (chain["bid"] > 0)].copy()
    quoted["relative"] = (quoted["ask"] - quoted["bid"]) / (quoted["ask"] + quoted["bid"]) * 2
    quoted["distance"] = np.abs(np.log(quoted["strike"] / SPOT))
    for _, side in quoted.groupby(["expiry", "right"]):
        ordered = side.sort_values("distance")
        assert ordered["relative"].iloc[-1] > ordered["relative"].iloc[0]
        assert ordered["relative"].corr(ordered["distance"], method="spearman") > 0.8
    atm = chain[chain["strike"] == SPOT]
    vol_spread = ((atm["ask"] - atm["bid"]) / atm["vega"]).to_numpy()
    assert vol_spread[0] > vol_spread[-1]  # shortest vs longest expiry, the call at 450


def test_spread_model_widens_with_moneyness_and_towards_expiry() -> None:
    model = SpreadModel()
    z = np.linspace(0.0, 4.0, 9)
    by_z = model.spread(mid=5.0, vega=100.0, moneyness_sd=z, t_years=0.5)
    assert np.all(np.diff(by_z) > 0.0)
    by_t = model.spread(mid=5.0, vega=100.0, moneyness_sd=0.0, t_years=[0.01, 0.1, 1.0])
    assert np.all(np.diff(by_t) < 0.0)
    assert model.spread(mid=0.001, vega=0.0, moneyness_sd=5.0, t_years=0.1) == 0.01


@given(st.floats(0.0, 500.0), st.floats(0.0001, 20.0))
def test_quote_prices_bracket_the_mid_on_the_tick_grid(mid: float, spread: float) -> None:
    bid, ask = (float(x) for x in quote_prices(mid, spread))
    assert 0.0 <= bid <= mid <= ask
    assert bid < ask
    assert ask - bid >= spread - 1e-9 or bid == 0.0
    for price in (bid, ask):
        cents = round(price * 100)
        assert abs(price * 100 - cents) < 1e-6
        assert price < 3.0 or cents % 5 == 0


def test_open_interest_peaks_near_the_money_and_at_monthlies(chain: pd.DataFrame) -> None:
    for _, series in chain.groupby("expiry"):
        distance = np.abs(series["strike"] - SPOT)
        near = series["open_interest"][distance <= distance.quantile(0.2)].mean()
        far = series["open_interest"][distance >= distance.quantile(0.8)].mean()
        assert near > 1.5 * far
    by_expiry = chain.groupby("expiry")["open_interest"].sum()
    assert (
        by_expiry[pd.Timestamp("2024-04-19", tz="UTC")]
        > by_expiry[pd.Timestamp("2024-04-12", tz="UTC")]
    )
    assert (chain["volume"] >= 0).all()
    assert (chain[["volume", "open_interest"]] % 1 == 0).all().all()


def test_same_seed_same_chain_other_seed_other_activity(chain: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(_chain(), chain)
    other = _chain(seed=8)
    pd.testing.assert_frame_equal(
        other.drop(columns=["last", "volume", "open_interest"]),
        chain.drop(columns=["last", "volume", "open_interest"]),
    )
    assert not other["open_interest"].equals(chain["open_interest"])


def test_weeklies_are_fridays_and_monthlies_third_fridays() -> None:
    # Weekdays only: no holiday moves an expiry off its Friday (2024-03-29 is Good Friday).
    schedule = ExpirySchedule(weeklies=6, monthlies=8)
    listed = listed_expiries(VALUATION, schedule, is_trading_day=is_weekday)
    weeklies = [e.expiry for e in listed if not e.monthly]
    monthlies = [e.expiry for e in listed if e.monthly]
    assert all(day.weekday() == 4 for day in weeklies + monthlies)
    assert all(day == third_friday(day.year, day.month) for day in monthlies)
    assert len(monthlies) == 8
    assert monthlies[0] == date(2024, 4, 19)  # March's third Friday (the 15th) has expired
    assert weeklies[:3] == [date(2024, 3, 29), date(2024, 4, 5), date(2024, 4, 12)]
    assert sorted(e.expiry for e in listed) == [e.expiry for e in listed]
    assert third_friday(2024, 3) == date(2024, 3, 15)
    assert third_friday(2024, 11) == date(2024, 11, 15)
    assert third_friday(2025, 2) == date(2025, 2, 21)


def test_good_friday_expiry_moves_to_thursday_when_the_calendar_says_so() -> None:
    weekdays = [e.expiry for e in listed_expiries(VALUATION, is_trading_day=is_weekday)]
    shifted = [e.expiry for e in listed_expiries(VALUATION, is_trading_day=_no_good_friday)]
    assert GOOD_FRIDAY in weekdays
    assert GOOD_FRIDAY not in shifted
    assert date(2024, 3, 28) in shifted
    chain = _chain(is_trading_day=_no_good_friday, expiries=ExpirySchedule(1, 0))
    assert set(chain["expiry"]) == {pd.Timestamp("2024-03-28", tz="UTC")}
    assert chain["contract"].str.startswith("SPY240328").all()


def test_the_default_calendar_is_the_nyse_one() -> None:
    # Good Friday 2024-03-29 is an NYSE holiday: its weekly rolls back to Thursday by default.
    default = [e.expiry for e in listed_expiries(VALUATION, ExpirySchedule(weeklies=2))]
    assert GOOD_FRIDAY not in default
    assert default[:2] == [date(2024, 3, 28), date(2024, 4, 5)]
    chain = _chain(expiries=ExpirySchedule(1, 0))
    assert set(chain["expiry"]) == {pd.Timestamp("2024-03-28", tz="UTC")}
    assert set(_chain(expiries=[GOOD_FRIDAY], strikes_per_expiry=1)["expiry"].dt.date) == {
        GOOD_FRIDAY
    }  # an explicit expiry is listed as given


def test_expiries_already_closed_are_not_listed() -> None:
    friday_close = pd.Timestamp("2024-04-19 20:00", tz="UTC")
    listed = listed_expiries(friday_close, ExpirySchedule(weeklies=1, monthlies=1))
    assert [e.expiry for e in listed] == [date(2024, 4, 26), date(2024, 5, 17)]
    just_before = listed_expiries(friday_close - pd.Timedelta(1, "s"), ExpirySchedule(1, 1))
    assert [e.expiry for e in just_before] == [date(2024, 4, 19)]


def test_explicit_expiries() -> None:
    chain = _chain(expiries=[date(2024, 6, 21), date(2024, 4, 10)])
    assert sorted(set(chain["expiry"].dt.date)) == [date(2024, 4, 10), date(2024, 6, 21)]
    with pytest.raises(ValueError, match=r"^expiries: "):
        _chain(expiries=[date(2024, 3, 22)])


def test_strikes_use_standard_increments_and_widen_with_expiry(chain: pd.DataFrame) -> None:
    assert [strike_increment(p) for p in (10, 50, 450, 600, 4500)] == [0.5, 1.0, 2.5, 5.0, 10.0]
    ranges = chain.groupby("expiry")["strike"].agg(["min", "max", "size"])
    assert (ranges["size"] <= 2 * 41).all()
    assert ranges["max"].iloc[-1] - ranges["min"].iloc[-1] > 2 * (
        ranges["max"].iloc[0] - ranges["min"].iloc[0]
    )
    for _, strikes in chain.groupby("expiry")["strike"]:
        steps = np.diff(np.unique(strikes))
        assert np.allclose(steps, steps[0])
        assert steps[0] in (2.5, 5.0, 10.0)
        assert (np.unique(strikes) % steps[0] == 0).all()


def test_strike_grid_is_capped_and_centred() -> None:
    grid = strike_grid(101.3, 0.1, 11)
    assert grid.size == 11
    assert grid[0] < 101.3 < grid[-1]
    assert np.allclose(np.diff(grid), 1.0)
    coarse = strike_grid(100.0, 1.5, 10)  # 0.22 to 448: the ladder steps up to 25
    assert np.allclose(np.diff(coarse), 25.0)
    assert (coarse > 0).all()


def test_filters_select_rows_of_the_full_chain(chain: pd.DataFrame) -> None:
    def subset(mask: pd.Series) -> pd.DataFrame:
        return chain[mask].reset_index(drop=True)

    expiry_range = (date(2024, 4, 5), date(2024, 5, 17))
    got = _chain(expiry_range=expiry_range)
    days = chain["expiry"].dt.date
    pd.testing.assert_frame_equal(
        got, subset((days >= expiry_range[0]) & (days <= expiry_range[1]))
    )
    got = _chain(strike_range=(440.0, None))
    pd.testing.assert_frame_equal(got, subset(chain["strike"] >= 440.0))
    got = _chain(moneyness_range=(0.95, 1.05), right="put")
    want = (chain["strike"].between(0.95 * SPOT, 1.05 * SPOT)) & (chain["right"] == -1)
    pd.testing.assert_frame_equal(got, subset(want))
    got = _chain(right=OptionRight.CALL, strike_range=(445.0, 455.0))
    assert set(got["right"]) == {1}
    assert got["strike"].between(445.0, 455.0).all()
    empty = _chain(strike_range=(1.0, 2.0))
    assert empty.empty
    assert tuple(empty.columns) == CHAIN_COLUMNS
    assert empty["right"].dtype == np.int8


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"strike_range": (460.0, 440.0)}, "strike_range"),
        ({"moneyness_range": (1.1, 0.9)}, "moneyness_range"),
        ({"expiry_range": (date(2024, 5, 1), date(2024, 4, 1))}, "expiry_range"),
        ({"right": "straddle"}, "right"),
        ({"seed": -1}, "seed"),
        ({"strikes_per_expiry": 0}, "strikes_per_expiry"),
    ],
)
def test_invalid_arguments_raise_naming_them(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name}: "):
        _chain(**kwargs)


def test_invalid_positional_inputs_raise_naming_them() -> None:
    with pytest.raises(ValueError, match=r"^spot: "):
        option_chain("SPY", 0.0, VALUATION, rate=RATE)
    with pytest.raises(ValueError, match=r"^valuation_ts: "):
        option_chain("SPY", SPOT, pd.Timestamp("2024-03-25 14:30"), rate=RATE)
    with pytest.raises(ValueError, match=r"^root: "):
        option_chain("S&P", SPOT, VALUATION, rate=RATE)
    with pytest.raises(ValueError, match=r"^weeklies: "):
        ExpirySchedule(weeklies=-1)
    with pytest.raises(ValueError, match=r"^min_spread: "):
        SpreadModel(min_spread=0.0)


def test_low_priced_underlying_and_a_custom_surface() -> None:
    surface = VolSurface(atm_vol=0.6, term_slope=-0.2, skew=-0.3, convexity=1.2)
    chain = option_chain("f", 12.34, "2024-03-25T10:30-04:00", rate=0.0, surface=surface, seed=1)
    assert (chain["underlying"] == "F").all()
    assert math.isclose(np.diff(np.unique(chain["strike"]))[0], 0.5)
    assert (chain["bid"] < chain["ask"]).all()
    assert (chain["timestamp"] == VALUATION).all()
