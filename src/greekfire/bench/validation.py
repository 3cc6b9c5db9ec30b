"""Validation of the brief table: the untimed checks of each case, judged against tolerances.

Every case of ``greekfire bench`` checks its contenders' outputs without timing the check
(``metrics`` of each row: ``max_abs_price_diff_vs_numpy``, ``matches_talib``,
``values_correct``, ``equals_serial``, ``bit_exact`` ...). A ``Check`` names one metric of
one contender and the tolerance it must meet; ``evaluate_checks`` judges a brief-table row
(pass, fail, or n/a when the contender did not run), and ``validation_results`` assembles
``performance_validation_results.json``: every check metric of every case and contender, the
per-row verdicts with the tolerance used, and an overall verdict.

A required check that fails fails its row; an informational check (``required=False``) is
reported but never fails anything (pandas seeds its EMAs differently from TA-Lib, by design).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "INDICATOR_TOLERANCE",
    "PRICE_TOLERANCE",
    "SCHEMA_VERSION",
    "Check",
    "evaluate_checks",
    "validate_validation_results",
    "validation_results",
]

SCHEMA_VERSION = 1
PRICE_TOLERANCE = 1e-9
"""Largest accepted |price - numpy closed form| (price units, spots ~100)."""
INDICATOR_TOLERANCE = 1e-9
"""Largest accepted relative difference to TA-Lib (``ta_cases.TOLERANCE``)."""

_PASS, _FAIL, _NA = "pass", "fail", "n/a"


@dataclass(frozen=True, slots=True)
class Check:
    """One metric of one contender and the tolerance it must meet.

    Attributes
    ----------
    contender : str
        Row key in the case (``"greekfire"``, ``"scipy_loop"`` ...).
    metric : str
        Key in the row's ``metrics`` (``"max_abs_price_diff_vs_numpy"``).
    limit : float or bool
        A bool must be equal (``matches_talib == True``); a number is an upper bound
        (``value <= limit``, finite).
    required : bool
        False for an informational check that never fails its row.
    why : str
        What the check establishes, for the reports.
    """

    contender: str
    metric: str
    limit: float | bool
    required: bool = True
    why: str = ""

    @property
    def expected(self) -> str:
        """The tolerance in words: ``"== true"`` or ``"<= 1e-09"``."""
        if isinstance(self.limit, bool):
            return f"== {str(self.limit).lower()}"
        return f"<= {self.limit:g}"

    def judge(self, value: Any) -> bool:
        """Return whether ``value`` meets the tolerance.

        Parameters
        ----------
        value : Any
            The metric as the case reported it (bool, int or float).
        """
        if isinstance(self.limit, bool):
            return isinstance(value, bool) and value is self.limit
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return math.isfinite(value) and value <= self.limit


def _find_row(case: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    return next((r for r in case.get("rows", []) if r.get("key") == key), None)


def _evaluate(check: Check, case: Mapping[str, Any]) -> dict[str, Any]:
    row = _find_row(case, check.contender)
    result: dict[str, Any] = {
        "contender": check.contender,
        "metric": check.metric,
        "value": None,
        "expected": check.expected,
        "tolerance": check.limit,
        "required": check.required,
        "why": check.why,
    }
    if row is None or row.get("status") != "ok":
        reason = "not in this run" if row is None else f"skipped: {row.get('note', '')}"
        return {**result, "status": _NA, "note": reason}
    metrics = row.get("metrics") or {}
    if check.metric not in metrics:  # the contender ran but its check did not say
        return {**result, "status": _FAIL, "note": "metric missing from the case's checks"}
    value = metrics[check.metric]
    return {**result, "value": value, "status": _PASS if check.judge(value) else _FAIL}


def evaluate_checks(case: Mapping[str, Any], checks: Sequence[Check]) -> dict[str, Any]:
    """Judge one brief-table row from its case's check metrics.

    Parameters
    ----------
    case : mapping
        A case of the bench report (``harness.run_case`` output).
    checks : sequence of Check
        The row's checks.

    Returns
    -------
    dict
        ``status`` (``"pass"``: every required check that could run passed and at least one
        did; ``"fail"``: a required check failed, or its metric is missing although the
        contender ran; ``"n/a"``: no required check could run) and ``checks`` (each with
        ``contender, metric, value, expected, tolerance, required, why, status``).
    """
    results = [_evaluate(c, case) for c in checks]
    required = [r["status"] for r in results if r["required"]]
    if _FAIL in required:
        status = _FAIL
    elif _PASS in required:
        status = _PASS
    else:
        status = _NA
    return {"status": status, "checks": results}


def _case_metrics(case: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "key": case["key"],
        "title": case["title"],
        "contenders": [
            {
                "key": row["key"],
                "label": row.get("label", row["key"]),
                "status": row["status"],
                "note": row.get("note", ""),
                "metrics": row.get("metrics") or {},
            }
            for row in case["rows"]
        ],
    }


def _row_verdict(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "category": row["category"],
        "workload": row["workload"],
        "case": row["case"],
        "baseline": row["baseline"]["key"],
        "optimised": row["optimised"]["key"],
        "status": row["validation"]["status"],
        "checks": row["validation"]["checks"],
    }


def validation_results(
    report: Mapping[str, Any], table: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Assemble ``performance_validation_results.json``.

    Parameters
    ----------
    report : mapping
        The bench report (``bench.json``).
    table : sequence of mapping
        The brief table (``brief.build_brief_table``), each row with its ``validation``.

    Returns
    -------
    dict
        ``schema_version, date_utc, command, quick``; ``cases`` (per case and contender:
        status and every check metric); ``rows`` (per brief-table row: ``status`` and its
        ``checks`` with the tolerance used); ``summary`` (counts) and ``overall_pass``: True
        when no row failed and at least one passed, False when a row failed, None when no row
        could be validated (e.g. ``--cases e``).
    """
    rows = [_row_verdict(r) for r in table]
    counts = {s: sum(r["status"] == s for r in rows) for s in (_PASS, _FAIL, _NA)}
    overall = False if counts[_FAIL] else (True if counts[_PASS] else None)
    return {
        "schema_version": SCHEMA_VERSION,
        "date_utc": report.get("date_utc", ""),
        "command": report.get("command", ""),
        "quick": bool(report.get("quick", False)),
        "cases": [_case_metrics(c) for c in report.get("cases", [])],
        "rows": rows,
        "summary": {"rows": len(rows), "passed": counts[_PASS], "failed": counts[_FAIL]}
        | {"not_validated": counts[_NA]},
        "overall_pass": overall,
    }


