"""The simulated exchange's trading desk through its Starlette routes, on a hand-driven clock.

Times: Tuesday 2024-03-05 is a regular session, 14:30-21:00 UTC (EST); 22:00 UTC is after the
close; Wednesday 2024-03-06 opens at 14:30 UTC.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import httpx
import pandas as pd
import pytest
from starlette.applications import Starlette

from greekfire.exchange.trading import TradingDesk, asset_id, trading_routes
from greekfire.sim.chains import option_chain
from greekfire.sim.market import SyntheticMarket

OPEN_TUE = pd.Timestamp("2024-03-05 15:00", tz="UTC")
CLOSE_TUE = pd.Timestamp("2024-03-05 21:00", tz="UTC")
AFTER_CLOSE_TUE = pd.Timestamp("2024-03-05 22:00", tz="UTC")
OPEN_WED = pd.Timestamp("2024-03-06 14:30", tz="UTC")
START_CASH = 100_000.0


class ManualClock:
    """The exchange clock, moved by hand."""

    def __init__(self, now: pd.Timestamp) -> None:
        self.now = now

    def __call__(self) -> pd.Timestamp:
        return self.now


class Api:
    """Synchronous calls into the ASGI app through httpx's ASGI transport."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    def __call__(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://exchange") as c:
                return await c.request(method, path, **kwargs)

        return asyncio.run(go())

    def order(self, **fields: Any) -> httpx.Response:
        body = {"side": "buy", "type": "market", "time_in_force": "day", **fields}
        return self("POST", "/v2/orders", json=body)


@pytest.fixture(scope="module")
def market() -> SyntheticMarket:
    return SyntheticMarket(["SPY", "AAPL"], seed=7)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(OPEN_TUE)


@pytest.fixture
def desk(market: SyntheticMarket, clock: ManualClock) -> TradingDesk:
    return TradingDesk(market, clock, starting_cash=START_CASH, seed=3)


@pytest.fixture
def api(desk: TradingDesk) -> Api:
    return Api(Starlette(routes=trading_routes(desk)))


def money(text: str) -> float:
    return float(text)


def account(api: Api) -> dict[str, Any]:
    response = api("GET", "/v2/account")
    assert response.status_code == 200
    return dict(response.json())


# ------------------------------------------------------------------ fills and arithmetic


def test_market_buy_fills_at_the_ask_and_updates_cash_position_equity(
    api: Api, market: SyntheticMarket
) -> None:
    quote = market.quote("SPY", OPEN_TUE)
    response = api.order(symbol="SPY", qty=10, client_order_id="buy-1")
    assert response.status_code == 200
    order = response.json()
    assert order["status"] == "filled"
    assert float(order["filled_avg_price"]) == quote.ask
    assert order["filled_qty"] == "10"
    assert order["filled_at"] == "2024-03-05T15:00:00.000000Z"
    assert order["asset_class"] == "us_equity"
    assert order["asset_id"] == asset_id("SPY")

    acct = account(api)
    cash = START_CASH - 10 * quote.ask
    assert money(acct["cash"]) == pytest.approx(cash, abs=0.005)
    spot = market.spot("SPY", OPEN_TUE)
    assert money(acct["long_market_value"]) == pytest.approx(10 * spot, abs=0.005)
    assert money(acct["equity"]) == pytest.approx(cash + 10 * spot, abs=0.01)
    assert acct["equity"] == acct["portfolio_value"]
    # Reg T: buying power is twice the excess over 50 % initial margin
    excess = cash + 10 * spot - 0.5 * 10 * spot
    assert money(acct["buying_power"]) == pytest.approx(2 * excess, abs=0.02)

    (position,) = api("GET", "/v2/positions").json()
    assert position["symbol"] == "SPY"
    assert position["qty"] == "10"
    assert position["side"] == "long"
    assert float(position["avg_entry_price"]) == quote.ask
    assert money(position["cost_basis"]) == pytest.approx(10 * quote.ask)
    assert money(position["market_value"]) == pytest.approx(10 * spot)
    assert money(position["unrealized_pl"]) == pytest.approx(10 * (spot - quote.ask), abs=0.005)


