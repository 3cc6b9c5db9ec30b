"""The ``journal`` config section."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from greekfire.domain.config import Section

__all__ = ["JournalConfig"]


class JournalConfig(Section):
    """The SQLite journal."""

    path: str = Field(default="greekfire.db", description="Journal database file.")
    dry_run_path: str = Field(
        default="greekfire.dry-run.db",
        description="Journal used in dry-run mode (never the real one).",
    )
    batch_size: int = Field(default=256, ge=1, description="Rows buffered before a batched insert.")
    reconcile: Literal["adopt", "halt"] = Field(
        default="adopt",
        description="At startup, adopt the broker's positions and orders, or halt on a mismatch.",
    )
    record_market: bool = Field(
        default=True,
        description=(
            "Record each cycle's market data (quotes, new bars, option chains) in the journal,"
            " so that `greekfire parity` can replay the run."
        ),
    )
