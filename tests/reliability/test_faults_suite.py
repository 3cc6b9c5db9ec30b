"""The fault-injection suite: its short run against serve-market, and its own bookkeeping."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from greekfire.reliability.faults import (
    PHASES,
    Phase,
    _before_close,
    _figures,
    _next_saturday_noon,
    _percentile,
    _PhaseLog,
    _plan,
    _Run,
    audit_cycle,
    cadence_bound_s,
    error_class,
    run,
)
from greekfire.reliability.result import SuiteResult

SYMBOLS = ("SPY", "SPYG", "QQQ", "BRK.B")


# -- the suite's own logic --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("quotes SPY: TimeoutError: quotes SPY: no answer within 3.0s", "TimeoutError"),
        ("bars AAPL: CircuitOpen: circuit open for provider 'alpaca'", "CircuitOpen"),
        (
            "fetch: TransientError: orders: ConnectionError: ('Connection aborted.')",
            "TransientError",
        ),
        ("fetch: quotes SPY: RateLimited", "RateLimited"),
        ("strategy momentum disabled after an error", "unknown"),
    ],
)
def test_error_class_reads_the_exception_class_an_engine_error_names(
    line: str, expected: str
) -> None:
    assert error_class(line) == expected


def test_audit_counts_fresh_named_and_silently_missing_symbols() -> None:
    old, new = object(), object()
    before = {"SPY": old, "SPYG": old, "QQQ": old, "BRK.B": old}
    after = {"SPY": new, "SPYG": old, "QQQ": old, "BRK.B": old}
    errors = ["quotes SPYG: ServerError: 503", "bars BRK.B: ParseError: bad bar"]
    audit = audit_cycle(SYMBOLS, before, after, errors)
    assert (audit.fresh, audit.named) == (1, 2)
    assert audit.missing == ("QQQ",)  # an unchanged quote and no error naming it


def test_audit_does_not_take_a_longer_ticker_for_the_symbol() -> None:
    quote = object()
    audit = audit_cycle(("SPY",), {"SPY": quote}, {"SPY": quote}, ["quotes SPYG: ServerError"])
    assert audit.missing == ("SPY",)
    first_seen = audit_cycle(("SPY",), {}, {"SPY": quote}, [])
    assert (first_seen.fresh, first_seen.missing) == (1, ())


def test_cadence_bound_adds_two_rounds_of_retries_and_the_broker() -> None:
    # 2 x (4 x 3 s + 3 x 10 s) + 4 x 3 s
    assert cadence_bound_s(4, 3.0, 10.0, 3.0) == pytest.approx(96.0)
    assert cadence_bound_s(1, 1.0, 10.0, 1.0) == pytest.approx(3.0)  # no retry, no backoff
    with pytest.raises(ValueError, match="max_attempts"):
        cadence_bound_s(0, 1.0, 1.0, 1.0)


def test_a_weekend_jump_lands_on_saturday_noon_new_york() -> None:
    monday = pd.Timestamp("2026-11-09T15:00:00+00:00")
    target = _next_saturday_noon(monday).tz_convert("America/New_York")
    assert (target.day_name(), target.hour, target.day) == ("Saturday", 12, 14)
    saturday = pd.Timestamp("2026-11-14T18:00:00+00:00")
    assert _next_saturday_noon(saturday).tz_convert("America/New_York").day == 21


def test_a_jump_to_the_close_lands_two_minutes_before_it() -> None:
    morning = pd.Timestamp("2026-11-09T15:00:00+00:00")  # 10:00 New York (EST)
    assert _before_close(morning) == pd.Timestamp("2026-11-09T20:58:00+00:00")
    summer = pd.Timestamp("2026-06-09T15:00:00+00:00")  # EDT: the close is 20:00 UTC
    assert _before_close(summer) == pd.Timestamp("2026-06-09T19:58:00+00:00")


def test_the_short_plan_keeps_every_phase_and_a_weekend_jump() -> None:
    short = _plan(True)
    assert [p.name for p in short] == [p.name for p in PHASES]
    assert all(p.cycles < full.cycles for p, full in zip(short, PHASES, strict=True))
    assert all(k < p.cycles for p in short for k in [*p.bot_jumps_s, *p.exchange_jumps_s])
    assert any(v < 0 for p in short for v in p.bot_jumps_s.values())  # over a weekend
    kinds = {k for p in short for k in p.faults}
    assert {"latency_ms", "rate_limit_rps", "error_rate", "hang_rate", "drop_rate"} <= kinds
    assert {"malformed_rate", "truncate_rate"} <= kinds


def test_every_broken_guarantee_becomes_a_failure_not_an_exception() -> None:
    log = _PhaseLog("errors", cycles=2, fresh=3, named=1, missing=2, cycle_ms=[100.0, 70_000.0])
    broken = _Run(phases=[log], planned=[Phase("errors", 3, {})])
    broken.stats = {"by_path": {"/v2/stocks/bars": 9, "/_greekfire/stats": 4}, "by_fault": {}}
    broken.summary_failed = 1
    broken.missing_examples.append("cycle 2 (errors): ['QQQ']")
    broken.tap.over.append("fetch_quotes SPY: 5 attempts (limit 4)")
    figures, failures = _figures(broken, bound_s=60.0)
    text = " / ".join(failures)
    for expected in (
        "neither fresh data",
        "raised",
        "2 of 3",
        "unbounded",
        "p99",
        "bound",
        "no fault",
    ):
        assert expected in text
    value = {f.name: f.value for f in figures}
    assert value["requests"] == 9  # control requests are not the bot's
    assert value["symbol_cycles_silent"] == 2


def test_percentile_is_nearest_rank() -> None:
    assert _percentile([], 99) == 0.0
    assert _percentile([5.0, 1.0, 3.0], 50) == 3.0
    assert _percentile([float(i) for i in range(101)], 99) == 99.0


def test_a_bad_seed_is_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="seed"):
        run(tmp_path, short=True, seed=-1)
    assert not (tmp_path / "faults_work").exists()


# -- the short run -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def short_run(tmp_path_factory: pytest.TempPathFactory) -> SuiteResult:
    return run(tmp_path_factory.mktemp("faults"), short=True, seed=3)


@pytest.mark.integration
def test_the_bot_survives_every_fault_without_dropping_a_symbol(short_run: SuiteResult) -> None:
    result = short_run
    assert result.passed, result.failures
    value = {f.name: f.value for f in result.figures}
    assert value["requests"] >= 300
    assert value["faults_injected"] > 0
    assert value["faults_rate_limit"] > 0  # the token bucket empties every time
    kinds = ("rate_limit", "error", "hang", "malformed", "truncate", "drop")
    assert sum(1 for k in kinds if value[f"faults_{k}"] > 0) >= 4
    assert value["clock_jumps"] >= 4
    assert value["closed_cycles"] >= 1  # the jump to the close ran the bot through a night
    assert value["failed_cycles"] == 0
    assert value["symbol_cycles_silent"] == 0
    assert value["symbol_cycles_fresh"] > 0
    assert value["trading_cycles"] == sum(p.cycles for p in _plan(True))
    assert 1 <= value["max_attempts"] <= value["max_attempts_allowed"]
    assert value["retries"] > 0
    assert value["api_attempts"] > value["retries"]
    assert value["cycle_p99_ms"] <= value["interval_ms"]
    assert value["cycle_max_ms"] <= value["cycle_bound_ms"]


@pytest.mark.integration
def test_the_short_run_writes_its_trace_and_figure(short_run: SuiteResult) -> None:
    paths = {p.name: p for p in short_run.artifacts}
    assert {"faults_trace.json", "faults_cycle_time.png", "faults_bot.log"} <= set(paths)
    assert paths["faults_cycle_time.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    trace = json.loads(paths["faults_trace.json"].read_text(encoding="utf-8"))
    assert [p["phase"] for p in trace["phases"]] == [p.name for p in PHASES]
    assert all(p["missing"] == 0 for p in trace["phases"])
    jumped = [c["ts"] for c in trace["cycles"] if c["phase"] == "clock_jumps"]
    days = {pd.Timestamp(t).date() for t in jumped}
    assert len(days) >= 2  # the weekend jump moved the bot to another week
    assert sum(trace["exchange"]["by_fault"].values()) == short_run.figure("faults_injected").value
    assert short_run.params["short"] is True
    assert short_run.params["seed"] == 3
