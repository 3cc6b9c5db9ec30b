"""Positions, the cash ledger, the account and portfolio Greeks.

Money
    Cash moves by ``qty * price * multiplier`` plus or minus fees and is rounded to the cent at
    every movement, so a ledger is exact to the cent whatever the number of fills.
Positions
    ``qty`` is signed (short < 0), in shares or contracts. ``avg_cost`` is the average opening
    price per share (an option's premium per share). Reducing a position realises
    ``closed_qty * (price - avg_cost) * multiplier`` with the position's sign; fees are kept
    apart in ``fees_usd``. A fill through zero closes the old position and opens the rest at
    the fill price.
Greeks
    Option Greeks come per share in the units of :mod:`greekfire.analytics.options` (theta per
    year, vega per 1.00 of vol). :func:`portfolio_greeks` returns delta in shares and dollars,
    gamma in shares per dollar, vega in dollars per vol point (0.01) and theta in dollars per
    calendar day.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from greekfire.domain.instruments import Instrument, OptionContract, instrument_for
from greekfire.domain.orders import Fill

__all__ = [
    "Account",
    "Ledger",
    "OptionGreeks",
    "PortfolioGreeks",
    "Position",
    "cents",
    "portfolio_greeks",
]

_QTY_EPS = 1e-9


def cents(amount: float) -> float:
    """``amount`` rounded to the cent (half away from zero, robust to binary float error)."""
    scaled = amount * 100.0
    rounded = math.floor(abs(scaled) + 0.5 + 1e-7)
    return math.copysign(rounded, scaled) / 100.0 if rounded else 0.0


@dataclass(frozen=True, slots=True)
class Position:
    """A holding of one instrument.

    Attributes
    ----------
    symbol : str
    qty : float
        Signed units (shares or contracts); 0 once closed.
    avg_cost : float
        Average opening price per share (premium per share for an option); 0 when flat.
    realized_pnl_usd : float
        Gross P&L realised by closing fills, before fees.
    fees_usd : float
        Fees paid on this instrument's fills.
    """

    symbol: str
    qty: float = 0.0
    avg_cost: float = 0.0
    realized_pnl_usd: float = 0.0
    fees_usd: float = 0.0

    @property
    def instrument(self) -> Instrument:
        """The instrument the symbol names."""
        return instrument_for(self.symbol)

    @property
    def multiplier(self) -> int:
        """Shares per unit: 1 for stock, 100 for a standard option."""
        return self.instrument.multiplier

    @property
    def is_flat(self) -> bool:
        """True when nothing is held."""
        return abs(self.qty) < _QTY_EPS

    @property
    def cost_basis_usd(self) -> float:
        """``qty * avg_cost * multiplier`` (negative for a short)."""
        return self.qty * self.avg_cost * self.multiplier

    def market_value_usd(self, mark: float) -> float:
        """``qty * mark * multiplier``."""
        return self.qty * mark * self.multiplier

    def unrealized_pnl_usd(self, mark: float) -> float:
        """``qty * (mark - avg_cost) * multiplier``."""
        return self.qty * (mark - self.avg_cost) * self.multiplier

    def apply(
        self, signed_qty: float, price: float, fee_usd: float = 0.0
    ) -> tuple[Position, float]:
        """This position after a fill of ``signed_qty`` (buy > 0) at ``price``.

        Returns
        -------
        (Position, float)
            The new position and the P&L this fill realised (before fees).
        """
        old = self.qty
        new = old + signed_qty
        realized = 0.0
        if abs(old) < _QTY_EPS or (old > 0) == (signed_qty > 0):
            total = abs(old) + abs(signed_qty)
            avg = (abs(old) * self.avg_cost + abs(signed_qty) * price) / total
        else:
            closed = min(abs(signed_qty), abs(old))
            realized = closed * (price - self.avg_cost) * self.multiplier * (1 if old > 0 else -1)
            if abs(new) < _QTY_EPS:
                new, avg = 0.0, 0.0
            elif (new > 0) != (old > 0):
                avg = price  # flipped: what is left was opened by this fill
            else:
                avg = self.avg_cost
        position = replace(
            self,
            qty=new,
            avg_cost=avg,
            realized_pnl_usd=self.realized_pnl_usd + realized,
            fees_usd=cents(self.fees_usd + fee_usd),
        )
        return position, realized


@dataclass(frozen=True, slots=True)
class Account:
    """A broker account's balances, in dollars.

    Attributes
    ----------
    cash_usd : float
    equity_usd : float
        Cash plus the marked value of every position.
    buying_power_usd : float
        What new opening orders may still commit.
    long_market_value_usd, short_market_value_usd : float
        Marked value of long positions (>= 0) and of short positions (<= 0).
    last_equity_usd : float
        Equity at the previous session's close (the daily P&L reference).
    ts_ns : int
        When the balances were taken (UTC ns).
    """

    cash_usd: float
    equity_usd: float
    buying_power_usd: float
    long_market_value_usd: float = 0.0
    short_market_value_usd: float = 0.0
    last_equity_usd: float = math.nan
    ts_ns: int = 0

    @property
    def day_pnl_usd(self) -> float:
        """``equity_usd - last_equity_usd`` (NaN without a previous close)."""
        return self.equity_usd - self.last_equity_usd


class Ledger:
    """Cash and positions moved by fills, exact to the cent; the paper broker's and the
    backtester's book.

    Parameters
    ----------
    cash_usd : float
        Starting cash.
    """

    def __init__(self, cash_usd: float) -> None:
        if not math.isfinite(cash_usd):
            raise ValueError(f"cash_usd: expected a finite amount, got {cash_usd!r}")
        self.cash_usd = cents(cash_usd)
        self.fees_usd = 0.0
        self.realized_pnl_usd = 0.0
        self._positions: dict[str, Position] = {}

    @classmethod
    def restore(
        cls,
        cash_usd: float,
        fees_usd: float,
        realized_pnl_usd: float,
        positions: Iterable[Position],
    ) -> Ledger:
        """A ledger exactly as saved (a checkpoint): the figures and positions as given, not
        rebuilt from fills (a replay need not reproduce ``avg_cost`` to the last bit).

        Raises
        ------
        ValueError
            A non-finite figure, or two positions in one symbol.
        """
        for name, value in (
            ("cash_usd", cash_usd),
            ("fees_usd", fees_usd),
            ("realized_pnl_usd", realized_pnl_usd),
        ):
            if not math.isfinite(value):
                raise ValueError(f"{name}: expected a finite amount, got {value!r}")
        ledger = cls(cash_usd)
        ledger.cash_usd = float(cash_usd)
        ledger.fees_usd = float(fees_usd)
        ledger.realized_pnl_usd = float(realized_pnl_usd)
        for position in positions:
            if position.symbol in ledger._positions:
                raise ValueError(f"positions: {position.symbol!r} appears twice")
            if not position.is_flat:
                ledger._positions[position.symbol] = position
        return ledger

    @property
    def positions(self) -> dict[str, Position]:
        """Open positions by symbol (a copy; flat positions are dropped)."""
        return dict(self._positions)

    def position(self, symbol: str) -> Position:
        """The position in ``symbol`` (flat when none)."""
        return self._positions.get(symbol, Position(symbol))

    def apply_fill(self, fill: Fill) -> float:
        """Book ``fill``: move cash, update the position; returns the realised P&L (pre-fee)."""
        position = self.position(fill.symbol)
        notional = fill.qty * fill.price * position.multiplier
        self.cash_usd = cents(self.cash_usd - fill.side.sign * notional - fill.fee_usd)
        self.fees_usd = cents(self.fees_usd + fill.fee_usd)
        updated, realized = position.apply(fill.side.sign * fill.qty, fill.price, fill.fee_usd)
        self.realized_pnl_usd += realized
        if updated.is_flat:
            self._positions.pop(fill.symbol, None)
        else:
            self._positions[fill.symbol] = updated
        return realized

    def market_value_usd(self, marks: Mapping[str, float]) -> tuple[float, float]:
        """(long, short) marked value of the positions; a missing mark uses ``avg_cost``."""
        long_value = short_value = 0.0
        for symbol, pos in self._positions.items():
            value = pos.market_value_usd(marks.get(symbol, pos.avg_cost))
            if value >= 0:
                long_value += value
            else:
                short_value += value
        return long_value, short_value

    def equity_usd(self, marks: Mapping[str, float]) -> float:
        """Cash plus the marked value of every position."""
        long_value, short_value = self.market_value_usd(marks)
        return self.cash_usd + long_value + short_value


@dataclass(frozen=True, slots=True)
class OptionGreeks:
    """Per-share Greeks of one option (greekfire units: theta per year, vega per 1.00 vol)."""

    delta: float
    gamma: float
    theta: float
    vega: float


@dataclass(frozen=True, slots=True)
class PortfolioGreeks:
    """Net Greeks of a set of positions.

    Attributes
    ----------
    delta_shares : float
        Share-equivalent delta (stock counts one per share).
    delta_usd : float
        ``delta_shares`` times each underlying's price.
    gamma_shares_per_usd : float
        Change of ``delta_shares`` per $1 move of every underlying.
    vega_per_point_usd : float
        Dollars gained per +1 vol point (0.01).
    theta_per_day_usd : float
        Dollars gained per calendar day.
    missing : tuple of str
        Option symbols held without Greeks (left out of the sums).
    """

    delta_shares: float = 0.0
    delta_usd: float = 0.0
    gamma_shares_per_usd: float = 0.0
    vega_per_point_usd: float = 0.0
    theta_per_day_usd: float = 0.0
    missing: tuple[str, ...] = ()


def portfolio_greeks(
    positions: Iterable[Position],
    greeks: Mapping[str, OptionGreeks],
    spots: Mapping[str, float],
) -> PortfolioGreeks:
    """Net Greeks of ``positions``.

    Parameters
    ----------
    positions : iterable of Position
    greeks : mapping of option symbol to OptionGreeks
        Per-share Greeks of the options held.
    spots : mapping of underlying symbol to price
        For ``delta_usd``; an underlying without a price contributes 0 dollars of delta.
    """
    delta = delta_usd = gamma = vega = theta = 0.0
    missing: list[str] = []
    for pos in positions:
        instrument = pos.instrument
        spot = spots.get(instrument.underlying, math.nan)
        if isinstance(instrument, OptionContract):
            g = greeks.get(pos.symbol)
            if g is None or not math.isfinite(g.delta):
                missing.append(pos.symbol)
                continue
            shares = pos.qty * instrument.multiplier
            d = shares * g.delta
            gamma += shares * g.gamma
            vega += shares * g.vega / 100.0
            theta += shares * g.theta / 365.0
        else:
            d = pos.qty
        delta += d
        if math.isfinite(spot):
            delta_usd += d * spot
    return PortfolioGreeks(delta, delta_usd, gamma, vega, theta, tuple(missing))
