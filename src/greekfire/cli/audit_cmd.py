"""``greekfire audit``: known vulnerabilities in the locked dependencies (pip-audit).

Exit 0 when every dependency pip-audit looked up is clean (or its vulnerability is accepted in
:data:`~greekfire.reliability.security_static.AUDIT_ACCEPTED`), 1 when a vulnerability is not
accepted, 4 with ``--strict`` when pip-audit could look nothing up (no route to PyPI's JSON
API): without ``--strict`` that case is printed as NOT AUDITED, never as clean.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

__all__ = ["audit_command"]

EXIT_NOT_AUDITED = 4
"""Exit code of ``--strict`` when no dependency could be looked up."""


def audit_command(
    *,
    requirement: Annotated[
        Path | None,
        typer.Option(
            help="A pinned requirements file (the lock, constraints.txt); default: the lock of"
            " this checkout when there is one, else the installed environment.",
            dir_okay=False,
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Where pip-audit.json goes.")] = Path("reports/audit"),
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Exit 4 when pip-audit could look no dependency up."),
    ] = False,
) -> None:
    """Audit the locked dependencies for known vulnerabilities (pip-audit, PyPI's database)."""
    from greekfire.reliability.security_static import LOCK, pip_audit

    if requirement is not None and not requirement.is_file():
        raise typer.BadParameter(f"no file at {requirement}", param_hint="'--requirement'")
    target = requirement if requirement is not None else (LOCK if LOCK.is_file() else None)
    console = Console()
    result = pip_audit(out, target)
    console.print(
        f"pip-audit on {result.source}: {result.audited} dependencies looked up,"
        f" {result.skipped} not, {result.found} vulnerabilities"
        f" ({len(result.unaccepted)} not accepted); report {out / 'pip-audit.json'}",
        highlight=False,
    )
    for vuln in result.unaccepted:
        console.print(f"  vulnerable: {vuln}", highlight=False, markup=False)
    if result.unaccepted:
        raise typer.Exit(1)
    if result.audited == 0:
        console.print(f"NOT AUDITED: {result.note}", highlight=False, markup=False)
        if strict:
            raise typer.Exit(EXIT_NOT_AUDITED)
