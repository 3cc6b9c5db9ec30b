"""``greekfire reliability``: run the reliability suites and write their figures.

Exit 0 when every suite's guarantees held, 1 otherwise (each broken guarantee is printed).
Heavy imports happen inside the function.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["reliability_command"]


def reliability_command(
    *,
    out: Annotated[Path, typer.Option(help="Where results, curves and reliability.md go.")] = Path(
        "reports/reliability"
    ),
    short: Annotated[
        bool, typer.Option("--short", help="The short versions (what make test runs).")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of every suite's random choices.")] = 0,
    suites: Annotated[
        str | None,
        typer.Option(help="Comma-separated subset: faults,crash,corpus,soak,security."),
    ] = None,
    docs: Annotated[
        Path | None,
        typer.Option(
            help="Also replace the figures section of this document (docs/RELIABILITY.md).",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Fault injection, crash recovery, bad input, soak and security: run them, print figures."""
    from greekfire.reliability.runner import SUITES, run_suites, write_reports

    chosen = tuple(SUITES) if suites is None else tuple(s.strip() for s in suites.split(","))
    unknown = [s for s in chosen if s not in SUITES]
    if unknown or not chosen:
        raise typer.BadParameter(
            f"expected some of {','.join(SUITES)}, got {suites!r}", param_hint="'--suites'"
        )
    if docs is not None and not docs.is_file():
        raise typer.BadParameter(f"no document at {docs}", param_hint="'--docs'")
    console = Console()
    command = "greekfire " + shlex.join(["reliability", *sys.argv[2:]])
    results, info = run_suites(
        out,
        suites=chosen,
        short=short,
        seed=seed,
        command=command,
        progress=lambda line: console.print(line, highlight=False),
    )
    written = write_reports(results, info, out, docs=docs)
    for result in results:
        table = Table(title=f"{result.suite} ({result.seconds:.1f} s)", title_justify="left")
        table.add_column("figure")
        table.add_column("value", justify="right")
        for figure in result.figures:
            table.add_row(figure.name, f"{figure.value} {figure.unit}".strip())
        console.print(table)
        for failure in result.failures:
            console.print(f"  broken: {failure}", highlight=False, markup=False)
    console.print("reports: " + ", ".join(str(p) for p in written.values()), highlight=False)
    failed = [r.suite for r in results if not r.passed]
    if failed:
        console.print(f"FAILED: {', '.join(failed)}", highlight=False)
        raise typer.Exit(1)
    console.print(f"all {len(results)} suites passed in {info['seconds'] / 60:.1f} min")
