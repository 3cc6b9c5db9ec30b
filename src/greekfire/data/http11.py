"""A lean HTTP/1.1 transport for ``httpx.AsyncClient``: keep-alive connections on asyncio
streams, bodies read in one call when their length is known.

httpx's default transport (httpcore) reads every body 64 KB at a time through several layers
(anyio, h11, httpcore events); for market data that arrives as hundreds of megabytes of JSON,
that bookkeeping cost more CPU than parsing the bars. This transport speaks the small part of
HTTP/1.1 a REST client needs and leaves everything else to ``httpx.AsyncClient`` (URLs,
headers, auth, redirects, gzip decoding):

- requests with a body of known length (``Content-Length``; httpx always sets it for ``json=``
  and ``content=``);
- responses framed by ``Content-Length`` (read with one ``readexactly``), chunked transfer
  coding, or the connection's end;
- a keep-alive pool of at most ``max_connections`` connections over all origins, idle ones
  closed after ``keepalive_expiry`` seconds; a connection is kept only when the answer was read
  whole and neither side said ``Connection: close``;
- TLS through ``ssl`` (a default verifying context);
- httpx's timeouts (``connect``, ``read``, ``write``, ``pool``) and exceptions, so callers
  see the same errors as with httpx's own transport: ``ConnectError``, ``ConnectTimeout``,
  ``ReadTimeout``, ``WriteTimeout``, ``PoolTimeout``, ``ReadError``, ``RemoteProtocolError``.

An idempotent request (``GET``, ``HEAD``, ``OPTIONS``, ``PUT``, ``DELETE``) sent on a reused
connection that the server had already closed (no byte of an answer came back) is sent once
more on a fresh connection, as browsers and httpcore do; a ``POST`` never is (the server may
have acted on it), its caller sees ``RemoteProtocolError``. Not supported: proxies, HTTP/2, request
bodies streamed without a length, ``Expect: 100-continue`` (none are used here).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
import ssl
import time
from collections.abc import Callable
from typing import Final

import httpx

__all__ = ["FastHTTP11Transport"]

_MAX_HEAD: Final = 64 * 1024
_Origin = tuple[str, str, int]
_NO_BODY_STATUS: Final = frozenset({204, 304})
_IDEMPOTENT: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class _Connection:
    __slots__ = ("idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def usable(self, now: float, expiry: float) -> bool:
        transport = self.writer.transport
        return (
            not transport.is_closing()
            and not self.reader.at_eof()
            and now - self.idle_since < expiry
        )

    def close(self) -> None:
        self.writer.close()


class _StaleConnection(Exception):
    """A reused connection closed before any byte of the answer: safe to send again."""


def _timeout(request: httpx.Request, name: str) -> float | None:
    value = request.extensions.get("timeout", {}).get(name)
    return None if value is None else float(value)


class FastHTTP11Transport(httpx.AsyncBaseTransport):
    """HTTP/1.1 keep-alive transport for ``httpx.AsyncClient`` (see the module docstring).

    Parameters
    ----------
    max_connections : int, default 100
        Connections open at once over all origins; a request waits (``pool`` timeout) for one.
    keepalive_expiry : float, default 30
        Seconds an idle connection stays open.
    ssl_context : ssl.SSLContext, optional
        For ``https``; default ``ssl.create_default_context()`` (verifying).
    clock : callable, default time.monotonic
    """

    def __init__(
        self,
        *,
        max_connections: int = 100,
        keepalive_expiry: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections}")
        self.max_connections = max_connections
        self.keepalive_expiry = keepalive_expiry
        self._ssl = ssl_context
        self._clock = clock
        self._idle: dict[_Origin, collections.deque[_Connection]] = {}
        self._open = 0
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- pool ----------------------------------------------------------------------------------

    def _semaphore(self) -> asyncio.Semaphore:
        # Connections and the semaphore belong to one event loop. A new loop (each
        # ``asyncio.run`` of a sync wrapper) starts a fresh pool; connections left idle in a
        # loop that is gone cannot be closed through it and are forgotten (``close_idle``
        # before the loop ends avoids that).
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._idle = {}
            self._open = 0
            self._slots = None
            self._loop = loop
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_connections)
        return self._slots

    def _take_idle(self, origin: _Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = self._clock()
        while idle:
            conn = idle.pop()
            if conn.usable(now, self.keepalive_expiry):
                return conn
            conn.close()
            self._open -= 1
        return None

    def _give_back(self, origin: _Origin, conn: _Connection) -> None:
        conn.idle_since = self._clock()
        self._idle.setdefault(origin, collections.deque()).append(conn)

    def _discard(self, conn: _Connection) -> None:
        conn.close()
        self._open -= 1

    def _close_idle_beyond(self) -> None:
        # Keep at most max_connections open: close the oldest idle ones first.
        while self._open >= self.max_connections:
            oldest = min(
                (q for q in self._idle.values() if q), key=lambda q: q[0].idle_since, default=None
            )
            if oldest is None:
                return
            self._discard(oldest.popleft())

    async def _connect(self, request: httpx.Request, origin: _Origin) -> _Connection:
        scheme, host, port = origin
        context: ssl.SSLContext | None = None
        if scheme == "https":
            context = self._ssl or ssl.create_default_context()
        self._close_idle_beyond()
        try:
            async with asyncio.timeout(_timeout(request, "connect")):
                reader, writer = await asyncio.open_connection(
                    host,
                    port,
                    ssl=context,
                    server_hostname=host if context else None,
                    limit=_MAX_HEAD,
                )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(
                f"connect to {host}:{port} timed out", request=request
            ) from exc
        except OSError as exc:
            raise httpx.ConnectError(f"connect to {host}:{port}: {exc}", request=request) from exc
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._open += 1
        return _Connection(reader, writer)

    async def aclose(self) -> None:
        """Close every idle connection (answers in progress close theirs when done)."""
        await self.close_idle()

    async def close_idle(self) -> None:
        """Close the idle keep-alive connections (call it before the event loop ends); the
        transport stays usable and opens new connections when asked."""
        idle = [conn for queue in self._idle.values() for conn in queue]
        self._idle.clear()
        for conn in idle:
            self._discard(conn)
        for conn in idle:
            with contextlib.suppress(OSError):
                await conn.writer.wait_closed()

    # -- one exchange --------------------------------------------------------------------------

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and read the whole answer."""
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported scheme {scheme!r}", request=request)
        port = url.port or (443 if scheme == "https" else 80)
        origin: _Origin = (scheme, url.host, port)
        body = await request.aread()
        head = self._request_head(request, body)
        slots = self._semaphore()
        try:
            async with asyncio.timeout(_timeout(request, "pool")):
                await slots.acquire()
        except TimeoutError as exc:
            raise httpx.PoolTimeout("no connection free in time", request=request) from exc
        try:
            conn = self._take_idle(origin)
            if conn is not None:
                # Only an idempotent request may be sent again after a silent hang-up: a POST
                # the server acted on before closing must not be repeated.
                retry = request.method in _IDEMPOTENT
                try:
                    return await self._exchange(request, origin, conn, head, body, reused=retry)
                except _StaleConnection:
                    pass
            conn = await self._connect(request, origin)
            return await self._exchange(request, origin, conn, head, body, reused=False)
        finally:
            slots.release()

    @staticmethod
    def _request_head(request: httpx.Request, body: bytes) -> bytes:
        target = request.url.raw_path
        lines = [request.method.encode("ascii") + b" " + target + b" HTTP/1.1"]
        has_length = False
        for name, value in request.headers.raw:
            has_length |= name.lower() == b"content-length"
            lines.append(name + b": " + value)
        if body and not has_length:
            lines.append(b"Content-Length: " + str(len(body)).encode("ascii"))
        return b"\r\n".join(lines) + b"\r\n\r\n"

    async def _exchange(
        self,
        request: httpx.Request,
        origin: _Origin,
        conn: _Connection,
        head: bytes,
        body: bytes,
        *,
        reused: bool,
    ) -> httpx.Response:
        keep = False
        try:
            try:
                async with asyncio.timeout(_timeout(request, "write")):
                    conn.writer.write(head + body if len(body) < 65_536 else head)
                    if len(body) >= 65_536:
                        conn.writer.write(body)
                    await conn.writer.drain()
            except TimeoutError as exc:
                raise httpx.WriteTimeout("sending the request timed out", request=request) from exc
            except OSError as exc:
                if reused:
                    raise _StaleConnection from exc
                raise httpx.WriteError(f"sending the request: {exc}", request=request) from exc
            try:
                async with asyncio.timeout(_timeout(request, "read")):
                    response, keep = await self._read_response(request, conn, reused=reused)
            except TimeoutError as exc:
                raise httpx.ReadTimeout("no answer in time", request=request) from exc
            return response
        finally:
            if keep:
                self._give_back(origin, conn)
            else:
                self._discard(conn)

    async def _read_response(
        self, request: httpx.Request, conn: _Connection, *, reused: bool
    ) -> tuple[httpx.Response, bool]:
        reader = conn.reader
        try:
            raw_head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if reused and not exc.partial:
                raise _StaleConnection from exc
            raise httpx.RemoteProtocolError(
                "server disconnected without sending a complete response head", request=request
            ) from exc
        except asyncio.LimitOverrunError as exc:
            raise httpx.RemoteProtocolError("response head too large", request=request) from exc
        except OSError as exc:
            if reused:
                raise _StaleConnection from exc
            raise httpx.ReadError(f"reading the answer: {exc}", request=request) from exc
        status, version, headers = _parse_head(raw_head, request)
        fields = {k.lower(): v for k, v in headers}
        closing = fields.get(b"connection", b"").lower() == b"close" or version == b"HTTP/1.0"
        try:
            if request.method == "HEAD" or status in _NO_BODY_STATUS or 100 <= status < 200:
                content = b""
            elif b"chunked" in fields.get(b"transfer-encoding", b"").lower():
                content = await _read_chunked(reader, request)
            elif b"content-length" in fields:
                length = _content_length(fields[b"content-length"], request)
                content = await reader.readexactly(length)
            else:
                content = await reader.read()
                closing = True
        except asyncio.IncompleteReadError as exc:
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body "
                f"(received {len(exc.partial)} of {exc.expected} bytes)",
                request=request,
            ) from exc
        except OSError as exc:
            raise httpx.ReadError(f"reading the body: {exc}", request=request) from exc
        response = httpx.Response(
            status,
            headers=headers,
            stream=httpx.ByteStream(content),  # read (and decoded) by the client: bytes counted
            request=request,
            extensions={"http_version": version},
        )
        return response, not closing


def _parse_head(raw: bytes, request: httpx.Request) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    lines = raw[:-4].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise httpx.RemoteProtocolError(
            f"not an HTTP/1.1 status line: {lines[0][:80]!r}", request=request
        )
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise httpx.RemoteProtocolError(f"malformed header line {line[:80]!r}", request=request)
        headers.append((name, value.strip()))
    return int(parts[1]), parts[0], headers


def _content_length(value: bytes, request: httpx.Request) -> int:
    if not value.isdigit():
        raise httpx.RemoteProtocolError(f"bad Content-Length {value[:40]!r}", request=request)
    return int(value)


async def _read_chunked(reader: asyncio.StreamReader, request: httpx.Request) -> bytes:
    parts: list[bytes] = []
    while True:
        line = await reader.readuntil(b"\r\n")
        size_text = line[:-2].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError as exc:
            raise httpx.RemoteProtocolError(
                f"bad chunk size {size_text[:40]!r}", request=request
            ) from exc
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(parts)
        chunk = await reader.readexactly(size + 2)
        if chunk[-2:] != b"\r\n":
            raise httpx.RemoteProtocolError("chunk not followed by CRLF", request=request)
        parts.append(chunk[:-2])