def test_market_sell_without_a_position_opens_a_short_at_the_bid(
    api: Api, market: SyntheticMarket, clock: ManualClock
) -> None:
    quote = market.quote("AAPL", OPEN_TUE)
    order = api.order(symbol="AAPL", qty=4, side="sell").json()
    assert order["status"] == "filled"
    assert float(order["filled_avg_price"]) == quote.bid
    assert order["position_intent"] == "sell_to_open"

    clock.now = OPEN_TUE + pd.Timedelta(minutes=90)
    spot = market.spot("AAPL", clock.now)
    acct = account(api)
    assert money(acct["cash"]) == pytest.approx(START_CASH + 4 * quote.bid, abs=0.005)
    assert money(acct["short_market_value"]) == pytest.approx(-4 * spot, abs=0.005)
    assert money(acct["equity"]) == pytest.approx(START_CASH + 4 * (quote.bid - spot), abs=0.01)
    position = api("GET", "/v2/positions/AAPL").json()
    assert position["side"] == "short"
    assert position["qty"] == "-4"
    assert money(position["unrealized_pl"]) == pytest.approx(4 * (quote.bid - spot), abs=0.005)


def test_adding_and_reducing_keep_the_average_entry_price(
    api: Api, market: SyntheticMarket, clock: ManualClock
) -> None:
    first = market.quote("SPY", OPEN_TUE).ask
    api.order(symbol="SPY", qty=10)
    clock.now = OPEN_TUE + pd.Timedelta(minutes=30)
    second = market.quote("SPY", clock.now).ask
    api.order(symbol="SPY", qty=30)
    average = (10 * first + 30 * second) / 40
    position = api("GET", "/v2/positions/SPY").json()
    assert float(position["avg_entry_price"]) == pytest.approx(average, abs=1e-4)

    sold = api.order(symbol="SPY", qty=15, side="sell").json()
    assert sold["position_intent"] == "sell_to_close"
    position = api("GET", f"/v2/positions/{asset_id('SPY')}").json()
    assert position["qty"] == "25"
    assert float(position["avg_entry_price"]) == pytest.approx(average, abs=1e-4)
    assert money(position["cost_basis"]) == pytest.approx(25 * average, abs=0.005)


def test_notional_order_buys_fractional_shares(api: Api, market: SyntheticMarket) -> None:
    ask = market.quote("SPY", OPEN_TUE).ask
    order = api.order(symbol="SPY", notional=1000).json()
    assert order["status"] == "filled"
    assert order["qty"] is None
    assert order["notional"] == "1000"
    assert float(order["filled_qty"]) == pytest.approx(1000 / ask, abs=1e-9)
    assert money(account(api)["cash"]) == pytest.approx(START_CASH - 1000, abs=0.01)


def test_closed_market_order_is_accepted_then_fills_at_the_next_open(
    api: Api, market: SyntheticMarket, clock: ManualClock
) -> None:
    clock.now = AFTER_CLOSE_TUE
    order = api.order(symbol="SPY", qty=5).json()
    assert order["status"] == "accepted"
    assert order["filled_at"] is None
    assert order["filled_qty"] == "0"
    assert api("GET", "/v2/positions").json() == []

    clock.now = OPEN_WED + pd.Timedelta(minutes=7)
    later = api("GET", f"/v2/orders/{order['id']}").json()
    assert later["status"] == "filled"
    assert later["filled_at"] == "2024-03-06T14:30:00.000000Z"
    assert float(later["filled_avg_price"]) == market.quote("SPY", OPEN_WED).ask


