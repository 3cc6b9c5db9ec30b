"""Strategies for the event backtester's tests (loaded by module path, as a user's would be)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from greekfire.broker.config import FeeConfig, PaperBrokerConfig
from greekfire.broker.fees import FeeModel, SlippageModel
from greekfire.domain.config import Section
from greekfire.domain.orders import OrderIntent, Side
from greekfire.strategy.base import Strategy, StrategyContext


class SmaParams(Section):
    fast: int = Field(10, ge=1)
    slow: int = Field(50, ge=2)
    whole_shares: bool = False
    commission_per_share_usd: float = Field(0.0, ge=0)
    slippage_bps: float = Field(0.0, ge=0)


class SmaCross(Strategy):
    """Long-only SMA crossover: all cash in when fast crosses above slow, all out below.

    The current SMAs come from the engine's indicators, the previous bar's from ``ctx.bars``
    (the strategy keeps no state). Every entry asks for all the account's cash (one symbol
    per account). With ``whole_shares`` it buys whole shares: the largest q <= floor(cash /
    price) whose cost q x price plus the buy fee fits in the cash, the price and the fee
    priced by the paper broker's own slippage and fee models at ``slippage_bps`` and
    ``commission_per_share_usd`` (buys pay no regulatory fees).
    """

    kind = "sma_cross"
    Params = SmaParams

    @property
    def p(self) -> SmaParams:
        assert isinstance(self.params, SmaParams)
        return self.params

    @property
    def indicators(self) -> tuple[str, ...]:
        return (f"sma_{self.p.fast}", f"sma_{self.p.slow}")

    @property
    def warmup_bars(self) -> int:
        return self.p.slow + 1

    def _cross(self, ctx: StrategyContext, symbol: str) -> int:
        values = ctx.indicators.get(symbol, {})
        fast = values.get(f"sma_{self.p.fast}", math.nan)
        slow = values.get(f"sma_{self.p.slow}", math.nan)
        bars = ctx.bars.get(symbol)
        if bars is None or len(bars) < self.p.slow + 1 or not (fast == fast and slow == slow):
            return 0
        close = bars["close"].to_numpy(np.float64)
        prev_fast = float(np.mean(close[-self.p.fast - 1 : -1]))
        prev_slow = float(np.mean(close[-self.p.slow - 1 : -1]))
        if fast > slow and prev_fast <= prev_slow:
            return 1
        if fast < slow and prev_fast >= prev_slow:
            return -1
        return 0

    def on_cycle(self, ctx: StrategyContext) -> Sequence[OrderIntent]:
        out: list[OrderIntent] = []
        for symbol in self.symbols:
            held = ctx.position_qty(symbol)
            cross = self._cross(ctx, symbol)
            if cross < 0 and held > 0:
                out.append(
                    self.single(symbol, Side.SELL, held, reason="cross below", opening=False)
                )
            elif cross > 0 and held == 0 and ctx.account is not None:
                price = ctx.last_price(symbol)
                quote = ctx.quotes.get(symbol)
                if self.p.whole_shares and quote is not None:
                    slip = SlippageModel(PaperBrokerConfig(slippage_bps=self.p.slippage_bps))
                    price = slip.fill_price(symbol, Side.BUY, quote)
                qty = self._qty(ctx.account.cash_usd, symbol, price)
                if math.isfinite(qty) and qty > 0:
                    out.append(
                        self.single(symbol, Side.BUY, qty, reason="cross above", opening=True)
                    )
        return out

    def _qty(self, cash: float, symbol: str, price: float) -> float:
        if not self.p.whole_shares:
            return cash / price
        if not (math.isfinite(price) and price > 0):
            return math.nan
        fees = FeeModel(FeeConfig(equity_commission_per_share_usd=self.p.commission_per_share_usd))
        qty = float(math.floor(cash / price))
        while qty >= 1 and qty * price + fees.fee_usd(symbol, Side.BUY, qty, price) > cash:
            qty -= 1
        return qty


class RecordParams(Section):
    buy_every: int = Field(0, ge=0)


class Recorder(Strategy):
    """Records everything it sees in :attr:`seen` (class-level: reset it before a run); with
    ``buy_every`` > 0, buys one share every that many cycles and sells it the cycle after."""

    kind = "recorder"
    Params = RecordParams
    seen: ClassVar[list[dict[str, Any]]] = []

    @property
    def indicators(self) -> tuple[str, ...]:
        return ("sma_5", "rsi_14", "bollinger_bands_20_2")

    def on_cycle(self, ctx: StrategyContext) -> Sequence[OrderIntent]:
        record: dict[str, Any] = {"now_ns": ctx.now_ns, "bars": {}, "indicators": {}, "quotes": {}}
        for symbol, frame in ctx.bars.items():
            record["bars"][symbol] = frame.copy()
        for symbol, values in ctx.indicators.items():
            record["indicators"][symbol] = dict(values)
        for symbol, quote in ctx.quotes.items():
            record["quotes"][symbol] = (quote.bid, quote.ask, quote.last, quote.ts_ns)
        type(self).seen.append(record)
        every = self.params.buy_every  # type: ignore[attr-defined]
        out: list[OrderIntent] = []
        if every:
            n = len(type(self).seen)
            for symbol in self.symbols:
                held = ctx.position_qty(symbol)
                if held > 0:
                    out.append(self.single(symbol, Side.SELL, held, reason="out", opening=False))
                elif n % every == 0:
                    out.append(self.single(symbol, Side.BUY, 1, reason="in", opening=True))
        return out
