"""Baselines greekfire is measured against.

- ``numpy``: the closed form written the plain vectorised way (temporaries everywhere),
  with ``scipy.special.ndtr`` for the normal CDF because numpy has none.
- ``scipy_loop``: the "loop-based" baseline, one option at a time in Python with
  ``scipy.stats.norm.cdf`` / ``.pdf`` on scalars.
- ``py_vollib_vectorized``: its numba-compiled price, finite-difference Greeks and
  "Let's Be Rational" implied vol, called on whole arrays.
- ``quantlib``: one ``VanillaOption`` per contract priced by ``AnalyticEuropeanEngine`` or
  ``BaroneAdesiWhaleyApproximationEngine`` (handles built once; quotes updated per option).

Every peer is a development dependency: it is imported inside ``prepare_*`` and a missing one
raises ``Unavailable("peer not installed: ...")``, which the report prints instead of a time.
Greeks use greekfire's units where the peer allows it: vega per 1.00 vol, theta per year,
rho per 1.00 (py_vollib_vectorized keeps its own: per point, per day, per point).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from greekfire.bench.contenders import Prepared, Results, allocating, as_f64, require
from greekfire.bench.workloads import DAYS_PER_YEAR, IVWorkload, OptionWorkload, normal_cdf

__all__ = [
    "GREEK_NAMES",
    "numpy_price_greeks",
    "prepare_numpy",
    "prepare_pvv_greeks",
    "prepare_pvv_iv",
    "prepare_quantlib_baw",
    "prepare_quantlib_european",
    "prepare_scipy_loop",
]

GREEK_NAMES = ("price", "delta", "gamma", "vega", "theta", "rho")
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

F64 = NDArray[np.float64]


def numpy_price_greeks(w: OptionWorkload) -> dict[str, F64]:
    """Price and first-order Greeks of ``w`` in plain vectorised numpy.

    Black-Scholes-Merton closed forms (Hull, ch. 19) with greekfire's units: vega per 1.00
    vol, theta per year, rho per 1.00 rate.

    Parameters
    ----------
    w : OptionWorkload

    Returns
    -------
    dict of str to ndarray of float64, shape (n,)
        Keys ``GREEK_NAMES``.
    """
    sign = w.right.astype(np.float64)
    sqrt_t = np.sqrt(w.t_years)
    sd = w.vol * sqrt_t
    d1 = (np.log(w.spot / w.strike) + (w.rate - w.div_yield + 0.5 * w.vol**2) * w.t_years) / sd
    d2 = d1 - sd
    disc_q = np.exp(-w.div_yield * w.t_years)
    disc_r = np.exp(-w.rate * w.t_years)
    n1 = normal_cdf(sign * d1)
    n2 = normal_cdf(sign * d2)
    pdf1 = _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1)
    s_q = w.spot * disc_q
    k_r = w.strike * disc_r
    return {
        "price": sign * (s_q * n1 - k_r * n2),
        "delta": sign * disc_q * n1,
        "gamma": disc_q * pdf1 / (w.spot * sd),
        "vega": s_q * pdf1 * sqrt_t,
        "theta": -s_q * pdf1 * w.vol / (2.0 * sqrt_t)
        - sign * w.rate * k_r * n2
        + sign * w.div_yield * s_q * n1,
        "rho": sign * w.t_years * k_r * n2,
    }


def prepare_numpy(w: OptionWorkload) -> Prepared:
    """Prepare the plain-numpy baseline (needs ``scipy.special`` for the normal CDF).

    Parameters
    ----------
    w : OptionWorkload
    """
    require("scipy.special", "scipy")
    return allocating(lambda: numpy_price_greeks(w))


def _scipy_option(
    norm: Any, s: float, k: float, t: float, r: float, q: float, v: float, sign: float
) -> tuple[float, ...]:
    # Deliberately naive: one scalar scipy call per normal evaluation, as a reader would write.
    sqrt_t = math.sqrt(t)
    d1 = (math.log(s / k) + (r - q + 0.5 * v * v) * t) / (v * sqrt_t)
    d2 = d1 - v * sqrt_t
    n1 = norm.cdf(sign * d1)
    n2 = norm.cdf(sign * d2)
    pdf1 = norm.pdf(d1)
    s_q = s * math.exp(-q * t)
    k_r = k * math.exp(-r * t)
    price = sign * (s_q * n1 - k_r * n2)
    delta = sign * math.exp(-q * t) * n1
    gamma = math.exp(-q * t) * pdf1 / (s * v * sqrt_t)
    vega = s_q * pdf1 * sqrt_t
    theta = -s_q * pdf1 * v / (2.0 * sqrt_t) - sign * r * k_r * n2 + sign * q * s_q * n1
    rho = sign * t * k_r * n2
    return (price, delta, gamma, vega, theta, rho)


def prepare_scipy_loop(w: OptionWorkload) -> Prepared:
    """Prepare the per-option Python loop over ``scipy.stats.norm`` (the loop baseline).

    Parameters
    ----------
    w : OptionWorkload
    """
    norm = require("scipy.stats", "scipy").norm
    rows = list(zip(*(a.tolist() for a in w.arrays()), strict=True))

    def run() -> Results:
        out = [_scipy_option(norm, s, k, t, r, q, v, float(c)) for s, k, t, r, q, v, c in rows]
        table = np.array(out, dtype=np.float64).T
        return dict(zip(GREEK_NAMES, table, strict=True))

    return allocating(run)


def _pvv() -> Any:
    require("py_lets_be_rational", "py-lets-be-rational")
    require("py_vollib", "py-vollib")
    return require("py_vollib_vectorized", "py_vollib_vectorized")


def prepare_pvv_greeks(w: OptionWorkload) -> Prepared:
    """Prepare py_vollib_vectorized: BSM price plus its five (finite-difference) Greeks.

    Parameters
    ----------
    w : OptionWorkload
    """
    pvv = _pvv()
    flags = w.flags()
    s, k, t, r, q, v, _ = w.arrays()

    def run() -> Results:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            price = pvv.vectorized_black_scholes_merton(flags, s, k, t, r, v, q, return_as="numpy")
            greeks = pvv.get_all_greeks(
                flags, s, k, t, r, v, q, model="black_scholes_merton", return_as="dict"
            )
        return {"price": as_f64(price), **{name: as_f64(greeks[name]) for name in greeks}}

    return allocating(run)


def prepare_pvv_iv(w: IVWorkload) -> Prepared:
    """Prepare py_vollib_vectorized's implied vol (Let's Be Rational), NaN on failure.

    Parameters
    ----------
    w : IVWorkload
    """
    pvv = _pvv()
    o = w.options
    flags = o.flags()

    def run() -> Results:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            vol = pvv.vectorized_implied_volatility(
                w.price,
                o.spot,
                o.strike,
                o.t_years,
                o.rate,
                flags,
                o.div_yield,
                model="black_scholes_merton",
                return_as="numpy",
                on_error="ignore",
            )
        return {"vol": as_f64(vol)}

    return allocating(run)


class _QuantLibMarket:
    """Flat market handles built once; each option only moves the quotes."""

    def __init__(self, ql: Any) -> None:
        self.ql = ql
        self.today = ql.Date(2, ql.January, 2024)
        ql.Settings.instance().evaluationDate = self.today
        day_count = ql.Actual365Fixed()
        self.spot = ql.SimpleQuote(100.0)
        self.rate = ql.SimpleQuote(0.0)
        self.div = ql.SimpleQuote(0.0)
        self.vol = ql.SimpleQuote(0.2)

        def curve(quote: Any) -> Any:
            flat = ql.FlatForward(self.today, ql.QuoteHandle(quote), day_count)
            return ql.YieldTermStructureHandle(flat)

        vol_ts = ql.BlackConstantVol(
            self.today, ql.NullCalendar(), ql.QuoteHandle(self.vol), day_count
        )
        self.process = ql.BlackScholesMertonProcess(
            ql.QuoteHandle(self.spot),
            curve(self.div),
            curve(self.rate),
            ql.BlackVolTermStructureHandle(vol_ts),
        )

    def set(self, s: float, r: float, q: float, v: float) -> None:
        self.spot.setValue(s)
        self.rate.setValue(r)
        self.div.setValue(q)
        self.vol.setValue(v)

    def option(self, k: float, t: float, call: bool, american: bool, engine: Any) -> Any:
        ql = self.ql
        maturity = self.today + round(t * DAYS_PER_YEAR)
        exercise = (
            ql.AmericanExercise(self.today, maturity) if american else ql.EuropeanExercise(maturity)
        )
        payoff = ql.PlainVanillaPayoff(ql.Option.Call if call else ql.Option.Put, k)
        opt = ql.VanillaOption(payoff, exercise)
        opt.setPricingEngine(engine)
        return opt


def _quantlib_loop(
    w: OptionWorkload,
    engine_name: str,
    american: bool,
    evaluate: Callable[[Any], tuple[float, ...]],
    names: tuple[str, ...],
) -> Prepared:
    ql = require("QuantLib")
    market = _QuantLibMarket(ql)
    engine = getattr(ql, engine_name)(market.process)
    rows = list(zip(*(a.tolist() for a in w.arrays()), strict=True))

    def run() -> Results:
        out = []
        for s, k, t, r, q, v, c in rows:
            market.set(s, r, q, v)
            out.append(evaluate(market.option(k, t, c > 0, american, engine)))
        table = np.array(out, dtype=np.float64).reshape(len(rows), len(names)).T
        return dict(zip(names, table, strict=True))

    return allocating(run)


def prepare_quantlib_european(w: OptionWorkload) -> Prepared:
    """Prepare the QuantLib loop: ``AnalyticEuropeanEngine``, price and five Greeks.

    Parameters
    ----------
    w : OptionWorkload
    """

    def evaluate(opt: Any) -> tuple[float, ...]:
        return (opt.NPV(), opt.delta(), opt.gamma(), opt.vega(), opt.theta(), opt.rho())

    return _quantlib_loop(w, "AnalyticEuropeanEngine", False, evaluate, GREEK_NAMES)


def prepare_quantlib_baw(w: OptionWorkload) -> Prepared:
    """Prepare the QuantLib loop: ``BaroneAdesiWhaleyApproximationEngine`` American prices.

    Parameters
    ----------
    w : OptionWorkload
    """

    def evaluate(opt: Any) -> tuple[float, ...]:
        return (opt.NPV(),)

    return _quantlib_loop(w, "BaroneAdesiWhaleyApproximationEngine", True, evaluate, ("price",))
