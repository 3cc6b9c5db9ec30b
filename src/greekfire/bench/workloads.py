"""Deterministic synthetic option workloads for the benchmark cases.

Every generator takes a seed and returns the same arrays for the same ``(n, seed)`` on every
machine (numpy's PCG64 ``default_rng``). Arrays follow the kernel contract: 1-D, length ``n``,
C-contiguous float64, the right as int8 (+1 call, -1 put).

Times to expiry are whole days divided by 365 (Actual/365 Fixed), so a peer that works with
dates (QuantLib) sees exactly the same year fractions as greekfire.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DAYS_PER_YEAR",
    "IVWorkload",
    "OptionWorkload",
    "make_american_workload",
    "make_european_workload",
    "make_iv_workload",
    "normal_cdf",
    "reference_price",
]

DAYS_PER_YEAR = 365.0
_MAX_DAYS = 730

F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class OptionWorkload:
    """A batch of option contracts with their market inputs (kernel layout).

    Attributes
    ----------
    spot, strike, t_years, rate, div_yield, vol : ndarray of float64, shape (n,)
        Spot price, strike, time to expiry in years (whole days / 365), continuously
        compounded risk-free rate, continuous dividend yield, annual volatility.
    right : ndarray of int8, shape (n,)
        +1 call, -1 put.
    """

    spot: F64
    strike: F64
    t_years: F64
    rate: F64
    div_yield: F64
    vol: F64
    right: NDArray[np.int8]

    @property
    def n(self) -> int:
        """Number of options in the batch."""
        return int(self.spot.shape[0])

    def head(self, m: int) -> OptionWorkload:
        """Return the first ``m`` options as contiguous views (for subsampled peers).

        Parameters
        ----------
        m : int
            Subsample size; clipped to ``n``.
        """
        m = min(m, self.n)
        # Leading slices of 1-D contiguous arrays are contiguous views: nothing is copied.
        return OptionWorkload(
            spot=self.spot[:m],
            strike=self.strike[:m],
            t_years=self.t_years[:m],
            rate=self.rate[:m],
            div_yield=self.div_yield[:m],
            vol=self.vol[:m],
            right=self.right[:m],
        )

    def arrays(self) -> tuple[F64, F64, F64, F64, F64, F64, NDArray[np.int8]]:
        """Return the inputs in kernel argument order (spot ... vol, right)."""
        return (
            self.spot,
            self.strike,
            self.t_years,
            self.rate,
            self.div_yield,
            self.vol,
            self.right,
        )

    def flags(self) -> list[str]:
        """Return the rights as ``'c'``/``'p'`` strings (the py_vollib convention)."""
        return ["c" if r > 0 else "p" for r in self.right.tolist()]


@dataclass(frozen=True, slots=True)
class IVWorkload:
    """An implied-volatility workload: contracts, their true vols and model prices.

    Attributes
    ----------
    options : OptionWorkload
        The contracts; ``options.vol`` holds the true volatility.
    price : ndarray of float64, shape (n,)
        Black-Scholes-Merton price at the true vol (``reference_price``).
    short_dated, deep : ndarray of bool, shape (n,)
        Masks of the options expiring within 14 days and of the deep ITM/OTM ones.
    """

    options: OptionWorkload
    price: F64
    short_dated: NDArray[np.bool_]
    deep: NDArray[np.bool_]

    @property
    def n(self) -> int:
        """Number of options in the batch."""
        return self.options.n

    def head(self, m: int) -> IVWorkload:
        """Return the first ``m`` options (contiguous views).

        Parameters
        ----------
        m : int
            Subsample size; clipped to ``n``.
        """
        return IVWorkload(
            options=self.options.head(m),
            price=self.price[:m],
            short_dated=self.short_dated[:m],
            deep=self.deep[:m],
        )


def _days_log_uniform(rng: np.random.Generator, n: int, lo_days: int, hi_days: int) -> F64:
    # Log-uniform in days: as many weeklies as LEAPS, like a real chain.
    days = np.exp(rng.uniform(np.log(lo_days), np.log(hi_days), n))
    return np.clip(np.rint(days), lo_days, hi_days) / DAYS_PER_YEAR


def _base_arrays(rng: np.random.Generator, n: int) -> dict[str, F64]:
    spot = 100.0 * np.exp(rng.normal(0.0, 0.1, n))
    return {
        "spot": spot,
        "t_years": _days_log_uniform(rng, n, 1, _MAX_DAYS),
        "rate": rng.uniform(-0.01, 0.06, n),
        "div_yield": rng.uniform(0.0, 0.04, n),
        "vol": rng.uniform(0.05, 1.0, n),
    }


def _rights(rng: np.random.Generator, n: int) -> NDArray[np.int8]:
    return np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8)


def make_european_workload(n: int, seed: int = 20240601) -> OptionWorkload:
    """Generate ``n`` European options with realistic spreads of every input.

    Spots are lognormal around 100 (10 % dispersion); strikes are ``spot * exp(N(0, 0.25))``
    rounded to 0.5; expiries are 1 day to 2 years, log-uniform in whole days; vols uniform in
    [0.05, 1.0]; rates uniform in [-1 %, 6 %] (some negative); dividend yields in [0, 4 %];
    calls and puts half and half.

    Parameters
    ----------
    n : int
        Number of options.
    seed : int
        Seed of numpy's ``default_rng``.

    Returns
    -------
    OptionWorkload
    """
    rng = np.random.default_rng(seed)
    base = _base_arrays(rng, n)
    strike = np.maximum(np.round(base["spot"] * np.exp(rng.normal(0.0, 0.25, n)) * 2.0) / 2.0, 0.5)
    return OptionWorkload(
        spot=base["spot"],
        strike=strike,
        t_years=base["t_years"],
        rate=base["rate"],
        div_yield=base["div_yield"],
        vol=base["vol"],
        right=_rights(rng, n),
    )


def make_american_workload(n: int, seed: int = 20240602) -> OptionWorkload:
    """Generate ``n`` American-style contracts: the European set with rates in [0, 6 %].

    Barone-Adesi-Whaley assumes a non-negative rate (QuantLib's engine refuses negative
    ones), so this set has none.

    Parameters
    ----------
    n : int
        Number of options.
    seed : int
        Seed of numpy's ``default_rng``.

    Returns
    -------
    OptionWorkload
    """
    w = make_european_workload(n, seed)
    rate = np.random.default_rng(seed + 1).uniform(0.0, 0.06, n)
    return replace(w, rate=rate)


def make_iv_workload(
    n: int,
    seed: int = 20240603,
    *,
    short_fraction: float = 0.25,
    deep_fraction: float = 0.40,
) -> IVWorkload:
    """Generate an implied-vol workload with short-dated and deep ITM/OTM options.

    A share ``short_fraction`` of the options expires in 1 to 14 days (the rest in 15 days to
    2 years); independently, a share ``deep_fraction`` is deep in or out of the money, with a
    standardised log-moneyness ``|ln(F/K)| / (vol sqrt(t))`` in [2.5, 6], the rest within
    +-1.5. Prices come from ``reference_price`` at the true vols.

    Parameters
    ----------
    n : int
        Number of options.
    seed : int
        Seed of numpy's ``default_rng``.
    short_fraction, deep_fraction : float
        Shares of short-dated and of deep ITM/OTM options, in [0, 1].

    Returns
    -------
    IVWorkload
    """
    rng = np.random.default_rng(seed)
    base = _base_arrays(rng, n)
    short = rng.random(n) < short_fraction
    t_short = _days_log_uniform(rng, n, 1, 14)
    t_long = _days_log_uniform(rng, n, 15, _MAX_DAYS)
    t_years = np.where(short, t_short, t_long)
    deep = rng.random(n) < deep_fraction
    z_deep = rng.uniform(2.5, 6.0, n) * np.where(rng.random(n) < 0.5, 1.0, -1.0)
    z = np.where(deep, z_deep, rng.uniform(-1.5, 1.5, n))
    fwd = base["spot"] * np.exp((base["rate"] - base["div_yield"]) * t_years)
    strike = fwd * np.exp(-z * base["vol"] * np.sqrt(t_years))
    options = OptionWorkload(
        spot=base["spot"],
        strike=strike,
        t_years=t_years,
        rate=base["rate"],
        div_yield=base["div_yield"],
        vol=base["vol"],
        right=_rights(rng, n),
    )
    return IVWorkload(options=options, price=reference_price(options), short_dated=short, deep=deep)


def normal_cdf(x: F64) -> F64:
    """Standard normal CDF, accurate in both tails (``scipy.special.ndtr``).

    Parameters
    ----------
    x : ndarray of float64

    Returns
    -------
    ndarray of float64
    """
    from scipy.special import ndtr  # dev-only dependency, imported on use

    return np.asarray(ndtr(x), dtype=np.float64)


def reference_price(w: OptionWorkload) -> F64:
    """Black-Scholes-Merton price of every option in ``w``, closed form in numpy.

    ``right * (S e^{-qT} N(right d1) - K e^{-rT} N(right d2))`` (Merton 1973), using
    ``scipy.special.ndtr`` for N. This is the oracle the benchmark compares prices against.

    Parameters
    ----------
    w : OptionWorkload

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    sign = w.right.astype(np.float64)
    sd = w.vol * np.sqrt(w.t_years)
    d1 = (np.log(w.spot / w.strike) + (w.rate - w.div_yield + 0.5 * w.vol**2) * w.t_years) / sd
    d2 = d1 - sd
    disc_s = w.spot * np.exp(-w.div_yield * w.t_years)
    disc_k = w.strike * np.exp(-w.rate * w.t_years)
    return sign * (disc_s * normal_cdf(sign * d1) - disc_k * normal_cdf(sign * d2))