def test_limit_order_rests_then_fills_at_its_limit_when_a_minute_bar_touches_it(
    api: Api, market: SyntheticMarket, clock: ManualClock
) -> None:
    window_end = OPEN_TUE + pd.Timedelta(hours=2)
    bars = market.bars("SPY", OPEN_TUE, window_end, "1m")["SPY"]
    limit = float(bars["low"].min())
    assert limit < market.quote("SPY", OPEN_TUE).ask  # not marketable when sent
    first_touch = bars.index[(bars["low"] <= limit).to_numpy()][0]

    order = api.order(symbol="SPY", qty=3, type="limit", limit_price=limit).json()
    assert order["status"] == "new"
    assert float(order["limit_price"]) == limit

    clock.now = first_touch  # that minute has not completed yet
    assert api("GET", f"/v2/orders/{order['id']}").json()["status"] == "new"

    clock.now = window_end + pd.Timedelta(minutes=1)
    filled = api("GET", f"/v2/orders/{order['id']}").json()
    assert filled["status"] == "filled"
    assert float(filled["filled_avg_price"]) == limit
    end_of_bar = first_touch + pd.Timedelta(minutes=1)
    assert pd.Timestamp(filled["filled_at"]) == end_of_bar
    assert money(account(api)["cash"]) == pytest.approx(START_CASH - 3 * limit, abs=0.005)


def test_marketable_limit_fills_at_once_at_the_better_quote(
    api: Api, market: SyntheticMarket
) -> None:
    quote = market.quote("AAPL", OPEN_TUE)
    buy = api.order(symbol="AAPL", qty=2, type="limit", limit_price=quote.ask + 5).json()
    assert buy["status"] == "filled"
    assert float(buy["filled_avg_price"]) == quote.ask
    sell = api.order(
        symbol="AAPL", qty=2, side="sell", type="limit", limit_price=quote.bid - 5
    ).json()
    assert float(sell["filled_avg_price"]) == quote.bid


def test_day_orders_expire_at_the_close_and_gtc_orders_stay(
    api: Api, market: SyntheticMarket, clock: ManualClock
) -> None:
    far = round(market.spot("SPY", OPEN_TUE) * 0.5, 2)
    day = api.order(symbol="SPY", qty=1, type="limit", limit_price=far).json()
    gtc = api.order(symbol="SPY", qty=1, type="limit", limit_price=far, time_in_force="gtc").json()
    clock.now = AFTER_CLOSE_TUE
    expired = api("GET", f"/v2/orders/{day['id']}").json()
    assert expired["status"] == "expired"
    assert expired["expired_at"] == "2024-03-05T21:00:00.000000Z"
    assert api("GET", f"/v2/orders/{gtc['id']}").json()["status"] == "new"


def test_ioc_order_that_cannot_fill_is_canceled(api: Api, market: SyntheticMarket) -> None:
    far = round(market.spot("SPY", OPEN_TUE) * 0.5, 2)
    order = api.order(
        symbol="SPY", qty=1, type="limit", limit_price=far, time_in_force="ioc"
    ).json()
    assert order["status"] == "canceled"
    assert order["canceled_at"] is not None


def test_last_equity_is_the_equity_at_the_previous_close(
    api: Api, market: SyntheticMarket, clock: ManualClock
) -> None:
    ask = market.quote("SPY", OPEN_TUE).ask
    api.order(symbol="SPY", qty=100)
    assert money(account(api)["last_equity"]) == START_CASH
    clock.now = OPEN_WED + pd.Timedelta(hours=1)
    close_price = market.spot("SPY", CLOSE_TUE)
    expected = START_CASH - 100 * ask + 100 * close_price
    assert money(account(api)["last_equity"]) == pytest.approx(expected, abs=0.01)
    position = api("GET", "/v2/positions/SPY").json()
    assert float(position["lastday_price"]) == close_price
    spot = market.spot("SPY", clock.now)
    assert money(position["unrealized_intraday_pl"]) == pytest.approx(
        100 * (spot - close_price), abs=0.01
    )


# ------------------------------------------------------------------ errors


def test_duplicate_client_order_id_is_refused(api: Api) -> None:
    assert api.order(symbol="SPY", qty=1, client_order_id="same").status_code == 200
    again = api.order(symbol="AAPL", qty=1, client_order_id="same")
    assert again.status_code == 422
    assert again.json() == {"code": 40010001, "message": "client_order_id must be unique"}


def test_insufficient_buying_power_is_403(api: Api) -> None:
    response = api.order(symbol="SPY", qty=1_000_000)
    assert response.status_code == 403
    assert response.json() == {"code": 40310000, "message": "insufficient buying power"}
    assert api("GET", "/v2/orders", params={"status": "all"}).json() == []


