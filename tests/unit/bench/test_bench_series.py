"""Series workloads of cases (e)-(h): deterministic, kernel layout, sizes in symbol-bars."""

from __future__ import annotations

import numpy as np

from greekfire.bench.series import (
    OHLCWorkload,
    make_ohlc_workload,
    make_returns_workload,
    make_stream_workload,
)


def _assert_layout(a: np.ndarray, shape: tuple[int, int]) -> None:
    assert a.dtype == np.float64
    assert a.shape == shape
    assert a.flags.c_contiguous


def test_ohlc_is_deterministic_contiguous_and_consistent() -> None:
    w = make_ohlc_workload(4, 300, seed=5)
    again = make_ohlc_workload(4, 300, seed=5)
    for a, b in zip((w.high, w.low, w.close), (again.high, again.low, again.close), strict=True):
        _assert_layout(a, (4, 300))
        np.testing.assert_array_equal(a, b)
    assert np.all(w.low <= w.close)
    assert np.all(w.close <= w.high)
    assert np.all(w.low >= 0.01)
    np.testing.assert_array_equal(np.round(w.close, 2), w.close)  # cents
    assert not np.array_equal(make_ohlc_workload(4, 300, seed=6).close, w.close)


def test_size_counts_symbol_bars_and_head_keeps_symbols() -> None:
    w = make_ohlc_workload(5, 100)
    assert (w.rows, w.bars, w.n) == (5, 100, 500)
    head = w.head(2)
    assert (head.rows, head.n) == (2, 200)
    assert head.close.flags.c_contiguous
    np.testing.assert_array_equal(head.close, w.close[:2])
    assert w.head(99).rows == 5


def test_stream_workload_splits_one_path() -> None:
    s = make_stream_workload(3, 50, upcoming=7, seed=11)
    whole = make_ohlc_workload(3, 57, seed=11)
    assert s.n == 3
    _assert_layout(s.history.close, (3, 50))
    _assert_layout(s.upcoming.high, (3, 7))
    np.testing.assert_array_equal(np.hstack([s.history.close, s.upcoming.close]), whole.close)
    full = s.recompute_input()
    assert isinstance(full, OHLCWorkload)
    assert full.bars == 51
    np.testing.assert_array_equal(full.low[:, -1], s.upcoming.low[:, 0])
    bar = s.upcoming.bar(3)
    _assert_layout(bar.close, (3, 1))
    np.testing.assert_array_equal(bar.close[:, 0], s.upcoming.close[:, 3])
    assert s.head(2).history.rows == 2


def test_extended_appends_the_chosen_bars_in_order() -> None:
    s = make_stream_workload(2, 10, upcoming=3)
    ext = s.history.extended(s.upcoming, np.array([2, 0, 2]))
    assert ext.bars == 13
    np.testing.assert_array_equal(ext.close[:, 10:], s.upcoming.close[:, [2, 0, 2]])


def test_returns_are_fat_tailed_daily_returns_above_minus_one() -> None:
    w = make_returns_workload(50, 2_000)
    _assert_layout(w.returns, (50, 2_000))
    assert w.n == 100_000
    assert np.all(w.returns > -1.0)
    sd = w.returns.std(axis=1)
    assert 0.003 < sd.min() < sd.max() < 0.05
    z = (w.returns - w.returns.mean(axis=1, keepdims=True)) / sd[:, None]
    assert np.mean(z**4) > 4.0  # excess kurtosis: a normal gives 3
    assert w.head(7).rows == 7
    np.testing.assert_array_equal(make_returns_workload(50, 2_000).returns, w.returns)
