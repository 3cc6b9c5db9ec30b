"""``greekfire serve-market`` flags: mapping to ``ExchangeConfig``, errors naming the option.

``serve`` is replaced by a recorder, so no server starts here (the integration tests run one).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from greekfire.cli import main as cli_main
from greekfire.exchange import server as exchange_server
from greekfire.exchange.config import ExchangeConfig

ENV: Mapping[str, str | None] = {"COLUMNS": "200", "FORCE_COLOR": None, "NO_COLOR": "1"}


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[ExchangeConfig]:
    seen: list[ExchangeConfig] = []

    def fake_serve(
        config: ExchangeConfig, *, announce: Callable[[str], None] | None = None, **_: Any
    ) -> None:
        seen.append(config)
        if announce is not None:
            announce("http://127.0.0.1:5555")
        raise KeyboardInterrupt  # Ctrl-C: how the command normally ends

    monkeypatch.setattr(exchange_server, "serve", fake_serve)
    return seen


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli_main.app, ["serve-market", *args], env=ENV)


def test_flags_build_the_config_and_ctrl_c_exits_0(served: list[ExchangeConfig]) -> None:
    result = invoke(
        "--port", "8123", "--seed", "4", "--symbols", "SPY,AAPL", "--universe", "20",
        "--speed", "0", "--start", "2024-03-05T15:00:00Z", "--latency-ms", "50",
        "--jitter-ms", "5", "--rate-limit", "100", "--error-rate", "0.1", "--hang-rate", "0.01",
        "--malformed-rate", "0.02", "--truncate-rate", "0.03", "--drop-rate", "0.04",
        "--fault-seed", "9", "--no-gzip", "--key", "abc", "--secret", "xyz",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (config,) = served
    assert (config.port, config.seed, config.symbols, config.universe) == (
        8123,
        4,
        ("SPY", "AAPL"),
        20,
    )
    assert config.start == dt.datetime(2024, 3, 5, 15, tzinfo=dt.UTC)
    assert (config.speed, config.gzip, config.key_id, config.secret_key) == (
        0.0,
        False,
        "abc",
        "xyz",
    )
    faults = config.faults
    assert (faults.latency_ms, faults.jitter_ms, faults.rate_limit_rps) == (50, 5, 100)
    assert (faults.error_rate, faults.hang_rate, faults.malformed_rate) == (0.1, 0.01, 0.02)
    assert (faults.truncate_rate, faults.drop_rate, faults.seed) == (0.03, 0.04, 9)
    assert "serving 20 symbols at http://127.0.0.1:5555" in result.stdout
    assert "APCA_API_BASE_URL=http://127.0.0.1:5555" in result.stdout
    assert "xyz" not in result.stdout  # the secret is never printed


def test_no_auth_and_toml_with_overrides(served: list[ExchangeConfig], tmp_path: Path) -> None:
    path = tmp_path / "market.toml"
    path.write_text('seed = 7\nsymbols = ["QQQ"]\n[faults]\nlatency_ms = 20\nerror_rate = 0.5\n')
    result = invoke("--config", str(path), "--no-auth", "--error-rate", "0.25")
    assert result.exit_code == 0, result.output
    (config,) = served
    assert (config.seed, config.symbols, config.key_id) == (7, ("QQQ",), None)
    assert (config.faults.latency_ms, config.faults.error_rate) == (20, 0.25)
    assert "auth: off" in result.stdout


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--error-rate", "1.5"], "--error-rate"),
        (["--drop-rate", "-0.1"], "--drop-rate"),
        (["--latency-ms", "-5"], "--latency-ms"),
        (["--port", "99999"], "--port"),
        (["--symbols", "spy"], "--symbols"),
        (["--universe", "0"], "--universe"),
        (["--speed", "-1"], "--speed"),
        (["--speed", "fast"], "--speed"),
        (["--start", "tomorrow"], "--start"),
        (["--fault-seed", "-1"], "--fault-seed"),
    ],
)
def test_bad_values_exit_2_naming_the_option(
    served: list[ExchangeConfig], args: list[str], option: str
) -> None:
    result = invoke(*args)
    assert result.exit_code == 2
    assert option in result.output
    assert served == []


def test_bad_config_file_exits_2(served: list[ExchangeConfig], tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("seed = [\n")
    result = invoke("--config", str(path))
    assert result.exit_code == 2
    assert "config" in result.output
    assert served == []
