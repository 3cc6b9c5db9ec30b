"""``FileProvider``: OHLCV bars from CSV and Parquet files, validated, in the domain schema.

Layouts
-------
Per symbol
    One file per symbol, found under ``root`` (recursively) by name, any case: ``SPY.csv``,
    ``spy.parquet``, ``SPY_1d.csv`` (a timeframe suffix: ``_1m``, ``_5m``, ``_15m``, ``_1h``,
    ``_1d`` and the spellings of ``Timeframe.parse``), Stooq's ``spy.us.txt``. Extensions:
    ``.csv``, ``.txt``, ``.parquet``, ``.pq``.
Long file
    One file with a ``symbol`` / ``ticker`` column holding many symbols (matched any case).
``layout="auto"`` looks for a per-symbol file first, then in long files.

Columns (matched case-insensitively, ignoring spaces, ``_``, ``-`` and Stooq's ``<>``)
-------------------------------------------------------------------------------------
Time: ``Date``, ``Datetime``, ``Timestamp``, ``Time``, ``ts`` (``Date`` + ``Time`` are combined);
``open``/``o``, ``high``/``h``, ``low``/``l``, ``close``/``c``, ``volume``/``vol``/``v``,
``Adj Close``, ``vwap``, ``trade_count``/``trades``, ``symbol``/``ticker``. Other columns are
ignored. ``volume`` may be absent (index files): it is then NaN, as the domain schema allows.
Yahoo's ``Adj Close`` is never used for OHLC (``close`` is the traded close, consistent with
``open``/``high``/``low``); it is kept as an extra float64 column ``adj_close`` after the schema
columns.

Timestamps
----------
ISO 8601 text (``2024-01-02``, ``2024-01-02 09:30:00``, ``...T09:30:00-05:00``, ``...Z``),
Stooq's ``YYYYMMDD`` with an optional ``HHMMSS`` time column, Parquet timestamp and date types.
Session dates: when every row is a date with no time, or a time of exactly midnight (in its own
offset), the file holds daily bars and each is stamped **00:00 UTC of that date** (the date is
the session's, never shifted by ``timezone``). Otherwise timestamps with an offset are converted
to UTC, and naive ones are wall times in ``timezone`` (default UTC) converted to UTC; a wall time
that does not exist or is ambiguous in ``timezone`` is a ``ParseError``. Epoch numbers are not
supported.

Requests
--------
``bars(symbol, start, end, timeframe)`` returns bars whose start lies in ``[start, end)``.
A coarser timeframe than stored is aggregated (open first, high max, low min, close last,
volume and trade_count summed, vwap volume-weighted, adj_close last) into clock-aligned UTC bins;
daily bars from intraday data group by the calendar date in ``timezone`` and are stamped 00:00
UTC of that date. A finer timeframe than stored is a ``ProviderError``. Only the rows serving the
request are validated (with :func:`~greekfire.data.validate.validate_bars`); with
``strict=True`` (the default) one bad row fails the request and nothing is returned.
``latest_quotes`` gives, per symbol, the close of the last bar of the file as ``last`` (and its
bar start as ``timestamp``) with NaN bid/ask and sizes: files hold no quotes.
``option_chain`` raises ``ProviderError``.

Errors
------
``ProviderError``: no file for the symbol (names the patterns and files tried), a finer timeframe
than stored, option chains. ``ParseError``: unreadable file, missing required columns (names the
file, the columns found and a did-you-mean), text in a numeric or time field (names the file, the
1-based data row, the CSV line, the column and the text). ``BarValidationError`` (a
``DataQualityError``): bad values; its ``report`` lists every rejected row.

Memory: only the needed columns are read (pyarrow, multithreaded), as Arrow strings for CSV, and
the parsed frame of the last ``cache_size`` files is kept (invalidated when a file changes).
"""

from __future__ import annotations

import asyncio
import csv
import difflib
import importlib
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from greekfire.data.port import BarRequest, ChainFilter, empty_quotes
from greekfire.data.validate import BarReport, validate_bars
from greekfire.domain.market import BAR_COLUMNS, BAR_OPTIONAL_COLUMNS, Timeframe
from greekfire.errors import ParseError, ProviderError

