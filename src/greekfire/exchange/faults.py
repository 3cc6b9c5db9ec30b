"""Fault injection for the simulated exchange: latency, rate limits, errors, broken answers.

:class:`FaultConfig` says what to inject; :class:`FaultInjector` holds the runtime state (the
seeded random stream, the token bucket, the fail-first counter) and decides per request;
:class:`FaultMiddleware` applies the decision in front of every route.

Per request whose path matches ``paths`` (control endpoints ``/_greekfire/*`` never do), in
this order:

1. ``reject_symbols``: a request naming a listed symbol (query ``symbols``,
   ``underlying_symbols``, ``symbol`` or a path segment) answers 422 with a message naming it;
   this one applies to every path, so that "one bad symbol never sinks the batch" is testable
   on the trading side too.
2. latency: sleep ``latency_ms`` plus a uniform ``[0, jitter_ms)``.
3. ``fail_first_n``: the first N matching requests answer 503, then all succeed.
4. rate limit: a token bucket of ``rate_limit_burst`` tokens refilled at ``rate_limit_rps``;
   an empty bucket answers 429 with ``Retry-After`` (``retry_after_s`` when set, else the
   whole seconds until the next token, at least 1) and ``{"code": 42910000, ...}``.
5. one uniform draw picks at most one of, by cumulative rate: ``hang`` (no answer for
   ``hang_s`` seconds, then the connection is closed), ``drop`` (the TCP connection closes
   with no HTTP response), ``error`` (500, 502, 503 or 504 with an Alpaca error body),
   ``malformed`` (200 whose body is half of the real JSON: invalid JSON, correct length),
   ``truncate`` (200 announcing the full ``Content-Length``, half the body sent, then the
   connection closed).

``drop``, ``hang`` and ``truncate`` need the connection's transport, which the server's
protocol class (:mod:`greekfire.exchange.server`) puts in the ASGI scope under
:data:`TRANSPORT_KEY`; without it (an in-process ``httpx.ASGITransport``) they raise
:class:`ConnectionDropped` instead, which the client sees as an exception.

Default ``paths``: market data only (``/v2/stocks/*``, ``/v1beta1/*``, ``/v2/options/*``), so
a client can fetch data through faults while its orders stay clean; set ``paths=("*",)`` for
every route. A pattern with ``*``, ``?`` or ``[`` is a glob, anything else a prefix.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
import gzip
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from greekfire.errors import ConfigError
from greekfire.exchange.stats import ExchangeStats
from greekfire.exchange.wire import (
    CODE_INTERNAL,
    CODE_RATE_LIMIT,
    CODE_UNPROCESSABLE,
    error_body,
)

__all__ = [
    "CONTROL_PREFIX",
    "DEFAULT_FAULT_PATHS",
    "RATE_FIELDS",
    "TRANSPORT_KEY",
    "ConnectionDropped",
    "Decision",
    "FaultConfig",
    "FaultInjector",
    "FaultMiddleware",
]

CONTROL_PREFIX: Final = "/_greekfire/"
"""Paths under this prefix are the test control endpoints: never faulted."""
TRANSPORT_KEY: Final = "greekfire.transport"
"""ASGI scope key of the connection's asyncio transport (set by the server's protocol)."""
DEFAULT_FAULT_PATHS: Final = ("/v2/stocks/", "/v1beta1/", "/v2/options/")
"""Faults apply to market data only unless ``paths`` says otherwise."""
RATE_FIELDS: Final = ("hang_rate", "drop_rate", "error_rate", "malformed_rate", "truncate_rate")
"""The random faults, in the order the cumulative draw checks them."""
_ERROR_STATUSES: Final = (500, 502, 503, 504)
_ERROR_MESSAGES: Final = {
    500: "internal server error",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
}
_JSON_HEADERS: Final = [(b"content-type", b"application/json; charset=utf-8")]


class ConnectionDropped(Exception):
    """Raised in place of closing the connection when no transport is reachable (in-process)."""


def _number(name: str, value: object, low: float, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"faults.{name}", f"expected a number in [{low}, {high}], got {value!r}")
    number = float(value)
    if not (math.isfinite(number) and low <= number <= high):
        raise ConfigError(f"faults.{name}", f"expected a number in [{low}, {high}], got {value!r}")
    return number


def _whole(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"faults.{name}", f"expected a whole number >= {low}, got {value!r}")
    return value


def _strings(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"faults.{name}", f"expected a list of non-empty strings, got {value!r}")
    return tuple(value)


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """What to inject (see the module docstring); everything off by default.

    Parameters
    ----------
    latency_ms, jitter_ms : float
        Fixed delay and uniform extra delay per matching request, milliseconds, >= 0.
    rate_limit_rps : float or None
        Token refill rate (requests per second, > 0); ``None`` or 0 disables rate limiting.
    rate_limit_burst : int or None
        Bucket size, >= 1; default ``max(1, ceil(rate_limit_rps))``.
    retry_after_s : float or None
        ``Retry-After`` of a 429, seconds >= 0; default the time to the next token.
    error_rate, hang_rate, malformed_rate, truncate_rate, drop_rate : float
        Probabilities in [0, 1] with a sum of at most 1.
    hang_s : float, default 3600
        How long a hung request stays unanswered, seconds >= 0.
    paths : tuple of str
        Prefixes or globs of the paths that get faults (default :data:`DEFAULT_FAULT_PATHS`).
    reject_symbols : tuple of str
        Symbols whose requests answer 422.
    seed : int, default 0
        Seed of the fault sequence.
    fail_first_n : int, default 0
        The first N matching requests answer 503.

    Raises
    ------
    ConfigError
        A bad value; ``field`` is ``faults.<name>``.
    """

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    rate_limit_rps: float | None = None
    rate_limit_burst: int | None = None
    retry_after_s: float | None = None
    error_rate: float = 0.0
    hang_rate: float = 0.0
    hang_s: float = 3600.0
    malformed_rate: float = 0.0
    truncate_rate: float = 0.0
    drop_rate: float = 0.0
    paths: tuple[str, ...] = DEFAULT_FAULT_PATHS
    reject_symbols: tuple[str, ...] = ()
    seed: int = 0
    fail_first_n: int = 0

    def __post_init__(self) -> None:
        for name in ("latency_ms", "jitter_ms", "hang_s"):
            object.__setattr__(self, name, _number(name, getattr(self, name), 0.0))
        for name in RATE_FIELDS:
            object.__setattr__(self, name, _number(name, getattr(self, name), 0.0, 1.0))
        total = sum(getattr(self, name) for name in RATE_FIELDS)
        if total > 1.0 + 1e-12:
            raise ConfigError(
                "faults.error_rate",
                f"the fault rates {RATE_FIELDS} must sum to at most 1, got {total!r}",
            )
        if self.rate_limit_rps is not None:
            rps = _number("rate_limit_rps", self.rate_limit_rps, 0.0)
            object.__setattr__(self, "rate_limit_rps", rps if rps > 0 else None)
        if self.rate_limit_burst is not None:
            _whole("rate_limit_burst", self.rate_limit_burst, 1)
        if self.retry_after_s is not None:
            object.__setattr__(
                self, "retry_after_s", _number("retry_after_s", self.retry_after_s, 0.0)
            )
        object.__setattr__(self, "paths", _strings("paths", self.paths))
        object.__setattr__(self, "reject_symbols", _strings("reject_symbols", self.reject_symbols))
        _whole("seed", self.seed, 0)
        _whole("fail_first_n", self.fail_first_n, 0)

    @property
    def burst(self) -> int:
        """The effective bucket size."""
        if self.rate_limit_burst is not None:
            return self.rate_limit_burst
        return max(1, math.ceil(self.rate_limit_rps or 1.0))

    def matches(self, path: str) -> bool:
        """True when ``path`` gets faults (never a control path)."""
        if path.startswith(CONTROL_PREFIX):
            return False
        for pattern in self.paths:
            if any(c in pattern for c in "*?["):
                if fnmatch.fnmatchcase(path, pattern):
                    return True
            elif path.startswith(pattern):
                return True
        return False

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> FaultConfig:
        """Build from plain data; an unknown key raises ``ConfigError`` naming it."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"faults.{unknown[0]}", f"unknown fault setting; expected one of {sorted(known)}"
            )
        values = dict(data)
        for name in ("paths", "reject_symbols"):
            if isinstance(values.get(name), list):
                values[name] = tuple(values[name])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["paths"] = list(self.paths)
        data["reject_symbols"] = list(self.reject_symbols)
        return data


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one request: ``kind`` is ``None`` (serve it) or a fault name."""

    kind: str | None
    status: int = 200
    retry_after: str | None = None
    message: str = ""


_PASS: Final = Decision(None)


class FaultInjector:
    """The runtime fault state: seeded draws, token bucket, fail-first counter.

    Parameters
    ----------
    config : FaultConfig
    monotonic : callable returning seconds, default ``time.monotonic``
        The bucket's clock (tests inject one).
    sleep : async callable, default ``asyncio.sleep``
        How latency and hangs wait (tests inject one).
    """

    def __init__(
        self,
        config: FaultConfig | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self._monotonic = monotonic
        self.sleep = sleep
        self.configure(config if config is not None else FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        """Replace the faults and restart their state (random stream, bucket, counter)."""
        self.config = config
        self._rng = random.Random(config.seed)
        self._tokens = float(config.burst)
        self._stamp = self._monotonic()
        self._failed_first = 0

    def rejected_symbol(self, path: str, query: str) -> str | None:
        """The first ``reject_symbols`` entry this request names, if any."""
        rejected = self.config.reject_symbols
        if not rejected or path.startswith(CONTROL_PREFIX):
            return None
        named: list[str] = [seg for seg in path.split("/") if seg]
        for key, value in parse_qsl(query):
            if key in ("symbols", "underlying_symbols", "symbol", "underlying_symbol"):
                named.extend(v.strip() for v in value.split(","))
        for symbol in rejected:
            if symbol in named:
                return symbol
        return None

    def delay_s(self) -> float:
        """This request's injected latency in seconds (draws the jitter)."""
        cfg = self.config
        jitter = self._rng.uniform(0.0, cfg.jitter_ms) if cfg.jitter_ms > 0 else 0.0
        return (cfg.latency_ms + jitter) / 1000.0

    def _take_token(self) -> float | None:
        # None when a token was taken, else the seconds until the next one.
        rps = self.config.rate_limit_rps
        if rps is None:
            return None
        now = self._monotonic()
        self._tokens = min(float(self.config.burst), self._tokens + (now - self._stamp) * rps)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return (1.0 - self._tokens) / rps

    def _retry_after(self, wait_s: float) -> str:
        configured = self.config.retry_after_s
        if configured is None:
            return str(max(1, math.ceil(wait_s)))
        return str(int(configured)) if float(configured).is_integer() else f"{configured:g}"

    def decide(self) -> Decision:
        """The fault for the next matching request (after latency), advancing the state."""
        cfg = self.config
        if self._failed_first < cfg.fail_first_n:
            self._failed_first += 1
            return Decision("fail_first", 503, message="service unavailable")
        wait_s = self._take_token()
        if wait_s is not None:
            return Decision("rate_limit", 429, self._retry_after(wait_s), "rate limit exceeded")
        if not any(getattr(cfg, name) for name in RATE_FIELDS):
            return _PASS
        draw = self._rng.random()
        edge = 0.0
        for name in RATE_FIELDS:
            edge += getattr(cfg, name)
            if draw < edge:
                kind = name.removesuffix("_rate")
                if kind == "error":
                    status = self._rng.choice(_ERROR_STATUSES)
                    return Decision(kind, status, message=_ERROR_MESSAGES[status])
                return Decision(kind)
        return _PASS


