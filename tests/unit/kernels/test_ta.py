"""Indicator kernels: TA-Lib's values and NaN positions, stream == batch, rows independent."""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greekfire.kernels import ta

talib = pytest.importorskip("talib")

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray]  # high, low, close, each (rows, T)


def _run(kind: str, period: int, k: int, fn: Callable[..., None], *args: object):
    def call(hlc: Arrays, state: np.ndarray | None = None) -> np.ndarray:
        close = hlc[2]
        rows, t_len = close.shape
        if state is None:
            state = np.zeros((rows, ta.state_size(kind, period)))
        out = np.empty((k, rows, t_len)) if k > 1 or kind == "var" else np.empty((rows, t_len))
        inputs = hlc if kind == "atr" else (close,)
        fn(*inputs, state, *args, out)
        return out.reshape(-1, rows, t_len)

    return call


# name -> (greekfire run over (high, low, close) -> (k, rows, T), TA-Lib on 1-D arrays -> list)
INDICATORS = {
    "SMA": (_run("sma", 20, 1, ta.sma_run, 20), lambda h, lo, c: [talib.SMA(c, 20)]),
    "WMA": (_run("wma", 10, 1, ta.wma_run, 10), lambda h, lo, c: [talib.WMA(c, 10)]),
    "EMA": (_run("ema", 0, 1, ta.ema_run, 12, 1), lambda h, lo, c: [talib.EMA(c, 12)]),
    "DEMA": (_run("dema", 0, 1, ta.ema_run, 9, 2), lambda h, lo, c: [talib.DEMA(c, 9)]),
    "TEMA": (_run("tema", 0, 1, ta.ema_run, 7, 3), lambda h, lo, c: [talib.TEMA(c, 7)]),
    "RSI": (_run("rsi", 0, 1, ta.rsi_run, 14), lambda h, lo, c: [talib.RSI(c, 14)]),
    "MACD": (
        _run("macd", 0, 3, ta.macd_run, 12, 26, 9),
        lambda h, lo, c: list(talib.MACD(c, 12, 26, 9)),
    ),
    "BBANDS": (
        _run("var", 20, 5, ta.var_run, 20, 2, 2.0),
        lambda h, lo, c: list(talib.BBANDS(c, 20, 2.0, 2.0)),
    ),
    "STDDEV": (
        _run("var", 14, 1, ta.var_run, 14, 1, 1.5),
        lambda h, lo, c: [talib.STDDEV(c, 14, 1.5)],
    ),
    "VAR": (_run("var", 14, 1, ta.var_run, 14, 0, 1.0), lambda h, lo, c: [talib.VAR(c, 14)]),
    "ATR": (_run("atr", 0, 1, ta.atr_run, 14, False), lambda h, lo, c: [talib.ATR(h, lo, c, 14)]),
    "NATR": (_run("atr", 0, 1, ta.atr_run, 14, True), lambda h, lo, c: [talib.NATR(h, lo, c, 14)]),
    "ROC": (_run("change", 10, 1, ta.change_run, 10, True), lambda h, lo, c: [talib.ROC(c, 10)]),
    "MOM": (_run("change", 10, 1, ta.change_run, 10, False), lambda h, lo, c: [talib.MOM(c, 10)]),
}


def _ohlc(close: np.ndarray, rng: np.random.Generator) -> Arrays:
    spread = np.abs(rng.normal(0.0, 0.004, close.shape)) * np.abs(close)
    return close + spread, close - spread * rng.uniform(0.5, 1.5, close.shape), close


def _series(kind: str) -> Arrays:
    rng = np.random.default_rng(zlib.crc32(kind.encode()))
    if kind == "random_walk":
        c = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, 2_000)))
    elif kind == "gaps":  # overnight gaps, a crash day, a flat stretch
        r = rng.normal(0.0, 0.01, 1_500)
        r[::78] += rng.normal(0.0, 0.05, r[::78].size)
        r[700] = -0.35
        c = 50.0 * np.exp(np.cumsum(r))
        c[900:960] = c[899]
    elif kind == "constant":
        c = np.full(300, 42.0)
    elif kind == "short":
        c = 100.0 + rng.normal(0.0, 1.0, 8)
    elif kind == "leading_nans":
        c = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, 500)))
        c[:37] = np.nan
    elif kind == "inner_nan":
        c = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, 400)))
        c[250] = np.nan
    else:
        raise AssertionError(kind)
    return _ohlc(c, rng)


SERIES = ["random_walk", "gaps", "constant", "short", "leading_nans"]


def _close_enough(ours: np.ndarray, theirs: np.ndarray) -> None:
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    ok = ~np.isnan(theirs)
    scale = np.maximum(1.0, np.abs(theirs[ok]))
    assert (np.abs(ours[ok] - theirs[ok]) <= 1e-9 * scale).all()