_TOP = {
    "schema_version": int,
    "date_utc": str,
    "command": str,
    "quick": bool,
    "cases": list,
    "rows": list,
    "summary": dict,
}
_CHECK = ("contender", "metric", "value", "expected", "tolerance", "required", "status")


def _type_errors(doc: Mapping[str, Any], spec: Mapping[str, type], where: str) -> list[str]:
    return [
        f"{where}.{key}: expected {typ.__name__}"
        for key, typ in spec.items()
        if not isinstance(doc.get(key), typ)
    ]


def _row_errors(row: Any, where: str) -> list[str]:
    if not isinstance(row, Mapping):
        return [f"{where}: expected an object"]
    errors = []
    if row.get("status") not in (_PASS, _FAIL, _NA):
        errors.append(f"{where}.status: expected pass, fail or n/a, got {row.get('status')!r}")
    for j, check in enumerate(row.get("checks") or []):
        missing = [k for k in _CHECK if k not in check]
        if missing:
            errors.append(f"{where}.checks[{j}]: missing {', '.join(missing)}")
    if not row.get("checks"):
        errors.append(f"{where}: a row needs at least one check")
    return errors


def validate_validation_results(doc: Any) -> list[str]:
    """Return the schema errors of a ``performance_validation_results.json`` document.

    Parameters
    ----------
    doc : Any
        The parsed JSON.

    Returns
    -------
    list of str
        Empty when the document is well formed (it says nothing about whether it passed:
        read ``overall_pass``).
    """
    if not isinstance(doc, Mapping):
        return ["validation results: expected a JSON object"]
    errors = _type_errors(doc, _TOP, "validation")
    if doc.get("overall_pass") not in (True, False, None):
        errors.append("validation.overall_pass: expected true, false or null")
    for i, row in enumerate(doc.get("rows") or []):
        errors += _row_errors(row, f"validation.rows[{i}]")
    statuses = [r.get("status") for r in doc.get("rows") or [] if isinstance(r, Mapping)]
    expected = False if _FAIL in statuses else (True if _PASS in statuses else None)
    if not errors and doc.get("overall_pass") is not expected:
        errors.append(f"validation.overall_pass: {doc.get('overall_pass')} contradicts the rows")
    return errors
