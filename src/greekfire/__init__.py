"""greekfire: a fast, exact options-trading bot built around a performance system.

The names below are loaded lazily: ``import greekfire`` imports neither numba nor pandas and
compiles nothing; the first call of a pricing function does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "black_scholes": "greekfire.analytics.options",
    "black76": "greekfire.analytics.options",
    "black76_greeks": "greekfire.analytics.options",
    "greeks": "greekfire.analytics.options",
    "implied_vol": "greekfire.analytics.options",
    "IVResult": "greekfire.analytics.options",
    "vectorized_black_scholes": "greekfire.analytics.options",
    "vectorized_greeks": "greekfire.analytics.options",
    "american_greeks": "greekfire.analytics.american",
    "american_price": "greekfire.analytics.american",
    "technical_indicators": "greekfire.analytics.indicators",
    "performance_summary": "greekfire.analytics.performance",
    "sharpe_ratio": "greekfire.analytics.performance",
    "sortino_ratio": "greekfire.analytics.performance",
    "max_drawdown": "greekfire.analytics.performance",
    "kelly_fraction": "greekfire.analytics.performance",
    "Drawdown": "greekfire.analytics.performance",
    "IndicatorStream": "greekfire.analytics.indicators",
    "PerformanceOptimizer": "greekfire.analytics.optimizer",
    "cached": "greekfire.perf.cache",
    "OptionRight": "greekfire.domain.enums",
    "IVStatus": "greekfire.domain.enums",
}

__all__ = ["__version__", *sorted(_EXPORTS)]

if TYPE_CHECKING:
    from greekfire.analytics.american import american_greeks, american_price
    from greekfire.analytics.indicators import IndicatorStream, technical_indicators
    from greekfire.analytics.optimizer import PerformanceOptimizer
    from greekfire.analytics.options import (
        IVResult,
        black76,
        black76_greeks,
        black_scholes,
        greeks,
        implied_vol,
        vectorized_black_scholes,
        vectorized_greeks,
    )
    from greekfire.analytics.performance import (
        Drawdown,
        kelly_fraction,
        max_drawdown,
        performance_summary,
        sharpe_ratio,
        sortino_ratio,
    )
    from greekfire.domain.enums import IVStatus, OptionRight
    from greekfire.perf.cache import cached


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'greekfire' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
