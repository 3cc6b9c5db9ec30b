"""The SQLite journal: schema, migrations, batched writes, recovery.

``Journal`` (:mod:`greekfire.journal.sqlite`) records order intents before they are sent, order
updates, fills, broker events, notes, snapshots and cycle timings; :func:`reconcile`
(:mod:`greekfire.journal.recovery`) squares it with the broker at startup.
"""

from __future__ import annotations

from greekfire.journal.config import JournalConfig
from greekfire.journal.recovery import (
    NEVER_REACHED_BROKER,
    Mismatch,
    ReconcileReport,
    Resolution,
    reconcile,
)
from greekfire.journal.schema import SCHEMA_VERSION
from greekfire.journal.sqlite import Journal, PositionSnapshot

__all__ = [
    "NEVER_REACHED_BROKER",
    "SCHEMA_VERSION",
    "Journal",
    "JournalConfig",
    "Mismatch",
    "PositionSnapshot",
    "ReconcileReport",
    "Resolution",
    "reconcile",
]
