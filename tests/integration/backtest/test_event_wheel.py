"""The wheel backtested: option chains in the event backtester, settled as the paper broker does.

The built-in ``wheel`` runs through :class:`EventBacktester` (the live engine, the paper broker,
the SQLite journal) over five months of synthetic daily bars of two underlyings (the synthetic
market, seed 3, each rescaled to start at 100), with the sim's chain model quoted at the clock
(``chains="auto"`` picks it because the wheel needs chains). Weekly puts and calls (DTE 3-10),
no early buy-back and no roll, so every option is held to its expiry close and settled there
by the broker. The path: AAA falls through a put strike (assigned, then a covered call at the
cost basis expires worthless while AAA keeps falling); BBB is assigned, sells a call at or above
its basis, is called away, and starts over.

Asserted from the journal: puts sold, assignments with 100 shares at the strike, settlement
at the expiry close against that day's bar close (also with ``fill="next_open"``, where the
plan adds closing cycles), covered calls at or above the cost basis, a call-away, cash equal to
the starting cash plus every fill's cash (to the cent), equity equal to cash plus positions;
and no look-ahead: a planted future price never moves a chain (or an order) quoted before it.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from greekfire.backtest.event import EventBacktester
from greekfire.backtest.event_chains import StoredChains, SyntheticChains, resolve_chains
from greekfire.backtest.event_data import HistoricalProvider
from greekfire.backtest.results import BacktestResult
from greekfire.data.port import ChainFilter
from greekfire.domain.enums import OptionRight
from greekfire.domain.instruments import OptionContract, instrument_for
from greekfire.domain.orders import BrokerEvent, EventKind, Fill, Order, OrderStatus, Side
from greekfire.domain.portfolio import Account
from greekfire.errors import ProviderError
from greekfire.journal import codec
from greekfire.journal.sqlite import Journal
from greekfire.settings import Settings
from greekfire.sim.chains import expiry_close
from greekfire.sim.market import SyntheticMarket

pytestmark = pytest.mark.integration

SYMBOLS = ["AAA", "BBB"]
START = "2024-02-01"
STARTING_CASH = Decimal("100000.00")
WHEEL_PARAMS = {
    "dte_min": 3,
    "dte_max": 10,  # weeklies only
    "put_delta": 0.30,
    "call_delta": 0.30,
    "profit_target": 1.0,  # never buy back early
    "roll_dte": 0,  # never roll: the broker settles every option at its expiry close
    "max_spread_fraction": 0.25,
    "min_open_interest": 0,
}
SETTLED = (EventKind.OPTION_ASSIGNED, EventKind.OPTION_EXPIRED, EventKind.OPTION_EXERCISED)
SPOT_IN_DETAIL = re.compile(r" with (?P<underlying>\w+) at (?P<spot>[0-9.]+) \(strike")


def wheel_bars(symbols: list[str], end: str = "2024-05-31") -> dict[str, pd.DataFrame]:
    bars = SyntheticMarket(symbols, seed=3).bars(symbols, "2024-01-02", end)
    for frame in bars.values():
        frame[["open", "high", "low", "close"]] *= 100.0 / frame["close"].iloc[0]
    return bars


def wheel_settings(symbols: list[str]) -> Settings:
    return Settings.model_validate(
        {
            "engine": {"symbols": symbols, "lookback_bars": 20},
            # a cash-secured put on a ~$100 stock reserves ~$10k: 20 % of the account allows it
            "risk": {"risk_fraction": 0.20},
            "strategies": [{"name": "wheel", "symbols": symbols, "params": WHEEL_PARAMS}],
        }
    )


@dataclass(frozen=True, slots=True)
class Run:
    """One backtest and its journal, read back read-only."""

    tester: EventBacktester
    result: BacktestResult
    bars: dict[str, pd.DataFrame]
    orders: list[Order]
    fills: list[Fill]
    events: list[BrokerEvent]
    account: Account
    integrity: str


def run_wheel(bars: dict[str, pd.DataFrame], tmp: Path, fill: str = "close", **kwargs: Any) -> Run:
    tester = EventBacktester(
        wheel_settings(list(bars)),
        bars,
        fill="next_open" if fill == "next_open" else "close",
        start=START,
        journal_path=tmp / "journal.db",
        **kwargs,
    )
    result = tester.run()
    journal = Journal.open_readonly(tmp / "journal.db")
    try:
        account = journal.latest_account()
        assert account is not None
        return Run(
            tester,
            result,
            bars,
            journal.orders(),
            journal.fills(),
            [codec.event_from_mapping(row) for row in journal.events()],
            account,
            journal.integrity_check(),
        )
    finally:
        journal.close()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_wheel(wheel_bars(SYMBOLS), tmp_path_factory.mktemp("wheel"))


def option(symbol: str) -> OptionContract:
    contract = instrument_for(symbol)
    assert isinstance(contract, OptionContract), symbol
    return contract


def bar_close(run: Run, underlying: str, day: date) -> float:
    return float(run.bars[underlying]["close"].loc[pd.Timestamp(day, tz="UTC")])


def settlements(run: Run) -> list[BrokerEvent]:
    return [e for e in run.events if e.kind in SETTLED]


def sold(run: Run, right: OptionRight) -> list[Order]:
    return [
        o
        for o in run.orders
        if o.status is OrderStatus.FILLED
        and o.intent.side is Side.SELL
        and isinstance(instrument_for(o.intent.symbol), OptionContract)
        and option(o.intent.symbol).right is right
    ]


def check_settled_at_the_bar_close(run: Run) -> None:
    for event in settlements(run):
        contract = option(event.symbol)
        assert event.ts_ns == expiry_close(contract.expiry).value, event
        match = SPOT_IN_DETAIL.search(event.detail)
        assert match is not None, event.detail
        close = bar_close(run, contract.underlying, contract.expiry)
        assert match["underlying"] == contract.underlying
        assert float(match["spot"]) == round(close, 2), (event.detail, close)
        itm = contract.intrinsic(close) >= 0.01
        assert (event.kind is EventKind.OPTION_ASSIGNED) == itm, (event.detail, close)


# -- the run ----------------------------------------------------------------------------------
def test_the_wheel_runs_on_synthetic_chains(wheel: Run) -> None:
    assert wheel.tester.chains is not None
    assert wheel.tester.chains.name == "synthetic"
    assert wheel.tester.last_run is not None
    assert wheel.tester.last_run.errors == []
    assert wheel.integrity == "ok"
    assert wheel.result.meta["chains"] == "synthetic"
    assert wheel.result.meta["option_fills"] > 10
    assert wheel.tester.provider.calls["option_chain"] >= len(wheel.tester.cycles)


def test_puts_are_sold_on_both_underlyings_at_the_chain_mid(wheel: Run) -> None:
    puts = sold(wheel, OptionRight.PUT)
    assert {option(o.intent.symbol).underlying for o in puts} == set(SYMBOLS)
    for order in puts:
        assert order.intent.opening
        assert order.intent.strategy == "wheel"
        assert order.intent.limit_price is not None
        assert order.intent.limit_price > 0
        assert order.avg_fill_price is not None
        assert order.avg_fill_price >= order.intent.limit_price - 1e-9  # a sell limit
        contract = option(order.intent.symbol)
        dte = (expiry_close(contract.expiry).value - order.created_ns) / 86_400e9
        assert 3 <= dte <= 10


def test_every_option_settles_at_its_expiry_close_against_the_bar_close(wheel: Run) -> None:
    events = settlements(wheel)
    kinds = {e.kind for e in events}
    assert EventKind.OPTION_ASSIGNED in kinds
    assert EventKind.OPTION_EXPIRED in kinds
    check_settled_at_the_bar_close(wheel)
    # each option sold is settled once: nothing is bought back (no profit target, no roll)
    last_cycle = int(wheel.tester.cycles["cycle_ns"].iloc[-1])
    due = [
        o.intent.symbol
        for o in wheel.orders
        if o.status is OrderStatus.FILLED
        and expiry_close(option(o.intent.symbol).expiry).value <= last_cycle
    ]
    assert sorted(e.symbol for e in events) == sorted(due)


def test_an_assigned_put_buys_100_shares_at_the_strike(wheel: Run) -> None:
    assigned = [
        e
        for e in settlements(wheel)
        if e.kind is EventKind.OPTION_ASSIGNED and option(e.symbol).right is OptionRight.PUT
    ]
    assert {option(e.symbol).underlying for e in assigned} == set(SYMBOLS)
    for event in assigned:
        contract = option(event.symbol)
        got = [(f.symbol, f.side, f.qty, f.price, f.fee_usd) for f in event.fills]
        assert got == [
            (event.symbol, Side.BUY, 1, 0.0, 0.0),
            (contract.underlying, Side.BUY, 100, contract.strike, 0.0),
        ]


def test_covered_calls_at_or_above_the_basis_and_a_call_away(wheel: Run) -> None:
    calls = sold(wheel, OptionRight.CALL)
    assert calls
    for order in calls:
        contract = option(order.intent.symbol)
        # the shares come from assignments only: the basis is the last assigned put's strike
        assigned_before = [
            option(e.symbol).strike
            for e in settlements(wheel)
            if e.kind is EventKind.OPTION_ASSIGNED
            and e.ts_ns < order.created_ns
            and option(e.symbol).underlying == contract.underlying
            and option(e.symbol).right is OptionRight.PUT
        ]
        assert assigned_before, order
        assert contract.strike >= assigned_before[-1]
        assert f"cost basis {assigned_before[-1]:.2f}" in order.intent.reason
    called = [
        e
        for e in settlements(wheel)
        if e.kind is EventKind.OPTION_ASSIGNED and option(e.symbol).right is OptionRight.CALL
    ]
    assert called
    for event in called:
        contract = option(event.symbol)
        stock = [f for f in event.fills if f.symbol == contract.underlying]
        assert [(f.side, f.qty, f.price) for f in stock] == [(Side.SELL, 100, contract.strike)]
    # BBB starts over: a new put is sold after its shares are called away
    away = min(e.ts_ns for e in called if option(e.symbol).underlying == "BBB")
    later = [o for o in sold(wheel, OptionRight.PUT) if o.created_ns > away]
    assert any(option(o.intent.symbol).underlying == "BBB" for o in later)


# -- cash and equity --------------------------------------------------------------------------
def cash_delta(fill: Fill) -> Decimal:
    notional = Decimal(repr(fill.price)) * instrument_for(fill.symbol).multiplier
    notional *= Decimal(repr(fill.qty))
    return (notional if fill.side is Side.SELL else -notional) - Decimal(repr(fill.fee_usd))


def test_cash_equals_the_starting_cash_plus_every_fill(wheel: Run) -> None:
    recomputed = STARTING_CASH + sum((cash_delta(f) for f in wheel.fills), Decimal(0))
    assert Decimal(repr(wheel.account.cash_usd)) == recomputed
    option_sales = [f for f in wheel.fills if f.side is Side.SELL and f.symbol not in SYMBOLS]
    assert option_sales
    assert all(f.fee_usd > 0 for f in option_sales)
    assert all(f.fee_usd == 0 for e in settlements(wheel) for f in e.fills)


def test_equity_is_cash_plus_shares_plus_short_options(wheel: Run) -> None:
    equity = wheel.result.equity
    index = equity.index
    cash = np.full(len(index), float(STARTING_CASH))
    shares = {s: np.zeros(len(index)) for s in SYMBOLS}
    options_open = np.zeros(len(index))
    for fill in wheel.fills:
        # a fill counts from the bar it priced at: cycle fills the bar before their time
        # (fill="close"), settlements the expiry's own bar
        day = pd.Timestamp(fill.ts_ns, tz="UTC").tz_convert("America/New_York").normalize()
        bar = pd.Timestamp(day.date(), tz="UTC")
        at = index.searchsorted(bar) - (0 if fill.client_order_id.startswith("option_") else 1)
        cash[at:] += float(cash_delta(fill))
        sign = 1.0 if fill.side is Side.BUY else -1.0
        if fill.symbol in shares:
            shares[fill.symbol][at:] += sign * fill.qty
        else:
            options_open[at:] += sign * fill.qty
    stock_value = sum(shares[s] * wheel.bars[s]["close"].reindex(index).to_numpy() for s in SYMBOLS)
    rest = equity["total"].to_numpy() - (cash + stock_value)
    flat = options_open == 0
    assert flat.any()
    assert (~flat).any()
    np.testing.assert_allclose(rest[flat], 0.0, atol=1e-6)  # no option held: exact
    assert (rest[~flat] <= 0).all()  # short options are a liability, worth their mid
    assert (rest[~flat] < 0).mean() > 0.5
    np.testing.assert_allclose(equity[SYMBOLS].sum(axis=1), equity["total"])


# -- fill="next_open": closing cycles settle at the close ---------------------------------------
@pytest.fixture(scope="module")
def next_open_bars() -> dict[str, pd.DataFrame]:
    return wheel_bars(["BBB"], end="2024-04-30")


@pytest.fixture(scope="module")
def next_open(tmp_path_factory: pytest.TempPathFactory, next_open_bars: Any) -> Run:
    return run_wheel(next_open_bars, tmp_path_factory.mktemp("next_open"), fill="next_open")


def test_next_open_plan_has_a_closing_cycle_after_each_close(next_open: Run) -> None:
    plan = next_open.tester.cycles
    closing = plan[plan["closing"]]
    trading = plan[~plan["closing"]]
    assert len(closing) == len(trading) + 1  # the last bar's close too
    assert plan["cycle_ns"].is_monotonic_increasing
    # the closing cycle of a bar is at its session's 16:00 close, New York
    local = pd.DatetimeIndex(closing["cycle_ns"].to_numpy(), tz="UTC").tz_convert(
        "America/New_York"
    )
    assert set(local.hour) <= {13, 16}
    assert set(local.minute) == {0}
    days = local.normalize().tz_localize(None).to_numpy()
    np.testing.assert_array_equal(days, closing["bar"].dt.tz_localize(None).to_numpy())
    reports = next_open.tester.last_run.reports if next_open.tester.last_run else []
    assert sum(r.skipped == "market closed" for r in reports) == len(closing)


def test_next_open_settles_at_the_expiry_bar_close_not_the_next_open(next_open: Run) -> None:
    assert next_open.tester.last_run is not None
    assert next_open.tester.last_run.errors == []
    kinds = [e.kind for e in settlements(next_open)]
    assert EventKind.OPTION_ASSIGNED in kinds
    check_settled_at_the_bar_close(next_open)


# -- no look-ahead ----------------------------------------------------------------------------
PLANT_DAY = pd.Timestamp("2024-04-16", tz="UTC")


def planted(bars: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    out = {s: f.copy() for s, f in bars.items()}
    out["BBB"].loc[out["BBB"].index >= PLANT_DAY, ["open", "high", "low", "close"]] *= 3.0
    return out


class Now:
    """A settable clock."""

    def __init__(self) -> None:
        self.ts = pd.Timestamp(0, tz="UTC")

    def __call__(self) -> pd.Timestamp:
        return self.ts


def test_a_planted_future_price_never_moves_an_earlier_chain() -> None:
    bars = wheel_bars(["BBB"], end="2024-04-30")
    bent = planted(bars)
    for fill in ("close", "next_open"):
        plan = EventBacktester(
            wheel_settings(["BBB"]), bars, fill=fill, start=START, chains="synthetic"
        ).cycles
        now = Now()
        clean_p = HistoricalProvider(bars, now, fill=fill, chains=SyntheticChains())
        bent_p = HistoricalProvider(bent, now, fill=fill, chains=SyntheticChains())
        wanted = ChainFilter(moneyness_min=0.7, moneyness_max=1.3)
        first_seen = None
        for cycle_ns in plan["cycle_ns"].tolist():
            now.ts = pd.Timestamp(int(cycle_ns), tz="UTC")
            a = asyncio.run(clean_p.option_chain("BBB", wanted))
            b = asyncio.run(bent_p.option_chain("BBB", wanted))
            assert (a["timestamp"] == now.ts).all()  # quoted at the clock's time
            assert a["underlying_price"].iloc[0] == clean_p.price_at("BBB", int(cycle_ns))
            if a.equals(b):
                assert first_seen is None, f"{fill}: chains agree again after {first_seen}"
                continue
            if first_seen is None:
                first_seen = now.ts
        # the first chain to differ is the first one quoted after the planted price exists:
        # the planted bar's close (fill="close") or its open (fill="next_open")
        event = "close" if fill == "close" else "open"
        sessions = plan["cycle_ns"].to_numpy()
        revealed = bent_p.sessions["BBB"][0 if event == "open" else 1][
            bent_p.history["BBB"].index.get_loc(PLANT_DAY)
        ]
        assert first_seen == pd.Timestamp(int(sessions[sessions >= revealed][0]), tz="UTC")


def test_a_planted_future_price_never_changes_what_the_wheel_did_before_it(
    next_open: Run, next_open_bars: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    bent = run_wheel(planted(next_open_bars), tmp_path, fill="next_open")
    open_ns = bent.tester.provider.sessions["BBB"][0][
        bent.tester.provider.history["BBB"].index.get_loc(PLANT_DAY)
    ]

    def before(run: Run) -> list[tuple[Any, ...]]:
        return [
            (e.kind, e.ts_ns, e.symbol, e.detail, [(f.symbol, f.qty, f.price) for f in e.fills])
            for e in run.events
            if e.ts_ns < open_ns
        ]

    assert before(next_open)
    assert before(bent) == before(next_open)
    assert bent.events != next_open.events  # the plant did change what came after it


# -- chain sources ----------------------------------------------------------------------------
def test_resolve_chains_and_stored_snapshots_as_of_the_clock() -> None:
    assert resolve_chains(None) is None
    assert resolve_chains("none") is None
    assert isinstance(resolve_chains("synthetic"), SyntheticChains)
    with pytest.raises(ValueError, match="chains: expected"):
        resolve_chains("yahoo")
    source = SyntheticChains(seed=5)
    t0 = pd.Timestamp("2024-03-04T15:00:00Z")
    t1 = pd.Timestamp("2024-03-05T15:00:00Z")
    snaps = pd.concat([source.chain("BBB", 100.0, t0), source.chain("BBB", 140.0, t1)])
    stored = resolve_chains({"BBB": snaps})
    assert isinstance(stored, StoredChains)
    assert stored.chain("BBB", 1.0, t0 - pd.Timedelta(1, "ns")).empty  # nothing yet
    first = stored.chain("BBB", 1.0, t1 - pd.Timedelta(1, "ns"))  # not the later snapshot
    assert (first["underlying_price"] == 100.0).all()
    assert (stored.chain("BBB", 1.0, t1)["underlying_price"] == 140.0).all()
    assert stored.chain("BBB", 1.0, t1 + pd.Timedelta(days=5)).empty  # too old
    assert stored.chain("CCC", 1.0, t1).empty
    no_chains = HistoricalProvider(wheel_bars(["BBB"], end="2024-02-29"), lambda: t1)
    with pytest.raises(ProviderError, match="no option chains"):
        asyncio.run(no_chains.option_chain("BBB"))
