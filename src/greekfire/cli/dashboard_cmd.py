"""The web dashboard from the command line: ``greekfire dashboard --journal PATH`` (a journal
served read-only, no controls) and the bot's own dashboard behind ``greekfire run --dashboard``
(live state, operator controls and ``/metrics``, in threads of the bot's process).

Both bind ``dashboard.host`` (127.0.0.1 unless told otherwise) and refuse any other address
when ``GREEKFIRE_DASHBOARD_TOKEN`` is not set (a :class:`~greekfire.errors.ConfigError` naming
``dashboard.host``: exit code 2). Each prints ``dashboard: <url>`` once it listens.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from greekfire.engine.engine import TradingEngine
    from greekfire.settings import Secrets, Settings
    from greekfire.web.config import DashboardConfig
    from greekfire.web.server import DashboardServer

__all__ = ["announce", "check_dashboard_bind", "dashboard_command", "start_bot_dashboard"]

_SAMPLE_S = 5.0  # CPU and memory gauges, sampled for the dashboard and Prometheus


def announce(url: str) -> None:
    """Print ``dashboard: <url>`` and flush (a parent process waits for the line)."""
    typer.echo(f"dashboard: {url}")
    sys.stdout.flush()


def _token(secrets: Secrets) -> str | None:
    token = secrets.dashboard_token
    return token.get_secret_value() if token is not None else None


def check_dashboard_bind(cfg: DashboardConfig, secrets: Secrets) -> None:
    """Refuse a non-loopback ``dashboard.host`` without a token (``ConfigError``), before
    anything starts."""
    from greekfire.web.config import check_bind

    check_bind(cfg.host, _token(secrets))


def start_bot_dashboard(
    engine: TradingEngine, settings: Settings, secrets: Secrets
) -> DashboardServer:
    """Serve ``engine``'s dashboard (live state, controls, ``/metrics``) on
    ``settings.dashboard``'s host and port; the monitor's CPU and memory sampler starts too.

    Raises
    ------
    ConfigError
        ``dashboard.host`` is not a loopback address and no token is set.
    OSError
        The address could not be bound.
    """
    from greekfire.web.api import create_app
    from greekfire.web.server import DashboardServer
    from greekfire.web.service import DashboardService

    cfg = settings.dashboard
    check_dashboard_bind(cfg, secrets)
    service = DashboardService(
        engine.journal.path,
        live=engine.live_state,
        monitor=engine.monitor,
        risk=settings.risk,
        bench_dir=cfg.bench_dir,
        history_points=cfg.history_points,
    )
    app = create_app(
        service,
        controls=engine.controls,
        token=secrets.dashboard_token,
        registry=engine.monitor.registry,
    )
    server = DashboardServer(app, cfg.host, cfg.port)
    if not engine.monitor.sampler_running:
        engine.monitor.start_sampler(_SAMPLE_S)
    return server


def dashboard_command(
    *,
    journal: Annotated[
        Path | None,
        typer.Option(help="The bot's journal, served read-only [journal.path].", dir_okay=False),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="trading_config.yaml.", dir_okay=False)
    ] = None,
    host: Annotated[str | None, typer.Option(help="Address to bind [dashboard.host].")] = None,
    port: Annotated[
        int | None,
        typer.Option(help="TCP port, 0 for any free one [dashboard.port].", min=0, max=65535),
    ] = None,
    bench_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder of the latest bench report [dashboard.bench_dir].", file_okay=False
        ),
    ] = None,
) -> None:
    """Serve the web dashboard over a journal (read-only, no controls) until Ctrl-C."""
    from greekfire.settings import load_secrets, load_settings
    from greekfire.web.api import create_app
    from greekfire.web.server import DashboardServer
    from greekfire.web.service import DashboardService

    settings = load_settings(config)
    changes = {"host": host, "port": port, "bench_dir": str(bench_dir) if bench_dir else None}
    cfg = settings.dashboard.model_copy(update={k: v for k, v in changes.items() if v is not None})
    secrets = load_secrets()
    check_dashboard_bind(cfg, secrets)
    path = journal if journal is not None else Path(settings.journal.path)
    if not path.is_file():
        raise typer.BadParameter(f"no journal at {str(path)!r}", param_hint="'--journal'")
    service = DashboardService(
        path, risk=settings.risk, bench_dir=cfg.bench_dir, history_points=cfg.history_points
    )
    app = create_app(service, controls=None, token=secrets.dashboard_token)
    with DashboardServer(app, cfg.host, cfg.port) as server:
        announce(server.url)
        _serve_until_stopped(server)
    typer.echo("dashboard stopped")


def _serve_until_stopped(server: DashboardServer) -> None:
    # Ctrl-C or SIGTERM ends the command normally (exit 0) after a graceful close.
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while server.running and not stop.wait(0.5):
            pass
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
