"""American option prices and implied volatility, vectorised over options.

Inputs are scalars, numpy arrays or pandas Series, broadcast together like the European
functions in :mod:`greekfire.analytics.options`. Invalid elements (non-positive spot, negative
vol, NaN, ...) come back as NaN and never raise; contract errors (shapes that do not
broadcast, an unknown right or method, ``steps < 1``) raise ``ValueError``/``TypeError``
naming the argument.

Units: ``t_years`` in years; ``rate``, ``dividend_yield`` and ``vol`` annualised decimals
(0.05 = 5 %), continuously compounded.

Methods: ``"baw"`` is the Barone-Adesi-Whaley (1987) quadratic approximation (fast, accurate
to a few tenths of a percent for typical contracts); ``"crr"`` the Cox-Ross-Rubinstein binomial
tree with QuantLib's conventions (converges to the exact value as ``steps`` grows, cost
O(steps^2) per option). Kernel details and edge cases: :mod:`greekfire.kernels.american`.
"""

from __future__ import annotations

import difflib
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from greekfire.analytics._inputs import prepare
from greekfire.kernels import american as kernels

__all__ = ["AMERICAN_METHODS", "american_implied_vol", "american_price"]

AMERICAN_METHODS: Final = ("baw", "crr")
"""Pricing methods accepted by :func:`american_price`."""

_IV_METHODS: Final = ("baw",)


def _parse_method(method: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(method, str):
        raise TypeError(f"method: expected one of {allowed}, got {method!r}")
    key = method.strip().lower()
    if key in allowed:
        return key
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"method: expected one of {allowed}, got {method!r}{hint}")


def _parse_steps(steps: object) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer):
        raise TypeError(f"steps: expected an integer >= 1, got {steps!r}")
    count = int(steps)
    if count < 1:
        raise ValueError(f"steps: expected an integer >= 1, got {count}")
    return count


def american_price(
    spot: Any,
    strike: Any,
    t_years: Any,
    vol: Any,
    rate: Any = 0.0,
    dividend_yield: Any = 0.0,
    right: Any = "put",
    *,
    method: str = "baw",
    steps: int = 500,
) -> Any:
    """Price American options with Barone-Adesi-Whaley or a Cox-Ross-Rubinstein tree.

    Parameters
    ----------
    spot, strike : float or array-like
        Underlying price and strike, > 0.
    t_years : float or array-like
        Time to expiry in years, >= 0 (0 gives the intrinsic value).
    vol : float or array-like
        Annualised volatility, >= 0 (0 gives the exact zero-vol American value).
    rate, dividend_yield : float or array-like
        Continuously compounded annual risk-free rate and dividend yield; any sign.
    right : str, int, OptionRight or array-like of them
        ``"call"``/``"put"``/``"c"``/``"p"``/``+1``/``-1``; default put.
    method : {"baw", "crr"}
        Barone-Adesi-Whaley (1987) approximation or Cox-Ross-Rubinstein (1979) tree.
    steps : int
        Tree steps for ``method="crr"`` (>= 1; ignored by ``"baw"``).

    Returns
    -------
    float or ndarray of float64
        A float when every input is scalar, else an array of the broadcast shape. NaN where an
        input is invalid, or (``"crr"``) where ``steps`` is too small for the drift and the
        tree's up probability leaves ``[0, 1]``.

    Raises
    ------
    ValueError
        Inputs that do not broadcast, an unknown right or method, ``steps < 1``.
    TypeError
        Non-numeric inputs, a non-string method or a non-integer ``steps``.

    Examples
    --------
    >>> round(american_price(100.0, 100.0, 1.0, 0.2, rate=0.05), 4)
    6.0976
    """
    chosen = _parse_method(method, AMERICAN_METHODS)
    count = _parse_steps(steps)
    p = prepare(
        right,
        spot=spot,
        strike=strike,
        t_years=t_years,
        vol=vol,
        rate=rate,
        dividend_yield=dividend_yield,
    )
    a = p.arrays
    args = (a["spot"], a["strike"], a["t_years"], a["rate"], a["dividend_yield"], a["vol"], p.right)
    out = np.empty(p.size)
    status = np.empty(p.size, dtype=np.int8)
    if chosen == "crr":
        kernels.crr_price_into(*args, count, out, status)
    else:
        kernels.baw_price_into(*args, out, status)
    return p.shaped(out)


def american_implied_vol(
    price: Any,
    spot: Any,
    strike: Any,
    t_years: Any,
    rate: Any = 0.0,
    dividend_yield: Any = 0.0,
    right: Any = "put",
    *,
    method: str = "baw",
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int8]]:
    """Implied volatility of American option prices under Barone-Adesi-Whaley.

    Parameters
    ----------
    price : float or array-like
        Observed American option price, >= 0.
    spot, strike : float or array-like
        Underlying price and strike, > 0.
    t_years : float or array-like
        Time to expiry in years, > 0.
    rate, dividend_yield : float or array-like
        Continuously compounded annual risk-free rate and dividend yield; any sign.
    right : str, int, OptionRight or array-like of them
        ``"call"``/``"put"``/``"c"``/``"p"``/``+1``/``-1``; default put.
    method : {"baw"}
        The pricing model inverted; only Barone-Adesi-Whaley is supported.

    Returns
    -------
    vol : ndarray of float64
        Annualised implied volatility, NaN where the status is not OK.
    status : ndarray of int8
        :class:`greekfire.domain.enums.IVStatus` codes: OK, BELOW_INTRINSIC (price below the
        zero-vol value), ABOVE_MAX_PRICE (call >= spot, put >= strike), NO_CONVERGENCE,
        INVALID_INPUT.

    Both arrays have the broadcast shape of the inputs (0-d when every input is scalar).

    Raises
    ------
    ValueError
        Inputs that do not broadcast, an unknown right or method.
    TypeError
        Non-numeric inputs or a non-string method.
    """
    _parse_method(method, _IV_METHODS)
    p = prepare(
        right,
        price=price,
        spot=spot,
        strike=strike,
        t_years=t_years,
        rate=rate,
        dividend_yield=dividend_yield,
    )
    a = p.arrays
    vol = np.empty(p.size)
    status = np.empty(p.size, dtype=np.int8)
    kernels.american_iv_into(
        a["price"],
        a["spot"],
        a["strike"],
        a["t_years"],
        a["rate"],
        a["dividend_yield"],
        p.right,
        vol,
        status,
    )
    return vol.reshape(p.shape), status.reshape(p.shape)
