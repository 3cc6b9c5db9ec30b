"""performance_summary and the single-statistic functions: pandas references, shapes, errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from greekfire.analytics.performance import (
    Drawdown,
    kelly_fraction,
    max_drawdown,
    performance_summary,
    sharpe_ratio,
    sortino_ratio,
)

NUMERIC_ROWS = (
    "Return [%]",
    "CAGR [%]",
    "Volatility (Ann.) [%]",
    "Sharpe Ratio",
    "Sortino Ratio",
    "Calmar Ratio",
    "Max. Drawdown [%]",
    "Win Rate [%]",
    "Profit Factor",
    "Expectancy [%]",
    "Kelly Fraction",
    "VaR 95 % [%]",
    "CVaR 95 % [%]",
    "Gaussian VaR 95 % [%]",
    "Gaussian CVaR 95 % [%]",
)


def _returns(seed: int, n: int = 400, *, gaps: float = 0.05, name: str | None = "strategy"):
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0004, 0.011, n)
    r[rng.random(n) < gaps] = np.nan
    return pd.Series(r, index=pd.bdate_range("2023-01-02", periods=n), name=name)


def reference(r: pd.Series, ppy: float = 252, rf_annual: float = 0.0, cap: float = 0.25):
    """The summary's numeric rows from the textbook formulas in pandas/scipy."""
    x = r.dropna()
    rf = (1 + rf_annual) ** (1 / ppy) - 1
    excess = x - rf
    wealth = pd.concat([pd.Series([1.0]), (1 + x).cumprod()], ignore_index=True)
    drawdown = (wealth / wealth.cummax() - 1).min()
    total = (1 + x).prod() - 1
    cagr = (1 + total) ** (ppy / len(x)) - 1
    var = x.quantile(0.05)
    z = sps.norm.ppf(0.05)
    gauss_var = x.mean() + x.std() * z
    # E[X | X <= VaR] = mean + std E[Z | Z <= z], the latter by quadrature
    gauss_cvar = x.mean() + x.std() * sps.norm.expect(lambda v: v, ub=z, conditional=True)
    return {
        "Return [%]": 100 * total,
        "CAGR [%]": 100 * cagr,
        "Volatility (Ann.) [%]": 100 * x.std() * math.sqrt(ppy),
        "Sharpe Ratio": excess.mean() / excess.std() * math.sqrt(ppy),
        "Sortino Ratio": excess.mean()
        / math.sqrt((excess.clip(upper=0) ** 2).mean())
        * math.sqrt(ppy),
        "Calmar Ratio": cagr / abs(drawdown),
        "Max. Drawdown [%]": 100 * drawdown,
        "Win Rate [%]": 100 * (x > 0).mean(),
        "Profit Factor": x[x > 0].sum() / -x[x < 0].sum(),
        "Expectancy [%]": 100 * x.mean(),
        "Kelly Fraction": min(excess.mean() / x.var(), cap),
        "VaR 95 % [%]": 100 * var,
        "CVaR 95 % [%]": 100 * x[x <= var].mean(),
        "Gaussian VaR 95 % [%]": 100 * gauss_var,
        "Gaussian CVaR 95 % [%]": 100 * gauss_cvar,
    }


def _assert_rows(got: pd.Series, want: dict[str, float], rel: float = 1e-9) -> None:
    for row, value in want.items():
        assert got[row] == pytest.approx(value, rel=rel, abs=1e-12), row


@pytest.mark.parametrize(("ppy", "rf"), [(252, 0.0), (52, 0.03), (12, -0.01)])
def test_summary_matches_pandas_reference(ppy: float, rf: float) -> None:
    r = _returns(1)
    got = performance_summary(r, periods_per_year=ppy, risk_free=rf, kelly_cap=math.inf)
    assert isinstance(got, pd.Series)
    assert got.name == "strategy"
    assert got["Periods"] == r.notna().sum()
    want = reference(r, ppy, rf, cap=math.inf)
    _assert_rows(got, {k: v for k, v in want.items() if "Gaussian CVaR" not in k})
    assert got["Gaussian CVaR 95 % [%]"] == pytest.approx(want["Gaussian CVaR 95 % [%]"], rel=1e-7)
    assert got["Start"] == r.index[0]
    assert got["End"] == r.index[-1]
    assert got["Duration"] == r.index[-1] - r.index[0]
    assert isinstance(got["Max. Drawdown Duration"], pd.Timedelta)