async def _send_error(send: Send, decision: Decision, code: int) -> None:
    body = error_body(code, decision.message)
    headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    if decision.retry_after is not None:
        headers.append((b"retry-after", decision.retry_after.encode()))
    await send({"type": "http.response.start", "status": decision.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _close_connection(scope: Scope, receive: Receive) -> None:
    transport = scope.get(TRANSPORT_KEY)
    if transport is None:
        raise ConnectionDropped("greekfire fault: connection closed without a response")
    transport.close()
    await _wait_disconnect(receive)


class _Captured:
    # The downstream app's response, held back so that a fault can alter it.
    def __init__(self) -> None:
        self.start: Message | None = None
        self.chunks: list[bytes] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))


def _plain_body(start: Message, body: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    # Headers without content-encoding/-length, and the body decompressed if it was gzipped.
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    if any(k.lower() == b"content-encoding" and v == b"gzip" for k, v in headers):
        body = gzip.decompress(body)
        headers = [(k, v) for k, v in headers if k.lower() != b"content-encoding"]
    return headers, body


class FaultMiddleware:
    """ASGI middleware applying a :class:`FaultInjector` and counting into ``stats``."""

    def __init__(self, app: ASGIApp, injector: FaultInjector, stats: ExchangeStats) -> None:
        self.app = app
        self.injector = injector
        self.stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        injector = self.injector
        query = scope.get("query_string", b"").decode("latin-1")
        rejected = injector.rejected_symbol(path, query)
        if rejected is not None:
            self.stats.fault("reject")
            decision = Decision("reject", 422, message=f"symbol rejected: {rejected}")
            await _send_error(send, decision, CODE_UNPROCESSABLE)
            return
        if not injector.config.matches(path):
            await self.app(scope, receive, send)
            return
        delay = injector.delay_s()
        if delay > 0:
            await injector.sleep(delay)
        decision = injector.decide()
        if decision.kind is None:
            await self.app(scope, receive, send)
            return
        self.stats.fault(decision.kind)
        await self._apply(decision, scope, receive, send)

    async def _apply(self, decision: Decision, scope: Scope, receive: Receive, send: Send) -> None:
        kind = decision.kind
        if kind in ("fail_first", "error"):
            await _send_error(send, decision, CODE_INTERNAL)
        elif kind == "rate_limit":
            await _send_error(send, decision, CODE_RATE_LIMIT)
        elif kind == "hang":
            await self.injector.sleep(self.injector.config.hang_s)
            await _close_connection(scope, receive)
        elif kind == "drop":
            await _close_connection(scope, receive)
        else:
            await self._alter(kind == "truncate", scope, receive, send)

    async def _alter(self, truncate: bool, scope: Scope, receive: Receive, send: Send) -> None:
        captured = _Captured()
        await self.app(scope, receive, captured.send)
        if captured.start is None:  # pragma: no cover - every route answers
            return
        body = b"".join(captured.chunks)
        if truncate:
            headers = [
                (k, v) for k, v in captured.start.get("headers", []) if k != b"content-length"
            ]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**captured.start, "headers": headers})
            await send(
                {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
            )
            await _close_connection(scope, receive)
            return
        headers, plain = _plain_body(captured.start, body)
        broken = plain[: max(1, len(plain) // 2)]
        headers.append((b"content-length", str(len(broken)).encode()))
        await send({**captured.start, "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": broken})
