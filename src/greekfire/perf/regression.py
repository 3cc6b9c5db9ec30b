"""Benchmark regression detection: a bench run's medians against a baseline.

Pure functions: :func:`compare_to_baseline` reads numbers and returns a
:class:`RegressionReport`; the CLI (``greekfire bench --compare ... --fail-over 20%``) decides
what a regression does to the exit code. :func:`load_benchmark_json` reads an earlier
``bench.json`` or a flat ``{"case/implementation": seconds}`` object.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

__all__ = [
    "RegressionEntry",
    "RegressionReport",
    "RegressionStatus",
    "bench_report_medians",
    "compare_to_baseline",
    "load_benchmark_json",
    "parse_tolerance",
]


class RegressionStatus(StrEnum):
    """How one benchmark compares with its baseline: ``slower`` beyond the tolerance (a
    regression), ``ok`` within it either way, ``faster`` beyond it, ``new`` (absent from the
    baseline), ``missing`` (in the baseline, not measured now: skipped or not selected)."""

    SLOWER = "slower"
    OK = "ok"
    FASTER = "faster"
    NEW = "new"
    MISSING = "missing"


@dataclass(frozen=True, slots=True)
class RegressionEntry:
    """One benchmark's comparison.

    Attributes
    ----------
    name : str
        Benchmark key (``"case/implementation"`` for bench reports).
    baseline_s, current_s : float or None
        Median seconds; None where the benchmark is absent.
    ratio : float or None
        ``current_s / baseline_s`` (> 1 is slower); None unless both exist.
    status : RegressionStatus
    """

    name: str
    baseline_s: float | None
    current_s: float | None
    ratio: float | None
    status: RegressionStatus


@dataclass(frozen=True, slots=True)
class RegressionReport:
    """The result of :func:`compare_to_baseline`, entries sorted by name.

    Attributes
    ----------
    entries : tuple of RegressionEntry
    tolerance : float
        Allowed relative slowdown (0.2 = 20 %).
    """

    entries: tuple[RegressionEntry, ...]
    tolerance: float

    @property
    def regressions(self) -> tuple[RegressionEntry, ...]:
        """The ``slower`` entries, worst ratio first."""
        slower = [e for e in self.entries if e.status is RegressionStatus.SLOWER]
        return tuple(sorted(slower, key=lambda e: -(e.ratio or 0.0)))

    @property
    def has_regressions(self) -> bool:
        """True when any benchmark is slower than the baseline beyond the tolerance."""
        return bool(self.regressions)

    def by_status(self, status: RegressionStatus) -> tuple[RegressionEntry, ...]:
        """The entries with ``status``."""
        return tuple(e for e in self.entries if e.status is status)

    def format_text(self) -> str:
        """A plain-text table, one line per benchmark, then a one-line verdict."""
        width = max([len(e.name) for e in self.entries] + [9])
        lines = [f"{'benchmark':<{width}}  {'baseline':>10}  {'current':>10}  {'ratio':>7}  status"]
        for e in self.entries:
            ratio = "-" if e.ratio is None else f"{e.ratio:.2f}x"
            lines.append(
                f"{e.name:<{width}}  {_fmt_s(e.baseline_s):>10}  {_fmt_s(e.current_s):>10}  "
                f"{ratio:>7}  {e.status.value}"
            )
        n = len(self.regressions)
        lines.append(
            f"{n} regression(s) beyond {self.tolerance:.0%}"
            if n
            else f"no regression beyond {self.tolerance:.0%}"
        )
        return "\n".join(lines)


def _fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def _checked_seconds(name: str, value: float, which: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{which}[{name!r}]: expected seconds as a number, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{which}[{name!r}]: expected positive finite seconds, got {value!r}")
    return float(value)


def _classify(ratio: float, tolerance: float) -> RegressionStatus:
    if ratio > 1.0 + tolerance:
        return RegressionStatus.SLOWER
    if ratio < 1.0 - tolerance:
        return RegressionStatus.FASTER
    return RegressionStatus.OK


def compare_to_baseline(
    current: Mapping[str, float], baseline: Mapping[str, float], tolerance: float = 0.2
) -> RegressionReport:
    """Compare benchmark medians with a baseline.

    A benchmark is ``slower`` when ``current / baseline > 1 + tolerance``, ``faster`` when
    the ratio is below ``1 - tolerance``, ``ok`` in between; ``new`` and ``missing`` mark
    names found on one side only (neither is a regression).

    Parameters
    ----------
    current, baseline : mapping of str to float
        Median seconds per benchmark name (see :func:`load_benchmark_json`).
    tolerance : float, default 0.2
        Allowed relative slowdown (0.2 = 20 %); see :func:`parse_tolerance` for "20%".

    Returns
    -------
    RegressionReport

    Raises
    ------
    ValueError
        A negative or non-finite tolerance, or a time that is not positive and finite.
    TypeError
        A time that is not a number.
    """
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be a finite fraction >= 0 (0.2 = 20%), got {tolerance!r}")
    entries = []
    for name in sorted(set(current) | set(baseline)):
        cur = _checked_seconds(name, current[name], "current") if name in current else None
        base = _checked_seconds(name, baseline[name], "baseline") if name in baseline else None
        if cur is None:
            entries.append(RegressionEntry(name, base, None, None, RegressionStatus.MISSING))
        elif base is None:
            entries.append(RegressionEntry(name, None, cur, None, RegressionStatus.NEW))
        else:
            ratio = cur / base
            entries.append(RegressionEntry(name, base, cur, ratio, _classify(ratio, tolerance)))
    return RegressionReport(tuple(entries), float(tolerance))


def parse_tolerance(text: str) -> float:
    """Parse ``"20%"`` or ``"0.2"`` into the fraction 0.2.

    Raises
    ------
    ValueError
        Not a number, or negative.
    """
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ValueError(f"expected a tolerance like '20%' or '0.2', got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"expected a non-negative tolerance like '20%' or '0.2', got {text!r}")
    return value


def bench_report_medians(report: Mapping[str, Any]) -> dict[str, float]:
    """Median seconds per ``"case/implementation"`` from a ``greekfire bench`` report.

    Skipped rows are left out (they show up as ``missing`` against a baseline that has them).

    Parameters
    ----------
    report : mapping
        The report dict (``reports/bench.json``): ``cases[*].key`` and ``cases[*].rows[*]``
        with ``key``, ``status`` and ``median_ms``.
    """
    medians: dict[str, float] = {}
    for case in report["cases"]:
        for row in case["rows"]:
            if row.get("status") == "ok":
                medians[f"{case['key']}/{row['key']}"] = float(row["median_ms"]) / 1e3
    return medians


def _is_flat(data: Mapping[str, Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in data.values())


def load_benchmark_json(path: str | Path) -> dict[str, float]:
    """Read benchmark medians (seconds) from either JSON shape.

    - a flat object ``{"name": seconds, ...}``;
    - a ``greekfire bench`` report (``reports/bench.json``): medians keyed
      ``"case/implementation"``, e.g. ``"e_indicators/greekfire"`` (see
      :func:`bench_report_medians`).

    Raises
    ------
    ValueError
        The JSON is neither shape.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, dict) and isinstance(data.get("cases"), list):
        try:
            return bench_report_medians(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: malformed bench report ({exc!r})") from exc
    if isinstance(data, dict) and _is_flat(data):
        return {str(k): float(v) for k, v in data.items()}
    raise ValueError(
        f"{path}: expected a flat {{name: seconds}} object or a greekfire bench report "
        "(with 'cases'), got something else"
    )
