"""The trading commands: ``run``, ``demo``, ``status``, ``positions``, ``orders`` and ``init``.

``register(app)`` adds them to the root command. Heavy imports (the engine, pandas, numba)
happen inside the commands, so ``greekfire --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import math
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.live import Live

from greekfire.cli.audit_cmd import audit_command
from greekfire.cli.backtest_cmd import backtest_command
from greekfire.cli.dashboard_cmd import dashboard_command
from greekfire.cli.parity_cmd import parity_command
from greekfire.cli.reliability_cmd import reliability_command
from greekfire.cli.sweep_cmd import sweep_command

if TYPE_CHECKING:
    from greekfire.engine.engine import CycleReport, TradingEngine
    from greekfire.settings import Settings

__all__ = ["DEMO_START", "demo_settings", "register"]

DEMO_START = "2026-11-09T14:35:00+00:00"
"""Monday 9 November 2026, 09:35 New York: the demo's simulated week starts here."""

_DEMO_WHEEL = ("AAPL", "INTC")
_DEMO_MOMENTUM = ("SPY", "MSFT", "NVDA", "AAPL", "INTC", "F")


def _load(config: Path | None) -> Settings:
    from greekfire.settings import load_settings

    return load_settings(config)


def _with(settings: Settings, section: str, **changes: Any) -> Settings:
    part = getattr(settings, section).model_copy(update=changes)
    return settings.model_copy(update={section: part})


def _engine_view(engine: TradingEngine, reports: list[CycleReport]) -> Any:
    from greekfire.cli.live import cycle_view

    positions = engine.broker.positions()
    return cycle_view(
        reports[-1],
        reports,
        engine.broker.account(),
        positions,
        engine.snapshot.marks(positions),
        engine.get_cache_stats(),
    )


@contextlib.contextmanager
def _live_view(console: Console, enabled: bool) -> Iterator[Live | None]:
    if not enabled:
        yield None
        return
    with Live(console=console, refresh_per_second=4, transient=False) as live:
        yield live


def _final_state(engine: TradingEngine) -> dict[str, Any]:
    from greekfire.domain.portfolio import portfolio_greeks

    positions = engine.broker.positions()
    greeks = portfolio_greeks(
        positions.values(),
        engine.snapshot.option_greeks(positions),
        engine.snapshot.spots(positions),
    )
    return {
        "account": engine.broker.account(),
        "positions": positions,
        "marks": engine.snapshot.marks(positions),
        "greeks": greeks,
        "cache": engine.get_cache_stats(),
    }


def _run_engine(
    engine: TradingEngine,
    interval_s: float,
    cycles: int | None,
    console: Console,
    live_view: bool,
    final: dict[str, Any] | None = None,
    pace_s: float | None = None,
) -> list[CycleReport]:
    import threading

    from greekfire.engine.runner import run_continuous

    reports: list[CycleReport] = []
    stop = threading.Event()  # set by the runner on Ctrl-C: it also ends a pacing wait

    with _live_view(console, live_view) as live:

        def on_cycle(report: CycleReport) -> None:
            reports.append(report)
            if final is not None:
                final.update(_final_state(engine))
            if live is not None:
                live.update(_engine_view(engine, reports))
            else:
                done = "traded" if report.skipped is None else report.skipped
                total = report.timings_s.get("total", math.nan) * 1000
                console.print(
                    f"cycle {report.cycle:>4}  {report.ts:%a %Y-%m-%d %H:%M}  {done:<14}"
                    f"  {total:8.1f} ms  {report.counts}"
                    + (f"  errors: {len(report.errors)}" if report.errors else ""),
                    highlight=False,
                )
            if pace_s is not None:
                stop.wait(pace_s)

        summary = run_continuous(
            engine, interval_s, max_cycles=cycles, stop=stop, on_cycle=on_cycle
        )
    console.print(
        f"stopped after {summary.cycles} cycles ({summary.failed} failed, {summary.skipped}"
        f" skipped): {summary.stopped_by}",
        highlight=False,
    )
    return reports


