"""The wall between the engine and strategy code.

Every call into a strategy (its constructor, :meth:`~Strategy.chain_request`,
:meth:`~Strategy.on_cycle`) goes through this module. An exception, or a return value of the
wrong type, becomes a :class:`~greekfire.errors.StrategyError` naming the strategy and the
cause; the strategy's :class:`StrategySlot` is disabled for good (until a restart) and the
engine goes on with the others. This is one of the three places greekfire catches
``Exception`` (see CONVENTIONS.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from greekfire.domain.orders import OrderIntent
from greekfire.errors import ConfigError, StrategyError
from greekfire.strategy.base import ChainRequest, Strategy, StrategyContext

__all__ = [
    "StrategySlot",
    "guarded_chain_request",
    "guarded_construct",
    "guarded_cycle",
]

T = TypeVar("T")


@dataclass(slots=True)
class StrategySlot:
    """One configured strategy as the engine runs it.

    Attributes
    ----------
    name : str
        The strategy's label.
    strategy : Strategy or None
        None when its constructor failed.
    enabled : bool
        False once any call failed; a disabled slot is never called again.
    error : StrategyError or None
        The failure that disabled it.
    calls : int
        Guarded calls made (successful or not).
    """

    name: str
    strategy: Strategy | None
    enabled: bool = True
    error: StrategyError | None = None
    calls: int = field(default=0)

    @classmethod
    def of(cls, strategy: Strategy) -> StrategySlot:
        """An enabled slot for a constructed strategy."""
        return cls(strategy.name, strategy)

    def disable(self, error: StrategyError) -> None:
        """Disable the slot, keeping the first error."""
        self.enabled = False
        if self.error is None:
            self.error = error


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _call(
    slot: StrategySlot, what: str, fn: Callable[[], T]
) -> tuple[T | None, StrategyError | None]:
    slot.calls += 1
    try:
        return fn(), None
    except Exception as exc:  # the strategy boundary: any failure disables the slot
        error = StrategyError(f"strategy {slot.name!r}: {what} raised {_describe(exc)}")
        error.__cause__ = exc
        slot.disable(error)
        return None, error


def _fail(slot: StrategySlot, message: str) -> StrategyError:
    error = StrategyError(f"strategy {slot.name!r}: {message}")
    slot.disable(error)
    return error


def guarded_construct(
    cls: type[Strategy], name: str, symbols: Sequence[str], params: Mapping[str, Any]
) -> StrategySlot:
    """Construct a strategy behind the guard.

    Returns
    -------
    StrategySlot
        Enabled with the strategy, or disabled with the :class:`StrategyError` when the
        constructor raised (anything but a :class:`ConfigError`).

    Raises
    ------
    ConfigError
        Bad parameters: a configuration error, reported at startup, not a strategy failure.
    """
    slot = StrategySlot(name, None)
    slot.calls += 1
    try:
        strategy = cls(name, symbols, params)
    except ConfigError:
        raise
    except Exception as exc:  # the strategy boundary
        error = StrategyError(f"strategy {name!r}: constructor raised {_describe(exc)}")
        error.__cause__ = exc
        slot.disable(error)
        return slot
    if not isinstance(strategy, Strategy):  # a metaclass or __new__ trick
        _fail(slot, f"constructor returned {type(strategy).__name__}, not a Strategy")
        return slot
    slot.strategy = strategy
    return slot


def _disabled(slot: StrategySlot) -> StrategyError | None:
    if slot.enabled and slot.strategy is not None:
        return None
    return slot.error or _fail(slot, "disabled")


def guarded_cycle(
    slot: StrategySlot, ctx: StrategyContext
) -> tuple[tuple[OrderIntent, ...], StrategyError | None]:
    """Run ``on_cycle`` behind the guard.

    Returns
    -------
    (intents, error)
        The intents (each labelled ``strategy=slot.name``) and None; or no intents and the
        :class:`StrategyError` that disabled the slot (an exception, or a return value that is
        not a sequence of :class:`OrderIntent`). A slot disabled earlier returns its first
        error without calling the strategy.
    """
    error = _disabled(slot)
    if error is not None:
        return (), error
    strategy = slot.strategy
    assert strategy is not None  # checked by _disabled
    result, error = _call(slot, "on_cycle", lambda: strategy.on_cycle(ctx))
    if error is not None:
        return (), error
    if result is None or isinstance(result, str | bytes) or not isinstance(result, Sequence):
        kind = type(result).__name__
        return (), _fail(slot, f"on_cycle returned {kind}, expected a sequence of OrderIntent")
    intents = []
    for i, item in enumerate(result):
        if not isinstance(item, OrderIntent):
            kind = type(item).__name__
            return (), _fail(slot, f"on_cycle returned {kind} at [{i}], expected an OrderIntent")
        if item.strategy != slot.name:
            item = dataclasses.replace(item, strategy=slot.name)
        intents.append(item)
    return tuple(intents), None


def guarded_chain_request(
    slot: StrategySlot, underlying: str
) -> tuple[ChainRequest | None, StrategyError | None]:
    """Call ``chain_request(underlying)`` behind the guard.

    Returns
    -------
    (request, error)
        The request (None for no chain) and None; or None and the :class:`StrategyError` that
        disabled the slot (an exception, or a value that is neither a ChainRequest nor None).
    """
    error = _disabled(slot)
    if error is not None:
        return None, error
    strategy = slot.strategy
    assert strategy is not None
    result, error = _call(slot, "chain_request", lambda: strategy.chain_request(underlying))
    if error is not None:
        return None, error
    if result is not None and not isinstance(result, ChainRequest):
        kind = type(result).__name__
        return None, _fail(slot, f"chain_request returned {kind}, expected ChainRequest or None")
    return result, None
