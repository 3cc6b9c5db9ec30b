"""``greekfire bench --quick``, every case, as ``make bench`` runs it: the brief's report files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from greekfire.bench.brief import (
    CHART_NAME,
    REPORT_NAME,
    SUMMARY_NAME,
    VALIDATION_NAME,
    validate_optimization_report,
)
from greekfire.bench.report import JSON_NAME, MARKDOWN_NAME, validate_report
from greekfire.bench.validation import validate_validation_results

SCRIPT = Path(sys.executable).with_name("greekfire")
CATEGORIES = {"vectorised calculations", "memory", "caching", "indicators", "parallel"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    assert SCRIPT.exists(), f"console script not installed next to {sys.executable}"
    out = tmp_path_factory.mktemp("bench") / "reports"
    env = {**os.environ, "COLUMNS": "100", "PYTHONIOENCODING": "utf-8"}
    env.pop("FORCE_COLOR", None)
    done = subprocess.run(
        [str(SCRIPT), "bench", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out, done.stdout, done.stderr


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_every_report_file_is_written(quick_run: tuple[Path, str, str]) -> None:
    out, stdout, stderr = quick_run
    names = (JSON_NAME, MARKDOWN_NAME, REPORT_NAME, VALIDATION_NAME, SUMMARY_NAME, CHART_NAME)
    for name in names:
        assert (out / name).is_file(), name
        assert (out / name).stat().st_size > 0, name
    assert "greekfire bench" in stdout
    assert "Traceback" not in stderr


def test_the_jsons_parse_and_validate(quick_run: tuple[Path, str, str]) -> None:
    out, _, _ = quick_run
    bench = _load(out / JSON_NAME)
    assert validate_report(bench) == []
    report = _load(out / REPORT_NAME)
    assert validate_optimization_report(report) == []
    assert report["date_utc"] == bench["date_utc"]
    assert report["quick"] is True
    assert {c["key"] for c in report["cases"]} == {c["key"] for c in bench["cases"]}
    assert {r["category"] for r in report["brief_table"]} == CATEGORIES
    checks = _load(out / VALIDATION_NAME)
    assert validate_validation_results(checks) == []
    assert len(checks["rows"]) == len(report["brief_table"])


def test_validation_passes_overall(quick_run: tuple[Path, str, str]) -> None:
    out, _, _ = quick_run
    checks = _load(out / VALIDATION_NAME)
    failed = [(r["category"], r["workload"]) for r in checks["rows"] if r["status"] != "pass"]
    assert failed == []
    assert checks["overall_pass"] is True


def test_the_summary_and_the_chart(quick_run: tuple[Path, str, str]) -> None:
    out, _, _ = quick_run
    summary = (out / SUMMARY_NAME).read_text(encoding="utf-8")
    assert "| category | workload | baseline |" in summary
    for category in CATEGORIES:
        assert f"| {category} |" in summary
    assert (out / CHART_NAME).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
