"""European option analytics: prices, Greeks and implied volatility, vectorised.

Every function accepts scalars, numpy arrays or pandas Series and broadcasts them together; a
scalar call returns a float, an array call an array of the broadcast shape. Invalid elements
(non-positive spot, negative vol, NaN, ...) come back as NaN and never raise; greeks() and
implied_vol() also return a per-element status (see :class:`greekfire.domain.IVStatus`).
Contract errors (shapes that do not broadcast, an unknown right or unit) raise ValueError or
TypeError naming the argument.

Units: t_years in years; rate, dividend_yield and vol annualised decimals (0.05 = 5 %).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from greekfire.analytics._inputs import prepare
from greekfire.kernels import bsm
from greekfire.kernels import iv as iv_kernels

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "GREEK_NAMES",
    "IVResult",
    "black76",
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
    out = np.empty(p.size)
    status = np.empty(p.size, dtype=np.int8)
    bsm.price_into(
        a["spot"],
        a["strike"],
        a["t_years"],
        a["rate"],
        a["dividend_yield"],
        a["vol"],
        p.right,
        out,
        status,
    )
    return p.shaped(out)


def black76(
    forward: Any, strike: Any, t_years: Any, vol: Any, rate: Any = 0.0, right: Any = "call"
) -> Any:
    """Black-76 price of an option on a forward or future (discounted at ``rate``)."""
    return black_scholes(forward, strike, t_years, vol, rate, rate, right)


def _convert_units(out: dict[str, Any], theta_unit: str, vega_unit: str) -> None:
    if theta_unit == "day":
        out["theta"] = out["theta"] / DAYS_PER_YEAR
        if "charm" in out:
            out["charm"] = out["charm"] / DAYS_PER_YEAR
    elif theta_unit != "year":
        raise ValueError(f"theta_unit: expected 'year' or 'day', got {theta_unit!r}")
    if vega_unit == "per_point":
        out["vega"] = out["vega"] / 100.0
        if "vanna" in out:
            out["vanna"] = out["vanna"] / 100.0
            out["volga"] = out["volga"] / 10_000.0
    elif vega_unit != "per_1":
        raise ValueError(f"vega_unit: expected 'per_1' or 'per_point', got {vega_unit!r}")


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
    rows = bsm.N_ALL_GREEKS if second_order else bsm.N_GREEKS
    out = np.empty((rows, p.size))
    status = np.empty(p.size, dtype=np.int8)
    kernel = bsm.all_greeks_into if second_order else bsm.price_greeks_into
    args = (a["spot"], a["strike"], a["t_years"], a["rate"], a["dividend_yield"], a["vol"], p.right)
    kernel(*args, out, status, exact=True)
    result: dict[str, Any] = {name: out[k] for k, name in enumerate(GREEK_NAMES[:rows])}
    _convert_units(result, theta_unit, vega_unit)
    result["status"] = status
    if as_frame:
        return _frame(result, p.index)
    return {name: p.shaped(values) for name, values in result.items()}


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
