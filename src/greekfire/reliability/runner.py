"""Run the reliability suites and write their figures: ``greekfire reliability``.

:func:`run_suites` runs each suite (:data:`SUITES`, in that order) with the same output
directory, seed and length, and :func:`write_reports` writes ``reliability.json`` (every
result), ``reliability.md`` (the figures as tables, with the date, the command and the
machine) and, when asked, replaces the figures section of docs/RELIABILITY.md (between
:data:`BEGIN` and :data:`END`) with the same tables, so every figure the document quotes comes
from one run.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import shutil
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from greekfire.reliability.result import Figure, SuiteResult

__all__ = [
    "BEGIN",
    "END",
    "SUITES",
    "RunInfo",
    "render_markdown",
    "replace_section",
    "run_suites",
    "write_reports",
]

SUITES: Final = ("faults", "crash", "corpus", "soak", "security")
"""The suites: each a module ``greekfire.reliability.<name>`` with ``run(out_dir, *, ...)``."""

BEGIN: Final = "<!-- reliability-figures:begin -->"
END: Final = "<!-- reliability-figures:end -->"

Progress = Callable[[str], None]


class RunInfo(dict[str, Any]):
    """When, how and where the suites ran (``started``, ``command``, ``machine``, ``short``,
    ``seed``, ``seconds``): a dict, so it serialises as is."""


def _suite(name: str) -> Callable[..., SuiteResult]:
    if name not in SUITES:
        raise ValueError(f"suites: unknown suite {name!r}; expected some of {', '.join(SUITES)}")
    module = importlib.import_module(f"greekfire.reliability.{name}")
    runner: Callable[..., SuiteResult] = module.run
    return runner


def _machine() -> str:
    cpus = os.cpu_count() or 0
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {cpus} cores, Python {platform.python_version()}"


def run_suites(
    out_dir: Path,
    *,
    suites: Sequence[str] = SUITES,
    short: bool = False,
    seed: int = 0,
    command: str = "greekfire reliability",
    progress: Progress | None = None,
) -> tuple[list[SuiteResult], RunInfo]:
    """Run ``suites`` in order; a suite that raises is reported as failed, the others go on.

    Returns
    -------
    (list of SuiteResult, RunInfo)
    """
    runners = [(name, _suite(name)) for name in suites]  # unknown names fail before any run
    out_dir = Path(out_dir).resolve()  # suites hand paths to bots running in other directories
    out_dir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    clock = time.perf_counter()
    results: list[SuiteResult] = []
    for name, run in runners:
        if progress is not None:
            progress(f"{name}: running ({'short' if short else 'full'})")
        began = time.perf_counter()
        try:
            result = run(out_dir / name, short=short, seed=seed)
        except Exception as exc:  # a suite's own bug: report it, run the rest
            result = SuiteResult(
                suite=name,
                passed=False,
                failures=[f"the suite raised {type(exc).__name__}: {exc}"],
                seconds=time.perf_counter() - began,
                params={"short": short, "seed": seed},
            )
        results.append(result)
        if progress is not None:
            verdict = "passed" if result.passed else f"FAILED ({len(result.failures)})"
            progress(f"{name}: {verdict} in {result.seconds:.1f} s")
    info = RunInfo(
        started=started.isoformat(timespec="seconds"),
        command=command,
        machine=_machine(),
        short=short,
        seed=seed,
        seconds=time.perf_counter() - clock,
    )
    return results, info


def _value(figure: Figure) -> str:
    value = figure.value
    if isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, int):
        text = f"{value:,}"
    elif isinstance(value, float):
        text = f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    else:
        text = str(value)
    return f"{text} {figure.unit}".strip()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(
    results: Sequence[SuiteResult],
    info: RunInfo,
    link: Callable[[Path], str | None] | None = None,
) -> str:
    """The figures of every suite as Markdown tables, headed by the date, command, machine;
    each PNG curve is embedded as an image at ``link(path)`` (listed by name without one)."""
    total = sum(r.seconds for r in results)
    lines = [
        f"Run {info['started']} on {info['machine']}: `{info['command']}`"
        f" ({'short' if info['short'] else 'full'} version, seed {info['seed']},"
        f" {total / 60:.1f} min in all).",
        "",
        "| suite | verdict | time |",
        "| --- | --- | --- |",
    ]
    for r in results:
        verdict = "passed" if r.passed else f"**FAILED**: {len(r.failures)} broken guarantee(s)"
        lines.append(f"| {r.suite} | {verdict} | {r.seconds:.1f} s |")
    for r in results:
        lines += ["", f"### {r.suite}", ""]
        if r.params:
            shown = ", ".join(f"{k} {v}" for k, v in r.params.items())
            lines += [f"Parameters: {_cell(shown)}.", ""]
        lines += ["| figure | value | meaning |", "| --- | --- | --- |"]
        lines += [f"| {f.name} | {_cell(_value(f))} | {_cell(f.description)} |" for f in r.figures]
        if r.failures:
            lines += ["", "Broken guarantees:", ""]
            lines += [f"- {_cell(failure)}" for failure in r.failures]
        pictures = [p for p in r.artifacts if p.suffix == ".png"]
        links = [(p, link(p) if link is not None else None) for p in pictures]
        if any(target is None for _, target in links):
            lines += ["", "Curves: " + ", ".join(f"`{p.name}`" for p in pictures) + "."]
        else:
            lines += [""] + [f"![{p.stem}]({target})" for p, target in links]
    return "\n".join(lines) + "\n"


def replace_section(document: str, section: str) -> str:
    """``document`` with the text between :data:`BEGIN` and :data:`END` replaced by
    ``section``.

    Raises
    ------
    ValueError
        The markers are missing or out of order (the message names them).
    """
    start, stop = document.find(BEGIN), document.find(END)
    if start < 0 or stop < start:
        raise ValueError(f"document: expected the markers {BEGIN} ... {END} in this order")
    return document[: start + len(BEGIN)] + "\n" + section + document[stop:]


def write_reports(
    results: Sequence[SuiteResult],
    info: RunInfo,
    out_dir: Path,
    *,
    docs: Path | None = None,
) -> dict[str, Path]:
    """Write ``reliability.json`` and ``reliability.md`` under ``out_dir`` and, with ``docs``,
    the figures section of that document, its PNG curves copied beside it (into
    ``<docs dir>/reliability/``); returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {"run": dict(info), "suites": [r.to_dict() for r in results]}
    written = {"json": out_dir / "reliability.json", "markdown": out_dir / "reliability.md"}
    written["json"].write_text(json.dumps(payload, indent=2, default=str) + "\n", "utf-8")
    section = render_markdown(results, info, lambda path: _relative(path, out_dir))
    written["markdown"].write_text("# Reliability figures\n\n" + section, "utf-8")
    if docs is not None:
        images = docs.parent / "reliability"
        copied: dict[Path, str] = {}
        for result in results:
            for path in result.artifacts:
                if path.suffix == ".png" and path.is_file():
                    images.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, images / path.name)
                    copied[path] = f"{images.name}/{path.name}"
        section = render_markdown(results, info, copied.get)
        docs.write_text(replace_section(docs.read_text("utf-8"), section), "utf-8")
        written["docs"] = docs
    return written


def _relative(path: Path, base: Path) -> str | None:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:  # outside the report directory: listed by name
        return None
