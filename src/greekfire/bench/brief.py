"""The brief's performance report, baseline beside optimised, built from a bench report.

The brief ("Production Performance Metrics") claims, per category: vectorised Black-Scholes
99.8 % faster than a loop, 84 % less DataFrame memory, caching 42 % faster (at a 40 % hit
rate), technical indicators 50 % faster; it gives no figure for parallel processing.
``build_brief_table`` puts the measured counterpart of each claim in one row: the case that
measures it, the baseline and the optimised contender with their medians, the speed-up or
reduction, the claimed figure, and whether the outputs were validated (the case's untimed
checks, judged by ``validation.evaluate_checks``). Rows of cases that did not run are left
out; a skipped contender gives ``n/a``.

``write_brief_reports`` writes, beside ``bench.json``:

- ``performance_optimization_report.json``: the table, machine, date, command and the
  headline median of every case;
- ``performance_validation_results.json``: every check metric and the per-row verdicts;
- ``performance_summary.md``: the table in Markdown with the validation details;
- ``performance_chart.png``: speed-ups (log axis) and memory reductions (``chart``).

A cache hit is not a speed-up over a cheap call, so the caching row against the plain call
reports the hit's cost instead: a cache pays only when the call it saves costs more than
the hit. The brief's 42 % at a 40 % hit rate cannot be reached by any cache (every miss
still computes, so at most 40 % of the time can be saved); the row says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from greekfire.bench.report import format_duration
from greekfire.bench.validation import (
    INDICATOR_TOLERANCE,
    PRICE_TOLERANCE,
    Check,
    evaluate_checks,
    validation_results,
)

__all__ = [
    "BRIEF_ROWS",
    "CHART_NAME",
    "REPORT_NAME",
    "SCHEMA_VERSION",
    "SUMMARY_NAME",
    "VALIDATION_NAME",
    "Claim",
    "RowSpec",
    "build_brief_table",
    "optimization_report",
    "validate_optimization_report",
    "write_brief_reports",
]

SCHEMA_VERSION = 1
REPORT_NAME = "performance_optimization_report.json"
VALIDATION_NAME = "performance_validation_results.json"
SUMMARY_NAME = "performance_summary.md"
CHART_NAME = "performance_chart.png"

Kind = Literal["time", "memory", "overhead"]
INPUT_FRAME = "input_frame"
"""Baseline key of the memory rows: the frame as pandas builds it, before optimisation."""


@dataclass(frozen=True, slots=True)
class Claim:
    """A figure the brief claims for one category.

    Attributes
    ----------
    figure : str
        As the brief words it (``"99.8 % faster"``).
    pct : float
        The percentage: time saved (``1 - optimised / baseline``) or memory saved.
    detail : str
        The brief's own numbers behind the figure.
    """

    figure: str
    pct: float
    detail: str


VECTORISED = Claim("99.8 % faster", 99.8, "50,000 Black-Scholes calculations: 6,757 ms -> 15 ms")
MEMORY = Claim("84 % memory reduction", 84.0, "100K-row DataFrame: 8.9 MB -> 1.4 MB")
CACHING = Claim("42 % faster", 42.0, "repeated calculations with a 40 % hit rate")
INDICATORS = Claim("50 % faster", 50.0, "10,000 price points: 4.5 ms -> 2.2 ms")


@dataclass(frozen=True, slots=True)
class RowSpec:
    """One row of the brief table: which case, baseline and optimised contender, and checks.

    Attributes
    ----------
    category : str
        The brief's category.
    case : str
        Key of the bench case that measures it.
    baseline, optimised : str
        Contender keys (``INPUT_FRAME`` for the memory baseline).
    kind : {"time", "memory", "overhead"}
        ``time``: medians, speed-up = baseline / optimised; ``memory``: bytes per row from
        the checks, reduction; ``overhead``: the optimised call's cost per call next to the
        baseline's, no speed-up.
    claim : Claim or None
        The brief's figure for this comparison.
    checks : tuple of Check
        What validates the row.
    metric : str
        ``"median_ms"`` (full batch) or ``"ns_per_option"`` (per unit) for time rows.
    claim_note : str
        Why there is no claim, or why it is not comparable.
    workload_suffix : str
        Appended to the case title (what this row compares).
    """

    category: str
    case: str
    baseline: str
    optimised: str
    kind: Kind
    claim: Claim | None
    checks: tuple[Check, ...]
    metric: str = "median_ms"
    claim_note: str = ""
    workload_suffix: str = ""


_PRICE_DIFF = "max_abs_price_diff_vs_numpy"
_PRICES_AGREE = "prices agree with the numpy closed form"


def _price_checks(*keys: str) -> tuple[Check, ...]:
    return tuple(Check(k, _PRICE_DIFF, PRICE_TOLERANCE, why=_PRICES_AGREE) for k in keys)


def _cache_checks(*keys: str) -> tuple[Check, ...]:
    return tuple(
        Check(k, "values_correct", True, why="returns the function's values") for k in keys
    )


_INDICATOR_CHECKS = (
    Check("greekfire", "matches_talib", True, why="every output within tolerance of TA-Lib"),
    Check(
        "greekfire",
        "max_rel_diff_vs_talib",
        INDICATOR_TOLERANCE,
        why="largest relative difference to TA-Lib",
    ),
)
_CACHE_NOTE = (
    "not comparable: the brief's 42 % is for a 40 % hit rate, where no cache can save more "
    "than 40 % (every miss still computes). A cache pays when the call it saves costs more "
    "than the hit."
)

BRIEF_ROWS: tuple[RowSpec, ...] = (
    RowSpec(
        category="vectorised calculations",
        case="a_bsm_greeks",
        baseline="scipy_loop",
        optimised="numpy",
        kind="time",
        claim=VECTORISED,
        checks=_price_checks("numpy", "scipy_loop"),
        workload_suffix="numpy closed form",
    ),
    RowSpec(
        category="vectorised calculations",
        case="a_bsm_greeks",
        baseline="scipy_loop",
        optimised="greekfire",
        kind="time",
        claim=VECTORISED,
        checks=_price_checks("greekfire", "scipy_loop"),
        workload_suffix="greekfire kernel",
    ),
    RowSpec(
        category="memory",
        case="j_optimize_dataframe",
        baseline=INPUT_FRAME,
        optimised="greekfire",
        kind="memory",
        claim=MEMORY,
        checks=(Check("greekfire", "bit_exact", True, why="converts back bit for bit"),),
        workload_suffix="lossless",
    ),
    RowSpec(
        category="memory",
        case="j_optimize_dataframe",
        baseline=INPUT_FRAME,
        optimised="greekfire_decimals",
        kind="memory",
        claim=MEMORY,
        checks=(
            Check("greekfire_decimals", "prices_at_2_decimals", True, why="prices exact in cents"),
        ),
        workload_suffix="decimals=2",
    ),
    RowSpec(
        category="caching",
        case="i_cache_hit",
        baseline="cachetools",
        optimised="greekfire",
        kind="time",
        claim=None,
        checks=_cache_checks("greekfire", "cachetools"),
        metric="ns_per_option",
        claim_note="the brief compares with recomputation, not another cache (next row)",
        workload_suffix="hit vs cachetools hit",
    ),
    RowSpec(
        category="caching",
        case="i_cache_hit",
        baseline="plain",
        optimised="greekfire",
        kind="overhead",
        claim=CACHING,
        checks=_cache_checks("greekfire", "plain"),
        metric="ns_per_option",
        claim_note=_CACHE_NOTE,
        workload_suffix="hit cost vs the uncached call",
    ),
    RowSpec(
        category="indicators",
        case="f_indicators_block",
        baseline="pandas",
        optimised="greekfire",
        kind="time",
        claim=INDICATORS,
        checks=(
            *_INDICATOR_CHECKS,
            Check(
                "pandas",
                "max_rel_diff_vs_talib_last_half",
                1e-2,
                required=False,
                why="pandas seeds EMA/Wilder differently; agrees after the warm-up",
            ),
        ),
        workload_suffix="vs pandas",
    ),
    RowSpec(
        category="indicators",
        case="f_indicators_block",
        baseline="talib",
        optimised="greekfire",
        kind="time",
        claim=INDICATORS,
        checks=_INDICATOR_CHECKS,
        workload_suffix="vs TA-Lib",
    ),
    RowSpec(
        category="parallel",
        case="k_parallel_map",
        baseline="serial",
        optimised="greekfire",
        kind="time",
        claim=None,
        checks=(Check("greekfire", "equals_serial", True, why="same results, same order"),),
        claim_note="the brief gives no figure ('utilizing all CPU cores')",
        workload_suffix="processes vs serial",
    ),
)


# --- the table ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Side:
    key: str
    label: str
    status: str
    value: float | None = None
    unit: str = ""
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "status": self.status,
            "value": self.value,
            "unit": self.unit,
            "display": _fmt_value(self.value, self.unit),
            "note": self.note,
            **self.extra,
        }


def _fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "ms":
        return format_duration(value)
    if unit == "B/row":
        return f"{value:.1f} B/row"
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.3g} {unit}"


def _row(case: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    found = next((r for r in case["rows"] if r["key"] == key), None)
    return found or {"key": key, "label": key, "status": "skipped", "note": "not in this run"}


def _timed_side(case: Mapping[str, Any], key: str, metric: str) -> _Side:
    row = _row(case, key)
    unit = "ms" if metric == "median_ms" else f"ns/{case.get('unit', 'item')}"
    side = _Side(key, row.get("label", key), row["status"], unit=unit)
    if row["status"] != "ok":
        side.note = f"skipped: {row.get('note', '')}"
        return side
    side.value = float(row[metric])
    side.extra = {"median_ms": row["median_ms"], "ns_per_unit": row["ns_per_option"]}
    side.note = "extrapolated from a subsample" if row.get("extrapolated") else ""
    return side


def _memory_sides(case: Mapping[str, Any], key: str) -> tuple[_Side, _Side]:
    row = _row(case, key)
    metrics = row.get("metrics") or {}
    base = _Side(INPUT_FRAME, "input frame as pandas builds it", row["status"], unit="B/row")
    opt = _Side(key, row.get("label", key), row["status"], unit="B/row")
    if row["status"] != "ok" or "bytes_per_row_after" not in metrics:
        opt.note = f"skipped: {row.get('note', '')}" if row["status"] != "ok" else "no metrics"
        return base, opt
    base.value = float(metrics["bytes_per_row_before"])
    opt.value = float(metrics["bytes_per_row_after"])
    opt.extra = {"median_ms": row["median_ms"]}
    opt.note = f"took {format_duration(row['median_ms'])} for {case['n_options']:,} rows"
    return base, opt


def _fmt_factor(speedup: float) -> str:
    if speedup < 1:
        return f"{1 / speedup:.2f}x slower"
    digits = 0 if speedup >= 100 else 1 if speedup >= 10 else 2
    return f"{speedup:,.{digits}f}x faster"


def _fmt_pct(pct: float) -> str:
    return f"{pct:.2f} %" if abs(pct) >= 99 else f"{pct:.1f} %"


def _outcome(spec: RowSpec, base: _Side, opt: _Side) -> dict[str, Any]:
    out: dict[str, Any] = {"speedup": None, "reduction_pct": None, "overhead_ns": None}
    if base.value is None or opt.value is None or opt.value <= 0 or base.value <= 0:
        return out | {"result": "n/a"}
    pct = 100.0 * (1.0 - opt.value / base.value)
    if spec.kind == "memory":
        return out | {"reduction_pct": pct, "result": f"{_fmt_pct(pct)} less memory"}
    if spec.kind == "overhead":
        extra = opt.value - base.value
        text = (
            f"a hit costs {_fmt_value(opt.value, opt.unit)} ({extra:+,.0f} ns over the call): "
            f"pays when the saved call costs more than {opt.value:,.0f} ns"
        )
        return out | {"overhead_ns": extra, "result": text}
    speedup = base.value / opt.value
    text = f"{_fmt_factor(speedup)} ({_fmt_pct(pct)} less time)"
    return out | {"speedup": speedup, "reduction_pct": pct, "result": text}


def _claim_met(spec: RowSpec, outcome: Mapping[str, Any]) -> bool | None:
    if spec.claim is None or spec.kind == "overhead" or outcome["reduction_pct"] is None:
        return None
    return bool(outcome["reduction_pct"] >= spec.claim.pct)


def _workload(title: str, suffix: str) -> str:
    return f"{title}: {suffix}" if suffix else title


def _brief_row(spec: RowSpec, case: Mapping[str, Any]) -> dict[str, Any]:
    if spec.kind == "memory":
        base, opt = _memory_sides(case, spec.optimised)
    else:
        base = _timed_side(case, spec.baseline, spec.metric)
        opt = _timed_side(case, spec.optimised, spec.metric)
    outcome = _outcome(spec, base, opt)
    validation = evaluate_checks(case, spec.checks)
    claim = (
        None
        if spec.claim is None
        else {
            "figure": spec.claim.figure,
            "pct": spec.claim.pct,
            "detail": spec.claim.detail,
        }
    )
    return {
        "category": spec.category,
        "case": spec.case,
        "workload": _workload(case["title"], spec.workload_suffix),
        "kind": spec.kind,
        "baseline": base.as_dict(),
        "optimised": opt.as_dict(),
        **outcome,
        "claim": claim,
        "claim_met": _claim_met(spec, outcome),
        "claim_note": spec.claim_note,
        "validated": {"pass": True, "fail": False}.get(validation["status"]),
        "validation": validation,
    }


def build_brief_table(
    report: Mapping[str, Any], specs: Sequence[RowSpec] = BRIEF_ROWS
) -> list[dict[str, Any]]:
    """Return the brief table: one row per comparison of ``specs`` whose case ran.

    Parameters
    ----------
    report : mapping
        A bench report (``runner.run_bench`` output or a loaded ``bench.json``).
    specs : sequence of RowSpec
        The rows; defaults to ``BRIEF_ROWS``.

    Returns
    -------
    list of dict
        Per row: ``category, case, workload, kind``; ``baseline`` and ``optimised`` (``key,
        label, status, value, unit, display, note``: medians in ms, ns per call for the
        caching rows, bytes per row for memory); ``speedup`` (baseline / optimised, time
        rows), ``reduction_pct`` (% less time or memory), ``overhead_ns`` (the hit's cost
        over the plain call), ``result`` (in words, ``"n/a"`` when a side was skipped);
        ``claim`` (``figure, pct, detail``) or None, ``claim_met``, ``claim_note``;
        ``validated`` (True, False, or None when no check could run) and ``validation``.
    """
    cases = {c["key"]: c for c in report.get("cases", [])}
    return [_brief_row(spec, cases[spec.case]) for spec in specs if spec.case in cases]


# --- the files ---------------------------------------------------------------------------


def _headline(case: Mapping[str, Any]) -> dict[str, Any]:
    head = _row(case, case["headline"])
    ok = head["status"] == "ok"
    target = case.get("target") or {}
    return {
        "key": case["key"],
        "title": case["title"],
        "unit": case.get("unit", "option"),
        "n": case["n_options"],
        "headline": case["headline"],
        "headline_median_ms": head["median_ms"] if ok else None,
        "headline_ns_per_unit": head["ns_per_option"] if ok else None,
        "target_met": target.get("met"),
        "medians_ms": {
            r["key"]: r["median_ms"] if r["status"] == "ok" else None for r in case["rows"]
        },
    }


def optimization_report(
    report: Mapping[str, Any], table: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Assemble ``performance_optimization_report.json``.

    Parameters
    ----------
    report : mapping
        The bench report.
    table : sequence of mapping
        ``build_brief_table(report)``.

    Returns
    -------
    dict
        ``schema_version, date_utc, command, quick, duration_s, machine, source``,
        ``brief_table`` and ``cases`` (per case: size, headline contender, its median and
        time per unit, target verdict, and every contender's median).
    """
    return {
        "schema_version": SCHEMA_VERSION,
        "date_utc": report.get("date_utc", ""),
        "command": report.get("command", ""),
        "quick": bool(report.get("quick", False)),
        "duration_s": report.get("duration_s"),
        "machine": report.get("machine", {}),
        "source": "bench.json in the same directory (every sample, every contender)",
        "brief_table": list(table),
        "cases": [_headline(c) for c in report.get("cases", [])],
    }


