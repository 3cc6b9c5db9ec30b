"""The trading commands as a user drives them: ``init``, ``run`` (dry run, paper, stopped by
signals), ``status``, ``positions``, ``orders``, and the exit code 2 of a bad config.

Every run uses the simulated clock (it never waits) on the embedded synthetic market, or on a
serve-market child process for the test that needs a slow cycle.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from greekfire.engine.engine import PHASES
from greekfire.exchange.config import ExchangeConfig
from greekfire.exchange.faults import FaultConfig
from greekfire.exchange.server import spawn
from greekfire.journal.sqlite import Journal

pytestmark = pytest.mark.integration

SCRIPT = Path(sys.executable).with_name("greekfire")
STRATEGIES = Path(__file__).resolve().parents[1] / "integration" / "engine"
MONDAY_OPEN = "2026-11-09T14:35:00+00:00"  # Monday 09:35 New York
BUY_ONCE = [{"name": "buy", "module": "engine_strategies:BuyOnce", "symbols": ["MSFT", "SPY"]}]
STOP_LINE = re.compile(r"stopped after (\d+) cycles \((\d+) failed, (\d+) skipped\): (.+)")


def cli_env(tmp: Path, **extra: str) -> dict[str, str]:
    """Simulated clock, journals and logs under ``tmp`` (env overrides), test strategies."""
    env = {**os.environ, "COLUMNS": "400", "PYTHONIOENCODING": "utf-8", "PYTHONUNBUFFERED": "1"}
    env.pop("FORCE_COLOR", None)
    env.pop("GREEKFIRE_FAULT_KILL_AFTER_INTENT", None)
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(STRATEGIES), env.get("PYTHONPATH")])),
            "GREEKFIRE_ENGINE__CLOCK": "simulated",
            "GREEKFIRE_ENGINE__SIM_START": MONDAY_OPEN,
            "GREEKFIRE_ENGINE__LOG_PATH": str(tmp / "logs" / "trading_system.jsonl"),
            "GREEKFIRE_JOURNAL__PATH": str(tmp / "journal.db"),
            "GREEKFIRE_JOURNAL__DRY_RUN_PATH": str(tmp / "dry.db"),
            "GREEKFIRE_DATA__HISTORY_DIR": str(tmp / "history"),
        }
    )
    env.update(extra)
    return env


def greekfire(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    assert SCRIPT.exists(), f"console script not installed next to {sys.executable}"
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=cli_env(tmp, **env),
        cwd=tmp,
        check=False,
    )


def edit_config(path: Path, **sections: Any) -> Path:
    """Replace whole top-level sections of a YAML config (what a user's editor would do)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for name, value in sections.items():
        if isinstance(value, dict):
            data.setdefault(name, {}).update(value)
        else:
            data[name] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """``greekfire init`` output, its strategies replaced by the test's buy-once strategy."""
    done = greekfire(tmp_path, "init", "cfg.yaml")
    assert done.returncode == 0, done.stderr
    path = tmp_path / "cfg.yaml"
    assert done.stdout.strip() == f"wrote {path.name}"
    assert path.read_text(encoding="utf-8").lstrip().startswith("#")  # commented
    # the buy-once strategy's 10 shares fit a 10 % fixed-fraction budget: approved as asked
    return edit_config(path, strategies=BUY_ONCE, risk={"risk_fraction": 0.1})


def table_rows(text: str, first: str) -> list[list[str]]:
    """The whitespace-split lines of a printed table that start with ``first``."""
    return [line.split() for line in text.splitlines() if line.split()[:1] == [first]]


def test_init_then_dry_run_then_status_positions_orders(tmp_path: Path, config: Path) -> None:
    done = greekfire(
        tmp_path, "run", "--config", str(config), "--cycles", "2", "--plain", "--dry-run"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    stop = STOP_LINE.search(done.stdout)
    assert stop is not None, done.stdout
    assert stop.groups() == ("2", "0", "0", "cycles")
    assert (tmp_path / "dry.db").exists()
    assert not (tmp_path / "journal.db").exists()  # the dry run never touches the real one

    orders = greekfire(tmp_path, "orders", "--journal", "dry.db")
    assert orders.returncode == 0, orders.stderr
    rows = [r for r in orders.stdout.splitlines() if "gf-buy-" in r]
    assert len(rows) == 4  # MSFT and SPY decided in each of the two cycles, none sent
    assert all("canceled" in r.split() for r in rows)
    assert sorted(r.split()[5] for r in rows) == ["MSFT", "MSFT", "SPY", "SPY"]
    positions = greekfire(tmp_path, "positions", "--journal", "dry.db")
    assert positions.returncode == 0, positions.stderr
    assert "No positions" in positions.stdout
    status = greekfire(tmp_path, "status", "--journal", "dry.db")
    assert status.returncode == 0, status.stderr
    assert "Last cycle #2 at 2026-11-09 14:40:00 UTC" in status.stdout
    cash = table_rows(status.stdout, "cash")
    assert cash == [["cash", "(USD)", "100,000.00"]]
    with sqlite3.connect(tmp_path / "dry.db") as con:
        notes = con.execute("SELECT COUNT(*) FROM notes WHERE kind = 'dry_run_order'").fetchone()
    assert notes[0] == 4

    # The same config on the paper broker: orders sent, filled, and shown from the journal.
    paper = greekfire(
        tmp_path, "run", "--config", str(config), "--cycles", "1", "--plain", "--paper"
    )
    assert paper.returncode == 0, paper.stdout + paper.stderr
    held = greekfire(tmp_path, "positions", "--config", str(config))
    assert held.returncode == 0, held.stderr
    assert {
        r[0]: r[1] for r in table_rows(held.stdout, "MSFT") + table_rows(held.stdout, "SPY")
    } == {
        "MSFT": "10",
        "SPY": "10",
    }
    filled = greekfire(tmp_path, "orders", "--journal", "journal.db", "--open")
    assert filled.returncode == 0, filled.stderr
    assert "gf-buy-" not in filled.stdout  # market orders filled at once: none open
    every = greekfire(tmp_path, "orders", "--journal", "journal.db")
    assert sum("filled" in r.split() for r in every.stdout.splitlines() if "gf-buy-" in r) == 2


@pytest.mark.parametrize(
    ("broken", "env", "field"),
    [
        ({"engine": {"interval_s": -5}}, {}, "engine.interval_s"),
        ({"engine": {"symbolz": ["SPY"]}}, {}, "engine.symbolz"),
        ({}, {"GREEKFIRE_RISK__MAX_POSITIONS": "lots"}, "risk.max_positions"),
    ],
)
def test_a_broken_config_exits_2_with_one_line_naming_the_field(
    tmp_path: Path, config: Path, broken: dict[str, Any], env: dict[str, str], field: str
) -> None:
    edit_config(config, **broken)
    done = greekfire(tmp_path, "run", "--config", str(config), "--cycles", "1", "--plain", **env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert field in done.stderr
    assert not (tmp_path / "journal.db").exists()


def test_paper_and_live_together_exit_2(tmp_path: Path, config: Path) -> None:
    done = greekfire(tmp_path, "run", "--config", str(config), "--paper", "--live", "--cycles", "1")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert "--paper" in done.stderr
    assert "--live" in done.stderr
    assert not (tmp_path / "journal.db").exists()


# -- signals -------------------------------------------------------------------------------------
def start(tmp: Path, config: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(SCRIPT), "run", "--config", str(config), "--plain", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(tmp, **env),
        cwd=tmp,
    )


def first_cycle_line(proc: subprocess.Popen[str]) -> Iterator[str]:
    """Lines of ``proc``'s stdout up to and including the first cycle line."""
    assert proc.stdout is not None
    for line in proc.stdout:
        yield line
        if line.startswith("cycle "):
            return
    pytest.fail(f"the bot exited ({proc.wait()}) before its first cycle")


def finish(proc: subprocess.Popen[str], seen: list[str], limit_s: float) -> tuple[str, str]:
    """Wait up to ``limit_s`` for ``proc`` to exit; all its stdout and its stderr."""
    try:
        out, err = proc.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the bot did not stop within {limit_s} s:\n{''.join(seen)}{out}\n{err}")
    return "".join(seen) + out, err


def journal_cycles(path: Path) -> tuple[list[dict[str, Any]], str | None, str]:
    journal = Journal.open_readonly(path)
    try:
        return journal.cycles(), journal.get_meta("cycle"), journal.integrity_check()
    finally:
        journal.close()


def test_sigterm_finishes_the_cycle_and_exits_cleanly(tmp_path: Path, config: Path) -> None:
    proc = start(tmp_path, config, "--cycles", "100000")
    seen = list(first_cycle_line(proc))
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = finish(proc, seen, 20)
    took_s = time.monotonic() - sent
    assert proc.returncode == 0, out + err
    assert took_s < 10
    stop = STOP_LINE.search(out)
    assert stop is not None, out
    cycles, failed, _, why = stop.groups()
    assert (failed, why) == ("0", "signal")
    ran = int(cycles)
    assert 1 <= ran < 100000
    rows, meta_cycle, check = journal_cycles(tmp_path / "journal.db")
    assert [r["cycle"] for r in rows] == list(range(1, ran + 1))  # every cycle journaled once
    assert meta_cycle == str(ran)
    assert {*PHASES, "total"} <= set(rows[0]["timings_s"])  # a trading cycle, every phase
    assert {"gate", "journal", "metrics", "total"} <= set(rows[-1]["timings_s"])  # complete
    assert check == "ok"
    assert "Traceback" not in err


def test_sigterm_while_waiting_for_the_next_cycle_stops_at_once(
    tmp_path: Path, config: Path
) -> None:
    """The live clock: after a cycle the bot sleeps an hour; SIGTERM ends the sleep."""
    live = {"GREEKFIRE_ENGINE__CLOCK": "live"}
    proc = start(tmp_path, config, "--cycles", "5", "--interval", "1h", **live)
    seen = list(first_cycle_line(proc))
    time.sleep(0.5)  # in the hour-long wait
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = finish(proc, seen, 20)
    assert proc.returncode == 0, out + err
    assert time.monotonic() - sent < 10
    stop = STOP_LINE.search(out)
    assert stop is not None, out
    assert (stop.group(1), stop.group(4)) == ("1", "signal")
    rows, meta_cycle, check = journal_cycles(tmp_path / "journal.db")
    assert [r["cycle"] for r in rows] == [1]
    assert meta_cycle == "1"
    assert check == "ok"
    assert "Traceback" not in err


def test_a_second_sigterm_abandons_the_running_cycle(tmp_path: Path, config: Path) -> None:
    """Market data 2 s slow: the second cycle is still fetching when both signals arrive."""
    slow_data = FaultConfig(latency_ms=2000)  # market-data paths only
    exchange_cfg = ExchangeConfig(
        symbols=("MSFT", "SPY"),
        start=pd.Timestamp(MONDAY_OPEN).to_pydatetime(),
        speed=0.0,
        key_id=None,
        secret_key=None,
        faults=slow_data,
    )
    with spawn(exchange_cfg) as running:
        edit_config(
            config,
            engine={"symbols": ["MSFT", "SPY"], "lookback_bars": 60},
            data={"provider": "alpaca", "data_url": running.base_url},
        )
        keys = {"APCA_API_KEY_ID": "unused", "APCA_API_SECRET_KEY": "unused"}  # auth off
        bot = start(tmp_path, config, "--cycles", "100000", **keys)
        seen = list(first_cycle_line(bot))
        time.sleep(0.3)  # inside cycle 2's 2-second fetch
        bot.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        bot.send_signal(signal.SIGTERM)
        out, err = finish(bot, seen, 20)
    assert bot.returncode == 0, out + err
    stop = STOP_LINE.search(out)
    assert stop is not None, out + err
    assert stop.group(4) == "abandoned (SIGTERM)"
    rows, meta_cycle, check = journal_cycles(tmp_path / "journal.db")
    assert [r["cycle"] for r in rows] == [1]  # the abandoned cycle left no cycle row
    assert meta_cycle == "1"
    assert check == "ok"
    assert "Traceback" not in err
    assert "Task was destroyed" not in err  # the abandoned cycle's fetch was cancelled
