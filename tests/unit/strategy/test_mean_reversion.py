"""mean_reversion: z-score entries and exits, the optional short side, flat windows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from greekfire.domain.orders import Side
from greekfire.errors import ConfigError
from greekfire.strategy.library.mean_reversion import MeanReversionStrategy, zscore

BASE = [100.0, 102.0] * 10  # mean 101, population std 1 over any 20-bar window


def test_zscore_uses_the_window_before_the_current_bar() -> None:
    closes = np.array([*BASE, 98.0])
    assert zscore(closes, 20) == pytest.approx(-3.0)
    assert math.isnan(zscore(closes[:20], 20))  # window not full
    assert math.isnan(zscore(np.full(21, 50.0), 20))  # flat window


def test_enters_long_below_minus_entry_z(b) -> None:
    s = MeanReversionStrategy("mr", ["SPY"])
    c = b.ctx(bars={"SPY": b.bars([*BASE, 98.0])}, account=b.account(10_000.0))
    (buy,) = s.on_cycle(c.build())
    assert (buy.side, buy.opening, buy.strategy) == (Side.BUY, True, "mr")
    assert buy.qty == 10  # floor(10_000 * 0.10 / 98)
    assert "z -3.00" in buy.reason


def test_no_entry_inside_the_band_and_no_short_by_default(b) -> None:
    s = MeanReversionStrategy("mr", ["SPY"])
    assert s.on_cycle(b.ctx(bars={"SPY": b.bars([*BASE, 100.0])}).build()) == []  # z = -1
    assert s.on_cycle(b.ctx(bars={"SPY": b.bars([*BASE, 104.0])}).build()) == []  # z = +3


def test_short_side_when_enabled(b) -> None:
    s = MeanReversionStrategy("mr", ["SPY"], {"allow_short": True})
    (sell,) = s.on_cycle(b.ctx(bars={"SPY": b.bars([*BASE, 104.0])}).build())
    assert (sell.side, sell.opening) == (Side.SELL, True)
    cover = b.ctx(bars={"SPY": b.bars([*BASE, 101.2])}).hold("SPY", -7, 104.0)
    (buy,) = s.on_cycle(cover.build())  # z = 0.2 < exit_z 0.5
    assert (buy.side, buy.qty, buy.opening) == (Side.BUY, 7, False)


def test_exit_long_once_back_above_minus_exit_z(b) -> None:
    s = MeanReversionStrategy("mr", ["SPY"])
    back = b.ctx(bars={"SPY": b.bars([*BASE, 100.8])}).hold("SPY", 12, 98.0)  # z = -0.2
    (sell,) = s.on_cycle(back.build())
    assert (sell.side, sell.qty, sell.opening) == (Side.SELL, 12, False)
    still_low = b.ctx(bars={"SPY": b.bars([*BASE, 99.0])}).hold("SPY", 12, 98.0)  # z = -2
    assert s.on_cycle(still_low.build()) == []


def test_open_order_or_missing_bars_means_no_decision(b) -> None:
    s = MeanReversionStrategy("mr", ["SPY", "QQQ"])
    c = b.ctx(bars={"SPY": b.bars([*BASE, 98.0])}).order("SPY", Side.BUY, 5)
    assert s.on_cycle(c.build()) == []


def test_params_checked() -> None:
    with pytest.raises(ConfigError, match="exit_z: must be below entry_z") as info:
        MeanReversionStrategy("mr", ["SPY"], {"entry_z": 1.0, "exit_z": 1.5})
    assert info.value.field == "params"
    assert MeanReversionStrategy("mr", ["SPY"], {"lookback": 30}).warmup_bars == 31
