"""Case (p)'s sweep throughput for real, tiny: serial, a pool of 2 processes and a Dask
LocalCluster of 2 workers give the same table, every pool and cluster is gone afterwards, this
process's environment is as before, and nothing is written to stderr (``greekfire bench`` must
stay quiet)."""

from __future__ import annotations

import os

import psutil
import pytest

from greekfire.bench.sweep_cases import SweepSizes, make_sweep_workload, measure_sweep_throughput

pytestmark = pytest.mark.integration

pytest.importorskip("distributed")


def test_tiny_sweep_on_every_backend(capfd: pytest.CaptureFixture[str]) -> None:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    environ = dict(os.environ)
    workload = make_sweep_workload(SweepSizes(symbols=3, bars=252, sets=6, repeats=1))
    messages: list[str] = []
    out = measure_sweep_throughput(workload, repeats=1, progress=messages.append)

    rows = {r["backend"]: r for r in out["rows"]}
    assert list(rows) == ["serial", "processes", "dask"]
    for backend, row in rows.items():
        assert row["status"] == "ok", (backend, row.get("note"))
        assert row["failed_sets"] == 0
        assert row["identical_to_serial"] is True, row.get("difference")
        assert row["backtests_per_s"] > 0
        assert row["end_to_end_s"] == row["samples_s"][0]
    assert (rows["processes"]["workers"], rows["dask"]["workers"]) == (2, 2)
    assert out["identical"] is True
    assert out["sets"] == 6
    assert out["symbols"] == 3
    assert len(messages) == 3
    assert "dask" in messages[2]

    left = [
        p
        for p in psutil.Process().children(recursive=True)
        if p.pid not in before and p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    ]
    # A forkserver (and its resource tracker) may stay for the next pool; no worker may.
    workers = [p for p in left if "forkserver" not in " ".join(p.cmdline())]
    workers = [p for p in workers if "resource_tracker" not in " ".join(p.cmdline())]
    assert workers == []
    # The LocalCluster's nannies set dask's worker environment here; the measurement undoes it.
    assert dict(os.environ) == environ
    err = capfd.readouterr().err
    assert err == "", err
