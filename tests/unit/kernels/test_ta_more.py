"""More indicator kernels: TA-Lib's values and NaN positions, stream == batch, rows independent."""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from greekfire.kernels import ta_more as tm

talib = pytest.importorskip("talib")

Bars = dict[str, np.ndarray]  # "high", "low", "close", "volume": 1-D series or (rows, T) blocks
HLC = ("high", "low", "close")


def _zscore_reference(x: np.ndarray, period: int) -> np.ndarray:
    """numpy: (x - window mean) / window population std, 0 on a flat window; NaN bars are
    left out of the windows (the series is the valid bars), as the kernel skips them."""
    out = np.full(x.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(x))
    if valid.size < period:
        return out
    v = x[valid]
    w = sliding_window_view(v, period)
    flat = np.ptp(w, axis=1) == 0.0
    sd = np.where(flat, 1.0, w.std(axis=1))
    out[valid[period - 1 :]] = np.where(flat, 0.0, (v[period - 1 :] - w.mean(axis=1)) / sd)
    return out


@dataclass(frozen=True)
class Indicator:
    kind: str
    sizes: tuple[int, ...]  # periods for state_size_more
    outputs: int
    kernel: Callable[..., None]
    inputs: tuple[str, ...]
    params: tuple[object, ...]
    theirs: Callable[[Bars], list[np.ndarray]]  # TA-Lib (or the numpy reference) on 1-D bars

    def state(self, rows: int) -> np.ndarray:
        return np.zeros((rows, tm.state_size_more(self.kind, *self.sizes)))

    def __call__(self, bars: Bars, state: np.ndarray | None = None) -> np.ndarray:
        """Our kernel over (rows, T) bars -> (outputs, rows, T)."""
        first = bars[self.inputs[0]]
        rows, t_len = first.shape
        if state is None:
            state = self.state(rows)
        shape = (self.outputs, rows, t_len) if self.outputs > 1 else (rows, t_len)
        out = np.full(shape, -7.0)  # garbage: every element must be written
        self.kernel(*(bars[name] for name in self.inputs), state, *self.params, out)
        return out.reshape(self.outputs, rows, t_len)


def hlc(b: Bars) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return b["high"], b["low"], b["close"]


def _indicator(name: str, *periods: int) -> Indicator:
    """Our kernel and its oracle for TA-Lib's ``name`` (or ZSCORE) with TA-Lib's periods."""
    if name == "STOCH":
        fastk, slowk, slowd = periods
        return Indicator(
            "stoch", periods, 2, tm.stoch_run, HLC, periods,
            lambda b: list(talib.STOCH(*hlc(b), fastk, slowk, 0, slowd, 0)),
        )  # fmt: skip
    if name == "STOCHF":
        fastk, fastd = periods
        sizes = (fastk, 1, fastd)
        return Indicator(
            "stoch", sizes, 2, tm.stoch_run, HLC, sizes,
            lambda b: list(talib.STOCHF(*hlc(b), fastk, fastd, 0)),
        )  # fmt: skip
    if name == "STOCHRSI":
        return Indicator(
            "stochrsi", periods, 2, tm.stochrsi_run, ("close",), periods,
            lambda b: list(talib.STOCHRSI(b["close"], *periods, 0)),
        )  # fmt: skip
    (p,) = periods
    if name == "ADX":
        return Indicator(
            "adx", (), 3, tm.adx_run, HLC, (p,),
            lambda b: [f(*hlc(b), p) for f in (talib.PLUS_DI, talib.MINUS_DI, talib.ADX)],
        )  # fmt: skip
    if name in ("CCI", "WILLR"):
        kernel = tm.cci_run if name == "CCI" else tm.willr_run
        fn = getattr(talib, name)
        return Indicator(name.lower(), (p,), 1, kernel, HLC, (p,), lambda b: [fn(*hlc(b), p)])
    if name == "MFI":
        return Indicator(
            "mfi", (p,), 1, tm.mfi_run, (*HLC, "volume"), (p,),
            lambda b: [talib.MFI(*hlc(b), b["volume"], p)],
        )  # fmt: skip
    if name in ("MIN", "MAX"):
        fn = getattr(talib, name)
        return Indicator(
            "minmax", (p,), 1, tm.minmax_run, ("close",), (p, name == "MAX"),
            lambda b: [fn(b["close"], p)],
        )  # fmt: skip
    assert name == "ZSCORE"
    return Indicator(
        "zscore", (p,), 1, tm.zscore_run, ("close",), (p,),
        lambda b: [_zscore_reference(b["close"], p)],
    )  # fmt: skip


