"""The brief table, its validation and its four report files, from a hand-built bench report."""

from __future__ import annotations

import copy
import io
import json
import math
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from greekfire.bench import brief, validation
from greekfire.bench.brief import build_brief_table, write_brief_reports
from greekfire.bench.chart import DPI, FIGSIZE_IN, write_chart
from greekfire.bench.progress import progress_bar
from greekfire.bench.runner import BenchEvent
from greekfire.bench.summary import render_brief_markdown
from greekfire.bench.validation import Check, validate_validation_results, validation_results

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _row(key: str, median_ms: float | None, n: int = 1000, **metrics: Any) -> dict[str, Any]:
    if median_ms is None:
        return {"key": key, "label": key, "status": "skipped", "note": "peer not installed"}
    return {
        "key": key,
        "label": f"{key} label",
        "status": "ok",
        "note": "",
        "median_ms": median_ms,
        "ns_per_option": median_ms * 1e6 / n,
        "extrapolated": False,
        "metrics": metrics,
    }


def _case(
    key: str, rows: list[dict[str, Any]], n: int = 1000, unit: str = "option"
) -> dict[str, Any]:
    return {
        "key": key,
        "title": f"({key[0]}) {key}",
        "unit": unit,
        "n_options": n,
        "headline": "greekfire",
        "target": None,
        "rows": rows,
    }


def _report() -> dict[str, Any]:
    diff = "max_abs_price_diff_vs_numpy"
    ta = {"matches_talib": True, "max_rel_diff_vs_talib": 1e-14}
    cases = [
        _case(
            "a_bsm_greeks",
            [
                _row("greekfire", 0.1, **{diff: 4e-14}),
                _row("numpy", 0.5, **{diff: 0.0}),
                _row("scipy_loop", 100.0, **{diff: 2e-14}),
            ],
        ),
        _case("e_indicators", [_row("greekfire", 0.01, **ta)], unit="bar"),
        _case(
            "f_indicators_block",
            [
                _row("greekfire", 1.0, **ta),
                _row("talib", 4.0),
                _row("pandas", 50.0, matches_talib=False, max_rel_diff_vs_talib_last_half=1e-3),
            ],
            unit="bar",
        ),
        _case(
            "i_cache_hit",
            [
                _row("greekfire", 0.3, values_correct=True),
                _row("cachetools", 0.9, values_correct=True),
                _row("plain", 0.05, values_correct=True),
            ],
            unit="call",
        ),
        _case(
            "j_optimize_dataframe",
            [
                _row(
                    "greekfire",
                    3.0,
                    bytes_per_row_before=170.0,
                    bytes_per_row_after=34.0,
                    bit_exact=True,
                    prices_at_2_decimals=True,
                ),
                _row(
                    "greekfire_decimals",
                    5.0,
                    bytes_per_row_before=170.0,
                    bytes_per_row_after=17.0,
                    bit_exact=False,
                    prices_at_2_decimals=True,
                ),
            ],
            unit="row",
        ),
        _case(
            "k_parallel_map",
            [
                _row("greekfire", 30.0, equals_serial=True),
                _row("serial", 60.0, equals_serial=True),
            ],
            n=4,
            unit="task",
        ),
    ]
    return {
        "schema_version": 1,
        "date_utc": "2024-06-01T12:00:00+00:00",
        "command": "greekfire bench --quick",
        "quick": True,
        "duration_s": 12.0,
        "machine": {"cpu_model": "test cpu", "logical_cores": 2, "python": "3.11"},
        "cases": cases,
        "first_call": [],
    }


def _find(
    table: list[dict[str, Any]], category: str, optimised: str, baseline: str
) -> dict[str, Any]:
    return next(
        r
        for r in table
        if r["category"] == category
        and r["optimised"]["key"] == optimised
        and r["baseline"]["key"] == baseline
    )


def _metrics(report: dict[str, Any], case: str, contender: str) -> dict[str, Any]:
    rows = next(c for c in report["cases"] if c["key"] == case)["rows"]
    metrics: dict[str, Any] = next(r for r in rows if r["key"] == contender)["metrics"]
    return metrics


