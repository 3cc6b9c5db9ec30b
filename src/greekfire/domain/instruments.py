"""Tradable instruments: equities and listed option contracts.

An instrument is named by its *symbol*: the ticker for an equity (``"SPY"``), the compact OCC
symbol for an option (``"SPY240621C00450000"``, see :mod:`greekfire.domain.occ`).
:func:`instrument_for` turns any symbol into its instrument, so a symbol is all that travels
through orders, fills, positions and the journal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import lru_cache

from greekfire.domain.enums import OptionRight
from greekfire.domain.occ import format_occ, parse_occ

__all__ = [
    "OPTION_MULTIPLIER",
    "AssetClass",
    "Equity",
    "Instrument",
    "OptionContract",
    "instrument_for",
    "is_option_symbol",
]

OPTION_MULTIPLIER = 100
"""Shares delivered per standard US equity option contract."""


class AssetClass(StrEnum):
    """What an instrument is."""

    EQUITY = "equity"
    OPTION = "option"


@dataclass(frozen=True, slots=True)
class Equity:
    """A stock or ETF; one unit is one share."""

    symbol: str

    def __post_init__(self) -> None:
        if not isinstance(self.symbol, str) or not self.symbol.strip() or " " in self.symbol:
            raise ValueError(f"symbol: expected a ticker such as 'SPY', got {self.symbol!r}")

    @property
    def asset_class(self) -> AssetClass:
        """``AssetClass.EQUITY``."""
        return AssetClass.EQUITY

    @property
    def multiplier(self) -> int:
        """Dollars of value per 1.00 of price per unit: 1 for a share."""
        return 1

    @property
    def underlying(self) -> str:
        """The equity itself."""
        return self.symbol


@dataclass(frozen=True, slots=True)
class OptionContract:
    """A listed option on an equity.

    Attributes
    ----------
    underlying : str
        The underlying's ticker (also the OCC root).
    expiry : datetime.date
        Expiration date (the contract settles at that session's close).
    strike : float
        Strike in dollars.
    right : OptionRight
        Call or put.
    multiplier : int, default 100
        Shares per contract.
    """

    underlying: str
    expiry: date
    strike: float
    right: OptionRight
    multiplier: int = OPTION_MULTIPLIER

    def __post_init__(self) -> None:
        object.__setattr__(self, "right", OptionRight.parse(self.right))
        if not isinstance(self.multiplier, int) or self.multiplier <= 0:
            raise ValueError(f"multiplier: expected a whole number > 0, got {self.multiplier!r}")
        format_occ(self.underlying, self.expiry, self.right, self.strike)  # validates the fields
        # the OCC root is upper-case; keep ``underlying`` equal to the root ``symbol`` carries
        object.__setattr__(self, "underlying", self.underlying.upper())

    @property
    def asset_class(self) -> AssetClass:
        """``AssetClass.OPTION``."""
        return AssetClass.OPTION

    @property
    def symbol(self) -> str:
        """The compact OCC symbol (``"SPY240621C00450000"``)."""
        return format_occ(self.underlying, self.expiry, self.right, self.strike)

    @classmethod
    def from_occ(cls, symbol: str, multiplier: int = OPTION_MULTIPLIER) -> OptionContract:
        """Parse an OCC symbol (padded or compact); ``ValueError`` names the bad part."""
        occ = parse_occ(symbol)
        return cls(occ.root, occ.expiry, occ.strike, occ.right, multiplier)

    def intrinsic(self, spot: float) -> float:
        """Exercise value per share at underlying price ``spot``."""
        return max(0.0, (spot - self.strike) * int(self.right))


Instrument = Equity | OptionContract


def is_option_symbol(symbol: str) -> bool:
    """True when ``symbol`` has the shape of a compact or padded OCC symbol."""
    text = symbol.strip()
    return len(text) > 15 and text[-9] in "CPcp" and text[-15:-9].isdigit() and text[-8:].isdigit()


@lru_cache(maxsize=65_536)
def instrument_for(symbol: str) -> Instrument:
    """The instrument a symbol names: an :class:`OptionContract` for an OCC symbol, else an
    :class:`Equity`.

    Raises
    ------
    ValueError
        An OCC-shaped symbol with an invalid field, or an empty ticker.

    Instruments are immutable, so results are cached (symbols recur every cycle).
    """
    if not isinstance(symbol, str):
        raise TypeError(f"symbol: expected a str, got {type(symbol).__name__}")
    if is_option_symbol(symbol):
        return OptionContract.from_occ(symbol)
    return Equity(symbol.strip().upper())
