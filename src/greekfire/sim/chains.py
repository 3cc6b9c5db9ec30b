"""Synthetic listed option chains: expiries, strikes, quotes and Greeks from a vol surface.

Model
-----
Expiries
    Weeklies on each of the next ``weeklies`` Fridays and monthlies on the third Friday of each
    of the next ``monthlies`` months (:class:`ExpirySchedule`); an expiry Friday that is not a
    trading day moves back to the previous trading day (Good Friday -> Thursday), as decided by
    the ``is_trading_day`` callable (by default the NYSE calendar,
    :func:`greekfire.sim.calendar.is_trading_day`; pass :func:`is_weekday` for weekdays only).
    An option expires at the 16:00 New York close of its expiry date; time to expiry is
    calendar time, ACT/365 (``t_years``), matching the theta units of ``greekfire.greeks``.
Strikes
    Multiples of a standard increment by price level (0.5 below 25, 1 below 200, 2.5 below 500,
    5 below 1000, 10 above), over ``forward * exp(+-h)`` with ``h = 3 * atm_vol(T) * sqrt(T)``
    (clipped to [0.05, 1.5]) so the range widens with the square root of the expiry. When that
    range would hold over twice ``strikes_per_expiry`` strikes the increment steps up the ladder
    0.5, 1, 2.5, 5, 10, 25, 50, 100 (long-dated series list coarser strikes), and at most
    ``strikes_per_expiry`` strikes nearest the forward are kept.
Prices and Greeks
    European Black-Scholes-Merton with a continuous dividend yield, the forward
    ``spot * exp((rate - dividend_yield) * T)`` and the surface's vol at each strike
    (``iv``); Greeks from :func:`greekfire.analytics.options.greeks` in its units (theta per
    year, vega per 1.00 of vol).
Quotes
    A full spread (:class:`SpreadModel`) of ``max(vega * vol_spread(z, T), relative * mid,
    minimum)`` where ``vol_spread`` grows with the standardised moneyness
    ``z = ln(K / F) / (atm_vol(T) sqrt(T))`` and for short expiries; so spreads widen away
    from the money (in vol and relative terms) and towards expiry. The bid is rounded down and
    the ask up to the US options tick (0.01 below 3.00, 0.05 from 3.00): the model price lies in
    [bid, ask], the quote is never crossed or locked, and a bid rounding below one tick is 0
    (deep out-of-the-money options have no bid).
Activity
    ``open_interest`` peaks at the money (a Gaussian in ``z``), is three times higher at
    monthlies, with log-normal noise; ``volume`` is a share of it, higher near expiry; ``last``
    is a tick price inside [bid, ask] where ``volume > 0``, else NaN. All of it is drawn from a
    generator seeded with ``(seed, underlying, valuation date)``: the same inputs give the same
    chain, and filters select rows without changing them.

The frame has exactly :data:`greekfire.domain.market.CHAIN_COLUMNS` with its documented dtypes.
``contract`` is the compact OCC symbol (``"SPY240621C00450000"``, see :mod:`greekfire.domain.occ`).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd

from greekfire.analytics.options import DAYS_PER_YEAR, greeks
from greekfire.domain.enums import OptionRight
from greekfire.domain.market import CHAIN_COLUMNS
from greekfire.domain.occ import format_occ
from greekfire.sim.calendar import is_trading_day as nyse_is_trading_day
from greekfire.sim.surface import VolSurface

__all__ = [
    "ExpirySchedule",
    "ListedExpiry",
    "SpreadModel",
    "expiry_close",
    "is_weekday",
    "listed_expiries",
    "option_chain",
    "quote_prices",
    "strike_grid",
    "strike_increment",
    "third_friday",
    "tick_size",
    "year_fraction",
]

F64Array = npt.NDArray[np.float64]
TradingDayFn = Callable[[date], bool]

EXCHANGE_TZ: Final = ZoneInfo("America/New_York")
CLOSE_TIME: Final = time(16, 0)
SECONDS_PER_YEAR: Final = DAYS_PER_YEAR * 86_400.0
_STRIKE_LADDER: Final = (0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0)
_BASE_INCREMENTS: Final = ((25.0, 0.5), (200.0, 1.0), (500.0, 2.5), (1000.0, 5.0))
_RANGE_SD: Final = 3.0
_MIN_HALF_WIDTH: Final = 0.05
_MAX_HALF_WIDTH: Final = 1.5
_WEEK_YEARS: Final = 7.0 / DAYS_PER_YEAR
_OI_PEAK: Final = 2_000.0
_MONTHLY_OI_FACTOR: Final = 3.0


def is_weekday(day: date) -> bool:
    """A holiday-free trading calendar: Monday to Friday (the default is the NYSE calendar)."""
    return day.weekday() < 5


def third_friday(year: int, month: int) -> date:
    """The third Friday of ``month`` in ``year``, the standard monthly expiry."""
    first = date(year, month, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 14)


def expiry_close(expiry: date) -> pd.Timestamp:
    """The moment an option expiring on ``expiry`` stops trading: 16:00 New York, in UTC."""
    local = datetime.combine(expiry, CLOSE_TIME, tzinfo=EXCHANGE_TZ)
    return pd.Timestamp(local).tz_convert("UTC").as_unit("ns")


def year_fraction(valuation_ts: Any, expiry: date) -> float:
    """Calendar years (ACT/365) from ``valuation_ts`` (tz-aware) to the close of ``expiry``."""
    start = _utc_timestamp(valuation_ts)
    return (expiry_close(expiry) - start).total_seconds() / SECONDS_PER_YEAR


def _utc_timestamp(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if pd.isna(ts) or ts.tzinfo is None:
        raise ValueError(
            f"valuation_ts: expected a tz-aware timestamp (e.g. '2024-03-25 14:30Z'), got {value!r}"
        )
    return ts.tz_convert("UTC").as_unit("ns")


@dataclass(frozen=True, slots=True)
class ExpirySchedule:
    """Which expiries a chain lists: the next ``weeklies`` Fridays and ``monthlies`` months."""

    weeklies: int = 4
    monthlies: int = 6

    def __post_init__(self) -> None:
        for name in ("weeklies", "monthlies"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 120:
                raise ValueError(f"{name}: expected a whole number in [0, 120], got {value!r}")


@dataclass(frozen=True, slots=True)
class ListedExpiry:
    """One listed expiry date and whether it is a monthly (third-Friday) series."""

    expiry: date
    monthly: bool


def _roll_back(day: date, is_trading_day: TradingDayFn) -> date | None:
    # An expiry falling on a holiday moves to the previous trading day of the same week.
    for back in range(5):
        candidate = day - timedelta(days=back)
        if is_trading_day(candidate):
            return candidate
    return None


def _weekly_dates(today: date, count: int, after: pd.Timestamp, fn: TradingDayFn) -> list[date]:
    friday = today + timedelta(days=(4 - today.weekday()) % 7)
    found: list[date] = []
    for week in range(count + 2):
        listed = _roll_back(friday + timedelta(weeks=week), fn)
        if listed is not None and expiry_close(listed) > after and len(found) < count:
            found.append(listed)
    return found


def _monthly_dates(today: date, count: int, after: pd.Timestamp, fn: TradingDayFn) -> list[date]:
    found: list[date] = []
    for step in range(count + 2):
        year, month = divmod(today.month - 1 + step, 12)
        listed = _roll_back(third_friday(today.year + year, month + 1), fn)
        if listed is not None and expiry_close(listed) > after and len(found) < count:
            found.append(listed)
    return found


def listed_expiries(
    valuation_ts: Any,
    schedule: ExpirySchedule | None = None,
    *,
    is_trading_day: TradingDayFn = nyse_is_trading_day,
) -> list[ListedExpiry]:
    """The expiries listed at ``valuation_ts``: weeklies and monthlies still trading, sorted.

    Parameters
    ----------
    valuation_ts : timestamp-like, tz-aware
        The valuation instant; expiries whose 16:00 New York close is not after it are skipped.
    schedule : ExpirySchedule, optional
        How many weeklies and monthlies; default ``ExpirySchedule()`` (4 and 6).
    is_trading_day : callable ``date -> bool``, default the NYSE calendar
        The exchange calendar (default :func:`greekfire.sim.calendar.is_trading_day`; pass
        :func:`is_weekday` to ignore holidays). A Friday expiry that is not a trading day
        moves to the previous trading day (Good Friday 2024-03-29 -> Thursday 2024-03-28).

    Returns
    -------
    list of ListedExpiry
        Distinct dates in increasing order; a weekly that coincides with a monthly is monthly.
    """
    plan = schedule if schedule is not None else ExpirySchedule()
    start = _utc_timestamp(valuation_ts)
    today = start.tz_convert(EXCHANGE_TZ).date()
    monthly = set(_monthly_dates(today, plan.monthlies, start, is_trading_day))
    weekly = set(_weekly_dates(today, plan.weeklies, start, is_trading_day))
    return [ListedExpiry(day, day in monthly) for day in sorted(monthly | weekly)]


def _explicit_expiries(
    days: Sequence[date], start: pd.Timestamp, is_trading_day: TradingDayFn
) -> list[ListedExpiry]:
    listed: list[ListedExpiry] = []
    for day in sorted(set(days)):
        if not isinstance(day, date) or expiry_close(day) <= start:
            raise ValueError(
                f"expiries: expected dates whose 16:00 New York close is after valuation_ts"
                f" {start}, got {day!r}"
            )
        shifted = _roll_back(third_friday(day.year, day.month), is_trading_day)
        listed.append(ListedExpiry(day, day == shifted))
    return listed


def strike_increment(price: float) -> float:
    """The standard strike spacing at this price level (0.5, 1, 2.5, 5 or 10)."""
    for ceiling, increment in _BASE_INCREMENTS:
        if price < ceiling:
            return increment
    return 10.0


def strike_grid(forward: float, half_width: float, max_strikes: int) -> F64Array:
    """Listed strikes for one expiry: standard multiples over ``forward * exp(+-half_width)``.

    The increment starts at :func:`strike_increment` of the forward and steps up the ladder
    0.5, 1, 2.5, 5, 10, 25, 50, 100 while the range holds more than twice ``max_strikes``; the
    ``max_strikes`` strikes nearest the forward are kept. Sorted, all > 0, rounded to 0.001.
    """
    low, high = forward * math.exp(-half_width), forward * math.exp(half_width)
    base = strike_increment(forward)
    ladder = [step for step in _STRIKE_LADDER if step >= base]
    for increment in ladder:
        first = max(math.ceil(low / increment - 1e-9), 1)
        last = math.floor(high / increment + 1e-9)
        if last - first + 1 <= 2 * max_strikes or increment == ladder[-1]:
            break
    strikes = np.round(np.arange(first, last + 1) * increment, 3)
    nearest = np.argsort(np.abs(strikes - forward), kind="stable")[:max_strikes]
    return np.sort(strikes[nearest])


def tick_size(price: Any) -> F64Array:
    """US equity-option tick: 0.01 below 3.00, 0.05 at and above (float64 array)."""
    return np.where(np.asarray(price, dtype=np.float64) < 3.0, 0.01, 0.05)


def _to_tick(price: F64Array, *, up: bool) -> F64Array:
    # Work in whole cents so that the result is exactly a multiple of the tick.
    cents = price * 100.0
    tick_cents = np.where(price < 3.0, 1.0, 5.0)
    units = np.ceil(cents / tick_cents - 1e-9) if up else np.floor(cents / tick_cents + 1e-9)
    rounded: F64Array = np.round(units * tick_cents / 100.0, 2)
    return rounded


def quote_prices(mid: Any, spread: Any) -> tuple[F64Array, F64Array]:
    """Bid and ask around ``mid`` with a full width ``spread``, on the tick grid.

    The bid is ``mid - spread / 2`` rounded down to its tick and floored at 0; the ask is
    ``mid + spread / 2`` rounded up and at least one tick above the bid. So
    ``bid <= mid <= ask``, ``bid < ask`` and a bid below one tick is 0.
    """
    mid_arr = np.asarray(mid, dtype=np.float64)
    half = np.asarray(spread, dtype=np.float64) / 2.0
    bid = np.maximum(_to_tick(mid_arr - half, up=False), 0.0)
    ask = _to_tick(mid_arr + half, up=True)
    ask = np.maximum(ask, np.round(bid + tick_size(bid), 2))
    return bid, ask


@dataclass(frozen=True, slots=True)
class SpreadModel:
    """Bid/ask width before rounding to ticks.

    ``spread = max(vega * vol_spread * (1 + wing_widening * |z|)
    * (1 + short_dated_widening * sqrt(one_week / T)), min_relative * mid, min_spread)``
    with ``z`` the standardised moneyness ``ln(K / F) / (atm_vol(T) sqrt(T))``.

    Parameters
    ----------
    vol_spread : float, default 0.003
        Full ATM spread of a long-dated option in vol (0.003 = 0.3 vol points), >= 0.
    wing_widening : float, default 0.5
        Relative widening per standard deviation of moneyness, >= 0.
    short_dated_widening : float, default 1.0
        Extra widening at one week to expiry, scaling as ``1 / sqrt(T)``, >= 0.
    min_relative : float, default 0.01
        Floor as a fraction of the mid, >= 0.
    min_spread : float, default 0.01
        Floor in price units, > 0 (one minimum tick keeps quotes uncrossed).
    """

    vol_spread: float = 0.003
    wing_widening: float = 0.5
    short_dated_widening: float = 1.0
    min_relative: float = 0.01
    min_spread: float = 0.01

    def __post_init__(self) -> None:
        for name in ("vol_spread", "wing_widening", "short_dated_widening", "min_relative"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
        if not (math.isfinite(self.min_spread) and self.min_spread > 0.0):
            raise ValueError(f"min_spread: expected a finite number > 0, got {self.min_spread!r}")

    def spread(self, mid: Any, vega: Any, moneyness_sd: Any, t_years: Any) -> F64Array:
        """Full bid/ask width (price units, unrounded), broadcast over the inputs."""
        t = np.asarray(t_years, dtype=np.float64)
        wing = 1.0 + self.wing_widening * np.abs(np.asarray(moneyness_sd, dtype=np.float64))
        short = 1.0 + self.short_dated_widening * np.sqrt(_WEEK_YEARS / t)
        by_vol = np.asarray(vega, dtype=np.float64) * self.vol_spread * wing * short
        by_price = self.min_relative * np.asarray(mid, dtype=np.float64)
        result: F64Array = np.maximum(np.maximum(by_vol, by_price), self.min_spread)
        return result


@dataclass(frozen=True, slots=True)
class _Grid:
    # One row per contract, before pricing: parallel arrays.
    expiry: list[date]
    monthly: npt.NDArray[np.bool_]
    t_years: F64Array
    forward: F64Array
    strike: F64Array
    right: npt.NDArray[np.int8]


def _build_grid(
    listed: list[ListedExpiry],
    spot: float,
    start: pd.Timestamp,
    carry: float,
    surface: VolSurface,
    strikes_per_expiry: int,
) -> _Grid:
    expiry: list[date] = []
    parts: dict[str, list[Any]] = {"monthly": [], "t": [], "fwd": [], "strike": []}
    for item in listed:
        t = year_fraction(start, item.expiry)
        fwd = spot * math.exp(carry * t)
        width = _RANGE_SD * float(surface.atm_vol_at(t)) * math.sqrt(t)
        half_width = min(max(width, _MIN_HALF_WIDTH), _MAX_HALF_WIDTH)
        strikes = np.repeat(strike_grid(fwd, half_width, strikes_per_expiry), 2)
        expiry.extend([item.expiry] * strikes.size)
        parts["monthly"].append(np.full(strikes.size, item.monthly))
        parts["t"].append(np.full(strikes.size, t))
        parts["fwd"].append(np.full(strikes.size, fwd))
        parts["strike"].append(strikes)
    n_rows = len(expiry)
    return _Grid(
        expiry=expiry,
        monthly=np.concatenate([np.zeros(0, dtype=bool), *parts["monthly"]]),
        t_years=np.concatenate([np.zeros(0), *parts["t"]]),
        forward=np.concatenate([np.zeros(0), *parts["fwd"]]),
        strike=np.concatenate([np.zeros(0), *parts["strike"]]),
        right=np.tile(np.array([1, -1], dtype=np.int8), n_rows // 2),
    )


def _activity(
    rng: np.random.Generator,
    grid: _Grid,
    moneyness_sd: F64Array,
    bid: F64Array,
    ask: F64Array,
) -> tuple[F64Array, F64Array, F64Array]:
    n = grid.strike.size
    level = _OI_PEAK * np.exp(-0.5 * moneyness_sd**2)
    level = level * np.where(grid.monthly, _MONTHLY_OI_FACTOR, 1.0)
    open_interest = np.floor(level * rng.lognormal(0.0, 0.6, n))
    turnover = 0.05 + 0.3 * np.exp(-grid.t_years / (10.0 / DAYS_PER_YEAR))
    volume = np.floor(open_interest * turnover * rng.lognormal(0.0, 0.8, n))
    traded = bid + rng.uniform(0.0, 1.0, n) * (ask - bid)
    cents = np.where(traded < 3.0, 1.0, 5.0)
    last = np.maximum(np.round(np.round(traded * 100.0 / cents) * cents / 100.0, 2), 0.01)
    return np.where(volume > 0.0, last, np.nan), volume, open_interest


def _check_positive(name: str, value: float) -> float:
    number = float(value)
    if not (math.isfinite(number) and number > 0.0):
        raise ValueError(f"{name}: expected a finite number > 0, got {value!r}")
    return number


def _check_pair(name: str, pair: tuple[Any, Any] | None) -> tuple[Any, Any] | None:
    if pair is None:
        return None
    if len(pair) != 2:
        raise ValueError(f"{name}: expected a (low, high) pair, got {pair!r}")
    low, high = pair
    if low is not None and high is not None and low > high:
        raise ValueError(f"{name}: expected low <= high, got {pair!r}")
    return pair


def _in_range(values: Any, pair: tuple[Any, Any] | None) -> npt.NDArray[np.bool_]:
    arr = np.asarray(values)
    keep = np.ones(arr.shape, dtype=bool)
    if pair is not None:
        low, high = pair
        if low is not None:
            keep &= arr >= low
        if high is not None:
            keep &= arr <= high
    return keep


def _filter_mask(
    grid: _Grid,
    spot: float,
    expiry_range: tuple[date | None, date | None] | None,
    strike_range: tuple[float | None, float | None] | None,
    moneyness_range: tuple[float | None, float | None] | None,
    right: Any,
) -> npt.NDArray[np.bool_]:
    keep = _in_range(np.array(grid.expiry, dtype="datetime64[D]"), _as_days(expiry_range))
    keep &= _in_range(grid.strike, _check_pair("strike_range", strike_range))
    keep &= _in_range(grid.strike / spot, _check_pair("moneyness_range", moneyness_range))
    if right is not None:
        keep &= grid.right == int(OptionRight.parse(right))
    return keep


def _as_days(pair: tuple[date | None, date | None] | None) -> tuple[Any, Any] | None:
    checked = _check_pair("expiry_range", pair)
    if checked is None:
        return None
    low, high = checked
    return (
        None if low is None else np.datetime64(low, "D"),
        None if high is None else np.datetime64(high, "D"),
    )


def _seed_sequence(seed: int, underlying: str, start: pd.Timestamp) -> np.random.SeedSequence:
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed: expected a whole number >= 0, got {seed!r}")
    day = start.tz_convert(EXCHANGE_TZ).date().toordinal()
    return np.random.SeedSequence([seed, zlib.crc32(underlying.encode()), day])


def option_chain(
    underlying: str,
    spot: float,
    valuation_ts: Any,
    *,
    rate: float,
    dividend_yield: float = 0.0,
    surface: VolSurface | None = None,
    expiries: ExpirySchedule | Sequence[date] | None = None,
    strikes_per_expiry: int = 41,
    seed: int = 0,
    is_trading_day: TradingDayFn = nyse_is_trading_day,
    spreads: SpreadModel | None = None,
    expiry_range: tuple[date | None, date | None] | None = None,
    strike_range: tuple[float | None, float | None] | None = None,
    moneyness_range: tuple[float | None, float | None] | None = None,
    right: Any = None,
) -> pd.DataFrame:
    """A synthetic option chain for ``underlying`` at ``valuation_ts`` (see the module model).

    Parameters
    ----------
    underlying : str
        Option root, 1-6 letters or digits (the OCC root of ``contract``).
    spot : float
        Underlying price, > 0; the ``underlying_price`` column.
    valuation_ts : timestamp-like, tz-aware
        Valuation instant; the ``timestamp`` column, in UTC.
    rate, dividend_yield : float
        Continuously compounded annual risk-free rate and dividend yield (decimals).
    surface : VolSurface, optional
        Implied vols; default ``VolSurface()`` (equity put skew, 18 % ATM short-dated).
    expiries : ExpirySchedule or sequence of date, optional
        The listing schedule (default ``ExpirySchedule()``: 4 weeklies, 6 monthlies) or explicit
        expiry dates, each after ``valuation_ts``; a date is monthly when it is its month's
        (holiday-shifted) third Friday.
    strikes_per_expiry : int, default 41
        Most strikes listed per expiry (each with a call and a put), >= 1.
    seed : int, default 0
        Seed of last/volume/open_interest, >= 0.
    is_trading_day : callable ``date -> bool``, default the NYSE calendar
        Exchange calendar used to move holiday expiries back (default
        :func:`greekfire.sim.calendar.is_trading_day`: Good Friday -> Thursday; pass
        :func:`is_weekday` to ignore holidays).
    spreads : SpreadModel, optional
        Bid/ask width model; default ``SpreadModel()``.
    expiry_range : (date or None, date or None), optional
        Keep expiries in this inclusive range.
    strike_range : (float or None, float or None), optional
        Keep strikes in this inclusive range.
    moneyness_range : (float or None, float or None), optional
        Keep strikes whose ``strike / spot`` is in this inclusive range (e.g. ``(0.9, 1.1)``).
    right : OptionRight, str or int, optional
        Keep only calls or only puts.

    Returns
    -------
    pandas.DataFrame
        Exactly :data:`~greekfire.domain.market.CHAIN_COLUMNS`, one row per contract, ordered by
        expiry, strike, then call before put, on a RangeIndex. ``contract`` and ``underlying``
        are ``str``; ``expiry`` is ``datetime64[ns, UTC]`` at midnight; ``right`` is int8;
        ``timestamp`` is ``datetime64[ns, UTC]``; every other column is float64.

    Raises
    ------
    ValueError
        Naming the argument: a non-positive spot, a naive timestamp, an invalid root, an
        expired explicit expiry, a reversed range, an unknown right, a negative seed.

    Examples
    --------
    >>> chain = option_chain("SPY", 450.0, "2024-03-25 14:30Z", rate=0.05, dividend_yield=0.013)
    >>> chain.loc[0, "contract"]
    'SPY240328C00430000'
    """
    spot = _check_positive("spot", spot)
    start = _utc_timestamp(valuation_ts)
    format_occ(underlying, date(2000, 1, 1), OptionRight.CALL, 1.0)  # validates the root early
    if not isinstance(strikes_per_expiry, int) or strikes_per_expiry < 1:
        raise ValueError(f"strikes_per_expiry: expected an int >= 1, got {strikes_per_expiry!r}")
    vols = surface if surface is not None else VolSurface()
    if expiries is None or isinstance(expiries, ExpirySchedule):
        listed = listed_expiries(start, expiries, is_trading_day=is_trading_day)
    else:
        listed = _explicit_expiries(expiries, start, is_trading_day)
    carry = float(rate) - float(dividend_yield)
    grid = _build_grid(listed, spot, start, carry, vols, strikes_per_expiry)
    rng = np.random.default_rng(_seed_sequence(seed, underlying, start))
    keep = _filter_mask(grid, spot, expiry_range, strike_range, moneyness_range, right)
    frame = _price(grid, spot, float(rate), float(dividend_yield), vols, spreads, rng)
    frame.insert(0, "contract", _contracts(underlying, grid))
    frame["timestamp"] = pd.Series(start, index=frame.index).astype("datetime64[ns, UTC]")
    frame["underlying"] = pd.Series(underlying.upper(), index=frame.index, dtype="str")
    return frame.loc[keep, list(CHAIN_COLUMNS)].reset_index(drop=True)


def _contracts(underlying: str, grid: _Grid) -> pd.Series:
    symbols = [
        format_occ(underlying, day, OptionRight(int(code)), float(strike))
        for day, code, strike in zip(grid.expiry, grid.right, grid.strike, strict=True)
    ]
    return pd.Series(symbols, dtype="str")


def _price(
    grid: _Grid,
    spot: float,
    rate: float,
    dividend_yield: float,
    surface: VolSurface,
    spreads: SpreadModel | None,
    rng: np.random.Generator,
) -> pd.DataFrame:
    vol = np.asarray(surface.implied_vol(grid.strike, grid.t_years, grid.forward))
    g = greeks(
        spot, grid.strike, grid.t_years, vol, rate, dividend_yield, grid.right, second_order=False
    )
    mid = np.asarray(g["price"], dtype=np.float64)
    sd = np.log(grid.strike / grid.forward) / (
        np.asarray(surface.atm_vol_at(grid.t_years)) * np.sqrt(grid.t_years)
    )
    model = spreads if spreads is not None else SpreadModel()
    bid, ask = quote_prices(mid, model.spread(mid, g["vega"], sd, grid.t_years))
    last, volume, open_interest = _activity(rng, grid, sd, bid, ask)
    expiry = pd.to_datetime(np.array(grid.expiry, dtype="datetime64[D]")).tz_localize("UTC")
    return pd.DataFrame(
        {
            "expiry": pd.Series(expiry).astype("datetime64[ns, UTC]"),
            "strike": grid.strike,
            "right": grid.right,
            "bid": bid,
            "ask": ask,
            "last": last,
            "volume": volume,
            "open_interest": open_interest,
            "iv": vol,
            "delta": g["delta"],
            "gamma": g["gamma"],
            "theta": g["theta"],
            "vega": g["vega"],
            "underlying_price": np.full(grid.strike.size, spot),
        }
    )
