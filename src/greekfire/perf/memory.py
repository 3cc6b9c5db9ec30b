"""Memory: verified DataFrame dtype optimisation and an RSS watchdog that trims caches.

Design
------
``optimize_dataframe`` picks, column by column, the smallest dtype that gives back the
same data, and *verifies* it with vectorised numpy checks instead of trusting a rule of
thumb. The brief's sketch (``pd.to_numeric(downcast="float")``) turns 2-decimal prices into
float32 and loses cents; here a float column narrows only when the check passes:

========================  ==================================================================
column                    rule (every conversion must also be smaller than the original)
========================  ==================================================================
int / Int (nullable)      smallest type holding min..max: unsigned when min >= 0, nullable
                          stays nullable (``Int64`` -> ``Int8``/``UInt16``/...)
float64 / Float64         float32 where float64 -> float32 -> float64 is equal bit for bit
                          (NaN positions kept); else, when declared, where rounding back to
                          ``decimals`` restores every value, or where the maximum relative
                          error is within ``tolerance`` (the only lossy status)
object strings, string    category when distinct / rows <= ``categorical_threshold``
datetime64 (naive or tz)  category under the same threshold, only if smaller
object bools              ``bool``, or nullable ``boolean`` when values are missing
bool, boolean, category   kept
========================  ==================================================================

"Lossless" follows pandas' notion of missing data: missing positions are kept and every
other value converts back equal; an object column's ``None`` comes back as ``NaN`` (or
``pd.NA`` for a ``boolean`` column), which pandas treats as the same missing marker.

Categories come from one ``pd.factorize`` pass (its codes are reused, not recomputed), and
float checks are three array passes, so 100,000 rows take milliseconds per column.

``MemoryOptimizer`` is a watchdog: when the process RSS (psutil, or an injected callable)
passes ``gc_threshold_mb`` it asks registered caches (anything satisfying the ``Trimmable``
protocol) to free memory, largest first and, at equal size, in registration order, until
the bytes they report freed bring RSS down to ``target_fraction`` of the threshold (the
brief's data manager trims to 80 %), then runs ``gc.collect()``. RSS is not re-read between
caches because the allocator rarely returns freed memory at once; it is measured again after
the collection and every pass is reported as a ``TrimReport``.
"""

from __future__ import annotations

import difflib
import gc
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np
import numpy.typing as npt
import pandas as pd
import psutil
from pandas.api import types as ptypes
from pandas.api.extensions import ExtensionDtype

__all__ = [
    "ColumnReport",
    "ColumnStatus",
    "MemoryOptimizer",
    "OptimizationReport",
    "TrimReport",
    "Trimmable",
    "optimize_dataframe",
]

_log = logging.getLogger(__name__)

_MIB = 1 << 20
_MAX_DECIMALS = 15
_UNSIGNED = ("uint8", "uint16", "uint32", "uint64")
_SIGNED = ("int8", "int16", "int32", "int64")
_NULLABLE_INT = {n: n.replace("uint", "UInt").replace("int", "Int") for n in _UNSIGNED + _SIGNED}

_FloatArray = npt.NDArray[np.float64]
_T = TypeVar("_T")


class ColumnStatus(StrEnum):
    """What a column's conversion guarantees."""

    BIT_LOSSLESS = "bit-lossless"
    DECIMALS = "lossless at decimals"
    TOLERANCE = "within tolerance"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class ColumnReport:
    """One column of an :class:`OptimizationReport`.

    Attributes
    ----------
    name : Hashable
        The column label.
    old_dtype, new_dtype : str
        Dtypes before and after (equal when ``status`` is ``UNCHANGED``).
    bytes_before, bytes_after : int
        Deep memory of the column's data (``Series.memory_usage(deep=True, index=False)``).
    status : ColumnStatus
        The guarantee: bit-lossless, lossless at ``decimals``, within tolerance, unchanged.
    decimals : int or None
        The declared precision that was verified (``DECIMALS`` only).
    max_rel_error : float or None
        The measured maximum relative error (``TOLERANCE`` only).
    note : str
        Why a column was left alone, or a detail of its conversion.
    """

    name: Hashable
    old_dtype: str
    new_dtype: str
    bytes_before: int
    bytes_after: int
    status: ColumnStatus
    decimals: int | None = None
    max_rel_error: float | None = None
    note: str = ""

    @property
    def status_text(self) -> str:
        """The status in words, e.g. ``"lossless at 2 decimals"``."""
        if self.status is ColumnStatus.DECIMALS:
            return f"lossless at {self.decimals} decimals"
        if self.status is ColumnStatus.TOLERANCE:
            return f"within tolerance (max rel. error {self.max_rel_error:.2e})"
        return self.status.value


