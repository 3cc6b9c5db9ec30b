"""HistoryStore: incremental fetch, coverage, validation on write, atomic writes, fast reads."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from greekfire.data import history
from greekfire.data.history import CoverageError, HistoryStore
from greekfire.data.port import ChainFilter, MarketDataProvider, empty_bars
from greekfire.data.validate import BarValidationError
from greekfire.domain.market import BAR_COLUMNS, Timeframe
from greekfire.errors import DataQualityError

D1 = Timeframe.D1
MON = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday


def day(n: int) -> datetime:
    return datetime(2024, 1, n, tzinfo=UTC)


def _bars(stamps: pd.DatetimeIndex) -> pd.DataFrame:
    base = 100.0 + (stamps.asi8 // 86_400_000_000_000 % 97).astype(np.float64)
    return pd.DataFrame(
        {
            "open": base,
            "high": base + 2.0,
            "low": base - 2.0,
            "close": base + 1.0,
            "volume": np.full(len(stamps), 1_000.0),
        },
        index=pd.DatetimeIndex(stamps.rename("timestamp"), freq=None),
    )


class CountingProvider:
    """In-memory provider: one daily bar per weekday at 00:00 UTC; records every range asked."""

    name = "counting"

    def __init__(self) -> None:
        self.asked: list[tuple[datetime, datetime]] = []

    async def bars(
        self, symbol: str, start: datetime, end: datetime, timeframe: Timeframe
    ) -> pd.DataFrame:
        self.asked.append((start, end))
        first = pd.Timestamp(start).ceil("1D")
        stamps = pd.date_range(first, end, freq="1D", inclusive="left", unit="ns")
        stamps = stamps[stamps.day_of_week < 5]
        return _bars(stamps) if len(stamps) else empty_bars()

    async def latest_quotes(self, symbols: Sequence[str]) -> pd.DataFrame:
        raise NotImplementedError

    async def option_chain(
        self, underlying: str, chain_filter: ChainFilter | None = None
    ) -> pd.DataFrame:
        raise NotImplementedError


@pytest.fixture
def store(tmp_path: Path) -> HistoryStore:
    return HistoryStore(tmp_path / "hist")


def _fetch(
    store: HistoryStore, provider: CountingProvider, start: datetime, end: datetime
) -> pd.DataFrame:
    return asyncio.run(store.fetch(provider, "SPY", start, end, D1))


# ------------------------------------------------------------------ incremental fetch
def test_fake_provider_satisfies_the_port() -> None:
    assert isinstance(CountingProvider(), MarketDataProvider)


def test_second_fetch_of_the_same_range_asks_nothing(store: HistoryStore) -> None:
    provider = CountingProvider()
    first = _fetch(store, provider, day(1), day(15))
    second = _fetch(store, provider, day(1), day(15))
    assert provider.asked == [(day(1), day(15))]
    assert len(first) == 10
    pd.testing.assert_frame_equal(first, second)
    assert list(first.columns) == list(BAR_COLUMNS)
    assert str(first.index.dtype) == "datetime64[ns, UTC]"


def test_wider_overlapping_range_asks_only_the_two_missing_ends(store: HistoryStore) -> None:
    provider = CountingProvider()
    _fetch(store, provider, day(8), day(15))
    provider.asked.clear()
    out = _fetch(store, provider, day(1), day(22))
    assert provider.asked == [(day(1), day(8)), (day(15), day(22))]
    assert store.coverage("SPY", D1) == [(pd.Timestamp(day(1)), pd.Timestamp(day(22)))]
    assert len(out) == 15
    assert out.index.is_monotonic_increasing
    assert out.index.is_unique


def test_weekend_range_is_covered_and_never_asked_again(store: HistoryStore) -> None:
    provider = CountingProvider()
    out = _fetch(store, provider, day(6), day(8))  # Saturday and Sunday
    assert out.empty
    assert not store.data_path("SPY", D1).exists()
    assert store.missing("SPY", day(6), day(8), D1) == []
    _fetch(store, provider, day(6), day(8))
    assert provider.asked == [(day(6), day(8))]


def test_missing_lists_gaps_between_covered_ranges(store: HistoryStore) -> None:
    provider = CountingProvider()
    _fetch(store, provider, day(2), day(4))
    _fetch(store, provider, day(9), day(11))
    gaps = store.missing("SPY", day(1), day(12), D1)
    expected = [(day(1), day(2)), (day(4), day(9)), (day(11), day(12))]
    assert gaps == [(pd.Timestamp(a), pd.Timestamp(b)) for a, b in expected]
    assert store.missing("SPY", day(5), day(5), D1) == []


def test_naive_datetime_and_reversed_range_are_contract_errors(store: HistoryStore) -> None:
    with pytest.raises(ValueError, match="naive"):
        store.missing("SPY", datetime(2024, 1, 1), day(2), D1)
    with pytest.raises(ValueError, match="after end"):
        store.read("SPY", day(3), day(2), D1)


# ------------------------------------------------------------------------------ read
def test_read_projects_columns_and_filters_half_open_range(store: HistoryStore) -> None:
    _fetch(store, CountingProvider(), day(1), day(31))
    out = store.read("SPY", day(3), day(5), "1d", columns=["close"])
    assert list(out.columns) == ["close"]
    assert list(out.index) == [pd.Timestamp(day(3)), pd.Timestamp(day(4))]
    assert out["close"].dtype == np.float64


def test_read_unknown_column_suggests_a_name(store: HistoryStore) -> None:
    _fetch(store, CountingProvider(), day(1), day(5))
    with pytest.raises(ValueError, match="did you mean 'close'"):
        store.read("SPY", day(1), day(5), D1, columns=["clsoe"])


def test_read_of_an_unknown_symbol_is_an_empty_bar_frame(store: HistoryStore) -> None:
    out = store.read("QQQ", day(1), day(5), D1)
    pd.testing.assert_frame_equal(out, empty_bars())


def test_large_dataset_small_range_reads_one_row_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = HistoryStore(tmp_path, row_group_rows=10_000)
    stamps = pd.date_range(MON, periods=500_000, freq="1min", unit="ns")
    frame = _bars(stamps)
    report = store.write("ES", Timeframe.M1, frame, covered=(stamps[0], stamps[-1]))
    assert report.ok
    assert report.rows_out == 500_000
    assert pq.ParquetFile(store.data_path("ES", "1m")).metadata.num_row_groups == 50
    calls: list[list[int]] = []
    original = pq.ParquetFile.read_row_groups

    def spy(self: pq.ParquetFile, groups: list[int], *args: object, **kwargs: object) -> object:
        calls.append(list(groups))
        return original(self, groups, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_groups", spy)
    lo, hi = stamps[123_456], stamps[123_556]
    out = store.read("ES", lo, hi, Timeframe.M1, columns=["close", "volume"])
    assert calls == [[12]]
    pd.testing.assert_frame_equal(out, frame.loc[lo : stamps[123_555], ["close", "volume"]])


# ----------------------------------------------------------------- validation on write
def test_bad_rows_are_reported_not_stored_and_range_stays_missing(store: HistoryStore) -> None:
    frame = _bars(pd.date_range(MON, periods=5, freq="1D", unit="ns"))
    frame.iloc[1, frame.columns.get_loc("close")] = -3.0  # negative price
    frame.iloc[2, frame.columns.get_loc("low")] = 500.0  # crossed OHLC
    report = store.write("SPY", D1, frame, covered=(day(1), day(6)), source="test")
    assert sorted(report.rejected_rows.tolist()) == [2, 3]
    assert report.rows_out == 3
    stored = store.read("SPY", day(1), day(6), D1)
    assert list(stored.index) == [pd.Timestamp(day(n)) for n in (1, 4, 5)]
    # A batch with rejected rows is not covered: the bad bars are asked for again.
    assert store.coverage("SPY", D1) == []


def test_duplicate_conflicting_timestamps_in_a_batch_are_rejected(store: HistoryStore) -> None:
    stamps = pd.DatetimeIndex([day(1), day(2), day(2), day(3)]).as_unit("ns")
    frame = _bars(stamps)
    frame.iloc[2, frame.columns.get_loc("close")] += 0.5
    report = store.write("SPY", D1, frame)
    assert report.rejected_rows.tolist() == [2, 3]
    assert "duplicate timestamp" in report.summary()
    assert list(store.read("SPY", day(1), day(5), D1).index) == [
        pd.Timestamp(day(1)),
        pd.Timestamp(day(3)),
    ]


def test_conflict_with_stored_bar_keeps_stored_and_reports(store: HistoryStore) -> None:
    frame = _bars(pd.date_range(MON, periods=3, freq="1D", unit="ns"))
    store.write("SPY", D1, frame, covered=(day(1), day(4)))
    changed = _bars(pd.date_range(day(3), periods=2, freq="1D", unit="ns"))
    changed["close"] += 0.25
    report = store.write("SPY", D1, changed, covered=(day(3), day(5)))
    assert report.rejected["reason"].tolist() == ["conflicts with stored bar (stored kept)"]
    assert report.rejected_rows.tolist() == [1]
    stored = store.read("SPY", day(1), day(5), D1)
    assert stored.loc[pd.Timestamp(day(3)), "close"] == frame.loc[pd.Timestamp(day(3)), "close"]
    assert stored.loc[pd.Timestamp(day(4)), "close"] == changed.loc[pd.Timestamp(day(4)), "close"]
    assert store.coverage("SPY", D1) == [(pd.Timestamp(day(1)), pd.Timestamp(day(5)))]


def test_identical_rewrite_is_idempotent(store: HistoryStore) -> None:
    frame = _bars(pd.date_range(MON, periods=3, freq="1D", unit="ns"))
    store.write("SPY", D1, frame)
    report = store.write("SPY", D1, frame)
    assert report.ok
    pd.testing.assert_frame_equal(store.read("SPY", day(1), day(9), D1), frame)


def test_strict_write_raises_and_stores_nothing(store: HistoryStore) -> None:
    frame = _bars(pd.date_range(MON, periods=2, freq="1D", unit="ns"))
    frame.iloc[0, frame.columns.get_loc("volume")] = -1.0
    with pytest.raises(BarValidationError, match="negative volume"):
        store.write("SPY", D1, frame, covered=(day(1), day(3)), strict=True)
    assert not store.data_path("SPY", D1).exists()
    assert store.coverage("SPY", D1) == []


# ------------------------------------------------------------------------ atomicity
def test_crash_mid_write_leaves_old_data_intact(
    store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = CountingProvider()
    before = _fetch(store, provider, day(1), day(8))
    directory = store.data_path("SPY", D1).parent
    files_before = sorted(p.name for p in directory.iterdir())

    def crash(src: object, dst: object) -> None:
        assert Path(str(src)).stat().st_size > 0  # the temp file was fully written
        raise OSError("simulated crash")

    monkeypatch.setattr(history.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        _fetch(store, provider, day(1), day(22))
    monkeypatch.undo()
    assert sorted(p.name for p in directory.iterdir()) == files_before
    pd.testing.assert_frame_equal(store.read("SPY", day(1), day(31), D1), before)
    assert store.coverage("SPY", D1) == [(pd.Timestamp(day(1)), pd.Timestamp(day(8)))]


def test_crash_between_data_and_coverage_refetches_safely(
    store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = CountingProvider()
    real_replace = os.replace

    def replace_data_only(src: str, dst: os.PathLike[str]) -> None:
        if str(dst).endswith(".coverage.json"):
            raise OSError("crash before coverage")
        real_replace(src, dst)

    monkeypatch.setattr(history.os, "replace", replace_data_only)
    with pytest.raises(OSError, match="crash before coverage"):
        _fetch(store, provider, day(1), day(8))
    monkeypatch.undo()
    assert store.coverage("SPY", D1) == []
    out = _fetch(store, provider, day(1), day(8))
    assert len(provider.asked) == 2
    assert len(out) == 5


def test_stale_temp_files_are_ignored_and_cleaned_on_open(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path)
    frame = _bars(pd.date_range(MON, periods=2, freq="1D", unit="ns"))
    store.write("SPY", D1, frame)
    stale = store.data_path("SPY", D1).with_name(".SPY.parquet.dead.tmp")
    stale.write_bytes(b"half a parquet file")
    pd.testing.assert_frame_equal(store.read("SPY", day(1), day(9), D1), frame)
    HistoryStore(tmp_path)
    assert not stale.exists()


# ---------------------------------------------------------------- coverage record, names
def test_corrupt_coverage_json_raises_naming_the_file(store: HistoryStore) -> None:
    _fetch(store, CountingProvider(), day(1), day(5))
    path = store.coverage_path("SPY", D1)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(CoverageError, match=r"SPY\.coverage\.json") as info:
        store.missing("SPY", day(1), day(5), D1)
    assert info.value.path == path
    assert isinstance(info.value, DataQualityError)


@pytest.mark.parametrize(
    "record",
    [
        {"version": 1, "ranges": [[5, 1]]},
        {"version": 1, "ranges": [["a", "b"]]},
        {"version": 2, "ranges": []},
        {"ranges": [[1, 2, 3]]},
        [1, 2],
    ],
)
def test_invalid_coverage_records_are_rejected(store: HistoryStore, record: object) -> None:
    path = store.coverage_path("SPY", D1)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(CoverageError, match="corrupt coverage record"):
        store.coverage("SPY", D1)


@pytest.mark.parametrize("symbol", ["../etc", "a/b", "a\\b", "..", ".hidden", "", "x" * 65, "A..B"])
def test_unsafe_symbols_are_rejected(store: HistoryStore, symbol: str) -> None:
    with pytest.raises(ValueError, match="safe file name"):
        store.data_path(symbol, D1)


@pytest.mark.parametrize("symbol", ["BRK.B", "^GSPC", "ES=F", "spy_2"])
def test_common_symbols_are_accepted(store: HistoryStore, symbol: str) -> None:
    assert store.data_path(symbol, "daily") == store.root / "1d" / f"{symbol}.parquet"


def test_read_of_a_schema_column_never_stored_is_nan(store: HistoryStore) -> None:
    _fetch(store, CountingProvider(), day(1), day(3))
    out = store.read("SPY", day(1), day(3), D1, columns=["close", "vwap"])
    assert list(out.columns) == ["close", "vwap"]
    assert out["vwap"].isna().all()
    assert len(out) == 2
