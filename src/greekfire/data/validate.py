"""Bar validation shared by every provider and the history store.

:func:`validate_bars` takes a bar frame (``BAR_COLUMNS`` of :mod:`greekfire.domain.market`,
a ``DatetimeIndex``) and returns the clean frame in the domain schema plus a :class:`BarReport`
of what it removed. Every rule is a vectorised numpy mask over the whole frame.

Rules
-----
Index
    Must be a ``DatetimeIndex``. Tz-aware indexes are converted to UTC. A naive index raises
    ``ValueError`` unless the caller passes ``tz`` (the zone its wall times are in); local times
    that do not exist or are ambiguous in ``tz`` (DST changes) are rejected rows.
Rows (each problem is reported with its field, value and reason)
    ``timestamp: missing`` (NaT); prices ``open``/``high``/``low``/``close``: NaN, infinite,
    zero or negative; ``volume``: negative or infinite (NaN is allowed: the domain schema keeps
    missing volumes as NaN); ``vwap`` (if present): infinite, zero or negative;
    ``trade_count`` (if present): negative or infinite. Consistency, on rows whose four prices
    are valid: ``low <= high``, ``low <= min(open, close)``, ``high >= max(open, close)``.
Duplicates and order (among the rows that passed the row rules)
    Identical rows (same timestamp and values) keep the first and list the others in
    ``BarReport.duplicates``: dropped, not an error. Rows sharing a timestamp with different values
    are all rejected (no way to tell which is right). A row earlier than any row before it is
    rejected as out of order, so the clean frame is strictly increasing.

Row numbers
    ``source_rows`` gives each frame row its number in the source (for a file: the 1-based data
    row, header excluded); by default the 1-based position in ``frame``.
Strict mode
    Any rejected row raises :class:`BarValidationError` (a ``DataQualityError``) whose message
    names the source, the symbol and the first problems (row, timestamp, field, value, reason),
    and whose ``report`` attribute lists them all. Nothing is returned: a bad batch stores
    nothing. Dropped identical duplicates do not make a batch bad.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from greekfire.domain.market import BAR_COLUMNS, BAR_OPTIONAL_COLUMNS
from greekfire.errors import DataQualityError
from greekfire.kernels.barcheck import bars_all_clean

__all__ = ["REJECTED_COLUMNS", "BarReport", "BarValidationError", "validate_bars"]

REJECTED_COLUMNS = ("row", "timestamp", "field", "value", "reason", "bound")
_PRICES = ("open", "high", "low", "close")
_SCHEMA = BAR_COLUMNS + BAR_OPTIONAL_COLUMNS

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class BarReport:
    """What :func:`validate_bars` removed from a batch.

    Attributes
    ----------
    source, symbol
        Where the batch came from (a file path, a provider name) and its symbol.
    rows_in, rows_out
        Rows received and rows in the clean frame.
    duplicates
        Source row numbers (int64) of identical duplicate rows that were dropped.
    rejected
        One row per problem, columns ``REJECTED_COLUMNS``: ``row`` (int64, source row number),
        ``timestamp`` (UTC, NaT when unknown), ``field`` (str), ``value`` (float64, NaN for
        timestamp problems), ``reason`` (str), ``bound`` (float64: the value compared against
        for OHLC consistency, else NaN). Sorted by row. A row may have several problems.
    """

    source: str
    symbol: str
    rows_in: int
    rows_out: int
    duplicates: IntArray = field(repr=False)
    rejected: pd.DataFrame = field(repr=False)

    @property
    def ok(self) -> bool:
        """True when no row was rejected (dropped identical duplicates are fine)."""
        return self.rejected.empty

    @property
    def rejected_rows(self) -> IntArray:
        """Sorted distinct source row numbers of the rejected rows."""
        return np.unique(self.rejected["row"].to_numpy(dtype=np.int64))

    def messages(self, limit: int | None = None) -> list[str]:
        """One line per problem, e.g. ``"SPY.csv row 3 (2024-01-04T00:00:00+00:00): close:
        negative price -3.2"``; the first ``limit`` only when given."""
        head = self.rejected if limit is None else self.rejected.head(limit)
        return [
            _message(self.source, int(r), t, str(f), float(v), str(why), float(b))
            for r, t, f, v, why, b in zip(*(head[c] for c in REJECTED_COLUMNS), strict=True)
        ]

    def summary(self, limit: int = 5) -> str:
        """A one-paragraph account: counts and the first ``limit`` problems."""
        text = (
            f"{self.source}: {self.symbol}: {len(self.rejected_rows)} of {self.rows_in} rows"
            f" rejected ({len(self.rejected)} problems)"
        )
        if self.ok:
            return f"{text}; {len(self.duplicates)} identical duplicates dropped"
        more = len(self.rejected) - limit
        tail = f"; ... and {more} more" if more > 0 else ""
        return f"{text}: " + "; ".join(self.messages(limit)) + tail