@dataclass(frozen=True, slots=True)
class OptimizationReport:
    """What :func:`optimize_dataframe` did, column by column, with totals.

    Attributes
    ----------
    columns : tuple of ColumnReport
        One entry per column, in frame order.
    rows : int
        Number of rows.
    index_bytes : int
        Deep memory of the index (not optimised; counted in the totals).
    """

    columns: tuple[ColumnReport, ...]
    rows: int
    index_bytes: int

    @property
    def bytes_before(self) -> int:
        """Deep bytes of the input frame, index included."""
        return self.index_bytes + sum(c.bytes_before for c in self.columns)

    @property
    def bytes_after(self) -> int:
        """Deep bytes of the result frame, index included."""
        return self.index_bytes + sum(c.bytes_after for c in self.columns)

    @property
    def bytes_per_row_before(self) -> float:
        """``bytes_before / rows`` (NaN for an empty frame)."""
        return self.bytes_before / self.rows if self.rows else math.nan

    @property
    def bytes_per_row_after(self) -> float:
        """``bytes_after / rows`` (NaN for an empty frame)."""
        return self.bytes_after / self.rows if self.rows else math.nan

    @property
    def reduction_pct(self) -> float:
        """Memory saved, in percent of ``bytes_before``."""
        if self.bytes_before == 0:
            return 0.0
        return 100.0 * (1.0 - self.bytes_after / self.bytes_before)

    @property
    def lossy(self) -> bool:
        """True when some column was narrowed within a tolerance (not exactly)."""
        return any(c.status is ColumnStatus.TOLERANCE for c in self.columns)

    def to_frame(self) -> pd.DataFrame:
        """The per-column table: dtypes, bytes before/after, status and note.

        Returns
        -------
        pandas.DataFrame
            One row per column, in frame order.
        """
        return pd.DataFrame(
            {
                "column": [c.name for c in self.columns],
                "old_dtype": [c.old_dtype for c in self.columns],
                "new_dtype": [c.new_dtype for c in self.columns],
                "bytes_before": [c.bytes_before for c in self.columns],
                "bytes_after": [c.bytes_after for c in self.columns],
                "status": [c.status_text for c in self.columns],
                "note": [c.note for c in self.columns],
            }
        )

    def __str__(self) -> str:
        head = (
            f"DataFrame memory: {self.bytes_before:,} -> {self.bytes_after:,} bytes"
            f" ({self.bytes_per_row_before:.1f} -> {self.bytes_per_row_after:.1f} bytes/row,"
            f" -{self.reduction_pct:.1f} %), {self.rows:,} rows"
            + (", LOSSY within tolerance" if self.lossy else "")
        )
        table = [("column", "old dtype", "new dtype", "before", "after", "status")]
        table += [
            (
                str(c.name),
                c.old_dtype,
                c.new_dtype,
                f"{c.bytes_before:,}",
                f"{c.bytes_after:,}",
                c.status_text + (f": {c.note}" if c.note else ""),
            )
            for c in self.columns
        ]
        widths = [max(len(row[i]) for row in table) for i in range(5)]
        lines = [
            "  ".join(
                cell.rjust(w) if i in (3, 4) else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row[:5], widths, strict=True))
            )
            + "  "
            + row[5]
            for row in table
        ]
        return "\n".join([head, *lines])


