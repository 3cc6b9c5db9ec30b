"""The ``greekfire`` command driven through typer's CliRunner."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from rich.table import Table
from typer.testing import CliRunner, Result

import greekfire
from greekfire.cli import main as cli_main
from greekfire.errors import ConfigError

# A standard 80-column terminal, no forced colour: what a user sees in a plain shell.
ENV: Mapping[str, str | None] = {"COLUMNS": "80", "FORCE_COLOR": None, "NO_COLOR": "1"}
OPTION = ["--spot", "100", "--strike", "105", "--expiry-days", "30", "--vol", "0.2"]
MARKET = ["--rate", "0.04", "--dividend", "0.01"]
CHAIN = ["chain", "--spot", "100", "--vol", "0.25", *MARKET]


def invoke(args: Sequence[str]) -> Result:
    return CliRunner().invoke(cli_main.app, list(args), env=ENV)


def test_version() -> None:
    result = invoke(["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"greekfire {greekfire.__version__}"


def test_no_command_prints_help_and_exits_2() -> None:
    result = invoke([])
    assert result.exit_code == 2
    for command in ("price", "iv", "chain", "bench"):
        assert command in result.output


def test_price_table_shows_every_greek_with_its_unit() -> None:
    result = invoke(["price", *OPTION, *MARKET, "--right", "call"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for label, unit in [
        ("price", "per unit of underlying"),
        ("delta", "per 1.00 move in spot"),
        ("gamma", "delta per 1.00 move in spot"),
        ("vega", "per 1.00 of vol (100 vol points)"),
        ("vega", "per 1 vol point (0.01)"),
        ("theta", "per year"),
        ("theta", "per calendar day (1/365 year)"),
        ("rho", "per 1.00 of rate (100 %)"),
        ("rho", "per 1 % of rate (0.01)"),
        ("vanna", "delta per 1.00 of vol"),
        ("volga", "vega per 1.00 of vol"),
        ("charm", "delta per year"),
    ]:
        assert any(line.split()[:1] == [label] and unit in line for line in lines), (label, unit)
    assert max(len(line) for line in lines) <= 80


def _price_json(*extra: str) -> dict[str, Any]:
    result = invoke(["price", *OPTION, *MARKET, *extra, "--format", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert isinstance(payload, dict)
    return payload


@pytest.mark.parametrize("right", ["call", "put"])
def test_price_json_equals_the_library(right: str) -> None:
    payload = _price_json("--right", right)
    t_years = 30 / 365
    assert payload["t_years"] == t_years
    expected = greekfire.black_scholes(100.0, 105.0, t_years, 0.2, 0.04, 0.01, right=right)
    assert payload["price"] == pytest.approx(float(expected), rel=1e-14)
    greeks = greekfire.greeks(100.0, 105.0, t_years, 0.2, 0.04, 0.01, right=right)
    for name in ("delta", "gamma", "vega", "theta", "rho", "vanna", "volga", "charm"):
        assert payload[name] == pytest.approx(float(greeks[name]), rel=1e-14), name
    per_day = greekfire.greeks(
        100.0, 105.0, t_years, 0.2, 0.04, 0.01, right=right, theta_unit="day", vega_unit="per_point"
    )
    assert payload["theta_per_day"] == pytest.approx(float(per_day["theta"]), rel=1e-12)
    assert payload["vega_per_point"] == pytest.approx(float(per_day["vega"]), rel=1e-12)
    assert payload["greeks_method"] == "analytic"
    assert payload["right"] == right


def test_price_t_years_and_short_right() -> None:
    result = invoke(["price", "--spot", "100", "--strike", "100", "--t-years", "1", "--vol", "0.2",
                     "--right", "P", "--format", "json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["right"] == "put"
    assert payload["price"] == pytest.approx(
        float(greekfire.black_scholes(100, 100, 1, 0.2, right="put"))
    )


def test_price_csv_is_one_record() -> None:
    result = invoke(["price", *OPTION, "--format", "csv"])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert len(frame) == 1
    assert {"price", "delta", "theta_per_day", "vega_per_point", "rho_per_pct"} <= set(
        frame.columns
    )


@pytest.mark.parametrize(
    ("extra", "method"),
    [
        (["--model", "american-baw", "--right", "put"], "finite-difference"),
        (["--model", "american-crr", "--steps", "200", "--right", "put"], "finite-difference"),
    ],
)
def test_american_models(extra: list[str], method: str) -> None:
    payload = _price_json(*extra)
    european = greekfire.black_scholes(100.0, 105.0, 30 / 365, 0.2, 0.04, 0.01, right="put")
    assert payload["price"] >= float(european) - 1e-9
    assert payload["greeks_method"] == method


def test_black76_takes_a_forward() -> None:
    args = ["price", "--forward", "101", "--strike", "100", "--t-years", "0.5", "--vol", "0.2",
            "--rate", "0.03", "--model", "black76", "--format", "json"]  # fmt: skip
    result = invoke(args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["forward"] == 101.0
    expected = greekfire.black76_greeks(101.0, 100.0, 0.5, 0.2, 0.03, right="call")
    assert payload["price"] == pytest.approx(
        greekfire.black76(101.0, 100.0, 0.5, 0.2, 0.03, right="call"), rel=1e-14
    )
    assert payload["greeks_method"] == "analytic"
    for name in ("delta", "gamma", "vega", "theta", "rho", "vanna", "volga", "charm"):
        assert payload[name] == expected[name], name
    assert payload["rho"] == pytest.approx(-0.5 * payload["price"], rel=1e-15)


def test_iv_recovers_the_vol_that_priced_the_option() -> None:
    price = float(greekfire.black_scholes(100.0, 95.0, 60 / 365, 0.31, 0.04, 0.01, right="put"))
    args = ["iv", "--price", repr(price), "--spot", "100", "--strike", "95", "--expiry-days", "60",
            *MARKET, "--right", "put", "--format", "json"]  # fmt: skip
    result = invoke(args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["status"] == "OK"
    assert payload["iv"] == pytest.approx(0.31, rel=1e-9)


def test_iv_table_and_a_price_below_intrinsic() -> None:
    args = ["iv", "--price", "1.0", "--spot", "100", "--strike", "120", "--expiry-days", "30",
            "--right", "put"]  # fmt: skip
    result = invoke(args)
    assert result.exit_code == 0, result.output
    assert "BELOW_INTRINSIC" in result.stdout
    assert "nan" in result.stdout
    as_json = json.loads(invoke([*args, "--format", "json"]).stdout)
    assert as_json["iv"] is None
    assert as_json["status"] == "BELOW_INTRINSIC"


def test_american_iv_round_trip() -> None:
    price = float(greekfire.american_price(100.0, 110.0, 0.5, 0.3, 0.05, 0.0, right="put"))
    args = ["iv", "--price", repr(price), "--spot", "100", "--strike", "110", "--t-years", "0.5",
            "--rate", "0.05", "--right", "put", "--american", "--format", "json"]  # fmt: skip
    payload = json.loads(invoke(args).stdout)
    assert payload["status"] == "OK"
    assert payload["iv"] == pytest.approx(0.3, rel=1e-6)


def test_chain_csv_has_strikes_x_expiries_x_2_rows() -> None:
    result = invoke([*CHAIN, "--strikes", "80:120:5", "--expiries", "7,30,90", "--format", "csv"])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert len(frame) == 9 * 3 * 2
    assert sorted(set(frame["strike"])) == [80, 85, 90, 95, 100, 105, 110, 115, 120]
    assert sorted(set(frame["expiry_days"])) == [7, 30, 90]
    pairs = frame.groupby(["expiry_days", "strike"])["right"].agg(lambda r: ",".join(sorted(r)))
    assert set(pairs) == {"call,put"}
    assert frame[["price", "delta", "gamma", "vega", "theta", "rho"]].notna().all().all()


def test_chain_json_matches_csv() -> None:
    args = [*CHAIN, "--strikes", "90,100", "--expiries", "30"]
    records = json.loads(invoke([*args, "--format", "json"]).stdout)
    frame = pd.read_csv(io.StringIO(invoke([*args, "--format", "csv"]).stdout))
    assert pd.DataFrame(records).equals(frame)


def test_chain_table_groups_by_expiry_and_fits_80_columns() -> None:
    result = invoke([*CHAIN, "--strikes", "80:120:10", "--expiries", "7,30,90,365"])
    assert result.exit_code == 0, result.output
    for days in (7, 30, 90, 365):
        assert f"{days} days to expiry" in result.stdout
    header = next(line for line in result.stdout.splitlines() if "strike" in line)
    assert header.split() == ["theta/d", "delta", "call", "strike", "put", "delta", "theta/d",
                              "gamma", "vega/pt"]  # fmt: skip
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert "…" not in result.stdout


def test_chain_output_file(tmp_path: Path) -> None:
    target = tmp_path / "chain.csv"
    args = [
        *CHAIN,
        "--strikes",
        "100",
        "--expiries",
        "30",
        "--format",
        "csv",
        "--output",
        str(target),
    ]
    result = invoke(args)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert len(pd.read_csv(target)) == 2
    table_file = tmp_path / "chain.txt"
    assert (
        invoke(
            [*CHAIN, "--strikes", "100", "--expiries", "30", "--output", str(table_file)]
        ).exit_code
        == 0
    )
    assert "30 days to expiry" in table_file.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "option", "value"),
    [
        (
            ["price", "--spot", "100", "--strike", "105", "--expiry-days", "30", "--vol", "-0.2"],
            "--vol",
            "-0.2",
        ),
        (["price", *OPTION, "--right", "straddle"], "--right", "straddle"),
        (
            ["price", "--spot", "abc", "--strike", "105", "--t-years", "1", "--vol", "0.2"],
            "--spot",
            "abc",
        ),
        (["price", *OPTION, "--t-years", "0.5"], "--t-years", "0.5"),
        (["price", *OPTION, "--model", "heston"], "--model", "heston"),
        (["price", *OPTION, "--steps", "100"], "--steps", "100"),
        (["price", *OPTION, "--rate", "nan"], "--rate", "nan"),
        (
            ["iv", "--price", "0", "--spot", "100", "--strike", "100", "--t-years", "1"],
            "--price",
            "0",
        ),
        ([*CHAIN, "--strikes", "80-120", "--expiries", "7"], "--strikes", "80-120"),
        ([*CHAIN, "--strikes", "80:120:0", "--expiries", "7"], "--strikes", "80:120:0"),
        ([*CHAIN, "--strikes", "100", "--expiries", "7,0"], "--expiries", "7,0"),
        ([*CHAIN, "--strikes", "100", "--expiries", "7", "--format", "xml"], "--format", "xml"),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_option_and_value(
    args: list[str], option: str, value: str
) -> None:
    result = invoke(args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    assert option in lines[0]
    assert value in lines[0]


def test_missing_expiry_is_a_usage_error() -> None:
    result = invoke(["price", "--spot", "100", "--strike", "105", "--vol", "0.2"])
    assert result.exit_code == 2
    assert "--expiry-days" in result.stderr


def test_unwritable_output_is_a_usage_error(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "chain.csv"
    result = invoke([*CHAIN, "--strikes", "100", "--expiries", "30", "--format", "csv",
                     "--output", str(target)])  # fmt: skip
    assert result.exit_code == 2
    assert "--output" in result.stderr


def _raise(exc: BaseException) -> Any:
    def fail(*args: object, **kwargs: object) -> None:
        raise exc

    return fail


def test_unexpected_error_exits_1_with_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("greekfire.analytics.chain.build_chain", _raise(RuntimeError("boom")))
    result = invoke([*CHAIN, "--strikes", "100", "--expiries", "30"])
    assert result.exit_code == 1
    assert "unexpected RuntimeError: boom" in result.stderr
    assert "Traceback" not in result.output


def test_config_error_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "greekfire.analytics.chain.build_chain", _raise(ConfigError("chain.vol", "bad"))
    )
    result = invoke([*CHAIN, "--strikes", "100", "--expiries", "30"])
    assert result.exit_code == 2
    assert "chain.vol: bad" in result.stderr


def test_bench_calls_the_runner_and_prints_the_summary(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[tuple[Path, bool]] = []

    def run_bench(out_dir: Path, *, quick: bool) -> dict[str, Any]:
        calls.append((out_dir, quick))
        return {"cases": ["bsm-1e6"]}

    def render_summary(report: Mapping[str, Any]) -> Table:
        table = Table("case")
        for case in report["cases"]:
            table.add_row(case)
        return table

    runner = types.ModuleType("greekfire.bench.runner")
    runner.run_bench = run_bench  # type: ignore[attr-defined]
    report = types.ModuleType("greekfire.bench.report")
    report.render_summary = render_summary  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "greekfire.bench.runner", runner)
    monkeypatch.setitem(sys.modules, "greekfire.bench.report", report)

    result = invoke(["bench", "--out", str(tmp_path), "--quick"])
    assert result.exit_code == 0, result.output
    assert calls == [(tmp_path, True)]
    assert "bsm-1e6" in result.stdout
    assert invoke(["bench"]).exit_code == 0
    assert calls[-1] == (Path("reports"), False)


def test_importing_the_cli_is_light() -> None:
    code = (
        "import sys, greekfire.cli.main\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "print(','.join(sorted(loaded & {'numpy', 'pandas', 'numba', 'scipy'})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
