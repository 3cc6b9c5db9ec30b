"""HistoryStore: a local Parquet store of bars that the pipeline consults before any provider.

Layout
------
::

    <root>/<timeframe>/<SYMBOL>.parquet         the bars (one file per symbol and timeframe)
    <root>/<timeframe>/<SYMBOL>.coverage.json   the ranges already fetched ("covered")

The Parquet file holds a ``timestamp`` column (``timestamp[ns, UTC]``, the bar start, strictly
increasing) and the float64 bar columns of :mod:`greekfire.domain.market` (``BAR_COLUMNS``, plus
``vwap``/``trade_count`` once any batch had them); other columns are not stored. Rows are
written in row groups of ``row_group_rows`` rows with min/max statistics, so :meth:`read`
opens the file memory-mapped, picks only the row groups whose timestamp range meets the request
and reads only the requested columns.

The coverage file is ``{"version": 1, "symbol": ..., "timeframe": ..., "ranges": [[start_ns,
end_ns], ...]}``: merged, sorted, half-open UTC nanosecond intervals. *Covered* is not *has
rows*: a weekend or a holiday is covered once asked, so it is never asked again. A batch in
which validation rejected rows is stored (its good rows) but its range is **not** marked covered,
so the bad bars are asked for again next time instead of leaving a silent hole.

Atomicity
---------
Every file is replaced, never modified in place: the new content goes to a temporary file in the
same directory (``.<name>.<random>.tmp``), is flushed and ``fsync``-ed, then ``os.replace``-d
over the old name (atomic on POSIX and Windows within one file system), and the directory is
``fsync``-ed. A crash at any point leaves either the old file or the new one, never a mix; a
failed write removes its temporary file, and temporary files left by a killed process are ignored
by readers and removed when a store is opened on that root. The data file is replaced *before*
the coverage file: a crash between the two leaves rows without coverage, which is safe (that
range is fetched again and merged idempotently), whereas the other order could record coverage
for rows that were never stored.

Merging and conflicts
---------------------
A write validates the batch with :func:`~greekfire.data.validate.validate_bars` (bad rows are
dropped and reported, or raise in strict mode), then merges it with the stored rows. A new row
identical to a stored one is a dropped duplicate. A new row whose timestamp is stored with
different values is a *conflict*: the stored row is kept (history is not rewritten silently) and
the new one is reported in ``BarReport.rejected`` with the reason ``"conflicts with stored bar
(stored kept)"``. Conflicts do not stop the range from being marked covered: the stored bar
covers that timestamp. To replace history, delete the two files.

Concurrency
-----------
A ``threading.Lock`` per (symbol, timeframe) serialises writers within one process; readers take
no lock (they see the old or the new file, both complete). Concurrent *writers in different
processes* on the same root are not supported: the last replace wins and may drop the other's
rows (not corrupt them). Run one writer process per root.

A corrupt or unreadable coverage file raises :class:`CoverageError` (a ``DataQualityError``)
naming the file; the store does not guess. Deleting that file is always safe: the ranges are
fetched again and merged.
"""

from __future__ import annotations

import asyncio
import difflib
import importlib
import json
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from greekfire.data.port import MarketDataProvider, empty_bars, to_utc
from greekfire.data.validate import BarReport, validate_bars
from greekfire.domain.market import BAR_COLUMNS, BAR_OPTIONAL_COLUMNS, Timeframe
from greekfire.errors import DataQualityError

__all__ = ["CoverageError", "HistoryStore", "Interval"]

# pyarrow is an optional dependency of greekfire (untyped): HistoryStore needs it.
try:
    pa: Any = importlib.import_module("pyarrow")
    pq: Any = importlib.import_module("pyarrow.parquet")
except ImportError:  # pragma: no cover - exercised only without pyarrow
    pa = pq = None

Interval = tuple[pd.Timestamp, pd.Timestamp]
"""A half-open UTC range ``[start, end)``."""

_NsInterval = tuple[int, int]
_SCHEMA = BAR_COLUMNS + BAR_OPTIONAL_COLUMNS
_SYMBOL = re.compile(r"^[A-Za-z0-9^][A-Za-z0-9._^=\-]{0,63}$")
_COVERAGE_VERSION = 1
_CONFLICT = "conflicts with stored bar (stored kept)"
_ROW = "__history_row"


