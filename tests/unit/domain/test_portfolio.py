"""Positions, the cash ledger, cents() and portfolio Greeks, checked against hand computations
and exact Decimal arithmetic."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greekfire.domain.orders import Fill, Side
from greekfire.domain.portfolio import (
    Account,
    Ledger,
    OptionGreeks,
    Position,
    cents,
    portfolio_greeks,
)

CALL = "XYZ260116C00100000"
PUT = "XYZ260116P00095000"
OTHER_CALL = "ABC260116C00050000"
CENT = Decimal("0.01")


def _fill(symbol: str, side: Side, qty: float, price: float, fee: float = 0.0, n: int = 0) -> Fill:
    return Fill(f"f{n}", f"c{n}", symbol, side, qty, price, fee, n)


# --- cents ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "want"),
    [
        (1.005, 1.01),  # 1.005 is 1.00499999999999989... in binary
        (2.675, 2.68),  # 2.67499999999999982...
        (1.115, 1.12),
        (0.015, 0.02),
        (0.005, 0.01),
        (-0.005, -0.01),
        (-1.005, -1.01),
        (-2.675, -2.68),
        (1.004, 1.0),
        (1.006, 1.01),
        (-1.236, -1.24),
        (0.0049, 0.0),
        (123456.785, 123456.79),
        (0.0, 0.0),
    ],
)
def test_cents_rounds_half_away_from_zero(amount: float, want: float) -> None:
    assert cents(amount) == want


def test_plain_round_gets_the_binary_cases_wrong() -> None:
    # the reason cents() exists: Python's round() sees the binary value, not the decimal one
    assert round(2.675, 2) == 2.67
    assert cents(2.675) == 2.68


def test_cents_never_returns_negative_zero() -> None:
    assert math.copysign(1.0, cents(-0.001)) == 1.0
    assert math.copysign(1.0, cents(-0.0)) == 1.0


@given(st.integers(-(10**10), 10**10))
def test_cents_matches_decimal_half_up_on_mills(mills: int) -> None:
    # any amount with three decimals up to $10M: the decimal rule, exactly
    want = Decimal(mills).scaleb(-3).quantize(CENT, ROUND_HALF_UP)
    assert cents(mills / 1000.0) == float(want)


@given(st.integers(-(10**11), 10**11))
def test_cents_is_idempotent_on_cent_amounts(n: int) -> None:
    amount = n / 100.0
    assert cents(amount) == amount
    assert cents(cents(amount)) == cents(amount)


# --- positions -----------------------------------------------------------------------------------


def test_open_add_partial_close_full_close() -> None:
    pos, realized = Position("SPY").apply(10, 100.0)
    assert (pos.qty, pos.avg_cost, realized) == (10, 100.0, 0.0)

    pos, realized = pos.apply(10, 110.0)  # add: average cost
    assert (pos.qty, pos.avg_cost, realized) == (20, 105.0, 0.0)

    pos, realized = pos.apply(-5, 120.0)  # partial close: realise, keep the average
    assert pos.qty == 15
    assert pos.avg_cost == 105.0
    assert realized == pytest.approx(75.0)
    assert pos.realized_pnl_usd == pytest.approx(75.0)

    pos, realized = pos.apply(-15, 100.0)  # full close: flat, average 0
    assert realized == pytest.approx(-75.0)
    assert pos.qty == 0.0
    assert pos.avg_cost == 0.0
    assert pos.is_flat
    assert pos.realized_pnl_usd == pytest.approx(0.0)


def test_flip_long_to_short_opens_the_rest_at_the_fill_price() -> None:
    pos, _ = Position("SPY").apply(10, 100.0)
    pos, realized = pos.apply(-15, 90.0)
    assert realized == pytest.approx(-100.0)  # 10 closed at -10 each
    assert pos.qty == -5
    assert pos.avg_cost == 90.0
    assert pos.unrealized_pnl_usd(80.0) == pytest.approx(50.0)


def test_short_side() -> None:
    pos, _ = Position("SPY").apply(-10, 50.0)
    assert (pos.qty, pos.avg_cost) == (-10, 50.0)
    pos, _ = pos.apply(-10, 60.0)
    assert (pos.qty, pos.avg_cost) == (-20, 55.0)
    assert pos.cost_basis_usd == pytest.approx(-1100.0)
    assert pos.unrealized_pnl_usd(50.0) == pytest.approx(100.0)  # short gains when price falls
    pos, realized = pos.apply(5, 40.0)  # partial cover
    assert realized == pytest.approx(75.0)
    assert (pos.qty, pos.avg_cost) == (-15, 55.0)
    pos, realized = pos.apply(20, 45.0)  # cover through zero
    assert realized == pytest.approx(150.0)
    assert (pos.qty, pos.avg_cost) == (5, 45.0)
    assert pos.realized_pnl_usd == pytest.approx(225.0)


def test_option_positions_use_the_100_multiplier() -> None:
    pos, _ = Position(CALL).apply(2, 1.50, 1.30)
    assert pos.multiplier == 100
    assert pos.cost_basis_usd == pytest.approx(300.0)
    assert pos.market_value_usd(2.0) == pytest.approx(400.0)
    assert pos.unrealized_pnl_usd(2.0) == pytest.approx(100.0)
    pos, realized = pos.apply(-2, 2.25, 1.30)
    assert realized == pytest.approx(150.0)
    assert pos.is_flat
    assert pos.fees_usd == 2.60

    short, _ = Position(PUT).apply(-3, 4.10)
    short, realized = short.apply(1, 1.10)
    assert realized == pytest.approx(300.0)
    assert short.qty == -2
    assert short.market_value_usd(0.5) == pytest.approx(-100.0)


def test_fees_are_kept_apart_to_the_cent() -> None:
    pos = Position("SPY")
    for _ in range(3):
        pos, _ = pos.apply(1, 10.0, 0.1)
    assert pos.fees_usd == 0.3
    assert pos.realized_pnl_usd == 0.0


# --- ledger --------------------------------------------------------------------------------------


def test_ledger_books_stock_and_option_fills() -> None:
    ledger = Ledger(100_000.0)
    ledger.apply_fill(_fill("SPY", Side.BUY, 10, 100.01, 1.00, 1))
    assert ledger.cash_usd == 98_998.90
    ledger.apply_fill(_fill(PUT, Side.SELL, 1, 2.35, 0.65, 2))
    assert ledger.cash_usd == 99_233.25
    assert ledger.fees_usd == 1.65
    assert set(ledger.positions) == {"SPY", PUT}
    assert ledger.position(PUT).qty == -1
    realized = ledger.apply_fill(_fill(PUT, Side.BUY, 1, 0.05, 0.65, 3))
    assert realized == pytest.approx(230.0)
    assert ledger.cash_usd == 99_227.60
    assert set(ledger.positions) == {"SPY"}  # flat positions are dropped
    assert ledger.position(PUT) == Position(PUT)
    assert ledger.realized_pnl_usd == pytest.approx(230.0)


def test_ledger_equity_and_market_value() -> None:
    ledger = Ledger(10_000.0)
    ledger.apply_fill(_fill("SPY", Side.BUY, 10, 100.0, 0.0, 1))
    ledger.apply_fill(_fill(CALL, Side.SELL, 2, 3.0, 0.0, 2))
    long_value, short_value = ledger.market_value_usd({"SPY": 101.0, CALL: 2.5})
    assert long_value == pytest.approx(1010.0)
    assert short_value == pytest.approx(-500.0)
    assert ledger.equity_usd({"SPY": 101.0, CALL: 2.5}) == pytest.approx(10_110.0)
    # a missing mark falls back to the average cost
    assert ledger.equity_usd({}) == pytest.approx(10_000.0)


def test_positions_is_a_copy() -> None:
    ledger = Ledger(1000.0)
    ledger.apply_fill(_fill("SPY", Side.BUY, 1, 10.0))
    ledger.positions.clear()
    assert "SPY" in ledger.positions


def test_ledger_starting_cash_is_rounded_and_validated() -> None:
    assert Ledger(1000.005).cash_usd == 1000.01
    with pytest.raises(ValueError, match=r"^cash_usd: .*nan"):
        Ledger(math.nan)
    with pytest.raises(ValueError, match=r"^cash_usd: .*inf"):
        Ledger(math.inf)


def test_many_small_fills_stay_exact() -> None:
    ledger = Ledger(0.0)
    naive = 0.0
    for n in range(1000):
        ledger.apply_fill(_fill("SPY", Side.SELL, 1, 0.1, 0.0, n))
        naive += 0.1
    assert naive != 100.0  # plain float accumulation drifts
    assert ledger.cash_usd == 100.0
    assert ledger.position("SPY").qty == -1000


SYMBOLS = ["SPY", "QQQ", CALL, PUT]
fills = st.lists(
    st.tuples(
        st.sampled_from(SYMBOLS),
        st.sampled_from(Side),
        st.integers(1, 50),  # units
        st.integers(1, 50_000),  # price in cents
        st.integers(0, 500),  # fee in cents
    ),
    min_size=1,
    max_size=120,
)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 10**9),
    fills,
    st.fixed_dictionaries({s: st.integers(0, 60_000) for s in SYMBOLS}),
)
def test_ledger_is_exact_against_decimal(
    start_cents: int,
    trades: list[tuple[str, Side, int, int, int]],
    mark_cents: dict[str, int],
) -> None:
    start = Decimal(start_cents) * CENT
    ledger = Ledger(float(start))
    cash = start
    fees = Decimal(0)
    realized_total = 0.0
    for n, (symbol, side, qty, price_cents, fee_cents) in enumerate(trades):
        price, fee = Decimal(price_cents) * CENT, Decimal(fee_cents) * CENT
        multiplier = 100 if symbol in (CALL, PUT) else 1
        cash -= side.sign * qty * price * multiplier + fee
        fees += fee
        realized_total += ledger.apply_fill(_fill(symbol, side, qty, float(price), float(fee), n))
        assert ledger.cash_usd == float(cash)  # exact at every step, not just at the end

    assert ledger.fees_usd == float(fees)
    assert ledger.realized_pnl_usd == pytest.approx(realized_total, abs=1e-6)
    marks = {s: c / 100.0 for s, c in mark_cents.items()}
    positions = ledger.positions
    unrealized = sum(p.unrealized_pnl_usd(marks[s]) for s, p in positions.items())
    equity_change = ledger.equity_usd(marks) - float(start)
    assert equity_change == pytest.approx(
        ledger.realized_pnl_usd + unrealized - float(fees), abs=1e-5
    )
    # net quantities agree with the trades
    for symbol in SYMBOLS:
        net = sum(side.sign * qty for s, side, qty, _, _ in trades if s == symbol)
        assert ledger.position(symbol).qty == net


# --- account -------------------------------------------------------------------------------------


def test_account_day_pnl() -> None:
    assert Account(1000.0, 10_500.0, 2000.0, last_equity_usd=10_000.0).day_pnl_usd == 500.0
    assert math.isnan(Account(1000.0, 10_500.0, 2000.0).day_pnl_usd)


# --- portfolio Greeks ----------------------------------------------------------------------------


def test_portfolio_greeks_of_a_hand_computed_book() -> None:
    positions = [
        Position(CALL, 2, 3.0),  # long 2 calls
        Position(PUT, -3, 1.0),  # short 3 puts
        Position("XYZ", 50, 98.0),  # 50 shares
        Position("ABC", 10, 40.0),  # shares without a spot
        Position(OTHER_CALL, 1, 2.0),  # an option without Greeks
    ]
    greeks = {
        CALL: OptionGreeks(delta=0.6, gamma=0.05, theta=-7.3, vega=0.20),
        PUT: OptionGreeks(delta=-0.3, gamma=0.04, theta=-3.65, vega=0.15),
    }
    result = portfolio_greeks(positions, greeks, {"XYZ": 100.0})
    # calls: 200 shares -> delta 120, gamma 10, vega 200*0.20/100 = 0.40, theta 200*-7.3/365 = -4
    # puts: -300 shares -> delta 90, gamma -12, vega -0.45, theta -300*-3.65/365 = +3
    # stock: 50 + 10 shares; only XYZ has a spot for dollars
    assert result.delta_shares == pytest.approx(270.0)
    assert result.delta_usd == pytest.approx(260.0 * 100.0)
    assert result.gamma_shares_per_usd == pytest.approx(-2.0)
    assert result.vega_per_point_usd == pytest.approx(-0.05)
    assert result.theta_per_day_usd == pytest.approx(-1.0)
    assert result.missing == (OTHER_CALL,)


def test_nan_greeks_count_as_missing() -> None:
    nan = OptionGreeks(math.nan, 0.01, -1.0, 0.1)
    result = portfolio_greeks([Position(CALL, 1, 1.0)], {CALL: nan}, {"XYZ": 100.0})
    assert result.missing == (CALL,)
    assert result.delta_shares == 0.0
    assert result.vega_per_point_usd == 0.0


def test_empty_book_is_all_zero() -> None:
    result = portfolio_greeks([], {}, {})
    assert (result.delta_shares, result.delta_usd, result.missing) == (0.0, 0.0, ())


def test_a_restored_ledger_equals_the_saved_one_and_keeps_trading() -> None:
    ledger = Ledger(10_000.0)
    ledger.apply_fill(Fill("f1", "o1", "SPY", Side.BUY, 3, 101.37, 1.0, 1))
    ledger.apply_fill(Fill("f2", "o2", "SPY", Side.BUY, 7, 99.91, 1.0, 2))
    ledger.apply_fill(Fill("f3", "o3", "SPY", Side.SELL, 4, 103.05, 1.0, 3))
    restored = Ledger.restore(
        ledger.cash_usd, ledger.fees_usd, ledger.realized_pnl_usd, ledger.positions.values()
    )
    assert restored.positions == ledger.positions
    assert (restored.cash_usd, restored.fees_usd, restored.realized_pnl_usd) == (
        ledger.cash_usd,
        ledger.fees_usd,
        ledger.realized_pnl_usd,
    )
    closing = Fill("f4", "o4", "SPY", Side.SELL, 6, 98.0, 1.0, 4)
    assert restored.apply_fill(closing) == ledger.apply_fill(closing)
    assert restored.positions == ledger.positions == {}
    assert restored.cash_usd == ledger.cash_usd


def test_restore_refuses_bad_figures_by_name() -> None:
    with pytest.raises(ValueError, match="fees_usd"):
        Ledger.restore(100.0, math.nan, 0.0, [])
    with pytest.raises(ValueError, match="'SPY' appears twice"):
        Ledger.restore(100.0, 0.0, 0.0, [Position("SPY", 1, 10.0), Position("SPY", 2, 11.0)])