OBV = Indicator(
    "obv", (), 1, tm.obv_run, ("close", "volume"), (),
    lambda b: [talib.OBV(b["close"], b["volume"])],
)  # fmt: skip

INDICATORS = {
    "STOCH": _indicator("STOCH", 5, 3, 3),
    "STOCHF": _indicator("STOCHF", 5, 3),
    "STOCHRSI": _indicator("STOCHRSI", 14, 5, 3),
    "ADX": _indicator("ADX", 14),  # with PLUS_DI and MINUS_DI
    "CCI": _indicator("CCI", 14),
    "WILLR": _indicator("WILLR", 14),
    "OBV": OBV,
    "MFI": _indicator("MFI", 14),
    "MIN": _indicator("MIN", 30),
    "MAX": _indicator("MAX", 30),
    "ZSCORE": _indicator("ZSCORE", 20),
}


def _ohlcv(close: np.ndarray, rng: np.random.Generator) -> Bars:
    spread = np.abs(rng.normal(0.0, 0.004, close.shape)) * np.abs(close)
    volume = np.round(rng.lognormal(11.0, 0.6, close.shape))
    return {
        "high": close + spread,
        "low": close - spread * rng.uniform(0.5, 1.5, close.shape),
        "close": close,
        "volume": volume,
    }


def _series(kind: str) -> Bars:
    rng = np.random.default_rng(zlib.crc32(kind.encode()))
    if kind == "random_walk":
        return _ohlcv(100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, 2_000))), rng)
    if kind == "gaps":
        # Real-like: prices in cents (ties, equal highs), overnight gaps, a crash day, a
        # halted stretch (flat bars, no volume) then a flat but traded stretch, volume spikes.
        r = rng.normal(0.0, 0.01, 1_500)
        r[::78] += rng.normal(0.0, 0.05, r[::78].size)
        r[700] = -0.35
        c = np.round(50.0 * np.exp(np.cumsum(r)), 2)
        b = _ohlcv(c, rng)
        b["high"] = np.maximum(np.round(b["high"], 2), c)
        b["low"] = np.minimum(np.round(b["low"], 2), c)
        for name in HLC:
            b[name][900:960] = c[899]
        b["volume"][900:930] = 0.0
        b["volume"][::97] *= 20.0
        return b
    if kind == "constant":  # the close never moves, the bars do
        return _ohlcv(np.full(300, 42.0), rng)
    if kind == "flat":  # nothing moves at all
        return {name: np.full(300, 42.0) for name in HLC} | {"volume": np.full(300, 1e4)}
    if kind == "short":
        return _ohlcv(100.0 + rng.normal(0.0, 1.0, 8), rng)
    if kind == "leading_nans":
        b = _ohlcv(100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, 500))), rng)
        b["close"][:37] = np.nan
        b["high"][:41] = np.nan  # multi-input indicators start at their last first number
        b["volume"][:45] = np.nan
        return b
    raise AssertionError(kind)


SERIES = ["random_walk", "gaps", "constant", "flat", "short", "leading_nans"]


def _close_enough(ours: np.ndarray, theirs: np.ndarray) -> None:
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    ok = ~np.isnan(theirs)
    scale = np.maximum(1.0, np.abs(theirs[ok]))
    assert (np.abs(ours[ok] - theirs[ok]) <= 1e-9 * scale).all()


def _state(kind: str, *sizes: int, rows: int = 1) -> np.ndarray:
    return np.zeros((rows, tm.state_size_more(kind, *sizes)))


def _block(bars: Bars) -> Bars:
    return {name: a[None, :].copy() for name, a in bars.items()}


def _check_against_talib(ind: Indicator, bars: Bars) -> None:
    ours = ind(_block(bars))[:, 0]
    theirs = ind.theirs(bars)
    assert len(theirs) == ours.shape[0]
    for k, expected in enumerate(theirs):
        _close_enough(ours[k], expected)


