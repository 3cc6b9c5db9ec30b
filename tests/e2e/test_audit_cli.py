"""``greekfire audit`` as CI runs it: the real pip-audit on a pinned requirements file.

Whether PyPI's vulnerability data is reachable depends on the network, so each test asserts
what must hold either way: a dependency pip-audit could not look up is reported as NOT
AUDITED (never as clean), ``--strict`` turns that into exit 4, and the JSON report agrees with
the printed counts.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCRIPT = Path(sys.executable).with_name("greekfire")
LOCK = Path(__file__).resolve().parents[2] / "constraints.txt"


def audit(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert SCRIPT.exists(), f"console script not installed next to {sys.executable}"
    env = {**os.environ, "COLUMNS": "400"}
    return subprocess.run(
        [str(SCRIPT), "audit", "--out", str(tmp / "audit"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp,
        check=False,
    )


def test_the_lock_pins_every_dependency_exactly() -> None:
    lines = [
        line
        for line in LOCK.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert len(lines) > 50
    loose = [line for line in lines if "==" not in line]
    assert loose == []
    names = {re.sub(r"[-_.]+", "-", line.split("==")[0]).lower() for line in lines}
    assert {"numpy", "pandas", "numba", "httpx", "pip-audit"} <= names


@pytest.mark.parametrize("strict", [False, True])
def test_a_pinned_file_is_audited_or_reported_not_audited(tmp_path: Path, strict: bool) -> None:
    pins = tmp_path / "pins.txt"
    pins.write_text("cachetools==5.5.2\n", encoding="utf-8")
    done = audit(tmp_path, "--requirement", str(pins), *(["--strict"] if strict else []))
    report = json.loads((tmp_path / "audit" / "pip-audit.json").read_text(encoding="utf-8"))
    deps = report["dependencies"]
    assert [d["name"] for d in deps] == ["cachetools"]
    looked_up = sum("skip_reason" not in d for d in deps)
    assert f"{looked_up} dependencies looked up, {1 - looked_up} not" in done.stdout
    if looked_up:
        assert done.returncode == (1 if deps[0]["vulns"] else 0), done.stdout + done.stderr
    else:
        assert "NOT AUDITED" in done.stdout
        assert done.returncode == (4 if strict else 0), done.stdout + done.stderr


def test_a_missing_requirements_file_exits_2_naming_the_option(tmp_path: Path) -> None:
    done = audit(tmp_path, "--requirement", str(tmp_path / "nope.txt"))
    assert done.returncode == 2
    assert "--requirement" in done.stderr
