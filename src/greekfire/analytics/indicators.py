"""Technical indicators for users: by name, on pandas or numpy, batch or streaming.

``technical_indicators(prices, ["sma_20", "ema_12", "rsi_14", "macd", "bollinger_bands",
"atr_14"])`` returns a DataFrame with one column per output and the input's index.
``IndicatorStream`` advances the same indicators for many symbols one bar at a time, with
outputs equal bit for bit to the batch ones (both run the same kernels in
:mod:`greekfire.kernels.ta`, whose docstring lists the TA-Lib conventions).

Names: ``<indicator>`` or ``<indicator>_<period>`` (``sma_20``), ``macd[_fast_slow_signal]``,
``bollinger_bands[_period[_k]]`` (or ``bbands``). Outputs: one column named as asked, except
MACD (``macd``, ``macd_signal``, ``macd_histogram``) and Bollinger Bands (``bb_upper``,
``bb_middle``, ``bb_lower``, ``bb_percent_b``, ``bb_width``); with non-default parameters
those names get the parameters as a suffix (``macd_5_35_5``, ``bb_upper_10_1.5``).
"""

from __future__ import annotations

import difflib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from greekfire.kernels import ta, ta_more, threads_for

__all__ = [
    "COMPAT_MODES",
    "INDICATOR_NAMES",
    "PERIODS_PER_YEAR",
    "IndicatorSpec",
    "IndicatorStream",
    "parse_indicator",
    "session_keys",
    "technical_indicators",
]

F64Array = npt.NDArray[np.float64]

COMPAT_MODES = {
    "talib": ta.COMPAT_TALIB,
    "metastock": ta.COMPAT_METASTOCK,
    "tradingview": ta.COMPAT_TRADINGVIEW,
}
"""Seeding conventions for ``compat=``. ``"talib"`` (the default) is TA-Lib's default
compatibility. ``"metastock"`` is TA-Lib's Metastock compatibility: EMA, DEMA, TEMA and
MACD's EMAs seeded with their first input instead of a simple mean (same lookback), RSI and
STOCHRSI one value earlier. ``"tradingview"`` is Pine Script's ``ta.*``: ATR and NATR count the
first bar's high - low (first value a bar earlier); MACD's EMAs both start on the first bar
and the MACD line is output from the slow EMA's first value. Every other indicator is the same
under all three."""


def _compat_code(compat: str) -> int:
    if compat not in COMPAT_MODES:
        valid = ", ".join(repr(k) for k in COMPAT_MODES)
        raise ValueError(f"compat: expected one of {valid}, got {compat!r}")
    return COMPAT_MODES[compat]


@dataclass(frozen=True, slots=True)
class _Kind:
    default: tuple[float, ...]  # default parameters, in order
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]  # column stems; () means "the name as asked"
    state: str  # ta.state_size kind ("more": kernels.ta_more)


