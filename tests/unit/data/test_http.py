"""The HTTP plumbing: the sharded pool, Retry-After parsing, and body memory hygiene."""

from __future__ import annotations

import asyncio
import gc
import weakref
from datetime import UTC, datetime

import httpx
import pytest

from greekfire.data.http import (
    HttpStats,
    ShardedTransport,
    get_bytes,
    make_client,
    parse_retry_after,
    vendor_message,
)


def test_shards_split_the_connections_exactly() -> None:
    transport = ShardedTransport(max_connections=50, shard_size=8)
    sizes = [s._pool._max_connections for s in transport.shards]
    assert sum(sizes) == 50
    assert max(sizes) <= 8
    assert max(sizes) - min(sizes) <= 1
    assert [s._pool._max_connections for s in ShardedTransport(max_connections=3).shards] == [3]
    with pytest.raises(ValueError, match="max_connections"):
        ShardedTransport(max_connections=0)


def test_requests_go_to_the_least_busy_shard() -> None:
    transport = ShardedTransport(max_connections=24, shard_size=8)
    seen: list[int] = []
    release = asyncio.Event()

    class Fake(httpx.AsyncBaseTransport):
        def __init__(self, index: int) -> None:
            self.index = index

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(self.index)
            await release.wait()
            return httpx.Response(200, content=b"{}")

    transport.shards = [Fake(i) for i in range(3)]  # type: ignore[list-item]

    async def go() -> list[int]:
        async with httpx.AsyncClient(transport=transport) as client:
            tasks = [asyncio.create_task(client.get("http://x/")) for _ in range(6)]
            while len(seen) < 6:
                await asyncio.sleep(0)
            counts = list(transport.in_flight)
            release.set()
            await asyncio.gather(*tasks)
            return counts

    assert asyncio.run(go()) == [2, 2, 2]
    assert sorted(seen) == [0, 0, 1, 1, 2, 2]
    assert transport.in_flight == [0, 0, 0]


def test_a_read_body_is_freed_without_the_garbage_collector() -> None:
    # httpx links a response and its stream both ways; get_bytes cuts the link so the body
    # goes as soon as the caller drops it (measured: 145 MB per 500-symbol fetch retained).
    refs: list[weakref.ref[httpx.Response]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"ok": true}')

    async def go() -> bytes:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            response, body = await get_bytes(client, "http://x/", stats=HttpStats())
            refs.append(weakref.ref(response))
            del response
            return body

    gc.disable()
    try:
        body = asyncio.run(go())
        assert body == b'{"ok": true}'
        assert refs[0]() is None
    finally:
        gc.enable()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2", 2.0),
        (" 0.5 ", 0.5),
        ("-3", 0.0),
        ("Sat, 21 Nov 2026 10:00:30 GMT", 30.0),
        ("Sat, 21 Nov 2026 09:59:00 GMT", 0.0),
        ("soon", None),
        ("inf", None),
        (None, None),
    ],
)
def test_retry_after_seconds_or_http_date(value: str | None, expected: float | None) -> None:
    now = datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC)
    assert parse_retry_after(value, now=now) == expected


def test_vendor_message_reads_alpaca_errors_and_shortens_junk() -> None:
    assert vendor_message(b'{"code": 42210000, "message": "x"}') == "x (code 42210000)"
    assert vendor_message(b"") == "<empty body>"
    long = vendor_message(b"<html>" + b"a" * 1000)
    assert long.endswith("...")
    assert len(long) < 320


def test_make_client_checks_its_pool_size() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        make_client(max_connections=0)
    client = make_client(max_connections=5)
    assert isinstance(client._transport, ShardedTransport)
    asyncio.run(client.aclose())
