"""The bad-input suite: a corpus of hostile inputs, Hypothesis fuzzing, and the loop on bad data.

Three parts, every figure measured:

Corpus
    Named cases run through the real parsers: bars (:func:`~greekfire.data.validate.validate_bars`),
    CSV and Parquet files (:class:`~greekfire.data.files.FileProvider` on files this suite writes),
    Alpaca JSON (:func:`~greekfire.data.alpaca_wire.parse_bars_page`, and
    :class:`~greekfire.data.alpaca.AlpacaProvider` behind an ``httpx.MockTransport`` answering
    hostile payloads), option inputs (:mod:`greekfire.analytics.options`) and configs
    (:func:`~greekfire.settings.load_settings`). Each case expects either an error class whose
    message names the field or value, or a documented treatment (a row dropped and reported,
    NaN plus a status). An outcome that is neither is ``unexpected``; cases in
    :data:`KNOWN_BUGS` are expected to fail (reported, not counted as a broken guarantee).
Fuzzing
    Hypothesis with a fixed seed and a budget per target (short 50, full 2,000): only the
    documented exceptions of each target are allowed; anything else is recorded with its input
    (an escape raised by a function listed in :data:`KNOWN_LEAKS` counts as expected-to-fail).
    atheris is not used: it is not installed (the project installs nothing beyond its lock),
    and its coverage feedback cannot see inside the numba-compiled JSON scanner, the one parser
    where it would add most.
Loop
    The real engine on files with one bad symbol among good ones, restarted once over the same
    journal and history store: the good symbols trade, the bad one is reported in the cycle's
    errors, no cycle crashes, and nothing stored before is lost.

The parts live in sibling modules: the corpus cases in :mod:`greekfire.reliability.corpus_cases`,
the fuzz targets in :mod:`greekfire.reliability.corpus_fuzz`, the loop check in
:mod:`greekfire.reliability.corpus_loop`. This module runs them (:func:`run`) and turns their
outcomes into figures; it re-exports their names.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from greekfire.reliability.corpus_cases import Case, Outcome, build_cases, evaluate
from greekfire.reliability.corpus_cases import Handler as Handler
from greekfire.reliability.corpus_cases import _by_path as _by_path
from greekfire.reliability.corpus_cases import _json as _json
from greekfire.reliability.corpus_cases import call_provider as call_provider
from greekfire.reliability.corpus_cases import good_bars as good_bars
from greekfire.reliability.corpus_fuzz import KNOWN_LEAKS as KNOWN_LEAKS
from greekfire.reliability.corpus_fuzz import (
    FuzzTally,
    _fuzz_config,
    _fuzz_files,
    _fuzz_http,
    _fuzz_options,
    _fuzz_validate,
    _fuzz_wire,
)
from greekfire.reliability.corpus_fuzz import _check_clean as _check_clean
from greekfire.reliability.corpus_loop import _BAD, _GOOD, CorpusBuyer, LoopCheck, run_loop
from greekfire.reliability.corpus_loop import CorpusMarket as CorpusMarket
from greekfire.reliability.result import Figure, SuiteResult

__all__ = ["KNOWN_BUGS", "Case", "CorpusBuyer", "Outcome", "build_cases", "evaluate", "run"]

# Cases whose outcome is a known parser bug: expected to fail until fixed. The three this
# suite found (a year-9999 quote time, a list of snapshots, one bad file sinking a quote
# group) are fixed; their cases now pass as ordinary corpus cases.
KNOWN_BUGS: frozenset[str] = frozenset()

# --------------------------------------------------------------------------- the suite


def run(out_dir: Path, *, short: bool = False, seed: int = 0) -> SuiteResult:
    """Run the corpus, the fuzz targets and the loop check; figures in a :class:`SuiteResult`.

    Parameters
    ----------
    out_dir : Path
        Where the suite writes its files (corpus inputs, ``corpus.json``).
    short : bool
        50 fuzz examples per target instead of 2,000, and two cycles per loop phase.
    seed : int
        Hypothesis seed.

    Raises
    ------
    ValueError
        ``seed`` is negative.
    """
    if seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed}")
    started = time.perf_counter()
    out_dir = Path(out_dir) / "corpus"
    out_dir.mkdir(parents=True, exist_ok=True)
    budget = 50 if short else 2000
    outcomes = [evaluate(case) for case in build_cases(out_dir / "inputs")]
    fuzz_dir = out_dir / "fuzz"
    fuzz_dir.mkdir(parents=True, exist_ok=True)
    tallies = [
        _fuzz_wire(budget, seed),
        _fuzz_validate(budget, seed),
        _fuzz_files(fuzz_dir, budget, seed),
        *_fuzz_config(fuzz_dir, budget, seed),
        _fuzz_http(budget, seed),
        _fuzz_options(budget, seed),
    ]
    loop = run_loop(out_dir / "loop", cycles=2 if short else 3)
    result = _result(outcomes, tallies, loop)
    result.seconds = time.perf_counter() - started
    result.params = {
        "short": short,
        "seed": seed,
        "fuzz_examples_budget": budget,
        "known_bugs": sorted(KNOWN_BUGS),
    }
    result.artifacts.append(_save(out_dir / "corpus.json", outcomes, tallies, loop))
    return result


def _result(outcomes: list[Outcome], tallies: list[FuzzTally], loop: LoopCheck) -> SuiteResult:
    kinds = {k: sum(o.kind == k for o in outcomes) for k in ("clear_error", "documented")}
    unexpected = [o for o in outcomes if o.kind == "unexpected" and o.case not in KNOWN_BUGS]
    xfail = [o for o in outcomes if o.kind == "unexpected" and o.case in KNOWN_BUGS]
    fixed = sorted(KNOWN_BUGS - {o.case for o in xfail})
    figures = [
        Figure("corpus_cases", len(outcomes), "inputs", "hostile inputs in the corpus"),
        Figure(
            "corpus_clear_error",
            kinds["clear_error"],
            "inputs",
            "cases answered by the expected error class naming the field/value",
        ),
        Figure(
            "corpus_documented_treatment",
            kinds["documented"],
            "inputs",
            "cases given their documented treatment (row dropped and reported, NaN + status)",
        ),
        Figure(
            "corpus_unexpected",
            len(unexpected),
            "inputs",
            "cases with any other outcome (must be 0)",
        ),
        Figure(
            "corpus_expected_to_fail",
            len(xfail),
            "inputs",
            "known parser bugs reported to the lead (listed in params.known_bugs)",
        ),
        Figure("fuzz_targets", len(tallies), "", "parsers and loaders fuzzed with Hypothesis"),
        Figure(
            "fuzz_examples",
            sum(t.examples for t in tallies),
            "inputs",
            "Hypothesis examples over every target",
        ),
    ]
    for t in tallies:
        key = t.target.lower().replace(".", "_")
        figures.append(
            Figure(
                f"fuzz_{key}_examples",
                t.examples,
                "inputs",
                f"{t.target}: {t.returned} returned, {t.clear_error} documented "
                f"errors, {t.known_bug} known bugs, {t.unexpected} unexpected",
            )
        )
    figures += [
        Figure(
            "fuzz_clear_error",
            sum(t.clear_error for t in tallies),
            "inputs",
            "fuzz inputs refused with a documented exception",
        ),
        Figure(
            "fuzz_unexpected",
            sum(t.unexpected for t in tallies),
            "inputs",
            "fuzz inputs that leaked another exception or broke an invariant (must be 0)",
        ),
        Figure(
            "fuzz_expected_to_fail",
            sum(t.known_bug for t in tallies),
            "inputs",
            "fuzz inputs that hit a known bug of params.known_bugs (reported to the lead)",
        ),
        Figure(
            "fuzz_warnings",
            sum(t.warnings for t in tallies),
            "",
            "Python warnings emitted while fuzzing (not failures)",
        ),
        Figure("loop_cycles", loop.cycles, "cycles", "engine cycles run on the corpus market"),
        Figure("loop_crashes", loop.crashed, "cycles", "cycles that raised (must be 0)"),
        Figure(
            "loop_bad_symbol_reports",
            loop.bad_reported,
            "errors",
            "cycle errors naming the bad symbol",
        ),
        Figure(
            "loop_good_symbols_traded",
            loop.good_traded,
            "symbols",
            f"good symbols held at the end (of {len(_GOOD)})",
        ),
        Figure(
            "loop_stored_rows_kept",
            loop.stored_rows_kept,
            "rows",
            f"history rows stored before the bad restart and unchanged after "
            f"(of {loop.stored_rows_before})",
        ),
        Figure(
            "loop_journal_orders",
            loop.orders_after,
            "orders",
            f"journal orders after the run ({loop.orders_before} before the restart)",
        ),
        Figure(
            "loop_journal_fills",
            loop.fills_after,
            "fills",
            f"journal fills after the run ({loop.fills_before} before the restart)",
        ),
        Figure(
            "loop_http_requests",
            loop.requests,
            "requests",
            "requests the engine sent to the corpus market",
        ),
    ]
    failures = [f"corpus {o.case} ({o.target}): {o.detail}" for o in unexpected]
    failures += [f"known bug {name} no longer fails: remove it from KNOWN_BUGS" for name in fixed]
    failures += [
        f"fuzz {t.target}: {t.unexpected} unexpected, e.g. {t.samples}"
        for t in tallies
        if t.unexpected
    ]
    failures += _loop_failures(loop)
    return SuiteResult("corpus", not failures, figures, failures)


def _loop_failures(loop: LoopCheck) -> list[str]:
    out = [f"loop: {p}" for p in loop.problems]
    if loop.crashed:
        out.append(f"loop: {loop.crashed} cycles raised")
    if loop.bad_reported == 0:
        out.append(f"loop: the bad symbol {_BAD} was never reported")
    if loop.good_traded != len(_GOOD):
        out.append(f"loop: {loop.good_traded} of {len(_GOOD)} good symbols traded")
    if loop.stored_rows_before == 0 or loop.stored_rows_kept != loop.stored_rows_before:
        out.append(f"loop: stored rows {loop.stored_rows_kept} kept of {loop.stored_rows_before}")
    if loop.orders_after < loop.orders_before or loop.fills_after < loop.fills_before:
        out.append(f"loop: journal lost rows ({loop.orders_before} -> {loop.orders_after} orders)")
    if loop.integrity != "ok":
        out.append(f"loop: journal integrity_check {loop.integrity!r}")
    return out


def _save(path: Path, outcomes: list[Outcome], tallies: list[FuzzTally], loop: LoopCheck) -> Path:
    doc = {
        "cases": [
            {
                "case": o.case,
                "target": o.target,
                "outcome": o.kind,
                "detail": o.detail,
                "known_bug": o.case in KNOWN_BUGS,
            }
            for o in outcomes
        ],
        "fuzz": [
            {
                "target": t.target,
                "examples": t.examples,
                "returned": t.returned,
                "clear_error": t.clear_error,
                "unexpected": t.unexpected,
                "known_bug": t.known_bug,
                "warnings": t.warnings,
                "samples": t.samples,
                "known_samples": t.known_samples,
            }
            for t in tallies
        ],
        "loop": {k: getattr(loop, k) for k in LoopCheck.__slots__},
    }
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    return path
