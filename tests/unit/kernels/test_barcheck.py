"""bars_all_clean agrees with the full validation on every input: clean batches pass, a batch
with any bad row (or a duplicate, or a row out of order) does not."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from greekfire.data.validate import validate_bars
from greekfire.kernels.barcheck import NAT, bars_all_clean

_CORRUPTIONS = [
    "none",
    "nan_price",
    "inf_price",
    "negative",
    "zero",
    "low_above_high",
    "high_below_body",
    "low_above_body",
    "neg_volume",
    "inf_volume",
    "nan_volume",
    "bad_vwap",
    "nan_vwap",
    "neg_count",
    "duplicate",
    "identical_duplicate",
    "out_of_order",
    "nat",
]


def _clean_bars(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.01, n))), 2)
    open_ = np.round(close * np.exp(rng.normal(0, 0.005, n)), 2)
    high = np.maximum(open_, close) + np.round(rng.uniform(0, 1, n), 2)
    low = np.minimum(open_, close) - np.round(rng.uniform(0, 1, n), 2)
    ts = np.datetime64("2024-01-02T14:30", "ns").astype(np.int64) + np.arange(n) * 60 * 10**9
    return {
        "ts": ts,
        "open": open_,
        "high": high,
        "low": np.maximum(low, 0.01),
        "close": close,
        "volume": rng.integers(0, 10**6, n).astype(np.float64),
        "vwap": (high + low) / 2,
        "trade_count": rng.integers(0, 1000, n).astype(np.float64),
    }


def _set(column: str, value: float) -> Callable[[dict[str, np.ndarray], int], None]:
    def apply(bars: dict[str, np.ndarray], i: int) -> None:
        bars[column][i] = value

    return apply


def _high_below_body(bars: dict[str, np.ndarray], i: int) -> None:
    bars["high"][i] = max(bars["open"][i], bars["close"][i]) - 0.005
    bars["low"][i] = min(bars["low"][i], bars["high"][i])


def _low_above_body(bars: dict[str, np.ndarray], i: int) -> None:
    bars["low"][i] = min(bars["open"][i], bars["close"][i]) + 0.005


def _low_above_high(bars: dict[str, np.ndarray], i: int) -> None:
    bars["low"][i] = bars["high"][i] + 1


def _duplicate(identical: bool) -> Callable[[dict[str, np.ndarray], int], None]:
    def apply(bars: dict[str, np.ndarray], i: int) -> None:
        if i == 0:
            return
        bars["ts"][i] = bars["ts"][i - 1]
        if identical:
            for c in ("open", "high", "low", "close", "volume", "vwap", "trade_count"):
                bars[c][i] = bars[c][i - 1]

    return apply


def _out_of_order(bars: dict[str, np.ndarray], i: int) -> None:
    if i > 0:
        bars["ts"][i] = bars["ts"][i - 1] - 30 * 10**9


_APPLY: dict[str, Callable[[dict[str, np.ndarray], int], None]] = {
    "none": lambda bars, i: None,
    "nan_price": _set("close", np.nan),
    "inf_price": _set("high", np.inf),
    "negative": _set("low", -1.0),
    "zero": _set("open", 0.0),
    "low_above_high": _low_above_high,
    "high_below_body": _high_below_body,
    "low_above_body": _low_above_body,
    "neg_volume": _set("volume", -5.0),
    "inf_volume": _set("volume", np.inf),
    "nan_volume": _set("volume", np.nan),  # unknown volume is allowed
    "bad_vwap": _set("vwap", -1.0),
    "nan_vwap": _set("vwap", np.nan),  # allowed
    "neg_count": _set("trade_count", -1.0),
    "duplicate": _duplicate(identical=False),
    "identical_duplicate": _duplicate(identical=True),
    "out_of_order": _out_of_order,
    "nat": lambda bars, i: bars["ts"].__setitem__(i, NAT),
}


def _corrupt(bars: dict[str, np.ndarray], kind: str, i: int) -> None:
    _APPLY[kind](bars, i)


def _full_validation_keeps_everything(bars: dict[str, np.ndarray]) -> bool:
    # A naive index with tz= skips the fast path: this is the reporting path's verdict.
    index = pd.DatetimeIndex(bars["ts"].view("datetime64[ns]"))
    frame = pd.DataFrame({k: v for k, v in bars.items() if k != "ts"}, index=index)
    clean, report = validate_bars(frame, source="t", symbol="X", tz="UTC")
    return report.ok and len(clean) == len(frame)


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
    kinds=st.lists(st.sampled_from(_CORRUPTIONS), max_size=3),
    where=st.lists(st.integers(0, 10**6), min_size=3, max_size=3),
    with_optional=st.booleans(),
)
def test_agrees_with_the_full_validation(
    n: int, seed: int, kinds: list[str], where: list[int], with_optional: bool
) -> None:
    bars = _clean_bars(n, seed)
    for kind, w in zip(kinds, where, strict=False):
        _corrupt(bars, kind, w % n)
    if not with_optional:
        bars.pop("vwap")
        bars.pop("trade_count")
    empty = np.empty(0)
    verdict = bars_all_clean(
        bars["ts"],
        bars["open"],
        bars["high"],
        bars["low"],
        bars["close"],
        bars["volume"],
        bars.get("vwap", empty),
        bars.get("trade_count", empty),
    )
    assert verdict == _full_validation_keeps_everything(bars)


def test_clean_bars_pass_and_each_corruption_fails() -> None:
    base = _clean_bars(10, 7)
    empty = np.empty(0)

    def verdict(bars: dict[str, np.ndarray]) -> bool:
        return bool(
            bars_all_clean(
                bars["ts"], bars["open"], bars["high"], bars["low"], bars["close"],
                bars["volume"], bars["vwap"], bars["trade_count"],
            )
        )  # fmt: skip

    assert verdict(base)
    allowed = {"none", "nan_volume", "nan_vwap"}
    for kind in _CORRUPTIONS:
        bars = {k: v.copy() for k, v in base.items()}
        _corrupt(bars, kind, 4)
        assert verdict(bars) == (kind in allowed), kind
    assert bars_all_clean(base["ts"][:0], empty, empty, empty, empty, empty, empty, empty)
