"""The whole configuration file, composed from each package's section.

``trading_config.yaml`` is read with ``yaml.safe_load`` and validated by :class:`Settings`
(every section frozen, unknown keys rejected). Environment variables override the file::

    GREEKFIRE_<SECTION>__<KEY>[__<SUBKEY>...]=<YAML scalar or flow list>
    GREEKFIRE_RISK__MAX_POSITIONS=5
    GREEKFIRE_ENGINE__SYMBOLS='[SPY, QQQ]'
    GREEKFIRE_STRATEGIES__0__ENABLED=false      # a list entry by its index

Secrets are read only from the environment (``APCA_API_KEY_ID``, ``APCA_API_SECRET_KEY``,
see :func:`load_secrets`); a secret-looking key in the file is an error. Every problem is
one :class:`~greekfire.errors.ConfigError` whose ``field`` is the dotted path of the bad key
(``risk.max_positions``, ``strategies[1].params.target_delta``) and whose message quotes the
bad value. :func:`example_config` renders the commented example ``greekfire init`` writes.
"""

from __future__ import annotations

import difflib
import importlib
import itertools
import os
import re
import textwrap
import types
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_core import ErrorDetails

from greekfire.broker.config import BrokerConfig
from greekfire.domain.config import Section
from greekfire.engine.config import DataConfig, EngineConfig
from greekfire.errors import ConfigError
from greekfire.journal.config import JournalConfig
from greekfire.risk.config import RiskConfig
from greekfire.strategy.config import StrategyEntry
from greekfire.web.config import TOKEN_ENV_VAR, DashboardConfig

__all__ = [
    "ENV_PREFIX",
    "SECRET_ENV_VARS",
    "Secrets",
    "Settings",
    "example_config",
    "load_secrets",
    "load_settings",
]

ENV_PREFIX = "GREEKFIRE_"
SECRET_ENV_VARS = ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY", TOKEN_ENV_VAR)

_DEFAULT_STRATEGIES = (StrategyEntry.model_validate({"name": "momentum"}),)
# Key names that hold credentials; matched on whole words of the normalised key.
_SECRET_WORDS = frozenset({"secret", "password", "passwd", "token", "apikey", "credentials"})
_SECRET_PAIRS = frozenset({("api", "key"), ("key", "id"), ("secret", "key"), ("access", "key")})
_MAX_VALUE_REPR = 120
_S = TypeVar("_S", bound=BaseModel)


def _defaults(section: type[_S]) -> Callable[[], _S]:
    # model_validate({}) rather than section(): mypy sees positional Field defaults as required.
    return lambda: section.model_validate({})


class Settings(Section):
    """The whole ``trading_config.yaml``: one field per section, every one optional.

    The defaults are the embedded setup: the momentum strategy on the default symbols,
    synthetic market data, the paper broker and a local SQLite journal.
    """

    engine: EngineConfig = Field(
        default_factory=_defaults(EngineConfig), description="The trading loop."
    )
    data: DataConfig = Field(
        default_factory=_defaults(DataConfig), description="Where market data comes from."
    )
    broker: BrokerConfig = Field(
        default_factory=_defaults(BrokerConfig), description="Which broker the bot trades through."
    )
    risk: RiskConfig = Field(
        default_factory=_defaults(RiskConfig), description="Pre-trade checks and sizing."
    )
    journal: JournalConfig = Field(
        default_factory=_defaults(JournalConfig), description="The SQLite journal."
    )
    dashboard: DashboardConfig = Field(
        default_factory=_defaults(DashboardConfig), description="The web dashboard."
    )
    strategies: tuple[StrategyEntry, ...] = Field(
        _DEFAULT_STRATEGIES, description="The strategies the bot runs, in this order."
    )


class Secrets(Section):
    """Credentials, read only from the environment by :func:`load_secrets`, never from a file."""

    alpaca_key_id: SecretStr | None = None
    alpaca_secret_key: SecretStr | None = None
    dashboard_token: SecretStr | None = None

    def redaction_values(self) -> tuple[str, ...]:
        """The secret values present, for the log redactor (never print them).

        Returns
        -------
        tuple of str
            The revealed values of the secrets that are set.
        """
        values = (self.alpaca_key_id, self.alpaca_secret_key, self.dashboard_token)
        return tuple(v.get_secret_value() for v in values if v is not None)