class CoverageError(DataQualityError):
    """The coverage record of a dataset is unreadable; ``path`` names the file."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"{path}: corrupt coverage record ({reason}); delete it to fetch the ranges again"
        )
        self.path = path


class HistoryStore:
    """A local Parquet store of bars, one dataset per symbol and timeframe.

    See the module docstring for the layout, the atomicity argument and the conflict policy.

    Parameters
    ----------
    root
        Directory of the store (created when missing).
    row_group_rows
        Rows per Parquet row group: the unit that :meth:`read` skips or reads.
    """

    def __init__(self, root: str | os.PathLike[str], *, row_group_rows: int = 65_536) -> None:
        if row_group_rows < 1:
            raise ValueError(f"row_group_rows: expected a positive int, got {row_group_rows!r}")
        if pq is None:  # pragma: no cover - exercised only without pyarrow
            raise ImportError("HistoryStore needs pyarrow: pip install 'pyarrow>=15'")
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.row_group_rows = row_group_rows
        self._locks: dict[tuple[str, Timeframe], threading.Lock] = {}
        self._locks_guard = threading.Lock()
        # Temporary files of a process killed mid-write: never read, safe to remove now.
        for stale in self.root.glob("*/.*.tmp"):
            stale.unlink(missing_ok=True)

    # ----------------------------------------------------------------- paths
    def data_path(self, symbol: str, timeframe: Timeframe | str) -> Path:
        """Path of the Parquet file of ``symbol`` at ``timeframe``.

        Raises
        ------
        ValueError
            ``symbol`` is empty, contains a path separator, ``..`` or characters outside
            ``A-Z a-z 0-9 . _ ^ = -``, or the timeframe is unknown.
        """
        return self._dir(timeframe) / f"{_check_symbol(symbol)}.parquet"

    def coverage_path(self, symbol: str, timeframe: Timeframe | str) -> Path:
        """Path of the JSON coverage record of ``symbol`` at ``timeframe``."""
        return self._dir(timeframe) / f"{_check_symbol(symbol)}.coverage.json"

    def _dir(self, timeframe: Timeframe | str) -> Path:
        return self.root / Timeframe.parse(timeframe).value

    # -------------------------------------------------------------- coverage
    def coverage(self, symbol: str, timeframe: Timeframe | str) -> list[Interval]:
        """The merged, sorted ranges already fetched, as half-open UTC ``(start, end)`` pairs.

        Raises
        ------
        CoverageError
            The coverage file exists but is not a valid record.
        """
        return [_stamps(iv) for iv in self._coverage_ns(symbol, timeframe)]

    def missing(
        self, symbol: str, start: datetime, end: datetime, timeframe: Timeframe | str
    ) -> list[Interval]:
        """The sub-ranges of ``[start, end)`` not yet covered, sorted; empty when all is.

        Raises
        ------
        ValueError
            Naive datetimes, ``start > end``, a bad symbol or timeframe.
        """
        lo, hi = _range_ns(start, end)
        covered = self._coverage_ns(symbol, timeframe)
        return [_stamps(iv) for iv in _gaps(covered, lo, hi)]

    def _coverage_ns(self, symbol: str, timeframe: Timeframe | str) -> list[_NsInterval]:
        path = self.coverage_path(symbol, timeframe)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        try:
            record = json.loads(text)
            ranges = record["ranges"]
            if record.get("version") != _COVERAGE_VERSION or not isinstance(ranges, list):
                raise ValueError(f"expected version {_COVERAGE_VERSION} with a list of ranges")
            pairs = [(_as_int(a), _as_int(b)) for a, b in ranges]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CoverageError(path, str(exc) or type(exc).__name__) from exc
        if any(a >= b for a, b in pairs):
            raise CoverageError(path, "a range with start >= end")
        return _merge_intervals(pairs)

    # ------------------------------------------------------------------ read
    def read(
        self,
        symbol: str,
        start: datetime,
        end: datetime,
        timeframe: Timeframe | str,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Stored bars of ``symbol`` whose start lies in ``[start, end)``.

        Only the row groups whose timestamp statistics meet the range are read, from a
        memory-mapped file, and only ``columns``.

        Parameters
        ----------
        columns
            Bar columns to return (the ``timestamp`` index always comes); all stored ones when
            ``None``. A schema column never stored (``vwap``) comes back as NaN.

        Returns
        -------
        pd.DataFrame
            UTC ns ``timestamp`` index, float64 columns; the schema of
            :func:`~greekfire.data.port.empty_bars` (projected) when nothing is stored.

        Raises
        ------
        ValueError
            Naive datetimes, ``start > end``, bad symbol or timeframe, an unknown column.
        """
        lo, hi = _range_ns(start, end)
        path = self.data_path(symbol, timeframe)
        if not path.exists():
            return _project(empty_bars(), columns, list(BAR_COLUMNS))
        parquet = pq.ParquetFile(path, memory_map=True)
        stored = [n for n in parquet.schema_arrow.names if n != "timestamp"]
        wanted = _columns(columns, stored)
        groups = _row_groups(parquet.metadata, lo, hi)
        if not groups or lo >= hi:
            return _project(empty_bars(optional=True), wanted, stored)
        present = [c for c in wanted if c in stored]
        table = parquet.read_row_groups(groups, columns=["timestamp", *present])
        frame = _from_table(table).reindex(columns=wanted)
        stamps = pd.DatetimeIndex(frame.index).asi8
        return frame.iloc[np.searchsorted(stamps, lo) : np.searchsorted(stamps, hi)]

    def _read_all(self, path: Path) -> pd.DataFrame | None:
        if not path.exists():
            return None
        return _from_table(pq.read_table(path, memory_map=True))

    # ----------------------------------------------------------------- write
    def write(
        self,
        symbol: str,
        timeframe: Timeframe | str,
        frame: pd.DataFrame,
        covered: tuple[datetime, datetime] | None = None,
        *,
        source: str = "history",
        strict: bool = False,
    ) -> BarReport:
        """Validate ``frame``, merge it into the stored bars and record ``covered``.

        Parameters
        ----------
        frame
            Bars with a tz-aware ``DatetimeIndex`` (see ``validate_bars``).
        covered
            The half-open range this batch answers (``[start, end)`` of the request); recorded
            only when validation rejected no row. ``None`` records nothing.
        source
            Named in the report (a provider name, a file path).
        strict
            Raise ``BarValidationError`` on any bad row; nothing is stored.

        Returns
        -------
        BarReport
            The report of ``validate_bars``, plus one rejected entry per conflict with a stored
            bar (reason ``"conflicts with stored bar (stored kept)"``).

        Raises
        ------
        BarValidationError
            ``strict`` and a row was rejected.
        CoverageError
            The existing coverage record is corrupt (checked before anything is written).
        OSError
            The file system failed; the stored files are unchanged.
        """
        cover = None if covered is None else _range_ns(*covered)
        symbol = _check_symbol(symbol)
        data_path = self.data_path(symbol, timeframe)
        tagged = frame.assign(**{_ROW: np.arange(1, len(frame) + 1, dtype=np.float64)})
        clean, report = validate_bars(tagged, source=source, symbol=symbol, strict=strict)
        with self._lock(symbol, timeframe):
            old_cover = self._coverage_ns(symbol, timeframe)
            merged, conflicts = _merge(self._read_all(data_path), clean)
            if len(merged) or data_path.exists():
                _atomic_write(data_path, lambda fh: self._write_table(fh, merged))
            if cover is not None and report.ok and cover[0] < cover[1]:
                ranges = _merge_intervals([*old_cover, cover])
                record = _coverage_record(symbol, Timeframe.parse(timeframe), ranges)
                path = self.coverage_path(symbol, timeframe)
                _atomic_write(path, lambda fh: fh.write(record.encode("utf-8")))
        return _with_conflicts(report, conflicts, source)

    def _write_table(self, fh: BinaryIO, merged: pd.DataFrame) -> None:
        table = _to_table(merged)
        pq.write_table(table, fh, row_group_size=self.row_group_rows, write_statistics=True)

    def _lock(self, symbol: str, timeframe: Timeframe | str) -> threading.Lock:
        key = (symbol, Timeframe.parse(timeframe))
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    # ----------------------------------------------------------------- fetch
    async def fetch(
        self,
        provider: MarketDataProvider,
        symbol: str,
        start: datetime,
        end: datetime,
        timeframe: Timeframe | str,
    ) -> pd.DataFrame:
        """Bars of ``[start, end)``: ask ``provider`` only for the missing sub-ranges, store
        each answer with its range, return the whole range from disk.

        Provider errors (``TransientError``, ``ProviderError``, ``DataQualityError``) propagate;
        sub-ranges stored before the error stay stored and covered. Disk I/O runs in a worker
        thread so the event loop is not blocked. Two concurrent fetches of the same missing range
        may both ask the provider; the second write merges as identical duplicates.

        Raises
        ------
        ValueError
            Naive datetimes, ``start > end``, bad symbol or timeframe.
        """
        tf = Timeframe.parse(timeframe)
        for lo, hi in self.missing(symbol, start, end, tf):
            bars = await provider.bars(symbol, lo.to_pydatetime(), hi.to_pydatetime(), tf)
            await asyncio.to_thread(
                self.write, symbol, tf, bars, (lo.to_pydatetime(), hi.to_pydatetime()),
                source=provider.name,
            )  # fmt: skip
        return await asyncio.to_thread(self.read, symbol, start, end, tf)