_KINDS: dict[str, _Kind] = {
    "sma": _Kind((20,), ("close",), (), "sma"),
    "ema": _Kind((20,), ("close",), (), "ema"),
    "wma": _Kind((20,), ("close",), (), "wma"),
    "dema": _Kind((20,), ("close",), (), "dema"),
    "tema": _Kind((20,), ("close",), (), "tema"),
    "rsi": _Kind((14,), ("close",), (), "rsi"),
    "macd": _Kind((12, 26, 9), ("close",), ("macd", "macd_signal", "macd_histogram"), "macd"),
    "bollinger_bands": _Kind(
        (20, 2.0),
        ("close",),
        ("bb_upper", "bb_middle", "bb_lower", "bb_percent_b", "bb_width"),
        "var",
    ),
    "stddev": _Kind((20,), ("close",), (), "var"),
    "var": _Kind((20,), ("close",), (), "var"),
    "atr": _Kind((14,), ("high", "low", "close"), (), "atr"),
    "natr": _Kind((14,), ("high", "low", "close"), (), "atr"),
    "roc": _Kind((10,), ("close",), (), "change"),
    "mom": _Kind((10,), ("close",), (), "change"),
    "rv_cc": _Kind((20,), ("close",), (), "realized_vol"),
    "rv_parkinson": _Kind((20,), ("high", "low", "close"), (), "realized_vol"),
    "rv_gk": _Kind(
        (20,),
        ("open", "high", "low", "close"),
        (),
        "realized_vol",
    ),
    "vwap": _Kind((), ("high", "low", "close", "volume"), ("vwap",), "vwap"),
    "stoch": _Kind((5, 3, 3), ("high", "low", "close"), ("stoch_k", "stoch_d"), "more"),
    "stochf": _Kind((5, 3), ("high", "low", "close"), ("stochf_k", "stochf_d"), "more"),
    "stochrsi": _Kind((14, 5, 3), ("close",), ("stochrsi_k", "stochrsi_d"), "more"),
    "adx": _Kind((14,), ("high", "low", "close"), ("plus_di", "minus_di", "adx"), "more"),
    "cci": _Kind((14,), ("high", "low", "close"), (), "more"),
    "willr": _Kind((14,), ("high", "low", "close"), (), "more"),
    "obv": _Kind((), ("close", "volume"), ("obv",), "more"),
    "mfi": _Kind((14,), ("high", "low", "close", "volume"), (), "more"),
    "min": _Kind((20,), ("close",), (), "more"),
    "max": _Kind((20,), ("close",), (), "more"),
    "zscore": _Kind((20,), ("close",), (), "more"),
}
_ALIASES = {
    "bbands": "bollinger_bands",
    "bb": "bollinger_bands",
    "parkinson": "rv_parkinson",
    "garman_klass": "rv_gk",
}
PERIODS_PER_YEAR = 252.0  # realized vol annualisation (daily bars); see technical_indicators

INDICATOR_NAMES: tuple[str, ...] = tuple(sorted(_KINDS))
"""The indicator names ``parse_indicator`` knows (periods are appended: ``sma_20``)."""


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    """A parsed indicator request: kind, parameters, the inputs it needs, its column names."""

    name: str
    kind: str
    params: tuple[float, ...]
    inputs: tuple[str, ...]
    columns: tuple[str, ...]

    @property
    def period(self) -> int:
        """The (first) period (0 for VWAP, which has none)."""
        return int(self.params[0]) if self.params else 0

    def state_size(self) -> int:
        """Length of one symbol's state row."""
        if _KINDS[self.kind].state == "more":
            return _state_size_more(self.kind, self.params)
        windowed = ("sma", "wma", "var", "change", "realized_vol")
        window = self.period if _KINDS[self.kind].state in windowed else 0
        return ta.state_size(_KINDS[self.kind].state, window)


def _bad_name(spec: str, why: str) -> ValueError:
    base = spec.split("_")[0] if spec else spec
    candidates = [*INDICATOR_NAMES, *_ALIASES]
    close = difflib.get_close_matches(base, candidates, n=1) or difflib.get_close_matches(
        spec, candidates, n=1
    )
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ValueError(
        f"indicators: {why} {spec!r}{hint} Valid names: {', '.join(INDICATOR_NAMES)} "
        "(with a period: 'sma_20', 'macd_12_26_9', 'bollinger_bands_20_2')"
    )


def parse_indicator(spec: str) -> IndicatorSpec:
    """Parse ``"rsi_14"``, ``"macd"``, ``"bollinger_bands_20_2"`` ... into an IndicatorSpec.

    Raises
    ------
    ValueError
        Unknown name (the message lists the valid ones and the closest match), or bad
        parameters (non-integer or < 1 periods, a fast MACD period not below the slow one).
    """
    if not isinstance(spec, str):
        raise TypeError(f"indicators: expected names as strings, got {spec!r}")
    text = spec.strip().lower()
    kind = None
    rest = ""
    for candidate in sorted([*_KINDS, *_ALIASES], key=len, reverse=True):
        if text == candidate or text.startswith(candidate + "_"):
            kind = _ALIASES.get(candidate, candidate)
            rest = text[len(candidate) + 1 :]
            break
    if kind is None:
        raise _bad_name(spec, "unknown indicator")
    info = _KINDS[kind]
    parts = rest.split("_") if rest else []
    if len(parts) > len(info.default):
        raise _bad_name(spec, f"too many parameters ({len(info.default)} at most) in")
    try:
        given = [float(p) for p in parts]
    except ValueError:
        raise _bad_name(spec, "parameters must be numbers in") from None
    params = (*given, *info.default[len(given) :])
    _validate(kind, params, spec)
    if info.outputs:
        suffix = "" if params == info.default else "_" + "_".join(_fmt(p) for p in params)
        columns = tuple(stem + suffix for stem in info.outputs)
    else:
        columns = (f"{kind}_{_fmt(params[0])}",)
    return IndicatorSpec(text, kind, params, info.inputs, columns)


