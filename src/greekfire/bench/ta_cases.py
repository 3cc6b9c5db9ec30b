"""The indicator and statistics cases of ``greekfire bench`` and their checks.

(e) Six indicators (SMA 20, EMA 12, RSI 14, MACD 12/26/9, Bollinger Bands 20/2, ATR 14) on one
    10,000-bar OHLC series: greekfire kernels and ``technical_indicators`` vs TA-Lib, pandas
    and pandas-ta-classic. Target: greekfire's median <= TA-Lib's, same run.
(f) The same six on 500 symbols x 2,520 bars: the kernels in one call per indicator, rows in
    parallel, vs a TA-Lib loop over symbols, pandas on wide frames and pandas-ta-classic
    (a loop, subsampled). Target: <= 10 ms.
(g) Streaming: 500 symbols advanced one bar by ``IndicatorStream.update`` (states from
    ``from_history`` on 2,520 bars), vs recomputing the batch over the whole history each
    bar. Target: <= 0.3 ms.
(h) Sharpe, Sortino and maximum drawdown of 500 x 2,520 daily returns: the
    ``greekfire.kernels.stats`` kernels vs pandas and numpy.

Checks (untimed): indicator outputs against TA-Lib's, within ``TOLERANCE`` (relative above 1)
with identical NaN positions; streaming outputs against the batch's last bar, bit for bit;
statistics against the numpy formulas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from greekfire.bench import ta_peers, ta_subjects
from greekfire.bench.contenders import Contender, Results
from greekfire.bench.harness import CaseSpec, Target
from greekfire.bench.series import (
    INDICATOR_OUTPUTS,
    OHLCWorkload,
    ReturnsWorkload,
    StreamWorkload,
    make_ohlc_workload,
    make_returns_workload,
    make_stream_workload,
)

if TYPE_CHECKING:
    from greekfire.bench.cases import Sizes

__all__ = [
    "TOLERANCE",
    "build_series_cases",
    "check_indicators",
    "check_stats",
    "check_stream",
    "compare_outputs",
]

F64 = NDArray[np.float64]

TOLERANCE = 1e-9
"""greekfire matches TA-Lib when |ours - TA-Lib| <= TOLERANCE * max(1, |TA-Lib|) everywhere."""


def _scaled_diff(a: F64, b: F64) -> tuple[float, int]:
    # (max |a - b| / max(1, |b|) where both are numbers, count of differing NaN positions).
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    both = ~nan_a & ~nan_b
    diff = np.abs(a[both] - b[both]) / np.maximum(1.0, np.abs(b[both]))
    return (float(diff.max()) if diff.size else 0.0), int(np.count_nonzero(nan_a != nan_b))


def compare_outputs(
    ref: Mapping[str, F64], res: Mapping[str, NDArray[Any]], names: Sequence[str], what: str
) -> dict[str, Any]:
    """Compare named (rows, bars) outputs with a reference on the rows both have.

    Parameters
    ----------
    ref, res : mapping of name to ndarray (rows, bars)
        Reference and contender outputs; ``res`` may have fewer rows (a subsample).
    names : sequence of str
        Outputs to compare.
    what : str
        Reference name for the metric keys (``"talib"``).

    Returns
    -------
    dict
        ``max_rel_diff_vs_<what>`` (max |a - b| / max(1, |b|) over bars where both are
        numbers), ``..._last_half`` (the same over the second half of the bars, where seeds
        no longer matter), ``worst_output``, ``nan_positions_differing`` (count),
        ``matches_<what>`` (within ``TOLERANCE``, same NaNs) and ``checked_symbols``.
    """
    rows = min(len(res[names[0]]), len(ref[names[0]]))
    worst, worst_name, tail, nans = -1.0, names[0], 0.0, 0
    for name in names:
        a = np.asarray(res[name], dtype=np.float64)[:rows]
        b = np.asarray(ref[name], dtype=np.float64)[:rows]
        diff, nan_count = _scaled_diff(a, b)
        half = a.shape[-1] // 2
        tail = max(tail, _scaled_diff(a[..., half:], b[..., half:])[0])
        nans += nan_count
        if diff > worst:
            worst, worst_name = diff, name
    return {
        f"max_rel_diff_vs_{what}": worst,
        f"max_rel_diff_vs_{what}_last_half": tail,
        "worst_output": worst_name,
        "nan_positions_differing": nans,
        f"matches_{what}": bool(worst <= TOLERANCE and nans == 0),
        "checked_symbols": rows,
    }


def _vs_talib(results: Mapping[str, Results], ref_key: str) -> dict[str, dict[str, Any]]:
    ref = results.get(ref_key)
    if ref is None:
        return {key: {"vs_talib": "TA-Lib did not run"} for key in results}
    return {
        key: compare_outputs(ref, res, INDICATOR_OUTPUTS, "talib")
        for key, res in results.items()
        if key != ref_key
    }


def check_indicators(w: OHLCWorkload, results: Mapping[str, Results]) -> dict[str, dict[str, Any]]:
    """Compare every contender's ten outputs with TA-Lib's (the ``talib`` row).

    Parameters
    ----------
    w : OHLCWorkload
        The case workload (unused: TA-Lib's row is the reference).
    results : mapping of key to outputs
        ``INDICATOR_OUTPUTS`` as (rows, bars) arrays; subsampled peers have fewer rows.

    Returns
    -------
    dict
        Per contender other than TA-Lib, the metrics of ``compare_outputs``.
    """
    return _vs_talib(results, "talib")


def _bit_diff(a: F64, b: F64) -> int:
    # Elements whose bits differ (any two NaNs count as equal).
    a, b = np.ascontiguousarray(a, np.float64), np.ascontiguousarray(b, np.float64)
    differ = a.view(np.int64) != b.view(np.int64)
    return int(np.count_nonzero(differ & ~(np.isnan(a) & np.isnan(b))))


def _stream_metrics(w: StreamWorkload, res: Results) -> dict[str, Any]:
    fed = np.asarray(res["fed"], dtype=np.int64)
    full = w.history.extended(w.upcoming, fed)
    batch = ta_subjects.ta_batch(full)
    differing = sum(_bit_diff(res[name], batch[name][:, -1]) for name in INDICATOR_OUTPUTS)
    return {
        "bars_fed": len(fed),
        "values_differing_from_batch_last_bar": differing,
        "equals_batch_bit_for_bit": differing == 0,
    }


def check_stream(w: StreamWorkload, results: Mapping[str, Results]) -> dict[str, dict[str, Any]]:
    """Streaming rows against the batch's last bar; recompute rows against TA-Lib's.

    A streaming row (its results carry ``"fed"``, the upcoming bars it was fed in order) is
    compared with the greekfire batch kernels run from zero states over the history plus
    those bars: the outputs of the last update must equal the batch's last column bit for bit.
    Recompute rows are compared with the ``talib_recompute`` row as in ``check_indicators``.

    Parameters
    ----------
    w : StreamWorkload
    results : mapping of key to outputs

    Returns
    -------
    dict
        Streaming rows: ``bars_fed``, ``values_differing_from_batch_last_bar``,
        ``equals_batch_bit_for_bit``. Recompute rows: ``compare_outputs`` metrics.
    """
    streams = {k: r for k, r in results.items() if "fed" in r}
    batches = {k: r for k, r in results.items() if "fed" not in r}
    out = {key: _stream_metrics(w, res) for key, res in streams.items()}
    if "talib_recompute" in batches:
        out.update(_vs_talib(batches, "talib_recompute"))
    return out


def check_stats(w: ReturnsWorkload, results: Mapping[str, Results]) -> dict[str, dict[str, Any]]:
    """Compare Sharpe, Sortino and maximum drawdown with the numpy formulas.

    Parameters
    ----------
    w : ReturnsWorkload
    results : mapping of key to outputs
        ``sharpe``, ``sortino``, ``max_drawdown``, shape (rows,).

    Returns
    -------
    dict
        Per key: ``max_rel_diff_vs_numpy`` (max |a - b| / max(1, |b|)), ``worst_output``,
        ``nan_positions_differing`` and ``matches_numpy`` (within ``TOLERANCE``).
    """
    ref = ta_peers.numpy_stats(w.returns)
    names = ta_subjects.STAT_NAMES
    out = {}
    for key, res in results.items():
        m = compare_outputs(
            {k: v[:, None] for k, v in ref.items()},
            {k: np.asarray(res[k])[:, None] for k in names},
            names,
            "numpy",
        )
        del m["max_rel_diff_vs_numpy_last_half"]
        out[key] = m
    return out


# --- cases ----------------------------------------------------------------------------------

_PREPARED = "preallocated outputs and states"


def _kernels(
    label: str, note: str, *, one_thread_row: bool, headline_threads: int | None = None
) -> tuple[Contender[OHLCWorkload], ...]:
    head = Contender(
        key="greekfire",
        label=label,
        prepare=ta_subjects.prepare_ta_kernels,
        note=note,
        threads=headline_threads,
    )
    if not one_thread_row:
        return (head,)
    return (
        head,
        Contender(
            key="greekfire_1thread",
            label=f"{label}, 1 thread",
            prepare=ta_subjects.prepare_ta_kernels,
            note=f"{note}; numba.set_num_threads(1)",
            threads=1,
        ),
    )


_TALIB = Contender(
    key="talib",
    label="TA-Lib (talib), loop over symbols",
    prepare=ta_peers.prepare_talib,
    note="SMA, EMA, RSI, MACD, BBANDS, ATR per symbol; outputs copied into (symbols, bars)",
)
_PANDAS_NOTE = "rolling / ewm(adjust=False); EMA and Wilder seeds differ from TA-Lib's"


def _one_series_contenders() -> tuple[Contender[OHLCWorkload], ...]:
    return (
        *_kernels(
            "greekfire kernels.ta *_run",
            f"{_PREPARED}; one series: numba pinned to 1 thread (as technical_indicators)",
            one_thread_row=False,
            headline_threads=1,
        ),
        Contender(
            key="greekfire_api",
            label="greekfire.technical_indicators() public API",
            prepare=ta_subjects.prepare_ta_api,
            note="OHLC DataFrame in, DataFrame out (12 columns, with Bollinger %b and width)",
        ),
        _TALIB,
        Contender(
            key="pandas",
            label="pandas Series rolling / ewm",
            prepare=ta_peers.prepare_pandas,
            note=_PANDAS_NOTE,
        ),
        Contender(
            key="pandas_ta_classic",
            label="pandas-ta-classic",
            prepare=ta_peers.prepare_pandas_ta_classic,
            note="talib=False (its pandas code)",
        ),
    )


def _block_contenders(s: Sizes) -> tuple[Contender[OHLCWorkload], ...]:
    return (
        *_kernels(
            "greekfire kernels.ta *_run, all rows per call",
            f"{_PREPARED}; one call per indicator, rows in parallel",
            one_thread_row=True,
        ),
        _TALIB,
        Contender(
            key="pandas",
            label="pandas wide DataFrame rolling / ewm",
            prepare=ta_peers.prepare_pandas,
            slow=True,
            note=f"bars x symbols frames; {_PANDAS_NOTE}",
        ),
        Contender(
            key="pandas_ta_classic",
            label="pandas-ta-classic, loop over symbols",
            prepare=ta_peers.prepare_pandas_ta_classic,
            subsample=s.ta_loop_subsample,
            slow=True,
            note="talib=False (its pandas code)",
        ),
    )


def _stream_contenders() -> tuple[Contender[StreamWorkload], ...]:
    return (
        Contender(
            key="greekfire",
            label="greekfire IndicatorStream.update",
            prepare=ta_subjects.prepare_stream_update,
            note="states from IndicatorStream.from_history; one new bar per call",
        ),
        Contender(
            key="greekfire_kernels",
            label="greekfire kernels.ta *_run on one bar",
            prepare=ta_subjects.prepare_stream_kernels,
            threads=1,
            note="states carried, (symbols, 1) outputs preallocated; 1 thread (as the stream)",
        ),
        Contender(
            key="greekfire_recompute",
            label="greekfire kernels, batch over the whole history",
            prepare=ta_subjects.prepare_ta_recompute,
            note="recompute every bar: case (f)'s greekfire call on history + 1 bar",
        ),
        Contender(
            key="greekfire_recompute_1thread",
            label="greekfire kernels, batch over the whole history, 1 thread",
            prepare=ta_subjects.prepare_ta_recompute,
            note="as above; numba.set_num_threads(1)",
            threads=1,
        ),
        Contender(
            key="talib_recompute",
            label="TA-Lib loop over the whole history",
            prepare=ta_peers.prepare_talib_recompute,
            note="recompute every bar: case (f)'s TA-Lib loop on history + 1 bar",
        ),
    )


def _stats_contenders() -> tuple[Contender[ReturnsWorkload], ...]:
    label = "greekfire kernels.stats sharpe_2d, sortino_2d, max_drawdown_2d"
    note = "rows in parallel; the kernels allocate their (symbols,) outputs"
    return (
        Contender(
            key="greekfire", label=label, prepare=ta_subjects.prepare_stats_kernels, note=note
        ),
        Contender(
            key="greekfire_1thread",
            label=f"{label}, 1 thread",
            prepare=ta_subjects.prepare_stats_kernels,
            note=f"{note}; numba.set_num_threads(1)",
            threads=1,
        ),
        Contender(
            key="numpy",
            label="numpy, reductions along rows",
            prepare=ta_peers.prepare_numpy_stats,
            note="mean, std(ddof=1), cumprod, maximum.accumulate",
        ),
        Contender(
            key="pandas",
            label="pandas wide DataFrame, column-wise",
            prepare=ta_peers.prepare_pandas_stats,
            note="days x symbols; mean, std, clip, cumprod, cummax",
        ),
    )


def build_series_cases(sizes: Sizes) -> list[CaseSpec[Any]]:
    """Return cases (e) to (h) at the given sizes.

    Parameters
    ----------
    sizes : Sizes
        ``cases.FULL`` or ``cases.QUICK_SIZES``.
    """
    bars, symbols, history = sizes.ta_bars, sizes.ta_symbols, sizes.ta_history
    one: CaseSpec[OHLCWorkload] = CaseSpec(
        key="e_indicators",
        short=f"(e) 6 TA x {bars:,} bars",
        title=f"(e) Six indicators on one {bars:,}-bar OHLC series",
        description=(
            "SMA 20, EMA 12, RSI 14, MACD 12/26/9, Bollinger Bands 20/2, ATR 14 (TA-Lib's "
            "conventions) on one synthetic daily OHLC series. Target: greekfire's median at "
            "most TA-Lib's, measured in this run."
        ),
        make_workload=lambda: make_ohlc_workload(1, bars),
        contenders=_one_series_contenders(),
        check=check_indicators,
        target=Target("median_ms", 1.0, relative_to="talib"),
        unit="bar",
    )
    block: CaseSpec[OHLCWorkload] = CaseSpec(
        key="f_indicators_block",
        short=f"(f) 6 TA {symbols}x{history:,}",
        title=f"(f) Six indicators on {symbols:,} symbols x {history:,} bars",
        description=(
            f"The same six indicators on a ({symbols}, {history}) block: greekfire's kernels "
            "take every row in one call per indicator (rows in parallel); TA-Lib loops over "
            "symbols; pandas works on wide frames (bars x symbols). Size and ns/bar count "
            "symbol-bars."
        ),
        make_workload=lambda: make_ohlc_workload(symbols, history, seed=20240608),
        contenders=_block_contenders(sizes),
        check=check_indicators,
        target=Target("median_ms", 10.0),
        unit="bar",
    )
    stream: CaseSpec[StreamWorkload] = CaseSpec(
        key="g_indicators_stream",
        short=f"(g) stream {symbols} x 6 TA",
        title=f"(g) Streaming: {symbols:,} symbols x six indicators, one new bar",
        description=(
            f"Every call advances {symbols:,} symbols by one bar (the next of a pool of "
            f"upcoming bars); the states were built by from_history on {history:,} bars. "
            "The recompute rows redo the batch over the whole history for that one bar."
        ),
        make_workload=lambda: make_stream_workload(symbols, history),
        contenders=_stream_contenders(),
        check=check_stream,
        target=Target("median_ms", 0.3),
        unit="bar",
    )
    stats: CaseSpec[ReturnsWorkload] = CaseSpec(
        key="h_performance_stats",
        short=f"(h) stats {sizes.stats_symbols}x{sizes.stats_days:,}",
        title=(
            f"(h) Sharpe + Sortino + max drawdown of {sizes.stats_symbols:,} x "
            f"{sizes.stats_days:,} daily returns"
        ),
        description=(
            "Annualised (252) Sharpe (sample std) and Sortino (target 0, downside deviation "
            "over all periods) ratios and the maximum drawdown of the compounded returns, per "
            "symbol. Size and ns/return count symbol-days."
        ),
        make_workload=lambda: make_returns_workload(sizes.stats_symbols, sizes.stats_days),
        contenders=_stats_contenders(),
        check=check_stats,
        unit="return",
    )
    return [one, block, stream, stats]
