"""First-call cost of each greekfire kernel, measured in fresh interpreter processes.

The kernels compile lazily on first call and cache machine code on disk. For each kernel the
parent starts two child processes sharing a new, empty ``NUMBA_CACHE_DIR``:

- cold: nothing cached, the first call compiles (and writes the cache);
- warm: the same directory, the first call only loads the cached machine code.

Each child (``python -m greekfire.bench.firstcall MODULE FUNCTION KIND ROWS``) times the
import of the kernel module, the first call and a second call on 64 options, and prints one
JSON line.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ALL_KERNELS", "KernelSpec", "main", "measure_first_calls", "run_child"]

_N = 64
_TIMEOUT_S = 300.0


@dataclass(frozen=True, slots=True)
class KernelSpec:
    """A kernel and the shape of its arguments.

    Attributes
    ----------
    module, function : str
        Where the kernel lives, e.g. ``"greekfire.kernels.bsm"``, ``"price_greeks_into"``.
    kind : str
        Argument layout: ``"bsm"``, ``"black76"``, ``"iv"`` or ``"crr"``.
    out_rows : int
        Rows of the output array; 0 for a 1-D output.
    """

    module: str
    function: str
    kind: str
    out_rows: int = 0

    @property
    def name(self) -> str:
        """Short name, e.g. ``"bsm.price_greeks_into"``."""
        return f"{self.module.rsplit('.', 1)[-1]}.{self.function}"


ALL_KERNELS = (
    KernelSpec("greekfire.kernels.bsm", "price_greeks_into", "bsm", 6),
    KernelSpec("greekfire.kernels.bsm", "all_greeks_into", "bsm", 9),
    KernelSpec("greekfire.kernels.bsm", "price_into", "bsm"),
    KernelSpec("greekfire.kernels.bsm", "black76_all_greeks_into", "black76", 9),
    KernelSpec("greekfire.kernels.iv", "implied_vol_into", "iv"),
    KernelSpec("greekfire.kernels.american", "baw_price_into", "bsm"),
    KernelSpec("greekfire.kernels.american", "crr_price_into", "crr"),
    KernelSpec("greekfire.kernels.american", "american_iv_into", "iv"),
)
"""Every kernel of the API contract (docs/api-contract.md); Black-76 lives in ``bsm``."""


def _kernel_args(spec: KernelSpec) -> tuple[Any, ...]:
    from greekfire.bench.workloads import make_european_workload

    w = make_european_workload(_N, seed=7)
    out = np.empty((spec.out_rows, _N) if spec.out_rows else _N, dtype=np.float64)
    status = np.empty(_N, dtype=np.int8)
    # A price safely inside (intrinsic, max price) so solvers take their normal path.
    price = np.maximum(w.right * (w.spot - w.strike), 0.0) + 2.0
    layouts: dict[str, tuple[Any, ...]] = {
        "bsm": (*w.arrays(), out, status),
        "black76": (w.spot, w.strike, w.t_years, w.rate, w.vol, w.right, out, status),
        "iv": (price, *w.arrays()[:5], w.right, out, status),
        "crr": (*w.arrays(), 200, out, status),
    }
    return layouts[spec.kind]


def _elapsed_ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - start) / 1e6


def _child(spec: KernelSpec) -> dict[str, Any]:
    try:
        import_ms = _elapsed_ms(lambda: importlib.import_module(spec.module))
    except ImportError as exc:
        return {"status": "unavailable", "note": f"{spec.module} not available ({exc})"}
    fn = getattr(sys.modules[spec.module], spec.function, None)
    if not callable(fn):
        return {"status": "unavailable", "note": f"{spec.name} not available"}
    args = _kernel_args(spec)
    first_ms = _elapsed_ms(lambda: fn(*args))
    second_ms = _elapsed_ms(lambda: fn(*args))
    return {
        "status": "ok",
        "import_ms": import_ms,
        "first_call_ms": first_ms,
        "second_call_ms": second_ms,
    }


_KINDS = ("bsm", "black76", "iv", "crr")


def main(argv: Sequence[str] | None = None) -> int:
    """Child entry point: ``python -m greekfire.bench.firstcall MODULE FUNCTION KIND ROWS``.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; defaults to ``sys.argv[1:]``. ``KIND`` is one of
        ``bsm``, ``black76``, ``iv``, ``crr``; ``ROWS`` the output rows (0 for 1-D).

    Returns
    -------
    int
        Exit code: 0 (one JSON line printed), or 2 on bad arguments.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 4 or args[2] not in _KINDS or not args[3].isdigit():
        print(f"usage: firstcall MODULE FUNCTION {{{','.join(_KINDS)}}} ROWS", file=sys.stderr)
        return 2
    print(json.dumps(_child(KernelSpec(args[0], args[1], args[2], int(args[3])))))
    return 0