def test_table_has_every_brief_comparison_in_order() -> None:
    table = build_brief_table(_report())
    assert [(r["category"], r["optimised"]["key"], r["baseline"]["key"]) for r in table] == [
        ("vectorised calculations", "numpy", "scipy_loop"),
        ("vectorised calculations", "greekfire", "scipy_loop"),
        ("memory", "greekfire", "input_frame"),
        ("memory", "greekfire_decimals", "input_frame"),
        ("caching", "greekfire", "cachetools"),
        ("caching", "greekfire", "plain"),
        ("indicators", "greekfire", "pandas"),
        ("indicators", "greekfire", "talib"),
        ("parallel", "greekfire", "serial"),
    ]
    assert all(r["validated"] is True for r in table)


def test_time_rows_give_speedup_time_saved_and_the_claim() -> None:
    row = _find(build_brief_table(_report()), "vectorised calculations", "greekfire", "scipy_loop")
    assert row["baseline"]["value"] == 100.0
    assert row["optimised"]["value"] == 0.1
    assert row["speedup"] == pytest.approx(1000.0)
    assert row["reduction_pct"] == pytest.approx(99.9)
    assert row["claim"]["figure"] == "99.8 % faster"
    assert row["claim_met"] is True
    assert row["result"] == "1,000x faster (99.90 % less time)"
    indicators = _find(build_brief_table(_report()), "indicators", "greekfire", "talib")
    assert indicators["speedup"] == pytest.approx(4.0)
    assert indicators["claim_met"] is True  # 75 % less time >= the brief's 50 %


def test_memory_rows_use_bytes_per_row_from_the_checks() -> None:
    table = build_brief_table(_report())
    lossless = _find(table, "memory", "greekfire", "input_frame")
    assert lossless["baseline"]["display"] == "170.0 B/row"
    assert lossless["reduction_pct"] == pytest.approx(80.0)
    assert lossless["claim_met"] is False  # the brief claims 84 %
    assert lossless["speedup"] is None
    decimals = _find(table, "memory", "greekfire_decimals", "input_frame")
    assert decimals["reduction_pct"] == pytest.approx(90.0)
    assert decimals["claim_met"] is True


def test_cache_hit_against_the_plain_call_is_a_cost_not_a_speedup() -> None:
    table = build_brief_table(_report())
    row = _find(table, "caching", "greekfire", "plain")
    assert row["kind"] == "overhead"
    assert row["speedup"] is None
    assert row["optimised"]["value"] == pytest.approx(300.0)  # ns per call
    assert row["overhead_ns"] == pytest.approx(250.0)
    assert row["claim"]["pct"] == 42.0
    assert row["claim_met"] is None
    assert "40 %" in row["claim_note"]
    peer = _find(table, "caching", "greekfire", "cachetools")
    assert peer["speedup"] == pytest.approx(3.0)
    assert peer["claim"] is None


def test_rows_of_cases_not_run_are_left_out() -> None:
    report = _report()
    report["cases"] = [c for c in report["cases"] if c["key"][0] in "ae"]
    table = build_brief_table(report)
    assert {r["category"] for r in table} == {"vectorised calculations"}
    report["cases"] = [c for c in report["cases"] if c["key"][0] == "e"]
    assert build_brief_table(report) == []
    assert validation_results(report, [])["overall_pass"] is None


def test_a_skipped_baseline_gives_na_but_the_optimised_side_is_still_validated() -> None:
    report = _report()
    report["cases"][0]["rows"][2] = _row("scipy_loop", None)
    row = _find(build_brief_table(report), "vectorised calculations", "greekfire", "scipy_loop")
    assert row["baseline"]["display"] == "n/a"
    assert row["result"] == "n/a"
    assert row["speedup"] is None
    assert row["claim_met"] is None
    statuses = {c["contender"]: c["status"] for c in row["validation"]["checks"]}
    assert statuses == {"greekfire": "pass", "scipy_loop": "n/a"}
    assert row["validated"] is True
    assert "| n/a |" in render_brief_markdown(report, build_brief_table(report))


