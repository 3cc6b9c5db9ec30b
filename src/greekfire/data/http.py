"""HTTP plumbing shared by the REST adapters: one pooled client, error mapping, byte counts.

Every REST provider owns one ``httpx.AsyncClient`` (keep-alive connection pool, HTTP/1.1,
gzip accepted) built by :func:`make_client`, and turns HTTP outcomes into greekfire's error tree
with :func:`check_response` so the fetch pipeline can decide what to retry:

================================  ==========================================================
outcome                           raised
================================  ==========================================================
connect/read/write/pool timeout   ``TimeoutError`` (retryable)
connection refused, reset,        :class:`ConnectionLost` (a ``ConnectionError``: retryable)
dropped or truncated body
429                               ``RateLimited`` with ``retry_after_s`` from ``Retry-After``
                                  (seconds or an HTTP date)
5xx                               :class:`ServerError` (a ``TransientError``: retryable)
401, 403                          :class:`AuthError` (a ``ProviderError``: not retried)
other 4xx                         ``ProviderError`` naming the URL, status and the vendor's message
a 2xx body that is not JSON       :class:`CorruptResponse` (a ``TransientError``: the answer was
                                  damaged on the way; retried)
================================  ==========================================================

A body that *is* JSON but not the vendor's schema is a ``ParseError`` (not retried: asking again
returns the same thing); the adapters raise it.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import orjson

from greekfire.data.http11 import FastHTTP11Transport
from greekfire.errors import ProviderError, RateLimited, TransientError

__all__ = [
    "AuthError",
    "ConnectionLost",
    "CorruptResponse",
    "HttpStats",
    "ServerError",
    "check_response",
    "get_bytes",
    "make_client",
    "parse_retry_after",
    "vendor_message",
]

_MESSAGE_CHARS = 300


class ConnectionLost(ConnectionError):
    """The connection failed or closed before a whole answer arrived (retryable)."""


class ServerError(TransientError):
    """The vendor answered 5xx (retryable); ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class CorruptResponse(TransientError):
    """A 2xx answer whose body is not valid JSON (garbled or cut): retried."""


class AuthError(ProviderError):
    """The vendor refused the credentials (401/403); retrying will not help."""


@dataclass(slots=True)
class HttpStats:
    """Counters of one adapter's traffic: requests sent, answers by class, body bytes."""

    requests: int = 0
    responses: int = 0
    errors: int = 0
    bytes_received: int = 0


def make_client(
    *,
    max_connections: int = 100,
    timeout_s: float = 10.0,
    connect_timeout_s: float = 5.0,
    headers: Mapping[str, str] | None = None,
    transport: FastHTTP11Transport | None = None,
) -> httpx.AsyncClient:
    """A pooled keep-alive ``httpx.AsyncClient`` for one provider, on
    :class:`~greekfire.data.http11.FastHTTP11Transport` (bodies read in one call: httpx's own
    transport spent more CPU reading 64 KB pieces than greekfire spends parsing the bars).

    Parameters
    ----------
    max_connections : int, default 100
        Pool size (connections open at once); set it to at least the pipeline's
        ``max_concurrent_requests`` so requests never queue for a connection.
    timeout_s, connect_timeout_s : float
        Read/write/pool timeout and connect timeout in seconds.
    headers : mapping, optional
        Sent with every request (credentials).
    transport : FastHTTP11Transport, optional
        Use this one (the caller keeps a handle, e.g. for ``close_idle``); default a new one
        with ``max_connections``.
    """
    if max_connections < 1:
        raise ValueError(f"max_connections must be >= 1, got {max_connections}")
    return httpx.AsyncClient(
        headers={"Accept-Encoding": "gzip", "Accept": "application/json", **(headers or {})},
        transport=transport or FastHTTP11Transport(max_connections=max_connections),
        timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
        follow_redirects=False,
    )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: a number of seconds or an HTTP date.

    Returns ``None`` when the header is absent or unreadable (the caller falls back to its own
    backoff); never negative.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def vendor_message(body: bytes) -> str:
    """The vendor's error text: ``message`` (and ``code``) of a JSON error body, else the raw
    body, shortened."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
    else:
        if isinstance(doc, dict) and "message" in doc:
            code = doc.get("code")
            text = f"{doc['message']}" + (f" (code {code})" if code is not None else "")
        else:
            text = body.decode("utf-8", "replace").strip()
    if len(text) > _MESSAGE_CHARS:
        text = text[:_MESSAGE_CHARS] + "..."
    return text or "<empty body>"


def _describe(request: httpx.Request) -> str:
    url = request.url
    query = f"?{url.query.decode()}" if url.query else ""
    shown = f"{url.path}{query}"
    if len(shown) > 200:
        shown = shown[:200] + "..."
    return f"{request.method} {url.scheme}://{url.netloc.decode()}{shown}"


def check_response(response: httpx.Response, body: bytes) -> None:
    """Raise the error that ``response`` (already read into ``body``) stands for; return on
    2xx. See the module docstring for the mapping."""
    status = response.status_code
    if 200 <= status < 300:
        return
    where = _describe(response.request)
    message = f"{where}: HTTP {status}: {vendor_message(body)}"
    if status == 429:
        raise RateLimited(message, parse_retry_after(response.headers.get("Retry-After")))
    if status >= 500:
        raise ServerError(message, status)
    if status in (401, 403):
        raise AuthError(message)
    raise ProviderError(message)


async def get_bytes(
    client: httpx.AsyncClient,
    url: str,
    params: Mapping[str, str] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    stats: HttpStats | None = None,
) -> tuple[httpx.Response, bytes]:
    """GET ``url`` and read the whole (decompressed) body; map failures per the module docstring.

    Returns the response (status 2xx) and its body bytes.
    """
    if stats is not None:
        stats.requests += 1
    try:
        response = await client.get(url, params=params, headers=headers)
    except httpx.TimeoutException as exc:
        if stats is not None:
            stats.errors += 1
        raise TimeoutError(f"GET {url}: {type(exc).__name__}: {exc or 'timed out'}") from exc
    except (httpx.TransportError, httpx.DecodingError) as exc:
        # Refused, reset, dropped mid-answer, truncated body, a gzip stream cut short.
        if stats is not None:
            stats.errors += 1
        raise ConnectionLost(f"GET {url}: {type(exc).__name__}: {exc}") from exc
    body = response.content
    # httpx links the response and its stream both ways (a reference cycle): left alone, every
    # body stays in memory until the garbage collector's next full pass. Cut the link.
    response.stream = httpx.ByteStream(b"")
    if stats is not None:
        stats.responses += 1
        # Bytes as received (compressed when gzip); a pre-read body (mock transports) by length.
        stats.bytes_received += int(response.num_bytes_downloaded) or len(body)
    check_response(response, body)
    return response, body