# --------------------------------------------------------------------- helpers
def _check_symbol(symbol: str) -> str:
    if not isinstance(symbol, str):
        raise TypeError(f"symbol: expected a str, got {type(symbol).__name__}")
    name = symbol.strip()
    if not _SYMBOL.fullmatch(name) or ".." in name:
        raise ValueError(
            f"symbol: {symbol!r} is not a safe file name (letters, digits, '.', '_', '^', '=',"
            " '-'; no path separators, no '..', at most 64 characters)"
        )
    return name


def _range_ns(start: datetime, end: datetime) -> _NsInterval:
    lo, hi = to_utc(start, "start"), to_utc(end, "end")
    if lo > hi:
        raise ValueError(f"start {lo} is after end {hi}; the range is [start, end)")
    return int(lo.value), int(hi.value)


def _stamps(interval: _NsInterval) -> Interval:
    return pd.Timestamp(interval[0], tz="UTC"), pd.Timestamp(interval[1], tz="UTC")


def _as_int(value: object) -> int:
    # JSON ints only: a float or a string in the record means it was not written by us.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected integer nanoseconds, got {value!r}")
    return value


def _merge_intervals(intervals: Iterable[_NsInterval]) -> list[_NsInterval]:
    merged: list[_NsInterval] = []
    for lo, hi in sorted(iv for iv in intervals if iv[0] < iv[1]):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _gaps(covered: list[_NsInterval], lo: int, hi: int) -> list[_NsInterval]:
    gaps: list[_NsInterval] = []
    cursor = lo
    for a, b in covered:
        if b <= cursor or a >= hi:
            continue
        if a > cursor:
            gaps.append((cursor, a))
        cursor = max(cursor, b)
    if cursor < hi:
        gaps.append((cursor, hi))
    return gaps