@pytest.mark.parametrize("series", SERIES)
@pytest.mark.parametrize("name", list(INDICATORS))
def test_matches_talib(name: str, series: str) -> None:
    _check_against_talib(INDICATORS[name], _series(series))


OTHER_PARAMETERS = [
    ("STOCH", (1, 1, 1)),
    ("STOCH", (14, 3, 5)),
    ("STOCHF", (9, 1)),
    ("STOCHRSI", (5, 3, 2)),
    ("STOCHRSI", (2, 1, 1)),
    ("ADX", (2,)),
    ("ADX", (30,)),
    ("CCI", (2,)),
    ("CCI", (20,)),
    ("WILLR", (2,)),
    ("WILLR", (50,)),
    ("MFI", (2,)),
    ("MFI", (30,)),
    ("MIN", (2,)),
    ("MAX", (7,)),
    ("MAX", (250,)),
    ("ZSCORE", (3,)),
]


@pytest.mark.parametrize(("name", "periods"), OTHER_PARAMETERS)
@pytest.mark.parametrize("series", ["random_walk", "gaps", "leading_nans"])
def test_other_parameters_match_talib(name: str, periods: tuple[int, ...], series: str) -> None:
    _check_against_talib(_indicator(name, *periods), _series(series))


def _near_flat(seed: int, n: int = 400) -> Bars:
    """Prices that move by a few units in the last place, at a random level, with now and
    then a real move: every ratio over such a window is a ratio of rounding, which TA-Lib's
    arithmetic (and its 1e-14 relative equality) decides to the last bit."""
    rng = np.random.default_rng(seed)
    level = 10.0 ** rng.uniform(-3.0, 5.0)
    ulp = np.spacing(level)
    c = level + rng.integers(-300, 300, n) * (rng.uniform(size=n) < 0.3) * ulp
    c[rng.uniform(size=n) < 0.03] *= 1.001
    return {
        "high": c + rng.integers(0, 3, n) * ulp,
        "low": c - rng.integers(0, 3, n) * ulp,
        "close": c,
        "volume": np.round(rng.uniform(0.0, 1e5, n)) * (rng.uniform(size=n) < 0.9),
    }


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("name", ["STOCH", "STOCHF", "STOCHRSI", "CCI", "WILLR", "MFI", "OBV"])
def test_bit_for_bit_where_rounding_is_amplified(name: str, seed: int) -> None:
    ind = INDICATORS[name]
    bars = _near_flat(seed)
    ours = ind(_block(bars))[:, 0]
    for k, expected in enumerate(ind.theirs(bars)):
        np.testing.assert_array_equal(ours[k], expected)


def _flows(seed: int, kind: str) -> Bars:
    rng = np.random.default_rng(seed)
    n = 800
    r = rng.normal(0.0, 0.01, n)
    if kind == "one_sided_and_flat":  # a window of only falling (rising) bars, flat ones
        r[200:240] = -np.abs(r[200:240]) - 0.001
        r[400:440] = np.abs(r[400:440]) + 0.001
        r[600:640] = 0.0
    c = 50.0 * np.exp(np.cumsum(r))
    b = _ohlcv(c, rng)
    b["volume"] = rng.uniform(0.0, 2e6, n)
    if kind == "one_sided_and_flat":
        for name in ("high", "low"):
            b[name][600:640] = b[name][599]
        b["volume"][750:770] = 0.0
    else:  # volumes far below the residue the running sums carry from the big ones
        b["volume"][200:300] = rng.uniform(0.0, 1e-3, 100)
        b["volume"][400:405] = 1e-4
        b["volume"][500:540] = 10.0 ** rng.integers(-14, -5)
    return b


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("kind", ["one_sided_and_flat", "tiny_volumes"])
def test_mfi_running_sums_follow_talib_bit_for_bit(kind: str, seed: int) -> None:
    # The sums carry rounding residue (a window of falling bars leaves ~1e-8 in the positive
    # sum); TA-Lib keeps it, clips the ratio to [0, 100] and clears both sums only when the
    # window has no flow at all. Every one of those shows in the last bits.
    bars = _flows(seed, kind)
    ind = INDICATORS["MFI"]
    np.testing.assert_array_equal(ind(_block(bars))[0, 0], ind.theirs(bars)[0])


