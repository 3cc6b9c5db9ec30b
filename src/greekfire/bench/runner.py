"""Entry point of ``greekfire bench``: run every case, measure first calls, write the report.

``run_bench(out_dir)`` is what the CLI calls; ``quick=True`` shrinks every size for a smoke
test (seconds instead of minutes; its numbers are not worth quoting); ``cases=["e", "f"]``
runs only those cases (and skips the first-call measurements unless ``kernels`` asks).
Besides ``bench.json`` and ``bench.md`` it writes the brief's report files
(``brief.write_brief_reports``). When case (p) runs, so do its cold (fresh-process) timings
(not with ``quick``) and its sweep throughput (``sweep_cases``: serial vs 2 processes vs Dask,
tiny with ``quick``). ``progress`` gets a message per step; ``events`` gets a
``BenchEvent`` (steps done of the total) per step, for a progress bar.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from greekfire.bench.backtest_cases import measure_backtest_cold
from greekfire.bench.brief import write_brief_reports
from greekfire.bench.cases import FULL, QUICK_SIZES, Sizes, build_cases, select_cases
from greekfire.bench.firstcall import ALL_KERNELS, KernelSpec, measure_first_calls
from greekfire.bench.harness import CaseSpec, Policies, run_case
from greekfire.bench.machine import describe_machine
from greekfire.bench.report import SCHEMA_VERSION, write_report
from greekfire.bench.sweep_cases import (
    FULL_SWEEP,
    QUICK_SWEEP,
    make_sweep_workload,
    measure_sweep_throughput,
)
from greekfire.bench.timing import FAST, QUICK, SLOW, RepeatPolicy

__all__ = [
    "FULL_POLICIES",
    "QUICK_POLICIES",
    "BenchEvent",
    "assemble_report",
    "method_notes",
    "run_bench",
]

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class BenchEvent:
    """Where a run stands: ``completed`` of ``total`` steps done, ``description`` starts now.

    A step is a case's workload, each contender of each case, each first-call kernel and
    the writing of the reports; the last event has ``completed == total``.
    """

    completed: int
    total: int
    description: str


Events = Callable[[BenchEvent], None]


class _Steps:
    # One step per progress message (the harness says one per workload and per contender,
    # firstcall one per kernel): forwards the message and emits the structured event.
    def __init__(self, total: int, progress: Progress | None, events: Events | None) -> None:
        self.total, self.started = total, 0
        self.progress, self.events = progress, events

    def __call__(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)
        if self.events is not None:
            self.events(BenchEvent(min(self.started, self.total - 1), self.total, message))
        self.started += 1

    def finish(self) -> None:
        if self.events is not None:
            self.events(BenchEvent(self.total, self.total, "done"))


FULL_POLICIES = Policies(fast=FAST, slow=SLOW)
QUICK_POLICIES = Policies(fast=QUICK, slow=QUICK)


def _describe_policy(name: str, p: RepeatPolicy) -> str:
    return (
        f"{name} contenders: {p.warmup} untimed warm-up call(s), then enough samples to fill "
        f"{p.budget_s:g} s, at least {p.min_repeats} and at most {p.max_repeats}"
    )


def method_notes(policies: Policies, sizes: Sizes) -> list[str]:
    """Return the method statements printed at the top of the report.

    Parameters
    ----------
    policies : Policies
        Repeat policies used.
    sizes : Sizes
        Case sizes used (for the subsample statement).
    """
    return [
        "One sample = one call timed with time.perf_counter_ns, garbage collector paused.",
        _describe_policy("Fast", policies.fast) + ".",
        _describe_policy(
            "Slow (Python loops, py_vollib_vectorized, pandas on case (f)'s block)", policies.slow
        )
        + ".",
        "median and min are for the full batch; 'repeats' is the number of timed samples; "
        "the JSON keeps every sample (samples_ns) and the interquartile range (timed_iqr_ns).",
        "'time vs greekfire' = contender median / greekfire kernel median, both measured in "
        "this run on the same inputs (above 1: greekfire is faster).",
        f"Loop-based peers are timed on the first {sizes.loop_subsample:,} (scipy loop) or "
        f"{sizes.quantlib_subsample:,} (QuantLib) options and scaled linearly per option to "
        "the full batch; their rows say 'extrapolated'.",
        "Inputs are deterministic (numpy default_rng, fixed seeds): spots ~100, strikes "
        "spot*exp(N(0, 0.25)), 1 day to 2 years in whole days, vols 0.05-1.0, rates -1% to "
        "6%, dividend yields 0-4%, calls and puts. Case (d) uses rates 0-6% (BAW, and "
        "QuantLib's engine, need r >= 0). Case (c) draws 25% of expiries in 1-14 days and puts "
        "40% of strikes 2.5-6 standard deviations from the forward; prices are the numpy "
        "closed form at the true vols.",
        "greekfire kernels get preallocated outputs (the *_into API); peers allocate theirs.",
        "Cases (e)-(g) count symbol-bars and (h) symbol-days ('bars timed', 'ns/bar'); the "
        "JSON keeps the field names n_options and ns_per_option for those counts. Their inputs "
        "are synthetic daily OHLC paths (Student-t returns, 0.8-2.5% daily vol, prices in "
        "cents) and returns (0.5-3% daily vol), fixed seeds.",
        "Indicator kernels get preallocated outputs and state blocks, zeroed inside the timed "
        "call (each call is a new batch); TA-Lib and pandas-ta-classic loop over symbols; "
        f"pandas-ta-classic is timed on the first {sizes.ta_loop_subsample:,} symbols of "
        "case (f) and scaled per symbol.",
        "The machine may be shared: compare ratios within a run, not absolute times across runs.",
    ]


def assemble_report(
    cases: list[dict[str, Any]],
    first_call: list[dict[str, Any]],
    *,
    quick: bool,
    command: str,
    method: list[str],
    duration_s: float,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    """Put case results, first-call costs and the machine description into one report.

    Parameters
    ----------
    cases : list of dict
        Results of ``harness.run_case``.
    first_call : list of dict
        Results of ``firstcall.measure_first_calls``.
    quick : bool
        Whether sizes were shrunk.
    command : str
        The command line that produced the report.
    method : list of str
        Method statements (``method_notes``).
    duration_s : float
        Wall time of the whole run.
    now : callable, optional
        UTC clock, injectable for tests.

    Returns
    -------
    dict
        The JSON-ready report (see ``report.validate_report``).
    """
    return {
        "schema_version": SCHEMA_VERSION,
        "date_utc": now().astimezone(UTC).isoformat(timespec="seconds"),
        "command": command,
        "quick": quick,
        "duration_s": duration_s,
        "machine": describe_machine(),
        "method": method,
        "cases": cases,
        "first_call": first_call,
    }


def _default_command() -> str:
    return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])


def run_bench(
    out_dir: Path,
    *,
    quick: bool = False,
    command: str | None = None,
    progress: Progress | None = None,
    specs: Sequence[CaseSpec[Any]] | None = None,
    kernels: Sequence[KernelSpec] | None = None,
    cases: Sequence[str] | None = None,
    events: Events | None = None,
) -> dict[str, Any]:
    """Run the benchmark suite and write its report files into ``out_dir``.

    The files: ``bench.json`` and ``bench.md`` (every case), and the brief's report
    (``brief.write_brief_reports``: ``performance_optimization_report.json``,
    ``performance_validation_results.json``, ``performance_summary.md``,
    ``performance_chart.png``).

    Parameters
    ----------
    out_dir : Path
        Directory for the report files (created if needed).
    quick : bool
        Shrink sizes and repeats for a smoke test.
    command : str, optional
        Command line recorded in the report; defaults to ``sys.argv``.
    progress : callable, optional
        Called with a short message at each step (e.g. ``rich.console.Console.log``).
    specs : sequence of CaseSpec, optional
        Cases to run instead of ``cases.build_cases`` (tests).
    kernels : sequence of KernelSpec, optional
        Kernels whose first call is measured; defaults to all (only
        ``bsm.price_greeks_into`` when ``quick``, none when ``cases`` is given). Pass ``()``
        to skip.
    cases : sequence of str, optional
        Run only these cases: letters (``"e"``) or keys, e.g. ``["e", "f", "g", "h"]``.
    events : callable, optional
        Called with a ``BenchEvent`` as each step starts, and once at the end with
        ``completed == total`` (drives ``bench.progress.progress_bar``).

    Returns
    -------
    dict
        The report, as written to ``bench.json``.

    Raises
    ------
    ValueError
        ``cases`` names no case of the suite (checked before anything runs).
    """
    start = time.perf_counter()
    sizes = QUICK_SIZES if quick else FULL
    policies = QUICK_POLICIES if quick else FULL_POLICIES
    chosen = build_cases(sizes) if specs is None else list(specs)
    if cases is not None:
        chosen = select_cases(chosen, cases)
    if kernels is None:
        kernels = () if cases is not None else ALL_KERNELS[:1] if quick else ALL_KERNELS
    steps = _Steps(sum(1 + len(s.contenders) for s in chosen) + len(kernels) + 1, progress, events)
    results = [run_case(spec, policies, steps) for spec in chosen]
    first_call = measure_first_calls(kernels, steps)
    cold_backtests: list[dict[str, Any]] = []
    sweep_throughput: dict[str, Any] | None = None
    if any(s.key.startswith("p_") for s in chosen):
        if not quick:
            cold_backtests = measure_backtest_cold(progress=progress)
        sweep_sizes = QUICK_SWEEP if quick else FULL_SWEEP
        sweep_throughput = measure_sweep_throughput(
            make_sweep_workload(sweep_sizes), repeats=sweep_sizes.repeats, progress=progress
        )
    report = assemble_report(
        results,
        first_call,
        quick=quick,
        command=command or _default_command(),
        method=method_notes(policies, sizes),
        duration_s=time.perf_counter() - start,
    )
    steps("writing reports")
    report["backtest_cold"] = cold_backtests
    report["sweep_throughput"] = sweep_throughput
    write_report(report, out_dir)
    write_brief_reports(report, out_dir)
    steps.finish()
    return report
