"""``ExchangeConfig``: what ``greekfire serve-market`` serves and how.

Every field is validated when the config is built; a bad value raises
:class:`greekfire.errors.ConfigError` whose ``field`` is the dotted path (``faults.error_rate``)
and whose message quotes the value. A config loads from a TOML file
(:meth:`ExchangeConfig.from_toml`: top-level keys plus a ``[faults]`` table) and round-trips
through JSON (:meth:`ExchangeConfig.to_json` / :meth:`ExchangeConfig.from_json`), which is how
:func:`greekfire.exchange.server.spawn` hands it to a child process.

The universe
    ``symbols`` (default :data:`DEFAULT_SYMBOLS`) plus, with ``universe=N``, deterministic
    generated tickers until there are ``N`` symbols (:func:`generated_tickers`: four letters,
    the same list for every seed), for the benchmark's 500-symbol universe.
The clock
    ``start`` (tz-aware, default the wall clock at startup) and ``speed`` (1.0 real time,
    0 frozen, 60 a minute per second): see :class:`greekfire.exchange.clock.SimClock`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from greekfire.errors import ConfigError
from greekfire.exchange.faults import FaultConfig

__all__ = ["DEFAULT_SYMBOLS", "SYMBOL_PATTERN", "ExchangeConfig", "generated_tickers"]

DEFAULT_SYMBOLS: Final = (
    "SPY",
    "QQQ",
    "IWM",
    "AAPL",
    "MSFT",
    "NVDA",
    "AMZN",
    "GOOGL",
    "META",
    "TSLA",
)
"""The default universe: liquid ETFs and large caps."""
SYMBOL_PATTERN: Final = re.compile(r"[A-Z][A-Z0-9.]{0,9}")
"""A well-formed equity ticker, as the exchange accepts it."""
_EARLIEST_START: Final = dt.datetime(2000, 1, 4, tzinfo=dt.UTC)  # after the market's first close
_MAX_UNIVERSE: Final = 20_000
_LETTERS: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_TICKER_SPACE: Final = 26**4
_TICKER_STRIDE: Final = 7_919  # prime, coprime with 26**4: a permutation of the 4-letter space


def generated_tickers(count: int, exclude: tuple[str, ...] = ()) -> tuple[str, ...]:
    """``count`` deterministic four-letter tickers, none in ``exclude``.

    The k-th candidate is ``k * 7919 mod 26**4`` written in base 26 with letters, so the list
    is the same on every run and for every seed, and a longer list extends a shorter one.
    """
    taken = set(exclude)
    found: list[str] = []
    k = 0
    while len(found) < count:
        k += 1
        value = (k * _TICKER_STRIDE) % _TICKER_SPACE
        letters = []
        for _ in range(4):
            value, digit = divmod(value, 26)
            letters.append(_LETTERS[digit])
        ticker = "".join(reversed(letters))
        if ticker not in taken:
            taken.add(ticker)
            found.append(ticker)
    return tuple(found)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_start(value: object) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError("start", f"expected an RFC 3339 timestamp, got {value!r}") from None
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise ConfigError("start", f"expected a timezone-aware datetime, got {value!r}")
    stamp = value.astimezone(dt.UTC)
    if stamp < _EARLIEST_START:
        raise ConfigError("start", f"expected a time from 2000-01-04 on, got {value!r}")
    return stamp


@dataclass(frozen=True, slots=True)
class ExchangeConfig:
    """The simulated exchange's settings (see the module docstring).

    Parameters
    ----------
    host : str, default "127.0.0.1"
        Interface to listen on.
    port : int, default 0
        TCP port; 0 picks a free one.
    seed : int, default 0
        Seed of the synthetic market, its option chains and the desk.
    symbols : tuple of str
        The universe (upper-case tickers matching :data:`SYMBOL_PATTERN`, unique).
    universe : int or None
        With ``N``, generated tickers are appended to ``symbols`` until there are ``N``.
    key_id, secret_key : str or None
        The expected ``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY``; ``None`` (both) disables auth.
    start : datetime or None
        The simulated clock at startup (tz-aware, from 2000-01-04); ``None`` means the wall clock.
    speed : float, default 1.0
        Simulated seconds per wall second, >= 0 (0 freezes the clock).
    starting_cash : float, default 100000.0
        Cash of the paper account, > 0.
    gzip : bool, default True
        Compress responses of at least 1 KiB for clients that accept gzip.
    warm : bool, default False
        Build and encode every symbol's daily bars before accepting connections (takes seconds
        for hundreds of symbols; makes the first request as fast as the next).
    rate : float, default 0.04
        Risk-free rate of the option chains (continuously compounded, decimal).
    faults : FaultConfig
        Fault injection; all off by default.

    Raises
    ------
    ConfigError
        A bad value; ``field`` names it.
    """

    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 0
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    universe: int | None = None
    key_id: str | None = "greekfire"
    secret_key: str | None = "greekfire"
    start: dt.datetime | None = None
    speed: float = 1.0
    starting_cash: float = 100_000.0
    gzip: bool = True
    warm: bool = False
    rate: float = 0.04
    faults: FaultConfig = field(default_factory=FaultConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host.strip():
            raise ConfigError("host", f"expected a host name or address, got {self.host!r}")
        if not _is_int(self.port) or not 0 <= self.port <= 65_535:
            raise ConfigError("port", f"expected a whole number in [0, 65535], got {self.port!r}")
        if not _is_int(self.seed) or self.seed < 0:
            raise ConfigError("seed", f"expected a whole number >= 0, got {self.seed!r}")
        self._check_symbols()
        if (self.key_id is None) != (self.secret_key is None):
            raise ConfigError("secret_key", "give both key_id and secret_key, or neither (no auth)")
        for name in ("key_id", "secret_key"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigError(name, f"expected a non-empty string or None, got {value!r}")
        object.__setattr__(self, "start", _parse_start(self.start))
        self._check_numbers()
        if not isinstance(self.faults, FaultConfig):
            raise ConfigError("faults", f"expected a FaultConfig, got {self.faults!r}")

    def _check_symbols(self) -> None:
        symbols = self.symbols
        if isinstance(symbols, str):
            symbols = tuple(s.strip() for s in symbols.split(",") if s.strip())
        if not isinstance(symbols, (tuple, list)):
            raise ConfigError("symbols", f"expected a list of tickers, got {symbols!r}")
        names = tuple(symbols)
        bad = [s for s in names if not isinstance(s, str) or SYMBOL_PATTERN.fullmatch(s) is None]
        if bad:
            raise ConfigError(
                "symbols", f"expected upper-case tickers like 'AAPL' or 'BRK.B', got {bad!r}"
            )
        if len(set(names)) != len(names):
            raise ConfigError("symbols", f"expected unique tickers, got {list(names)!r}")
        universe = self.universe
        if universe is not None and (not _is_int(universe) or not 1 <= universe <= _MAX_UNIVERSE):
            raise ConfigError(
                "universe", f"expected a whole number in [1, {_MAX_UNIVERSE}], got {universe!r}"
            )
        if not names and universe is None:
            raise ConfigError("symbols", "expected at least one ticker (or set universe)")
        object.__setattr__(self, "symbols", names)

    def _check_numbers(self) -> None:
        speed, cash, rate = self.speed, self.starting_cash, self.rate
        if isinstance(speed, bool) or not isinstance(speed, (int, float)):
            raise ConfigError("speed", f"expected a number >= 0, got {speed!r}")
        if not (math.isfinite(speed) and speed >= 0):
            raise ConfigError("speed", f"expected a number >= 0, got {speed!r}")
        if isinstance(cash, bool) or not isinstance(cash, (int, float)):
            raise ConfigError("starting_cash", f"expected a number > 0, got {cash!r}")
        if not (math.isfinite(cash) and cash > 0):
            raise ConfigError("starting_cash", f"expected a number > 0, got {cash!r}")
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate):
            raise ConfigError("rate", f"expected a finite number, got {rate!r}")
        for name in ("gzip", "warm"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(name, f"expected true or false, got {getattr(self, name)!r}")

    @property
    def auth_enabled(self) -> bool:
        """True when requests must carry the configured key pair."""
        return self.key_id is not None

    @property
    def universe_symbols(self) -> tuple[str, ...]:
        """The full universe: ``symbols`` then generated tickers up to ``universe``."""
        if self.universe is None or self.universe <= len(self.symbols):
            return self.symbols if self.universe is None else self.symbols[: self.universe]
        return self.symbols + generated_tickers(self.universe - len(self.symbols), self.symbols)

    def replace(self, **changes: Any) -> ExchangeConfig:
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ExchangeConfig:
        """Build from plain data (a parsed TOML or JSON document).

        Unknown keys raise ``ConfigError`` naming them; ``faults`` is a nested mapping.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(unknown[0], f"unknown setting; expected one of {sorted(known)}")
        values = dict(data)
        faults = values.pop("faults", None)
        if faults is not None and not isinstance(faults, FaultConfig):
            if not isinstance(faults, Mapping):
                raise ConfigError("faults", f"expected a table of fault settings, got {faults!r}")
            values["faults"] = FaultConfig.from_mapping(faults)
        elif faults is not None:
            values["faults"] = faults
        if isinstance(values.get("symbols"), list):
            values["symbols"] = tuple(values["symbols"])
        return cls(**values)

    @classmethod
    def from_toml(cls, path: str | Path) -> ExchangeConfig:
        """Load from a TOML file: top-level settings and an optional ``[faults]`` table.

        Raises
        ------
        ConfigError
            The file cannot be read or parsed (``field`` is ``"config"``), or a bad value.
        """
        try:
            with Path(path).open("rb") as handle:
                data = tomllib.load(handle)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError("config", f"cannot read {str(path)!r}: {exc}") from None
        return cls.from_mapping(data)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (``start`` as RFC 3339, ``faults`` nested)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["symbols"] = list(self.symbols)
        data["start"] = None if self.start is None else self.start.isoformat()
        data["faults"] = self.faults.to_dict()
        return data

    def to_json(self) -> str:
        """This config as a JSON document (see :meth:`from_json`)."""
        return orjson.dumps(self.to_dict()).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> ExchangeConfig:
        """Inverse of :meth:`to_json`."""
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ConfigError("config", f"invalid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError("config", f"expected a JSON object, got {data!r}")
        return cls.from_mapping(data)