@pytest.mark.parametrize("period", [2, 3, 7, 30])
@pytest.mark.parametrize("shape", ["rising", "falling", "sawtooth", "ties"])
def test_min_max_over_trends_and_ties(shape: str, period: int) -> None:
    # The extremes come from blocks of ``period`` bars: any series length, any trend.
    n = 5 * period + 3
    x = {
        "rising": np.arange(n, dtype=float),
        "falling": -np.arange(n, dtype=float),
        "sawtooth": (np.arange(n) % (period + 2)).astype(float),
        "ties": np.round(np.random.default_rng(period).uniform(0.0, 3.0, n)),
    }[shape]
    for is_max, theirs in ((True, talib.MAX), (False, talib.MIN)):
        out = np.empty((1, n))
        tm.minmax_run(x[None], _state("minmax", period), period, is_max, out)
        np.testing.assert_array_equal(out[0], theirs(x, period))


@pytest.mark.parametrize("period", [2, 3, 20, 45])
def test_zscore_of_a_flat_window_is_zero_after_any_history(period: int) -> None:
    # Running sums that saw much larger values leave a flat window a variance of rounding
    # residue; the z-score must still be exactly 0 there (x - mean is 0 to the last bit).
    rng = np.random.default_rng(period)
    for level in (0.3, 42.0, 123.456, 7e-3):
        hist = rng.uniform(0.0, 1e4, 3 * period + 7)
        x = np.concatenate([hist, np.full(period + 30, level), hist])[None]
        z = np.empty_like(x)
        tm.zscore_run(x, _state("zscore", period), period, z)
        flat = slice(hist.size + period - 1, hist.size + period + 30)
        assert (z[0, flat] == 0.0).all()
        assert (z[0, hist.size : flat.start] != 0.0).all()  # not before the window is flat
        _close_enough(z[0], _zscore_reference(x[0], period))


@pytest.mark.parametrize("period", [2, 5, 60])
def test_zscore_matches_the_numpy_reference(period: int) -> None:
    for series in ("random_walk", "gaps"):
        c = _series(series)["close"]
        z = np.empty((1, c.size))
        tm.zscore_run(c[None], _state("zscore", period), period, z)
        _close_enough(z[0], _zscore_reference(c, period))
    assert np.nanmax(np.abs(z)) <= np.sqrt(period - 1) + 1e-9  # a z-score's bound


@pytest.mark.parametrize("scale", [1e-6, 1e-12, 1e-18])
def test_directional_movement_does_not_depend_on_the_price_scale(scale: float) -> None:
    # The installed TA-Lib tests the TR sum and the DI sum against 0, not against an absolute
    # 1e-14: a coin priced in 1e-12 has the same DI and ADX as one priced in 1.
    bars = {f: a * scale for f, a in _series("random_walk").items()}
    _check_against_talib(INDICATORS["ADX"], bars)
    unscaled = INDICATORS["ADX"](_block(_series("random_walk")))
    _close_enough(INDICATORS["ADX"](_block(bars)), unscaled)


@pytest.mark.parametrize("flat_range", [2.0, 0.0])
def test_directional_movement_through_a_month_without_movement(flat_range: float) -> None:
    # 12,000 bars whose high and low never move (a stale feed; with a zero range even the TR
    # sum decays): the DM and TR sums go subnormal, the DIs become ratios of their last bits
    # and the DX stops once the DI sum is below 1e-14. Then the market wakes up again.
    rng = np.random.default_rng(27)
    move = _ohlcv(100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, 300))), rng)
    flat = {
        "high": np.full(12_000, 100.0 + flat_range / 2),
        "low": np.full(12_000, 100.0 - flat_range / 2),
        "close": np.full(12_000, 100.0),
    }
    bars = {f: np.concatenate([move[f][:150], flat[f], move[f][150:]]) for f in HLC}
    for period in (10, 14):
        ind = _indicator("ADX", period)
        ours = ind(_block(bars))[:, 0]
        plus_di, minus_di, adx = ind.theirs(bars)
        np.testing.assert_array_equal(ours[0], plus_di)
        np.testing.assert_array_equal(ours[1], minus_di)
        _close_enough(ours[2], adx)


