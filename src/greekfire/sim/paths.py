"""Correlated multi-asset price paths: GBM with Merton jumps and regime-switching volatility.

Model
-----
On a time grid ``t_0 = 0 < t_1 < ... < t_n`` (year fractions), with ``dt_k = t_{k+1} - t_k``,
symbol ``i`` moves over step ``k`` by the log return

.. math::

    r_{k,i} = (\\mu_i - \\lambda \\bar k - \\tfrac12 \\sigma_{k,i}^2)\\,dt_k
              + \\sigma_{k,i}\\sqrt{dt_k}\\,Z_{k,i}
              + \\sum_{j=1}^{N_{k,i}} Y_j,
    \\qquad S_{k+1,i} = S_{k,i}\\,e^{r_{k,i}} > 0,

- ``mu_i`` the annual drift, so that ``E[S_t] = S_0 exp(mu t)`` (the jump compensator
  ``lambda kbar`` with ``kbar = exp(m_J + s_J^2 / 2) - 1`` removes the jumps' mean);
- Merton jumps: ``N_{k,i} ~ Poisson(lambda dt_k)`` independent across symbols and steps,
  ``Y_j ~ N(m_J, s_J^2)`` (lognormal jump factors); the sum is drawn exactly as
  ``N m_J + sqrt(N) s_J Y'`` with ``Y' ~ N(0, 1)``;
- regime-switching volatility: a market-wide two-state Markov chain ``s_k`` (0 calm,
  1 stressed) with per-step transition probabilities ``p01`` (calm -> stressed) and ``p10``;
  ``sigma_{k,i} = vol_i`` when calm and ``vol_i * m`` when stressed. The chain starts from its
  stationary law ``P(stressed) = p01 / (p01 + p10)`` unless ``initial_regime`` is given. Given
  the regime path the step is exact (Gaussian), so the scheme has no discretisation error.
  Regime switching was chosen over Heston because it is exact on any grid and keeps every
  price strictly positive without truncation.
- correlation of the ``Z_{k,i}``: a float ``rho`` in ``[0, 1)`` is the one-factor model
  ``Z_i = sqrt(rho) M + sqrt(1 - rho) e_i`` (equicorrelation); a matrix ``C`` uses its
  Cholesky factor, ``Z = L e`` with ``C = L L^T``.

Determinism
-----------
Every random stream is a :class:`numpy.random.Generator` seeded by a
:class:`numpy.random.SeedSequence` with ``entropy=seed`` and a ``spawn_key`` naming what it
draws (:func:`stream`): per symbol (keyed by a stable 64-bit hash of the symbol's name, never
by its position) the diffusion shocks ``e``, the jump counts and the jump sizes; market-wide
the factor ``M`` and the regime chain. Each stream is drawn in time order, so

- the first ``k`` steps of a path do not depend on how many steps follow (prefix property);
- with a float correlation, a symbol's path depends only on the seed, its name and the grid,
  not on which other symbols are simulated beside it;
- with a correlation matrix, symbol ``i``'s path depends on the seed and the symbols
  ``0..i`` of the list (the Cholesky factor is lower triangular).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "JumpParams",
    "PricePaths",
    "RegimeParams",
    "random_correlation",
    "simulate_paths",
    "stream",
    "symbol_key",
]

# spawn-key tags of the random streams; bars.py uses tags from 100 up.
_DIFFUSION, _JUMP_COUNT, _JUMP_SIZE, _FACTOR, _REGIME = 1, 2, 3, 4, 5


def symbol_key(symbol: str) -> int:
    """A stable 63-bit key for ``symbol`` (BLAKE2b of its UTF-8 name), for ``spawn_key``."""
    digest = hashlib.blake2b(symbol.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def stream(seed: int, *key: int) -> np.random.Generator:
    """The random generator for ``(seed, *key)``: PCG64 seeded by
    ``SeedSequence(seed, spawn_key=key)``; equal arguments always give the same draws."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