__all__ = ["FileProvider"]

# pyarrow is an optional dependency of greekfire (untyped): FileProvider needs it.
try:
    pa: Any = importlib.import_module("pyarrow")
    pc: Any = importlib.import_module("pyarrow.compute")
    pacsv: Any = importlib.import_module("pyarrow.csv")
    pq: Any = importlib.import_module("pyarrow.parquet")
except ImportError:  # pragma: no cover - exercised only without pyarrow
    pa = pc = pacsv = pq = None

_SUFFIXES = (".csv", ".txt", ".parquet", ".pq")
_NULLS = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "#N/A", "-"]
_ALIASES: dict[str, tuple[str, ...]] = {
    "datetime": ("datetime", "timestamp", "ts", "datetimeutc", "timestamputc"),
    "date": ("date", "day", "sessiondate"),
    "time": ("time",),
    "open": ("open", "o", "openprice"),
    "high": ("high", "h", "highprice"),
    "low": ("low", "l", "lowprice"),
    "close": ("close", "c", "closeprice"),
    "volume": ("volume", "vol", "v"),
    "adj_close": ("adjclose", "adjustedclose", "adjcl"),
    "vwap": ("vwap",),
    "trade_count": ("tradecount", "trades", "numtrades", "transactions"),
    "symbol": ("symbol", "ticker", "sym"),
}
_NUMERIC = ("open", "high", "low", "close", "volume", "adj_close", "vwap", "trade_count")
_REQUIRED = ("open", "high", "low", "close")
_MIDNIGHT = r"^\d{4}-?\d{2}-?\d{2}([ T]00:00(:00(\.0+)?)?)?(Z|[+-]\d{2}:?\d{2})?$"
_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _key(name: str) -> str:
    return re.sub(r"[\s_<>\-]", "", name.strip().lower())


@dataclass(frozen=True, slots=True)
class _Columns:
    # Canonical name -> the file's own spelling.
    names: dict[str, str]
    found: tuple[str, ...]

    @classmethod
    def of(cls, found: Sequence[str], path: Path) -> _Columns:
        keys = {_key(f): f for f in found}
        names = {c: keys[a] for c, aliases in _ALIASES.items() for a in aliases[::-1] if a in keys}
        missing = [c for c in _REQUIRED if c not in names]
        if not ({"datetime", "date", "time"} & names.keys()):
            missing.insert(0, "date/datetime/timestamp")
        if missing:
            raise ParseError(
                f"{path}: missing columns {missing}; found {list(found)}{_hint(found)}"
            )
        return cls(names, tuple(found))


def _hint(found: Sequence[str]) -> str:
    known = [a for aliases in _ALIASES.values() for a in aliases if len(a) > 2]
    pairs = []
    for name in found:
        match = difflib.get_close_matches(_key(name), known, n=1, cutoff=0.75)
        if match and _key(name) != match[0]:
            pairs.append(f"{name!r} -> {match[0]!r}")
    return f" (did you mean {', '.join(pairs)}?)" if pairs else ""


@dataclass(frozen=True, slots=True)
class _Parsed:
    # One symbol's rows from one file: naive-free UTC index (NaT where missing), source rows.
    frame: pd.DataFrame
    rows: IntArray
    session: bool


