"""The SSVI volatility surface: shape, raw-SVI slices and the no-static-arbitrage conditions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greekfire.analytics.options import black76
from greekfire.sim.surface import RawSVI, VolSurface

K_GRID = np.linspace(-3.0, 3.0, 1201)
T_GRID = np.geomspace(1.0 / 3650.0, 10.0, 120)


def _calendar_gap(surface: VolSurface) -> float:
    # The smallest increase of total variance between consecutive expiries, over the k grid.
    w = surface.total_variance(K_GRID[None, :], T_GRID[:, None])
    return float(np.diff(w, axis=0).min())


def _min_g(surface: VolSurface) -> float:
    return min(float(surface.svi_slice(t).butterfly_g(K_GRID).min()) for t in T_GRID)


def test_default_surface_has_put_skew_smile_and_rising_term_structure() -> None:
    s = VolSurface()
    strikes = np.array([80.0, 90.0, 100.0, 110.0, 120.0])
    vols = s.implied_vol(strikes, 0.25, 100.0)
    assert vols[0] > vols[1] > vols[2] > vols[3]  # put skew
    assert vols[4] > vols[3] - 0.02  # the call wing flattens
    atm = s.atm_vol_at(np.array([0.0, 0.1, 1.0, 30.0]))
    assert atm[0] == pytest.approx(0.18)
    assert np.all(np.diff(atm) > 0.0)
    assert atm[-1] == pytest.approx(0.21, abs=1e-3)


def test_short_dated_skew_is_steeper() -> None:
    s = VolSurface()
    skews = [s.implied_vol(95.0, t, 100.0) - s.implied_vol(105.0, t, 100.0) for t in (0.02, 0.1, 1)]
    assert skews[0] > skews[1] > skews[2] > 0.0


def test_implied_vol_is_vectorised_and_nan_for_invalid_elements() -> None:
    s = VolSurface()
    out = s.implied_vol(np.array([[90.0], [100.0]]), np.array([0.5, 1.0, 0.0]), 100.0)
    assert out.shape == (2, 3)
    assert np.isfinite(out[:, :2]).all()
    assert np.isnan(out[:, 2]).all()
    assert math.isnan(s.implied_vol(-1.0, 1.0, 100.0))
    assert math.isnan(s.implied_vol(100.0, 1.0, float("nan")))
    assert isinstance(s.implied_vol(100.0, 1.0, 100.0), float)


def test_atm_vol_equals_the_term_structure() -> None:
    s = VolSurface(atm_vol=0.3, term_slope=-0.1, term_scale_years=0.25)
    t = np.array([0.01, 0.5, 2.0])
    np.testing.assert_allclose(s.implied_vol(100.0, t, 100.0), s.atm_vol_at(t), rtol=1e-14)
    assert s.long_vol == pytest.approx(0.2)


def test_svi_slice_reproduces_the_surface() -> None:
    s = VolSurface()
    for t in (1.0 / 365.0, 0.1, 2.0):
        raw = s.svi_slice(t)
        np.testing.assert_allclose(
            raw.total_variance(K_GRID), s.total_variance(K_GRID, t), rtol=1e-12
        )


def test_default_surface_has_no_calendar_arbitrage() -> None:
    assert _calendar_gap(VolSurface()) >= 0.0


def test_default_surface_has_no_butterfly_arbitrage() -> None:
    assert _min_g(VolSurface()) >= 0.0


def test_butterfly_g_matches_the_density_of_black_prices() -> None:
    # Oracle: d2C/dK2 of undiscounted Black call prices (F = 1) equals
    # g(k) * n(d2) / (K sqrt(w)), Gatheral and Jacquier (2014), eq. 2.2.
    s, t = VolSurface(), 0.25
    strikes = np.exp(np.linspace(-0.5, 0.4, 181))
    h = 1e-4
    vol = s.implied_vol(np.concatenate([strikes - h, strikes, strikes + h]), t, 1.0)
    prices = black76(1.0, np.concatenate([strikes - h, strikes, strikes + h]), t, vol)
    lo, mid, hi = np.split(prices, 3)
    density = (hi - 2.0 * mid + lo) / h**2
    k = np.log(strikes)
    w = s.total_variance(k, t)
    d2 = -k / np.sqrt(w) - np.sqrt(w) / 2.0
    expected = s.svi_slice(t).butterfly_g(k) * np.exp(-(d2**2) / 2.0) / math.sqrt(2 * math.pi)
    np.testing.assert_allclose(density, expected / (strikes * np.sqrt(w)), rtol=2e-3, atol=1e-3)


def test_butterfly_g_flags_a_known_arbitrageable_slice() -> None:
    # Axel Vogt's raw SVI example (Gatheral and Jacquier 2014, Example 3.1): negative density.
    vogt = RawSVI(a=-0.0410, b=0.1331, rho=0.3060, m=0.3586, sigma=0.4153)
    assert vogt.butterfly_g(K_GRID).min() < 0.0


@st.composite
def valid_surfaces(draw: st.DrawFn) -> VolSurface:
    """The parameter range VolSurface declares valid (a little inside its open bounds)."""
    atm_vol = draw(st.floats(0.02, 3.0))
    long_vol = draw(st.floats(0.02, 3.0))
    skew = draw(st.floats(-0.99, 0.99))
    fraction = draw(st.floats(0.01, 1.0))
    return VolSurface(
        atm_vol=atm_vol,
        term_slope=long_vol - atm_vol,
        term_scale_years=draw(st.floats(0.01, 10.0)),
        skew=skew,
        convexity=fraction * 2.0 / (1.0 + abs(skew)),
        short_end_power=draw(st.floats(0.01, 0.5)),
    )


@settings(max_examples=60, deadline=None)
@given(valid_surfaces())
def test_valid_parameters_give_no_static_arbitrage(surface: VolSurface) -> None:
    w = surface.total_variance(K_GRID[None, :], T_GRID[:, None])
    assert _calendar_gap(surface) >= -1e-12 * float(np.max(w))
    assert _min_g(surface) >= -1e-9


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"atm_vol": 0.0}, "atm_vol"),
        ({"atm_vol": float("nan")}, "atm_vol"),
        ({"term_slope": -0.2}, "term_slope"),
        ({"term_slope": float("inf")}, "term_slope"),
        ({"term_scale_years": 0.0}, "term_scale_years"),
        ({"skew": -1.0}, "skew"),
        ({"skew": 1.5}, "skew"),
        ({"convexity": 0.0}, "convexity"),
        ({"convexity": 1.2, "skew": -0.7}, "convexity"),
        ({"short_end_power": 0.0}, "short_end_power"),
        ({"short_end_power": 0.6}, "short_end_power"),
    ],
)
def test_invalid_parameters_raise_naming_them(kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name}: expected"):
        VolSurface(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"b": -0.1}, "b"),
        ({"rho": 1.0}, "rho"),
        ({"sigma": 0.0}, "sigma"),
        ({"a": -1.0}, "a"),
        ({"m": float("nan")}, "m"),
    ],
)
def test_raw_svi_rejects_invalid_parameters(kwargs: dict[str, float], name: str) -> None:
    params = {"a": 0.01, "b": 0.1, "rho": -0.5, "m": 0.0, "sigma": 0.1} | kwargs
    with pytest.raises(ValueError, match=rf"^{name}: "):
        RawSVI(**params)


def test_svi_slice_rejects_non_positive_expiry() -> None:
    with pytest.raises(ValueError, match="t_years"):
        VolSurface().svi_slice(0.0)
