"""BSM/Black-76 kernels: QuantLib and mpmath oracles, the numpy reference, properties, edges."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greekfire.kernels import bsm
from greekfire.kernels.reference import bsm_reference
from greekfire.kernels.status import INVALID_INPUT, OK

ql = pytest.importorskip("QuantLib")

ROWS = ("price", "delta", "gamma", "vega", "theta", "rho", "vanna", "volga", "charm")


def _run(S, K, T, r, q, v, w, *, exact=True):
    arrs = [np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in (S, K, T, r, q, v)]
    arrs = [np.ascontiguousarray(a) for a in np.broadcast_arrays(*arrs)]
    right = np.ascontiguousarray(np.broadcast_to(np.asarray(w, dtype=np.int8), arrs[0].shape))
    out = np.empty((9, arrs[0].size))
    status = np.empty(arrs[0].size, dtype=np.int8)
    bsm.all_greeks_into(*arrs, right, out, status, exact=exact)
    return out, status


def _contracts(n: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    S = rng.uniform(20.0, 300.0, n)
    days = rng.integers(1, 3 * 365, n)
    T = days / 365.0
    v = rng.uniform(0.02, 1.5, n)
    # log-moneyness in standard deviations: mostly near the money, a third deep ITM/OTM
    z = np.where(rng.random(n) < 0.33, rng.uniform(-6, 6, n), rng.normal(0, 1, n))
    K = S * np.exp(z * v * np.sqrt(T))
    r = rng.uniform(-0.02, 0.10, n)
    q = np.where(rng.random(n) < 0.2, r + rng.uniform(0, 0.05, n), rng.uniform(0, 0.06, n))
    w = np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8)
    return S, K, days, T, r, q, v, w


def _quantlib(S, K, days, r, q, v, w):
    today = ql.Date(15, 1, 2026)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    spot = ql.SimpleQuote(S)
    proc = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(spot),
        ql.YieldTermStructureHandle(ql.FlatForward(today, q, dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, r, dc)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), v, dc)),
    )
    payoff = ql.PlainVanillaPayoff(ql.Option.Call if w > 0 else ql.Option.Put, K)
    opt = ql.VanillaOption(payoff, ql.EuropeanExercise(today + int(days)))
    opt.setPricingEngine(ql.AnalyticEuropeanEngine(proc))
    return opt.NPV(), opt.delta(), opt.gamma(), opt.vega(), opt.theta(), opt.rho()


def _close(got: float, want: float, tol: float = 1e-12) -> bool:
    return abs(got - want) <= max(tol, tol * abs(want))


def _mp_greeks(S, K, T, r, q, v, w):
    S, K, T, r, q, v = (mp.mpf(float(a)) for a in (S, K, T, r, q, v))
    s = v * mp.sqrt(T)
    d1 = (mp.log(S / K) + (r - q) * T) / s + s / 2
    d2 = d1 - s
    dq, dr = mp.exp(-q * T), mp.exp(-r * T)
    n1, nd1, nd2 = mp.npdf(d1), mp.ncdf(w * d1), mp.ncdf(w * d2)
    return [
        float(w * (S * dq * nd1 - K * dr * nd2)),
        float(w * dq * nd1),
        float(dq * n1 / (S * s)),
        float(S * dq * n1 * mp.sqrt(T)),
        float(-S * dq * n1 * v / (2 * mp.sqrt(T)) - w * r * K * dr * nd2 + w * q * S * dq * nd1),
        float(w * K * T * dr * nd2),
    ]


def test_price_and_greeks_match_quantlib() -> None:
    # Where QuantLib and greekfire differ by more than 1e-12, 40-digit mpmath arbitrates:
    # QuantLib's normal CDF switches to a short asymptotic series below 1e-8 and is off by up
    # to ~1e-6 relative there; greekfire must then agree with mpmath instead.
    mp.mp.dps = 40
    S, K, days, T, r, q, v, w = _contracts(2500, seed=1)
    out, status = _run(S, K, T, r, q, v, w)
    assert (status == OK).all()
    quantlib_off = 0
    for i in range(S.size):
        want = _quantlib(S[i], K[i], days[i], r[i], q[i], v[i], w[i])
        bad = [row for row, value in enumerate(want) if not _close(out[row, i], value)]
        if not bad:
            continue
        exact = _mp_greeks(S[i], K[i], T[i], r[i], q[i], v[i], int(w[i]))
        for row in bad:
            assert _close(out[row, i], exact[row]), (
                ROWS[row],
                i,
                out[row, i],
                want[row],
                exact[row],
            )
            assert abs(want[row] - exact[row]) > abs(out[row, i] - exact[row]), (ROWS[row], i)
        quantlib_off += 1
    assert quantlib_off <= 0.02 * S.size


def _mp_second_order(S, K, T, r, q, v, w):
    S, K, T, r, q, v = (mp.mpf(float(a)) for a in (S, K, T, r, q, v))
    s = v * mp.sqrt(T)
    d1 = (mp.log(S / K) + (r - q) * T) / s + s / 2
    d2 = d1 - s
    dq = mp.exp(-q * T)
    n1 = mp.npdf(d1)
    vega = S * dq * n1 * mp.sqrt(T)
    vanna = -dq * n1 * d2 / v
    volga = vega * d1 * d2 / v
    charm = w * q * dq * mp.ncdf(w * d1) - dq * n1 * (2 * (r - q) * T - d2 * s) / (2 * T * s)
    return float(vanna), float(volga), float(charm)


def test_second_order_greeks_match_mpmath() -> None:
    # QuantLib exposes no vanna/volga/charm: the oracle is the closed form at 40 digits.
    mp.mp.dps = 40
    S, K, _, T, r, q, v, w = _contracts(600, seed=2)
    out, _ = _run(S, K, T, r, q, v, w)
    for i in range(S.size):
        want = _mp_second_order(S[i], K[i], T[i], r[i], q[i], v[i], int(w[i]))
        for row, value in zip((6, 7, 8), want, strict=True):
            assert _close(out[row, i], value), (ROWS[row], i, out[row, i], value)


def test_exact_price_matches_mpmath_out_of_the_money() -> None:
    # Far from intrinsic the price is well conditioned: expect a few ulps, not just 1e-12.
    mp.mp.dps = 40
    S, K, _, T, r, q, v, w = _contracts(600, seed=3)
    w = np.where(K > S, 1, -1).astype(np.int8)  # out of the money by spot
    out, _ = _run(S, K, T, r, q, v, w)
    ulps = []
    for i in range(S.size):
        Sm, Km, Tm, rm, qm, vm = (mp.mpf(float(a)) for a in (S[i], K[i], T[i], r[i], q[i], v[i]))
        s = vm * mp.sqrt(Tm)
        d1 = (mp.log(Sm / Km) + (rm - qm) * Tm) / s + s / 2
        wi = int(w[i])
        want = wi * (
            Sm * mp.exp(-qm * Tm) * mp.ncdf(wi * d1)
            - Km * mp.exp(-rm * Tm) * mp.ncdf(wi * (d1 - s))
        )
        if want > 1e-280 and abs(d1) < 6:
            ulps.append(abs(out[0, i] - float(want)) / np.spacing(float(want)))
    assert len(ulps) > 200
    assert np.median(ulps) <= 4
    assert max(ulps) <= 64


def test_fast_path_agrees_with_exact_path() -> None:
    S, K, _, T, r, q, v, w = _contracts(20_000, seed=4)
    exact, _ = _run(S, K, T, r, q, v, w, exact=True)
    fast, _ = _run(S, K, T, r, q, v, w, exact=False)
    np.testing.assert_allclose(fast[0], exact[0], rtol=1e-11, atol=1e-12)
    np.testing.assert_array_equal(fast[1:], exact[1:])


def test_kernel_equals_numpy_reference() -> None:
    S, K, _, T, r, q, v, w = _contracts(5000, seed=5)
    out, _ = _run(S, K, T, r, q, v, w)
    ref = bsm_reference(S, K, T, r, q, v, w.astype(np.float64))
    for row, name in enumerate(ROWS):
        scale = np.maximum(np.abs(ref[name]), 1.0)
        err = np.abs(out[row] - ref[name]) / scale
        assert err.max() < 1e-10, (name, err.max())


contract = st.tuples(
    st.floats(10.0, 500.0),  # spot
    st.floats(-4.0, 4.0),  # log-moneyness in sd
    st.floats(1.0 / 365.0, 3.0),  # t_years
    st.floats(-0.03, 0.12),  # rate
    st.floats(0.0, 0.08),  # div yield
    st.floats(0.03, 1.5),  # vol
)


def _unpack(c):
    S, z, T, r, q, v = c
    return S, S * math.exp(z * v * math.sqrt(T)), T, r, q, v


@settings(max_examples=300, deadline=None)
@given(contract)
def test_put_call_parity(c) -> None:
    S, K, T, r, q, v = _unpack(c)
    out, _ = _run([S, S], [K, K], T, r, q, v, [1, -1])
    parity = S * math.exp(-q * T) - K * math.exp(-r * T)
    assert out[0, 0] - out[0, 1] == pytest.approx(parity, rel=1e-13, abs=1e-12 * max(S, K))
    assert out[1, 0] - out[1, 1] == pytest.approx(math.exp(-q * T), rel=1e-12)
    assert out[2, 0] == pytest.approx(out[2, 1], rel=1e-12)
    assert out[3, 0] == pytest.approx(out[3, 1], rel=1e-12)


@settings(max_examples=200, deadline=None)
@given(contract, st.sampled_from([1, -1]))
def test_greeks_equal_finite_differences(c, w) -> None:
    S, K, T, r, q, v = _unpack(c)

    def price(**kw):
        return row_at(0, **kw)

    def row_at(row, **kw):
        args = {"S": S, "K": K, "T": T, "r": r, "q": q, "v": v} | kw
        return _run(args["S"], args["K"], args["T"], args["r"], args["q"], args["v"], w)[0][row, 0]

    out, _ = _run(S, K, T, r, q, v, w)
    sd = v * math.sqrt(T)
    hs, hv, ht, hr = 1e-3 * S * min(sd, 0.1), 1e-5 * min(v, 1.0), 1e-6 * T, 1e-6
    fd = {
        "delta": (price(S=S + hs) - price(S=S - hs)) / (2 * hs),
        "gamma": (row_at(1, S=S + hs) - row_at(1, S=S - hs)) / (2 * hs),  # of the delta
        "vega": (price(v=v + hv) - price(v=v - hv)) / (2 * hv),
        "theta": -(price(T=T + ht) - price(T=T - ht)) / (2 * ht),
        "rho": (price(r=r + hr) - price(r=r - hr)) / (2 * hr),
    }
    scale = {"delta": 1.0, "gamma": 1.0 / S, "vega": S, "theta": S, "rho": S * T}
    for name, approx in fd.items():
        got = out[ROWS.index(name), 0]
        assert abs(got - approx) <= 2e-5 * scale[name] + 1e-4 * abs(got), (name, got, approx)


@settings(max_examples=200, deadline=None)
@given(contract)
def test_monotone_in_strike_and_vol(c) -> None:
    S, K, T, r, q, v = _unpack(c)
    ks = K * np.array([0.98, 0.99, 1.0, 1.01, 1.02])
    calls = _run(S, ks, T, r, q, v, 1)[0][0]
    puts = _run(S, ks, T, r, q, v, -1)[0][0]
    assert (np.diff(calls) <= 0).all()
    assert (np.diff(puts) >= 0).all()
    vols = v * np.array([0.9, 0.95, 1.0, 1.05, 1.1])
    assert (np.diff(_run(S, K, T, r, q, vols, 1)[0][0]) >= 0).all()


# Edge cases by name ---------------------------------------------------------------------------


def test_expiry_today_gives_intrinsic_and_limit_greeks() -> None:
    out, status = _run([90.0, 110.0, 100.0], 100.0, 0.0, 0.05, 0.0, 0.2, 1)
    assert (status == OK).all()
    np.testing.assert_array_equal(out[0], [0.0, 10.0, 0.0])
    np.testing.assert_array_equal(out[1], [0.0, 1.0, 0.5])
    assert out[2, 0] == 0.0
    assert out[2, 1] == 0.0
    assert out[2, 2] == math.inf


def test_expiry_in_seconds_converges_to_intrinsic() -> None:
    t = 30.0 / (365.0 * 86400.0)
    out, status = _run([90.0, 110.0], 100.0, t, 0.05, 0.0, 0.2, 1)
    assert (status == OK).all()
    assert out[0, 0] < 1e-300
    assert out[0, 1] == pytest.approx(110.0 - 100.0 * math.exp(-0.05 * t), rel=1e-15)
    assert out[1, 0] == 0.0
    assert out[1, 1] == 1.0


def test_zero_vol_is_discounted_forward_intrinsic() -> None:
    out, status = _run([90.0, 110.0], 100.0, 1.0, 0.05, 0.01, 0.0, [1, -1])
    assert (status == OK).all()
    assert out[0, 0] == pytest.approx(max(90 * math.exp(-0.01) - 100 * math.exp(-0.05), 0.0))
    assert out[0, 1] == pytest.approx(max(100 * math.exp(-0.05) - 110 * math.exp(-0.01), 0.0))
    assert out[2, 0] == 0.0
    assert out[3, 0] == 0.0


def test_tiny_vol_matches_zero_vol_limit() -> None:
    tiny, _ = _run(120.0, 100.0, 1.0, 0.03, 0.0, 1e-9, 1)
    zero, _ = _run(120.0, 100.0, 1.0, 0.03, 0.0, 0.0, 1)
    np.testing.assert_allclose(tiny[:2], zero[:2], rtol=1e-14)


@pytest.mark.parametrize(
    ("name", "S", "K"),
    [("deep_itm_call", 300.0, 50.0), ("deep_otm_call", 50.0, 300.0)],
)
def test_deep_moneyness(name: str, S: float, K: float) -> None:
    out, status = _run(S, K, 91 / 365.0, 0.03, 0.01, 0.2, 1)
    ref = _quantlib(S, K, 91, 0.03, 0.01, 0.2, 1)
    assert status[0] == OK, name
    assert out[0, 0] >= 0.0
    assert _close(out[0, 0], ref[0])
    assert _close(out[1, 0], ref[1])


@pytest.mark.parametrize(("r", "q"), [(-0.01, 0.0), (-0.005, -0.01), (0.01, 0.06)])
def test_negative_rates_and_dividend_above_rate(r: float, q: float) -> None:
    out, status = _run([100.0] * 2, 105.0, 365 / 365.0, r, q, 0.3, [1, -1])
    assert (status == OK).all()
    for k, w in enumerate((1, -1)):
        ref = _quantlib(100.0, 105.0, 365, r, q, 0.3, w)
        assert all(_close(out[row, k], ref[row]) for row in range(6))


@pytest.mark.parametrize(
    "bad",
    [
        {"S": 0.0},
        {"S": -1.0},
        {"K": 0.0},
        {"T": -1e-9},
        {"v": -0.1},
        {"S": math.nan},
        {"r": math.inf},
        {"w": 0},
    ],
)
def test_invalid_inputs_give_nan_and_status(bad: dict[str, float]) -> None:
    args = {"S": 100.0, "K": 100.0, "T": 1.0, "r": 0.0, "q": 0.0, "v": 0.2, "w": 1} | bad
    out, status = _run(
        [args["S"], 100.0], args["K"], args["T"], args["r"], args["q"], args["v"], [args["w"], 1]
    )
    assert status[0] == INVALID_INPUT
    assert np.isnan(out[:, 0]).all()
    assert status[1] == (OK if "w" in bad or "S" in bad else INVALID_INPUT)


def test_black76_is_bsm_on_the_forward_with_rho_minus_t_price() -> None:
    F = np.array([95.0, 105.0])
    K = np.array([100.0, 100.0])
    T = np.array([0.5, 0.5])
    r = np.array([0.03, 0.03])
    v = np.array([0.25, 0.25])
    w = np.array([1, -1], dtype=np.int8)
    out = np.empty((9, 2))
    status = np.empty(2, dtype=np.int8)
    bsm.black76_all_greeks_into(F, K, T, r, v, w, out, status)
    ref = bsm_reference(F, K, T, r, r, v, w.astype(float))
    np.testing.assert_allclose(out[0], ref["price"], rtol=1e-13)
    np.testing.assert_allclose(out[5], -T * out[0], rtol=1e-15)
    price = np.empty(2)
    bsm.black76_price_into(F, K, T, r, v, w, price, status)
    np.testing.assert_array_equal(price, out[0])


def test_shape_mismatch_is_a_value_error() -> None:
    a = np.ones(3)
    with pytest.raises(ValueError, match="strike"):
        bsm.price_greeks_into(
            a, np.ones(2), a, a, a, a, np.ones(3, np.int8), np.empty((6, 3)), np.empty(3, np.int8)
        )
    with pytest.raises(ValueError, match="out"):
        bsm.price_greeks_into(
            a, a, a, a, a, a, np.ones(3, np.int8), np.empty((5, 3)), np.empty(3, np.int8)
        )
