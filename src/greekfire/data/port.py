"""The market-data port: what every provider (files, synthetic market, HTTP vendors) offers.

Contract of :class:`MarketDataProvider`
---------------------------------------
Time
    ``start`` and ``end`` are timezone-aware ``datetime`` (any zone; they are instants and are
    compared in UTC). A naive datetime raises ``ValueError``: the port never guesses a zone.
    The range is **half-open**, ``start <= bar start < end``: consecutive requests
    ``[a, b)``, ``[b, c)`` never return a bar twice. ``start > end`` raises ``ValueError``;
    ``start == end`` is an empty range.
Results
    Frames with the schemas of :mod:`greekfire.domain.market` (``BAR_COLUMNS``,
    ``QUOTE_COLUMNS``, ``CHAIN_COLUMNS``) and the exact dtypes of :func:`empty_bars`,
    :func:`empty_quotes` and :func:`empty_chain`. No data for a valid request is an empty frame
    with that schema, never ``None`` and never an exception. Vendor wire formats stop at the
    adapter: no vendor column name, unit or timestamp format reaches the caller.
Errors (the class says what the caller does, see :mod:`greekfire.errors`)
    ``TransientError`` (and ``RateLimited``)
        retry later with backoff: timeouts, 5xx, rate limits.
    ``ProviderError``
        do not retry: unknown symbol, unsupported request (a file has no option chains),
        a finer timeframe than the source holds. ``ParseError`` (a subclass): the source's
        answer does not match its schema (missing column, text in a numeric field).
    ``DataQualityError``
        the data parsed but must not be used (NaN, negative prices, out-of-order or conflicting
        duplicate timestamps, crossed OHLC): skip the symbol this cycle. Nothing from that batch
        is returned.
    ``ValueError`` / ``TypeError``
        the caller broke the contract (naive datetime, ``start > end``, unknown timeframe).

Option-chain filters
--------------------
:class:`ChainFilter` bounds are inclusive. Moneyness is ``strike / underlying_price`` (1.0 at the
money; calls with moneyness < 1 are in the money); rows whose ``underlying_price`` is NaN fail a
moneyness bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from greekfire.domain.enums import OptionRight
from greekfire.domain.market import (
    BAR_COLUMNS,
    BAR_OPTIONAL_COLUMNS,
    CHAIN_COLUMNS,
    QUOTE_COLUMNS,
    Timeframe,
)

__all__ = [
    "BarRequest",
    "ChainFilter",
    "MarketDataProvider",
    "empty_bars",
    "empty_chain",
    "empty_quotes",
    "to_utc",
]

UTC_NS = "datetime64[ns, UTC]"
_CHAIN_TEXT = ("contract", "underlying")
_CHAIN_UTC = ("expiry", "timestamp")


def to_utc(value: datetime | pd.Timestamp, name: str = "datetime") -> pd.Timestamp:
    """Return ``value`` as a UTC ``pd.Timestamp`` (nanoseconds).

    Parameters
    ----------
    value
        A timezone-aware ``datetime`` or ``pd.Timestamp`` in any zone.
    name
        The argument name used in the error message.

    Raises
    ------
    TypeError
        ``value`` is not a datetime.
    ValueError
        ``value`` is naive (no ``tzinfo``).
    """
    if not isinstance(value, datetime):
        raise TypeError(f"{name}: expected a timezone-aware datetime, got {value!r}")
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        raise ValueError(
            f"{name}: expected a timezone-aware datetime, got naive {value!r}"
            " (did you mean datetime(..., tzinfo=timezone.utc)?)"
        )
    return stamp.tz_convert("UTC").as_unit("ns")


@dataclass(frozen=True, slots=True)
class BarRequest:
    """A checked bar request: ``symbol``, half-open UTC range ``[start, end)``, ``timeframe``.

    Build it with :meth:`of`, which validates the arguments of ``MarketDataProvider.bars``.
    """

    symbol: str
    start: pd.Timestamp
    end: pd.Timestamp
    timeframe: Timeframe

    @classmethod
    def of(
        cls, symbol: str, start: datetime, end: datetime, timeframe: Timeframe | str
    ) -> BarRequest:
        """Validate and normalise the arguments of ``bars()``.

        Raises
        ------
        TypeError, ValueError
            Empty symbol, naive datetimes, ``start > end``, unknown timeframe.
        """
        if not isinstance(symbol, str) or not symbol.strip():
            raise ValueError(f"symbol: expected a non-empty string, got {symbol!r}")
        start_utc = to_utc(start, "start")
        end_utc = to_utc(end, "end")
        if start_utc > end_utc:
            raise ValueError(f"start {start_utc} is after end {end_utc}; the range is [start, end)")
        return cls(symbol.strip(), start_utc, end_utc, Timeframe.parse(timeframe))


@runtime_checkable
class MarketDataProvider(Protocol):
    """The market-data port. See the module docstring for the full contract.

    Attributes
    ----------
    name
        Short provider name for logs and errors (``"files"``, ``"sim"``, ``"alpaca"``).
    """

    name: str

    async def bars(
        self, symbol: str, start: datetime, end: datetime, timeframe: Timeframe
    ) -> pd.DataFrame:
        """Bars of ``symbol`` whose start lies in ``[start, end)``, schema of :func:`empty_bars`.

        Raises
        ------
        ValueError
            Naive datetimes or ``start > end``.
        ProviderError
            Unknown symbol, a timeframe the source cannot serve.
        DataQualityError
            The batch holds bad bars; nothing is returned.
        TransientError
            Retry later.
        """
        ...

    async def latest_quotes(self, symbols: Sequence[str]) -> pd.DataFrame:
        """The latest quote of each symbol, one row per symbol, schema of :func:`empty_quotes`."""
        ...

    async def option_chain(
        self, underlying: str, chain_filter: ChainFilter | None = None
    ) -> pd.DataFrame:
        """A snapshot of the option chain of ``underlying`` (schema of :func:`empty_chain`),
        restricted by ``chain_filter`` when given."""
        ...


def empty_bars(*, optional: bool = False) -> pd.DataFrame:
    """An empty bar frame: UTC ``timestamp`` index (ns), float64 ``BAR_COLUMNS``.

    Parameters
    ----------
    optional
        Also include ``BAR_OPTIONAL_COLUMNS`` (``vwap``, ``trade_count``).
    """
    columns = BAR_COLUMNS + (BAR_OPTIONAL_COLUMNS if optional else ())
    index = pd.DatetimeIndex([], dtype=UTC_NS, name="timestamp")
    return pd.DataFrame({c: np.empty(0, dtype=np.float64) for c in columns}, index=index)


def empty_quotes() -> pd.DataFrame:
    """An empty quote frame: ``symbol`` index (str); ``timestamp`` UTC (ns); float64 rest."""
    data: dict[str, object] = {
        c: pd.Series([], dtype=UTC_NS if c == "timestamp" else "float64") for c in QUOTE_COLUMNS
    }
    return pd.DataFrame(data, index=pd.Index([], dtype="str", name="symbol"))


def empty_chain() -> pd.DataFrame:
    """An empty chain frame with the dtypes of ``CHAIN_COLUMNS``.

    ``contract`` and ``underlying`` str; ``expiry`` ``datetime64[ns, UTC]`` (the date at
    00:00 UTC, as greekfire.sim builds it); ``right`` int8; ``timestamp`` UTC (ns); every other
    column float64.
    """
    data = {c: pd.Series([], dtype=_chain_dtype(c)) for c in CHAIN_COLUMNS}
    return pd.DataFrame(data, index=pd.RangeIndex(0))


def _chain_dtype(column: str) -> str:
    if column in _CHAIN_TEXT:
        return "str"
    if column == "right":
        return "int8"
    return UTC_NS if column in _CHAIN_UTC else "float64"


@dataclass(frozen=True, slots=True)
class ChainFilter:
    """Which contracts of a chain to keep; every bound is inclusive and optional.

    Attributes
    ----------
    expiry_from, expiry_to
        Expiry dates.
    strike_min, strike_max
        Strikes, in price currency.
    moneyness_min, moneyness_max
        ``strike / underlying_price`` (1.0 at the money).
    right
        :class:`OptionRight` (``"call"``, ``"put"``, +1, -1 are accepted and converted).
    """

    expiry_from: date | None = None
    expiry_to: date | None = None
    strike_min: float | None = None
    strike_max: float | None = None
    moneyness_min: float | None = None
    moneyness_max: float | None = None
    right: OptionRight | None = None

    def __post_init__(self) -> None:
        if self.right is not None:
            object.__setattr__(self, "right", OptionRight.parse(self.right))
        for low, high in (
            ("expiry_from", "expiry_to"),
            ("strike_min", "strike_max"),
            ("moneyness_min", "moneyness_max"),
        ):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"ChainFilter: {low}={lo!r} is greater than {high}={hi!r}")

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Return the rows of a chain frame (``CHAIN_COLUMNS``) that pass every bound.

        Vectorised; the index and column order are kept. ``expiry`` may be naive or
        tz-aware (its calendar date is compared).
        """
        keep = np.ones(len(frame), dtype=bool)
        if self.expiry_from is not None or self.expiry_to is not None:
            days = _expiry_days(frame["expiry"])
            keep &= _between(days, _day(self.expiry_from), _day(self.expiry_to))
        strike = frame["strike"].to_numpy(dtype=np.float64)
        keep &= _between(strike, self.strike_min, self.strike_max)
        if self.moneyness_min is not None or self.moneyness_max is not None:
            spot = frame["underlying_price"].to_numpy(dtype=np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                keep &= _between(strike / spot, self.moneyness_min, self.moneyness_max)
        if self.right is not None:
            keep &= frame["right"].to_numpy() == int(self.right)
        return frame.loc[keep]


def _expiry_days(expiry: pd.Series) -> np.ndarray:
    # Calendar day numbers (days since 1970-01-01) whether expiry is naive or tz-aware.
    values = pd.to_datetime(expiry)
    if values.dt.tz is not None:
        values = values.dt.tz_localize(None)
    days = values.to_numpy(dtype="datetime64[D]").astype(np.int64).astype(np.float64)
    days[values.isna().to_numpy()] = np.nan
    return days


def _day(value: date | None) -> float | None:
    if value is None:
        return None
    return float(np.datetime64(value, "D").astype(np.int64))


def _between(values: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
    keep = np.ones(values.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        if low is not None:
            keep &= values >= low
        if high is not None:
            keep &= values <= high
    return keep
