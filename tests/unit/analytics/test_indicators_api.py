"""technical_indicators() and IndicatorStream: names, input shapes, TA-Lib values, streaming."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from greekfire.analytics.indicators import (
    INDICATOR_NAMES,
    IndicatorStream,
    parse_indicator,
    session_keys,
    technical_indicators,
)

talib = pytest.importorskip("talib")


def _ohlc(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    spread = np.abs(rng.normal(0.0, 0.005, n)) * close
    index = pd.date_range("2024-01-02", periods=n, freq="B", name="date")
    return pd.DataFrame(
        {"Open": close, "High": close + spread, "Low": close - spread, "Close": close}, index=index
    )


def test_series_keeps_its_index_and_matches_talib() -> None:
    bars = _ohlc()
    close = bars["Close"]
    out = technical_indicators(close, ["sma_20", "ema_12", "rsi_14", "macd", "bollinger_bands"])
    assert out.index.equals(close.index)
    assert list(out.columns) == [
        "sma_20",
        "ema_12",
        "rsi_14",
        "macd",
        "macd_signal",
        "macd_histogram",
        "bb_upper",
        "bb_middle",
        "bb_lower",
        "bb_percent_b",
        "bb_width",
    ]
    c = close.to_numpy()
    np.testing.assert_allclose(out["sma_20"], talib.SMA(c, 20), rtol=1e-12)
    np.testing.assert_allclose(out["ema_12"], talib.EMA(c, 12), rtol=1e-12)
    np.testing.assert_allclose(out["rsi_14"], talib.RSI(c, 14), rtol=1e-12)
    for col, expected in zip(["macd", "macd_signal", "macd_histogram"], talib.MACD(c), strict=True):
        np.testing.assert_allclose(out[col], expected, rtol=1e-9, atol=1e-12)
    upper, middle, lower = talib.BBANDS(c, 20, 2.0, 2.0)
    np.testing.assert_allclose(out["bb_middle"], middle, rtol=1e-12)
    np.testing.assert_allclose(out["bb_upper"], upper, rtol=1e-12)
    np.testing.assert_allclose(out["bb_lower"], lower, rtol=1e-12)


def test_ohlc_frame_any_column_case_gives_atr() -> None:
    bars = _ohlc()
    out = technical_indicators(bars, ["atr_14", "natr_14"])
    h, lo, c = (bars[k].to_numpy() for k in ("High", "Low", "Close"))
    np.testing.assert_allclose(out["atr_14"], talib.ATR(h, lo, c, 14), rtol=1e-12)
    np.testing.assert_allclose(out["natr_14"], talib.NATR(h, lo, c, 14), rtol=1e-12)


def test_many_symbols_wide_frame_dict_and_array_agree() -> None:
    a, b = _ohlc(seed=1), _ohlc(seed=2)
    wide = pd.DataFrame({"AAA": a["Close"], "BBB": b["Close"]})
    names = ["sma_10", "rsi_14"]
    from_wide = technical_indicators(wide, names)
    from_dict = technical_indicators({"AAA": a, "BBB": b}, names)
    from_array = technical_indicators(wide.to_numpy().T, names)
    assert from_wide.columns.names == ["symbol", "indicator"]
    pd.testing.assert_frame_equal(from_wide, from_dict)
    for j, sym in enumerate(["AAA", "BBB"]):
        alone = technical_indicators(wide[sym], names)
        pd.testing.assert_frame_equal(from_wide[sym], alone, check_names=False)
        np.testing.assert_array_equal(from_array[j].to_numpy(), alone.to_numpy())


def test_unknown_name_lists_the_valid_ones_and_the_closest() -> None:
    with pytest.raises(ValueError, match=r"'rsl_14'.*did you mean 'rsi'.*Valid names: .*sma"):
        technical_indicators(_ohlc()["Close"], ["rsl_14"])


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("sma_0", "whole numbers >= 1"),
        ("sma_2.5", "whole numbers >= 1"),
        ("rsi_1", "period >= 2"),
        ("macd_26_12_9", "fast period must be below"),
        ("bollinger_bands_20_0", "band width"),
        ("sma_20_3", "too many parameters"),
        ("ema_x", "must be numbers"),
    ],
)
def test_bad_parameters(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_indicator(name)


def test_high_low_indicator_on_closes_only_names_what_is_missing() -> None:
    with pytest.raises(ValueError, match=r"'atr_14' needs high, low, close.*no high, low"):
        technical_indicators(_ohlc()["Close"], ["atr_14"])


def test_non_default_parameters_suffix_the_columns() -> None:
    out = technical_indicators(_ohlc()["Close"], ["macd_5_35_5", "bbands_10_1.5"])
    assert "macd_5_35_5" in out.columns
    assert "bb_upper_10_1.5" in out.columns
    assert set(INDICATOR_NAMES) >= {"sma", "rsi", "macd", "bollinger_bands", "atr"}


def test_stream_from_history_then_updates_equals_batch_bit_for_bit(tmp_path) -> None:
    a, b, c = _ohlc(seed=3), _ohlc(seed=4), _ohlc(seed=5)
    names = ["sma_20", "ema_12", "rsi_14", "macd", "bollinger_bands", "atr_14"]
    frames = {"A": a, "B": b, "C": c}
    batch = technical_indicators(frames, names)
    block = {
        k: np.vstack([f[col].to_numpy() for f in frames.values()])
        for k, col in (("close", "Close"), ("high", "High"), ("low", "Low"))
    }
    cut = 150
    stream = IndicatorStream.from_history(
        names, block["close"][:, :cut], high=block["high"][:, :cut], low=block["low"][:, :cut]
    )
    for t in range(cut, block["close"].shape[1]):
        if t == cut + 100:  # restart from disk in the middle
            stream.save(tmp_path / "state.npz")
            stream = IndicatorStream.load(tmp_path / "state.npz")
        got = stream.update(block["close"][:, t], high=block["high"][:, t], low=block["low"][:, t])
        for col, values in got.items():
            expected = batch.xs(col, axis=1, level="indicator").iloc[t].to_numpy()
            np.testing.assert_array_equal(values, expected)
    assert stream.bars == block["close"].shape[1]


def test_stream_rejects_a_bar_of_the_wrong_width_and_a_corrupt_state() -> None:
    stream = IndicatorStream(["sma_5"], 3)
    with pytest.raises(ValueError, match=r"close: expected shape \(3,\)"):
        stream.update(np.ones(2))
    blob = IndicatorStream(["sma_5"], 3).to_bytes()
    assert IndicatorStream.from_bytes(blob).n_symbols == 3
    buf = io.BytesIO()  # a state saved for sma_6 under the name sma_5: the shapes disagree
    np.savez(buf, names=np.array(["sma_5"]), bars=np.array(0), state_0=np.zeros((3, 9)))
    with pytest.raises(ValueError, match=r"state_0 \(sma_5\): expected float64 \(3, 8\)"):
        IndicatorStream.from_bytes(buf.getvalue())


def test_vwap_sessions_come_from_the_dates_and_rv_is_annualised() -> None:
    rng = np.random.default_rng(11)
    index = pd.date_range("2024-03-04 09:30", periods=390, freq="min", tz="America/New_York")
    index = index.append(index + pd.Timedelta(days=1))
    n = index.size
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    bars = pd.DataFrame(
        {
            "open": close,
            "high": close * 1.001,
            "low": close * 0.999,
            "close": close,
            "volume": rng.integers(1, 1000, n).astype(float),
        },
        index=index,
    )
    out = technical_indicators(
        bars, ["vwap", "rv_cc_20", "rv_parkinson_20"], periods_per_year=98_280
    )
    tp = (bars["high"] + bars["low"] + bars["close"]) / 3.0
    day = index.date
    expected = (tp * bars["volume"]).groupby(day).cumsum() / bars["volume"].groupby(day).cumsum()
    np.testing.assert_allclose(out["vwap"], expected, rtol=1e-12)
    ref = np.log(bars["close"]).diff().rolling(20).std() * np.sqrt(98_280)
    np.testing.assert_allclose(out["rv_cc_20"], ref, rtol=1e-9)
    park = np.sqrt(98_280 / (4 * np.log(2)) * (np.log(1.001 / 0.999) ** 2))
    np.testing.assert_allclose(out["rv_parkinson_20"].iloc[19:], park, rtol=1e-12)
    with pytest.raises(ValueError, match="'vwap' needs high, low, close, volume"):
        technical_indicators(bars[["high", "low", "close"]], ["vwap"])
    with pytest.raises(ValueError, match="periods_per_year"):
        technical_indicators(bars, ["rv_cc_20"], periods_per_year=0)


def _ohlcv(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    spread = np.abs(rng.normal(0.0, 0.005, n)) * close
    index = pd.date_range("2024-01-02 09:30", periods=n, freq="h")
    return pd.DataFrame(
        {
            "open": close * np.exp(rng.normal(0.0, 0.002, n)),
            "high": close + spread,
            "low": close - spread,
            "close": close,
            "volume": rng.integers(1, 1_000, n).astype(float),
        },
        index=index,
    )


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("stoch", lambda h, lo, c, v: list(talib.STOCH(h, lo, c))),
        ("stochf", lambda h, lo, c, v: list(talib.STOCHF(h, lo, c))),
        ("stochrsi", lambda h, lo, c, v: list(talib.STOCHRSI(c))),
        (
            "adx_14",
            lambda h, lo, c, v: [
                talib.PLUS_DI(h, lo, c, 14),
                talib.MINUS_DI(h, lo, c, 14),
                talib.ADX(h, lo, c, 14),
            ],
        ),
        ("cci_14", lambda h, lo, c, v: [talib.CCI(h, lo, c, 14)]),
        ("willr_14", lambda h, lo, c, v: [talib.WILLR(h, lo, c, 14)]),
        ("obv", lambda h, lo, c, v: [talib.OBV(c, v)]),
        ("mfi_14", lambda h, lo, c, v: [talib.MFI(h, lo, c, v, 14)]),
        ("min_20", lambda h, lo, c, v: [talib.MIN(c, 20)]),
        ("max_20", lambda h, lo, c, v: [talib.MAX(c, 20)]),
    ],
)
def test_oscillators_through_the_api_match_talib(name: str, reference) -> None:
    bars = _ohlcv(600, 21)
    out = technical_indicators(bars, [name])
    h, lo, c, v = (bars[k].to_numpy() for k in ("high", "low", "close", "volume"))
    expected = reference(h, lo, c, v)
    assert out.shape[1] == len(expected)
    for col, ref in zip(out.columns, expected, strict=True):
        np.testing.assert_array_equal(np.isnan(out[col]), np.isnan(ref))
        np.testing.assert_allclose(out[col], ref, rtol=1e-9, atol=1e-9)


def test_every_indicator_streams_exactly_like_the_batch() -> None:
    frames = {s: _ohlcv(300, 30 + j) for j, s in enumerate("ABC")}
    names = list(INDICATOR_NAMES)
    batch = technical_indicators(frames, names)
    cols = ("open", "high", "low", "close", "volume")
    block = {k: np.vstack([f[k].to_numpy() for f in frames.values()]) for k in cols}
    keys = session_keys(next(iter(frames.values())).index)
    block["session"] = np.vstack([keys] * 3)
    cut = 120
    stream = IndicatorStream.from_history(
        names, block["close"][:, :cut], **{k: v[:, :cut] for k, v in block.items() if k != "close"}
    )
    for t in range(cut, 300):
        got = stream.update(
            block["close"][:, t], **{k: v[:, t] for k, v in block.items() if k != "close"}
        )
        for col, values in got.items():
            expected = batch.xs(col, axis=1, level="indicator").iloc[t].to_numpy()
            np.testing.assert_array_equal(values, expected, err_msg=col)


def _compat_ref():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernels"))
    import _compat_ref

    return _compat_ref


def test_compat_metastock_and_tradingview_seed_as_those_platforms() -> None:
    ref = _compat_ref()
    bars = _ohlc(300, seed=3)
    h, lo, c = (bars[k].to_numpy() for k in ("High", "Low", "Close"))
    names = ["ema_10", "rsi_14", "macd", "atr_14", "sma_20"]
    talib_like = technical_indicators(bars, names)
    ms = technical_indicators(bars, names, compat="metastock")
    tv = technical_indicators(bars, names, compat="tradingview")
    np.testing.assert_allclose(ms["ema_10"], ref.ema_metastock(c, 10), rtol=1e-12)
    np.testing.assert_allclose(ms["rsi_14"], ref.rsi_metastock(c, 14), rtol=1e-12)
    for col, want in zip(("macd", "macd_signal"), ref.macd_metastock(c), strict=False):
        np.testing.assert_allclose(ms[col], want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tv["atr_14"], ref.atr_tradingview(h, lo, c, 14), rtol=1e-12)
    np.testing.assert_allclose(tv["macd"], ref.macd_tradingview(c)[0], rtol=1e-12, atol=1e-12)
    # Unaffected indicators are identical; the affected ones are not TA-Lib's.
    for frame in (ms, tv):
        np.testing.assert_array_equal(frame["sma_20"], talib_like["sma_20"])
    assert not np.allclose(ms["ema_10"], talib_like["ema_10"], equal_nan=True)
    assert tv["atr_14"].first_valid_index() < talib_like["atr_14"].first_valid_index()


def test_unknown_compat_names_the_value_and_the_choices() -> None:
    with pytest.raises(ValueError, match=r"compat: expected one of 'talib', .*got 'pine'"):
        technical_indicators(_ohlc(50)["Close"], ["ema_10"], compat="pine")
    with pytest.raises(ValueError, match="compat"):
        IndicatorStream(["ema_10"], 2, compat="")


def test_stream_keeps_its_compat_through_a_restart() -> None:
    bars = _ohlc(200, seed=4)
    names = ["ema_10", "rsi_14", "macd", "atr_14", "stochrsi"]
    batch = technical_indicators(bars, names, compat="metastock")
    cols = {k: bars[k].to_numpy()[None, :] for k in ("High", "Low", "Close")}
    stream = IndicatorStream.from_history(
        names,
        cols["Close"][:, :120],
        high=cols["High"][:, :120],
        low=cols["Low"][:, :120],
        compat="metastock",
    )
    stream = IndicatorStream.from_bytes(stream.to_bytes())
    assert stream.compat == "metastock"
    for t in range(120, 200):
        got = stream.update(cols["Close"][:, t], high=cols["High"][:, t], low=cols["Low"][:, t])
        for col, values in got.items():
            assert np.array_equal(values, batch[col].to_numpy()[t : t + 1], equal_nan=True), col
