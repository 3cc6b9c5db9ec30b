"""The event backtester: the real engine over history, with no look-ahead, trading exactly
the trades the signal path trades, and leaving a sound journal."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from backtest_strategies import Recorder

from greekfire.backtest.event import EventBacktester
from greekfire.backtest.results import BacktestResult, same_trades
from greekfire.journal.sqlite import Journal
from greekfire.settings import Settings
from greekfire.sim.market import SyntheticMarket

pytestmark = pytest.mark.integration

NO_FEES = {
    "slippage_bps": 0.0,
    "fees": {"sec_fee_per_million_usd": 0.0, "taf_per_share_usd": 0.0},
}


def settings(strategies: list[dict[str, Any]], **sections: Any) -> Settings:
    raw: dict[str, Any] = {
        "engine": {"symbols": ["AAA"], "lookback_bars": 60},
        "strategies": strategies,
    }
    raw.update(sections)
    return Settings.model_validate(raw)


def bars_of(symbols: list[str], start: str, end: str, seed: int = 3) -> dict[str, pd.DataFrame]:
    return SyntheticMarket(symbols, seed=seed).bars(symbols, start, end)


# -- no look-ahead -------------------------------------------------------------------------------
def recorded_run(
    bars: dict[str, pd.DataFrame], tmp: Path
) -> tuple[BacktestResult, list[dict[str, Any]]]:
    Recorder.seen = []
    cfg = settings(
        [
            {
                "name": "rec",
                "module": "backtest_strategies:Recorder",
                "symbols": ["AAA"],
                "params": {"buy_every": 3},
            }
        ],
        broker={"paper": NO_FEES},
    )
    result = EventBacktester(cfg, bars, risk=False, journal_path=tmp / "journal.db").run()
    return result, Recorder.seen


def test_planted_future_is_never_seen_before_its_time(tmp_path: Path) -> None:
    clean = bars_of(["AAA"], "2024-01-02", "2024-07-31")
    planted = {"AAA": clean["AAA"].copy()}
    at = 90
    planted["AAA"].iloc[at, :4] = [5e5, 5e5, 5e5, 5e5]
    stamp = planted["AAA"].index[at]
    base, seen_base = recorded_run(clean, tmp_path / "a")
    bent, seen_bent = recorded_run(planted, tmp_path / "b")
    assert len(seen_base) == len(seen_bent) == len(clean["AAA"])
    # the cycle of bar t (at the next session's open) is the first to see it
    before = [i for i, r in enumerate(seen_bent) if r["bars"]["AAA"].index[-1] < stamp]
    assert len(before) == at
    for i in before:
        a, b = seen_base[i], seen_bent[i]
        assert a["now_ns"] == b["now_ns"]
        pd.testing.assert_frame_equal(a["bars"]["AAA"], b["bars"]["AAA"])
        pd.testing.assert_series_equal(  # NaN-aware (warm-up values are NaN)
            pd.Series(a["indicators"]["AAA"]), pd.Series(b["indicators"]["AAA"])
        )
        assert a["quotes"] == b["quotes"]
        assert float(b["bars"]["AAA"]["high"].max()) < 1e5
        assert b["quotes"]["AAA"][2] < 1e5
        assert all(abs(v) < 1e5 for v in b["indicators"]["AAA"].values() if v == v)
    assert seen_bent[at]["quotes"]["AAA"][2] == 5e5  # and it is there once its bar closed
    assert seen_bent[at]["indicators"]["AAA"]["sma_5"] > 1e5
    # results up to the planted bar are identical
    closed_a = base.trades[base.trades["exit_ts"] < stamp]
    closed_b = bent.trades[bent.trades["exit_ts"] < stamp]
    assert len(closed_a) > 10
    assert same_trades(closed_a, closed_b) == []
    early = base.equity.index < stamp
    pd.testing.assert_frame_equal(base.equity[early], bent.equity[early])
    assert not base.equity.equals(bent.equity)  # the planted bar does change what follows


# -- event path == signal path ---------------------------------------------------------------------
def reference_sma_trades(close: pd.Series, fast: int, slow: int, cash: float) -> pd.DataFrame:
    """All cash in at the close of a cross above, all out at the close of a cross below."""
    f, s = close.rolling(fast).mean(), close.rolling(slow).mean()
    up = (f > s) & (f.shift(1) <= s.shift(1))
    down = (f < s) & (f.shift(1) >= s.shift(1))
    rows: list[dict[str, Any]] = []
    qty = 0.0
    for ts, price in close.items():
        if qty == 0 and up[ts]:
            qty = cash / price
            rows.append({"entry_ts": ts, "entry_price": price, "qty": qty})
        elif qty > 0 and down[ts]:
            cash = qty * price
            rows[-1].update(exit_ts=ts, exit_price=price)
            qty = 0.0
    frame = pd.DataFrame(rows)
    frame["symbol"] = close.name
    return frame


SMA = [
    {
        "name": "sma",
        "module": "backtest_strategies:SmaCross",
        "symbols": ["AAA", "BBB"],
        "params": {"fast": 10, "slow": 50},
    }
]


@pytest.fixture(scope="module")
def sma_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, pd.DataFrame], BacktestResult]:
    bars = bars_of(["AAA"], "2021-01-04", "2022-12-30", seed=5)
    cfg = settings([SMA[0] | {"symbols": ["AAA"]}], broker={"paper": NO_FEES})
    tmp = tmp_path_factory.mktemp("sma")
    return bars, EventBacktester(
        cfg, bars, fill="close", risk=False, journal_path=tmp / "j.db"
    ).run()


def test_event_sma_cross_equals_the_reference(
    sma_run: tuple[dict[str, pd.DataFrame], BacktestResult],
) -> None:
    bars, result = sma_run
    close = bars["AAA"]["close"].rename("AAA")
    want = reference_sma_trades(close, 10, 50, 100_000.0)
    got = result.trades
    assert len(want) >= 4
    assert len(got) == len(want)
    assert list(got["entry_ts"]) == list(want["entry_ts"])
    assert list(got["exit_ts"].dropna()) == list(want["exit_ts"].dropna())
    np.testing.assert_array_equal(got["entry_price"], want["entry_price"])
    closed = got["exit_ts"].notna()
    # one ulp: results.trades_from_fills takes the qty-weighted mean of the exit fills
    np.testing.assert_allclose(got["exit_price"][closed], want["exit_price"].dropna(), rtol=1e-14)
    # the ledger rounds cash to the cent at every fill: quantities agree to ~1e-7
    np.testing.assert_allclose(got["qty"], want["qty"], rtol=1e-6)
    assert result.meta["engine"] == "event"
    assert result.meta["journal_integrity"] == "ok"
    last = float(result.equity["AAA"].iloc[-1])
    assert last == pytest.approx(float(result.total_return()["AAA"] + 1) * 100_000.0, rel=1e-9)


@pytest.mark.skipif(
    importlib.util.find_spec("greekfire.backtest.fast") is None, reason="fast path not built yet"
)
def test_event_sma_cross_equals_the_fast_path(
    sma_run: tuple[dict[str, pd.DataFrame], BacktestResult],
) -> None:
    """Fractional shares, risk gate off: the same trades to 1e-6 in quantity.

    The fast path's ``size="all"`` is vectorbt's: qty = cash / price with the cash unrounded.
    The paper broker's ledger rounds the cash to the cent at every fill, so from the second
    entry on the event path's cash (and so its qty = cash / price) differs by up to half a
    cent per fill before it: a relative error below 0.005 x fills / 100,000 < 1e-6 here.
    The live gate would also lower the fractional qty to whole units: off here; the exact
    identity is the whole-share test below.
    """
    from greekfire.backtest.fast import run_signals, sma_cross_signals

    bars, result = sma_run
    close = bars["AAA"][["close"]].rename(columns={"close": "AAA"})
    entries, exits = sma_cross_signals(close, 10, 50)
    fast = run_signals(close, entries, exits, fill="close", init_cash=100_000.0)
    assert fast.meta["size"] == "all"
    assert same_trades(result, fast, price_tol=1e-14, qty_tol=1e-6) == []


# -- whole shares, the live risk gate on: exactly the fast path's trades --------------------------
WHOLE_SYMBOLS = ["AAA", "BBB", "CCC"]
# The gate approves an all-cash whole-share entry of one symbol per account unchanged:
# fixed-fraction sizing at risk_fraction 1 allows floor(equity / price) >= the qty asked,
# exposure caps at 100 % of equity, one position, and the kill switch only at a total loss.
WHOLE_RISK = {
    "risk_fraction": 1.0,
    "max_positions": 1,
    "max_symbol_exposure_fraction": 1.0,
    "max_total_exposure_fraction": 1.0,
    "daily_loss_limit_fraction": 1.0,
    "max_drawdown_fraction": 1.0,
}
COMMISSION = 0.005  # $ per share, both sides; plus the default SEC fee and FINRA TAF on sells
SLIPPAGE_BPS = 2.0
WHOLE_VARIANTS = {
    "close": {"fill": "close", "fees": NO_FEES, "params": {}},
    "next_open": {"fill": "next_open", "fees": NO_FEES, "params": {}},
    "fees": {
        "fill": "close",
        "fees": {
            "slippage_bps": SLIPPAGE_BPS,
            "fees": {"equity_commission_per_share_usd": COMMISSION},
        },
        "params": {"commission_per_share_usd": COMMISSION, "slippage_bps": SLIPPAGE_BPS},
    },
}


@pytest.fixture(scope="module")
def whole_bars() -> dict[str, pd.DataFrame]:
    return bars_of(WHOLE_SYMBOLS, "2021-01-04", "2022-12-30", seed=12)


def whole_event_run(
    bars: dict[str, pd.DataFrame], variant: str, tmp: Path
) -> tuple[BacktestResult, list[Any]]:
    """One event run per symbol (one account each, as the fast path keeps one per symbol),
    merged: the trades, and the journal's fills in order."""
    spec = WHOLE_VARIANTS[variant]
    trades: list[pd.DataFrame] = []
    fills: list[Any] = []
    for symbol in WHOLE_SYMBOLS:
        params = {"fast": 10, "slow": 50, "whole_shares": True, **spec["params"]}
        cfg = settings(
            [SMA[0] | {"symbols": [symbol], "params": params}],
            broker={"paper": spec["fees"]},
            risk=WHOLE_RISK,
        )
        path = tmp / f"{variant}-{symbol}.db"
        bt = EventBacktester(
            cfg, {symbol: bars[symbol]}, fill=spec["fill"], risk=True, journal_path=path
        )
        result = bt.run()
        assert result.meta["risk"] is True
        assert bt.last_run is not None
        assert bt.last_run.errors == []
        decisions = [d for r in bt.last_run.reports for d in r.decisions]
        assert decisions, symbol
        for d in decisions:  # the live gate ran every check and changed nothing
            assert d.approved, d.reasons
            assert d.qty == d.intent.qty
            assert "off" not in d.checks
            assert ("sizing" if d.intent.opening else "closing") in d.checks
        trades.append(result.trades)
        journal = Journal.open_readonly(path)
        try:
            fills.extend(journal.fills())
        finally:
            journal.close()
    merged = pd.concat(trades, ignore_index=True)
    return BacktestResult(
        equity=result.equity,
        trades=merged,
        orders=result.orders,
        exposure=result.exposure,
        params={},
        meta={},
    ), fills