@pytest.mark.parametrize("series", SERIES)
@pytest.mark.parametrize("name", list(INDICATORS))
def test_matches_talib(name: str, series: str) -> None:
    ours_fn, theirs_fn = INDICATORS[name]
    h, lo, c = _series(series)
    if series == "leading_nans":
        h[:41] = np.nan  # a later first valid high: multi-input indicators start there
    ours = ours_fn((h[None], lo[None], c[None]))
    theirs = theirs_fn(h, lo, c)
    assert len(theirs) <= ours.shape[0]
    for k, expected in enumerate(theirs):
        _close_enough(ours[k, 0], expected)


@pytest.mark.parametrize("name", list(INDICATORS))
def test_a_nan_bar_is_skipped(name: str) -> None:
    # Documented NaN policy: the bar's output is NaN and the indicator carries on as if the
    # bar were not there (TA-Lib would poison its running sums from there on).
    fn = INDICATORS[name][0]
    h, lo, c = _series("inner_nan")
    hole = int(np.flatnonzero(np.isnan(c))[0])
    h = h.copy()
    h[hole + 30] = np.nan  # a NaN in another input skips that bar too
    holes = [hole, hole + 30]
    with_holes = fn((h[None], lo[None], c[None]))[:, 0]
    keep = np.setdiff1d(np.arange(c.size), holes)
    without = fn((h[None, keep], lo[None, keep], c[None, keep]))[:, 0]
    multi_input = name in ("ATR", "NATR")
    skipped = holes if multi_input else holes[:1]
    assert np.isnan(with_holes[:, skipped]).all()
    kept = np.setdiff1d(np.arange(c.size), skipped)
    expected = without if multi_input else fn((h[None, kept], lo[None, kept], c[None, kept]))[:, 0]
    np.testing.assert_array_equal(with_holes[:, kept], expected)
    assert np.isfinite(with_holes[:, -1]).all()


def test_rsi_of_a_constant_series_is_zero_as_in_talib() -> None:
    h, lo, c = _series("constant")
    out = INDICATORS["RSI"][0]((h[None], lo[None], c[None]))
    assert (out[0, 0, 14:] == 0.0).all()


def test_bollinger_percent_b_and_width() -> None:
    h, lo, c = _series("random_walk")
    out = INDICATORS["BBANDS"][0]((h[None], lo[None], c[None]))[:, 0]
    upper, middle, lower, pct_b, width = out
    ok = ~np.isnan(upper)
    np.testing.assert_allclose(pct_b[ok], ((c - lower) / (upper - lower))[ok], rtol=1e-12)
    np.testing.assert_allclose(width[ok], ((upper - lower) / middle)[ok], rtol=1e-12)
    h, lo, c = _series("constant")
    flat = INDICATORS["BBANDS"][0]((h[None], lo[None], c[None]))[:, 0]
    assert np.isnan(flat[3, 19:]).all()  # no band: %b is undefined
    assert (flat[4, 19:] == 0.0).all()


@pytest.mark.parametrize("name", list(INDICATORS))
def test_rows_are_independent_series(name: str) -> None:
    fn = INDICATORS[name][0]
    rows = [_series(s) for s in ("random_walk", "leading_nans")]
    t_len = min(r[2].size for r in rows)
    block = tuple(np.stack([r[i][:t_len] for r in rows]) for i in range(3))
    together = fn(block)
    for j in range(2):
        alone = fn(tuple(a[j : j + 1] for a in block))
        np.testing.assert_array_equal(together[:, j], alone[:, 0])


chunkings = st.lists(st.integers(1, 60), min_size=1, max_size=30)


@settings(max_examples=25, deadline=None)
@given(cuts=chunkings, seed=st.integers(0, 2**31 - 1), lead=st.integers(0, 30))
@pytest.mark.parametrize("name", list(INDICATORS))
def test_stream_equals_batch_bit_for_bit(name: str, cuts: list[int], seed: int, lead: int) -> None:
    rng = np.random.default_rng(seed)
    t_len = 260
    c = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, (3, t_len)), axis=1))
    c[1, :lead] = np.nan  # symbols may start later than others
    hlc = _ohlc(c, rng)
    fn = INDICATORS[name][0]
    batch = fn(hlc)
    kind, period = _state_kind(name)
    state = np.zeros((3, ta.state_size(kind, period)))
    pieces = []
    start = 0
    bounds = np.cumsum(cuts)
    for stop in [*bounds[bounds < t_len], t_len]:
        pieces.append(fn(tuple(a[:, start:stop] for a in hlc), state))
        # The state survives a save and a load between bars (the engine restarting).
        buf = io.BytesIO()
        np.save(buf, state, allow_pickle=False)
        buf.seek(0)
        state = np.load(buf, allow_pickle=False)
        start = stop
    np.testing.assert_array_equal(np.concatenate(pieces, axis=-1), batch)


def _state_kind(name: str) -> tuple[str, int]:
    return {
        "SMA": ("sma", 20),
        "WMA": ("wma", 10),
        "EMA": ("ema", 0),
        "DEMA": ("dema", 0),
        "TEMA": ("tema", 0),
        "RSI": ("rsi", 0),
        "MACD": ("macd", 0),
        "BBANDS": ("var", 20),
        "STDDEV": ("var", 14),
        "VAR": ("var", 14),
        "ATR": ("atr", 0),
        "NATR": ("atr", 0),
        "ROC": ("change", 10),
        "MOM": ("change", 10),
    }[name]


