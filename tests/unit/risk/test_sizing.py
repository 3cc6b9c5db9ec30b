"""Sizing rules, max loss per unit and exposure, against hand-computed numbers."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date

import pytest

from greekfire.domain.enums import OptionRight
from greekfire.domain.instruments import OptionContract
from greekfire.domain.orders import Leg, OrderIntent, OrderType, Side
from greekfire.domain.portfolio import Account, OptionGreeks, Position
from greekfire.risk import (
    PortfolioView,
    RiskConfig,
    StrategyStats,
    fixed_fraction_qty,
    kelly_qty,
    max_loss_per_unit,
    size_intent,
    volatility_qty,
)

EXPIRY = date(2026, 12, 18)


def opt(strike: float, right: str) -> str:
    return OptionContract("XYZ", EXPIRY, strike, OptionRight.parse(right)).symbol


def view_of(
    marks: Mapping[str, float],
    positions: Mapping[str, tuple[float, float]] | None = None,
    *,
    equity: float = 100_000.0,
    vol: float | None = None,
    stats: Mapping[str, StrategyStats] | None = None,
    greeks: Mapping[str, OptionGreeks] | None = None,
) -> PortfolioView:
    return PortfolioView(
        Account(equity, equity, equity),
        positions={s: Position(s, q, c) for s, (q, c) in (positions or {}).items()},
        marks=marks,
        spots={"XYZ": marks["XYZ"]} if "XYZ" in marks else {},
        greeks=greeks or {},
        vol_annual={} if vol is None else {"XYZ": vol},
        strategy_stats=stats or {},
    )


# -- the rules ---------------------------------------------------------------------------------


def test_fixed_fraction_hand_computed() -> None:
    assert fixed_fraction_qty(100_000.0, 0.02, 450.0) == 4.0  # 2,000 / 450 = 4.44
    assert fixed_fraction_qty(100_000.0, 0.02, 500.0) == 4.0  # exactly 4
    assert fixed_fraction_qty(100_000.0, 0.02, 2_000.01) == 0.0
    assert fixed_fraction_qty(1_000.0, 0.1 + 0.2, 100.0) == 3.0  # 2.9999999999999996 is 3


def test_fixed_fraction_edges() -> None:
    assert fixed_fraction_qty(100_000.0, 0.02, 0.0) == math.inf  # adds no risk
    assert fixed_fraction_qty(100_000.0, 0.02, math.inf) == 0.0  # unbounded loss
    with pytest.raises(ValueError, match=r"equity_usd.*0"):
        fixed_fraction_qty(0.0, 0.02, 100.0)
    with pytest.raises(ValueError, match=r"max_loss_per_unit_usd.*nan"):
        fixed_fraction_qty(100_000.0, 0.02, math.nan)
    with pytest.raises(ValueError, match=r"risk_fraction"):
        fixed_fraction_qty(100_000.0, -0.02, 100.0)


def test_volatility_scaled_hand_computed() -> None:
    # 2,000 at risk x 0.15 / 0.30 = 1,000 -> 10 units of $100.
    assert volatility_qty(100_000.0, 0.02, 100.0, 0.30, 0.15) == 10.0
    # A calm underlying gets more: 2,000 x 0.15 / 0.10 = 3,000 -> 30 units.
    assert volatility_qty(100_000.0, 0.02, 100.0, 0.10, 0.15) == 30.0
    with pytest.raises(ValueError, match=r"vol_annual.*0"):
        volatility_qty(100_000.0, 0.02, 100.0, 0.0, 0.15)


def test_kelly_hand_computed_and_capped_at_25_percent() -> None:
    # p = 0.4, b = 2: f = 0.4 - 0.6 / 2 = 0.1 -> $10,000 / $1,000 = 10 units.
    assert kelly_qty(100_000.0, 1_000.0, 0.4, 2.0) == 10.0
    # p = 0.6, b = 2: f = 0.4, capped at 0.25 -> 25 units (uncapped would be 40).
    assert kelly_qty(100_000.0, 1_000.0, 0.6, 2.0) == 25.0
    assert kelly_qty(100_000.0, 1_000.0, 0.6, 2.0, cap=0.1) == 10.0
    # A negative edge stakes nothing.
    assert kelly_qty(100_000.0, 1_000.0, 0.3, 1.0) == 0.0


# -- max loss per unit -------------------------------------------------------------------------


def test_max_loss_of_a_cash_secured_put_is_strike_less_credit() -> None:
    put = opt(100.0, "put")
    intent = OrderIntent.single(put, Side.SELL, 1, limit_price=2.5)
    assert max_loss_per_unit(intent, view_of({"XYZ": 105.0, put: 2.4})) == 9_750.0


def test_max_loss_of_verticals() -> None:
    short, long = opt(100.0, "put"), opt(95.0, "put")
    marks = {"XYZ": 105.0, short: 3.0, long: 2.0}
    credit = OrderIntent((Leg(short, Side.SELL), Leg(long, Side.BUY)), 1, OrderType.LIMIT, -1.2)
    assert max_loss_per_unit(credit, view_of(marks)) == pytest.approx(380.0)  # (5 - 1.2) x 100
    at_marks = OrderIntent((Leg(short, Side.SELL), Leg(long, Side.BUY)), 1)
    assert max_loss_per_unit(at_marks, view_of(marks)) == pytest.approx(400.0)
    low, high = opt(100.0, "call"), opt(105.0, "call")
    debit = OrderIntent((Leg(low, Side.BUY), Leg(high, Side.SELL)), 1, OrderType.LIMIT, 2.0)
    assert max_loss_per_unit(debit, view_of({"XYZ": 100.0, low: 4.0, high: 2.0})) == 200.0


def test_max_loss_of_an_iron_condor_is_the_wider_side_less_credit() -> None:
    p_short, p_long, c_short, c_long = (
        opt(95.0, "put"),
        opt(90.0, "put"),
        opt(105.0, "call"),
        opt(112.0, "call"),
    )
    legs = (
        Leg(p_short, Side.SELL),
        Leg(p_long, Side.BUY),
        Leg(c_short, Side.SELL),
        Leg(c_long, Side.BUY),
    )
    condor = OrderIntent(legs, 1, OrderType.LIMIT, -1.5)
    marks = {"XYZ": 100.0, p_short: 1.0, p_long: 0.5, c_short: 1.5, c_long: 0.5}
    assert max_loss_per_unit(condor, view_of(marks)) == pytest.approx(550.0)  # (7 - 1.5) x 100


def test_max_loss_of_long_options_and_stock() -> None:
    call = opt(110.0, "call")
    marks = {"XYZ": 100.0, call: 3.5}
    assert max_loss_per_unit(OrderIntent.single(call, Side.BUY, 2), view_of(marks)) == 350.0
    assert max_loss_per_unit(OrderIntent.single("XYZ", Side.BUY, 2), view_of(marks)) == 100.0
    assert max_loss_per_unit(OrderIntent.single("XYZ", Side.SELL, 2), view_of(marks)) == 100.0
    limit = OrderIntent.single("XYZ", Side.BUY, 2, limit_price=99.0)
    assert max_loss_per_unit(limit, view_of(marks)) == 99.0


def test_short_calls_are_covered_by_free_stock_or_unbounded() -> None:
    call = opt(110.0, "call")
    marks = {"XYZ": 100.0, call: 2.0}
    short = OrderIntent.single(call, Side.SELL, 1)
    assert max_loss_per_unit(short, view_of(marks)) == math.inf
    assert max_loss_per_unit(short, view_of(marks, {"XYZ": (100, 90.0)})) == 0.0
    assert max_loss_per_unit(short, view_of(marks, {"XYZ": (99, 90.0)})) == math.inf
    # The 100 shares already cover a short call held: nothing left for a second one.
    other = opt(115.0, "call")
    held = {"XYZ": (100, 90.0), other: (-1, 1.0)}
    assert max_loss_per_unit(short, view_of({**marks, other: 1.0}, held)) == math.inf
    two = OrderIntent.single(call, Side.SELL, 2)
    assert max_loss_per_unit(two, view_of(marks, {"XYZ": (200, 90.0)})) == 0.0


def test_max_loss_without_a_mark_is_nan() -> None:
    call = opt(110.0, "call")
    assert math.isnan(max_loss_per_unit(OrderIntent.single(call, Side.BUY, 1), view_of({})))


# -- size_intent by the configured rule --------------------------------------------------------


def test_size_intent_by_each_rule() -> None:
    stats = {"wheel": StrategyStats(trades=40, win_rate=0.6, payoff_ratio=2.0)}
    view = view_of({"XYZ": 1_000.0}, vol=0.30, stats=stats)
    intent = OrderIntent.single("XYZ", Side.BUY, 1_000, strategy="wheel")
    fixed = size_intent(intent, view, RiskConfig(risk_fraction=0.02))
    assert (fixed.qty, fixed.rule) == (2.0, "fixed_fraction")
    vol = size_intent(intent, view, RiskConfig(sizing="volatility", risk_fraction=0.06))
    assert (vol.qty, vol.rule) == (3.0, "volatility")  # 6,000 x 0.15 / 0.30 / 1,000
    kelly = size_intent(intent, view, RiskConfig(sizing="kelly"))
    assert (kelly.qty, kelly.rule) == (25.0, "kelly")  # capped at 25 % of 100,000
    assert "capped at 0.25" in kelly.detail


def test_kelly_without_enough_trades_falls_back_to_fixed_fraction() -> None:
    stats = {"wheel": StrategyStats(trades=5, win_rate=0.9, payoff_ratio=5.0)}
    view = view_of({"XYZ": 1_000.0}, stats=stats)
    intent = OrderIntent.single("XYZ", Side.BUY, 1_000, strategy="wheel")
    sizing = size_intent(intent, view, RiskConfig(sizing="kelly", kelly_min_trades=20))
    assert (sizing.qty, sizing.rule) == (2.0, "fixed_fraction")
    assert "needs 20 trades" in sizing.detail
    assert "has 5" in sizing.detail


def test_volatility_sizing_without_a_vol_raises_naming_it() -> None:
    intent = OrderIntent.single("XYZ", Side.BUY, 10)
    with pytest.raises(ValueError, match=r"vol_annual\['XYZ'\]"):
        size_intent(intent, view_of({"XYZ": 100.0}), RiskConfig(sizing="volatility"))


# -- exposure and what-if ----------------------------------------------------------------------


def test_exposure_rules_by_underlying() -> None:
    put, call = opt(95.0, "put"), opt(110.0, "call")
    marks = {"XYZ": 100.0, put: 2.0, call: 3.0, "ABC": 50.0}
    stock_only = view_of(marks, {"XYZ": (10, 90.0), "ABC": (-4, 55.0)})
    assert stock_only.exposure_by_underlying() == {"XYZ": 1_000.0, "ABC": 200.0}
    long_call = view_of(marks, {call: (2, 2.0)})
    assert long_call.exposure_by_underlying() == {"XYZ": 600.0}  # premium at the mark
    short_put = view_of(marks, {put: (-3, 2.5)})
    assert short_put.exposure_by_underlying() == {"XYZ": 28_500.0}  # 95 x 100 x 3
    covered = view_of(marks, {"XYZ": (100, 90.0), call: (-1, 3.0)})
    assert covered.exposure_by_underlying() == {"XYZ": 10_000.0}  # the call adds nothing
    naked = view_of(marks, {call: (-1, 3.0)})
    assert naked.exposure_by_underlying() == {"XYZ": 10_000.0}  # the underlying's notional


def test_exposure_of_a_vertical_is_its_max_loss() -> None:
    short, long = opt(100.0, "put"), opt(95.0, "put")
    view = view_of({"XYZ": 105.0, short: 3.0, long: 2.0}, {short: (-2, 3.0), long: (2, 2.0)})
    assert view.exposure_by_underlying() == {"XYZ": pytest.approx(800.0)}  # (5 - 1) x 100 x 2


def test_after_books_the_intent_and_recomputes_greeks() -> None:
    put = opt(95.0, "put")
    view = view_of(
        {"XYZ": 100.0, put: 2.0},
        greeks={put: OptionGreeks(-0.25, 0.03, -7.3, 0.12)},
    )
    intent = OrderIntent.single(put, Side.SELL, 2, limit_price=2.0)
    after = view.after(intent, 2)
    assert after.positions[put].qty == -2
    assert after.account.cash_usd == 100_400.0
    assert after.account.equity_usd == 100_000.0  # filled at the mark
    assert after.account.buying_power_usd == 100_000.0 - 2 * 9_300.0  # (95 - 2) x 100 x 2
    greeks = after.portfolio_greeks
    assert greeks.delta_shares == pytest.approx(50.0)  # -2 x 100 x -0.25
    assert greeks.delta_usd == pytest.approx(5_000.0)
    assert greeks.theta_per_day_usd == pytest.approx(4.0)  # -200 x -7.3 / 365
    assert view.positions == {}  # the original is untouched
