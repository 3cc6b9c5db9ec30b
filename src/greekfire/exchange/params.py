"""Query parameters as Alpaca spells them, parsed strictly: a bad value is a 400 that names the
parameter and the value (``{"code": 40010001, "message": "invalid timeframe: '7Min'"}``).

Bounds
    ``start``/``end`` take RFC 3339 (``2024-01-02T14:30:00Z``, any offset, fractions) or a
    date ``YYYY-MM-DD``; a date ``start`` means 00:00 America/New_York of that day and a date
    ``end`` the last nanosecond of that New York day, so ``end`` stays inclusive
    (``start=end=2024-01-02`` selects that session's daily bar, stamped ``05:00Z``).
Timeframes
    Alpaca's ``1Min``, ``5Min``, ``15Min``, ``1Hour``, ``1Day`` and the aliases alpaca-py and
    older clients send (``1T``, ``5T``, ``15T``, ``1H``, ``60Min``, ``1D``); others (``30Min``,
    ``1Week``) are refused with a 400, as the synthetic market has no such bars.
Page tokens
    Opaque to clients: urlsafe base64 of ``symbol|value``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from typing import Final

from starlette.datastructures import QueryParams

from greekfire.domain.market import Timeframe
from greekfire.exchange.config import SYMBOL_PATTERN
from greekfire.exchange.wire import NEW_YORK, bad_request

__all__ = [
    "decode_token",
    "encode_token",
    "parse_bounds",
    "parse_date",
    "parse_float",
    "parse_limit",
    "parse_sort",
    "parse_symbol",
    "parse_symbols",
    "parse_timeframe",
]

_TIMEFRAME: Final = re.compile(r"(\d+)(Min|T|Minute|Hour|H|Day|D)")
_UNITS: Final = {
    "Min": 60,
    "T": 60,
    "Minute": 60,
    "Hour": 3_600,
    "H": 3_600,
    "Day": 86_400,
    "D": 86_400,
}
_BY_SECONDS: Final = {tf.seconds: tf for tf in Timeframe}
_NS: Final = 1_000_000_000


def parse_symbol(text: str, name: str = "symbol") -> str:
    """One ticker; 400 ``invalid symbol`` when malformed."""
    symbol = text.strip()
    if SYMBOL_PATTERN.fullmatch(symbol) is None:
        raise bad_request(f"invalid symbol: {text!r}")
    return symbol


def parse_symbols(query: QueryParams, name: str = "symbols", *, required: bool = True) -> list[str]:
    """A comma-separated ticker list, unique, sorted (Alpaca's page order)."""
    raw = query.get(name)
    if raw is None or not raw.strip():
        if required:
            raise bad_request(f"missing {name} parameter")
        return []
    return sorted({parse_symbol(part) for part in raw.split(",") if part.strip()})


def parse_timeframe(text: str | None) -> Timeframe:
    """Alpaca timeframe text to :class:`Timeframe` (see the module docstring)."""
    if text is None:
        raise bad_request("missing timeframe parameter")
    match = _TIMEFRAME.fullmatch(text.strip())
    seconds = int(match.group(1)) * _UNITS[match.group(2)] if match else -1
    if seconds not in _BY_SECONDS:
        raise bad_request(
            f"invalid timeframe: {text!r}; expected one of 1Min, 5Min, 15Min, 1Hour, 1Day"
        )
    return _BY_SECONDS[seconds]


def _ny_midnight_ns(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(0, 0), tzinfo=NEW_YORK).timestamp()) * _NS


def parse_date(text: str, name: str) -> dt.date:
    """A ``YYYY-MM-DD`` date (or the date of an RFC 3339 timestamp)."""
    try:
        return dt.date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise bad_request(f"invalid {name}: {text!r}; expected YYYY-MM-DD") from None


def _parse_instant(text: str, name: str, *, end: bool) -> int:
    value = text.strip()
    if len(value) == 10:
        day = parse_date(value, name)
        return _ny_midnight_ns(day + dt.timedelta(days=1)) - 1 if end else _ny_midnight_ns(day)
    fraction = 0
    match = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)\.(\d{1,9})(.*)", value)
    if match:  # datetime parses at most microseconds; keep nanoseconds apart
        value = match.group(1) + match.group(3)
        fraction = int(match.group(2).ljust(9, "0"))
    try:
        stamp = dt.datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        stamp = None
    if stamp is None or stamp.tzinfo is None:
        raise bad_request(f"invalid {name}: {text!r}; expected RFC 3339 or YYYY-MM-DD")
    return int(stamp.timestamp()) * _NS + fraction


def parse_bounds(query: QueryParams, now_ns: int) -> tuple[int, int]:
    """Inclusive ``(start, end)`` in UTC ns; defaults: 00:00 New York today, and now."""
    raw_start, raw_end = query.get("start"), query.get("end")
    if raw_start:
        lo = _parse_instant(raw_start, "start", end=False)
    else:
        today = dt.datetime.fromtimestamp(now_ns // _NS, NEW_YORK).date()
        lo = _ny_midnight_ns(today)
    hi = _parse_instant(raw_end, "end", end=True) if raw_end else now_ns
    if hi < lo:
        raise bad_request(f"invalid end: {raw_end!r} is before start {raw_start!r}")
    return lo, hi


def parse_limit(query: QueryParams, default: int, maximum: int) -> int:
    """``limit`` in ``[1, maximum]``, ``default`` when absent."""
    raw = query.get("limit")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= maximum:
        raise bad_request(f"invalid limit: {raw!r}; expected a whole number in [1, {maximum}]")
    return value


def parse_sort(query: QueryParams) -> bool:
    """True for ``sort=desc``; ``asc`` is the default."""
    raw = query.get("sort", "asc") or "asc"
    if raw not in ("asc", "desc"):
        raise bad_request(f"invalid sort: {raw!r}; expected asc or desc")
    return raw == "desc"


def parse_float(query: QueryParams, name: str) -> float | None:
    """An optional number."""
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError:
        raise bad_request(f"invalid {name}: {raw!r}; expected a number") from None


def encode_token(symbol: str, value: str) -> str:
    """An opaque page token for (symbol, value)."""
    return base64.urlsafe_b64encode(f"{symbol}|{value}".encode()).decode().rstrip("=")


def decode_token(token: str | None) -> tuple[str, str] | None:
    """Inverse of :func:`encode_token`; 400 ``invalid page_token`` when it does not decode."""
    if not token:
        return None
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        symbol, value = text.split("|", 1)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad_request(f"invalid page_token: {token!r}") from None
    return symbol, value