def _bars(n: int, seed: int):
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = close * np.exp(rng.normal(0.0, 0.003, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.004, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.004, n)))
    volume = rng.integers(0, 5_000, n).astype(float)
    return open_, high, low, close, volume


def _rv(method: int, period: int, o, h, lo, c, state=None):
    rows = c.shape[0]
    if state is None:
        state = np.zeros((rows, ta.state_size("realized_vol", period)))
    out = np.empty(c.shape)
    ta.realized_vol_run(o, h, lo, c, state, period, method, 252.0, out)
    return out


@pytest.mark.parametrize("period", [2, 20])
def test_realized_vol_matches_pandas_rolling_formulas(period: int) -> None:
    import pandas as pd

    o, h, lo, c, _ = _bars(600, period)
    c[:3] = np.nan  # a late start
    blocks = (o[None], h[None], lo[None], c[None])
    cc = _rv(ta.RV_CLOSE_TO_CLOSE, period, *blocks)[0]
    ref = pd.Series(np.log(c)).diff().rolling(period).std(ddof=1) * np.sqrt(252.0)
    np.testing.assert_array_equal(np.isnan(cc), ref.isna())
    np.testing.assert_allclose(cc, ref, rtol=1e-10)
    park = _rv(ta.RV_PARKINSON, period, *blocks)[0]
    hl2 = pd.Series(np.log(h / lo) ** 2)
    np.testing.assert_allclose(
        park, np.sqrt(252.0 / (4 * np.log(2)) * hl2.rolling(period).mean()), rtol=1e-10
    )
    gk = _rv(ta.RV_GARMAN_KLASS, period, *blocks)[0]
    term = 0.5 * hl2 - (2 * np.log(2) - 1) * pd.Series(np.log(c / o) ** 2)
    expected = np.sqrt(252.0 * term.rolling(period).mean().clip(lower=0.0))
    np.testing.assert_allclose(gk, expected, rtol=1e-10)


def test_vwap_restarts_each_session_and_matches_cumulative_sums() -> None:
    import pandas as pd

    _, h, lo, c, v = _bars(390 * 3, 9)
    v[:5] = 0.0  # no volume yet: no VWAP
    session = np.repeat([20240102.0, 20240103.0, 20240104.0], 390)
    out = np.empty((1, c.size))
    ta.vwap_run(h[None], lo[None], c[None], v[None], session[None], np.zeros((1, 6)), out)
    tp = (h + lo + c) / 3.0
    frame = pd.DataFrame({"pv": tp * v, "v": v, "s": session})
    cum = frame.groupby("s")[["pv", "v"]].cumsum()
    expected = (cum["pv"] / cum["v"]).to_numpy()
    np.testing.assert_array_equal(np.isnan(out[0]), np.isnan(expected))
    np.testing.assert_allclose(out[0], expected, rtol=1e-12)


def test_realized_vol_and_vwap_stream_equal_batch() -> None:
    o, h, lo, c, v = _bars(300, 3)
    session = np.repeat(np.arange(3.0), 100)
    blocks = tuple(a[None] for a in (o, h, lo, c))
    for method in (ta.RV_CLOSE_TO_CLOSE, ta.RV_PARKINSON, ta.RV_GARMAN_KLASS):
        batch = _rv(method, 10, *blocks)
        state = np.zeros((1, ta.state_size("realized_vol", 10)))
        steps = [
            _rv(method, 10, *(b[:, t : t + 1] for b in blocks), state=state) for t in range(300)
        ]
        np.testing.assert_array_equal(np.concatenate(steps, axis=1), batch)
    vb = np.empty((1, 300))
    ta.vwap_run(h[None], lo[None], c[None], v[None], session[None], np.zeros((1, 6)), vb)
    state = np.zeros((1, 6))
    one = np.empty((1, 1))
    for t in range(300):
        sl = slice(t, t + 1)
        ta.vwap_run(
            h[None, sl], lo[None, sl], c[None, sl], v[None, sl], session[None, sl], state, one
        )
        np.testing.assert_array_equal(one[0], vb[0, sl])


def test_natr_is_zero_where_the_close_is_zero_as_talib() -> None:
    # TA-Lib 0.8's NATR divides by any close but 0 (older versions zeroed |close| < 1e-8).
    rng = np.random.default_rng(11)
    close = 1e-6 * np.exp(np.cumsum(rng.normal(0.0, 0.3, 200)))
    close[[60, 90, 150]] = [5e-9, -5e-9, 0.0]
    high = close + 1e-7
    low = close - 1e-7
    state = np.zeros((1, ta.state_size("atr")))
    out = np.empty((1, 200))
    ta.atr_run(high[None], low[None], close[None], state, 14, True, out)
    want = talib.NATR(high, low, close, 14)
    assert out[0, 150] == 0.0
    assert out[0, 60] > 1e3
    np.testing.assert_allclose(out[0], want, rtol=1e-12, atol=0.0)
