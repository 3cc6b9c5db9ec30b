"""greekfire.backtest.fast: run_signals' result frames and checks, sma_cross_signals."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greekfire.backtest.fast import _paper_prices, run_signals, sma_cross_signals
from greekfire.backtest.results import TRADE_COLUMNS, BacktestResult, same_trades

IDX = pd.date_range("2024-01-01", periods=6, freq="D", tz="UTC")


def _frame(data: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame(data, index=IDX)


def _signals(data: dict[str, list[int]]) -> pd.DataFrame:
    return pd.DataFrame({k: [bool(v) for v in vs] for k, vs in data.items()}, index=IDX)


CLOSE = _frame({"A": [10, 11, 12, 11, 13, 14], "B": [20, 19, 18, 21, 22, 20]}).astype(float)
ENTRIES = _signals({"A": [1, 0, 0, 0, 1, 0], "B": [0, 1, 0, 0, 0, 0]})
EXITS = _signals({"A": [0, 0, 1, 0, 0, 0], "B": [0, 0, 0, 0, 1, 0]})


def test_round_trips_by_hand() -> None:
    res = run_signals(CLOSE, ENTRIES, EXITS, init_cash=1_000.0, strategy="demo")
    trades = res.trades
    assert list(trades.columns) == list(TRADE_COLUMNS)
    assert len(trades) == 3
    a1, a2, b1 = (trades.iloc[i] for i in range(3))
    assert (a1.symbol, a1.entry_ts, a1.exit_ts) == ("A", IDX[0], IDX[2])
    assert (a1.entry_price, a1.exit_price, a1.qty) == (10.0, 12.0, 100.0)
    assert a1.pnl_usd == 200.0
    assert a1.return_pct == pytest.approx(20.0)
    assert a1.bars_held == 2
    # A re-enters at 13 with 1,200 and is still open at the end: marked at 14, no exit time.
    assert a2.entry_price == 13.0
    assert pd.isna(a2.exit_ts)
    assert a2.exit_price == 14.0
    assert a2.pnl_usd == pytest.approx(1_200.0 / 13.0)
    assert a2.bars_held == 1
    assert (b1.symbol, b1.entry_ts, b1.exit_ts, b1.bars_held) == ("B", IDX[1], IDX[4], 3)
    assert set(trades["strategy"]) == {"demo"}
    total = res.total_return()
    assert total["A"] == pytest.approx(1_200.0 * 14.0 / 13.0 / 1_000.0 - 1.0, rel=1e-14)
    assert total["B"] == pytest.approx(22.0 / 19.0 - 1.0, rel=1e-14)


def test_equity_exposure_orders_and_meta() -> None:
    res = run_signals(CLOSE, ENTRIES, EXITS, fees_frac=0.001, fixed_fee_usd=1.0, init_cash=1e3)
    assert list(res.equity.columns) == ["A", "B", "total"]
    np.testing.assert_allclose(res.equity["total"], res.equity["A"] + res.equity["B"])
    assert res.equity.index.equals(IDX)
    np.testing.assert_array_equal(res.exposure["A"], [1.0, 1.0, 0.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(res.exposure["B"], [0.0, 1.0, 1.0, 1.0, 0.0, 0.0])
    assert list(res.orders["side"]) == ["buy", "sell", "buy", "buy", "sell"]
    assert list(res.orders["symbol"]) == ["A", "A", "A", "B", "B"]
    fees = res.orders.groupby("symbol")["fee_usd"].sum()
    assert fees["A"] == pytest.approx(res.trades.query("symbol == 'A'")["fees_usd"].sum())
    buy = res.orders.iloc[0]
    assert buy["fee_usd"] == pytest.approx(1_000.0 - 999.0 / 1.001)
    assert res.meta["engine"] == "fast"
    assert res.meta["fill"] == "close"
    assert res.meta["init_cash"] == 1_000.0
    assert res.meta["start"] == IDX[0]
    assert res.meta["end"] == IDX[-1]
    assert res.meta["periods_per_year"] == 252.0
    # Cash never goes negative: every value is at least zero, fees included.
    assert (res.equity.to_numpy() > 0).all()


def test_next_open_fills_at_the_following_open() -> None:
    opens = CLOSE - 0.5
    res = run_signals(CLOSE, ENTRIES, EXITS, open=opens, fill="next_open", init_cash=1_000.0)
    a1 = res.trades.iloc[0]
    assert (a1.entry_ts, a1.entry_price) == (IDX[1], 10.5)
    assert (a1.exit_ts, a1.exit_price) == (IDX[3], 10.5)
    assert res.meta["fill"] == "next_open"


def test_a_series_and_numpy_signals_are_accepted() -> None:
    close = CLOSE["A"]
    res = run_signals(close, ENTRIES["A"].to_numpy(), EXITS["A"].to_numpy(), init_cash=1_000.0)
    assert list(res.equity.columns) == ["A"]
    both = run_signals(CLOSE, ENTRIES, EXITS, init_cash=1_000.0)
    assert same_trades(res.trades, both.trades.query("symbol == 'A'")) == []


def test_naive_index_is_read_as_utc() -> None:
    naive = CLOSE.tz_localize(None)
    res = run_signals(naive, ENTRIES.tz_localize(None), EXITS.tz_localize(None))
    assert str(res.equity.index.tz) == "UTC"
    assert res.trades["entry_ts"].iloc[0] == IDX[0]


def test_no_signals_keeps_the_cash() -> None:
    none = ENTRIES & False
    res = run_signals(CLOSE, none, none, init_cash=500.0)
    assert res.trades.empty
    assert res.orders.empty
    np.testing.assert_array_equal(res.equity["A"], 500.0)
    assert (res.total_return() == 0.0).all()


def test_result_saves_and_loads(tmp_path: Path) -> None:
    res = run_signals(CLOSE, ENTRIES, EXITS, fees_frac=0.001)
    back = BacktestResult.load(res.save(tmp_path / "run"))
    assert same_trades(res, back) == []
    pd.testing.assert_frame_equal(back.equity, res.equity, check_freq=False)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"fill": "mid"}, "fill"),
        ({"fees_frac": -0.1}, "fees_frac"),
        ({"fees_frac": 1.0}, "fees_frac"),
        ({"fixed_fee_usd": math.nan}, "fixed_fee_usd"),
        ({"slippage_frac": 2.0}, "slippage_frac"),
        ({"init_cash": 0.0}, "init_cash"),
        ({"fill": "next_open"}, "open"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        run_signals(CLOSE, ENTRIES, EXITS, **kwargs)  # type: ignore[arg-type]


def test_misaligned_signals_are_refused() -> None:
    with pytest.raises(ValueError, match="entries"):
        run_signals(CLOSE, ENTRIES[["A"]], EXITS)
    with pytest.raises(ValueError, match=r"exits\.columns"):
        run_signals(CLOSE, ENTRIES, EXITS.rename(columns={"B": "C"}))
    with pytest.raises(TypeError, match="entries: expected booleans"):
        run_signals(CLOSE, ENTRIES.astype(int), EXITS)
    with pytest.raises(TypeError, match="close"):
        run_signals(CLOSE.to_numpy(), ENTRIES, EXITS)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"close\.index"):
        run_signals(CLOSE.reset_index(drop=True), ENTRIES, EXITS)


# --- sma_cross_signals


def _reference_cross(close: pd.Series, fast: int, slow: int) -> tuple[np.ndarray, np.ndarray]:
    # pandas rolling means; a cross is a flip of sign(fast - slow) against the last non-zero one
    diff = (close.rolling(fast).mean() - close.rolling(slow).mean()).to_numpy()
    entries = np.zeros(len(diff), dtype=bool)
    exits = np.zeros(len(diff), dtype=bool)
    last = 0.0
    for t, d in enumerate(diff):
        s = float(np.sign(d)) if not math.isnan(d) else 0.0
        if s != 0.0:
            entries[t] = s > 0 and last < 0
            exits[t] = s < 0 and last > 0
            last = s
    return entries, exits


def test_sma_cross_matches_a_pandas_reference() -> None:
    rng = np.random.default_rng(11)
    idx = pd.date_range("2020-01-01", periods=600, freq="D", tz="UTC")
    close = pd.DataFrame(
        100 * np.exp(np.cumsum(rng.normal(0, 0.02, (600, 5)), axis=0)),
        index=idx,
        columns=[f"S{i}" for i in range(5)],
    )
    entries, exits = sma_cross_signals(close, 10, 50)
    assert entries.shape == close.shape
    assert entries.index.equals(idx)
    assert list(entries.columns) == list(close.columns)
    assert entries.to_numpy().sum() > 20
    assert not entries.iloc[:50].to_numpy().any()  # no signal during or at the end of warm-up
    for name in close.columns:
        want_in, want_out = _reference_cross(close[name], 10, 50)
        np.testing.assert_array_equal(entries[name].to_numpy(), want_in)
        np.testing.assert_array_equal(exits[name].to_numpy(), want_out)


def test_sma_cross_feeds_run_signals() -> None:
    idx = pd.date_range("2021-01-01", periods=9, freq="D", tz="UTC")
    close = pd.Series([5.0, 4.0, 3.0, 4.0, 6.0, 7.0, 5.0, 3.0, 2.0], index=idx, name="X")
    entries, exits = sma_cross_signals(close, 1, 3)
    assert list(np.flatnonzero(entries["X"])) == [3]
    assert list(np.flatnonzero(exits["X"])) == [6]
    res = run_signals(close, entries, exits, init_cash=400.0)
    assert res.total_return()["X"] == pytest.approx(5.0 / 4.0 - 1.0)


@pytest.mark.parametrize(
    ("fast", "slow", "field"),
    [(0, 5, "fast"), (3, -1, "slow"), (2.5, 5, "fast"), (True, 5, "fast")],
)
def test_sma_cross_refuses_bad_windows(fast: object, slow: object, field: str) -> None:
    with pytest.raises(ValueError, match=f"{field}: expected an integer"):
        sma_cross_signals(CLOSE, fast, slow)  # type: ignore[arg-type]


# -- size="whole_shares" -----------------------------------------------------------------------


def test_whole_shares_buy_floor_of_the_cash_and_keep_the_rest() -> None:
    res = run_signals(CLOSE, ENTRIES, EXITS, init_cash=1_000.0, size="whole_shares")
    a1, a2, b1 = (res.trades.iloc[i] for i in range(3))
    assert (a1.qty, a1.entry_price, a1.exit_price) == (100.0, 10.0, 12.0)
    assert a2.qty == 92.0  # 1,200 / 13 = 92.3
    assert b1.qty == 52.0  # 1,000 / 19 = 52.6: 12.00 left
    assert b1.pnl_usd == 52.0 * (22.0 - 19.0)
    assert res.equity["B"].iloc[-1] == 12.0 + 52.0 * 22.0
    assert res.equity["A"].iloc[-1] == 1_200.0 - 92.0 * 13.0 + 92.0 * 14.0
    assert res.meta["size"] == "whole_shares"
    assert "paper_fees" not in res.meta
    fractional = run_signals(CLOSE, ENTRIES, EXITS, init_cash=1_000.0)
    assert fractional.meta["size"] == "all"
    assert fractional.trades["qty"].iloc[2] == pytest.approx(1_000.0 / 19.0)


def test_whole_shares_charge_the_paper_fee_schedule() -> None:
    from greekfire.broker.config import FeeConfig

    fees = FeeConfig(equity_commission_per_share_usd=0.01)  # SEC and TAF at their defaults
    res = run_signals(
        CLOSE[["A"]],
        ENTRIES[["A"]],
        EXITS[["A"]],
        size="whole_shares",
        paper_fees=fees,
        init_cash=1_000.0,
    )
    first = res.trades.iloc[0]
    assert first.qty == 99.0  # 100 shares + 1.00 commission would not fit in 1,000
    orders = res.orders
    assert list(orders["fee_usd"][:2]) == [0.99, 0.99 + 0.04 + 0.02]  # SEC 0.0330, TAF 0.0164
    assert res.meta["paper_fees"]["equity_commission_per_share_usd"] == 0.01
    assert res.meta["paper_fees"]["sec_fee_per_million_usd"] == 27.80


def test_whole_shares_fill_prices_round_like_the_paper_broker() -> None:
    idx = pd.date_range("2024-01-01", periods=2, tz="UTC")
    close = pd.DataFrame({"A": [12.5, 12.5]}, index=idx)
    entries = pd.DataFrame({"A": [True, False]}, index=idx)
    exits = pd.DataFrame({"A": [False, True]}, index=idx)
    res = run_signals(
        close, entries, exits, size="whole_shares", slippage_frac=1e-4, init_cash=1_000.0
    )
    trade = res.trades.iloc[0]
    # Python's round() of the slipped price (12.50125 -> 12.5012 or 12.5013, as round decides)
    assert trade.entry_price == round(12.5 * (1.0 + 1e-4), 4)
    assert trade.exit_price == round(12.5 * (1.0 - 1e-4), 4)
    assert trade.qty == math.floor(1_000.0 / trade.entry_price)


def test_whole_shares_bad_arguments() -> None:
    from greekfire.broker.config import FeeConfig

    with pytest.raises(ValueError, match="size: expected one of"):
        run_signals(CLOSE, ENTRIES, EXITS, size="half")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"paper_fees: .*size='whole_shares'"):
        run_signals(CLOSE, ENTRIES, EXITS, paper_fees=FeeConfig())
    with pytest.raises(
        TypeError, match=r"paper_fees: expected a greekfire\.broker\.config\.FeeConfig"
    ):
        run_signals(CLOSE, ENTRIES, EXITS, size="whole_shares", paper_fees={"x": 1})  # type: ignore[arg-type]


@pytest.mark.parametrize("factor", [1.0, 1.0001, 0.9998])
def test_paper_prices_round_exactly_as_python_round(factor: float) -> None:
    # the paper broker rounds a slipped fill with round(x, 4); the vectorised rounding must
    # pick the same double everywhere, ties (x.xxxx5 and their neighbours) included
    rng = np.random.default_rng(7)
    prices = np.concatenate(
        [
            rng.uniform(0.01, 5_000.0, 200_000),
            np.round(rng.uniform(1.0, 500.0, 50_000), 2),
            (np.arange(1, 50_001) + 0.5) / 1e4,  # exact decimal ties, not exact in binary
            np.array([np.nan, np.inf, 0.0, 1e7 + 0.00005]),
        ]
    )
    moved = prices * factor
    expected = np.array([round(x, 4) if np.isfinite(x) else x for x in moved.tolist()])
    got = _paper_prices(prices, factor)
    np.testing.assert_array_equal(got, expected)
