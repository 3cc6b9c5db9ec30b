"""optimize_dataframe (verified, bit-lossless by default) and the MemoryOptimizer watchdog."""

from __future__ import annotations

import inspect
import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greekfire.bench.perf_cases import brief_frame as bench_brief_frame
from greekfire.perf import memory
from greekfire.perf.memory import (
    ColumnStatus,
    MemoryOptimizer,
    OptimizationReport,
    Trimmable,
    TrimReport,
    optimize_dataframe,
)

ROWS = 100_000
MINUTES = 2_000
SYMBOLS = 50
PRICES = ["open", "high", "low", "close"]
MIB = 1 << 20


def brief_frame() -> pd.DataFrame:
    # The same frame as the benchmark's case (j): one definition of the brief's data.
    return bench_brief_frame(ROWS, SYMBOLS)


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return brief_frame()


def float_bits_equal(original: pd.Series, back: pd.Series) -> bool:
    a = original.to_numpy(dtype=np.float64, na_value=np.nan)
    b = back.to_numpy(dtype=np.float64, na_value=np.nan)
    same = (a.view(np.uint64) == b.view(np.uint64)) | (np.isnan(a) & np.isnan(b))
    return bool(same.all()) and bool((original.isna().to_numpy() == back.isna().to_numpy()).all())


def assert_round_trip(original: pd.DataFrame, new: pd.DataFrame) -> None:
    """Every column converted back to its old dtype equals the original (floats bit for bit)."""
    assert list(new.columns) == list(original.columns)
    assert new.index.equals(original.index)
    for i in range(original.shape[1]):
        old, back = original.iloc[:, i], new.iloc[:, i].astype(original.dtypes.iloc[i])
        assert back.dtype == old.dtype
        if pd.api.types.is_float_dtype(old.dtype):
            assert float_bits_equal(old, back), original.columns[i]
            continue
        missing = old.isna().to_numpy()
        assert (back.isna().to_numpy() == missing).all(), original.columns[i]
        assert old[~missing].tolist() == back[~missing].tolist(), original.columns[i]


# --- the brief's frame ---------------------------------------------------------------


def test_fixture_is_the_brief_frame(bars: pd.DataFrame) -> None:
    assert bars.shape == (ROWS, 8)
    assert bars["timestamp"].nunique() == MINUTES
    assert bars["symbol"].nunique() == SYMBOLS
    assert bars["symbol"].dtype == object
    assert bars["side"].dtype == object
    assert bars["volume"].max() < 10_000_000
    prices = bars[PRICES].to_numpy()
    assert prices.min() >= 1.0
    assert prices.max() <= 1_000.0  # a random walk from 5-500 over 2,000 minutes
    assert (np.round(prices, 2) == prices).all()
    # 2-decimal prices are not float32 values: the default mode must keep them float64
    assert (prices.astype(np.float32).astype(np.float64) != prices).mean() > 0.9
    per_row = bars.memory_usage(deep=True).sum() / ROWS
    assert 165 < per_row < 176  # about 170 bytes per row, as pandas builds it


def test_default_mode_is_bit_lossless_on_the_brief_frame(bars: pd.DataFrame) -> None:
    new, report = optimize_dataframe(bars)
    assert_round_trip(bars, new)
    assert new.dtypes.astype(str).to_dict() == {
        "timestamp": "category",
        "symbol": "category",
        "open": "float64",
        "high": "float64",
        "low": "float64",
        "close": "float64",
        "volume": "uint32",
        "side": "category",
    }
    symbol_categories = int(new["symbol"].cat.categories.memory_usage(deep=True))
    side_categories = int(new["side"].cat.categories.memory_usage(deep=True))
    expected = (
        ROWS * (2 + 1 + 32 + 4 + 1)  # codes int16 + int8, four float64, uint32, codes int8
        + MINUTES * 8  # the distinct minutes
        + symbol_categories
        + side_categories
        + bars.index.memory_usage(deep=True)
    )
    assert report.bytes_after == expected == new.memory_usage(deep=True).sum()
    assert report.bytes_after == 4_019_353  # pinned: 40.19 bytes per row
    assert report.bytes_per_row_after <= 40.5
    assert report.bytes_before == bars.memory_usage(deep=True).sum()
    assert report.reduction_pct == pytest.approx(100 * (1 - 4_019_353 / report.bytes_before))
    assert not report.lossy