def _coverage_record(symbol: str, timeframe: Timeframe, ranges: list[_NsInterval]) -> str:
    record = {
        "version": _COVERAGE_VERSION,
        "symbol": symbol,
        "timeframe": timeframe.value,
        "ranges": [list(iv) for iv in ranges],
        "ranges_utc": [[_stamps(iv)[0].isoformat(), _stamps(iv)[1].isoformat()] for iv in ranges],
    }
    return json.dumps(record, indent=1)


def _columns(columns: Sequence[str] | None, stored: list[str]) -> list[str]:
    if columns is None:
        return stored
    if isinstance(columns, str):
        raise TypeError(f"columns: expected a list of names, got the string {columns!r}")
    known = list(_SCHEMA)
    for name in columns:
        if name not in known:
            hints = difflib.get_close_matches(str(name), known, n=1)
            hint = f" (did you mean {hints[0]!r}?)" if hints else ""
            raise ValueError(f"columns: unknown bar column {name!r}; known {known}{hint}")
    return list(columns)


def _project(frame: pd.DataFrame, columns: Sequence[str] | None, stored: list[str]) -> pd.DataFrame:
    wanted = list(columns) if columns is not None else stored
    _columns(wanted, list(_SCHEMA))
    out = frame.reindex(columns=wanted)
    return out.astype(np.float64) if len(wanted) else out


