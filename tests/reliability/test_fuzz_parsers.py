"""The fuzz machinery of the bad-input suite: counting, determinism, invariants."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from greekfire.errors import ParseError
from greekfire.reliability import corpus

pytestmark = pytest.mark.integration


def _raise_parse() -> None:
    raise ParseError("field 'o': expected a number")


def test_a_tally_counts_allowed_errors_apart_from_leaks() -> None:
    tally = corpus.FuzzTally("t")
    tally.record(lambda: None, (ParseError,), "ok")
    tally.record(_raise_parse, (ParseError,), "bad")
    tally.record(lambda: {}["missing"], (ParseError,), "leak")
    assert (tally.examples, tally.returned, tally.clear_error, tally.unexpected) == (3, 1, 1, 1)
    assert "KeyError" in tally.samples[0]
    assert "leak" in tally.samples[0]


def test_a_tally_records_warnings_without_failing() -> None:
    tally = corpus.FuzzTally("t")
    tally.record(lambda: warnings.warn("noisy", RuntimeWarning, stacklevel=1), (), "x")
    assert tally.warnings == 1
    assert tally.returned == 1


def test_wire_fuzzing_is_deterministic_for_a_seed() -> None:
    first = corpus._fuzz_wire(30, seed=3)
    second = corpus._fuzz_wire(30, seed=3)
    assert first.examples == 30
    assert (first.returned, first.clear_error) == (second.returned, second.clear_error)
    assert first.unexpected == 0, first.samples


def test_the_validate_invariants_hold_on_clean_bars_and_catch_a_leak() -> None:
    corpus._check_clean(corpus.good_bars(), strict=True)
    frame = corpus.good_bars()
    frame.iloc[1, 0] = np.nan
    corpus._check_clean(frame, strict=False)  # dropped and reported: invariants still hold
    assert corpus._fuzz_validate(30, seed=1).unexpected == 0


@pytest.mark.parametrize("target", ["options", "http"])
def test_more_targets_leak_nothing_on_a_small_budget(target: str) -> None:
    tally = corpus._fuzz_options(25, 0) if target == "options" else corpus._fuzz_http(25, 0)
    assert tally.examples == 25
    assert tally.unexpected == 0, tally.samples


def test_a_list_of_snapshots_is_now_a_clear_error_and_other_escapes_are_unexpected() -> None:
    # the suite found this leak (ValueError: too many values to unpack); it is fixed
    from greekfire.reliability.corpus import _by_path, _json, call_provider

    handler = _by_path(
        {
            "/snapshots/SPY": lambda: _json({"snapshots": [[1, 2, 3]]}),
            "/options/contracts": lambda: _json({"option_contracts": []}),
            "/trades/latest": lambda: _json({"trades": {"SPY": {"p": 400.0}}}),
        }
    )
    tally = corpus.FuzzTally("t")
    tally.record(lambda: call_provider(handler, "option_chain", "SPY"), (ParseError,), "list")
    tally.record(lambda: {}["missing"], (ParseError,), "leak")  # raised in corpus.py: not known
    assert tally.clear_error == 1
    assert tally.known_bug == 0
    assert tally.unexpected == 1


def test_an_escape_from_a_listed_function_counts_as_a_known_bug(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from greekfire.data import alpaca

    monkeypatch.setitem(corpus.KNOWN_LEAKS, "demo_leak", ("greekfire/data/alpaca.py", "_object"))
    tally = corpus.FuzzTally("t")
    # _object raises ParseError for a non-object; make it a disallowed class for this check
    tally.record(lambda: alpaca._object([], "x", "y"), (KeyError,), "not an object")
    assert tally.known_bug == 1
    assert "demo_leak" in tally.known_samples
