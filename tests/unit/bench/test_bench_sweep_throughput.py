"""Case (p)'s sweep throughput: the grid, the start-up fit, the measurement's bookkeeping (on a
stand-in sweep and clock) and the report's table (Markdown and the rich summary)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from rich.console import Console

from greekfire.bench.report import JSON_NAME, render_markdown, render_summary, write_report
from greekfire.bench.sweep_cases import (
    BACKENDS,
    QUICK_SWEEP,
    SweepSizes,
    SweepWorkload,
    fit_startup,
    make_sweep_workload,
    measure_sweep_throughput,
    sma_grid,
)


def test_sma_grid_is_the_10_by_20_grid_with_fast_below_slow() -> None:
    sets = sma_grid(200)
    assert len(sets) == 200
    assert len({(s["fast"], s["slow"]) for s in sets}) == 200
    assert {s["fast"] for s in sets} == set(range(5, 55, 5))
    assert {s["slow"] for s in sets} == set(range(60, 260, 10))
    assert all(s["fast"] < s["slow"] for s in sets)
    assert sets[:2] == ({"fast": 5, "slow": 60}, {"fast": 5, "slow": 70})
    # A smaller grid keeps every fast value first: as many slow values as needed.
    assert sma_grid(3) == (
        {"fast": 5, "slow": 60},
        {"fast": 10, "slow": 60},
        {"fast": 15, "slow": 60},
    )
    assert len(sma_grid(17)) == 17
    assert {s["slow"] for s in sma_grid(17)} == {60, 70}


@pytest.mark.parametrize("bad", [0, -1, 2.0, True])
def test_sma_grid_rejects_a_bad_size(bad: Any) -> None:
    with pytest.raises(ValueError, match="sets"):
        sma_grid(bad)


def test_fit_startup_recovers_a_line() -> None:
    # t(n) = 1.5 s + n / 40 per s
    fit = fit_startup(200, 1.5 + 200 / 40, 2, 1.5 + 2 / 40)
    assert fit["startup_s"] == pytest.approx(1.5)
    assert fit["steady_backtests_per_s"] == pytest.approx(40.0)


def test_fit_startup_gives_none_when_the_probe_is_not_faster() -> None:
    assert fit_startup(200, 5.0, 2, 6.0) == {"startup_s": None, "steady_backtests_per_s": None}
    assert fit_startup(2, 5.0, 2, 1.0)["startup_s"] is None


def test_fit_startup_clamps_a_negative_startup_at_zero() -> None:
    # Noise can put the line's intercept below zero (serial has no start-up).
    assert fit_startup(100, 1.0, 1, 0.001)["startup_s"] == 0.0


class _FakeResult:
    def __init__(self, table: pd.DataFrame, n_failed: int = 0) -> None:
        self.table = table
        self.n_failed = n_failed


class _FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _table(sets: list[dict[str, int]], bump: float = 0.0) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(sets)
    frame["total_return"] = [s["fast"] / s["slow"] + bump for s in sets]
    return frame


@pytest.fixture(scope="module")
def tiny() -> SweepWorkload:
    return make_sweep_workload(SweepSizes(symbols=2, bars=120, sets=10, repeats=1))


def _stand_in(
    clock: _FakeClock,
    startup_s: dict[str, float],
    rate: dict[str, float],
    calls: list[tuple[str, int, int]],
    broken: dict[str, BaseException] | None = None,
    differ: str | None = None,
) -> Any:
    def sweep(
        objective: Any, sets: list[dict[str, int]], data: Any, *, backend: str, max_workers: int
    ) -> _FakeResult:
        assert callable(objective)
        assert isinstance(data, pd.DataFrame)
        calls.append((backend, max_workers, len(sets)))
        if broken and backend in broken:
            raise broken[backend]
        clock.now += startup_s[backend] + len(sets) / rate[backend]
        return _FakeResult(_table(sets, 1e-12 if backend == differ else 0.0))

    return sweep


def test_measurement_reports_rates_ratios_startup_and_identity(tiny: SweepWorkload) -> None:
    clock = _FakeClock()
    calls: list[tuple[str, int, int]] = []
    startup = {"serial": 0.0, "processes": 0.5, "dask": 2.0}
    rate = {"serial": 10.0, "processes": 18.0, "dask": 16.0}
    out = measure_sweep_throughput(
        tiny, repeats=2, sweep=_stand_in(clock, startup, rate, calls), clock=clock
    )
    assert (out["sets"], out["symbols"], out["bars"], out["repeats"]) == (10, 2, 120, 2)
    assert out["identical"] is True
    rows = {r["backend"]: r for r in out["rows"]}
    assert [r["backend"] for r in out["rows"]] == [b for b, _ in BACKENDS]
    # Per backend: a probe of one set per worker, then the whole sweep once per repeat.
    assert calls == [
        (backend, workers, n) for backend, workers in BACKENDS for n in (workers, 10, 10)
    ]
    for backend in startup:
        row = rows[backend]
        assert row["status"] == "ok"
        assert row["end_to_end_s"] == pytest.approx(startup[backend] + 10 / rate[backend])
        assert row["backtests_per_s"] == pytest.approx(10 / row["end_to_end_s"])
        assert row["startup_s"] == pytest.approx(startup[backend])
        assert row["steady_backtests_per_s"] == pytest.approx(rate[backend])
        assert row["identical_to_serial"] is True
        assert len(row["samples_s"]) == 2
        assert row["probe_s"] == pytest.approx(startup[backend] + row["probe_sets"] / rate[backend])
    assert rows["serial"]["ratio_to_serial"] == pytest.approx(1.0)
    assert rows["processes"]["ratio_to_serial"] == pytest.approx(
        rows["processes"]["backtests_per_s"] / rows["serial"]["backtests_per_s"]
    )
    assert out["duration_s"] == pytest.approx(clock.now)  # the clock started at 0
    json.dumps(out, allow_nan=False)  # goes into bench.json as is


def test_a_different_table_and_a_missing_backend_are_reported(tiny: SweepWorkload) -> None:
    clock = _FakeClock()
    calls: list[tuple[str, int, int]] = []
    ones = dict.fromkeys(("serial", "processes", "dask"), 1.0)
    sweep = _stand_in(
        clock,
        ones,
        ones,
        calls,
        broken={"dask": ImportError("No module named 'distributed'")},
        differ="processes",
    )
    out = measure_sweep_throughput(tiny, repeats=1, sweep=sweep, clock=clock)
    rows = {r["backend"]: r for r in out["rows"]}
    assert out["identical"] is False
    assert rows["processes"]["identical_to_serial"] is False
    assert "total_return" in rows["processes"]["difference"]
    assert rows["dask"]["status"] == "unavailable"
    assert "distributed" in rows["dask"]["note"]


def test_a_backend_that_breaks_is_an_error_row(tiny: SweepWorkload) -> None:
    clock = _FakeClock()
    ones = dict.fromkeys(("serial", "processes", "dask"), 1.0)
    sweep = _stand_in(clock, ones, ones, [], broken={"processes": RuntimeError("pool died")})
    out = measure_sweep_throughput(tiny, repeats=1, sweep=sweep, clock=clock)
    rows = {r["backend"]: r for r in out["rows"]}
    assert rows["processes"] == {
        "backend": "processes",
        "workers": 2,
        "status": "error",
        "note": "RuntimeError: pool died",
    }
    assert out["identical"] is True  # the backends that ran agree


def test_measurement_rejects_bad_arguments(tiny: SweepWorkload) -> None:
    with pytest.raises(ValueError, match="repeats"):
        measure_sweep_throughput(tiny, repeats=0)
    with pytest.raises(ValueError, match="backends"):
        measure_sweep_throughput(tiny, backends=())


def _sweep_section(identical: bool = True) -> dict[str, Any]:
    def ok(backend: str, workers: int, rate: float, startup: float | None) -> dict[str, Any]:
        return {
            "backend": backend,
            "workers": workers,
            "status": "ok",
            "sets": 200,
            "repeats": 3,
            "samples_s": [200 / rate, 200 / rate * 1.1, 200 / rate * 1.2],
            "end_to_end_s": 200 / rate * 1.1,
            "backtests_per_s": rate,
            "ratio_to_serial": rate / 40.0,
            "startup_s": startup,
            "steady_backtests_per_s": None if startup is None else rate * 1.2,
            "identical_to_serial": identical or backend == "serial",
        }

    return {
        "symbols": 200,
        "bars": 2520,
        "sets": 200,
        "repeats": 3,
        "reference": "serial",
        "identical": identical,
        "duration_s": 42.4,
        "rows": [
            ok("serial", 1, 40.0, 0.0),
            ok("processes", 2, 60.0, 1.25),
            {"backend": "dask", "workers": 2, "status": "unavailable", "note": "no distributed"},
        ],
    }


def _report(sweep: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "date_utc": "2024-06-01T12:00:00+00:00",
        "command": "greekfire bench --cases p",
        "quick": False,
        "duration_s": 60.0,
        "machine": {
            "cpu_model": "Test CPU",
            "logical_cores": 2,
            "ram_gib": 8.0,
            "python": "3.11.7",
            "packages": {"numpy": "2.0.0"},
        },
        "method": ["medians"],
        "cases": [],
        "first_call": [],
        "backtest_cold": [],
        "sweep_throughput": sweep,
    }


def test_markdown_has_the_sweep_table() -> None:
    text = render_markdown(_report(_sweep_section()))
    assert "## (p) Sweep throughput" in text
    assert "| backend | workers | backtests/s | ratio to serial |" in text
    assert "| serial | 1 | 40.0 | 1.00x |" in text
    assert "| processes | 2 | 60.0 | 1.50x | 3.67 | 1.25 | 72.0 | yes |" in text
    assert "| dask | 2 | unavailable |" in text
    assert "no distributed" in text
    assert "200 (fast, slow) sets" in text
    assert "200 symbols x 2,520 daily bars" in text
    assert "Tables: identical on every backend. The measurement took 42 s." in text


def test_markdown_flags_tables_that_differ_and_skips_a_missing_section() -> None:
    section = _sweep_section(identical=False)
    section["rows"][0]["failed_sets"] = 3
    text = render_markdown(_report(section))
    assert "| serial | 1 | 40.0 | 1.00x | 5.50 | 0.00 | 48.0 | yes (3 sets failed) |" in text
    assert "Tables: NOT identical. The measurement took 42 s." in text
    assert "| processes | 2 | 60.0 | 1.50x | 3.67 | 1.25 | 72.0 | NO |" in text
    assert "Sweep throughput" not in render_markdown(_report(None))


def test_the_rich_summary_lists_each_backend() -> None:
    console = Console(record=True, width=140)
    console.print(render_summary(_report(_sweep_section())))
    text = console.export_text()
    assert "(p) sweep 200 sets" in text
    assert "same tables" in text
    assert "60.0/s, start 1.2 s" in text
    assert "unavailable: no distributed" in text
    console = Console(record=True, width=140)
    console.print(render_summary(_report(_sweep_section(identical=False))))
    assert "tables DIFFER" in console.export_text()


def test_the_section_survives_the_json_writer(tmp_path: Path) -> None:
    report = _report(_sweep_section())
    write_report(report, tmp_path)
    loaded = json.loads((tmp_path / JSON_NAME).read_text(encoding="utf-8"))
    assert loaded["sweep_throughput"] == report["sweep_throughput"]


def test_run_bench_adds_the_sweep_when_case_p_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from greekfire.bench import peers, runner
    from greekfire.bench.contenders import Contender
    from greekfire.bench.harness import CaseSpec, Target
    from greekfire.bench.report import MARKDOWN_NAME
    from greekfire.bench.workloads import make_european_workload

    pytest.importorskip("scipy")
    seen: list[tuple[SweepSizes, int]] = []

    def workload(sizes: SweepSizes) -> SweepSizes:
        return sizes

    def measure(sizes: SweepSizes, *, repeats: int, progress: Any) -> dict[str, Any]:
        seen.append((sizes, repeats))
        return _sweep_section()

    monkeypatch.setattr(runner, "make_sweep_workload", workload)
    monkeypatch.setattr(runner, "measure_sweep_throughput", measure)

    def spec(key: str) -> CaseSpec[Any]:
        return CaseSpec(
            key=key,
            title=f"{key} stand-in",
            description="runner wiring",
            make_workload=lambda: make_european_workload(100),
            contenders=(Contender("greekfire", "numpy", peers.prepare_numpy),),
            target=Target("median_ms", 1e9),
        )

    report = runner.run_bench(tmp_path, quick=True, command="c", specs=[spec("p_x")], kernels=())
    assert seen == [(QUICK_SWEEP, QUICK_SWEEP.repeats)]
    assert report["sweep_throughput"] == _sweep_section()
    assert "## (p) Sweep throughput" in (tmp_path / MARKDOWN_NAME).read_text("utf-8")

    other = runner.run_bench(tmp_path, quick=True, command="c", specs=[spec("a_x")], kernels=())
    assert other["sweep_throughput"] is None
    assert len(seen) == 1


def test_a_backend_cannot_leave_environment_variables_behind(
    tiny: SweepWorkload, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As a LocalCluster's nannies do (dask's pre-spawn environment).
    monkeypatch.delenv("GF_TEST_LEAK", raising=False)
    monkeypatch.setenv("GF_TEST_KEPT", "mine")
    clock = _FakeClock()
    inner = _stand_in(
        clock, dict.fromkeys(("serial", "dask"), 1.0), {"serial": 1.0, "dask": 1.0}, []
    )
    seen: list[str | None] = []

    def leaky(*args: Any, **kwargs: Any) -> Any:
        seen.append(os.environ.get("GF_TEST_LEAK"))
        os.environ["GF_TEST_LEAK"] = "65536"
        os.environ["GF_TEST_KEPT"] = "changed"
        return inner(*args, **kwargs)

    out = measure_sweep_throughput(
        tiny, repeats=1, backends=(("serial", 1), ("dask", 2)), sweep=leaky, clock=clock
    )
    assert [r["status"] for r in out["rows"]] == ["ok", "ok"]
    # Each backend starts from the environment as it was: nothing from the one before.
    assert seen == [None, "65536", None, "65536"]
    assert "GF_TEST_LEAK" not in os.environ
    assert os.environ["GF_TEST_KEPT"] == "mine"
