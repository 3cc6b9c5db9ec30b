"""Strategies: a base class, the call guard, a loader and the built-in library."""

from __future__ import annotations

from greekfire.strategy.base import ChainRequest, Strategy, StrategyContext
from greekfire.strategy.guard import (
    StrategySlot,
    guarded_chain_request,
    guarded_construct,
    guarded_cycle,
)
from greekfire.strategy.loader import BUILTINS, load_slots, load_strategies

__all__ = [
    "BUILTINS",
    "ChainRequest",
    "Strategy",
    "StrategyContext",
    "StrategySlot",
    "guarded_chain_request",
    "guarded_construct",
    "guarded_cycle",
    "load_slots",
    "load_strategies",
]