def run_command(
    *,
    config: Annotated[
        Path | None, typer.Option("--config", help="trading_config.yaml.", dir_okay=False)
    ] = None,
    paper: Annotated[bool, typer.Option("--paper", help="Trade on the paper broker.")] = False,
    live: Annotated[
        bool, typer.Option("--live", help="Trade through the configured Alpaca account.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Decide and journal; send nothing.")
    ] = False,
    cycles: Annotated[int | None, typer.Option(help="Stop after this many cycles.", min=1)] = None,
    interval: Annotated[
        str | None, typer.Option(help="Time between cycles (30s, 5m, 1h) [engine.interval_s].")
    ] = None,
    plain: Annotated[
        bool, typer.Option("--plain", help="One line per cycle, no live view.")
    ] = False,
    pace: Annotated[
        str | None,
        typer.Option(
            help="Simulated clock only: wall time to wait after each cycle (1s), so that a"
            " simulated run can be watched on the dashboard."
        ),
    ] = None,
    dashboard: Annotated[
        bool,
        typer.Option(
            "--dashboard", help="Serve the web dashboard and /metrics [dashboard.enabled]."
        ),
    ] = False,
    dashboard_host: Annotated[
        str | None, typer.Option(help="Dashboard address [dashboard.host].")
    ] = None,
    dashboard_port: Annotated[
        int | None,
        typer.Option(help="Dashboard port, 0 for a free one [dashboard.port].", min=0, max=65535),
    ] = None,
) -> None:
    """Run the trading bot: cycles of fetch, indicators, strategies, risk, orders, journal."""
    from greekfire.cli.dashboard_cmd import announce, check_dashboard_bind, start_bot_dashboard
    from greekfire.engine.clock import parse_interval
    from greekfire.engine.engine import TradingEngine
    from greekfire.engine.logs import configure_logging
    from greekfire.settings import load_secrets

    if paper and live:
        raise typer.BadParameter("choose one of --paper and --live", param_hint="'--paper'")
    settings = _load(config)
    if paper:
        settings = _with(settings, "broker", kind="paper")
    if live:
        settings = _with(settings, "broker", kind="alpaca")
    if dry_run:
        settings = _with(settings, "engine", dry_run=True)
    try:
        interval_s = parse_interval(interval) if interval else settings.engine.interval_s
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--interval'") from None
    pace_s = _pace(pace, settings)
    board = {"enabled": True if dashboard else None, "host": dashboard_host, "port": dashboard_port}
    settings = _with(settings, "dashboard", **{k: v for k, v in board.items() if v is not None})
    secrets = load_secrets()
    if settings.dashboard.enabled:
        check_dashboard_bind(settings.dashboard, secrets)  # before anything starts
    values = list(secrets.redaction_values())  # the dashboard token too
    handler = configure_logging(settings.engine.log_path, secrets=values)
    console = Console()
    server = None
    try:
        engine = TradingEngine(settings, secrets=secrets)
        _report_reconcile(console, engine)
        if settings.dashboard.enabled:
            try:
                server = start_bot_dashboard(engine, settings, secrets)
            except BaseException:
                engine.close()
                raise
            announce(server.url)
        _run_engine(
            engine,
            interval_s,
            cycles,
            console,
            live_view=not plain and console.is_terminal,
            pace_s=pace_s,
        )
    finally:
        if server is not None:
            server.close()
            engine.monitor.stop_sampler()
        handler.remove()


def _pace(pace: str | None, settings: Settings) -> float | None:
    from greekfire.engine.clock import parse_interval

    if pace is None:
        return None
    if settings.engine.clock != "simulated":
        raise typer.BadParameter(
            f"--pace needs engine.clock 'simulated', got {settings.engine.clock!r}",
            param_hint="'--pace'",
        )
    try:
        return parse_interval(pace)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--pace'") from None


def _report_reconcile(console: Console, engine: TradingEngine) -> None:
    report = engine.reconcile_report
    resolved = getattr(report, "resolved", ())
    mismatches = getattr(report, "mismatches", ())
    if resolved or mismatches:
        console.print(
            f"startup reconciliation: {len(resolved)} pending intent(s) resolved,"
            f" {len(mismatches)} mismatch(es) adopted",
            style="yellow",
            highlight=False,
        )


