"""profile_block / profile_function / Profiler: clocks, tracemalloc, cProfile, report, HTML."""

from __future__ import annotations

import asyncio
import inspect
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from greekfire.perf.profiler import (
    Profiler,
    ProfileRecord,
    default_profiler,
    profile_block,
    profile_function,
)

MB = 2**20


def stepping(step: float, start: float = 0.0) -> Iterator[float]:
    value = start
    while True:
        yield value
        value += step


def fixed_profiler(wall_step: float = 2.5, cpu_step: float = 0.75) -> Profiler:
    # Every block reads each clock twice, so each run lasts exactly one step.
    return Profiler(
        clock=stepping(wall_step).__next__, cpu_clock=stepping(cpu_step, start=10.0).__next__
    )


@pytest.fixture(autouse=True)
def _tracemalloc_untouched() -> Iterator[None]:
    # Every test must leave tracemalloc as it found it (off under a plain pytest run).
    was_tracing = tracemalloc.is_tracing()
    yield
    assert tracemalloc.is_tracing() == was_tracing


def churn(n: int) -> int:
    return sum(i * i for i in range(n))


def test_record_has_wall_cpu_and_memory_fields_from_the_injected_clocks() -> None:
    profiler = fixed_profiler()
    with profile_block("load", profiler=profiler) as block:
        churn(100)
    record = block.record
    assert isinstance(record, ProfileRecord)
    assert record.name == "load"
    assert record.wall_s == 2.5
    assert record.cpu_s == 0.75
    assert record.memory_delta_bytes is not None
    assert record.memory_peak_bytes is not None
    assert record.memory_peak_bytes >= 0
    assert record.cprofile_text is None
    assert record.html_path is None
    assert record.error is None
    assert profiler.records == (record,)


def test_memory_delta_sees_a_big_allocation_kept() -> None:
    with profile_block("alloc", profiler=Profiler()) as block:
        kept = bytearray(10 * MB)
    assert len(kept) == 10 * MB
    assert block.record is not None
    assert block.record.memory_delta_bytes is not None
    assert block.record.memory_delta_bytes >= 9 * MB
    assert block.record.memory_peak_bytes is not None
    assert block.record.memory_peak_bytes >= 9 * MB


def test_memory_peak_sees_a_temporary_allocation() -> None:
    with profile_block("temp", profiler=Profiler()) as block:
        temp = bytearray(10 * MB)
        del temp
    record = block.record
    assert record is not None
    assert record.memory_peak_bytes is not None
    assert record.memory_peak_bytes >= 9 * MB
    assert record.memory_delta_bytes is not None
    assert record.memory_delta_bytes < 1 * MB


def test_nested_blocks_keep_the_outer_peak() -> None:
    profiler = Profiler()
    with profile_block("outer", profiler=profiler) as outer:
        temp = bytearray(10 * MB)
        del temp
        with profile_block("inner", profiler=profiler) as inner:
            churn(10)
    assert inner.record is not None
    assert outer.record is not None
    assert inner.record.memory_peak_bytes is not None
    assert inner.record.memory_peak_bytes < 1 * MB
    assert outer.record.memory_peak_bytes is not None
    assert outer.record.memory_peak_bytes >= 9 * MB


def test_tracemalloc_started_by_someone_else_is_left_running() -> None:
    tracemalloc.start()
    try:
        with profile_block("traced", profiler=Profiler()) as block:
            kept = bytearray(10 * MB)
        assert tracemalloc.is_tracing()
    finally:
        tracemalloc.stop()
    assert len(kept) == 10 * MB
    assert block.record is not None
    assert block.record.memory_delta_bytes is not None
    assert block.record.memory_delta_bytes >= 9 * MB


def test_tracemalloc_is_stopped_after_a_block_that_started_it() -> None:
    assert not tracemalloc.is_tracing()
    with profile_block("mine", profiler=Profiler()):
        assert tracemalloc.is_tracing()
    assert not tracemalloc.is_tracing()


def test_memory_false_leaves_tracemalloc_alone() -> None:
    with profile_block("fast", memory=False, profiler=Profiler()) as block:
        assert not tracemalloc.is_tracing()
    assert block.record is not None
    assert block.record.memory_delta_bytes is None
    assert block.record.memory_peak_bytes is None


def distinctive_function_name() -> int:
    return churn(1000)


def test_cprofile_stats_name_the_called_function() -> None:
    with profile_block("cp", cprofile=True, memory=False, profiler=Profiler()) as block:
        distinctive_function_name()
    assert block.record is not None
    assert block.record.cprofile_text is not None
    assert "distinctive_function_name" in block.record.cprofile_text
    assert "cumulative" in block.record.cprofile_text


def test_a_block_that_raises_is_recorded_and_the_exception_propagates() -> None:
    profiler = fixed_profiler()

    def fail() -> None:
        with profile_block("boom", profiler=profiler):
            raise KeyError("x")

    with pytest.raises(KeyError):
        fail()
    (record,) = profiler.records
    assert record.error == "KeyError"
    assert record.wall_s == 2.5
    assert profiler.summary()[0].errors == 1