@dataclass(frozen=True, slots=True)
class JumpParams:
    """Merton jumps: ``intensity_per_year`` (Poisson rate, >= 0) and the normal law of the log
    jump size, mean ``mean_log_size`` and standard deviation ``log_size_vol`` (>= 0)."""

    intensity_per_year: float = 0.0
    mean_log_size: float = 0.0
    log_size_vol: float = 0.0

    def __post_init__(self) -> None:
        _check_nonnegative("jumps.intensity_per_year", self.intensity_per_year)
        _check_finite("jumps.mean_log_size", self.mean_log_size)
        _check_nonnegative("jumps.log_size_vol", self.log_size_vol)

    @property
    def mean_jump_factor_minus_one(self) -> float:
        """``kbar = E[e^Y] - 1``, the compensator per jump."""
        return math.exp(self.mean_log_size + 0.5 * self.log_size_vol**2) - 1.0


@dataclass(frozen=True, slots=True)
class RegimeParams:
    """Two-state volatility regime: per-step probabilities ``p_calm_to_stressed`` and
    ``p_stressed_to_calm`` (in [0, 1]) and ``stressed_vol_multiplier`` (> 0) applied to every
    symbol's volatility while stressed. The defaults never leave the calm state."""

    p_calm_to_stressed: float = 0.0
    p_stressed_to_calm: float = 1.0
    stressed_vol_multiplier: float = 1.0

    def __post_init__(self) -> None:
        for name in ("p_calm_to_stressed", "p_stressed_to_calm"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"regime.{name}: expected a probability in [0, 1], got {value!r}")
        if not (math.isfinite(self.stressed_vol_multiplier) and self.stressed_vol_multiplier > 0):
            raise ValueError(
                "regime.stressed_vol_multiplier: expected a finite number > 0, "
                f"got {self.stressed_vol_multiplier!r}"
            )

    @property
    def stationary_stressed(self) -> float:
        """Long-run fraction of steps in the stressed state, ``p01 / (p01 + p10)``."""
        total = self.p_calm_to_stressed + self.p_stressed_to_calm
        return self.p_calm_to_stressed / total if total > 0 else 0.0


@dataclass(frozen=True, slots=True)
class PricePaths:
    """Simulated paths. Shapes: ``n`` steps, ``m`` symbols; float64 unless stated.

    Attributes
    ----------
    symbols : tuple of str
        Column order of every 2-D array.
    t_years : ndarray, shape (n + 1,)
        The grid.
    prices : ndarray, shape (n + 1, m)
        ``S``; row 0 is the start price; always > 0.
    log_returns : ndarray, shape (n, m)
        ``diffusion + jumps``.
    diffusion : ndarray, shape (n, m)
        Drift plus Gaussian part of each step's log return.
    jumps : ndarray, shape (n, m)
        Sum of the log jump sizes of each step (0 without a jump).
    jump_counts : ndarray of int64, shape (n, m)
        Number of jumps per step.
    step_vol : ndarray, shape (n, m)
        Standard deviation of the Gaussian part, ``sigma_{k,i} sqrt(dt_k)``.
    regimes : ndarray of int8, shape (n,)
        0 calm, 1 stressed, the state during each step.
    """

    symbols: tuple[str, ...]
    t_years: np.ndarray
    prices: np.ndarray
    log_returns: np.ndarray
    diffusion: np.ndarray
    jumps: np.ndarray
    jump_counts: np.ndarray
    step_vol: np.ndarray
    regimes: np.ndarray


def _check_finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")


