"""OCC option symbols: known examples, round trips, and errors that name the bad part."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greekfire.domain.enums import OptionRight
from greekfire.domain.occ import OccSymbol, format_occ, parse_occ


@pytest.mark.parametrize(
    ("root", "expiry", "right", "strike", "padded", "compact"),
    [
        ("SPY", date(2024, 6, 21), "call", 450.0, "SPY   240621C00450000", "SPY240621C00450000"),
        ("SPXW", date(2023, 1, 3), "P", 3825.0, "SPXW  230103P03825000", "SPXW230103P03825000"),
        ("AAPL", date(2025, 12, 19), -1, 192.5, "AAPL  251219P00192500", "AAPL251219P00192500"),
        (
            "F",
            date(2024, 3, 28),
            OptionRight.CALL,
            12.345,
            "F     240328C00012345",
            "F240328C00012345",
        ),
        ("BRKB1", date(2030, 1, 18), "c", 0.5, "BRKB1 300118C00000500", "BRKB1300118C00000500"),
    ],
)
def test_known_symbols(
    root: str, expiry: date, right: object, strike: float, padded: str, compact: str
) -> None:
    assert format_occ(root, expiry, right, strike, padded=True) == padded  # type: ignore[arg-type]
    assert format_occ(root, expiry, right, strike) == compact  # type: ignore[arg-type]
    want = OccSymbol(root, expiry, OptionRight.parse(right), strike)
    assert parse_occ(padded) == want
    assert parse_occ(compact) == want
    assert len(padded) == 21


def test_parse_accepts_lower_case_and_surrounding_whitespace() -> None:
    assert parse_occ("  spy240621p00450000\n") == OccSymbol(
        "SPY", date(2024, 6, 21), OptionRight.PUT, 450.0
    )


symbols = st.builds(
    OccSymbol,
    root=st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=6),
    expiry=st.dates(date(2000, 1, 1), date(2099, 12, 31)),
    right=st.sampled_from(OptionRight),
    strike=st.integers(1, 99_999_999).map(lambda n: n / 1000.0),
)


@given(symbols, st.booleans())
def test_round_trip(symbol: OccSymbol, padded: bool) -> None:
    text = symbol.format(padded=padded)
    assert parse_occ(text) == symbol
    assert parse_occ(text).format(padded=padded) == text
    if padded:
        assert len(text) == 21
    else:
        assert " " not in text


@pytest.mark.parametrize(
    ("symbol", "part"),
    [
        ("SPY240621C0045000", "expiry"),  # a digit short: the fields shift left by one
        ("240621C00450000", "symbol"),
        ("SPY 240621C00450000", "root"),
        ("SPY-X240621C00450000", "root"),
        ("ABCDEFG240621C00450000", "root"),
        ("SPY241321C00450000", "expiry"),
        ("SPY240230C00450000", "expiry"),
        ("SPY24062AC00450000", "expiry"),
        ("SPY240621X00450000", "right"),
        ("SPY240621C0045000A", "strike"),
        ("SPY240621C00000000", "strike"),
    ],
)
def test_parse_errors_name_the_bad_part(symbol: str, part: str) -> None:
    with pytest.raises(ValueError, match=rf"^{part}: "):
        parse_occ(symbol)


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(TypeError, match="symbol"):
        parse_occ(123)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "part"),
    [
        (("", date(2024, 6, 21), "C", 450.0), "root"),
        (("TOOLONG", date(2024, 6, 21), "C", 450.0), "root"),
        (("SP Y", date(2024, 6, 21), "C", 450.0), "root"),
        (("SPY", date(1999, 12, 31), "C", 450.0), "expiry"),
        (("SPY", "2024-06-21", "C", 450.0), "expiry"),
        (("SPY", date(2024, 6, 21), "X", 450.0), "right"),
        (("SPY", date(2024, 6, 21), "C", 0.0), "strike"),
        (("SPY", date(2024, 6, 21), "C", 100_000.0), "strike"),
        (("SPY", date(2024, 6, 21), "C", 450.0001), "strike"),
        (("SPY", date(2024, 6, 21), "C", float("nan")), "strike"),
    ],
)
def test_format_errors_name_the_bad_part(args: tuple[object, ...], part: str) -> None:
    with pytest.raises(ValueError, match=rf"^{part}: "):
        format_occ(*args)  # type: ignore[arg-type]