def _row_groups(metadata: Any, lo: int, hi: int) -> list[int]:
    # Rows are sorted, so each group's min/max statistics bound its timestamps.
    ts_column = metadata.schema.to_arrow_schema().get_field_index("timestamp")
    groups = []
    for i in range(metadata.num_row_groups):
        stats = metadata.row_group(i).column(ts_column).statistics
        unknown = stats is None or not stats.has_min_max
        if unknown or (int(stats.min_raw) < hi and int(stats.max_raw) >= lo):
            groups.append(i)
    return groups


def _from_table(table: Any) -> pd.DataFrame:
    frame: pd.DataFrame = table.to_pandas()
    index = pd.DatetimeIndex(frame.pop("timestamp")).tz_convert("UTC").as_unit("ns")
    frame.index = index.rename("timestamp")
    return frame.astype(np.float64)


def _to_table(frame: pd.DataFrame) -> Any:
    columns = [c for c in _SCHEMA if c in frame.columns]
    fields = [pa.field("timestamp", pa.timestamp("ns", tz="UTC"), nullable=False)]
    fields += [pa.field(c, pa.float64()) for c in columns]
    stamps = pd.DatetimeIndex(frame.index).as_unit("ns").asi8
    arrays = [pa.array(stamps, type=pa.int64()).cast(fields[0].type)]
    arrays += [pa.array(frame[c].to_numpy(dtype=np.float64)) for c in columns]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _merge(stored: pd.DataFrame | None, clean: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    # Returns (merged rows to store, conflicting new rows with their source row numbers).
    rows = clean.pop(_ROW)
    new = clean[[c for c in _SCHEMA if c in clean.columns]]
    if stored is None or stored.empty:
        return new, new.iloc[:0].assign(**{_ROW: rows.iloc[:0]})
    clash = new.index.isin(stored.index)
    common = [c for c in new.columns if c in stored.columns]
    old = stored.reindex(new.index[clash])[common].to_numpy()
    fresh = new.loc[clash, common].to_numpy()
    same = ((old == fresh) | (np.isnan(old) & np.isnan(fresh))).all(axis=1)
    conflict = np.zeros(len(new), dtype=bool)
    conflict[np.flatnonzero(clash)[~same]] = True
    conflicts = new.loc[conflict].assign(**{_ROW: rows[conflict]})
    merged = pd.concat([stored, new.loc[~clash]]).sort_index(kind="stable")
    return merged, conflicts


def _with_conflicts(report: BarReport, conflicts: pd.DataFrame, source: str) -> BarReport:
    if conflicts.empty:
        return report
    extra = pd.DataFrame(
        {
            "row": conflicts[_ROW].to_numpy(dtype=np.int64),
            "timestamp": conflicts.index,
            "field": pd.array(["timestamp"] * len(conflicts), dtype="str"),
            "value": np.full(len(conflicts), np.nan),
            "reason": pd.array([_CONFLICT] * len(conflicts), dtype="str"),
            "bound": np.full(len(conflicts), np.nan),
        }
    )
    parts = [f for f in (report.rejected, extra) if not f.empty]
    rejected = pd.concat(parts).sort_values("row", kind="stable").reset_index(drop=True)
    return BarReport(
        source=source,
        symbol=report.symbol,
        rows_in=report.rows_in,
        rows_out=report.rows_out - len(conflicts),
        duplicates=report.duplicates,
        rejected=rejected,
    )


def _atomic_write(path: Path, fill: Callable[[BinaryIO], object]) -> None:
    # fill(fh) writes the whole content; the old file stays until os.replace succeeds.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fill(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename durable; directories cannot be opened this way on Windows.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
