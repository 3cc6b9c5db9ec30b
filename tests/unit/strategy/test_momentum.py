"""momentum: the composite score's votes, entry, no entry, exit, open orders, sizing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from greekfire.analytics.indicators import technical_indicators
from greekfire.domain.orders import Side
from greekfire.errors import ConfigError
from greekfire.strategy.library.momentum import MomentumParams, MomentumStrategy, composite_score

ROLES = {
    "sma_fast": "sma_20",
    "sma_slow": "sma_50",
    "rsi": "rsi_14",
    "macd_histogram": "macd_histogram",
    "bb_percent_b": "bb_percent_b",
}


def _values(trend: int, macd: float, rsi: float, pct_b: float) -> dict[str, float]:
    return {
        "sma_20": 100.0 + trend,
        "sma_50": 100.0,
        "rsi_14": rsi,
        "macd": 1.0,
        "macd_signal": 1.0 - macd,
        "macd_histogram": macd,
        "bb_percent_b": pct_b,
    }


BULL = _values(+1, 0.5, 55.0, 0.7)  # trend +1, macd +1, rsi 0, bb 0 -> 0.5
BEAR = _values(-1, -0.5, 55.0, 0.7)  # -0.5
MIXED = _values(+1, -0.5, 55.0, 0.7)  # 0.0


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (BULL, 0.5),
        (BEAR, -0.5),
        (MIXED, 0.0),
        (_values(+1, 0.5, 25.0, -0.1), 1.0),  # oversold and below the lower band: both +1
        (_values(+1, 0.5, 80.0, 1.2), 0.0),  # overbought and above the upper band: both -1
        (_values(0, 0.0, 50.0, 0.5), 0.0),
    ],
)
def test_composite_score_votes(values: dict[str, float], expected: float) -> None:
    assert composite_score(values, ROLES, MomentumParams()) == pytest.approx(expected)


def test_weights_change_the_score() -> None:
    p = MomentumParams(w_trend=3.0, w_macd=1.0, w_rsi=0.0, w_bb=0.0)
    assert composite_score(MIXED, ROLES, p) == pytest.approx(0.5)  # (3 - 1) / 4


def test_missing_or_nan_indicator_gives_nan() -> None:
    values = dict(BULL, rsi_14=math.nan)
    assert math.isnan(composite_score(values, ROLES, MomentumParams()))
    del values["rsi_14"]
    assert math.isnan(composite_score(values, ROLES, MomentumParams()))


def test_columns_follow_the_indicator_naming() -> None:
    s = MomentumStrategy("m", ["SPY"], {"fast": 10, "slow": 30, "bb_k": 1.5})
    assert s.columns == {
        "sma_fast": "sma_10",
        "sma_slow": "sma_30",
        "rsi": "rsi_14",
        "macd_histogram": "macd_histogram",
        "bb_percent_b": "bb_percent_b_20_1.5",
    }
    assert s.warmup_bars >= 43


def test_entry_when_flat_and_score_above_threshold(b) -> None:
    s = MomentumStrategy("mom", ["SPY", "QQQ"])
    c = b.ctx(indicators={"SPY": BULL, "QQQ": MIXED}, account=b.account(50_000.0))
    c.bars["SPY"] = b.bars([150.0, 160.0])
    intents = s.on_cycle(c.build())
    assert len(intents) == 1
    (buy,) = intents
    assert (buy.symbol, buy.side, buy.opening, buy.strategy) == ("SPY", Side.BUY, True, "mom")
    assert buy.qty == 31  # floor(50_000 * 0.10 / 160)
    assert "0.50 >= 0.5" in buy.reason


def test_no_entry_below_threshold_or_without_price(b) -> None:
    s = MomentumStrategy("mom", ["SPY"])
    assert s.on_cycle(b.ctx(indicators={"SPY": MIXED}).build()) == []
    # a bullish score but no price to size with: nothing
    assert s.on_cycle(b.ctx(indicators={"SPY": BULL}).build()) == []


def test_max_shares_caps_the_entry(b) -> None:
    s = MomentumStrategy("mom", ["SPY"], {"max_shares": 5})
    c = b.ctx(indicators={"SPY": BULL})
    c.bars["SPY"] = b.bars([10.0])
    (buy,) = s.on_cycle(c.build())
    assert buy.qty == 5


def test_exit_when_long_and_score_turns(b) -> None:
    s = MomentumStrategy("mom", ["SPY"])
    c = b.ctx(indicators={"SPY": BEAR}).hold("SPY", 40, 100.0)
    (sell,) = s.on_cycle(c.build())
    assert (sell.side, sell.qty, sell.opening) == (Side.SELL, 40, False)
    # mixed (0.0) is above the exit threshold (-0.25): hold
    held = b.ctx(indicators={"SPY": MIXED}).hold("SPY", 40, 100.0)
    assert s.on_cycle(held.build()) == []


def test_long_and_bullish_does_not_add(b) -> None:
    s = MomentumStrategy("mom", ["SPY"])
    c = b.ctx(indicators={"SPY": BULL}).hold("SPY", 40, 100.0)
    c.bars["SPY"] = b.bars([100.0])
    assert s.on_cycle(c.build()) == []


def test_open_order_blocks_both_entry_and_exit(b) -> None:
    s = MomentumStrategy("mom", ["SPY"])
    entry = b.ctx(indicators={"SPY": BULL}).order("SPY", Side.BUY, 10, strategy="mom")
    entry.bars["SPY"] = b.bars([100.0])
    assert s.on_cycle(entry.build()) == []
    exit_ = b.ctx(indicators={"SPY": BEAR}).hold("SPY", 10, 1.0).order("SPY", Side.SELL, 10)
    assert s.on_cycle(exit_.build()) == []


def test_params_are_checked() -> None:
    with pytest.raises(ConfigError, match="exit_threshold"):
        MomentumStrategy("m", ["SPY"], {"entry_threshold": 0.2, "exit_threshold": 0.3})


def test_without_engine_indicators_the_score_comes_from_the_bars(b) -> None:
    rng = np.random.default_rng(7)
    closes = 100.0 * np.exp(np.cumsum(rng.normal(0.002, 0.01, 120)))
    bars = b.bars(closes)
    s = MomentumStrategy("mom", ["SPY"])
    frame = technical_indicators(bars["close"], list(s.indicators))
    latest = {c: float(frame[c].iloc[-1]) for c in frame.columns}
    from_bars = s.score(b.ctx(bars={"SPY": bars}).build(), "SPY")
    from_engine = s.score(b.ctx(indicators={"SPY": latest}).build(), "SPY")
    assert math.isfinite(from_bars)
    assert from_bars == from_engine
    assert math.isnan(s.score(b.ctx(bars={"SPY": bars.iloc[:1]}).build(), "SPY"))