def _validate(kind: str, params: tuple[float, ...], spec: str) -> None:
    n_periods = len(params) if kind != "bollinger_bands" else 1
    for p in params[:n_periods]:
        if p != int(p) or p < 1:
            raise ValueError(f"indicators: periods must be whole numbers >= 1, got {p} in {spec!r}")
    if not params:
        return
    two = ("rsi", "sma", "wma", "stddev", "var", "bollinger_bands", "rv_cc", "adx", "cci", "mfi")
    minimum = 2 if kind in two else 1
    if params[0] < minimum:
        raise ValueError(f"indicators: {kind} needs a period >= {minimum}, got {spec!r}")
    if kind == "macd" and not params[0] < params[1]:
        raise ValueError(f"indicators: MACD's fast period must be below the slow one in {spec!r}")
    if kind == "bollinger_bands" and not params[1] > 0:
        raise ValueError(f"indicators: the band width k must be > 0, got {spec!r}")


def _state_size_more(kind: str, params: tuple[float, ...]) -> int:
    ints = [int(p) for p in params]
    if kind == "stoch":
        return ta_more.state_size_more("stoch", *ints)
    if kind == "stochf":
        return ta_more.state_size_more("stoch", ints[0], 1, ints[1])
    if kind == "stochrsi":
        return ta_more.state_size_more("stochrsi", *ints)
    if kind in ("adx", "obv"):
        return ta_more.state_size_more(kind)
    return ta_more.state_size_more("minmax" if kind in ("min", "max") else kind, ints[0])


def _run_more(
    spec: IndicatorSpec, data: Mapping[str, F64Array], state: F64Array, compat: int
) -> list[F64Array]:
    close = data["close"]
    rows, t_len = close.shape
    kind = spec.kind
    ints = [int(p) for p in spec.params]
    if kind in ("stoch", "stochf", "stochrsi", "adx"):
        out = np.empty((3 if kind == "adx" else 2, rows, t_len))
        if kind == "stoch":
            ta_more.stoch_run(
                data["high"], data["low"], close, state, ints[0], ints[1], ints[2], out
            )
        elif kind == "stochf":
            ta_more.stoch_run(data["high"], data["low"], close, state, ints[0], 1, ints[1], out)
        elif kind == "stochrsi":
            ta_more.stochrsi_run(close, state, ints[0], ints[1], ints[2], out, compat)
        else:
            ta_more.adx_run(data["high"], data["low"], close, state, ints[0], out)
        return list(out)
    one = np.empty((rows, t_len))
    if kind == "cci":
        ta_more.cci_run(data["high"], data["low"], close, state, ints[0], one)
    elif kind == "willr":
        ta_more.willr_run(data["high"], data["low"], close, state, ints[0], one)
    elif kind == "obv":
        ta_more.obv_run(close, data["volume"], state, one)
    elif kind == "mfi":
        ta_more.mfi_run(data["high"], data["low"], close, data["volume"], state, ints[0], one)
    elif kind in ("min", "max"):
        ta_more.minmax_run(close, state, ints[0], kind == "max", one)
    else:
        ta_more.zscore_run(close, state, ints[0], one)
    return [one]


def _fmt(p: float) -> str:
    return str(int(p)) if p == int(p) else repr(p)


