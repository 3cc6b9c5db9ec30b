"""The ``strategies`` config section: one entry per strategy the bot runs."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from greekfire.domain.config import Section

__all__ = ["StrategyEntry"]


class StrategyEntry(Section):
    """One strategy: a built-in by ``name`` or user code by ``module`` (``"pkg.mod:Class"``)."""

    name: str = Field(
        description="Built-in (momentum, mean_reversion, wheel, vertical_credit) or a label."
    )
    module: str | None = Field(
        default=None, description="User strategy class as 'package.module:ClassName'."
    )
    enabled: bool = Field(default=True, description="Run this strategy.")
    symbols: tuple[str, ...] = Field(
        default=(), description="Underlyings it trades; empty means every symbol of engine.symbols."
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Strategy parameters, checked by the strategy."
    )

    @model_validator(mode="after")
    def _module_shape(self) -> StrategyEntry:
        if self.module is not None and ":" not in self.module:
            raise ValueError(f"module: expected 'package.module:ClassName', got {self.module!r}")
        return self
