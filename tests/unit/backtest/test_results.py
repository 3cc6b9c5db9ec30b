"""BacktestResult: trades frame contract, statistics, save/load, same_trades, trades_from_fills."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greekfire.backtest.results import (
    TRADE_COLUMNS,
    TRADE_DTYPES,
    BacktestResult,
    empty_trades,
    normalize_trades,
    same_trades,
    trades_from_fills,
)
from greekfire.domain.orders import Side

DAYS = pd.date_range("2024-01-02", periods=4, freq="D", tz="UTC")


def _trade(symbol: str = "AAA", **changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "symbol": symbol,
        "entry_ts": DAYS[0],
        "exit_ts": DAYS[2],
        "entry_price": 100.0,
        "exit_price": 121.0,
        "qty": 1.0,
        "pnl_usd": 21.0,
        "fees_usd": 0.0,
        "return_pct": 21.0,
        "bars_held": 2,
        "strategy": "test",
    }
    row.update(changes)
    return row


def _trades(*rows: dict[str, object]) -> pd.DataFrame:
    return normalize_trades(pd.DataFrame(list(rows), columns=list(TRADE_COLUMNS)))


def _one_symbol() -> BacktestResult:
    # Cash 100, equity 110, 99, 121, 120: returns +10 %, -10 %, +22.2 %, -0.83 %.
    equity = pd.DataFrame({"AAA": [110.0, 99.0, 121.0, 120.0]}, index=DAYS)
    exposure = pd.DataFrame({"AAA": [1.0, 1.0, 0.0, 0.0]}, index=DAYS)
    trades = _trades(
        _trade(pnl_usd=19.0, return_pct=19.0),
        _trade(entry_ts=DAYS[1], exit_ts=DAYS[3], pnl_usd=-5.0, return_pct=-5.0, bars_held=3),
    )
    return BacktestResult(
        equity=equity,
        trades=trades,
        exposure=exposure,
        params={"fast": 10},
        meta={"init_cash": 100.0, "engine": "fast"},
    )


# ---------------------------------------------------------------------------------- contract


def test_empty_trades_have_the_columns_and_dtypes() -> None:
    trades = empty_trades()
    assert tuple(trades.columns) == TRADE_COLUMNS
    assert len(trades) == 0
    assert {c: str(trades[c].dtype) for c in TRADE_COLUMNS} == TRADE_DTYPES
    assert str(BacktestResult(pd.DataFrame(index=DAYS)).trades["entry_ts"].dtype) == (
        "datetime64[ns, UTC]"
    )


def test_normalize_trades_converts_times_to_utc_ns_and_names_a_missing_column() -> None:
    naive = pd.DataFrame([_trade()]).assign(
        entry_ts=pd.Timestamp("2024-01-02 15:00"),
        exit_ts=pd.Timestamp("2024-01-03 10:00", tz="America/New_York"),
    )
    trades = normalize_trades(naive)
    assert trades["entry_ts"].iloc[0] == pd.Timestamp("2024-01-02 15:00", tz="UTC")
    assert trades["exit_ts"].iloc[0] == pd.Timestamp("2024-01-03 15:00", tz="UTC")
    assert str(trades["exit_ts"].dtype) == "datetime64[ns, UTC]"
    with pytest.raises(ValueError, match=r"missing column\(s\) \['qty'\]"):
        normalize_trades(pd.DataFrame([_trade()]).drop(columns=["qty"]))


def test_result_refuses_an_equity_without_dates() -> None:
    with pytest.raises(TypeError, match="equity: expected a DatetimeIndex"):
        BacktestResult(pd.DataFrame({"AAA": [1.0, 2.0]}))


# ---------------------------------------------------------------------------------- numbers


def test_total_return_is_against_the_initial_cash() -> None:
    result = _one_symbol()
    assert result.total_return()["AAA"] == pytest.approx(0.20, abs=1e-15)
    # Without init_cash the first value is the start.
    bare = BacktestResult(result.equity)
    assert bare.total_return()["AAA"] == pytest.approx(120.0 / 110.0 - 1.0, abs=1e-15)


def test_stats_match_hand_computed_values() -> None:
    result = _one_symbol()
    returns = [0.10, -0.10, 121.0 / 99.0 - 1.0, 120.0 / 121.0 - 1.0]
    table = result.stats()["AAA"]
    sharpe = statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(252)
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    assert table["Periods"] == 4
    assert table["Return [%]"] == pytest.approx(20.0, rel=1e-12)
    assert table["CAGR [%]"] == pytest.approx((1.2 ** (252 / 4) - 1.0) * 100.0, rel=1e-9)
    assert table["Sharpe Ratio"] == pytest.approx(sharpe, rel=1e-12)
    assert table["Sortino Ratio"] == pytest.approx(
        statistics.mean(returns) / downside * math.sqrt(252), rel=1e-12
    )
    assert table["Max. Drawdown [%]"] == pytest.approx(-10.0, rel=1e-12)
    assert table["Win Rate [%]"] == pytest.approx(50.0)
    assert table["Exposure Time [%]"] == pytest.approx(50.0)
    assert table["Avg. Exposure [%]"] == pytest.approx(50.0)
    assert table["Trades"] == 2
    assert table["Open Trades"] == 0
    assert table["Trade Win Rate [%]"] == pytest.approx(50.0)
    assert table["Trade Profit Factor"] == pytest.approx(19.0 / 5.0)
    assert table["Avg. Trade [%]"] == pytest.approx(7.0)
    assert table["Best Trade [%]"] == 19.0
    assert table["Worst Trade [%]"] == -5.0
    assert table["Avg. Holding [bars]"] == pytest.approx(2.5)
    assert table["Start Value [$]"] == 100.0
    assert table["End Value [$]"] == 120.0


def test_total_column_starts_with_the_summed_cash_and_weights_exposure() -> None:
    equity = pd.DataFrame({"AAA": [110.0, 120.0], "BBB": [100.0, 90.0]}, index=DAYS[:2])
    equity["total"] = equity["AAA"] + equity["BBB"]
    exposure = pd.DataFrame({"AAA": [1.0, 1.0], "BBB": [0.0, 1.0]}, index=DAYS[:2])
    result = BacktestResult(equity, exposure=exposure, meta={"init_cash": 100.0})
    assert result.symbols == ["AAA", "BBB"]
    total = result.total_return()
    assert total["total"] == pytest.approx(210.0 / 200.0 - 1.0)
    assert total["BBB"] == pytest.approx(-0.10)
    stats = result.stats()
    # Bar 1: 110 of 210 invested; bar 2: everything.
    assert stats.loc["Avg. Exposure [%]", "total"] == pytest.approx((110 / 210 + 1.0) / 2 * 100)
    assert stats.loc["Start Value [$]", "total"] == 200.0
    per_symbol = BacktestResult(equity, meta={"init_cash": {"AAA": 100.0, "BBB": 50.0}})
    assert per_symbol.total_return()["BBB"] == pytest.approx(90.0 / 50.0 - 1.0)
    assert per_symbol.initial_equity()["total"] == 150.0


# ---------------------------------------------------------------------------------- files


def test_save_load_round_trip(tmp_path: Path) -> None:
    result = _one_symbol()
    orders = pd.DataFrame(
        {
            "client_order_id": ["a", "b"],
            "side": ["buy", "sell"],
            "qty": [1.0, 1.0],
            "ts": pd.DatetimeIndex(DAYS[:2]),
        }
    )
    params = {
        "fast": 10,
        "band": float("nan"),
        "cap": float("inf"),
        "window": (10, 50),
        "by_symbol": {1: "one"},
        "nested": {"when": pd.Timestamp("2024-01-02 09:30", tz="UTC"), "hold": pd.Timedelta("2D")},
    }
    meta = {"init_cash": 100.0, "start": DAYS[0], "end": DAYS[-1], "engine": "event"}
    original = BacktestResult(
        equity=result.equity,
        trades=result.trades,
        orders=orders,
        exposure=result.exposure,
        params=params,
        meta=meta,
    )
    where = original.save(tmp_path / "run")
    assert where == tmp_path / "run"
    names = sorted(p.name for p in where.iterdir())
    expected = ["equity", "exposure", "orders", "trades"]
    assert names == sorted([f"{n}.parquet" for n in expected] + ["meta.json", "stats.json"])

    loaded = BacktestResult.load(where)
    for name in ("equity", "trades", "orders", "exposure"):
        pd.testing.assert_frame_equal(getattr(loaded, name), getattr(original, name))
    assert str(loaded.trades["entry_ts"].dtype) == "datetime64[ns, UTC]"
    assert loaded.equity.index.tz is not None
    assert math.isnan(loaded.params["band"])
    assert loaded.params["cap"] == math.inf
    assert {k: v for k, v in loaded.params.items() if k != "band"} == {
        k: v for k, v in params.items() if k != "band"
    }
    assert loaded.meta == meta
    assert same_trades(loaded, original) == []


def test_saved_json_is_strict(tmp_path: Path) -> None:
    equity = pd.DataFrame({"AAA": [100.0, 100.0, 100.0]}, index=DAYS[:3])
    where = BacktestResult(equity, params={"x": float("-inf")}).save(tmp_path)

    def refuse(token: str) -> None:
        raise AssertionError(f"non-standard JSON constant {token}")

    for name in ("meta.json", "stats.json"):
        json.loads((where / name).read_text(encoding="utf-8"), parse_constant=refuse)
    stats = json.loads((where / "stats.json").read_text(encoding="utf-8"))
    # A flat equity has no Sharpe ratio: NaN, written as a tagged value.
    assert stats["AAA"]["Sharpe Ratio"] == {"$float": "nan"}


def test_save_names_a_value_json_cannot_hold(tmp_path: Path) -> None:
    result = BacktestResult(pd.DataFrame({"AAA": [1.0]}, index=DAYS[:1]), params={"fn": object()})
    with pytest.raises(TypeError, match=r"meta\.params\.fn: cannot save a value of type object"):
        result.save(tmp_path)


def test_load_refuses_an_unknown_format(tmp_path: Path) -> None:
    result = BacktestResult(pd.DataFrame({"AAA": [1.0]}, index=DAYS[:1]))
    result.save(tmp_path)
    (tmp_path / "meta.json").write_text('{"format": 99}', encoding="utf-8")
    with pytest.raises(ValueError, match="expected format 1, got 99"):
        BacktestResult.load(tmp_path)


# ---------------------------------------------------------------------------------- same_trades


def test_same_trades_is_empty_for_identical_trades_in_any_row_order() -> None:
    a = _trades(_trade("AAA"), _trade("BBB"), _trade("AAA", entry_ts=DAYS[3], exit_ts=pd.NaT))
    b = a.iloc[::-1].reset_index(drop=True)
    assert same_trades(a, b) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"entry_ts": DAYS[1]}, "AAA trade 1: entry_ts 2024-01-02T00:00:00+00:00 vs 2024-01-03"),
        ({"exit_ts": DAYS[3]}, "AAA trade 1: exit_ts 2024-01-04T00:00:00+00:00 vs 2024-01-05"),
        ({"exit_ts": pd.NaT}, "AAA trade 1: exit_ts 2024-01-04T00:00:00+00:00 vs open"),
        ({"entry_price": 100.5}, "AAA trade 1: entry_price 100.0 vs 100.5"),
        ({"exit_price": 120.0}, "AAA trade 1: exit_price 121.0 vs 120.0"),
        ({"qty": 2.0}, "AAA trade 1: qty 1.0 vs 2.0"),
    ],
)
def test_same_trades_names_each_kind_of_difference(
    change: dict[str, object], expected: str
) -> None:
    diffs = same_trades(_trades(_trade()), _trades(_trade(**change)))
    assert len(diffs) == 1
    assert diffs[0].startswith(expected)


def test_same_trades_reports_the_count_and_the_extra_trade() -> None:
    a = _trades(_trade(), _trade(entry_ts=DAYS[3], exit_ts=pd.NaT))
    b = _trades(_trade())
    diffs = same_trades(BacktestResult(pd.DataFrame(index=DAYS), trades=a), b)
    assert diffs[0] == "trade count: 2 in a, 1 in b"
    assert diffs[1] == "AAA: 2 trades in a, 1 in b"
    assert diffs[2].startswith("AAA trade 2 only in a: entry 2024-01-05T00:00:00+00:00")
    assert len(diffs) == 3
    assert same_trades(b, _trades(_trade("BBB")))[:2] == [
        "AAA: 1 trades in a, 0 in b",
        "AAA trade 1 only in a: entry 2024-01-02T00:00:00+00:00 at 100.0, exit "
        "2024-01-04T00:00:00+00:00 at 121.0, qty 1.0",
    ]


def test_same_trades_tolerance_is_relative() -> None:
    a = _trades(_trade(entry_price=100.0, qty=3.0))
    b = _trades(_trade(entry_price=100.0 * (1 + 1e-12), qty=3.0 * (1 - 1e-12)))
    assert len(same_trades(a, b)) == 2
    assert same_trades(a, b, price_tol=1e-9) == []
    assert len(same_trades(a, b, price_tol=1e-9, qty_tol=0.0)) == 1
    with pytest.raises(ValueError, match="price_tol: expected a relative tolerance >= 0"):
        same_trades(a, b, price_tol=-1.0)


# ---------------------------------------------------------------------------------- FIFO


def _fills(rows: list[tuple[str, object, float, float, float, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"symbol": s, "side": side, "qty": q, "price": p, "fee_usd": f, "ts_ns": DAYS[i].value}
            for s, side, q, p, f, i in rows
        ]
    )


def test_trades_from_fills_pairs_lots_first_in_first_out() -> None:
    fills = _fills(
        [
            ("AAA", "sell", 3.0, 90.0, 0.3, 3),  # rows out of time order on purpose
            ("AAA", "buy", 10.0, 100.0, 1.0, 0),
            ("AAA", Side.BUY, 5.0, 110.0, 0.5, 1),
            ("AAA", Side.SELL, 12.0, 120.0, 1.2, 2),
        ]
    )
    trades = trades_from_fills(fills, index=DAYS, strategy="sma")
    assert tuple(trades.columns) == TRADE_COLUMNS
    first, second = trades.itertuples(index=False)
    # Lot 1 (10 @ 100, fee 1) closes entirely with 10 of the 12 sold at 120.
    assert (first.entry_ts, first.exit_ts) == (DAYS[0], DAYS[2])
    assert (first.entry_price, first.exit_price, first.qty) == (100.0, 120.0, 10.0)
    assert first.fees_usd == pytest.approx(1.0 + 1.2 * 10 / 12)
    assert first.pnl_usd == pytest.approx(10 * 20.0 - 2.0)
    assert first.return_pct == pytest.approx(198.0 / 1001.0 * 100.0)
    assert first.bars_held == 2
    assert first.strategy == "sma"
    # Lot 2 (5 @ 110): 2 sold at 120, then 3 at 90.
    assert (second.entry_ts, second.exit_ts) == (DAYS[1], DAYS[3])
    assert second.exit_price == pytest.approx((2 * 120.0 + 3 * 90.0) / 5)
    assert second.fees_usd == pytest.approx(0.5 + 1.2 * 2 / 12 + 0.3)
    assert second.pnl_usd == pytest.approx(5 * (102.0 - 110.0) - 1.0)
    assert second.bars_held == 2


def test_trades_from_fills_keeps_the_open_rest_of_a_lot() -> None:
    fills = _fills([("AAA", "buy", 10.0, 100.0, 1.0, 0), ("AAA", "sell", 4.0, 110.0, 0.0, 1)])
    trades = trades_from_fills(fills, index=DAYS, marks={"AAA": 105.0})
    closed, still_open = trades.itertuples(index=False)
    assert (closed.qty, closed.exit_price, closed.fees_usd) == (4.0, 110.0, pytest.approx(0.4))
    assert closed.pnl_usd == pytest.approx(4 * 10.0 - 0.4)
    assert still_open.qty == 6.0
    assert pd.isna(still_open.exit_ts)
    assert still_open.exit_price == 105.0
    assert still_open.pnl_usd == pytest.approx(6 * 5.0 - 0.6)
    assert still_open.bars_held == 3  # to the last bar
    unmarked = trades_from_fills(fills).iloc[1]
    assert math.isnan(unmarked["exit_price"])
    assert unmarked["bars_held"] == -1


def test_trades_from_fills_keeps_symbols_apart_and_accepts_timestamps() -> None:
    fills = _fills(
        [
            ("BBB", "buy", 1.0, 50.0, 0.0, 0),
            ("AAA", "buy", 2.0, 10.0, 0.0, 1),
            ("BBB", "sell", 1.0, 55.0, 0.0, 2),
        ]
    )
    by_ts = fills.drop(columns=["ts_ns"]).assign(ts=[DAYS[0], DAYS[1], DAYS[2]])
    trades = trades_from_fills(by_ts)
    assert list(trades["symbol"]) == ["AAA", "BBB"]
    assert trades.loc[1, "pnl_usd"] == pytest.approx(5.0)
    assert pd.isna(trades.loc[0, "exit_ts"])
    assert len(trades_from_fills(fills.iloc[:0])) == 0


def test_trades_from_fills_refuses_a_short_sale() -> None:
    fills = _fills([("AAA", "buy", 1.0, 10.0, 0.0, 0), ("AAA", "sell", 3.0, 11.0, 0.0, 1)])
    with pytest.raises(ValueError, match=r"sell of 3\.0 AAA .* exceeds the long position"):
        trades_from_fills(fills)
    with pytest.raises(ValueError, match=r"fills\.side: expected 'buy' or 'sell', got 'hold'"):
        trades_from_fills(_fills([("AAA", "hold", 1.0, 10.0, 0.0, 0)]))


def test_trades_from_fills_round_trip_through_same_trades() -> None:
    rng = np.random.default_rng(7)
    rows: list[tuple[str, object, float, float, float, int]] = []
    for i in range(0, 4, 2):
        qty = float(rng.uniform(1, 5))
        rows.append(("AAA", "buy", qty, float(rng.uniform(90, 110)), 0.0, i))
        rows.append(("AAA", "sell", qty, float(rng.uniform(90, 110)), 0.0, i + 1))
    trades = trades_from_fills(_fills(rows), index=DAYS)
    assert len(trades) == 2
    assert same_trades(trades, trades.copy()) == []
    shifted = trades.assign(exit_price=trades["exit_price"] + 0.01)
    assert len(same_trades(trades, shifted)) == 2