def test_decimals_mode_restores_every_price_at_two_decimals(bars: pd.DataFrame) -> None:
    new, report = optimize_dataframe(bars, decimals=dict.fromkeys(PRICES, 2))
    for name in PRICES:
        assert new[name].dtype == np.float32
        restored = np.round(new[name].astype(np.float64).to_numpy(), 2)
        assert (restored == bars[name].to_numpy()).all()
    assert_round_trip(bars.drop(columns=PRICES), new.drop(columns=PRICES))
    assert report.bytes_after == 4_019_353 - ROWS * 16 == 2_419_353  # 24.19 bytes per row
    assert report.bytes_per_row_after <= 24.5
    assert [report.columns[i].status_text for i in range(2, 6)] == ["lossless at 2 decimals"] * 4


def test_int_decimals_apply_to_every_float_column(bars: pd.DataFrame) -> None:
    new, report = optimize_dataframe(bars, decimals=2)
    assert (new[PRICES].dtypes == np.float32).all()
    assert report.bytes_after == 2_419_353


def test_report_contents_on_the_brief_frame(bars: pd.DataFrame) -> None:
    _, report = optimize_dataframe(bars, decimals={"close": 2})
    assert isinstance(report, OptimizationReport)
    table = report.to_frame()
    assert list(table.columns) == [
        "column",
        "old_dtype",
        "new_dtype",
        "bytes_before",
        "bytes_after",
        "status",
        "note",
    ]
    rows = table.set_index("column")
    assert rows.loc["timestamp", "old_dtype"] == "datetime64[us, UTC]"
    assert rows.loc["timestamp", "bytes_after"] == ROWS * 2 + MINUTES * 8
    assert rows.loc["volume", ["old_dtype", "new_dtype", "status"]].tolist() == [
        "int64",
        "uint32",
        "bit-lossless",
    ]
    assert rows.loc["volume", "bytes_before"] == ROWS * 8
    assert rows.loc["volume", "bytes_after"] == ROWS * 4
    assert rows.loc["open", "status"] == "unchanged"
    assert "values change in float32" in rows.loc["open", "note"]
    assert rows.loc["close", "status"] == "lossless at 2 decimals"
    assert rows.loc["symbol", "bytes_before"] == bars["symbol"].memory_usage(deep=True, index=False)
    by_name = {c.name: c for c in report.columns}
    assert by_name["close"].status is ColumnStatus.DECIMALS
    assert by_name["close"].decimals == 2
    assert by_name["side"].status is ColumnStatus.BIT_LOSSLESS
    text = str(report)
    assert "170." in text.splitlines()[0]
    assert "bytes/row" in text
    assert "lossless at 2 decimals" in text
    assert "uint32" in text


def test_plain_downcast_is_lossy_where_ours_is_not(bars: pd.DataFrame) -> None:
    # the brief's recipe: pd.to_numeric(downcast="float") changes almost every price
    downcast = pd.to_numeric(bars["close"], downcast="float")
    assert downcast.dtype == np.float32
    assert (downcast.astype(np.float64) != bars["close"]).mean() > 0.9
    new, _ = optimize_dataframe(bars)
    assert (new["close"] == bars["close"]).all()