def run_child(
    module: str, args: Sequence[str], env_extra: Mapping[str, str], timeout_s: float = _TIMEOUT_S
) -> dict[str, Any]:
    """Run ``python -m module *args`` in a fresh process (this checkout on ``PYTHONPATH``) and
    return the JSON object on its last stdout line, or ``{"status": "error", "note": ...}``."""
    import greekfire

    src_root = str(Path(greekfire.__file__).resolve().parent.parent)
    env = dict(os.environ, **env_extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src_root, env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", module, *args]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=env, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        return {"status": "error", "note": f"timed out after {timeout_s:g} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"status": "error", "note": f"exit {proc.returncode}: {tail}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _spawn(spec: KernelSpec, cache_dir: Path) -> dict[str, Any]:
    args = [spec.module, spec.function, spec.kind, str(spec.out_rows)]
    return run_child("greekfire.bench.firstcall", args, {"NUMBA_CACHE_DIR": str(cache_dir)})


def _cache_files(cache_dir: Path) -> int:
    return sum(1 for p in cache_dir.rglob("*") if p.is_file())


def _warm_run(spec: KernelSpec, cache_dir: Path) -> dict[str, Any]:
    # A warm run that writes new cache files recompiled something: say so, do not hide it.
    before = _cache_files(cache_dir)
    warm = _spawn(spec, cache_dir)
    added = _cache_files(cache_dir) - before
    note = warm.get("note", "")
    if added:
        note = f"warm run wrote {added} new cache file(s): not a pure cache load. {note}"
    return {
        "warm": warm if warm["status"] == "ok" else None,
        "warm_new_cache_files": added,
        "note": note.strip(),
    }


def measure_first_calls(
    kernels: Sequence[KernelSpec] = ALL_KERNELS,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Measure cold- and warm-cache first-call costs of ``kernels``, one process per run.

    Parameters
    ----------
    kernels : sequence of KernelSpec
        Kernels to measure; defaults to every kernel of the API contract.
    progress : callable, optional
        Called with a short message before each kernel.

    Returns
    -------
    list of dict
        Per kernel: ``kernel``, ``status`` (``"ok"``, ``"unavailable"`` or ``"error"``),
        ``note`` and, when ok, ``cold`` and ``warm`` with ``import_ms``, ``first_call_ms``,
        ``second_call_ms``, and ``warm_new_cache_files`` (0 when the warm run only loaded).
    """
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="greekfire-bench-numba-") as tmp:
        for spec in kernels:
            if progress is not None:
                progress(f"first call: {spec.name}")
            cache_dir = Path(tmp) / spec.name
            cache_dir.mkdir()
            cold = _spawn(spec, cache_dir)
            row: dict[str, Any] = {"kernel": spec.name, "status": cold["status"]}
            row["note"] = cold.get("note", "")
            if cold["status"] == "ok":
                row.update(_warm_run(spec, cache_dir))
                row["cold"] = cold
            rows.append(row)
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