@dataclass(frozen=True, slots=True)
class _Choice:
    # None keeps the column as it is
    values: pd.Series | None
    status: ColumnStatus
    note: str = ""
    decimals: int | None = None
    max_rel_error: float | None = None


def _keep(note: str) -> _Choice:
    return _Choice(None, ColumnStatus.UNCHANGED, note)


def optimize_dataframe(
    df: pd.DataFrame,
    *,
    decimals: int | Mapping[Hashable, int] | None = None,
    tolerance: float | Mapping[Hashable, float] | None = None,
    categorical_threshold: float = 0.5,
    inplace: bool = False,
) -> tuple[pd.DataFrame, OptimizationReport]:
    """Shrink a DataFrame's dtypes, verifying each conversion (bit-lossless by default).

    Parameters
    ----------
    df : pandas.DataFrame
        The frame; never modified unless ``inplace`` is true.
    decimals : int or mapping of column -> int, optional
        Declared precision of float columns (e.g. ``{"close": 2}``; an int applies to every
        float column). Such a column becomes float32 when rounding the float32 value back
        to float64 at that many decimals restores every original value; otherwise it stays
        and the report says how many values would not restore.
    tolerance : float or mapping of column -> float, optional
        Maximum relative error accepted for float32 (a float applies to every float
        column). Columns narrowed this way are reported ``within tolerance`` (lossy).
    categorical_threshold : float, default 0.5
        Strings and timestamps become categories when distinct values / rows is at most
        this, in (0, 1].
    inplace : bool, default False
        Replace the columns of ``df`` itself and return it.

    Returns
    -------
    (pandas.DataFrame, OptimizationReport)
        The optimised frame (same index, labels and order) and the report.

    Raises
    ------
    TypeError
        ``df`` is not a DataFrame, a ``decimals`` column is not a float column, or an
        argument has the wrong type.
    ValueError
        A ``decimals``/``tolerance`` column is missing, decimals outside 0..15, a negative
        or non-finite tolerance, or ``categorical_threshold`` outside (0, 1].

    Examples
    --------
    >>> small, report = optimize_dataframe(bars, decimals={"close": 2})  # doctest: +SKIP
    >>> print(report)  # doctest: +SKIP
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df: expected a pandas DataFrame, got {type(df).__name__}")
    if not isinstance(inplace, bool):
        raise TypeError(f"inplace: expected a bool, got {inplace!r}")
    threshold = _check_threshold(categorical_threshold)
    places = _per_column(df, "decimals", decimals, _check_decimals)
    tolerances = _per_column(df, "tolerance", tolerance, _check_tolerance)

    out = df if inplace else df.copy(deep=False)
    before = df.memory_usage(deep=True, index=False).to_numpy()
    reports = []
    for i, label in enumerate(df.columns):
        series, nbytes = df.iloc[:, i], int(before[i])
        choice = _optimize_column(
            series, places.get(label), tolerances.get(label), threshold, nbytes
        )
        if choice.values is not None:
            out.isetitem(i, choice.values.array)
        reports.append(_column_report(label, series, choice, nbytes))
    index_bytes = int(df.index.memory_usage(deep=True))
    return out, OptimizationReport(tuple(reports), len(df), index_bytes)


def _column_report(label: Hashable, old: pd.Series, choice: _Choice, nbytes: int) -> ColumnReport:
    new = old if choice.values is None else choice.values
    # an unchanged column keeps its measured size: hashing non-ASCII strings caches their
    # UTF-8 form, which would otherwise show up as growth this function did not cause
    after = nbytes if choice.values is None else int(new.memory_usage(deep=True, index=False))
    return ColumnReport(
        label,
        str(old.dtype),
        str(new.dtype),
        nbytes,
        after,
        choice.status,
        choice.decimals,
        choice.max_rel_error,
        choice.note,
    )


def _check_threshold(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"categorical_threshold: expected a number in (0, 1], got {value!r}")
    if not 0.0 < value <= 1.0:
        raise ValueError(f"categorical_threshold: expected a number in (0, 1], got {value!r}")
    return float(value)


def _check_decimals(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name}: expected an int number of decimals, got {value!r}")
    if not 0 <= value <= _MAX_DECIMALS:
        raise ValueError(f"{name}: expected decimals in 0..{_MAX_DECIMALS}, got {value!r}")
    return int(value)


def _check_tolerance(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
        raise TypeError(f"{name}: expected a relative tolerance (float), got {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name}: expected a finite relative tolerance >= 0, got {value!r}")
    return float(value)


def _per_column(
    df: pd.DataFrame,
    param: str,
    value: object,
    check: Callable[[str, object], _T],
) -> dict[Hashable, _T]:
    # one value for every float column, or a mapping naming float columns
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        checked = check(param, value)
        return {label: checked for label, dtype in df.dtypes.items() if _is_float(dtype)}
    result: dict[Hashable, _T] = {}
    for label, item in value.items():
        _require_float_column(df, param, label)
        result[label] = check(f"{param}[{label!r}]", item)
    return result


def _is_float(dtype: np.dtype[Any] | ExtensionDtype) -> bool:
    return bool(ptypes.is_float_dtype(dtype))


def _require_float_column(df: pd.DataFrame, param: str, label: Hashable) -> None:
    if label not in df.columns:
        names = [str(c) for c in df.columns]
        close = difflib.get_close_matches(str(label), names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; columns are {names}"
        raise ValueError(f"{param}: no column {label!r} in the frame{hint}")
    dtypes = df.loc[:, [label]].dtypes
    if not all(_is_float(dtype) for dtype in dtypes):
        raise TypeError(
            f"{param}: column {label!r} is {dtypes.iloc[0]}, not a float column"
            " (decimals and tolerance apply to float64 columns)"
        )


def _optimize_column(
    series: pd.Series,
    places: int | None,
    tolerance: float | None,
    threshold: float,
    nbytes: int,
) -> _Choice:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _keep("already categorical")
    if ptypes.is_bool_dtype(dtype):
        return _keep("bool is one byte per value")
    if ptypes.is_integer_dtype(dtype):
        return _integer(series)
    if ptypes.is_float_dtype(dtype):
        return _float(series, places, tolerance)
    if ptypes.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.StringDtype):
        return _categorical(series, threshold, nbytes)
    if ptypes.is_object_dtype(dtype):
        return _object(series, threshold, nbytes)
    return _keep(f"no rule for {dtype}")


def _itemsize(series: pd.Series) -> int:
    # numpy and masked (Int64, Float64) dtypes alike name their numpy scalar type
    return np.dtype(series.dtype.type).itemsize


def _integer(series: pd.Series) -> _Choice:
    nullable = isinstance(series.dtype, ExtensionDtype)
    if series.count() == 0:
        low, high = 0, 0
    else:
        low, high = int(series.min()), int(series.max())
    names = _UNSIGNED if low >= 0 else _SIGNED
    target = next((n for n in names if np.iinfo(n).min <= low and high <= np.iinfo(n).max), "int64")
    if np.dtype(target).itemsize >= _itemsize(series):
        return _keep("already the smallest integer type for its range")
    new = series.astype(
        ptypes.pandas_dtype(_NULLABLE_INT[target]) if nullable else np.dtype(target)
    )
    return _Choice(new, ColumnStatus.BIT_LOSSLESS, f"range {low}..{high}")


def _float(series: pd.Series, places: int | None, tolerance: float | None) -> _Choice:
    nullable = isinstance(series.dtype, ExtensionDtype)
    if _itemsize(series) <= 4:
        return _keep("already float32 or smaller")
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(over="ignore", invalid="ignore"):
        narrow = values.astype(np.float32)
    wide = narrow.astype(np.float64)

    def make() -> pd.Series:
        if nullable:
            mask = series.isna().to_numpy()
            data: object = pd.arrays.FloatingArray(narrow, mask)
        else:
            data = narrow
        return pd.Series(data, index=series.index, name=series.name, copy=False)

    changed = _count_bit_changes(values, wide)
    if changed == 0:
        return _Choice(make(), ColumnStatus.BIT_LOSSLESS)
    note = f"{changed:,} of {len(values):,} values change in float32"
    if places is not None:
        unrestored = _count_unrestored(values, wide, places)
        if unrestored == 0:
            return _Choice(make(), ColumnStatus.DECIMALS, note, decimals=places)
        note += f"; {unrestored:,} do not restore at {places} decimals"
    if tolerance is not None:
        error = _max_relative_error(values, wide)
        if error <= tolerance:
            return _Choice(make(), ColumnStatus.TOLERANCE, note, max_rel_error=error)
        note += f"; max relative error {error:.3g} > tolerance {tolerance:g}"
    return _keep(note)


def _same(values: _FloatArray, wide: _FloatArray) -> npt.NDArray[np.bool_]:
    # float32 keeps NaN (its payload may change), so NaN positions are compared, not bits
    return np.isnan(values) & np.isnan(wide)


def _count_bit_changes(values: _FloatArray, wide: _FloatArray) -> int:
    same = values.view(np.uint64) == wide.view(np.uint64)
    same |= _same(values, wide)
    return len(values) - int(np.count_nonzero(same))


def _count_unrestored(values: _FloatArray, wide: _FloatArray, places: int) -> int:
    same = np.round(wide, places) == values
    same |= _same(values, wide)
    return len(values) - int(np.count_nonzero(same))


def _max_relative_error(values: _FloatArray, wide: _FloatArray) -> float:
    # float32 keeps zeros, infinities and NaN; a finite value that overflows gives inf
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.abs(wide - values) / np.abs(values)
    relative[(wide == values) | _same(values, wide)] = 0.0
    return float(relative.max(initial=0.0))


def _categorical(series: pd.Series, threshold: float, nbytes: int) -> _Choice:
    rows = len(series)
    if rows == 0:
        return _keep("empty column")
    codes, uniques = pd.factorize(series, sort=True)
    ratio = len(uniques) / rows
    if ratio > threshold:
        return _keep(f"{len(uniques):,} distinct values ({ratio:.2f} > threshold {threshold:g})")
    categorical = pd.Categorical.from_codes(codes, categories=uniques)
    new = pd.Series(categorical, index=series.index, name=series.name, copy=False)
    if new.memory_usage(deep=True, index=False) >= nbytes:
        return _keep("a category would not be smaller")
    count = len(uniques)
    note = f"{count:,} categor{'y' if count == 1 else 'ies'}"
    return _Choice(new, ColumnStatus.BIT_LOSSLESS, note)


def _object(series: pd.Series, threshold: float, nbytes: int) -> _Choice:
    kind = ptypes.infer_dtype(series, skipna=True)
    if kind == "string":
        return _categorical(series, threshold, nbytes)
    if kind == "boolean":
        target = pd.BooleanDtype() if series.hasnans else np.dtype(bool)
        return _Choice(series.astype(target), ColumnStatus.BIT_LOSSLESS, "object bools")
    return _keep(f"object column of {kind} values")


@runtime_checkable
class Trimmable(Protocol):
    """A cache the :class:`MemoryOptimizer` can ask to free memory.

    Implementations report their size and free at least part of what is asked (evicting
    least-recently-used or oldest entries first is the usual policy), returning the bytes
    actually freed. A cache with only ``clear()`` can implement ``trim`` as "clear and
    return the previous size".
    """

    @property
    def name(self) -> str:
        """A unique name, used in reports."""
        ...

    def current_bytes(self) -> int:
        """The memory the cache holds now, in bytes."""
        ...

    def trim(self, bytes_to_free: int) -> int:
        """Free about ``bytes_to_free`` bytes (or all it holds); return the bytes freed."""
        ...


@dataclass(frozen=True, slots=True)
class TrimReport:
    """One :meth:`MemoryOptimizer.check` pass.

    Attributes
    ----------
    at_s : float
        The injected clock's reading when the pass started.
    rss_before_bytes, rss_after_bytes : int
        Resident set size before and after (equal when nothing was triggered).
    threshold_bytes, target_bytes : int
        The trigger level and the level trimming aims for.
    freed_by_cache : tuple of (str, int)
        Bytes each trimmed cache reported freeing, in the order trimmed.
    gc_collected : int
        Objects ``gc.collect()`` found unreachable (0 when not triggered).
    triggered : bool
        Whether RSS was above the threshold (otherwise nothing was done).
    """

    at_s: float
    rss_before_bytes: int
    rss_after_bytes: int
    threshold_bytes: int
    target_bytes: int
    freed_by_cache: tuple[tuple[str, int], ...]
    gc_collected: int
    triggered: bool

    @property
    def freed_bytes(self) -> int:
        """Total bytes the caches reported freeing."""
        return sum(freed for _, freed in self.freed_by_cache)

    def __str__(self) -> str:
        rss = f"RSS {self.rss_before_bytes / _MIB:,.1f} MiB"
        limit = f"threshold {self.threshold_bytes / _MIB:,.1f} MiB"
        if not self.triggered:
            return f"memory check: {rss} <= {limit}, nothing to do"
        caches = ", ".join(f"{name} {freed / _MIB:,.1f} MiB" for name, freed in self.freed_by_cache)
        return (
            f"memory check: {rss} > {limit}; freed {self.freed_bytes / _MIB:,.1f} MiB"
            f" ({caches or 'no caches'}), gc collected {self.gc_collected:,} objects,"
            f" RSS now {self.rss_after_bytes / _MIB:,.1f} MiB"
        )


def _process_rss() -> Callable[[], int]:
    process = psutil.Process()
    return lambda: int(process.memory_info().rss)


class MemoryOptimizer:
    """A watchdog that trims registered caches and collects garbage past an RSS threshold.

    Parameters
    ----------
    gc_threshold_mb : float, default 512
        RSS above which a pass trims caches, in MiB (2**20 bytes).
    target_fraction : float, default 0.8
        Trim until the caches have freed enough to bring RSS to this fraction of the
        threshold, in (0, 1] (hysteresis, so a pass is not triggered again at once).
    rss : callable, optional
        Returns the resident set size in bytes; default psutil for this process.
    clock : callable, default time.monotonic
        Seconds, stamped on each report.
    collect : callable, default gc.collect
        The garbage collection to run after trimming; returns objects collected.
    history : int, default 100
        How many triggered reports to keep.

    Examples
    --------
    >>> watchdog = MemoryOptimizer(gc_threshold_mb=1024)  # doctest: +SKIP
    >>> watchdog.register(quote_cache)  # any Trimmable  # doctest: +SKIP
    >>> watchdog.start(interval_s=60.0)  # doctest: +SKIP
    """

    def __init__(
        self,
        gc_threshold_mb: float = 512.0,
        *,
        target_fraction: float = 0.8,
        rss: Callable[[], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
        collect: Callable[[], int] = gc.collect,
        history: int = 100,
    ) -> None:
        if isinstance(gc_threshold_mb, bool) or not isinstance(gc_threshold_mb, int | float):
            raise TypeError(f"gc_threshold_mb: expected a number of MiB, got {gc_threshold_mb!r}")
        if not (math.isfinite(gc_threshold_mb) and gc_threshold_mb > 0):
            raise ValueError(
                f"gc_threshold_mb: expected a finite number > 0, got {gc_threshold_mb!r}"
            )
        if not (isinstance(target_fraction, int | float) and 0 < target_fraction <= 1):
            raise ValueError(
                f"target_fraction: expected a number in (0, 1], got {target_fraction!r}"
            )
        self.threshold_bytes = int(gc_threshold_mb * _MIB)
        self.target_bytes = int(self.threshold_bytes * target_fraction)
        self._rss = rss if rss is not None else _process_rss()
        self._clock = clock
        self._collect = collect
        self._caches: list[Trimmable] = []
        self._history: deque[TrimReport] = deque(maxlen=history)
        self._last: TrimReport | None = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: Exception | None = None

    def optimize_dataframe(
        self, df: pd.DataFrame, **options: Any
    ) -> tuple[pd.DataFrame, OptimizationReport]:
        """:func:`optimize_dataframe` (the brief's ``memory_optimizer.optimize_dataframe``);
        ``options`` are its keyword arguments."""
        return optimize_dataframe(df, **options)

    def register(self, cache: Trimmable) -> Trimmable:
        """Add a cache to trim; returns it.

        Raises
        ------
        TypeError
            ``cache`` does not have ``name``, ``current_bytes`` and ``trim``.
        ValueError
            A cache with the same name is already registered.
        """
        if not isinstance(cache, Trimmable):
            raise TypeError(
                f"cache: expected a Trimmable (name, current_bytes(), trim(bytes_to_free)),"
                f" got {type(cache).__name__}"
            )
        with self._lock:
            if any(c.name == cache.name for c in self._caches):
                raise ValueError(f"cache: a cache named {cache.name!r} is already registered")
            self._caches.append(cache)
        return cache

    def unregister(self, name: str) -> None:
        """Remove the cache called ``name`` (no error when it is not registered)."""
        with self._lock:
            self._caches = [c for c in self._caches if c.name != name]

    @property
    def caches(self) -> tuple[Trimmable, ...]:
        """The registered caches, in registration order."""
        return tuple(self._caches)

    @property
    def history(self) -> tuple[TrimReport, ...]:
        """The most recent triggered passes, oldest first."""
        return tuple(self._history)

    @property
    def last_report(self) -> TrimReport | None:
        """The latest pass, triggered or not."""
        return self._last

    @property
    def running(self) -> bool:
        """Whether the background thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def check(self) -> TrimReport:
        """Run one pass: measure RSS and, above the threshold, trim caches and collect.

        Returns
        -------
        TrimReport
            What was measured and freed (``triggered`` is false under the threshold).
        """
        with self._lock:
            at_s = self._clock()
            before = int(self._rss())
            if before <= self.threshold_bytes:
                report = TrimReport(
                    at_s, before, before, self.threshold_bytes, self.target_bytes, (), 0, False
                )
            else:
                freed = self._trim(before - self.target_bytes)
                collected = int(self._collect())
                report = TrimReport(
                    at_s,
                    before,
                    int(self._rss()),
                    self.threshold_bytes,
                    self.target_bytes,
                    freed,
                    collected,
                    True,
                )
                self._history.append(report)
            self._last = report
            return report

    def _trim(self, to_free: int) -> tuple[tuple[str, int], ...]:
        # largest first; sorted() is stable, so equal sizes keep registration order
        sized = sorted(((c.current_bytes(), c) for c in self._caches), key=lambda p: -p[0])
        freed: list[tuple[str, int]] = []
        for size, cache in sized:
            if to_free <= 0:
                break
            if size <= 0:
                continue
            got = max(0, int(cache.trim(to_free)))
            freed.append((cache.name, got))
            to_free -= got
        return tuple(freed)

    def start(self, interval_s: float = 60.0) -> None:
        """Check now and then every ``interval_s`` seconds on a daemon thread.

        Raises
        ------
        ValueError
            ``interval_s`` is not a positive finite number.
        RuntimeError
            The thread is already running.
        """
        if not (isinstance(interval_s, int | float) and 0 < interval_s < math.inf):
            raise ValueError(f"interval_s: expected a number of seconds > 0, got {interval_s!r}")
        with self._lock:
            if self.running:
                raise RuntimeError("MemoryOptimizer: the watchdog thread is already running")
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run,
                args=(float(interval_s), self._stop),
                name="greekfire-memory-watchdog",
                daemon=True,
            )
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the background thread and wait up to ``timeout_s`` for it (no-op if idle)."""
        thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    def _run(self, interval_s: float, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.check()
            except Exception as exc:  # a thread boundary: a failing cache must not end it
                self.last_error = exc
                _log.exception("memory watchdog pass failed")
            stop.wait(interval_s)
