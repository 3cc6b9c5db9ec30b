"""Sample user strategies for the loader and guard tests (imported as ``user_strategies``)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from greekfire.domain.config import Section
from greekfire.domain.orders import OrderIntent, Side
from greekfire.strategy.base import Strategy, StrategyContext


class BuyOneParams(Section):
    qty: int = Field(1, ge=1)


class BuyOne(Strategy):
    """Buys ``qty`` shares of each symbol it does not hold."""

    kind = "buy_one"
    Params = BuyOneParams

    def on_cycle(self, ctx: StrategyContext) -> Sequence[OrderIntent]:
        assert isinstance(self.params, BuyOneParams)
        return [
            self.single(s, Side.BUY, self.params.qty, reason="user buy", opening=True)
            for s in self.symbols
            if ctx.position_qty(s) == 0
        ]


class Raises(Strategy):
    """Raises in on_cycle."""

    kind = "raises"

    def on_cycle(self, ctx: StrategyContext) -> Sequence[OrderIntent]:
        raise ZeroDivisionError("boom in user code")


class RaisesInInit(Strategy):
    """Raises in its constructor."""

    kind = "raises_in_init"

    def __init__(self, name: str, symbols: Sequence[str], params: object = None) -> None:
        raise RuntimeError("cannot start")

    def on_cycle(self, ctx: StrategyContext) -> Sequence[OrderIntent]:
        return []


class NotAStrategy:
    """A class that does not subclass Strategy."""


class Abstract(Strategy):
    """Forgot on_cycle."""
