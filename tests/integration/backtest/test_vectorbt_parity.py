"""Acceptance 1 of issue 7: the fast path against vectorbt's ``Portfolio.from_signals``.

A long-only SMA(10/50) crossover on 500 synthetic symbols x 2,520 daily bars, fills at the
close, 0.1 % + $1 per order, all cash in: the same orders (bars, prices, sizes, fees, bit for
bit), the same trades and the same total return (within 1e-9) for every symbol. Both engines
get the same entry/exit arrays; a separate test shows that vectorbt's own crossover signals
differ from greekfire's only where the two SMAs are equal up to rounding.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from greekfire.backtest.fast import run_signals, sma_cross_signals
from greekfire.backtest.results import BacktestResult
from greekfire.bench.backtest_cases import SmaWorkload, make_sma_workload

vbt: Any = pytest.importorskip("vectorbt")

pytestmark = [
    pytest.mark.integration,
    # vectorbt's MA cache passes a reflected list to numba (its own code, not ours).
    pytest.mark.filterwarnings(
        "ignore:\\nEncountered the use of a type that is scheduled for deprecation"
        ":numba.core.errors.NumbaPendingDeprecationWarning"
    ),
]

FEES, FIXED, CASH = 0.001, 1.0, 100_000.0


@pytest.fixture(scope="module")
def workload() -> SmaWorkload:
    return make_sma_workload(500, 2_520)


@pytest.fixture(scope="module")
def signals(workload: SmaWorkload) -> tuple[pd.DataFrame, pd.DataFrame]:
    return sma_cross_signals(workload.close, 10, 50)


def _orders(pf: Any) -> np.ndarray:
    records = pf.orders.values
    return records[np.lexsort((records["idx"], records["col"]))]


def _assert_same_orders(res: BacktestResult, pf: Any, close: pd.DataFrame) -> None:
    want = _orders(pf)
    got = res.orders
    assert len(got) == len(want)
    codes = {name: i for i, name in enumerate(close.columns)}
    np.testing.assert_array_equal(got["symbol"].map(codes).to_numpy(), want["col"])
    bars = close.index.get_indexer(pd.DatetimeIndex(got["created_ts"]))
    np.testing.assert_array_equal(bars, want["idx"])
    np.testing.assert_array_equal((got["side"] == "sell").to_numpy(), want["side"] == 1)
    np.testing.assert_array_equal(got["qty"].to_numpy(), want["size"])
    np.testing.assert_array_equal(got["avg_fill_price"].to_numpy(), want["price"])
    np.testing.assert_array_equal(got["fee_usd"].to_numpy(), want["fees"])


def _assert_same_trades(res: BacktestResult, pf: Any, close: pd.DataFrame) -> None:
    want = pf.trades.values
    want = want[np.lexsort((want["entry_idx"], want["col"]))]
    got = res.trades
    assert len(got) == len(want)
    codes = {name: i for i, name in enumerate(close.columns)}
    np.testing.assert_array_equal(got["symbol"].map(codes).to_numpy(), want["col"])
    entry = close.index.get_indexer(pd.DatetimeIndex(got["entry_ts"]))
    np.testing.assert_array_equal(entry, want["entry_idx"])
    open_ = want["status"] == 0
    np.testing.assert_array_equal(got["exit_ts"].isna().to_numpy(), open_)
    exit_ = close.index.get_indexer(pd.DatetimeIndex(got["exit_ts"][~open_]))
    np.testing.assert_array_equal(exit_, want["exit_idx"][~open_])
    np.testing.assert_array_equal(got["qty"].to_numpy(), want["size"])
    # vectorbt's trade prices are order value / size: the order price up to one rounding.
    for ours, theirs in (("entry_price", "entry_price"), ("exit_price", "exit_price")):
        np.testing.assert_allclose(got[ours].to_numpy(), want[theirs], rtol=3e-16, atol=0)
    fees = want["entry_fees"] + want["exit_fees"]
    np.testing.assert_allclose(got["fees_usd"].to_numpy(), fees, rtol=1e-13)
    np.testing.assert_allclose(got["pnl_usd"].to_numpy(), want["pnl"], rtol=1e-9, atol=1e-6)


def _assert_same_returns(res: BacktestResult, pf: Any, close: pd.DataFrame) -> None:
    ours = res.total_return()[close.columns].to_numpy()
    theirs = pf.total_return().to_numpy()
    assert np.all(np.isfinite(ours))
    assert np.max(np.abs(ours - theirs)) <= 1e-9
    value = res.equity[close.columns].to_numpy()
    np.testing.assert_allclose(value, pf.value().to_numpy(), rtol=1e-12)


def test_sma_crossover_matches_vectorbt_on_500_symbols(
    workload: SmaWorkload, signals: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    close = workload.close
    assert close.shape == (2_520, 500)
    entries, exits = signals
    res = run_signals(close, entries, exits, fees_frac=FEES, fixed_fee_usd=FIXED, init_cash=CASH)
    pf = vbt.Portfolio.from_signals(
        close, entries, exits, size=np.inf, fees=FEES, fixed_fees=FIXED, init_cash=CASH, freq="1D"
    )
    assert len(res.trades) > 10_000  # every symbol trades many times
    assert res.trades.groupby("symbol").size().min() > 5
    _assert_same_orders(res, pf, close)
    _assert_same_trades(res, pf, close)
    _assert_same_returns(res, pf, close)


def test_next_open_fill_with_slippage_matches_vectorbt(
    workload: SmaWorkload, signals: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    # vectorbt's equivalent of "next bar's open": signals shifted one bar, price = open.
    w = workload.head(60)
    entries, exits = (s.iloc[:, :60] for s in signals)
    res = run_signals(
        w.close,
        entries,
        exits,
        open=w.open,
        fill="next_open",
        fees_frac=0.002,
        fixed_fee_usd=5.0,
        slippage_frac=0.0005,
        init_cash=CASH,
    )
    pf = vbt.Portfolio.from_signals(
        w.close,
        entries.shift(1, fill_value=False),
        exits.shift(1, fill_value=False),
        price=w.open,
        size=np.inf,
        fees=0.002,
        fixed_fees=5.0,
        slippage=0.0005,
        init_cash=CASH,
        freq="1D",
    )
    _assert_same_orders(res, pf, w.close)
    _assert_same_trades(res, pf, w.close)
    _assert_same_returns(res, pf, w.close)


def test_vectorbt_crossover_signals_differ_only_at_rounding_ties(
    workload: SmaWorkload, signals: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    close = workload.close
    fast = vbt.MA.run(close, 10, short_name="fast")
    slow = vbt.MA.run(close, 50, short_name="slow")
    theirs = (fast.ma_crossed_above(slow).to_numpy(), fast.ma_crossed_below(slow).to_numpy())
    gap = np.abs(fast.ma.to_numpy() - slow.ma.to_numpy()) / close.to_numpy()
    for ours, other in zip(signals, theirs, strict=True):
        differ = ours.to_numpy() != other
        # Where they differ, the SMAs were equal up to rounding on that bar or the one before
        # (prices in cents make exact ties common): one side saw +1e-15, the other -1e-15.
        rows, cols = np.nonzero(differ)
        near_tie = np.minimum(gap[rows, cols], gap[rows - 1, cols]) < 1e-12
        assert near_tie.all(), list(zip(rows[~near_tie][:5], cols[~near_tie][:5], strict=True))
        assert differ.sum() < 1e-2 * ours.to_numpy().sum()
