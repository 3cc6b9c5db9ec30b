"""``wheel``: cash-secured puts, then covered calls after assignment, and back.

The state of each underlying is read from the positions, never remembered:

- fewer than 100 shares, no short put: sell a cash-secured put (``put_delta``, DTE window);
- a short put: buy it back at ``profit_target`` of the credit captured, or when DTE <=
  ``roll_dte`` (the next cycle, with no put left, sells a new one: the roll);
- 100 shares or more (assigned) and fewer short calls than round lots: sell covered calls at
  a strike >= the stock's average cost (the cost basis), at ``call_delta``;
- a short call: the same profit target and roll rules; when the shares are called away the
  first rule applies again.

Contracts whose ``spread / mid`` exceeds ``max_spread_fraction`` or whose open interest is
below ``min_open_interest`` are skipped. Orders are DAY limits at the mid rounded to ``tick``.
No order is sent on a contract that already has an open order, and no new contract is sold on
an underlying while one of this strategy's orders on it is open. The wheel assumes it is the
only options strategy on its underlyings (positions carry no strategy label).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
from pydantic import Field, model_validator

from greekfire.domain.config import Section
from greekfire.domain.enums import OptionRight
from greekfire.domain.instruments import OptionContract
from greekfire.domain.orders import OrderIntent, Side
from greekfire.domain.portfolio import Position
from greekfire.strategy.base import ChainRequest, Strategy, StrategyContext
from greekfire.strategy.chains import contract_mark, days_to_expiry, pick_by_delta, round_to_tick

__all__ = ["WheelParams", "WheelStrategy"]


class WheelParams(Section):
    """Parameters of :class:`WheelStrategy`."""

    dte_min: float = Field(21, ge=0, description="Shortest expiry to sell (calendar days).")
    dte_max: float = Field(45, gt=0, description="Longest expiry to sell (calendar days).")
    put_delta: float = Field(0.30, gt=0, lt=1, description="Target |delta| of the put sold.")
    call_delta: float = Field(0.30, gt=0, lt=1, description="Target delta of the call sold.")
    max_spread_fraction: float = Field(0.10, gt=0, description="Skip if (ask-bid)/mid above.")
    min_open_interest: float = Field(100, ge=0, description="Skip if open interest below.")
    profit_target: float = Field(
        0.50, gt=0, le=1, description="Buy back once this fraction of the credit is captured."
    )
    roll_dte: float = Field(7, ge=0, description="Buy back (then roll) at DTE <= this.")
    max_delta_error: float = Field(
        0.15,
        gt=0,
        le=1,
        description="Sell nothing when the best liquid contract's |delta| is further than this"
        " from the target (e.g. only deep in-the-money puts pass the liquidity filters).",
    )
    contracts: int = Field(1, ge=1, description="Most puts sold per underlying.")
    tick: float = Field(0.01, gt=0, description="Price increment of limit orders.")
    moneyness_min: float = Field(0.70, gt=0, description="Chain request: lowest strike/spot.")
    moneyness_max: float = Field(1.30, gt=0, description="Chain request: highest strike/spot.")

    @model_validator(mode="after")
    def _consistent(self) -> WheelParams:
        if self.dte_min > self.dte_max:
            raise ValueError(f"dte_min: must be <= dte_max ({self.dte_max}), got {self.dte_min}")
        if self.roll_dte >= self.dte_min:
            raise ValueError(
                f"roll_dte: must be below dte_min ({self.dte_min}), got {self.roll_dte}"
            )
        if self.moneyness_min >= self.moneyness_max:
            raise ValueError(
                f"moneyness_min: must be below moneyness_max ({self.moneyness_max}),"
                f" got {self.moneyness_min}"
            )
        return self


class WheelStrategy(Strategy):
    """The options wheel (see the module docstring)."""

    kind = "wheel"
    Params = WheelParams
    needs_chains = True

    @property
    def p(self) -> WheelParams:
        """The validated parameters."""
        assert isinstance(self.params, WheelParams)
        return self.params

    def chain_request(self, underlying: str) -> ChainRequest:
        """Both rights, DTE 0 to ``dte_max`` (so held contracts are priced too)."""
        p = self.p
        return ChainRequest(0.0, p.dte_max, p.moneyness_min, p.moneyness_max, None)

    def on_cycle(self, ctx: StrategyContext) -> Sequence[OrderIntent]:
        """Manage the short options, then sell what the wheel's phase calls for."""
        out: list[OrderIntent] = []
        for underlying in self.symbols:
            out.extend(self._underlying(ctx, underlying))
        return out

    def _underlying(self, ctx: StrategyContext, underlying: str) -> list[OrderIntent]:
        out: list[OrderIntent] = []
        busy = {leg.symbol for order in ctx.orders_on(underlying) for leg in order.intent.legs}
        short_puts = short_calls = 0.0
        for contract, pos in ctx.option_positions(underlying):
            if pos.qty >= 0:
                continue
            if contract.right is OptionRight.PUT:
                short_puts += -pos.qty
            else:
                short_calls += -pos.qty
            if contract.symbol not in busy:
                intent = self._manage(ctx, contract, pos)
                if intent is not None:
                    out.append(intent)
        if ctx.orders_on(underlying, strategy=self.name) or out:
            return out  # wait for our orders (and this cycle's closes) to resolve first
        stock = ctx.positions.get(underlying)
        shares = 0.0 if stock is None else stock.qty
        lots = math.floor(shares / 100 + 1e-9)
        if lots >= 1 and stock is not None:
            to_sell = lots - short_calls
            if to_sell >= 1:
                intent = self._sell_call(ctx, underlying, stock, int(to_sell), busy)
                if intent is not None:
                    out.append(intent)
        elif short_puts == 0 and short_calls == 0:
            intent = self._sell_put(ctx, underlying, busy)
            if intent is not None:
                out.append(intent)
        return out

    def _manage(
        self, ctx: StrategyContext, contract: OptionContract, pos: Position
    ) -> OrderIntent | None:
        p = self.p
        dte = days_to_expiry(contract.expiry, ctx.now_ns)
        if dte < 0:
            return None  # expired: the broker settles it
        mark = contract_mark(ctx, contract.symbol, contract.underlying)
        limit = round_to_tick(mark, p.tick, up=True) if math.isfinite(mark) else None
        if limit is not None and limit <= 0:
            limit = p.tick
        kind = "put" if contract.right is OptionRight.PUT else "call"
        qty = -pos.qty
        if dte <= p.roll_dte:
            why = f"wheel roll: short {kind} DTE {dte:.1f} <= {p.roll_dte:g}, buy to close"
            return self.single(
                contract.symbol, Side.BUY, qty, reason=why, opening=False, limit_price=limit
            )
        if limit is None or pos.avg_cost <= 0:
            return None
        captured = 1.0 - mark / pos.avg_cost
        if captured >= p.profit_target:
            why = (
                f"wheel profit target: {captured:.0%} of the {pos.avg_cost:.2f} credit captured"
                f" >= {p.profit_target:.0%}"
            )
            return self.single(
                contract.symbol, Side.BUY, qty, reason=why, opening=False, limit_price=limit
            )
        return None

    def _sell(self, row: pd.Series, qty: int, why: str) -> OrderIntent | None:
        mid = (float(row["bid"]) + float(row["ask"])) / 2.0
        limit = round_to_tick(mid, self.p.tick)
        if not limit > 0:
            return None
        symbol = str(row["contract"])
        return self.single(symbol, Side.SELL, qty, reason=why, opening=True, limit_price=limit)

    def _pick(
        self,
        ctx: StrategyContext,
        underlying: str,
        right: OptionRight,
        strike_min: float | None,
        busy: set[str],
    ) -> pd.Series | None:
        chain = ctx.chains.get(underlying)
        if chain is None or chain.empty:
            return None
        if busy:  # another strategy's open order on a contract: leave that contract alone
            chain = chain[~chain["contract"].isin(busy)]
        p = self.p
        target = p.put_delta if right is OptionRight.PUT else p.call_delta
        row = pick_by_delta(
            chain,
            now_ns=ctx.now_ns,
            right=right,
            target_abs_delta=target,
            dte_min=p.dte_min,
            dte_max=p.dte_max,
            max_spread_fraction=p.max_spread_fraction,
            min_open_interest=p.min_open_interest,
            strike_min=strike_min,
        )
        if row is None or abs(abs(float(row["delta"])) - target) > p.max_delta_error:
            return None
        return row

    def _sell_put(
        self, ctx: StrategyContext, underlying: str, busy: set[str]
    ) -> OrderIntent | None:
        row = self._pick(ctx, underlying, OptionRight.PUT, None, busy)
        if row is None:
            return None
        strike = float(row["strike"])
        qty = self.p.contracts
        if ctx.account is not None:  # cash-secured: no more puts than cash covers
            qty = min(qty, math.floor(ctx.account.cash_usd / (strike * 100)))
        if qty < 1:
            return None
        why = f"wheel: sell cash-secured put {strike:g} (delta {float(row['delta']):.2f})"
        return self._sell(row, qty, why)

    def _sell_call(
        self, ctx: StrategyContext, underlying: str, stock: Position, qty: int, busy: set[str]
    ) -> OrderIntent | None:
        basis = stock.avg_cost
        row = self._pick(ctx, underlying, OptionRight.CALL, basis, busy)
        if row is None:
            return None
        strike = float(row["strike"])
        why = (
            f"wheel: sell covered call {strike:g} >= cost basis {basis:.2f}"
            f" (delta {float(row['delta']):.2f})"
        )
        return self._sell(row, qty, why)
