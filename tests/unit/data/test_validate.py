"""validate_bars: every hostile case, with the exact messages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greekfire.data.validate import REJECTED_COLUMNS, BarValidationError, validate_bars
from greekfire.errors import DataQualityError


def _frame(n: int = 5, start: str = "2024-01-02") -> pd.DataFrame:
    index = pd.date_range(start, periods=n, freq="D", tz="UTC")
    base = np.arange(n, dtype=np.float64) + 100.0
    return pd.DataFrame(
        {"open": base, "high": base + 2, "low": base - 2, "close": base + 1, "volume": base * 10},
        index=index,
    )


def _check(frame: pd.DataFrame, **kwargs: object) -> tuple[pd.DataFrame, list[str]]:
    clean, report = validate_bars(frame, source="t.csv", symbol="SPY", **kwargs)  # type: ignore[arg-type]
    return clean, report.messages()


def test_clean_frame_passes_unchanged_in_schema() -> None:
    frame = _frame()
    frame["volume"] = frame["volume"].astype(np.int64)
    frame["adj_close"] = 1.0
    clean, report = validate_bars(frame, source="t.csv", symbol="SPY")
    assert report.ok
    assert report.rows_in == report.rows_out == 5
    assert tuple(clean.columns) == ("open", "high", "low", "close", "volume", "adj_close")
    assert clean["volume"].dtype == np.float64
    assert str(clean.index.dtype) == "datetime64[ns, UTC]"
    assert clean.index.name == "timestamp"
    assert tuple(report.rejected.columns) == REJECTED_COLUMNS
    assert "0 of 5 rows rejected" in report.summary()


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("close", -3.2, "t.csv row 3 (2024-01-04T00:00:00+00:00): close: negative price -3.2"),
        ("open", 0.0, "t.csv row 3 (2024-01-04T00:00:00+00:00): open: zero price 0.0"),
        ("high", np.nan, "t.csv row 3 (2024-01-04T00:00:00+00:00): high: missing (NaN)"),
        ("low", np.inf, "t.csv row 3 (2024-01-04T00:00:00+00:00): low: not finite inf"),
        ("volume", -1.0, "t.csv row 3 (2024-01-04T00:00:00+00:00): volume: negative volume -1.0"),
        ("volume", np.inf, "t.csv row 3 (2024-01-04T00:00:00+00:00): volume: not finite inf"),
    ],
)
def test_bad_values_are_reported_with_row_field_and_value(
    column: str, value: float, message: str
) -> None:
    frame = _frame()
    frame.iloc[2, frame.columns.get_loc(column)] = value
    clean, messages = _check(frame)
    assert messages == [message]
    assert len(clean) == 4
    assert pd.Timestamp("2024-01-04", tz="UTC") not in clean.index


def test_nan_volume_is_missing_not_bad() -> None:
    frame = _frame()
    frame.iloc[1, 4] = np.nan
    clean, messages = _check(frame)
    assert messages == []
    assert np.isnan(clean["volume"].iloc[1])


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"low": 103.0, "high": 102.5}, "low: 103.0 above high 102.5"),
        ({"low": 101.5}, "low: 101.5 above min(open, close) 100.0"),
        ({"high": 100.5}, "high: 100.5 below max(open, close) 101.0"),
    ],
)
def test_ohlc_consistency(values: dict[str, float], message: str) -> None:
    frame = _frame()
    for column, value in values.items():
        frame.iloc[0, frame.columns.get_loc(column)] = value
    _, messages = _check(frame)
    assert messages == [f"t.csv row 1 (2024-01-02T00:00:00+00:00): {message}"]


def test_identical_duplicates_are_dropped_and_listed() -> None:
    frame = _frame()
    frame = pd.concat([frame.iloc[:3], frame.iloc[2:3], frame.iloc[3:]])
    clean, report = validate_bars(frame, source="t.csv", symbol="SPY", strict=True)
    assert report.ok
    assert list(report.duplicates) == [4]
    assert len(clean) == 5
    assert clean.index.is_unique


def test_conflicting_duplicates_are_all_rejected() -> None:
    frame = _frame()
    extra = frame.iloc[2:3].copy()
    extra["close"] = 102.5
    frame = pd.concat([frame.iloc[:3], extra, frame.iloc[3:]])
    clean, messages = _check(frame)
    reason = "timestamp: duplicate timestamp with different values"
    assert messages == [
        f"t.csv row 3 (2024-01-04T00:00:00+00:00): {reason}",
        f"t.csv row 4 (2024-01-04T00:00:00+00:00): {reason}",
    ]
    assert len(clean) == 4


def test_out_of_order_rows_are_rejected() -> None:
    frame = _frame()
    frame = frame.iloc[[0, 2, 1, 3, 4]]
    clean, messages = _check(frame)
    assert messages == [
        "t.csv row 3 (2024-01-03T00:00:00+00:00): timestamp: out of order"
        " (earlier than a previous row)"
    ]
    assert clean.index.is_monotonic_increasing
    assert len(clean) == 4


def test_missing_timestamp() -> None:
    frame = _frame()
    index = frame.index.tolist()
    index[1] = pd.NaT
    frame.index = pd.DatetimeIndex(index)
    _, messages = _check(frame)
    assert messages == ["t.csv row 2: timestamp: missing"]


def test_source_rows_number_the_messages() -> None:
    frame = _frame()
    frame.iloc[1, 3] = -3.2
    _, report = validate_bars(
        frame, source="t.csv", symbol="SPY", source_rows=np.array([10, 11, 12, 13, 14])
    )
    assert list(report.rejected_rows) == [11]
    with pytest.raises(ValueError, match="source_rows: expected 5 row numbers"):
        validate_bars(frame, source="t.csv", symbol="SPY", source_rows=[1, 2])


def test_strict_mode_raises_naming_source_row_field_value() -> None:
    frame = _frame()
    frame.iloc[2, 3] = -3.2
    frame.iloc[4, 0] = np.nan
    with pytest.raises(BarValidationError) as caught:
        validate_bars(frame, source="t.csv", symbol="SPY", strict=True)
    err = caught.value
    assert isinstance(err, DataQualityError)
    assert str(err) == (
        "t.csv: SPY: 2 of 5 rows rejected (2 problems):"
        " t.csv row 3 (2024-01-04T00:00:00+00:00): close: negative price -3.2;"
        " t.csv row 5 (2024-01-06T00:00:00+00:00): open: missing (NaN)"
    )
    assert list(err.report.rejected_rows) == [3, 5]


def test_strict_message_is_bounded() -> None:
    frame = _frame(20)
    frame["close"] = -1.0
    with pytest.raises(BarValidationError, match=r"20 of 20 rows .*; \.\.\. and 15 more$"):
        validate_bars(frame, source="t.csv", symbol="SPY", strict=True)


def test_naive_index_needs_tz() -> None:
    frame = _frame()
    frame.index = frame.index.tz_localize(None)
    with pytest.raises(ValueError, match=r"timezone-naive; pass tz=.*tz_localize\('UTC'\)"):
        validate_bars(frame, source="t.csv", symbol="SPY")
    clean, _ = validate_bars(frame, source="t.csv", symbol="SPY", tz="America/New_York")
    assert clean.index[0] == pd.Timestamp("2024-01-02 05:00", tz="UTC")


def test_nonexistent_local_times_are_rejected() -> None:
    index = pd.DatetimeIndex(["2024-03-10 01:30", "2024-03-10 02:30", "2024-03-10 03:30"])
    frame = _frame(3)
    frame.index = index
    clean, messages = _check(frame, tz="America/New_York")
    assert messages == [
        "t.csv row 2: timestamp: ambiguous or nonexistent local time 2024-03-10 02:30:00"
        " in America/New_York"
    ]
    assert len(clean) == 2


def test_contract_errors() -> None:
    with pytest.raises(TypeError, match="expected a pandas DataFrame"):
        validate_bars([1, 2], source="x", symbol="SPY")  # type: ignore[arg-type]
    frame = _frame().rename(columns={"close": "Close"})
    with pytest.raises(ValueError, match=r"missing columns \['close'\].*did you mean 'Close'"):
        validate_bars(frame, source="x", symbol="SPY")
    with pytest.raises(TypeError, match="expected a DatetimeIndex"):
        validate_bars(_frame().reset_index(drop=True), source="x", symbol="SPY")
    text = _frame()
    text["open"] = text["open"].astype(str)
    with pytest.raises(TypeError, match="column 'open' must be numeric"):
        validate_bars(text, source="x", symbol="SPY")


def test_million_rows_with_bad_rows_vectorised() -> None:
    n = 1_000_000
    index = pd.date_range("2020-01-01", periods=n, freq="min", tz="UTC")
    price = np.full(n, 100.0)
    frame = pd.DataFrame(
        {"open": price, "high": price + 1, "low": price - 1, "close": price, "volume": price},
        index=index,
    )
    frame.iloc[7::1000, 3] = -1.0
    clean, report = validate_bars(frame, source="big", symbol="X")
    assert report.rows_out == n - 1000 == len(clean)
    assert report.messages(1) == [
        "big row 8 (2020-01-01T00:07:00+00:00): close: negative price -1.0"
    ]
