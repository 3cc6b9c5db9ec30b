"""greekfire.perf: lazy names, the brief's default instances, nothing heavy at import."""

from __future__ import annotations

import subprocess
import sys

import greekfire.perf as perf


def test_import_loads_no_heavy_dependency() -> None:
    code = (
        "import sys, greekfire.perf\n"
        "heavy = {'pandas', 'numpy', 'prometheus_client', 'psutil', 'numba', 'redis'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_exported_name_resolves() -> None:
    for name in perf.__all__:
        assert getattr(perf, name) is not None, name
    assert len(set(perf.__all__)) == len(perf.__all__)


def test_defaults_are_created_once_and_wired_together() -> None:
    cache = perf.smart_cache
    assert perf.smart_cache is cache
    monitor = perf.performance_monitor
    assert perf.performance_monitor is monitor
    cache.set("test_package:key", b"x" * 1000)
    assert cache.get("test_package:key") == b"x" * 1000
    exposed = monitor.expose().decode()
    assert 'cache="default"' in exposed  # the monitor reports the default cache's stats
    optimizer = perf.memory_optimizer
    (trimmer,) = optimizer.caches
    assert trimmer.name == "default"
    assert trimmer.current_bytes() >= 1000
    freed = trimmer.trim(1)
    assert freed >= 1000
    assert cache.get("test_package:key") is None
