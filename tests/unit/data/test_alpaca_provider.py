"""AlpacaProvider against scripted HTTP answers (httpx.MockTransport): request shape, paging,
time conventions, error mapping and hostile bodies.

The end-to-end tests against ``greekfire serve-market`` on loopback live in
tests/integration/exchange; here every answer is written by hand so each hostile case is exact.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Callable
from datetime import UTC, date, datetime

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest

from greekfire.data.alpaca import AlpacaCredentials, AlpacaProvider
from greekfire.data.http import AuthError, ConnectionLost, CorruptResponse, ServerError
from greekfire.data.pipeline import AsyncDataPipeline, BatchBarsProvider
from greekfire.data.port import ChainFilter, MarketDataProvider
from greekfire.data.validate import BarValidationError
from greekfire.domain.market import CHAIN_COLUMNS, QUOTE_COLUMNS, Timeframe
from greekfire.errors import ConfigError, ParseError, ProviderError, RateLimited

Handler = Callable[[httpx.Request], httpx.Response]
ENV = {"APCA_API_KEY_ID": "kid", "APCA_API_SECRET_KEY": "s3cr3t-value"}
JAN2 = datetime(2024, 1, 2, tzinfo=UTC)
JAN6 = datetime(2024, 1, 6, tzinfo=UTC)


def bar(t: str, o: float = 10.0, h: float = 11.0, lo: float = 9.0, c: float = 10.5) -> dict:
    return {"t": t, "o": o, "h": h, "l": lo, "c": c, "v": 1000, "n": 10, "vw": 10.2}


DAILY = {
    "AAA": [bar("2024-01-02T05:00:00Z"), bar("2024-01-03T05:00:00Z"), bar("2024-01-04T05:00:00Z")],
    "BBB": [bar("2024-01-02T05:00:00Z", c=10.0), bar("2024-01-05T05:00:00Z", c=10.0)],
}


def provider(handler: Handler, **kwargs: object) -> AlpacaProvider:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return AlpacaProvider(
        client=client, env=ENV, data_url="http://x", trading_url="http://t", **kwargs
    )


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def json_response(doc: object, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, content=orjson.dumps(doc), headers=headers)


class PagedBars:
    """A bars endpoint that pages ``data`` ``per_page`` bars at a time (over all symbols, in
    symbol order, like Alpaca) and records each request's query."""

    def __init__(self, data: dict[str, list[dict]], per_page: int = 10_000) -> None:
        self.flat = [(s, b) for s in sorted(data) for b in data[s]]
        self.per_page = per_page
        self.queries: list[dict[str, str]] = []
        self.headers: list[httpx.Headers] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v2/stocks/bars"
        query = dict(request.url.params)
        self.queries.append(query)
        self.headers.append(request.headers)
        wanted = set(query["symbols"].split(","))
        rows = [(s, b) for s, b in self.flat if s in wanted]
        start = int(query.get("page_token", "0"))
        chunk = rows[start : start + self.per_page]
        out: dict[str, list[dict]] = {}
        for s, b in chunk:
            out.setdefault(s, []).append(b)
        more = start + self.per_page < len(rows)
        return json_response(
            {"bars": out, "next_page_token": str(start + self.per_page) if more else None}
        )


def test_it_is_a_port_and_a_batch_provider() -> None:
    p = provider(PagedBars({}))
    assert isinstance(p, MarketDataProvider)
    assert isinstance(p, BatchBarsProvider)


def test_credentials_come_from_the_environment_and_never_show() -> None:
    creds = AlpacaCredentials.from_env(ENV)
    assert creds.headers() == {"APCA-API-KEY-ID": "kid", "APCA-API-SECRET-KEY": "s3cr3t-value"}
    assert "s3cr3t" not in repr(creds)
    with pytest.raises(ConfigError, match="APCA_API_SECRET_KEY"):
        AlpacaCredentials.from_env({"APCA_API_KEY_ID": "kid"})
    with pytest.raises(ConfigError, match="APCA_API_KEY_ID"):
        AlpacaProvider(env={})


