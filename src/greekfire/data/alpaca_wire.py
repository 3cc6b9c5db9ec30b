"""Alpaca v2 bar responses (JSON bytes) to numpy columns: a fast scanner and an exact fallback.

:func:`parse_bars_page` turns the body of ``GET /v2/stocks/bars`` (multi-symbol: ``{"bars":
{"AAPL": [bar, ...], ...}, "next_page_token": ...}``) or of ``GET /v2/stocks/{symbol}/bars``
(single-symbol, pass ``symbol=``: ``{"bars": [bar, ...], "symbol": "AAPL",
"next_page_token": ...}``) into a :class:`BarsPage` of :class:`RawBars` columns.

Two paths, one result:

- Fast: :func:`greekfire.kernels.jsonbars.scan_bars` reads the bytes in place (no Python
  objects per bar). Numbers outside Clinger's exact fast path are converted afterwards with
  ``float()`` on their bytes, one by one.
- Fallback: whenever the scanner declines (escapes, unknown nested values, duplicate keys,
  odd timestamps, anything malformed), ``orjson.loads`` and strict per-field checks. Every body
  the fast path accepts gives bit-identical arrays on both paths; ``BarsPage.fast`` says which
  one ran.

Errors: everything malformed raises :class:`greekfire.errors.ParseError` naming the source,
the symbol, the row (bar index within the symbol), the field and the offending value. Market
semantics (prices > 0, OHLC order, duplicate or unordered times) are not checked here:
:func:`greekfire.data.validate.validate_bars` does that.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from greekfire.errors import ParseError
from greekfire.kernels import jsonbars

__all__ = ["BarsPage", "RawBars", "parse_bars_page"]

I64Array = npt.NDArray[np.int64]
F64Array = npt.NDArray[np.float64]

# Wire key -> RawBars attribute, in the kernel's column order after "t".
_NUMERIC = (
    ("o", "open"),
    ("h", "high"),
    ("l", "low"),
    ("c", "close"),
    ("v", "volume"),
    ("n", "trade_count"),
    ("vw", "vwap"),
)
_OPTIONAL = frozenset({"n", "vw"})
_SHOW_CHARS = 60
_TS_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})\Z",
    re.ASCII,
)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
_MISSING: Any = object()


@dataclass(frozen=True, slots=True, eq=False)
class RawBars:
    """One symbol's bars as columns of equal length, in the order they came.

    Attributes
    ----------
    ts_ns : int64
        Bar start, nanoseconds since the Unix epoch (UTC).
    open, high, low, close, volume : float64
        As sent (``v`` may be an integer on the wire; it is converted like ``float()``).
    trade_count, vwap : float64
        ``n`` and ``vw``; NaN where the bar does not carry them.
    """

    ts_ns: I64Array
    open: F64Array
    high: F64Array
    low: F64Array
    close: F64Array
    volume: F64Array
    trade_count: F64Array
    vwap: F64Array

    def __post_init__(self) -> None:
        n = len(self.ts_ns)
        lengths = {name: len(getattr(self, name)) for _, name in _NUMERIC}
        if any(size != n for size in lengths.values()):
            raise ValueError(f"RawBars columns must have equal lengths: ts_ns {n}, {lengths}")

    def __len__(self) -> int:
        return len(self.ts_ns)

    @classmethod
    def empty(cls) -> RawBars:
        """No bars."""
        return cls(np.empty(0, np.int64), *(np.empty(0) for _ in _NUMERIC))

    @classmethod
    def concat(cls, parts: Sequence[RawBars]) -> RawBars:
        """Join pages of one symbol, in order (no sorting, no de-duplication)."""
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        return cls(
            np.concatenate([p.ts_ns for p in parts]),
            *(np.concatenate([getattr(p, name) for p in parts]) for _, name in _NUMERIC),
        )


@dataclass(frozen=True, slots=True, eq=False)
class BarsPage:
    """One response: symbol -> bars (in the body's order) and the next page's token.

    ``fast`` is True when the scanner kernel parsed the body, False when the JSON fallback did.
    """

    bars: dict[str, RawBars]
    next_page_token: str | None
    fast: bool = False


def parse_bars_page(body: bytes, *, source: str, symbol: str | None = None) -> BarsPage:
    """Parse an Alpaca v2 bars response.

    Parameters
    ----------
    body : bytes
        The response body (bytes, bytearray or a contiguous memoryview).
    source : str
        Where it came from (a URL or provider name), for error messages.
    symbol : str, optional
        Given for the single-symbol endpoint: ``"bars"`` must then be a list, and the result
        has exactly this one key (empty bars when the body has none).

    Returns
    -------
    BarsPage

    Raises
    ------
    ParseError
        The body is not JSON, or not the documented shape: a missing or non-numeric field,
        an unparseable timestamp, a page token that is not a string.
    """
    buf = np.frombuffer(body, dtype=np.uint8)
    scan = jsonbars.scan_bars(buf, symbol is not None)
    if scan.status == jsonbars.OK:
        page = _from_scan(body, scan, symbol)
        if page is not None:
            return page
    return _fallback(body, source=source, symbol=symbol)


# --- fast path -----------------------------------------------------------------------------


def _from_scan(body: bytes, scan: jsonbars.BarScan, symbol: str | None) -> BarsPage | None:
    # None: the scan's result cannot be used (a number out of range, a duplicate symbol).
    vals = scan.vals
    for start, end, col, row in scan.fix.tolist():
        x = float(bytes(body[start:end]))
        if not math.isfinite(x):
            return None  # the JSON parser rejects numbers that overflow: let it say so
        vals[col, row] = x
    bars: dict[str, RawBars] = {}
    for name_start, name_len, first, count in scan.seg.tolist():
        if symbol is None:
            key = bytes(body[name_start : name_start + name_len]).decode("ascii")
        else:
            key = symbol
        stop = first + count
        bars[key] = RawBars(scan.ts_ns[first:stop], *(vals[k, first:stop] for k in range(7)))
    if symbol is not None and not bars:
        bars[symbol] = RawBars.empty()
    if symbol is None and len(bars) != len(scan.seg):
        return None  # a symbol twice: JSON keeps the last one, the fallback does that
    ctx = scan.ctx
    start = int(ctx[jsonbars.C_TOKEN_START])
    token = None if start < 0 else bytes(body[start : start + int(ctx[jsonbars.C_TOKEN_LEN])])
    return BarsPage(bars, None if token is None else token.decode(), fast=True)


# --- fallback ------------------------------------------------------------------------------


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOW_CHARS else text[: _SHOW_CHARS - 3] + "..."


def _error(
    source: str, symbol: str | None, row: int | None, field: str, problem: str, value: object
) -> ParseError:
    where = f"symbol {symbol if symbol is not None else '-'}, row {'-' if row is None else row}"
    return ParseError(f"{source}: {where}, field {field!r}: {problem}; got {_show(value)}")


def _invalid_json(
    body: bytes, exc: orjson.JSONDecodeError, source: str, symbol: str | None
) -> ParseError:
    # Rescan the body up to the error: the scanner then stops there, truncated, and says
    # which symbol, bar and field it was reading (unless it declined something earlier).
    pos = int(exc.pos)
    prefix = np.frombuffer(body, dtype=np.uint8)[:pos]
    scan = jsonbars.scan_bars(prefix, symbol is not None)
    ctx, row, field = scan.ctx, None, "(body)"
    if scan.status == jsonbars.TRUNCATED and ctx[jsonbars.C_SEG] >= 0:
        row = int(ctx[jsonbars.C_ROW])
        name_start = int(ctx[jsonbars.C_NAME_START])
        if symbol is None and name_start >= 0:
            name = bytes(body[name_start : name_start + int(ctx[jsonbars.C_NAME_LEN])])
            symbol = name.decode("ascii")
        if ctx[jsonbars.C_FIELD] >= 0:
            field = jsonbars.FIELD_NAMES[int(ctx[jsonbars.C_FIELD])]
    near = bytes(body[max(0, pos - 24) : pos + 24])
    where = f"not valid JSON at byte {pos} (line {exc.lineno}, column {exc.colno}): {exc.msg}"
    return _error(source, symbol, row, field, where + "; near", near)


def _fallback(body: bytes, *, source: str, symbol: str | None) -> BarsPage:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _invalid_json(body, exc, source, symbol) from exc
    if type(doc) is not dict:
        raise _error(source, symbol, None, "(body)", "expected a JSON object", doc)
    token = doc.get("next_page_token")
    if token is not None and type(token) is not str:
        raise _error(source, symbol, None, "next_page_token", "expected a string or null", token)
    if "bars" not in doc:
        raise _error(source, symbol, None, "bars", "missing", sorted(doc)[:8])
    raw = doc["bars"]
    if symbol is not None:
        echoed = doc.get("symbol")
        if echoed is not None and type(echoed) is not str:
            raise _error(source, symbol, None, "symbol", "expected a string", echoed)
        return BarsPage({symbol: _single(raw, source, symbol)}, token, fast=False)
    if raw is None:
        return BarsPage({}, token, fast=False)
    if type(raw) is not dict:
        raise _error(source, None, None, "bars", "expected an object of symbol -> bars", raw)
    bars: dict[str, RawBars] = {}
    for name, rows in raw.items():
        if type(rows) is not list:
            raise _error(source, name, None, "bars", "expected a list of bars", rows)
        bars[name] = _columns(rows, source, name)
    return BarsPage(bars, token, fast=False)


def _single(raw: object, source: str, symbol: str) -> RawBars:
    if raw is None or (type(raw) is dict and not raw):
        return RawBars.empty()
    if type(raw) is not list:
        raise _error(source, symbol, None, "bars", "expected a list of bars", raw)
    return _columns(raw, source, symbol)


def _columns(rows: list[Any], source: str, symbol: str) -> RawBars:
    # Strict: every bar an object, t a timestamp, o h l c v numbers, n vw numbers or absent.
    for row, bar in enumerate(rows):
        if type(bar) is not dict:
            raise _error(source, symbol, row, "(bar)", "expected an object", bar)
    ts_ns = _timestamps([bar.get("t", _MISSING) for bar in rows], source, symbol)
    columns = [
        _numbers([bar.get(key, _MISSING) for bar in rows], key, source, symbol)
        for key, _ in _NUMERIC
    ]
    return RawBars(ts_ns, *columns)


def _numbers(values: list[Any], key: str, source: str, symbol: str) -> F64Array:
    if key in _OPTIONAL:
        values = [math.nan if x is _MISSING else x for x in values]
    if not all(type(x) is float or type(x) is int for x in values):
        for row, x in enumerate(values):
            if x is _MISSING:
                raise _error(source, symbol, row, key, "missing", None)
            if type(x) is not float and type(x) is not int:
                raise _error(source, symbol, row, key, "expected a number", x)
    # float() of each value: exact for floats, correctly rounded for integers.
    return np.array([float(x) for x in values], dtype=np.float64)


def _timestamps(values: list[Any], source: str, symbol: str) -> I64Array:
    out = np.empty(len(values), dtype=np.int64)
    for row, text in enumerate(values):
        if text is _MISSING:
            raise _error(source, symbol, row, "t", "missing", None)
        ns = _timestamp_ns(text) if type(text) is str else None
        if ns is None:
            raise _error(source, symbol, row, "t", "expected an RFC 3339 time", text)
        out[row] = ns
    return out


def _timestamp_ns(text: str) -> int | None:
    # RFC 3339 with Z or +-HH:MM and up to 9 fraction digits; None if not, or out of range.
    match = _TS_RE.match(text)
    if match is None:
        return None
    y, mo, d, hh, mi, ss, frac, zone = match.groups()
    try:
        day = date(int(y), int(mo), int(d)).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        return None
    if int(hh) > 23 or int(mi) > 59 or int(ss) > 59:
        return None
    offset_s = 0
    if zone not in ("Z", "z"):
        off_h, off_m = int(zone[1:3]), int(zone[4:6])
        if off_h > 23 or off_m > 59:
            return None
        offset_s = (off_h * 3600 + off_m * 60) * (-1 if zone[0] == "-" else 1)
    seconds = day * 86400 + int(hh) * 3600 + int(mi) * 60 + int(ss) - offset_s
    ns = seconds * 1_000_000_000 + (int(frac.ljust(9, "0")) if frac else 0)
    return ns if _I64_MIN <= ns <= _I64_MAX else None