def test_input_is_not_mutated_and_inplace_replaces_columns() -> None:
    frame = brief_frame().iloc[:1_000].reset_index(drop=True)
    snapshot = frame.copy(deep=True)
    new, _ = optimize_dataframe(frame, decimals=2)
    pd.testing.assert_frame_equal(frame, snapshot, check_exact=True)
    assert new is not frame
    same, report = optimize_dataframe(frame, inplace=True)
    assert same is frame
    assert frame["volume"].dtype == np.uint32
    assert frame["symbol"].dtype == "category"
    assert report.bytes_after == frame.memory_usage(deep=True).sum()
    assert_round_trip(snapshot, frame)


# --- column rules ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "dtype", "expected"),
    [
        ([0, 255], "int64", "uint8"),
        ([0, 256], "int64", "uint16"),
        ([-1, 127], "int64", "int8"),
        ([-129, 0], "int64", "int16"),
        ([0, 2**31], "int64", "uint32"),
        ([-(2**31), 2**31 - 1], "int64", "int32"),
        ([-(2**31) - 1, 0], "int64", "int64"),
        ([0, 2**63 + 5], "uint64", "uint64"),
        ([3, 9], "uint64", "uint8"),
        ([1, None, 300], "Int64", "UInt16"),
        ([-5, None], "Int64", "Int8"),
        ([None, None], "Int64", "UInt8"),
        ([-(2**40), None], "Int64", "Int64"),
    ],
)
def test_integers_go_to_the_smallest_type_that_holds_them(
    values: list[int | None], dtype: str, expected: str
) -> None:
    frame = pd.DataFrame({"n": pd.array(values, dtype=dtype)})
    new, report = optimize_dataframe(frame)
    assert str(new["n"].dtype) == expected
    assert report.columns[0].status is (
        ColumnStatus.UNCHANGED if expected == dtype else ColumnStatus.BIT_LOSSLESS
    )
    assert_round_trip(frame, new)


def test_exact_float32_values_narrow_bit_for_bit() -> None:
    values = [0.5, -0.0, 1.25, np.nan, np.inf, -np.inf, 3.0 * 2.0**40, 2.0**-140]
    frame = pd.DataFrame({"x": values})
    new, report = optimize_dataframe(frame)
    assert new["x"].dtype == np.float32
    assert report.columns[0].status is ColumnStatus.BIT_LOSSLESS
    assert np.signbit(new["x"].to_numpy()[1])
    assert_round_trip(frame, new)


def test_one_inexact_value_keeps_the_column_float64() -> None:
    frame = pd.DataFrame({"x": [0.5, 0.1, np.nan]})
    new, report = optimize_dataframe(frame)
    assert new["x"].dtype == np.float64
    assert report.columns[0].note == "1 of 3 values change in float32"


def test_decimals_that_do_not_restore_leave_the_column_and_say_why() -> None:
    frame = pd.DataFrame({"close": [1.25, 2.125, 3.1]})  # 2.125 has three decimals
    new, report = optimize_dataframe(frame, decimals={"close": 2})
    assert new["close"].dtype == np.float64
    assert report.columns[0].status is ColumnStatus.UNCHANGED
    assert "1 do not restore at 2 decimals" in report.columns[0].note


def test_decimals_cannot_rescue_values_beyond_float32_precision() -> None:
    frame = pd.DataFrame({"notional": [123_456_789.12, 5.5]})
    new, report = optimize_dataframe(frame, decimals=2)
    assert new["notional"].dtype == np.float64
    assert "do not restore" in report.columns[0].note


def test_tolerance_narrows_within_the_bound_and_reports_it_lossy() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"iv": rng.uniform(0.05, 2.0, 1_000), "z": rng.normal(size=1_000)})
    new, report = optimize_dataframe(frame, tolerance={"iv": 1e-6})
    assert new["iv"].dtype == np.float32
    assert new["z"].dtype == np.float64
    column = report.columns[0]
    assert column.status is ColumnStatus.TOLERANCE
    assert report.lossy
    error = np.abs(new["iv"].to_numpy(np.float64) - frame["iv"]) / frame["iv"]
    assert column.max_rel_error == pytest.approx(error.max(), rel=0, abs=0)
    assert 0 < column.max_rel_error <= 2.0**-24
    assert column.status_text.startswith("within tolerance")
    assert "LOSSY" in str(report).splitlines()[0]