def test_base_urls_from_the_environment_and_checked() -> None:
    env = {**ENV, "APCA_API_DATA_URL": "http://127.0.0.1:9/", "APCA_API_BASE_URL": "http://h:1"}
    p = AlpacaProvider(env=env)
    assert (p.data_url, p.trading_url) == ("http://127.0.0.1:9", "http://h:1")
    run(p.aclose())
    with pytest.raises(ConfigError, match=r"APCA_API_DATA_URL.*ftp://nope"):
        AlpacaProvider(env={**ENV, "APCA_API_DATA_URL": "ftp://nope"})


def test_daily_bars_are_restamped_and_trimmed_to_the_half_open_range() -> None:
    server = PagedBars(DAILY)
    p = provider(server)
    # [Jan 3, Jan 5): the Jan 3 and Jan 4 sessions only.
    frame = run(p.bars("AAA", datetime(2024, 1, 3, tzinfo=UTC), JAN6.replace(day=5), "1d"))
    assert list(frame.index) == [
        pd.Timestamp("2024-01-03", tz="UTC"),
        pd.Timestamp("2024-01-04", tz="UTC"),
    ]
    assert frame.index.name == "timestamp"
    assert str(frame.index.dtype) == "datetime64[ns, UTC]"
    assert list(frame.columns[:5]) == ["open", "high", "low", "close", "volume"]
    assert (frame.dtypes == np.float64).all()
    query = server.queries[0]
    assert query["timeframe"] == "1Day"
    assert query["symbols"] == "AAA"
    # A covering range: whole UTC days from the start's day to noon of the last day.
    assert query["start"] == "2024-01-03T00:00:00Z"
    assert query["end"] == "2024-01-04T12:00:00Z"
    assert server.headers[0]["APCA-API-KEY-ID"] == "kid"
    assert server.headers[0]["APCA-API-SECRET-KEY"] == "s3cr3t-value"


def test_pages_are_followed_across_symbols() -> None:
    data = {
        s: [bar(f"2024-01-02T{14 + i // 60:02d}:{i % 60:02d}:00Z") for i in range(7)]
        for s in ("AAA", "BBB", "CCC")
    }
    server = PagedBars(data, per_page=4)
    p = provider(server)
    start, end = datetime(2024, 1, 2, 14, tzinfo=UTC), datetime(2024, 1, 2, 15, tzinfo=UTC)
    out = run(p.bars_many(["CCC", "AAA", "BBB"], start, end, Timeframe.M1))
    assert len(server.queries) == 6  # 21 bars, 4 per page
    assert [q.get("page_token") for q in server.queries] == [None, "4", "8", "12", "16", "20"]
    for s in ("AAA", "BBB", "CCC"):
        frame = out[s]
        assert isinstance(frame, pd.DataFrame)
        assert len(frame) == 7
        assert frame.index.is_monotonic_increasing


def test_a_bar_at_the_exclusive_end_is_dropped() -> None:
    data = {"AAA": [bar("2024-01-02T14:30:00Z"), bar("2024-01-02T14:31:00Z")]}
    p = provider(PagedBars(data))
    start = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    frame = run(p.bars("AAA", start, datetime(2024, 1, 2, 14, 31, tzinfo=UTC), "1m"))
    assert list(frame.index) == [pd.Timestamp(start)]


def test_symbols_without_bars_get_an_empty_frame() -> None:
    p = provider(PagedBars(DAILY))
    out = run(p.bars_many(["AAA", "ZZZ"], JAN2, JAN6, Timeframe.D1))
    assert len(out["AAA"]) == 3
    empty = out["ZZZ"]
    assert isinstance(empty, pd.DataFrame)
    assert empty.empty


def test_requests_name_at_most_max_symbols() -> None:
    server = PagedBars(DAILY)
    p = provider(server, max_symbols_per_request=1)
    out = run(p.bars_many(["AAA", "BBB"], JAN2, JAN6, Timeframe.D1))
    assert sorted(q["symbols"] for q in server.queries) == ["AAA", "BBB"]
    assert all(isinstance(v, pd.DataFrame) for v in out.values())


