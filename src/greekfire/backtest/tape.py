"""``TapeProvider``: a run's recorded market data served again, time by time.

The live engine records each cycle's market data in its journal (:mod:`greekfire.engine.tape`):
the quotes frame, the bars that arrived, each underlying's option chain as fetched. This
:class:`~greekfire.data.port.MarketDataProvider` reads that tape forward as the replay's
simulated clock advances and answers exactly as the live provider did at the same time:

- ``latest_quotes``: the quotes recorded at the clock's time (none recorded at that time, for
  example because the live fetch failed: an empty frame, so the replay sees the same failure);
- ``bars``: every bar recorded at or before the clock's time (the first copy of a bar when a
  restart fetched it again), restricted to the requested ``[start, end)``;
- ``option_chain``: the chain recorded at the clock's time (through the request's filter); none
  recorded: :class:`~greekfire.errors.ProviderError`, as the live fetch failed.

Nothing after the clock is ever served: the tape is read forward only up to ``now``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import cast

import numpy as np
import pandas as pd

from greekfire.data.port import ChainFilter, empty_bars, empty_quotes, to_utc
from greekfire.domain.market import BAR_OPTIONAL_COLUMNS, Timeframe
from greekfire.engine.tape import SYMBOL_COLUMN
from greekfire.errors import ProviderError
from greekfire.journal.sqlite import Journal
from greekfire.journal.tape import decode_frame

__all__ = ["TapeProvider"]


class _SymbolBars:
    # One symbol's recorded bars: frames in recording order, joined on demand.
    __slots__ = ("frames", "joined")

    def __init__(self) -> None:
        self.frames: list[pd.DataFrame] = []
        self.joined: pd.DataFrame | None = None

    def add(self, frame: pd.DataFrame) -> None:
        self.frames.append(frame)
        self.joined = None

    def frame(self) -> pd.DataFrame:
        if self.joined is None:
            whole = pd.concat(self.frames) if len(self.frames) > 1 else self.frames[0]
            whole = whole[~whole.index.duplicated(keep="first")].sort_index()
            self.frames = [whole]
            self.joined = whole
        return self.joined


class TapeProvider:
    """Serves a journal's market tape on a clock (see the module docstring).

    Parameters
    ----------
    journal : Journal
        The recorded run's journal (read-only is enough); it must stay open while the provider
        is used.
    now : callable
        The replay's clock (``() -> pd.Timestamp``, UTC).
    """

    name: str = "tape"

    def __init__(self, journal: Journal, now: Callable[[], pd.Timestamp]) -> None:
        self._now = now
        self._rows: Iterator[tuple[int, str, str, bytes]] = journal.tape()
        self._next = next(self._rows, None)
        self._quotes_ns: int | None = None
        self._quotes = empty_quotes()
        self._chains_ns: int | None = None
        self._chains: dict[str, pd.DataFrame] = {}
        self._bars: dict[str, _SymbolBars] = {}
        self.rows_read = 0

    def __repr__(self) -> str:
        return f"TapeProvider(rows_read={self.rows_read}, symbols_with_bars={len(self._bars)})"

    # -- reading forward --------------------------------------------------------------------------
    def _advance(self) -> int:
        now_ns = int(self._now().value)
        while self._next is not None and self._next[0] <= now_ns:
            ts_ns, kind, key, payload = self._next
            frame = decode_frame(payload)
            self.rows_read += 1
            if kind == "quotes":
                self._quotes_ns, self._quotes = ts_ns, frame
            elif kind == "chain":
                if self._chains_ns != ts_ns:
                    self._chains_ns, self._chains = ts_ns, {}
                self._chains[key] = frame
            elif kind == "bars":
                self._add_bars(frame)
            self._next = next(self._rows, None)
        return now_ns

    def _add_bars(self, stacked: pd.DataFrame) -> None:
        if not len(stacked):
            return
        names = stacked[SYMBOL_COLUMN].to_numpy()
        body = stacked.drop(columns=[SYMBOL_COLUMN])
        # rows of one symbol are contiguous (stack_bars writes them so): cut at the changes
        cuts = np.flatnonzero(names[1:] != names[:-1]) + 1
        for lo, hi in zip(
            np.concatenate([[0], cuts]).tolist(),
            np.concatenate([cuts, [len(names)]]).tolist(),
            strict=True,
        ):
            part = body.iloc[lo:hi]
            empty = [c for c in BAR_OPTIONAL_COLUMNS if c in part and part[c].isna().all()]
            if empty:
                part = part.drop(columns=empty)
            self._bars.setdefault(str(names[lo]), _SymbolBars()).add(part)

    # -- the port ---------------------------------------------------------------------------------
    async def bars(
        self, symbol: str, start: datetime, end: datetime, timeframe: Timeframe
    ) -> pd.DataFrame:
        """Recorded bars of ``symbol`` starting in ``[start, end)`` (see the module docstring)."""
        lo, hi = to_utc(start, "start"), to_utc(end, "end")
        if lo > hi:
            raise ValueError(f"start {lo} is after end {hi}; the range is [start, end)")
        self._advance()
        held = self._bars.get(symbol)
        if held is None:
            return empty_bars()
        frame = held.frame()
        index = cast(pd.DatetimeIndex, frame.index)
        first, last = index.searchsorted(lo), index.searchsorted(hi)
        return frame.iloc[first:last]

    async def latest_quotes(self, symbols: Sequence[str]) -> pd.DataFrame:
        """The quotes recorded at the clock's time, of ``symbols`` that have one."""
        now_ns = self._advance()
        if self._quotes_ns != now_ns:
            return empty_quotes()
        frame = self._quotes
        wanted = [s for s in dict.fromkeys(symbols) if s in frame.index]
        return frame.loc[wanted]

    async def option_chain(
        self, underlying: str, chain_filter: ChainFilter | None = None
    ) -> pd.DataFrame:
        """The chain of ``underlying`` recorded at the clock's time, through ``chain_filter``.

        Raises
        ------
        ProviderError
            No chain of ``underlying`` was recorded at this time.
        """
        now_ns = self._advance()
        frame = self._chains.get(underlying) if self._chains_ns == now_ns else None
        if frame is None:
            stamp = pd.Timestamp(now_ns, tz="UTC").isoformat()
            raise ProviderError(f"tape: no option chain of {underlying!r} recorded at {stamp}")
        return frame if chain_filter is None else chain_filter.apply(frame)
