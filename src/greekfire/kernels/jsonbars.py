"""A one-pass scanner for Alpaca v2 bar responses: JSON bytes in, int64/float64 columns out.

:func:`scan_bars` reads the body of ``GET /v2/stocks/bars`` (``{"bars": {"AAPL": [bar, ...],
...}, "next_page_token": ...}``) or of ``GET /v2/stocks/{symbol}/bars`` (``{"bars": [bar,
...], "symbol": ..., "next_page_token": ...}``) from a ``np.uint8`` view of the bytes (zero
copy) and fills preallocated columns. A bar is an object with the keys ``t`` (RFC 3339 time),
``o h l c v`` (numbers) and the optional ``n vw``; keys come in any order, with any JSON
whitespace around the tokens.

Scope: the scanner handles the common case exactly and declines everything else with
``FALLBACK`` (the caller then parses the body with a general JSON parser), so that every
body it accepts gives the very values ``float()`` and a JSON parser give:

- Numbers: the JSON grammar, checked byte by byte. A number whose decimal significand has at
  most 18 digits (leading zeros count), is at most 2**53 and whose power-of-ten exponent
  lies within +-22 is
  converted exactly (Clinger's fast path: the significand and 10**|e| are both exact doubles,
  so one IEEE multiply or divide is the correctly rounded result). Any other number is
  recorded in the fix-up table ``fix`` (byte span and target cell) for the caller to convert
  with ``float()``; integers of more than 19 digits make the scan decline. ``-0`` is an
  integer, so it gives +0.0 (as ``float(int("-0"))`` does); ``-0.0`` gives -0.0.
- Timestamps: ``YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+HH:MM|-HH:MM)``, years 1678 to 2261 (int64
  nanoseconds cover 1677-09-21 to 2262-04-11), the fields
  range-checked (seconds 0 to 59), converted to int64 nanoseconds since the Unix epoch (UTC)
  with the days-from-civil formula (H. Hinnant, "chrono-Compatible Low-Level Date
  Algorithms"). Anything else declines.
- Strings: keys, symbols and the page token must be plain ASCII without escapes; anything
  else declines (the caller's parser decodes escapes and checks UTF-8).
- Structure: duplicate keys, a bar without one of ``t o h l c v``, a non-number in a numeric
  field, unknown keys whose value is not a plain scalar (string, number, true, false, null),
  ``bars`` of the wrong kind: all decline. Bodies that are not JSON at all give ``SYNTAX`` or
  ``TRUNCATED``; the scanner never raises and never reads past the end of ``buf``.

Outputs (caller-allocated; see :func:`scan_bars` for the sizes): ``ts_ns`` int64 (rows,),
``vals`` float64 (7, rows) holding open, high, low, close, volume, trade_count, vwap (NaN
where ``n`` or ``vw`` is missing), ``seg`` int64 (symbols, 4): name offset, name length,
first row, row count, in the body's order; ``fix`` int64 (k, 4): start, end (byte offsets
of the number), row of ``vals`` and bar index of the value to convert with ``float()``;
``ctx`` int64 (CTX_SIZE,), see the ``C_*`` indices.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from numba import types
from numba.extending import intrinsic

from greekfire.kernels._jit import njit

__all__ = [
    "CTX_SIZE",
    "C_FIELD",
    "C_NAME_LEN",
    "C_NAME_START",
    "C_NFIX",
    "C_NROWS",
    "C_NSEG",
    "C_POS",
    "C_ROW",
    "C_SEG",
    "C_SYMBOL_LEN",
    "C_SYMBOL_START",
    "C_TOKEN_LEN",
    "C_TOKEN_START",
    "FALLBACK",
    "FIELD_NAMES",
    "FIX_OVERFLOW",
    "OK",
    "ROWS_OVERFLOW",
    "SEG_OVERFLOW",
    "SHAPE",
    "SYNTAX",
    "TRUNCATED",
    "BarScan",
    "rows_upper_bound",
    "scan_bars",
    "scan_bars_into",
]

U8Array = npt.NDArray[np.uint8]
I64Array = npt.NDArray[np.int64]
F64Array = npt.NDArray[np.float64]
# Inside the jitted code arrays travel as raw data pointers (numba CPointer): passing an array
# to a helper costs two reference-count calls, which would dominate a per-byte scanner. The
# entry point holds the arrays, so the pointers stay valid for the whole scan.
Ptr = Any

# Status codes (the return value of scan_bars_into).
OK = 0
FALLBACK = 1  # valid JSON perhaps, but outside the fast path: parse it another way
SYNTAX = 2  # an unexpected byte: not JSON
TRUNCATED = 3  # the body ends inside a value
SEG_OVERFLOW = 4  # more symbols than ``seg`` has rows: retry with a larger table
FIX_OVERFLOW = 5  # more fix-ups than ``fix`` has rows: retry with a larger table
ROWS_OVERFLOW = 6  # more bars than the columns hold (cannot happen with rows_upper_bound)
SHAPE = 7  # the output arrays do not have the documented shapes

# ctx indices: where the scan stopped and what it found.
C_POS = 0  # offset of the bar or top-level key being read when the scan stopped
C_SEG = 1  # symbol index being read when it stopped (-1: outside the bars)
C_ROW = 2  # bar index within that symbol
C_FIELD = 3  # field being read: index into FIELD_NAMES, -1 for none
C_NROWS = 4
C_NSEG = 5
C_NFIX = 6
C_TOKEN_START = 7  # next_page_token's bytes (-1: null or absent)
C_TOKEN_LEN = 8
C_SYMBOL_START = 9  # the single-symbol shape's "symbol" value (-1: absent)
C_SYMBOL_LEN = 10
C_NAME_START = 11  # the name of the symbol being read (-1: none, or the single shape)
C_NAME_LEN = 12
C_ROWS_CAP = 13  # capacities of the outputs, set from their shapes
C_SEG_CAP = 14
C_FIX_CAP = 15
CTX_SIZE = 16

# Field ids: 0 is the timestamp, 1..7 are the rows of ``vals``.
FIELD_NAMES = ("t", "o", "h", "l", "c", "v", "n", "vw")
_REQUIRED = 0b111111  # t o h l c v
_OPTIONAL_N = 1 << 6
_OPTIONAL_VW = 1 << 7

# Bytes
_QUOTE = 34
_COMMA = 44
_COLON = 58
_MINUS = 45
_PLUS = 43
_DOT = 46
_ZERO = 48
_LBRACE = 123
_RBRACE = 125
_LBRACKET = 91
_RBRACKET = 93
_BACKSLASH = 92

_MAX_EXACT = 2**53
_NAN = math.nan
# 10**k for k = 0..22: all exact doubles (5**22 < 2**53).
_POW10 = np.array([10.0**k for k in range(23)], dtype=np.float64)
_KEY_BARS = np.frombuffer(b"bars", dtype=np.uint8)
_KEY_TOKEN = np.frombuffer(b"next_page_token", dtype=np.uint8)
_KEY_SYMBOL = np.frombuffer(b"symbol", dtype=np.uint8)
# Field id of a one-letter bar key, by its byte (-1: not a one-letter field).
_FIELD_OF = np.full(256, -1, dtype=np.int64)
_FIELD_OF[[ord(key) for key in FIELD_NAMES[:7]]] = np.arange(7)
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_NS = 1_000_000_000
# Years whose every instant (any UTC offset) fits int64 nanoseconds (1677-09-21 .. 2262-04-11).
_YEAR_MIN = 1678
_YEAR_MAX = 2261
# 10**(9 - k): scales a k-digit fraction of a second to nanoseconds.
_FRAC_SCALE = np.array([10 ** (9 - k) for k in range(10)], dtype=np.int64)


class BarScan(NamedTuple):
    """What :func:`scan_bars` found; arrays are trimmed views of the scan buffers."""

    status: int
    ctx: I64Array
    ts_ns: I64Array
    vals: F64Array  # (7, rows_capacity): slice [:, :nrows]
    seg: I64Array
    fix: I64Array


_cpointer: Any = types.CPointer


@intrinsic
def _data_ptr(typingctx: Any, arr: Any) -> Any:
    """The data pointer of a contiguous array, as a numba CPointer of its dtype."""
    if not isinstance(arr, types.Array) or arr.layout != "C":
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return context.make_array(signature.args[0])(context, builder, value=args[0]).data

    return _cpointer(arr.dtype)(arr), codegen


_data: Any = _data_ptr


# --- small readers; a negative return value is minus a status code ------------------------


@njit(inline="always")
def _ws(p: Ptr, i: int, n: int) -> int:
    # JSON whitespace: space, tab, newline, carriage return.
    while i < n:
        c = p[i]
        if c != 32 and c != 10 and c != 13 and c != 9:
            return i
        i += 1
    return i


@njit(inline="always")
def _expect(p: Ptr, i: int, n: int, byte: int) -> int:
    # Skip whitespace, then require ``byte``; returns the offset after it.
    i = _ws(p, i, n)
    if i >= n:
        return -TRUNCATED
    if p[i] != byte:
        return -SYNTAX
    return i + 1


@njit(inline="always")
def _plain_string(p: Ptr, i: int, n: int) -> int:
    # ``i`` is just past the opening quote; returns the offset of the closing quote.
    while i < n:
        c = p[i]
        if c == _QUOTE:
            return i
        if c == _BACKSLASH or c >= 128:
            return -FALLBACK
        if c < 32:
            return -SYNTAX
        i += 1
    return -TRUNCATED


@njit()
def _same(p: Ptr, start: int, end: int, key: U8Array) -> bool:
    size = key.shape[0]
    if end - start != size:
        return False
    k = 0
    while k < size and p[start + k] == key[k]:
        k += 1
    return bool(k == size)


@njit()
def _literal(p: Ptr, i: int, n: int) -> int:
    # true, false or null at ``i``; returns the offset after it.
    c = p[i]
    size = 5 if c == 102 else 4
    if i + size > n:
        return -TRUNCATED
    if c == 110:  # null
        ok = p[i + 1] == 117 and p[i + 2] == 108 and p[i + 3] == 108
    elif c == 116:  # true
        ok = p[i + 1] == 114 and p[i + 2] == 117 and p[i + 3] == 101
    else:  # false
        ok = p[i + 1] == 97 and p[i + 2] == 108 and p[i + 3] == 115 and p[i + 4] == 101
    return i + size if ok else -SYNTAX


# --- numbers -----------------------------------------------------------------------------


@njit(inline="always")
def _digits(p: Ptr, i: int, n: int, w: int) -> tuple[int, int]:
    # Decimal digits from ``i`` accumulated onto w; w wraps past 18 digits (callers count).
    while i < n:
        d = int(p[i]) - _ZERO
        if d < 0 or d > 9:
            break
        w = w * 10 + d
        i += 1
    return i, w


@njit(inline="always")
def _mantissa(p: Ptr, i: int, n: int) -> tuple[int, int, int, int]:
    # "int[.frac]" at ``i``: returns (end, digits as one integer, digit count, fraction
    # digit count); end < 0 is minus a status code.
    c = p[i]
    if c == _ZERO:
        j, w = i + 1, 0
        if j < n and _ZERO <= p[j] <= _ZERO + 9:
            return -SYNTAX, 0, 0, 0  # a leading zero
    elif _ZERO < c <= _ZERO + 9:
        j, w = _digits(p, i, n, 0)
    else:
        return -FALLBACK, 0, 0, 0  # null, a string, a literal: not ours to judge
    nd = j - i
    if j >= n or p[j] != _DOT:
        return j, w, nd, 0
    k, w = _digits(p, j + 1, n, w)
    frac = k - j - 1
    if frac == 0:
        return (-TRUNCATED if k >= n else -SYNTAX), 0, 0, 0
    return k, w, nd + frac, frac


@njit(inline="always")
def _exponent(p: Ptr, i: int, n: int) -> tuple[int, int]:
    # ``i`` is just past 'e' or 'E'; returns (offset after the exponent, exponent).
    if i >= n:
        return -TRUNCATED, 0
    sign = 1
    c = p[i]
    if c == _MINUS:
        sign = -1
        i += 1
    elif c == _PLUS:
        i += 1
    start = i
    ev = 0
    while i < n:
        d = int(p[i]) - _ZERO
        if d < 0 or d > 9:
            break
        if ev < 100_000:
            ev = ev * 10 + d
        i += 1
    if i == start:
        return (-TRUNCATED if i >= n else -SYNTAX), 0
    return i, sign * ev


@njit(inline="always")
def _exact(w: int, e10: int, neg: bool) -> float:
    # Clinger's fast path for w * 10**e10 (w < 10**18), or NaN when it does not apply.
    if w == 0:
        return -0.0 if neg else 0.0
    if w > _MAX_EXACT or e10 < -22 or e10 > 22:
        return _NAN
    x = float(w)
    x = x * float(_POW10[e10]) if e10 >= 0 else x / float(_POW10[-e10])
    return -x if neg else x


@njit(inline="always")
def _number(p: Ptr, i: int, n: int) -> tuple[int, float]:
    # A JSON number at ``i``. Returns (end, value); value NaN means "convert with float()";
    # end < 0 is minus a status code.
    neg = p[i] == _MINUS
    if neg:
        i += 1
        if i >= n:
            return -TRUNCATED, 0.0
    j, w, nd, frac = _mantissa(p, i, n)
    if j < 0:
        return j, 0.0
    e10 = -frac
    is_int = frac == 0
    if j < n and (p[j] == 101 or p[j] == 69):
        is_int = False
        j, ev = _exponent(p, j + 1, n)
        if j < 0:
            return j, 0.0
        e10 += ev
    if j >= n:
        return -TRUNCATED, 0.0  # a body never ends with a number
    if nd > 18:
        # Too many digits for w: float() on the bytes, unless a huge integer (JSON
        # parsers differ on those: let the fallback's parser decide).
        return (-FALLBACK if is_int and nd > 19 else j), _NAN
    if not is_int:
        return j, _exact(w, e10, neg)
    x = float(w)  # exact below 2**53, else one correct rounding, as float(int) does
    return j, (-x if neg and w != 0 else x)  # -0 is the integer 0


# --- timestamps --------------------------------------------------------------------------


@njit(inline="always")
def _days_from_civil(y: int, m: int, d: int) -> int:
    # Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's days_from_civil).
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@njit(inline="always")
def _num(p: Ptr, i: int, k: int) -> int:
    # k ASCII digits at i as an integer, or -1 if one of them is not a digit.
    v = 0
    for j in range(i, i + k):
        d = int(p[j]) - _ZERO
        if d < 0 or d > 9:
            return -1
        v = v * 10 + d
    return v


@njit(inline="always")
def _valid_date(y: int, mo: int, d: int) -> bool:
    if y < _YEAR_MIN or y > _YEAR_MAX or mo < 1 or mo > 12 or d < 1:
        return False
    leap = (y % 4 == 0 and y % 100 != 0) or y % 400 == 0
    return bool(d <= _DAYS_IN_MONTH[mo] + (1 if mo == 2 and leap else 0))


@njit(inline="always")
def _fraction(p: Ptr, i: int, n: int) -> tuple[int, int]:
    # Optional ".digits" at i: returns (offset after it, nanoseconds); -1 offset: declined.
    if p[i] != _DOT:
        return i, 0
    start = i + 1
    i, f = _digits(p, start, n, 0)
    k = i - start
    if k < 1 or k > 9:
        return -1, 0
    return i, f * _FRAC_SCALE[k]


@njit(inline="always")
def _zone(p: Ptr, i: int, n: int) -> tuple[int, int]:
    # "Z" or "+HH:MM"/"-HH:MM" at i, then the closing quote: returns (offset of the quote,
    # offset east of UTC in seconds); -1 offset: declined.
    c = p[i]
    if c == 90:
        return i + 1, 0
    if (c != _PLUS and c != _MINUS) or i + 6 > n or p[i + 3] != _COLON:
        return -1, 0
    hh = _num(p, i + 1, 2)
    mm = _num(p, i + 4, 2)
    if hh < 0 or hh > 23 or mm < 0 or mm > 59:
        return -1, 0
    off = hh * 3600 + mm * 60
    return i + 6, (-off if c == _MINUS else off)


@njit(inline="always")
def _timestamp(p: Ptr, i: int, n: int) -> tuple[int, int]:
    # A quoted RFC 3339 time at ``i``: returns (offset after the closing quote, ns since
    # the epoch). Declines (-FALLBACK) anything but the forms in the module docstring.
    if p[i] != _QUOTE:
        return -FALLBACK, 0
    i += 1
    if i + 21 > n:
        return -TRUNCATED, 0
    bad = p[i + 4] != _MINUS or p[i + 7] != _MINUS or p[i + 10] != 84
    if bad or p[i + 13] != _COLON or p[i + 16] != _COLON:
        return -FALLBACK, 0
    y, mo, d = _num(p, i, 4), _num(p, i + 5, 2), _num(p, i + 8, 2)
    hh, mi, ss = _num(p, i + 11, 2), _num(p, i + 14, 2), _num(p, i + 17, 2)
    if not _valid_date(y, mo, d) or hh < 0 or hh > 23 or mi < 0 or mi > 59 or ss < 0 or ss > 59:
        return -FALLBACK, 0
    j, frac_ns = _fraction(p, i + 19, n)
    if j < 0 or j >= n:
        return -FALLBACK, 0
    j, off_s = _zone(p, j, n)
    if j < 0 or j >= n or p[j] != _QUOTE:
        return -FALLBACK, 0
    secs = _days_from_civil(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss - off_s
    return j + 1, secs * _NS + frac_ns


# --- structure ---------------------------------------------------------------------------


@njit()
def _skip_scalar(p: Ptr, i: int, n: int) -> int:
    # The value of a key we do not know: a plain scalar, or decline.
    c = p[i]
    if c == _QUOTE:
        j = _plain_string(p, i + 1, n)
        return j + 1 if j >= 0 else j
    if c == 110 or c == 116 or c == 102:
        return _literal(p, i, n)
    if c == _MINUS or _ZERO <= c <= _ZERO + 9:
        j, _x = _number(p, i, n)
        return j
    return -FALLBACK


@njit(inline="always")
def _separator(p: Ptr, i: int, n: int, close: int) -> tuple[int, bool]:
    # After a value: ',' (returns the offset after it, False) or ``close`` (after it, True).
    i = _ws(p, i, n)
    if i >= n:
        return -TRUNCATED, False
    c = p[i]
    if c == close:
        return i + 1, True
    return (i + 1, False) if c == _COMMA else (-SYNTAX, False)


@njit(inline="always")
def _bar_key(p: Ptr, i: int, n: int) -> tuple[int, int]:
    # A key at ``i`` (the opening quote): returns (offset after the closing quote, field id
    # or -1 for a key we ignore).
    if i >= n:
        return -TRUNCATED, -1
    if p[i] != _QUOTE:
        return -FALLBACK, -1  # '}' of an empty bar, or not JSON: the parser decides
    if i + 3 < n and p[i + 2] == _QUOTE:
        fid = _FIELD_OF[p[i + 1]]
        if fid >= 0:
            return i + 3, fid
    j = _plain_string(p, i + 1, n)
    if j < 0:
        return j, -1
    fid = 7 if j == i + 3 and p[i + 1] == 118 and p[i + 2] == 119 else -1
    return j + 1, fid


@njit(inline="always")
def _bar_value(
    p: Ptr,
    i: int,
    n: int,
    fid: int,
    row: int,
    ts: Ptr,
    vals: Ptr,
    fix: Ptr,
    ctx: Ptr,
) -> int:
    # The value of field ``fid`` of bar ``row`` at ``i``; returns the offset after it.
    if fid == 0:
        i, t = _timestamp(p, i, n)
        ts[row] = t
        return i
    if fid < 0:
        return _skip_scalar(p, i, n)
    start = i
    i, x = _number(p, i, n)
    if i < 0:
        return i
    vals[(fid - 1) * ctx[C_ROWS_CAP] + row] = x
    if x != x:
        k = ctx[C_NFIX]
        if k >= ctx[C_FIX_CAP]:
            return -FIX_OVERFLOW
        fix[4 * k] = start
        fix[4 * k + 1] = i
        fix[4 * k + 2] = fid - 1
        fix[4 * k + 3] = row
        ctx[C_NFIX] = k + 1
    return i


@njit()
def _bar(
    p: Ptr,
    i: int,
    n: int,
    row: int,
    ts: Ptr,
    vals: Ptr,
    fix: Ptr,
    ctx: Ptr,
) -> int:
    # One bar object at ``i`` (just past its '{'); returns the offset after its '}'.
    seen = 0
    while True:
        i = _ws(p, i, n)
        i, fid = _bar_key(p, i, n)
        if i >= 0:
            i = _colon(p, i, n)
        if i >= 0:
            i = _bar_value(p, i, n, fid, row, ts, vals, fix, ctx)
        if i < 0:
            ctx[C_FIELD] = fid
            return i
        if fid >= 0:
            bit = 1 << fid
            if seen & bit:
                return -FALLBACK  # a duplicate key: the last one wins in JSON parsers
            seen |= bit
        i, done = _separator(p, i, n, _RBRACE)
        if i < 0:
            return i
        if done:
            break
    if seen & _REQUIRED != _REQUIRED:
        return -FALLBACK
    if not seen & _OPTIONAL_N:
        vals[5 * ctx[C_ROWS_CAP] + row] = _NAN
    if not seen & _OPTIONAL_VW:
        vals[6 * ctx[C_ROWS_CAP] + row] = _NAN
    return i


@njit()
def _bar_list(p: Ptr, i: int, n: int, ts: Ptr, vals: Ptr, fix: Ptr, ctx: Ptr) -> int:
    # A list of bars at ``i`` (just past its '['); rows go to ctx[C_NROWS] onwards.
    i = _ws(p, i, n)
    if i < n and p[i] == _RBRACKET:
        return i + 1
    while True:
        i = _expect(p, i, n, _LBRACE)
        if i < 0:
            return -FALLBACK if i == -SYNTAX else i  # maybe a bar that is not an object
        row = ctx[C_NROWS]
        ctx[C_POS] = i - 1
        if row >= ctx[C_ROWS_CAP]:
            return -ROWS_OVERFLOW
        i = _bar(p, i, n, row, ts, vals, fix, ctx)
        if i < 0:
            return i
        ctx[C_NROWS] = row + 1
        ctx[C_ROW] += 1
        i, done = _separator(p, i, n, _RBRACKET)
        if i < 0 or done:
            return i


@njit()
def _segment(
    p: Ptr,
    i: int,
    n: int,
    name_start: int,
    name_end: int,
    ts: Ptr,
    vals: Ptr,
    seg: Ptr,
    fix: Ptr,
    ctx: Ptr,
) -> int:
    # One symbol's bars, ``i`` just past its '['.
    k = ctx[C_NSEG]
    if k >= ctx[C_SEG_CAP]:
        return -SEG_OVERFLOW
    ctx[C_SEG] = k
    ctx[C_ROW] = 0
    ctx[C_NAME_START] = name_start
    ctx[C_NAME_LEN] = name_end - name_start
    first = ctx[C_NROWS]
    i = _bar_list(p, i, n, ts, vals, fix, ctx)
    if i < 0:
        return i
    seg[4 * k] = name_start
    seg[4 * k + 1] = name_end - name_start if name_start >= 0 else 0
    seg[4 * k + 2] = first
    seg[4 * k + 3] = ctx[C_NROWS] - first
    ctx[C_NSEG] = k + 1
    ctx[C_SEG] = -1
    ctx[C_FIELD] = -1
    return i


@njit()
def _symbol_map(
    p: Ptr,
    i: int,
    n: int,
    ts: Ptr,
    vals: Ptr,
    seg: Ptr,
    fix: Ptr,
    ctx: Ptr,
) -> int:
    # {"SYM": [bars], ...} with ``i`` just past the '{'.
    i = _ws(p, i, n)
    if i < n and p[i] == _RBRACE:
        return i + 1
    while True:
        i = _expect(p, i, n, _QUOTE)
        if i < 0:
            return i
        name_start = i
        j = _plain_string(p, i, n)
        if j < 0:
            return j
        i = _expect(p, j + 1, n, _COLON)
        if i >= 0:
            i = _expect(p, i, n, _LBRACKET)
            i = -FALLBACK if i == -SYNTAX else i  # bars of a symbol that are not a list
        if i >= 0:
            i = _segment(p, i, n, name_start, j, ts, vals, seg, fix, ctx)
        if i < 0:
            return i
        i, done = _separator(p, i, n, _RBRACE)
        if i < 0 or done:
            return i


@njit()
def _bars_value(
    p: Ptr,
    i: int,
    n: int,
    single: bool,
    ts: Ptr,
    vals: Ptr,
    seg: Ptr,
    fix: Ptr,
    ctx: Ptr,
) -> int:
    # The value of "bars": null, {} or (multi) {"SYM": [...]} or (single) [...].
    c = p[i]
    if c == 110:
        j = _literal(p, i, n)
        return j if j != -SYNTAX else -FALLBACK
    if c == _LBRACE and not single:
        return _symbol_map(p, i + 1, n, ts, vals, seg, fix, ctx)
    if c == _LBRACE:
        j = _ws(p, i + 1, n)
        return j + 1 if j < n and p[j] == _RBRACE else -FALLBACK
    if c == _LBRACKET and single:
        return _segment(p, i + 1, n, -1, -1, ts, vals, seg, fix, ctx)
    return -FALLBACK


@njit()
def _string_or_null(p: Ptr, i: int, n: int, ctx: Ptr, slot: int) -> int:
    # A plain string (its span goes to ctx[slot], ctx[slot + 1]) or null (span -1).
    c = p[i]
    if c == 110:
        j = _literal(p, i, n)
        ctx[slot] = -1
        return j if j != -SYNTAX else -FALLBACK
    if c != _QUOTE:
        return -FALLBACK
    j = _plain_string(p, i + 1, n)
    if j < 0:
        return j
    ctx[slot] = i + 1
    ctx[slot + 1] = j - i - 1
    return j + 1


@njit()
def _top_key(p: Ptr, start: int, end: int) -> int:
    # Bit of a top-level key we know: 1 bars, 2 next_page_token, 4 symbol; 0 for others.
    if _same(p, start, end, _KEY_BARS):
        return 1
    if _same(p, start, end, _KEY_TOKEN):
        return 2
    return 4 if _same(p, start, end, _KEY_SYMBOL) else 0


@njit(inline="always")
def _colon(p: Ptr, i: int, n: int) -> int:
    # ':' then the start of a value.
    i = _expect(p, i, n, _COLON)
    if i < 0:
        return i
    i = _ws(p, i, n)
    return -TRUNCATED if i >= n else i


@njit()
def _member(
    p: Ptr,
    i: int,
    n: int,
    single: bool,
    seen: int,
    ts: Ptr,
    vals: Ptr,
    seg: Ptr,
    fix: Ptr,
    ctx: Ptr,
) -> tuple[int, int]:
    # One top-level "key": value at ``i``; returns (offset after it, seen keys).
    ctx[C_POS] = i
    i = _expect(p, i, n, _QUOTE)
    if i < 0:
        return i, seen
    j = _plain_string(p, i, n)
    if j < 0:
        return j, seen
    which = _top_key(p, i, j)
    if seen & which:
        return -FALLBACK, seen
    k = _colon(p, j + 1, n)
    if k < 0:
        return k, seen
    if which == 1:
        k = _bars_value(p, k, n, single, ts, vals, seg, fix, ctx)
    elif which == 2:
        k = _string_or_null(p, k, n, ctx, C_TOKEN_START)
    elif which == 4 and single:
        k = _string_or_null(p, k, n, ctx, C_SYMBOL_START)
    else:
        k = _skip_scalar(p, k, n)
    return k, seen | which


@njit()
def _document(
    p: Ptr,
    n: int,
    single: bool,
    ts: Ptr,
    vals: Ptr,
    seg: Ptr,
    fix: Ptr,
    ctx: Ptr,
) -> int:
    i = _expect(p, 0, n, _LBRACE)
    seen = 0
    while i >= 0:
        i, seen = _member(p, i, n, single, seen, ts, vals, seg, fix, ctx)
        if i < 0:
            return i
        i, done = _separator(p, i, n, _RBRACE)
        if i < 0:
            return i
        if done:
            break
    if i < 0:
        return i
    if not seen & 1:
        return -FALLBACK  # no "bars": the caller says so
    i = _ws(p, i, n)
    return 0 if i == n else -SYNTAX


@njit()
def scan_bars_into(
    buf: U8Array,
    single: bool,
    ts: I64Array,
    vals: F64Array,
    seg: I64Array,
    fix: I64Array,
    ctx: I64Array,
) -> int:
    """Scan one Alpaca bars body into preallocated columns.

    Parameters
    ----------
    buf : uint8 (n,)
        The response body.
    single : bool
        True for the single-symbol shape (``"bars"`` is a list), False for the multi-symbol
        one (``"bars"`` maps symbols to lists).
    ts : int64 (rows,)
        Out: bar start times, ns since the Unix epoch (UTC).
    vals : float64 (7, rows)
        Out: open, high, low, close, volume, trade_count, vwap; NaN for a missing ``n``/``vw``
        and for a number listed in ``fix``.
    seg : int64 (symbols, 4)
        Out: name offset, name length (-1, 0 in the single-symbol shape), first row, rows.
    fix : int64 (k, 4)
        Out: numbers to convert with ``float()``: start, end (byte offsets), row of ``vals``
        (0 for open ... 6 for vwap), bar index.
    ctx : int64 (CTX_SIZE,)
        Out: counts, spans and, on failure, where the scan stopped (``C_*`` indices).

    Returns
    -------
    int
        ``OK``, ``FALLBACK``, ``SYNTAX``, ``TRUNCATED`` or a ``*_OVERFLOW`` code. Only the
        counts in ``ctx`` are meaningful unless it is ``OK``.
    """
    if vals.shape[1] != ts.shape[0] or seg.shape[1] != 4 or fix.shape[1] != 4:
        return SHAPE
    ctx[:] = 0
    ctx[C_SEG] = -1
    ctx[C_FIELD] = -1
    ctx[C_TOKEN_START] = -1
    ctx[C_SYMBOL_START] = -1
    ctx[C_NAME_START] = -1
    ctx[C_ROWS_CAP] = ts.shape[0]
    ctx[C_SEG_CAP] = seg.shape[0]
    ctx[C_FIX_CAP] = fix.shape[0]
    r = _document(
        _data(buf),
        buf.shape[0],
        single,
        _data(ts),
        _data(vals),
        _data(seg),
        _data(fix),
        _data(ctx),
    )
    return 0 if r >= 0 else -r


def rows_upper_bound(nbytes: int) -> int:
    """At most this many bars fit in ``nbytes`` bytes (the smallest bar takes 58 bytes)."""
    return nbytes // 58 + 1


def scan_bars(buf: U8Array, single: bool) -> BarScan:
    """Allocate the outputs, run :func:`scan_bars_into` (growing tables that overflow).

    The returned ``ts_ns``/``vals`` are trimmed to the bars found, ``seg``/``fix`` to the
    entries written; only meaningful when ``status == OK``.
    """
    n = int(buf.shape[0])
    rows = rows_upper_bound(n)
    ts = np.empty(rows, dtype=np.int64)
    vals = np.empty((7, rows), dtype=np.float64)
    seg = np.empty((16 + n // 64, 4), dtype=np.int64)
    fix = np.empty((64 + rows, 4), dtype=np.int64)
    ctx = np.zeros(CTX_SIZE, dtype=np.int64)
    while True:
        status = int(scan_bars_into(buf, single, ts, vals, seg, fix, ctx))
        if status == SEG_OVERFLOW:
            seg = np.empty((16 + n // 6, 4), dtype=np.int64)
        elif status == FIX_OVERFLOW:
            fix = np.empty((16 + 8 * rows, 4), dtype=np.int64)
        else:
            break
    nrows = int(ctx[C_NROWS])
    return BarScan(
        status,
        ctx,
        ts[:nrows],
        vals[:, :nrows],
        seg[: int(ctx[C_NSEG])],
        fix[: int(ctx[C_NFIX])],
    )
