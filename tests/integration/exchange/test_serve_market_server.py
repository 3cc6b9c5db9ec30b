"""``greekfire serve-market`` on real loopback HTTP: every fault as a plain httpx client sees it,
the separate-process ``spawn``, the CLI command, and alpaca-py's data clients on the full app."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from greekfire.exchange.config import ExchangeConfig
from greekfire.exchange.server import ServerThread, serve_in_thread, spawn
from greekfire.sim.market import SyntheticMarket

with warnings.catch_warnings():  # alpaca.trading.stream imports websockets.legacy
    warnings.filterwarnings("ignore", "websockets.legacy is deprecated", DeprecationWarning)
    from alpaca.data.historical import OptionHistoricalDataClient, StockHistoricalDataClient
    from alpaca.data.requests import OptionChainRequest, StockBarsRequest, StockLatestQuoteRequest
    from alpaca.data.timeframe import TimeFrame
    from alpaca.trading.client import TradingClient
    from alpaca.trading.requests import GetOptionContractsRequest

pytestmark = pytest.mark.integration

NOW = dt.datetime(2024, 3, 5, 15, 0, tzinfo=dt.UTC)
SYMBOLS = ("SPY", "AAPL", "MSFT")
CONFIG = ExchangeConfig(start=NOW, speed=0, symbols=SYMBOLS, seed=2, key_id="k", secret_key="s")
BARS = {"symbols": "SPY,AAPL", "timeframe": "1Day", "start": "2023-01-01", "end": "2024-02-29"}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with serve_in_thread(CONFIG) as running:
        yield running


@pytest.fixture
def client(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, headers=server.headers, timeout=10.0) as http:
        yield http
        assert http.post("/_greekfire/faults", json={}).status_code == 200  # faults off again


def _set_faults(client: httpx.Client, **faults: Any) -> None:
    response = client.post("/_greekfire/faults", json=faults)
    assert response.status_code == 200, response.text


def test_plain_request_and_auth(client: httpx.Client, server: ServerThread) -> None:
    body = client.get("/v2/stocks/bars", params=BARS).json()
    assert {s: len(v) for s, v in body["bars"].items()} == {"AAPL": 291, "SPY": 291}
    with httpx.Client(base_url=server.base_url) as anonymous:
        denied = anonymous.get("/v2/clock")
    assert denied.status_code == 401
    assert denied.json()["code"] == 40110000


def test_drop_is_a_connection_error_not_a_500(client: httpx.Client) -> None:
    _set_faults(client, drop_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/v2/stocks/bars", params=BARS)
    assert client.get("/_greekfire/stats").json()["by_fault"]["drop"] >= 1


def test_truncate_announces_the_full_length_and_closes(client: httpx.Client) -> None:
    _set_faults(client, truncate_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/v2/stocks/bars", params=BARS, headers={"Accept-Encoding": "identity"})


def test_hang_is_a_client_timeout(client: httpx.Client) -> None:
    _set_faults(client, hang_rate=1.0, hang_s=1.5)
    with pytest.raises(httpx.ReadTimeout):
        client.get("/v2/stocks/bars", params=BARS, timeout=0.3)


def test_malformed_is_200_with_invalid_json(client: httpx.Client) -> None:
    _set_faults(client, malformed_rate=1.0)
    response = client.get("/v2/stocks/bars", params=BARS)
    assert response.status_code == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)


def test_errors_and_rate_limit(client: httpx.Client) -> None:
    _set_faults(client, error_rate=1.0, seed=3)
    statuses = {client.get("/v2/stocks/bars", params=BARS).status_code for _ in range(8)}
    assert statuses <= {500, 502, 503, 504}
    _set_faults(client, rate_limit_rps=0.01, rate_limit_burst=2)
    responses = [
        client.get("/v2/stocks/quotes/latest", params={"symbols": "SPY"}) for _ in range(3)
    ]
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert int(responses[2].headers["Retry-After"]) >= 1
    assert responses[2].json() == {"code": 42910000, "message": "rate limit exceeded"}
    assert client.get("/v2/account").status_code == 200  # trading is not faulted by default


def test_fail_first_n_opens_then_recovers(client: httpx.Client) -> None:
    _set_faults(client, fail_first_n=2)
    statuses = [client.get("/v2/clock").status_code for _ in range(1)]  # /v2/clock: no faults
    statuses += [client.get("/v2/stocks/bars", params=BARS).status_code for _ in range(3)]
    assert statuses == [200, 503, 503, 200]


def test_alpaca_py_data_clients_on_the_full_app(server: ServerThread) -> None:
    market = SyntheticMarket(SYMBOLS, seed=2)
    stocks = StockHistoricalDataClient("k", "s", url_override=server.base_url)
    options = OptionHistoricalDataClient("k", "s", url_override=server.base_url)
    trading = TradingClient("k", "s", paper=True, url_override=server.base_url)
    try:
        request = StockBarsRequest(
            symbol_or_symbols=["SPY", "MSFT"],
            timeframe=TimeFrame.Minute,
            start=dt.datetime(2024, 2, 1, tzinfo=dt.UTC),
            end=dt.datetime(2024, 2, 29, 23, tzinfo=dt.UTC),
        )
        bars: Any = stocks.get_stock_bars(request)  # 2 x 20 sessions x 390: two pages
        frame = market.bars("MSFT", dt.date(2024, 2, 1), dt.date(2024, 2, 29), "1m")["MSFT"]
        assert len(bars.data["MSFT"]) == len(frame) == 20 * 390
        assert [b.close for b in bars.data["MSFT"][:50]] == frame["close"].tolist()[:50]
        assert bars.data["SPY"][-1].timestamp == dt.datetime(2024, 2, 29, 20, 59, tzinfo=dt.UTC)
        quotes: Any = stocks.get_stock_latest_quote(
            StockLatestQuoteRequest(symbol_or_symbols="AAPL")
        )
        assert quotes["AAPL"].bid_price == market.quote("AAPL", NOW).bid
        chain: Any = options.get_option_chain(
            OptionChainRequest(underlying_symbol="SPY", type="call")
        )
        assert chain
        assert all(s[-9] == "C" for s in chain)
        some = next(iter(chain.values()))
        assert some.greeks is not None
        assert some.implied_volatility > 0
        clock: Any = trading.get_clock()
        assert clock.is_open is True
        contracts: Any = trading.get_option_contracts(
            GetOptionContractsRequest(underlying_symbols=["AAPL"], limit=5)
        )
        assert len(contracts.option_contracts) == 5
        assert contracts.next_page_token is not None
    finally:
        for api in (stocks, options, trading):
            api._session.close()


def test_spawn_runs_a_separate_process_and_ends_it() -> None:
    config = ExchangeConfig(start=NOW, speed=0, symbols=("SPY",), key_id=None, secret_key=None)
    with spawn(config, timeout_s=120) as running:
        assert running.pid is not None
        assert running.pid != os.getpid()
        pid = running.pid
        clock = httpx.get(f"{running.base_url}/v2/clock", timeout=10).json()
        assert clock["timestamp"] == "2024-03-05T10:00:00-05:00"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_spawn_ends_the_process_when_the_block_raises() -> None:
    config = ExchangeConfig(start=NOW, speed=0, symbols=("SPY",))
    seen: list[int | None] = []

    def crash() -> None:
        with spawn(config, timeout_s=120) as running:
            seen.append(running.pid)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        crash()
    assert seen[0] is not None
    with pytest.raises(ProcessLookupError):
        os.kill(seen[0], 0)


def test_cli_serve_market_answers_and_exits_0_on_ctrl_c() -> None:
    command = [
        sys.executable,
        "-c",
        "from greekfire.cli.main import run; run()",
        "serve-market",
        "--port",
        "0",
        "--symbols",
        "SPY,AAPL",
        "--speed",
        "0",
        "--start",
        "2024-03-05T15:00:00Z",
        "--key",
        "k",
        "--secret",
        "s",
        "--latency-ms",
        "1",
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            assert "serving 2 symbols at http://127.0.0.1:" in first, first
            url = first.rsplit(" at ", 1)[1].strip()
            assert f"APCA_API_BASE_URL={url}" in proc.stdout.readline()
            response = httpx.get(
                f"{url}/v2/clock",
                headers={"APCA-API-KEY-ID": "k", "APCA-API-SECRET-KEY": "s"},
                timeout=10,
            )
            assert response.json()["is_open"] is True
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0


def test_cli_bad_flag_exits_2_naming_the_option() -> None:
    command = [
        sys.executable,
        "-c",
        "from greekfire.cli.main import run; run()",
        "serve-market",
        "--drop-rate",
        "1.5",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "--drop-rate" in done.stderr


def test_listening_socket_is_tcp_so_connections_get_nodelay() -> None:
    # asyncio sets TCP_NODELAY on accepted connections only when the socket's proto is TCP;
    # without it every keep-alive answer written as headers + body waited 40 ms (Nagle and
    # delayed ACK), measured before the fix.
    import socket

    from greekfire.exchange.server import _bind

    with _bind("127.0.0.1", 0) as sock:
        assert sock.proto == socket.IPPROTO_TCP
