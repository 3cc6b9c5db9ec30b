"""What the risk gate sees: a frozen portfolio snapshot, its exposures and what-ifs.

Exposure (gross, per underlying, in dollars)
    - stock: ``|qty * price|`` (long or short);
    - a long option not part of a spread: its premium ``qty * mark * 100``;
    - a short call covered by long stock (100 shares a contract): nothing added;
    - a vertical (a short option paired with a long one of the same right, expiring no
      earlier): its max loss from the marks, ``(long mark - short mark) + width beyond the
      short strike``, times 100 per pair;
    - a short put not in a spread: its assignment notional ``strike * 100 * qty``;
    - a naked short call: the underlying's notional ``spot * 100 * qty``.
    A position without a finite mark is valued at its average cost; a stock without a spot or
    a mark at its average cost.
Max loss of an order (dollars per order unit)
    The expiry payoff of the order's legs, per underlying, is piecewise linear in the
    underlying price S with kinks at the strikes; the max loss is the largest ``cost -
    payoff(S)`` over ``S = 0`` and every strike (``cost``: the net price paid, from the limit
    price or else the marks). A long option loses its premium, a cash-secured put ``strike -
    credit``, a vertical its max loss; short calls beyond what long calls cover are covered by
    free long stock when the portfolio holds enough (then they add no loss) and are unbounded
    otherwise. An all-stock order is counted at its notional, whatever the side.
What-if
    :meth:`PortfolioView.after` books an intent as if it filled at the given prices (the marks
    by default): positions, cash and equity move, an opening intent's buying-power requirement
    (its max loss) is taken from the account's buying power, and the Greeks follow through
    :func:`~greekfire.domain.portfolio.portfolio_greeks`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from types import MappingProxyType

from greekfire.domain.enums import OptionRight
from greekfire.domain.instruments import Equity, Instrument, OptionContract, instrument_for
from greekfire.domain.orders import Order, OrderIntent, OrderType
from greekfire.domain.portfolio import (
    Account,
    OptionGreeks,
    PortfolioGreeks,
    Position,
    portfolio_greeks,
)

__all__ = [
    "PortfolioView",
    "StrategyStats",
    "buying_power_per_unit",
    "exposure_by_underlying",
    "instrument",
    "intent_max_loss_per_unit",
]

_EPS = 1e-9


@lru_cache(maxsize=1 << 16)
def instrument(symbol: str) -> Instrument:
    """:func:`~greekfire.domain.instruments.instrument_for`, memoised (instruments are frozen
    values; parsing an OCC symbol costs ~20 us and the gate asks for each position often)."""
    return instrument_for(symbol)


@dataclass(frozen=True, slots=True)
class StrategyStats:
    """Closed-trade statistics of one strategy, for Kelly sizing.

    Attributes
    ----------
    trades : int
        Closed trades counted.
    win_rate : float
        Share of winning trades, in [0, 1].
    payoff_ratio : float
        Mean win over mean loss (both positive), > 0.
    """

    trades: int
    win_rate: float
    payoff_ratio: float


def _frozen_map(value: Mapping[str, object] | None) -> Mapping[str, object]:
    return MappingProxyType(dict(value or {}))


@dataclass(frozen=True, slots=True)
class PortfolioView:
    """A read-only snapshot of the account, positions and market the gate decides on.

    Attributes
    ----------
    account : Account
    positions : mapping of symbol to Position
        Open positions (flat ones are ignored).
    marks : mapping of symbol to float
        Price per share: stock last or mid, option mid.
    spots : mapping of underlying to float
        Underlying prices (a stock's own mark is used when absent).
    greeks : mapping of option symbol to OptionGreeks
        Per-share Greeks of the options held or traded.
    vol_annual : mapping of underlying to float
        Realised annualised volatility (volatility sizing).
    open_orders : tuple of Order
        Orders still working at the broker.
    equity_peak_usd : float
        Highest equity seen (the drawdown reference); NaN: the current equity.
    day_start_equity_usd : float
        Equity at the start of the day; NaN: ``account.last_equity_usd``.
    ts_ns : int
        When the snapshot was taken (UTC ns).
    strategy_stats : mapping of strategy name to StrategyStats
        Closed-trade statistics for Kelly sizing.

    Notes
    -----
    Mappings are copied into read-only proxies (flat positions dropped); a mapping that is
    already a ``MappingProxyType`` is taken as it is, so what-if views share them. Exposure
    and Greeks are computed once per view and handed to its what-ifs incrementally.
    """

    account: Account
    positions: Mapping[str, Position] = field(default_factory=dict)
    marks: Mapping[str, float] = field(default_factory=dict)
    spots: Mapping[str, float] = field(default_factory=dict)
    greeks: Mapping[str, OptionGreeks] = field(default_factory=dict)
    vol_annual: Mapping[str, float] = field(default_factory=dict)
    open_orders: tuple[Order, ...] = ()
    equity_peak_usd: float = math.nan
    day_start_equity_usd: float = math.nan
    ts_ns: int = 0
    strategy_stats: Mapping[str, StrategyStats] = field(default_factory=dict)
    _memo: dict[str, object] = field(init=False, default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.positions, MappingProxyType):  # what-ifs pass theirs, flat-free
            positions = {s: p for s, p in dict(self.positions).items() if not p.is_flat}
            object.__setattr__(self, "positions", MappingProxyType(positions))
        for name in ("marks", "spots", "greeks", "vol_annual", "strategy_stats"):
            value = getattr(self, name)
            if not isinstance(value, MappingProxyType):  # what-ifs share the read-only maps
                object.__setattr__(self, name, _frozen_map(value))
        object.__setattr__(self, "open_orders", tuple(self.open_orders))

    # -- prices ------------------------------------------------------------------------------

    def mark(self, symbol: str) -> float | None:
        """The finite, non-negative mark of ``symbol`` (a stock falls back to its spot)."""
        value = self.marks.get(symbol)
        if value is None and not _is_option(symbol):
            value = self.spots.get(symbol)
        return value if value is not None and math.isfinite(value) and value >= 0 else None

    def spot(self, underlying: str) -> float | None:
        """The finite, positive price of ``underlying`` (its spot, else its mark)."""
        value = self.spots.get(underlying)
        if value is None or not (math.isfinite(value) and value > 0):
            value = self.marks.get(underlying)
        return value if value is not None and math.isfinite(value) and value > 0 else None

    # -- account figures ---------------------------------------------------------------------

    @property
    def equity_usd(self) -> float:
        """The account's equity."""
        return float(self.account.equity_usd)

    @property
    def day_start_usd(self) -> float:
        """Equity at the start of the day (``account.last_equity_usd`` when not given)."""
        if math.isfinite(self.day_start_equity_usd):
            return float(self.day_start_equity_usd)
        return float(self.account.last_equity_usd)

    @property
    def day_pnl_usd(self) -> float:
        """Equity now minus equity at the start of the day (NaN without a start)."""
        return self.equity_usd - self.day_start_usd

    @property
    def peak_usd(self) -> float:
        """The drawdown reference: the larger of ``equity_peak_usd`` and the equity now."""
        peak = self.equity_peak_usd
        return max(peak, self.equity_usd) if math.isfinite(peak) else self.equity_usd

    @property
    def drawdown_fraction(self) -> float:
        """``(peak - equity) / peak``, 0 at a new high (NaN for a non-positive peak)."""
        peak = self.peak_usd
        if not (math.isfinite(peak) and peak > 0):
            return math.nan
        return max(0.0, (peak - self.equity_usd) / peak)

    # -- portfolio figures (memoised per view; a what-if view inherits them incrementally) ----

    @property
    def portfolio_greeks(self) -> PortfolioGreeks:
        """Net Greeks of the positions (options without Greeks listed in ``missing``)."""
        cached = self._memo.get("greeks")
        if not isinstance(cached, PortfolioGreeks):
            cached = portfolio_greeks(self.positions.values(), self.greeks, self.spots_or_marks())
            self._memo["greeks"] = cached
        return cached

    def spots_or_marks(self, underlyings: Iterable[str] | None = None) -> dict[str, float]:
        """Prices (spot, else the underlying's own mark) of ``underlyings`` (default: every
        underlying held) that have one."""
        if underlyings is None:
            underlyings = {instrument(symbol).underlying for symbol in self.positions}
        out: dict[str, float] = {}
        for underlying in underlyings:
            price = self.spot(underlying)
            if price is not None:
                out[underlying] = price
        return out

    def _groups(self) -> dict[str, frozenset[str]]:
        # Held symbols per underlying.
        cached = self._memo.get("groups")
        if not isinstance(cached, dict):
            groups: dict[str, set[str]] = {}
            for symbol in self.positions:
                groups.setdefault(instrument(symbol).underlying, set()).add(symbol)
            cached = {u: frozenset(members) for u, members in groups.items()}
            self._memo["groups"] = cached
        return cached

    def exposure_by_underlying(self) -> dict[str, float]:
        """Gross exposure in dollars per underlying (see the module docstring)."""
        cached = self._memo.get("exposure")
        if not isinstance(cached, dict):
            cached = {
                u: _group_exposure([self.positions[s] for s in members], u, self)
                for u, members in self._groups().items()
            }
            self._memo["exposure"] = cached
        return dict(cached)

    def held_symbols(self) -> frozenset[str]:
        """Symbols with an open position."""
        return frozenset(self.positions)

    # -- what-if -----------------------------------------------------------------------------

    def with_fill(
        self, symbol: str, signed_qty: float, price: float, fee_usd: float = 0.0
    ) -> PortfolioView:
        """This view after one fill of ``signed_qty`` units (buy > 0) of ``symbol`` at
        ``price`` per share: the position, cash and equity move (equity by the gap between
        the mark and the price, less the fee)."""
        view = self._filled(symbol, signed_qty, price, fee_usd)
        self._inherit(view, {symbol: signed_qty})
        return view

    def _filled(
        self, symbol: str, signed_qty: float, price: float, fee_usd: float = 0.0
    ) -> PortfolioView:
        position = self.positions.get(symbol, Position(symbol))
        updated, _ = position.apply(signed_qty, price, fee_usd)
        positions = dict(self.positions)
        if updated.is_flat:
            positions.pop(symbol, None)
        else:
            positions[symbol] = updated
        multiplier = instrument(symbol).multiplier
        mark = self.mark(symbol)
        edge = 0.0 if mark is None else (mark - price) * signed_qty * multiplier
        account = replace(
            self.account,
            cash_usd=self.account.cash_usd - signed_qty * price * multiplier - fee_usd,
            equity_usd=self.account.equity_usd + edge - fee_usd,
        )
        return replace(self, account=account, positions=MappingProxyType(positions))

    def after(
        self, intent: OrderIntent, qty: float, prices: Mapping[str, float] | None = None
    ) -> PortfolioView:
        """This view as if ``qty`` units of ``intent`` filled at ``prices`` (per leg symbol;
        the marks for any leg not given).

        An opening intent also takes its buying-power requirement
        (:func:`buying_power_per_unit` times ``qty``) from the account's buying power. The
        Greeks of the result are this view's plus those of the traded legs, both through
        :func:`~greekfire.domain.portfolio.portfolio_greeks`.

        Raises
        ------
        ValueError
            A leg has neither a price in ``prices`` nor a finite mark.
        """
        given = prices or {}
        requirement = buying_power_per_unit(intent, self, qty) * qty if intent.opening else 0.0
        view = self
        changes: dict[str, float] = {}
        for leg in intent.legs:
            price = given.get(leg.symbol, self.mark(leg.symbol))
            if price is None or not math.isfinite(price):
                raise ValueError(f"prices[{leg.symbol!r}]: no finite price or mark, got {price!r}")
            signed = leg.side.sign * leg.ratio * qty
            view = view._filled(leg.symbol, signed, price)
            changes[leg.symbol] = signed
        if requirement:
            account = replace(
                view.account, buying_power_usd=view.account.buying_power_usd - requirement
            )
            view = replace(view, account=account)
        self._inherit(view, changes)
        return view

    def _inherit(self, view: PortfolioView, changes: Mapping[str, float]) -> None:
        # Hands this view's memoised figures to ``view`` (this view plus ``changes``, signed
        # units per symbol, at the same marks), recomputing only what the changes touch.
        touched = {instrument(symbol).underlying for symbol in changes}
        if "groups" in self._memo:
            groups = dict(self._groups())
            for underlying in touched:
                members = {s for s in groups.get(underlying, frozenset()) if s in view.positions}
                members |= {s for s in changes if s in view.positions}
                members = {s for s in members if instrument(s).underlying == underlying}
                if members:
                    groups[underlying] = frozenset(members)
                else:
                    groups.pop(underlying, None)
            view._memo["groups"] = groups
            if "exposure" in self._memo:
                exposure = self.exposure_by_underlying()
                for underlying in touched:
                    exposure.pop(underlying, None)
                    if underlying in groups:
                        held = [view.positions[s] for s in groups[underlying]]
                        exposure[underlying] = _group_exposure(held, underlying, view)
                view._memo["exposure"] = exposure
        if "greeks" in self._memo:
            pre = self.portfolio_greeks
            legs = [Position(symbol, signed) for symbol, signed in changes.items()]
            delta = portfolio_greeks(legs, self.greeks, self.spots_or_marks(touched))
            missing = [m for m in pre.missing if m in view.positions]
            missing += [m for m in delta.missing if m in view.positions and m not in missing]
            view._memo["greeks"] = PortfolioGreeks(
                pre.delta_shares + delta.delta_shares,
                pre.delta_usd + delta.delta_usd,
                pre.gamma_shares_per_usd + delta.gamma_shares_per_usd,
                pre.vega_per_point_usd + delta.vega_per_point_usd,
                pre.theta_per_day_usd + delta.theta_per_day_usd,
                tuple(missing),
            )

    def reserved_usd(self) -> float:
        """Buying power the open opening orders reserve: their max loss (see
        :func:`buying_power_per_unit`) times the units still to fill (unbounded ones are
        left out: the broker would not have accepted them)."""
        total = 0.0
        for order in self.open_orders:
            if not order.is_open or not order.intent.opening:
                continue
            per_unit = buying_power_per_unit(order.intent, self, order.remaining_qty)
            if math.isfinite(per_unit):
                total += per_unit * order.remaining_qty
        return total


def _instrument_of(pos: Position) -> Instrument:
    return instrument(pos.symbol)


def _is_option(symbol: str) -> bool:
    return isinstance(instrument(symbol), OptionContract)


# -- exposure of positions ---------------------------------------------------------------------


@dataclass(slots=True)
class _Leg:
    contract: OptionContract
    qty: float  # contracts, > 0
    mark: float  # premium per share


def _position_mark(pos: Position, view: PortfolioView) -> float:
    mark = view.mark(pos.symbol)
    return pos.avg_cost if mark is None else mark


def _pair(
    shorts: list[_Leg], longs: list[_Leg], right: OptionRight
) -> tuple[float, list[_Leg], list[_Leg]]:
    # Pairs short options with long ones of the same right expiring no earlier (calls: lowest
    # long strike first; puts: highest first); returns the pairs' max loss and what is left.
    longs = sorted(longs, key=lambda leg: leg.contract.strike, reverse=right is OptionRight.PUT)
    loss = 0.0
    left_shorts: list[_Leg] = []
    for short in shorts:
        need = short.qty
        for long in longs:
            if need <= _EPS:
                break
            if long.qty <= _EPS or long.contract.expiry < short.contract.expiry:
                continue
            n = min(need, long.qty)
            width = (long.contract.strike - short.contract.strike) * int(right)
            per_share = (long.mark - short.mark) + max(0.0, width)
            loss += max(0.0, per_share) * short.contract.multiplier * n
            long.qty -= n
            need -= n
        if need > _EPS:
            left_shorts.append(_Leg(short.contract, need, short.mark))
    return loss, left_shorts, [leg for leg in longs if leg.qty > _EPS]


def _group_exposure(positions: list[Position], underlying: str, view: PortfolioView) -> float:
    stock_qty = 0.0
    stock_value = 0.0
    legs: dict[OptionRight, tuple[list[_Leg], list[_Leg]]] = {
        OptionRight.CALL: ([], []),
        OptionRight.PUT: ([], []),
    }
    for pos in positions:
        inst = _instrument_of(pos)
        if isinstance(inst, Equity):
            price = view.spot(underlying) or view.mark(pos.symbol) or pos.avg_cost
            stock_qty += pos.qty
            stock_value += abs(pos.qty * price)
            continue
        leg = _Leg(inst, abs(pos.qty), _position_mark(pos, view))
        shorts, longs = legs[inst.right]
        (longs if pos.qty > 0 else shorts).append(leg)
    total = stock_value
    call_shorts, call_longs = legs[OptionRight.CALL]
    covered_contracts = max(0.0, stock_qty) / 100.0
    uncovered: list[_Leg] = []
    for short in sorted(call_shorts, key=lambda leg: leg.contract.strike):
        n = min(short.qty, covered_contracts)
        covered_contracts -= n
        if short.qty - n > _EPS:
            uncovered.append(_Leg(short.contract, short.qty - n, short.mark))
    loss, naked_calls, free_calls = _pair(uncovered, call_longs, OptionRight.CALL)
    total += loss
    spot = view.spot(underlying)
    for leg in naked_calls:
        price = spot if spot is not None else leg.contract.strike
        total += price * leg.contract.multiplier * leg.qty
    loss, naked_puts, free_puts = _pair(*legs[OptionRight.PUT], OptionRight.PUT)
    total += loss
    for leg in naked_puts:
        total += leg.contract.strike * leg.contract.multiplier * leg.qty
    for leg in (*free_calls, *free_puts):
        total += leg.mark * leg.contract.multiplier * leg.qty
    return total


def exposure_by_underlying(positions: Iterable[Position], view: PortfolioView) -> dict[str, float]:
    """Gross exposure in dollars per underlying of ``positions``, priced from ``view``.

    Parameters
    ----------
    positions : iterable of Position
    view : PortfolioView
        Supplies marks and spots.

    Returns
    -------
    dict of underlying to dollars (>= 0), see the module docstring for the rules.
    """
    groups: dict[str, list[Position]] = {}
    for pos in positions:
        if not pos.is_flat:
            groups.setdefault(_instrument_of(pos).underlying, []).append(pos)
    return {u: _group_exposure(group, u, view) for u, group in groups.items()}


# -- max loss of an intent ---------------------------------------------------------------------


def _net_cost_per_unit(intent: OrderIntent, view: PortfolioView) -> float:
    # Dollars paid per order unit (< 0: a credit): the limit price when there is one, else
    # the marks. A leg without a mark makes the cost NaN.
    multipliers = {instrument(leg.symbol).multiplier for leg in intent.legs}
    if intent.order_type is OrderType.LIMIT and intent.limit_price is not None:
        if len(intent.legs) == 1:
            leg = intent.legs[0]
            return leg.side.sign * leg.ratio * intent.limit_price * multipliers.pop()
        if len(multipliers) == 1:
            return intent.limit_price * multipliers.pop()
    cost = 0.0
    for leg in intent.legs:
        mark = view.mark(leg.symbol)
        if mark is None:
            return math.nan
        cost += leg.side.sign * leg.ratio * mark * instrument(leg.symbol).multiplier
    return cost


def _free_shares(underlying: str, view: PortfolioView) -> float:
    # Long shares not already covering short calls held (net of long calls held).
    shares = 0.0
    calls = 0.0
    for pos in view.positions.values():
        inst = _instrument_of(pos)
        if inst.underlying != underlying:
            continue
        if isinstance(inst, Equity):
            shares += pos.qty
        elif inst.right is OptionRight.CALL:
            calls += pos.qty * inst.multiplier
    return max(0.0, shares + min(0.0, calls))


def _payoff(terms: list[tuple[float, OptionContract | None]], price: float) -> float:
    total = 0.0
    for coeff, contract in terms:
        if contract is None:
            total += coeff * price
        else:
            total += coeff * contract.intrinsic(price)
    return total


def intent_max_loss_per_unit(
    intent: OrderIntent, view: PortfolioView, qty: float | None = None
) -> float:
    """Largest loss at expiry per order unit of ``intent``, in dollars (see the module
    docstring); ``inf`` when unbounded, NaN when a needed mark is missing.

    ``qty`` (default ``intent.qty``) decides whether free long stock covers short calls.
    """
    units = intent.qty if qty is None else qty
    cost = _net_cost_per_unit(intent, view)
    if not math.isfinite(cost):
        return math.nan
    instruments = [instrument(leg.symbol) for leg in intent.legs]
    if all(isinstance(i, Equity) for i in instruments):
        return abs(cost)
    groups: dict[str, list[tuple[float, OptionContract | None]]] = {}
    for leg, inst in zip(intent.legs, instruments, strict=True):
        coeff = leg.side.sign * leg.ratio * inst.multiplier
        contract = inst if isinstance(inst, OptionContract) else None
        groups.setdefault(inst.underlying, []).append((coeff, contract))
    worst_payoff = 0.0  # sum over underlyings of the lowest payoff
    for underlying, terms in groups.items():
        slope = sum(
            c for c, k in terms if k is None or k.right is OptionRight.CALL
        )  # payoff slope for a very high price
        if slope < -_EPS:
            needed = -slope * units
            if _free_shares(underlying, view) + _EPS < needed:
                return math.inf
            terms = [*terms, (-slope, None)]  # covered by shares already held (cost 0)
        points = [0.0, *(k.strike for _, k in terms if k is not None)]
        worst_payoff += min(_payoff(terms, p) for p in points)
    return max(0.0, cost - worst_payoff)


def buying_power_per_unit(
    intent: OrderIntent, view: PortfolioView, qty: float | None = None
) -> float:
    """Buying power one unit of an opening ``intent`` needs, in dollars: stock at its
    notional; options at their max loss (a vertical at its max loss, a cash-secured put at
    ``strike * 100`` minus the credit, a covered call at 0)."""
    return intent_max_loss_per_unit(intent, view, qty)
