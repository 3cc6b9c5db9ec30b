"""Seeding conventions of other platforms (``compat=``): Metastock and TradingView.

The oracles are the loop references in ``_compat_ref.py``: the Metastock ones were checked
against TA-Lib C 0.6.4 under ``set_compatibility(1)`` (``tools/check_compat_ref.py``; the
TA-Lib bundled with the dev extra has that switch compiled out), the TradingView ones follow
the Pine reference manual's implementations.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import _compat_ref as ref
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greekfire.kernels import ta
from greekfire.kernels import ta_more as tm

MS = ta.COMPAT_METASTOCK
TV = ta.COMPAT_TRADINGVIEW

Bars = tuple[np.ndarray, np.ndarray, np.ndarray]  # high, low, close (rows, T)
# (bars, state or None for a new series, compat) -> (outputs (k, rows, T), the state)
Kernel = Callable[[Bars, np.ndarray | None, int], tuple[np.ndarray, np.ndarray]]


def _ema(depth: int, period: int) -> Kernel:
    def run(b: Bars, state: np.ndarray | None, compat: int) -> tuple[np.ndarray, np.ndarray]:
        c = b[2]
        if state is None:
            state = np.zeros((c.shape[0], ta.state_size(("ema", "dema", "tema")[depth - 1])))
        out = np.empty(c.shape)
        ta.ema_run(c, state, period, depth, out, compat)
        return out[None], state

    return run


def _rsi(period: int) -> Kernel:
    def run(b: Bars, state: np.ndarray | None, compat: int) -> tuple[np.ndarray, np.ndarray]:
        c = b[2]
        state = np.zeros((c.shape[0], ta.state_size("rsi"))) if state is None else state
        out = np.empty(c.shape)
        ta.rsi_run(c, state, period, out, compat)
        return out[None], state

    return run


def _macd(fast: int, slow: int, signal: int) -> Kernel:
    def run(b: Bars, state: np.ndarray | None, compat: int) -> tuple[np.ndarray, np.ndarray]:
        c = b[2]
        state = np.zeros((c.shape[0], ta.state_size("macd"))) if state is None else state
        out = np.empty((3, *c.shape))
        ta.macd_run(c, state, fast, slow, signal, out, compat)
        return out, state

    return run


def _atr(period: int, normalised: bool) -> Kernel:
    def run(b: Bars, state: np.ndarray | None, compat: int) -> tuple[np.ndarray, np.ndarray]:
        h, lo, c = b
        state = np.zeros((c.shape[0], ta.state_size("atr"))) if state is None else state
        out = np.empty(c.shape)
        ta.atr_run(h, lo, c, state, period, normalised, out, compat)
        return out[None], state

    return run


def _stochrsi(period: int, fastk: int, fastd: int) -> Kernel:
    def run(b: Bars, state: np.ndarray | None, compat: int) -> tuple[np.ndarray, np.ndarray]:
        c = b[2]
        if state is None:
            state = np.zeros((c.shape[0], tm.state_size_more("stochrsi", period, fastk, fastd)))
        out = np.empty((2, *c.shape))
        tm.stochrsi_run(c, state, period, fastk, fastd, out, compat)
        return out, state

    return run


def _natr_tv(h: np.ndarray, lo: np.ndarray, c: np.ndarray, period: int) -> list[np.ndarray]:
    return [100.0 * ref.atr_tradingview(h, lo, c, period) / c]


# name -> (compat, kernel, reference on 1-D high, low, close -> list of outputs)
CASES: dict[str, tuple[int, Kernel, Callable[..., list[np.ndarray]]]] = {
    "EMA ms": (MS, _ema(1, 10), lambda h, lo, c: [ref.ema_metastock(c, 10)]),
    "DEMA ms": (MS, _ema(2, 9), lambda h, lo, c: [ref.dema_metastock(c, 9)]),
    "TEMA ms": (MS, _ema(3, 7), lambda h, lo, c: [ref.tema_metastock(c, 7)]),
    "RSI ms": (MS, _rsi(14), lambda h, lo, c: [ref.rsi_metastock(c, 14)]),
    "MACD ms": (MS, _macd(12, 26, 9), lambda h, lo, c: list(ref.macd_metastock(c, 12, 26, 9))),
    "STOCHRSI ms": (
        MS,
        _stochrsi(14, 5, 3),
        lambda h, lo, c: list(ref.stochrsi_metastock(c, 14, 5, 3)),
    ),
    "ATR tv": (TV, _atr(14, False), lambda h, lo, c: [ref.atr_tradingview(h, lo, c, 14)]),
    "NATR tv": (TV, _atr(14, True), lambda h, lo, c: _natr_tv(h, lo, c, 14)),
    "MACD tv": (TV, _macd(12, 26, 9), lambda h, lo, c: list(ref.macd_tradingview(c, 12, 26, 9))),
}


def _bars(seed: int, n: int, lead_nan: int = 0) -> Bars:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, n)))
    spread = np.abs(rng.normal(0.0, 0.01, n)) * close
    high = close + spread
    low = close - spread * rng.uniform(0.2, 1.0, n)
    for a in (high, low, close):
        a[:lead_nan] = np.nan
    return high[None], low[None], close[None]


def _assert_matches(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert np.array_equal(np.isnan(ours), np.isnan(theirs)), np.flatnonzero(
        np.isnan(ours) != np.isnan(theirs)
    )[:5]
    ok = ~np.isnan(theirs)
    scale = np.maximum(1.0, np.abs(theirs[ok]))
    assert np.max(np.abs(ours[ok] - theirs[ok]) / scale, initial=0.0) <= 1e-12


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize(("seed", "n", "lead_nan"), [(1, 300, 0), (2, 120, 7), (3, 30, 0)])
def test_matches_the_platform_reference(name: str, seed: int, n: int, lead_nan: int) -> None:
    compat, kernel, reference = CASES[name]
    bars = _bars(seed, n, lead_nan)
    ours, _ = kernel(bars, None, compat)
    theirs = reference(*(a[0] for a in bars))
    assert ours.shape[0] == len(theirs)
    for o, t in zip(ours, theirs, strict=True):
        _assert_matches(o[0], t)


@pytest.mark.parametrize("name", list(CASES))
def test_the_platforms_differ_from_talib_where_documented(name: str) -> None:
    # Without this the comparison above could pass with the option ignored.
    compat, kernel, _ = CASES[name]
    bars = _bars(4, 200)
    theirs, _ = kernel(bars, None, compat)
    talib_like, _ = kernel(bars, None, ta.COMPAT_TALIB)
    assert not np.array_equal(theirs, talib_like, equal_nan=True)


def test_first_values_move_as_documented() -> None:
    bars = _bars(5, 100)
    first = {}
    for name in ("RSI ms", "ATR tv", "MACD tv", "EMA ms", "MACD ms"):
        compat, kernel, _ = CASES[name]
        out, _ = kernel(bars, None, compat)
        first[name] = int(np.flatnonzero(~np.isnan(out[0, 0]))[0])
    # Metastock's RSI and TradingView's ATR one bar earlier than TA-Lib; TradingView's MACD
    # line from the slow EMA's first bar; Metastock's EMA and MACD keep TA-Lib's lookback.
    assert first == {"RSI ms": 13, "ATR tv": 13, "MACD tv": 25, "EMA ms": 9, "MACD ms": 33}


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(list(CASES)),
    seed=st.integers(0, 2**31),
    cuts=st.lists(st.integers(1, 159), max_size=6),
    nan_at=st.lists(st.integers(0, 159), max_size=4),
)
def test_stream_equals_batch_bit_for_bit(
    name: str, seed: int, cuts: list[int], nan_at: list[int]
) -> None:
    compat, kernel, _ = CASES[name]
    h, lo, c = (a.copy() for a in _bars(seed, 160))
    c[0, nan_at] = np.nan
    batch, _ = kernel((h, lo, c), None, compat)
    state: np.ndarray | None = None
    parts = []
    edges = [0, *sorted(set(cuts)), 160]
    for a, b in itertools.pairwise(edges):
        out, state = kernel((h[:, a:b], lo[:, a:b], c[:, a:b]), state, compat)
        parts.append(out)
    assert np.array_equal(np.concatenate(parts, axis=-1), batch, equal_nan=True)
