"""``greekfire init``: the example config it writes is valid, private and never clobbered."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from greekfire.cli.init_cmd import write_example_config
from greekfire.errors import ConfigError
from greekfire.settings import Settings, example_config, load_settings


def test_writes_a_config_that_loads_to_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "trading_config.yaml"
    written = write_example_config(path, force=False)
    assert written == path
    assert path.read_text() == example_config()
    assert load_settings(path, env={}) == Settings.model_validate({})


def test_file_mode_is_0600(tmp_path: Path) -> None:
    path = write_example_config(tmp_path / "trading_config.yaml", force=False)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    path = tmp_path / "trading_config.yaml"
    path.write_text("risk:\n  max_positions: 3\n")
    with pytest.raises(ConfigError) as info:
        write_example_config(path, force=False)
    assert info.value.field == str(path)
    assert "--force" in str(info.value)
    assert path.read_text() == "risk:\n  max_positions: 3\n"  # untouched


def test_force_overwrites_and_keeps_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "trading_config.yaml"
    path.write_text("risk:\n  max_positions: 3\n")
    path.chmod(0o644)
    write_example_config(path, force=True)
    assert load_settings(path, env={}) == Settings.model_validate({})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["trading_config.yaml"]  # no temp left


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        write_example_config(tmp_path, force=True)
