"""Pre-trade risk checks and sizing: a refusal is a value with a reason.

:class:`RiskGate` approves or denies order intents on a :class:`PortfolioView` (never raising),
:mod:`greekfire.risk.sizing` sizes entries, :class:`RiskReporter` serves the cached risk report.
"""

from __future__ import annotations

from greekfire.risk.config import GreeksLimits, RiskConfig
from greekfire.risk.gate import CHECKS, RiskDecision, RiskGate
from greekfire.risk.report import RiskReport, RiskReporter, build_report
from greekfire.risk.sizing import (
    Sizing,
    fixed_fraction_qty,
    kelly_qty,
    max_loss_per_unit,
    size_intent,
    volatility_qty,
)
from greekfire.risk.view import (
    PortfolioView,
    StrategyStats,
    buying_power_per_unit,
    exposure_by_underlying,
    intent_max_loss_per_unit,
)

__all__ = [
    "CHECKS",
    "GreeksLimits",
    "PortfolioView",
    "RiskConfig",
    "RiskDecision",
    "RiskGate",
    "RiskReport",
    "RiskReporter",
    "Sizing",
    "StrategyStats",
    "build_report",
    "buying_power_per_unit",
    "exposure_by_underlying",
    "fixed_fraction_qty",
    "intent_max_loss_per_unit",
    "kelly_qty",
    "max_loss_per_unit",
    "size_intent",
    "volatility_qty",
]
