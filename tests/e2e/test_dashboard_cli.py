"""The dashboard from the command line: ``greekfire run --dashboard`` (the bot serves its live
state, controls and ``/metrics``), ``greekfire dashboard --journal`` (a journal, read-only) and
the refusal to bind a non-loopback address without a token.

The bot runs on the simulated clock and the embedded synthetic market; ``--pace`` spaces its
cycles in wall time so that the test can watch it while it runs.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

pytestmark = pytest.mark.integration

SCRIPT = Path(sys.executable).with_name("greekfire")
STRATEGIES = Path(__file__).resolve().parents[1] / "integration" / "engine"
TOKEN = "test-token-123"
CONFIG: dict[str, Any] = {
    "engine": {
        "symbols": ["AAPL", "INTC", "MSFT", "SPY"],
        "clock": "simulated",
        "sim_start": "2026-11-09T14:35:00+00:00",
        "interval_s": 1800,
        "lookback_bars": 120,
        "log_path": "logs/trading_system.jsonl",
    },
    "data": {"provider": "synthetic", "history_dir": None},
    "broker": {"kind": "paper"},
    "risk": {"risk_fraction": 0.1},
    "journal": {"path": "journal.db", "dry_run_path": "dry.db"},
    "strategies": [
        {"name": "buy", "module": "engine_strategies:BuyOnce", "symbols": ["MSFT", "SPY"]}
    ],
}


def env(**extra: str) -> dict[str, str]:
    values = {**os.environ, "COLUMNS": "400", "PYTHONIOENCODING": "utf-8", "PYTHONUNBUFFERED": "1"}
    values.pop("GREEKFIRE_DASHBOARD_TOKEN", None)
    values["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(STRATEGIES), values.get("PYTHONPATH")])
    )
    values.update(extra)
    return values


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    return path


def greekfire(tmp: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env(**extra),
        cwd=tmp,
        check=False,
    )


class Running:
    """A greekfire child process whose stdout is read line by line in a thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, prefix: str, timeout_s: float = 90.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(line)
            if line.startswith(prefix):
                return line.strip()
        raise AssertionError(f"no line starting {prefix!r}; got: {''.join(self.seen)}")

    def stop(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=60)
        self._reader.join(10)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return code, "".join(self.seen)


@contextmanager
def spawn(tmp: Path, *args: str, **extra: str) -> Iterator[Running]:
    with subprocess.Popen(
        [str(SCRIPT), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env(**extra),
        cwd=tmp,
    ) as proc:
        running = Running(proc)
        try:
            yield running
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)


def wait_until(fetch: Any, condition: Any, timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    value = fetch()
    while not condition(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition never held; last value {value!r}")
        time.sleep(0.2)
        value = fetch()
    return value


def test_run_with_the_dashboard_serves_live_state_controls_and_metrics(
    tmp_path: Path, config: Path
) -> None:
    args = ("run", "--config", str(config), "--plain", "--cycles", "2000", "--pace", "0.2s")
    with spawn(
        tmp_path, *args, "--dashboard", "--dashboard-port", "0", GREEKFIRE_DASHBOARD_TOKEN=TOKEN
    ) as bot:
        line = bot.wait_for("dashboard: ")
        url = line.removeprefix("dashboard: ")
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/")
        with httpx.Client(base_url=url, timeout=10) as client:
            health = wait_until(lambda: client.get("/api/health").json(), lambda h: h["cycle"] >= 2)
            assert health["status"] == "ok"
            assert health["mode"] == "live"
            metrics = client.get("/metrics")
            assert metrics.status_code == 200
            cycles = [
                float(m.split()[-1])
                for m in metrics.text.splitlines()
                if m.startswith("greekfire_cycles_total ")
            ]
            assert cycles
            assert cycles[0] >= 2
            assert 'greekfire_fills_total{strategy="buy"}' in metrics.text
            overview = client.get("/api/overview").json()
            assert overview["controls_available"] is True
            assert overview["account"]["equity_usd"] > 0
            assert {p["symbol"] for p in overview["positions"]} == {"MSFT", "SPY"}
            refused = client.post("/api/control/pause")
            assert refused.status_code == 401
            wrong = client.post("/api/control/pause", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            auth = {"Authorization": f"Bearer {TOKEN}"}
            accepted = client.post("/api/control/pause", headers=auth, json={"reason": "e2e"})
            assert accepted.status_code == 202, accepted.text
            assert accepted.json()["accepted"] is True
            paused = wait_until(
                lambda: client.get("/api/overview").json(), lambda o: o["entries_paused"]
            )
            assert paused["cycle"] > health["cycle"]
            text = wait_until(
                lambda: client.get("/metrics").text,
                lambda t: "greekfire_entries_paused 1.0" in t,
            )
            assert "greekfire_entries_paused 1.0" in text
        code, output = bot.stop()
    assert code == 0, output
    assert "stopped after" in output
    assert TOKEN not in output
    log = (tmp_path / "logs" / "trading_system.jsonl").read_text(encoding="utf-8")
    assert "operator control" in log
    assert TOKEN not in log


def test_dashboard_serves_a_journal_read_only(tmp_path: Path, config: Path) -> None:
    done = greekfire(tmp_path, "run", "--config", str(config), "--plain", "--cycles", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    args = ("dashboard", "--journal", "journal.db", "--port", "0", "--bench-dir", "nowhere")
    with spawn(tmp_path, *args, GREEKFIRE_DASHBOARD_TOKEN=TOKEN) as board:
        url = board.wait_for("dashboard: ").removeprefix("dashboard: ")
        with httpx.Client(base_url=url, timeout=10) as client:
            health = client.get("/api/health").json()
            assert health == {"status": "ok", "mode": "journal", "cycle": 2}
            orders = client.get("/api/orders").json()["orders"]
            assert sorted(o["symbol"] for o in orders) == ["MSFT", "SPY"]
            overview = client.get("/api/overview").json()
            assert overview["controls_available"] is False
            auth = {"Authorization": f"Bearer {TOKEN}"}
            refused = client.post("/api/control/pause", headers=auth)
            assert refused.status_code == 403
            assert refused.json()["detail"].startswith("controls are disabled")
            assert client.get("/api/bench").json()["available"] is False
            page = client.get("/")
            assert page.status_code == 200
            assert "<html" in page.text.lower()
        code, output = board.stop()
    assert code == 0, output
    assert "dashboard stopped" in output


@pytest.mark.parametrize("command", ["run", "dashboard"])
def test_a_non_loopback_host_without_a_token_exits_2(
    tmp_path: Path, config: Path, command: str
) -> None:
    if command == "run":
        args = ["run", "--config", str(config), "--cycles", "1", "--dashboard"]
        args += ["--dashboard-host", "0.0.0.0"]
    else:
        args = ["dashboard", "--config", str(config), "--host", "0.0.0.0"]
    done = greekfire(tmp_path, *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "dashboard.host" in done.stderr
    assert "0.0.0.0" in done.stderr
    assert not (tmp_path / "journal.db").exists()  # refused before anything started


def test_pace_needs_the_simulated_clock(tmp_path: Path, config: Path) -> None:
    done = greekfire(
        tmp_path,
        "run",
        "--config",
        str(config),
        "--cycles",
        "1",
        "--pace",
        "1s",
        GREEKFIRE_ENGINE__CLOCK="live",
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--pace" in done.stderr
