"""The benchmark cases of ``greekfire bench`` and the accuracy checks of the option cases.

(a) 50,000 European options, price + 5 Greeks: greekfire vs numpy, py_vollib_vectorized, a
    scipy per-option loop and a QuantLib per-option loop (both loops subsampled).
(b) 10,000,000 options, price + 5 Greeks: greekfire alone, ns per option.
(c) 1,000,000 implied vols, 25 % within 14 days of expiry, 40 % deep ITM/OTM: greekfire vs
    py_vollib_vectorized, with errors against the true vols.
(d) 50,000 American prices (Barone-Adesi-Whaley): greekfire vs a QuantLib loop (subsampled).
(e)-(h) technical indicators (one series, a 500-symbol block, streaming) and performance
    statistics: see :mod:`greekfire.bench.ta_cases`.

``select_cases`` picks cases by letter (``"e"``) or key for ``greekfire bench --cases``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from greekfire.bench import peers, subjects
from greekfire.bench.backtest_cases import build_backtest_cases
from greekfire.bench.contenders import Contender, Prepared, Results
from greekfire.bench.data_cases import build_data_cases
from greekfire.bench.engine_cases import build_engine_cases
from greekfire.bench.harness import Batch, CaseSpec, Target
from greekfire.bench.perf_cases import build_perf_cases
from greekfire.bench.ta_cases import build_series_cases
from greekfire.bench.workloads import (
    IVWorkload,
    OptionWorkload,
    make_american_workload,
    make_european_workload,
    make_iv_workload,
)

__all__ = [
    "FULL",
    "QUICK_SIZES",
    "Sizes",
    "build_cases",
    "case_letter",
    "check_american",
    "check_iv",
    "check_prices",
    "select_cases",
    "well_conditioned",
]

B = TypeVar("B", bound=Batch)

CHECK_MAX = 200_000
"""Accuracy checks look at no more than this many leading options (keeps case (b) quick)."""
VEGA_FLOOR = 1e-6
"""An IV input is well conditioned when vega (per 1.00 vol) >= VEGA_FLOOR * spot."""
VOL_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class Sizes:
    """Batch sizes of the cases and of the subsampled loops.

    ``ta_bars`` is case (e)'s series length; ``ta_symbols`` x ``ta_history`` the block of
    cases (f) and (g) (g's states are built on the history); ``stats_symbols`` x
    ``stats_days`` case (h)'s returns; ``ta_loop_subsample`` the symbols pandas-ta-classic's
    loop is timed on in case (f); ``cache_calls`` the hits per sample of case (i),
    ``frame_rows`` case (j)'s frame, ``parallel_tasks`` case (k)'s items, ``fetch_symbols``
    case (m)'s symbols, ``cycle_symbols`` the universes of case (o), ``backtest_symbols`` x
    ``backtest_bars`` case (p)'s block.
    """

    bsm: int
    big: int
    iv: int
    american: int
    loop_subsample: int
    quantlib_subsample: int
    ta_bars: int = 10_000
    ta_symbols: int = 500
    ta_history: int = 2_520
    stats_symbols: int = 500
    stats_days: int = 2_520
    ta_loop_subsample: int = 25
    cache_calls: int = 20_000
    frame_rows: int = 100_000
    parallel_tasks: int = 16
    fetch_symbols: int = 500
    cycle_symbols: tuple[int, ...] = (5, 50, 500)
    backtest_symbols: int = 500
    backtest_bars: int = 2_520


FULL = Sizes(
    bsm=50_000,
    big=10_000_000,
    iv=1_000_000,
    american=50_000,
    loop_subsample=2_000,
    quantlib_subsample=5_000,
    ta_bars=10_000,
    ta_symbols=500,
    ta_history=2_520,
    stats_symbols=500,
    stats_days=2_520,
    ta_loop_subsample=25,
)
QUICK_SIZES = Sizes(
    bsm=2_000,
    big=100_000,
    iv=20_000,
    american=2_000,
    loop_subsample=200,
    quantlib_subsample=200,
    ta_bars=1_000,
    ta_symbols=20,
    ta_history=252,
    stats_symbols=20,
    stats_days=252,
    ta_loop_subsample=3,
    cache_calls=2_000,
    frame_rows=5_000,
    parallel_tasks=4,
    fetch_symbols=50,
    cycle_symbols=(5,),
    backtest_symbols=20,
    backtest_bars=252,
)


def _price_metrics(ref: NDArray[np.float64], res: Results) -> dict[str, Any]:
    m = min(len(ref), len(res["price"]))
    metrics: dict[str, Any] = {
        "max_abs_price_diff_vs_numpy": float(np.max(np.abs(res["price"][:m] - ref[:m]))),
        "checked": m,
    }
    if "status" in res:
        metrics["status_counts"] = _status_counts(res["status"])
    return metrics


def check_prices(w: OptionWorkload, results: Mapping[str, Results]) -> dict[str, dict[str, Any]]:
    """Compare every contender's prices with the numpy closed form on the options it priced.

    Parameters
    ----------
    w : OptionWorkload
        The case workload.
    results : mapping of key to outputs
        Outputs of each contender that ran (``"price"`` required, ``"status"`` counted).

    Returns
    -------
    dict
        ``{key: {"max_abs_price_diff_vs_numpy": float, "checked": int}}`` over the first
        ``min(CHECK_MAX, options priced)`` options, plus ``status_counts`` with a status array.
    """
    ref = peers.numpy_price_greeks(w.head(CHECK_MAX))["price"]
    return {key: _price_metrics(ref, res) for key, res in results.items()}


def well_conditioned(w: IVWorkload) -> NDArray[np.bool_]:
    """Mask of the IV inputs whose true vol is recoverable from a float64 price.

    An error of one unit in the last place of the price moves the implied vol by about
    ``ulp(price) / vega``; with ``vega >= 1e-6 * spot`` that is below 1e-8.

    Parameters
    ----------
    w : IVWorkload
    """
    vega = peers.numpy_price_greeks(w.options)["vega"]
    return np.asarray(vega >= VEGA_FLOOR * w.options.spot)


def _status_counts(status: NDArray[Any]) -> dict[str, int]:
    from greekfire.domain.enums import IVStatus

    counts = np.bincount(status.astype(np.int64) - status.min(), minlength=1)
    offset = int(status.min())
    names = {int(s): s.name for s in IVStatus}
    return {names.get(i + offset, str(i + offset)): int(c) for i, c in enumerate(counts) if c}


def _iv_metrics(w: IVWorkload, res: Results, cond: NDArray[np.bool_]) -> dict[str, Any]:
    vol = res["vol"]
    finite = np.isfinite(vol)
    err = np.abs(vol - w.options.vol)
    good = finite & cond
    metrics: dict[str, Any] = {
        "nan_count": int(np.count_nonzero(~finite)),
        "max_vol_error_all": float(np.max(err[finite])) if finite.any() else None,
        "max_vol_error_well_conditioned": float(np.max(err[good])) if good.any() else None,
        "well_conditioned": int(np.count_nonzero(cond)),
        "well_conditioned_missing": int(np.count_nonzero(cond & ~finite)),
        f"well_conditioned_error_gt_{VOL_TOLERANCE:g}": int(
            np.count_nonzero(good & (err > VOL_TOLERANCE))
        ),
    }
    if "status" in res:
        metrics["status_counts"] = _status_counts(res["status"])
    return metrics


def check_iv(w: IVWorkload, results: Mapping[str, Results]) -> dict[str, dict[str, Any]]:
    """Implied-vol accuracy against the true vols, overall and on well-conditioned inputs.

    Parameters
    ----------
    w : IVWorkload
    results : mapping of key to outputs
        ``"vol"`` required; ``"status"`` (int8 codes) counted when present.

    Returns
    -------
    dict
        Per key: ``nan_count``, ``max_vol_error_all`` (over returned finite vols),
        ``max_vol_error_well_conditioned``, ``well_conditioned`` (count),
        ``well_conditioned_missing``, the count above ``VOL_TOLERANCE`` and, with a status
        array, ``status_counts`` by ``IVStatus`` name.
    """
    cond = well_conditioned(w)
    return {key: _iv_metrics(w, res, cond) for key, res in results.items()}


def check_american(w: OptionWorkload, results: Mapping[str, Results]) -> dict[str, dict[str, Any]]:
    """Compare greekfire's and QuantLib's BAW prices on the options both priced.

    Parameters
    ----------
    w : OptionWorkload
    results : mapping of key to outputs

    Returns
    -------
    dict
        ``max_abs_price_diff_vs_quantlib`` on both rows when both ran; the greekfire row also
        gets ``status_counts``.
    """
    out: dict[str, dict[str, Any]] = {key: {} for key in results}
    gf, ql = results.get("greekfire"), results.get("quantlib")
    if gf is not None and ql is not None:
        m = len(ql["price"])
        diff = float(np.max(np.abs(gf["price"][:m] - ql["price"])))
        out["greekfire"]["max_abs_price_diff_vs_quantlib"] = diff
        out["quantlib"]["max_abs_price_diff_vs_quantlib"] = 0.0
        out["greekfire"]["checked"] = out["quantlib"]["checked"] = m
    if gf is not None and "status" in gf:
        out["greekfire"]["status_counts"] = _status_counts(gf["status"])
    return out


_PREALLOCATED = "preallocated outputs"


def _greekfire(label: str, prepare: Callable[[B], Prepared]) -> tuple[Contender[B], ...]:
    # The kernel with numba's default threads (the headline), then pinned to one thread:
    # on a shared machine a busy core stalls a parallel loop, a single thread shows the floor.
    return (
        Contender(key="greekfire", label=label, prepare=prepare, note=_PREALLOCATED),
        Contender(
            key="greekfire_1thread",
            label=f"{label}, 1 thread",
            prepare=prepare,
            note=f"{_PREALLOCATED}; numba.set_num_threads(1)",
            threads=1,
        ),
    )


def _greekfire_bsm() -> tuple[Contender[OptionWorkload], ...]:
    # Default exact=False: the kernel's throughput path (price to ~1e-14 relative).
    return _greekfire("greekfire kernels.bsm.price_greeks_into", subjects.prepare_price_greeks_into)


def _bsm_contenders(s: Sizes) -> tuple[Contender[OptionWorkload], ...]:
    return (
        *_greekfire_bsm(),
        Contender(
            key="greekfire_api",
            label="greekfire.greeks() public API",
            prepare=subjects.prepare_greeks_api,
            note="second_order=False; allocates its outputs",
        ),
        Contender(
            key="numpy",
            label="numpy vectorised closed form",
            prepare=peers.prepare_numpy,
            note="normal CDF from scipy.special.ndtr",
        ),
        Contender(
            key="py_vollib_vectorized",
            label="py_vollib_vectorized",
            prepare=peers.prepare_pvv_greeks,
            slow=True,
            note="price + finite-difference Greeks (its units); converts 'c'/'p' flags per call",
        ),
        Contender(
            key="scipy_loop",
            label="per-option loop, scipy.stats.norm",
            prepare=peers.prepare_scipy_loop,
            subsample=s.loop_subsample,
            slow=True,
        ),
        Contender(
            key="quantlib",
            label="QuantLib loop, AnalyticEuropeanEngine",
            prepare=peers.prepare_quantlib_european,
            subsample=s.quantlib_subsample,
            slow=True,
        ),
    )


def _iv_contenders() -> tuple[Contender[IVWorkload], ...]:
    return (
        *_greekfire("greekfire kernels.iv.implied_vol_into", subjects.prepare_implied_vol_into),
        Contender(
            key="py_vollib_vectorized",
            label="py_vollib_vectorized implied vol",
            prepare=peers.prepare_pvv_iv,
            slow=True,
            note="Let's Be Rational; NaN on failure",
        ),
    )


def _american_contenders(s: Sizes) -> tuple[Contender[OptionWorkload], ...]:
    return (
        *_greekfire("greekfire kernels.american.baw_price_into", subjects.prepare_baw_into),
        Contender(
            key="quantlib",
            label="QuantLib loop, BaroneAdesiWhaleyApproximationEngine",
            prepare=peers.prepare_quantlib_baw,
            subsample=s.quantlib_subsample,
            slow=True,
        ),
    )


def _compact(n: int) -> str:
    for suffix, scale in (("M", 1_000_000), ("k", 1_000)):
        if n >= scale and n % scale == 0:
            return f"{n // scale}{suffix}"
    return f"{n:,}"


def build_cases(sizes: Sizes) -> list[CaseSpec[Any]]:
    """Return cases (a) to (n) at the given sizes.

    Parameters
    ----------
    sizes : Sizes
        ``FULL`` for ``greekfire bench``, ``QUICK_SIZES`` for ``--quick``.
    """
    bsm: CaseSpec[OptionWorkload] = CaseSpec(
        key="a_bsm_greeks",
        short=f"(a) {_compact(sizes.bsm)} greeks",
        title=f"(a) {sizes.bsm:,} options, price + 5 Greeks",
        description="European BSM price, delta, gamma, vega, theta, rho for every option.",
        make_workload=lambda: make_european_workload(sizes.bsm),
        contenders=_bsm_contenders(sizes),
        check=check_prices,
        target=Target("median_ms", 0.5),
    )
    big: CaseSpec[OptionWorkload] = CaseSpec(
        key="b_bsm_greeks_big",
        short=f"(b) {_compact(sizes.big)} greeks",
        title=f"(b) {sizes.big:,} options, price + 5 Greeks",
        description="Throughput on a batch far larger than the caches; outputs preallocated.",
        make_workload=lambda: make_european_workload(sizes.big, seed=20240604),
        contenders=_greekfire_bsm(),
        check=check_prices,
        target=Target("ns_per_option", 10.0),
    )
    iv: CaseSpec[IVWorkload] = CaseSpec(
        key="c_implied_vol",
        short=f"(c) {_compact(sizes.iv)} IV",
        title=f"(c) {sizes.iv:,} implied vols (25% <= 14 days, 40% deep ITM/OTM)",
        description=(
            "BSM implied vol from model prices at known true vols. 'Well conditioned' means "
            f"vega >= {VEGA_FLOOR:g} * spot, where a float64 price still determines the vol."
        ),
        make_workload=lambda: make_iv_workload(sizes.iv),
        contenders=_iv_contenders(),
        check=check_iv,
        target=Target("median_ms", 100.0),
    )
    american: CaseSpec[OptionWorkload] = CaseSpec(
        key="d_american_baw",
        short=f"(d) {_compact(sizes.american)} BAW",
        title=f"(d) {sizes.american:,} American prices (Barone-Adesi-Whaley)",
        description="Barone-Adesi-Whaley (1987) quadratic approximation, calls and puts.",
        make_workload=lambda: make_american_workload(sizes.american),
        contenders=_american_contenders(sizes),
        check=check_american,
    )
    return [
        bsm,
        big,
        iv,
        american,
        *build_series_cases(sizes),
        *build_perf_cases(sizes),
        *build_data_cases(sizes),
        *build_engine_cases(sizes.cycle_symbols),
        *build_backtest_cases(sizes.backtest_symbols, sizes.backtest_bars),
    ]


def case_letter(spec: CaseSpec[Any]) -> str:
    """The letter of a case: the part of its key before the first underscore (``"e"``)."""
    return spec.key.split("_", 1)[0]


def select_cases(specs: Iterable[CaseSpec[Any]], wanted: Sequence[str]) -> list[CaseSpec[Any]]:
    """Keep the cases named in ``wanted`` (letters or keys, any case), in suite order.

    Parameters
    ----------
    specs : iterable of CaseSpec
        The suite.
    wanted : sequence of str
        ``["e", "f"]``, ``["a_bsm_greeks"]`` ...; blanks are ignored.

    Raises
    ------
    ValueError
        Nothing selected, or a name that is no case (the message lists the valid ones).
    """
    suite = list(specs)
    names = {n.strip().lower() for n in wanted if n.strip()}
    known = {case_letter(s) for s in suite} | {s.key for s in suite}
    unknown = sorted(names - known)
    if unknown or not names:
        letters = ", ".join(case_letter(s) for s in suite)
        what = f"unknown case(s) {', '.join(unknown)}" if unknown else "no case given"
        raise ValueError(f"cases: {what}; choose among {letters} (comma-separated)")
    return [s for s in suite if case_letter(s) in names or s.key in names]
