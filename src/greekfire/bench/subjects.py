"""greekfire's side of each case: the kernel-level ``*_into`` calls and the public wrapper.

The headline figures call the kernels with outputs preallocated once, outside the timing,
exactly as a hot loop in user code would. Kernels are looked up at prepare time so the bench
still runs (and says so) while a kernel is missing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from greekfire.bench.contenders import Prepared, Results, Unavailable, allocating, as_f64
from greekfire.bench.peers import GREEK_NAMES
from greekfire.bench.workloads import IVWorkload, OptionWorkload

__all__ = [
    "lookup",
    "prepare_baw_into",
    "prepare_greeks_api",
    "prepare_implied_vol_into",
    "prepare_price_greeks_into",
]


def lookup(module: str, name: str) -> Callable[..., Any]:
    """Return ``module.name`` from greekfire or raise ``Unavailable`` saying which is missing.

    Parameters
    ----------
    module : str
        Dotted module path, e.g. ``"greekfire.kernels.bsm"``.
    name : str
        Attribute name, e.g. ``"price_greeks_into"``.
    """
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise Unavailable(f"greekfire: {module} not available ({exc})") from exc
    fn = getattr(mod, name, None)
    if not callable(fn):
        raise Unavailable(f"greekfire: {module}.{name} not available")
    return fn  # type: ignore[no-any-return]


def _into(fn: Callable[..., Any], args: tuple[Any, ...], results: Results) -> Prepared:
    # Bind the arguments now so the timed call is a single dispatch.
    return Prepared(call=lambda: fn(*args), results=lambda: results)


def prepare_price_greeks_into(w: OptionWorkload) -> Prepared:
    """Prepare ``kernels.bsm.price_greeks_into`` with a preallocated (6, n) output.

    Parameters
    ----------
    w : OptionWorkload
    """
    fn = lookup("greekfire.kernels.bsm", "price_greeks_into")
    out = np.empty((len(GREEK_NAMES), w.n), dtype=np.float64)
    status = np.empty(w.n, dtype=np.int8)
    results: dict[str, NDArray[Any]] = {name: out[i] for i, name in enumerate(GREEK_NAMES)}
    results["status"] = status
    return _into(fn, (*w.arrays(), out, status), results)


def prepare_greeks_api(w: OptionWorkload) -> Prepared:
    """Prepare the public ``greekfire.greeks`` wrapper (first order only, fresh arrays).

    Parameters
    ----------
    w : OptionWorkload
    """
    greeks = lookup("greekfire.analytics.options", "greeks")

    def run() -> Results:
        res = greeks(
            w.spot, w.strike, w.t_years, w.vol, w.rate, w.div_yield, w.right, second_order=False
        )
        return {name: as_f64(res[name]) for name in GREEK_NAMES}

    return allocating(run)


def prepare_implied_vol_into(w: IVWorkload) -> Prepared:
    """Prepare ``kernels.iv.implied_vol_into`` with preallocated vol and status outputs.

    Parameters
    ----------
    w : IVWorkload
    """
    fn = lookup("greekfire.kernels.iv", "implied_vol_into")
    o = w.options
    vol = np.empty(o.n, dtype=np.float64)
    status = np.empty(o.n, dtype=np.int8)
    args = (w.price, o.spot, o.strike, o.t_years, o.rate, o.div_yield, o.right, vol, status)
    return _into(fn, args, {"vol": vol, "status": status})


def prepare_baw_into(w: OptionWorkload) -> Prepared:
    """Prepare ``kernels.american.baw_price_into`` with preallocated outputs.

    Parameters
    ----------
    w : OptionWorkload
    """
    fn = lookup("greekfire.kernels.american", "baw_price_into")
    price = np.empty(w.n, dtype=np.float64)
    status = np.empty(w.n, dtype=np.int8)
    return _into(fn, (*w.arrays(), price, status), {"price": price, "status": status})
