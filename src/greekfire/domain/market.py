"""Market-data values and the column schemas every provider returns. No I/O, no pandas.

Bars, quotes and option chains travel as pandas DataFrames (built by the data and sim layers);
this module fixes their columns, dtypes and conventions so that every provider, the synthetic
market, the history store and the pipeline agree:

Bars (``BAR_COLUMNS``)
    Index: ``timestamp``, a UTC tz-aware ``DatetimeIndex`` (nanoseconds), the bar's *start*,
    strictly increasing, no duplicates. Columns ``open``, ``high``, ``low``, ``close`` (float64,
    price currency, > 0, ``low <= min(open, close)``, ``max(open, close) <= high``), ``volume``
    (float64, shares, >= 0; float so that fractional and missing volumes fit), ``vwap`` and
    ``trade_count`` optional (float64; NaN when the source has none). One frame per symbol and
    timeframe; many symbols are a dict ``symbol -> frame``.
Quotes (``QUOTE_COLUMNS``)
    One row per symbol, index ``symbol``: ``timestamp`` (UTC), ``bid``, ``ask``, ``bid_size``,
    ``ask_size`` (float64), ``last`` (float64, NaN when unknown).
Option chains (``CHAIN_COLUMNS``)
    One row per contract: ``contract`` (OCC symbol, str), ``underlying`` (str), ``expiry``
    (date, datetime64[ns] at midnight UTC), ``strike`` (float64), ``right`` (int8: +1 call,
    -1 put, as :class:`OptionRight`), ``bid``, ``ask``, ``last``, ``volume``,
    ``open_interest`` (float64), ``iv``, ``delta``, ``gamma``, ``theta``, ``vega`` (float64,
    NaN when the source gives none; Greeks in the units of ``greekfire.greeks``: theta per
    year, vega per 1.00 of vol), ``underlying_price`` (float64) and ``timestamp`` (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "BAR_COLUMNS",
    "BAR_OPTIONAL_COLUMNS",
    "CHAIN_COLUMNS",
    "QUOTE_COLUMNS",
    "Quote",
    "Timeframe",
]

BAR_COLUMNS = ("open", "high", "low", "close", "volume")
BAR_OPTIONAL_COLUMNS = ("vwap", "trade_count")
QUOTE_COLUMNS = ("timestamp", "bid", "ask", "bid_size", "ask_size", "last")
CHAIN_COLUMNS = (
    "contract",
    "underlying",
    "expiry",
    "strike",
    "right",
    "bid",
    "ask",
    "last",
    "volume",
    "open_interest",
    "iv",
    "delta",
    "gamma",
    "theta",
    "vega",
    "underlying_price",
    "timestamp",
)

_SECONDS = {"1m": 60, "5m": 300, "15m": 900, "1h": 3_600, "1d": 86_400}
_ALIASES = {
    "1min": "1m",
    "1minute": "1m",
    "5min": "5m",
    "15min": "15m",
    "60m": "1h",
    "60min": "1h",
    "1hour": "1h",
    "d": "1d",
    "1day": "1d",
    "day": "1d",
    "daily": "1d",
}


class Timeframe(StrEnum):
    """Bar length. ``seconds`` is its duration; daily bars cover one trading session."""

    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    H1 = "1h"
    D1 = "1d"

    @property
    def seconds(self) -> int:
        """Length of one bar in seconds (86,400 for daily bars)."""
        return _SECONDS[self.value]

    @property
    def intraday(self) -> bool:
        """True for the minute and hour timeframes."""
        return self is not Timeframe.D1

    @classmethod
    def parse(cls, value: object) -> Timeframe:
        """Accept a member or ``"1m"``, ``"5m"``, ``"15m"``, ``"1h"``, ``"1d"`` and common
        spellings (``"1min"``, ``"60m"``, ``"1day"``, ``"daily"``; any case)."""
        if isinstance(value, Timeframe):
            return value
        if isinstance(value, str):
            key = value.strip().lower().replace(" ", "")
            key = _ALIASES.get(key, key)
            if key in _SECONDS:
                return cls(key)
        valid = ", ".join(repr(t.value) for t in cls)
        raise ValueError(f"timeframe: expected one of {valid}, got {value!r}")


@dataclass(frozen=True, slots=True)
class Quote:
    """Best bid and offer for one symbol at ``ts_ns`` (UTC nanoseconds since the epoch).

    ``last`` is NaN when unknown. ``mid`` and ``spread`` are NaN when a side is missing.
    """

    symbol: str
    ts_ns: int
    bid: float
    ask: float
    bid_size: float
    ask_size: float
    last: float = float("nan")

    @property
    def mid(self) -> float:
        """(bid + ask) / 2."""
        return (self.bid + self.ask) / 2.0

    @property
    def spread(self) -> float:
        """ask - bid."""
        return self.ask - self.bid
