"""Case (p) of ``greekfire bench``: an SMA(10/50) crossover backtest on 500 symbols x 2,520 bars.

The workload: daily closes of 500 symbols of the synthetic market (the exchange's universe,
seed 42), the last 2,520 bars (10 years), a long-only SMA(10/50) crossover, all cash in on
every entry, fills at the signal bar's close, 0.1 % + $1 per order, $100,000 per symbol.

Rows (each from prices to total return per symbol, warm: compiled, caches loaded):

greekfire
    ``sma_cross_signals`` + ``run_signals`` (the numba kernel, then the full BacktestResult:
    equity, trades, orders, exposure) + ``BacktestResult.total_return``.
vectorbt
    ``vbt.MA.run`` twice, ``ma_crossed_above`` / ``ma_crossed_below``,
    ``Portfolio.from_signals(size=np.inf, fees, fixed_fees)`` and ``total_return``.
backtesting.py
    ``Backtest(...).run()`` per symbol with an SMA-cross ``Strategy`` (whole shares: it has
    no fractional sizing), timed on a few symbols and extrapolated.

The check (untimed) compares every row's total return per symbol with greekfire's and counts
the symbols whose number of trades differs.

Cold timings (:func:`measure_backtest_cold`): each engine in a fresh interpreter (``python -m
greekfire.bench.backtest_cases ENGINE DATA_DIR``), its import and its first and second call
on the same data, after a discarded priming run so that the on-disk caches are as a user's
are after one run. greekfire is also timed with an empty ``NUMBA_CACHE_DIR`` (the one-time
compile after an install or an upgrade).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd

from greekfire.bench.contenders import Contender, Prepared, Results, require
from greekfire.bench.harness import CaseSpec, Target

__all__ = [
    "ENGINES",
    "SmaWorkload",
    "build_backtest_cases",
    "check_backtest",
    "main",
    "make_sma_workload",
    "measure_backtest_cold",
]

_FAST, _SLOW = 10, 50
_FEES_FRAC = 0.001
_FIXED_FEE_USD = 1.0
_INIT_CASH = 100_000.0
_BT_SUBSAMPLE = 5
_TIMEOUT_S = 900.0
_TARGET_WARM_MS = 236.0
ENGINES = ("greekfire", "vectorbt")
"""Engines :func:`measure_backtest_cold` times in fresh processes."""


@dataclass(frozen=True, eq=False)
class SmaWorkload:
    """Prices (bars x symbols, UTC index) and the crossover's parameters."""

    close: pd.DataFrame
    open: pd.DataFrame
    fast: int = _FAST
    slow: int = _SLOW
    fees_frac: float = _FEES_FRAC
    fixed_fee_usd: float = _FIXED_FEE_USD
    init_cash: float = _INIT_CASH

    @property
    def n(self) -> int:
        """Symbols."""
        return int(self.close.shape[1])

    def head(self, m: int) -> SmaWorkload:
        """The first ``m`` symbols."""
        return replace(self, close=self.close.iloc[:, :m], open=self.open.iloc[:, :m])


def make_sma_workload(symbols: int = 500, bars: int = 2_520, seed: int = 42) -> SmaWorkload:
    """Daily bars of the first ``symbols`` of the exchange's universe, the last ``bars`` days.

    Parameters
    ----------
    symbols, bars : int
        Block size (symbols x daily bars ending 2024-12-31).
    seed : int
        Seed of the synthetic market.
    """
    from greekfire.exchange.config import ExchangeConfig
    from greekfire.sim.market import SyntheticMarket

    names = list(ExchangeConfig(universe=symbols).universe_symbols[:symbols])
    market = SyntheticMarket(names, seed=seed)
    end = dt.date(2024, 12, 31)
    start = end - dt.timedelta(days=int(bars * 1.5) + 30)  # ~252 sessions per 365 days
    frames = market.bars(names, start, end, "1d")
    close = pd.DataFrame({s: frames[s]["close"] for s in names}).iloc[-bars:]
    opens = pd.DataFrame({s: frames[s]["open"] for s in names}).iloc[-bars:]
    if len(close) < bars:
        raise ValueError(f"bars: expected at most {len(close)} from the market, got {bars}")
    return SmaWorkload(close.astype(np.float64), opens.astype(np.float64))