def test_summary_rows_in_order_and_kelly_capped() -> None:
    r = _returns(2)
    got = performance_summary(r, confidence=0.99)
    assert list(got.index[:4]) == ["Start", "End", "Duration", "Periods"]
    assert "VaR 99 % [%]" in got.index
    assert "CVaR 99 % [%]" in got.index
    assert "VaR 95 % [%]" not in got.index
    assert got["VaR 99 % [%]"] < performance_summary(r)["VaR 95 % [%]"]
    x = r.dropna()
    assert x.mean() / x.var() > 0.5  # uncapped, this stream asks for more than 50 %
    assert got["Kelly Fraction"] == 0.25
    assert performance_summary(r, kelly_cap=0.5)["Kelly Fraction"] == 0.5


def test_drawdown_duration_by_hand_with_dates() -> None:
    dates = pd.date_range("2024-01-01", periods=6, freq="D")
    # wealth 1 (start), 1.1, 0.99, 1.0395, 1.14345, 1.1320155, 1.1320155: under water from
    # position 1 to 4 (3 periods, labelled 01-01 .. 01-04) and from 4 to the end (2)
    r = pd.Series([0.1, -0.1, 0.05, 0.1, -0.01, 0.0], index=dates)
    got = performance_summary(r)
    assert got["Max. Drawdown [%]"] == pytest.approx(-10.0)
    assert got["Max. Drawdown Duration"] == pd.Timedelta(days=3)
    assert performance_summary(r.to_numpy())["Max. Drawdown Duration"] == 3
    dd = max_drawdown(r)
    assert (dd.peak, dd.trough, dd.recovery, dd.duration, dd.longest_duration) == (1, 2, 4, 3, 3)
    assert (dd.peak_at, dd.trough_at, dd.recovery_at) == (dates[0], dates[1], dates[3])


def test_drawdown_duration_of_equity_spans_the_calendar() -> None:
    dates = pd.bdate_range("2024-03-01", periods=6)  # Fri 1, Mon 4 .. Fri 8 March
    equity = pd.Series([100.0, 90.0, 95.0, 101.0, 100.0, 100.0], index=dates)
    got = performance_summary(equity, kind="equity")
    assert got["Max. Drawdown Duration"] == pd.Timedelta(days=5)  # 3 periods, Fri to Wed
    assert got["Start"] == dates[0]
    assert got["Periods"] == 5
    rising = performance_summary(pd.Series([0.01, 0.02], index=dates[:2]))
    assert rising["Max. Drawdown Duration"] == pd.Timedelta(0)


def test_equity_with_its_start_equals_returns() -> None:
    r = _returns(3, gaps=0.0).to_numpy()
    equity = 250.0 * np.concatenate([[1.0], np.cumprod(1.0 + r)])
    from_equity = performance_summary(equity, kind="equity")
    from_returns = performance_summary(r)
    assert from_equity["Periods"] == from_returns["Periods"] == r.size
    assert from_equity["Max. Drawdown Duration"] == from_returns["Max. Drawdown Duration"]
    _assert_rows(from_equity, {k: from_returns[k] for k in NUMERIC_ROWS}, rel=1e-9)
    a = max_drawdown(equity, kind="equity")
    b = max_drawdown(r)
    assert (a.peak, a.trough, a.recovery, a.duration) == (b.peak, b.trough, b.recovery, b.duration)
    assert a.depth == pytest.approx(b.depth, rel=1e-12)


def test_dataframe_gives_one_column_per_series() -> None:
    frame = pd.DataFrame({"a": _returns(4), "b": _returns(5), "c": _returns(6)})
    frame.iloc[:50, 1] = np.nan  # a later start
    got = performance_summary(frame)
    assert isinstance(got, pd.DataFrame)
    assert list(got.columns) == ["a", "b", "c"]
    for name in frame:
        pd.testing.assert_series_equal(performance_summary(frame[name]), got[name])
    assert got.loc["Periods", "b"] == frame["b"].notna().sum()
    matrix = performance_summary(frame.to_numpy())  # periods x series
    assert list(matrix.columns) == [0, 1, 2]
    _assert_rows(matrix[1], {k: got.loc[k, "b"] for k in NUMERIC_ROWS}, rel=0)


def test_positions_add_exposure() -> None:
    r = _returns(7, n=10, gaps=0.0)
    held = pd.Series([0, 1, 1, -1, 0, 0, 2, 0, 0, 1], index=r.index)
    assert performance_summary(r, positions=held)["Exposure Time [%]"] == pytest.approx(50.0)
    assert "Exposure Time [%]" not in performance_summary(r)
    frame = pd.DataFrame({"x": r, "y": r})
    both = performance_summary(frame, positions=pd.DataFrame({"x": held, "y": held != 0}))
    assert both.loc["Exposure Time [%]"].tolist() == pytest.approx([50.0, 50.0])
    with pytest.raises(ValueError, match=r"positions: expected .*\(10,\), got \(9,\)"):
        performance_summary(r, positions=held.iloc[:-1])