@pytest.mark.parametrize(
    ("case", "contender", "metric", "bad"),
    [
        ("a_bsm_greeks", "greekfire", "max_abs_price_diff_vs_numpy", 1e-3),
        ("a_bsm_greeks", "scipy_loop", "max_abs_price_diff_vs_numpy", math.nan),
        ("f_indicators_block", "greekfire", "matches_talib", False),
        ("f_indicators_block", "greekfire", "max_rel_diff_vs_talib", 1e-6),
        ("i_cache_hit", "cachetools", "values_correct", False),
        ("j_optimize_dataframe", "greekfire", "bit_exact", False),
        ("j_optimize_dataframe", "greekfire_decimals", "prices_at_2_decimals", False),
        ("k_parallel_map", "greekfire", "equals_serial", False),
    ],
)
def test_validation_fails_when_a_check_metric_is_off(
    case: str, contender: str, metric: str, bad: Any
) -> None:
    report = _report()
    _metrics(report, case, contender)[metric] = bad
    table = build_brief_table(report)
    failed = [r for r in table if r["validated"] is False]
    assert failed
    assert all(r["case"] == case for r in failed)
    doc = validation_results(report, table)
    assert doc["overall_pass"] is False
    assert doc["summary"]["failed"] == len(failed)
    assert validate_validation_results(doc) == []


def test_validation_fails_when_a_contender_ran_without_its_metric() -> None:
    report = _report()
    del _metrics(report, "k_parallel_map", "greekfire")["equals_serial"]
    row = _find(build_brief_table(report), "parallel", "greekfire", "serial")
    assert row["validated"] is False
    assert row["validation"]["checks"][0]["note"] == "metric missing from the case's checks"


def test_an_informational_check_never_fails_its_row() -> None:
    report = _report()
    _metrics(report, "f_indicators_block", "pandas")["max_rel_diff_vs_talib_last_half"] = 0.5
    row = _find(build_brief_table(report), "indicators", "greekfire", "pandas")
    assert row["validated"] is True
    assert [c["status"] for c in row["validation"]["checks"]] == ["pass", "pass", "fail"]


def test_check_tolerances_are_strict_about_types() -> None:
    number = Check("x", "m", 1e-9)
    assert number.judge(0.0)
    assert number.judge(1e-9)
    assert not number.judge(2e-9)
    assert not number.judge(True)  # a flag is not a number
    assert not number.judge(math.inf)
    assert not number.judge("0")
    flag = Check("x", "m", True)
    assert flag.judge(True)
    assert not flag.judge(1)
    assert (number.expected, flag.expected) == ("<= 1e-09", "== true")


def test_indicator_tolerance_is_the_cases_own() -> None:
    from greekfire.bench.ta_cases import TOLERANCE

    assert validation.INDICATOR_TOLERANCE == TOLERANCE


def test_validation_results_carry_every_check_metric_of_every_case() -> None:
    report = _report()
    doc = validation_results(report, build_brief_table(report))
    assert validate_validation_results(doc) == []
    assert doc["overall_pass"] is True
    assert doc["summary"] == {"rows": 9, "passed": 9, "failed": 0, "not_validated": 0}
    cases = {c["key"]: c for c in doc["cases"]}
    assert set(cases) == {c["key"] for c in report["cases"]}
    pandas = next(c for c in cases["f_indicators_block"]["contenders"] if c["key"] == "pandas")
    assert pandas["metrics"] == {"matches_talib": False, "max_rel_diff_vs_talib_last_half": 1e-3}
    check = doc["rows"][0]["checks"][0]
    assert check["tolerance"] == validation.PRICE_TOLERANCE
    assert check["expected"] == "<= 1e-09"


def test_validators_reject_malformed_documents() -> None:
    report = _report()
    table = build_brief_table(report)
    doc = validation_results(report, table)
    lying = copy.deepcopy(doc)
    lying["rows"][0]["status"] = "fail"
    assert any("contradicts" in e for e in validate_validation_results(lying))
    assert validate_validation_results([]) == ["validation results: expected a JSON object"]
    no_checks = copy.deepcopy(doc)
    no_checks["rows"][0]["checks"] = []
    assert validate_validation_results(no_checks)
    opt = brief.optimization_report(report, table)
    assert brief.validate_optimization_report(opt) == []
    del opt["brief_table"][0]["result"]
    del opt["machine"]
    errors = brief.validate_optimization_report(opt)
    assert "report.machine: expected dict" in errors
    assert any("brief_table[0]: missing result" in e for e in errors)


