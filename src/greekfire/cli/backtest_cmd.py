"""``greekfire backtest``: the live strategy code over history, with a saved result and report.

The bars come from the configured data source: the synthetic market (the default), a files
directory, or the local history store. Heavy imports happen inside the functions.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    import pandas as pd

    from greekfire.backtest.results import BacktestResult
    from greekfire.settings import Settings

__all__ = ["backtest_command", "check_window", "history_bars", "run_backtest"]

_WARMUP_DAYS = 120  # calendar days of bars before start, for the indicators' warm-up


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"expected a date YYYY-MM-DD, got {value!r}", param_hint=f"'{option}'"
        ) from None


def check_window(start: str, end: str, fill: str) -> tuple[date, date]:
    """The ``--start``/``--end`` dates and the ``--fill`` model, checked (typer errors name the
    option and the value)."""
    first, last = _day(start, "--start"), _day(end, "--end")
    if last < first:
        raise typer.BadParameter(f"--end {last} is before --start {first}", param_hint="'--end'")
    if fill not in ("close", "next_open"):
        raise typer.BadParameter(
            f"expected 'close' or 'next_open', got {fill!r}", param_hint="'--fill'"
        )
    return first, last


def history_bars(settings: Settings, start: date, end: date) -> dict[str, pd.DataFrame]:
    """Daily bars of ``settings.engine.symbols`` from ``start`` minus a warm-up to ``end``
    (inclusive), from the configured data source."""
    import asyncio

    import pandas as pd

    from greekfire.domain.market import Timeframe
    from greekfire.engine.clock import SimulatedClock
    from greekfire.engine.wiring import build_provider
    from greekfire.settings import Secrets

    lo = pd.Timestamp(start, tz="UTC") - pd.Timedelta(days=_WARMUP_DAYS)
    hi = pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1)
    symbols = settings.engine.symbols
    clock = SimulatedClock(hi + pd.Timedelta(days=1))
    provider = build_provider(settings.data, clock, Secrets(), symbols)

    async def fetch() -> dict[str, pd.DataFrame]:
        frames = await asyncio.gather(*(provider.bars(s, lo, hi, Timeframe.D1) for s in symbols))
        return {s: f for s, f in zip(symbols, frames, strict=True) if len(f)}

    return asyncio.run(fetch())


def run_backtest(
    settings: Settings,
    start: date,
    end: date,
    *,
    strategy: str | None = None,
    fill: str = "close",
    chains: str = "auto",
    out: Path | None = None,
) -> tuple[BacktestResult, Path | None]:
    """Run the event backtest of the configured strategies (or only ``strategy``) and, with
    ``out``, save the result and write its HTML report; returns (result, report path)."""
    import pandas as pd

    from greekfire.backtest.event import EventBacktester
    from greekfire.backtest.report import write_report
    from greekfire.errors import ConfigError

    if strategy is not None:
        chosen = tuple(s for s in settings.strategies if s.name == strategy)
        if not chosen:
            names = ", ".join(s.name for s in settings.strategies) or "none"
            raise ConfigError("strategy", f"no strategy named {strategy!r} (configured: {names})")
        settings = settings.model_copy(update={"strategies": chosen})
    bars = history_bars(settings, start, end)
    tester = EventBacktester(
        settings,
        bars,
        fill="next_open" if fill == "next_open" else "close",
        start=pd.Timestamp(start, tz="UTC"),
        end=pd.Timestamp(end, tz="UTC"),
        chains=chains,
    )
    result = tester.run()
    report = None
    if out is not None:
        result.save(out)
        first = next(iter(bars))
        report = write_report(result, out, price=bars[first]["close"], symbol=first)
    return result, report


def _stats_table(result: BacktestResult) -> Table:
    stats = result.stats()
    table = Table(title="backtest statistics", title_justify="left")
    table.add_column("metric")
    columns = list(stats.columns)[:8]
    for column in columns:
        table.add_column(str(column), justify="right")
    for metric, row in stats.iterrows():
        cells: list[str] = []
        for column in columns:
            value: Any = row[column]
            cells.append(f"{value:,.4g}" if isinstance(value, float) else str(value))
        table.add_row(str(metric), *cells)
    return table


def backtest_command(
    *,
    config: Annotated[
        Path | None, typer.Option("--config", help="trading_config.yaml.", dir_okay=False)
    ] = None,
    strategy: Annotated[
        str | None, typer.Option(help="Backtest only this configured strategy (its name).")
    ] = None,
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.")] = "2025-01-02",
    end: Annotated[str, typer.Option(help="Last day, YYYY-MM-DD.")] = "2025-12-31",
    fill: Annotated[
        str, typer.Option(help="Fill at the signal bar's 'close' or the 'next_open'.")
    ] = "close",
    chains: Annotated[
        str,
        typer.Option(
            help="Option chains: 'auto' (synthetic when a strategy needs them),"
            " 'synthetic' or 'none'."
        ),
    ] = "auto",
    out: Annotated[
        Path, typer.Option(help="Where the result (JSON + Parquet) and report go.")
    ] = Path("backtest-run"),
) -> None:
    """Backtest the configured strategies over daily history with the live code path."""
    from greekfire.settings import load_settings

    first, last = check_window(start, end, fill)
    if chains not in ("auto", "synthetic", "none"):
        raise typer.BadParameter(
            f"expected 'auto', 'synthetic' or 'none', got {chains!r}", param_hint="'--chains'"
        )
    settings = load_settings(config)
    console = Console()
    started = time.perf_counter()
    result, report = run_backtest(
        settings, first, last, strategy=strategy, fill=fill, chains=chains, out=out
    )
    seconds = time.perf_counter() - started
    console.print(_stats_table(result))
    console.print(
        f"{len(result.trades)} trades; total return "
        + ", ".join(f"{k} {v:+.2%}" for k, v in result.total_return().items())
        + f" ({seconds:.1f} s)",
        highlight=False,
    )
    console.print(f"report: {report}  (result saved in {out}/)", highlight=False)