# --- contenders ------------------------------------------------------------------------------


def _greekfire_call(w: SmaWorkload) -> Callable[[], dict[str, Any]]:
    from greekfire.backtest.fast import run_signals, sma_cross_signals

    def call() -> dict[str, Any]:
        entries, exits = sma_cross_signals(w.close, w.fast, w.slow)
        result = run_signals(
            w.close,
            entries,
            exits,
            fees_frac=w.fees_frac,
            fixed_fee_usd=w.fixed_fee_usd,
            init_cash=w.init_cash,
            strategy="sma_cross",
        )
        return {"result": result, "total": result.total_return()}

    return call


def prepare_greekfire(w: SmaWorkload) -> Prepared:
    """Signals, the fast-path backtest and the total return per symbol."""
    call = _greekfire_call(w)
    last: dict[str, Any] = {}

    def timed() -> None:
        last.update(call())

    def results() -> Results:
        trades = last["result"].trades
        counts = trades.groupby("symbol").size().reindex(w.close.columns, fill_value=0)
        return {
            "total_return": last["total"].reindex(w.close.columns).to_numpy(dtype=np.float64),
            "trades": counts.to_numpy(dtype=np.float64),
        }

    return Prepared(call=timed, results=results)


def _vectorbt_call(w: SmaWorkload) -> Callable[[], Any]:
    vbt: Any = require("vectorbt")

    def call() -> Any:
        fast = vbt.MA.run(w.close, w.fast, short_name="fast")
        slow = vbt.MA.run(w.close, w.slow, short_name="slow")
        entries = fast.ma_crossed_above(slow)
        exits = fast.ma_crossed_below(slow)
        pf = vbt.Portfolio.from_signals(
            w.close,
            entries,
            exits,
            size=np.inf,
            fees=w.fees_frac,
            fixed_fees=w.fixed_fee_usd,
            init_cash=w.init_cash,
            freq="1D",
        )
        return pf, pf.total_return()

    return call


def prepare_vectorbt(w: SmaWorkload) -> Prepared:
    """vectorbt's MA crossover, ``Portfolio.from_signals`` and ``total_return``."""
    call = _vectorbt_call(w)
    last: list[Any] = [None, None]

    def timed() -> None:
        last[0], last[1] = call()

    def results() -> Results:
        pf, total = last
        trades = pf.trades.values
        counts = np.bincount(trades["col"], minlength=w.n).astype(np.float64)
        return {"total_return": np.asarray(total, dtype=np.float64), "trades": counts}

    return Prepared(call=timed, results=results)


def _sma_cross_strategy(fast_n: int, slow_n: int) -> Any:
    bt: Any = require("backtesting", "backtesting.py")
    lib: Any = require("backtesting.lib", "backtesting.py")

    def sma(values: Any, n: int) -> Any:
        return pd.Series(values).rolling(n).mean().to_numpy()

    class SmaCross(bt.Strategy):  # type: ignore[misc]
        def init(self) -> None:
            self.fast_ma = self.I(sma, self.data.Close, fast_n)
            self.slow_ma = self.I(sma, self.data.Close, slow_n)

        def next(self) -> None:
            if lib.crossover(self.fast_ma, self.slow_ma):
                if not self.position:
                    self.buy()
            elif lib.crossover(self.slow_ma, self.fast_ma):
                self.position.close()

    return bt.Backtest, SmaCross


def _no_progress(seq: Any, **_: Any) -> Any:
    return seq


