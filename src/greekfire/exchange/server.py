"""Run the simulated exchange: blocking, in a thread, or in a separate process.

- :func:`serve` binds the socket, announces the base URL and runs uvicorn until interrupted.
- :func:`serve_in_thread` (a :class:`ServerThread`) runs it on a free loopback port in a
  thread of this process, for tests; leaving the ``with`` block stops it and joins the thread.
- :func:`spawn` runs ``python -m greekfire.exchange --config-json ...`` in a child process
  (so a benchmark's server uses another core), waits until ``GET /v2/clock`` answers and
  terminates the child on exit, even when the block raises.

Every server uses :class:`TransportH11Protocol`, uvicorn's h11 protocol that also puts the
connection's transport in the ASGI scope, so the ``drop``, ``hang`` and ``truncate`` faults can
close the TCP connection without an HTTP answer.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import httpx
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from greekfire.exchange.app import create_app
from greekfire.exchange.clock import SimClock
from greekfire.exchange.config import ExchangeConfig
from greekfire.exchange.faults import TRANSPORT_KEY

__all__ = [
    "RunningExchange",
    "ServerThread",
    "TransportH11Protocol",
    "serve",
    "serve_in_thread",
    "spawn",
]

_START_TIMEOUT_S: Final = 120.0
_GRACEFUL_S: Final = 2.0


class TransportH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, exposing the transport as ``scope["greekfire.transport"]``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        inner = self.app

        async def with_transport(scope: Any, receive: Any, send: Any) -> None:
            scope[TRANSPORT_KEY] = self.transport
            await inner(scope, receive, send)

        self.app = with_transport


@dataclass(frozen=True, slots=True)
class RunningExchange:
    """A running exchange: where it listens, what it serves and (spawned) its process id."""

    base_url: str
    config: ExchangeConfig
    pid: int | None = None

    @property
    def headers(self) -> dict[str, str]:
        """The auth headers a client must send (empty when auth is off)."""
        if self.config.key_id is None or self.config.secret_key is None:
            return {}
        return {
            "APCA-API-KEY-ID": self.config.key_id,
            "APCA-API-SECRET-KEY": self.config.secret_key,
        }


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
    # and accepted connections inherit it. With proto 0, Nagle + delayed ACK add 40 ms to
    # every keep-alive answer written in two parts (headers, body).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def _base_url(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _uvicorn_config(app: Any, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        http=TransportH11Protocol,
        lifespan="off",
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=int(_GRACEFUL_S),
        backlog=2048,
    )


def serve(
    config: ExchangeConfig,
    *,
    announce: Callable[[str], None] | None = None,
    log_level: str = "warning",
) -> None:
    """Serve ``config`` until interrupted (Ctrl-C / SIGTERM); blocking.

    ``announce`` gets the base URL once the socket is bound (before warming and serving).
    """
    app = create_app(config)
    sock = _bind(config.host, config.port)
    try:
        if announce is not None:
            announce(_base_url(sock, config.host))
        uvicorn.Server(_uvicorn_config(app, log_level)).run(sockets=[sock])
    finally:
        sock.close()


class ServerThread:
    """The exchange on uvicorn in a background thread (see :func:`serve_in_thread`).

    Attributes
    ----------
    base_url : str
        ``http://host:port`` once started.
    config : ExchangeConfig
    app : starlette.applications.Starlette
        The app, for direct access to its state in tests.
    """

    def __init__(
        self, config: ExchangeConfig, *, log_level: str = "warning", clock: SimClock | None = None
    ) -> None:
        self.config = config
        self.app = create_app(config, clock=clock)
        self._sock = _bind(config.host, config.port)
        self.base_url = _base_url(self._sock, config.host)
        self._server = uvicorn.Server(_uvicorn_config(self.app, log_level))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @property
    def headers(self) -> dict[str, str]:
        """The auth headers a client must send (empty when auth is off)."""
        return RunningExchange(self.base_url, self.config).headers

    def start(self) -> ServerThread:
        """Start serving; returns once uvicorn accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the simulated exchange did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving (pending requests get a short grace period) and join the thread."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=_GRACEFUL_S + 30)
        self._sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def serve_in_thread(
    config: ExchangeConfig | None = None,
    *,
    log_level: str = "warning",
    clock: SimClock | None = None,
) -> Iterator[ServerThread]:
    """Run the exchange in a thread for the ``with`` block; yields the :class:`ServerThread`
    (``.base_url``, ``.config``, ``.app``). Default config: loopback, free port. ``clock``
    replaces the exchange's own (e.g. one that follows a trading engine's simulated clock)."""
    cfg = config if config is not None else ExchangeConfig()
    server = ServerThread(cfg, log_level=log_level, clock=clock)
    with server:
        yield server


def _free_port(host: str) -> int:
    with contextlib.closing(_bind(host, 0)) as sock:
        port: int = sock.getsockname()[1]
    return port


def _wait_ready(proc: subprocess.Popen[bytes], running: RunningExchange, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=running.base_url, headers=running.headers, timeout=2.0) as client:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"the exchange process exited with code {proc.returncode} before answering"
                )
            try:
                if client.get("/v2/clock").status_code < 500:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the exchange at {running.base_url} did not answer in time")
            time.sleep(0.05)


@contextlib.contextmanager
def spawn(
    config: ExchangeConfig | None = None,
    *,
    timeout_s: float = _START_TIMEOUT_S,
    log_level: str = "warning",
) -> Iterator[RunningExchange]:
    """Run the exchange in a child process for the ``with`` block.

    The child is ``python -m greekfire.exchange --config-json <json>``; with ``port=0`` a free
    port is chosen here first. Yields once ``GET /v2/clock`` answers (a warm start may take
    seconds); on exit the child gets SIGTERM, then SIGKILL after 10 s.

    Raises
    ------
    RuntimeError
        The child exited or did not answer within ``timeout_s``.
    """
    cfg = config if config is not None else ExchangeConfig()
    if cfg.port == 0:
        cfg = cfg.replace(port=_free_port(cfg.host))
    base_url = f"http://{cfg.host}:{cfg.port}"
    command = [
        sys.executable,
        "-m",
        "greekfire.exchange",
        "--config-json",
        cfg.to_json(),
        "--log-level",
        log_level,
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, env=env)
    running = RunningExchange(base_url, cfg, proc.pid)
    try:
        _wait_ready(proc, running, timeout_s)
        yield running
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
