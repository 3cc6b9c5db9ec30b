"""Strategies for the operator-control tests (loaded by module path, like engine_strategies)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from greekfire.domain.enums import OptionRight
from greekfire.domain.orders import OrderIntent, Side
from greekfire.strategy.base import ChainRequest, Strategy, StrategyContext


class InAndOut(Strategy):
    """Flat: buys 10 shares of each symbol (an entry). Holding: sells them all (an exit)."""

    kind = "in_and_out"

    def on_cycle(self, ctx: StrategyContext) -> Sequence[OrderIntent]:
        intents = []
        for s in self.symbols:
            if ctx.orders_on(s):
                continue
            held = ctx.position_qty(s)
            if held == 0:
                intents.append(self.single(s, Side.BUY, 10, reason="entry", opening=True))
            else:
                intents.append(self.single(s, Side.SELL, held, reason="exit", opening=False))
        return intents


class OneOption(Strategy):
    """Opens one contract near the money per underlying when it holds no option on it: buys a
    call (``right`` call) or sells a put (``right`` put)."""

    kind = "one_option"
    needs_chains = True
    right = OptionRight.CALL

    def chain_request(self, underlying: str) -> ChainRequest | None:
        return ChainRequest(dte_min=3, dte_max=40, moneyness_min=0.9, moneyness_max=1.1)

    def on_cycle(self, ctx: StrategyContext) -> Sequence[OrderIntent]:
        intents = []
        for s in self.symbols:
            chain = ctx.chains.get(s)
            if chain is None or chain.empty or ctx.option_positions(s) or ctx.orders_on(s):
                continue
            rows = chain[(chain["right"] == int(self.right)) & chain["delta"].notna()]
            rows = rows[rows["mid"] > 0.05]
            if rows.empty:
                continue
            spot = float(rows["underlying_price"].iloc[0])
            best = rows.iloc[(rows["strike"] - spot).abs().argsort().iloc[0]]
            if not math.isfinite(float(best["mid"])):
                continue
            side = Side.BUY if self.right is OptionRight.CALL else Side.SELL
            intents.append(
                self.single(str(best["contract"]), side, 1, reason="option entry", opening=True)
            )
        return intents


class SellOnePut(OneOption):
    """:class:`OneOption` selling a put."""

    kind = "sell_one_put"
    right = OptionRight.PUT