def _check_nonnegative(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")


def _per_symbol(name: str, value: float | Sequence[float] | np.ndarray, m: int) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(m, float(arr))
    if arr.shape != (m,):
        raise ValueError(
            f"{name}: expected a number or {m} values (one per symbol), got {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: expected finite values, got {arr.tolist()!r}")
    return arr


def _check_grid(t_years: Sequence[float] | np.ndarray) -> np.ndarray:
    t = np.asarray(t_years, dtype=np.float64)
    if t.ndim != 1 or t.size < 1:
        raise ValueError(f"t_years: expected a 1-D grid with at least one point, got {t.shape}")
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise ValueError("t_years: expected finite, strictly increasing year fractions")
    return t


def _cholesky(correlation: np.ndarray, m: int) -> np.ndarray:
    c = np.asarray(correlation, dtype=np.float64)
    if c.shape != (m, m):
        raise ValueError(f"correlation: expected a {m}x{m} matrix, got shape {c.shape}")
    if not np.all(np.isfinite(c)) or not np.allclose(c, c.T, atol=1e-12):
        raise ValueError("correlation: expected a finite symmetric matrix")
    if not np.allclose(np.diag(c), 1.0, atol=1e-12) or np.any(np.abs(c) > 1.0 + 1e-12):
        raise ValueError("correlation: expected ones on the diagonal and entries in [-1, 1]")
    try:
        return np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        raise ValueError("correlation: matrix is not positive definite") from None


def _shocks(seed: int, keys: list[int], n: int, correlation: float | np.ndarray) -> np.ndarray:
    # Correlated standard normals, shape (m, n) (symbol-major), from time-ordered streams.
    e = np.empty((len(keys), n))
    for i, key in enumerate(keys):
        e[i] = stream(seed, _DIFFUSION, key).standard_normal(n)
    if isinstance(correlation, (int, float)):
        rho = float(correlation)
        if not 0.0 <= rho < 1.0:
            raise ValueError(
                f"correlation: a single number must be in [0, 1) (one-factor model), got {rho!r};"
                " pass a matrix for negative correlation"
            )
        if rho == 0.0:
            return e
        factor = stream(seed, _FACTOR).standard_normal(n)
        e *= math.sqrt(1.0 - rho)
        e += math.sqrt(rho) * factor[None, :]
        return e
    return _cholesky(np.asarray(correlation), len(keys)) @ e


def _regime_chain(seed: int, n: int, regime: RegimeParams, initial: int | None) -> np.ndarray:
    u = stream(seed, _REGIME).random(n + 1)
    if initial is None:
        state = int(u[0] < regime.stationary_stressed)
    elif initial in (0, 1):
        state = int(initial)
    else:
        raise ValueError(
            f"initial_regime: expected 0 (calm), 1 (stressed) or None, got {initial!r}"
        )
    out = np.empty(n, dtype=np.int8)
    leave = (regime.p_calm_to_stressed, regime.p_stressed_to_calm)
    for k, draw in enumerate(u[1:].tolist()):
        out[k] = state
        if draw < leave[state]:
            state = 1 - state
    return out


def _jumps(
    seed: int, keys: list[int], lam_dt: np.ndarray, jumps: JumpParams
) -> tuple[np.ndarray, np.ndarray]:
    # Jump counts and summed log sizes, shape (m, n).
    n, m = lam_dt.size, len(keys)
    counts = np.zeros((m, n), dtype=np.int64)
    sizes = np.zeros((m, n))
    if jumps.intensity_per_year == 0.0:
        return counts, sizes
    for i, key in enumerate(keys):
        counts[i] = stream(seed, _JUMP_COUNT, key).poisson(lam_dt)
        y = stream(seed, _JUMP_SIZE, key).standard_normal(n)
        sizes[i] = counts[i] * jumps.mean_log_size + np.sqrt(counts[i]) * jumps.log_size_vol * y
    return counts, sizes


def simulate_paths(
    symbols: Sequence[str],
    t_years: Sequence[float] | np.ndarray,
    *,
    seed: int = 0,
    start_price: float | Sequence[float] | np.ndarray = 100.0,
    drift_annual: float | Sequence[float] | np.ndarray = 0.0,
    vol_annual: float | Sequence[float] | np.ndarray = 0.2,
    correlation: float | np.ndarray = 0.0,
    jumps: JumpParams | None = None,
    regime: RegimeParams | None = None,
    initial_regime: int | None = None,
) -> PricePaths:
    """Simulate correlated jump-diffusion paths with regime-switching volatility.

    Parameters
    ----------
    symbols : sequence of str
        Unique names; each keys its own random streams.
    t_years : array_like, shape (n + 1,)
        Strictly increasing time grid in years; only the differences matter.
    seed : int
        Non-negative seed; the same arguments always give the same paths.
    start_price : float or array_like, shape (m,)
        Prices at ``t_years[0]``, > 0.
    drift_annual : float or array_like, shape (m,)
        Annual drift ``mu`` of the price (``E[S_t] = S_0 e^{mu t}``).
    vol_annual : float or array_like, shape (m,)
        Calm-regime annual volatility, >= 0.
    correlation : float or ndarray, shape (m, m)
        A float in ``[0, 1)`` (one-factor equicorrelation) or a positive-definite correlation
        matrix (see :func:`random_correlation`).
    jumps : JumpParams, optional
        Merton jumps; none by default.
    regime : RegimeParams, optional
        Volatility regimes; always calm by default.
    initial_regime : {0, 1, None}
        Regime of the first step; ``None`` draws it from the stationary law.

    Returns
    -------
    PricePaths

    Raises
    ------
    ValueError
        A bad parameter; the message names it.
    """
    names = [str(s) for s in symbols]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"symbols: expected a non-empty list of unique names, got {names!r}")
    if not (isinstance(seed, (int, np.integer)) and seed >= 0):
        raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
    t = _check_grid(t_years)
    m, dt = len(names), np.diff(t)
    s0 = _per_symbol("start_price", start_price, m)
    if np.any(s0 <= 0):
        raise ValueError(f"start_price: expected prices > 0, got {s0.tolist()!r}")
    mu = _per_symbol("drift_annual", drift_annual, m)
    vol = _per_symbol("vol_annual", vol_annual, m)
    if np.any(vol < 0):
        raise ValueError(f"vol_annual: expected volatilities >= 0, got {vol.tolist()!r}")
    jumps = jumps if jumps is not None else JumpParams()
    regime = regime if regime is not None else RegimeParams()

    keys = [symbol_key(s) for s in names]
    z = _shocks(int(seed), keys, dt.size, correlation)
    regimes = _regime_chain(int(seed), dt.size, regime, initial_regime)
    counts, sizes = _jumps(int(seed), keys, jumps.intensity_per_year * dt, jumps)

    # Work symbol-major (m, n) so each stream fills a contiguous row; return (n, m) views.
    multiplier = np.where(regimes == 1, regime.stressed_vol_multiplier, 1.0)
    sigma = vol[:, None] * multiplier[None, :]
    step_vol = sigma * np.sqrt(dt)[None, :]
    compensator = jumps.intensity_per_year * jumps.mean_jump_factor_minus_one
    diffusion = (mu[:, None] - compensator - 0.5 * sigma**2) * dt[None, :]
    diffusion += step_vol * z
    log_returns = diffusion + sizes
    log_prices = np.empty((m, dt.size + 1))
    log_prices[:, 0] = np.log(s0)
    np.cumsum(log_returns, axis=1, out=log_prices[:, 1:])
    log_prices[:, 1:] += log_prices[:, :1]
    prices = np.exp(log_prices)
    prices[:, 0] = s0  # exactly, not exp(log(s0))
    return PricePaths(
        symbols=tuple(names),
        t_years=t,
        prices=prices.T,
        log_returns=log_returns.T,
        diffusion=diffusion.T,
        jumps=sizes.T,
        jump_counts=counts.T,
        step_vol=step_vol.T,
        regimes=regimes,
    )


def random_correlation(n_symbols: int, *, seed: int = 0) -> np.ndarray:
    """A random positive-definite correlation matrix with a stock-market look.

    Two factors: a market loading in ``[0.35, 0.75]`` and a signed sector-like loading in
    ``[-0.3, 0.3]`` per symbol; ``C = B B^T`` with the diagonal topped up to 1 by an
    idiosyncratic share >= 0.35, so ``C`` is positive definite (pairwise correlations roughly
    0.03-0.65, mean about 0.3).

    Parameters
    ----------
    n_symbols : int
        Size, >= 1.
    seed : int
        Seed of the loadings.

    Returns
    -------
    ndarray, shape (n_symbols, n_symbols)
    """
    if n_symbols < 1:
        raise ValueError(f"n_symbols: expected >= 1, got {n_symbols!r}")
    gen = stream(seed, 6)
    loadings = np.column_stack(
        [gen.uniform(0.35, 0.75, n_symbols), gen.uniform(-0.3, 0.3, n_symbols)]
    )
    c = loadings @ loadings.T
    np.fill_diagonal(c, 1.0)
    return c