def load_secrets(env: Mapping[str, str] | None = None) -> Secrets:
    """Read the credentials from the environment.

    Parameters
    ----------
    env : Mapping[str, str], optional
        The environment; ``os.environ`` when omitted. Empty values count as unset.

    Returns
    -------
    Secrets
        ``APCA_API_KEY_ID`` and ``APCA_API_SECRET_KEY`` as ``SecretStr`` (or ``None``).
    """
    source = os.environ if env is None else env
    key_id = source.get("APCA_API_KEY_ID") or None
    secret = source.get("APCA_API_SECRET_KEY") or None
    token = source.get(TOKEN_ENV_VAR) or None
    return Secrets(
        alpaca_key_id=SecretStr(key_id) if key_id else None,
        alpaca_secret_key=SecretStr(secret) if secret else None,
        dashboard_token=SecretStr(token) if token else None,
    )


def load_settings(path: str | Path | None, env: Mapping[str, str] | None = None) -> Settings:
    """Load, override from the environment and validate the configuration.

    Parameters
    ----------
    path : str or Path or None
        The YAML file; ``None`` starts from the defaults. An empty file means the defaults.
    env : Mapping[str, str], optional
        The environment for ``GREEKFIRE_<SECTION>__<KEY>`` overrides; ``os.environ`` when
        omitted (pass ``{}`` to ignore the environment).

    Returns
    -------
    Settings
        The validated, frozen settings.

    Raises
    ------
    ConfigError
        One error for the whole file: the first problem found, its dotted field path, the bad
        value, and "(and N more)" when there are more. A missing file, a YAML syntax error
        (with line and column), a file that is not a mapping, a secret in the file, an
        override of an unknown key, and every validation failure.
    """
    source = os.environ if env is None else env
    data: dict[str, Any] = {}
    root: yaml.Node | None = None
    if path is not None:
        data, root = _read_yaml(Path(path))
    overrides = _apply_env(data, source)
    _reject_secrets(data, ())
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise _to_config_error(exc.errors(), Settings, (), overrides, root) from None
    _check_builtin_params(settings, root)
    return settings


# --------------------------------------------------------------------------- reading the file


def _read_yaml(path: Path) -> tuple[dict[str, Any], yaml.Node | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), f"config file not found: '{path}'") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"cannot read config file '{path}': {exc}") from None
    try:
        data = yaml.safe_load(text)
        root = yaml.SafeLoader(text).get_single_node()  # composes nodes only: lines, duplicates
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), _yaml_message(path, exc)) from None
    if root is not None:
        _reject_duplicate_keys(path, root)
    if data is None:
        return {}, None
    if not isinstance(data, dict):
        raise ConfigError(
            str(path),
            f"expected a mapping of sections (engine:, broker:, ...) at the top of '{path}', "
            f"got a {type(data).__name__}: {_quote(data)}",
        )
    return data, root


