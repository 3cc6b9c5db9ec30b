"""``ExchangeConfig``: defaults, validation naming field and value, TOML and JSON."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

import greekfire.exchange as exchange_package
from greekfire.errors import ConfigError
from greekfire.exchange.clock import SimClock
from greekfire.exchange.config import (
    DEFAULT_SYMBOLS,
    SYMBOL_PATTERN,
    ExchangeConfig,
    generated_tickers,
)
from greekfire.exchange.faults import DEFAULT_FAULT_PATHS, FaultConfig


def test_defaults() -> None:
    config = ExchangeConfig()
    assert (config.host, config.port, config.seed) == ("127.0.0.1", 0, 0)
    assert config.symbols == DEFAULT_SYMBOLS
    assert config.universe_symbols == DEFAULT_SYMBOLS
    assert (config.key_id, config.secret_key) == ("greekfire", "greekfire")
    assert config.auth_enabled
    assert config.gzip
    assert not config.warm
    assert config.faults == FaultConfig()
    assert config.faults.paths == DEFAULT_FAULT_PATHS


def test_universe_extends_the_symbols_deterministically() -> None:
    config = ExchangeConfig(universe=500)
    names = config.universe_symbols
    assert len(names) == len(set(names)) == 500
    assert names[: len(DEFAULT_SYMBOLS)] == DEFAULT_SYMBOLS
    assert all(SYMBOL_PATTERN.fullmatch(s) for s in names)
    assert ExchangeConfig(universe=500, seed=9).universe_symbols == names
    assert generated_tickers(20) == generated_tickers(40)[:20]
    assert ExchangeConfig(symbols=("SPY", "QQQ"), universe=1).universe_symbols == ("SPY",)


def test_symbols_accept_a_comma_string() -> None:
    assert ExchangeConfig(symbols="SPY, BRK.B").symbols == ("SPY", "BRK.B")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "field", "shown"),
    [
        ({"port": 70_000}, "port", "70000"),
        ({"port": -1}, "port", "-1"),
        ({"seed": -3}, "seed", "-3"),
        ({"host": ""}, "host", "''"),
        ({"symbols": ("spy",)}, "symbols", "'spy'"),
        ({"symbols": ("SPY", "SPY")}, "symbols", "'SPY'"),
        ({"symbols": ()}, "symbols", "at least one"),
        ({"universe": 0}, "universe", "0"),
        ({"key_id": None}, "secret_key", "neither"),
        ({"key_id": "", "secret_key": "x"}, "key_id", "''"),
        ({"speed": -1.0}, "speed", "-1.0"),
        ({"speed": float("inf")}, "speed", "inf"),
        ({"starting_cash": 0}, "starting_cash", "0"),
        ({"start": "soon"}, "start", "'soon'"),
        ({"start": dt.datetime(2024, 1, 2)}, "start", "datetime"),
        ({"start": "1999-01-01T00:00:00Z"}, "start", "1999"),
        ({"gzip": "yes"}, "gzip", "'yes'"),
        ({"faults": {"error_rate": 1}}, "faults", "error_rate"),
    ],
)
def test_validation_names_the_field_and_value(
    kwargs: dict[str, Any], field: str, shown: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        ExchangeConfig(**kwargs)
    assert caught.value.field == field
    assert shown in str(caught.value)


def test_start_is_parsed_to_utc() -> None:
    config = ExchangeConfig(start="2024-03-05T10:00:00-05:00")  # type: ignore[arg-type]
    assert config.start == dt.datetime(2024, 3, 5, 15, 0, tzinfo=dt.UTC)


def test_toml(tmp_path: Path) -> None:
    path = tmp_path / "exchange.toml"
    path.write_text(
        'port = 8123\nsymbols = ["SPY", "AAPL"]\nstart = "2024-03-05T15:00:00Z"\nspeed = 0.0\n'
        '[faults]\nlatency_ms = 50\nerror_rate = 0.1\nreject_symbols = ["AAPL"]\n'
    )
    config = ExchangeConfig.from_toml(path)
    assert config.port == 8123
    assert config.symbols == ("SPY", "AAPL")
    assert config.speed == 0
    assert config.faults.latency_ms == 50
    assert config.faults.error_rate == 0.1
    assert config.faults.reject_symbols == ("AAPL",)


def test_toml_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("port = [\n")
    with pytest.raises(ConfigError) as caught:
        ExchangeConfig.from_toml(bad)
    assert caught.value.field == "config"
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("colour = 'red'\n[faults]\n")
    with pytest.raises(ConfigError) as caught:
        ExchangeConfig.from_toml(unknown)
    assert caught.value.field == "colour"
    nested = tmp_path / "nested.toml"
    nested.write_text("[faults]\nflakiness = 1\n")
    with pytest.raises(ConfigError) as caught:
        ExchangeConfig.from_toml(nested)
    assert caught.value.field == "faults.flakiness"
    with pytest.raises(ConfigError):
        ExchangeConfig.from_toml(tmp_path / "missing.toml")


def test_json_round_trip() -> None:
    config = ExchangeConfig(
        port=9000,
        universe=30,
        start=dt.datetime(2024, 3, 5, 15, tzinfo=dt.UTC),
        faults=FaultConfig(latency_ms=5, rate_limit_rps=10, paths=("*",), fail_first_n=2),
    )
    assert ExchangeConfig.from_json(config.to_json()) == config
    with pytest.raises(ConfigError):
        ExchangeConfig.from_json("[1]")


def test_sim_clock_speed_and_freeze() -> None:
    wall = [1_000]
    start = dt.datetime(2024, 3, 5, 15, tzinfo=dt.UTC)
    frozen = SimClock(start, 0.0, wall_ns=lambda: wall[0])
    fast = SimClock(start, 10.0, wall_ns=lambda: wall[0])
    wall[0] += 5_000_000_000
    assert frozen().isoformat() == "2024-03-05T15:00:00+00:00"
    assert fast().isoformat() == "2024-03-05T15:00:50+00:00"
    with pytest.raises(ValueError, match="speed"):
        SimClock(start, -1.0)


def test_package_exports_lazily() -> None:
    for name in exchange_package.__all__:
        assert getattr(exchange_package, name) is not None
    with pytest.raises(AttributeError):
        _ = exchange_package.nothing_here
