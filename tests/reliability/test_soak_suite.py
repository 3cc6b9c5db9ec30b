"""The soak suite: its analysis on made-up traces, and the short run end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from greekfire.reliability.soak import (
    RSS_TOLERANCE_PCT,
    Sample,
    SoakPlan,
    analyse,
    run,
)


def trace(
    n: int = 200,
    *,
    rss: float = 300.0,
    rss_growth_per_cycle: float = 0.0,
    cycle_ms: float = 50.0,
    slow_from: int | None = None,
    journal_step: int = 1000,
    cache_growth: bool = False,
    series_jump_at: int | None = None,
) -> list[Sample]:
    samples = []
    for i in range(1, n + 1):
        spike = 5.0 * cycle_ms if i % 10 == 0 else 0.0  # every tenth slow: the p99
        slow = 4.0 if slow_from is not None and i >= slow_from else 1.0
        samples.append(
            Sample(
                cycle=i,
                sim_ts_ns=i * 60_000_000_000,
                cycle_ms=(cycle_ms + spike + (i % 7)) * slow,
                rss_mib=rss + rss_growth_per_cycle * i + (i % 3) * 0.1,
                journal_bytes=4096 + journal_step * i,
                series=283 + (1 if series_jump_at is not None and i >= series_jump_at else 0),
                errors=0,
                skipped=False,
                caches={"quotes": 20, "memo": i if cache_growth else min(i, 30)},
            )
        )
    return samples


def figure(figures: list, name: str) -> float:
    return next(f.value for f in figures if f.name == name)


def test_a_flat_run_passes_with_its_figures() -> None:
    figures, failures = analyse(trace(), {"quotes": 20})
    assert failures == []
    assert figure(figures, "cycles") == 200
    assert figure(figures, "warmup_cycles") == 40
    assert abs(figure(figures, "rss_drift_pct")) < 1.0
    assert abs(figure(figures, "rss_slope_mib_per_1000_cycles")) < 1.0
    assert figure(figures, "journal_bytes_per_cycle") == pytest.approx(1000.0)
    assert figure(figures, "journal_growth_r2") == pytest.approx(1.0)
    assert figure(figures, "metric_series_end") == 283
    assert figure(figures, "cache_memo_max") == 30


def test_a_leak_breaks_the_rss_guarantee() -> None:
    # 0.3 MiB per cycle on 300 MiB: ~15 % over the run.
    figures, failures = analyse(trace(rss_growth_per_cycle=0.3))
    assert figure(figures, "rss_drift_pct") > RSS_TOLERANCE_PCT
    assert figure(figures, "rss_slope_mib_per_1000_cycles") == pytest.approx(300.0, rel=0.01)
    assert any("RSS drifted" in f for f in failures)
    assert any("MiB per 1,000 cycles" in f for f in failures)


def test_a_growing_cache_and_new_series_are_caught() -> None:
    _, failures = analyse(trace(cache_growth=True, series_jump_at=150))
    assert any("cache memo kept growing" in f for f in failures)
    assert any("Prometheus series" in f for f in failures)


def test_a_cache_over_its_cap_is_caught() -> None:
    _, failures = analyse(trace(), {"quotes": 10})
    assert failures == ["cache quotes exceeded its cap 10"]


def test_slower_late_cycles_break_the_p99_guarantee() -> None:
    figures, failures = analyse(trace(slow_from=170))
    assert figure(figures, "cycle_p99_ratio_max") > 3.0
    assert any("p99 cycle time not stable" in f for f in failures)


def test_a_non_linear_journal_is_caught() -> None:
    # Flat, then a jump in the last cycles: growth, but no line through it.
    samples = trace()
    jumpy = [
        Sample(
            cycle=s.cycle,
            sim_ts_ns=s.sim_ts_ns,
            cycle_ms=s.cycle_ms,
            rss_mib=s.rss_mib,
            journal_bytes=10_000_000 if s.cycle > 190 else 4096,
            series=s.series,
            errors=s.errors,
            skipped=s.skipped,
            caches=s.caches,
        )
        for s in samples
    ]
    figures, failures = analyse(jumpy)
    assert figure(figures, "journal_growth_r2") < 0.9
    assert any("journal growth not linear" in f for f in failures)


def test_bad_arguments_name_the_field() -> None:
    with pytest.raises(ValueError, match="samples"):
        analyse(trace(9))
    with pytest.raises(ValueError, match="cycles"):
        SoakPlan(cycles=5, symbols=10)
    with pytest.raises(ValueError, match="symbols"):
        SoakPlan(cycles=100, symbols=0)
    assert SoakPlan.for_run(False).cycles >= 1950  # never less than a trading week


@pytest.mark.integration
def test_the_short_soak_passes(tmp_path: Path) -> None:
    result = run(tmp_path, short=True, seed=1)
    assert result.passed, result.failures
    assert result.suite == "soak"
    assert result.figure("cycles").value == 120
    assert result.figure("symbols").value == 20
    assert result.figure("faults_injected").value > 0
    assert result.figure("orders_sent").value > 0
    assert result.figure("cache_paper_orders_max").value > 0  # the paper account's history
    assert result.figure("cache_paper_events_max").value > 0
    assert result.figure("paper_state_bytes").value > 0  # the state file was on
    assert result.figure("exchange_rss_mib").value > 0  # serve-market ran in its own process
    assert result.figure("rss_drift_pct").value <= RSS_TOLERANCE_PCT
    assert result.figure("journal_bytes_per_cycle").value > 0
    assert result.figure("metric_series_end").value > 0
    assert math.isfinite(float(result.figure("cycle_p99_ms_fifth5").value))
    for path in result.artifacts:
        assert path.exists()
        assert path.stat().st_size > 0
        assert tmp_path in path.parents
    assert {p.suffix for p in result.artifacts} == {".json", ".png"}
    samples = json.loads((tmp_path / "soak_samples.json").read_text(encoding="utf-8"))
    assert len(samples) == 120
    assert all(s["rss_mib"] > 0 for s in samples)
