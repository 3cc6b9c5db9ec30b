"""Portfolio statistics kernels against plain numpy/pandas/scipy formulas, hand cases, NaN policy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from scipy.special import ndtri

from greekfire.kernels import stats

PPY = 252.0
RTOL = 1e-10
nan = math.nan
inf = math.inf


def _series(seed: int, n: int, nan_share: float) -> np.ndarray:
    # Returns with a random drift and volatility, NaN in a share of the periods, >= 2 valid.
    rng = np.random.default_rng(seed)
    r = rng.normal(rng.uniform(-0.003, 0.003), rng.uniform(0.001, 0.05), n)
    gaps = rng.random(n) < nan_share
    gaps[rng.choice(n, 2, replace=False)] = False
    r[gaps] = nan
    return r


series = st.builds(
    _series,
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 300),
    nan_share=st.sampled_from([0.0, 0.0, 0.1, 0.6]),
)
fast = settings(max_examples=150, deadline=None)


def _valid(x: np.ndarray) -> np.ndarray:
    return x[~np.isnan(x)]


# ---------------------------------------------------------------------------------------------
# Reference formulas: the textbook definition in numpy/pandas, on the non-NaN values


def ref_cagr(r: np.ndarray, ppy: float) -> float:
    x = _valid(r)
    return float(np.prod(1.0 + x) ** (ppy / x.size) - 1.0)


def ref_sharpe(r: np.ndarray, rf: float, ppy: float) -> float:
    x = _valid(r) - rf
    return float(x.mean() / x.std(ddof=1) * math.sqrt(ppy))


def ref_downside(r: np.ndarray, target: float) -> float:
    x = _valid(r) - target
    return float(np.sqrt(np.mean(np.minimum(x, 0.0) ** 2)))


def ref_sortino(r: np.ndarray, target: float, ppy: float) -> float:
    x = _valid(r) - target
    return float(x.mean() / ref_downside(r, target) * math.sqrt(ppy))


def ref_max_drawdown_depth(r: np.ndarray) -> float:
    wealth = np.concatenate([[1.0], np.cumprod(1.0 + _valid(r))])
    return float(np.min(wealth / np.maximum.accumulate(wealth) - 1.0))


def ref_kelly_trades(x: np.ndarray, cap: float) -> float:
    # backtesting.py's "Kelly Criterion": win rate - (1 - win rate) / (mean win / mean loss)
    x = _valid(x)
    p = np.mean(x > 0)
    b = x[x > 0].mean() / -x[x < 0].mean()
    return min(float(p - (1 - p) / b), cap)


def ref_drawdown(levels: list[tuple[int, float]]) -> tuple[float, int, int, int, int, int, int]:
    """Brute force over (position, level) pairs, O(n^2): every point against every earlier one."""
    pos = [p for p, _ in levels]
    lv = [v for _, v in levels]
    depth, peak, trough = 0.0, -1, -1
    longest, longest_start = 0, -1
    for t in range(len(lv)):
        high = max(lv[: t + 1])
        j = max(k for k in range(t + 1) if lv[k] == high)  # the latest point at the high
        dd = lv[t] / high - 1.0
        if dd < depth:
            depth, peak, trough = dd, j, t
        if lv[t] < high:
            ends = [u for u in range(t + 1, len(lv)) if lv[u] >= high]
            length = pos[ends[0] if ends else len(lv) - 1] - pos[j]
            if length > longest:
                longest, longest_start = length, pos[j]
    if peak < 0:
        return 0.0, -1, -1, -1, 0, longest, longest_start
    back = [u for u in range(trough + 1, len(lv)) if lv[u] >= lv[peak]]
    recovery = pos[back[0]] if back else -1
    end = recovery if back else pos[-1]
    return depth, pos[peak], pos[trough], recovery, end - pos[peak], longest, longest_start


def _levels(x: np.ndarray, from_returns: bool) -> list[tuple[int, float]]:
    if not from_returns:
        return [(i, float(v)) for i, v in enumerate(x) if not math.isnan(v)]
    out = [(0, 1.0)]
    wealth = 1.0
    for i, r in enumerate(x):
        if not math.isnan(r):
            wealth *= 1.0 + r
            out.append((i + 1, wealth))
    return out


# ---------------------------------------------------------------------------------------------
# Returns


@fast
@given(series)
def test_returns_from_prices_match_pandas(r: np.ndarray) -> None:
    prices = 100.0 * np.cumprod(1.0 + np.nan_to_num(r))
    prices[np.isnan(r)] = nan
    s = pd.Series(prices)
    previous = s.ffill().shift(1)  # a gap is spanned: compare with the last valid price
    np.testing.assert_allclose(
        stats.simple_returns(prices), (s / previous - 1.0).to_numpy(), rtol=1e-12, atol=1e-15
    )
    np.testing.assert_allclose(
        stats.log_returns(prices), np.log(s / previous).to_numpy(), rtol=1e-12, atol=1e-15
    )


def test_returns_hand_case_and_log_of_non_positive_prices() -> None:
    p = np.array([nan, 100.0, 110.0, nan, 99.0, 0.0, 108.9])
    want = [nan, nan, 0.1, nan, -0.1, -1.0, inf]
    np.testing.assert_allclose(stats.simple_returns(p), want, rtol=1e-14)
    want_log = [nan, nan, math.log(1.1), nan, math.log(0.9), nan, math.log(1.1)]
    np.testing.assert_allclose(stats.log_returns(p), want_log, rtol=1e-14)
    assert stats.simple_returns(np.empty(0)).shape == (0,)


@fast
@given(series)
def test_cumulative_returns_match_pandas_cumprod(r: np.ndarray) -> None:
    want = ((1.0 + pd.Series(r)).cumprod() - 1.0).to_numpy()  # skipna: NaN stays at its place
    np.testing.assert_allclose(stats.cumulative_returns(r), want, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# Growth, volatility, ratios


@fast
@given(series, st.sampled_from([12.0, 52.0, 252.0, 365.0]))
def test_growth_and_volatility_match_reference(r: np.ndarray, ppy: float) -> None:
    x = _valid(r)
    assert stats.total_return(r) == pytest.approx(np.prod(1.0 + x) - 1.0, rel=RTOL, abs=1e-14)
    assert stats.cagr(r, ppy) == pytest.approx(ref_cagr(r, ppy), rel=RTOL, abs=1e-14)
    want_vol = pd.Series(r).std() * math.sqrt(ppy)  # pandas: skipna, ddof=1
    assert stats.vol_annual(r, ppy) == pytest.approx(want_vol, rel=RTOL)


@fast
@given(series, st.sampled_from([0.0, 0.0001, -0.0002]))
def test_sharpe_sortino_calmar_match_reference(r: np.ndarray, rf: float) -> None:
    assert stats.sharpe(r, rf, PPY) == pytest.approx(ref_sharpe(r, rf, PPY), rel=RTOL)
    assert stats.downside_deviation(r, rf) == pytest.approx(ref_downside(r, rf), rel=RTOL)
    if ref_downside(r, rf) > 0:
        assert stats.sortino(r, rf, PPY) == pytest.approx(ref_sortino(r, rf, PPY), rel=RTOL)
    depth = ref_max_drawdown_depth(r)
    if depth < 0:
        want = ref_cagr(r, PPY) / abs(depth)
        assert stats.calmar(r, PPY) == pytest.approx(want, rel=RTOL, abs=1e-12)


def test_hand_computed_ratios() -> None:
    r = np.array([0.01, 0.03])  # mean 0.02, sample std 0.01 * sqrt(2)
    assert stats.sharpe(r, 0.0, 4.0) == pytest.approx(0.02 / (0.01 * math.sqrt(2)) * 2.0)
    assert stats.vol_annual(r, 4.0) == pytest.approx(0.01 * math.sqrt(2) * 2.0)
    r = np.array([0.02, -0.04, 0.05, -0.01])  # shortfalls -0.04, -0.01 over 4 periods
    dd = math.sqrt((0.04**2 + 0.01**2) / 4)
    assert stats.downside_deviation(r, 0.0) == pytest.approx(dd)
    assert stats.sortino(r, 0.0, 12.0) == pytest.approx(0.005 / dd * math.sqrt(12.0))
    # target 0.01: excess 0.01, -0.05, 0.04, -0.02
    dd_t = math.sqrt((0.05**2 + 0.02**2) / 4)
    assert stats.sortino(r, 0.01, 12.0) == pytest.approx(-0.005 / dd_t * math.sqrt(12.0))
    # ten years of 10 % a year, in daily steps
    daily = np.full(2520, 1.1 ** (1 / 252) - 1.0)
    assert stats.cagr(daily, 252.0) == pytest.approx(0.1, rel=1e-11)
    assert stats.total_return(daily) == pytest.approx(1.1**10 - 1.0, rel=1e-11)
    # 1.2 * 0.75 = 0.9: CAGR over 2 periods of 1 per year, drawdown 25 %
    r = np.array([0.2, -0.25])
    assert stats.cagr(r, 1.0) == pytest.approx(math.sqrt(0.9) - 1.0)
    assert stats.calmar(r, 1.0) == pytest.approx((math.sqrt(0.9) - 1.0) / 0.25)


def test_degenerate_ratios() -> None:
    flat = np.full(5, 0.01)
    assert stats.sharpe(flat, 0.0, PPY) == inf  # no dispersion, positive excess
    assert stats.sharpe(flat, 0.02, PPY) == -inf
    assert math.isnan(stats.sharpe(flat, 0.01, PPY))  # 0 / 0
    assert stats.sortino(flat, 0.0, PPY) == inf  # nothing below the target
    assert stats.calmar(flat, PPY) == inf  # no drawdown
    one = np.array([0.05, nan])
    assert math.isnan(stats.vol_annual(one, PPY))
    assert math.isnan(stats.sharpe(one, 0.0, PPY))
    assert stats.total_return(one) == pytest.approx(0.05)
    assert stats.cagr(np.array([-1.0, 0.5]), PPY) == -1.0  # total loss
    assert math.isnan(stats.cagr(np.array([-1.5, 0.1]), PPY))  # negative wealth: no root
    empty = np.empty(0)
    for value in (
        stats.total_return(empty),
        stats.cagr(empty, PPY),
        stats.vol_annual(empty, PPY),
        stats.sharpe(empty, 0.0, PPY),
        stats.sortino(empty, 0.0, PPY),
        stats.calmar(empty, PPY),
        stats.exposure(empty),
        *stats.trade_stats(empty),
        *stats.historical_var_cvar(empty, 0.95),
        *stats.gaussian_var_cvar(empty, 0.95),
    ):
        assert math.isnan(value)


def test_infinities_propagate() -> None:
    r = np.array([0.01, inf, -0.02])
    assert stats.total_return(r) == inf
    assert math.isnan(stats.sharpe(r, 0.0, PPY))
    assert math.isnan(stats.vol_annual(r, PPY))


# ---------------------------------------------------------------------------------------------
# Drawdowns


@pytest.mark.parametrize(
    ("levels", "want"),
    [
        # peak 110 at 1, trough 88 at 3, back above 110 at 4; then 121 -> 120 to the end
        ([100, 110, 99, 88, 121, 120], (-0.2, 1, 3, 4, 3, 3, 1)),
        # never recovered: duration runs to the last position
        ([100, 80, 90, 70, 95], (-0.3, 0, 3, -1, 4, 4, 0)),
        # no drawdown (a repeated high is not one)
        ([1, 2, 2, 3], (0.0, -1, -1, -1, 0, 0, -1)),
        # back exactly at the old high counts as recovered, and starts the next spell
        ([100, 90, 100, 95], (-0.1, 0, 1, 2, 2, 2, 0)),
        # the high repeats before the fall: the peak is the later one
        ([100, 100, 90, 100], (-0.1, 1, 2, 3, 2, 2, 1)),
        # the deepest drawdown (-20 %) is short, the longest spell (6 periods) shallow
        ([100, 95, 96, 97, 98, 99, 100, 80, 100], (-0.2, 6, 7, 8, 2, 6, 0)),
        # two equally deep troughs: the first one counts
        ([100, 90, 95, 90, 101], (-0.1, 0, 1, 4, 4, 4, 0)),
        # NaN gaps are skipped; positions and durations count them
        ([100, nan, 80, nan, 100], (-0.2, 0, 2, 4, 4, 4, 0)),
        # still under water, trailing NaN: durations end at the last valid level
        ([nan, 100, 50, nan], (-0.5, 1, 2, -1, 1, 1, 1)),
        ([nan, nan], (0.0, -1, -1, -1, 0, 0, -1)),
        ([], (0.0, -1, -1, -1, 0, 0, -1)),
    ],
)
def test_drawdown_of_equity_by_hand(levels: list[float], want: tuple) -> None:
    got = stats.max_drawdown(np.array(levels, dtype=np.float64), False)
    assert got[0] == pytest.approx(want[0], abs=1e-15)
    assert got[1:] == want[1:]


@pytest.mark.parametrize(
    ("returns", "want"),
    [
        # wealth 1, 0.9, 0.945, 1.0395: the start (position 0) is the peak
        ([-0.1, 0.05, 0.1], (-0.1, 0, 1, 3, 3, 3, 0)),
        # wealth 1, 1.1, 0.55, 0.66: not recovered, 2 periods under water
        ([0.1, -0.5, 0.2], (-0.5, 1, 2, -1, 2, 2, 1)),
        # wealth 1, 0.5, 1.0: back exactly at the start
        ([-0.5, 1.0], (-0.5, 0, 1, 2, 2, 2, 0)),
        ([0.01, nan, 0.02], (0.0, -1, -1, -1, 0, 0, -1)),
    ],
)
def test_drawdown_of_returns_by_hand(returns: list[float], want: tuple) -> None:
    got = stats.max_drawdown(np.array(returns), True)
    assert got[0] == pytest.approx(want[0], abs=1e-15)
    assert got[1:] == want[1:]


levels_with_ties = st.lists(st.sampled_from([1.0, 2.0, 3.0, 4.0, 5.0, nan]), max_size=40)
returns_with_ties = st.lists(st.sampled_from([-0.5, -0.25, 0.0, 0.25, 0.5, 1.0, nan]), max_size=40)


@settings(max_examples=400, deadline=None)
@given(levels_with_ties)
def test_drawdown_of_equity_matches_brute_force(levels: list[float]) -> None:
    x = np.array(levels, dtype=np.float64)
    assert stats.max_drawdown(x, False) == ref_drawdown(_levels(x, False))


@settings(max_examples=400, deadline=None)
@given(returns_with_ties)
def test_drawdown_of_returns_matches_brute_force(returns: list[float]) -> None:
    x = np.array(returns, dtype=np.float64)
    assert stats.max_drawdown(x, True) == ref_drawdown(_levels(x, True))


@fast
@given(series)
def test_drawdown_depth_matches_numpy(r: np.ndarray) -> None:
    assert stats.max_drawdown(r, True)[0] == pytest.approx(ref_max_drawdown_depth(r), abs=1e-14)
    equity = 50.0 * np.cumprod(1.0 + _valid(r))
    want = float(np.min(equity / np.maximum.accumulate(equity) - 1.0))
    assert stats.max_drawdown(equity, False)[0] == pytest.approx(want, abs=1e-14)


# ---------------------------------------------------------------------------------------------
# Kelly, trade statistics, exposure


def test_kelly_of_returns_by_hand() -> None:
    r = np.array([0.5, -0.4, 0.3, -0.3])  # mean 0.025, sum of squared deviations 0.5875
    assert stats.kelly_returns(r, 0.0, 0.25) == pytest.approx(0.025 / (0.5875 / 3))
    assert stats.kelly_returns(r, 0.0, 0.1) == 0.1  # capped
    assert stats.kelly_returns(r, 0.005, inf) == pytest.approx(0.02 / (0.5875 / 3))
    r = np.array([0.02, -0.01, 0.03, 0.0])  # mean 0.01, variance 0.001 / 3: f = 30
    assert stats.kelly_returns(r, 0.0, inf) == pytest.approx(30.0)
    assert stats.kelly_returns(r, 0.0, 0.25) == 0.25
    assert stats.kelly_returns(-r, 0.0, 0.25) == pytest.approx(-30.0)  # negative: not capped
    assert math.isnan(stats.kelly_returns(np.array([0.01]), 0.0, 0.25))


@pytest.mark.parametrize(
    ("pnl", "cap", "want"),
    [
        ([100, -50, 200, -50, 0], 0.25, 0.2),  # p 0.4, b 150 / 50 = 3: 0.4 - 0.6 / 3
        ([100, -50, 200, -50, 0], 0.1, 0.1),
        ([10, -10, -10], 0.25, -1 / 3),  # p 1/3, b 1: negative edge, not capped
        ([0.03, -0.01, 0.02, -0.02], inf, 0.5 - 0.5 / (0.025 / 0.015)),
        ([1, 2], 0.25, 0.25),  # no losses: b = inf, f = p = 1, capped
        ([1, 2], inf, 1.0),
        ([1, 0], inf, 0.5),  # a zero result is not a win
        ([-1, -2, 0], 0.25, -inf),  # no wins
        ([nan, 100, nan, -50, 200, -50, 0], 0.25, 0.2),  # NaN skipped
        ([], 0.25, nan),
    ],
)
def test_kelly_of_trades_by_hand(pnl: list[float], cap: float, want: float) -> None:
    got = stats.kelly_trades(np.array(pnl, dtype=np.float64), cap)
    assert got == pytest.approx(want, rel=1e-14, nan_ok=True)


def test_kelly_payoff_by_hand() -> None:
    assert stats.kelly_payoff(0.4, 3.0, 0.25) == pytest.approx(0.2)
    assert stats.kelly_payoff(0.6, 2.0, 0.25) == 0.25  # 0.4, capped
    assert stats.kelly_payoff(0.6, 2.0, inf) == pytest.approx(0.4)
    assert stats.kelly_payoff(0.3, 1.0, 0.25) == pytest.approx(-0.4)
    assert stats.kelly_payoff(1.0, 0.5, inf) == 1.0  # a sure win: everything


@fast
@given(series, st.sampled_from([0.1, 0.25, inf]))
def test_kelly_and_trade_stats_match_reference(r: np.ndarray, cap: float) -> None:
    x = _valid(r)
    want = min(float(x.mean() / x.var(ddof=1)), cap)
    assert stats.kelly_returns(r, 0.0, cap) == pytest.approx(want, rel=RTOL)
    if (x > 0).any() and (x < 0).any():
        assert stats.kelly_trades(r, cap) == pytest.approx(ref_kelly_trades(r, cap), rel=RTOL)
    win_rate, profit_factor, expectancy = stats.trade_stats(r)
    p, q = np.mean(x > 0), np.mean(x < 0)
    assert win_rate == pytest.approx(p, rel=1e-15)
    if (x < 0).any():
        assert profit_factor == pytest.approx(x[x > 0].sum() / -x[x < 0].sum(), rel=RTOL)
    avg_win = x[x > 0].mean() if (x > 0).any() else 0.0
    avg_loss = -x[x < 0].mean() if (x < 0).any() else 0.0
    assert expectancy == pytest.approx(p * avg_win - q * avg_loss, rel=RTOL, abs=1e-16)


def test_trade_stats_by_hand() -> None:
    assert stats.trade_stats(np.array([100.0, -50.0, 200.0, -50.0, 0.0])) == pytest.approx(
        (0.4, 3.0, 40.0)
    )
    win_rate, profit_factor, expectancy = stats.trade_stats(np.array([1.0, 0.0, nan]))
    assert (win_rate, profit_factor, expectancy) == (0.5, inf, 0.5)
    assert math.isnan(stats.trade_stats(np.array([0.0, 0.0]))[1])  # 0 / 0


def test_exposure() -> None:
    pos = np.array([0.0, 1.0, -2.0, nan, 0.0, 0.5])
    assert stats.exposure(pos) == pytest.approx(3 / 5)
    rng = np.random.default_rng(7)
    pos = rng.choice([-1.0, 0.0, 0.0, 1.0, nan], 500)
    assert stats.exposure(pos) == pytest.approx(np.mean(_valid(pos) != 0.0), rel=1e-15)


# ---------------------------------------------------------------------------------------------
# Value at risk


def test_norm_ppf_matches_scipy() -> None:
    p = np.concatenate(
        [
            [1e-300, 1e-100, 1e-20, 1e-10, 1e-5, 0.001, 0.01, 0.025, 0.05, 0.1, 0.3, 0.49],
            [0.51, 0.7, 0.9, 0.95, 0.99, 0.999, 1 - 1e-10, 1 - 2**-53],
            np.random.default_rng(0).random(200),
        ]
    )
    got = np.array([stats.norm_ppf(v) for v in p])
    # relative to a few ulps; absolute near p = 1/2, where Phi(x) - p cancels
    np.testing.assert_allclose(got, ndtri(p), rtol=4e-15, atol=1e-16)
    assert abs(stats.norm_ppf(0.5)) < 1e-15
    assert stats.norm_ppf(0.25) == -stats.norm_ppf(0.75)
    for bad in (0.0, 1.0, -0.1, 1.1, nan):
        assert math.isnan(stats.norm_ppf(bad))


@fast
@given(series, st.sampled_from([0.5, 0.9, 0.95, 0.975, 0.99]))
def test_historical_var_cvar_match_numpy_quantile(r: np.ndarray, confidence: float) -> None:
    x = _valid(r)
    var = np.quantile(x, 1.0 - confidence)  # numpy's default: linear interpolation
    got_var, got_cvar = stats.historical_var_cvar(r, confidence)
    assert got_var == pytest.approx(var, rel=1e-12, abs=1e-16)
    assert got_cvar == pytest.approx(x[x <= got_var].mean(), rel=1e-12, abs=1e-16)
    assert got_cvar <= got_var


def test_historical_var_cvar_by_hand() -> None:
    r = np.array([0.02, -0.01, nan, -0.05, 0.0, -0.03])  # sorted: -0.05 -0.03 -0.01 0 0.02
    assert stats.historical_var_cvar(r, 0.75) == pytest.approx((-0.03, -0.04))  # h = 4 * 0.25
    # h = 4 * 0.1 = 0.4: -0.05 + 0.4 * 0.02; only -0.05 lies at or below it
    assert stats.historical_var_cvar(r, 0.9) == pytest.approx((-0.042, -0.05))
    assert stats.historical_var_cvar(np.array([0.01]), 0.95) == (0.01, 0.01)
    tied = np.array([-0.02, -0.02, -0.02, 0.01])
    assert stats.historical_var_cvar(tied, 0.9) == pytest.approx((-0.02, -0.02))
    for bad in (0.0, 1.0, 1.5, nan):
        assert all(math.isnan(v) for v in stats.historical_var_cvar(r, bad))


@fast
@given(series, st.sampled_from([0.9, 0.95, 0.99]))
def test_gaussian_var_cvar_match_scipy(r: np.ndarray, confidence: float) -> None:
    x = _valid(r)
    mu, sd = x.mean(), x.std(ddof=1)
    z = sps.norm.ppf(1.0 - confidence)
    var = mu + sd * z
    # E[X | X <= VaR] = mu + sd E[Z | Z <= z], the latter by quadrature (at unit scale)
    cvar = mu + sd * sps.norm.expect(lambda v: v, ub=z, conditional=True)
    got_var, got_cvar = stats.gaussian_var_cvar(r, confidence)
    assert got_var == pytest.approx(var, rel=1e-10, abs=1e-15)
    assert got_cvar == pytest.approx(cvar, rel=1e-7, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# NaN policy and 2-D kernels


def _scalars(r: np.ndarray) -> list[float]:
    return [
        stats.total_return(r),
        stats.cagr(r, PPY),
        stats.vol_annual(r, PPY),
        stats.sharpe(r, 0.0001, PPY),
        stats.sortino(r, 0.0001, PPY),
        stats.downside_deviation(r, 0.0),
        stats.calmar(r, PPY),
        stats.max_drawdown(r, True)[0],
        stats.kelly_returns(r, 0.0, inf),
        stats.kelly_trades(r, inf),
        stats.exposure(r),
        *stats.trade_stats(r),
        *stats.historical_var_cvar(r, 0.95),
        *stats.gaussian_var_cvar(r, 0.95),
    ]


@fast
@given(series, st.integers(0, 2**32 - 1))
def test_nan_periods_are_skipped(r: np.ndarray, seed: int) -> None:
    x = _valid(r)
    rng = np.random.default_rng(seed)
    padded = np.full(x.size + rng.integers(1, 20), nan)
    keep = np.sort(rng.choice(padded.size, x.size, replace=False))
    padded[keep] = x
    np.testing.assert_array_equal(_scalars(padded), _scalars(x))  # bit for bit
    # drawdown positions move with the gaps: map the gap-free ones through `keep`
    equity = 10.0 * np.cumprod(1.0 + x)
    with_gaps = np.full(padded.size, nan)
    with_gaps[keep] = equity
    dense = stats.max_drawdown(equity, False)
    sparse = stats.max_drawdown(with_gaps, False)
    assert sparse[0] == dense[0]
    for got, want in zip(sparse[1:4], dense[1:4], strict=True):
        assert got == (keep[want] if want >= 0 else -1)


def _matrix(seed: int, m: int, n: int) -> np.ndarray:
    return np.ascontiguousarray(np.stack([_series(seed + i, n, 0.2) for i in range(m)]))


def test_2d_kernels_equal_1d_rows() -> None:
    r = _matrix(11, 7, 257)
    r[3, :100] = nan  # a late start
    prices = 100.0 * np.cumprod(1.0 + np.nan_to_num(r), axis=1)
    rows = range(r.shape[0])

    def each(fn, x=r):
        return np.array([fn(x[i]) for i in rows])

    eq = np.testing.assert_array_equal
    eq(stats.simple_returns_2d(prices), each(stats.simple_returns, prices))
    eq(stats.log_returns_2d(prices), each(stats.log_returns, prices))
    eq(stats.cumulative_returns_2d(r), each(stats.cumulative_returns))
    eq(stats.total_return_2d(r), each(stats.total_return))
    eq(stats.cagr_2d(r, 52.0), each(lambda x: stats.cagr(x, 52.0)))
    eq(stats.vol_annual_2d(r, 52.0), each(lambda x: stats.vol_annual(x, 52.0)))
    eq(stats.sharpe_2d(r, 1e-4, 52.0), each(lambda x: stats.sharpe(x, 1e-4, 52.0)))
    eq(stats.sortino_2d(r, 1e-4, 52.0), each(lambda x: stats.sortino(x, 1e-4, 52.0)))
    eq(stats.calmar_2d(r, 52.0), each(lambda x: stats.calmar(x, 52.0)))
    eq(stats.kelly_returns_2d(r, 0.0, 0.5), each(lambda x: stats.kelly_returns(x, 0.0, 0.5)))
    eq(stats.kelly_trades_2d(r, 0.5), each(lambda x: stats.kelly_trades(x, 0.5)))
    eq(stats.trade_stats_2d(r), each(stats.trade_stats))
    eq(stats.exposure_2d(r), each(stats.exposure))
    eq(stats.historical_var_cvar_2d(r, 0.99), each(lambda x: stats.historical_var_cvar(x, 0.99)))
    eq(stats.gaussian_var_cvar_2d(r, 0.99), each(lambda x: stats.gaussian_var_cvar(x, 0.99)))
    for x, from_returns in ((r, True), (prices, False)):
        depth, ints = stats.max_drawdown_2d(x, from_returns)
        want = each(lambda row, f=from_returns: stats.max_drawdown(row, f), x)
        eq(depth, want[:, 0])
        eq(ints, want[:, 1:].astype(np.int64))


@pytest.mark.parametrize("is_equity", [False, True])
def test_summary_rows_are_the_single_kernels(is_equity: bool) -> None:
    r = _matrix(23, 4, 300)
    x = 100.0 * np.cumprod(1.0 + np.nan_to_num(r), axis=1) if is_equity else r
    rf, ppy, conf, cap = 1e-4, 252.0, 0.95, 0.25
    floats, ints = stats.summary_2d(x, is_equity, rf, ppy, conf, cap)
    assert floats.shape == (4, len(stats.SUMMARY_FIELDS))
    assert ints.shape == (4, len(stats.DRAWDOWN_FIELDS))
    for i in range(4):
        ret = stats.simple_returns(x[i]) if is_equity else x[i]
        dd = stats.max_drawdown(x[i], not is_equity)
        want = {
            "periods": np.count_nonzero(~np.isnan(ret)),
            "total_return": stats.total_return(ret),
            "cagr": stats.cagr(ret, ppy),
            "vol_annual": stats.vol_annual(ret, ppy),
            "sharpe": stats.sharpe(ret, rf, ppy),
            "sortino": stats.sortino(ret, rf, ppy),
            "calmar": stats.cagr(ret, ppy) / abs(dd[0]),
            "max_drawdown": dd[0],
            "kelly": stats.kelly_returns(ret, rf, cap),
            "var": stats.historical_var_cvar(ret, conf)[0],
            "cvar": stats.historical_var_cvar(ret, conf)[1],
            "var_gaussian": stats.gaussian_var_cvar(ret, conf)[0],
            "cvar_gaussian": stats.gaussian_var_cvar(ret, conf)[1],
            "win_rate": stats.trade_stats(ret)[0],
            "profit_factor": stats.trade_stats(ret)[1],
            "expectancy": stats.trade_stats(ret)[2],
        }
        assert list(want) == list(stats.SUMMARY_FIELDS)
        np.testing.assert_array_equal(floats[i], list(want.values()))
        np.testing.assert_array_equal(ints[i], dd[1:])
        out = np.empty(len(stats.SUMMARY_FIELDS))
        out_dd = np.empty(len(stats.DRAWDOWN_FIELDS), dtype=np.int64)
        stats.summary(x[i], is_equity, rf, ppy, conf, cap, out, out_dd)
        np.testing.assert_array_equal(out, floats[i])
        np.testing.assert_array_equal(out_dd, ints[i])
