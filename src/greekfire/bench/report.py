"""The benchmark report: JSON (the record), Markdown (for people) and a rich summary table.

The JSON schema (``SCHEMA_VERSION``) is checked by ``validate_report``; the Markdown and the
table are pure functions of the JSON, so either can be regenerated from a saved report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

__all__ = [
    "JSON_NAME",
    "MARKDOWN_NAME",
    "SCHEMA_VERSION",
    "format_duration",
    "render_markdown",
    "render_summary",
    "validate_report",
    "write_report",
]

SCHEMA_VERSION = 1
JSON_NAME = "bench.json"
MARKDOWN_NAME = "bench.md"

_TOP_KEYS = {
    "schema_version": int,
    "date_utc": str,
    "command": str,
    "quick": bool,
    "machine": dict,
    "method": list,
    "cases": list,
    "first_call": list,
}
_CASE_KEYS = {"key": str, "title": str, "n_options": int, "headline": str, "rows": list}
_OK_ROW_KEYS = {
    "key": str,
    "label": str,
    "n_timed": int,
    "repeats": int,
    "median_ms": float,
    "min_ms": float,
    "ns_per_option": float,
    "metrics": dict,
}
_MACHINE_KEYS = ("cpu_model", "logical_cores", "ram_gib", "python", "packages")


def _check_keys(obj: Mapping[str, Any], spec: Mapping[str, type], where: str) -> list[str]:
    errors = []
    for key, typ in spec.items():
        if key not in obj:
            errors.append(f"{where}: missing {key!r}")
        elif typ is float and isinstance(obj[key], int | float) and not isinstance(obj[key], bool):
            continue
        elif not isinstance(obj[key], typ):
            errors.append(f"{where}.{key}: expected {typ.__name__}, got {type(obj[key]).__name__}")
    return errors


def _check_row(row: Mapping[str, Any], where: str) -> list[str]:
    status = row.get("status")
    if status == "skipped":
        return [] if row.get("note") else [f"{where}: a skipped row needs a note saying why"]
    if status != "ok":
        return [f"{where}.status: expected 'ok' or 'skipped', got {status!r}"]
    errors = _check_keys(row, _OK_ROW_KEYS, where)
    if not errors and not row["min_ms"] <= row["median_ms"]:
        errors.append(f"{where}: min_ms {row['min_ms']} > median_ms {row['median_ms']}")
    return errors


def _check_case(case: Mapping[str, Any], where: str) -> list[str]:
    errors = _check_keys(case, _CASE_KEYS, where)
    for i, row in enumerate(case.get("rows", [])):
        errors += _check_row(row, f"{where}.rows[{i}]")
    return errors


def validate_report(report: Mapping[str, Any]) -> list[str]:
    """Return the schema violations of ``report`` (an empty list when it is valid).

    Parameters
    ----------
    report : mapping
        A report as returned by ``run_bench`` or loaded from ``bench.json``.

    Returns
    -------
    list of str
        One message per problem, with the path of the offending field.
    """
    errors = _check_keys(report, _TOP_KEYS, "report")
    if errors:
        return errors
    if report["schema_version"] != SCHEMA_VERSION:
        errors.append(f"report.schema_version: expected {SCHEMA_VERSION}")
    errors += [
        f"report.machine: missing {k!r}" for k in _MACHINE_KEYS if k not in report["machine"]
    ]
    for i, case in enumerate(report["cases"]):
        errors += _check_case(case, f"report.cases[{i}]")
    return errors


def format_duration(ms: float | None) -> str:
    """Format milliseconds with a unit that keeps 3 significant digits (ns to s).

    Parameters
    ----------
    ms : float or None
        Duration in milliseconds; None gives ``"-"``.
    """
    if ms is None:
        return "-"
    for unit, scale in (("s", 1e3), ("ms", 1.0), ("µs", 1e-3)):
        if ms >= scale:
            return f"{ms / scale:.3g} {unit}"
    return f"{ms * 1e6:.3g} ns"


def _fmt_count(value: float) -> str:
    return f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"


def _fmt_load(case: Mapping[str, Any]) -> str:
    load = case.get("load_average_1m") or [None, None]
    shown = " -> ".join("?" if v is None else f"{v:.2f}" for v in load)
    return f"System load average (1 min) before -> after: {shown}."


def _fmt_ratio(row: Mapping[str, Any]) -> str:
    ratio = row.get("ratio_to_headline")
    return "-" if ratio is None else f"{_fmt_count(ratio)}x"


def _fmt_relative_target(target: Mapping[str, Any]) -> str:
    ref, head, ratio = target["relative_to"], target.get("headline_value"), target["value"]
    if target["metric"] == "median_ms":
        ref_shown, head_shown = (
            format_duration(target.get("reference_value")),
            format_duration(head),
        )
    else:
        ref_shown, head_shown = (
            "-" if v is None else f"{v:.3g} ns/item" for v in (target.get("reference_value"), head)
        )
    goal = f"{target['limit']:g} x {ref}'s ({ref_shown})"
    shown = "not measured" if ratio is None else f"{head_shown} = {ratio:.3g} x {ref}'s"
    verdict = {True: "met", False: "NOT met", None: "n/a"}[target["met"]]
    return f"target {target['metric']} <= {goal}: {shown}, {verdict}"


def _fmt_target(target: Mapping[str, Any] | None) -> str:
    if not target:
        return ""
    if target.get("relative_to"):
        return _fmt_relative_target(target)
    value, limit = target["value"], target["limit"]
    if target["metric"] == "median_ms":
        goal, shown = f"{limit:g} ms", format_duration(value)
    else:
        goal, shown = f"{limit:g} ns/option", f"{value:.3g} ns/option"
    if value is None:
        shown = "not measured"
    verdict = {True: "met", False: "NOT met", None: "n/a"}[target["met"]]
    return f"target {target['metric']} <= {goal}: {shown}, {verdict}"


def _fmt_metric(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v:,}" for k, v in value.items())
    return str(value)


def _row_cells(row: Mapping[str, Any]) -> list[str]:
    if row["status"] != "ok":
        return [row["label"], *["-"] * (len(_case_header()) - 2), f"skipped: {row['note']}"]
    return [
        row["label"],
        f"{row['n_timed']:,}",
        format_duration(row["median_ms"]),
        format_duration(row["min_ms"]),
        str(row["repeats"]),
        _fmt_spread(row),
        _fmt_count(row["ns_per_option"]),
        _fmt_ratio(row),
        row.get("note", ""),
    ]


def _fmt_spread(row: Mapping[str, Any]) -> str:
    iqr, med = row.get("timed_iqr_ns"), row.get("timed_median_ns")
    return "-" if iqr is None or not med else f"{100.0 * iqr / med:.2g} %"


def _case_header(unit: str = "option") -> tuple[str, ...]:
    return (
        "implementation",
        f"{unit}s timed",
        "median",
        "min",
        "repeats",
        "IQR / median",
        f"ns/{unit}",
        "time vs greekfire",
        "note",
    )


def _md_table(header: tuple[str, ...] | list[str], rows: list[list[str]]) -> list[str]:
    def line(cells: list[str] | tuple[str, ...]) -> str:
        return "| " + " | ".join(c.replace("|", "/") for c in cells) + " |"

    return [line(header), line(["---"] * len(header)), *(line(r) for r in rows)]


def _md_case(case: Mapping[str, Any]) -> list[str]:
    lines = [f"## {case['title']}", "", case.get("description", ""), "", _fmt_load(case), ""]
    target = _fmt_target(case.get("target"))
    if target:
        lines += [f"**{target}**", ""]
    header = _case_header(case.get("unit") or "option")
    lines += _md_table(header, [_row_cells(r) for r in case["rows"]])
    metric_lines = [
        f"- {row['label']}: "
        + "; ".join(f"{k} {_fmt_metric(v)}" for k, v in row["metrics"].items())
        for row in case["rows"]
        if row.get("metrics")
    ]
    if metric_lines:
        lines += ["", "Checks (untimed):", "", *metric_lines]
    return [*lines, ""]


def _first_call_cells(row: Mapping[str, Any]) -> list[str]:
    cold, warm = row.get("cold") or {}, row.get("warm") or {}
    return [
        row["kernel"],
        format_duration(cold.get("first_call_ms")),
        format_duration(warm.get("first_call_ms")),
        format_duration(cold.get("import_ms")),
        format_duration(warm.get("second_call_ms")),
        row["status"] if row["status"] != "ok" else "",
        row.get("note", ""),
    ]


def _md_first_calls(rows: list[Mapping[str, Any]]) -> list[str]:
    header = [
        "kernel",
        "first call, cold cache",
        "first call, warm cache",
        "module import",
        "second call",
        "status",
        "note",
    ]
    intro = (
        "Each figure comes from a fresh interpreter; 'cold' uses an empty NUMBA_CACHE_DIR "
        "(compilation), 'warm' the same directory afterwards (cache load). Calls on 64 options."
    )
    table = _md_table(header, [_first_call_cells(r) for r in rows])
    return ["## First-call cost per kernel", "", intro, "", *table]


def _md_machine(report: Mapping[str, Any]) -> list[str]:
    m = report["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    cores = f"{m['logical_cores']} logical ({m.get('usable_cores')} usable)"
    return [
        f"- Date (UTC): {report['date_utc']}",
        f"- Command: `{report['command']}`" + (" (quick mode)" if report["quick"] else ""),
        f"- Duration: {report.get('duration_s', 0.0):.0f} s",
        f"- CPU: {m['cpu_model']}, {cores}; numba threads {m.get('numba_threads')}",
        f"- RAM: {m['ram_gib']} GiB; {m.get('platform', '')}",
        f"- Python {m['python']}; {packages}",
    ]


def render_markdown(report: Mapping[str, Any]) -> str:
    """Render ``report`` as a Markdown document.

    Parameters
    ----------
    report : mapping
        A valid report (see ``validate_report``).
    """
    lines = ["# greekfire benchmark report", "", *_md_machine(report), "", "## Method", ""]
    lines += [f"- {item}" for item in report["method"]] + [""]
    for case in report["cases"]:
        lines += _md_case(case)
    if report["first_call"]:
        lines += _md_first_calls(report["first_call"])
    if report.get("backtest_cold"):
        lines += _md_backtest_cold(report["backtest_cold"])
    if report.get("sweep_throughput"):
        lines += _md_sweep_throughput(report["sweep_throughput"])
    return "\n".join(lines).rstrip() + "\n"


def _md_backtest_cold(rows: list[Mapping[str, Any]]) -> list[str]:
    header = ["engine", "cache", "import", "first call", "cold (import + first)", "process"]
    cells = [
        [
            str(r.get("engine")),
            str(r.get("cache")),
            format_duration(r.get("import_ms")),
            format_duration(r.get("first_call_ms")),
            format_duration(r.get("cold_ms")),
            format_duration(r.get("process_ms")),
        ]
        if r.get("status") == "ok"
        else [str(r.get("engine")), str(r.get("cache")), str(r.get("status")), "", "", ""]
        for r in rows
    ]
    intro = (
        "Case (p) in a fresh process for each engine: import, then the first call (signals, "
        "backtest, total return) on the same 500 x 2,520 block; the run before it fills the "
        'on-disk caches, as after any normal run. "empty" is greekfire with no numba cache '
        "(the first run after installing)."
    )
    return ["## (p) Cold backtests", "", intro, "", *_md_table(header, cells), ""]


def _fmt_float(value: float | None, digits: str = ".3g", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{digits}}{suffix}"


def _sweep_cells(row: Mapping[str, Any]) -> list[str]:
    head = [str(row.get("backend")), str(row.get("workers"))]
    if row.get("status") != "ok":
        return [*head, str(row.get("status")), "", "", "", "", str(row.get("note", ""))]
    identical = "yes" if row.get("identical_to_serial") else "NO"
    if row.get("failed_sets"):
        identical += f" ({row['failed_sets']} sets failed)"
    return [
        *head,
        _fmt_float(row.get("backtests_per_s"), ".1f"),
        _fmt_float(row.get("ratio_to_serial"), ".2f", "x"),
        _fmt_float(row.get("end_to_end_s"), ".2f"),
        _fmt_float(row.get("startup_s"), ".2f"),
        _fmt_float(row.get("steady_backtests_per_s"), ".1f"),
        identical,
    ]


def _md_sweep_throughput(sweep: Mapping[str, Any]) -> list[str]:
    header = [
        "backend",
        "workers",
        "backtests/s",
        "ratio to serial",
        "end to end (s)",
        "start-up (s)",
        "steady backtests/s",
        "table identical",
    ]
    rows = sweep.get("rows", [])
    intro = (
        f"Case (p)'s SMA crossover as a parameter sweep: run_sweep(sma_objective) over "
        f"{sweep.get('sets')} (fast, slow) sets, each a backtest of {sweep.get('symbols')} "
        f"symbols x {sweep.get('bars'):,} daily bars, on each backend. Timed end to end (pool "
        "or LocalCluster start, data shipped once, every backtest, shutdown), median of "
        f"{sweep.get('repeats')} run(s); backtests/s = sets / that median. Start-up and the "
        "steady rate come from a line through that time and a probe sweep of one set per "
        "worker (start-up includes the workers' imports and kernel loading). Serial runs in "
        "this process, its numba kernels on every core; the parallel backends run one "
        "kernel thread per worker. 'table identical': the ranked table equals serial's "
        "(assert_frame_equal, exact)."
    )
    verdict = "identical on every backend." if sweep.get("identical") else "NOT identical."
    duration = sweep.get("duration_s")
    if duration is not None:
        verdict += f" The measurement took {duration:.0f} s."
    return [
        "## (p) Sweep throughput",
        "",
        intro,
        "",
        *_md_table(header, [_sweep_cells(r) for r in rows]),
        "",
        f"Tables: {verdict}",
        "",
    ]


def write_report(report: Mapping[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write ``bench.json`` and ``bench.md`` into ``out_dir`` (created if needed).

    Parameters
    ----------
    report : mapping
        The report to write.
    out_dir : Path
        Output directory.

    Returns
    -------
    tuple of Path
        The JSON and Markdown paths.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / JSON_NAME, out_dir / MARKDOWN_NAME
    json_path.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    md_path.write_text(render_markdown(report), encoding="utf-8")
    return json_path, md_path


def _summary_note(row: Mapping[str, Any]) -> str:
    if row["status"] != "ok":
        return f"skipped: {row['note'].split(' (')[0]}"
    if row.get("extrapolated"):
        return f"scaled from {row['n_timed']:,}"
    return ""


def _summary_target(target: Mapping[str, Any] | None) -> str:
    if not target:
        return ""
    verdict = {True: "met", False: "NOT MET", None: "n/a"}[target["met"]]
    if target.get("relative_to"):
        ratio = "" if target["value"] is None else f" ({target['value']:.2g}x)"
        return f"<= {target['limit']:g}x {target['relative_to']}: {verdict}{ratio}"
    unit = "ms" if target["metric"] == "median_ms" else "ns/opt"
    return f"<= {target['limit']:g} {unit}: {verdict}"


def _summary_cells(row: Mapping[str, Any]) -> list[str]:
    if row["status"] != "ok":
        return ["-"] * 5
    return [
        format_duration(row["median_ms"]),
        format_duration(row["min_ms"]),
        str(row["repeats"]),
        _fmt_count(row["ns_per_option"]),
        _fmt_ratio(row),
    ]


def render_summary(report: Mapping[str, Any]) -> Table:
    """Return a rich table summarising every case and the first-call costs.

    A title row per case with its target verdict, then one row per contender: median and min
    (full batch), repeats, ns per item (option, bar or return: the case's unit), time relative
    to greekfire, and the extrapolation or skip reason. The Markdown report has the details.

    Parameters
    ----------
    report : mapping
        A report as returned by ``run_bench`` or loaded from ``bench.json``.

    Returns
    -------
    rich.table.Table
    """
    table = Table(
        title="greekfire bench",
        caption=_caption(report),
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("implementation", no_wrap=True, max_width=22)
    for header in ("median", "min", "reps", "ns/item", "vs gf"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("note", min_width=14)
    for case in report["cases"]:
        title = Text(case.get("short") or case["key"], style="bold")
        table.add_row(title, *[""] * 5, _summary_target(case.get("target")))
        for row in case["rows"]:
            table.add_row(f"  {row['key']}", *_summary_cells(row), _summary_note(row))
        table.add_section()
    if report["first_call"]:
        table.add_row(Text("first calls", style="bold"), *[""] * 5, "fresh process")
    for row in report["first_call"]:
        cells = _first_call_cells(row)
        note = f"{cells[1]} cold, {cells[2]} warm" if row["status"] == "ok" else cells[5]
        table.add_row(f"  {row['kernel']}", *[""] * 5, note)
    sweep = report.get("sweep_throughput")
    if sweep:
        table.add_section()
        identical = "same tables" if sweep.get("identical") else "tables DIFFER"
        heading = Text(f"(p) sweep {sweep.get('sets')} sets", style="bold")
        table.add_row(heading, *[""] * 5, identical)
        for row in sweep.get("rows", []):
            table.add_row(f"  {row['backend']}", *_summary_sweep_cells(row))
    return table


def _summary_sweep_cells(row: Mapping[str, Any]) -> list[str]:
    if row.get("status") != "ok":
        return [*["-"] * 5, f"{row.get('status')}: {row.get('note', '')}"]
    samples = row.get("samples_s") or []
    ratio = row.get("ratio_to_serial")
    note = f"{_fmt_float(row.get('backtests_per_s'), '.1f')}/s"
    if row.get("startup_s") is not None:
        note += f", start {row['startup_s']:.1f} s"
    return [
        format_duration(1e3 * row["end_to_end_s"]),
        format_duration(1e3 * min(samples)) if samples else "-",
        str(row.get("repeats", "")),
        "",
        "" if ratio is None else f"{1.0 / ratio:.2g}" if ratio > 0 else "-",
        note,
    ]


def _caption(report: Mapping[str, Any]) -> str:
    m = report.get("machine", {})
    return (
        f"{report.get('date_utc', '')} | {m.get('cpu_model', '?')}, {m.get('logical_cores')} cores"
        " | vs gf = time / greekfire time, same run"
    )
