"""What a reliability suite reports: its figures, its verdict and the files it wrote."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Figure", "SuiteResult"]


@dataclass(frozen=True, slots=True)
class Figure:
    """One reported number: ``name`` (snake_case), ``value``, ``unit`` ("", "s", "ms", "MiB",
    "%", "requests", ...) and a one-line ``description`` a reader understands alone."""

    name: str
    value: float | int | str
    unit: str = ""
    description: str = ""


@dataclass(slots=True)
class SuiteResult:
    """A suite's outcome.

    Attributes
    ----------
    suite : str
        ``faults``, ``crash``, ``corpus``, ``soak`` or ``security``.
    passed : bool
        Every guarantee the suite checks held.
    figures : list of Figure
        What it measured, in reading order.
    failures : list of str
        Each broken guarantee in words (empty when ``passed``).
    artifacts : list of Path
        Files it wrote (PNG curves, JSON traces), under the run's output directory.
    seconds : float
        Wall time of the suite.
    params : dict
        How it ran (short or full, seed, sizes), so a reader can re-run it.
    """

    suite: str
    passed: bool
    figures: list[Figure] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    artifacts: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)

    def figure(self, name: str) -> Figure:
        """The figure called ``name``.

        Raises
        ------
        KeyError
            No such figure (the message lists the suite's figures).
        """
        for item in self.figures:
            if item.name == name:
                return item
        known = ", ".join(f.name for f in self.figures) or "none"
        raise KeyError(f"{self.suite}: no figure {name!r} (figures: {known})")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (paths as strings)."""
        return {
            "suite": self.suite,
            "passed": self.passed,
            "seconds": self.seconds,
            "params": self.params,
            "failures": list(self.failures),
            "artifacts": [str(p) for p in self.artifacts],
            "figures": [
                {"name": f.name, "value": f.value, "unit": f.unit, "description": f.description}
                for f in self.figures
            ],
        }

    def save(self, path: Path) -> Path:
        """Write :meth:`to_dict` as JSON to ``path``; returns it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
        return path
