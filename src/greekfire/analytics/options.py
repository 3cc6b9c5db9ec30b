"""European option analytics: prices, Greeks and implied volatility, vectorised.

Every function accepts scalars, numpy arrays or pandas Series and broadcasts them together; a
scalar call returns a float, an array call an array of the broadcast shape. Invalid elements
(non-positive spot, negative vol, NaN, ...) come back as NaN and never raise; greeks() and
black76_greeks() and implied_vol() also return a per-element status (see
:class:`greekfire.domain.IVStatus`).
Contract errors (shapes that do not broadcast, an unknown right or unit) raise ValueError or
TypeError naming the argument.

Units: t_years in years; rate, dividend_yield and vol annualised decimals (0.05 = 5 %).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from greekfire.analytics._inputs import F64Array, I8Array, Prepared, prepare
from greekfire.kernels import bsm
from greekfire.kernels import iv as iv_kernels

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "GREEK_NAMES",
    "IVResult",
    "black76",
    "black76_greeks",
    "black_scholes",
    "greeks",
    "implied_vol",
    "vectorized_black_scholes",
    "vectorized_greeks",
]

GREEK_NAMES = ("price", "delta", "gamma", "vega", "theta", "rho", "vanna", "volga", "charm")
ThetaUnit = Literal["year", "day"]
VegaUnit = Literal["per_1", "per_point"]
DAYS_PER_YEAR = 365.0


class IVResult(NamedTuple):
    """Implied volatilities and why each one is (or is not) available."""

    vol: Any  # float or float64 array, NaN where status != OK
    status: Any  # int or int8 array of IVStatus codes


def black_scholes(
    spot: Any,
    strike: Any,
    t_years: Any,
    vol: Any,
    rate: Any = 0.0,
    dividend_yield: Any = 0.0,
    right: Any = "call",
) -> Any:
    """Black-Scholes-Merton price with a continuous dividend yield, exact to a few ulps.

    Parameters
    ----------
    spot, strike : price of the underlying and strike, > 0.
    t_years : time to expiry in years, >= 0 (0 gives the intrinsic value).
    vol : annualised volatility, >= 0 (0 gives the discounted intrinsic value of the forward).
    rate, dividend_yield : continuously compounded annual rates (may be negative).
    right : "call"/"put"/"c"/"p"/+1/-1 or an array of them.

    Returns
    -------
    float or ndarray of float64, NaN where an input is invalid.
    """
    p = _spot_inputs(spot, strike, t_years, vol, rate, dividend_yield, right)
    out = np.empty(p.size)
    status = np.empty(p.size, dtype=np.int8)
    bsm.price_into(*_spot_args(p.arrays, p.right), out, status)
    return p.shaped(out)


def _spot_inputs(
    spot: Any, strike: Any, t_years: Any, vol: Any, rate: Any, dividend_yield: Any, right: Any
) -> Prepared:
    return prepare(
        right,
        spot=spot,
        strike=strike,
        t_years=t_years,
        vol=vol,
        rate=rate,
        dividend_yield=dividend_yield,
    )


# The argument order of the spot-model kernels (bsm, american).
def _spot_args(
    a: dict[str, F64Array], right: I8Array
) -> tuple[F64Array, F64Array, F64Array, F64Array, F64Array, F64Array, I8Array]:
    return (a["spot"], a["strike"], a["t_years"], a["rate"], a["dividend_yield"], a["vol"], right)


def _forward_inputs(
    forward: Any, strike: Any, t_years: Any, vol: Any, rate: Any, right: Any
) -> Prepared:
    return prepare(right, forward=forward, strike=strike, t_years=t_years, vol=vol, rate=rate)


def _forward_args(p: Prepared) -> tuple[F64Array, F64Array, F64Array, F64Array, F64Array, I8Array]:
    a = p.arrays
    return (a["forward"], a["strike"], a["t_years"], a["rate"], a["vol"], p.right)


def black76(
    forward: Any, strike: Any, t_years: Any, vol: Any, rate: Any = 0.0, right: Any = "call"
) -> Any:
    """Black-76 price of an option on a forward or future (discounted at ``rate``).

    Black-Scholes-Merton with the forward as the spot and a dividend yield equal to ``rate``;
    arguments and return as :func:`black_scholes`.
    """
    p = _forward_inputs(forward, strike, t_years, vol, rate, right)
    out = np.empty(p.size)
    status = np.empty(p.size, dtype=np.int8)
    bsm.black76_price_into(*_forward_args(p), out, status)
    return p.shaped(out)


def _unit_divisors(theta_unit: object, vega_unit: object) -> tuple[float, float]:
    # Checked before any pricing, so a misspelt unit fails fast.
    if theta_unit not in ("year", "day"):
        raise ValueError(f"theta_unit: expected 'year' or 'day', got {theta_unit!r}")
    if vega_unit not in ("per_1", "per_point"):
        raise ValueError(f"vega_unit: expected 'per_1' or 'per_point', got {vega_unit!r}")
    per_time = DAYS_PER_YEAR if theta_unit == "day" else 1.0
    per_vol = 100.0 if vega_unit == "per_point" else 1.0
    return per_time, per_vol


def _greek_result(
    p: Prepared,
    out: npt.NDArray[np.float64],
    status: npt.NDArray[np.int8],
    divisors: tuple[float, float],
    as_frame: bool,
) -> Any:
    # Rows of ``out`` follow GREEK_NAMES in library units (per year, per 1.00 of vol); shared by
    # greeks, black76_greeks and american_greeks so all three return the same names and units.
    per_time, per_vol = divisors
    scale = {"theta": per_time, "charm": per_time, "vega": per_vol, "vanna": per_vol}
    scale["volga"] = per_vol**2
    result: dict[str, Any] = {}
    for k, name in enumerate(GREEK_NAMES[: len(out)]):
        divisor = scale.get(name, 1.0)
        result[name] = out[k] / divisor if divisor != 1.0 else out[k]
    result["status"] = status
    if as_frame:
        return _frame(result, p.index)
    return {name: p.shaped(values) for name, values in result.items()}


def greeks(
    spot: Any,
    strike: Any,
    t_years: Any,
    vol: Any,
    rate: Any = 0.0,
    dividend_yield: Any = 0.0,
    right: Any = "call",
    *,
    theta_unit: ThetaUnit = "year",
    vega_unit: VegaUnit = "per_1",
    second_order: bool = True,
    as_frame: bool = False,
) -> Any:
    """Price and analytic Greeks (Black-Scholes-Merton with dividend yield).

    Returns a dict of arrays (or floats) keyed price, delta, gamma, vega, theta, rho and, with
    ``second_order``, vanna, volga, charm, plus ``status``; or a DataFrame with ``as_frame``.

    Units: delta per 1.00 of spot; gamma per 1.00 of spot squared; vega per 1.00 of vol
    (``vega_unit="per_point"``: per vol point, 0.01; vanna and volga scale alike); theta per
    year of calendar time (``theta_unit="day"``: per calendar day, /365; charm alike); rho per
    1.00 of rate. Theta and charm are derivatives with respect to calendar time (-d/dT).
    """
    divisors = _unit_divisors(theta_unit, vega_unit)
    p = _spot_inputs(spot, strike, t_years, vol, rate, dividend_yield, right)
    rows = bsm.N_ALL_GREEKS if second_order else bsm.N_GREEKS
    out = np.empty((rows, p.size))
    status = np.empty(p.size, dtype=np.int8)
    kernel = bsm.all_greeks_into if second_order else bsm.price_greeks_into
    kernel(*_spot_args(p.arrays, p.right), out, status, exact=True)
    return _greek_result(p, out, status, divisors, as_frame)


def black76_greeks(
    forward: Any,
    strike: Any,
    t_years: Any,
    vol: Any,
    rate: Any = 0.0,
    right: Any = "call",
    *,
    theta_unit: ThetaUnit = "year",
    vega_unit: VegaUnit = "per_1",
    second_order: bool = True,
    as_frame: bool = False,
) -> Any:
    """Price and analytic Greeks of options on a forward or future (Black-76).

    Parameters
    ----------
    forward, strike : float or array-like
        Forward (or futures) price and strike, > 0.
    t_years : float or array-like
        Time to expiry in years, >= 0.
    vol : float or array-like
        Annualised volatility, >= 0.
    rate : float or array-like
        Continuously compounded annual rate the payoff is discounted at; any sign.
    right : str, int, OptionRight or array-like of them
        ``"call"``/``"put"``/``"c"``/``"p"``/``+1``/``-1``; default call.
    theta_unit, vega_unit, second_order, as_frame
        As :func:`greeks`.

    Returns
    -------
    dict or pandas.DataFrame
        The keys and units of :func:`greeks`, with the forward in place of the spot: delta and
        gamma per 1.00 of the forward. Every derivative holds the forward fixed, so the values
        equal :func:`greeks` with ``spot=forward`` and ``dividend_yield=rate``, except rho, which
        is ``-t_years * price`` (only the discount factor moves with the rate). ``status`` is
        OK or INVALID_INPUT (NaN values) per element.

    Raises
    ------
    ValueError
        Inputs that do not broadcast, an unknown right, theta_unit or vega_unit.
    TypeError
        Non-numeric inputs.

    Examples
    --------
    >>> g = black76_greeks(100.0, 100.0, 1.0, 0.2, rate=0.05)
    >>> round(g["delta"], 4), round(g["rho"], 4)
    (0.5135, -7.5771)
    """
    divisors = _unit_divisors(theta_unit, vega_unit)
    p = _forward_inputs(forward, strike, t_years, vol, rate, right)
    out = np.empty((bsm.N_ALL_GREEKS, p.size))
    status = np.empty(p.size, dtype=np.int8)
    bsm.black76_all_greeks_into(*_forward_args(p), out, status)
    rows = bsm.N_ALL_GREEKS if second_order else bsm.N_GREEKS
    return _greek_result(p, out[:rows], status, divisors, as_frame)


def _frame(columns: dict[str, npt.NDArray[Any]], index: Any) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(columns, index=index)


def implied_vol(
    price: Any,
    spot: Any,
    strike: Any,
    t_years: Any,
    rate: Any = 0.0,
    dividend_yield: Any = 0.0,
    right: Any = "call",
    *,
    american: bool = False,
) -> IVResult:
    """Implied volatility of option prices, with a status per element.

    European (BSM) by default, to within a few ulps of repricing; ``american=True`` inverts the
    Barone-Adesi-Whaley price instead. Status codes: see :class:`greekfire.domain.IVStatus`.
    """
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
    args = (
        a["price"],
        a["spot"],
        a["strike"],
        a["t_years"],
        a["rate"],
        a["dividend_yield"],
        p.right,
    )
    if american:
        from greekfire.kernels import american as american_kernels

        american_kernels.american_iv_into(*args, vol, status)
    else:
        iv_kernels.implied_vol_into(*args, vol, status)
    return IVResult(p.shaped(vol), p.shaped(status))


def vectorized_black_scholes(
    spots: Any,
    strikes: Any,
    times: Any,
    vols: Any,
    rate: Any = 0.0,
    dividend_yield: Any = 0.0,
    right: Any = "call",
) -> Any:
    """The brief's name for :func:`black_scholes` (``times`` in years)."""
    return black_scholes(spots, strikes, times, vols, rate, dividend_yield, right)


def vectorized_greeks(
    spots: Any,
    strikes: Any,
    times: Any,
    vols: Any,
    rate: Any = 0.0,
    dividend_yield: Any = 0.0,
    right: Any = "call",
) -> Any:
    """The brief's name for :func:`greeks` (``times`` in years): a dict of arrays."""
    return greeks(spots, strikes, times, vols, rate, dividend_yield, right)
