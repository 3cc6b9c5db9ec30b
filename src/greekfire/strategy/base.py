"""The strategy contract: a read-only context in, order intents out.

A strategy is a pure function of :class:`StrategyContext` (bars, indicators, quotes, option
chains, positions, the account, open orders, the clock): it keeps no state between cycles, so a
restart is safe and every decision can be replayed. It never calls a broker or a provider; the
engine fetches what :meth:`Strategy.chain_request` and :attr:`Strategy.indicators` ask for and
passes it in the next context.

Quantities in the intents are the most the strategy wants; risk may lower them, never raise
them. Exits carry ``opening=False`` so a risk halt still lets them through.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import pandas as pd
from pydantic import ValidationError

from greekfire.domain.config import Section
from greekfire.domain.enums import OptionRight
from greekfire.domain.instruments import OptionContract, instrument_for
from greekfire.domain.market import Quote
from greekfire.domain.orders import Order, OrderIntent, Side
from greekfire.domain.portfolio import Account, Position
from greekfire.errors import ConfigError

__all__ = [
    "ChainRequest",
    "NoParams",
    "Strategy",
    "StrategyContext",
    "validate_params",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ChainRequest:
    """The option contracts a strategy wants in its next context, for one underlying.

    The engine translates it into the data port's chain filter (``dte`` in calendar days,
    moneyness as ``strike / underlying_price``). Every bound is inclusive.

    Attributes
    ----------
    dte_min, dte_max : float
        Days to expiry window (calendar days, >= 0).
    moneyness_min, moneyness_max : float or None
        ``strike / underlying_price`` bounds (1.0 at the money); None for no bound.
    right : OptionRight or None
        Calls or puts only; None for both.
    """

    dte_min: float = 0.0
    dte_max: float = 60.0
    moneyness_min: float | None = None
    moneyness_max: float | None = None
    right: OptionRight | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.dte_min) and self.dte_min >= 0):
            raise ValueError(f"dte_min: expected a number of days >= 0, got {self.dte_min!r}")
        if not (math.isfinite(self.dte_max) and self.dte_max >= self.dte_min):
            raise ValueError(
                f"dte_max: expected a number of days >= dte_min ({self.dte_min!r}),"
                f" got {self.dte_max!r}"
            )
        for name in ("moneyness_min", "moneyness_max"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name}: expected a ratio > 0 or None, got {value!r}")
        lo, hi = self.moneyness_min, self.moneyness_max
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"moneyness_min: {lo!r} is greater than moneyness_max {hi!r}")
        if self.right is not None:
            object.__setattr__(self, "right", OptionRight.parse(self.right))


def _empty() -> Mapping[str, Any]:
    return _EMPTY


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping)) if mapping else _EMPTY


@dataclass(frozen=True, slots=True)
class StrategyContext:
    """Everything a strategy may look at in one cycle; read-only.

    Mappings are wrapped in :class:`types.MappingProxyType` (copies of what was passed), so a
    strategy cannot change what the engine or another strategy sees. DataFrames are shared for
    speed: strategies must treat them as read-only.

    Attributes
    ----------
    now_ns : int
        The cycle's time, UTC nanoseconds (from the engine's clock; strategies never read wall
        time).
    bars : mapping of symbol to DataFrame
        The last bars (``BAR_COLUMNS``, UTC index), oldest first.
    indicators : mapping of symbol to mapping of column to float
        Latest indicator values, columns named as
        ``greekfire.analytics.indicators.parse_indicator(spec).columns``.
    quotes : mapping of symbol to Quote
        Latest quotes of stocks and option contracts.
    chains : mapping of underlying to DataFrame
        Option chains (``CHAIN_COLUMNS`` plus ``mid``, ``spread`` and ``dte`` in calendar
        days), filtered by the strategy's :class:`ChainRequest`.
    positions : mapping of symbol to Position
        Open positions of the account (all strategies).
    account : Account or None
        Balances; None when unknown.
    open_orders : tuple of Order
        Orders that may still fill (all strategies).
    """

    now_ns: int
    bars: Mapping[str, pd.DataFrame] = field(default_factory=_empty)
    indicators: Mapping[str, Mapping[str, float]] = field(default_factory=_empty)
    quotes: Mapping[str, Quote] = field(default_factory=_empty)
    chains: Mapping[str, pd.DataFrame] = field(default_factory=_empty)
    positions: Mapping[str, Position] = field(default_factory=_empty)
    account: Account | None = None
    open_orders: tuple[Order, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.now_ns, int) or isinstance(self.now_ns, bool):
            raise TypeError(f"now_ns: expected int nanoseconds, got {self.now_ns!r}")
        object.__setattr__(self, "bars", _frozen(self.bars))
        inner = {k: _frozen(v) for k, v in (self.indicators or {}).items()}
        object.__setattr__(self, "indicators", _frozen(inner))
        object.__setattr__(self, "quotes", _frozen(self.quotes))
        object.__setattr__(self, "chains", _frozen(self.chains))
        object.__setattr__(self, "positions", _frozen(self.positions))
        object.__setattr__(self, "open_orders", tuple(self.open_orders))

    def position_qty(self, symbol: str) -> float:
        """Signed quantity held in ``symbol`` (0 when flat)."""
        pos = self.positions.get(symbol)
        return 0.0 if pos is None else pos.qty

    def orders_on(self, symbol: str, strategy: str | None = None) -> tuple[Order, ...]:
        """Open orders with a leg in ``symbol`` (an underlying also matches its options).

        Parameters
        ----------
        symbol : str
            A ticker or an OCC symbol.
        strategy : str, optional
            Only orders whose intent came from this strategy.
        """
        found = []
        for order in self.open_orders:
            if strategy is not None and order.intent.strategy != strategy:
                continue
            for leg in order.intent.legs:
                if leg.symbol == symbol or _underlying(leg.symbol) == symbol:
                    found.append(order)
                    break
        return tuple(found)

    def option_positions(self, underlying: str) -> list[tuple[OptionContract, Position]]:
        """Open option positions on ``underlying``, as (contract, position) pairs."""
        out = []
        for symbol, pos in self.positions.items():
            if pos.is_flat:
                continue
            instrument = instrument_for(symbol)
            if isinstance(instrument, OptionContract) and instrument.underlying == underlying:
                out.append((instrument, pos))
        return out

    def last_price(self, symbol: str) -> float:
        """Quote mid, else quote last, else the last bar's close, else NaN."""
        quote = self.quotes.get(symbol)
        if quote is not None:
            mid = quote.mid
            if quote.bid > 0 and quote.ask >= quote.bid and math.isfinite(mid):
                return float(mid)
            if math.isfinite(quote.last) and quote.last > 0:
                return float(quote.last)
        bars = self.bars.get(symbol)
        if bars is not None and len(bars) and "close" in bars:
            close = float(bars["close"].iloc[-1])
            if math.isfinite(close) and close > 0:
                return close
        return math.nan

    @property
    def equity_usd(self) -> float:
        """Account equity (NaN without an account)."""
        return math.nan if self.account is None else float(self.account.equity_usd)