def test_open_orders_hold_buying_power(api: Api, market: SyntheticMarket) -> None:
    before = money(account(api)["buying_power"])
    limit = round(market.spot("SPY", OPEN_TUE) * 0.9, 2)
    api.order(symbol="SPY", qty=100, type="limit", limit_price=limit)
    after = money(account(api)["buying_power"])
    assert after == pytest.approx(before - 100 * limit, abs=0.02)


@pytest.mark.parametrize(
    ("fields", "field", "value"),
    [
        ({"symbol": "ZZZZ", "qty": 1}, "symbol", "'ZZZZ'"),
        ({"qty": 1}, "symbol", "None"),
        ({"symbol": "SPY", "qty": 1, "side": "hold"}, "side", "'hold'"),
        ({"symbol": "SPY", "qty": 1, "type": "stop"}, "type", "'stop'"),
        ({"symbol": "SPY", "qty": -3}, "qty", "-3"),
        ({"symbol": "SPY", "qty": "lots"}, "qty", "'lots'"),
        ({"symbol": "SPY", "qty": 1.5, "time_in_force": "gtc"}, "qty", "1.5"),
        ({"symbol": "SPY", "qty": 1, "time_in_force": "opg"}, "time_in_force", "'opg'"),
        ({"symbol": "SPY", "qty": 1, "type": "limit"}, "limit_price", "None"),
        ({"symbol": "SPY", "qty": 1, "type": "limit", "limit_price": 0}, "limit_price", "0"),
        ({"symbol": "SPY", "qty": 1, "limit_price": 10}, "limit_price", "10"),
        ({"symbol": "SPY", "notional": 100, "type": "limit", "limit_price": 1}, "notional", "100"),
        ({"symbol": "SPY", "qty": 1, "stop_price": 10}, "stop_price", "10"),
        ({"symbol": "SPY", "qty": 1, "order_class": "bracket"}, "order_class", "'bracket'"),
        ({"symbol": "SPY", "qty": 1, "extended_hours": True}, "extended_hours", "True"),
        ({"symbol": "SPY"}, "qty", "None"),
    ],
)
def test_bad_orders_are_422_naming_the_field_and_value(
    api: Api, fields: dict[str, Any], field: str, value: str
) -> None:
    body = {"side": "buy", "type": "market", "time_in_force": "day", **fields}
    response = api("POST", "/v2/orders", json=body)
    assert response.status_code == 422
    payload = response.json()
    assert payload["code"] == 40010001
    assert payload["message"].startswith(f"{field}:")
    assert value in payload["message"]


def test_malformed_json_body_is_422(api: Api) -> None:
    response = api("POST", "/v2/orders", content=b"{not json")
    assert response.status_code == 422
    assert response.json()["message"].startswith("request body:")


def test_unknown_position_and_order_are_404(api: Api) -> None:
    missing = api("GET", "/v2/positions/SPY")
    assert missing.status_code == 404
    assert missing.json() == {"code": 40410000, "message": "position does not exist"}
    assert api("DELETE", "/v2/positions/SPY").status_code == 404
    unknown = "0b6a3e1c-4c7e-4a45-9d1a-2c1f0f9b8a71"
    assert api("GET", f"/v2/orders/{unknown}").status_code == 404
    assert api("DELETE", f"/v2/orders/{unknown}").status_code == 404
    by_client = api("GET", "/v2/orders:by_client_order_id", params={"client_order_id": "nope"})
    assert by_client.status_code == 404
    assert by_client.json()["code"] == 40410000


# ------------------------------------------------------------------ order management


def test_by_client_order_id_finds_the_order(api: Api) -> None:
    sent = api.order(symbol="AAPL", qty=2, client_order_id="mine-42").json()
    found = api("GET", "/v2/orders:by_client_order_id", params={"client_order_id": "mine-42"})
    assert found.status_code == 200
    assert found.json()["id"] == sent["id"]
    assert found.json()["client_order_id"] == "mine-42"