def test_tolerance_too_tight_or_overflowing_keeps_float64() -> None:
    frame = pd.DataFrame({"a": [0.1, 0.2], "b": [1e300, 1.0], "c": [1e-300, 0.0]})
    new, report = optimize_dataframe(frame, tolerance=1e-9)
    assert (new.dtypes == np.float64).all()
    notes = [c.note for c in report.columns]
    assert "> tolerance 1e-09" in notes[0]
    assert "max relative error inf" in notes[1]  # float32 overflow, and no RuntimeWarning
    assert "max relative error 1" in notes[2]  # underflow to zero


def test_nullable_float64_narrows_to_nullable_float32() -> None:
    frame = pd.DataFrame({"x": pd.array([0.5, None, 2.0], dtype="Float64")})
    new, report = optimize_dataframe(frame)
    assert str(new["x"].dtype) == "Float32"
    assert new["x"].isna().tolist() == [False, True, False]
    assert report.columns[0].status is ColumnStatus.BIT_LOSSLESS
    assert_round_trip(frame, new)


@pytest.mark.parametrize("dtype", [object, "string[python]", "string[pyarrow]", "str"])
def test_low_cardinality_strings_become_categories(dtype: object) -> None:
    frame = pd.DataFrame({"s": pd.Series(["buy", "sell", None, "buy"] * 25, dtype=dtype)})
    new, report = optimize_dataframe(frame)
    assert isinstance(new["s"].dtype, pd.CategoricalDtype)
    assert report.columns[0].bytes_after < report.columns[0].bytes_before
    assert_round_trip(frame, new)


def test_high_cardinality_strings_stay() -> None:
    ids = [f"order-{i % 100}" for i in range(150)]
    frame = pd.DataFrame({"id": pd.Series(ids, dtype=object)})
    new, report = optimize_dataframe(frame)
    assert new["id"].dtype == object
    assert report.columns[0].note == "100 distinct values (0.67 > threshold 0.5)"
    assert report.columns[0].bytes_after == report.columns[0].bytes_before
    wide, _ = optimize_dataframe(frame, categorical_threshold=0.7)
    assert isinstance(wide["id"].dtype, pd.CategoricalDtype)
    # all distinct: the categories alone are as big as the column
    unique = pd.DataFrame({"id": pd.Series([f"order-{i}" for i in range(100)], dtype=object)})
    kept, unique_report = optimize_dataframe(unique, categorical_threshold=1.0)
    assert kept["id"].dtype == object
    assert unique_report.columns[0].note == "a category would not be smaller"


def test_mixed_objects_are_not_categorised() -> None:
    # 1, 1.0 and True hash alike: a category would merge them
    frame = pd.DataFrame({"m": pd.Series([1, 1.0, True, "1"] * 10, dtype=object)})
    new, report = optimize_dataframe(frame)
    assert new["m"].dtype == object
    assert report.columns[0].note == "object column of mixed-integer values"


def test_object_bools_become_bool_or_nullable_boolean() -> None:
    frame = pd.DataFrame(
        {
            "flag": pd.Series([True, False] * 5, dtype=object),
            "maybe": pd.Series([True, None] * 5, dtype=object),
            "native": np.array([True, False] * 5),
        }
    )
    new, report = optimize_dataframe(frame)
    assert [str(t) for t in new.dtypes] == ["bool", "boolean", "bool"]
    assert [c.status for c in report.columns] == [
        ColumnStatus.BIT_LOSSLESS,
        ColumnStatus.BIT_LOSSLESS,
        ColumnStatus.UNCHANGED,
    ]
    assert_round_trip(frame, new)


