"""``greekfire backtest`` as a user runs it: the live strategy code over synthetic history, the
result saved (JSON + Parquet) and a self-contained HTML report."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from greekfire.backtest.results import BacktestResult

pytestmark = pytest.mark.integration

SCRIPT = Path(sys.executable).with_name("greekfire")


def run(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GREEKFIRE_ENGINE__LOG_PATH": str(tmp / "log.jsonl")}
    env["GREEKFIRE_ENGINE__SYMBOLS"] = "[SPY, MSFT, AAPL]"
    env["GREEKFIRE_DATA__HISTORY_DIR"] = "null"
    return subprocess.run(
        [str(SCRIPT), "backtest", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_a_backtest_saves_its_result_and_writes_a_report(tmp_path: Path) -> None:
    out = tmp_path / "bt"
    done = run(["--start", "2025-03-03", "--end", "2025-08-29", "--out", str(out)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"report: {out / 'report.html'}" in " ".join(done.stdout.split())
    result = BacktestResult.load(out)
    assert set(result.equity.columns) == {"SPY", "MSFT", "AAPL", "total"}
    assert result.meta["engine"] == "event"
    first, last = result.equity.index[0], result.equity.index[-1]
    assert str(first.date()) >= "2025-03-03"
    assert str(last.date()) <= "2025-08-29"
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html
    assert 'src="http' not in html


def test_bad_dates_exit_2_naming_the_option(tmp_path: Path) -> None:
    done = run(["--start", "2025-13-01"], tmp_path)
    assert done.returncode == 2
    assert "--start" in done.stderr
    backwards = run(["--start", "2025-06-01", "--end", "2025-01-01"], tmp_path)
    assert backwards.returncode == 2
    assert "--end" in backwards.stderr


def test_an_unknown_strategy_name_is_a_config_error(tmp_path: Path) -> None:
    done = run(["--strategy", "nope", "--start", "2025-03-03", "--end", "2025-03-31"], tmp_path)
    assert done.returncode == 2
    assert "nope" in done.stderr
    assert "momentum" in done.stderr
