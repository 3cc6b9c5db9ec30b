"""The ``broker`` config section."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from greekfire.domain.config import Section

__all__ = ["AlpacaBrokerConfig", "BrokerConfig", "FeeConfig", "PaperBrokerConfig"]


class FeeConfig(Section):
    """Commissions and regulatory fees the paper broker charges (US equities and options)."""

    equity_commission_per_share_usd: float = Field(
        default=0.0, ge=0, description="Commission per share."
    )
    option_commission_per_contract_usd: float = Field(
        default=0.65, ge=0, description="Commission per option contract."
    )
    sec_fee_per_million_usd: float = Field(
        default=27.80, ge=0, description="SEC section 31 fee on sale proceeds, dollars per $1M."
    )
    taf_per_share_usd: float = Field(
        default=0.000166, ge=0, description="FINRA trading activity fee per share sold."
    )
    taf_max_usd: float = Field(default=8.30, ge=0, description="Cap of the FINRA TAF per trade.")
    taf_per_contract_usd: float = Field(
        default=0.00279, ge=0, description="FINRA trading activity fee per option contract sold."
    )
    orf_per_contract_usd: float = Field(
        default=0.02685, ge=0, description="Options regulatory fee per contract (buys and sells)."
    )


class PaperBrokerConfig(Section):
    """The embedded paper broker."""

    starting_cash_usd: float = Field(default=100_000.0, gt=0, description="Cash of a new account.")
    fill_at: Literal["mid", "touch"] = Field(
        default="mid",
        description="Market orders fill at the mid, or at the ask (buy) / bid (sell).",
    )
    slippage_bps: float = Field(
        default=1.0, ge=0, description="Adverse slippage on equity market fills, basis points."
    )
    option_slippage_fraction: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Adverse slippage on option market fills, as a fraction of the spread.",
    )
    fees: FeeConfig = Field(default_factory=FeeConfig)
    state_file: str | None = Field(
        default=None,
        description="Where the paper account persists between runs; default beside the journal.",
    )
    history_orders: int = Field(
        default=10_000,
        ge=1,
        description=(
            "Finished orders kept (open ones always are); older ones are forgotten, and so are"
            " their client order ids."
        ),
    )
    history_events: int = Field(
        default=10_000,
        ge=1,
        description=(
            "Broker events kept; a reader more than this many events behind misses the older ones."
        ),
    )
    state_log_lines: int = Field(
        default=500,
        ge=1,
        description="Lines of the state file's change log before it is folded into a snapshot.",
    )


class AlpacaBrokerConfig(Section):
    """Alpaca's trading API (credentials only from APCA_API_KEY_ID / APCA_API_SECRET_KEY)."""

    paper: bool = Field(default=True, description="Use Alpaca's paper-trading endpoint.")
    base_url: str | None = Field(
        default=None, description="Override the trading API URL (e.g. a local serve-market)."
    )
    timeout_s: float = Field(default=10.0, gt=0, description="HTTP timeout per request.")


class BrokerConfig(Section):
    """Which broker the bot trades through."""

    kind: Literal["paper", "alpaca"] = Field(
        default="paper", description="paper (default) or alpaca."
    )
    account_cache_ttl_s: float = Field(
        default=5.0,
        ge=0,
        description="Account and positions are re-read after this long, or after an order/fill.",
    )
    paper: PaperBrokerConfig = Field(default_factory=PaperBrokerConfig)
    alpaca: AlpacaBrokerConfig = Field(default_factory=AlpacaBrokerConfig)
