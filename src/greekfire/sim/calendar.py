"""The NYSE trading calendar: regular sessions, full holidays by rule, early closes.

Sessions run 09:30-16:00 America/New_York (13:00 on early-close days); every time this module
returns is UTC, so the UTC open moves between 13:30 (EDT) and 14:30 (EST) with daylight saving
time, which :mod:`zoneinfo` resolves per date.

Full holidays, computed by rule for any year (the rules in force since 2022; Martin Luther King
Jr. Day counts from 1998 and Juneteenth from 2022, as on the NYSE):

- New Year's Day, 1 January; a Sunday is observed on Monday 2 January, a Saturday is *not*
  observed (NYSE Rule 7.2: the exchange stays open on Friday 31 December, the last day of the
  accounting year);
- Martin Luther King Jr. Day (third Monday of January), Washington's Birthday (third Monday of
  February), Memorial Day (last Monday of May), Labor Day (first Monday of September),
  Thanksgiving (fourth Thursday of November);
- Good Friday, two days before Easter Sunday (Gregorian computus, Meeus/Jones/Butcher);
- Juneteenth (19 June), Independence Day (4 July), Christmas (25 December): a Saturday is
  observed on the Friday before, a Sunday on the Monday after.

Early closes at 13:00: 3 July when it is a weekday trading day (the day before Independence
Day), the day after Thanksgiving, and 24 December when it is a weekday trading day.

Unscheduled closures (national days of mourning, 9/11, hurricane Sandy) since 2000 are listed
in :data:`SPECIAL_CLOSURES`; future ones cannot be known.

Bounds: every ``start``/``end`` accepts a :class:`datetime.date` (or a date-only string such
as ``"2024-03-01"``), meaning the whole New York calendar day, inclusive, or a tz-aware
timestamp (``datetime``, :class:`pandas.Timestamp` or an ISO string with an offset). Naive
timestamps are refused: time is UTC and tz-aware at boundaries.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from greekfire.domain.market import Timeframe

__all__ = [
    "NEW_YORK",
    "SPECIAL_CLOSURES",
    "DateLike",
    "TimestampLike",
    "bar_starts",
    "early_closes",
    "easter_sunday",
    "holidays",
    "is_open",
    "is_trading_day",
    "minutes",
    "next_open",
    "previous_close",
    "session_arrays",
    "sessions",
    "to_bounds_ns",
    "to_ns",
]

NEW_YORK = ZoneInfo("America/New_York")
_OPEN = dt.time(9, 30)
_CLOSE = dt.time(16, 0)
_EARLY_CLOSE = dt.time(13, 0)
_NS = 1_000_000_000
_MON, _THU, _FRI, _SAT, _SUN = 0, 3, 4, 5, 6

SPECIAL_CLOSURES: frozenset[dt.date] = frozenset(
    {
        dt.date(2001, 9, 11),  # September 11 attacks, closed through the 14th
        dt.date(2001, 9, 12),
        dt.date(2001, 9, 13),
        dt.date(2001, 9, 14),
        dt.date(2004, 6, 11),  # President Reagan, national day of mourning
        dt.date(2007, 1, 2),  # President Ford
        dt.date(2012, 10, 29),  # hurricane Sandy
        dt.date(2012, 10, 30),
        dt.date(2018, 12, 5),  # President G. H. W. Bush
        dt.date(2025, 1, 9),  # President Carter
    }
)

DateLike = dt.date | str
TimestampLike = dt.datetime | pd.Timestamp | str


def easter_sunday(year: int) -> dt.date:
    """Easter Sunday of ``year`` in the Gregorian calendar (anonymous Gregorian algorithm,
    Meeus/Jones/Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> dt.date:
    nxt = dt.date(year + month // 12, month % 12 + 1, 1)
    last = nxt - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: dt.date) -> dt.date:
    # Saturday holidays move to Friday, Sunday holidays to Monday.
    if day.weekday() == _SAT:
        return day - dt.timedelta(days=1)
    if day.weekday() == _SUN:
        return day + dt.timedelta(days=1)
    return day


@lru_cache(maxsize=256)
def holidays(year: int) -> tuple[dt.date, ...]:
    """The NYSE full holidays (observed dates) of ``year``, sorted; without
    :data:`SPECIAL_CLOSURES`.

    Parameters
    ----------
    year : int
        Calendar year.

    Returns
    -------
    tuple of datetime.date
        Observed holiday dates falling in ``year``.
    """
    days: list[dt.date] = []
    new_year = dt.date(year, 1, 1)
    if new_year.weekday() != _SAT:  # NYSE Rule 7.2: no Friday 31 December closure
        days.append(_observed(new_year))
    if year >= 1998:
        days.append(_nth_weekday(year, 1, _MON, 3))
    days.append(_nth_weekday(year, 2, _MON, 3))
    days.append(easter_sunday(year) - dt.timedelta(days=2))
    days.append(_last_weekday(year, 5, _MON))
    if year >= 2022:
        days.append(_observed(dt.date(year, 6, 19)))
    days.append(_observed(dt.date(year, 7, 4)))
    days.append(_nth_weekday(year, 9, _MON, 1))
    days.append(_nth_weekday(year, 11, _THU, 4))
    days.append(_observed(dt.date(year, 12, 25)))
    return tuple(sorted(days))


def is_trading_day(day: dt.date) -> bool:
    """True when the NYSE holds a regular session on ``day`` (a weekday that is neither a
    holiday nor a special closure)."""
    if isinstance(day, dt.datetime):
        raise TypeError(f"day: expected a datetime.date, got a datetime {day!r}")
    return day.weekday() < _SAT and day not in holidays(day.year) and day not in SPECIAL_CLOSURES


@lru_cache(maxsize=256)
def early_closes(year: int) -> tuple[dt.date, ...]:
    """The trading days of ``year`` that close at 13:00 New York time, sorted."""
    candidates = [
        dt.date(year, 7, 3),
        _nth_weekday(year, 11, _THU, 4) + dt.timedelta(days=1),
        dt.date(year, 12, 24),
    ]
    return tuple(d for d in candidates if is_trading_day(d))


def _utc_ns(day: dt.date, time: dt.time) -> int:
    return int(dt.datetime.combine(day, time, tzinfo=NEW_YORK).timestamp()) * _NS


@lru_cache(maxsize=256)
def _year_sessions(year: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # (dates as datetime64[D], open ns, close ns) of every session in ``year``.
    first = dt.date(year, 1, 1)
    days = [first + dt.timedelta(days=k) for k in range((dt.date(year + 1, 1, 1) - first).days)]
    days = [d for d in days if is_trading_day(d)]
    early = set(early_closes(year))
    opens = np.array([_utc_ns(d, _OPEN) for d in days], dtype=np.int64)
    closes = np.array(
        [_utc_ns(d, _EARLY_CLOSE if d in early else _CLOSE) for d in days], dtype=np.int64
    )
    dates = np.array(days, dtype="datetime64[D]")
    for arr in (opens, closes, dates):
        arr.setflags(write=False)
    return dates, opens, closes


def to_ns(ts: TimestampLike, name: str = "ts") -> int:
    """UTC nanoseconds since the epoch of a tz-aware timestamp; ``ValueError`` when naive."""
    stamp = pd.Timestamp(ts)
    if stamp.tzinfo is None:
        raise ValueError(f"{name}: expected a tz-aware timestamp (UTC), got naive {ts!r}")
    return int(stamp.tz_convert("UTC").as_unit("ns").value)


def _as_date(value: DateLike | TimestampLike) -> dt.date | None:
    # A date, or a date-only string, names a whole New York day; anything else is a timestamp.
    if isinstance(value, dt.datetime):
        return None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and len(value.strip()) <= 10:
        return dt.date.fromisoformat(value.strip())
    return None


def to_bounds_ns(start: DateLike | TimestampLike, end: DateLike | TimestampLike) -> tuple[int, int]:
    """Inclusive UTC-nanosecond bounds of a range: a date covers its whole New York day.

    Raises
    ------
    ValueError
        A naive timestamp, or ``end`` before ``start``.
    """
    start_day, end_day = _as_date(start), _as_date(end)
    lo = (
        _utc_ns(start_day, dt.time(0, 0)) if start_day is not None else to_ns(start, "start")  # type: ignore[arg-type]
    )
    if end_day is not None:
        hi = _utc_ns(end_day + dt.timedelta(days=1), dt.time(0, 0)) - 1
    else:
        hi = to_ns(end, "end")  # type: ignore[arg-type]
    if hi < lo:
        raise ValueError(f"end: expected end >= start, got start={start!r}, end={end!r}")
    return lo, hi


def _ny_year(ns: int) -> int:
    return pd.Timestamp(ns, tz="UTC").tz_convert(NEW_YORK).year


def session_arrays(lo_ns: int, hi_ns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sessions overlapping ``[lo_ns, hi_ns]`` (UTC ns, inclusive) as arrays: dates
    (``datetime64[D]``), opens and closes (int64 UTC ns), sorted."""
    parts = [_year_sessions(y) for y in range(_ny_year(lo_ns), _ny_year(hi_ns) + 1)]
    dates = np.concatenate([p[0] for p in parts])
    opens = np.concatenate([p[1] for p in parts])
    closes = np.concatenate([p[2] for p in parts])
    keep = (closes > lo_ns) & (opens <= hi_ns)
    return dates[keep], opens[keep], closes[keep]


def sessions(start: DateLike | TimestampLike, end: DateLike | TimestampLike) -> pd.DataFrame:
    """The regular sessions overlapping ``[start, end]``.

    Parameters
    ----------
    start, end : date, str or tz-aware timestamp
        Inclusive bounds; a date covers its whole New York day.

    Returns
    -------
    pandas.DataFrame
        One row per session, sorted: ``date`` (``datetime.date``, the New York trading date),
        ``open`` and ``close`` (UTC ``Timestamp``).
    """
    dates, opens, closes = session_arrays(*to_bounds_ns(start, end))
    return pd.DataFrame(
        {
            "date": pd.Series([d.item() for d in dates], dtype=object),
            "open": _utc_index(opens),
            "close": _utc_index(closes),
        }
    )


def _utc_index(ns: np.ndarray, name: str | None = None) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(ns.astype("datetime64[ns]"), name=name).tz_localize("UTC")


def bar_starts(opens: np.ndarray, closes: np.ndarray, timeframe: Timeframe) -> np.ndarray:
    """Bar starts (int64 UTC ns) of the given sessions: every ``timeframe`` from the open while
    before the close (the last bar of a session may be short: 15:30-16:00 for ``1h``); the
    open itself for daily bars."""
    if not timeframe.intraday:
        return opens.copy()
    step = timeframe.seconds * _NS
    counts = -((opens - closes) // step)  # ceil((close - open) / step)
    first = np.cumsum(counts) - counts
    k = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(first, counts)
    starts: np.ndarray = np.repeat(opens, counts) + k * step
    return starts


def minutes(
    start: DateLike | TimestampLike,
    end: DateLike | TimestampLike,
    timeframe: Timeframe | str = Timeframe.M1,
) -> pd.DatetimeIndex:
    """Bar starts within regular sessions whose start lies in ``[start, end]``.

    Parameters
    ----------
    start, end : date, str or tz-aware timestamp
        Inclusive bounds; a date covers its whole New York day.
    timeframe : Timeframe or str
        Bar length; intraday bars are anchored at the session open. A daily bar is selected
        when its session opens in the range and is stamped 00:00 UTC of the session date (the
        convention of the file provider and of chain expiries).

    Returns
    -------
    pandas.DatetimeIndex
        UTC, nanoseconds, named ``timestamp``, strictly increasing.
    """
    tf = Timeframe.parse(timeframe)
    lo, hi = to_bounds_ns(start, end)
    dates, opens, closes = session_arrays(lo, hi)
    starts = bar_starts(opens, closes, tf)
    keep = (starts >= lo) & (starts <= hi)
    if not tf.intraday:  # selected by the open, stamped 00:00 UTC of the session date
        return _utc_index(dates[keep].astype("datetime64[ns]").astype(np.int64), "timestamp")
    return _utc_index(starts[keep], name="timestamp")


def is_open(ts: TimestampLike) -> bool:
    """True when the regular session is open at ``ts`` (open <= ts < close)."""
    ns = to_ns(ts)
    _, opens, closes = session_arrays(ns, ns)
    return bool(np.any((opens <= ns) & (ns < closes)))


def next_open(ts: TimestampLike) -> pd.Timestamp:
    """The first session open strictly after ``ts`` (UTC)."""
    ns = to_ns(ts)
    year = _ny_year(ns)
    for y in range(year, year + 3):
        _, opens, _ = _year_sessions(y)
        later = opens[opens > ns]
        if later.size:
            return pd.Timestamp(int(later[0]), tz="UTC")
    raise AssertionError("unreachable: every year has sessions")  # pragma: no cover


def previous_close(ts: TimestampLike) -> pd.Timestamp:
    """The last session close at or before ``ts`` (UTC)."""
    ns = to_ns(ts)
    year = _ny_year(ns)
    for y in range(year, year - 3, -1):
        _, _, closes = _year_sessions(y)
        earlier = closes[closes <= ns]
        if earlier.size:
            return pd.Timestamp(int(earlier[-1]), tz="UTC")
    raise AssertionError("unreachable: every year has sessions")  # pragma: no cover