def test_default_client_order_id_is_a_uuid(api: Api) -> None:
    import uuid

    order = api.order(symbol="AAPL", qty=1).json()
    assert uuid.UUID(order["client_order_id"]).version == 4
    assert uuid.UUID(order["id"]).version == 4


def test_cancel_an_open_order_then_not_again(
    api: Api, market: SyntheticMarket, clock: ManualClock
) -> None:
    far = round(market.spot("SPY", OPEN_TUE) * 0.5, 2)
    order = api.order(symbol="SPY", qty=1, type="limit", limit_price=far).json()
    clock.now = OPEN_TUE + pd.Timedelta(minutes=1)
    response = api("DELETE", f"/v2/orders/{order['id']}")
    assert response.status_code == 204
    assert response.content == b""
    canceled = api("GET", f"/v2/orders/{order['id']}").json()
    assert canceled["status"] == "canceled"
    assert canceled["canceled_at"] == "2024-03-05T15:01:00.000000Z"
    again = api("DELETE", f"/v2/orders/{order['id']}")
    assert again.status_code == 422
    assert again.json()["code"] == 42210000
    assert "canceled" in again.json()["message"]


def test_cancel_all_answers_207_per_order(api: Api, market: SyntheticMarket) -> None:
    far = round(market.spot("SPY", OPEN_TUE) * 0.5, 2)
    ids = {
        api.order(symbol="SPY", qty=1, type="limit", limit_price=far).json()["id"] for _ in range(3)
    }
    api.order(symbol="SPY", qty=1)  # filled: not canceled
    response = api("DELETE", "/v2/orders")
    assert response.status_code == 207
    rows = response.json()
    assert {r["id"] for r in rows} == ids
    assert {r["status"] for r in rows} == {200}
    assert api("GET", "/v2/orders").json() == []


def test_order_listing_filters(api: Api, market: SyntheticMarket, clock: ManualClock) -> None:
    far = round(market.spot("SPY", OPEN_TUE) * 0.5, 2)
    sent = []
    for k, symbol in enumerate(["SPY", "AAPL", "SPY"]):
        clock.now = OPEN_TUE + pd.Timedelta(minutes=k)
        sent.append(api.order(symbol=symbol, qty=1, type="limit", limit_price=far).json())
    filled = api.order(symbol="AAPL", qty=1).json()

    open_ids = [o["id"] for o in api("GET", "/v2/orders").json()]
    assert open_ids == [o["id"] for o in reversed(sent)]  # newest first
    closed = api("GET", "/v2/orders", params={"status": "closed"}).json()
    assert [o["id"] for o in closed] == [filled["id"]]
    every = api("GET", "/v2/orders", params={"status": "all", "direction": "asc"}).json()
    assert [o["id"] for o in every] == [*(o["id"] for o in sent), filled["id"]]
    spy = api("GET", "/v2/orders", params={"status": "all", "symbols": "SPY"}).json()
    assert {o["symbol"] for o in spy} == {"SPY"}
    assert len(spy) == 2
    assert len(api("GET", "/v2/orders", params={"limit": "1"}).json()) == 1
    after = api("GET", "/v2/orders", params={"after": "2024-03-05T15:00:30Z"}).json()
    assert [o["id"] for o in after] == [sent[2]["id"], sent[1]["id"]]
    bad = api("GET", "/v2/orders", params={"status": "pending"})
    assert bad.status_code == 422
    assert bad.json()["message"].startswith("status:")


def test_replace_moves_a_resting_limit(api: Api, market: SyntheticMarket) -> None:
    far = round(market.spot("SPY", OPEN_TUE) * 0.5, 2)
    old = api.order(symbol="SPY", qty=1, type="limit", limit_price=far).json()
    response = api("PATCH", f"/v2/orders/{old['id']}", json={"limit_price": far + 1, "qty": 2})
    assert response.status_code == 200
    new = response.json()
    assert new["replaces"] == old["id"]
    assert float(new["limit_price"]) == far + 1
    assert new["qty"] == "2"
    replaced = api("GET", f"/v2/orders/{old['id']}").json()
    assert replaced["status"] == "replaced"
    assert replaced["replaced_by"] == new["id"]


