"""The market tape's frame codec: a pandas frame to an Arrow IPC stream and back, losslessly.

The engine records each cycle's market data (quotes, new bars, option chains) in the journal's
``market_tape`` table (see :meth:`~greekfire.journal.sqlite.Journal.record_tape`) so that
``greekfire parity`` can replay the run on exactly the data it saw. Arrow keeps the dtypes
(float64, int8, UTC nanosecond timestamps, strings) and the index; encoding a 500-row quote
frame takes well under a millisecond. Nothing is unpickled: the payload is plain Arrow data.
"""

from __future__ import annotations

from typing import cast

import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]

__all__ = ["decode_frame", "encode_frame"]


def encode_frame(frame: pd.DataFrame) -> bytes:
    """``frame`` (index included) as the bytes of an Arrow IPC stream."""
    table = pa.Table.from_pandas(frame, preserve_index=True)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def decode_frame(payload: bytes) -> pd.DataFrame:
    """The frame :func:`encode_frame` wrote.

    Raises
    ------
    ValueError
        ``payload`` is not an Arrow IPC stream (a damaged or foreign tape row).
    """
    try:
        with pa.ipc.open_stream(pa.py_buffer(payload)) as reader:
            table = reader.read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise ValueError(
            f"payload: not an Arrow IPC stream ({len(payload)} bytes): {exc}"
        ) from None
    return cast(pd.DataFrame, table.to_pandas())
