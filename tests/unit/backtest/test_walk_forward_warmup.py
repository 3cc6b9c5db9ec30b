"""Walk-forward test windows with a warm-up: the bars before a window warm the indicators,
and are neither traded nor scored; nothing after the window is ever read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greekfire.backtest.fast import run_signals, sma_cross_signals
from greekfire.backtest.sweep import (
    WARMUP_PARAM,
    sma_objective,
    walk_forward,
    walk_forward_splits,
)
from greekfire.cli.sweep_cmd import parse_walk_forward


def closes(n: int = 900, symbols: int = 3, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0003, 0.015, size=(n, symbols))
    index = pd.date_range("2020-01-01", periods=n, freq="B", tz="UTC")
    return pd.DataFrame(
        100.0 * np.exp(np.cumsum(steps, axis=0)),
        index=index,
        columns=[f"S{i}" for i in range(symbols)],
    )


def test_the_warm_up_bars_are_neither_traded_nor_scored() -> None:
    close = closes()
    warmup = 300
    got = sma_objective({"fast": 10, "slow": 100, WARMUP_PARAM: warmup}, close)
    entries, exits = sma_cross_signals(close, 10, 100)
    entries.iloc[:warmup] = False
    exits.iloc[:warmup] = False
    result = run_signals(close, entries, exits)
    assert (result.trades["entry_ts"] >= close.index[warmup]).all()
    account = result.equity["total"].to_numpy()[warmup - 1 :]
    assert account[0] == pytest.approx(float(result.equity["total"].iloc[0]))  # still cash
    assert got["total_return"] == pytest.approx(account[-1] / account[0] - 1.0, rel=1e-12)
    assert got["n_trades"] == len(result.trades) > 0
    # without the warm-up, crossovers inside the first 300 bars trade: more trades
    unmasked = run_signals(close, *sma_cross_signals(close, 10, 100))
    early = unmasked.trades["entry_ts"] < close.index[warmup]
    assert early.any()
    assert sma_objective({"fast": 10, "slow": 100}, close)["n_trades"] > got["n_trades"]


def test_a_warm_up_as_long_as_the_data_is_refused() -> None:
    close = closes(n=50)
    with pytest.raises(ValueError, match="warmup_bars must be in"):
        sma_objective({"fast": 5, "slow": 20, WARMUP_PARAM: 50}, close)


def test_walk_forward_warms_each_test_window_on_the_bars_before_it() -> None:
    close = closes()
    splits = walk_forward_splits(len(close), train_bars=400, test_bars=120)
    sets = [{"fast": 10, "slow": 150}, {"fast": 20, "slow": 150}]
    cold = walk_forward(sma_objective, sets, close, splits, backend="serial")
    warm = walk_forward(sma_objective, sets, close, splits, backend="serial", warmup_bars=150)
    # a 150-bar average cannot form inside a 120-bar window alone: no trade, no signal
    assert (cold.table["test_n_trades"] == 0).all()
    assert (warm.table["test_warmup_bars"] == 150).all()
    assert (warm.table["test_n_trades"] > 0).any()
    for row, split in zip(warm.table.itertuples(), splits, strict=True):
        params = {"fast": row.fast, "slow": row.slow, WARMUP_PARAM: 150}
        window = close.iloc[split.test_start - 150 : split.test_stop]
        assert row.test_total_return == sma_objective(params, window)["total_return"]


def test_the_warm_up_never_reads_past_the_test_window() -> None:
    close = closes()
    splits = walk_forward_splits(len(close), train_bars=400, test_bars=120)
    sets = [{"fast": 10, "slow": 150}]
    base = walk_forward(sma_objective, sets, close, splits[:1], backend="serial", warmup_bars=150)
    planted = close.copy()
    planted.iloc[splits[0].test_stop :] *= 50.0  # absurd future prices
    again = walk_forward(
        sma_objective, sets, planted, splits[:1], backend="serial", warmup_bars=150
    )
    pd.testing.assert_frame_equal(base.table, again.table)


def test_the_warm_up_is_capped_by_the_bars_that_exist() -> None:
    close = closes(n=400)
    splits = walk_forward_splits(len(close), train_bars=100, test_bars=100)
    result = walk_forward(
        sma_objective, [{"fast": 5, "slow": 30}], close, splits, backend="serial", warmup_bars=250
    )
    assert list(result.table["test_warmup_bars"]) == [min(250, s.test_start) for s in splits]


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_a_bad_warm_up_is_refused(bad: object) -> None:
    close = closes(n=300)
    splits = walk_forward_splits(len(close), train_bars=100, test_bars=100)
    with pytest.raises(ValueError, match="warmup_bars must be an int >= 0"):
        walk_forward(sma_objective, [{"fast": 5, "slow": 30}], close, splits, warmup_bars=bad)  # type: ignore[arg-type]


def test_the_cli_reads_the_warm_up() -> None:
    spec = parse_walk_forward("train=504,test=126,warmup=200,anchored")
    assert (spec.train, spec.test, spec.warmup, spec.anchored) == (504, 126, 200, True)
    assert parse_walk_forward("train=504,test=126").warmup is None
    assert parse_walk_forward("train=504,test=126,warmup=0").warmup == 0
    with pytest.raises(ValueError, match="warmup must be >= 0 bars, got -3"):
        parse_walk_forward("train=504,test=126,warmup=-3")