class FileProvider:
    """Bars from CSV/Parquet files; implements :class:`~greekfire.data.port.MarketDataProvider`.

    Parameters
    ----------
    root_or_paths
        A directory (searched recursively), one file, or a sequence of files.
    timezone
        Zone of naive intraday wall times in the files (``"America/New_York"``).
    layout
        ``"auto"``, ``"per_symbol"`` or ``"long"`` (see the module docstring).
    strict
        One bad row fails a request (``BarValidationError``); ``False`` drops bad rows and
        reports them through :meth:`read_bars`.
    cache_size
        Parsed files kept in memory (0 disables the cache).
    """

    name = "files"

    def __init__(
        self,
        root_or_paths: str | PathLike[str] | Sequence[str | PathLike[str]],
        *,
        timezone: str = "UTC",
        layout: str = "auto",
        strict: bool = True,
        cache_size: int = 4,
    ) -> None:
        if pa is None:  # pragma: no cover
            raise ImportError("FileProvider needs pyarrow: pip install 'pyarrow>=15'")
        if layout not in ("auto", "per_symbol", "long"):
            raise ValueError(f"layout: expected 'auto', 'per_symbol' or 'long', got {layout!r}")
        pd.Timestamp("2000-01-01").tz_localize(timezone)  # unknown zone: fail here, not later
        self.timezone = timezone
        self.layout = layout
        self.strict = strict
        self._files, self._root = _discover(root_or_paths)
        self._cache: OrderedDict[tuple[Path, str], tuple[tuple[int, int], _Parsed]] = OrderedDict()
        self._cache_size = cache_size
        self._headers: dict[Path, _Columns] = {}

    async def bars(
        self, symbol: str, start: datetime, end: datetime, timeframe: Timeframe
    ) -> pd.DataFrame:
        """Bars of ``symbol`` starting in ``[start, end)``; see :meth:`read_bars`."""
        frame, _ = await asyncio.to_thread(self.read_bars, symbol, start, end, timeframe)
        return frame

    async def latest_quotes(self, symbols: Sequence[str]) -> pd.DataFrame:
        """Per symbol, the last bar's close as ``last``; bid, ask and sizes NaN."""
        return await asyncio.to_thread(self._latest, list(symbols))

    async def option_chain(
        self, underlying: str, chain_filter: ChainFilter | None = None
    ) -> pd.DataFrame:
        """Not supported by files: always raises ``ProviderError``."""
        raise ProviderError(f"files: option chains are not supported by files ({underlying!r})")

    def read_bars(
        self, symbol: str, start: datetime, end: datetime, timeframe: Timeframe | str
    ) -> tuple[pd.DataFrame, BarReport]:
        """Synchronous ``bars`` that also returns the validation report.

        Returns
        -------
        (pd.DataFrame, BarReport)
            Bars (``BAR_COLUMNS``, optional columns the file has, ``adj_close``) and the report
            of the rows that served the request (before any aggregation).

        Raises
        ------
        ValueError, ProviderError, ParseError, BarValidationError
            See the module docstring.
        """
        request = BarRequest.of(symbol, start, end, timeframe)
        path, tagged, long = self._locate(request.symbol, request.timeframe)
        parsed = self._parse(path, request.symbol if long else None)
        stored_s = tagged.seconds if tagged is not None else _stored_seconds(parsed)
        if request.timeframe.seconds < stored_s:
            raise ProviderError(
                f"files: {path} holds {stored_s}-second bars of {request.symbol};"
                f" cannot serve the finer timeframe {request.timeframe.value!r}"
            )
        resample = request.timeframe.seconds > stored_s
        index = parsed.frame.index
        bins = _bin_starts(index, request.timeframe, self.timezone) if resample else index
        take = np.asarray(((bins >= request.start) & (bins < request.end)) | index.isna())
        frame, report = validate_bars(
            parsed.frame.loc[take],
            source=str(path),
            symbol=request.symbol,
            strict=self.strict,
            source_rows=parsed.rows[take],
        )
        if resample:
            frame = _resample(frame, _bin_starts(frame.index, request.timeframe, self.timezone))
        return frame, report

    def _latest(self, symbols: list[str]) -> pd.DataFrame:
        found: list[tuple[str, pd.Timestamp, float]] = []
        for symbol in symbols:
            path, _, long = self._locate(symbol.strip(), Timeframe.D1)
            parsed = self._parse(path, symbol.strip() if long else None)
            frame, _ = validate_bars(
                parsed.frame,
                source=str(path),
                symbol=symbol,
                strict=self.strict,
                source_rows=parsed.rows,
            )
            if not frame.empty:
                found.append((symbol, frame.index[-1], float(frame["close"].iloc[-1])))
        if not found:
            return empty_quotes()
        out = empty_quotes().reindex(pd.Index([f[0] for f in found], dtype="str", name="symbol"))
        out["timestamp"] = pd.DatetimeIndex([f[1] for f in found]).as_unit("ns")
        out["last"] = [f[2] for f in found]
        return out

    # -- locating files ----------------------------------------------------------------------

    def _locate(self, symbol: str, timeframe: Timeframe) -> tuple[Path, Timeframe | None, bool]:
        # (file, timeframe named in the file name, whether it is a long file)
        if self.layout != "long":
            found = self._per_symbol(symbol, timeframe)
            if found is not None:
                return found[0], found[1], False
        if self.layout != "per_symbol":
            for path in self._files:
                if self._is_long(path) and not self._parse(path, symbol).frame.empty:
                    return path, None, True
        where = f"under {self._root}" if self._root is not None else "among the given files"
        raise ProviderError(
            f"files: no data for symbol {symbol!r}: tried {where}"
            f" {symbol}[_<timeframe>].{{csv,txt,parquet,pq}} (any case, Stooq's"
            f" {symbol.lower()}.us.txt) and long files with a symbol column;"
            f" files: {[str(p) for p in self._files[:10]]}"
        )

    def _per_symbol(
        self, symbol: str, timeframe: Timeframe
    ) -> tuple[Path, Timeframe | None] | None:
        want = symbol.lower()
        matches = [(p, tf) for p in self._files for s, tf in [_name_key(p)] if s == want]
        if not matches:
            return None
        exact = [m for m in matches if m[1] is timeframe]
        untagged = [m for m in matches if m[1] is None]
        finer = [m for m in matches if m[1] is not None and m[1].seconds < timeframe.seconds]
        finer.sort(key=_coarse_first)
        for group in (exact, untagged, finer):
            if group:
                return group[0]
        return matches[0]

    def _columns(self, path: Path) -> _Columns:
        if path not in self._headers:
            found = _header(path)
            self._headers[path] = _Columns.of(found, path)
        return self._headers[path]

    def _is_long(self, path: Path) -> bool:
        try:
            return "symbol" in self._columns(path).names
        except ParseError:
            return False

    # -- parsing -------------------------------------------------------------------------------

    def _parse(self, path: Path, symbol: str | None) -> _Parsed:
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        key = (path, "" if symbol is None else symbol.upper())
        hit = self._cache.get(key)
        if hit is not None and hit[0] == stamp:
            self._cache.move_to_end(key)
            return hit[1]
        parsed = _parse_file(path, self._columns(path), symbol, self.timezone)
        if self._cache_size > 0:
            self._cache[key] = (stamp, parsed)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return parsed


