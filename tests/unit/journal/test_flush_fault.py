"""The journal's crash hook: ``GREEKFIRE_FAULT_KILL_IN_FLUSH=N`` SIGKILLs the process inside its
``N``-th batched write, before ``COMMIT``; the batch is lost, the committed ones and the file
survive. The journal runs in a child process (the hook kills whoever runs it)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from greekfire.journal.sqlite import FAULT_FLUSH_ENV

CHILD = """
import sys
from greekfire.journal.sqlite import Journal

class Clock:
    def now_ns(self) -> int:
        return 1

journal = Journal(sys.argv[1], batch_size=1000, clock=Clock())
for kind in ("first", "second", "third"):
    journal.record_note(kind, {"batch": kind})
    journal.flush()
    print("flushed", kind, flush=True)
journal.close()
"""


def run_child(path: Path, fault: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != FAULT_FLUSH_ENV}
    if fault is not None:
        env[FAULT_FLUSH_ENV] = fault
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def committed(path: Path) -> tuple[list[str], str]:
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        kinds = [r[0] for r in con.execute("SELECT kind FROM notes ORDER BY id")]
        check = str(con.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        con.close()
    return kinds, check


def test_the_second_flush_dies_before_commit_and_loses_only_its_batch(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    done = run_child(path, "2")
    assert done.returncode == -signal.SIGKILL, done.stdout + done.stderr
    assert done.stdout.split("\n")[:-1] == ["flushed first"]
    kinds, check = committed(path)
    assert kinds == ["first"]
    assert check == "ok"


def test_the_first_flush_can_die_too(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    done = run_child(path, "1")
    assert done.returncode == -signal.SIGKILL
    assert "flushed" not in done.stdout
    kinds, check = committed(path)
    assert kinds == []
    assert check == "ok"


@pytest.mark.parametrize("fault", [None, "", "0", "x", "9"])
def test_unset_or_unreached_values_change_nothing(tmp_path: Path, fault: str | None) -> None:
    path = tmp_path / "journal.db"
    done = run_child(path, fault)
    assert done.returncode == 0, done.stderr
    kinds, check = committed(path)
    assert kinds == ["first", "second", "third"]
    assert check == "ok"