def _run(
    spec: IndicatorSpec,
    data: Mapping[str, F64Array],
    state: F64Array,
    periods_per_year: float = PERIODS_PER_YEAR,
    compat: int = ta.COMPAT_TALIB,
) -> list[F64Array]:
    """Advance ``state`` over the bars in ``data`` ((rows, T) arrays); returns the outputs."""
    close = data["close"]
    rows, t_len = close.shape
    kind = spec.kind
    p = spec.period
    with threads_for(rows * t_len):
        if _KINDS[kind].state == "more":
            return _run_more(spec, data, state, compat)
        if kind in ("sma", "wma", "ema", "dema", "tema", "rsi", "roc", "mom"):
            out = np.empty((rows, t_len))
            if kind == "sma":
                ta.sma_run(close, state, p, out)
            elif kind == "wma":
                ta.wma_run(close, state, p, out)
            elif kind == "rsi":
                ta.rsi_run(close, state, p, out, compat)
            elif kind in ("roc", "mom"):
                ta.change_run(close, state, p, kind == "roc", out)
            else:
                depth = ("ema", "dema", "tema").index(kind) + 1
                ta.ema_run(close, state, p, depth, out, compat)
            return [out]
        if kind in ("atr", "natr"):
            out = np.empty((rows, t_len))
            ta.atr_run(data["high"], data["low"], close, state, p, kind == "natr", out, compat)
            return [out]
        if kind.startswith("rv_"):
            out = np.empty((rows, t_len))
            method = {"rv_cc": 0, "rv_parkinson": 1, "rv_gk": 2}[kind]
            blank = np.full_like(close, np.nan)
            ta.realized_vol_run(
                data.get("open", blank),
                data.get("high", blank),
                data.get("low", blank),
                close,
                state,
                p,
                method,
                periods_per_year,
                out,
            )
            return [out]
        if kind == "vwap":
            out = np.empty((rows, t_len))
            session = data.get("session", np.zeros_like(close))
            ta.vwap_run(data["high"], data["low"], close, data["volume"], session, state, out)
            return [out]
        if kind == "macd":
            out3 = np.empty((3, rows, t_len))
            ta.macd_run(close, state, p, int(spec.params[1]), int(spec.params[2]), out3, compat)
            return list(out3)
        mode = {"var": 0, "stddev": 1, "bollinger_bands": 2}[kind]
        outk = np.empty((5 if mode == 2 else 1, rows, t_len))
        nbdev = spec.params[1] if mode == 2 else 1.0
        ta.var_run(close, state, p, mode, nbdev, outk)
        return list(outk)


# --- inputs -------------------------------------------------------------------------------

_COLUMN_NAMES = {
    "close": ("close", "adj close", "adj_close", "c", "price", "last"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "volume": ("volume", "vol", "v"),
}


def _find_column(frame: pd.DataFrame, what: str) -> Any:
    lowered = {str(c).strip().lower(): c for c in frame.columns}
    for name in _COLUMN_NAMES[what]:
        if name in lowered:
            return lowered[name]
    return None


def _as_block(values: Any, name: str) -> F64Array:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"prices: {name} must be numbers, got {values!r:.80}") from exc
    return np.ascontiguousarray(arr)


@dataclass(frozen=True, slots=True)
class _Block:
    symbols: list[Any] | None  # None: one unnamed series/frame
    index: Any
    data: dict[str, F64Array]  # "close"/"high"/"low" -> (rows, T)


def _frame_ohlc(frame: pd.DataFrame) -> dict[str, F64Array] | None:
    close_col = _find_column(frame, "close")
    if close_col is None:
        return None
    data = {"close": _as_block(frame[close_col].to_numpy(), "close")[None, :]}
    for what in ("open", "high", "low", "volume"):
        col = _find_column(frame, what)
        if col is not None:
            data[what] = _as_block(frame[col].to_numpy(), what)[None, :]
    return data


