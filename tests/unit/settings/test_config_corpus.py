"""Acceptance 5: every broken config gives exactly one clear ConfigError naming the field.

Each file of ``broken/`` starts with header comments: ``# field:`` the expected dotted path
(``<file>`` for the file itself: syntax errors, a file that is not a mapping), ``# value:`` a
fragment the message must contain (the bad value, or the line and column), optional
``# env: NAME=value`` overrides, and ``# secret:`` a value the message must never echo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from greekfire.errors import ConfigError
from greekfire.settings import Settings, load_settings

BROKEN = Path(__file__).parent / "broken"
CASES = sorted(BROKEN.glob("*.yaml"))


@dataclass
class Expectation:
    field: str
    value: str
    env: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)


def _expectation(path: Path) -> Expectation:
    header: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if not line.startswith("# ") or ":" not in line:
            break
        key, _, value = line[2:].partition(":")
        header.setdefault(key.strip(), []).append(value.strip())
    env = dict(item.split("=", 1) for item in header.get("env", []))
    return Expectation(header["field"][0], header["value"][0], env, header.get("secret", []))


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 25
    kinds = {_expectation(p).field.split(".")[0].split("[")[0] for p in CASES}
    assert {"engine", "risk", "broker", "journal", "strategies", "<file>"} <= kinds


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_broken_config_gives_one_clear_error(path: Path) -> None:
    expected = _expectation(path)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env=expected.env)
    error = info.value
    want_field = str(path) if expected.field == "<file>" else expected.field
    assert error.field == want_field
    text = str(error)
    assert text.startswith(f"{want_field}: ")
    assert expected.value in text
    assert "\n" not in text  # one message, one line
    assert error.__cause__ is None  # no pydantic/yaml error chained behind it
    for secret in expected.secrets:
        assert secret not in text


def test_several_errors_report_the_first_and_count_the_rest() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(BROKEN / "several_errors.yaml", env={})
    assert "got 3" in str(info.value)
    assert str(info.value).endswith("(and 2 more)")


def test_error_names_the_line_in_the_file() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(BROKEN / "negative_fee.yaml", env={})
    assert "(line 6)" in str(info.value)


def test_unknown_key_suggests_the_closest_name() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(BROKEN / "unknown_key_in_strategy.yaml", env={})
    assert "did you mean 'params'?" in str(info.value)


def test_empty_file_means_the_defaults(tmp_path: Path) -> None:
    for text in ("", "\n", "# only a comment\n", "---\n"):
        path = tmp_path / "empty.yaml"
        path.write_text(text)
        assert load_settings(path, env={}) == Settings.model_validate({})


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "trading_config.yaml"
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert info.value.field == str(path)
    assert f"'{path}'" in str(info.value)
    assert "not found" in str(info.value)
