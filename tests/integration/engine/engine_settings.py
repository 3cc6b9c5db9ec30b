"""Shared builders for the engine tests: a small synthetic universe on a simulated clock
(a plain module, not the conftest: every conftest is imported under the same name)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

MONDAY_OPEN = "2026-11-09T14:35:00+00:00"  # Monday 09:35 New York
SYMBOLS = ["AAPL", "INTC", "MSFT", "SPY"]


def settings_dict(tmp: Path, **overrides: Any) -> dict[str, Any]:
    """Settings for a 4-symbol synthetic market, paper broker, journal under ``tmp``."""
    base: dict[str, Any] = {
        "engine": {
            "symbols": SYMBOLS,
            "clock": "simulated",
            "sim_start": MONDAY_OPEN,
            "interval_s": 1800,
            "lookback_bars": 120,
            "log_path": str(tmp / "logs" / "trading_system.jsonl"),
        },
        "data": {"provider": "synthetic", "history_dir": None},
        # BuyOnce's 10 shares fit a 10 % fixed-fraction budget: the gate approves them as asked
        "risk": {"risk_fraction": 0.1},
        "journal": {"path": str(tmp / "journal.db"), "dry_run_path": str(tmp / "dry.db")},
        "strategies": [
            {"name": "buy", "module": "engine_strategies:BuyOnce", "symbols": ["MSFT", "SPY"]}
        ],
    }
    for section, values in overrides.items():
        if isinstance(values, dict):
            base.setdefault(section, {}).update(values)
        else:
            base[section] = values
    return base


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)