def test_close_position_sends_a_market_order(api: Api, market: SyntheticMarket) -> None:
    bid = market.quote("SPY", OPEN_TUE).bid
    api.order(symbol="SPY", qty=10)
    half = api("DELETE", "/v2/positions/SPY", params={"percentage": "50"})
    assert half.status_code == 200
    assert half.json()["side"] == "sell"
    assert half.json()["qty"] == "5"
    assert api("GET", "/v2/positions/SPY").json()["qty"] == "5"
    too_many = api("DELETE", "/v2/positions/SPY", params={"qty": "6"})
    assert too_many.status_code == 403
    rest = api("DELETE", "/v2/positions/SPY").json()
    assert rest["status"] == "filled"
    assert float(rest["filled_avg_price"]) == bid
    assert api("GET", "/v2/positions").json() == []


def test_close_all_positions_answers_207(api: Api) -> None:
    api.order(symbol="SPY", qty=3)
    api.order(symbol="AAPL", qty=2, side="sell")
    response = api("DELETE", "/v2/positions")
    assert response.status_code == 207
    rows = response.json()
    assert [r["symbol"] for r in rows] == ["AAPL", "SPY"]
    assert [r["body"]["side"] for r in rows] == ["buy", "sell"]
    assert api("GET", "/v2/positions").json() == []


def test_fill_activities(api: Api, market: SyntheticMarket) -> None:
    first = api.order(symbol="SPY", qty=3).json()
    second = api.order(symbol="SPY", qty=1, side="sell").json()
    rows = api("GET", "/v2/account/activities/FILL").json()
    assert [r["order_id"] for r in rows] == [second["id"], first["id"]]
    assert rows[1]["activity_type"] == "FILL"
    assert float(rows[1]["price"]) == market.quote("SPY", OPEN_TUE).ask
    assert rows[1]["qty"] == "3"
    assert rows[1]["side"] == "buy"
    page = api("GET", "/v2/account/activities", params={"page_token": rows[0]["id"]}).json()
    assert [r["id"] for r in page] == [rows[1]["id"]]


# ------------------------------------------------------------------ options