_REPORT_KEYS = {
    "schema_version": int,
    "date_utc": str,
    "command": str,
    "quick": bool,
    "machine": dict,
    "brief_table": list,
    "cases": list,
}
_TABLE_KEYS = ("category", "workload", "baseline", "optimised", "result", "claim", "validated")


def validate_optimization_report(doc: Any) -> list[str]:
    """Return the schema errors of a ``performance_optimization_report.json`` document.

    Parameters
    ----------
    doc : Any
        The parsed JSON.

    Returns
    -------
    list of str
        Empty when well formed.
    """
    if not isinstance(doc, Mapping):
        return ["optimization report: expected a JSON object"]
    errors = [
        f"report.{key}: expected {typ.__name__}"
        for key, typ in _REPORT_KEYS.items()
        if not isinstance(doc.get(key), typ)
    ]
    for i, row in enumerate(doc.get("brief_table") or []):
        missing = [k for k in _TABLE_KEYS if k not in row]
        if missing:
            errors.append(f"report.brief_table[{i}]: missing {', '.join(missing)}")
        elif row["speedup"] is not None and not row["speedup"] > 0:
            errors.append(f"report.brief_table[{i}].speedup: expected > 0")
    for i, case in enumerate(doc.get("cases") or []):
        if "key" not in case or "headline_median_ms" not in case:
            errors.append(f"report.cases[{i}]: missing key or headline_median_ms")
    return errors


