"""``greekfire parity`` as a user runs it: a paper run on the simulated clock (momentum and the
wheel), then its replay from the journal: identical with the run's own settings (exit 0), a
price difference with another slippage (exit 3), and exit 2 for a missing journal or a run that
recorded no market tape."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.integration

SCRIPT = Path(sys.executable).with_name("greekfire")
MONDAY_OPEN = "2026-11-09T14:35:00+00:00"  # Monday 09:35 New York
CYCLES = 20


def greekfire(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert SCRIPT.exists(), f"console script not installed next to {sys.executable}"
    env = {**os.environ, "COLUMNS": "400", "PYTHONIOENCODING": "utf-8"}
    env.pop("FORCE_COLOR", None)
    # the config file says everything: no GREEKFIRE_* override from the caller's shell
    env = {k: v for k, v in env.items() if not k.startswith("GREEKFIRE_")}
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp,
        check=False,
    )


def write_config(path: Path, tmp: Path, db_name: str, **changes: dict[str, Any]) -> Path:
    config: dict[str, Any] = {
        "engine": {
            "symbols": ["SPY", "MSFT", "AAPL", "INTC"],
            "clock": "simulated",
            "sim_start": MONDAY_OPEN,
            "interval_s": 1800,
            "log_path": str(tmp / "logs" / "trading_system.jsonl"),
        },
        "data": {"provider": "synthetic", "history_dir": None},
        "broker": {"kind": "paper", "paper": {"slippage_bps": 1.0}},
        "journal": {"path": str(tmp / db_name), "dry_run_path": str(tmp / "dry.db")},
        "strategies": [
            {"name": "momentum"},
            {"name": "wheel", "symbols": ["INTC"]},
        ],
    }
    for section, values in changes.items():
        for key, value in values.items():
            if isinstance(value, dict):
                config[section].setdefault(key, {}).update(value)
            else:
                config[section][key] = value
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def record(tmp: Path, config: Path, cycles: int = CYCLES) -> None:
    done = greekfire(tmp, "run", "--config", str(config), "--cycles", str(cycles), "--plain")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"stopped after {cycles} cycles" in " ".join(done.stdout.split()), done.stdout


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 20-cycle paper run with the market tape on; its folder (``run.db``, ``run.yaml``)."""
    tmp = tmp_path_factory.mktemp("parity")
    record(tmp, write_config(tmp / "run.yaml", tmp, "run.db"))
    return tmp


def test_a_paper_run_replays_identically(recorded: Path) -> None:
    out = recorded / "same"
    done = greekfire(recorded, "parity", "--journal", str(recorded / "run.db"), "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    text = " ".join(done.stdout.split())
    assert "identical: the replay traded exactly what the run traded" in text
    assert "DIFFERENT" not in text
    assert f"{CYCLES} cycles replayed" in text
    summary = json.loads((out / "parity.json").read_text(encoding="utf-8"))
    assert summary["identical"] is True
    assert summary["live_fills"] >= 1
    assert summary["live_fills"] == summary["replay_fills"] == summary["same"]
    assert summary["differs"] == summary["live only"] == summary["replay only"] == 0
    assert summary["cycles"] == CYCLES
    assert summary["runs"] == 1
    assert summary["settings_from"] == "journal"
    assert summary["replay_errors"] == 0
    assert summary["equity_usd"]["live"] == summary["equity_usd"]["replay"]
    fills = pd.read_parquet(out / "parity_fills.parquet")
    assert len(fills) == summary["live_fills"]
    assert set(fills["status"]) == {"same"}
    assert "momentum" in set(fills["strategy"])
    wheel = fills[fills["strategy"] == "wheel"]
    assert all(symbol.startswith("INTC") for symbol in wheel["symbol"])  # options on INTC


def test_another_slippage_shows_the_price_difference(recorded: Path) -> None:
    config = write_config(
        recorded / "slippage.yaml",
        recorded,
        "unused.db",
        broker={"paper": {"slippage_bps": 25.0}},
    )
    out = recorded / "slip"
    done = greekfire(
        recorded,
        "parity",
        "--journal",
        str(recorded / "run.db"),
        "--config",
        str(config),
        "--out",
        str(out),
    )
    assert done.returncode == 3, done.stdout + done.stderr
    text = " ".join(done.stdout.split())
    assert "DIFFERENT:" in text
    assert "identical: the replay" not in text
    assert f"settings: {config};" in text
    lines = [line for line in done.stdout.splitlines() if "live vs replay price" in line]
    assert lines, done.stdout
    assert "bps)" in lines[0]
    summary = json.loads((out / "parity.json").read_text(encoding="utf-8"))
    assert summary["identical"] is False
    assert summary["differs"] >= 1
    fills = pd.read_parquet(out / "parity_fills.parquet")
    moved = fills[fills["status"] == "differs"]
    buys = moved[moved["side"] == "buy"]
    assert len(buys) >= 1
    # 25 bps of slippage instead of 1: every differing buy paid about 24 bps more
    assert (buys["replay_price"] > buys["live_price"]).all()
    assert buys["price_diff_bps"].between(20.0, 30.0).all(), buys["price_diff_bps"].tolist()
    assert not (recorded / "unused.db").exists()  # the replay never opens the config's journal


def test_a_missing_journal_exits_2_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "gone.db"
    done = greekfire(tmp_path, "parity", "--journal", str(missing))
    assert done.returncode == 2, done.stdout + done.stderr
    assert str(missing) in " ".join(done.stderr.split())


def test_a_run_without_market_tape_cannot_be_replayed(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "cfg.yaml", tmp_path, "quiet.db", journal={"record_market": False}
    )
    record(tmp_path, config, cycles=3)
    done = greekfire(tmp_path, "parity", "--journal", str(tmp_path / "quiet.db"))
    assert done.returncode == 2, done.stdout + done.stderr
    message = " ".join(done.stderr.split())
    assert "no market tape recorded" in message
    assert "journal.record_market" in message
    assert "quiet.db" in message