@pytest.mark.parametrize("variant", list(WHOLE_VARIANTS))
def test_event_whole_shares_with_the_risk_gate_equals_the_fast_path(
    whole_bars: dict[str, pd.DataFrame], variant: str, tmp_path: Path
) -> None:
    from greekfire.backtest.fast import run_signals, sma_cross_signals
    from greekfire.broker.config import FeeConfig

    spec = WHOLE_VARIANTS[variant]
    event, fills = whole_event_run(whole_bars, variant, tmp_path)
    close = pd.DataFrame({s: whole_bars[s]["close"] for s in WHOLE_SYMBOLS})
    opens = pd.DataFrame({s: whole_bars[s]["open"] for s in WHOLE_SYMBOLS})
    entries, exits = sma_cross_signals(close, 10, 50)
    fee_cfg = FeeConfig.model_validate(spec["fees"]["fees"])
    fast = run_signals(
        close,
        entries,
        exits,
        open=opens,
        fill=spec["fill"],
        slippage_frac=spec["fees"]["slippage_bps"] / 10_000.0,
        init_cash=100_000.0,
        size="whole_shares",
        paper_fees=fee_cfg,
    )
    assert fast.meta["size"] == "whole_shares"
    # exact: entry and exit times, prices and quantities
    assert same_trades(event, fast, price_tol=0.0, qty_tol=0.0) == []
    counts = fast.trades.groupby("symbol")["exit_ts"].count()
    assert (counts >= 4).all(), counts  # >= 4 round trips per symbol
    assert (fast.trades["qty"] == np.floor(fast.trades["qty"])).all()
    # every fill: side, qty, price and fee (whole cents), exactly
    got = [(f.symbol, f.side.value, f.qty, f.price, f.fee_usd) for f in fills]
    want = list(
        fast.orders[["symbol", "side", "qty", "avg_fill_price", "fee_usd"]].itertuples(
            index=False, name=None
        )
    )
    assert sorted(got, key=lambda f: f[0]) == want  # stable: each symbol's fills in time order
    if variant == "fees":
        assert (fast.orders["fee_usd"] > 0).all()
        sells = fast.orders[fast.orders["side"] == "sell"]
        buys = fast.orders[fast.orders["side"] == "buy"]
        # sells pay more than the commission (the SEC fee and the TAF)
        assert (sells["fee_usd"] > sells["qty"] * COMMISSION).all()
        np.testing.assert_array_equal(buys["fee_usd"], np.round(buys["qty"] * COMMISSION + 1e-9, 2))
        # fills at the close moved by the slippage, rounded to $0.0001 (Python's round)
        for trade in fast.trades.itertuples():
            at_close = float(close.at[trade.entry_ts, trade.symbol])
            assert trade.entry_price == round(at_close * (1.0 + SLIPPAGE_BPS / 10_000.0), 4)
    cents = np.round(fast.orders["fee_usd"] * 100.0, 6)
    assert (cents == np.round(cents)).all()
    np.testing.assert_allclose(
        event.trades["fees_usd"], fast.trades["fees_usd"], rtol=1e-12, atol=0.0
    )
    np.testing.assert_allclose(event.trades["pnl_usd"], fast.trades["pnl_usd"], rtol=1e-9)


