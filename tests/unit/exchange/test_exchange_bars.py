"""Bars routes of the simulated exchange against ``SyntheticMarket.bars``, in process."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
from typing import Any

import httpx
import orjson
import pandas as pd
import pytest

from greekfire.exchange.app import create_app
from greekfire.exchange.barstore import VWAP_DECIMALS, encode_bars
from greekfire.exchange.config import ExchangeConfig
from greekfire.sim.market import SyntheticMarket

NOW = dt.datetime(2024, 3, 5, 15, 0, tzinfo=dt.UTC)  # Tuesday 10:00 New York, open
SYMBOLS = ("SPY", "AAPL", "MSFT")
AUTH = {"APCA-API-KEY-ID": "greekfire", "APCA-API-SECRET-KEY": "greekfire"}


def _get(
    app: Any, path: str, params: dict[str, Any] | None = None, **headers: str
) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://exchange") as client:
            return await client.get(path, params=params, headers={**AUTH, **headers})

    return asyncio.run(go())


@pytest.fixture(scope="module")
def app() -> Any:
    return create_app(ExchangeConfig(start=NOW, speed=0, symbols=SYMBOLS, seed=3))


@pytest.fixture(scope="module")
def market() -> SyntheticMarket:
    return SyntheticMarket(SYMBOLS, seed=3)


def _ny_midnight_utc(index: pd.DatetimeIndex) -> list[str]:
    local = index.tz_localize(None).tz_localize("America/New_York").tz_convert("UTC")
    return [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in local]


def _all_pages(app: Any, params: dict[str, Any]) -> tuple[dict[str, list[dict[str, Any]]], int]:
    merged: dict[str, list[dict[str, Any]]] = {}
    token: str | None = None
    pages = 0
    while True:
        body = _get(
            app, "/v2/stocks/bars", {**params, "page_token": token} if token else params
        ).json()
        pages += 1
        page_rows = sum(len(v) for v in body["bars"].values())
        assert page_rows <= int(params.get("limit", 1000))
        for symbol, rows in body["bars"].items():
            merged.setdefault(symbol, []).extend(rows)
        token = body["next_page_token"]
        if token is None:
            return merged, pages


def test_daily_bars_match_the_market_exactly(app: Any, market: SyntheticMarket) -> None:
    body = _get(
        app,
        "/v2/stocks/bars",
        {"symbols": "SPY,AAPL", "timeframe": "1Day", "start": "2023-06-01", "end": "2023-12-29"},
    ).json()
    assert list(body["bars"]) == ["AAPL", "SPY"]  # symbol order, as Alpaca pages
    assert body["next_page_token"] is None
    for symbol in ("AAPL", "SPY"):
        frame = market.bars(symbol, dt.date(2023, 6, 1), dt.date(2023, 12, 29), "1d")[symbol]
        rows = body["bars"][symbol]
        assert [r["t"] for r in rows] == _ny_midnight_utc(frame.index)
        assert [r["o"] for r in rows] == frame["open"].tolist()
        assert [r["h"] for r in rows] == frame["high"].tolist()
        assert [r["l"] for r in rows] == frame["low"].tolist()
        assert [r["c"] for r in rows] == frame["close"].tolist()
        assert [r["v"] for r in rows] == frame["volume"].astype(int).tolist()
        assert [r["vw"] for r in rows] == frame["vwap"].round(VWAP_DECIMALS).tolist()
        assert all(isinstance(r["v"], int) and r["n"] == -(-r["v"] // 100) for r in rows)
    assert body["bars"]["SPY"][0]["t"] == "2023-06-01T04:00:00Z"  # EDT midnight
    assert body["bars"]["SPY"][-1]["t"] == "2023-12-29T05:00:00Z"  # EST midnight, end inclusive


def test_intraday_bars_match_the_market_and_stop_at_the_clock(
    app: Any, market: SyntheticMarket
) -> None:
    body = _get(
        app, "/v2/stocks/SPY/bars", {"timeframe": "5Min", "start": "2024-03-04T00:00:00Z"}
    ).json()
    assert body["symbol"] == "SPY"
    frame = market.bars("SPY", dt.date(2024, 3, 4), dt.date(2024, 3, 5), "5m")["SPY"]
    done = frame.loc[frame.index + pd.Timedelta(minutes=5) <= pd.Timestamp(NOW)]
    assert [r["t"] for r in body["bars"]] == [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in done.index]
    assert [r["c"] for r in body["bars"]] == done["close"].tolist()
    assert body["bars"][-1]["t"] == "2024-03-05T14:55:00Z"  # the 15:00 bar is not complete


@pytest.mark.parametrize("timeframe", ["1Min", "1T", "5Min", "15Min", "1Hour", "1H", "1Day", "1D"])
def test_timeframe_spellings(app: Any, timeframe: str) -> None:
    response = _get(
        app,
        "/v2/stocks/SPY/bars",
        {"timeframe": timeframe, "start": "2024-03-01", "end": "2024-03-01"},
    )
    assert response.status_code == 200
    assert response.json()["bars"]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"timeframe": "7Min"}, "invalid timeframe: '7Min'"),
        ({"timeframe": "1Week"}, "invalid timeframe"),
        ({"timeframe": "1Day", "limit": "0"}, "invalid limit: '0'"),
        ({"timeframe": "1Day", "limit": "10001"}, "invalid limit"),
        ({"timeframe": "1Day", "start": "yesterday"}, "invalid start: 'yesterday'"),
        ({"timeframe": "1Day", "start": "2024-03-01T10:00:00"}, "invalid start"),  # naive
        ({"timeframe": "1Day", "start": "2024-03-02", "end": "2024-03-01"}, "invalid end"),
        ({"timeframe": "1Day", "sort": "up"}, "invalid sort: 'up'"),
        ({"timeframe": "1Day", "page_token": "!!!"}, "invalid page_token"),
    ],
)
def test_bad_parameters_answer_400_naming_them(
    app: Any, params: dict[str, str], fragment: str
) -> None:
    response = _get(app, "/v2/stocks/bars", {"symbols": "SPY", **params})
    assert response.status_code == 400
    assert response.json()["code"] == 40010001
    assert fragment in response.json()["message"]


def test_a_malformed_symbol_fails_the_whole_request(app: Any) -> None:
    response = _get(app, "/v2/stocks/bars", {"symbols": "SPY,bad sym", "timeframe": "1Day"})
    assert response.status_code == 400
    assert response.json() == {"code": 40010001, "message": "invalid symbol: 'bad sym'"}


def test_unknown_symbols_are_absent_not_errors(app: Any) -> None:
    body = _get(
        app,
        "/v2/stocks/bars",
        {"symbols": "ZZZZ,SPY", "timeframe": "1Day", "start": "2024-03-01", "end": "2024-03-04"},
    ).json()
    assert list(body["bars"]) == ["SPY"]
    assert len(body["bars"]["SPY"]) == 2


@pytest.mark.parametrize("limit", [1, 7, 100, 250])
def test_pagination_covers_every_bar_once(app: Any, limit: int) -> None:
    params = {
        "symbols": "SPY,MSFT,AAPL",
        "timeframe": "1Day",
        "start": "2023-01-01",
        "end": "2023-12-31",
        "limit": limit,
    }
    merged, pages = _all_pages(app, params)
    whole = _get(app, "/v2/stocks/bars", {**params, "limit": 10_000}).json()
    assert whole["next_page_token"] is None
    assert merged == whole["bars"]
    assert sum(len(v) for v in merged.values()) == 3 * 250
    assert pages == -(-750 // limit)  # no empty trailing page


def test_intraday_pagination_across_sessions(app: Any) -> None:
    params = {
        "symbols": "AAPL,SPY",
        "timeframe": "1Min",
        "start": "2024-02-28",
        "end": "2024-03-01",
        "limit": 500,
    }
    merged, _ = _all_pages(app, params)
    assert {s: len(v) for s, v in merged.items()} == {"AAPL": 3 * 390, "SPY": 3 * 390}
    stamps = [r["t"] for r in merged["SPY"]]
    assert stamps == sorted(set(stamps))


def test_descending_sort_pages_newest_first(app: Any) -> None:
    params = {
        "symbols": "SPY",
        "timeframe": "1Day",
        "start": "2024-01-01",
        "end": "2024-02-29",
        "sort": "desc",
        "limit": 9,
    }
    merged, _ = _all_pages(app, params)
    ascending = _get(app, "/v2/stocks/bars", {**params, "sort": "asc", "limit": 1000}).json()[
        "bars"
    ]["SPY"]
    assert merged["SPY"] == ascending[::-1]


def test_default_range_is_today_until_now(app: Any) -> None:
    body = _get(app, "/v2/stocks/SPY/bars", {"timeframe": "1Hour"}).json()
    assert [r["t"] for r in body["bars"]] == []  # 09:30-10:30 is not complete at 10:00
    body = _get(app, "/v2/stocks/SPY/bars", {"timeframe": "15Min"}).json()
    assert [r["t"] for r in body["bars"]] == ["2024-03-05T14:30:00Z", "2024-03-05T14:45:00Z"]


def test_gzip_when_asked_and_large(app: Any) -> None:
    params = {"symbols": "SPY", "timeframe": "1Day", "start": "2020-01-01", "end": "2023-12-31"}
    packed = _get(app, "/v2/stocks/bars", params, **{"Accept-Encoding": "gzip"})
    plain = _get(app, "/v2/stocks/bars", params, **{"Accept-Encoding": "identity"})
    assert packed.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert packed.json() == plain.json()
    small = _get(
        app,
        "/v2/stocks/SPY/bars",
        {"timeframe": "1Day", "start": "2024-03-01", "end": "2024-03-01"},
        **{"Accept-Encoding": "gzip"},
    )
    assert "content-encoding" not in small.headers


def test_no_gzip_config() -> None:
    app = create_app(ExchangeConfig(start=NOW, speed=0, symbols=("SPY",), gzip=False))
    response = _get(
        app,
        "/v2/stocks/bars",
        {"symbols": "SPY", "timeframe": "1Day", "start": "2020-01-01"},
        **{"Accept-Encoding": "gzip"},
    )
    assert "content-encoding" not in response.headers
    assert len(response.json()["bars"]["SPY"]) == 1000  # the default limit
    assert response.json()["next_page_token"] is not None


def test_bars_log_records_what_was_asked(app: Any) -> None:
    stats = app.state.exchange.stats
    stats.reset()
    _get(
        app,
        "/v2/stocks/bars",
        {"symbols": "SPY,AAPL", "timeframe": "1Day", "start": "2024-01-02", "limit": 5},
    )
    (entry,) = stats.snapshot()["bars_requests"]
    assert entry["symbols"] == ["AAPL", "SPY"]
    assert (entry["timeframe"], entry["start"], entry["limit"]) == ("1Day", "2024-01-02", "5")
    assert entry["page_token"] is None


def test_encoded_rows_are_valid_json_in_both_orders(market: SyntheticMarket) -> None:
    frame = market.bars("MSFT", dt.date(2024, 1, 2), dt.date(2024, 1, 31), "1d")["MSFT"]
    stamps = frame.index.asi8
    encoded = encode_bars(frame, stamps, stamps + 1)
    rows = orjson.loads(b"[" + encoded.rows(0, len(frame)) + b"]")
    assert [r["c"] for r in rows] == frame["close"].tolist()
    assert orjson.loads(b"[" + encoded.rows(3, 6, desc=True) + b"]") == rows[3:6][::-1]
    assert encoded.rows(4, 4) == b""
    assert gzip.decompress(gzip.compress(encoded.body)) == encoded.body
