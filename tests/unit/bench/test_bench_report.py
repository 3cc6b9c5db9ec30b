"""Report schema, JSON + Markdown writer and the rich summary."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.table import Table

from greekfire.bench.report import (
    JSON_NAME,
    MARKDOWN_NAME,
    format_duration,
    render_markdown,
    render_summary,
    validate_report,
    write_report,
)


def _ok_row(key: str, median_ms: float, **extra: Any) -> dict[str, Any]:
    row = {
        "key": key,
        "label": f"{key} impl",
        "status": "ok",
        "note": "",
        "n_options": 50_000,
        "n_timed": 50_000,
        "extrapolated": False,
        "repeats": 15,
        "warmup": 2,
        "median_ms": median_ms,
        "min_ms": median_ms * 0.9,
        "ns_per_option": median_ms * 1e6 / 50_000,
        "ratio_to_headline": median_ms / 0.4,
        "metrics": {},
    }
    row.update(extra)
    return row


@pytest.fixture
def report() -> dict[str, Any]:
    return {
        "schema_version": 1,
        "date_utc": "2024-06-01T12:00:00+00:00",
        "command": "greekfire bench --out reports",
        "quick": False,
        "duration_s": 123.0,
        "machine": {
            "cpu_model": "Test CPU",
            "logical_cores": 2,
            "usable_cores": 2,
            "ram_gib": 8.0,
            "python": "3.11.7",
            "packages": {"numpy": "2.0.0", "QuantLib": None},
        },
        "method": ["medians of timed samples"],
        "cases": [
            {
                "key": "a",
                "title": "(a) 50,000 options",
                "description": "demo",
                "n_options": 50_000,
                "headline": "greekfire",
                "target": {"metric": "median_ms", "limit": 0.5, "value": 0.4, "met": True},
                "load_average_1m": [0.5, 0.7],
                "rows": [
                    _ok_row("greekfire", 0.4, metrics={"status_counts": {"OK": 50_000}}),
                    _ok_row(
                        "scipy_loop",
                        5_000.0,
                        timed_median_ns=2e8,
                        timed_iqr_ns=4e6,
                        n_timed=2_000,
                        extrapolated=True,
                        note="extrapolated from a 2,000-option subsample (x25).",
                    ),
                    {
                        "key": "quantlib",
                        "label": "QuantLib",
                        "status": "skipped",
                        "note": "peer not installed: QuantLib",
                        "n_options": 50_000,
                        "metrics": {},
                    },
                ],
            }
        ],
        "first_call": [
            {
                "kernel": "bsm.price_greeks_into",
                "status": "ok",
                "note": "",
                "cold": {"import_ms": 150.0, "first_call_ms": 2500.0, "second_call_ms": 0.02},
                "warm": {"import_ms": 140.0, "first_call_ms": 90.0, "second_call_ms": 0.02},
            },
            {"kernel": "iv.implied_vol_into", "status": "unavailable", "note": "not yet"},
        ],
    }


def test_valid_report_has_no_errors(report: dict[str, Any]) -> None:
    assert validate_report(report) == []


@pytest.mark.parametrize("key", ["date_utc", "machine", "cases", "command", "first_call"])
def test_missing_top_level_key_is_reported(report: dict[str, Any], key: str) -> None:
    del report[key]
    assert validate_report(report) == [f"report: missing {key!r}"]


def test_wrong_type_and_version_are_reported(report: dict[str, Any]) -> None:
    bad = copy.deepcopy(report)
    bad["quick"] = "no"
    assert validate_report(bad) == ["report.quick: expected bool, got str"]
    report["schema_version"] = 99
    assert validate_report(report) == ["report.schema_version: expected 1"]


def test_row_errors_name_their_path(report: dict[str, Any]) -> None:
    rows = report["cases"][0]["rows"]
    del rows[0]["repeats"]
    rows[1]["min_ms"] = rows[1]["median_ms"] * 2
    rows[2]["note"] = ""
    assert validate_report(report) == [
        "report.cases[0].rows[0]: missing 'repeats'",
        "report.cases[0].rows[1]: min_ms 10000.0 > median_ms 5000.0",
        "report.cases[0].rows[2]: a skipped row needs a note saying why",
    ]


def test_machine_must_describe_cpu_and_versions(report: dict[str, Any]) -> None:
    del report["machine"]["cpu_model"]
    assert validate_report(report) == ["report.machine: missing 'cpu_model'"]


@pytest.mark.parametrize(
    ("ms", "text"),
    [(None, "-"), (2500.0, "2.5 s"), (0.4123, "412 µs"), (12.345, "12.3 ms"), (2e-5, "20 ns")],
)
def test_format_duration_picks_a_readable_unit(ms: float | None, text: str) -> None:
    assert format_duration(ms) == text


def test_write_report_round_trips_json_and_writes_markdown(
    report: dict[str, Any], tmp_path: Path
) -> None:
    json_path, md_path = write_report(report, tmp_path / "reports")
    assert json_path.name == JSON_NAME
    assert md_path.name == MARKDOWN_NAME
    assert json.loads(json_path.read_text(encoding="utf-8")) == report
    assert md_path.read_text(encoding="utf-8") == render_markdown(report)


def test_write_report_refuses_nan(report: dict[str, Any], tmp_path: Path) -> None:
    report["cases"][0]["rows"][0]["median_ms"] = float("nan")
    with pytest.raises(ValueError, match="Out of range float"):
        write_report(report, tmp_path)


def test_markdown_carries_machine_targets_rows_and_first_calls(report: dict[str, Any]) -> None:
    md = render_markdown(report)
    for text in (
        "Date (UTC): 2024-06-01T12:00:00+00:00",
        "`greekfire bench --out reports`",
        "CPU: Test CPU, 2 logical",
        "numpy 2.0.0",
        "**target median_ms <= 0.5 ms: 400 µs, met**",
        "| scipy_loop impl | 2,000 | 5 s | 4.5 s | 15 | 2 % | 100,000 | 12,500x |",
        "skipped: peer not installed: QuantLib",
        "extrapolated from a 2,000-option subsample",
        "status_counts OK 50,000",
        "| bsm.price_greeks_into | 2.5 s | 90 ms | 150 ms | 20 µs |",
        "| iv.implied_vol_into | - | - | - | - | unavailable | not yet |",
        "before -> after: 0.50 -> 0.70",
    ):
        assert text in md, text
    assert "QuantLib None" not in md


def test_render_summary_has_a_title_row_per_case_and_one_row_per_result(
    report: dict[str, Any],
) -> None:
    report["cases"][0]["short"] = "(a) 50k greeks"
    table = render_summary(report)
    assert isinstance(table, Table)
    assert table.row_count == (1 + 3) + (1 + 2)
    console = Console(width=160, record=True)
    console.print(table)
    text = console.export_text()
    for fragment in (
        "(a) 50k greeks",
        "<= 0.5 ms: met",
        "400 µs",
        "12,500x",
        "scaled from 2,000",
        "skipped: peer not installed: QuantLib",
        "2.5 s cold, 90 ms warm",
        "unavailable",
    ):
        assert fragment in text, fragment
