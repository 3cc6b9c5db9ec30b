"""Alpaca's wire conventions, shared by every route: errors, timestamps, JSON and gzip.

Errors
    Alpaca answers every error with ``{"code": <int>, "message": "..."}``; the eight-digit code
    starts with the HTTP status (``40010001`` bad request, ``40110000`` unauthorised,
    ``40410000`` not found, ``42210000`` unprocessable, ``42910000`` rate limit, ``50010000``
    internal). Routes raise :class:`ApiError`; the app turns it into that body.
Timestamps
    Market data: RFC 3339 in UTC with a ``Z`` (``2024-01-02T05:00:00Z``). Clock and orders:
    the offset of America/New_York (``2024-01-02T09:30:00-05:00``).
Compression
    A body of at least :data:`GZIP_MIN_BYTES` goes out gzip-compressed (level
    :data:`GZIP_LEVEL`) when the client accepts gzip and the server has ``gzip`` on.
"""

from __future__ import annotations

import datetime as dt
import zlib
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response

__all__ = [
    "CODE_BAD_REQUEST",
    "CODE_FORBIDDEN",
    "CODE_INTERNAL",
    "CODE_NOT_FOUND",
    "CODE_RATE_LIMIT",
    "CODE_UNAUTHORIZED",
    "CODE_UNPROCESSABLE",
    "GZIP_LEVEL",
    "GZIP_MIN_BYTES",
    "NEW_YORK",
    "ApiError",
    "accepts_gzip",
    "bad_request",
    "error_body",
    "gzip_bytes",
    "json_response",
    "ny_rfc3339",
    "rfc3339_z",
    "rfc3339_z_array",
]

CODE_BAD_REQUEST: Final = 40010001
CODE_UNAUTHORIZED: Final = 40110000
CODE_FORBIDDEN: Final = 40310000
CODE_NOT_FOUND: Final = 40410000
CODE_UNPROCESSABLE: Final = 42210000
CODE_RATE_LIMIT: Final = 42910000
CODE_INTERNAL: Final = 50010000
GZIP_MIN_BYTES: Final = 1024
GZIP_LEVEL: Final = 1
NEW_YORK: Final = ZoneInfo("America/New_York")
_JSON: Final = "application/json; charset=utf-8"


class ApiError(Exception):
    """An Alpaca-style error answer: HTTP ``status`` with body ``{"code", "message"}``."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> Response:
        """The JSON response of this error."""
        return Response(error_body(self.code, self.message), self.status, media_type=_JSON)


def error_body(code: int, message: str) -> bytes:
    """``{"code": code, "message": message}`` as JSON bytes."""
    return orjson.dumps({"code": code, "message": message})


def bad_request(message: str) -> ApiError:
    """A 400 with Alpaca's invalid-parameter code."""
    return ApiError(400, CODE_BAD_REQUEST, message)


def rfc3339_z(ns: int) -> str:
    """UTC nanoseconds as ``YYYY-MM-DDTHH:MM:SS[.fffffffff]Z`` (fraction only when nonzero)."""
    seconds, frac = divmod(int(ns), 1_000_000_000)
    text = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{frac:09d}Z" if frac else f"{text}Z"


def rfc3339_z_array(ns: np.ndarray) -> list[bytes]:
    """Whole-second UTC nanoseconds as ``b"YYYY-MM-DDTHH:MM:SSZ"``, vectorised."""
    text = np.datetime_as_string(ns.astype("datetime64[ns]").astype("datetime64[s]"), unit="s")
    return [s.encode() + b"Z" for s in text.tolist()]


def ny_rfc3339(ns: int) -> str:
    """UTC nanoseconds as RFC 3339 with the New York offset, as Alpaca's clock writes it."""
    seconds, frac = divmod(int(ns), 1_000_000_000)
    local = dt.datetime.fromtimestamp(seconds, dt.UTC).astimezone(NEW_YORK)
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    offset = local.strftime("%z")
    fraction = f".{frac:09d}" if frac else ""
    return f"{text}{fraction}{offset[:3]}:{offset[3:]}"


def accepts_gzip(request: Request) -> bool:
    """True when the request's ``Accept-Encoding`` lists gzip."""
    return "gzip" in request.headers.get("accept-encoding", "").lower()


def gzip_bytes(body: bytes) -> bytes:
    """``body`` as a gzip stream at :data:`GZIP_LEVEL`."""
    packer = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return packer.compress(body) + packer.flush()


def json_response(
    request: Request, body: bytes | Any, status: int = 200, *, gzipped: bytes | None = None
) -> Response:
    """A JSON response, gzip-compressed when the body is large and the client accepts it.

    ``body`` is JSON bytes or a value for orjson; ``gzipped`` is an already compressed copy
    (from a cache) used instead of compressing again.
    """
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    use_gzip = bool(getattr(request.app.state, "gzip", True)) and accepts_gzip(request)
    if use_gzip and len(raw) >= GZIP_MIN_BYTES:
        packed = gzipped if gzipped is not None else gzip_bytes(raw)
        headers = {"content-encoding": "gzip", "vary": "Accept-Encoding"}
        return Response(packed, status, headers=headers, media_type=_JSON)
    return Response(raw, status, media_type=_JSON)