def prepare_backtesting(w: SmaWorkload) -> Prepared:
    """backtesting.py, one ``Backtest`` per symbol (whole shares), fills at the close."""
    backtest, strategy = _sma_cross_strategy(w.fast, w.slow)
    frames = []
    naive = pd.DatetimeIndex(w.close.index).tz_localize(None)
    for name in w.close.columns:
        close = w.close[name].to_numpy()
        opens = w.open[name].to_numpy()
        high, low = np.maximum(opens, close), np.minimum(opens, close)
        frame = pd.DataFrame({"Open": opens, "High": high, "Low": low, "Close": close}, naive)
        frames.append(frame)
    last: list[Any] = []

    engine: Any = require("backtesting.backtesting", "backtesting.py")

    def call() -> None:
        last.clear()
        # No progress bar per run (its tqdm); whole-share warnings are expected here.
        with mock.patch.object(engine, "_tqdm", _no_progress), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for frame in frames:
                run = backtest(
                    frame,
                    strategy,
                    cash=w.init_cash,
                    commission=(w.fixed_fee_usd, w.fees_frac),
                    trade_on_close=True,
                ).run()
                last.append(run)

    def results() -> Results:
        return {
            "total_return": np.array([r["Return [%]"] / 100.0 for r in last]),
            "trades": np.array([float(r["# Trades"]) for r in last]),
        }

    return Prepared(call=call, results=results)


def check_backtest(w: SmaWorkload, results: Mapping[str, Results]) -> dict[str, dict[str, Any]]:
    """Each row's total return per symbol against greekfire's, and trade-count mismatches."""
    ref = results.get("greekfire")
    out: dict[str, dict[str, Any]] = {}
    if ref is None:
        return out
    for key, res in results.items():
        m = min(len(res["total_return"]), len(ref["total_return"]))
        diff = np.abs(res["total_return"][:m] - ref["total_return"][:m])
        out[key] = {
            "symbols_checked": m,
            "trades": int(res["trades"][:m].sum()),
            "max_abs_total_return_diff_vs_greekfire": float(np.nanmax(diff)) if m else None,
            "symbols_with_other_trade_count": int(
                np.count_nonzero(res["trades"][:m] != ref["trades"][:m])
            ),
        }
    return out


def build_backtest_cases(symbols: int = 500, bars: int = 2_520) -> list[CaseSpec[Any]]:
    """Case (p): the SMA crossover backtest; target: greekfire warm <= 236 ms (vectorbt here)."""
    holder: dict[str, SmaWorkload] = {}

    def workload() -> SmaWorkload:
        if "w" not in holder:
            holder["w"] = make_sma_workload(symbols, bars)
        return holder["w"]

    return [
        CaseSpec(
            key="p_backtest_sma",
            short=f"(p) backtest {symbols}x{bars}",
            title=(
                f"(p) SMA({_FAST}/{_SLOW}) crossover backtest, {symbols:,} symbols x "
                f"{bars:,} daily bars"
            ),
            description=(
                "Prices to total return per symbol: signals, a long-only all-in backtest per "
                "symbol (fills at the close, 0.1 % + $1 per order, $100,000 each), total "
                "return. Cold (fresh process) timings are in the first-call section."
            ),
            make_workload=workload,
            contenders=(
                Contender("greekfire", "sma_cross_signals + run_signals", prepare_greekfire),
                Contender("vectorbt", "MA.run + from_signals + total_return", prepare_vectorbt),
                Contender(
                    "backtesting_py",
                    "backtesting.py, Backtest.run per symbol",
                    prepare_backtesting,
                    subsample=_BT_SUBSAMPLE if symbols > _BT_SUBSAMPLE else None,
                    slow=True,
                ),
            ),
            check=check_backtest,
            target=Target("median_ms", _TARGET_WARM_MS),
            unit="symbol",
        )
    ]


# --- cold: fresh processes -------------------------------------------------------------------


def _elapsed_ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - start) / 1e6


def _load(data_dir: Path) -> SmaWorkload:
    index = pd.DatetimeIndex(np.load(data_dir / "index_ns.npy").view("M8[ns]")).tz_localize("UTC")
    names = json.loads((data_dir / "symbols.json").read_text())
    close = pd.DataFrame(np.load(data_dir / "close.npy"), index=index, columns=names)
    opens = pd.DataFrame(np.load(data_dir / "open.npy"), index=index, columns=names)
    return SmaWorkload(close, opens)


