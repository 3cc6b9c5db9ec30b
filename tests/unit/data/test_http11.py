"""FastHTTP11Transport against scripted servers on loopback: keep-alive, framing, stale
connections, broken answers, timeouts, the connection bound, gzip and TLS."""

from __future__ import annotations

import asyncio
import gzip
import shutil
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from greekfire.data.http11 import FastHTTP11Transport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


class Server:
    """A raw TCP server; ``handler(reader, writer, connection_number)`` scripts each
    connection. Counts connections and the most open at once."""

    def __init__(self, handler: Handler, ssl_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.ssl = ssl_context
        self.connections = 0
        self.open = 0
        self.max_open = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        try:
            await self.handler(reader, writer, self.connections)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open -= 1
            writer.close()

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl)
        port = self._server.sockets[0].getsockname()[1]
        return f"{'https' if self.ssl else 'http'}://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":")[1]))
    return head


def answer(body: bytes, *extra: bytes) -> bytes:
    headers = [b"HTTP/1.1 200 OK", b"Content-Length: " + str(len(body)).encode(), *extra]
    return b"\r\n".join(headers) + b"\r\n\r\n" + body


def client(url: str, **kwargs: object) -> httpx.AsyncClient:
    transport = FastHTTP11Transport(**kwargs)  # type: ignore[arg-type]
    return httpx.AsyncClient(base_url=url, transport=transport, timeout=5.0)


def test_keep_alive_reuses_one_connection_and_sends_the_request() -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        while True:
            head = await read_request(reader)
            seen.append(head)
            writer.write(answer(b'{"n": %d}' % len(seen)))
            await writer.drain()

    async def go() -> tuple[list[object], int]:
        server = Server(handler)
        async with server as url, client(url) as c:
            out = [(await c.get("/v2/x", params={"a": "1 2"})).json() for _ in range(3)]
            post = await c.post("/v2/orders", json={"qty": 1})
            out.append(post.json())
        return out, server.connections

    out, connections = asyncio.run(go())
    assert out == [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]
    assert connections == 1
    assert seen[0].startswith(b"GET /v2/x?a=1+2 HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:" in seen[0]
    assert seen[3].startswith(b"POST /v2/orders HTTP/1.1\r\n")
    assert b"Content-Length: 9" in seen[3]  # {"qty":1}


def test_chunked_bodies_and_connection_close() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        if n == 1:
            writer.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
            )
            await writer.drain()
            await read_request(reader)
        writer.write(answer(b"bye", b"Connection: close"))
        await writer.drain()

    async def go() -> tuple[list[bytes], int]:
        server = Server(handler)
        async with server as url, client(url) as c:
            bodies = [(await c.get("/")).content for _ in range(3)]
        return bodies, server.connections

    bodies, connections = asyncio.run(go())
    assert bodies == [b"hello world", b"bye", b"bye"]
    # The chunked answer kept the connection; each "Connection: close" ended one.
    assert connections == 2


def test_a_body_framed_by_the_connection_end() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n\r\nuntil the end")
        await writer.drain()

    async def go() -> list[bytes]:
        async with Server(handler) as url, client(url) as c:
            return [(await c.get("/")).content for _ in range(2)]

    assert asyncio.run(go()) == [b"until the end", b"until the end"]


def test_a_stale_keep_alive_connection_is_replaced_once() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(answer(b"%d" % n))  # keep-alive promised, then the server hangs up
        await writer.drain()

    async def go() -> tuple[list[bytes], int]:
        server = Server(handler)
        async with server as url, client(url) as c:
            first = (await c.get("/")).content
            await asyncio.sleep(0.05)  # let the close reach the client
            second = (await c.get("/")).content
        return [first, second], server.connections

    bodies, connections = asyncio.run(go())
    assert bodies == [b"1", b"2"]
    assert connections == 2


def test_a_post_is_never_sent_twice() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(answer(b"%d" % n))
        await writer.drain()
        if n == 1:
            await read_request(reader)  # takes the POST, then hangs up without an answer

    async def go() -> int:
        server = Server(handler)
        async with server as url, client(url) as c:
            await c.get("/")
            with pytest.raises(httpx.RemoteProtocolError, match="response head"):
                await c.post("/v2/orders", json={"qty": 1})
        return server.connections

    assert asyncio.run(go()) == 1


