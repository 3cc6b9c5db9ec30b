"""``performance_summary.md``: the brief table in Markdown, with its notes and validation.

A pure function of the brief table (``brief.build_brief_table``) and the bench report's
date, machine and command, so it can be regenerated from a saved
``performance_optimization_report.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["render_brief_markdown"]

_VERDICT = {True: "yes", False: "**NO**", None: "n/a"}


def _md_claim(row: Mapping[str, Any]) -> str:
    if row["claim"] is None:
        return "-"
    met = {True: " (met)", False: " (not met)", None: " (not comparable)"}[row["claim_met"]]
    return f"{row['claim']['figure']}{met}"


def _md_side(side: Mapping[str, Any]) -> list[str]:
    label = side["label"].replace("|", "/")
    return [label, side["display"]]


def _md_cells(row: Mapping[str, Any]) -> list[str]:
    return [
        row["category"],
        row["workload"],
        *_md_side(row["baseline"]),
        *_md_side(row["optimised"]),
        row["result"],
        _md_claim(row),
        _VERDICT[row["validated"]],
    ]


def _md_table(table: Sequence[Mapping[str, Any]]) -> list[str]:
    header = (
        "category",
        "workload",
        "baseline",
        "baseline value",
        "optimised",
        "optimised value",
        "speed-up / reduction",
        "brief claims",
        "validated",
    )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_cells(r)) + " |" for r in table]
    return lines


def _md_check(check: Mapping[str, Any]) -> str:
    value = check["value"]
    shown = f"{value:.3g}" if isinstance(value, float) else json.dumps(value)
    optional = "" if check["required"] else ", informational"
    note = f" ({check['note']})" if check.get("note") else ""
    return (
        f"  - {check['contender']} `{check['metric']}` = {shown}, expected {check['expected']}"
        f": {check['status']}{optional}{note}"
    )


def _md_notes(table: Sequence[Mapping[str, Any]]) -> list[str]:
    lines: list[str] = []
    for row in table:
        notes = [
            row["claim_note"],
            row["baseline"]["note"] and f"baseline {row['baseline']['note']}",
            row["optimised"]["note"] and f"optimised {row['optimised']['note']}",
        ]
        text = "; ".join(n.rstrip(".") for n in notes if n)
        if text:
            lines.append(f"- {row['category']}, {row['workload']}: {text}.")
    return lines


def _md_validation(table: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = ["## Validation", ""]
    for row in table:
        lines.append(f"- {row['category']}, {row['workload']}: {row['validation']['status']}")
        lines += [_md_check(c) for c in row["validation"]["checks"]]
    return lines


def render_brief_markdown(report: Mapping[str, Any], table: Sequence[Mapping[str, Any]]) -> str:
    """Render ``performance_summary.md``: the brief table, its notes and its validation.

    Parameters
    ----------
    report : mapping
        The bench report (date, machine, command).
    table : sequence of mapping
        ``build_brief_table(report)``.

    Returns
    -------
    str
        Markdown text ending with a newline.
    """
    m = report.get("machine", {})
    lines = [
        "# greekfire performance summary: the brief's categories, baseline vs optimised",
        "",
        f"{report.get('date_utc', '')}, {m.get('cpu_model', '?')} "
        f"({m.get('logical_cores', '?')} cores), Python {m.get('python', '?')}; "
        f"command `{report.get('command', '')}`.",
        "",
    ]
    if report.get("quick"):
        lines += ["**Quick run**: sizes shrunk for a smoke test; do not quote these numbers.", ""]
    if not table:
        lines += ["No case of the brief's categories ran (cases a, f, i, j, k).", ""]
        return "\n".join(lines)
    lines += [
        "Values are full-batch medians (ms), ns per call for caching, bytes per row for memory. "
        "'% less time' is the brief's '% faster'. Details and every sample: bench.json / "
        "bench.md.",
        "",
        *_md_table(table),
        "",
    ]
    notes = _md_notes(table)
    if notes:
        lines += ["## Notes", "", *notes, ""]
    return "\n".join([*lines, *_md_validation(table)]).rstrip() + "\n"
