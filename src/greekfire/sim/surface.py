"""An arbitrage-free implied-volatility surface for the synthetic market (SSVI).

Model
-----
Total implied variance ``w(k, T) = vol(k, T)**2 * T`` at log-moneyness ``k = ln(K / F)`` follows
the *surface SVI* (SSVI) of Gatheral and Jacquier (2014, "Arbitrage-free SVI volatility
surfaces", Quantitative Finance 14(1)):

    w(k, T) = theta / 2 * (1 + rho * phi * k + sqrt((phi * k + rho)**2 + 1 - rho**2))

with ``theta = theta(T)`` the at-the-money total variance and ``phi = phi(theta)`` the smile
curvature. Every expiry slice is a raw SVI smile
``w(k) = a + b * (rho * (k - m) + sqrt((k - m)**2 + sigma**2))`` with
``a = theta (1 - rho**2) / 2``, ``b = theta phi / 2``, ``m = -rho / phi`` and
``sigma = sqrt(1 - rho**2) / phi`` (see :meth:`VolSurface.svi_slice`).

Term structure (level and slope): the ATM variance relaxes from ``atm_vol**2`` at the short end
to ``(atm_vol + term_slope)**2`` over ``term_scale_years`` (the expected average variance of a
mean-reverting variance process), so ``theta(T)`` is strictly increasing for any valid input:

    theta(T) = v_long * T + (v_short - v_long) * tau * (1 - exp(-T / tau))

Smile (skew, convexity and short-dated steepening): ``rho = skew`` (negative: the equity put
skew) and the power law ``phi(theta) = eta / (theta**gamma * (1 + theta)**(1 - gamma))`` with
``eta = convexity`` and ``gamma = short_end_power``. The ATM skew then grows like ``T**-gamma``
as the expiry shortens, as observed on equity indices.

No static arbitrage: with ``theta`` increasing, ``0 < gamma <= 1/2`` and
``eta * (1 + |rho|) <= 2`` the surface has no calendar-spread arbitrage (total variance
non-decreasing in ``T`` at fixed ``k``) and no butterfly arbitrage (Durrleman's ``g(k) >= 0`` on
every slice) -- Gatheral and Jacquier, Theorem 4.1, Corollary 4.1 and Remark 4.4. These are the
parameter ranges :class:`VolSurface` accepts; anything else raises ``ValueError`` naming the
parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["RawSVI", "VolSurface"]

F64Array = npt.NDArray[np.float64]


def _finite(name: str, value: float) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class RawSVI:
    """One expiry's smile in Gatheral's raw SVI form, as total variance in log-moneyness.

    ``w(k) = a + b * (rho * (k - m) + sqrt((k - m)**2 + sigma**2))``.

    Parameters
    ----------
    a : float
        Variance level; ``a + b * sigma * sqrt(1 - rho**2) >= 0`` (the minimum of ``w``).
    b : float
        Wing slope, >= 0.
    rho : float
        Rotation (skew), in (-1, 1).
    m : float
        Horizontal shift of the smile's vertex.
    sigma : float
        ATM curvature, > 0.

    Raises
    ------
    ValueError
        Naming the first parameter outside its range.
    """

    a: float
    b: float
    rho: float
    m: float
    sigma: float

    def __post_init__(self) -> None:
        for name in ("a", "b", "rho", "m", "sigma"):
            _finite(name, getattr(self, name))
        if self.b < 0.0:
            raise ValueError(f"b: expected >= 0, got {self.b!r}")
        if not -1.0 < self.rho < 1.0:
            raise ValueError(f"rho: expected a number in (-1, 1), got {self.rho!r}")
        if self.sigma <= 0.0:
            raise ValueError(f"sigma: expected > 0, got {self.sigma!r}")
        floor = self.a + self.b * self.sigma * math.sqrt(1.0 - self.rho**2)
        if floor < -1e-15:
            raise ValueError(
                f"a: the minimum total variance a + b*sigma*sqrt(1 - rho**2) must be >= 0,"
                f" got {floor!r}"
            )

    def total_variance(self, log_moneyness: Any) -> F64Array:
        """Total implied variance ``w(k)`` (float64 array of the input's shape)."""
        x = np.asarray(log_moneyness, dtype=np.float64) - self.m
        return self.a + self.b * (self.rho * x + np.sqrt(x * x + self.sigma**2))

    def butterfly_g(self, log_moneyness: Any) -> F64Array:
        """Durrleman's function ``g(k)``; the slice is free of butterfly arbitrage iff g >= 0.

        ``g = (1 - k w' / (2 w))**2 - w'**2 / 4 * (1 / w + 1 / 4) + w'' / 2`` (Gatheral and
        Jacquier 2014, eq. 2.1): ``g / sqrt(2 pi w)`` times a positive factor is the density
        the call prices imply.
        """
        k = np.asarray(log_moneyness, dtype=np.float64)
        x = k - self.m
        root = np.sqrt(x * x + self.sigma**2)
        w = self.a + self.b * (self.rho * x + root)
        w1 = self.b * (self.rho + x / root)
        w2 = self.b * self.sigma**2 / root**3
        result: F64Array = (
            (1.0 - k * w1 / (2.0 * w)) ** 2 - w1**2 / 4.0 * (1.0 / w + 0.25) + w2 / 2.0
        )
        return result


@dataclass(frozen=True, slots=True)
class VolSurface:
    """Implied-volatility surface: an SSVI smile per expiry on an increasing ATM term structure.

    Parameters
    ----------
    atm_vol : float, default 0.18
        At-the-money implied vol at the short end (T -> 0), annualised decimal, in (0, 5].
    term_slope : float, default 0.03
        Long-dated ATM vol minus ``atm_vol`` (positive: an upward-sloping term structure);
        ``atm_vol + term_slope`` must be in (0, 5].
    term_scale_years : float, default 0.5
        Time scale over which the ATM vol moves from the short to the long level, > 0.
    skew : float, default -0.7
        SSVI ``rho``, the correlation-like smile rotation, in (-1, 1); negative puts the
        higher vols on the downside strikes (equity put skew).
    convexity : float, default 1.0
        SSVI ``eta``, the smile's overall curvature, > 0 with
        ``convexity * (1 + |skew|) <= 2`` (the no-butterfly-arbitrage bound).
    short_end_power : float, default 0.45
        SSVI ``gamma`` in (0, 0.5]: the ATM skew grows like ``T**-short_end_power`` for short
        expiries (0.5 is the steepest allowed).

    Raises
    ------
    ValueError
        Naming the parameter outside the ranges above, the ranges for which the surface is
        provably free of static arbitrage.

    Examples
    --------
    >>> surface = VolSurface()
    >>> bool(surface.implied_vol(90.0, 0.25, 100.0) > surface.implied_vol(110.0, 0.25, 100.0))
    True
    """

    atm_vol: float = 0.18
    term_slope: float = 0.03
    term_scale_years: float = 0.5
    skew: float = -0.7
    convexity: float = 1.0
    short_end_power: float = 0.45

    def __post_init__(self) -> None:
        _check_range("atm_vol", self.atm_vol, 0.0, 5.0, low_open=True)
        long_vol = _finite("term_slope", self.term_slope) + self.atm_vol
        if not 0.0 < long_vol <= 5.0:
            raise ValueError(
                f"term_slope: expected atm_vol + term_slope (the long-dated ATM vol) in (0, 5],"
                f" got {long_vol!r}"
            )
        _check_range("term_scale_years", self.term_scale_years, 0.0, math.inf, low_open=True)
        _check_range("skew", self.skew, -1.0, 1.0, low_open=True, high_open=True)
        _check_range("convexity", self.convexity, 0.0, math.inf, low_open=True)
        if self.convexity * (1.0 + abs(self.skew)) > 2.0:
            bound = 2.0 / (1.0 + abs(self.skew))
            raise ValueError(
                f"convexity: expected convexity * (1 + |skew|) <= 2 (no butterfly arbitrage),"
                f" i.e. <= {bound:.6g} for skew={self.skew!r}, got {self.convexity!r}"
            )
        _check_range("short_end_power", self.short_end_power, 0.0, 0.5, low_open=True)

    @property
    def long_vol(self) -> float:
        """The long-dated ATM vol, ``atm_vol + term_slope``."""
        return self.atm_vol + self.term_slope

    def atm_total_variance(self, t_years: Any) -> F64Array:
        """ATM total variance ``theta(T)``, strictly increasing in ``T``; NaN where T < 0."""
        t = np.asarray(t_years, dtype=np.float64)
        tau = self.term_scale_years
        v_short, v_long = self.atm_vol**2, self.long_vol**2
        theta = v_long * t - (v_short - v_long) * tau * np.expm1(-t / tau)
        return np.where(t >= 0.0, theta, np.nan)

    def atm_vol_at(self, t_years: Any) -> F64Array:
        """ATM implied vol ``sqrt(theta(T) / T)`` for ``T > 0`` (``atm_vol`` at T = 0)."""
        t = np.asarray(t_years, dtype=np.float64)
        theta = self.atm_total_variance(t)
        with np.errstate(divide="ignore", invalid="ignore"):
            vol = np.sqrt(theta / t)
        return np.where(t == 0.0, self.atm_vol, vol)

    def _phi(self, theta: F64Array) -> F64Array:
        gamma = self.short_end_power
        result: F64Array = self.convexity / (theta**gamma * (1.0 + theta) ** (1.0 - gamma))
        return result

    def total_variance(self, log_moneyness: Any, t_years: Any) -> F64Array:
        """Total implied variance ``w(k, T)``, broadcast; NaN where ``T <= 0`` or k is NaN."""
        k = np.asarray(log_moneyness, dtype=np.float64)
        t = np.asarray(t_years, dtype=np.float64)
        theta = self.atm_total_variance(np.where(t > 0.0, t, np.nan))
        phi = self._phi(theta)
        rho = self.skew
        return theta / 2.0 * (1.0 + rho * phi * k + np.sqrt((phi * k + rho) ** 2 + 1.0 - rho**2))

    def implied_vol(self, strike: Any, t_years: Any, forward: Any) -> Any:
        """Black implied volatility at ``strike`` for expiry ``t_years`` and ``forward``.

        Parameters
        ----------
        strike, t_years, forward : float or array-like
            Broadcast together. ``forward`` is the expiry's forward price
            ``spot * exp((rate - dividend_yield) * t_years)``.

        Returns
        -------
        float or ndarray of float64
            Annualised vol, ``sqrt(w(ln(strike / forward), t_years) / t_years)``; a float for
            scalar inputs. NaN where ``strike <= 0``, ``forward <= 0``, ``t_years <= 0`` or an
            input is NaN (never raises per element).
        """
        k_arr, t_arr, f_arr = np.broadcast_arrays(
            np.asarray(strike, dtype=np.float64),
            np.asarray(t_years, dtype=np.float64),
            np.asarray(forward, dtype=np.float64),
        )
        valid = (k_arr > 0.0) & (f_arr > 0.0) & (t_arr > 0.0)
        k_safe = np.where(valid, k_arr, 1.0)
        f_safe = np.where(valid, f_arr, 1.0)
        t_safe = np.where(valid, t_arr, 1.0)
        w = self.total_variance(np.log(k_safe / f_safe), t_safe)
        vol = np.where(valid, np.sqrt(w / t_safe), np.nan)
        return vol.item() if vol.ndim == 0 else vol

    def svi_slice(self, t_years: float) -> RawSVI:
        """The expiry ``t_years`` (> 0) as raw SVI parameters ``(a, b, rho, m, sigma)``."""
        t = _finite("t_years", t_years)
        if t <= 0.0:
            raise ValueError(f"t_years: expected > 0, got {t_years!r}")
        theta = float(self.atm_total_variance(t))
        phi = float(self._phi(np.asarray(theta)))
        rho = self.skew
        return RawSVI(
            a=theta * (1.0 - rho**2) / 2.0,
            b=theta * phi / 2.0,
            rho=rho,
            m=-rho / phi,
            sigma=math.sqrt(1.0 - rho**2) / phi,
        )


def _check_range(
    name: str,
    value: float,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    number = _finite(name, value)
    too_low = number <= low if low_open else number < low
    too_high = number >= high if high_open else number > high
    if too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise ValueError(f"{name}: expected a number in {left}{low}, {high}{right}, got {value!r}")