def test_optimization_report_lists_headline_medians_per_case() -> None:
    report = _report()
    doc = brief.optimization_report(report, build_brief_table(report))
    heads = {c["key"]: c for c in doc["cases"]}
    assert heads["a_bsm_greeks"]["headline_median_ms"] == 0.1
    assert heads["a_bsm_greeks"]["medians_ms"]["scipy_loop"] == 100.0
    assert doc["machine"]["cpu_model"] == "test cpu"
    assert doc["command"] == "greekfire bench --quick"


def test_markdown_is_the_table_with_notes_and_validation() -> None:
    report = _report()
    text = render_brief_markdown(report, build_brief_table(report))
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| category |"))
    assert len([ln for ln in lines[header + 2 :] if ln.startswith("| ")]) == 9
    assert "| 99.8 % faster (met) | yes |" in text
    assert "84 % memory reduction (not met)" in text
    assert "42 % faster (not comparable)" in text
    assert "**Quick run**" in text
    assert "## Validation" in text
    assert text.endswith("\n")


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_write_brief_reports_writes_the_four_files(tmp_path: Path) -> None:
    report = _report()
    paths = write_brief_reports(report, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        [brief.REPORT_NAME, brief.VALIDATION_NAME, brief.SUMMARY_NAME, brief.CHART_NAME]
    )
    opt = json.loads(paths["report"].read_text(encoding="utf-8"))
    assert brief.validate_optimization_report(opt) == []
    assert len(opt["brief_table"]) == 9
    checks = json.loads(paths["validation"].read_text(encoding="utf-8"))
    assert validate_validation_results(checks) == []
    assert checks["overall_pass"] is True
    assert paths["summary"].read_text(encoding="utf-8").startswith("# greekfire performance")
    assert _png_size(paths["chart"]) == (FIGSIZE_IN[0] * DPI, FIGSIZE_IN[1] * DPI)


def test_chart_size_does_not_depend_on_the_rows(tmp_path: Path) -> None:
    report = _report()
    report["cases"][-1]["rows"][0]["median_ms"] = 120.0  # parallel slower than serial
    report["cases"][0]["rows"][2] = _row("scipy_loop", None)  # two speed-ups n/a
    sizes = {
        _png_size(write_chart(build_brief_table(report), tmp_path / "full.png", title="t")),
        _png_size(write_chart([], tmp_path / "empty.png")),
    }
    assert sizes == {(FIGSIZE_IN[0] * DPI, FIGSIZE_IN[1] * DPI)}


def test_brief_imports_no_matplotlib_until_the_chart_is_drawn() -> None:
    code = (
        "import sys, greekfire.bench.brief, greekfire.bench.runner; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported eagerly'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_progress_bar_draws_on_a_terminal_and_stays_quiet_otherwise() -> None:
    shown = io.StringIO()
    tty = Console(file=shown, force_terminal=True, width=80)
    with progress_bar(tty) as on_event:
        assert on_event is not None
        on_event(BenchEvent(0, 2, "a_bsm_greeks: building workload"))
        on_event(BenchEvent(2, 2, "done"))
    assert "bench" in shown.getvalue()
    quiet = io.StringIO()
    with progress_bar(Console(file=quiet, force_terminal=False)) as nothing:
        assert nothing is None
    assert quiet.getvalue() == ""


def test_progress_bar_shows_descriptions_verbatim() -> None:
    shown = io.StringIO()
    with progress_bar(Console(file=shown, force_terminal=True, width=120)) as on_event:
        assert on_event is not None
        on_event(BenchEvent(0, 1, "k_parallel_map: needs dask[distributed] [/x]"))
    assert "dask[distributed] [/x]" in shown.getvalue()