def test_timestamps_become_categories_only_when_smaller() -> None:
    stamps = pd.date_range("2024-03-01", periods=4, freq="h", tz="America/New_York")
    frame = pd.DataFrame({"ts": np.repeat(stamps, 10)})
    frame.loc[3, "ts"] = pd.NaT
    new, _ = optimize_dataframe(frame)
    assert isinstance(new["ts"].dtype, pd.CategoricalDtype)
    assert_round_trip(frame, new)
    single = pd.DataFrame({"ts": stamps[:1]})
    kept, report = optimize_dataframe(single, categorical_threshold=1.0)
    assert kept["ts"].dtype == single["ts"].dtype
    assert report.columns[0].note == "a category would not be smaller"
    distinct = pd.DataFrame({"ts": pd.date_range("2024-01-01", periods=50, freq="min")})
    assert optimize_dataframe(distinct)[0]["ts"].dtype == distinct["ts"].dtype


def test_duplicate_labels_empty_frames_and_other_dtypes() -> None:
    frame = pd.DataFrame([[1, 2.5], [3, 4.5]], columns=["a", "a"])
    new, report = optimize_dataframe(frame)
    assert [str(t) for t in new.dtypes] == ["uint8", "float32"]
    assert len(report.columns) == 2
    empty = pd.DataFrame({"x": pd.Series([], dtype=np.float64)})
    new_empty, report_empty = optimize_dataframe(empty)
    assert len(new_empty) == 0
    assert np.isnan(report_empty.bytes_per_row_after)
    span = pd.DataFrame({"d": pd.to_timedelta([1, 2], unit="s")})
    assert optimize_dataframe(span)[1].columns[0].note == f"no rule for {span['d'].dtype}"


# --- properties ------------------------------------------------------------------

_INT64 = st.integers(-(2**63), 2**63 - 1)
_SMALL_INT = st.integers(-300, 70_000)
_FLOAT = st.one_of(st.floats(width=32), st.floats(), st.sampled_from([0.1, -0.0, 1e-320]))
_TEXT = st.one_of(st.none(), st.sampled_from(["a", "bb", "", "é", "NaN"]), st.text(max_size=3))


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    rows = draw(st.integers(0, 25))

    def column(elements: st.SearchStrategy[object]) -> list[object]:
        return draw(st.lists(elements, min_size=rows, max_size=rows))

    return pd.DataFrame(
        {
            "small": np.array(column(_SMALL_INT), dtype=np.int64),
            "wide": np.array(column(_INT64), dtype=np.int64),
            "float": np.array(column(_FLOAT), dtype=np.float64),
            "text": pd.Series(column(_TEXT), dtype=object),
            "flag": np.array(column(st.booleans()), dtype=bool),
            "maybe": pd.Series(column(st.one_of(st.none(), st.booleans())), dtype=object),
            "nullable": pd.array(column(st.one_of(st.none(), _SMALL_INT)), dtype="Int64"),
        }
    )


