"""Buying power of the paper account: what open positions reserve out of cash.

A cash account with margin for defined risk only, evaluated per underlying:

- long stock and long options reserve nothing (they were paid for in cash);
- a short call is covered by 100 shares of the underlying per contract (reserves nothing), else
  by a long call of the same underlying expiring no earlier (a vertical: reserves its max loss,
  ``max(0, long strike - short strike) * 100`` per contract); anything else is *naked*;
- a short put is paired with a long put expiring no earlier (reserves
  ``max(0, short strike - long strike) * 100`` per contract), else it is cash-secured
  (reserves ``strike * 100`` per contract; the premium received is already in cash);
- short stock is naked (a cash account cannot short).

Pairing is greedy: shares cover the lowest-strike short calls first; remaining short calls take
the lowest-strike long calls, short puts the highest-strike long puts. Free buying power is
``cash - reserve`` minus what resting opening orders reserve; see :mod:`greekfire.broker.paper`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from greekfire.domain.enums import OptionRight
from greekfire.domain.instruments import OptionContract, instrument_for

__all__ = ["Requirement", "requirement"]

_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Requirement:
    """What a set of holdings reserves.

    Attributes
    ----------
    reserve_usd : float
        Cash that must stay put for cash-secured puts and spreads.
    naked : dict of str to float
        Uncovered short quantity by symbol (short calls in contracts, short stock in shares).
    """

    reserve_usd: float
    naked: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class _Leg:
    contract: OptionContract
    qty: float  # contracts still unpaired (> 0)


def requirement(holdings: Mapping[str, float]) -> Requirement:
    """Reserve and naked exposure of ``holdings`` (symbol -> signed qty)."""
    stock: dict[str, float] = defaultdict(float)
    options: dict[str, list[tuple[OptionContract, float]]] = defaultdict(list)
    for symbol, qty in holdings.items():
        if abs(qty) < _EPS:
            continue
        instrument = instrument_for(symbol)
        if isinstance(instrument, OptionContract):
            options[instrument.underlying].append((instrument, qty))
        else:
            stock[instrument.symbol] += qty
    reserve = 0.0
    naked: dict[str, float] = {}
    for symbol, qty in stock.items():
        if qty < -_EPS:
            naked[symbol] = -qty
    for underlying, legs in options.items():
        shares = max(0.0, stock.get(underlying, 0.0))
        reserve += _calls(legs, shares, naked)
        reserve += _puts(legs)
    return Requirement(reserve, naked)


def _split(
    legs: list[tuple[OptionContract, float]], right: OptionRight
) -> tuple[list[_Leg], list[_Leg]]:
    shorts = [_Leg(c, -q) for c, q in legs if c.right is right and q < -_EPS]
    longs = [_Leg(c, q) for c, q in legs if c.right is right and q > _EPS]
    return shorts, longs


def _calls(
    legs: list[tuple[OptionContract, float]], shares: float, naked: dict[str, float]
) -> float:
    shorts, longs = _split(legs, OptionRight.CALL)
    shorts.sort(key=lambda leg: leg.contract.strike)
    longs.sort(key=lambda leg: leg.contract.strike)
    reserve = 0.0
    for short in shorts:
        covered = min(short.qty, shares // short.contract.multiplier)
        short.qty -= covered
        shares -= covered * short.contract.multiplier
        for long in longs:
            if short.qty < _EPS:
                break
            if long.qty < _EPS or long.contract.expiry < short.contract.expiry:
                continue
            take = min(short.qty, long.qty)
            width = max(0.0, long.contract.strike - short.contract.strike)
            reserve += take * width * short.contract.multiplier
            short.qty -= take
            long.qty -= take
        if short.qty > _EPS:
            naked[short.contract.symbol] = short.qty
    return reserve


def _puts(legs: list[tuple[OptionContract, float]]) -> float:
    shorts, longs = _split(legs, OptionRight.PUT)
    shorts.sort(key=lambda leg: -leg.contract.strike)
    longs.sort(key=lambda leg: -leg.contract.strike)
    reserve = 0.0
    for short in shorts:
        for long in longs:
            if short.qty < _EPS:
                break
            if long.qty < _EPS or long.contract.expiry < short.contract.expiry:
                continue
            take = min(short.qty, long.qty)
            width = max(0.0, short.contract.strike - long.contract.strike)
            reserve += take * width * short.contract.multiplier
            short.qty -= take
            long.qty -= take
        reserve += short.qty * short.contract.strike * short.contract.multiplier
    return reserve
