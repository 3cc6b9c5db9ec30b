"""The official alpaca-py clients against the simulated exchange on real loopback HTTP.

alpaca-py validates every answer with its pydantic models and raises on a missing or mistyped
required field, so each call here is also a wire-format check. The exchange's clock is frozen
(``speed=0``) inside a regular session, and every value is compared with ``SyntheticMarket``.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest

from greekfire.exchange.config import ExchangeConfig
from greekfire.exchange.server import serve_in_thread
from greekfire.sim.chains import option_chain
from greekfire.sim.market import SyntheticMarket

with warnings.catch_warnings():  # alpaca.trading.stream imports websockets.legacy
    warnings.filterwarnings("ignore", "websockets.legacy is deprecated", DeprecationWarning)
    from alpaca.common.exceptions import APIError
    from alpaca.data.historical import StockHistoricalDataClient
    from alpaca.data.requests import StockBarsRequest, StockLatestQuoteRequest
    from alpaca.data.timeframe import TimeFrame
    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import (
        AssetClass,
        OrderSide,
        OrderStatus,
        QueryOrderStatus,
        TimeInForce,
    )
    from alpaca.trading.requests import (
        ClosePositionRequest,
        GetOrdersRequest,
        LimitOrderRequest,
        MarketOrderRequest,
    )

pytestmark = pytest.mark.integration

SYMBOLS = ("SPY", "AAPL")
SEED = 7
NOW = pd.Timestamp("2024-03-05 15:00", tz="UTC")  # Tuesday, 10:00 New York: open
KEY, SECRET = "test-key", "test-secret"


@dataclass(frozen=True)
class Exchange:
    base_url: str
    market: SyntheticMarket


@pytest.fixture(scope="module")
def exchange() -> Iterator[Exchange]:
    config = ExchangeConfig(
        symbols=SYMBOLS,
        seed=SEED,
        start=NOW.to_pydatetime(),
        speed=0.0,  # frozen: every request sees NOW
        key_id=KEY,
        secret_key=SECRET,
    )
    with serve_in_thread(config) as server:
        yield Exchange(server.base_url, SyntheticMarket(SYMBOLS, seed=SEED))


@pytest.fixture
def trading(exchange: Exchange) -> Iterator[TradingClient]:
    client = TradingClient(KEY, SECRET, paper=True, url_override=exchange.base_url)
    yield client
    client._session.close()


@pytest.fixture
def data(exchange: Exchange) -> Iterator[StockHistoricalDataClient]:
    client = StockHistoricalDataClient(KEY, SECRET, url_override=exchange.base_url)
    yield client
    client._session.close()


def test_account(trading: TradingClient) -> None:
    account: Any = trading.get_account()
    assert account.status == "ACTIVE"
    assert account.currency == "USD"
    assert float(account.equity) > 0
    assert float(account.buying_power) == pytest.approx(
        2 * float(account.non_marginable_buying_power)
    )


def test_market_order_round_trip(trading: TradingClient, exchange: Exchange) -> None:
    quote = exchange.market.quote("SPY", NOW)
    cash_before = float(trading.get_account().cash)  # type: ignore[union-attr]
    request = MarketOrderRequest(
        symbol="SPY",
        qty=3,
        side=OrderSide.BUY,
        time_in_force=TimeInForce.DAY,
        client_order_id="itest-market-1",
    )
    order: Any = trading.submit_order(request)
    assert order.status == OrderStatus.FILLED
    assert order.client_order_id == "itest-market-1"
    assert float(order.filled_avg_price) == quote.ask

    again: Any = trading.get_order_by_client_id("itest-market-1")
    assert again.id == order.id
    assert again.filled_at == dt.datetime(2024, 3, 5, 15, 0, tzinfo=dt.UTC)
    cash_after = float(trading.get_account().cash)  # type: ignore[union-attr]
    assert cash_after == pytest.approx(cash_before - 3 * quote.ask, abs=0.005)

    positions: Any = trading.get_all_positions()
    spy = next(p for p in positions if p.symbol == "SPY")
    assert float(spy.current_price) == exchange.market.spot("SPY", NOW)
    assert float(spy.qty) >= 3

    with pytest.raises(APIError) as caught:
        trading.submit_order(request)  # the same client_order_id again
    assert caught.value.status_code == 422
    assert "client_order_id must be unique" in str(caught.value)


def test_limit_order_far_from_the_market_rests_and_cancels(
    trading: TradingClient, exchange: Exchange
) -> None:
    far = round(exchange.market.spot("AAPL", NOW) * 0.5, 2)
    order: Any = trading.submit_order(
        LimitOrderRequest(
            symbol="AAPL",
            qty=1,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.GTC,
            limit_price=far,
            client_order_id="itest-limit-1",
        )
    )
    assert order.status == OrderStatus.NEW
    assert float(order.limit_price) == far
    open_orders: Any = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))
    assert order.id in {o.id for o in open_orders}

    trading.cancel_order_by_id(order.id)
    canceled: Any = trading.get_order_by_id(order.id)
    assert canceled.status == OrderStatus.CANCELED
    closed: Any = trading.get_orders(
        GetOrdersRequest(status=QueryOrderStatus.CLOSED, symbols=["AAPL"])
    )
    assert order.id in {o.id for o in closed}
    assert order.id not in {o.id for o in trading.get_orders()}  # type: ignore[union-attr]


def test_clock(trading: TradingClient) -> None:
    clock: Any = trading.get_clock()
    assert clock.is_open is True
    assert clock.timestamp == NOW.to_pydatetime()
    assert clock.next_close == dt.datetime(2024, 3, 5, 21, 0, tzinfo=dt.UTC)


def test_auth_is_required(exchange: Exchange) -> None:
    client = TradingClient(KEY, "wrong", paper=True, url_override=exchange.base_url)
    try:
        with pytest.raises(APIError) as caught:
            client.get_account()
        assert caught.value.status_code == 401
    finally:
        client._session.close()


def test_multi_symbol_daily_bars(data: StockHistoricalDataClient, exchange: Exchange) -> None:
    start, end = dt.datetime(2024, 2, 1, tzinfo=dt.UTC), dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    barset: Any = data.get_stock_bars(
        StockBarsRequest(
            symbol_or_symbols=list(SYMBOLS), timeframe=TimeFrame.Day, start=start, end=end
        )
    )
    expected = exchange.market.bars(list(SYMBOLS), "2024-02-01", "2024-02-29", "1d")
    for symbol in SYMBOLS:
        bars = barset.data[symbol]
        frame = expected[symbol]
        assert len(bars) == len(frame) == 20  # February 2024: 20 sessions (Presidents' Day)
        got_days = [b.timestamp.astimezone(dt.UTC).date() for b in bars]
        assert got_days == [t.date() for t in frame.index]
        assert [b.open for b in bars] == pytest.approx(frame["open"].tolist())
        assert [b.high for b in bars] == pytest.approx(frame["high"].tolist())
        assert [b.low for b in bars] == pytest.approx(frame["low"].tolist())
        assert [b.close for b in bars] == pytest.approx(frame["close"].tolist())
        assert [b.volume for b in bars] == pytest.approx(frame["volume"].tolist())


def test_multi_symbol_minute_bars(data: StockHistoricalDataClient, exchange: Exchange) -> None:
    start = dt.datetime(2024, 3, 4, 14, 30, tzinfo=dt.UTC)
    end = dt.datetime(2024, 3, 4, 15, 30, tzinfo=dt.UTC)
    barset: Any = data.get_stock_bars(
        StockBarsRequest(
            symbol_or_symbols=list(SYMBOLS), timeframe=TimeFrame.Minute, start=start, end=end
        )
    )
    expected = exchange.market.bars(list(SYMBOLS), pd.Timestamp(start), pd.Timestamp(end), "1m")
    for symbol in SYMBOLS:
        bars = barset.data[symbol]
        frame = expected[symbol]
        assert len(frame) == 61  # start and end inclusive, as Alpaca
        stamps = [pd.Timestamp(b.timestamp).tz_convert("UTC") for b in bars]
        assert stamps == list(frame.index)
        assert [b.open for b in bars] == pytest.approx(frame["open"].tolist())
        assert [b.close for b in bars] == pytest.approx(frame["close"].tolist())
        assert [b.volume for b in bars] == pytest.approx(frame["volume"].tolist())


def test_latest_quotes(data: StockHistoricalDataClient, exchange: Exchange) -> None:
    quotes: Any = data.get_stock_latest_quote(
        StockLatestQuoteRequest(symbol_or_symbols=list(SYMBOLS))
    )
    for symbol in SYMBOLS:
        expected = exchange.market.quote(symbol, NOW)
        assert quotes[symbol].bid_price == expected.bid
        assert quotes[symbol].ask_price == expected.ask


def test_option_order_and_position(trading: TradingClient, exchange: Exchange) -> None:
    chain = option_chain("SPY", exchange.market.spot("SPY", NOW), NOW, rate=0.04, right="call")
    row = chain.iloc[len(chain) // 2]
    order: Any = trading.submit_order(
        MarketOrderRequest(
            symbol=row["contract"], qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
        )
    )
    assert order.status == OrderStatus.FILLED
    assert order.asset_class == AssetClass.US_OPTION
    assert float(order.filled_avg_price) == row["ask"]
    position: Any = trading.get_open_position(row["contract"])
    assert position.asset_class == AssetClass.US_OPTION
    assert float(position.qty) == 2
    assert float(position.cost_basis) == pytest.approx(200 * row["ask"])
    assert float(position.current_price) == pytest.approx((row["bid"] + row["ask"]) / 2)


def test_close_and_cancel_everything(trading: TradingClient, exchange: Exchange) -> None:
    far = round(exchange.market.spot("SPY", NOW) * 0.5, 2)
    resting: Any = trading.submit_order(
        LimitOrderRequest(
            symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, limit_price=far
        )
    )
    canceled: Any = trading.cancel_orders()
    assert [c.id for c in canceled] == [resting.id]
    assert [c.status for c in canceled] == [200]
    closing: Any = trading.close_position("SPY", ClosePositionRequest(qty="1"))
    assert closing.side == OrderSide.SELL
    assert float(closing.filled_avg_price) == exchange.market.quote("SPY", NOW).bid
    results: Any = trading.close_all_positions()
    assert {r.status for r in results} == {200}
    assert trading.get_all_positions() == []
