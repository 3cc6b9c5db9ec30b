"""Request counters of the simulated exchange, served at ``GET /_greekfire/stats``.

Tests count what a client asked for: requests by path and by status, faults by kind, and a
log of the bars requests (symbols, timeframe, start, end, page_token as received).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ExchangeStats", "StatsMiddleware"]

_MAX_BARS_LOG: Final = 100_000


class ExchangeStats:
    """Counters since startup or the last :meth:`reset`."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Zero every counter and clear the bars log."""
        self.by_path: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.by_fault: Counter[str] = Counter()
        self.bars_log: list[dict[str, Any]] = []

    def request(self, path: str, status: int) -> None:
        """Count one answered (or unanswered: status 0) request."""
        self.by_path[path] += 1
        self.by_status[status] += 1

    def fault(self, kind: str) -> None:
        """Count one injected fault."""
        self.by_fault[kind] += 1

    def bars_request(self, entry: dict[str, Any]) -> None:
        """Log one bars request (bounded: the oldest entries go first)."""
        if len(self.bars_log) >= _MAX_BARS_LOG:
            del self.bars_log[: _MAX_BARS_LOG // 10]
        self.bars_log.append(entry)

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready counters: ``requests`` (total), ``by_path``, ``by_status`` (keys are
        status strings; ``"0"`` counts requests closed without an answer), ``by_fault``,
        ``bars_requests``."""
        return {
            "requests": sum(self.by_path.values()),
            "by_path": dict(self.by_path),
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "by_fault": dict(self.by_fault),
            "bars_requests": list(self.bars_log),
        }


class StatsMiddleware:
    """Outermost ASGI middleware: counts every HTTP request by path and final status."""

    def __init__(self, app: ASGIApp, stats: ExchangeStats) -> None:
        self.app = app
        self.stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            self.stats.request(scope["path"], status)
