"""Run one benchmark case: every contender on the same workload, side by side.

A case builds its workload once, prepares and times each contender in turn (a contender that
cannot run, or fails while timed, is reported as skipped with its reason), optionally checks
the outputs, then expresses every time relative to the headline contender measured in the
same run.

A case counts its size in units (``CaseSpec.unit``: options, or symbol-bars for the
indicator cases); the JSON keeps the historical names ``n_options`` and ``ns_per_option`` for
the count and the time per unit. Times of subsampled contenders are extrapolated linearly:
the per-unit cost measured on the first ``subsample`` items times the case size. The row says
so (``extrapolated``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, Self, TypeVar

from greekfire.bench.contenders import Contender, Results, Unavailable
from greekfire.bench.timing import RepeatPolicy, Timing, measure

__all__ = ["Batch", "CaseSpec", "Policies", "Target", "load_average", "numba_threads", "run_case"]

Progress = Callable[[str], None]


class Batch(Protocol):
    """A workload: its size in units and a way to take the first ``m`` items (options, or
    symbols for the series workloads) of it."""

    @property
    def n(self) -> int:
        """Size in units (options, symbol-bars ...)."""
        ...

    def head(self, m: int) -> Self:
        """Return the first ``m`` items."""
        ...


B = TypeVar("B", bound=Batch)
Check = Callable[[B, Mapping[str, Results]], dict[str, dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Target:
    """A performance target on the headline contender.

    Attributes
    ----------
    metric : str
        ``"median_ms"`` (full-batch median) or ``"ns_per_option"`` (per unit of the case).
    limit : float
        The target is met when the metric is ``<= limit`` (absolute target), or when the
        headline's metric is ``<= limit`` times the reference contender's (relative target).
    relative_to : str, optional
        Key of the reference contender, measured in the same run (``"talib"``): the target is
        then on the ratio headline / reference.
    """

    metric: str
    limit: float
    relative_to: str | None = None

    def evaluate(
        self, row: Mapping[str, Any], rows: Sequence[Mapping[str, Any]] = ()
    ) -> dict[str, Any]:
        """Return the target with the measured value and whether it is met.

        Parameters
        ----------
        row : mapping
            The headline row of ``run_case``; a skipped row gives ``value = None, met = None``.
        rows : sequence of mapping
            Every row of the case (a relative target looks its reference up there).

        Returns
        -------
        dict
            ``metric, limit, value, met``; a relative target's ``value`` is the ratio and it
            adds ``relative_to``, ``headline_value`` and ``reference_value`` (the two metrics).
        """
        value = row.get(self.metric)
        if self.relative_to is None:
            met = None if value is None else bool(value <= self.limit)
            return {"metric": self.metric, "limit": self.limit, "value": value, "met": met}
        ref_row = next((r for r in rows if r.get("key") == self.relative_to), {})
        ref = ref_row.get(self.metric)
        ratio = None if value is None or not ref else value / ref
        return {
            "metric": self.metric,
            "limit": self.limit,
            "relative_to": self.relative_to,
            "value": ratio,
            "headline_value": value,
            "reference_value": ref,
            "met": None if ratio is None else bool(ratio <= self.limit),
        }


@dataclass(frozen=True, slots=True)
class Policies:
    """Repeat policies for fast and slow contenders."""

    fast: RepeatPolicy
    slow: RepeatPolicy


@dataclass(frozen=True, slots=True)
class CaseSpec(Generic[B]):
    """A benchmark case.

    Attributes
    ----------
    key : str
        Stable identifier in the report (``"a_bsm_50k"`` ...).
    title : str
        One-line title for tables.
    description : str
        What is measured and how, for the Markdown report.
    make_workload : callable
        Builds the (deterministic) workload.
    contenders : tuple of Contender
        The implementations, headline first.
    check : callable, optional
        ``check(workload, results_by_key) -> {key: metrics}``; untimed.
    target : Target, optional
        Target on the headline contender.
    headline : str
        Key of the contender the ratios are relative to.
    short : str
        A few characters for narrow tables (``"a 50k greeks"``); defaults to ``key``.
    unit : str
        What ``n`` counts, singular (``"option"``, ``"bar"``): column headers and notes.
    teardown : callable, optional
        Called once after the case (also when it fails): stops the pools, clusters and
        servers its contenders started, so they do not idle through the later cases.
    """

    key: str
    title: str
    description: str
    make_workload: Callable[[], B]
    contenders: tuple[Contender[B], ...]
    check: Check[B] | None = None
    target: Target | None = None
    headline: str = "greekfire"
    short: str = ""
    unit: str = "option"
    teardown: Callable[[], None] | None = None


@contextmanager
def numba_threads(threads: int | None) -> Iterator[None]:
    """Run the block with numba's parallel loops limited to ``threads`` threads.

    Parameters
    ----------
    threads : int or None
        Thread count (capped at ``NUMBA_NUM_THREADS``); None changes nothing.
    """
    if threads is None:
        yield
        return
    import numba

    config: Any = numba.config
    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(threads, int(config.NUMBA_NUM_THREADS))))
    try:
        yield
    finally:
        numba.set_num_threads(before)


def _skipped_row(c: Contender[Any], n: int, reason: str) -> dict[str, Any]:
    return {
        "key": c.key,
        "label": c.label,
        "status": "skipped",
        "note": reason,
        "n_options": n,
        "metrics": {},
    }


def _timed_row(
    c: Contender[Any], n: int, m: int, timing: Timing, unit: str = "option"
) -> dict[str, Any]:
    scale = n / m
    note = c.note
    if m < n:
        note = f"extrapolated from a {m:,}-{unit} subsample (x{scale:g}). {note}".strip()
    return {
        "key": c.key,
        "label": c.label,
        "status": "ok",
        "note": note,
        "n_options": n,
        "n_timed": m,
        "extrapolated": m < n,
        "numba_threads": c.threads,
        "repeats": timing.repeats,
        "warmup": timing.warmup,
        "median_ms": timing.median_ns * scale / 1e6,
        "min_ms": timing.min_ns * scale / 1e6,
        "ns_per_option": timing.median_ns / m,
        "timed_median_ns": timing.median_ns,
        "timed_min_ns": timing.min_ns,
        "timed_max_ns": timing.max_ns,
        "timed_iqr_ns": timing.iqr_ns,
        "samples_ns": list(timing.samples_ns),
        "ratio_to_headline": None,
        "metrics": {},
    }


def _run_contender(
    c: Contender[B], workload: B, policies: Policies, unit: str = "option"
) -> tuple[dict[str, Any], Results | None]:
    batch = workload if c.subsample is None else workload.head(c.subsample)
    try:
        prepared = c.prepare(batch)
    except Unavailable as exc:
        return _skipped_row(c, workload.n, str(exc)), None
    try:
        with numba_threads(c.threads):
            timing = measure(prepared.call, policies.slow if c.slow else policies.fast)
    except Exception as exc:  # a peer that breaks mid-run must not sink the other rows
        return _skipped_row(c, workload.n, f"failed: {type(exc).__name__}: {exc}"), None
    return _timed_row(c, workload.n, batch.n, timing, unit), prepared.results()


def _add_ratios(rows: list[dict[str, Any]], headline: str) -> None:
    base = next((r for r in rows if r["key"] == headline and r["status"] == "ok"), None)
    if base is None:
        return
    for row in rows:
        if row["status"] == "ok":
            row["ratio_to_headline"] = row["median_ms"] / base["median_ms"]


def run_case(
    spec: CaseSpec[B], policies: Policies, progress: Progress | None = None
) -> dict[str, Any]:
    """Run every contender of ``spec`` on one workload and return the case report.

    Parameters
    ----------
    spec : CaseSpec
        The case.
    policies : Policies
        Repeat policies (fast contenders / slow contenders).
    progress : callable, optional
        Called with a short message before each contender.

    Returns
    -------
    dict
        ``key, title, short, description, unit, n_options`` (the size in units),
        ``headline, target, load_average_1m`` (before, after) and ``rows`` (JSON-ready); each row
        has ``status`` ``"ok"`` (timings, ``ratio_to_headline`` = its median / the headline's)
        or ``"skipped"`` (``note`` says why).
    """
    say = progress or (lambda _msg: None)
    say(f"{spec.key}: building workload")
    workload = spec.make_workload()
    load_before = load_average()
    rows: list[dict[str, Any]] = []
    results: dict[str, Results] = {}
    try:
        for c in spec.contenders:
            say(f"{spec.key}: {c.label}")
            row, res = _run_contender(c, workload, policies, spec.unit)
            rows.append(row)
            if res is not None:
                results[c.key] = res
    finally:
        if spec.teardown is not None:
            spec.teardown()
    if spec.check is not None:
        for key, metrics in spec.check(workload, results).items():
            next(r for r in rows if r["key"] == key)["metrics"].update(metrics)
    _add_ratios(rows, spec.headline)
    head = next((r for r in rows if r["key"] == spec.headline), {})
    return {
        "key": spec.key,
        "title": spec.title,
        "short": spec.short or spec.key,
        "description": spec.description,
        "unit": spec.unit,
        "n_options": workload.n,
        "headline": spec.headline,
        "target": None if spec.target is None else spec.target.evaluate(head, rows),
        "load_average_1m": [load_before, load_average()],
        "rows": rows,
    }


def load_average() -> float | None:
    """Return the 1-minute system load average (None where the OS does not report it).

    Above the core count, other processes compete for the CPU and times are inflated.
    """
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None
