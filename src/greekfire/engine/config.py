"""The ``engine`` and ``data`` config sections."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from greekfire.domain.config import Section

__all__ = ["DataConfig", "EngineConfig"]

_DEFAULT_SYMBOLS = ("SPY", "QQQ", "AAPL", "MSFT", "NVDA")


class DataConfig(Section):
    """Where market data comes from and how it is fetched."""

    provider: Literal["synthetic", "alpaca", "files"] = Field(
        default="synthetic", description="synthetic (embedded market), alpaca, or files."
    )
    seed: int = Field(default=7, ge=0, description="Seed of the synthetic market.")
    data_url: str | None = Field(
        default=None, description="Override Alpaca's market-data URL (e.g. a local serve-market)."
    )
    trading_url: str | None = Field(
        default=None,
        description="Override Alpaca's trading API URL for option contracts; default data_url.",
    )
    files_dir: str | None = Field(default=None, description="Directory of the files provider.")
    history_dir: str | None = Field(
        default="data/history", description="Local history store (Parquet); null disables it."
    )
    max_concurrent_requests: int = Field(default=50, ge=1, description="Requests in flight.")
    requests_per_second: float | None = Field(
        default=None, gt=0, description="Rate limit of the provider; null for none."
    )
    timeout_s: float = Field(default=10.0, gt=0, description="Timeout of one request.")


class EngineConfig(Section):
    """The trading loop."""

    symbols: tuple[str, ...] = Field(
        default=_DEFAULT_SYMBOLS, min_length=1, description="Universe."
    )
    timeframe: Literal["1m", "5m", "15m", "1h", "1d"] = Field(
        default="1d", description="Bar length."
    )
    lookback_bars: int = Field(default=260, ge=2, description="Bars of history kept per symbol.")
    interval_s: float = Field(default=300.0, gt=0, description="Seconds between cycle starts.")
    market_hours_only: bool = Field(
        default=True, description="Skip cycles while the market is closed."
    )
    dry_run: bool = Field(default=False, description="Decide and journal, send nothing.")
    clock: Literal["live", "simulated"] = Field(
        default="live", description="Wall time or simulated."
    )
    sim_start: datetime | None = Field(
        default=None,
        description="Simulated clock start (tz-aware); default the last Monday's open.",
    )
    log_path: str = Field("logs/trading_system.jsonl", description="JSON-lines log file.")
    indicators: tuple[str, ...] = Field(
        default=("sma_20", "sma_50", "rsi_14", "macd_12_26_9", "bbands_20_2", "atr_14"),
        description="Streaming indicators kept per symbol.",
    )

    @field_validator("symbols")
    @classmethod
    def _upper(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(s.strip().upper() for s in value)
        for s in cleaned:
            if not s or not s.replace(".", "").isalnum():
                raise ValueError(f"expected tickers such as 'SPY', got {s!r}")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError(f"symbols repeat: {list(cleaned)!r}")
        return cleaned