def test_sharpe_and_sortino_functions() -> None:
    r = _returns(8)
    want = reference(r, 252, 0.02)
    assert sharpe_ratio(r, risk_free=0.02) == pytest.approx(want["Sharpe Ratio"], rel=1e-10)
    assert sortino_ratio(r, target=0.02) == pytest.approx(want["Sortino Ratio"], rel=1e-10)
    x = r.dropna()
    monthly = x.mean() / x.std() * math.sqrt(12)
    assert sharpe_ratio(r.to_numpy(), periods_per_year=12) == pytest.approx(monthly, rel=1e-10)
    assert isinstance(sharpe_ratio(list(x)), float)
    equity = 100 * (1 + x).cumprod()
    by_pandas = equity.pct_change().dropna()
    assert sharpe_ratio(equity, kind="equity") == pytest.approx(
        by_pandas.mean() / by_pandas.std() * math.sqrt(252), rel=1e-10
    )
    frame = pd.DataFrame({"u": r, "v": _returns(9)})
    per_column = sharpe_ratio(frame)
    assert isinstance(per_column, pd.Series)
    assert list(per_column.index) == ["u", "v"]
    assert per_column["v"] == pytest.approx(sharpe_ratio(frame["v"]), rel=0)
    as_array = sortino_ratio(frame.to_numpy())
    assert isinstance(as_array, np.ndarray)
    assert as_array[0] == sortino_ratio(r)


def test_max_drawdown_returns_a_frozen_record() -> None:
    dates = pd.bdate_range("2024-03-01", periods=6)
    equity = pd.Series([100.0, 110.0, 99.0, 88.0, 121.0, 120.0], index=dates)
    dd = max_drawdown(equity, kind="equity")
    assert isinstance(dd, Drawdown)
    assert dd.depth == pytest.approx(-0.2)
    assert (dd.peak, dd.trough, dd.recovery, dd.duration) == (1, 3, 4, 3)
    assert (dd.peak_at, dd.trough_at, dd.recovery_at) == (dates[1], dates[3], dates[4])
    with pytest.raises(AttributeError):
        dd.depth = 0.0  # type: ignore[misc]
    never = max_drawdown([100.0, 80.0, 90.0], kind="equity")
    assert (never.recovery, never.recovery_at, never.duration, never.peak_at) == (-1, None, 2, None)
    flat = max_drawdown([0.01, 0.02])
    assert (flat.depth, flat.peak, flat.trough, flat.duration) == (0.0, -1, -1, 0)
    with pytest.raises(ValueError, match=r"values: expected one series, got 2 columns"):
        max_drawdown(np.zeros((5, 2)))


def test_kelly_fraction_forms() -> None:
    assert kelly_fraction(win_rate=0.4, payoff_ratio=3.0) == pytest.approx(0.2)
    assert kelly_fraction(win_rate=0.6, payoff_ratio=2.0) == 0.25  # 0.4, capped
    assert kelly_fraction(win_rate=0.6, payoff_ratio=2.0, cap=1.0) == pytest.approx(0.4)
    assert kelly_fraction(win_rate=0.3, payoff_ratio=1.0) == pytest.approx(-0.4)
    trades = pd.Series([100.0, -50.0, 200.0, -50.0, 0.0])
    assert kelly_fraction(trades, kind="trades") == pytest.approx(0.2)
    assert kelly_fraction(trades, kind="trades", cap=0.1) == 0.1
    r = pd.Series([0.5, -0.4, 0.3, -0.3])
    assert kelly_fraction(r) == pytest.approx(0.025 / (0.5875 / 3))
    rf = 0.05
    per_period = (1 + rf) ** (1 / 12) - 1
    assert kelly_fraction(r, risk_free=rf, periods_per_year=12) == pytest.approx(
        (0.025 - per_period) / (0.5875 / 3)
    )
    equity = pd.Series([100.0, 150.0, 90.0, 117.0, 81.9])  # the same returns as r
    assert kelly_fraction(equity, kind="equity") == pytest.approx(kelly_fraction(r))
    frame = pd.DataFrame({"a": r, "b": -r})
    assert kelly_fraction(frame, cap=math.inf).tolist() == pytest.approx(
        [0.075 / 0.5875, -0.075 / 0.5875]
    )


