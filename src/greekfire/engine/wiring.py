"""Build the engine's parts from the settings: clock, data provider, broker, journal path.

Each builder takes one config section (never the whole tree) plus what it needs from the
others; the CLI and tests may pass ready-made parts to :class:`~greekfire.engine.engine.
TradingEngine` instead.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from greekfire.broker.config import BrokerConfig
from greekfire.broker.port import Broker
from greekfire.data.port import MarketDataProvider
from greekfire.engine.clock import LiveClock, SimulatedClock
from greekfire.engine.config import DataConfig, EngineConfig
from greekfire.engine.market import MarketSnapshot
from greekfire.errors import ConfigError
from greekfire.settings import Secrets

__all__ = ["build_broker", "build_clock", "build_provider", "default_sim_start", "journal_path"]


def default_sim_start(now: pd.Timestamp) -> pd.Timestamp:
    """09:35 New York on the Monday of the last complete week before ``now``."""
    local = now.tz_convert("America/New_York").normalize()
    monday = local - pd.Timedelta(days=local.weekday() + 7)
    return (monday + pd.Timedelta(hours=9, minutes=35)).tz_convert("UTC")


def build_clock(cfg: EngineConfig) -> LiveClock | SimulatedClock:
    """The live clock, or a simulated one at ``sim_start`` (default :func:`default_sim_start`)."""
    if cfg.clock == "live":
        return LiveClock()
    start = cfg.sim_start
    if start is not None and start.tzinfo is None:
        raise ConfigError("engine.sim_start", f"expected a timezone-aware time, got {start!r}")
    return SimulatedClock(start if start is not None else default_sim_start(LiveClock().now()))


def build_provider(
    cfg: DataConfig,
    clock: LiveClock | SimulatedClock,
    secrets: Secrets,
    symbols: tuple[str, ...],
) -> MarketDataProvider:
    """The market-data provider ``cfg.provider`` names."""
    if cfg.provider == "synthetic":
        from greekfire.sim.provider import SyntheticProvider

        return SyntheticProvider(symbols=symbols, seed=cfg.seed, clock=clock.now)
    if cfg.provider == "files":
        from greekfire.data.files import FileProvider

        if not cfg.files_dir:
            raise ConfigError("data.files_dir", "the files provider needs a directory, got none")
        return FileProvider(cfg.files_dir)
    from greekfire.data.alpaca import AlpacaProvider

    return AlpacaProvider(
        data_url=cfg.data_url,
        trading_url=cfg.trading_url or cfg.data_url,
        timeout_s=cfg.timeout_s,
        env=_alpaca_env(secrets, "data"),
        max_connections=cfg.max_concurrent_requests,
    )


def _alpaca_env(secrets: Secrets, section: str) -> dict[str, str]:
    key = secrets.alpaca_key_id
    secret = secrets.alpaca_secret_key
    if key is None or secret is None:
        raise ConfigError(
            f"{section}.alpaca",
            "Alpaca needs APCA_API_KEY_ID and APCA_API_SECRET_KEY in the environment",
        )
    return {
        "APCA_API_KEY_ID": key.get_secret_value(),
        "APCA_API_SECRET_KEY": secret.get_secret_value(),
    }


def build_broker(
    cfg: BrokerConfig,
    snapshot: MarketSnapshot,
    clock: LiveClock | SimulatedClock,
    secrets: Secrets,
    state_path: Path,
) -> Broker:
    """The broker ``cfg.kind`` names; the paper broker fills against ``snapshot``."""
    if cfg.kind == "paper":
        from greekfire.broker.paper import PaperBroker

        state = Path(cfg.paper.state_file) if cfg.paper.state_file else state_path
        return PaperBroker(cfg.paper, snapshot, clock, state_path=state)
    from greekfire.broker.alpaca import AlpacaBroker

    env = _alpaca_env(secrets, "broker")
    return AlpacaBroker(
        cfg.alpaca,
        key_id=env["APCA_API_KEY_ID"],
        secret_key=env["APCA_API_SECRET_KEY"],
        clock=clock,
    )


def journal_path(journal_cfg_path: str, dry_run_path: str, dry_run: bool) -> Path:
    """The journal file: the dry-run one in dry-run mode, never the real one."""
    return Path(dry_run_path if dry_run else journal_cfg_path)