class BarValidationError(DataQualityError):
    """A batch of bars failed validation in strict mode; ``report`` lists every problem."""

    def __init__(self, report: BarReport, limit: int = 5) -> None:
        super().__init__(report.summary(limit))
        self.report = report
        self.source = report.source
        self.symbol = report.symbol


def _message(
    source: str, row: int, ts: pd.Timestamp, name: str, value: float, reason: str, bound: float
) -> str:
    where = f"{source} row {row}" if pd.isna(ts) else f"{source} row {row} ({ts.isoformat()})"
    if name == "timestamp" or np.isnan(value):
        return f"{where}: {name}: {reason}"
    if not np.isnan(bound):
        return f"{where}: {name}: {value!r} {reason} {bound!r}"
    return f"{where}: {name}: {reason} {value!r}"


class _Issues:
    # Accumulates (positions, field, values, reason, bounds) chunks; one DataFrame at the end.
    def __init__(self) -> None:
        self.chunks: list[tuple[IntArray, str, FloatArray, object, FloatArray]] = []

    def add(
        self,
        mask: BoolArray,
        name: str,
        values: FloatArray | None,
        reason: str | list[str],
        bounds: FloatArray | None = None,
    ) -> None:
        pos = np.flatnonzero(mask)
        if pos.size == 0:
            return
        vals = np.full(pos.size, np.nan) if values is None else values[pos]
        bnd = np.full(pos.size, np.nan) if bounds is None else bounds[pos]
        self.chunks.append((pos, name, vals, reason, bnd))

    def positions(self) -> IntArray:
        if not self.chunks:
            return np.empty(0, dtype=np.int64)
        return np.unique(np.concatenate([c[0] for c in self.chunks]))

    def frame(self, rows: IntArray, index: pd.DatetimeIndex) -> pd.DataFrame:
        if not self.chunks:
            pos = np.empty(0, dtype=np.int64)
            data = {"field": np.empty(0, dtype=object), "reason": np.empty(0, dtype=object)}
            values = bounds = np.empty(0)
        else:
            pos = np.concatenate([c[0] for c in self.chunks])
            data = {
                "field": np.concatenate([_reasons(c[1], c[0].size) for c in self.chunks]),
                "reason": np.concatenate([_reasons(c[3], c[0].size) for c in self.chunks]),
            }
            values = np.concatenate([c[2] for c in self.chunks])
            bounds = np.concatenate([c[4] for c in self.chunks])
        out = pd.DataFrame(
            {
                "row": rows[pos],
                "timestamp": index[pos],
                "field": pd.array(data["field"], dtype="str"),
                "value": values,
                "reason": pd.array(data["reason"], dtype="str"),
                "bound": bounds,
            }
        )
        order = np.argsort(out["row"].to_numpy(), kind="stable")
        return out.iloc[order].reset_index(drop=True)


def _reasons(reason: object, size: int) -> npt.NDArray[np.object_]:
    if isinstance(reason, list):
        return np.asarray(reason, dtype=object)
    return np.full(size, reason, dtype=object)


