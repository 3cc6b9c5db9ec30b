"""The bad-input suite: its short run passes, and its case logic can tell good from bad."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from greekfire.errors import ConfigError, ParseError
from greekfire.reliability.corpus import KNOWN_BUGS, Case, build_cases, evaluate, run

pytestmark = pytest.mark.integration


def test_the_short_run_passes_with_its_key_figures(tmp_path: Path) -> None:
    result = run(tmp_path, short=True, seed=0)
    assert result.passed, result.failures
    value = {f.name: f.value for f in result.figures}
    assert value["corpus_cases"] >= 80
    assert value["corpus_unexpected"] == 0
    assert (
        value["corpus_clear_error"]
        + value["corpus_documented_treatment"]
        + value["corpus_expected_to_fail"]
        == value["corpus_cases"]
    )
    assert value["fuzz_targets"] == 7
    assert value["fuzz_examples"] >= 7 * 40
    assert value["fuzz_unexpected"] == 0
    assert value["fuzz_clear_error"] > 0
    assert value["loop_crashes"] == 0
    assert value["loop_cycles"] == 4
    assert value["loop_bad_symbol_reports"] > 0
    assert value["loop_good_symbols_traded"] == 2
    assert value["loop_stored_rows_kept"] > 0
    assert value["loop_journal_fills"] >= 2
    saved = json.loads((tmp_path / "corpus" / "corpus.json").read_text(encoding="utf-8"))
    assert len(saved["cases"]) == value["corpus_cases"]
    assert {c["case"] for c in saved["cases"] if c["known_bug"]} == set(KNOWN_BUGS)
    assert all(p.is_relative_to(tmp_path) for p in result.artifacts)


def test_case_names_are_unique_and_known_bugs_exist(tmp_path: Path) -> None:
    names = [c.name for c in build_cases(tmp_path)]
    assert len(names) == len(set(names))
    assert set(KNOWN_BUGS) <= set(names)


def test_known_bugs_still_fail_until_fixed(tmp_path: Path) -> None:
    cases = {c.name: c for c in build_cases(tmp_path)}
    for name in sorted(KNOWN_BUGS):
        assert evaluate(cases[name]).kind == "unexpected", f"{name} is fixed: drop it"


def _raise(exc: BaseException) -> object:
    raise exc


def test_evaluate_accepts_the_expected_error_naming_the_field() -> None:
    case = Case("c", "t", lambda: _raise(ConfigError("risk.x", "bad 5")), ConfigError, ("risk.x",))
    assert evaluate(case).kind == "clear_error"


@pytest.mark.parametrize(
    ("call", "error", "names"),
    [
        (lambda: _raise(KeyError("x")), ParseError, ()),  # a leaked builtin
        (lambda: _raise(ParseError("field 'o'")), ParseError, ("'c'",)),  # names the wrong field
        (lambda: 42, ParseError, ()),  # no error at all
    ],
)
def test_evaluate_flags_anything_else_as_unexpected(
    call: object, error: type[BaseException], names: tuple[str, ...]
) -> None:
    outcome = evaluate(Case("c", "t", call, error, names))  # type: ignore[arg-type]
    assert outcome.kind == "unexpected"
    assert outcome.detail


def test_a_treatment_check_that_fails_is_unexpected() -> None:
    bad = Case("c", "t", lambda: math.nan, check=lambda v: "not finite", treatment="finite")
    good = Case("c", "t", lambda: 1.0, check=lambda v: None, treatment="finite")
    assert evaluate(bad).kind == "unexpected"
    assert evaluate(good).kind == "documented"


def test_a_negative_seed_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="seed"):
        run(tmp_path, seed=-1)
