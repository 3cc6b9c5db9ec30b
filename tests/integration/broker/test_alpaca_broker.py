"""``AlpacaBroker`` over alpaca-py against serve-market on loopback: round trips, the wire ->
domain mapping, events, and the error mapping under injected faults."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from greekfire.broker.alpaca import AlpacaBroker
from greekfire.broker.cached import CachedBroker
from greekfire.broker.config import AlpacaBrokerConfig
from greekfire.domain.enums import OptionRight
from greekfire.domain.orders import (
    EventKind,
    Leg,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    PositionEffect,
    Side,
    TimeInForce,
)
from greekfire.errors import (
    OrderRejected,
    ProviderError,
    RateLimited,
    TransientError,
)
from greekfire.exchange.config import ExchangeConfig
from greekfire.exchange.server import serve_in_thread
from greekfire.sim.chains import option_chain
from greekfire.sim.market import SyntheticMarket

pytestmark = pytest.mark.integration

MakeBroker = Callable[..., AlpacaBroker]
OptionSymbol = Callable[[str, OptionRight], str]
Exchange = Any  # conftest's Exchange: .market (SyntheticMarket), .faults(**settings)
NOW = pd.Timestamp("2024-03-05 15:00", tz="UTC")  # conftest's frozen instant (checked below)
NOW_NS = int(NOW.value)


def _id(tag: str) -> str:
    return f"it-{tag}-{uuid.uuid4().hex[:12]}"


def _market(symbol: str, side: Side, qty: float, *, opening: bool = True) -> Order:
    return Order(_id(side.value), OrderIntent.single(symbol, side, qty, opening=opening))


def _resting_limit(
    exchange: Exchange, symbol: str = "AAPL", tif: TimeInForce = TimeInForce.GTC
) -> Order:
    price = round(exchange.market.spot(symbol, NOW) * 0.5, 2)
    intent = OrderIntent.single(symbol, Side.BUY, 2, limit_price=price, tif=tif, strategy="s1")
    return Order(_id("lmt"), intent)


def test_frozen_instant_matches_conftest(now: pd.Timestamp) -> None:
    assert now == NOW


def test_market_buy_round_trip(broker: AlpacaBroker, exchange: Exchange) -> None:
    quote = exchange.market.quote("SPY", NOW)
    before = broker.positions().get("SPY")
    order = _market("SPY", Side.BUY, 5)

    acked = broker.submit(order)

    assert acked.status is OrderStatus.FILLED
    assert acked.client_order_id == order.client_order_id
    assert acked.broker_order_id is not None
    assert acked.intent == order.intent  # the local intent survives: strategy, effects
    assert acked.filled_qty == 5
    assert acked.avg_fill_price == quote.ask  # serve-market fills market buys at the ask
    assert acked.created_ns == NOW_NS
    position = broker.positions()["SPY"]
    assert position.qty == 5 + (before.qty if before else 0)
    assert position.avg_cost > 0
    found = broker.get_order(order.client_order_id)
    assert found is not None
    assert found.status is OrderStatus.FILLED
    assert found.broker_order_id == acked.broker_order_id


def test_intent_is_rebuilt_from_the_wire_by_another_process(
    broker: AlpacaBroker, make_broker: MakeBroker, exchange: Exchange
) -> None:
    order = _resting_limit(exchange)
    broker.submit(order)
    stranger = make_broker()  # knows nothing of the local intent

    seen = stranger.get_order(order.client_order_id)

    assert seen is not None
    assert seen.status is OrderStatus.NEW
    wire = seen.intent
    assert wire.legs == (Leg("AAPL", Side.BUY, 1, PositionEffect.OPEN),)
    assert (wire.qty, wire.order_type, wire.tif) == (2, OrderType.LIMIT, TimeInForce.GTC)
    assert wire.limit_price == pytest.approx(order.intent.limit_price)
    assert wire.strategy == ""  # not on the wire
    assert math.isnan(seen.avg_fill_price)
    broker.cancel(order.client_order_id)


def test_open_orders_oldest_first_and_cancel(broker: AlpacaBroker, exchange: Exchange) -> None:
    first, second = _resting_limit(exchange), _resting_limit(exchange, "SPY", TimeInForce.DAY)
    broker.submit(first)
    broker.submit(second)

    open_ids = [o.client_order_id for o in broker.orders()]

    assert open_ids.index(first.client_order_id) < open_ids.index(second.client_order_id)
    canceled = broker.cancel(first.client_order_id)
    assert canceled.status is OrderStatus.CANCELED
    assert canceled.reason == "alpaca: canceled"
    with pytest.raises(OrderRejected, match="canceled, not open"):
        broker.cancel(first.client_order_id)
    with pytest.raises(OrderRejected, match="no order with client_order_id"):
        broker.cancel(_id("never"))
    broker.cancel(second.client_order_id)
    assert not {first.client_order_id, second.client_order_id} & {
        o.client_order_id for o in broker.orders()
    }


def test_account_maps_alpaca_balances(broker: AlpacaBroker) -> None:
    account = broker.account()
    assert account.ts_ns == NOW_NS
    assert account.equity_usd == pytest.approx(
        account.cash_usd + account.long_market_value_usd + account.short_market_value_usd,
        abs=0.02,
    )
    assert account.buying_power_usd > 0
    assert math.isfinite(account.last_equity_usd)


def test_duplicate_client_id_rejected_with_alpacas_message(
    broker: AlpacaBroker, exchange: Exchange
) -> None:
    order = _resting_limit(exchange)
    broker.submit(order)
    twin = Order(order.client_order_id, OrderIntent.single("SPY", Side.BUY, 1))
    with pytest.raises(OrderRejected, match="client_order_id must be unique"):
        broker.submit(twin)
    found = broker.get_order(order.client_order_id)
    assert found is not None
    assert found.intent == order.intent
    broker.cancel(order.client_order_id)


def test_insufficient_buying_power_and_unknown_symbol(broker: AlpacaBroker) -> None:
    with pytest.raises(OrderRejected, match=r"403.*insufficient buying power"):
        broker.submit(_market("SPY", Side.BUY, 1_000_000))
    with pytest.raises(OrderRejected, match=r"422.*NOPE"):
        broker.submit(_market("NOPE", Side.BUY, 1))
    with pytest.raises(ValueError, match="status"):
        broker.submit(_market("SPY", Side.BUY, 1).with_status(OrderStatus.NEW, NOW_NS))


def test_option_buy_to_open_then_sell_to_close(
    broker: AlpacaBroker, option_symbol: OptionSymbol
) -> None:
    symbol = option_symbol("SPY", OptionRight.PUT)
    seq = broker.events()[-1].seq if broker.events() else 0

    bought = broker.submit(_market(symbol, Side.BUY, 2))
    assert bought.status is OrderStatus.FILLED
    assert bought.intent.legs[0].effect is PositionEffect.OPEN
    assert broker.positions()[symbol].qty == 2
    sold = broker.submit(_market(symbol, Side.SELL, 2, opening=False))
    assert sold.status is OrderStatus.FILLED
    assert symbol not in broker.positions()

    events = broker.events(seq)
    kinds = {(e.client_order_id, e.kind) for e in events}
    assert (bought.client_order_id, EventKind.ORDER_FILLED) in kinds
    assert (sold.client_order_id, EventKind.ORDER_FILLED) in kinds
    sells = [f for e in events for f in e.fills if f.client_order_id == sold.client_order_id]
    assert [(f.symbol, f.side, f.qty) for f in sells] == [(symbol, Side.SELL, 2)]
    assert sells[0].price == sold.avg_fill_price


def test_uncovered_option_sale_is_rejected(
    broker: AlpacaBroker, option_symbol: OptionSymbol
) -> None:
    symbol = option_symbol("AAPL", OptionRight.CALL)
    with pytest.raises(OrderRejected, match="uncovered options"):
        broker.submit(_market(symbol, Side.SELL, 1))


def test_multi_leg_order_goes_as_mleg_and_a_422_is_a_rejection(
    broker: AlpacaBroker, option_symbol: OptionSymbol
) -> None:
    short = option_symbol("SPY", OptionRight.PUT)
    chain_strike = float(short[-8:]) / 1000
    long = short[:-8] + f"{round((chain_strike - 5) * 1000):08d}"
    intent = OrderIntent(
        (
            Leg(short, Side.SELL, 1, PositionEffect.OPEN),
            Leg(long, Side.BUY, 1, PositionEffect.OPEN),
        ),
        1,
        OrderType.LIMIT,
        -0.50,  # a net credit
    )
    with pytest.raises(OrderRejected, match=r"422.*order_class.*mleg"):
        broker.submit(Order(_id("mleg"), intent))


def test_events_are_never_reported_twice(broker: AlpacaBroker, exchange: Exchange) -> None:
    seq = broker.events()[-1].seq if broker.events() else 0
    filled = broker.submit(_market("AAPL", Side.BUY, 1))
    resting = _resting_limit(exchange)
    broker.submit(resting)

    first = broker.events(seq)
    broker.cancel(resting.client_order_id)
    second = broker.events(first[-1].seq)

    kinds = [(e.client_order_id, e.kind) for e in first]
    assert kinds.count((filled.client_order_id, EventKind.ORDER_FILLED)) == 1
    assert kinds.count((resting.client_order_id, EventKind.ORDER_ACCEPTED)) == 1
    assert [(e.client_order_id, e.kind) for e in second] == [
        (resting.client_order_id, EventKind.ORDER_CANCELED)
    ]
    assert broker.events(second[-1].seq) == []
    all_fills = [f.fill_id for e in broker.events(0) for f in e.fills]
    assert len(all_fills) == len(set(all_fills))


def test_rate_limit_is_rate_limited_with_retry_after(
    broker: AlpacaBroker, exchange: Exchange
) -> None:
    exchange.faults(
        rate_limit_rps=0.001, rate_limit_burst=1, retry_after_s=7, paths=["/v2/account"]
    )
    broker.account()  # takes the only token
    with pytest.raises(RateLimited, match="429") as caught:
        broker.account()
    assert caught.value.retry_after_s == 7.0
    assert broker.positions() is not None  # other paths are not limited


def test_server_errors_are_transient(broker: AlpacaBroker, exchange: Exchange) -> None:
    exchange.faults(error_rate=1.0, paths=["/v2/positions", "/v2/orders"], seed=3)
    for _ in range(4):  # 500, 502, 503 or 504: never retried and slept on by alpaca-py
        with pytest.raises(TransientError, match="Alpaca answered 50"):
            broker.positions()
    with pytest.raises(TransientError):
        broker.submit(_market("SPY", Side.BUY, 1))
    exchange.faults(fail_first_n=1, paths=["/v2/account"])
    with pytest.raises(TransientError, match="503"):
        broker.account()
    assert broker.account().equity_usd > 0


def test_dropped_connection_and_timeout_are_transient(
    make_broker: MakeBroker, exchange: Exchange
) -> None:
    broker = make_broker(timeout_s=0.3)
    exchange.faults(drop_rate=1.0, paths=["/v2/account"])
    with pytest.raises(TransientError, match="ConnectionError"):
        broker.account()
    exchange.faults(hang_rate=1.0, hang_s=2.0, paths=["/v2/account"])
    with pytest.raises(TransientError, match="Timeout"):
        broker.account()
    exchange.faults()
    assert broker.account().equity_usd > 0


def test_bad_credentials_are_a_provider_error(make_broker: MakeBroker) -> None:
    broker = make_broker(secret_key="wrong")
    with pytest.raises(ProviderError, match="401") as caught:
        broker.account()
    assert not isinstance(caught.value, TransientError)
    with pytest.raises(ProviderError, match="401"):
        broker.get_order("anything")  # only a 404 means "never received"


def test_option_expiry_is_an_event_and_drops_the_account_cache() -> None:
    # A second exchange whose clock runs at 120x from two minutes before a Friday close:
    # an option bought now expires at 16:00 New York and serve-market books an OPEXP.
    start = pd.Timestamp("2024-03-08 20:58", tz="UTC")  # Friday 15:58 New York
    config = ExchangeConfig(
        symbols=("SPY",),
        seed=5,
        start=start.to_pydatetime(),
        speed=120.0,
        key_id="k",
        secret_key="s",
    )
    market = SyntheticMarket(("SPY",), seed=5)
    spot = market.spot("SPY", start)
    chain = option_chain(
        "SPY", spot, start, rate=0.04, right="call", expiry_range=(start.date(), start.date())
    )
    assert len(chain), "no contract expiring today in the synthetic chain"
    row = chain.loc[(chain["strike"] - spot).abs().idxmin()]
    symbol, strike = str(row["contract"]), float(row["strike"])
    close = pd.Timestamp("2024-03-08 21:00", tz="UTC")
    intrinsic = max(0.0, market.spot("SPY", close) - strike)

    class Wall:
        def now_ns(self) -> int:
            return NOW_NS

    with serve_in_thread(config) as server:
        cfg = AlpacaBrokerConfig(base_url=server.base_url)
        inner = AlpacaBroker(cfg, key_id="k", secret_key="s", clock=Wall())
        broker = CachedBroker(inner, 3600.0, time.monotonic)
        try:
            bought = broker.submit(_market(symbol, Side.BUY, 1))
            assert bought.status is OrderStatus.FILLED
            assert broker.positions()[symbol].qty == 1
            cash_before = broker.account().cash_usd
            settled: list[Any] = []
            deadline = time.monotonic() + 15.0
            while not settled and time.monotonic() < deadline:
                settled = [e for e in broker.events(0) if e.kind is EventKind.OPTION_EXPIRED]
                time.sleep(0.2)
            assert settled, "no OPTION_EXPIRED event within 15 s"
            (event,) = settled
            assert event.symbol == symbol
            assert event.ts_ns == int(close.value)
            (fill,) = event.fills
            assert (fill.symbol, fill.side, fill.qty) == (symbol, Side.SELL, 1)
            assert fill.price == pytest.approx(intrinsic, abs=1e-4)  # cash-settled
            # the cache was dropped by the event: the settlement shows at once
            assert symbol not in broker.positions()
            assert broker.account().cash_usd == pytest.approx(
                cash_before + 100 * fill.price, abs=0.011
            )
            assert [e.kind for e in broker.events(event.seq)] == []
        finally:
            broker.close()
