"""``mean_reversion``: trade the z-score of the close against its recent mean, on equities.

``z = (close - mean) / std`` over the ``lookback`` bars *before* the current one (population
std, as :func:`greekfire.kernels.signals.zscore_run`). Flat, no open order and
``z < -entry_z``: buy. Long and ``z > -exit_z``: sell (the price came back towards the mean).
With ``allow_short``: flat and ``z > entry_z``: sell short; short and ``z < exit_z``: buy to
cover. A flat window (std below 1e-7 of the mean) gives no signal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import Field, model_validator

from greekfire.domain.config import Section
from greekfire.domain.orders import OrderIntent, Side
from greekfire.strategy.base import Strategy, StrategyContext

__all__ = ["MeanReversionParams", "MeanReversionStrategy", "zscore"]


class MeanReversionParams(Section):
    """Parameters of :class:`MeanReversionStrategy`."""

    lookback: int = Field(20, ge=2, description="Bars in the mean/std window.")
    entry_z: float = Field(2.0, gt=0, description="Enter beyond this many std from the mean.")
    exit_z: float = Field(0.5, ge=0, description="Exit once back within this many std.")
    allow_short: bool = Field(False, description="Also sell short above +entry_z.")
    allocation_fraction: float = Field(
        0.10, gt=0, le=1, description="Most of equity one entry may use."
    )
    max_shares: float = Field(1e9, gt=0, description="Most shares one entry may trade.")

    @model_validator(mode="after")
    def _consistent(self) -> MeanReversionParams:
        if self.exit_z >= self.entry_z:
            raise ValueError(f"exit_z: must be below entry_z ({self.entry_z}), got {self.exit_z}")
        return self


def zscore(closes: np.ndarray, lookback: int) -> float:
    """z-score of the last close against the ``lookback`` closes before it (NaN if unknown)."""
    if len(closes) < lookback + 1:
        return math.nan
    window = closes[-lookback - 1 : -1]
    mean = float(window.mean())
    std = float(window.std())
    last = float(closes[-1])
    if not (math.isfinite(mean) and math.isfinite(std) and math.isfinite(last)):
        return math.nan
    if std <= 1e-7 * abs(mean) or std == 0:
        return math.nan
    return (last - mean) / std


class MeanReversionStrategy(Strategy):
    """z-score mean reversion (see the module docstring)."""

    kind = "mean_reversion"
    Params = MeanReversionParams
    needs_chains = False

    @property
    def p(self) -> MeanReversionParams:
        """The validated parameters."""
        assert isinstance(self.params, MeanReversionParams)
        return self.params

    @property
    def warmup_bars(self) -> int:
        """The window plus the current bar."""
        return self.p.lookback + 1

    def _entry_qty(self, ctx: StrategyContext, symbol: str) -> float:
        price = ctx.last_price(symbol)
        equity = ctx.equity_usd
        if not (math.isfinite(price) and math.isfinite(equity) and equity > 0):
            return 0.0
        return float(
            min(math.floor(equity * self.p.allocation_fraction / price), self.p.max_shares)
        )

    def _decide(self, ctx: StrategyContext, symbol: str, z: float) -> OrderIntent | None:
        p = self.p
        qty = ctx.position_qty(symbol)
        if qty > 0 and z > -p.exit_z:
            why = f"mean reversion exit: z {z:.2f} > {-p.exit_z}"
            return self.single(symbol, Side.SELL, qty, reason=why, opening=False)
        if qty < 0 and z < p.exit_z:
            why = f"mean reversion cover: z {z:.2f} < {p.exit_z}"
            return self.single(symbol, Side.BUY, -qty, reason=why, opening=False)
        if qty != 0:
            return None
        side = None
        if z < -p.entry_z:
            side, why = Side.BUY, f"mean reversion entry: z {z:.2f} < {-p.entry_z}"
        elif p.allow_short and z > p.entry_z:
            side, why = Side.SELL, f"mean reversion short: z {z:.2f} > {p.entry_z}"
        if side is None:
            return None
        shares = self._entry_qty(ctx, symbol)
        return self.single(symbol, side, shares, reason=why, opening=True) if shares >= 1 else None

    def on_cycle(self, ctx: StrategyContext) -> Sequence[OrderIntent]:
        """Entries and exits per symbol; nothing for a symbol with an open order."""
        out: list[OrderIntent] = []
        for symbol in self.symbols:
            bars = ctx.bars.get(symbol)
            if bars is None or "close" not in bars or ctx.orders_on(symbol):
                continue
            z = zscore(bars["close"].to_numpy(dtype=np.float64), self.p.lookback)
            if not math.isfinite(z):
                continue
            intent = self._decide(ctx, symbol, z)
            if intent is not None:
                out.append(intent)
        return out
