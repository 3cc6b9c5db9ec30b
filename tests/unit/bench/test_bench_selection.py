"""Relative targets, case units, failing contenders, ``--cases`` selection (runner and CLI)."""

from __future__ import annotations

import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.table import Table
from typer.testing import CliRunner

from greekfire.bench import peers
from greekfire.bench.contenders import Contender, Prepared
from greekfire.bench.harness import CaseSpec, Policies, Target, run_case
from greekfire.bench.report import render_markdown, render_summary, validate_report
from greekfire.bench.runner import run_bench
from greekfire.bench.timing import RepeatPolicy
from greekfire.bench.workloads import OptionWorkload, make_european_workload
from greekfire.cli import main as cli_main

pytest.importorskip("scipy")

TINY = RepeatPolicy(min_repeats=3, max_repeats=3, budget_s=0.0, warmup=1)
POLICIES = Policies(fast=TINY, slow=TINY)


def _boom(_w: OptionWorkload) -> Prepared:
    def call() -> None:
        raise RuntimeError("boom")

    return Prepared(call=call, results=dict)


def _spec(key: str = "x_case", **overrides: Any) -> CaseSpec[OptionWorkload]:
    fields: dict[str, Any] = {
        "key": key,
        "title": f"{key} title",
        "description": "numpy stands in for greekfire",
        "make_workload": lambda: make_european_workload(300),
        "contenders": (
            Contender("greekfire", "numpy as greekfire", peers.prepare_numpy),
            Contender("ref", "numpy again", peers.prepare_numpy),
        ),
    }
    fields.update(overrides)
    return CaseSpec(**fields)


def test_relative_target_is_the_ratio_to_the_reference_row() -> None:
    rows = [
        {"key": "greekfire", "median_ms": 2.0},
        {"key": "talib", "median_ms": 4.0},
    ]
    target = Target("median_ms", 1.0, relative_to="talib")
    assert target.evaluate(rows[0], rows) == {
        "metric": "median_ms",
        "limit": 1.0,
        "relative_to": "talib",
        "value": 0.5,
        "headline_value": 2.0,
        "reference_value": 4.0,
        "met": True,
    }
    slower = {"key": "greekfire", "median_ms": 6.0}
    assert target.evaluate(slower, [slower, rows[1]])["met"] is False
    assert target.evaluate(rows[0], rows[:1])["met"] is None  # reference skipped or absent
    assert target.evaluate({}, rows)["value"] is None


def test_run_case_evaluates_a_relative_target_and_records_the_unit() -> None:
    spec = _spec(target=Target("median_ms", 1e6, relative_to="ref"), unit="bar")
    case = run_case(spec, POLICIES)
    assert case["unit"] == "bar"
    assert case["target"]["met"] is True
    assert case["target"]["value"] == pytest.approx(
        case["rows"][0]["median_ms"] / case["rows"][1]["median_ms"]
    )


def test_a_contender_failing_while_timed_is_skipped_with_the_error() -> None:
    spec = _spec(contenders=(*_spec().contenders, Contender("bad", "raises", _boom)))
    rows = {r["key"]: r for r in run_case(spec, POLICIES)["rows"]}
    assert rows["bad"]["status"] == "skipped"
    assert rows["bad"]["note"] == "failed: RuntimeError: boom"
    assert rows["greekfire"]["status"] == "ok"


def test_subsample_note_uses_the_case_unit() -> None:
    loop = Contender("loop", "subsampled", peers.prepare_numpy, subsample=100)
    spec = _spec(contenders=(*_spec().contenders, loop), unit="bar")
    rows = {r["key"]: r for r in run_case(spec, POLICIES)["rows"]}
    assert rows["loop"]["note"].startswith("extrapolated from a 100-bar subsample (x3)")


def test_report_shows_relative_targets_and_unit_headers() -> None:
    spec = _spec(target=Target("median_ms", 1e6, relative_to="ref"), unit="bar")
    case = run_case(spec, POLICIES)
    report = {
        "schema_version": 1,
        "date_utc": "2024-06-01T12:00:00+00:00",
        "command": "greekfire bench --cases e",
        "quick": True,
        "machine": {
            "cpu_model": "CPU",
            "logical_cores": 2,
            "ram_gib": 1.0,
            "python": "3.11.7",
            "packages": {},
        },
        "method": [],
        "cases": [case],
        "first_call": [],
    }
    assert validate_report(report) == []
    md = render_markdown(report)
    assert "| implementation | bars timed | median | min |" in md
    assert "| ns/bar | time vs greekfire |" in md
    assert "**target median_ms <= 1e+06 x ref's (" in md
    assert " x ref's, met**" in md
    console = Console(width=160, record=True)
    console.print(render_summary(report))
    assert "<= 1e+06x ref: met (" in console.export_text()


def test_run_bench_runs_only_the_selected_cases(tmp_path: Path) -> None:
    report = run_bench(
        tmp_path,
        quick=True,
        command="c",
        specs=[_spec("a_one"), _spec("b_two"), _spec("c_three")],
        cases=["c", "a"],
    )
    assert [c["key"] for c in report["cases"]] == ["a_one", "c_three"]
    assert report["first_call"] == []  # a selection skips the first-call section
    assert validate_report(report) == []


def test_run_bench_rejects_an_unknown_case_before_running(tmp_path: Path) -> None:
    messages: list[str] = []
    with pytest.raises(ValueError, match="unknown case"):
        run_bench(tmp_path, specs=[_spec("a_one")], cases=["q"], progress=messages.append)
    assert messages == []
    assert not (tmp_path / "bench.json").exists()


def test_quick_run_of_the_indicator_cases_writes_matching_checks(tmp_path: Path) -> None:
    pytest.importorskip("talib")
    report = run_bench(tmp_path, quick=True, command="q", cases=["e", "g"])
    assert validate_report(report) == []
    e, g = report["cases"]
    assert e["target"]["relative_to"] == "talib"
    rows = {r["key"]: r for r in e["rows"]}
    assert rows["greekfire"]["metrics"]["matches_talib"] is True
    assert rows["greekfire_api"]["metrics"]["matches_talib"] is True
    stream = {r["key"]: r for r in g["rows"]}
    assert stream["greekfire"]["metrics"]["equals_batch_bit_for_bit"] is True
    assert stream["greekfire_kernels"]["metrics"]["equals_batch_bit_for_bit"] is True
    assert "bars timed" in (tmp_path / "bench.md").read_text(encoding="utf-8")


def _fake_runner(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def run_bench(out_dir: Path, **kwargs: Any) -> dict[str, Any]:
        calls.append({"out": out_dir, **kwargs})
        return {"cases": ["ran"]}

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
    return calls


def test_cli_cases_option_passes_the_letters(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_runner(monkeypatch)
    result = CliRunner().invoke(cli_main.app, ["bench", "--cases", "e, f,G", "--quick"])
    assert result.exit_code == 0, result.output
    assert calls == [{"out": Path("reports"), "quick": True, "cases": ["e", "f", "G"]}]
    assert CliRunner().invoke(cli_main.app, ["bench"]).exit_code == 0
    assert calls[-1] == {"out": Path("reports"), "quick": False}


def test_cli_rejects_an_unknown_case_with_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_runner(monkeypatch)
    result = CliRunner().invoke(cli_main.app, ["bench", "--cases", "e,z"])
    assert result.exit_code == 2
    assert "unknown case(s) z" in result.output
    assert calls == []
