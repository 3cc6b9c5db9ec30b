"""Market-data values: timeframes, quotes, the column schemas."""

from __future__ import annotations

import math

import pytest

from greekfire.domain.market import (
    BAR_COLUMNS,
    CHAIN_COLUMNS,
    QUOTE_COLUMNS,
    Quote,
    Timeframe,
)


@pytest.mark.parametrize(
    ("text", "want", "seconds"),
    [
        ("1m", Timeframe.M1, 60),
        ("1MIN", Timeframe.M1, 60),
        ("5m", Timeframe.M5, 300),
        ("15min", Timeframe.M15, 900),
        ("60m", Timeframe.H1, 3_600),
        ("1h", Timeframe.H1, 3_600),
        ("daily", Timeframe.D1, 86_400),
        (" 1d ", Timeframe.D1, 86_400),
    ],
)
def test_timeframe_parses_common_spellings(text: str, want: Timeframe, seconds: int) -> None:
    tf = Timeframe.parse(text)
    assert tf is want
    assert tf.seconds == seconds
    assert tf.intraday is (want is not Timeframe.D1)
    assert Timeframe.parse(tf) is tf


@pytest.mark.parametrize("bad", ["2m", "", "1w", 60, None])
def test_timeframe_rejects_unknown_values_naming_them(bad: object) -> None:
    with pytest.raises(ValueError, match=r"timeframe: expected one of '1m'.*got"):
        Timeframe.parse(bad)


def test_quote_mid_and_spread() -> None:
    q = Quote("SPY", 1_700_000_000_000_000_000, 99.5, 100.5, 300.0, 200.0)
    assert q.mid == 100.0
    assert q.spread == 1.0
    assert math.isnan(q.last)
    with pytest.raises(AttributeError):
        q.bid = 1.0  # type: ignore[misc]


def test_schemas_have_unique_columns() -> None:
    for columns in (BAR_COLUMNS, QUOTE_COLUMNS, CHAIN_COLUMNS):
        assert len(set(columns)) == len(columns)
    assert BAR_COLUMNS == ("open", "high", "low", "close", "volume")