def test_profile_function_bare_and_configured_on_sync_functions() -> None:
    @profile_function
    def bare(x: int) -> int:
        """Double x."""
        return 2 * x

    profiler = fixed_profiler()

    @profile_function(profiler=profiler, name="configured", memory=False)
    def configured(x: int) -> int:
        return x + 1

    assert bare(4) == 8
    assert bare.__doc__ == "Double x."
    assert default_profiler().records[-1].name.endswith("bare")
    assert configured(1) == 2
    assert configured(2) == 3
    assert [r.name for r in profiler.records] == ["configured", "configured"]
    assert all(r.wall_s == 2.5 and r.memory_delta_bytes is None for r in profiler.records)


def test_profile_function_on_an_async_function() -> None:
    profiler = fixed_profiler()

    @profile_function(profiler=profiler, cprofile=True)
    async def fetch(symbol: str) -> str:
        await asyncio.sleep(0)
        return symbol.lower()

    assert inspect.iscoroutinefunction(fetch)
    assert asyncio.run(fetch("SPY")) == "spy"
    (record,) = profiler.records
    assert record.name.endswith("fetch")
    assert record.wall_s == 2.5
    assert record.cpu_s == 0.75
    assert record.cprofile_text is not None


def test_profile_function_records_an_async_failure() -> None:
    profiler = fixed_profiler()

    @profile_function(profiler=profiler, memory=False)
    async def fail() -> None:
        raise TimeoutError

    with pytest.raises(TimeoutError):
        asyncio.run(fail())
    assert profiler.records[0].error == "TimeoutError"


def test_report_orders_by_cost() -> None:
    profiler = Profiler()
    rows = [
        ProfileRecord("slow", wall_s=3.0, cpu_s=0.1, memory_peak_bytes=10),
        ProfileRecord("cpu_heavy", wall_s=1.0, cpu_s=2.0, memory_peak_bytes=5 * MB),
        ProfileRecord("many", wall_s=0.5, cpu_s=0.5),
        ProfileRecord("many", wall_s=0.5, cpu_s=0.5),
        ProfileRecord("many", wall_s=0.5, cpu_s=0.5),
    ]
    for row in rows:
        profiler.add(row)

    assert [s.name for s in profiler.summary("wall")] == ["slow", "many", "cpu_heavy"]
    assert [s.name for s in profiler.summary("cpu")] == ["cpu_heavy", "many", "slow"]
    assert [s.name for s in profiler.summary("memory")] == ["cpu_heavy", "slow", "many"]
    assert [s.name for s in profiler.summary("calls")] == ["many", "cpu_heavy", "slow"]
    assert [s.name for s in profiler.summary("name")] == ["cpu_heavy", "many", "slow"]
    many = profiler.summary("calls")[0]
    assert (many.calls, many.wall_s, many.mean_wall_s) == (3, 1.5, 0.5)

    lines = profiler.report(sort="wall").splitlines()
    assert lines[0].split()[:3] == ["name", "calls", "errors"]
    assert [line.split()[0] for line in lines[1:]] == ["slow", "many", "cpu_heavy"]
    assert "5 MiB" in profiler.report(sort="cpu", limit=1)
    assert len(profiler.report(limit=1).splitlines()) == 2


def test_report_rejects_an_unknown_sort_key_with_a_suggestion() -> None:
    with pytest.raises(ValueError, match="did you mean 'wall'"):
        Profiler().report(sort="wal")


def test_records_are_bounded_but_totals_count_every_run() -> None:
    profiler = Profiler(max_records=2)
    for i in range(5):
        profiler.add(ProfileRecord("step", wall_s=float(i), cpu_s=0.0))
    assert [r.wall_s for r in profiler.records] == [3.0, 4.0]
    (total,) = profiler.summary()
    assert (total.calls, total.wall_s) == (5, 10.0)
    profiler.clear()
    assert profiler.records == ()
    assert profiler.summary() == []


def test_cprofile_and_html_cannot_be_combined(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot be combined"):
        profile_block("x", cprofile=True, html_path=tmp_path / "x.html")


def test_html_is_written_when_pyinstrument_is_installed(tmp_path: Path) -> None:
    pytest.importorskip("pyinstrument")
    profiler = Profiler()
    path = tmp_path / "profiles" / "chain.html"
    with profiler.html("chain", path) as block:
        distinctive_function_name()
    assert block.record is not None
    assert block.record.html_path == path
    html = path.read_text(encoding="utf-8")
    assert "<html" in html.lower()
    assert "pyinstrument" in html.lower()


def test_html_path_on_profile_block(tmp_path: Path) -> None:
    pytest.importorskip("pyinstrument")
    path = tmp_path / "block.html"
    with profile_block("block", html_path=str(path), memory=False, profiler=Profiler()):
        churn(1000)
    assert path.stat().st_size > 0


def test_html_without_pyinstrument_names_the_profile_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyinstrument", None)
    ran = []
    block = Profiler().html("x", tmp_path / "x.html")
    with pytest.raises(ImportError, match=r"greekfire\[profile\]"), block:
        ran.append(True)
    assert ran == []
    assert not (tmp_path / "x.html").exists()
