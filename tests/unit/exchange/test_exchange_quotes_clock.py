"""Latest quotes and trades, clock and calendar of the simulated exchange, in process."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pandas as pd
import pytest

from greekfire.exchange.app import create_app
from greekfire.exchange.config import ExchangeConfig
from greekfire.sim import calendar
from greekfire.sim.market import SyntheticMarket

SYMBOLS = ("SPY", "AAPL")
AUTH = {"APCA-API-KEY-ID": "greekfire", "APCA-API-SECRET-KEY": "greekfire"}


def _get(app: Any, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://exchange") as client:
            return await client.get(path, params=params, headers=AUTH)

    return asyncio.run(go())


def _app(start: dt.datetime) -> Any:
    return create_app(ExchangeConfig(start=start, speed=0, symbols=SYMBOLS, seed=5))


OPEN = dt.datetime(2024, 3, 5, 15, 0, 30, tzinfo=dt.UTC)  # Tuesday 10:00:30 New York


def test_latest_quotes_are_the_market_quotes() -> None:
    app, market = _app(OPEN), SyntheticMarket(SYMBOLS, seed=5)
    body = _get(app, "/v2/stocks/quotes/latest", {"symbols": "SPY,AAPL,NOPE"}).json()
    assert set(body["quotes"]) == {"SPY", "AAPL"}
    for symbol in SYMBOLS:
        quote, wire = market.quote(symbol, OPEN), body["quotes"][symbol]
        assert (wire["bp"], wire["ap"]) == (quote.bid, quote.ask)
        assert (wire["bs"], wire["as"]) == (int(quote.bid_size), int(quote.ask_size))  # shares
        assert wire["t"] == "2024-03-05T15:00:30Z"
        assert wire["c"] == ["R"]
        assert wire["z"] == "C"
    single = _get(app, "/v2/stocks/SPY/quotes/latest").json()
    assert single == {"symbol": "SPY", "quote": body["quotes"]["SPY"]}


def test_latest_trades_carry_the_last_price() -> None:
    app, market = _app(OPEN), SyntheticMarket(SYMBOLS, seed=5)
    body = _get(app, "/v2/stocks/trades/latest", {"symbols": "AAPL"}).json()
    assert body["trades"]["AAPL"]["p"] == market.spot("AAPL", OPEN)
    assert _get(app, "/v2/stocks/AAPL/trades/latest").json()["trade"] == body["trades"]["AAPL"]
    missing = _get(app, "/v2/stocks/NOPE/trades/latest")
    assert missing.status_code == 404
    assert missing.json()["code"] == 40410000


def test_quotes_need_symbols() -> None:
    response = _get(_app(OPEN), "/v2/stocks/quotes/latest")
    assert response.status_code == 400
    assert "symbols" in response.json()["message"]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (
            OPEN,
            {
                "timestamp": "2024-03-05T10:00:30-05:00",
                "is_open": True,
                "next_open": "2024-03-06T09:30:00-05:00",
                "next_close": "2024-03-05T16:00:00-05:00",
            },
        ),
        (  # Good Friday, then the weekend: Monday's session, in EDT
            dt.datetime(2024, 3, 28, 21, 0, tzinfo=dt.UTC),
            {
                "timestamp": "2024-03-28T17:00:00-04:00",
                "is_open": False,
                "next_open": "2024-04-01T09:30:00-04:00",
                "next_close": "2024-04-01T16:00:00-04:00",
            },
        ),
        (  # the day after Thanksgiving closes at 13:00
            dt.datetime(2023, 11, 24, 15, 0, tzinfo=dt.UTC),
            {
                "timestamp": "2023-11-24T10:00:00-05:00",
                "is_open": True,
                "next_open": "2023-11-27T09:30:00-05:00",
                "next_close": "2023-11-24T13:00:00-05:00",
            },
        ),
    ],
)
def test_clock_follows_the_nyse_calendar(now: dt.datetime, expected: dict[str, Any]) -> None:
    body = _get(_app(now), "/v2/clock").json()
    assert body == expected
    assert body["is_open"] == calendar.is_open(now)
    assert pd.Timestamp(body["next_open"]) == calendar.next_open(now)


def test_clock_moves_with_speed() -> None:
    from greekfire.exchange.clock import SimClock

    wall = [0]
    clock = SimClock(OPEN, speed=60.0, wall_ns=lambda: wall[0])
    app = create_app(ExchangeConfig(symbols=SYMBOLS), clock=clock)
    assert _get(app, "/v2/clock").json()["timestamp"] == "2024-03-05T10:00:30-05:00"
    wall[0] = 2 * 1_000_000_000  # two wall seconds = two simulated minutes
    assert _get(app, "/v2/clock").json()["timestamp"] == "2024-03-05T10:02:30-05:00"


def test_calendar_matches_sessions() -> None:
    body = _get(_app(OPEN), "/v2/calendar", {"start": "2023-11-20", "end": "2023-11-30"}).json()
    sessions = calendar.sessions(dt.date(2023, 11, 20), dt.date(2023, 11, 30))
    assert [row["date"] for row in body] == [d.isoformat() for d in sessions["date"]]
    by_date = {row["date"]: row for row in body}
    assert "2023-11-23" not in by_date  # Thanksgiving
    assert by_date["2023-11-24"]["close"] == "13:00"
    assert by_date["2023-11-22"] == {
        "date": "2023-11-22",
        "open": "09:30",
        "close": "16:00",
        "session_open": "0400",
        "session_close": "2000",
        "settlement_date": "2023-11-27",  # T+2, skipping Thanksgiving
    }


def test_calendar_settles_t_plus_one_from_may_2024() -> None:
    body = _get(_app(OPEN), "/v2/calendar", {"start": "2024-05-24", "end": "2024-05-28"}).json()
    assert [(r["date"], r["settlement_date"]) for r in body] == [
        ("2024-05-24", "2024-05-29"),  # T+2 over Memorial Day
        ("2024-05-28", "2024-05-29"),
    ]


def test_calendar_rejects_bad_dates() -> None:
    response = _get(_app(OPEN), "/v2/calendar", {"start": "2024-13-01"})
    assert response.status_code == 400
    assert "invalid start" in response.json()["message"]
