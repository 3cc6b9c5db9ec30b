"""Signal kernels against plain numpy / loop references; stream == batch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greekfire.kernels import signals


def _cross_reference(fast: np.ndarray, slow: np.ndarray) -> np.ndarray:
    out = np.zeros(fast.size, np.int8)
    last = 0.0
    for t, d in enumerate(fast - slow):
        if d > 0:
            out[t] = 1 if last < 0 else 0
            last = 1.0
        elif d < 0:
            out[t] = -1 if last > 0 else 0
            last = -1.0
    return out


def _walk(rows: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, (rows, n)), axis=1))


def test_cross_events_including_touches_and_nans() -> None:
    fast = np.array([[1.0, 2.0, 3.0, 3.0, 2.0, 3.0, np.nan, 1.0, 2.0, 2.0, 3.0]])
    slow = np.full_like(fast, 2.0)
    out = np.empty(fast.shape, np.int8)
    signals.cross_run(fast, slow, np.zeros((1, 1)), out)
    # below, touch, above (cross), above, touch, above (no cross: never went below), NaN,
    # below (cross down), touch, touch, above (cross up).
    np.testing.assert_array_equal(out[0], [0, 0, 1, 0, 0, 0, 0, -1, 0, 0, 1])
    np.testing.assert_array_equal(out[0], _cross_reference(fast[0], slow[0]))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), cuts=st.lists(st.integers(1, 40), max_size=10))
def test_cross_stream_equals_batch(seed: int, cuts: list[int]) -> None:
    x = _walk(2, 200, seed)
    fast = x + np.random.default_rng(seed).normal(0.0, 0.5, x.shape)
    batch = np.empty(x.shape, np.int8)
    signals.cross_run(fast, x, np.zeros((2, 1)), batch)
    for r in range(2):
        np.testing.assert_array_equal(batch[r], _cross_reference(fast[r], x[r]))
    state = np.zeros((2, 1))
    start = 0
    pieces = []
    for stop in [*np.cumsum(cuts)[np.cumsum(cuts) < 200], 200]:
        out = np.empty((2, stop - start), np.int8)
        signals.cross_run(fast[:, start:stop], x[:, start:stop], state, out)
        pieces.append(out)
        start = stop
    np.testing.assert_array_equal(np.concatenate(pieces, axis=1), batch)


def test_level_band_and_composite_match_numpy() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 3, 50))
    a[0, 3] = np.nan
    out = np.empty(a.shape, np.int8)
    signals.level_signal(a, b, out)
    np.testing.assert_array_equal(out, np.where(a > b, 1, np.where(a < b, -1, 0)))
    rsi = rng.uniform(0, 100, (3, 50))
    lo, hi = np.full_like(rsi, 30.0), np.full_like(rsi, 70.0)
    band = np.empty(rsi.shape, np.int8)
    signals.band_signal(rsi, lo, hi, band)
    np.testing.assert_array_equal(band, np.where(rsi > 70, -1, np.where(rsi < 30, 1, 0)))
    mom = rng.normal(0.0, 2.0, (3, 50))
    mom[1, 0] = np.nan
    comp = np.empty(mom.shape, np.int8)
    signals.composite(mom, band, out, 0.4, 0.3, 0.3, comp)
    total = np.nan_to_num(mom) * 0.4 + band * 0.3 + out * 0.3
    np.testing.assert_array_equal(comp, np.sign(total).astype(np.int8))


def _zscore_reference(x: np.ndarray, lookback: int, threshold: float):
    z = np.full(x.size, np.nan)
    for i in range(lookback, x.size):
        window = x[i - lookback : i]
        sd = window.std()
        if sd > 1e-7 * abs(window.mean()):
            z[i] = (x[i] - window.mean()) / sd
    sig = np.where(z > threshold, -1, np.where(z < -threshold, 1, 0))
    return z, sig


@pytest.mark.parametrize("lookback", [5, 20])
def test_zscore_matches_the_windowed_reference(lookback: int) -> None:
    x = _walk(3, 600, lookback)
    x[2, 300:340] = x[2, 299]  # a flat stretch: no signal, not noise
    z = np.empty(x.shape)
    sig = np.empty(x.shape, np.int8)
    signals.zscore_run(x, np.zeros((3, signals.zscore_state_size(lookback))), lookback, 1.5, z, sig)
    for r in range(3):
        ref_z, ref_sig = _zscore_reference(x[r], lookback, 1.5)
        np.testing.assert_array_equal(np.isnan(z[r]), np.isnan(ref_z))
        ok = ~np.isnan(ref_z)
        np.testing.assert_allclose(z[r, ok], ref_z[ok], rtol=1e-8, atol=1e-8)
        clear = np.abs(np.abs(np.nan_to_num(ref_z)) - 1.5) > 1e-6
        np.testing.assert_array_equal(sig[r, clear], ref_sig[clear])
    assert (sig[2, 300 + lookback : 340] == 0).all()


def test_zscore_stream_equals_batch() -> None:
    x = _walk(2, 300, 7)
    x[1, 100] = np.nan
    size = signals.zscore_state_size(20)
    z, sig = np.empty(x.shape), np.empty(x.shape, np.int8)
    signals.zscore_run(x, np.zeros((2, size)), 20, 2.0, z, sig)
    state = np.zeros((2, size))
    zs, ss = np.empty((2, 1)), np.empty((2, 1), np.int8)
    for t in range(300):
        signals.zscore_run(x[:, t : t + 1], state, 20, 2.0, zs, ss)
        np.testing.assert_array_equal(zs[:, 0], z[:, t])
        np.testing.assert_array_equal(ss[:, 0], sig[:, t])