def _yaml_message(path: Path, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is None:
        return f"YAML syntax error in '{path}': {problem}"
    text = f"YAML syntax error in '{path}' at {_where(mark)}: {problem}"
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None and context_mark is not mark:
        text += f" ({context} started at {_where(context_mark)})"
    return text


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _reject_duplicate_keys(path: Path, node: yaml.Node) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if isinstance(key_node, yaml.ScalarNode) and key in seen:
                raise ConfigError(
                    str(path),
                    f"duplicate key '{key}' at line {line}, column "
                    f"{key_node.start_mark.column + 1} (first at line {seen[key]})",
                )
            seen[key] = line
            _reject_duplicate_keys(path, value_node)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _reject_duplicate_keys(path, item)


def _is_secret_key(key: object) -> bool:
    words = [w for w in re.split(r"[^a-z0-9]+", str(key).lower()) if w]
    if any(w in _SECRET_WORDS for w in words):
        return True
    return any(pair in _SECRET_PAIRS for pair in itertools.pairwise(words))


def _reject_secrets(value: object, loc: tuple[str | int, ...]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if _is_secret_key(key):
                raise ConfigError(
                    _dotted((*loc, str(key))),
                    f"secrets are read only from the environment ({', '.join(SECRET_ENV_VARS)});"
                    f" remove the key '{key}' from the configuration",
                )
            _reject_secrets(item, (*loc, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _reject_secrets(item, (*loc, index))


# --------------------------------------------------------------------------- env overrides


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> dict[tuple[str | int, ...], str]:
    """Write every ``GREEKFIRE_*`` override into ``data``; return path -> env var name."""
    applied: dict[tuple[str | int, ...], str] = {}
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :]
        # Plain GREEKFIRE_DEBUG-style variables belong to the CLI, not to the config.
        if "__" not in rest and rest.lower() not in Settings.model_fields:
            continue
        parts = [p.lower() for p in rest.split("__")]
        if any(_is_secret_key(p) for p in parts):
            raise ConfigError(
                _dotted([int(p) if p.isdigit() else p for p in parts]),
                f"secrets are read only from {', '.join(SECRET_ENV_VARS)}, not from {name}",
            )
        loc = _resolve_env_path(parts, name)
        _set_path(data, loc, _parse_env_value(env[name]), name)
        applied[loc] = name
    return applied


def _parse_env_value(raw: str) -> Any:
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def _resolve_env_path(parts: Sequence[str], env_name: str) -> tuple[str | int, ...]:
    loc: list[str | int] = []
    annotation: Any = Settings
    for part in parts:
        kind, inner = _classify(annotation)
        if kind == "model":
            fields = inner.model_fields
            if part not in fields:
                raise ConfigError(
                    _dotted((*loc, part)),
                    f"unknown setting in environment variable {env_name}: "
                    f"{_known_keys(part, fields)}",
                )
            loc.append(part)
            annotation = fields[part].annotation
        elif kind == "sequence" and part.isdigit():
            loc.append(int(part))
            annotation = inner
        elif kind == "mapping":
            loc.append(part)
            annotation = Any
        else:
            raise ConfigError(
                _dotted((*loc, part)),
                f"unknown setting in environment variable {env_name}: "
                f"'{_dotted(tuple(loc))}' has no key '{part}'",
            )
    return tuple(loc)


def _set_path(data: dict[str, Any], loc: tuple[str | int, ...], value: Any, env_name: str) -> None:
    node: Any = data
    for depth, key in enumerate(loc[:-1]):
        if isinstance(key, int):
            node = _list_at(node, loc[:depth], env_name)
            if key >= len(node):
                raise ConfigError(
                    _dotted(loc[: depth + 1]),
                    f"{env_name} refers to entry {key}, but there are only {len(node)}",
                )
            node = node[key]
            continue
        if not isinstance(node, dict):
            raise ConfigError(
                _dotted(loc[:depth]), f"cannot apply {env_name}: {_quote(node)} is not a mapping"
            )
        if key not in node or node[key] is None:
            node[key] = [e.model_dump() for e in _DEFAULT_STRATEGIES] if key == "strategies" else {}
        if not isinstance(node[key], dict | list):
            raise ConfigError(
                _dotted(loc[: depth + 1]),
                f"cannot apply {env_name}: the file sets it to {_quote(node[key])}, not a mapping",
            )
        node = node[key]
    last = loc[-1]
    if isinstance(last, int) and last >= len(_list_at(node, loc[:-1], env_name)):
        raise ConfigError(
            _dotted(loc), f"{env_name} refers to entry {last}, but there are only {len(node)}"
        )
    if isinstance(last, str) and not isinstance(node, dict):
        raise ConfigError(
            _dotted(loc[:-1]), f"cannot apply {env_name}: {_quote(node)} is not a mapping"
        )
    node[last] = value


def _list_at(node: Any, loc: tuple[str | int, ...], env_name: str) -> list[Any]:
    if not isinstance(node, list):
        raise ConfigError(_dotted(loc), f"cannot apply {env_name}: {_quote(node)} is not a list")
    return node


# --------------------------------------------------------------------------- error messages


def _classify(annotation: Any) -> tuple[str, Any]:
    """What a field holds: a section ("model"), a list ("sequence"), a dict, or a value."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        return _classify(members[0]) if len(members) == 1 else ("value", None)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "model", annotation
    if origin in (tuple, list):
        args = get_args(annotation)
        return "sequence", args[0] if args else Any
    if origin is dict or annotation is dict:
        return "mapping", None
    return "value", None


def _field_path(
    loc: Sequence[str | int], root: type[BaseModel]
) -> tuple[tuple[str | int, ...], Any]:
    """Keep the parts of a pydantic ``loc`` that are keys of the file (drop union labels)."""
    kept: list[str | int] = []
    annotation: Any = root
    for part in loc:
        kind, inner = _classify(annotation)
        if kind == "model" and isinstance(part, str) and part in inner.model_fields:
            annotation = inner.model_fields[part].annotation
        elif kind == "sequence" and isinstance(part, int):
            annotation = inner
        elif kind == "mapping":
            annotation = Any
        elif kind == "model" and isinstance(part, str):
            annotation = None  # an unknown key: extra_forbidden reports it
        else:
            break
        kept.append(part)
    return tuple(kept), annotation


def _to_config_error(
    errors: list[ErrorDetails],
    root: type[BaseModel],
    prefix: tuple[str | int, ...],
    overrides: Mapping[tuple[str | int, ...], str],
    node: yaml.Node | None,
) -> ConfigError:
    first = errors[0]
    loc, annotation = _field_path(first["loc"], root)
    message = _message(first, root, loc)
    # A model validator names its field as "name: ..."; point the path at that field.
    match = re.match(r"(\w+): ", first["msg"].removeprefix("Value error, "))
    kind, inner = _classify(annotation)
    named = match.group(1) if match else None
    if first["type"] == "value_error" and kind == "model" and named in inner.model_fields:
        loc = (*loc, str(named))
        message = first["msg"].removeprefix("Value error, ")[len(f"{named}: ") :]
    full = (*prefix, *loc)
    source = next((n for p, n in overrides.items() if full[: len(p)] == p), None)
    if source is not None:
        message += f" (from environment variable {source})"
    else:
        line = _line_of(node, full)
        message += f" (line {line})" if line is not None else ""
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    return ConfigError(_dotted(full) or "config", message)


def _message(error: ErrorDetails, root: type[BaseModel], loc: tuple[str | int, ...]) -> str:
    value = error.get("input")
    if error["type"] == "extra_forbidden":
        _, parent = _field_path(loc[:-1], root)
        kind, inner = _classify(parent)
        known = _known_keys(str(loc[-1]), inner.model_fields) if kind == "model" else ""
        return f"unknown key '{loc[-1]}' (value {_quote(value)}); {known}"
    text = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        return f"missing required key '{loc[-1]}'" if loc else text
    if error["type"] in ("model_type", "dict_type"):
        text = "expected a mapping (key: value lines)"
    elif error["type"] in ("tuple_type", "list_type"):
        text = "expected a list ('- item' lines or [a, b])"
    quoted = _quote(value)
    if error["type"] == "value_error" and quoted in text:
        return text  # the validator quoted the value itself
    return f"{text}; got {quoted}"


def _known_keys(key: str, fields: Mapping[str, Any]) -> str:
    names = sorted(fields)
    close = difflib.get_close_matches(key, names, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"expected one of {', '.join(names)}{hint}"


def _quote(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_VALUE_REPR else text[: _MAX_VALUE_REPR - 3] + "..."


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(node: yaml.Node | None, loc: Sequence[str | int]) -> int | None:
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if str(k.value) == str(part)]
            if not match:
                break
            line, node = match[-1][0].start_mark.line + 1, match[-1][1]
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


# --------------------------------------------------------------------------- strategy params


def _builtin_params() -> dict[str, type[BaseModel]]:
    """``Params`` model of each built-in strategy (empty until the strategy loader exists)."""
    try:
        loader = importlib.import_module("greekfire.strategy.loader")
    except ModuleNotFoundError as exc:
        if exc.name == "greekfire.strategy.loader":
            return {}
        raise
    registry = getattr(loader, "BUILTINS", {})
    found: dict[str, type[BaseModel]] = {}
    for name, cls in dict(registry).items():
        params = getattr(cls, "Params", None)
        if isinstance(params, type) and issubclass(params, BaseModel):
            found[str(name)] = params
    return found


def _check_builtin_params(settings: Settings, node: yaml.Node | None) -> None:
    builtins = _builtin_params()
    for index, entry in enumerate(settings.strategies):
        if entry.module is not None or not builtins:
            continue
        loc: tuple[str | int, ...] = ("strategies", index)
        params = builtins.get(entry.name)
        if params is None:
            close = difflib.get_close_matches(entry.name, sorted(builtins), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                _dotted((*loc, "name")),
                f"unknown built-in strategy {entry.name!r} (built-ins: "
                f"{', '.join(sorted(builtins))}{hint}); set module: 'pkg.mod:Class' for your own",
            )
        try:
            params.model_validate(entry.params)
        except ValidationError as exc:
            raise _to_config_error(exc.errors(), params, (*loc, "params"), {}, node) from None


# --------------------------------------------------------------------------- the example file

_HEADER = """\
# greekfire configuration (trading_config.yaml), written by `greekfire init`.
# Every key is optional: a missing key takes the default shown here; unknown keys are errors.
# Environment variables override the file: GREEKFIRE_<SECTION>__<KEY>[__<SUBKEY>], values as
# YAML scalars or flow lists, e.g. GREEKFIRE_RISK__MAX_POSITIONS=5,
# GREEKFIRE_ENGINE__SYMBOLS='[SPY, QQQ]', GREEKFIRE_STRATEGIES__0__ENABLED=false.
# Secrets are never read from this file: set APCA_API_KEY_ID and APCA_API_SECRET_KEY in the
# environment.
"""


def example_config() -> str:
    """The commented example configuration, generated from the config models.

    Each key carries its description (and allowed values or bounds) as a comment above it
    and its default as the value; the strategies list runs the default momentum entry and
    shows the wheel as a commented example. :func:`load_settings` reads it back to the
    defaults.

    Returns
    -------
    str
        YAML text.
    """
    defaults = Settings.model_validate({})
    builtins = _builtin_params()
    lines = [_HEADER.rstrip("\n")]
    for name, info in Settings.model_fields.items():
        lines.append("")
        lines.extend(_comment(_describe(info, getattr(defaults, name)), ""))
        if name == "strategies":
            lines.extend(_strategies_block(defaults.strategies, builtins))
            continue
        lines.append(f"{name}:")
        lines.extend(_section_lines(getattr(defaults, name), "  "))
    return "\n".join(lines) + "\n"


def _section_lines(model: BaseModel, pad: str, prefix: int = 0) -> list[str]:
    # prefix: characters the caller will put in front of every line (commented-out blocks).
    lines: list[str] = []
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        lines.extend(_comment(_describe(info, value), pad, prefix))
        if isinstance(value, BaseModel):
            lines.append(f"{pad}{name}:")
            lines.extend(_section_lines(value, pad + "  ", prefix))
        else:
            lines.append(f"{pad}{name}: {_yaml_value(value)}")
    return lines


def _strategies_block(
    entries: tuple[StrategyEntry, ...], builtins: Mapping[str, type[BaseModel]]
) -> list[str]:
    lines = ["strategies:"]
    for entry in entries:
        body = _section_lines(entry, "    ")
        first = next(i for i, line in enumerate(body) if not line.lstrip().startswith("#"))
        body[first] = "  - " + body[first].lstrip()
        body[:first] = ["  " + line.lstrip() for line in body[:first]]
        lines.extend(body)
        lines.extend(_params_hint(entry.name, builtins, "    "))
    lines.append("  # The wheel: sell cash-secured puts, then covered calls after assignment.")
    lines.append("  # Remove the leading '# ' of the next lines to run it as well.")
    wheel = ["- name: wheel", "  symbols: [SPY]", "  params:"]
    wheel.extend("    " + line for line in _params_lines(builtins.get("wheel")))
    if wheel[-1] == "  params:":
        wheel[-1] = "  params: {}"
    lines.extend("  # " + line for line in wheel)
    return lines


def _params_hint(name: str, builtins: Mapping[str, type[BaseModel]], pad: str) -> list[str]:
    params = _params_lines(builtins.get(name))
    if not params:
        return []
    return [f"{pad}# {name} parameters and their defaults (put them under params:):"] + [
        f"{pad}#   {line}" for line in params
    ]


def _params_lines(params: type[BaseModel] | None) -> list[str]:
    if params is None:
        return []
    try:
        defaults = params()
    except ValidationError:  # a Params model with required fields: no defaults to show
        return []
    # Shown commented out and indented (at most 8 characters in front): wrap narrower.
    return _section_lines(defaults, "", prefix=8)


def _describe(info: Any, value: object) -> str:
    text = info.description or ""
    if not text and isinstance(value, BaseModel):
        text = (type(value).__doc__ or "").strip().splitlines()[0]
    extra: list[str] = []
    if get_origin(info.annotation) is Literal:
        extra.append("one of " + ", ".join(str(a) for a in get_args(info.annotation)))
    for meta in info.metadata:
        for attr, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            bound = getattr(meta, attr, None)
            if bound is not None:
                extra.append(f"{sign} {bound}")
    return f"{text} ({'; '.join(extra)})" if extra else text


def _comment(text: str, pad: str, prefix: int = 0) -> list[str]:
    if not text:
        return []
    width = max(40, 98 - len(pad) - prefix)
    return [f"{pad}# {line}" for line in textwrap.wrap(text, width=width)]


def _yaml_value(value: object) -> str:
    dumped = yaml.safe_dump(_plain(value), default_flow_style=True, width=10**6)
    return dumped.removesuffix("\n").removesuffix("\n...").strip()


def _plain(value: object) -> object:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return _plain(value.model_dump())
    return value
