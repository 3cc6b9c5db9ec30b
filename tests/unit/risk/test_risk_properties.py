"""Hypothesis: the gate never raises, whatever the intent and the view (NaN marks, zero or
negative equity, huge quantities), and never approves more than was asked."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from greekfire.domain.enums import OptionRight
from greekfire.domain.instruments import OptionContract
from greekfire.domain.orders import Leg, Order, OrderIntent, OrderStatus, OrderType, Side
from greekfire.domain.portfolio import Account, OptionGreeks, Position
from greekfire.risk import CHECKS, GreeksLimits, PortfolioView, RiskConfig, RiskGate

EXPIRY = date(2026, 12, 18)
SYMBOLS = (
    "SPY",
    "QQQ",
    *(
        OptionContract(u, EXPIRY, k, r).symbol
        for u in ("SPY", "QQQ")
        for k in (90.0, 100.0, 110.0)
        for r in (OptionRight.CALL, OptionRight.PUT)
    ),
)

wild = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0.0, max_value=1e4),
    st.sampled_from([0.0, -1.0, math.nan, math.inf, 1e300]),
)
price = st.one_of(st.floats(min_value=0.01, max_value=1_000.0), wild)
qty = st.one_of(
    st.floats(min_value=1e-9, max_value=1e15, allow_nan=False, allow_infinity=False),
    st.integers(min_value=1, max_value=10_000).map(float),
    st.just(1e300),
)


@st.composite
def intents(draw: st.DrawFn, qtys: st.SearchStrategy[float] = qty) -> OrderIntent:
    symbols = draw(st.lists(st.sampled_from(SYMBOLS), min_size=1, max_size=4, unique=True))
    legs = tuple(
        Leg(s, draw(st.sampled_from(Side)), draw(st.integers(min_value=1, max_value=3)))
        for s in symbols
    )
    limit = draw(st.one_of(st.none(), st.floats(min_value=-50.0, max_value=500.0)))
    order_type = OrderType.MARKET if limit is None else OrderType.LIMIT
    try:
        return OrderIntent(
            legs,
            draw(qtys),
            order_type,
            limit,
            strategy=draw(st.sampled_from(["", "wheel"])),
            opening=draw(st.booleans()),
        )
    except ValueError:
        assume(False)
        raise


@st.composite
def sane_intents(draw: st.DrawFn) -> OrderIntent:
    # Plain entries (one leg bought, a few units): the kind a sane view approves.
    symbol = draw(st.sampled_from(SYMBOLS))
    return OrderIntent.single(symbol, Side.BUY, draw(st.integers(min_value=1, max_value=50)))


any_intent = st.one_of(intents(), sane_intents())


@st.composite
def views(draw: st.DrawFn) -> PortfolioView:
    held = draw(st.lists(st.sampled_from(SYMBOLS), max_size=5, unique=True))
    positions = {
        s: Position(s, draw(st.sampled_from([-300.0, -1.0, 1.0, 2.5, 100.0, 1e9])), draw(price))
        for s in held
    }
    marks = {s: draw(price) for s in draw(st.lists(st.sampled_from(SYMBOLS), max_size=10))}
    greeks = {
        s: OptionGreeks(draw(wild), draw(wild), draw(wild), draw(wild))
        for s in draw(st.lists(st.sampled_from(SYMBOLS[2:]), max_size=6))
    }
    orders = tuple(
        Order(f"o{i}", draw(intents()), OrderStatus.NEW)
        for i in range(draw(st.integers(min_value=0, max_value=2)))
    )
    return PortfolioView(
        Account(draw(wild), draw(wild), draw(wild), last_equity_usd=draw(wild)),
        positions=positions,
        marks=marks,
        spots={u: draw(price) for u in draw(st.lists(st.sampled_from(["SPY", "QQQ"])))},
        greeks=greeks,
        vol_annual={"SPY": draw(wild)},
        open_orders=orders,
        equity_peak_usd=draw(wild),
        day_start_equity_usd=draw(wild),
    )


@st.composite
def sane_views(draw: st.DrawFn) -> PortfolioView:
    # Finite, positive money and a mark and Greeks for everything: openings get approved too.
    equity = draw(st.floats(min_value=1_000.0, max_value=1e7))
    held = draw(st.lists(st.sampled_from(SYMBOLS), max_size=3, unique=True))
    marks = {s: draw(st.floats(min_value=0.05, max_value=500.0)) for s in SYMBOLS}
    unit = st.floats(min_value=-1.0, max_value=1.0)
    return PortfolioView(
        Account(equity, equity, draw(st.floats(min_value=0.0, max_value=2 * equity)), equity),
        positions={s: Position(s, draw(st.sampled_from([-2.0, 1.0, 100.0])), 1.0) for s in held},
        marks=marks,
        spots={"SPY": marks["SPY"], "QQQ": marks["QQQ"]},
        greeks={
            s: OptionGreeks(draw(unit), draw(unit), draw(unit), draw(unit)) for s in SYMBOLS[2:]
        },
        vol_annual={"SPY": 0.2, "QQQ": 0.3},
    )


@st.composite
def configs(draw: st.DrawFn) -> RiskConfig:
    limit = st.one_of(st.none(), st.floats(min_value=0.01, max_value=1e6))
    kwargs: dict[str, Any] = {
        "sizing": draw(st.sampled_from(["fixed_fraction", "volatility", "kelly"])),
        "risk_fraction": draw(st.floats(min_value=0.001, max_value=1.0)),
        "kelly_min_trades": 1,
        "max_positions": draw(st.integers(min_value=1, max_value=5)),
        "greeks": GreeksLimits(
            max_abs_delta_usd=draw(limit),
            max_abs_gamma_shares_per_usd=draw(limit),
            max_abs_vega_per_point_usd=draw(limit),
            min_theta_per_day_usd=draw(st.one_of(st.none(), st.floats(-1e6, 0.0))),
        ),
    }
    return RiskConfig(**kwargs)


def assert_well_formed(decision: object, intent: object) -> None:
    from greekfire.risk import RiskDecision

    assert isinstance(decision, RiskDecision)
    if decision.approved:
        assert isinstance(intent, OrderIntent)
        assert 0 < decision.qty <= intent.qty
        if intent.opening:
            assert decision.qty >= 1
        assert decision.denied_by == ""
    else:
        assert decision.qty == 0.0
        assert decision.reasons
        assert decision.denied_by in CHECKS
        assert decision.reasons[-1].startswith(decision.denied_by + ":")


@settings(max_examples=300, deadline=None)
@given(intent=any_intent, view=st.one_of(views(), sane_views()), cfg=configs())
def test_check_never_raises_and_never_raises_the_quantity(
    intent: OrderIntent, view: PortfolioView, cfg: RiskConfig
) -> None:
    gate = RiskGate(cfg)
    assert_well_formed(gate.check(intent, view), intent)
    assert isinstance(gate.halt_reasons(view), tuple)


@settings(max_examples=100, deadline=None)
@given(batch=st.lists(any_intent, max_size=4), view=st.one_of(views(), sane_views()), cfg=configs())
def test_check_all_never_raises(
    batch: list[OrderIntent], view: PortfolioView, cfg: RiskConfig
) -> None:
    decisions = RiskGate(cfg).check_all(batch, view)
    assert len(decisions) == len(batch)
    for decision, intent in zip(decisions, batch, strict=True):
        assert_well_formed(decision, intent)


@settings(max_examples=50, deadline=None)
@given(junk=st.one_of(st.none(), st.integers(), st.text(), st.just(object())), view=views())
def test_garbage_in_is_a_denial(junk: object, view: PortfolioView) -> None:
    decision = RiskGate(RiskConfig()).check(junk, view)  # type: ignore[arg-type]
    assert not decision.approved
    assert decision.denied_by == "input"


def fresh(view: PortfolioView) -> PortfolioView:
    """The same snapshot rebuilt from plain dicts: nothing memoised, nothing inherited."""
    return PortfolioView(
        view.account,
        positions=dict(view.positions),
        marks=dict(view.marks),
        spots=dict(view.spots),
        greeks=dict(view.greeks),
        vol_annual=dict(view.vol_annual),
    )


@settings(max_examples=150, deadline=None)
@given(
    batch=st.lists(
        st.one_of(sane_intents(), intents(st.integers(min_value=1, max_value=1_000).map(float))),
        min_size=1,
        max_size=3,
    ),
    view=sane_views(),
)
def test_what_if_figures_match_a_full_recompute(
    batch: list[OrderIntent], view: PortfolioView
) -> None:
    # The gate warms the view's exposure and Greeks and the what-if inherits them
    # incrementally; a chain of what-ifs must agree with recomputing from scratch (at
    # realistic sizes: at 1e300 units incremental float sums cancel, as any ledger's would).
    current = view
    for intent in batch:
        current.exposure_by_underlying()
        _ = current.portfolio_greeks
        current = current.after(intent, intent.qty, {leg.symbol: 1.0 for leg in intent.legs})
        rebuilt = fresh(current)
        inherited, full = current.exposure_by_underlying(), rebuilt.exposure_by_underlying()
        assert inherited.keys() == full.keys()
        for underlying, value in full.items():
            assert math.isclose(inherited[underlying], value, rel_tol=1e-9, abs_tol=1e-6)
        got, want = current.portfolio_greeks, rebuilt.portfolio_greeks
        assert set(got.missing) == set(want.missing)
        for name in ("delta_shares", "delta_usd", "gamma_shares_per_usd", "vega_per_point_usd"):
            a, b = getattr(got, name), getattr(want, name)
            assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6), name
        assert math.isclose(
            got.theta_per_day_usd, want.theta_per_day_usd, rel_tol=1e-9, abs_tol=1e-6
        )
