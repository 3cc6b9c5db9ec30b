"""Orders: the status table and Order.with_status, and the validation of legs, intents, orders
and fills (every error names the field and the value)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greekfire.domain.orders import (
    TERMINAL_STATUSES,
    TRANSITIONS,
    Fill,
    Leg,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    PositionEffect,
    Side,
    TimeInForce,
)
from greekfire.errors import StateError

CALL = "SPY240621C00450000"
CALL_HIGHER = "SPY240621C00460000"


def _any(value: object) -> Any:
    # lets a test pass a wrongly typed value past mypy on purpose
    return value


def _order(status: OrderStatus = OrderStatus.PENDING_NEW) -> Order:
    return Order("cid-1", OrderIntent.single("SPY", Side.BUY, 10), status, 1, 1)


# --- the status table ---------------------------------------------------------------------------


def test_table_covers_every_status() -> None:
    assert set(TRANSITIONS) == set(OrderStatus)
    for targets in TRANSITIONS.values():
        assert targets <= set(OrderStatus)


def test_terminal_statuses_have_no_way_out() -> None:
    assert {s for s, targets in TRANSITIONS.items() if not targets} == set(TERMINAL_STATUSES)
    assert {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.EXPIRED,
        OrderStatus.REJECTED,
    } == TERMINAL_STATUSES
    for status in OrderStatus:
        assert status.is_open is (status not in TERMINAL_STATUSES)


def test_nothing_leads_back_to_pending_new() -> None:
    assert all(OrderStatus.PENDING_NEW not in targets for targets in TRANSITIONS.values())


def test_every_open_status_can_end() -> None:
    # from any open status some path reaches a terminal status
    for status in OrderStatus:
        if status.is_open:
            assert TRANSITIONS[status] & TERMINAL_STATUSES


LISTED = [(old, new) for old, targets in TRANSITIONS.items() for new in sorted(targets)]
UNLISTED = [
    (old, new)
    for old in OrderStatus
    for new in OrderStatus
    if new is not old and new not in TRANSITIONS[old]
]


@pytest.mark.parametrize(("old", "new"), LISTED)
def test_every_listed_transition_is_allowed(old: OrderStatus, new: OrderStatus) -> None:
    order = _order(old)
    moved = order.with_status(new, 99, filled_qty=3.0)
    assert moved.status is new
    assert moved.updated_ns == 99
    assert moved.filled_qty == 3.0
    assert moved.created_ns == order.created_ns
    assert order.status is old  # the original is untouched (frozen)


@pytest.mark.parametrize(("old", "new"), UNLISTED)
def test_every_unlisted_transition_raises(old: OrderStatus, new: OrderStatus) -> None:
    with pytest.raises(StateError) as info:
        _order(old).with_status(new, 99)
    message = str(info.value)
    assert "cid-1" in message
    assert repr(old.value) in message
    assert repr(new.value) in message


def test_unlisted_examples() -> None:
    assert (OrderStatus.FILLED, OrderStatus.NEW) in UNLISTED
    assert (OrderStatus.CANCELED, OrderStatus.FILLED) in UNLISTED
    assert (OrderStatus.NEW, OrderStatus.PENDING_NEW) in UNLISTED
    assert (OrderStatus.PARTIALLY_FILLED, OrderStatus.REJECTED) in UNLISTED


@given(st.sampled_from(OrderStatus), st.sampled_from(OrderStatus), st.integers(0, 2**62))
def test_with_status_follows_the_table(old: OrderStatus, new: OrderStatus, ts_ns: int) -> None:
    order = _order(old)
    allowed = new is old or new in TRANSITIONS[old]
    if allowed:
        moved = order.with_status(new, ts_ns)
        assert moved.status is new
        assert moved.updated_ns == ts_ns
    else:
        with pytest.raises(StateError):
            order.with_status(new, ts_ns)


@given(st.lists(st.sampled_from(OrderStatus), max_size=12))
def test_random_walks_never_leave_a_terminal_status(path: list[OrderStatus]) -> None:
    order = _order()
    for step, status in enumerate(path):
        was_terminal = not order.is_open
        try:
            order = order.with_status(status, step)
        except StateError:
            continue
        if was_terminal:
            assert order.status is status  # only the same status is accepted from a terminal


def test_same_status_only_updates_fields() -> None:
    order = _order(OrderStatus.FILLED)
    same = order.with_status(OrderStatus.FILLED, 7, reason="late report")
    assert same.status is OrderStatus.FILLED
    assert same.reason == "late report"
    assert same.updated_ns == 7


def test_with_status_accepts_the_value_and_names_a_bad_one() -> None:
    assert _order().with_status("new", 2).status is OrderStatus.NEW  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^status: .*'bogus'"):
        _order().with_status("bogus", 2)  # type: ignore[arg-type]


# --- sides, intents ----------------------------------------------------------------------------


def test_side_sign_and_opposite() -> None:
    assert Side.BUY.sign == 1
    assert Side.SELL.sign == -1
    assert Side.BUY.opposite is Side.SELL
    assert Side.SELL.opposite is Side.BUY


def test_single_market_and_limit() -> None:
    market = OrderIntent.single("SPY", "buy", 10)
    assert market.order_type is OrderType.MARKET
    assert market.limit_price is None
    assert market.legs == (Leg("SPY", Side.BUY, 1, PositionEffect.OPEN),)
    assert market.symbol == "SPY"
    assert market.side is Side.BUY
    assert not market.is_multi_leg
    assert market.tif is TimeInForce.DAY

    exit_ = OrderIntent.single(CALL, Side.SELL, 2, limit_price=1.25, opening=False)
    assert exit_.order_type is OrderType.LIMIT
    assert exit_.limit_price == 1.25
    assert exit_.legs[0].effect is PositionEffect.CLOSE
    assert exit_.opening is False


def test_multi_leg_net_limit_may_be_a_credit() -> None:
    spread = OrderIntent(
        (Leg(CALL, Side.SELL), Leg(CALL_HIGHER, Side.BUY)),
        1,
        OrderType.LIMIT,
        -2.15,
        TimeInForce.GTC,
    )
    assert spread.is_multi_leg
    assert spread.limit_price == -2.15
    assert spread.symbol == CALL
    assert spread.side is Side.SELL


def test_intent_takes_string_enums() -> None:
    intent = OrderIntent((Leg("SPY", "buy"),), 5, "limit", 10.0, "gtc")  # type: ignore[arg-type]
    assert intent.order_type is OrderType.LIMIT
    assert intent.tif is TimeInForce.GTC
    assert intent.legs[0].side is Side.BUY


@pytest.mark.parametrize(
    ("build", "field", "value"),
    [
        (lambda: OrderIntent((), 1), "legs", "none"),
        (
            lambda: OrderIntent((Leg("SPY", Side.BUY), Leg("SPY", Side.SELL)), 1),
            "legs",
            "['SPY', 'SPY']",
        ),
        (lambda: OrderIntent.single("SPY", Side.BUY, 0), "qty", "0"),
        (lambda: OrderIntent.single("SPY", Side.BUY, -3), "qty", "-3"),
        (lambda: OrderIntent.single("SPY", Side.BUY, math.nan), "qty", "nan"),
        (lambda: OrderIntent.single("SPY", Side.BUY, math.inf), "qty", "inf"),
        (lambda: OrderIntent.single("SPY", "hold", 1), "side", "'hold'"),
        (lambda: OrderIntent.single("SPY", Side.BUY, 1, limit_price=0.0), "limit_price", "0.0"),
        (lambda: OrderIntent.single("SPY", Side.BUY, 1, limit_price=-1.5), "limit_price", "-1.5"),
        (
            lambda: OrderIntent.single("SPY", Side.BUY, 1, limit_price=math.nan),
            "limit_price",
            "nan",
        ),
        (
            lambda: OrderIntent((Leg("SPY", Side.BUY),), 1, OrderType.MARKET, 10.0),
            "limit_price",
            "10.0",
        ),
        (
            lambda: OrderIntent((Leg("SPY", Side.BUY),), 1, OrderType.LIMIT, None),
            "limit_price",
            "None",
        ),
        (lambda: OrderIntent((Leg("SPY", Side.BUY),), 1, _any("stop")), "order_type", "'stop'"),
        (lambda: OrderIntent((Leg("SPY", Side.BUY),), 1, tif=_any("ioc")), "tif", "'ioc'"),
        (lambda: Leg("", Side.BUY), "symbol", "''"),
        (lambda: Leg("SPY241321C00450000", Side.BUY), "expiry", "'241321'"),
        (lambda: Leg("SPY", _any("short")), "side", "'short'"),
        (lambda: Leg("SPY", Side.BUY, 0), "ratio", "0"),
        (lambda: Leg("SPY", Side.BUY, _any(1.5)), "ratio", "1.5"),
        (lambda: Leg("SPY", Side.BUY, True), "ratio", "True"),
        (lambda: Leg("SPY", Side.BUY, 1, _any("both")), "effect", "'both'"),
        (lambda: Order("", OrderIntent.single("SPY", Side.BUY, 1)), "client_order_id", "''"),
        (
            lambda: Order("x" * 129, OrderIntent.single("SPY", Side.BUY, 1)),
            "client_order_id",
            "xxxx",
        ),
        (
            lambda: Order("c", OrderIntent.single("SPY", Side.BUY, 1), _any("bogus")),
            "status",
            "'bogus'",
        ),
        (lambda: Fill("f", "c", "SPY", Side.BUY, 0, 10.0, 0.0, 1), "qty", "0"),
        (lambda: Fill("f", "c", "SPY", Side.BUY, -1, 10.0, 0.0, 1), "qty", "-1"),
        (lambda: Fill("f", "c", "SPY", Side.BUY, 1, -0.01, 0.0, 1), "price", "-0.01"),
        (lambda: Fill("f", "c", "SPY", Side.BUY, 1, math.inf, 0.0, 1), "price", "inf"),
        (lambda: Fill("f", "c", "SPY", Side.BUY, 1, 10.0, -0.65, 1), "fee_usd", "-0.65"),
        (lambda: Fill("f", "c", "SPY", Side.BUY, 1, 10.0, math.nan, 1), "fee_usd", "nan"),
        (lambda: Fill("f", "c", "SPY", _any("lend"), 1, 10.0, 0.0, 1), "side", "'lend'"),
    ],
)
def test_validation_errors_name_field_and_value(
    build: Callable[[], object], field: str, value: str
) -> None:
    with pytest.raises(ValueError, match=f"^{field}:") as info:
        build()
    message = str(info.value)
    assert message.startswith(f"{field}:"), message
    assert value in message, message


def test_enum_errors_list_the_choices() -> None:
    with pytest.raises(ValueError, match="expected one of 'buy', 'sell', got 'hold'"):
        Leg("SPY", "hold")  # type: ignore[arg-type]


# --- orders and fills --------------------------------------------------------------------------


def test_order_defaults_and_remaining_qty() -> None:
    order = Order("cid-9", OrderIntent.single(CALL, Side.SELL, 4, limit_price=2.0))
    assert order.status is OrderStatus.PENDING_NEW
    assert order.is_open
    assert math.isnan(order.avg_fill_price)
    assert order.symbol == CALL
    assert order.side is Side.SELL
    assert order.qty == 4.0
    assert order.remaining_qty == 4.0
    part = order.with_status(OrderStatus.PARTIALLY_FILLED, 5, filled_qty=1.0, avg_fill_price=2.0)
    assert part.remaining_qty == 3.0
    done = part.with_status(OrderStatus.FILLED, 6, filled_qty=4.0)
    assert done.remaining_qty == 0.0
    assert not done.is_open


def test_fill_accepts_zero_price_and_string_side() -> None:
    fill = Fill("f1", "c1", CALL, "sell", 1, 0.0, 0.0, 10)  # type: ignore[arg-type]
    assert fill.side is Side.SELL
    assert fill.price == 0.0
