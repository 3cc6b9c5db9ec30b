"""The strategy-call guard: failures become StrategyError, disable the slot, spare the rest."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import user_strategies as us

from greekfire.domain.orders import OrderIntent, Side
from greekfire.errors import ConfigError, StrategyError
from greekfire.strategy.base import ChainRequest, Strategy, StrategyContext
from greekfire.strategy.guard import (
    StrategySlot,
    guarded_chain_request,
    guarded_construct,
    guarded_cycle,
)


class _Returns(Strategy):
    """Returns whatever the test put in ``value`` (from on_cycle and chain_request)."""

    value: Any = ()

    def on_cycle(self, ctx: StrategyContext) -> Sequence[OrderIntent]:
        return self.value  # type: ignore[no-any-return]

    def chain_request(self, underlying: str) -> ChainRequest | None:
        return self.value  # type: ignore[no-any-return]


def _returning(value: object) -> StrategySlot:
    s = _Returns("ret", ["SPY"])
    s.value = value
    return StrategySlot.of(s)


def test_a_raising_strategy_is_disabled_and_the_others_still_trade(b) -> None:
    ctx = b.ctx().build()
    bad = StrategySlot.of(us.Raises("bad", ["SPY"]))
    good = StrategySlot.of(us.BuyOne("good", ["SPY", "QQQ"]))
    results = [guarded_cycle(slot, ctx) for slot in (bad, good)]
    (bad_intents, bad_err), (good_intents, good_err) = results
    assert bad_intents == ()
    assert isinstance(bad_err, StrategyError)
    assert "'bad'" in str(bad_err)
    assert "ZeroDivisionError" in str(bad_err)
    assert "boom in user code" in str(bad_err)
    assert isinstance(bad_err.__cause__, ZeroDivisionError)
    assert not bad.enabled
    assert bad.error is bad_err
    assert good_err is None
    assert good.enabled
    assert [(i.symbol, i.strategy) for i in good_intents] == [("SPY", "good"), ("QQQ", "good")]


def test_a_disabled_slot_stays_disabled_and_is_not_called_again(b) -> None:
    ctx = b.ctx().build()
    slot = StrategySlot.of(us.Raises("bad", ["SPY"]))
    _, first = guarded_cycle(slot, ctx)
    intents, again = guarded_cycle(slot, ctx)
    assert intents == ()
    assert again is first
    assert slot.calls == 1  # the second cycle did not call into the strategy
    req, err = guarded_chain_request(slot, "SPY")
    assert req is None
    assert err is first


@pytest.mark.parametrize(
    ("value", "what"),
    [
        (None, "NoneType"),
        ("buy SPY", "str"),
        (42, "int"),
        ([OrderIntent.single("SPY", Side.BUY, 1), "oops"], "str at [1]"),
    ],
)
def test_a_bad_return_value_disables_the_slot(b, value: object, what: str) -> None:
    slot = _returning(value)
    intents, err = guarded_cycle(slot, b.ctx().build())
    assert intents == ()
    assert isinstance(err, StrategyError)
    assert "'ret'" in str(err)
    assert what in str(err)
    assert not slot.enabled


def test_intents_are_labelled_with_the_slot_name(b) -> None:
    slot = _returning((OrderIntent.single("SPY", Side.BUY, 1, strategy="impostor"),))
    intents, err = guarded_cycle(slot, b.ctx().build())
    assert err is None
    assert [i.strategy for i in intents] == ["ret"]


def test_chain_request_guard_checks_the_type() -> None:
    good = _returning(ChainRequest(0, 30))
    assert guarded_chain_request(good, "SPY") == (ChainRequest(0, 30), None)
    none = _returning(None)
    assert guarded_chain_request(none, "SPY") == (None, None)
    bad = _returning({"dte_min": 0})
    req, err = guarded_chain_request(bad, "SPY")
    assert req is None
    assert isinstance(err, StrategyError)
    assert "dict" in str(err)
    assert not bad.enabled


def test_chain_request_that_raises_disables() -> None:
    class _Boom(_Returns):
        def chain_request(self, underlying: str) -> ChainRequest | None:
            raise KeyError(underlying)

    slot = StrategySlot.of(_Boom("boom", ["SPY"]))
    req, err = guarded_chain_request(slot, "SPY")
    assert req is None
    assert "chain_request raised KeyError" in str(err)


def test_constructor_failure_gives_a_disabled_slot() -> None:
    slot = guarded_construct(us.RaisesInInit, "init", ["SPY"], {})
    assert slot.strategy is None
    assert not slot.enabled
    assert "constructor raised RuntimeError: cannot start" in str(slot.error)


def test_constructor_config_error_is_not_swallowed() -> None:
    with pytest.raises(ConfigError) as info:
        guarded_construct(us.BuyOne, "b1", ["SPY"], {"qty": 0})
    assert info.value.field == "params.qty"


def test_keyboard_interrupt_is_not_caught(b) -> None:
    class _Interrupt(_Returns):
        def on_cycle(self, ctx: StrategyContext) -> Sequence[OrderIntent]:
            raise KeyboardInterrupt

    slot = StrategySlot.of(_Interrupt("ki", ["SPY"]))
    with pytest.raises(KeyboardInterrupt):
        guarded_cycle(slot, b.ctx().build())