def test_obv_starts_from_the_first_volume_whatever_the_first_close() -> None:
    # A spread or a return series starts at 0 or below: the first bar is the first volume,
    # not a move from an imaginary previous close of 0.
    x = np.array([0.0, -1.0, -0.5, -0.5, 0.2, -3.0, -3.0, -2.0])
    for shift in (0.0, -1.0):
        bars = {"close": x + shift, "volume": np.arange(1.0, 9.0)}
        ours = OBV(_block(bars))[0, 0]
        np.testing.assert_array_equal(ours, OBV.theirs(bars)[0])
        assert ours[0] == 1.0


def test_state_sizes() -> None:
    assert tm.state_size_more("adx") == tm.state_size_more("adx", 14) == 8
    assert tm.state_size_more("obv") == 3
    with pytest.raises(KeyError):
        tm.state_size_more("macd", 14)
    with pytest.raises(TypeError):
        tm.state_size_more("adx", 14, 3)


@pytest.mark.parametrize("name", list(INDICATORS))
def test_a_nan_bar_is_skipped(name: str) -> None:
    # Documented NaN policy: the bar's outputs are NaN and the indicator carries on as if the
    # bar were not there (TA-Lib would poison its running sums from there on).
    ind = INDICATORS[name]
    bars = _series("random_walk")
    holes = {"close": 1_250, "high": 1_280, "volume": 1_310}
    for field, t in holes.items():
        bars[field][t] = np.nan
    skipped = sorted(t for field, t in holes.items() if field in ind.inputs)
    assert skipped  # every indicator reads at least one of the holed inputs
    with_holes = ind(_block(bars))[:, 0]
    kept = np.setdiff1d(np.arange(bars["close"].size), skipped)
    without = ind(_block({f: a[kept] for f, a in bars.items()}))[:, 0]
    assert np.isnan(with_holes[:, skipped]).all()
    np.testing.assert_array_equal(with_holes[:, kept], without)
    assert np.isfinite(with_holes[:, -1]).all()


@pytest.mark.parametrize("name", list(INDICATORS))
def test_rows_are_independent_series(name: str) -> None:
    ind = INDICATORS[name]
    series = [_series(s) for s in ("random_walk", "leading_nans", "gaps")]
    t_len = min(s["close"].size for s in series)
    block = {f: np.stack([s[f][:t_len] for s in series]) for f in series[0]}
    together = ind(block)
    for j in range(len(series)):
        alone = ind({f: a[j : j + 1] for f, a in block.items()})
        np.testing.assert_array_equal(together[:, j], alone[:, 0])
    assert not np.array_equal(together[:, 0], together[:, 2], equal_nan=True)


chunkings = st.lists(st.integers(1, 60), min_size=1, max_size=30)


@settings(max_examples=25, deadline=None)
@given(cuts=chunkings, seed=st.integers(0, 2**31 - 1), lead=st.integers(0, 30))
@pytest.mark.parametrize("name", list(INDICATORS))
def test_stream_equals_batch_bit_for_bit(name: str, cuts: list[int], seed: int, lead: int) -> None:
    rng = np.random.default_rng(seed)
    t_len = 260
    c = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, (3, t_len)), axis=1))
    c[2, 100:130] = c[2, 99]  # a flat stretch (flat windows, no money flow)
    bars = _ohlcv(c, rng)
    bars["close"][1, :lead] = np.nan  # symbols may start later than others
    for field in ("high", "volume"):  # and miss a bar here and there
        bars[field][0, rng.integers(0, t_len, 3)] = np.nan
    ind = INDICATORS[name]
    batch = ind(bars)
    state = ind.state(3)
    pieces = []
    start = 0
    bounds = np.cumsum(cuts)
    for stop in [*bounds[bounds < t_len], t_len]:
        pieces.append(ind({f: a[:, start:stop] for f, a in bars.items()}, state))
        # The state survives a save and a load between bars (the engine restarting).
        buf = io.BytesIO()
        np.save(buf, state, allow_pickle=False)
        buf.seek(0)
        state = np.load(buf, allow_pickle=False)
        start = stop
    np.testing.assert_array_equal(np.concatenate(pieces, axis=-1), batch)