def test_bad_bars_of_one_symbol_fail_that_symbol_only() -> None:
    data = {
        "AAA": [bar("2024-01-02T05:00:00Z"), bar("2024-01-03T05:00:00Z", lo=-1.0)],
        "BBB": [bar("2024-01-03T05:00:00Z"), bar("2024-01-02T05:00:00Z")],  # out of order
        "CCC": [bar("2024-01-02T05:00:00Z"), bar("2024-01-02T05:00:00Z", c=10.9)],  # dup
        "DDD": [bar("2024-01-02T05:00:00Z")],
    }
    p = provider(PagedBars(data))
    out = run(p.bars_many(list(data), JAN2, JAN6, Timeframe.D1))
    assert isinstance(out["DDD"], pd.DataFrame)
    for symbol, field, text in (
        ("AAA", "low", "negative"),
        ("BBB", "timestamp", "out of order"),
        ("CCC", "timestamp", "duplicate"),
    ):
        error = out[symbol]
        assert isinstance(error, BarValidationError), symbol
        assert symbol in str(error)
        assert field in str(error)
        assert text in str(error)
    # The port's single-symbol call raises it.
    with pytest.raises(BarValidationError, match="AAA"):
        run(p.bars("AAA", JAN2, JAN6, "1d"))


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.update(o="12.5"), "o"),
        (lambda b: b.update(h=None), "h"),
        (lambda b: b.pop("c"), "c"),
        (lambda b: b.update(v=True), "v"),
        (lambda b: b.update(t="yesterday"), "t"),
        (lambda b: b.update(t=1704171600), "t"),
    ],
)
def test_hostile_bar_fields_name_symbol_row_and_field(
    mutate: Callable[[dict], object], field: str
) -> None:
    rows = [bar("2024-01-02T05:00:00Z"), bar("2024-01-03T05:00:00Z")]
    mutate(rows[1])
    p = provider(lambda r: json_response({"bars": {"AAA": rows}, "next_page_token": None}))
    with pytest.raises(ParseError) as info:
        run(p.bars("AAA", JAN2, JAN6, "1d"))
    message = str(info.value)
    assert "AAA" in message
    assert repr(field) in message or f"field {field}" in message or f'"{field}"' in message
    assert "1" in message  # the row (bar index 1)
    assert "/v2/stocks/bars" in message


@pytest.mark.parametrize(
    "body",
    [
        b'{"bars": {"AAA": [{"t": "2024-01-02T05:00:00Z", "o": 1',
        b"<html>502 Bad Gateway</html>",
        b'{"bars": {"AAA": [{"t": "2024-01-02T05:00:00Z", "o": NaN}]}}',
        b"",
    ],
)
def test_garbled_json_is_a_retryable_corrupt_response(body: bytes) -> None:
    p = provider(lambda r: httpx.Response(200, content=body))
    with pytest.raises(CorruptResponse, match="/v2/stocks/bars"):
        run(p.bars("AAA", JAN2, JAN6, "1d"))


@pytest.mark.parametrize(
    "doc",
    [[1, 2], {"bars": [1, 2]}, {"bars": {"AAA": 7}}, {"bars": {"AAA": [3]}},
     {"bars": {}, "next_page_token": 5}],
)  # fmt: skip
def test_wrong_shapes_are_parse_errors(doc: object) -> None:
    p = provider(lambda r: json_response(doc))
    with pytest.raises(ParseError):
        run(p.bars("AAA", JAN2, JAN6, "1d"))


def test_a_repeated_page_token_stops_the_loop() -> None:
    p = provider(lambda r: json_response({"bars": {}, "next_page_token": "same"}))
    with pytest.raises(ParseError, match="repeats"):
        run(p.bars("AAA", JAN2, JAN6, "1d"))


def test_bytes_on_the_wire_go_to_the_monitor() -> None:
    from greekfire.perf.monitor import PerformanceMonitor

    monitor = PerformanceMonitor()
    body = orjson.dumps({"bars": DAILY, "next_page_token": None})
    p = provider(lambda r: httpx.Response(200, content=body), monitor=monitor)
    run(p.bars("AAA", JAN2, JAN6, "1d"))
    run(p.bars("AAA", JAN2, JAN6, "1d"))
    sent = monitor.registry.get_sample_value(
        "greekfire_data_received_bytes_total", {"provider": "alpaca"}
    )
    assert sent == 2 * len(body) == p.stats.bytes_received


def test_gzip_bodies_are_accepted() -> None:
    body = orjson.dumps({"bars": DAILY, "next_page_token": None})

    def handler(request: httpx.Request) -> httpx.Response:
        assert "gzip" in request.headers.get("accept-encoding", "")
        return httpx.Response(
            200, content=gzip.compress(body), headers={"Content-Encoding": "gzip"}
        )

    p = AlpacaProvider(env=ENV, data_url="http://x")
    p._client._transport = httpx.MockTransport(handler)  # the provider's own pooled client
    frame = run(p.bars("AAA", JAN2, JAN6, "1d"))
    assert len(frame) == 3
    run(p.aclose())


