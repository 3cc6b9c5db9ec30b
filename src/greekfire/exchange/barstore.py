"""Bars of the synthetic market, pre-encoded as Alpaca JSON rows for fast serving.

Encoding
    One bar is ``{"t":"2024-01-02T05:00:00Z","o":..,"h":..,"l":..,"c":..,"v":..,"n":..,"vw":..}``
    with Alpaca's keys and no whitespace. Prices are the market's cent-rounded floats written by
    orjson (shortest round trip, so exact), ``v`` is the volume as an integer, ``vw`` the bar's
    vwap rounded to :data:`VWAP_DECIMALS` decimals (Alpaca sends a few decimals, not 17
    significant digits, and clients parse short decimals exactly on their fast path), ``n``
    the trade count, derived as ``ceil(v / 100)`` (Alpaca's bars carry one; the synthetic
    market has none). All rows of a symbol are built in one vectorised numpy pass (padded to
    a fixed width, then compacted) into a single ``bytes`` with an ``offsets`` array of row
    starts, so serving any range is one slice: no per-bar work per request.
Stamps
    Intraday bars: the bar start in UTC. Daily bars: Alpaca stamps them at midnight
    America/New_York of the session date, in UTC (``2024-01-02T05:00:00Z``, ``04:00Z`` in
    summer); the synthetic market stamps them 00:00 UTC of the session date, so they are moved.
Completed bars only
    A bar is served once it is complete at the simulated now: an intraday bar at its end
    (start + length, cut at the session close), a daily bar at the session close.
Caches
    Daily rows per symbol from the market's epoch through a month past the clock (rebuilt when
    the clock passes the last bar's close; :meth:`BarStore.warm` builds all symbols in one
    batch); intraday rows per (symbol, timeframe, session window) in a bounded LRU.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import orjson
import pandas as pd

from greekfire.domain.market import Timeframe
from greekfire.exchange.wire import NEW_YORK
from greekfire.sim.calendar import session_arrays, to_bounds_ns
from greekfire.sim.market import SyntheticMarket

__all__ = ["VWAP_DECIMALS", "BarStore", "EncodedBars", "Selection", "encode_bars"]

_NS: Final = 1_000_000_000
_DAY_NS: Final = 86_400 * _NS
_DAILY_MARGIN_DAYS: Final = 31
_INTRADAY_CACHE: Final = 512
VWAP_DECIMALS: Final = 4
_KEYS: Final = (b'{"t":"', b'Z","o":', b',"h":', b',"l":', b',"c":', b',"v":', b',"n":', b',"vw":')
_ROW_END: Final = b"},"
_SPACE: Final = 32


def _fixed(items: list[bytes] | np.ndarray, n: int) -> np.ndarray:
    # Texts as an (n, width) uint8 block, right-padded with spaces (JSON whitespace).
    if n == 0:
        return np.zeros((0, 1), dtype=np.uint8)
    text = np.asarray(items, dtype=np.bytes_)
    block = text.view(np.uint8).reshape(n, text.dtype.itemsize).copy()
    block[block == 0] = _SPACE
    return block


def _numbers(values: np.ndarray) -> np.ndarray:
    # orjson writes the shortest round-trip form of each float; split its array text.
    n = values.size
    return _fixed(orjson.dumps(values.tolist())[1:-1].split(b",") if n else [], n)


_STAMP_BLOCKS: dict[tuple[int, int, int], np.ndarray] = {}
_STAMP_CACHE: Final = 256


def _stamps(ns: np.ndarray) -> np.ndarray:
    # Every symbol shares its stamps (one calendar): format each distinct array once.
    if ns.size == 0:
        return _fixed([], 0)
    key = (ns.size, int(ns[0]), int(ns[-1]))
    block = _STAMP_BLOCKS.get(key)
    if block is None:
        seconds = ns.astype("datetime64[ns]").astype("datetime64[s]")
        block = _fixed(np.datetime_as_string(seconds, unit="s").astype("S19"), ns.size)
        if len(_STAMP_BLOCKS) >= _STAMP_CACHE:
            _STAMP_BLOCKS.clear()
        _STAMP_BLOCKS[key] = block
    return block


@dataclass(frozen=True, slots=True)
class EncodedBars:
    """Rows of one symbol and timeframe: ``stamps`` and ``ends`` (int64 UTC ns, ascending),
    ``body`` (every row followed by a comma) and ``offsets`` (row ``k`` is
    ``body[offsets[k]:offsets[k + 1]]``)."""

    stamps: np.ndarray
    ends: np.ndarray
    body: bytes
    offsets: np.ndarray

    def rows(self, i: int, j: int, *, desc: bool = False) -> bytes:
        """Rows ``i`` to ``j - 1`` joined by commas (descending: newest first)."""
        if j <= i:
            return b""
        off = self.offsets
        if not desc:
            return self.body[int(off[i]) : int(off[j]) - 1]
        body = self.body
        parts = [body[int(off[k]) : int(off[k + 1])] for k in range(j - 1, i - 1, -1)]
        return b"".join(parts)[:-1]


def encode_bars(frame: pd.DataFrame, stamps: np.ndarray, ends: np.ndarray) -> EncodedBars:
    """Encode a market bar frame (``open``..``volume``, ``vwap``) with the given Alpaca stamps
    and completion times (int64 UTC ns, one per row).

    The rows are built as one ``uint8`` block by numpy column assignments, each value
    right-padded with spaces to its column's widest; the spaces are then removed in one masked
    copy and ``offsets`` records where each row starts.
    """
    n = len(frame)
    volume = np.rint(frame["volume"].to_numpy(dtype=np.float64)).astype(np.int64)
    columns = [
        _stamps(np.asarray(stamps, dtype=np.int64)),
        _numbers(frame["open"].to_numpy()),
        _numbers(frame["high"].to_numpy()),
        _numbers(frame["low"].to_numpy()),
        _numbers(frame["close"].to_numpy()),
        _numbers(volume),
        _numbers(-(-volume // 100)),
        _numbers(np.round(frame["vwap"].to_numpy(dtype=np.float64), VWAP_DECIMALS)),
    ]
    width = sum(len(k) for k in _KEYS) + len(_ROW_END) + sum(c.shape[1] for c in columns)
    block = np.empty((n, width), dtype=np.uint8)
    at = 0
    for key, column in zip(_KEYS, columns, strict=True):
        block[:, at : at + len(key)] = np.frombuffer(key, dtype=np.uint8)
        at += len(key)
        block[:, at : at + column.shape[1]] = column
        at += column.shape[1]
    block[:, at:] = np.frombuffer(_ROW_END, dtype=np.uint8)
    # Drop the padding (no key or value contains a space): 10 % fewer bytes on the wire.
    keep = block != _SPACE
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(keep.sum(axis=1), out=offsets[1:])
    return EncodedBars(
        stamps=np.ascontiguousarray(stamps, dtype=np.int64),
        ends=np.ascontiguousarray(ends, dtype=np.int64),
        body=block[keep].tobytes(),
        offsets=offsets,
    )


@dataclass(frozen=True, slots=True)
class Selection:
    """Rows ``[i, j)`` of ``bars`` in the requested order (``desc``: newest first)."""

    bars: EncodedBars
    i: int
    j: int
    desc: bool

    @property
    def count(self) -> int:
        """Number of selected rows."""
        return max(0, self.j - self.i)

    def stamp(self, k: int) -> int:
        """Stamp of the ``k``-th selected row, in the requested order."""
        index = self.j - 1 - k if self.desc else self.i + k
        return int(self.bars.stamps[index])

    def body(self, take: int) -> bytes:
        """The first ``take`` selected rows as JSON array content."""
        take = min(take, self.count)
        if self.desc:
            return self.bars.rows(self.j - take, self.j, desc=True)
        return self.bars.rows(self.i, self.i + take)


def _midnight_new_york_ns(dates: np.ndarray) -> np.ndarray:
    # Session dates (datetime64[D]) -> 00:00 America/New_York of each, as UTC ns.
    local = pd.DatetimeIndex(dates.astype("datetime64[ns]")).tz_localize(NEW_YORK)
    return np.asarray(local.tz_convert("UTC").asi8, dtype=np.int64)


class BarStore:
    """Encoded bars of a :class:`SyntheticMarket`, selected by range, clock and limit.

    Parameters
    ----------
    market : SyntheticMarket
        The market whose bars are served.
    """

    def __init__(self, market: SyntheticMarket) -> None:
        self.market = market
        self._epoch_ns = to_bounds_ns(market.spec.epoch, market.spec.epoch)[0]
        self._daily: dict[str, EncodedBars] = {}
        self._intraday: OrderedDict[tuple[str, str, int, int], EncodedBars] = OrderedDict()
        self._lock = threading.Lock()

    def _daily_end(self, now_ns: int) -> dt.date:
        day = pd.Timestamp(now_ns, tz="UTC").tz_convert(NEW_YORK).date()
        return day + dt.timedelta(days=_DAILY_MARGIN_DAYS)

    def _encode_daily(self, frames: dict[str, pd.DataFrame], end: dt.date) -> None:
        lo, hi = to_bounds_ns(self.market.spec.epoch, end)
        dates, _, closes = session_arrays(lo, hi)
        for symbol, frame in frames.items():
            index = pd.DatetimeIndex(frame.index)
            day_index = index.tz_localize(None).to_numpy().astype("datetime64[D]")
            position = np.searchsorted(dates, day_index)
            encoded = encode_bars(frame, _midnight_new_york_ns(day_index), closes[position])
            with self._lock:
                self._daily[symbol] = encoded

    def warm(self, now_ns: int, symbols: Sequence[str] | None = None) -> None:
        """Build and encode the daily bars of ``symbols`` (default all) in one batch."""
        names = list(symbols if symbols is not None else self.market.symbols)
        end = self._daily_end(now_ns)
        frames = self.market.bars(names, self.market.spec.epoch, end, Timeframe.D1)
        self._encode_daily(frames, end)

    def daily(self, symbol: str, now_ns: int) -> EncodedBars:
        """The encoded daily bars of ``symbol``, rebuilt when the clock passed their end."""
        bars = self._daily.get(symbol)
        if bars is None or bars.ends.size == 0 or now_ns >= int(bars.ends[-1]):
            end = self._daily_end(now_ns)
            frames = self.market.bars(symbol, self.market.spec.epoch, end, Timeframe.D1)
            self._encode_daily(frames, end)
            bars = self._daily[symbol]
        return bars

    def _intraday_window(
        self, symbol: str, tf: Timeframe, opens: np.ndarray, closes: np.ndarray
    ) -> EncodedBars:
        key = (symbol, tf.value, int(opens[0]), int(opens[-1]))
        with self._lock:
            cached = self._intraday.get(key)
            if cached is not None:
                self._intraday.move_to_end(key)
                return cached
        first = pd.Timestamp(int(opens[0]), tz="UTC")
        last = pd.Timestamp(int(closes[-1]) - 1, tz="UTC")
        frame = self.market.bars(symbol, first, last, tf)[symbol]
        starts = np.asarray(pd.DatetimeIndex(frame.index).asi8, dtype=np.int64)
        session = np.searchsorted(opens, starts, side="right") - 1
        ends = np.minimum(starts + tf.seconds * _NS, closes[session])
        encoded = encode_bars(frame, starts, ends)
        with self._lock:
            self._intraday[key] = encoded
            while len(self._intraday) > _INTRADAY_CACHE:
                self._intraday.popitem(last=False)
        return encoded

    def _intraday_select(
        self, symbol: str, tf: Timeframe, lo: int, hi: int, now_ns: int, max_rows: int, desc: bool
    ) -> Selection | None:
        hi = min(hi, now_ns)
        if hi < lo or hi < self._epoch_ns:
            return None
        lo = max(lo, self._epoch_ns)
        _, opens, closes = session_arrays(lo, hi)
        if opens.size == 0:
            return None
        per_session = -((opens - closes) // (tf.seconds * _NS))
        covered = np.cumsum(per_session[::-1] if desc else per_session)
        count = int(np.searchsorted(covered, max_rows + 1)) + 2  # first and last may be cut
        while True:
            window = slice(-count, None) if desc else slice(0, count)
            bars = self._intraday_window(symbol, tf, opens[window], closes[window])
            chosen = self._select(bars, lo, hi, now_ns, max_rows, desc)
            if chosen.count >= max_rows or count >= opens.size:
                return chosen
            count *= 2

    @staticmethod
    def _select(
        bars: EncodedBars, lo: int, hi: int, now_ns: int, max_rows: int, desc: bool
    ) -> Selection:
        i = int(np.searchsorted(bars.stamps, lo, side="left"))
        j = int(np.searchsorted(bars.stamps, hi, side="right"))
        j = min(j, int(np.searchsorted(bars.ends, now_ns, side="right")))
        j = max(i, j)
        if desc:
            return Selection(bars, max(i, j - max_rows), j, True)
        return Selection(bars, i, min(j, i + max_rows), False)

    def select(
        self,
        symbol: str,
        tf: Timeframe,
        lo: int,
        hi: int,
        now_ns: int,
        max_rows: int,
        *,
        desc: bool = False,
    ) -> Selection | None:
        """At most ``max_rows`` complete bars of ``symbol`` stamped in ``[lo, hi]`` (UTC ns,
        inclusive), oldest first (``desc``: newest first); ``None`` when there are none."""
        if max_rows <= 0:
            return None
        if tf.intraday:
            chosen = self._intraday_select(symbol, tf, lo, hi, now_ns, max_rows, desc)
        else:
            chosen = self._select(self.daily(symbol, now_ns), lo, hi, now_ns, max_rows, desc)
        return chosen if chosen is not None and chosen.count > 0 else None