def _block(prices: Any) -> _Block:
    if isinstance(prices, pd.Series):
        return _Block(None, prices.index, {"close": _as_block(prices.to_numpy(), "close")[None, :]})
    if isinstance(prices, pd.DataFrame):
        ohlc = _frame_ohlc(prices)
        if ohlc is not None:
            return _Block(None, prices.index, ohlc)
        # A wide frame: one column of closes per symbol.
        closes = _as_block(prices.to_numpy().T, "close")
        return _Block(list(prices.columns), prices.index, {"close": closes})
    if isinstance(prices, Mapping):
        if not prices:
            raise ValueError("prices: got an empty mapping of symbols")
        parts = {sym: _block(v) for sym, v in prices.items()}
        first = next(iter(parts.values()))
        lengths = {p.data["close"].shape[1] for p in parts.values()}
        if len(lengths) != 1:
            raise ValueError(
                f"prices: every symbol needs the same number of bars, got lengths {sorted(lengths)}"
            )
        keys = set.intersection(*(set(p.data) for p in parts.values()))
        data = {
            k: np.ascontiguousarray(np.vstack([p.data[k] for p in parts.values()])) for k in keys
        }
        return _Block(list(parts), first.index, data)
    arr = _as_block(prices, "close")
    if arr.ndim not in (1, 2):
        raise ValueError(
            f"prices: expected a 1-D series or a 2-D (symbols, bars) array, got shape {arr.shape}"
        )
    return _Block(
        None if arr.ndim == 1 else list(range(arr.shape[0])), None, {"close": np.atleast_2d(arr)}
    )


def _check_inputs(spec: IndicatorSpec, data: Mapping[str, F64Array]) -> None:
    missing = [k for k in spec.inputs if k not in data]
    if missing:
        raise ValueError(
            f"indicators: {spec.name!r} needs {', '.join(spec.inputs)}; the input has no "
            f"{', '.join(missing)} column (pass an OHLC(V) DataFrame)"
        )


def session_keys(index: Any) -> F64Array | None:
    """VWAP session keys from a DatetimeIndex: the calendar date (in the index's own time
    zone) as days since 1970-01-01; None for any other index."""
    if not isinstance(index, pd.DatetimeIndex):
        return None
    local = index.tz_localize(None) if index.tz is not None else index
    days = local.to_numpy().astype("datetime64[D]").astype(np.int64)  # any time resolution
    return np.ascontiguousarray(days, dtype=np.float64)


def technical_indicators(
    prices: Any,
    indicators: Sequence[str],
    *,
    periods_per_year: float = PERIODS_PER_YEAR,
    sessions: Any = None,
    compat: str = "talib",
) -> pd.DataFrame:
    """Compute indicators by name, with TA-Lib's conventions (or another platform's seeding).

    Parameters
    ----------
    prices : Series, DataFrame, mapping or array
        A Series of closes; an OHLC(V) DataFrame (columns ``close`` or ``adj close``, ``high``,
        ``low``, any case); a wide DataFrame of closes, one column per symbol; a mapping
        ``symbol -> Series or OHLC DataFrame`` (same length); or a numpy array, 1-D (one
        series) or 2-D (symbols, bars).
    indicators : sequence of str
        Names such as ``"sma_20"``, ``"rsi_14"``, ``"macd"``, ``"bollinger_bands"``,
        ``"atr_14"`` (see the module docstring and ``INDICATOR_NAMES``).
    periods_per_year : float
        Annualisation of the realized volatilities (``rv_cc``, ``rv_parkinson``, ``rv_gk``):
        252 for daily bars, 252 * 390 for 1-minute bars of the regular US session.
    sessions : array-like, optional
        One key per bar; VWAP restarts where the key changes. Default: the calendar date of a
        DatetimeIndex, else one session for the whole series.
    compat : {"talib", "metastock", "tradingview"}
        Seeding convention (``COMPAT_MODES`` lists what changes): TA-Lib's default, TA-Lib's
        Metastock compatibility, or TradingView's Pine built-ins.

    Returns
    -------
    DataFrame
        The input's index; one column per output for one series, or columns
        ``(symbol, output)`` for many symbols. Leading bars without enough history are NaN.

    Raises
    ------
    ValueError
        An unknown indicator (the message lists the valid ones and the closest match), bad
        parameters, an indicator that needs high/low on close-only input, ragged symbols, an
        unknown ``compat``.
    TypeError
        Non-numeric prices or a non-string indicator name.
    """
    if isinstance(indicators, str):
        indicators = [indicators]
    if not periods_per_year > 0:
        raise ValueError(f"periods_per_year: expected a positive number, got {periods_per_year!r}")
    code = _compat_code(compat)
    specs = [parse_indicator(s) for s in indicators]
    block = _block(prices)
    data = dict(block.data)
    rows, t_len = data["close"].shape
    keys = session_keys(block.index) if sessions is None else _as_block(sessions, "sessions")
    if keys is not None:
        if keys.shape != (t_len,):
            raise ValueError(f"sessions: expected one key per bar ({t_len},), got {keys.shape}")
        data["session"] = np.ascontiguousarray(np.broadcast_to(keys, (rows, t_len)))
    columns: dict[Any, F64Array] = {}
    for spec in specs:
        _check_inputs(spec, data)
        state = np.zeros((rows, spec.state_size()))
        outs = _run(spec, data, state, periods_per_year, code)
        for col, values in zip(spec.columns, outs, strict=True):
            if block.symbols is None:
                columns[col] = values[0]
            else:
                for j, sym in enumerate(block.symbols):
                    columns[(sym, col)] = values[j]
    frame = pd.DataFrame(columns, index=block.index)
    if block.symbols is not None and columns:
        frame.columns = pd.MultiIndex.from_tuples(list(columns), names=["symbol", "indicator"])
        frame = frame.sort_index(axis=1, level=0, sort_remaining=False)
    return frame