def _underlying(symbol: str) -> str:
    try:
        return instrument_for(symbol).underlying
    except ValueError:
        return symbol


class NoParams(Section):
    """Parameters of a strategy that takes none."""


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) if loc else "params"


def validate_params(model: type[Section], params: Mapping[str, Any] | None) -> Section:
    """Validate ``params`` with ``model``; a failure is a ConfigError on ``params.<field>``.

    Raises
    ------
    ConfigError
        ``field`` is ``params.<field>`` (the first error); the message gives pydantic's reason
        and the bad value.
    """
    try:
        return model.model_validate(dict(params or {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        path = _loc(tuple(first.get("loc", ())))
        field_path = "params" if path == "params" else f"params.{path}"
        value = first.get("input")
        msg = str(first.get("msg", "invalid"))
        if first.get("type") == "extra_forbidden":
            valid = ", ".join(sorted(model.model_fields)) or "none"
            msg = f"unknown parameter (valid: {valid})"
        raise ConfigError(field_path, f"{msg}, got {value!r}") from None


class Strategy(ABC):
    """Base of every strategy: built-in and user-written.

    Subclasses set the class attributes and implement :meth:`on_cycle`.

    Attributes
    ----------
    kind : str
        The strategy type (``"wheel"``); the config's ``name`` is the instance's label.
    Params : type of Section
        Pydantic model of the parameters (frozen, unknown keys rejected).
    needs_chains : bool
        True when :meth:`chain_request` may ask for option chains.

    Parameters
    ----------
    name : str
        Unique label; every intent carries it as ``strategy``.
    symbols : sequence of str
        Underlyings it trades.
    params : mapping, optional
        Raw parameters, validated into ``self.params``.

    Raises
    ------
    ConfigError
        ``params.<field>`` names a bad parameter and its value.
    """

    kind: ClassVar[str] = "custom"
    Params: ClassVar[type[Section]] = NoParams
    needs_chains: ClassVar[bool] = False

    def __init__(
        self, name: str, symbols: Sequence[str], params: Mapping[str, Any] | None = None
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ConfigError("name", f"expected a non-empty label, got {name!r}")
        if isinstance(symbols, str):
            raise ConfigError("symbols", f"expected a list of tickers, got {symbols!r}")
        self.name = name
        self.symbols: tuple[str, ...] = tuple(symbols)
        self.params = validate_params(type(self).Params, params)

    @property
    def warmup_bars(self) -> int:
        """Bars of history needed before the first decision (the engine's lookback)."""
        return 0

    @property
    def indicators(self) -> tuple[str, ...]:
        """Indicator specs (``"sma_20"``, ``"macd"``) the engine should put in the context."""
        return ()

    def chain_request(self, underlying: str) -> ChainRequest | None:
        """The option contracts wanted for ``underlying`` next cycle; None for no chain."""
        return None

    @abstractmethod
    def on_cycle(self, ctx: StrategyContext) -> Sequence[OrderIntent]:
        """Decide: the orders to place this cycle (an empty sequence for none)."""

    def single(
        self,
        symbol: str,
        side: Side,
        qty: float,
        *,
        reason: str,
        opening: bool,
        limit_price: float | None = None,
    ) -> OrderIntent:
        """A one-leg DAY intent labelled with this strategy's name."""
        return OrderIntent.single(
            symbol,
            side,
            qty,
            limit_price=limit_price,
            strategy=self.name,
            reason=reason,
            opening=opening,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, symbols={list(self.symbols)!r})"
