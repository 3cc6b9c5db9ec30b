"""What a benchmark case times: a contender prepares a zero-argument call from a workload.

Preparation (allocating outputs, converting flags, building QuantLib handles) is untimed;
only ``Prepared.call`` is timed. After timing, ``Prepared.results`` exposes the outputs of
the last call so a case can check accuracy without timing that check.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

__all__ = ["Contender", "Prepared", "Results", "Unavailable", "allocating", "as_f64", "require"]

Results = Mapping[str, NDArray[Any]]
W = TypeVar("W")


class Unavailable(Exception):
    """A contender cannot run here; the message is the note printed in the report."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A ready-to-time call and the way to read what its last invocation produced.

    Attributes
    ----------
    call : callable
        Zero-argument callable that does the measured work.
    results : callable
        Returns the named output arrays of the last ``call`` (``"price"``, ``"vol"``,
        ``"status"`` ...).
    """

    call: Callable[[], object]
    results: Callable[[], Results]


@dataclass(frozen=True, slots=True)
class Contender(Generic[W]):
    """One implementation taking part in a case.

    Attributes
    ----------
    key : str
        Stable identifier used in the JSON report (``"greekfire"``, ``"numpy"`` ...).
    label : str
        Human-readable name for the tables.
    prepare : callable
        ``prepare(workload) -> Prepared``; raises ``Unavailable`` when it cannot run.
    subsample : int or None
        Time only the first ``subsample`` options and scale the time per option to the full
        batch (for slow per-option Python loops). None times the full batch.
    slow : bool
        Use the slow repeat policy (fewer samples) instead of the fast one.
    note : str
        Free text carried into the report (units, method).
    threads : int or None
        Numba thread count while this contender is timed (None: leave numba's setting).
    """

    key: str
    label: str
    prepare: Callable[[W], Prepared]
    subsample: int | None = None
    slow: bool = False
    note: str = ""
    threads: int | None = None


def allocating(fn: Callable[[], Results]) -> Prepared:
    """Wrap a call that returns fresh output arrays each time into a ``Prepared``.

    Parameters
    ----------
    fn : callable
        Zero-argument callable returning its outputs by name.
    """
    last: list[Results] = [{}]

    def call() -> None:
        last[0] = fn()

    return Prepared(call=call, results=lambda: last[0])


def require(module: str, distribution: str | None = None) -> ModuleType:
    """Import ``module`` or raise ``Unavailable`` naming the missing distribution.

    Parameters
    ----------
    module : str
        Dotted module name.
    distribution : str, optional
        The pip name to show in the note, when it differs from ``module``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise Unavailable(f"peer not installed: {distribution or module} ({exc})") from exc


def as_f64(values: object) -> NDArray[np.float64]:
    """Return ``values`` as a float64 array (no copy when it already is one)."""
    return np.asarray(values, dtype=np.float64)
