"""The ``risk`` config section."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from greekfire.domain.config import Section

__all__ = ["GreeksLimits", "RiskConfig"]


class GreeksLimits(Section):
    """Limits on the portfolio's net Greeks after the trade (``None``: no limit)."""

    max_abs_delta_usd: float | None = Field(
        default=None, gt=0, description="|net delta| in dollars."
    )
    max_abs_gamma_shares_per_usd: float | None = Field(
        default=None, gt=0, description="|net gamma| in shares per $1."
    )
    max_abs_vega_per_point_usd: float | None = Field(
        default=None, gt=0, description="|net vega| in dollars per vol point."
    )
    min_theta_per_day_usd: float | None = Field(
        default=None, description="Lowest net theta in dollars per day (e.g. -500)."
    )


class RiskConfig(Section):
    """Pre-trade checks and sizing."""

    sizing: Literal["fixed_fraction", "volatility", "kelly"] = Field(
        default="fixed_fraction", description="How entries are sized."
    )
    risk_fraction: float = Field(
        default=0.02, gt=0, le=1, description="Fraction of equity put at risk per entry."
    )
    target_vol_annual: float = Field(
        default=0.15, gt=0, description="Volatility sizing: annualised vol each position targets."
    )
    kelly_cap: float = Field(default=0.25, gt=0, le=1, description="Cap on the Kelly fraction.")
    max_positions: int = Field(default=20, ge=1, description="Most open positions (symbols).")
    max_symbol_exposure_fraction: float = Field(
        default=0.20, gt=0, description="Most gross exposure in one underlying, fraction of equity."
    )
    max_total_exposure_fraction: float = Field(
        default=1.0, gt=0, description="Most gross exposure in total, fraction of equity."
    )
    daily_loss_limit_fraction: float = Field(
        default=0.03, gt=0, le=1, description="Halt entries after losing this fraction today."
    )
    max_drawdown_fraction: float = Field(
        default=0.15,
        gt=0,
        le=1,
        description="Halt entries below this drawdown from the equity peak.",
    )
    greeks: GreeksLimits = Field(default_factory=GreeksLimits)
    report_ttl_s: float = Field(default=5.0, ge=0, description="How long a risk report is reused.")
    kelly_min_trades: int = Field(
        default=20,
        ge=1,
        description="Kelly sizing: closed trades a strategy needs before its win stats are used"
        " (fewer: fixed-fraction sizing).",
    )
    reserve_open_orders: bool = Field(
        default=False,
        description="Buying power: subtract what resting opening orders reserve from the"
        " account's buying power (the paper and Alpaca brokers already net them out).",
    )