@pytest.mark.parametrize(
    ("reply", "error", "text"),
    [
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
            httpx.RemoteProtocolError,
            "5 of 100",
        ),
        (b"SMTP ready\r\n\r\n", httpx.RemoteProtocolError, "status line"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", httpx.RemoteProtocolError, "header"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",
            httpx.RemoteProtocolError,
            "Content-Length",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            httpx.RemoteProtocolError,
            "chunk size",
        ),
        (b"HTTP/1.1 200 O", httpx.RemoteProtocolError, "response head"),
    ],
)
def test_broken_answers_raise_httpx_errors(reply: bytes, error: type[Exception], text: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await read_request(reader)
        writer.write(reply)
        await writer.drain()

    async def go() -> None:
        async with Server(handler) as url, client(url) as c:
            await c.get("/")

    with pytest.raises(error, match=text):
        asyncio.run(go())


def test_timeouts_and_refused_connections() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    async def go() -> None:
        async with Server(silent) as url:
            transport = FastHTTP11Transport()
            async with httpx.AsyncClient(base_url=url, transport=transport, timeout=0.2) as c:
                await c.get("/")

    with pytest.raises(httpx.ReadTimeout):
        asyncio.run(go())

    async def refused() -> None:
        async with Server(silent) as url:
            pass  # closed: nothing listens on the port any more
        async with client(url) as c:
            await c.get("/")

    with pytest.raises(httpx.ConnectError):
        asyncio.run(refused())


def test_at_most_max_connections_are_open() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        while True:
            await read_request(reader)
            await asyncio.sleep(0.02)
            writer.write(answer(b"ok"))
            await writer.drain()

    async def go() -> tuple[int, int]:
        server = Server(handler)
        async with server as url, client(url, max_connections=2) as c:
            replies = await asyncio.gather(*(c.get("/") for _ in range(8)))
            assert all(r.content == b"ok" for r in replies)
        return server.max_open, server.connections

    max_open, connections = asyncio.run(go())
    assert max_open == 2
    assert connections == 2


def test_gzip_is_decoded_by_httpx_and_counted_compressed() -> None:
    body = b'{"bars": {}}' * 200
    packed = gzip.compress(body)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await read_request(reader)
        writer.write(answer(packed, b"Content-Encoding: gzip"))
        await writer.drain()

    async def go() -> httpx.Response:
        async with Server(handler) as url, client(url) as c:
            return await c.get("/")

    response = asyncio.run(go())
    assert response.content == body
    assert response.num_bytes_downloaded == len(packed)


def test_unsupported_scheme() -> None:
    async def go() -> None:
        async with httpx.AsyncClient(transport=FastHTTP11Transport()) as c:
            await c.get("ftp://example.invalid/")

    with pytest.raises(httpx.UnsupportedProtocol):
        asyncio.run(go())


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_https_with_a_verified_certificate(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await read_request(reader)
        writer.write(answer(b"secure"))
        await writer.drain()

    async def go(ctx: ssl.SSLContext | None) -> bytes:
        async with Server(handler, server_ctx) as url, client(url, ssl_context=ctx) as c:
            return (await c.get("/")).content

    assert asyncio.run(go(client_ctx)) == b"secure"
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        asyncio.run(go(None))  # the default context does not trust a self-signed certificate


def test_a_new_event_loop_gets_a_fresh_pool() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            await read_request(reader)
            writer.write(answer(b"%d" % n))
            await writer.drain()

    transport = FastHTTP11Transport()

    async def one(url: str, release: bool) -> bytes:
        async with httpx.AsyncClient(base_url=url, transport=transport) as c:
            body = (await c.get("/")).content
            await c.get("/")  # the same keep-alive connection
            if release:
                await transport.close_idle()
            return body

    server = Server(handler)

    async def serve_and_fetch() -> list[bytes]:
        async with server as url:
            loop = asyncio.get_running_loop()
            results = []
            for _ in range(2):
                # Each client call runs on a loop of its own, as fetch_bars_sync does.
                results.append(await loop.run_in_executor(None, asyncio.run, one(url, True)))
            return results

    assert asyncio.run(serve_and_fetch()) == [b"1", b"2"]
    assert server.connections == 2