def _discover(
    root_or_paths: str | PathLike[str] | Sequence[str | PathLike[str]],
) -> tuple[list[Path], Path | None]:
    if isinstance(root_or_paths, str | PathLike):
        root = Path(root_or_paths)
        if root.is_dir():
            files = sorted(p for p in root.rglob("*") if p.suffix.lower() in _SUFFIXES)
            return files, root
        return [root], None
    return [Path(p) for p in root_or_paths], None


def _coarse_first(match: tuple[Path, Timeframe | None]) -> int:
    return -match[1].seconds if match[1] is not None else 0


def _name_key(path: Path) -> tuple[str, Timeframe | None]:
    # "SPY_1d.csv" -> ("spy", 1d); "spy.us.txt" -> ("spy", None); "BRK.B.csv" -> ("brk.b", None)
    stem = path.stem.lower()
    if stem.endswith(".us"):
        stem = stem[:-3]
    base, _, tail = stem.rpartition("_")
    if base:
        try:
            return base, Timeframe.parse(tail)
        except ValueError:
            pass
    return stem, None


def _header(path: Path) -> list[str]:
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return list(pq.read_schema(path).names)
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return [c.strip() for c in next(csv.reader(handle), [])]
    except (OSError, UnicodeDecodeError, pa.ArrowException) as exc:
        raise ParseError(f"{path}: cannot read the header: {exc}") from exc


def _read(path: Path, names: list[str]) -> Any:
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pq.read_table(path, columns=names)
        convert = pacsv.ConvertOptions(
            include_columns=names,
            column_types={n: pa.string() for n in names},
            strings_can_be_null=True,
            null_values=_NULLS,
        )
        return pacsv.read_csv(path, convert_options=convert)
    except (OSError, pa.ArrowException) as exc:
        raise ParseError(f"{path}: cannot read: {exc}") from exc


