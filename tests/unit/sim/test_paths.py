"""Price paths: shapes, positivity, determinism, statistics (fixed seeds, wide tolerances)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from greekfire.sim.paths import (
    JumpParams,
    RegimeParams,
    random_correlation,
    simulate_paths,
    symbol_key,
)

DAILY = np.arange(253) / 252


def test_shapes_and_start_row() -> None:
    p = simulate_paths(["A", "B", "C"], DAILY, seed=1, start_price=[10.0, 20.0, 30.0])
    assert p.prices.shape == (253, 3)
    for arr in (p.log_returns, p.diffusion, p.jumps, p.jump_counts, p.step_vol):
        assert arr.shape == (252, 3)
    assert p.regimes.shape == (252,)
    assert p.regimes.dtype == np.int8
    assert p.jump_counts.dtype == np.int64
    np.testing.assert_array_equal(p.prices[0], [10.0, 20.0, 30.0])
    np.testing.assert_allclose(np.log(p.prices[1:] / p.prices[:-1]), p.log_returns, atol=1e-12)


def test_prices_stay_positive_under_extreme_parameters() -> None:
    p = simulate_paths(
        ["A", "B"],
        DAILY,
        seed=2,
        vol_annual=3.0,
        drift_annual=-2.0,
        jumps=JumpParams(50.0, -0.5, 0.5),
        regime=RegimeParams(0.2, 0.2, 3.0),
    )
    assert np.all(p.prices > 0)
    assert np.all(np.isfinite(p.prices))


def test_same_seed_same_paths_and_other_seed_other_paths() -> None:
    kwargs: dict[str, Any] = {
        "vol_annual": 0.3,
        "correlation": 0.4,
        "jumps": JumpParams(5, -0.02, 0.05),
        "regime": RegimeParams(0.02, 0.1, 2.0),
    }
    a = simulate_paths(["X", "Y"], DAILY, seed=7, **kwargs)
    b = simulate_paths(["X", "Y"], DAILY, seed=7, **kwargs)
    c = simulate_paths(["X", "Y"], DAILY, seed=8, **kwargs)
    np.testing.assert_array_equal(a.prices, b.prices)
    np.testing.assert_array_equal(a.regimes, b.regimes)
    assert not np.array_equal(a.prices, c.prices)


def test_prefix_property_longer_grid_keeps_the_first_steps() -> None:
    kwargs: dict[str, Any] = {
        "seed": 3,
        "correlation": 0.3,
        "jumps": JumpParams(20, 0.0, 0.1),
        "regime": RegimeParams(0.05, 0.05, 2.0),
    }
    short = simulate_paths(["A", "B"], DAILY[:50], **kwargs)
    long = simulate_paths(["A", "B"], DAILY, **kwargs)
    np.testing.assert_array_equal(short.prices, long.prices[:50])
    np.testing.assert_array_equal(short.regimes, long.regimes[:49])


def test_float_correlation_path_depends_only_on_seed_and_name() -> None:
    kwargs: dict[str, Any] = {"seed": 4, "correlation": 0.5, "jumps": JumpParams(5, 0, 0.05)}
    three = simulate_paths(["A", "B", "C"], DAILY, **kwargs)
    two = simulate_paths(["C", "Z"], DAILY, **kwargs)
    np.testing.assert_array_equal(three.prices[:, 2], two.prices[:, 0])


def test_matrix_correlation_path_depends_on_the_list_prefix() -> None:
    corr = random_correlation(3, seed=1)
    three = simulate_paths(["A", "B", "C"], DAILY, seed=5, correlation=corr)
    two = simulate_paths(["A", "B"], DAILY, seed=5, correlation=corr[:2, :2])
    np.testing.assert_allclose(three.prices[:, :2], two.prices, rtol=1e-13)


def test_symbol_key_is_stable() -> None:
    assert symbol_key("AAPL") == symbol_key("AAPL")
    assert symbol_key("AAPL") != symbol_key("MSFT")
    assert 0 <= symbol_key("SPY") < 2**63


def test_realised_vol_matches_each_regime() -> None:
    n = 50_000
    t = np.arange(n + 1) / 252
    regime = RegimeParams(0.02, 0.08, 2.0)
    p = simulate_paths(["A", "B"], t, seed=11, vol_annual=0.2, regime=regime)
    stressed = p.regimes == 1
    assert abs(stressed.mean() - regime.stationary_stressed) < 0.04
    calm_vol = p.log_returns[~stressed].std() * math.sqrt(252)
    stress_vol = p.log_returns[stressed].std() * math.sqrt(252)
    assert calm_vol == pytest.approx(0.2, rel=0.03)
    assert stress_vol == pytest.approx(0.4, rel=0.04)
    expected_mix = 0.2 * math.sqrt(1 - 0.2 + 0.2 * 4.0)
    assert p.log_returns.std() * math.sqrt(252) == pytest.approx(expected_mix, rel=0.06)


def test_correlation_matrix_is_reproduced() -> None:
    target = np.array([[1.0, 0.6, -0.3], [0.6, 1.0, 0.1], [-0.3, 0.1, 1.0]])
    t = np.arange(20_001) / 252
    p = simulate_paths(["A", "B", "C"], t, seed=12, vol_annual=[0.2, 0.3, 0.5], correlation=target)
    np.testing.assert_allclose(np.corrcoef(p.log_returns.T), target, atol=0.03)


def test_one_factor_correlation_is_reproduced() -> None:
    t = np.arange(20_001) / 252
    p = simulate_paths(list("ABCD"), t, seed=13, correlation=0.3)
    corr = np.corrcoef(p.log_returns.T)
    off = corr[~np.eye(4, dtype=bool)]
    assert np.all(np.abs(off - 0.3) < 0.04)


def test_jump_frequency_and_size() -> None:
    t = np.arange(25_201) / 252  # 100 years
    jumps = JumpParams(50.0, -0.03, 0.02)
    p = simulate_paths(["A", "B", "C"], t, seed=14, vol_annual=0.1, jumps=jumps)
    counts = p.jump_counts.sum(axis=0)
    assert np.all(np.abs(counts - 5000) < 300)  # Poisson sd ~71
    mean_size = p.jumps[p.jump_counts > 0].sum() / p.jump_counts.sum()
    assert mean_size == pytest.approx(-0.03, abs=0.002)


def test_drift_is_annual_and_jumps_are_compensated() -> None:
    symbols = [f"S{i}" for i in range(4000)]
    p = simulate_paths(
        symbols,
        [0.0, 1.0],
        seed=15,
        drift_annual=0.08,
        vol_annual=0.2,
        jumps=JumpParams(5.0, -0.05, 0.1),
    )
    growth = p.prices[-1] / p.prices[0]
    assert growth.mean() == pytest.approx(math.exp(0.08), abs=0.03)  # sd of the mean ~0.006


def test_random_correlation_is_positive_definite() -> None:
    corr = random_correlation(200, seed=3)
    np.testing.assert_allclose(np.diag(corr), 1.0)
    np.testing.assert_allclose(corr, corr.T)
    assert np.linalg.eigvalsh(corr).min() > 0
    off = corr[~np.eye(200, dtype=bool)]
    assert 0.2 < off.mean() < 0.4


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"vol_annual": -0.1}, "vol_annual"),
        ({"vol_annual": [0.1]}, "vol_annual"),
        ({"start_price": 0.0}, "start_price"),
        ({"drift_annual": float("nan")}, "drift_annual"),
        ({"correlation": 1.0}, "correlation"),
        ({"correlation": -0.2}, "correlation"),
        ({"correlation": np.array([[1.0, 0.9], [0.9, 1.0]])}, "correlation: expected a 3x3"),
        (
            {"correlation": np.array([[1, 0.9, 0.9], [0.9, 1, -0.9], [0.9, -0.9, 1]])},
            "not positive definite",
        ),
        ({"correlation": np.array([[1, 0.5, 0], [0.4, 1, 0], [0, 0, 1]])}, "symmetric"),
        ({"correlation": np.array([[2, 0, 0], [0, 1, 0], [0, 0, 1]])}, "diagonal"),
        ({"seed": -1}, "seed"),
        ({"initial_regime": 2}, "initial_regime"),
        ({"t_years": [0.0, 0.5, 0.5]}, "t_years"),
        ({"symbols": ["A", "A", "B"]}, "symbols"),
    ],
)
def test_bad_parameters_name_themselves(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"symbols": ["A", "B", "C"], "t_years": DAILY}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        simulate_paths(**args)


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: JumpParams(intensity_per_year=-1.0), "jumps.intensity_per_year"),
        (lambda: JumpParams(log_size_vol=-0.1), "jumps.log_size_vol"),
        (lambda: RegimeParams(p_calm_to_stressed=1.5), "regime.p_calm_to_stressed"),
        (lambda: RegimeParams(p_stressed_to_calm=-0.1), "regime.p_stressed_to_calm"),
        (lambda: RegimeParams(stressed_vol_multiplier=0.0), "regime.stressed_vol_multiplier"),
        (lambda: random_correlation(0), "n_symbols"),
    ],
)
def test_bad_model_parameters(factory: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        factory()
