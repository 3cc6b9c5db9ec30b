"""Recording the market tape: what each cycle's market data was, as the engine received it.

With ``journal.record_market`` on (the default), the engine writes to the journal, at each
cycle's time: the quotes frame, the bars that arrived (all symbols stacked in one frame) and each
underlying's option chain, as fetched (before greekfire re-prices it). ``greekfire parity``
(:mod:`greekfire.backtest.parity`) replays a run on exactly this data. A cycle costs one Arrow
encoding per kind (about 0.5 ms for 500 quotes) and one buffered row each.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from greekfire.journal.sqlite import Journal
from greekfire.journal.tape import encode_frame

__all__ = ["SYMBOL_COLUMN", "MarketTape", "stack_bars"]

_NS_PER = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}

SYMBOL_COLUMN = "symbol"
"""The column that names each row's symbol in a stacked bars frame."""


def stack_bars(bars: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Bars of several symbols in one frame: the ``timestamp`` index, a ``symbol`` column and
    the union of the frames' columns (NaN where a frame lacks one), symbols in the given order.

    Built from each frame's array directly: ``pd.concat`` or a column-by-column copy of 500
    small frames costs tens of milliseconds, this a few.
    """
    frames = [(s, f) for s, f in bars.items() if len(f)]
    if not frames:
        return pd.DataFrame({SYMBOL_COLUMN: pd.Series([], dtype="str")})
    first = frames[0][1].columns
    columns: list[str] = [str(c) for c in first]
    width = len(columns)
    values: list[np.ndarray] = []
    stamps: list[np.ndarray] = []
    for _, frame in frames:
        block = frame.to_numpy(np.float64)
        own = frame.columns
        if own is not first and not own.equals(first):
            names = [str(c) for c in own]
            columns.extend(c for c in names if c not in columns)
            spread = np.full((len(frame), len(columns)), np.nan)
            spread[:, [columns.index(c) for c in names]] = block
            block = spread
        values.append(block)
        index = frame.index
        assert isinstance(index, pd.DatetimeIndex)
        stamps.append(index.asi8 * _NS_PER[index.unit])
    if len(columns) > width:  # a frame brought a column the first lacked: pad the others
        values = [
            v
            if v.shape[1] == len(columns)
            else np.pad(v, ((0, 0), (0, len(columns) - v.shape[1])), constant_values=np.nan)
            for v in values
        ]
    matrix = np.concatenate(values)
    when = pd.DatetimeIndex(np.concatenate(stamps).view("datetime64[ns]"), name="timestamp")
    out = pd.DataFrame(matrix, index=when.tz_localize("UTC"), columns=columns)
    symbols = np.array([s for s, _ in frames], dtype=object)
    repeated = np.repeat(symbols, [len(f) for _, f in frames])
    out.insert(0, SYMBOL_COLUMN, pd.Series(repeated, index=out.index, dtype="str"))
    return out


class MarketTape:
    """Writes a cycle's market data to the journal's ``market_tape`` (see the module docstring).

    Parameters
    ----------
    journal : Journal
        The engine's journal (rows are buffered and committed with the cycle's other rows).
    enabled : bool
        ``journal.record_market``; when False every method does nothing.
    """

    def __init__(self, journal: Journal, enabled: bool = True) -> None:
        self.journal = journal
        self.enabled = bool(enabled)

    def quotes(self, ts_ns: int, frame: pd.DataFrame) -> None:
        """The quotes a cycle received (the pipeline's frame, one row per symbol)."""
        if self.enabled and len(frame):
            self.journal.record_tape(ts_ns, "quotes", "", encode_frame(frame))

    def bars(self, ts_ns: int, bars: Mapping[str, pd.DataFrame]) -> None:
        """The bars that arrived in a cycle (stacked, see :func:`stack_bars`)."""
        if self.enabled and any(len(f) for f in bars.values()):
            self.journal.record_tape(ts_ns, "bars", "", encode_frame(stack_bars(bars)))

    def chain(self, ts_ns: int, underlying: str, frame: pd.DataFrame) -> None:
        """An underlying's option chain as fetched (before greekfire re-prices it)."""
        if self.enabled:
            self.journal.record_tape(ts_ns, "chain", underlying, encode_frame(frame))
