"""The paper account's state file: JSON, written atomically.

The file holds the orders, every event (with its fills), the counters and the cash; orders
and fills in the form of :mod:`greekfire.domain.records` (the journal's too). Positions
are not stored: loading replays every fill into a fresh :class:`~greekfire.domain.portfolio.Ledger`
(the ledger is exact to the cent, so the replay reproduces it) and checks the cash against the
stored figure; a mismatch is a :class:`~greekfire.errors.StateError`. Writes go to a sibling
temporary file, are flushed to disk and then renamed over the old file (``os.replace``), so a
crash leaves either the old state or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from greekfire.domain.orders import BrokerEvent, EventKind
from greekfire.domain.records import (
    fill_from_mapping,
    fill_to_dict,
    order_from_mapping,
    order_to_dict,
)
from greekfire.errors import StateError

__all__ = [
    "STATE_VERSION",
    "event_from_dict",
    "event_to_dict",
    "read_state",
    "write_state",
]

STATE_VERSION = 2  # 2: orders and fills in the shared greekfire.domain.records form
"""Format version written to, and required of, the state file."""


def event_to_dict(event: BrokerEvent) -> dict[str, Any]:
    """A JSON-ready dict of ``event``."""
    return {
        "kind": event.kind.value,
        "ts_ns": event.ts_ns,
        "seq": event.seq,
        "symbol": event.symbol,
        "client_order_id": event.client_order_id,
        "order": None if event.order is None else order_to_dict(event.order),
        "fills": [fill_to_dict(f) for f in event.fills],
        "detail": event.detail,
    }


def event_from_dict(data: Mapping[str, Any]) -> BrokerEvent:
    """The :class:`BrokerEvent` :func:`event_to_dict` wrote."""
    return BrokerEvent(
        EventKind(data["kind"]),
        int(data["ts_ns"]),
        int(data["seq"]),
        data["symbol"],
        data["client_order_id"],
        None if data["order"] is None else order_from_mapping(data["order"]),
        tuple(fill_from_mapping(f) for f in data["fills"]),
        data["detail"],
    )


def write_state(path: Path, state: Mapping[str, Any]) -> None:
    """Write ``state`` as JSON to ``path`` atomically (temporary file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    payload = json.dumps({"version": STATE_VERSION, **state}, separators=(",", ":"))
    with open(tmp, "w", encoding="utf-8", opener=lambda p, f: os.open(p, f, 0o600)) as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_state(path: Path) -> dict[str, Any] | None:
    """The state stored at ``path``, or ``None`` when there is no file.

    Raises
    ------
    StateError
        The file is not valid JSON or has another format version.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StateError(f"state_path: {str(path)!r} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        version = data.get("version") if isinstance(data, dict) else None
        raise StateError(
            f"state_path: {str(path)!r} has format version {version!r}, expected {STATE_VERSION}"
        )
    return data