def chain_row(market: SyntheticMarket, at: pd.Timestamp, **filters: Any) -> pd.Series:
    chain = option_chain("SPY", market.spot("SPY", at), at, rate=0.04, **filters)
    return chain.iloc[len(chain) // 2]


def test_option_buy_fills_at_the_chain_ask_times_100(
    api: Api, market: SyntheticMarket, desk: TradingDesk
) -> None:
    row = chain_row(market, OPEN_TUE, right="call")
    order = api.order(symbol=row["contract"], qty=2).json()
    assert order["status"] == "filled"
    assert order["asset_class"] == "us_option"
    assert float(order["filled_avg_price"]) == row["ask"]
    acct = account(api)
    assert money(acct["cash"]) == pytest.approx(START_CASH - 2 * 100 * row["ask"], abs=0.005)
    position = api("GET", f"/v2/positions/{row['contract']}").json()
    mid = (row["bid"] + row["ask"]) / 2
    assert position["asset_class"] == "us_option"
    assert money(position["market_value"]) == pytest.approx(200 * mid, abs=0.01)
    assert money(acct["equity"]) == pytest.approx(
        START_CASH - 200 * row["ask"] + 200 * mid, abs=0.01
    )
    # options are not marginable: the premium counts in full against buying power
    assert money(acct["initial_margin"]) == pytest.approx(200 * mid, abs=0.01)


def test_option_rules(api: Api, market: SyntheticMarket) -> None:
    row = chain_row(market, OPEN_TUE, right="put")
    naked = api.order(symbol=row["contract"], qty=1, side="sell")
    assert naked.status_code == 403
    assert naked.json()["code"] == 40310000
    gtc = api.order(symbol=row["contract"], qty=1, time_in_force="gtc")
    assert gtc.status_code == 422
    assert gtc.json()["message"].startswith("time_in_force:")
    partial = api.order(symbol=row["contract"], qty=1.5)
    assert partial.status_code == 422
    assert partial.json()["message"].startswith("qty:")
    unlisted = row["contract"][:-8] + "00000500"  # a $0.50 strike
    missing = api.order(symbol=unlisted, qty=1)
    assert missing.status_code == 422
    assert unlisted in missing.json()["message"]


def test_options_expire_cash_settled_at_intrinsic(
    api: Api, market: SyntheticMarket, clock: ManualClock
) -> None:
    first_expiry = option_chain("SPY", market.spot("SPY", OPEN_TUE), OPEN_TUE, rate=0.04)[
        "expiry"
    ].min()
    row = chain_row(market, OPEN_TUE, right="call", expiry_range=(first_expiry.date(),) * 2)
    api.order(symbol=row["contract"], qty=3)
    cash = money(account(api)["cash"])
    expiry_close = pd.Timestamp(f"{first_expiry.date()} 16:00", tz="America/New_York")
    clock.now = expiry_close.tz_convert("UTC") + pd.Timedelta(hours=1)
    intrinsic = max(0.0, market.spot("SPY", expiry_close) - row["strike"])
    assert api("GET", f"/v2/positions/{row['contract']}").status_code == 404
    assert money(account(api)["cash"]) == pytest.approx(cash + 300 * intrinsic, abs=0.01)
    (settled,) = api("GET", "/v2/account/activities/OPEXP").json()
    assert settled["symbol"] == row["contract"]
    assert math.isclose(float(settled["price"]), intrinsic, abs_tol=1e-4)


def test_account_is_alpaca_shaped(api: Api, desk: TradingDesk) -> None:
    acct = account(api)
    assert acct["id"] == desk.account_id
    assert acct["status"] == "ACTIVE"
    assert acct["currency"] == "USD"
    assert acct["multiplier"] == "2"
    assert acct["cash"] == "100000"
    assert acct["buying_power"] == "200000"
    assert acct["options_approved_level"] == 2
    assert acct["created_at"] == "2024-03-05T15:00:00.000000Z"
    for key in ("equity", "last_equity", "regt_buying_power", "initial_margin", "sma"):
        float(acct[key])  # numbers as strings


def test_position_intent_alone_gives_the_side(api: Api) -> None:
    order = api.order(symbol="SPY", qty=1, side=None, position_intent="buy_to_open").json()
    assert order["side"] == "buy"
    assert order["position_intent"] == "buy_to_open"
    clash = api.order(symbol="SPY", qty=1, side="sell", position_intent="buy_to_open")
    assert clash.status_code == 422
    assert clash.json()["message"].startswith("position_intent:")


def test_asset_ids_match_the_option_contract_ids(market: SyntheticMarket) -> None:
    import uuid

    from greekfire.exchange.trading import ASSET_NAMESPACE

    row = chain_row(market, OPEN_TUE)
    assert asset_id(row["contract"]) == str(uuid.uuid5(ASSET_NAMESPACE, row["contract"]))
    assert asset_id("SPY") == str(uuid.uuid5(ASSET_NAMESPACE, "asset:SPY"))


def test_bad_activity_query_is_422(api: Api) -> None:
    response = api("GET", "/v2/account/activities", params={"page_size": "0"})
    assert response.status_code == 422
    assert response.json()["message"].startswith("page_size:")
    response = api("GET", "/v2/account/activities", params={"after": "yesterday-ish"})
    assert response.status_code == 422
    assert response.json()["message"].startswith("after:")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"starting_cash": 0.0}, "starting_cash"), ({"account_id": "not-a-uuid"}, "account_id")],
)
def test_desk_refuses_bad_parameters(
    market: SyntheticMarket, clock: ManualClock, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        TradingDesk(market, clock, **kwargs)


def test_clock_going_backwards_changes_nothing(
    api: Api, market: SyntheticMarket, clock: ManualClock
) -> None:
    clock.now = AFTER_CLOSE_TUE
    order = api.order(symbol="SPY", qty=1).json()
    clock.now = OPEN_TUE  # earlier than the last evaluation: ignored
    assert api("GET", f"/v2/orders/{order['id']}").json()["status"] == "accepted"