def _child(engine: str, data_dir: Path) -> dict[str, Any]:
    w = _load(data_dir)
    if engine == "greekfire":
        import_ms = _elapsed_ms(lambda: __import__("greekfire.backtest.fast"))
        call: Callable[[], object] = _greekfire_call(w)
    else:
        try:
            import_ms = _elapsed_ms(lambda: __import__("vectorbt"))
        except ImportError as exc:
            return {"status": "unavailable", "note": f"vectorbt not installed ({exc})"}
        call = _vectorbt_call(w)
    first_ms = _elapsed_ms(call)
    second_ms = _elapsed_ms(call)
    return {
        "status": "ok",
        "import_ms": import_ms,
        "first_call_ms": first_ms,
        "second_call_ms": second_ms,
        "cold_ms": import_ms + first_ms,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Child entry point: ``python -m greekfire.bench.backtest_cases ENGINE DATA_DIR``.

    Prints one JSON line (import, first and second call in ms); exit code 2 on bad arguments.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] not in ENGINES:
        print(f"usage: backtest_cases {{{','.join(ENGINES)}}} DATA_DIR", file=sys.stderr)
        return 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        print(json.dumps(_child(args[0], Path(args[1]))))
    return 0


def _spawn(engine: str, data_dir: Path, env_extra: Mapping[str, str]) -> dict[str, Any]:
    from greekfire.bench.firstcall import run_child

    start = time.perf_counter_ns()
    row = run_child(
        "greekfire.bench.backtest_cases", [engine, str(data_dir)], env_extra, _TIMEOUT_S
    )
    if row.get("status") != "error":
        row["process_ms"] = (time.perf_counter_ns() - start) / 1e6
    return row


def _save(w: SmaWorkload, data_dir: Path) -> None:
    index = pd.DatetimeIndex(w.close.index).tz_convert("UTC").tz_localize(None)
    np.save(data_dir / "index_ns.npy", index.as_unit("ns").asi8)
    np.save(data_dir / "close.npy", w.close.to_numpy(dtype=np.float64))
    np.save(data_dir / "open.npy", w.open.to_numpy(dtype=np.float64))
    (data_dir / "symbols.json").write_text(json.dumps([str(c) for c in w.close.columns]))


def measure_backtest_cold(
    workload: SmaWorkload | None = None,
    engines: Sequence[str] = ENGINES,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Fresh-process timings of case (p) for each engine.

    Parameters
    ----------
    workload : SmaWorkload, optional
        Default: :func:`make_sma_workload` (500 x 2,520).
    engines : sequence of str
        Among :data:`ENGINES`.
    progress : callable, optional
        Called with a short message before each run.

    Returns
    -------
    list of dict
        One row per run: ``engine``, ``cache`` (``"as after one run"`` or ``"empty"``, the
        latter for greekfire only), ``status`` and, when ok, ``import_ms``,
        ``first_call_ms``, ``second_call_ms``, ``cold_ms`` (import + first call) and
        ``process_ms`` (the whole child process: interpreter start, pandas, loading the data
        from .npy files, import, two calls).
    """
    w = workload if workload is not None else make_sma_workload()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="greekfire-bench-backtest-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        _save(w, data_dir)
        runs: list[tuple[str, str, dict[str, str]]] = [(e, "as after one run", {}) for e in engines]
        if "greekfire" in engines:
            empty = Path(tmp) / "numba-cache"
            empty.mkdir()
            runs.append(("greekfire", "empty", {"NUMBA_CACHE_DIR": str(empty)}))
        for engine, cache, env in runs:
            if progress is not None:
                progress(f"cold backtest: {engine} ({cache} cache)")
            if not env:
                _spawn(engine, data_dir, env)  # priming: fills the on-disk caches
            rows.append({"engine": engine, "cache": cache, **_spawn(engine, data_dir, env)})
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