def validate_bars(
    frame: pd.DataFrame,
    *,
    source: str,
    symbol: str,
    strict: bool = False,
    tz: str | None = None,
    source_rows: Sequence[int] | npt.NDArray[np.integer] | None = None,
) -> tuple[pd.DataFrame, BarReport]:
    """Validate a batch of bars; return the clean frame and a report of what was removed.

    Parameters
    ----------
    frame
        ``DatetimeIndex`` (bar start) and numeric columns ``open``, ``high``, ``low``,
        ``close``, ``volume``; optional ``vwap``, ``trade_count``; other columns pass through.
    source, symbol
        Named in every message (a file path, a provider name; the symbol).
    strict
        Raise :class:`BarValidationError` on the first bad row instead of dropping bad rows.
    tz
        Zone of a naive index's wall times (``"America/New_York"``); ignored for aware indexes.
    source_rows
        Row number of each frame row in the source (length ``len(frame)``); default 1..n.

    Returns
    -------
    (pd.DataFrame, BarReport)
        Clean frame: UTC ns index named ``timestamp``, strictly increasing; schema columns first
        as float64, then any other columns unchanged. Report: see :class:`BarReport`.

    Raises
    ------
    TypeError
        ``frame`` is not a DataFrame, its index is not a ``DatetimeIndex``, a schema column is
        not numeric.
    ValueError
        Missing required columns, a naive index without ``tz``, wrong ``source_rows`` length.
    BarValidationError
        ``strict`` and at least one row was rejected.
    """
    raw_index = _check_shape(frame)
    rows = _row_numbers(source_rows, len(frame))
    fast = _all_clean(frame, raw_index, source, symbol)
    if fast is not None:
        return fast
    issues = _Issues()
    index = _utc_index(raw_index, tz, issues)
    stamps = index.asi8.copy()
    issues.add(index.isna() & ~_flagged(issues, len(frame)), "timestamp", None, "missing")
    columns = {
        c: frame[c].to_numpy(dtype=np.float64, na_value=np.nan)
        for c in _SCHEMA
        if c in frame.columns
    }
    _check_values(columns, issues)
    _check_ohlc(columns, issues)
    bad = np.zeros(len(frame), dtype=bool)
    bad[issues.positions()] = True
    duplicates = _check_duplicates(stamps, columns, bad, issues)
    _check_order(stamps, bad, issues)
    keep = ~bad
    keep[duplicates] = False
    report = BarReport(
        source=source,
        symbol=symbol,
        rows_in=len(frame),
        rows_out=int(keep.sum()),
        duplicates=rows[duplicates],
        rejected=issues.frame(rows, index),
    )
    if strict and not report.ok:
        raise BarValidationError(report)
    return _clean(frame, index, columns, keep), report


_EMPTY = np.empty(0, dtype=np.float64)


@functools.cache
def _no_rejects() -> pd.DataFrame:
    # Every clean batch's report shares this empty frame (reports are read-only).
    empty = pd.DatetimeIndex([], dtype="datetime64[ns, UTC]", name="timestamp")
    return _Issues().frame(np.empty(0, dtype=np.int64), empty)


def _all_clean(
    frame: pd.DataFrame, index: pd.DatetimeIndex, source: str, symbol: str
) -> tuple[pd.DataFrame, BarReport] | None:
    # The common case in one allocation-free pass: a UTC index and float64 columns where no
    # row breaks a rule. Anything else (or any bad row) goes through the full, reporting path.
    if index.tz is None:
        return None
    if str(index.dtype) != "datetime64[ns, UTC]" or index.name != "timestamp":
        index = index.tz_convert("UTC").as_unit("ns").rename("timestamp")
    columns: dict[str, FloatArray] = {}
    for c in _SCHEMA:
        if c in frame.columns:
            values = frame[c].to_numpy()
            if values.dtype != np.float64:
                return None
            columns[c] = values
    if not bars_all_clean(
        index.asi8,
        columns["open"],
        columns["high"],
        columns["low"],
        columns["close"],
        columns["volume"],
        columns.get("vwap", _EMPTY),
        columns.get("trade_count", _EMPTY),
    ):
        return None
    n = len(frame)
    clean_index = index
    report = BarReport(
        source=source,
        symbol=symbol,
        rows_in=n,
        rows_out=n,
        duplicates=np.empty(0, dtype=np.int64),
        rejected=_no_rejects(),
    )
    return _clean(frame, clean_index, columns, None), report


def _flagged(issues: _Issues, size: int) -> BoolArray:
    mask = np.zeros(size, dtype=bool)
    mask[issues.positions()] = True
    return mask


def _check_shape(frame: pd.DataFrame) -> pd.DatetimeIndex:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"validate_bars: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in BAR_COLUMNS if c not in frame.columns]
    if missing:
        found = [str(c) for c in frame.columns]
        hints = [m for c in missing for m in difflib.get_close_matches(c, found, n=1)]
        hint = f" (did you mean {', '.join(map(repr, hints))}?)" if hints else ""
        raise ValueError(f"bars: missing columns {missing}; found {found}{hint}")
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise TypeError(
            f"bars: expected a DatetimeIndex, got {type(frame.index).__name__}"
            " (did you mean frame.set_index('timestamp')?)"
        )
    dtypes = frame.dtypes
    for c in _SCHEMA:
        if c in frame.columns and not _is_number_dtype(dtypes[c]):
            raise TypeError(
                f"bars: column {c!r} must be numeric, got dtype {dtypes[c]}"
                " (convert with pd.to_numeric first)"
            )
    return frame.index


def _is_number_dtype(dtype: Any) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _row_numbers(
    source_rows: Sequence[int] | npt.NDArray[np.integer] | None, size: int
) -> IntArray:
    if source_rows is None:
        return np.arange(1, size + 1, dtype=np.int64)
    rows = np.asarray(source_rows, dtype=np.int64)
    if rows.shape != (size,):
        raise ValueError(f"source_rows: expected {size} row numbers, got shape {rows.shape}")
    return rows


