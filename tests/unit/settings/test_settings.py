"""Settings: defaults, YAML loading, env overrides, secrets from env only, the example file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError

import greekfire.settings as settings_module
from greekfire.domain.config import Section
from greekfire.errors import ConfigError
from greekfire.settings import Secrets, Settings, example_config, load_secrets, load_settings

DEFAULTS = Settings.model_validate({})


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trading_config.yaml"
    path.write_text(text)
    return path


def test_defaults_are_the_embedded_setup() -> None:
    assert DEFAULTS.broker.kind == "paper"
    assert DEFAULTS.data.provider == "synthetic"
    assert [s.name for s in DEFAULTS.strategies] == ["momentum"]
    assert DEFAULTS.strategies[0].symbols == ()  # every symbol of engine.symbols
    assert len(DEFAULTS.engine.symbols) >= 1


def test_none_path_means_defaults_plus_env() -> None:
    assert load_settings(None, env={}) == DEFAULTS
    settings = load_settings(None, env={"GREEKFIRE_RISK__MAX_POSITIONS": "5"})
    assert settings.risk.max_positions == 5
    assert settings.engine == DEFAULTS.engine


def test_settings_are_frozen_and_reject_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        DEFAULTS.risk.max_positions = 3  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Settings.model_validate({"nope": 1})


def test_yaml_file_values(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "engine:\n  symbols: [spy, qqq]\n  timeframe: 5m\n"
        "  sim_start: 2026-11-23T14:30:00+00:00\n"
        "risk:\n  greeks:\n    max_abs_delta_usd: 5000\n"
        "strategies:\n  - name: wheel\n    symbols: [SPY]\n    params: {put_delta: 0.25}\n",
    )
    settings = load_settings(path, env={})
    assert settings.engine.symbols == ("SPY", "QQQ")
    assert settings.engine.timeframe == "5m"
    assert settings.engine.sim_start is not None
    assert settings.engine.sim_start.utcoffset() is not None
    assert settings.risk.greeks.max_abs_delta_usd == 5000
    assert settings.strategies[0].params == {"put_delta": 0.25}
    assert settings.broker == DEFAULTS.broker  # untouched sections keep their defaults


def test_yaml_is_read_safely(tmp_path: Path) -> None:
    path = _write(tmp_path, "engine: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert info.value.field == str(path)
    assert "python/object/apply" in str(info.value)


def test_env_overrides_scalars_lists_and_nested_keys(tmp_path: Path) -> None:
    path = _write(tmp_path, "risk:\n  max_positions: 9\n")
    env = {
        "GREEKFIRE_ENGINE__SYMBOLS": "[SPY, QQQ]",
        "GREEKFIRE_RISK__MAX_POSITIONS": "5",
        "GREEKFIRE_BROKER__PAPER__FEES__TAF_MAX_USD": "9.5",
        "GREEKFIRE_ENGINE__DRY_RUN": "true",
        "GREEKFIRE_JOURNAL__PATH": "/tmp/x.db",
        "GREEKFIRE_STRATEGIES__0__ENABLED": "false",
        "GREEKFIRE_DEBUG": "1",  # the CLI's variable, not a config override
        "HOME": "/root",
    }
    settings = load_settings(path, env=env)
    assert settings.engine.symbols == ("SPY", "QQQ")
    assert settings.risk.max_positions == 5  # env beats the file
    assert settings.broker.paper.fees.taf_max_usd == 9.5
    assert settings.engine.dry_run is True
    assert settings.journal.path == "/tmp/x.db"
    assert settings.strategies[0].enabled is False
    assert settings.strategies[0].name == "momentum"


def test_env_override_of_a_whole_list() -> None:
    env = {"GREEKFIRE_STRATEGIES": "[{name: wheel, symbols: [SPY]}, {name: momentum}]"}
    settings = load_settings(None, env=env)
    assert [s.name for s in settings.strategies] == ["wheel", "momentum"]


def test_env_override_into_strategy_params() -> None:
    env = {
        "GREEKFIRE_STRATEGIES": "[{name: mine, module: 'my.mod:Mine'}]",
        "GREEKFIRE_STRATEGIES__0__PARAMS__LOOKBACK": "30",  # applied after the whole list
    }
    settings = load_settings(None, env=env)
    assert settings.strategies[0].params == {"lookback": 30}


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("GREEKFIRE_RISK__MAX_POSITIONZ", "5", "risk.max_positionz"),
        ("GREEKFIRE_ENGINE__DRY_RUN__X", "1", "engine.dry_run.x"),
        ("GREEKFIRE_ENGIN__SYMBOLS", "[SPY]", "engin"),
        ("GREEKFIRE_STRATEGIES__3__ENABLED", "false", "strategies[3]"),
    ],
)
def test_env_override_of_unknown_key_names_the_variable(name: str, value: str, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, env={name: value})
    assert info.value.field == field
    assert name in str(info.value)


def test_env_override_bad_value_names_field_value_and_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, env={"GREEKFIRE_BROKER__KIND": "ib"})
    assert info.value.field == "broker.kind"
    assert "'ib'" in str(info.value)
    assert "GREEKFIRE_BROKER__KIND" in str(info.value)


def test_secrets_come_only_from_env() -> None:
    secrets = load_secrets({"APCA_API_KEY_ID": "id-123", "APCA_API_SECRET_KEY": "sk-456"})
    assert isinstance(secrets.alpaca_key_id, SecretStr)
    assert secrets.alpaca_key_id.get_secret_value() == "id-123"
    assert "sk-456" not in repr(secrets)
    assert secrets.redaction_values() == ("id-123", "sk-456")
    assert load_secrets({"APCA_API_KEY_ID": ""}) == Secrets()
    assert "alpaca_key_id" not in Settings.model_fields


@pytest.mark.parametrize(
    "key", ["api_key", "secret", "secret_key", "password", "token", "key_id", "apiKey"]
)
def test_secret_looking_keys_anywhere_are_refused(tmp_path: Path, key: str) -> None:
    path = _write(
        tmp_path,
        f"strategies:\n  - name: x\n    module: a.b:C\n    params:\n      deep: [{{{key}: v4lue}}]\n",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert info.value.field == f"strategies[0].params.deep[0].{key}"
    assert "secrets are read only from the environment" in str(info.value)
    assert "v4lue" not in str(info.value)


def test_harmless_keys_are_not_mistaken_for_secrets(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "strategies:\n  - name: x\n    module: a.b:C\n"
        "    params: {max_tokens: 3, monkey: 1, sort_key: a}\n",
    )
    assert load_settings(path, env={}).strategies[0].params["monkey"] == 1


# ----------------------------------------------------------------------------- example file


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    found = [model]
    for info in model.model_fields.values():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found.extend(_models(annotation))
    return found


def test_example_config_parses_back_to_the_defaults(tmp_path: Path) -> None:
    path = _write(tmp_path, example_config())
    assert load_settings(path, env={}) == DEFAULTS


def test_example_config_documents_every_field() -> None:
    text = example_config()
    for model in _models(Settings):
        for name, info in model.model_fields.items():
            assert re.search(rf"^\s*(- )?{name}:", text, re.MULTILINE), name
            if info.description:
                first_words = " ".join(info.description.split()[:3])
                assert first_words in " ".join(text.replace("#", " ").split()), name
    for line in text.splitlines():
        assert len(line) <= 100
    assert "APCA_API_SECRET_KEY" in text


def test_example_config_comment_sits_above_its_key() -> None:
    lines = example_config().splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip().startswith("max_positions:"))
    assert lines[index - 1].strip().startswith("# Most open positions")
    assert "(>= 1)" in lines[index - 1]


def test_example_wheel_block_runs_when_uncommented(tmp_path: Path) -> None:
    lines = example_config().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  # - name: wheel"))
    block = [line.replace("  # ", "  ", 1) for line in lines[start:] if line.startswith("  # ")]
    path = _write(tmp_path, "\n".join([*lines[:start], *block]) + "\n")
    settings = load_settings(path, env={})
    assert [s.name for s in settings.strategies] == ["momentum", "wheel"]
    assert settings.strategies[1].symbols == ("SPY",)


class _FakeWheelParams(Section):
    target_delta: float = Field(0.3, gt=0, lt=1, description="Target |delta| of the put.")
    dte_min: int = Field(21, ge=0, description="Shortest expiry.")


def test_builtin_strategy_params_are_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        settings_module,
        "_builtin_params",
        lambda: {"wheel": _FakeWheelParams, "momentum": _FakeWheelParams},
    )
    path = _write(
        tmp_path,
        "strategies:\n  - name: momentum\n  - name: wheel\n    params:\n      target_delta: high\n",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert info.value.field == "strategies[1].params.target_delta"
    assert "'high'" in str(info.value)
    assert "(line 5)" in str(info.value)
    path.write_text("strategies:\n  - name: wheeel\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert info.value.field == "strategies[0].name"
    assert "did you mean 'wheel'?" in str(info.value)
    text = example_config()
    assert "#     target_delta: 0.3" in text  # the wheel's params, from its model
    assert yaml.safe_load(text) is not None


def test_real_builtin_params_when_the_loader_exists(tmp_path: Path) -> None:
    builtins = settings_module._builtin_params()
    if "wheel" not in builtins:
        pytest.skip("greekfire.strategy.loader.BUILTINS has no wheel yet")
    field = next(iter(builtins["wheel"].model_fields))
    path = _write(tmp_path, f"strategies:\n  - name: wheel\n    params: {{{field}: [1, 2]}}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert info.value.field == f"strategies[0].params.{field}"
    assert "[1, 2]" in str(info.value)