def test_huge_answers_parse() -> None:
    n = 200_000
    stamps = pd.date_range("2020-01-01T14:30", periods=n, freq="min", tz="UTC")
    rows = [bar(t.strftime("%Y-%m-%dT%H:%M:%SZ")) for t in stamps]
    body = orjson.dumps({"bars": {"AAA": rows}, "next_page_token": None})
    p = provider(lambda r: httpx.Response(200, content=body))
    end = datetime(2021, 1, 1, tzinfo=UTC)
    frame = run(p.bars("AAA", datetime(2020, 1, 1, tzinfo=UTC), end, "1m"))
    assert len(frame) == n
    assert frame.index[-1] == stamps[-1]


@pytest.mark.parametrize(
    ("status", "headers", "error", "check"),
    [
        (429, {"Retry-After": "2"}, RateLimited, lambda e: e.retry_after_s == 2.0),
        (429, {}, RateLimited, lambda e: e.retry_after_s is None),
        (503, {}, ServerError, lambda e: e.status == 503),
        (500, {}, ServerError, lambda e: e.status == 500),
        (401, {}, AuthError, lambda e: "access key verification failed" in str(e)),
        (422, {}, ProviderError, lambda e: "invalid timeframe" in str(e)),
    ],
)
def test_http_statuses_map_to_the_error_tree(
    status: int, headers: dict[str, str], error: type[Exception], check: Callable
) -> None:
    messages = {401: "access key verification failed", 422: "invalid timeframe"}
    doc = {"code": status * 100000, "message": messages.get(status, "boom")}
    p = provider(lambda r: json_response(doc, status, **headers))
    with pytest.raises(error) as info:
        run(p.bars("AAA", JAN2, JAN6, "1d"))
    assert check(info.value)
    assert f"HTTP {status}" in str(info.value)


