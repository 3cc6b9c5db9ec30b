"""The simulated exchange behind ``greekfire serve-market``: the synthetic market served through
the subset of Alpaca's REST API greekfire uses (market data v2 / v1beta1 options, trading v2),
with fault injection, so the same client code runs against it and against Alpaca.

Modules: :mod:`~greekfire.exchange.config` (``ExchangeConfig``), :mod:`~greekfire.exchange.faults`
(``FaultConfig`` and the fault middleware), :mod:`~greekfire.exchange.app` (``create_app``),
:mod:`~greekfire.exchange.marketdata` and :mod:`~greekfire.exchange.options` (routes),
:mod:`~greekfire.exchange.trading` (the paper account), :mod:`~greekfire.exchange.server`
(``serve``, ``serve_in_thread``, ``spawn``). Names are imported lazily.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "ExchangeConfig",
    "FaultConfig",
    "create_app",
    "serve",
    "serve_in_thread",
    "spawn",
]

_HOME = {
    "ExchangeConfig": "greekfire.exchange.config",
    "FaultConfig": "greekfire.exchange.faults",
    "create_app": "greekfire.exchange.app",
    "serve": "greekfire.exchange.server",
    "serve_in_thread": "greekfire.exchange.server",
    "spawn": "greekfire.exchange.server",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(_HOME[name]), name)
    raise AttributeError(f"module 'greekfire.exchange' has no attribute {name!r}")