@settings(max_examples=60, deadline=None)
@given(frame=frames(), threshold=st.floats(0.01, 1.0))
def test_default_mode_is_bit_lossless_on_random_frames(
    frame: pd.DataFrame, threshold: float
) -> None:
    snapshot = frame.copy(deep=True)
    new, report = optimize_dataframe(frame, categorical_threshold=threshold)
    pd.testing.assert_frame_equal(frame, snapshot, check_exact=True)
    assert_round_trip(frame, new)
    assert all(c.status is not ColumnStatus.TOLERANCE for c in report.columns)
    assert all(c.bytes_after <= c.bytes_before for c in report.columns)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.floats(-1e6, 1e6), st.just(np.nan), st.floats()), min_size=1, max_size=30
    ),
    places=st.integers(0, 6),
    rounded=st.booleans(),
)
def test_decimals_mode_restores_values_or_leaves_the_column(
    values: list[float], places: int, rounded: bool
) -> None:
    column = np.array(values, dtype=np.float64)
    if rounded:
        big = ~(np.abs(column) < 1e300)  # rounding multiplies by 10**places first
        column = np.where(big, column, np.round(np.where(big, 0.0, column), places))
    frame = pd.DataFrame({"x": column})
    new, report = optimize_dataframe(frame, decimals={"x": places})
    status = report.columns[0].status
    if status is ColumnStatus.UNCHANGED:
        assert new["x"].dtype == np.float64
        assert float_bits_equal(frame["x"], new["x"])
        return
    assert new["x"].dtype == np.float32
    back = new["x"].to_numpy(np.float64)
    if status is ColumnStatus.DECIMALS:
        back = np.round(back, places)
    assert ((back == column) | (np.isnan(back) & np.isnan(column))).all()


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.integers(-999_999, 999_999), min_size=1, max_size=30))
def test_two_decimal_prices_under_ten_thousand_always_narrow(values: list[int]) -> None:
    # float32's half-ulp below 2**14 is < 0.0005, so rounding back always restores cents
    frame = pd.DataFrame({"price": np.array(values) / 100.0})
    new, report = optimize_dataframe(frame, decimals=2)
    assert new["price"].dtype == np.float32
    assert report.columns[0].status is not ColumnStatus.UNCHANGED
    assert (np.round(new["price"].to_numpy(np.float64), 2) == frame["price"].to_numpy()).all()


# --- argument errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"decimals": {"clse": 2}},
            ValueError,
            r"decimals: no column 'clse'.*did you mean 'close'",
        ),
        ({"decimals": {"volume": 2}}, TypeError, r"decimals: column 'volume' is int64"),
        (
            {"decimals": {"close": -1}},
            ValueError,
            r"decimals\['close'\]: expected decimals in 0..15",
        ),
        ({"decimals": {"close": 2.5}}, TypeError, r"decimals\['close'\]: expected an int"),
        ({"decimals": True}, TypeError, r"decimals: expected an int"),
        ({"tolerance": -1e-6}, ValueError, r"tolerance: .*>= 0, got -1e-06"),
        ({"tolerance": float("nan")}, ValueError, r"tolerance: .*got nan"),
        ({"tolerance": {"close": "1e-6"}}, TypeError, r"tolerance\['close'\]"),
        ({"tolerance": {"nope": 1e-6}}, ValueError, r"tolerance: no column 'nope'"),
        ({"categorical_threshold": 0}, ValueError, r"categorical_threshold: .*\(0, 1\], got 0"),
        ({"categorical_threshold": 1.5}, ValueError, r"categorical_threshold: .*got 1.5"),
        ({"categorical_threshold": "half"}, TypeError, r"categorical_threshold: .*'half'"),
        ({"inplace": "yes"}, TypeError, r"inplace: expected a bool, got 'yes'"),
    ],
)
def test_bad_arguments_name_the_parameter_and_value(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    frame = pd.DataFrame({"close": [1.5], "volume": [3]})
    with pytest.raises(error, match=match):
        optimize_dataframe(frame, **kwargs)  # type: ignore[arg-type]


def test_not_a_frame_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="df: expected a pandas DataFrame, got Series"):
        optimize_dataframe(pd.Series([1.0]))  # type: ignore[arg-type]


# --- MemoryOptimizer -------------------------------------------------------------------


class FakeCache:
    """A Trimmable whose size drops by what it frees."""

    def __init__(self, name: str, nbytes: int) -> None:
        self.name = name
        self.nbytes = nbytes
        self.requests: list[int] = []

    def current_bytes(self) -> int:
        return self.nbytes

    def trim(self, bytes_to_free: int) -> int:
        self.requests.append(bytes_to_free)
        freed = min(bytes_to_free, self.nbytes)
        self.nbytes -= freed
        return freed