def test_connection_failures_and_timeouts_are_retryable_builtins() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out", request=request)

    def cut(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    with pytest.raises(ConnectionLost, match="refused"):
        run(provider(refuse).bars("AAA", JAN2, JAN6, "1d"))
    with pytest.raises(ConnectionLost, match="peer closed"):
        run(provider(cut).bars("AAA", JAN2, JAN6, "1d"))
    with pytest.raises(TimeoutError, match="ReadTimeout"):
        run(provider(slow).bars("AAA", JAN2, JAN6, "1d"))


def test_the_pipeline_batches_through_the_provider() -> None:
    server = PagedBars(DAILY)
    p = provider(server)
    result = run(AsyncDataPipeline(p).fetch_bars(["AAA", "BBB", "ZZZ"], JAN2, JAN6))
    assert len(server.queries) == 1
    assert server.queries[0]["symbols"] == "AAA,BBB,ZZZ"
    assert result.ok
    assert len(result.data["BBB"]) == 2


# -- quotes --------------------------------------------------------------------------------


def quotes_handler(quotes: dict, trades: dict) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/stocks/quotes/latest":
            return json_response({"quotes": quotes})
        assert request.url.path == "/v2/stocks/trades/latest"
        return json_response({"trades": trades})

    return handler


def quote(bp: float = 9.99, ap: float = 10.01) -> dict:
    return {"t": "2024-01-02T15:00:00.123456Z", "bp": bp, "ap": ap, "bs": 3, "as": 5, "c": ["R"]}


def test_latest_quotes_join_the_latest_trade() -> None:
    p = provider(
        quotes_handler(
            {"AAA": quote(), "BBB": quote(19.9, 20.1)},
            {"AAA": {"p": 10.0, "s": 100, "t": "2024-01-02T15:00:00Z"}},
        )
    )
    frame = run(p.latest_quotes(["BBB", "AAA", "NOPE"]))
    assert list(frame.index) == ["BBB", "AAA"]
    assert list(frame.columns) == list(QUOTE_COLUMNS)
    assert frame.loc["AAA", "bid"] == 9.99
    assert frame.loc["AAA", "last"] == 10.0
    assert np.isnan(frame.loc["BBB", "last"])
    assert frame.loc["AAA", "timestamp"] == pd.Timestamp("2024-01-02T15:00:00.123456Z")


def test_a_hostile_quote_names_the_symbol_and_field() -> None:
    bad = quote()
    bad["ap"] = "10.01"
    p = provider(quotes_handler({"AAA": bad}, {}))
    with pytest.raises(ParseError, match=r"AAA.*'ap'.*'10\.01'"):
        run(p.latest_quotes(["AAA"]))


# -- option chains -------------------------------------------------------------------------


def chain_handler(seen: list[httpx.Request]) -> Handler:
    snapshots = {
        "AAA240621C00010000": {
            "latestQuote": {"bp": 1.1, "ap": 1.2, "t": "2024-01-02T15:00:00Z"},
            "latestTrade": {"p": 1.15, "t": "2024-01-02T14:59:00Z"},
            "greeks": {"delta": 0.55, "gamma": 0.1, "theta": -0.01, "vega": 0.02, "rho": 0.01},
            "impliedVolatility": 0.3,
            "dailyBar": {"v": 42},
        },
        "AAA240621P00010000": {"latestQuote": {"bp": 0.9, "ap": 1.0, "t": "2024-01-02T15:00:00Z"}},
    }
    contracts = [
        {"symbol": "AAA240621C00010000", "open_interest": "1200"},
        {"symbol": "AAA240621P00010000", "open_interest": None},
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if path == "/v1beta1/options/snapshots/AAA":
            token = request.url.params.get("page_token")
            if token is None:  # two pages
                first = dict(list(snapshots.items())[:1])
                return json_response({"snapshots": first, "next_page_token": "p2"})
            return json_response({"snapshots": dict(list(snapshots.items())[1:])})
        if path == "/v2/options/contracts":
            assert request.url.host == "t"
            return json_response({"option_contracts": contracts, "next_page_token": None})
        if path == "/v2/stocks/trades/latest":
            return json_response({"trades": {"AAA": {"p": 10.2, "t": "2024-01-02T15:00:00Z"}}})
        return json_response({"code": 40410000, "message": "not found"}, 404)

    return handler


def test_option_chain_from_snapshots_contracts_and_the_underlying() -> None:
    seen: list[httpx.Request] = []
    p = provider(chain_handler(seen))
    chain = run(p.option_chain("AAA"))
    assert list(chain.columns) == list(CHAIN_COLUMNS)
    assert len(chain) == 2
    call = chain[chain["right"] == 1].iloc[0]
    assert call["contract"] == "AAA240621C00010000"
    assert call["expiry"] == pd.Timestamp("2024-06-21", tz="UTC")
    assert call["strike"] == 10.0
    assert call["open_interest"] == 1200.0
    assert call["volume"] == 42.0
    assert call["theta"] == pytest.approx(-0.01 * 365)  # per day -> per year
    assert call["vega"] == pytest.approx(0.02 * 100)  # per vol point -> per 1.00
    assert call["underlying_price"] == 10.2
    put = chain[chain["right"] == -1].iloc[0]
    assert np.isnan(put["open_interest"])
    assert np.isnan(put["delta"])
    assert str(chain["right"].dtype) == "int8"


def test_chain_filters_go_to_the_server_and_moneyness_is_applied_locally() -> None:
    seen: list[httpx.Request] = []
    p = provider(chain_handler(seen))
    flt = ChainFilter(
        expiry_from=date(2024, 6, 1), strike_max=12.0, right="call", moneyness_max=0.5
    )
    chain = run(p.option_chain("AAA", flt))
    snap = next(r for r in seen if "snapshots" in r.url.path)
    params = dict(snap.url.params)
    assert params["type"] == "call"
    assert params["expiration_date_gte"] == "2024-06-01"
    assert params["strike_price_lte"] == "12.0"
    assert chain.empty  # strike 10 / spot 10.2 is above the 0.5 moneyness bound


def test_a_bad_contract_symbol_is_a_parse_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "snapshots" in request.url.path:
            return json_response({"snapshots": {"NOT-AN-OPTION": {}}})
        if "contracts" in request.url.path:
            return json_response({"option_contracts": []})
        return json_response({"trades": {"AAA": {"p": 1.0}}})

    with pytest.raises(ParseError, match="NOT-AN-OPTION"):
        run(provider(handler).option_chain("AAA"))
