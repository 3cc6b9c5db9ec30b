"""Parsing of strike and expiry specifications and of option rights."""

from __future__ import annotations

import pytest

from greekfire.cli.params import MAX_GRID_POINTS, parse_expiries, parse_right, parse_strikes
from greekfire.domain.enums import OptionRight


def test_strike_range_is_inclusive() -> None:
    assert parse_strikes("80:120:10") == [80.0, 90.0, 100.0, 110.0, 120.0]


def test_strike_range_with_fractional_step_has_clean_values() -> None:
    assert parse_strikes("99.5:100.5:0.1") == [
        99.5, 99.6, 99.7, 99.8, 99.9, 100.0, 100.1, 100.2, 100.3, 100.4, 100.5
    ]  # fmt: skip


def test_strike_range_stops_before_overshooting() -> None:
    assert parse_strikes("80:95:10") == [80.0, 90.0]


def test_strike_list_is_sorted_and_deduplicated() -> None:
    assert parse_strikes(" 110, 90,100,90 ") == [90.0, 100.0, 110.0]


def test_single_strike() -> None:
    assert parse_strikes("100") == [100.0]


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("80:120", "start:stop:step"),
        ("80:120:0", "step must be > 0"),
        ("80:120:-5", "step must be > 0"),
        ("120:80:5", "below start"),
        ("80:x:5", "'x' is not a number"),
        ("80,abc", "'abc' is not a number"),
        ("80,,90", "empty strike"),
        ("-10,100", "must be > 0"),
        ("0:10:5", "must be > 0"),
        ("100,inf", "not finite"),
        ("1:100000:1", f"more than {MAX_GRID_POINTS}"),
    ],
)
def test_bad_strike_specs_say_why(spec: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_strikes(spec)


def test_expiries_are_sorted_and_deduplicated() -> None:
    assert parse_expiries("90, 7,30,7") == [7, 30, 90]


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("7,,30", "empty item"),
        ("7.5", "not a whole number"),
        ("seven", "not a whole number"),
        ("0,30", ">= 1"),
        ("-7", ">= 1"),
    ],
)
def test_bad_expiries_say_why(spec: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_expiries(spec)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call", OptionRight.CALL),
        ("C", OptionRight.CALL),
        ("Put", OptionRight.PUT),
        ("p", OptionRight.PUT),
    ],
)
def test_rights(text: str, expected: OptionRight) -> None:
    assert parse_right(text) is expected


def test_unknown_right_names_the_value() -> None:
    with pytest.raises(ValueError, match="'straddle'"):
        parse_right("straddle")