class Rig:
    """Two fake caches on top of a fixed base, a fake RSS that is their sum, a fake gc."""

    def __init__(self, base_mib: int, first_mib: int, second_mib: int, **kwargs: float) -> None:
        self.base = base_mib * MIB
        self.quotes = FakeCache("quotes", first_mib * MIB)
        self.chains = FakeCache("chains", second_mib * MIB)
        self.collections = 0
        self.optimizer = MemoryOptimizer(
            kwargs.pop("threshold_mib", 512),
            rss=self.rss,
            clock=lambda: 42.0,
            collect=self.collect,
            **kwargs,
        )
        self.optimizer.register(self.quotes)
        self.optimizer.register(self.chains)

    def rss(self) -> int:
        return self.base + self.quotes.nbytes + self.chains.nbytes

    def collect(self) -> int:
        self.collections += 1
        return 7


def test_check_trims_the_largest_cache_first_then_collects() -> None:
    rig = Rig(200, 100, 300)  # RSS 600 MiB > 512; target 0.8 x 512 = 409.6 MiB
    report = rig.optimizer.check()
    to_free = 600 * MIB - int(512 * MIB * 0.8)
    assert rig.chains.requests == [to_free]
    assert rig.quotes.requests == []
    assert report.freed_by_cache == (("chains", to_free),)
    assert report.freed_bytes == to_free
    assert report.triggered
    assert report.gc_collected == 7
    assert rig.collections == 1
    assert report.rss_before_bytes == 600 * MIB
    assert report.rss_after_bytes == int(512 * MIB * 0.8) < report.threshold_bytes
    assert report.at_s == 42.0
    assert rig.optimizer.history == (report,)
    assert rig.optimizer.last_report is report
    assert "freed 190.4 MiB (chains 190.4 MiB), gc collected 7 objects" in str(report)


def test_check_moves_to_the_next_cache_until_under_the_target() -> None:
    rig = Rig(400, 100, 60, target_fraction=1.0)  # RSS 560 MiB, free 48 MiB
    report = rig.optimizer.check()
    assert report.freed_by_cache == (("quotes", 48 * MIB),)
    rig2 = Rig(420, 60, 100, threshold_mib=500, target_fraction=0.5)  # free 330 MiB
    report2 = rig2.optimizer.check()
    assert report2.freed_by_cache == (("chains", 100 * MIB), ("quotes", 60 * MIB))
    assert rig2.chains.nbytes == rig2.quotes.nbytes == 0
    assert report2.rss_after_bytes == 420 * MIB  # the base cannot be trimmed
    assert rig2.collections == 1


def test_equal_sizes_trim_in_registration_order_and_empty_caches_are_skipped() -> None:
    rig = Rig(500, 40, 40, target_fraction=1.0)  # 580 MiB, free 68 MiB
    empty = rig.optimizer.register(FakeCache("empty", 0))
    report = rig.optimizer.check()
    assert report.freed_by_cache == (("quotes", 40 * MIB), ("chains", 28 * MIB))
    assert isinstance(empty, FakeCache)
    assert empty.requests == []


def test_under_the_threshold_check_does_nothing() -> None:
    rig = Rig(100, 100, 100)
    report = rig.optimizer.check()
    assert not report.triggered
    assert report.freed_by_cache == ()
    assert report.gc_collected == 0
    assert rig.quotes.requests == rig.chains.requests == []
    assert rig.collections == 0
    assert rig.optimizer.history == ()
    assert rig.optimizer.last_report is report
    assert "nothing to do" in str(report)


def test_default_rss_is_this_process_and_default_gc_runs() -> None:
    optimizer = MemoryOptimizer(gc_threshold_mb=1)  # any real process is above 1 MiB
    report = optimizer.check()
    assert report.triggered
    assert report.rss_before_bytes > MIB
    assert report.gc_collected >= 0
    assert report.freed_by_cache == ()
    calm = MemoryOptimizer(gc_threshold_mb=1e9).check()
    assert not calm.triggered
    assert calm.rss_before_bytes > MIB


