"""The base of every config section: pydantic, frozen, unknown keys rejected.

Each package owns its section (``greekfire.risk.config.RiskConfig``, ...) and builds it on
:class:`Section`; :mod:`greekfire.settings` composes them into the whole file.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Section"]


class Section(BaseModel):
    """A frozen config section that rejects unknown keys and validates defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