def demo_settings(workdir: Path, data_url: str) -> Settings:
    """The demo's settings: simulated clock, data from the local exchange, the paper broker,
    the wheel on two cheap stocks and momentum on six, everything written under ``workdir``."""
    from greekfire.settings import Settings

    return Settings.model_validate(
        {
            "engine": {
                "symbols": sorted(set(_DEMO_MOMENTUM) | set(_DEMO_WHEEL)),
                "clock": "simulated",
                "sim_start": DEMO_START,
                "interval_s": 1800,
                "log_path": str(workdir / "logs" / "trading_system.jsonl"),
            },
            "data": {
                "provider": "alpaca",
                "data_url": data_url,
                "history_dir": str(workdir / "history"),
            },
            "broker": {"kind": "paper"},
            "risk": {"max_symbol_exposure_fraction": 0.25, "risk_fraction": 0.05},
            "journal": {
                "path": str(workdir / "greekfire.db"),
                "dry_run_path": str(workdir / "greekfire.dry-run.db"),
            },
            "strategies": [
                {
                    "name": "wheel",
                    "symbols": list(_DEMO_WHEEL),
                    "params": {
                        "dte_min": 1,
                        "dte_max": 10,
                        "roll_dte": 0,
                        "put_delta": 0.40,
                        "call_delta": 0.40,
                        "profit_target": 0.9,
                    },
                },
                {"name": "momentum", "symbols": list(_DEMO_MOMENTUM)},
            ],
        }
    )


def demo_command(
    *,
    cycles: Annotated[
        int, typer.Option(help="Cycles to run (30 simulated minutes apart).", min=1)
    ] = 70,
    workdir: Annotated[
        Path, typer.Option(help="Where the journal, logs and history go (emptied first).")
    ] = Path("demo-run"),
    plain: Annotated[
        bool, typer.Option("--plain", help="One line per cycle, no live view.")
    ] = False,
) -> None:
    """Run the bot for a simulated trading week against the local simulated exchange."""
    import pandas as pd

    from greekfire.engine.clock import SimulatedClock
    from greekfire.engine.engine import TradingEngine
    from greekfire.engine.logs import configure_logging
    from greekfire.exchange.clock import SimClock
    from greekfire.exchange.config import ExchangeConfig
    from greekfire.exchange.server import serve_in_thread
    from greekfire.settings import Secrets

    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    console = Console()
    clock = SimulatedClock(pd.Timestamp(DEMO_START))
    # The exchange's clock follows the engine's: wall_ns is the simulated clock itself.
    exchange_clock = SimClock(None, 1.0, wall_ns=clock.now_ns)
    symbols = tuple(sorted(set(_DEMO_MOMENTUM) | set(_DEMO_WHEEL)))
    exchange_cfg = ExchangeConfig(symbols=symbols, key_id=None, secret_key=None)
    with serve_in_thread(exchange_cfg, clock=exchange_clock) as exchange:
        console.print(f"simulated exchange at {exchange.base_url}; journal in {workdir}/")
        settings = demo_settings(workdir, exchange.base_url)
        handler = configure_logging(settings.engine.log_path)
        secrets = Secrets.model_validate({"alpaca_key_id": "demo", "alpaca_secret_key": "demo"})
        try:
            engine = TradingEngine(settings, secrets=secrets, clock=clock)
            start_equity = engine.broker.account().equity_usd
            live = not plain and console.is_terminal
            final: dict[str, Any] = {}
            reports = _run_engine(engine, settings.engine.interval_s, cycles, console, live, final)
            _print_summary(console, settings, reports, start_equity, final)
        finally:
            handler.remove()
    _demo_parity(console, settings)
    _demo_backtest(console, workdir)


def _demo_parity(console: Console, settings: Settings) -> None:
    # The week just traded, replayed from its journal through the backtester.
    from greekfire.backtest.parity import parity

    report = parity(settings.journal.path)
    counts = report.counts()
    verdict = "identical" if report.identical else f"{len(report.differences())} differ"
    console.print(
        f"parity: the week replayed from its journal through the backtester:"
        f" {counts['live_fills']} live fills, {counts['replay_fills']} replayed, {verdict}"
        " (greekfire parity --journal " + settings.journal.path + ")",
        highlight=False,
    )


