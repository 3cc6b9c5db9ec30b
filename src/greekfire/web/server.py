"""``DashboardServer``: the dashboard app served by uvicorn in a daemon thread.

The bot's cycles run in the main thread; uvicorn runs its own event loop in a thread of the
same process (it installs no signal handlers there: Ctrl-C stays the bot's). Logging is left
as the bot configured it (uvicorn's ``log_config`` is not applied), access logs are off.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Final

import uvicorn
from fastapi import FastAPI

from greekfire.web.config import check_bind

__all__ = ["DashboardServer"]

_POLL_S: Final = 0.01


class DashboardServer:
    """Serve ``app`` on ``host:port`` until :meth:`close`.

    Parameters
    ----------
    app : FastAPI
        From :func:`greekfire.web.api.create_app`.
    host : str, default "127.0.0.1"
        Address to bind; a non-loopback host needs the app to have a token.
    port : int, default 8080
        TCP port; 0 picks a free one (see :attr:`port`).
    startup_timeout_s : float, default 10.0
        How long to wait for the socket to be listening.
    graceful_timeout_s : float, default 5.0
        How long :meth:`close` lets open requests finish.

    Raises
    ------
    ConfigError
        ``dashboard.host``: a non-loopback host and no token (``app.state.token_configured``).
    OSError
        The server could not bind (port in use, unknown address) or did not start in time.
    """

    def __init__(
        self,
        app: FastAPI,
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        startup_timeout_s: float = 10.0,
        graceful_timeout_s: float = 5.0,
    ) -> None:
        check_bind(host, "set" if getattr(app.state, "token_configured", False) else None)
        self.app = app
        self.host = host
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=max(1, round(graceful_timeout_s)),
        )
        self._server = uvicorn.Server(config)
        self._failed = False
        self._closed = False
        self._thread = threading.Thread(
            target=self._serve, name=f"greekfire-dashboard-{port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + startup_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.close()
                raise OSError(f"dashboard: could not listen on {host}:{port} (see the log)")
            time.sleep(_POLL_S)
        sockets = [s for server in self._server.servers for s in server.sockets]
        self._port = int(sockets[0].getsockname()[1])

    def _serve(self) -> None:
        try:
            self._server.run()
        except SystemExit:  # uvicorn exits when it cannot bind; __init__ reports it
            self._failed = True

    @property
    def port(self) -> int:
        """The port listened on (the actual one when 0 was asked)."""
        return self._port

    @property
    def url(self) -> str:
        """``http://host:port/`` (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}/"

    @property
    def running(self) -> bool:
        """True while the server thread serves."""
        return self._thread.is_alive() and not self._closed

    def close(self, timeout_s: float = 10.0) -> None:
        """End open streams, stop accepting, let requests finish, join the thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        shutdown = getattr(self.app.state, "shutdown", None)
        if isinstance(shutdown, threading.Event):
            shutdown.set()
        self._server.should_exit = True
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout_s)

    def __enter__(self) -> DashboardServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