class IndicatorStream:
    """Indicators for ``n_symbols`` symbols advanced one bar at a time.

    ``update`` takes one bar per symbol (arrays of length ``n_symbols``) and returns each
    output column for every symbol; the values equal :func:`technical_indicators` on the whole
    history bit for bit. Realized volatilities use ``PERIODS_PER_YEAR`` (daily bars).
    ``from_history`` replays past bars in one call per indicator; ``save``/``load`` (or
    ``to_bytes``/``from_bytes``) keep the state across restarts (an ``.npz`` file: no pickle).
    ``compat`` is the seeding convention, as in :func:`technical_indicators`; it is saved with
    the state.
    """

    def __init__(self, indicators: Sequence[str], n_symbols: int, *, compat: str = "talib") -> None:
        if isinstance(indicators, str):
            indicators = [indicators]
        if not isinstance(n_symbols, int | np.integer) or n_symbols < 1:
            raise ValueError(f"n_symbols: expected a positive integer, got {n_symbols!r}")
        self._compat = _compat_code(compat)
        self.compat = compat
        self.specs = [parse_indicator(s) for s in indicators]
        self.n_symbols = int(n_symbols)
        self.states = [np.zeros((self.n_symbols, s.state_size())) for s in self.specs]
        self.bars = 0

    @property
    def columns(self) -> list[str]:
        """Output names, in order."""
        return [c for s in self.specs for c in s.columns]

    def _data(self, inputs: Mapping[str, Any], one_bar: bool) -> dict[str, F64Array]:
        n = self.n_symbols
        data: dict[str, F64Array] = {}
        for name in ("close", "open", "high", "low", "volume", "session"):
            value = inputs.get(name)
            if value is None:
                continue
            arr = _as_block(value.to_numpy() if hasattr(value, "to_numpy") else value, name)
            if one_bar:
                if arr.shape not in ((n,), (n, 1)):
                    raise ValueError(f"{name}: expected shape ({n},), got {arr.shape}")
                arr = arr.reshape(n, 1)
            else:
                arr = arr.reshape(1, -1) if arr.ndim == 1 else arr
                if arr.ndim != 2 or arr.shape[0] != n:
                    raise ValueError(f"{name}: expected shape ({n}, bars), got {arr.shape}")
            if data and arr.shape != data["close"].shape:
                raise ValueError(
                    f"{name}: expected the shape of close {data['close'].shape}, got {arr.shape}"
                )
            data[name] = np.ascontiguousarray(arr)
        if "close" not in data:
            raise ValueError("close: required")
        for spec in self.specs:
            _check_inputs(spec, data)
        return data

    def _advance(self, data: Mapping[str, F64Array]) -> dict[str, F64Array]:
        result: dict[str, F64Array] = {}
        for spec, state in zip(self.specs, self.states, strict=True):
            outs = _run(spec, data, state, PERIODS_PER_YEAR, self._compat)
            for col, values in zip(spec.columns, outs, strict=True):
                result[col] = values
        self.bars += data["close"].shape[1]
        return result

    def update(self, close: Any, **bar: Any) -> dict[str, F64Array]:
        """Advance every symbol by one bar; returns ``column -> array (n_symbols,)``.

        ``bar`` takes ``high``, ``low``, ``open``, ``volume`` and ``session`` (VWAP's session
        key) as the indicators need them, each of length ``n_symbols``.
        """
        data = self._data({"close": close, **bar}, one_bar=True)
        return {k: v[:, 0] for k, v in self._advance(data).items()}

    def advance_rows(self, rows: Any, close: Any, **bars: Any) -> dict[str, F64Array]:
        """Advance only the symbols at ``rows`` (indexes into ``0..n_symbols-1``) by ``k`` bars.

        ``close`` (and ``high``, ``low``, ``open``, ``volume``, ``session`` as needed) have shape
        ``(len(rows), k)``; returns ``column -> array (len(rows), k)``. The other symbols' states
        are untouched, so symbols whose bars arrive at different times share one stream. ``bars``
        (the count) is not advanced: it counts whole-stream updates only.

        Raises
        ------
        ValueError
            Rows out of range or repeated, or arrays of the wrong shape.
        """
        idx = np.asarray(rows, dtype=np.intp).ravel()
        if idx.size == 0 or idx.min() < 0 or idx.max() >= self.n_symbols:
            raise ValueError(
                f"rows: expected indexes in [0, {self.n_symbols}), got {idx.tolist()[:10]!r}"
            )
        if np.unique(idx).size != idx.size:
            raise ValueError(f"rows: each symbol may appear once, got {idx.tolist()[:10]!r}")
        sub = IndicatorStream([s.name for s in self.specs], int(idx.size), compat=self.compat)
        sub.states = [np.ascontiguousarray(state[idx]) for state in self.states]
        out = sub._advance(sub._data({"close": close, **bars}, one_bar=False))
        for state, updated in zip(self.states, sub.states, strict=True):
            state[idx] = updated
        return out

    @classmethod
    def from_history(
        cls, indicators: Sequence[str], close: Any, *, compat: str = "talib", **bars: Any
    ) -> IndicatorStream:
        """A stream that has already seen ``close`` (and ``high``, ``low``, ``open``,
        ``volume``, ``session`` as needed): arrays of shape (n_symbols, bars)."""
        n = np.atleast_2d(np.asarray(close, dtype=np.float64)).shape[0]
        stream = cls(indicators, n, compat=compat)
        stream._advance(stream._data({"close": close, **bars}, one_bar=False))
        return stream

    def to_bytes(self) -> bytes:
        """The whole state as ``.npz`` bytes (indicator names, compat, bar count, states)."""
        buf = io.BytesIO()
        arrays: dict[str, Any] = {f"state_{i}": s for i, s in enumerate(self.states)}
        arrays["names"] = np.array([s.name for s in self.specs])
        arrays["bars"] = np.array(self.bars)
        arrays["compat"] = np.array(self.compat)
        np.savez(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> IndicatorStream:
        """Rebuild a stream from :meth:`to_bytes` output; checks every state's shape."""
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            names = [str(n) for n in npz["names"]]
            states = [npz[f"state_{i}"] for i in range(len(names))]
            bars = int(npz["bars"])
            compat = str(npz["compat"]) if "compat" in npz.files else "talib"
        if not states:
            raise ValueError("state: no indicators in the saved stream")
        stream = cls(names, states[0].shape[0], compat=compat)
        for i, (spec, state) in enumerate(zip(stream.specs, states, strict=True)):
            want = (stream.n_symbols, spec.state_size())
            if state.shape != want or state.dtype != np.float64:
                raise ValueError(
                    f"state_{i} ({spec.name}): expected float64 {want}, "
                    f"got {state.dtype} {state.shape}"
                )
            stream.states[i] = np.ascontiguousarray(state)
        stream.bars = bars
        return stream

    def save(self, path: str | Path) -> None:
        """Write :meth:`to_bytes` to ``path``."""
        Path(path).write_bytes(self.to_bytes())

    @classmethod
    def load(cls, path: str | Path) -> IndicatorStream:
        """Read a stream written by :meth:`save`."""
        return cls.from_bytes(Path(path).read_bytes())
