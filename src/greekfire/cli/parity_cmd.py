"""``greekfire parity``: replay a recorded run through the backtester and show where they part.

Exit codes: 0 the replay traded exactly what the run traded; 3 they differ (the differences are
printed and, with ``--out``, saved); 2 a bad option, journal or config; 1 an unexpected error.
Heavy imports happen inside the functions.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from greekfire.backtest.parity import ParityReport

__all__ = ["EXIT_DIFFERENT", "parity_command", "parity_table"]

EXIT_DIFFERENT = 3
"""Exit code when the replay's fills differ from the run's."""

_SHOWN = 20  # differences printed


def parity_table(report: ParityReport) -> Table:
    """Fills per strategy, live and replayed, and how many pairs are identical."""
    table = Table(title="parity: live run vs replay", title_justify="left")
    for name in ("strategy", "live fills", "replay fills", "identical"):
        table.add_column(name, justify="left" if name == "strategy" else "right")
    by = report.by_strategy()
    for strategy, row in by.iterrows():
        table.add_row(
            str(strategy), str(row["live_fills"]), str(row["replay_fills"]), str(row["same"])
        )
    counts = report.counts()
    table.add_row(
        "all",
        str(counts["live_fills"]),
        str(counts["replay_fills"]),
        str(counts["same"]),
        style="bold",
    )
    return table


def _when(value: str | None, option: str) -> str | None:
    if value is None:
        return None
    import pandas as pd

    try:
        pd.Timestamp(value)
    except (TypeError, ValueError):
        raise typer.BadParameter(
            f"expected a date or a timestamp (YYYY-MM-DD[THH:MM[+00:00]]), got {value!r}",
            param_hint=f"'{option}'",
        ) from None
    return value


def parity_command(
    *,
    journal: Annotated[
        Path, typer.Option("--journal", help="The run's journal (greekfire.db).", dir_okay=False)
    ] = Path("greekfire.db"),
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="Replay with this config instead of the run's own.", dir_okay=False
        ),
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="Compare fills from this time (UTC; a date is 00:00).")
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="Compare fills up to this time; the replay stops there.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Save parity.json and parity_fills.parquet here.")
    ] = None,
) -> None:
    """Replay a paper or live run from its journal through the backtester; diff the fills."""
    from greekfire.backtest.parity import parity
    from greekfire.errors import ConfigError
    from greekfire.settings import load_settings

    if not journal.is_file():
        raise ConfigError("journal", f"no journal at {journal}; run `greekfire run` first")
    settings = load_settings(config) if config is not None else None
    console = Console()
    started = time.perf_counter()
    try:
        report = parity(
            journal,
            settings=settings,
            settings_from=str(config) if config is not None else "journal",
            start=_when(start, "--start"),
            end=_when(end, "--end"),
        )
    except ValueError as exc:
        raise ConfigError("journal", str(exc)) from None
    seconds = time.perf_counter() - started
    console.print(parity_table(report))
    equity = report.equity_usd
    console.print(
        f"{report.cycles} cycles replayed in {seconds:.1f} s (settings: {report.settings_from};"
        f" live broker {report.live_broker}, replay paper; {report.runs} engine start(s));"
        f" equity live {equity.get('live', float('nan')):,.2f},"
        f" replay {equity.get('replay', float('nan')):,.2f}",
        highlight=False,
    )
    if out is not None:
        console.print(f"saved: {report.save(out)}", highlight=False)
    if report.errors:
        console.print(f"replay cycle errors: {len(report.errors)}; first: {report.errors[0]}")
    if report.identical:
        console.print("identical: the replay traded exactly what the run traded", highlight=False)
        return
    lines = report.differences(limit=_SHOWN)
    console.print(f"DIFFERENT: {len(report.differences())} fill(s) differ", highlight=False)
    for line in lines:
        console.print(f"  {line}", highlight=False, markup=False)
    raise typer.Exit(EXIT_DIFFERENT)