def test_nan_periods_change_nothing() -> None:
    r = _returns(10, gaps=0.0)
    holes = r.copy()
    holes.iloc[::7] = np.nan
    kept = holes.dropna()
    a = performance_summary(holes.to_numpy())
    b = performance_summary(kept.to_numpy())
    _assert_rows(a, {k: b[k] for k in NUMERIC_ROWS}, rel=0)
    assert a["Periods"] == b["Periods"] == kept.size


def test_input_errors_name_the_argument_and_value() -> None:
    name = "returns_or_equity"
    with pytest.raises(ValueError, match=f"{name}: expected at least one value, got an empty"):
        performance_summary([])
    with pytest.raises(ValueError, match=f"{name}: expected at least one value"):
        performance_summary(pd.DataFrame())
    with pytest.raises(
        TypeError,
        match=f"{name}: expected a 1-D or 2-D array, a pandas Series or DataFrame, got float 0.1",
    ):
        performance_summary(0.1)
    with pytest.raises(TypeError, match=f"{name}: expected .* got str '0.1 0.2'"):
        performance_summary("0.1 0.2")
    with pytest.raises(TypeError, match=f"{name}: expected .* got dict"):
        performance_summary({"a": 0.1})
    with pytest.raises(
        TypeError, match=rf"{name}: expected numbers, got an array of dtype <U1 \(first value 'a'\)"
    ):
        performance_summary(["a", "b"])
    with pytest.raises(
        TypeError, match=f"{name}: expected numbers, got an array of dtype complex128"
    ):
        performance_summary([0.1, 1j])
    with pytest.raises(TypeError, match=f"{name}: expected numbers, got an array of dtype bool"):
        performance_summary([True, False])
    with pytest.raises(
        ValueError,
        match=rf"{name}: expected one series \(1-D\) or periods x series \(2-D\), got shape \(2, 2, 2\)",
    ):
        performance_summary(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match=f"{name}: expected finite values .* got inf at period 1"):
        performance_summary([0.1, math.inf])
    with pytest.raises(ValueError, match=r"got -inf at period 1 .* of column 'b'"):
        performance_summary(pd.DataFrame({"a": [0.1, 0.2], "b": [0.1, -math.inf]}))
    with pytest.raises(ValueError, match=r"returns: expected at least one value"):
        sharpe_ratio([])
    with pytest.raises(ValueError, match=r"values: expected at least one value"):
        max_drawdown([])


def test_kind_errors_name_the_value_and_suggest() -> None:
    with pytest.raises(
        ValueError,
        match=r"kind: expected 'returns' or 'equity', got 'equty' \(did you mean 'equity'\?\)",
    ):
        performance_summary([0.1], kind="equty")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"kind: expected 'returns' or 'equity', got None"):
        performance_summary([0.1], kind=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"kind: expected 'returns' or 'equity', got 'price'"):
        sharpe_ratio([0.1], kind="price")  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"kind: .*'trades', got 'trade' \(did you mean 'trades'\?\)"
    ):
        kelly_fraction([0.1], kind="trade")  # type: ignore[arg-type]
    hint = r"\(did you mean kind='returns'\?\)"
    with pytest.raises(
        ValueError, match=rf"kind='equity' needs .* > 0, got 0.0 at period 1 {hint}"
    ):
        performance_summary([100.0, 0.0, 90.0], kind="equity")
    with pytest.raises(ValueError, match=r"got -0.02 at period 1"):
        performance_summary([0.01, -0.02], kind="equity")
    with pytest.raises(ValueError, match=r"values: kind='equity' needs .*got -1.0 at period 1"):
        max_drawdown([1.0, -1.0], kind="equity")