def _dump(path: Path, doc: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def write_brief_reports(report: Mapping[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write the brief's four report files into ``out_dir`` (created if needed).

    Parameters
    ----------
    report : mapping
        The bench report.
    out_dir : Path
        Directory (the one holding ``bench.json``).

    Returns
    -------
    dict of str to Path
        ``{"report", "validation", "summary", "chart"}`` to the files written.
    """
    from greekfire.bench.chart import write_chart
    from greekfire.bench.summary import render_brief_markdown

    out_dir.mkdir(parents=True, exist_ok=True)
    table = build_brief_table(report)
    paths = {
        "report": out_dir / REPORT_NAME,
        "validation": out_dir / VALIDATION_NAME,
        "summary": out_dir / SUMMARY_NAME,
        "chart": out_dir / CHART_NAME,
    }
    _dump(paths["report"], optimization_report(report, table))
    _dump(paths["validation"], validation_results(report, table))
    paths["summary"].write_text(render_brief_markdown(report, table), encoding="utf-8")
    write_chart(table, paths["chart"], title=_chart_title(report))
    return paths


def _chart_title(report: Mapping[str, Any]) -> str:
    quick = ", quick run" if report.get("quick") else ""
    return f"greekfire vs baseline, {report.get('date_utc', '')[:10]}{quick}"