def _demo_backtest(console: Console, workdir: Path) -> None:
    # A short backtest of momentum over the months before the demo week, on the same
    # synthetic market (seed 0, as the exchange's), through the live code path.
    from datetime import date

    from greekfire.cli.backtest_cmd import run_backtest
    from greekfire.settings import Settings

    settings = Settings.model_validate(
        {
            "engine": {"symbols": list(_DEMO_MOMENTUM), "log_path": str(workdir / "bt.jsonl")},
            "data": {"provider": "synthetic", "seed": 0, "history_dir": None},
            "strategies": [{"name": "momentum", "symbols": list(_DEMO_MOMENTUM)}],
        }
    )
    console.print("backtest: momentum, 2026-05-01 to 2026-11-06, the live code path ...")
    result, report = run_backtest(
        settings, date(2026, 5, 1), date(2026, 11, 6), out=workdir / "backtest"
    )
    total = result.total_return().get("total", float("nan"))
    console.print(
        f"backtest: {len(result.trades)} trades, total return {total:+.2%}; report {report}",
        highlight=False,
    )


def _print_summary(
    console: Console,
    settings: Settings,
    reports: list[CycleReport],
    start_equity: float,
    final: dict[str, Any],
) -> None:
    from greekfire.cli.live import summary_view
    from greekfire.journal.sqlite import Journal

    if not final:
        console.print("no cycle ran", style="red")
        return
    journal = Journal.open_readonly(settings.journal.path)
    try:
        orders = {o.client_order_id: o for o in journal.orders()}
        fills = journal.fills()
        events = journal.events()
    finally:
        journal.close()
    by_strategy: Counter[str] = Counter()
    for fill in fills:
        order = orders.get(fill.client_order_id)
        by_strategy[order.intent.strategy if order is not None else "settlement"] += 1
    kinds = Counter(str(e.get("kind")) for e in events)
    console.print(
        summary_view(
            reports=reports,
            start_equity=start_equity,
            account=final["account"],
            positions=final["positions"],
            marks=final["marks"],
            greeks=final["greeks"],
            fills_by_strategy=dict(by_strategy),
            events_by_kind=dict(kinds),
            cache=final["cache"],
        )
    )


def status_command(
    *,
    config: Annotated[Path | None, typer.Option("--config", dir_okay=False)] = None,
    journal: Annotated[Path | None, typer.Option(help="Journal file [journal.path].")] = None,
) -> None:
    """The bot's state from its journal: last cycle, account, orders, recent events."""
    from greekfire.cli.journal_cmds import status_view

    Console().print(status_view(_journal_path(config, journal)))


def positions_command(
    *,
    config: Annotated[Path | None, typer.Option("--config", dir_okay=False)] = None,
    journal: Annotated[Path | None, typer.Option(help="Journal file [journal.path].")] = None,
) -> None:
    """The latest positions snapshot from the journal."""
    from greekfire.cli.journal_cmds import positions_view

    Console().print(positions_view(_journal_path(config, journal)))


def orders_command(
    *,
    config: Annotated[Path | None, typer.Option("--config", dir_okay=False)] = None,
    journal: Annotated[Path | None, typer.Option(help="Journal file [journal.path].")] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only orders that may fill.")] = False,
    limit: Annotated[int, typer.Option(help="Most recent N orders.", min=1)] = 50,
) -> None:
    """Orders from the journal, newest first."""
    from greekfire.cli.journal_cmds import orders_view

    Console().print(orders_view(_journal_path(config, journal), open_only, limit))


def init_command(
    path: Annotated[Path, typer.Argument(help="Where to write the example config.")] = Path(
        "trading_config.yaml"
    ),
    *,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example trading_config.yaml."""
    from greekfire.cli.init_cmd import write_example_config

    written = write_example_config(path, force=force)
    typer.echo(f"wrote {written}")


def _journal_path(config: Path | None, journal: Path | None) -> Path:
    if journal is not None:
        return journal
    settings = _load(config)
    if settings.engine.dry_run:
        return Path(settings.journal.dry_run_path)
    return Path(settings.journal.path)


def register(app: typer.Typer) -> None:
    """Add the trading commands to ``app``."""
    app.command("run")(run_command)
    app.command("demo")(demo_command)
    app.command("status")(status_command)
    app.command("positions")(positions_command)
    app.command("orders")(orders_command)
    app.command("init")(init_command)
    app.command("backtest")(backtest_command)
    app.command("parity")(parity_command)
    app.command("reliability")(reliability_command)
    app.command("audit")(audit_command)
    app.command("sweep")(sweep_command)
    app.command("dashboard")(dashboard_command)
