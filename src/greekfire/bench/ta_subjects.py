"""greekfire's side of the indicator and statistics cases (e)-(h).

- ``prepare_ta_kernels``: the ``*_run`` kernels of :mod:`greekfire.kernels.ta`, one call per
  indicator over every row, outputs and states allocated once outside the timing (the states
  are zeroed inside the timed call, since every call starts a new batch).
- ``prepare_ta_api``: the public ``technical_indicators`` on an OHLC DataFrame.
- ``prepare_stream_update``: ``IndicatorStream.update`` after ``from_history``.
- ``prepare_stream_kernels``: the same kernels fed one bar (T = 1) with the states carried.
- ``prepare_ta_recompute``: the kernels over the whole history each time a bar arrives.
- ``prepare_stats_kernels``: ``sharpe_2d``, ``sortino_2d`` and ``max_drawdown_2d`` of
  :mod:`greekfire.kernels.stats`.

Everything greekfire is looked up at prepare time (``subjects.lookup``), so a missing kernel
or API makes its row say so instead of breaking the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from greekfire.bench.contenders import Prepared, Results, Unavailable, allocating
from greekfire.bench.series import (
    INDICATOR_OUTPUTS,
    INDICATORS,
    OHLCWorkload,
    ReturnsWorkload,
    StreamWorkload,
)
from greekfire.bench.subjects import lookup

__all__ = [
    "PERIODS_PER_YEAR",
    "STAT_NAMES",
    "TAKernels",
    "prepare_stats_kernels",
    "prepare_stream_kernels",
    "prepare_stream_update",
    "prepare_ta_api",
    "prepare_ta_kernels",
    "prepare_ta_recompute",
    "ta_batch",
]

F64 = NDArray[np.float64]
PERIODS_PER_YEAR = 252.0
STAT_NAMES = ("sharpe", "sortino", "max_drawdown")

_TA = "greekfire.kernels.ta"
# (state kind, window for the state size) of the six indicators, in INDICATORS order.
_STATES = (("sma", 20), ("ema", 0), ("rsi", 0), ("macd", 0), ("var", 20), ("atr", 0))


@dataclass(frozen=True, slots=True)
class TAKernels:
    """The six indicators through ``greekfire.kernels.ta``, on preallocated arrays.

    ``run`` advances ``states`` over the bars of ``w`` and writes ``outputs``; a state of zeros
    starts a new series (batch), a carried one continues it (stream): the same kernels either
    way, which is why a stream equals the batch bit for bit.
    """

    sma: Callable[..., Any]
    ema: Callable[..., Any]
    rsi: Callable[..., Any]
    macd: Callable[..., Any]
    var: Callable[..., Any]
    atr: Callable[..., Any]
    state_size: Callable[[str, int], int]

    @classmethod
    def load(cls) -> TAKernels:
        """Look the kernels up (``Unavailable`` names a missing one)."""
        return cls(
            sma=lookup(_TA, "sma_run"),
            ema=lookup(_TA, "ema_run"),
            rsi=lookup(_TA, "rsi_run"),
            macd=lookup(_TA, "macd_run"),
            var=lookup(_TA, "var_run"),
            atr=lookup(_TA, "atr_run"),
            state_size=lookup(_TA, "state_size"),
        )

    def zero_states(self, rows: int) -> list[F64]:
        """One zeroed state block (rows, state size) per indicator."""
        return [np.zeros((rows, self.state_size(kind, window))) for kind, window in _STATES]

    @staticmethod
    def empty_outputs(rows: int, bars: int) -> tuple[list[F64], dict[str, F64]]:
        """Output blocks in kernel layout and the ten named (rows, bars) views of them.

        The Bollinger kernel also writes %b and the band width (its rows 3 and 4).
        """
        one = [np.empty((rows, bars)) for _ in range(3)]
        macd = np.empty((3, rows, bars))
        bands = np.empty((5, rows, bars))
        atr = np.empty((rows, bars))
        views = [*one, macd[0], macd[1], macd[2], bands[0], bands[1], bands[2], atr]
        return [*one, macd, bands, atr], dict(zip(INDICATOR_OUTPUTS, views, strict=True))

    def run(self, w: OHLCWorkload, states: list[F64], outputs: list[F64]) -> None:
        """Advance the six indicators over ``w`` (one kernel call each)."""
        c = w.close
        self.sma(c, states[0], 20, outputs[0])
        self.ema(c, states[1], 12, 1, outputs[1])
        self.rsi(c, states[2], 14, outputs[2])
        self.macd(c, states[3], 12, 26, 9, outputs[3])
        self.var(c, states[4], 20, 2, 2.0, outputs[4])
        self.atr(w.high, w.low, c, states[5], 14, False, outputs[5])


def ta_batch(w: OHLCWorkload) -> dict[str, F64]:
    """The six indicators of ``w`` from zero states (untimed reference for the checks).

    Parameters
    ----------
    w : OHLCWorkload

    Returns
    -------
    dict of str to ndarray (rows, bars)
        Keys ``INDICATOR_OUTPUTS``.
    """
    k = TAKernels.load()
    outputs, views = k.empty_outputs(w.rows, w.bars)
    k.run(w, k.zero_states(w.rows), outputs)
    return views


def prepare_ta_kernels(w: OHLCWorkload) -> Prepared:
    """Prepare the six ``*_run`` kernel calls with preallocated outputs and states.

    Parameters
    ----------
    w : OHLCWorkload
    """
    k = TAKernels.load()
    states = k.zero_states(w.rows)
    outputs, views = k.empty_outputs(w.rows, w.bars)

    def call() -> None:
        for s in states:
            s.fill(0.0)
        k.run(w, states, outputs)

    return Prepared(call=call, results=lambda: views)


def prepare_ta_api(w: OHLCWorkload) -> Prepared:
    """Prepare ``greekfire.technical_indicators`` on an OHLC DataFrame of one symbol.

    The call returns a fresh DataFrame (12 columns: the ten outputs plus Bollinger %b and
    width); its columns are named as ``INDICATOR_OUTPUTS``.

    Parameters
    ----------
    w : OHLCWorkload
    """
    technical_indicators = lookup("greekfire.analytics.indicators", "technical_indicators")
    import pandas as pd

    if w.rows != 1:
        raise Unavailable("greekfire API row: one OHLC series per call (case (e))")
    frame = pd.DataFrame({"high": w.high[0], "low": w.low[0], "close": w.close[0]})
    names = list(INDICATORS)
    last: list[Any] = [None]

    def call() -> None:
        last[0] = technical_indicators(frame, names)

    def results() -> Results:
        out = last[0]
        return {name: out[name].to_numpy(dtype=np.float64)[None, :] for name in INDICATOR_OUTPUTS}

    return Prepared(call=call, results=results)


def _stream_results(out: dict[str, F64], fed: list[int]) -> Results:
    res: dict[str, NDArray[Any]] = {name: out[name] for name in INDICATOR_OUTPUTS}
    res["fed"] = np.asarray(fed, dtype=np.int64)
    return res


def prepare_stream_update(w: StreamWorkload) -> Prepared:
    """Prepare ``IndicatorStream.update``: states from ``from_history``, one bar per call.

    Each timed call feeds the next upcoming bar of every symbol (cycling through them); the
    results keep the positions fed (``"fed"``) so the check can rebuild the series.

    Parameters
    ----------
    w : StreamWorkload
    """
    stream_cls: Any = lookup("greekfire.analytics.indicators", "IndicatorStream")
    h = w.history
    stream = stream_cls.from_history(list(INDICATORS), h.close, high=h.high, low=h.low)
    up = w.upcoming
    bars = [
        (
            np.ascontiguousarray(up.close[:, j]),
            np.ascontiguousarray(up.high[:, j]),
            np.ascontiguousarray(up.low[:, j]),
        )
        for j in range(up.bars)
    ]
    fed: list[int] = []
    last: list[dict[str, F64]] = [{}]

    def call() -> None:
        j = len(fed) % len(bars)
        close, high, low = bars[j]
        last[0] = stream.update(close, high=high, low=low)
        fed.append(j)

    return Prepared(call=call, results=lambda: _stream_results(last[0], fed))


def prepare_stream_kernels(w: StreamWorkload) -> Prepared:
    """Prepare the ``*_run`` kernels on one bar (T = 1) with states carried from the history.

    Parameters
    ----------
    w : StreamWorkload
    """
    k = TAKernels.load()
    h = w.history
    states = k.zero_states(h.rows)
    warm, _ = k.empty_outputs(h.rows, h.bars)
    k.run(h, states, warm)  # untimed: the states after the history
    bars = [w.upcoming.bar(j) for j in range(w.upcoming.bars)]
    outputs, views = k.empty_outputs(h.rows, 1)
    fed: list[int] = []

    def call() -> None:
        j = len(fed) % len(bars)
        k.run(bars[j], states, outputs)
        fed.append(j)

    def results() -> Results:
        return _stream_results({name: v[:, 0] for name, v in views.items()}, fed)

    return Prepared(call=call, results=results)


def prepare_ta_recompute(w: StreamWorkload) -> Prepared:
    """Prepare the recompute-per-bar alternative: the batch kernels over the history plus the
    new bar, from zero states, outputs preallocated.

    Parameters
    ----------
    w : StreamWorkload
    """
    return prepare_ta_kernels(w.recompute_input())


def prepare_stats_kernels(w: ReturnsWorkload) -> Prepared:
    """Prepare ``sharpe_2d``, ``sortino_2d`` (target 0) and ``max_drawdown_2d`` of
    :mod:`greekfire.kernels.stats` on the (symbols, days) returns, 252 periods a year.

    The kernels allocate their (symbols,) outputs; the drawdown is that of the wealth
    1, 1 + r0, (1 + r0)(1 + r1), ... (``from_returns=True``).

    Parameters
    ----------
    w : ReturnsWorkload
    """
    module = "greekfire.kernels.stats"
    sharpe = lookup(module, "sharpe_2d")
    sortino = lookup(module, "sortino_2d")
    drawdown = lookup(module, "max_drawdown_2d")
    r = w.returns

    def run() -> Results:
        depth = drawdown(r, True)[0]
        return {
            "sharpe": sharpe(r, 0.0, PERIODS_PER_YEAR),
            "sortino": sortino(r, 0.0, PERIODS_PER_YEAR),
            "max_drawdown": depth,
        }

    return allocating(run)
