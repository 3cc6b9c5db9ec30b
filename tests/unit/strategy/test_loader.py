"""Loading strategies from config entries: built-ins, user modules, errors with their path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from greekfire.errors import ConfigError, StrategyError
from greekfire.strategy.config import StrategyEntry
from greekfire.strategy.library import MomentumStrategy, WheelStrategy
from greekfire.strategy.loader import BUILTINS, load_slots, load_strategies

UNIVERSE = ["SPY", "QQQ", "IWM"]


@pytest.fixture(autouse=True)
def _user_module_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))


def _entry(**kw: Any) -> StrategyEntry:
    return StrategyEntry(**kw)


def test_builtins_registry() -> None:
    assert set(BUILTINS) == {"momentum", "mean_reversion", "wheel", "vertical_credit"}
    assert all(cls.kind == name for name, cls in BUILTINS.items())


def test_loads_builtins_and_user_classes_with_symbols_and_params() -> None:
    entries = [
        _entry(name="momentum", params={"fast": 10, "slow": 30}),
        _entry(name="wheel", symbols=("spy",)),
        _entry(name="mine", module="user_strategies:BuyOne", params={"qty": 3}),
        _entry(name="off", module="user_strategies:Raises", enabled=False),
    ]
    got = load_strategies(entries, UNIVERSE)
    assert [s.name for s in got] == ["momentum", "wheel", "mine"]
    mom, wheel, mine = got
    assert isinstance(mom, MomentumStrategy)
    assert mom.symbols == tuple(UNIVERSE)
    assert mom.p.fast == 10
    assert mom.p.slow == 30
    assert isinstance(wheel, WheelStrategy)
    assert wheel.symbols == ("SPY",)
    assert type(mine).__name__ == "BuyOne"
    assert mine.params.qty == 3


@pytest.mark.parametrize(
    ("entries", "field", "words"),
    [
        ([_entry(name="momentun")], "strategies[0].name", ["unknown", "'momentum'"]),
        (
            [_entry(name="a", module="no_such_pkg.mod:X")],
            "strategies[0].module",
            ["cannot import", "no_such_pkg.mod"],
        ),
        (
            [_entry(name="a", module="user_strategies:BuyOn")],
            "strategies[0].module",
            ["no attribute 'BuyOn'", "'BuyOne'"],
        ),
        (
            [_entry(name="a", module="user_strategies:NotAStrategy")],
            "strategies[0].module",
            ["subclass of Strategy"],
        ),
        (
            [_entry(name="a", module="user_strategies:Abstract")],
            "strategies[0].module",
            ["abstract"],
        ),
        (
            [_entry(name="wheel"), _entry(name="momentum", symbols=("SPY", "TSLA"))],
            "strategies[1].symbols",
            ["'TSLA'", "engine.symbols"],
        ),
        (
            [_entry(name="wheel"), _entry(name="wheel")],
            "strategies[1].name",
            ["duplicate", "strategies[0]"],
        ),
        (
            [_entry(name="wheel", params={"put_delta": 1.5})],
            "strategies[0].params.put_delta",
            ["1.5"],
        ),
        (
            [_entry(name="momentum", params={"fast": 50, "slow": 20})],
            "strategies[0].params",
            ["fast", "below slow"],
        ),
        (
            [_entry(name="m", module="user_strategies:BuyOne", params={"qty": "many"})],
            "strategies[0].params.qty",
            ["'many'"],
        ),
        (
            [_entry(name="m", module="user_strategies:BuyOne", params={"size": 2})],
            "strategies[0].params.size",
            ["unknown parameter", "qty"],
        ),
    ],
)
def test_config_errors_name_the_path(
    entries: list[StrategyEntry], field: str, words: list[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        load_strategies(entries, UNIVERSE)
    assert info.value.field == field
    for word in words:
        assert word in str(info.value)


def test_a_module_that_raises_on_import_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_user_mod.py").write_text("raise RuntimeError('import-time bug')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError) as info:
        load_strategies([_entry(name="x", module="broken_user_mod:S")], UNIVERSE)
    assert info.value.field == "strategies[0].module"
    assert "import-time bug" in str(info.value)


def test_constructor_failure_strict_and_lenient() -> None:
    entries = [
        _entry(name="bad", module="user_strategies:RaisesInInit"),
        _entry(name="good", module="user_strategies:BuyOne"),
    ]
    with pytest.raises(StrategyError, match=r"'bad'.*cannot start"):
        load_strategies(entries, UNIVERSE)
    slots = load_slots(entries, UNIVERSE)
    assert [(s.name, s.enabled) for s in slots] == [("bad", False), ("good", True)]
