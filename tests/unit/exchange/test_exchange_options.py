"""Option snapshots and contracts of the simulated exchange against the embedded provider."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import uuid
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from greekfire.analytics.options import greeks
from greekfire.exchange.app import create_app
from greekfire.exchange.config import ExchangeConfig
from greekfire.sim.chains import year_fraction
from greekfire.sim.market import SyntheticMarket
from greekfire.sim.provider import SyntheticProvider

NOW = dt.datetime(2024, 3, 5, 15, 0, tzinfo=dt.UTC)  # Tuesday: this week's expiry is Friday 8th
SYMBOLS = ("SPY", "AAPL")
AUTH = {"APCA-API-KEY-ID": "greekfire", "APCA-API-SECRET-KEY": "greekfire"}


def _get(app: Any, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://exchange") as client:
            return await client.get(path, params=params, headers=AUTH)

    return asyncio.run(go())


@pytest.fixture(scope="module")
def app() -> Any:
    return create_app(ExchangeConfig(start=NOW, speed=0, symbols=SYMBOLS, seed=11))


@pytest.fixture(scope="module")
def chain() -> pd.DataFrame:
    provider = SyntheticProvider(SyntheticMarket(SYMBOLS, seed=11), seed=11, clock=lambda: NOW)
    frame = asyncio.run(provider.option_chain("SPY"))
    return frame.set_index("contract")


def _snapshots(app: Any, **params: Any) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    token = None
    while True:
        query = {**params, **({"page_token": token} if token else {})}
        body = _get(app, "/v1beta1/options/snapshots/SPY", query).json()
        assert len(body["snapshots"]) <= int(params.get("limit", 100))
        merged.update(body["snapshots"])
        token = body["next_page_token"]
        if token is None:
            return merged


def test_snapshots_cover_the_chain_with_alpaca_units(app: Any, chain: pd.DataFrame) -> None:
    snapshots = _snapshots(app, limit=1000)
    assert set(snapshots) == set(chain.index)
    assert list(snapshots) == sorted(snapshots)
    for symbol in chain.index[:40]:
        row, snap = chain.loc[symbol], snapshots[symbol]
        assert (snap["latestQuote"]["bp"], snap["latestQuote"]["ap"]) == (row["bid"], row["ask"])
        assert snap["impliedVolatility"] == row["iv"]
        greeks = snap["greeks"]
        assert greeks["delta"] == row["delta"]
        assert greeks["gamma"] == row["gamma"]
        assert greeks["theta"] == pytest.approx(row["theta"] / 365.0, rel=1e-12)  # per day
        assert greeks["vega"] == pytest.approx(row["vega"] / 100.0, rel=1e-12)  # per vol point
        assert np.sign(greeks["rho"]) == row["right"]
        if row["volume"] > 0:
            assert snap["latestTrade"]["p"] == row["last"]
        else:
            assert "latestTrade" not in snap


def test_rho_is_per_rate_point(app: Any, chain: pd.DataFrame) -> None:
    snapshots = _snapshots(app, limit=1000)
    rows = chain.iloc[::37]
    t_years = [year_fraction(NOW, pd.Timestamp(e).date()) for e in rows["expiry"]]
    oracle = greeks(
        rows["underlying_price"].to_numpy(),
        rows["strike"].to_numpy(),
        np.array(t_years),
        rows["iv"].to_numpy(),
        0.04,
        0.0,
        rows["right"].to_numpy(),
    )["rho"]
    served = [snapshots[c]["greeks"]["rho"] for c in rows.index]
    np.testing.assert_allclose(served, np.asarray(oracle) / 100.0, rtol=1e-9, atol=1e-12)


def test_snapshot_filters(app: Any, chain: pd.DataFrame) -> None:
    low, high = float(chain["strike"].quantile(0.4)), float(chain["strike"].quantile(0.6))
    puts = _snapshots(app, type="put", strike_price_gte=low, strike_price_lte=high, limit=7)
    expected = chain.loc[(chain["right"] == -1) & chain["strike"].between(low, high)]
    assert set(puts) == set(expected.index)
    assert puts
    friday = _snapshots(app, expiration_date="2024-03-08", limit=1000)
    assert set(friday) == {c for c in chain.index if c[3:9] == "240308"}
    later = _snapshots(
        app, expiration_date_gte="2024-04-01", expiration_date_lte="2024-06-30", limit=1000
    )
    dates = {dt.date(2000 + int(c[3:5]), int(c[5:7]), int(c[7:9])) for c in later}
    assert later
    assert all(dt.date(2024, 4, 1) <= d <= dt.date(2024, 6, 30) for d in dates)
    assert _snapshots(app, root_symbol="SPYX") == {}


def test_snapshot_errors_and_unknown_underlyings(app: Any) -> None:
    assert _get(app, "/v1beta1/options/snapshots/QQQ").json() == {
        "snapshots": {},
        "next_page_token": None,
    }
    bad = _get(app, "/v1beta1/options/snapshots/SPY", {"type": "straddle"})
    assert bad.status_code == 400
    assert "invalid type" in bad.json()["message"]
    assert _get(app, "/v1beta1/options/snapshots/SPY", {"limit": 1001}).status_code == 400


def test_contracts_fields_are_alpaca_strings(app: Any, chain: pd.DataFrame) -> None:
    body = _get(app, "/v2/options/contracts", {"underlying_symbols": "SPY", "limit": 10_000}).json()
    contracts = body["option_contracts"]
    assert body["next_page_token"] is None
    # no expiration filter: only this week's (on or before Sunday 10 March)
    assert {c["expiration_date"] for c in contracts} == {"2024-03-08"}
    first = contracts[0]
    row = chain.loc[first["symbol"]]
    assert first["strike_price"] == f"{row['strike']:g}"
    assert first["size"] == first["multiplier"] == "100"
    assert first["open_interest"] == str(int(row["open_interest"]))
    assert first["open_interest_date"] == "2024-03-04"
    assert first["type"] == ("call" if row["right"] == 1 else "put")
    assert (first["status"], first["style"], first["tradable"]) == ("active", "american", True)
    assert first["root_symbol"] == first["underlying_symbol"] == "SPY"
    uuid.UUID(first["id"])
    uuid.UUID(first["underlying_asset_id"])
    assert all(isinstance(c["strike_price"], str) for c in contracts)
    if math.isfinite(row["last"]):
        assert first["close_price"] == f"{row['last']:g}"


def test_contracts_pagination_and_filters(app: Any) -> None:
    params = {
        "underlying_symbols": "SPY,AAPL",
        "expiration_date_lte": "2024-04-30",
        "type": "call",
        "limit": 25,
    }
    seen: list[str] = []
    token = None
    while True:
        body = _get(
            app, "/v2/options/contracts", {**params, **({"page_token": token} if token else {})}
        ).json()
        assert len(body["option_contracts"]) <= 25
        seen.extend(c["symbol"] for c in body["option_contracts"])
        token = body["next_page_token"]
        if token is None:
            break
    assert seen == sorted(set(seen))
    assert {s[:3] for s in seen} >= {"SPY"}
    assert any(s.startswith("AAPL") for s in seen)
    assert all("C" in s[-9:-8] for s in seen)
    assert (
        _get(
            app, "/v2/options/contracts", {"underlying_symbols": "SPY", "status": "inactive"}
        ).json()["option_contracts"]
        == []
    )
    assert _get(app, "/v2/options/contracts", {"style": "sideways"}).status_code == 400


def test_one_contract_by_symbol_or_id(app: Any) -> None:
    listed = _get(app, "/v2/options/contracts", {"underlying_symbols": "SPY", "limit": 1}).json()
    contract = listed["option_contracts"][0]
    assert _get(app, f"/v2/options/contracts/{contract['symbol']}").json() == contract
    assert _get(app, f"/v2/options/contracts/{contract['id']}").json() == contract
    for missing in ("SPY240308C09999000", "NOPE", "QQQ240308C00100000"):
        response = _get(app, f"/v2/options/contracts/{missing}")
        assert response.status_code == 404
        assert response.json()["code"] == 40410000
