"""run_bench end to end on a stand-in case, the first-call child, and the machine record."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from greekfire.bench import firstcall, machine, peers
from greekfire.bench.contenders import Contender
from greekfire.bench.harness import CaseSpec, Target
from greekfire.bench.report import JSON_NAME, MARKDOWN_NAME, validate_report
from greekfire.bench.runner import QUICK_POLICIES, assemble_report, method_notes, run_bench
from greekfire.bench.workloads import OptionWorkload, make_european_workload

pytest.importorskip("scipy")


def _stand_in_case() -> CaseSpec[OptionWorkload]:
    return CaseSpec(
        key="stand_in",
        title="numpy standing in for greekfire",
        description="harness smoke test",
        make_workload=lambda: make_european_workload(500),
        contenders=(Contender("greekfire", "numpy", peers.prepare_numpy),),
        target=Target("median_ms", 1e9),
    )


def test_run_bench_writes_a_valid_report(tmp_path: Path) -> None:
    messages: list[str] = []
    report = run_bench(
        tmp_path,
        quick=True,
        command="greekfire bench --out x --quick",
        progress=messages.append,
        specs=[_stand_in_case()],
        kernels=(),
    )
    assert validate_report(report) == []
    assert json.loads((tmp_path / JSON_NAME).read_text(encoding="utf-8")) == report
    assert "numpy standing in for greekfire" in (tmp_path / MARKDOWN_NAME).read_text("utf-8")
    assert report["quick"] is True
    assert report["command"] == "greekfire bench --out x --quick"
    assert report["cases"][0]["rows"][0]["status"] == "ok"
    assert messages[0] == "stand_in: building workload"


def test_assemble_report_stamps_utc_date() -> None:
    fixed = datetime(2024, 6, 1, 12, 30, tzinfo=UTC)
    report = assemble_report(
        [], [], quick=False, command="c", method=["m"], duration_s=1.0, now=lambda: fixed
    )
    assert report["date_utc"] == "2024-06-01T12:30:00+00:00"
    assert report["machine"]["logical_cores"] >= 1


def test_method_notes_state_repeats_and_subsampling() -> None:
    from greekfire.bench.cases import FULL

    text = " ".join(method_notes(QUICK_POLICIES, FULL))
    assert "at least 3" in text
    assert "first 2,000 (scipy loop) or 5,000 (QuantLib)" in text


def test_firstcall_child_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert firstcall.main(["greekfire.kernels.bsm", "price_into"]) == 2
    assert firstcall.main(["m", "f", "nonsense", "0"]) == 2
    assert "usage: firstcall" in capsys.readouterr().err


def test_firstcall_child_reports_a_missing_kernel(capsys: pytest.CaptureFixture[str]) -> None:
    assert firstcall.main(["greekfire.kernels.no_such_module", "f", "bsm", "0"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "unavailable"
    assert "no_such_module" in out["note"]


def test_first_calls_run_in_a_subprocess_and_report_unavailable() -> None:
    spec = firstcall.KernelSpec("greekfire.kernels.no_such_module", "f", "bsm")
    rows = firstcall.measure_first_calls([spec])
    assert rows == [
        {
            "kernel": "no_such_module.f",
            "status": "unavailable",
            "note": rows[0]["note"],
        }
    ]
    assert "not available" in rows[0]["note"]


def test_every_contract_kernel_has_a_known_argument_layout() -> None:
    names = [k.name for k in firstcall.ALL_KERNELS]
    assert {"bsm.price_greeks_into", "iv.implied_vol_into"} <= set(names)
    assert len(set(names)) == len(names)


def test_cpu_model_reads_proc_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Example CPU 9000\n", encoding="utf-8")
    assert machine.cpu_model(info) == "Example CPU 9000"
    assert machine.cpu_model(tmp_path / "missing") != ""


def test_machine_description_has_cpu_ram_and_versions() -> None:
    desc = machine.describe_machine()
    assert desc["packages"]["numpy"]
    assert desc["packages"]["greekfire"]
    assert desc["python"].count(".") == 2
    assert desc["ram_gib"] is None or desc["ram_gib"] > 0


def test_run_bench_reports_structured_progress_and_the_brief_files(tmp_path: Path) -> None:
    from greekfire.bench.brief import CHART_NAME, REPORT_NAME, SUMMARY_NAME, VALIDATION_NAME
    from greekfire.bench.runner import BenchEvent

    events: list[BenchEvent] = []
    messages: list[str] = []
    run_bench(
        tmp_path,
        quick=True,
        command="c",
        progress=messages.append,
        events=events.append,
        specs=[_stand_in_case(), _stand_in_case()],
        kernels=(),
    )
    # Two cases of one contender: 2 x (workload + contender) + writing the reports.
    assert {e.total for e in events} == {5}
    assert [e.completed for e in events] == [0, 1, 2, 3, 4, 5]
    assert events[-1].description == "done"
    assert messages[:2] == ["stand_in: building workload", "stand_in: numpy"]
    for name in (REPORT_NAME, VALIDATION_NAME, SUMMARY_NAME, CHART_NAME):
        assert (tmp_path / name).is_file(), name
