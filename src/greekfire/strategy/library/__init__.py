"""Built-in strategies, one per module."""

from __future__ import annotations

from greekfire.strategy.library.mean_reversion import MeanReversionStrategy
from greekfire.strategy.library.momentum import MomentumStrategy
from greekfire.strategy.library.vertical_credit import VerticalCreditStrategy
from greekfire.strategy.library.wheel import WheelStrategy

__all__ = [
    "MeanReversionStrategy",
    "MomentumStrategy",
    "VerticalCreditStrategy",
    "WheelStrategy",
]