def test_registration_contract() -> None:
    optimizer = MemoryOptimizer(rss=lambda: 0)
    cache = FakeCache("quotes", 1)
    assert isinstance(cache, Trimmable)
    optimizer.register(cache)
    with pytest.raises(ValueError, match="'quotes' is already registered"):
        optimizer.register(FakeCache("quotes", 2))
    with pytest.raises(TypeError, match=r"expected a Trimmable.*got dict"):
        optimizer.register({})  # type: ignore[arg-type]
    optimizer.unregister("quotes")
    optimizer.unregister("never-registered")
    assert optimizer.caches == ()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"gc_threshold_mb": 0}, r"gc_threshold_mb: .*> 0, got 0"),
        ({"gc_threshold_mb": float("inf")}, r"gc_threshold_mb: .*got inf"),
        ({"target_fraction": 1.5}, r"target_fraction: .*\(0, 1\], got 1.5"),
    ],
)
def test_optimizer_arguments_are_checked(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MemoryOptimizer(rss=lambda: 0, **kwargs)


def test_background_thread_checks_until_stopped() -> None:
    passes = threading.Event()
    calls: list[int] = []

    def rss() -> int:
        calls.append(1)
        if len(calls) >= 3:
            passes.set()
        return 0

    optimizer = MemoryOptimizer(rss=rss)
    optimizer.start(interval_s=0.001)
    try:
        assert optimizer.running
        with pytest.raises(RuntimeError, match="already running"):
            optimizer.start(interval_s=0.001)
        assert passes.wait(timeout=10)
    finally:
        optimizer.stop()
    assert not optimizer.running
    assert optimizer.last_report is not None
    assert not optimizer.last_report.triggered
    optimizer.stop()  # idempotent
    with pytest.raises(ValueError, match="interval_s"):
        optimizer.start(interval_s=0)


def test_background_thread_survives_a_failing_cache(caplog: pytest.LogCaptureFixture) -> None:
    failures = threading.Event()
    calls: list[int] = []

    class Broken(FakeCache):
        def trim(self, bytes_to_free: int) -> int:
            calls.append(1)
            if len(calls) >= 2:
                failures.set()
            raise OSError("disk gone")

    optimizer = MemoryOptimizer(1, rss=lambda: 2 * MIB, collect=lambda: 0)
    optimizer.register(Broken("spill", MIB))
    optimizer.start(interval_s=0.001)
    try:
        assert failures.wait(timeout=10)  # a second pass ran after the first failed
    finally:
        optimizer.stop()
    assert isinstance(optimizer.last_error, OSError)
    assert "memory watchdog pass failed" in caplog.text


def test_report_types_are_frozen() -> None:
    report = TrimReport(0.0, 1, 1, 2, 1, (), 0, False)
    with pytest.raises(AttributeError):
        report.gc_collected = 3  # type: ignore[misc]


# --- package rules -------------------------------------------------------------------


def test_all_is_complete() -> None:
    defined = {
        name
        for name, obj in vars(memory).items()
        if not name.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and obj.__module__ == memory.__name__
    }
    assert defined == set(memory.__all__)


def test_importing_the_module_pulls_in_no_other_greekfire_package_nor_numba() -> None:
    code = (
        "import sys, greekfire.perf.memory; "
        "bad = [m for m in sys.modules if m == 'numba' or (m.startswith('greekfire.') "
        "and not m.startswith('greekfire.perf'))]; print(bad)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_the_optimizer_object_optimises_dataframes_as_the_function_does() -> None:
    frame = pd.DataFrame({"n": np.arange(100, dtype=np.int64), "s": ["a", "b"] * 50})
    watchdog = MemoryOptimizer(gc_threshold_mb=1.0, rss=lambda: 0)
    via_method, report = watchdog.optimize_dataframe(frame, categorical_threshold=0.5)
    via_function, _ = optimize_dataframe(frame, categorical_threshold=0.5)
    pd.testing.assert_frame_equal(via_method, via_function)
    assert str(via_method["n"].dtype) == "uint8"
    assert report.bytes_after < report.bytes_before