def test_parameter_errors_name_the_argument_and_value() -> None:
    ppy = "periods_per_year"
    with pytest.raises(ValueError, match=f"{ppy}: expected a number of periods > 0 .*got 0"):
        performance_summary([0.1], periods_per_year=0)
    with pytest.raises(ValueError, match=f"{ppy}: .*got -252"):
        performance_summary([0.1], periods_per_year=-252)
    with pytest.raises(ValueError, match=f"{ppy}: .*got inf"):
        performance_summary([0.1], periods_per_year=math.inf)
    with pytest.raises(ValueError, match=f"{ppy}: expected a number, got nan"):
        performance_summary([0.1], periods_per_year=math.nan)
    with pytest.raises(TypeError, match=f"{ppy}: expected a real number, got str '252'"):
        performance_summary([0.1], periods_per_year="252")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=f"{ppy}: expected a real number, got bool True"):
        performance_summary([0.1], periods_per_year=True)
    with pytest.raises(ValueError, match=f"{ppy}: .*got 0.0"):
        sortino_ratio([0.1], periods_per_year=0.0)
    with pytest.raises(ValueError, match=r"confidence: expected a number between 0 and 1 .*got 95"):
        performance_summary([0.1], confidence=95)
    with pytest.raises(ValueError, match=r"confidence: .*got 1.0"):
        performance_summary([0.1], confidence=1.0)
    with pytest.raises(ValueError, match=r"kelly_cap: expected a fraction > 0 .*got 0"):
        performance_summary([0.1], kelly_cap=0)
    with pytest.raises(ValueError, match=r"risk_free: expected an annual rate > -1 .*got -1.0"):
        performance_summary([0.1], risk_free=-1.0)
    with pytest.raises(TypeError, match=r"risk_free: expected a real number, got str '4%'"):
        performance_summary([0.1], risk_free="4%")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"target: expected a number, got nan"):
        sortino_ratio([0.1], target=math.nan)


def test_kelly_errors_name_the_argument_and_value() -> None:
    with pytest.raises(
        ValueError,
        match=r"values: expected a series of returns or trades, or both win_rate and payoff_ratio; got values=None",
    ):
        kelly_fraction()
    with pytest.raises(ValueError, match=r"payoff_ratio=None"):
        kelly_fraction(win_rate=0.5)
    with pytest.raises(ValueError, match=r"not both"):
        kelly_fraction([0.1], win_rate=0.5, payoff_ratio=1.0)
    with pytest.raises(ValueError, match=r"win_rate: expected a probability in \[0, 1\], got 1.5"):
        kelly_fraction(win_rate=1.5, payoff_ratio=1.0)
    with pytest.raises(
        ValueError, match=r"payoff_ratio: expected mean win / mean loss > 0 .*got 0.0"
    ):
        kelly_fraction(win_rate=0.5, payoff_ratio=0.0)
    with pytest.raises(ValueError, match=r"cap: expected a fraction > 0 .*got -0.25"):
        kelly_fraction([0.1], cap=-0.25)
    with pytest.raises(ValueError, match=r"cap: expected a number, got nan"):
        kelly_fraction([0.1], cap=math.nan)


def test_missing_values_and_degenerate_series_do_not_raise() -> None:
    got = performance_summary([np.nan, 0.01, None, 0.02])  # None is a missing value too
    assert got["Periods"] == 2
    assert got["Sortino Ratio"] == math.inf  # nothing below the target
    lonely = performance_summary([np.nan, 0.01])
    assert lonely["Periods"] == 1
    assert math.isnan(lonely["Sharpe Ratio"])
    assert math.isnan(lonely["Volatility (Ann.) [%]"])
    gone = performance_summary(pd.DataFrame({"a": [0.01, 0.02], "b": [np.nan, np.nan]}))
    assert gone.loc["Periods", "b"] == 0
    assert math.isnan(gone.loc["Return [%]", "b"])


def test_pandas_nullable_dtypes_and_text() -> None:
    nullable = pd.Series([0.01, pd.NA, 0.02, -0.01], dtype="Float64")
    plain = pd.Series([0.01, 0.02, -0.01])
    assert sharpe_ratio(nullable) == sharpe_ratio(plain)
    equity = pd.Series([100, None, 110, 99], dtype="Int64")
    assert sharpe_ratio(equity, kind="equity") == pytest.approx(
        sharpe_ratio(pd.Series([0.1, -0.1])), rel=1e-12
    )
    with pytest.raises(TypeError, match=r"returns_or_equity: expected numbers, .*'0.1'"):
        performance_summary(pd.Series(["0.1", "0.2"]))  # text is refused, not parsed
    with pytest.raises(TypeError, match=r"expected numbers, got an array of dtype object"):
        performance_summary(np.array([0.1, "0.2"], dtype=object))


def test_dates_must_be_in_order() -> None:
    r = pd.Series([0.01, 0.02], index=pd.to_datetime(["2024-01-02", "2024-01-01"]))
    with pytest.raises(ValueError, match=r"returns_or_equity: expected periods in time order"):
        performance_summary(r)
    assert performance_summary(r.sort_index())["Periods"] == 2


def test_boolean_positions_count_as_held() -> None:
    got = performance_summary([0.01, 0.02, -0.01, 0.0], positions=[True, False, True, True])
    assert got["Exposure Time [%]"] == pytest.approx(75.0)
    with pytest.raises(TypeError, match=r"positions: expected numbers"):
        performance_summary([0.01, 0.02], positions=["long", "flat"])
