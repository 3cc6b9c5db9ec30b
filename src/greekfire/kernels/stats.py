"""Portfolio statistics of return and equity series: 1-D (one series) and 2-D (one per row).

Every 1-D kernel takes a float64 array of one series in time order; its ``*_2d`` twin takes a
C-contiguous float64 array of shape (n_series, n_periods), runs the rows in parallel (numba
``prange``) and returns one value (or one row) per series, equal bit for bit to the 1-D kernel
on that row. Scalar parameters come after the array; nothing is annualised behind the caller's
back: ``periods_per_year`` is always an explicit argument (252 for daily bars, 52 weekly, 12
monthly). Kernels never raise: a statistic that is undefined comes back as NaN (or +-inf where
the limit is meaningful, noted per kernel).

Conventions
-----------
- Returns are simple per-period returns as decimals (0.01 = 1 %); ``risk_free`` and
  ``target`` are per period too.
- NaN policy: a NaN marks a missing observation and is **skipped**. Statistics use only the
  non-NaN returns (``n`` below counts them), so inserting NaNs anywhere never changes a
  statistic. Element-wise outputs (returns, cumulative returns) hold NaN at a NaN input and
  carry their running state across it; a price after a gap is compared with the last valid
  price. +-inf is not skipped and propagates.
- Standard deviation: the sample estimate (ddof=1), as pandas and backtesting.py use, for the
  volatility, the Sharpe ratio, the mean/variance Kelly fraction and the Gaussian VaR. The
  Sortino downside deviation is sqrt(mean(min(r - target, 0)^2)) over all n periods (Sortino
  & Price 1994), not a sample estimate.
- Drawdowns are fractions <= 0 (-0.25 is a 25 % fall from the running peak). VaR and CVaR are
  returns, so a loss is negative (-0.02: the worst 5 % of periods lose 2 % or more).
- Cost: O(n), one pass per statistic (two for Calmar); mean and variance by Welford's update.
  The historical VaR selects its order statistic in a copy of the valid returns with Hoare's
  FIND (O(n) on average).
- Scalars are float64 (``periods_per_year=252.0``): an int compiles a second specialisation.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from greekfire.kernels._jit import njit, prange

__all__ = [
    "DRAWDOWN_FIELDS",
    "N_DRAWDOWN",
    "N_SUMMARY",
    "SUMMARY_FIELDS",
    "cagr",
    "cagr_2d",
    "calmar",
    "calmar_2d",
    "cumulative_returns",
    "cumulative_returns_2d",
    "downside_deviation",
    "exposure",
    "exposure_2d",
    "gaussian_var_cvar",
    "gaussian_var_cvar_2d",
    "historical_var_cvar",
    "historical_var_cvar_2d",
    "kelly_payoff",
    "kelly_returns",
    "kelly_returns_2d",
    "kelly_trades",
    "kelly_trades_2d",
    "log_returns",
    "log_returns_2d",
    "max_drawdown",
    "max_drawdown_2d",
    "norm_ppf",
    "sharpe",
    "sharpe_2d",
    "simple_returns",
    "simple_returns_2d",
    "sortino",
    "sortino_2d",
    "summary",
    "summary_2d",
    "total_return",
    "total_return_2d",
    "trade_stats",
    "trade_stats_2d",
    "vol_annual",
    "vol_annual_2d",
]

F64Array = npt.NDArray[np.float64]
I64Array = npt.NDArray[np.int64]

# The integer results of max_drawdown, in order (positions as described there).
DRAWDOWN_FIELDS = ("peak", "trough", "recovery", "duration", "longest", "longest_start")
# The rows summary() writes, in order.
SUMMARY_FIELDS = (
    "periods",
    "total_return",
    "cagr",
    "vol_annual",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "kelly",
    "var",
    "cvar",
    "var_gaussian",
    "cvar_gaussian",
    "win_rate",
    "profit_factor",
    "expectancy",
)

N_SUMMARY = len(SUMMARY_FIELDS)
N_DRAWDOWN = len(DRAWDOWN_FIELDS)
SQRT2 = 1.4142135623730951
SQRT_2PI = 2.5066282746310002


# ---------------------------------------------------------------------------------------------
# Returns


@njit()
def _returns_row(prices: F64Array, out: F64Array, log: bool) -> None:
    last = math.nan  # the last valid price; NaN before the first
    for i in range(prices.shape[0]):
        p = prices[i]
        if math.isnan(p) or (log and not p > 0.0):
            out[i] = math.nan
            continue
        ratio = p / last
        out[i] = (math.log(ratio) if last > 0.0 else math.nan) if log else ratio - 1.0
        last = p


@njit()
def simple_returns(prices: F64Array) -> F64Array:
    """Simple returns p[i] / p[j] - 1 of a price or equity series (float64, shape (n,)).

    ``j`` is the last valid position before ``i``, so a NaN price gives NaN at its position and
    the next return spans the gap. The output has the input's length; position 0 (and every
    position up to the first valid price) is NaN, like ``pandas.Series.pct_change``.
    """
    out = np.empty(prices.shape[0])
    _returns_row(prices, out, False)
    return out


@njit()
def log_returns(prices: F64Array) -> F64Array:
    """Log returns ln(p[i] / p[j]) (float64, shape (n,)); gaps as :func:`simple_returns`.

    A price <= 0 has no logarithm: it gets NaN and is skipped like a missing price.
    """
    out = np.empty(prices.shape[0])
    _returns_row(prices, out, True)
    return out


@njit()
def _cumulative_row(returns: F64Array, out: F64Array) -> None:
    wealth = 1.0
    for i in range(returns.shape[0]):
        r = returns[i]
        if math.isnan(r):
            out[i] = math.nan
            continue
        wealth *= 1.0 + r
        out[i] = wealth - 1.0


@njit()
def cumulative_returns(returns: F64Array) -> F64Array:
    """Compounded return up to each period, prod(1 + r[:i+1]) - 1 (float64, shape (n,)).

    NaN where the return is NaN; the product skips it (as ``(1 + s).cumprod() - 1`` in pandas).
    """
    out = np.empty(returns.shape[0])
    _cumulative_row(returns, out)
    return out


# ---------------------------------------------------------------------------------------------
# Moments, growth, risk-adjusted ratios


@njit()
def _moments(x: F64Array) -> tuple[int, float, float]:
    # Welford's single pass: (count, mean, sum of squared deviations from the mean).
    n = 0
    mean = 0.0
    m2 = 0.0
    for i in range(x.shape[0]):
        v = x[i]
        if math.isnan(v):
            continue
        n += 1
        d = v - mean
        mean += d / n
        m2 += d * (v - mean)
    return n, mean, m2


# The formulas on (count, mean, m2), shared by the single kernels and summary(), which makes
# one pass for all of them and still agrees with each bit for bit.


@njit()
def _sample_std(n: int, m2: float) -> float:
    return math.sqrt(m2 / (n - 1)) if n > 1 else math.nan


@njit()
def _sharpe_of(n: int, mean: float, m2: float, risk_free: float, periods_per_year: float) -> float:
    return (mean - risk_free) / _sample_std(n, m2) * math.sqrt(periods_per_year)


@njit()
def _kelly_of(n: int, mean: float, m2: float, risk_free: float, cap: float) -> float:
    var = m2 / (n - 1) if n > 1 else math.nan
    return _capped((mean - risk_free) / var, cap)


@njit()
def _gaussian_of(n: int, mean: float, m2: float, confidence: float) -> tuple[float, float]:
    alpha = 1.0 - confidence
    sd = _sample_std(n, m2)
    z = norm_ppf(alpha)
    pdf = math.exp(-0.5 * z * z) / SQRT_2PI
    return mean + sd * z, mean - sd * pdf / alpha


@njit()
def _growth(returns: F64Array) -> tuple[int, float]:
    # (count, prod(1 + r)) over the valid returns.
    n = 0
    growth = 1.0
    for i in range(returns.shape[0]):
        r = returns[i]
        if math.isnan(r):
            continue
        n += 1
        growth *= 1.0 + r
    return n, growth


@njit()
def _annualise(n: int, growth: float, periods_per_year: float) -> float:
    # growth ** (1 / years) - 1; a growth < 0 (a loss beyond 100 %) has no real root.
    if n == 0 or not growth >= 0.0:
        return math.nan
    return math.pow(growth, periods_per_year / n) - 1.0


@njit()
def total_return(returns: F64Array) -> float:
    """Compounded return over the series, prod(1 + r) - 1; NaN if no return is valid."""
    n, growth = _growth(returns)
    return growth - 1.0 if n > 0 else math.nan


@njit()
def cagr(returns: F64Array, periods_per_year: float) -> float:
    """Compound annual growth rate: prod(1 + r) ** (periods_per_year / n) - 1.

    ``n`` valid returns span n / periods_per_year years. -1 after a total loss; NaN if the
    compounded growth is negative or no return is valid.
    """
    n, growth = _growth(returns)
    return _annualise(n, growth, periods_per_year)


@njit()
def vol_annual(returns: F64Array, periods_per_year: float) -> float:
    """Annualised volatility: sample standard deviation (ddof=1) * sqrt(periods_per_year).

    NaN with fewer than two valid returns.
    """
    n, _, m2 = _moments(returns)
    return _sample_std(n, m2) * math.sqrt(periods_per_year)


@njit()
def sharpe(returns: F64Array, risk_free: float, periods_per_year: float) -> float:
    """Annualised Sharpe ratio: mean(r - rf) / std(r - rf, ddof=1) * sqrt(periods_per_year).

    ``risk_free`` is the per-period rate. +-inf when the returns are constant and differ from
    ``risk_free``; NaN with fewer than two valid returns.
    """
    n, mean, m2 = _moments(returns)
    return _sharpe_of(n, mean, m2, risk_free, periods_per_year)


@njit()
def _downside(returns: F64Array, target: float) -> tuple[int, float, float]:
    # (count, mean excess over target, mean squared shortfall below target).
    n = 0
    total = 0.0
    short2 = 0.0
    for i in range(returns.shape[0]):
        r = returns[i]
        if math.isnan(r):
            continue
        n += 1
        d = r - target
        total += d
        if d < 0.0:
            short2 += d * d
    if n == 0:
        return 0, math.nan, math.nan
    return n, total / n, short2 / n


@njit()
def downside_deviation(returns: F64Array, target: float) -> float:
    """Per-period downside deviation sqrt(mean(min(r - target, 0)^2)) over all n periods."""
    return math.sqrt(_downside(returns, target)[2])


@njit()
def sortino(returns: F64Array, target: float, periods_per_year: float) -> float:
    """Annualised Sortino ratio: mean(r - target) / downside deviation * sqrt(periods_per_year).

    The downside deviation is sqrt(mean(min(r - target, 0)^2)) over all n valid periods (Sortino
    & Price 1994; backtesting.py with target 0). ``target`` is per period. +inf when no return
    falls below the target and the mean excess is positive; NaN if no return is valid.
    """
    _, mean, short2 = _downside(returns, target)
    return mean / math.sqrt(short2) * math.sqrt(periods_per_year)


# ---------------------------------------------------------------------------------------------
# Drawdowns


@njit()
def _drawdown_scan(x: F64Array, from_returns: bool) -> tuple[float, int, int, int, int, int, int]:
    # Positions count levels: x itself, or the wealth 1, 1 + r0, (1 + r0)(1 + r1), ...
    offset = 1 if from_returns else 0
    wealth = 1.0
    peak_val = 1.0 if from_returns else -math.inf
    peak = 0 if from_returns else -1
    last = peak  # last valid position
    under = False
    depth = 0.0
    best_peak, trough, recovery = -1, -1, -1
    longest, longest_start = 0, -1
    for i in range(x.shape[0]):
        v = x[i]
        if math.isnan(v):
            continue
        if from_returns:
            wealth *= 1.0 + v
            v = wealth
        last = i + offset
        if v >= peak_val:  # a new high, or back to the old one: the episode ends here
            if under and last - peak > longest:
                longest, longest_start = last - peak, peak
            if under and best_peak == peak:
                recovery = last
            under = False
            peak_val, peak = v, last
        else:
            under = True
            dd = v / peak_val - 1.0
            if dd < depth:
                depth, best_peak, trough, recovery = dd, peak, last, -1
    if under and last - peak > longest:
        longest, longest_start = last - peak, peak
    end = recovery if recovery >= 0 else last
    duration = end - best_peak if best_peak >= 0 else 0
    return depth, best_peak, trough, recovery, duration, longest, longest_start


@njit()
def max_drawdown(x: F64Array, from_returns: bool) -> tuple[float, int, int, int, int, int, int]:
    """Maximum drawdown of an equity series (``from_returns=False``) or of a return series.

    Returns ``(depth, peak, trough, recovery, duration, longest, longest_start)``:

    - depth: min over t of level[t] / max(level[:t+1]) - 1, a fraction <= 0;
    - peak, trough: positions of the running high before the deepest drawdown (the latest
      position at that high) and of its deepest point (the first, if tied);
    - recovery: first position after the trough back at or above the peak level, -1 if never;
    - duration: recovery - peak, or (last valid position - peak) if not recovered;
    - longest, longest_start: the longest spell under water in periods (as backtesting.py's
      "Max. Drawdown Duration"; up to the last valid position if still under water) and the
      position of its peak.

    Positions index the levels. For ``from_returns=True`` the levels are the wealth
    1, (1 + r0), (1 + r0)(1 + r1), ...: n + 1 positions, position k being the wealth after the
    first k returns. Without a drawdown depth is 0, the positions -1 and the durations 0.
    NaN levels (or returns) are skipped; durations count the periods they span.
    """
    return _drawdown_scan(x, from_returns)


@njit()
def _store_drawdown(res: tuple[float, int, int, int, int, int, int], out: I64Array) -> None:
    # A heterogeneous tuple cannot be indexed by a loop variable in numba.
    out[0], out[1], out[2], out[3], out[4], out[5] = res[1], res[2], res[3], res[4], res[5], res[6]


@njit()
def calmar(returns: F64Array, periods_per_year: float) -> float:
    """Calmar ratio: :func:`cagr` / |maximum drawdown| of the compounded returns.

    +inf (or NaN for a CAGR of 0) without a drawdown.
    """
    depth = _drawdown_scan(returns, True)[0]
    return cagr(returns, periods_per_year) / abs(depth)


# ---------------------------------------------------------------------------------------------
# Kelly, trade statistics, exposure


@njit()
def _capped(f: float, cap: float) -> float:
    return cap if f > cap else f


@njit()
def kelly_returns(returns: F64Array, risk_free: float, cap: float) -> float:
    """Kelly fraction of a return stream, mean(r - rf) / var(r, ddof=1), at most ``cap``.

    The continuous-time (mean/variance) form: the leverage that maximises the expected log
    growth. Negative values (a negative edge: hold nothing) are returned uncapped; NaN with
    fewer than two valid returns.
    """
    n, mean, m2 = _moments(returns)
    return _kelly_of(n, mean, m2, risk_free, cap)


@njit()
def kelly_payoff(win_rate: float, payoff_ratio: float, cap: float) -> float:
    """Kelly fraction of a repeated bet, p - (1 - p) / b, at most ``cap``.

    ``win_rate`` p is the probability of a win and ``payoff_ratio`` b the average win over the
    average loss (both as positive amounts). Negative values are returned uncapped.
    """
    if win_rate >= 1.0:
        return _capped(1.0, cap)
    return _capped(win_rate - (1.0 - win_rate) / payoff_ratio, cap)


@njit()
def _trade_sums(pnl: F64Array) -> tuple[int, int, int, float, float]:
    # (count, wins, losses, sum of wins, sum of |losses|); a zero is neither a win nor a loss.
    n, wins, losses = 0, 0, 0
    gain, loss = 0.0, 0.0
    for i in range(pnl.shape[0]):
        v = pnl[i]
        if math.isnan(v):
            continue
        n += 1
        if v > 0.0:
            wins += 1
            gain += v
        elif v < 0.0:
            losses += 1
            loss -= v
    return n, wins, losses, gain, loss


@njit()
def kelly_trades(pnl: F64Array, cap: float) -> float:
    """Kelly fraction p - (1 - p) / b from trade results (P&L or returns per trade).

    p = wins / n (zero results count as not winning, as in backtesting.py), b = mean win /
    mean |loss|. Without losses b = inf and the fraction is p; without wins it is -inf. At
    most ``cap``; NaN without trades.
    """
    n, wins, losses, gain, loss = _trade_sums(pnl)
    if n == 0:
        return math.nan
    if wins == 0:
        return -math.inf
    if losses == 0:
        return _capped(wins / n, cap)
    return kelly_payoff(wins / n, (gain / wins) / (loss / losses), cap)


@njit()
def trade_stats(pnl: F64Array) -> tuple[float, float, float]:
    """``(win_rate, profit_factor, expectancy)`` of trade results or period returns.

    win rate = share of valid values > 0; profit factor = sum of gains / sum of |losses| (+inf
    without losses, NaN with neither); expectancy = p * mean win - (1 - p) * mean loss over
    the valid values, which equals their mean. All NaN if no value is valid.
    """
    n, wins, _, gain, loss = _trade_sums(pnl)
    if n == 0:
        return math.nan, math.nan, math.nan
    return wins / n, gain / loss, (gain - loss) / n


@njit()
def exposure(position: F64Array) -> float:
    """Share of periods with a non-zero position (long or short); NaN positions are skipped."""
    n = 0
    active = 0
    for i in range(position.shape[0]):
        v = position[i]
        if math.isnan(v):
            continue
        n += 1
        if v != 0.0:
            active += 1
    return active / n if n > 0 else math.nan


# ---------------------------------------------------------------------------------------------
# Value at risk


@njit()
def norm_ppf(p: float) -> float:
    """Inverse of the standard normal distribution function, to a few ulps (1e-16 absolute
    near p = 1/2, where the residual Phi(x) - p cancels).

    Starts from Abramowitz & Stegun 26.2.23 (error < 4.5e-4) and takes three Halley steps on
    Phi(x) = p, evaluated in the lower tail with ``math.erfc``. NaN outside (0, 1).
    """
    if not (0.0 < p < 1.0):
        return math.nan
    q = p if p < 0.5 else 1.0 - p  # exact for p >= 0.5
    t = math.sqrt(-2.0 * math.log(q))
    x = -(
        t
        - (2.515517 + t * (0.802853 + t * 0.010328))
        / (1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308)))
    )
    for _ in range(3):
        u = (0.5 * math.erfc(-x / SQRT2) - q) * SQRT_2PI * math.exp(0.5 * x * x)
        x -= u / (1.0 + 0.5 * x * u)
    return x if p < 0.5 else -x


@njit()
def _select(a: F64Array, k: int) -> None:
    # Hoare's FIND: reorder a in place so that a[:k] <= a[k] <= a[k+1:]; O(n) on average.
    # Compiles in a fraction of a second, np.partition in several.
    lo, hi = 0, a.shape[0] - 1
    while lo < hi:
        x, y, z = a[lo], a[(lo + hi) // 2], a[hi]
        pivot = max(min(x, y), min(max(x, y), z))  # median of three
        i, j = lo, hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return


@njit()
def historical_var_cvar(returns: F64Array, confidence: float) -> tuple[float, float]:
    """Historical value at risk and expected shortfall at ``confidence`` (e.g. 0.95).

    VaR is the (1 - confidence) quantile of the valid returns, interpolated linearly between
    order statistics (numpy's default quantile method); CVaR is the mean of the returns at or
    below it. Both are returns, negative for losses. NaN if no return is valid or confidence is
    outside (0, 1).
    """
    alpha = 1.0 - confidence
    valid = np.empty(returns.shape[0])
    m = 0
    for i in range(returns.shape[0]):
        if not math.isnan(returns[i]):
            valid[m] = returns[i]
            m += 1
    if m == 0 or not (0.0 < alpha < 1.0):
        return math.nan, math.nan
    h = (m - 1) * alpha
    k = int(h)
    part = valid[:m]
    _select(part, k)
    lo = part[k]
    hi = part[k + 1 :].min() if k + 1 < m else lo
    t = h - k
    var = lo + (hi - lo) * t if t < 0.5 else hi - (hi - lo) * (1.0 - t)
    total = 0.0
    count = 0
    for i in range(m):
        if part[i] <= var:
            total += part[i]
            count += 1
    return var, total / count


@njit()
def gaussian_var_cvar(returns: F64Array, confidence: float) -> tuple[float, float]:
    """Value at risk and expected shortfall of a normal fit (mean, sample std with ddof=1).

    With a = 1 - confidence and z = Phi^-1(a): VaR = mu + sigma z and CVaR = mu - sigma
    phi(z) / a. Per period, negative for losses. NaN with fewer than two valid returns or
    confidence outside (0, 1).
    """
    n, mean, m2 = _moments(returns)
    return _gaussian_of(n, mean, m2, confidence)


# ---------------------------------------------------------------------------------------------
# All at once


@njit()
def summary(
    x: F64Array,
    is_equity: bool,
    risk_free: float,
    periods_per_year: float,
    confidence: float,
    cap: float,
    out: F64Array,
    out_drawdown: I64Array,
) -> None:
    """Every statistic of one series into ``out`` (float64, ``len(SUMMARY_FIELDS)``).

    ``x`` holds returns, or equity levels if ``is_equity`` (their simple returns are used, and
    the drawdown positions index ``x``). ``risk_free`` (per period) is the Sharpe and Kelly
    risk-free rate and the Sortino target. ``out_drawdown`` (int64, 6) receives the integer
    results of :func:`max_drawdown` in ``DRAWDOWN_FIELDS`` order; ``out[7]`` its depth.
    """
    r = simple_returns(x) if is_equity else x
    n, growth = _growth(r)
    n, mean, m2 = _moments(r)
    dd = _drawdown_scan(x, not is_equity)
    var, cvar = historical_var_cvar(r, confidence)
    var_g, cvar_g = _gaussian_of(n, mean, m2, confidence)
    wins, profit, expect = trade_stats(r)
    growth_rate = _annualise(n, growth, periods_per_year)
    out[0] = n
    out[1] = growth - 1.0 if n > 0 else math.nan
    out[2] = growth_rate
    out[3] = _sample_std(n, m2) * math.sqrt(periods_per_year)
    out[4] = _sharpe_of(n, mean, m2, risk_free, periods_per_year)
    out[5] = sortino(r, risk_free, periods_per_year)
    out[6] = growth_rate / abs(dd[0])
    out[7] = dd[0]
    out[8] = _kelly_of(n, mean, m2, risk_free, cap)
    out[9] = var
    out[10] = cvar
    out[11] = var_g
    out[12] = cvar_g
    out[13] = wins
    out[14] = profit
    out[15] = expect
    _store_drawdown(dd, out_drawdown)


# ---------------------------------------------------------------------------------------------
# 2-D: one series per row, rows in parallel


@njit(parallel=True)
def simple_returns_2d(prices: F64Array) -> F64Array:
    """:func:`simple_returns` of each row (float64, shape (m, n) in and out)."""
    out = np.empty(prices.shape)
    for i in prange(prices.shape[0]):
        _returns_row(prices[i], out[i], False)
    return out


@njit(parallel=True)
def log_returns_2d(prices: F64Array) -> F64Array:
    """:func:`log_returns` of each row (float64, shape (m, n) in and out)."""
    out = np.empty(prices.shape)
    for i in prange(prices.shape[0]):
        _returns_row(prices[i], out[i], True)
    return out


@njit(parallel=True)
def cumulative_returns_2d(returns: F64Array) -> F64Array:
    """:func:`cumulative_returns` of each row (float64, shape (m, n) in and out)."""
    out = np.empty(returns.shape)
    for i in prange(returns.shape[0]):
        _cumulative_row(returns[i], out[i])
    return out


@njit(parallel=True)
def total_return_2d(returns: F64Array) -> F64Array:
    """:func:`total_return` of each row (float64, (m, n) -> (m,))."""
    out = np.empty(returns.shape[0])
    for i in prange(returns.shape[0]):
        out[i] = total_return(returns[i])
    return out


@njit(parallel=True)
def cagr_2d(returns: F64Array, periods_per_year: float) -> F64Array:
    """:func:`cagr` of each row (float64, (m, n) -> (m,))."""
    out = np.empty(returns.shape[0])
    for i in prange(returns.shape[0]):
        out[i] = cagr(returns[i], periods_per_year)
    return out


@njit(parallel=True)
def vol_annual_2d(returns: F64Array, periods_per_year: float) -> F64Array:
    """:func:`vol_annual` of each row (float64, (m, n) -> (m,))."""
    out = np.empty(returns.shape[0])
    for i in prange(returns.shape[0]):
        out[i] = vol_annual(returns[i], periods_per_year)
    return out


@njit(parallel=True)
def sharpe_2d(returns: F64Array, risk_free: float, periods_per_year: float) -> F64Array:
    """:func:`sharpe` of each row (float64, (m, n) -> (m,))."""
    out = np.empty(returns.shape[0])
    for i in prange(returns.shape[0]):
        out[i] = sharpe(returns[i], risk_free, periods_per_year)
    return out


@njit(parallel=True)
def sortino_2d(returns: F64Array, target: float, periods_per_year: float) -> F64Array:
    """:func:`sortino` of each row (float64, (m, n) -> (m,))."""
    out = np.empty(returns.shape[0])
    for i in prange(returns.shape[0]):
        out[i] = sortino(returns[i], target, periods_per_year)
    return out


@njit(parallel=True)
def calmar_2d(returns: F64Array, periods_per_year: float) -> F64Array:
    """:func:`calmar` of each row (float64, (m, n) -> (m,))."""
    out = np.empty(returns.shape[0])
    for i in prange(returns.shape[0]):
        out[i] = calmar(returns[i], periods_per_year)
    return out


@njit(parallel=True)
def max_drawdown_2d(x: F64Array, from_returns: bool) -> tuple[F64Array, I64Array]:
    """:func:`max_drawdown` of each row: depths (float64, (m,)) and the integer results
    (int64, (m, 6), columns in ``DRAWDOWN_FIELDS`` order)."""
    depth = np.empty(x.shape[0])
    ints = np.empty((x.shape[0], N_DRAWDOWN), dtype=np.int64)
    for i in prange(x.shape[0]):
        res = _drawdown_scan(x[i], from_returns)
        depth[i] = res[0]
        _store_drawdown(res, ints[i])
    return depth, ints


@njit(parallel=True)
def kelly_returns_2d(returns: F64Array, risk_free: float, cap: float) -> F64Array:
    """:func:`kelly_returns` of each row (float64, (m, n) -> (m,))."""
    out = np.empty(returns.shape[0])
    for i in prange(returns.shape[0]):
        out[i] = kelly_returns(returns[i], risk_free, cap)
    return out


@njit(parallel=True)
def kelly_trades_2d(pnl: F64Array, cap: float) -> F64Array:
    """:func:`kelly_trades` of each row (float64, (m, n) -> (m,))."""
    out = np.empty(pnl.shape[0])
    for i in prange(pnl.shape[0]):
        out[i] = kelly_trades(pnl[i], cap)
    return out


@njit(parallel=True)
def trade_stats_2d(pnl: F64Array) -> F64Array:
    """:func:`trade_stats` of each row (float64, (m, n) -> (m, 3))."""
    out = np.empty((pnl.shape[0], 3))
    for i in prange(pnl.shape[0]):
        out[i, 0], out[i, 1], out[i, 2] = trade_stats(pnl[i])
    return out


@njit(parallel=True)
def exposure_2d(position: F64Array) -> F64Array:
    """:func:`exposure` of each row (float64, (m, n) -> (m,))."""
    out = np.empty(position.shape[0])
    for i in prange(position.shape[0]):
        out[i] = exposure(position[i])
    return out


@njit(parallel=True)
def historical_var_cvar_2d(returns: F64Array, confidence: float) -> F64Array:
    """:func:`historical_var_cvar` of each row (float64, (m, n) -> (m, 2): VaR, CVaR)."""
    out = np.empty((returns.shape[0], 2))
    for i in prange(returns.shape[0]):
        out[i, 0], out[i, 1] = historical_var_cvar(returns[i], confidence)
    return out


@njit(parallel=True)
def gaussian_var_cvar_2d(returns: F64Array, confidence: float) -> F64Array:
    """:func:`gaussian_var_cvar` of each row (float64, (m, n) -> (m, 2): VaR, CVaR)."""
    out = np.empty((returns.shape[0], 2))
    for i in prange(returns.shape[0]):
        out[i, 0], out[i, 1] = gaussian_var_cvar(returns[i], confidence)
    return out


@njit(parallel=True)
def summary_2d(
    x: F64Array,
    is_equity: bool,
    risk_free: float,
    periods_per_year: float,
    confidence: float,
    cap: float,
) -> tuple[F64Array, I64Array]:
    """:func:`summary` of each row: (float64 (m, len(SUMMARY_FIELDS)), int64 (m, 6))."""
    out = np.empty((x.shape[0], N_SUMMARY))
    out_drawdown = np.empty((x.shape[0], N_DRAWDOWN), dtype=np.int64)
    for i in prange(x.shape[0]):
        summary(
            x[i], is_equity, risk_free, periods_per_year, confidence, cap, out[i], out_drawdown[i]
        )
    return out, out_drawdown
