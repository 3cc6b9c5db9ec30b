"""User strategies for the engine tests (loaded by module path, as a user's would be)."""

from __future__ import annotations

from collections.abc import Sequence

from greekfire.domain.orders import OrderIntent, Side
from greekfire.strategy.base import Strategy, StrategyContext


class BuyOnce(Strategy):
    """Buys 10 shares of each of its symbols it does not hold and has no order for."""

    kind = "buy_once"

    def on_cycle(self, ctx: StrategyContext) -> Sequence[OrderIntent]:
        return [
            self.single(s, Side.BUY, 10, reason="test entry", opening=True)
            for s in self.symbols
            if ctx.position_qty(s) == 0 and not ctx.orders_on(s)
        ]


class Explodes(Strategy):
    """Raises on its second call."""

    kind = "explodes"
    calls = 0

    def on_cycle(self, ctx: StrategyContext) -> Sequence[OrderIntent]:
        type(self).calls += 1
        if type(self).calls >= 2:
            raise ZeroDivisionError("user code divided by zero")
        return []