def _parse_file(path: Path, columns: _Columns, symbol: str | None, timezone: str) -> _Parsed:
    table = _read(path, sorted(set(columns.names.values())))
    rows = np.arange(1, table.num_rows + 1, dtype=np.int64)
    if symbol is not None:
        text = pc.utf8_upper(pc.utf8_trim_whitespace(table[columns.names["symbol"]]))
        wanted = pa.array([symbol.upper(), symbol.upper() + ".US"])  # Stooq's "SPY.US"
        mask = np.asarray(pc.fill_null(pc.is_in(text, value_set=wanted), False))
        table, rows = table.filter(pa.array(mask)), rows[mask]
    index, session = _timestamps(table, columns.names, path, rows, timezone)
    data = {
        c: _floats(table[columns.names[c]], path, columns.names[c], rows)
        for c in _NUMERIC
        if c in columns.names
    }
    if "volume" not in data:
        data["volume"] = np.full(len(rows), np.nan)
    order = [c for c in BAR_COLUMNS + BAR_OPTIONAL_COLUMNS + ("adj_close",) if c in data]
    return _Parsed(pd.DataFrame({c: data[c] for c in order}, index=index), rows, session)


def _bad_cell(
    path: Path, rows: IntArray, bad: npt.NDArray[np.bool_], column: str, texts: pd.Series, what: str
) -> ParseError:
    first = int(np.flatnonzero(bad)[0])
    row = int(rows[first])
    line = f", line {row + 1}" if path.suffix.lower() in (".csv", ".txt") else ""
    count = int(bad.sum())
    more = f" ({count} bad values in this column)" if count > 1 else ""
    return ParseError(
        f"{path}: row {row}{line}, column {column!r}: {what}: {texts.iloc[first]!r}{more}"
    )


def _floats(values: Any, path: Path, column: str, rows: IntArray) -> FloatArray:
    if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
        try:
            return np.asarray(pc.cast(values, pa.float64()).to_numpy(), dtype=np.float64)
        except pa.ArrowException as exc:
            raise ParseError(f"{path}: column {column!r}: not numeric ({values.type})") from exc
    try:
        return np.asarray(pc.cast(values, pa.float64()).to_numpy(), dtype=np.float64)
    except pa.ArrowInvalid:
        texts = pd.Series(values.to_pandas())
        numbers = pd.to_numeric(texts.str.strip(), errors="coerce")
        bad = np.asarray(numbers.isna() & texts.notna())
        if bad.any():
            raise _bad_cell(path, rows, bad, column, texts, "not a number") from None
        return numbers.to_numpy(dtype=np.float64, na_value=np.nan)


def _timestamps(
    table: Any, names: dict[str, str], path: Path, rows: IntArray, timezone: str
) -> tuple[pd.DatetimeIndex, bool]:
    column = names.get("datetime") or names.get("date") or names["time"]
    values = table[column]
    if "date" in names and "time" in names and "datetime" not in names:
        values = _join_date_time(values, table[names["time"]])
    if pa.types.is_date(values.type):
        return _session(pd.DatetimeIndex(values.to_pandas())), True
    if pa.types.is_timestamp(values.type):
        return _typed_times(pd.DatetimeIndex(values.to_pandas()), path, rows, column, timezone)
    texts = pd.Series(pc.cast(values, pa.string()).to_pandas()).str.strip()
    if bool(pc.all(pc.match_substring_regex(pa.array(texts.dropna()), _MIDNIGHT)).as_py()):
        dates = texts.str.replace("-", "").str.slice(0, 8)
        return _session(_parse_text(dates, "%Y%m%d", path, rows, column, shown=texts)), True
    if texts.str.fullmatch(r"\d{14}").all():
        wall = _parse_text(texts, "%Y%m%d%H%M%S", path, rows, column)
        return _wall(wall, path, rows, timezone, column), False
    first = texts.dropna().iloc[0] if texts.notna().any() else ""
    if _OFFSET.search(first):
        return _parse_text(texts, "ISO8601", path, rows, column, utc=True), False
    wall = _parse_text(texts, "ISO8601", path, rows, column)
    return _wall(wall, path, rows, timezone, column), False