# -- a live strategy over three months -----------------------------------------------------------
def test_momentum_over_three_months_leaves_a_sound_journal(tmp_path: Path) -> None:
    symbols = ["AAA", "BBB", "CCC"]
    bars = bars_of(symbols, "2024-01-02", "2024-09-30", seed=9)
    cfg = Settings.model_validate(
        {
            "engine": {"symbols": symbols, "lookback_bars": 80},
            "risk": {"risk_fraction": 0.2},
            "strategies": [
                {
                    "name": "momentum",
                    "symbols": symbols,
                    "params": {"entry_threshold": 0.25, "exit_threshold": -0.25},
                }
            ],
        }
    )
    bt = EventBacktester(
        cfg, bars, fill="next_open", start="2024-07-01", journal_path=tmp_path / "m.db"
    )
    result = bt.run()
    run = bt.last_run
    assert run is not None
    assert run.errors == []
    assert 60 <= len(run.reports) <= 66  # one cycle per bar of the quarter (the last has none)
    assert all(r.skipped is None for r in run.reports)
    assert len(result.orders) > 0
    assert set(result.equity.columns) == {*symbols, "total"}
    assert result.equity.index[0] == pd.Timestamp("2024-07-01", tz="UTC")
    fills = result.trades
    assert (fills["entry_ts"] >= pd.Timestamp("2024-07-02", tz="UTC")).all()  # next-open fills
    journal = Journal.open_readonly(tmp_path / "m.db")
    try:
        assert journal.integrity_check() == "ok"
        assert len(journal.cycles()) == len(run.reports)
        assert len(journal.fills()) >= len(result.trades)
    finally:
        journal.close()
