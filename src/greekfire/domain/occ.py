"""OCC option symbols: format and parse, in the padded 21-character and the compact form.

The Options Clearing Corporation's symbology (2010) names a listed option by four fields:

=========  ========  ===================================================================
field      width     content
=========  ========  ===================================================================
root       1-6       the option root, upper-case letters and digits (``SPY``, ``SPXW``)
expiry     6         ``yymmdd`` (years 2000-2099)
right      1         ``C`` call, ``P`` put
strike     8         the strike in thousandths of a dollar, zero-padded (450 -> 00450000)
=========  ========  ===================================================================

The *padded* form left-justifies the root in a 6-character field (``"SPY   240621C00450000"``,
always 21 characters); the *compact* form used by Alpaca, Tradier and most vendor APIs drops the
padding (``"SPY240621C00450000"``). :func:`parse_occ` reads both.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date

from greekfire.domain.enums import OptionRight

__all__ = ["OccSymbol", "format_occ", "parse_occ"]

_ROOT_WIDTH = 6
_TAIL_WIDTH = 15  # yymmdd + C/P + 8 strike digits
_ROOT = re.compile(r"[A-Z0-9]{1,6}")
_MAX_STRIKE_THOUSANDTHS = 99_999_999
_RIGHT_LETTER = {OptionRight.CALL: "C", OptionRight.PUT: "P"}


@dataclass(frozen=True, slots=True)
class OccSymbol:
    """The four fields of an OCC option symbol.

    Attributes
    ----------
    root : str
        Option root, 1-6 upper-case letters or digits.
    expiry : datetime.date
        Expiration date, in 2000-2099.
    right : OptionRight
        Call or put.
    strike : float
        Strike price in dollars, a multiple of 0.001 in (0, 99999.999].
    """

    root: str
    expiry: date
    right: OptionRight
    strike: float

    def format(self, *, padded: bool = False) -> str:
        """This symbol as text; see :func:`format_occ`."""
        return format_occ(self.root, self.expiry, self.right, self.strike, padded=padded)


def _check_root(root: object) -> str:
    if not isinstance(root, str) or _ROOT.fullmatch(root.upper()) is None:
        raise ValueError(f"root: expected 1-6 letters or digits (e.g. 'SPY', 'SPXW'), got {root!r}")
    return root.upper()


def _strike_thousandths(strike: float) -> int:
    value = float(strike)
    scaled = value * 1000.0 if math.isfinite(value) else math.nan
    thousandths = round(scaled) if math.isfinite(scaled) else -1
    if not 0 < thousandths <= _MAX_STRIKE_THOUSANDTHS or abs(scaled - thousandths) > 1e-6:
        raise ValueError(f"strike: expected a multiple of 0.001 in (0, 99999.999], got {strike!r}")
    return thousandths


def format_occ(
    root: str, expiry: date, right: OptionRight | str | int, strike: float, *, padded: bool = False
) -> str:
    """Format an OCC option symbol.

    Parameters
    ----------
    root : str
        Option root, 1-6 letters or digits (upper-cased).
    expiry : datetime.date
        Expiration date in 2000-2099 (a ``datetime`` is taken at its date).
    right : OptionRight, str or int
        Anything :meth:`OptionRight.parse` accepts (``"call"``, ``"P"``, ``-1``, ...).
    strike : float
        Strike in dollars, a multiple of 0.001 in (0, 99999.999].
    padded : bool, default False
        True: the 21-character OCC form with the root left-justified in 6 characters;
        False: the compact form without padding.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        Naming the field that is invalid (``root``, ``expiry``, ``right`` or ``strike``).

    Examples
    --------
    >>> format_occ("SPY", date(2024, 6, 21), "call", 450.0, padded=True)
    'SPY   240621C00450000'
    >>> format_occ("SPY", date(2024, 6, 21), "put", 452.5)
    'SPY240621P00452500'
    """
    code = _check_root(root)
    if not isinstance(expiry, date) or not 2000 <= expiry.year <= 2099:
        raise ValueError(f"expiry: expected a date in 2000-2099, got {expiry!r}")
    letter = _RIGHT_LETTER[OptionRight.parse(right)]
    thousandths = _strike_thousandths(strike)
    field = code.ljust(_ROOT_WIDTH) if padded else code
    return f"{field}{expiry:%y%m%d}{letter}{thousandths:08d}"


def parse_occ(symbol: str) -> OccSymbol:
    """Parse an OCC option symbol, padded (21 characters) or compact.

    Surrounding whitespace is ignored and letters may be in any case.

    Parameters
    ----------
    symbol : str
        For example ``"SPY   240621C00450000"`` or ``"SPY240621C00450000"``.

    Returns
    -------
    OccSymbol

    Raises
    ------
    ValueError
        Naming the part that is wrong: ``root``, ``expiry``, ``right`` or ``strike``, or the
        length when the symbol cannot hold the 15 fixed characters after the root.

    Examples
    --------
    >>> parse_occ("SPY   240621C00450000")
    OccSymbol(root='SPY', expiry=datetime.date(2024, 6, 21), right=<OptionRight.CALL: 1>, strike=450.0)
    """  # noqa: E501
    if not isinstance(symbol, str):
        raise TypeError(f"symbol: expected a str, got {type(symbol).__name__}")
    text = symbol.strip().upper()
    if len(text) <= _TAIL_WIDTH:
        raise ValueError(
            f"symbol: expected a root then 15 characters (yymmdd, C/P, 8 strike digits),"
            f" got {symbol!r} ({len(text)} characters)"
        )
    head, tail = text[:-_TAIL_WIDTH], text[-_TAIL_WIDTH:]
    root = head.rstrip(" ")
    if root != head and len(head) != _ROOT_WIDTH:
        raise ValueError(
            f"root: a padded root must fill exactly 6 characters, got {head!r} in {symbol!r}"
        )
    if _ROOT.fullmatch(root) is None:
        raise ValueError(f"root: expected 1-6 letters or digits, got {root!r} in {symbol!r}")
    return OccSymbol(
        root,
        _parse_expiry(tail[:6], symbol),
        _parse_right(tail[6], symbol),
        _parse_strike(tail[7:], symbol),
    )


def _parse_expiry(text: str, symbol: str) -> date:
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"expiry: expected 6 digits yymmdd, got {text!r} in {symbol!r}")
    try:
        return date(2000 + int(text[:2]), int(text[2:4]), int(text[4:]))
    except ValueError:
        raise ValueError(f"expiry: {text!r} is not a valid yymmdd date in {symbol!r}") from None


def _parse_right(letter: str, symbol: str) -> OptionRight:
    if letter not in ("C", "P"):
        raise ValueError(f"right: expected 'C' or 'P', got {letter!r} in {symbol!r}")
    return OptionRight.CALL if letter == "C" else OptionRight.PUT


def _parse_strike(text: str, symbol: str) -> float:
    if not (text.isascii() and text.isdigit()) or int(text) == 0:
        raise ValueError(
            f"strike: expected 8 digits of thousandths > 0, got {text!r} in {symbol!r}"
        )
    return int(text) / 1000.0
