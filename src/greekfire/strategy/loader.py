"""Build the configured strategies: built-ins by name, user classes by module path.

Every configuration mistake is a :class:`~greekfire.errors.ConfigError` whose field is the
path in the config file: ``strategies[i].name`` (unknown built-in, duplicate label),
``strategies[i].module`` (cannot import, no such class, not a Strategy),
``strategies[i].symbols`` (a symbol outside ``engine.symbols``) and
``strategies[i].params.<field>`` (a bad parameter and its value).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Sequence

from greekfire.errors import ConfigError, StrategyError
from greekfire.strategy.base import Strategy
from greekfire.strategy.config import StrategyEntry
from greekfire.strategy.guard import StrategySlot, guarded_construct
from greekfire.strategy.library import (
    MeanReversionStrategy,
    MomentumStrategy,
    VerticalCreditStrategy,
    WheelStrategy,
)

__all__ = ["BUILTINS", "load_slots", "load_strategies", "resolve_class"]

BUILTINS: dict[str, type[Strategy]] = {
    "momentum": MomentumStrategy,
    "mean_reversion": MeanReversionStrategy,
    "wheel": WheelStrategy,
    "vertical_credit": VerticalCreditStrategy,
}
"""Built-in strategy kinds by config name."""


def _hint(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _import_class(spec: str, path: str) -> type[Strategy]:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(path, f"expected 'package.module:ClassName', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # user code runs on import: report any failure as config
        raise ConfigError(
            path, f"cannot import {module_name!r} ({type(exc).__name__}: {exc}), got {spec!r}"
        ) from exc
    obj = getattr(module, attr, None)
    if obj is None:
        names = [n for n in dir(module) if not n.startswith("_")]
        raise ConfigError(
            path, f"module {module_name!r} has no attribute {attr!r}{_hint(attr, names)}"
        )
    if not (inspect.isclass(obj) and issubclass(obj, Strategy)):
        raise ConfigError(
            path, f"{spec!r} is {type(obj).__name__}, expected a subclass of Strategy"
        )
    if inspect.isabstract(obj):
        raise ConfigError(path, f"{spec!r} is abstract: implement on_cycle(ctx)")
    return obj


def resolve_class(entry: StrategyEntry, index: int) -> type[Strategy]:
    """The class of entry ``index``: its ``module`` if set, else the built-in ``name``."""
    if entry.module is not None:
        return _import_class(entry.module, f"strategies[{index}].module")
    cls = BUILTINS.get(entry.name)
    if cls is None:
        valid = ", ".join(BUILTINS)
        raise ConfigError(
            f"strategies[{index}].name",
            f"unknown built-in strategy {entry.name!r}{_hint(entry.name, list(BUILTINS))}"
            f" (built-ins: {valid}; or set module: 'package.module:ClassName')",
        )
    return cls


def _symbols(entry: StrategyEntry, index: int, universe: Sequence[str]) -> tuple[str, ...]:
    known = [s.upper() for s in universe]
    symbols = tuple(s.strip().upper() for s in entry.symbols) or tuple(known)
    for j, symbol in enumerate(symbols):
        if symbol not in known:
            raise ConfigError(
                f"strategies[{index}].symbols",
                f"[{j}] {symbol!r} is not in engine.symbols{_hint(symbol, known)}",
            )
    return symbols


def load_slots(entries: Sequence[StrategyEntry], universe: Sequence[str]) -> list[StrategySlot]:
    """One guarded slot per enabled entry; a constructor that raises gives a disabled slot.

    Raises
    ------
    ConfigError
        Any configuration mistake, with its path (see the module docstring).
    """
    slots: list[StrategySlot] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        if not entry.enabled:
            continue
        if entry.name in seen:
            raise ConfigError(
                f"strategies[{i}].name",
                f"duplicate label {entry.name!r} (also strategies[{seen[entry.name]}])",
            )
        seen[entry.name] = i
        cls = resolve_class(entry, i)
        symbols = _symbols(entry, i, universe)
        try:
            slots.append(guarded_construct(cls, entry.name, symbols, entry.params))
        except ConfigError as exc:
            message = str(exc).removeprefix(f"{exc.field}: ")
            raise ConfigError(f"strategies[{i}].{exc.field}", message) from None
    return slots


def load_strategies(entries: Sequence[StrategyEntry], universe: Sequence[str]) -> list[Strategy]:
    """The enabled strategies of the config, constructed.

    Parameters
    ----------
    entries : sequence of StrategyEntry
        The ``strategies`` config section.
    universe : sequence of str
        ``engine.symbols``; an entry without symbols trades all of them.

    Raises
    ------
    ConfigError
        Any configuration mistake, with its path (see the module docstring).
    StrategyError
        A strategy's constructor raised (use :func:`load_slots` to carry on without it).
    """
    out = []
    for slot in load_slots(entries, universe):
        if slot.strategy is None:
            raise slot.error or StrategyError(f"strategy {slot.name!r}: not constructed")
        out.append(slot.strategy)
    return out
