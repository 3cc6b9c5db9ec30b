"""The installed ``greekfire`` console script, run the way a user runs it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import greekfire

SCRIPT = Path(sys.executable).with_name("greekfire")
SPOT, VOL, RATE, DIV = 100.0, 0.25, 0.04, 0.01
DEMO = ["chain", "--spot", "100", "--vol", "0.25", "--rate", "0.04", "--dividend", "0.01"]


def greekfire_cli(*args: str) -> subprocess.CompletedProcess[str]:
    assert SCRIPT.exists(), f"console script not installed next to {sys.executable}"
    env = {**os.environ, "COLUMNS": "80", "PYTHONIOENCODING": "utf-8"}
    env.pop("FORCE_COLOR", None)
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=300, env=env, check=False
    )


@pytest.fixture(scope="module")
def chain_csv() -> pd.DataFrame:
    done = greekfire_cli(
        *DEMO, "--strikes", "80:120:5", "--expiries", "7,30,90,365", "--format", "csv"
    )
    assert done.returncode == 0, done.stderr
    return pd.read_csv(io.StringIO(done.stdout))


def test_version() -> None:
    done = greekfire_cli("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"greekfire {greekfire.__version__}"


def test_chain_csv_parses_with_every_row_and_column(chain_csv: pd.DataFrame) -> None:
    assert len(chain_csv) == 9 * 4 * 2
    for column in ("expiry_days", "t_years", "strike", "right", "price", "delta", "gamma",
                   "vega", "theta", "rho", "theta_per_day", "vega_per_point", "iv"):  # fmt: skip
        assert column in chain_csv.columns
    assert set(chain_csv["right"]) == {"call", "put"}
    assert chain_csv.notna().all().all()


def test_put_call_parity_holds_row_wise(chain_csv: pd.DataFrame) -> None:
    key = ["expiry_days", "strike"]
    calls = chain_csv[chain_csv["right"] == "call"].set_index(key).sort_index()
    puts = chain_csv[chain_csv["right"] == "put"].set_index(key).sort_index()
    assert calls.index.equals(puts.index)
    t = calls["t_years"].to_numpy()
    strikes = calls.index.get_level_values("strike").to_numpy(dtype=float)
    lhs = calls["price"].to_numpy() - puts["price"].to_numpy()
    rhs = SPOT * np.exp(-DIV * t) - strikes * np.exp(-RATE * t)
    np.testing.assert_allclose(lhs, rhs, rtol=0, atol=1e-10)
    np.testing.assert_allclose(
        calls["delta"].to_numpy() - puts["delta"].to_numpy(), np.exp(-DIV * t), rtol=0, atol=1e-12
    )


def test_demo_table_runs() -> None:
    done = greekfire_cli(*DEMO, "--strikes", "80:120:10", "--expiries", "7,30,90,365")
    assert done.returncode == 0, done.stderr
    assert "365 days to expiry" in done.stdout
    assert done.stderr == ""


def test_price_json_round_trips_through_iv() -> None:
    option = ["--spot", "100", "--strike", "95", "--expiry-days", "45", "--rate", "0.03"]
    priced = greekfire_cli("price", *option, "--vol", "0.35", "--right", "put", "--format", "json")
    assert priced.returncode == 0, priced.stderr
    price = json.loads(priced.stdout)["price"]
    implied = greekfire_cli(
        "iv", "--price", repr(price), *option, "--right", "put", "--format", "json"
    )
    assert implied.returncode == 0, implied.stderr
    payload = json.loads(implied.stdout)
    assert payload["status"] == "OK"
    assert payload["iv"] == pytest.approx(0.35, rel=1e-9)


def test_bad_input_is_one_red_line_and_exit_2() -> None:
    done = greekfire_cli(*DEMO, "--strikes", "120:80:5", "--expiries", "7")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert "--strikes" in done.stderr
    assert "120:80:5" in done.stderr


def test_black76_price_shows_analytic_greeks() -> None:
    option = ["--forward", "101", "--strike", "100", "--t-years", "0.5", "--vol", "0.2",
              "--rate", "0.03", "--model", "black76"]  # fmt: skip
    table = greekfire_cli("price", *option)
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0] == "black76 call, Greeks analytic"
    assert "per 1.00 move in forward" in table.stdout
    payload = json.loads(greekfire_cli("price", *option, "--format", "json").stdout)
    expected = greekfire.black76_greeks(101.0, 100.0, 0.5, 0.2, 0.03)
    for name in ("price", "delta", "gamma", "vega", "theta", "rho", "vanna", "volga", "charm"):
        assert payload[name] == expected[name], name


def test_bench_compare_fails_over_the_tolerance_and_passes_under_it(tmp_path: Path) -> None:
    first = greekfire_cli("bench", "--quick", "--cases", "e", "--out", str(tmp_path / "a"))
    assert first.returncode == 0, first.stderr
    baseline = tmp_path / "a" / "bench.json"
    # Against itself with a generous tolerance: no regression, exit 0.
    same = greekfire_cli(
        "bench",
        "--quick",
        "--cases",
        "e",
        "--out",
        str(tmp_path / "b"),
        "--compare",
        str(baseline),
        "--fail-over",
        "500%",
    )
    assert same.returncode == 0, same.stdout + same.stderr
    assert "no regression beyond 500%" in same.stdout
    # A baseline where greekfire took 1 ns: far slower now, exit 1 with the row named.
    fast = tmp_path / "fast.json"
    fast.write_text(json.dumps({"e_indicators/greekfire": 1e-9}))
    slow = greekfire_cli(
        "bench",
        "--quick",
        "--cases",
        "e",
        "--out",
        str(tmp_path / "c"),
        "--compare",
        str(fast),
        "--fail-over",
        "20%",
    )
    assert slow.returncode == 1, slow.stdout + slow.stderr
    assert "e_indicators/greekfire" in slow.stdout
    assert "slower" in slow.stdout
    # Without --fail-over the comparison is printed but never fails the run.
    report_only = greekfire_cli(
        "bench", "--quick", "--cases", "e", "--out", str(tmp_path / "d"), "--compare", str(fast)
    )
    assert report_only.returncode == 0, report_only.stderr


def test_bench_compare_rejects_a_bad_baseline_before_running(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    result = greekfire_cli("bench", "--compare", str(bad), "--out", str(tmp_path / "x"))
    assert result.returncode == 2
    assert "--compare" in result.stderr
    assert not (tmp_path / "x").exists()
