"""``greekfire sweep`` as a user runs it: an SMA crossover grid over synthetic history (6
parameter sets x 3 symbols x 1 year) on worker processes gives the serial table; the Parquet
table, ranked CSV and heatmap are written; random sets, walk-forward, a module:function
objective; bad options exit 2 with a message naming the option and the value."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from greekfire.cli.main import app

pytestmark = pytest.mark.integration

SCRIPT = Path(sys.executable).with_name("greekfire")
GRID = ["--grid", "fast=5:15:5", "--grid", "slow=20,50"]
QUIET = ["--no-progress", "--metric", "total_return"]
YEAR = ["--symbols", "SPY,MSFT,AAPL", "--start", "2025-01-02", "--end", "2025-12-31"]


def score(params: dict[str, Any], data: Any) -> dict[str, float]:
    """A user objective: the mean close over the first ``a`` bars."""
    close = data["close"]
    return {"mean_close": float(close.iloc[: int(params["a"])].to_numpy().mean())}


def environment(tmp: Path) -> dict[str, str]:
    return {
        "GREEKFIRE_ENGINE__LOG_PATH": str(tmp / "log.jsonl"),
        "GREEKFIRE_DATA__HISTORY_DIR": "null",
        "COLUMNS": "200",
    }


def run_script(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **environment(tmp)}
    env.pop("FORCE_COLOR", None)
    return subprocess.run(
        [str(SCRIPT), "sweep", *args], capture_output=True, text=True, env=env, timeout=600
    )


def run_here(args: list[str], tmp: Path) -> Any:
    return CliRunner().invoke(app, ["sweep", *args], env=environment(tmp))


def test_a_grid_on_processes_gives_the_serial_table_ranked_with_its_files(
    tmp_path: Path,
) -> None:
    out = tmp_path / "processes"
    done = run_script(
        [*GRID, *YEAR, *QUIET, "--backend", "processes", "--workers", "2", "--out", str(out)],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    serial = run_here(
        [*GRID, *YEAR, *QUIET, "--backend", "serial", "--out", str(tmp_path / "serial")],
        tmp_path,
    )
    assert serial.exit_code == 0, serial.output

    ranked = pd.read_csv(out / "ranked.csv")
    assert len(ranked) == 6
    assert list(ranked.columns[:3]) == ["run", "fast", "slow"]
    assert {"total_return", "sharpe", "max_drawdown", "n_trades"} <= set(ranked.columns)
    assert ranked["total_return"].is_monotonic_decreasing
    assert ranked["error"].isna().all()
    assert sorted(zip(ranked["fast"], ranked["slow"], strict=True)) == [
        (f, s) for f in (5, 10, 15) for s in (20, 50)
    ]
    assert (ranked["n_trades"] > 0).all()
    pd.testing.assert_frame_equal(ranked, pd.read_csv(tmp_path / "serial" / "ranked.csv"))

    streamed = pd.read_parquet(out / "sweep.parquet")
    assert streamed["run"].tolist() == list(range(6))  # input order on disk
    assert (out / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["symbols"] == ["SPY", "MSFT", "AAPL"]
    assert (summary["n_runs"], summary["n_failed"], summary["backend"]) == (6, 0, "processes")
    assert 245 <= summary["bars"] <= 255  # one year of trading days

    text = " ".join(done.stdout.split())
    best = {"fast": int(ranked["fast"].iloc[0]), "slow": int(ranked["slow"].iloc[0])}
    assert f"best: {best}" in text
    assert "6 parameter sets (0 failed)" in text
    assert f"heatmap: {out / 'heatmap.png'}" in text


def test_random_sets_with_walk_forward_report_each_test_window(tmp_path: Path) -> None:
    out = tmp_path / "wf"
    args = ["--random", "4", "--seed", "3", "--grid", "fast=3:12", "--grid", "slow=15:40"]
    args += ["--where", "fast < slow", "--walk-forward", "train=100,test=50", *YEAR]
    done = run_here([*args, "--backend", "serial", "--no-progress", "--out", str(out)], tmp_path)
    assert done.exit_code == 0, done.output
    table = pd.read_csv(out / "walk_forward.csv")
    assert table["split"].tolist() == [0, 1, 2]  # 250 bars: 100 + 50, stepping by 50
    assert table["test_start"].tolist() == [100, 150, 200]
    assert table["test_error"].isna().all()
    assert {"train_sharpe", "test_sharpe", "test_total_return"} <= set(table.columns)
    sets = pd.read_parquet(out / "split_0.parquet")
    assert len(sets) == 4
    assert sets["fast"].between(3, 12).all()
    assert sets["slow"].between(15, 40).all()
    assert (sets["fast"] < sets["slow"]).all()
    assert len(set(zip(sets["fast"], sets["slow"], strict=True))) == 4
    again = run_here([*args, "--backend", "serial", "--out", str(tmp_path / "again")], tmp_path)
    assert again.exit_code == 0, again.output
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "again" / "split_0.parquet"), sets)


def test_a_module_function_objective_ranked_ascending(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    args = ["--strategy", f"{__name__}:score", "--grid", "a=1,5,20", "--metric", "mean_close"]
    done = run_here(
        [*args, "--ascending", *YEAR, "--backend", "serial", "--out", str(out)], tmp_path
    )
    assert done.exit_code == 0, done.output
    ranked = pd.read_csv(out / "ranked.csv")
    assert ranked["mean_close"].is_monotonic_increasing
    assert sorted(ranked["a"]) == [1, 5, 20]
    assert not (out / "heatmap.png").exists()  # one parameter: no heatmap


def test_bad_grid_syntax_exits_2_naming_the_option_and_the_value(tmp_path: Path) -> None:
    done = run_script(["--grid", "fast=5:x", "--grid", "slow=20,50"], tmp_path)
    assert done.returncode == 2
    message = " ".join(done.stderr.split())
    assert "--grid" in message
    assert "'x'" in message
    assert "fast=5:x" in message
    assert not done.stdout.strip()


@pytest.mark.parametrize(
    ("args", "option", "words"),
    [
        (["--grid", "fast=30:5:5", "--grid", "slow=50"], "--grid", ["below start"]),
        (["--grid", "fast=5:30:0", "--grid", "slow=50"], "--grid", ["step must be > 0"]),
        (["--grid", "fast", "--grid", "slow=50"], "--grid", ["'fast'", "name="]),
        (["--grid", "fast=5,6", "--grid", "slower=50"], "--grid", ["fast and slow"]),
        (["--grid", "fast=0.5:2.5", "--grid", "slow=50"], "--grid", ["float range"]),
        (["--where", "fast <"], "--where", ["not an expression"]),
        (["--where", "fats < slow"], "--where", ["'fats'", "did you mean 'fast'"]),
        (["--walk-forward", "train=abc,test=5"], "--walk-forward", ["'abc'"]),
        (["--walk-forward", "train=100"], "--walk-forward", ["missing test"]),
        (["--backend", "gpu"], "--backend", ["'gpu'"]),
        (["--scheduler", "tcp://h:8786", "--backend", "threads"], "--scheduler", ["dask"]),
        (["--workers", "0"], "--workers", ["got 0"]),
        (["--metric", "sharp"], "--metric", ["'sharp'"]),
        (["--fees", "1.5"], "--fees", ["1.5"]),
        (["--random", "0"], "--random", ["got 0"]),
        (["--symbols", "SPY,,SPY"], "--symbols", ["repeat"]),
        (["--strategy", "nomodule"], "--strategy", ["'nomodule'"]),
    ],
)
def test_bad_options_exit_2_naming_the_option(
    tmp_path: Path, args: list[str], option: str, words: list[str]
) -> None:
    done = run_here([*args, "--out", str(tmp_path / "never")], tmp_path)
    assert done.exit_code == 2, done.output
    message = " ".join(done.output.split())
    assert option in message
    for word in words:
        assert word in message
    assert not (tmp_path / "never").exists()
