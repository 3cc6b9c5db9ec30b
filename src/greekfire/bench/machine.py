"""Describe the machine and software a benchmark ran on.

Versions come from installed distribution metadata, so describing a peer never imports it.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["PACKAGES", "cpu_model", "describe_machine", "total_ram_bytes"]

PACKAGES = (
    "greekfire",
    "numpy",
    "numba",
    "llvmlite",
    "scipy",
    "QuantLib",
    "py_vollib_vectorized",
    "py_vollib",
    "py_lets_be_rational",
    "pandas",
    "TA-Lib",
    "pandas-ta-classic",
)


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """Return the CPU model name (Linux ``/proc/cpuinfo``, else ``platform.processor()``).

    Parameters
    ----------
    cpuinfo : Path
        File to read; injectable for tests.
    """
    try:
        for line in cpuinfo.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def total_ram_bytes() -> int | None:
    """Return physical memory in bytes, or None where ``sysconf`` cannot tell."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _numba_threads() -> int | None:
    try:
        import numba
    except ImportError:
        return None
    config: Any = numba.config
    return int(config.NUMBA_NUM_THREADS)


def describe_machine() -> dict[str, Any]:
    """Return CPU model, core count, RAM, OS, Python and package versions.

    Returns
    -------
    dict
        ``cpu_model``, ``logical_cores``, ``usable_cores`` (affinity), ``ram_gib``,
        ``platform``, ``python``, ``numba_threads`` and ``packages`` (name to version or
        None when not installed).
    """
    ram = total_ram_bytes()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "ram_gib": None if ram is None else round(ram / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "numba_threads": _numba_threads(),
        "packages": {name: _version(name) for name in PACKAGES},
    }
