"""A strategy for the sizing test (loaded by module path, as a user's would be): it asks for far
more shares than the risk gate allows."""

from __future__ import annotations

from collections.abc import Sequence

from greekfire.domain.orders import OrderIntent, Side
from greekfire.strategy.base import Strategy, StrategyContext

ASKED_QTY = 1_000_000.0
"""Shares :class:`BuyHuge` asks for: about $500M of stock, far beyond the account."""


class BuyHuge(Strategy):
    """Buys :data:`ASKED_QTY` shares of each of its symbols it does not hold and has no order
    for."""

    kind = "buy_huge"

    def on_cycle(self, ctx: StrategyContext) -> Sequence[OrderIntent]:
        return [
            self.single(s, Side.BUY, ASKED_QTY, reason="oversized entry", opening=True)
            for s in self.symbols
            if ctx.position_qty(s) == 0 and not ctx.orders_on(s)
        ]
