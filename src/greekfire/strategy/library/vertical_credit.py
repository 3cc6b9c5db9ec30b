"""``vertical_credit``: put (bullish) or call (bearish) credit spreads with defined risk.

Entry, per underlying with no spread on and none of this strategy's orders open: the short
leg is the liquid contract nearest ``short_delta`` in the DTE window; the long leg is the same
expiry ``width`` dollars further out of the money (below for puts, above for calls). The order
is one two-leg DAY limit at the net mid credit, sent as a negative net price (the multi-leg
convention: negative = credit). Quantity from defined risk: the max loss of one spread is
``(width - credit) * 100``; at most ``max_risk_fraction`` of equity is put at risk, and at
most ``max_spreads`` spreads.

Exit, per spread held (a short leg with a long leg of the same right and expiry, further out
of the money): close both legs in one order when the debit to close is at most
``(1 - profit_target)`` of the credit (profit target), when the loss reaches ``stop_multiple``
times the credit (stop), or at DTE <= ``close_dte``. The profit target closes at the net mid;
the stop and the DTE exit pay the natural price (short ask - long bid) to get out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import pandas as pd
from pydantic import Field, model_validator

from greekfire.domain.config import Section
from greekfire.domain.enums import OptionRight
from greekfire.domain.instruments import OptionContract
from greekfire.domain.orders import Leg, OrderIntent, OrderType, PositionEffect, Side
from greekfire.domain.portfolio import Position
from greekfire.strategy.base import ChainRequest, Strategy, StrategyContext
from greekfire.strategy.chains import (
    contract_bid_ask,
    contract_mark,
    days_to_expiry,
    liquid,
    prepared,
    rank_by_delta,
    round_to_tick,
)

__all__ = ["Spread", "VerticalCreditParams", "VerticalCreditStrategy", "spreads_held"]

_STRIKE_EPS = 1e-6
_MAX_TRIES = 5  # short-leg candidates tried for a liquid wing, best delta first


class VerticalCreditParams(Section):
    """Parameters of :class:`VerticalCreditStrategy`."""

    right: Literal["put", "call"] = Field(
        "put", description="'put' spreads (bullish) or 'call' spreads (bearish)."
    )
    short_delta: float = Field(0.30, gt=0, lt=1, description="Target |delta| of the short leg.")
    width: float = Field(5.0, gt=0, description="Strike distance of the long leg, dollars.")
    dte_min: float = Field(21, ge=0, description="Shortest expiry to open (calendar days).")
    dte_max: float = Field(45, gt=0, description="Longest expiry to open (calendar days).")
    profit_target: float = Field(
        0.50, gt=0, le=1, description="Close once this fraction of the credit is captured."
    )
    stop_multiple: float = Field(
        2.0, gt=0, description="Close once the loss reaches this multiple of the credit."
    )
    close_dte: float = Field(7, ge=0, description="Close at DTE <= this.")
    max_risk_fraction: float = Field(
        0.05, gt=0, le=1, description="Most of equity one entry may risk (max loss)."
    )
    max_spreads: int = Field(10, ge=1, description="Most spreads per entry.")
    min_credit: float = Field(0.10, ge=0, description="Skip a spread paying less (per share).")
    max_spread_fraction: float = Field(0.15, gt=0, description="Skip a leg if (ask-bid)/mid above.")
    min_open_interest: float = Field(100, ge=0, description="Skip a leg if open interest below.")
    tick: float = Field(0.01, gt=0, description="Price increment of limit orders.")

    @model_validator(mode="after")
    def _consistent(self) -> VerticalCreditParams:
        if self.dte_min > self.dte_max:
            raise ValueError(f"dte_min: must be <= dte_max ({self.dte_max}), got {self.dte_min}")
        if self.close_dte >= self.dte_min:
            raise ValueError(
                f"close_dte: must be below dte_min ({self.dte_min}), got {self.close_dte}"
            )
        return self

    @property
    def option_right(self) -> OptionRight:
        """The right as an enum."""
        return OptionRight.parse(self.right)


class Spread:
    """A vertical credit spread held: the short leg, the long leg and the units."""

    __slots__ = ("long", "long_pos", "qty", "short", "short_pos")

    def __init__(
        self, short: OptionContract, short_pos: Position, long: OptionContract, long_pos: Position
    ) -> None:
        self.short, self.short_pos = short, short_pos
        self.long, self.long_pos = long, long_pos
        self.qty = min(-short_pos.qty, long_pos.qty)

    @property
    def credit(self) -> float:
        """Net credit received per share (short premium - long premium)."""
        return self.short_pos.avg_cost - self.long_pos.avg_cost

    @property
    def width(self) -> float:
        """Strike distance in dollars."""
        return abs(self.short.strike - self.long.strike)


def spreads_held(ctx: StrategyContext, underlying: str, right: OptionRight) -> list[Spread]:
    """Pair each short option of ``right`` with the nearest long one further out of the money,
    same expiry; unpaired legs are left out."""
    options = [(c, p) for c, p in ctx.option_positions(underlying) if c.right is right]
    longs = [(c, p) for c, p in options if p.qty > 0]
    used: set[str] = set()
    out = []
    otm = -1.0 if right is OptionRight.PUT else 1.0  # further OTM: lower puts, higher calls
    for short, short_pos in sorted(options, key=lambda cp: cp[0].strike):
        if short_pos.qty >= 0:
            continue
        pairs = [
            (c, p)
            for c, p in longs
            if c.symbol not in used
            and c.expiry == short.expiry
            and (c.strike - short.strike) * otm > _STRIKE_EPS
        ]
        if not pairs:
            continue
        long, long_pos = min(pairs, key=lambda cp: abs(cp[0].strike - short.strike))
        used.add(long.symbol)
        out.append(Spread(short, short_pos, long, long_pos))
    return out


class VerticalCreditStrategy(Strategy):
    """Credit spreads (see the module docstring)."""

    kind = "vertical_credit"
    Params = VerticalCreditParams
    needs_chains = True

    @property
    def p(self) -> VerticalCreditParams:
        """The validated parameters."""
        assert isinstance(self.params, VerticalCreditParams)
        return self.params

    def chain_request(self, underlying: str) -> ChainRequest:
        """The strategy's right, DTE 0 to ``dte_max`` (held legs are priced too)."""
        p = self.p
        return ChainRequest(0.0, p.dte_max, 0.5, 1.5, p.option_right)

    def on_cycle(self, ctx: StrategyContext) -> Sequence[OrderIntent]:
        """Close the spreads that hit a rule, then open one where none is on."""
        out: list[OrderIntent] = []
        right = self.p.option_right
        for underlying in self.symbols:
            busy = {leg.symbol for o in ctx.orders_on(underlying) for leg in o.intent.legs}
            held = spreads_held(ctx, underlying, right)
            for spread in held:
                if spread.short.symbol in busy or spread.long.symbol in busy:
                    continue
                intent = self._close(ctx, underlying, spread)
                if intent is not None:
                    out.append(intent)
            if held or ctx.orders_on(underlying, strategy=self.name):
                continue
            intent = self._open(ctx, underlying, busy)
            if intent is not None:
                out.append(intent)
        return out

    def _close(self, ctx: StrategyContext, underlying: str, s: Spread) -> OrderIntent | None:
        p = self.p
        dte = days_to_expiry(s.short.expiry, ctx.now_ns)
        if dte < 0 or s.qty <= 0:
            return None  # expired: the broker settles it
        short_mid = contract_mark(ctx, s.short.symbol, underlying)
        long_mid = contract_mark(ctx, s.long.symbol, underlying)
        debit = short_mid - long_mid
        credit = s.credit
        why = ""
        aggressive = True
        if dte <= p.close_dte:
            why = f"close at DTE {dte:.1f} <= {p.close_dte:g}"
        elif not math.isfinite(debit) or credit <= 0:
            return None
        elif debit - credit >= p.stop_multiple * credit:
            why = f"stop: loss {debit - credit:.2f} >= {p.stop_multiple:g} x credit {credit:.2f}"
        elif debit <= credit * (1 - p.profit_target):
            why = f"profit target: debit {debit:.2f} <= {1 - p.profit_target:.0%} of {credit:.2f}"
            aggressive = False
        else:
            return None
        price = self._close_price(ctx, underlying, s, debit, aggressive)
        legs = (
            Leg(s.short.symbol, Side.BUY, 1, PositionEffect.CLOSE),
            Leg(s.long.symbol, Side.SELL, 1, PositionEffect.CLOSE),
        )
        order_type = OrderType.MARKET if price is None else OrderType.LIMIT
        return OrderIntent(
            legs,
            s.qty,
            order_type,
            price,
            strategy=self.name,
            reason=f"vertical credit {why}",
            opening=False,
        )

    def _close_price(
        self, ctx: StrategyContext, underlying: str, s: Spread, debit: float, aggressive: bool
    ) -> float | None:
        if aggressive:
            short_ask = contract_bid_ask(ctx, s.short.symbol, underlying)[1]
            long_bid = contract_bid_ask(ctx, s.long.symbol, underlying)[0]
            debit = short_ask - long_bid
        if not math.isfinite(debit):
            return None  # no market known: a market order gets out
        return round_to_tick(max(debit, 0.0), self.p.tick, up=True)

    def _open(self, ctx: StrategyContext, underlying: str, busy: set[str]) -> OrderIntent | None:
        p = self.p
        chain = ctx.chains.get(underlying)
        equity = ctx.equity_usd
        if chain is None or chain.empty or not (math.isfinite(equity) and equity > 0):
            return None
        if busy:  # another strategy's open order on a contract: leave that contract alone
            chain = chain[~chain["contract"].isin(busy)]
        ranked = rank_by_delta(
            chain,
            now_ns=ctx.now_ns,
            right=p.option_right,
            target_abs_delta=p.short_delta,
            dte_min=p.dte_min,
            dte_max=p.dte_max,
            max_spread_fraction=p.max_spread_fraction,
            min_open_interest=p.min_open_interest,
        )
        full = prepared(chain, ctx.now_ns)
        for _, short in ranked.head(_MAX_TRIES).iterrows():
            long = self._long_leg(full, short)
            if long is not None:
                return self._entry(short, long, equity)
        return None

    def _entry(self, short: pd.Series, long: pd.Series, equity: float) -> OrderIntent | None:
        p = self.p
        credit = float(short["mid"]) - float(long["mid"])
        limit = round_to_tick(credit, p.tick)
        if limit < max(p.min_credit, p.tick) or limit >= p.width:
            return None
        max_loss = (p.width - limit) * 100.0
        qty = min(math.floor(p.max_risk_fraction * equity / max_loss), p.max_spreads)
        if qty < 1:
            return None
        legs = (
            Leg(str(short["contract"]), Side.SELL, 1, PositionEffect.OPEN),
            Leg(str(long["contract"]), Side.BUY, 1, PositionEffect.OPEN),
        )
        why = (
            f"vertical credit: sell {float(short['strike']):g}/{float(long['strike']):g}"
            f" {p.right} spread for {limit:.2f}, max loss {max_loss:.0f} per spread"
        )
        return OrderIntent(
            legs, qty, OrderType.LIMIT, -limit, strategy=self.name, reason=why, opening=True
        )

    def _long_leg(self, chain: pd.DataFrame, short: pd.Series) -> pd.Series | None:
        p = self.p
        sign = -1.0 if p.option_right is OptionRight.PUT else 1.0
        target = float(short["strike"]) + sign * p.width
        same = chain[
            (chain["right"] == int(p.option_right))
            & (chain["expiry"] == short["expiry"])
            & ((chain["strike"] - target).abs() < _STRIKE_EPS)
        ]
        same = liquid(
            same, max_spread_fraction=p.max_spread_fraction, min_open_interest=p.min_open_interest
        )
        if same.empty:
            return None
        row: pd.Series = same.iloc[0]
        return row