def _join_date_time(dates: Any, times: Any) -> Any:
    # Stooq: YYYYMMDD + HHMMSS -> YYYYMMDDHHMMSS; generic: "2024-01-02" + "09:30" -> ISO text.
    d = pd.Series(pc.cast(dates, pa.string()).to_pandas()).str.strip()
    t = pd.Series(pc.cast(times, pa.string()).to_pandas()).str.strip().fillna("0")
    if d.str.fullmatch(r"\d{8}").all() and t.str.fullmatch(r"\d{1,6}").all():
        joined = d + t.str.zfill(6)
    else:
        joined = d + " " + t
    return pa.chunked_array([pa.array(joined, type=pa.string())])


def _parse_text(
    texts: pd.Series,
    fmt: str,
    path: Path,
    rows: IntArray,
    column: str,
    *,
    utc: bool = False,
    shown: pd.Series | None = None,
) -> pd.DatetimeIndex:
    # shown: the file's own text, when texts were rewritten before parsing
    parsed = pd.to_datetime(texts, format=fmt, errors="coerce", utc=utc)
    bad = np.asarray(parsed.isna() & texts.notna())
    if bad.any():
        raise _bad_cell(
            path, rows, bad, column, texts if shown is None else shown, "not a timestamp"
        )
    return pd.DatetimeIndex(parsed).as_unit("ns")


def _session(dates: pd.DatetimeIndex) -> pd.DatetimeIndex:
    naive = dates.tz_localize(None) if dates.tz is not None else dates
    return naive.normalize().tz_localize("UTC").as_unit("ns")


def _typed_times(
    index: pd.DatetimeIndex, path: Path, rows: IntArray, column: str, timezone: str
) -> tuple[pd.DatetimeIndex, bool]:
    valid = index.dropna()
    if len(valid) and (valid == valid.normalize()).all():
        return _session(index), True
    if index.tz is not None:
        return index.tz_convert("UTC").as_unit("ns"), False
    return _wall(index, path, rows, timezone, column), False


def _wall(
    index: pd.DatetimeIndex, path: Path, rows: IntArray, timezone: str, column: str
) -> pd.DatetimeIndex:
    local = index.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    lost = np.asarray(local.isna()) & ~np.asarray(index.isna())
    if lost.any():
        texts = pd.Series(index.astype(str))
        raise _bad_cell(path, rows, lost, column, texts, f"ambiguous or nonexistent in {timezone}")
    return local.tz_convert("UTC").as_unit("ns")


def _stored_seconds(parsed: _Parsed) -> int:
    if parsed.session:
        return Timeframe.D1.seconds
    stamps = np.unique(pd.DatetimeIndex(parsed.frame.index).dropna().asi8)
    if stamps.size < 2:
        return Timeframe.M1.seconds
    return int(np.median(np.diff(stamps)) // 1_000_000_000)


def _bin_starts(index: pd.Index, timeframe: Timeframe, timezone: str) -> pd.DatetimeIndex:
    times = pd.DatetimeIndex(index)
    if timeframe is Timeframe.D1:
        return _session(times.tz_convert(timezone).tz_localize(None))
    return times.floor(f"{timeframe.seconds}s")


def _resample(frame: pd.DataFrame, bins: pd.DatetimeIndex) -> pd.DataFrame:
    groups = frame.groupby(bins.rename("timestamp"), sort=True)
    out = pd.DataFrame(
        {
            "open": groups["open"].first(),
            "high": groups["high"].max(),
            "low": groups["low"].min(),
            "close": groups["close"].last(),
            "volume": groups["volume"].sum(min_count=1),
        }
    )
    if "vwap" in frame.columns:
        weighted = (
            (frame["vwap"] * frame["volume"]).groupby(bins.rename("timestamp")).sum(min_count=1)
        )
        out["vwap"] = weighted / out["volume"]
    if "trade_count" in frame.columns:
        out["trade_count"] = groups["trade_count"].sum(min_count=1)
    if "adj_close" in frame.columns:
        out["adj_close"] = groups["adj_close"].last()
    return out
