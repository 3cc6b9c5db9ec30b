"""RiskGate: each check approves just inside its limit and denies, naming itself, just outside;
Greeks limits on the post-trade portfolio; the kill switch stops entries and lets exits out."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from typing import Any

import pytest

from greekfire.domain.enums import OptionRight
from greekfire.domain.instruments import OptionContract
from greekfire.domain.orders import Leg, Order, OrderIntent, OrderStatus, OrderType, Side
from greekfire.domain.portfolio import Account, OptionGreeks, Position
from greekfire.risk import GreeksLimits, PortfolioView, RiskConfig, RiskDecision, RiskGate

EXPIRY = date(2026, 12, 18)


def opt(strike: float, right: str, underlying: str = "SPY") -> str:
    return OptionContract(underlying, EXPIRY, strike, OptionRight.parse(right)).symbol


def make_view(
    *,
    equity: float = 100_000.0,
    buying_power: float | None = None,
    positions: Mapping[str, float] | None = None,
    marks: Mapping[str, float] | None = None,
    greeks: Mapping[str, OptionGreeks] | None = None,
    peak: float = math.nan,
    day_start: float = math.nan,
    open_orders: tuple[Order, ...] = (),
) -> PortfolioView:
    account = Account(
        cash_usd=equity,
        equity_usd=equity,
        buying_power_usd=equity if buying_power is None else buying_power,
        last_equity_usd=equity,
    )
    marks = dict(marks or {"SPY": 100.0})
    held = {s: Position(s, q, marks.get(s, 1.0)) for s, q in (positions or {}).items()}
    return PortfolioView(
        account,
        positions=held,
        marks=marks,
        spots={s: p for s, p in marks.items() if len(s) < 8},
        greeks=greeks or {},
        open_orders=open_orders,
        equity_peak_usd=peak,
        day_start_equity_usd=day_start,
    )


def loose(**overrides: Any) -> RiskConfig:
    """Limits wide open except those under test."""
    base: dict[str, Any] = {
        "risk_fraction": 1.0,
        "max_positions": 100,
        "max_symbol_exposure_fraction": 100.0,
        "max_total_exposure_fraction": 100.0,
    }
    base.update(overrides)
    return RiskConfig(**base)


def buy(symbol: str, qty: float, *, opening: bool = True) -> OrderIntent:
    return OrderIntent.single(symbol, Side.BUY, qty, opening=opening)


def sell(symbol: str, qty: float, *, opening: bool = True) -> OrderIntent:
    return OrderIntent.single(symbol, Side.SELL, qty, opening=opening)


def assert_denied(decision: RiskDecision, check: str, *words: str) -> None:
    assert not decision.approved, decision
    assert decision.qty == 0.0
    assert decision.denied_by == check
    assert decision.checks[-1] == check
    assert decision.reasons[-1].startswith(f"{check}: ")
    for word in words:
        assert word in decision.reasons[-1], (word, decision.reasons[-1])


def assert_approved(decision: RiskDecision, qty: float) -> None:
    assert decision.approved, decision.reasons
    assert decision.qty == qty
    assert decision.denied_by == ""


# -- input -------------------------------------------------------------------------------------


def test_input_not_an_intent_is_denied_not_raised() -> None:
    decision = RiskGate(loose()).check("buy SPY", make_view())  # type: ignore[arg-type]
    assert_denied(decision, "input", "OrderIntent", "str")


def test_input_nan_equity_denies_entries() -> None:
    view = make_view(equity=math.nan)
    assert_denied(RiskGate(loose()).check(buy("SPY", 1), view), "input", "equity_usd", "nan")
    assert_approved(RiskGate(loose()).check(buy("SPY", 1), make_view()), 1.0)


# -- kill switch -------------------------------------------------------------------------------


def test_daily_loss_just_inside_and_at_the_limit() -> None:
    gate = RiskGate(loose(daily_loss_limit_fraction=0.03))
    inside = make_view(equity=97_000.01, day_start=100_000.0)
    at_limit = make_view(equity=97_000.00, day_start=100_000.0)
    assert gate.halt_reasons(inside) == ()
    assert_approved(gate.check(buy("SPY", 1), inside), 1.0)
    decision = gate.check(buy("SPY", 1), at_limit)
    assert_denied(decision, "kill_switch", "daily loss $3,000.00", "3.00 %", "$100,000.00")
    assert len(gate.halt_reasons(at_limit)) == 1


def test_drawdown_just_inside_and_at_the_limit() -> None:
    gate = RiskGate(loose(max_drawdown_fraction=0.15))
    inside = make_view(equity=85_000.01, peak=100_000.0, day_start=85_000.01)
    at_limit = make_view(equity=85_000.00, peak=100_000.0, day_start=85_000.00)
    assert_approved(gate.check(buy("SPY", 1), inside), 1.0)
    decision = gate.check(buy("SPY", 1), at_limit)
    assert_denied(decision, "kill_switch", "drawdown 15.00 %", "peak $100,000.00", "15.00 %")


@pytest.mark.parametrize(
    ("equity", "peak", "day_start", "why"),
    [(97_000.0, math.nan, 100_000.0, "daily loss"), (80_000.0, 100_000.0, 80_000.0, "drawdown")],
)
def test_kill_switch_stops_entries_but_lets_exits_out(
    equity: float, peak: float, day_start: float, why: str
) -> None:
    gate = RiskGate(loose())
    view = make_view(equity=equity, peak=peak, day_start=day_start, positions={"SPY": 100})
    assert why in gate.halt_reasons(view)[0]
    assert_denied(gate.check(buy("SPY", 10), view), "kill_switch", why)
    assert_denied(gate.check(buy("QQQ", 1), view), "kill_switch")
    exit_ = gate.check(sell("SPY", 100, opening=False), view)
    assert_approved(exit_, 100.0)
    assert exit_.checks == ("input", "closing")


def test_zero_equity_halts_entries() -> None:
    gate = RiskGate(loose())
    view = make_view(equity=0.0)
    assert gate.halt_reasons(view)
    assert_denied(gate.check(buy("SPY", 1), view), "kill_switch", "$0.00")


# -- closing -----------------------------------------------------------------------------------


def test_closing_qty_is_lowered_to_what_is_held() -> None:
    gate = RiskGate(loose())
    view = make_view(positions={"SPY": 30})
    decision = gate.check(sell("SPY", 50, opening=False), view)
    assert_approved(decision, 30.0)
    assert decision.sized_intent.qty == 30.0
    assert decision.reasons[0].startswith("closing: qty lowered from 50 to 30")


def test_closing_without_a_position_or_in_the_wrong_direction_is_denied() -> None:
    gate = RiskGate(loose())
    view = make_view(positions={"SPY": 30})
    assert_denied(gate.check(sell("QQQ", 1, opening=False), view), "closing", "QQQ")
    assert_denied(gate.check(buy("SPY", 1, opening=False), view), "closing", "add to")


# -- marks -------------------------------------------------------------------------------------


def test_a_missing_or_nan_mark_denies() -> None:
    gate = RiskGate(loose())
    view = make_view(marks={"SPY": 100.0, "QQQ": math.nan})
    assert_approved(gate.check(buy("SPY", 1), view), 1.0)
    assert_denied(gate.check(buy("QQQ", 1), view), "marks", "QQQ", "nan")
    assert_denied(gate.check(buy("IWM", 1), view), "marks", "IWM")


# -- sizing ------------------------------------------------------------------------------------


def test_sizing_keeps_a_quantity_at_the_rule_and_lowers_one_above_it() -> None:
    # 2 % of $100,000 = $2,000 at risk; stock at $500 -> 4 shares.
    gate = RiskGate(loose(risk_fraction=0.02))
    view = make_view(marks={"SPY": 500.0})
    at_rule = gate.check(buy("SPY", 4), view)
    assert_approved(at_rule, 4.0)
    assert at_rule.reasons == ()
    above = gate.check(buy("SPY", 5), view)
    assert_approved(above, 4.0)
    assert above.reasons[0].startswith("sizing: qty lowered from 5 to 4 by fixed_fraction")
    assert above.sized_intent.qty == 4.0


def test_sizing_below_one_unit_is_denied() -> None:
    gate = RiskGate(loose(risk_fraction=0.02))
    one = make_view(marks={"SPY": 2_000.0})
    assert_approved(gate.check(buy("SPY", 3), one), 1.0)
    none = make_view(marks={"SPY": 2_000.01})
    assert_denied(gate.check(buy("SPY", 3), none), "sizing", "fixed_fraction", "$2,000.01")


def test_sizing_never_raises_the_quantity() -> None:
    gate = RiskGate(loose(risk_fraction=1.0))
    assert_approved(gate.check(buy("SPY", 2), make_view()), 2.0)


# -- max positions -----------------------------------------------------------------------------


def test_max_positions_boundary() -> None:
    gate = RiskGate(loose(max_positions=2))
    marks = {"SPY": 100.0, "QQQ": 100.0, "IWM": 100.0}
    one_held = make_view(positions={"SPY": 1}, marks=marks)
    two_held = make_view(positions={"SPY": 1, "QQQ": 1}, marks=marks)
    assert_approved(gate.check(buy("IWM", 1), one_held), 1.0)
    assert_denied(gate.check(buy("IWM", 1), two_held), "max_positions", "3", "IWM", "limit 2")
    assert_approved(gate.check(buy("SPY", 1), two_held), 1.0)  # adds to a held symbol


# -- exposure ----------------------------------------------------------------------------------


def test_symbol_exposure_boundary() -> None:
    # 20 % of $100,000 = $20,000 in SPY at $100 a share.
    gate = RiskGate(loose(max_symbol_exposure_fraction=0.20))
    view = make_view()
    assert_approved(gate.check(buy("SPY", 200), view), 200.0)
    decision = gate.check(buy("SPY", 201), view)
    assert_denied(decision, "symbol_exposure", "SPY", "$20,100.00", "$20,000.00", "20.00 %")


def test_symbol_exposure_counts_options_by_underlying() -> None:
    # Holding 150 SPY ($15,000) and buying calls at $5.00: 10 contracts = $5,000 -> $20,000.
    call = opt(110.0, "call")
    gate = RiskGate(loose(max_symbol_exposure_fraction=0.20))
    view = make_view(positions={"SPY": 150}, marks={"SPY": 100.0, call: 5.0})
    assert_approved(gate.check(buy(call, 10), view), 10.0)
    assert_denied(gate.check(buy(call, 11), view), "symbol_exposure", "SPY", "$20,500.00")


def test_total_exposure_boundary() -> None:
    # 50 % of $100,000: $40,000 of QQQ held, $10,000 of SPY still fits.
    gate = RiskGate(loose(max_total_exposure_fraction=0.50))
    view = make_view(positions={"QQQ": 400}, marks={"SPY": 100.0, "QQQ": 100.0})
    assert_approved(gate.check(buy("SPY", 100), view), 100.0)
    decision = gate.check(buy("SPY", 101), view)
    assert_denied(decision, "total_exposure", "$50,100.00", "$50,000.00", "now $40,000.00")


# -- buying power ------------------------------------------------------------------------------


def test_buying_power_stock_at_notional_less_open_orders() -> None:
    resting = Order("open-1", buy("QQQ", 10), OrderStatus.NEW)  # reserves 10 * $100
    view = make_view(
        buying_power=11_000.0, marks={"SPY": 100.0, "QQQ": 100.0}, open_orders=(resting,)
    )
    gate = RiskGate(loose(reserve_open_orders=True))
    assert_approved(gate.check(buy("SPY", 100), view), 100.0)
    decision = gate.check(buy("SPY", 101), view)
    assert_denied(decision, "buying_power", "$10,100.00", "$10,000.00", "$1,000.00 reserved")


def test_buying_power_is_the_brokers_own_by_default() -> None:
    # The paper and Alpaca brokers net resting orders out of buying power themselves.
    resting = Order("open-1", buy("QQQ", 10), OrderStatus.NEW)
    view = make_view(
        buying_power=11_000.0, marks={"SPY": 100.0, "QQQ": 100.0}, open_orders=(resting,)
    )
    gate = RiskGate(loose())
    assert_approved(gate.check(buy("SPY", 110), view), 110.0)
    assert_denied(gate.check(buy("SPY", 111), view), "buying_power", "$11,100.00")


def test_buying_power_of_a_credit_spread_is_its_max_loss() -> None:
    # Sell the 450 put, buy the 445 put for a $1.00 credit: $400 max loss a spread.
    short, long = opt(450.0, "put"), opt(445.0, "put")
    spread = OrderIntent((Leg(short, Side.SELL), Leg(long, Side.BUY)), 5, OrderType.LIMIT, -1.0)
    marks = {"SPY": 460.0, short: 3.0, long: 2.0}
    gate = RiskGate(loose())
    assert_approved(gate.check(spread, make_view(buying_power=2_000.0, marks=marks)), 5.0)
    decision = gate.check(spread, make_view(buying_power=1_999.99, marks=marks))
    assert_denied(decision, "buying_power", "$2,000.00", "$1,999.99")


def test_buying_power_of_a_cash_secured_put_is_strike_less_credit() -> None:
    put = opt(450.0, "put")
    csp = OrderIntent.single(put, Side.SELL, 1, limit_price=3.0)
    marks = {"SPY": 460.0, put: 3.0}
    gate = RiskGate(loose())
    assert_approved(gate.check(csp, make_view(buying_power=44_700.0, marks=marks)), 1.0)
    decision = gate.check(csp, make_view(buying_power=44_699.0, marks=marks))
    assert_denied(decision, "buying_power", "$44,700.00", "$44,699.00")


def test_naked_short_call_is_refused_covered_call_passes() -> None:
    call = opt(110.0, "call")
    marks = {"SPY": 100.0, call: 2.0}
    gate = RiskGate(loose())
    naked = gate.check(sell(call, 1), make_view(marks=marks))
    assert not naked.approved
    assert naked.denied_by == "sizing"
    assert "unbounded" in naked.reasons[-1]
    covered = gate.check(sell(call, 1), make_view(marks=marks, positions={"SPY": 100}))
    assert_approved(covered, 1.0)


# -- Greeks on the post-trade portfolio --------------------------------------------------------


def test_delta_limit_boundary_on_the_post_trade_portfolio() -> None:
    gate = RiskGate(loose(greeks=GreeksLimits(max_abs_delta_usd=10_000.0)))
    flat = make_view()
    assert_approved(gate.check(buy("SPY", 100), flat), 100.0)
    assert_denied(gate.check(buy("SPY", 101), flat), "greeks", "net delta $10,100.00")


def test_a_trade_that_would_breach_is_denied_though_the_portfolio_is_within() -> None:
    gate = RiskGate(loose(greeks=GreeksLimits(max_abs_delta_usd=10_000.0)))
    view = make_view(positions={"SPY": 50})
    assert abs(view.portfolio_greeks.delta_usd) <= 10_000.0  # within the limit now
    decision = gate.check(buy("SPY", 60), view)
    assert_denied(decision, "greeks", "$11,000.00 after the trade", "now $5,000.00")


def test_a_hedge_that_reduces_a_breach_is_approved() -> None:
    put = opt(95.0, "put")
    gate = RiskGate(loose(greeks=GreeksLimits(max_abs_delta_usd=10_000.0)))
    view = make_view(
        positions={"SPY": 150},
        marks={"SPY": 100.0, put: 2.0},
        greeks={put: OptionGreeks(-0.2, 0.01, -5.0, 0.1)},
    )
    assert view.portfolio_greeks.delta_usd == 15_000.0  # already beyond the limit
    hedge = gate.check(buy(put, 1), view)  # -20 shares: $13,000, still beyond but smaller
    assert_approved(hedge, 1.0)
    assert_denied(gate.check(buy("SPY", 1), view), "greeks", "$15,100.00")


CALL = opt(105.0, "call")


def call_view(greeks: OptionGreeks) -> PortfolioView:
    return make_view(marks={"SPY": 100.0, CALL: 5.0}, greeks={CALL: greeks})


@pytest.mark.parametrize(
    ("limits", "greeks", "words"),
    [
        # gamma 0.02 a share: 2 contracts = 4 shares per $1.
        (
            GreeksLimits(max_abs_gamma_shares_per_usd=4.0),
            OptionGreeks(0.0, 0.02, 0.0, 0.0),
            ("net gamma", "6"),
        ),
        # vega 10 per 1.00 a share: $10 a point a contract.
        (
            GreeksLimits(max_abs_vega_per_point_usd=20.0),
            OptionGreeks(0.0, 0.0, 0.0, 10.0),
            ("net vega per vol point $30.00", "$20.00"),
        ),
        # theta -36.5 a year a share: -$10 a day a contract.
        (
            GreeksLimits(min_theta_per_day_usd=-20.0),
            OptionGreeks(0.0, 0.0, -36.5, 0.0),
            ("net theta per day $-30.00", "$-20.00"),
        ),
    ],
)
def test_gamma_vega_theta_limits_boundary(
    limits: GreeksLimits, greeks: OptionGreeks, words: tuple[str, ...]
) -> None:
    gate = RiskGate(loose(greeks=limits))
    view = call_view(greeks)
    assert_approved(gate.check(buy(CALL, 2), view), 2.0)
    assert_denied(gate.check(buy(CALL, 3), view), "greeks", *words)


def test_missing_greeks_deny_when_a_greeks_limit_is_set() -> None:
    gate = RiskGate(loose(greeks=GreeksLimits(max_abs_vega_per_point_usd=1_000.0)))
    view = make_view(marks={"SPY": 100.0, CALL: 5.0})
    assert_denied(gate.check(buy(CALL, 1), view), "greeks", "no Greeks", CALL)
    with_greeks = call_view(OptionGreeks(0.5, 0.02, -10.0, 0.2))
    assert_approved(gate.check(buy(CALL, 1), with_greeks), 1.0)


# -- robustness and check_all ------------------------------------------------------------------


def test_an_exception_inside_a_check_is_a_denial_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def boom(*_: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr("greekfire.risk.gate.size_intent", boom)
    decision = RiskGate(loose()).check(buy("SPY", 1), make_view())
    assert_denied(decision, "sizing", "check failed", "RuntimeError", "boom")


def test_check_all_books_each_approval_before_the_next() -> None:
    gate = RiskGate(loose())
    view = make_view(buying_power=10_000.0, marks={"SPY": 100.0, "QQQ": 100.0})
    first, second = gate.check_all([buy("SPY", 60), buy("QQQ", 60)], view)
    assert_approved(first, 60.0)
    assert_denied(second, "buying_power", "$6,000.00", "$4,000.00")
    # Each alone fits: the denial comes from booking the first.
    assert gate.check(buy("QQQ", 60), view).approved


def test_check_all_books_exits_too() -> None:
    gate = RiskGate(loose(max_positions=1))
    view = make_view(positions={"SPY": 10}, marks={"SPY": 100.0, "QQQ": 100.0})
    exit_, entry = gate.check_all([sell("SPY", 10, opening=False), buy("QQQ", 1)], view)
    assert_approved(exit_, 10.0)
    assert_approved(entry, 1.0)
    assert_denied(gate.check(buy("QQQ", 1), view), "max_positions")
