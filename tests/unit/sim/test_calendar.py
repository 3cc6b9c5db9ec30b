"""NYSE calendar: holidays, early closes, DST, bar grids; expected dates written by hand from
the NYSE's published holiday schedules."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from greekfire.sim import calendar

D = dt.date

HOLIDAYS = {
    2021: [
        D(2021, 1, 1),
        D(2021, 1, 18),
        D(2021, 2, 15),
        D(2021, 4, 2),
        D(2021, 5, 31),
        D(2021, 7, 5),
        D(2021, 9, 6),
        D(2021, 11, 25),
        D(2021, 12, 24),
    ],
    # 1 January 2022 was a Saturday: not observed, Friday 31 December 2021 was a trading day.
    2022: [
        D(2022, 1, 17),
        D(2022, 2, 21),
        D(2022, 4, 15),
        D(2022, 5, 30),
        D(2022, 6, 20),
        D(2022, 7, 4),
        D(2022, 9, 5),
        D(2022, 11, 24),
        D(2022, 12, 26),
    ],
    2023: [
        D(2023, 1, 2),
        D(2023, 1, 16),
        D(2023, 2, 20),
        D(2023, 4, 7),
        D(2023, 5, 29),
        D(2023, 6, 19),
        D(2023, 7, 4),
        D(2023, 9, 4),
        D(2023, 11, 23),
        D(2023, 12, 25),
    ],
    2024: [
        D(2024, 1, 1),
        D(2024, 1, 15),
        D(2024, 2, 19),
        D(2024, 3, 29),
        D(2024, 5, 27),
        D(2024, 6, 19),
        D(2024, 7, 4),
        D(2024, 9, 2),
        D(2024, 11, 28),
        D(2024, 12, 25),
    ],
    2025: [
        D(2025, 1, 1),
        D(2025, 1, 20),
        D(2025, 2, 17),
        D(2025, 4, 18),
        D(2025, 5, 26),
        D(2025, 6, 19),
        D(2025, 7, 4),
        D(2025, 9, 1),
        D(2025, 11, 27),
        D(2025, 12, 25),
    ],
    2027: [
        D(2027, 1, 1),
        D(2027, 1, 18),
        D(2027, 2, 15),
        D(2027, 3, 26),
        D(2027, 5, 31),
        D(2027, 6, 18),
        D(2027, 7, 5),
        D(2027, 9, 6),
        D(2027, 11, 25),
        D(2027, 12, 24),
    ],
}

EARLY_CLOSES = {
    2019: [D(2019, 7, 3), D(2019, 11, 29), D(2019, 12, 24)],
    2020: [D(2020, 11, 27), D(2020, 12, 24)],  # 3 July 2020 was the observed holiday
    2023: [D(2023, 7, 3), D(2023, 11, 24)],  # 24 December 2023 was a Sunday
    2024: [D(2024, 7, 3), D(2024, 11, 29), D(2024, 12, 24)],
    2025: [D(2025, 7, 3), D(2025, 11, 28), D(2025, 12, 24)],
}


@pytest.mark.parametrize("year", sorted(HOLIDAYS))
def test_holidays_match_the_published_lists(year: int) -> None:
    assert list(calendar.holidays(year)) == HOLIDAYS[year]
    for day in HOLIDAYS[year]:
        assert not calendar.is_trading_day(day)


@pytest.mark.parametrize("year", sorted(EARLY_CLOSES))
def test_early_closes_match_the_published_lists(year: int) -> None:
    assert list(calendar.early_closes(year)) == EARLY_CLOSES[year]


@pytest.mark.parametrize(
    ("year", "easter"),
    [
        (1818, D(1818, 3, 22)),
        (2000, D(2000, 4, 23)),
        (2011, D(2011, 4, 24)),
        (2019, D(2019, 4, 21)),
        (2024, D(2024, 3, 31)),
        (2025, D(2025, 4, 20)),
        (2038, D(2038, 4, 25)),
        (2285, D(2285, 3, 22)),
    ],
)
def test_easter_computus(year: int, easter: dt.date) -> None:
    assert calendar.easter_sunday(year) == easter


def test_good_friday_2024_and_2025() -> None:
    assert not calendar.is_trading_day(D(2024, 3, 29))
    assert not calendar.is_trading_day(D(2025, 4, 18))
    assert calendar.is_trading_day(D(2024, 3, 28))


def test_new_years_day_on_saturday_keeps_friday_open() -> None:
    assert calendar.is_trading_day(D(2021, 12, 31))
    assert calendar.is_trading_day(D(2010, 12, 31))  # 1 January 2011 was a Saturday


def test_special_closures_and_weekends() -> None:
    assert not calendar.is_trading_day(D(2025, 1, 9))  # President Carter
    assert not calendar.is_trading_day(D(2012, 10, 29))  # hurricane Sandy
    assert not calendar.is_trading_day(D(2024, 3, 9))  # Saturday
    assert not calendar.is_trading_day(D(2024, 3, 10))  # Sunday
    assert calendar.is_trading_day(D(2025, 1, 10))


def test_is_trading_day_refuses_a_datetime() -> None:
    with pytest.raises(TypeError, match="day"):
        calendar.is_trading_day(dt.datetime(2024, 3, 8, 12, tzinfo=dt.UTC))


@pytest.mark.parametrize(("year", "count"), [(2023, 250), (2024, 252), (2025, 250)])
def test_session_counts(year: int, count: int) -> None:
    assert len(calendar.sessions(D(year, 1, 1), D(year, 12, 31))) == count


def test_sessions_around_the_march_2024_dst_switch() -> None:
    frame = calendar.sessions("2024-03-07", "2024-03-11")
    assert list(frame.columns) == ["date", "open", "close"]
    assert list(frame["date"]) == [D(2024, 3, 7), D(2024, 3, 8), D(2024, 3, 11)]
    assert list(frame["open"]) == [
        pd.Timestamp("2024-03-07 14:30", tz="UTC"),
        pd.Timestamp("2024-03-08 14:30", tz="UTC"),
        pd.Timestamp("2024-03-11 13:30", tz="UTC"),
    ]
    assert list(frame["close"]) == [
        pd.Timestamp("2024-03-07 21:00", tz="UTC"),
        pd.Timestamp("2024-03-08 21:00", tz="UTC"),
        pd.Timestamp("2024-03-11 20:00", tz="UTC"),
    ]


def test_sessions_around_the_november_2024_dst_switch() -> None:
    frame = calendar.sessions(D(2024, 11, 1), D(2024, 11, 4))
    assert list(frame["open"]) == [
        pd.Timestamp("2024-11-01 13:30", tz="UTC"),
        pd.Timestamp("2024-11-04 14:30", tz="UTC"),
    ]


def test_early_close_times() -> None:
    frame = calendar.sessions("2024-11-29", "2024-11-29")
    assert frame["close"].iloc[0] == pd.Timestamp("2024-11-29 18:00", tz="UTC")
    frame = calendar.sessions("2024-07-03", "2024-07-03")
    assert frame["close"].iloc[0] == pd.Timestamp("2024-07-03 17:00", tz="UTC")
    frame = calendar.sessions("2024-12-24", "2024-12-24")
    assert frame["close"].iloc[0] == pd.Timestamp("2024-12-24 18:00", tz="UTC")


def test_minutes_of_a_full_and_an_early_close_day() -> None:
    full = calendar.minutes("2024-03-11", "2024-03-11", "1m")
    assert len(full) == 390
    assert full[0] == pd.Timestamp("2024-03-11 13:30", tz="UTC")
    assert full[-1] == pd.Timestamp("2024-03-11 19:59", tz="UTC")
    assert full.name == "timestamp"
    assert str(full.dtype) == "datetime64[ns, UTC]"
    assert len(calendar.minutes("2024-11-29", "2024-11-29", "1m")) == 210


def test_hourly_bars_anchor_at_the_open() -> None:
    hours = calendar.minutes("2024-03-11", "2024-03-11", "1h")
    assert [t.strftime("%H:%M") for t in hours] == [
        "13:30",
        "14:30",
        "15:30",
        "16:30",
        "17:30",
        "18:30",
        "19:30",
    ]
    assert len(calendar.minutes("2024-11-29", "2024-11-29", "1h")) == 4


def test_minutes_span_weekends_and_holidays() -> None:
    bars = calendar.minutes("2024-03-28", "2024-04-01", "15m")
    assert len(bars) == 2 * 26  # Thursday and Monday; Good Friday and the weekend closed
    daily = calendar.minutes("2024-03-28", "2024-04-01", "1d")
    assert list(daily) == [  # stamped 00:00 UTC of the session date
        pd.Timestamp("2024-03-28", tz="UTC"),
        pd.Timestamp("2024-04-01", tz="UTC"),
    ]
    assert str(daily.dtype) == "datetime64[ns, UTC]"


def test_minutes_with_timestamp_bounds_are_inclusive() -> None:
    bars = calendar.minutes("2024-03-11T14:00:00Z", "2024-03-11T14:05:00+00:00", "1m")
    assert len(bars) == 6


def test_is_open() -> None:
    assert calendar.is_open("2024-11-29T17:59:00Z")
    assert not calendar.is_open("2024-11-29T18:00:00Z")
    assert calendar.is_open(pd.Timestamp("2024-03-11 13:30", tz="UTC"))
    assert not calendar.is_open(pd.Timestamp("2024-03-08 13:30", tz="UTC"))  # EST: opens 14:30
    assert not calendar.is_open("2024-12-25T15:00:00Z")


def test_next_open_and_previous_close() -> None:
    assert calendar.next_open("2024-03-08T21:00:00Z") == pd.Timestamp("2024-03-11 13:30", tz="UTC")
    assert calendar.next_open("2024-12-24T18:00:00Z") == pd.Timestamp("2024-12-26 14:30", tz="UTC")
    # Strictly after: at the open itself the next open is the following session's.
    assert calendar.next_open("2024-03-11T13:30:00Z") == pd.Timestamp("2024-03-12 13:30", tz="UTC")
    assert calendar.next_open("2024-12-31T22:00:00Z") == pd.Timestamp("2025-01-02 14:30", tz="UTC")
    assert calendar.previous_close("2024-03-11T13:00:00Z") == pd.Timestamp(
        "2024-03-08 21:00", tz="UTC"
    )
    assert calendar.previous_close("2024-03-11T20:00:00Z") == pd.Timestamp(
        "2024-03-11 20:00", tz="UTC"
    )


def test_naive_timestamps_and_reversed_ranges_are_refused() -> None:
    with pytest.raises(ValueError, match="ts: expected a tz-aware"):
        calendar.is_open(dt.datetime(2024, 3, 11, 15))
    with pytest.raises(ValueError, match="start: expected a tz-aware"):
        calendar.minutes("2024-03-11 14:00", "2024-03-12", "1m")
    with pytest.raises(ValueError, match="end: expected end >= start"):
        calendar.sessions(D(2024, 3, 12), D(2024, 3, 11))
    with pytest.raises(ValueError, match="timeframe"):
        calendar.minutes(D(2024, 3, 11), D(2024, 3, 11), "2m")