def _utc_index(index: pd.DatetimeIndex, tz: str | None, issues: _Issues) -> pd.DatetimeIndex:
    if index.tz is not None:
        return index.tz_convert("UTC").as_unit("ns").rename("timestamp")
    if tz is None:
        raise ValueError(
            "bars: the index is timezone-naive; pass tz= (the zone of its wall times)"
            " or localize it (did you mean frame.tz_localize('UTC')?)"
        )
    local = index.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    lost = np.asarray(local.isna()) & ~np.asarray(index.isna())
    reasons = [f"ambiguous or nonexistent local time {t} in {tz}" for t in index[lost]]
    issues.add(lost, "timestamp", None, reasons)
    return local.tz_convert("UTC").as_unit("ns").rename("timestamp")


def _check_values(columns: dict[str, FloatArray], issues: _Issues) -> None:
    with np.errstate(invalid="ignore"):
        for name in _PRICES:
            values = columns[name]
            issues.add(np.isnan(values), name, values, "missing (NaN)")
            issues.add(np.isinf(values), name, values, "not finite")
            issues.add(values < 0, name, values, "negative price")
            issues.add(values == 0, name, values, "zero price")
        for name in ("volume", "trade_count"):
            if name in columns:
                issues.add(np.isinf(columns[name]), name, columns[name], "not finite")
                issues.add(columns[name] < 0, name, columns[name], f"negative {name}")
        if "vwap" in columns:
            vwap = columns["vwap"]
            issues.add(np.isinf(vwap), "vwap", vwap, "not finite")
            issues.add(vwap <= 0, "vwap", vwap, "non-positive price")


def _check_ohlc(columns: dict[str, FloatArray], issues: _Issues) -> None:
    o, h, low, c = (columns[name] for name in _PRICES)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(o) & np.isfinite(h) & np.isfinite(low) & np.isfinite(c)
        valid &= (o > 0) & (h > 0) & (low > 0) & (c > 0)
        body_low = np.minimum(o, c)
        body_high = np.maximum(o, c)
        issues.add(valid & (low > h), "low", low, "above high", h)
        above_body = valid & (low <= h) & (low > body_low)
        issues.add(above_body, "low", low, "above min(open, close)", body_low)
        issues.add(valid & (h < body_high), "high", h, "below max(open, close)", body_high)


def _check_duplicates(
    stamps: IntArray, columns: dict[str, FloatArray], bad: BoolArray, issues: _Issues
) -> IntArray:
    # Returns the positions of identical duplicates; rejects conflicting ones (marks them bad).
    good = np.flatnonzero(~bad)
    if pd.Index(stamps[good]).is_unique:
        return np.empty(0, dtype=np.int64)
    table = pd.DataFrame({"ts": stamps[good], **{c: v[good] for c, v in columns.items()}})
    identical = table.duplicated(keep="first").to_numpy()
    rest = good[~identical]
    conflict = pd.Series(stamps[rest]).duplicated(keep=False).to_numpy()
    mask = np.zeros(bad.size, dtype=bool)
    mask[rest[conflict]] = True
    issues.add(mask, "timestamp", None, "duplicate timestamp with different values")
    bad |= mask
    return np.asarray(good[identical], dtype=np.int64)


def _check_order(stamps: IntArray, bad: BoolArray, issues: _Issues) -> None:
    # Marks bad (and reports) every row earlier than some earlier row; duplicates are gone.
    dup_free = np.flatnonzero(~bad)
    seen = stamps[dup_free]
    if seen.size < 2:
        return
    previous = np.maximum.accumulate(seen)[:-1]
    late = np.zeros(seen.size, dtype=bool)
    late[1:] = seen[1:] < previous
    if not late.any():
        return
    mask = np.zeros(bad.size, dtype=bool)
    mask[dup_free[late]] = True
    issues.add(mask, "timestamp", None, "out of order (earlier than a previous row)")
    bad |= mask


def _clean(
    frame: pd.DataFrame,
    index: pd.DatetimeIndex,
    columns: dict[str, FloatArray],
    keep: BoolArray | None,
) -> pd.DataFrame:
    if keep is None:  # every row kept: no copies
        data: dict[str, object] = dict(columns)
        for name in frame.columns:
            if name not in data:
                data[name] = frame[name].to_numpy()
        return pd.DataFrame(data, index=index, copy=False)
    data = {name: values[keep] for name, values in columns.items()}
    for name in frame.columns:
        if name not in data:
            data[name] = frame[name].to_numpy()[keep]
    return pd.DataFrame(data, index=index[keep])
