"""Instruments: OCC round trips through OptionContract and instrument_for, symbol shapes,
intrinsic value and the validation messages."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greekfire.domain.enums import OptionRight
from greekfire.domain.instruments import (
    OPTION_MULTIPLIER,
    AssetClass,
    Equity,
    OptionContract,
    instrument_for,
    is_option_symbol,
)

ROOT_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

contracts = st.builds(
    OptionContract,
    underlying=st.text(ROOT_CHARS, min_size=1, max_size=6),
    expiry=st.dates(date(2000, 1, 1), date(2099, 12, 31)),
    strike=st.integers(1, 99_999_999).map(lambda n: n / 1000.0),
    right=st.sampled_from(OptionRight),
)


@given(contracts)
def test_contract_symbol_round_trips_through_from_occ(contract: OptionContract) -> None:
    symbol = contract.symbol
    assert OptionContract.from_occ(symbol) == contract
    assert len(symbol) == len(contract.underlying) + 15
    assert is_option_symbol(symbol)


@given(contracts)
def test_instrument_for_returns_the_same_contract(contract: OptionContract) -> None:
    found = instrument_for(contract.symbol)
    assert isinstance(found, OptionContract)
    assert found == contract
    assert found.symbol == contract.symbol
    assert found.asset_class is AssetClass.OPTION
    assert found.multiplier == OPTION_MULTIPLIER


@given(contracts)
def test_padded_symbol_gives_the_same_contract(contract: OptionContract) -> None:
    padded = contract.underlying.ljust(6) + contract.symbol[len(contract.underlying) :]
    assert len(padded) == 21
    assert instrument_for(padded) == contract
    assert OptionContract.from_occ(padded).symbol == contract.symbol


def test_known_contract_symbols() -> None:
    call = OptionContract("SPY", date(2024, 6, 21), 450.0, OptionRight.CALL)
    put = OptionContract("AAPL", date(2025, 12, 19), 192.5, "put")  # type: ignore[arg-type]
    assert call.symbol == "SPY240621C00450000"
    assert put.symbol == "AAPL251219P00192500"
    assert put.right is OptionRight.PUT
    assert OptionContract.from_occ("SPY240621C00450000", multiplier=10).multiplier == 10


def test_lower_case_underlying_is_normalised_so_symbol_and_contract_agree() -> None:
    contract = OptionContract("spy", date(2024, 6, 21), 450.0, OptionRight.CALL)
    assert contract.underlying == "SPY"
    assert instrument_for(contract.symbol) == contract


@pytest.mark.parametrize(
    "ticker", ["SPY", "AAPL", "BRK.B", "QQQ", "SPXW", "A", "GOOGL", "SPY240621", "123456789012345"]
)
def test_tickers_are_not_option_symbols(ticker: str) -> None:
    assert not is_option_symbol(ticker)
    instrument = instrument_for(ticker)
    assert isinstance(instrument, Equity)
    assert instrument.symbol == ticker
    assert instrument.underlying == ticker
    assert instrument.multiplier == 1
    assert instrument.asset_class is AssetClass.EQUITY


@pytest.mark.parametrize(
    "symbol",
    [
        "SPY240621C00450000",
        "SPY   240621P00450000",
        "spy240621p00450000",
        "F240328C00012345",
        " SPXW230103P03825000 ",
    ],
)
def test_occ_symbols_are_option_symbols(symbol: str) -> None:
    assert is_option_symbol(symbol)
    assert isinstance(instrument_for(symbol), OptionContract)


@pytest.mark.parametrize(
    "symbol",
    [
        "SPY240621X00450000",  # right letter
        "SPY2406A1C00450000",  # expiry digits
        "SPY240621C0045000A",  # strike digits
        "240621C00450000",  # no root: exactly 15 characters
    ],
)
def test_near_misses_are_not_option_symbols(symbol: str) -> None:
    assert not is_option_symbol(symbol)


def test_equity_ticker_is_upper_cased_and_stripped() -> None:
    assert instrument_for("  spy ") == Equity("SPY")


@given(
    st.text(ROOT_CHARS, min_size=1, max_size=6),
    st.dates(date(2000, 1, 1), date(2099, 12, 31)),
    st.integers(1, 10_000_000).map(lambda n: n / 1000.0),
    st.integers(0, 20_000_000).map(lambda n: n / 1000.0),
)
def test_intrinsic_is_the_exercise_value(
    root: str, expiry: date, strike: float, spot: float
) -> None:
    call = OptionContract(root, expiry, strike, OptionRight.CALL)
    put = OptionContract(root, expiry, strike, OptionRight.PUT)
    assert call.intrinsic(spot) == max(0.0, spot - strike)
    assert put.intrinsic(spot) == max(0.0, strike - spot)
    assert call.intrinsic(spot) >= 0.0
    assert put.intrinsic(spot) >= 0.0
    # put-call parity of payoffs: C - P = S - K
    assert call.intrinsic(spot) - put.intrinsic(spot) == pytest.approx(spot - strike, abs=1e-9)


@pytest.mark.parametrize(
    ("right", "strike", "spot", "want"),
    [
        (OptionRight.CALL, 100.0, 105.5, 5.5),
        (OptionRight.CALL, 100.0, 100.0, 0.0),
        (OptionRight.CALL, 100.0, 90.0, 0.0),
        (OptionRight.PUT, 100.0, 90.25, 9.75),
        (OptionRight.PUT, 100.0, 100.0, 0.0),
        (OptionRight.PUT, 100.0, 120.0, 0.0),
    ],
)
def test_intrinsic_examples(right: OptionRight, strike: float, spot: float, want: float) -> None:
    contract = OptionContract("XYZ", date(2026, 1, 16), strike, right)
    assert contract.intrinsic(spot) == pytest.approx(want)


@pytest.mark.parametrize(
    ("kwargs", "field", "value"),
    [
        ({"underlying": "TOOLONGX"}, "root", "TOOLONGX"),
        ({"underlying": ""}, "root", "''"),
        ({"strike": 0.0}, "strike", "0.0"),
        ({"strike": -5.0}, "strike", "-5.0"),
        ({"strike": 100.0005}, "strike", "100.0005"),
        ({"expiry": date(1999, 12, 31)}, "expiry", "1999"),
        ({"right": "straddle"}, "right", "straddle"),
        ({"multiplier": 0}, "multiplier", "0"),
        ({"multiplier": 2.5}, "multiplier", "2.5"),
    ],
)
def test_contract_validation_names_field_and_value(
    kwargs: dict[str, object], field: str, value: str
) -> None:
    fields: dict[str, object] = {
        "underlying": "SPY",
        "expiry": date(2024, 6, 21),
        "strike": 450.0,
        "right": OptionRight.CALL,
    }
    fields.update(kwargs)
    with pytest.raises(ValueError, match=field) as info:
        OptionContract(**fields)  # type: ignore[arg-type]
    assert str(info.value).startswith(f"{field}:")
    assert value in str(info.value)


@pytest.mark.parametrize(
    ("symbol", "field"),
    [
        ("SPY241321C00450000", "expiry"),  # month 13
        ("SPY240621C00000000", "strike"),  # zero strike
        ("SPY-X240621C00450000", "root"),
    ],
)
def test_instrument_for_bad_occ_names_the_part(symbol: str, field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}:") as info:
        instrument_for(symbol)
    assert symbol in str(info.value)


@pytest.mark.parametrize("ticker", ["", "   ", "SP Y"])
def test_bad_tickers_name_the_field(ticker: str) -> None:
    with pytest.raises(ValueError, match=r"^symbol:"):
        instrument_for(ticker)


def test_instrument_for_rejects_non_strings() -> None:
    with pytest.raises(TypeError, match="symbol: expected a str, got int"):
        instrument_for(450)  # type: ignore[arg-type]
