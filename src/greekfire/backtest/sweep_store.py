"""The results table of a sweep: its columns, its rows per chunk, the Parquet sink, ranking.

Every row carries ``run`` (the parameter set's input position), the parameters, the metrics
(float64) and ``error`` (``"Type: message"`` of what the objective raised, else null).
:class:`ParquetSink` appends one row group per chunk as soon as the chunk is done, so a sweep
streamed to a file holds one chunk of rows whatever its size; :func:`read_rows` reads the file
back as the in-memory rows would be, and :func:`rank_rows` orders them best first.
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ERROR_COLUMN",
    "RESERVED_COLUMNS",
    "RUN_COLUMN",
    "Columns",
    "Outcome",
    "ParquetSink",
    "chunk_frame",
    "rank_rows",
    "read_rows",
]

RUN_COLUMN = "run"
"""The parameter set's position in the input, from 0."""

ERROR_COLUMN = "error"
"""``"Type: message"`` of what the objective raised for the set, else null."""

RESERVED_COLUMNS: tuple[str, ...] = (RUN_COLUMN, ERROR_COLUMN)
"""Names that can be neither a parameter nor a metric."""

Outcome = tuple[dict[str, float] | None, str | None]
"""One evaluation: (metrics, None) or (None, error text)."""


class Columns:
    """The table's columns in order of first appearance; metrics are frozen once written."""

    def __init__(self) -> None:
        self.params: dict[str, None] = {}
        self.metrics: dict[str, None] = {}
        self.frozen = False

    def add(self, batch: list[dict[str, Any]], outcomes: list[Outcome]) -> None:
        """Take the names of a chunk's parameter sets and metrics.

        Raises
        ------
        ValueError
            A metric new after the first write, or a name both a parameter and a metric.
        """
        for params in batch:
            self.params.update(dict.fromkeys(params))
        new = {name for metrics, _ in outcomes if metrics for name in metrics} - set(self.metrics)
        if new and self.frozen:
            raise ValueError(
                f"metrics {sorted(new)} appeared after the first results were written: every "
                "objective call must return the same metric names"
            )
        for metrics, _ in outcomes:
            self.metrics.update(dict.fromkeys(metrics or ()))
        clash = set(self.params) & set(self.metrics)
        if clash:
            raise ValueError(f"names {sorted(clash)} are both parameters and metrics")

    @property
    def names(self) -> list[str]:
        """``run``, the parameters, the metrics, ``error``."""
        return [RUN_COLUMN, *self.params, *self.metrics, ERROR_COLUMN]


def chunk_frame(
    first_run: int, batch: list[dict[str, Any]], outcomes: list[Outcome], columns: Columns
) -> pd.DataFrame:
    """One chunk's rows: ``run`` (numbered from ``first_run``), the parameters, the metrics
    known so far (NaN where the objective failed), ``error``."""
    frame = pd.DataFrame.from_records(batch, columns=list(columns.params))
    frame.insert(0, RUN_COLUMN, np.arange(first_run, first_run + len(batch), dtype=np.int64))
    for name in columns.metrics:
        values = [math.nan if m is None else m.get(name, math.nan) for m, _ in outcomes]
        frame[name] = np.asarray(values, dtype=np.float64)
    frame[ERROR_COLUMN] = pd.array([error for _, error in outcomes], dtype=object)
    return frame


class ParquetSink:
    """Appends one row group per chunk to a Parquet file; the schema is the first written
    chunk's. Chunks with no successful row are held until the metric columns are known (they
    are failure rows only)."""

    def __init__(self, path: Path, columns: Columns) -> None:
        self._path = path
        self._columns = columns
        self._writer: Any = None
        self._pending: list[pd.DataFrame] = []
        self._pa: Any = importlib.import_module("pyarrow")
        self._pq: Any = importlib.import_module("pyarrow.parquet")

    def write(self, frame: pd.DataFrame) -> None:
        """Append one chunk's rows as a row group (or hold them, see the class)."""
        if self._writer is None and not self._columns.metrics:
            self._pending.append(frame)
            return
        for held in self._pending:
            self._append(held.reindex(columns=self._columns.names))
        self._pending.clear()
        self._append(frame.reindex(columns=self._columns.names))

    def _append(self, frame: pd.DataFrame) -> None:
        table = self._pa.Table.from_pandas(frame, preserve_index=False)
        if self._writer is None:
            # An error column without errors yet would be typed null: fix it as string.
            schema = table.schema
            position = schema.get_field_index(ERROR_COLUMN)
            schema = schema.set(position, self._pa.field(ERROR_COLUMN, self._pa.string()))
            table = table.cast(schema)
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = self._pq.ParquetWriter(self._path, schema)
            self._columns.frozen = True
        else:
            table = table.cast(self._writer.schema)
        self._writer.write_table(table)

    def close(self) -> None:
        """Write what is held and close the file."""
        for held in self._pending:
            self._append(held.reindex(columns=self._columns.names))
        self._pending.clear()
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def read_rows(path: Path) -> pd.DataFrame:
    """The rows a :class:`ParquetSink` wrote, as in memory: ``error`` holds Python str or
    None, whatever the pandas string type."""
    raw = pd.read_parquet(path)
    errors = raw[ERROR_COLUMN]
    raw[ERROR_COLUMN] = errors.astype(object).where(errors.notna(), None)
    return raw


def rank_rows(frame: pd.DataFrame, metric: str, ascending: bool) -> pd.DataFrame:
    """The rows best ``metric`` first, NaN (failures included) last, ties in input order."""
    ranked = frame.sort_values(
        [metric, RUN_COLUMN], ascending=[ascending, True], na_position="last", kind="mergesort"
    )
    return ranked.reset_index(drop=True)
