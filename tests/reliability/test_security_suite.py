"""The security suite: its short run passes, and its scanners catch what they look for."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from greekfire.reliability.security import (
    check_token_comparison,
    planted_forms,
    run,
    scan_deserialisation,
    scan_sql,
    unaccepted_vulnerabilities,
)

pytestmark = pytest.mark.integration


def test_short_run_finds_no_leak_and_no_loose_file(tmp_path: Path) -> None:
    result = run(tmp_path, short=True, seed=3)
    assert result.passed, result.failures
    assert result.figure("secret_hits").value == 0
    assert result.figure("files_loose_permissions").value == 0
    assert result.figure("sql_sites_dynamic").value == 0
    assert result.figure("deserialisation_unexpected").value == 0
    assert int(result.figure("outputs_files_scanned").value) > 10
    assert int(result.figure("http_answers_scanned").value) > 10
    assert int(result.figure("journal_cells_scanned").value) > 0
    assert int(result.figure("sql_sites_checked").value) > 20
    assert int(result.figure("permission_files_checked").value) >= 5


def test_planted_forms_cover_encodings() -> None:
    forms = planted_forms("gfSECRET1234/+abcdef=")
    assert forms["base64"] == base64.b64encode(b"gfSECRET1234/+abcdef=")
    assert forms["url"] == b"gfSECRET1234%2F%2Babcdef%3D"
    assert len(forms["fragment"]) == 12
    with pytest.raises(ValueError, match="16"):
        planted_forms("short")


def test_token_check_flags_plain_equality(tmp_path: Path) -> None:
    bad = tmp_path / "api.py"
    bad.write_text("def ok(given, secret):\n    return given == secret\n", encoding="utf-8")
    problems = check_token_comparison(bad)
    assert any("no hmac.compare_digest" in p for p in problems)
    assert any("==" in p for p in problems)
    assert check_token_comparison() == []  # the real web/api.py


def test_sql_scan_tells_constant_from_built(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "mod.py").write_text(
        "Q = 'SELECT * FROM t WHERE a = ?'\n"
        "def good(conn, a):\n"
        "    conn.execute(Q, (a,))\n"
        "    sql = 'SELECT 1'\n"
        "    sql += ' WHERE b = ?'\n"
        "    conn.execute(sql, (a,))\n"
        "def bad(conn, name):\n"
        "    conn.execute(f'SELECT * FROM t WHERE a = {name}')\n"
        "def sink(conn, sql):\n"
        "    conn.execute(sql)\n"
        "def caller(conn, user):\n"
        "    sink(conn, 'SELECT 2')\n"
        "    sink(conn, 'SELECT ' + user)\n",
        encoding="utf-8",
    )
    verdicts = {(s.line, s.verdict) for s in scan_sql(pkg)}
    assert (3, "constant") in verdicts
    assert (6, "constant") in verdicts
    assert (8, "dynamic") in verdicts
    assert (10, "dynamic") in verdicts  # one caller passes a built string


def test_deserialisation_scan_flags_unlisted_sites(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        "import pickle, yaml\n"
        "def f(b, s):\n"
        "    pickle.loads(b)\n"
        "    yaml.load(s, Loader=yaml.SafeLoader)\n"
        "    yaml.load(s)\n"
        "    eval(s)\n",
        encoding="utf-8",
    )
    allowed, unexpected = scan_deserialisation(tmp_path)
    assert allowed == []
    assert unexpected == ["m.py:3: pickle.loads", "m.py:5: yaml.load", "m.py:6: eval"]
    assert scan_deserialisation()[1] == []  # the real package


def test_audit_report_accepts_only_listed_ids() -> None:
    report = {
        "dependencies": [
            {"name": "a", "version": "1", "vulns": [{"id": "PYSEC-1", "aliases": ["CVE-9"]}]},
            {"name": "b", "version": "2", "vulns": [{"id": "GHSA-x", "aliases": []}]},
            {"name": "c", "version": "3", "vulns": []},
        ]
    }
    assert unaccepted_vulnerabilities(report, {"CVE-9": "why"}) == (2, ["b 2: GHSA-x"])
    assert unaccepted_vulnerabilities(report, {}) == (2, ["a 1: PYSEC-1", "b 2: GHSA-x"])
