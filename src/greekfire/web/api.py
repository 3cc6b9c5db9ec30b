"""The dashboard's FastAPI app: JSON API, live stream, controls, ``/metrics``, the pages.

Routes (OpenAPI at ``/openapi.json``; no Swagger page: it would load scripts from a CDN)::

    GET  /api/health  /api/overview  /api/equity  /api/performance  /api/orders  /api/fills
         /api/events  /api/notes  /api/strategies  /api/bench
    GET  /api/stream                                 server-sent events: ``cycle``, heartbeats
    POST /api/control/pause  /resume  /flatten  /strategies/{name}/disable
    GET  /metrics                                    Prometheus text (when given a registry)
    GET  /  and  /static/...                         the pages (package data, no external URL)

Controls
    Accepted only with ``Authorization: Bearer <token>`` (compared in constant time); they are
    queued on :class:`~greekfire.engine.control.EngineControls` and applied by the engine at the
    start of its next cycle (202). No engine behind the dashboard, or no token configured:
    403. A missing or wrong token: 401.
"""

import hmac
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any, Final

import anyio
from anyio import to_thread
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from greekfire.domain.orders import OrderStatus
from greekfire.engine.control import ControlCommand, ControlKind, EngineControls
from greekfire.web.models import (
    BenchReport,
    EquityCurve,
    EventsPage,
    FillsPage,
    Health,
    NotesPage,
    OrdersPage,
    Overview,
    Performance,
    StrategiesPage,
)
from greekfire.web.service import DashboardService

__all__ = ["STATIC_DIR", "ControlAccepted", "ControlRequest", "ErrorDetail", "create_app"]

STATIC_DIR: Final = Path(__file__).with_name("static")
"""The pages: ``index.html`` and the files under ``/static``."""

_MAX_LIMIT: Final = 10_000
_MAX_QUERY: Final = 200


class ErrorDetail(BaseModel):
    """An error answer: what went wrong, in words."""

    detail: str


class ControlRequest(BaseModel):
    """Optional body of a control command."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=500, description="Why, for the journal.")


class ControlAccepted(BaseModel):
    """The command is queued; ``pending`` commands wait for the engine's next cycle."""

    accepted: bool = True
    pending: int


_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    401: {"model": ErrorDetail, "description": "Missing or wrong bearer token."},
    403: {"model": ErrorDetail, "description": "Controls are disabled (no engine or no token)."},
    503: {"model": ErrorDetail, "description": "The command queue is full."},
}
_UNAVAILABLE: Final[dict[int | str, dict[str, Any]]] = {
    503: {"model": ErrorDetail, "description": "The journal is busy or unreadable; retry."},
}

Limit = Annotated[int, Query(ge=1, le=_MAX_LIMIT, description="Most rows returned.")]
Search = Annotated[
    str,
    Query(max_length=_MAX_QUERY, description="Case-insensitive substring to look for."),
]


def _secret(token: str | SecretStr | None) -> str | None:
    value = token.get_secret_value() if isinstance(token, SecretStr) else token
    return value or None


def create_app(
    service: DashboardService,
    *,
    controls: EngineControls | None = None,
    token: str | SecretStr | None = None,
    registry: CollectorRegistry | None = None,
    stream_poll_s: float = 0.5,
    heartbeat_s: float = 15.0,
    static_dir: str | Path = STATIC_DIR,
) -> FastAPI:
    """Build the dashboard app over ``service``.

    Parameters
    ----------
    service : DashboardService
        The read model.
    controls : EngineControls, optional
        The running engine's command queue; ``None`` (a journal alone) disables the controls.
    token : str or SecretStr, optional
        The bearer token the controls require; ``None`` or empty disables them.
    registry : prometheus_client.CollectorRegistry, optional
        Served at ``/metrics`` when given.
    stream_poll_s, heartbeat_s : float
        How often ``/api/stream`` looks for new cycles, and sends a heartbeat comment.
    static_dir : path
        The pages (default: the package's ``static`` folder).

    Returns
    -------
    FastAPI
        ``app.state.token_configured`` tells :class:`~greekfire.web.server.DashboardServer`
        whether a token protects the controls; setting ``app.state.shutdown`` ends open streams.
    """
    if stream_poll_s <= 0 or heartbeat_s <= 0:
        raise ValueError(
            f"stream_poll_s, heartbeat_s: expected > 0, got {stream_poll_s!r}, {heartbeat_s!r}"
        )
    secret = _secret(token)
    app = FastAPI(
        title="greekfire dashboard",
        summary="The bot's state, performance, journal and controls.",
        version="1",
        docs_url=None,
        redoc_url=None,
    )
    app.state.token_configured = secret is not None
    app.state.shutdown = threading.Event()
    app.state.service = service

    @app.exception_handler(sqlite3.OperationalError)
    async def _busy(request: Request, exc: sqlite3.OperationalError) -> JSONResponse:
        return JSONResponse({"detail": f"journal unavailable: {exc}"}, status_code=503)

    _read_routes(app, service, controls_available=controls is not None and secret is not None)
    _stream_route(app, service, stream_poll_s, heartbeat_s)
    _control_routes(app, service, controls, secret)
    if registry is not None:
        _metrics_route(app, registry)
    _static_routes(app, Path(static_dir))
    return app


def _read_routes(app: FastAPI, service: DashboardService, *, controls_available: bool) -> None:
    @app.get("/api/health", response_model=Health, tags=["status"])
    def health() -> Health:
        """Up, ``live`` (inside the bot) or ``journal`` (a journal alone), the latest cycle."""
        return service.health()

    @app.get("/api/overview", response_model=Overview, tags=["pages"], responses=_UNAVAILABLE)
    def overview() -> Overview:
        """Account, positions with Greeks, portfolio Greeks against limits, halts."""
        return service.overview(controls_available=controls_available)

    @app.get("/api/equity", response_model=EquityCurve, tags=["pages"], responses=_UNAVAILABLE)
    def equity(
        limit: Annotated[
            int | None,
            Query(ge=1, le=_MAX_LIMIT, description="Points (default: the configured history)."),
        ] = None,
    ) -> EquityCurve:
        """Equity and cash of the latest account snapshots, oldest first."""
        return service.equity(limit)

    @app.get("/api/performance", response_model=Performance, tags=["pages"], responses=_UNAVAILABLE)
    def performance(limit: Limit = 500) -> Performance:
        """Cycle latency by phase over the latest ``limit`` cycles, caches, API calls, the
        process, fills per hour."""
        return service.performance(limit)

    @app.get("/api/orders", response_model=OrdersPage, tags=["journal"], responses=_UNAVAILABLE)
    def orders(
        q: Search = "",
        status: Annotated[OrderStatus | None, Query(description="Only this status.")] = None,
        limit: Limit = 200,
    ) -> OrdersPage:
        """Orders, newest first: ``q`` matches symbol, strategy, client id or reason."""
        return service.orders(q, status, limit)

    @app.get("/api/fills", response_model=FillsPage, tags=["journal"], responses=_UNAVAILABLE)
    def fills(q: Search = "", limit: Limit = 200) -> FillsPage:
        """Fills, newest first: ``q`` matches symbol, strategy, client order id or fill id."""
        return service.fills(q, limit)

    @app.get("/api/events", response_model=EventsPage, tags=["journal"], responses=_UNAVAILABLE)
    def events(limit: Limit = 200) -> EventsPage:
        """Broker events, newest first."""
        return service.events(limit)

    @app.get("/api/notes", response_model=NotesPage, tags=["journal"], responses=_UNAVAILABLE)
    def notes(
        kind: Annotated[
            str | None,
            Query(max_length=64, description="Only this kind (risk_denied, control, ...)."),
        ] = None,
        limit: Limit = 200,
    ) -> NotesPage:
        """Journal notes (risk denials, disabled strategies, controls, ...), newest first."""
        return service.notes(kind, limit)

    @app.get(
        "/api/strategies", response_model=StrategiesPage, tags=["pages"], responses=_UNAVAILABLE
    )
    def strategies() -> StrategiesPage:
        """Strategies: enabled or why not, symbols, last signals and the risk gate's answers."""
        return service.strategies()

    @app.get("/api/bench", response_model=BenchReport, tags=["pages"])
    def bench() -> BenchReport:
        """The latest ``make bench`` report (``available`` false without one)."""
        return service.bench()


def _stream_route(
    app: FastAPI, service: DashboardService, poll_s: float, heartbeat_s: float
) -> None:
    shutdown: threading.Event = app.state.shutdown

    async def cycles() -> AsyncIterator[str]:
        last = await to_thread.run_sync(service.latest_cycle_id)
        yield "retry: 2000\n: connected\n\n"
        beat_at = anyio.current_time() + heartbeat_s
        while not shutdown.is_set():
            await anyio.sleep(poll_s)
            last, new = await to_thread.run_sync(service.cycles_after, last)
            for event in new:
                yield f"id: {event.cycle}\nevent: cycle\ndata: {event.model_dump_json()}\n\n"
            if anyio.current_time() >= beat_at:
                beat_at = anyio.current_time() + heartbeat_s
                yield ": heartbeat\n\n"

    @app.get(
        "/api/stream",
        tags=["status"],
        response_class=StreamingResponse,
        responses={
            200: {
                "description": "``event: cycle`` with ``{cycle, ts_ns, total_ms}`` for each new"
                " journaled cycle; a comment every 15 s.",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            }
        },
    )
    async def stream() -> StreamingResponse:
        """Server-sent events: one ``cycle`` event per journaled cycle."""
        return StreamingResponse(
            cycles(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


def _authorizer(
    controls: EngineControls | None, secret: str | None
) -> Callable[[HTTPAuthorizationCredentials | None], EngineControls]:
    # the dependency that guards every control route: 403 when disabled, 401 on a bad token
    bearer = HTTPBearer(auto_error=False, description="GREEKFIRE_DASHBOARD_TOKEN")

    def authorized(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> EngineControls:
        if controls is None:
            raise HTTPException(
                403, "controls are disabled: this dashboard serves a journal, no engine runs here"
            )
        if secret is None:
            raise HTTPException(
                403, "controls are disabled: no token configured (set GREEKFIRE_DASHBOARD_TOKEN)"
            )
        given = "" if credentials is None else credentials.credentials
        if not hmac.compare_digest(given.encode(), secret.encode()):
            raise HTTPException(
                401,
                "missing or wrong token: send Authorization: Bearer <token>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return controls

    return authorized


def _control_routes(
    app: FastAPI,
    service: DashboardService,
    controls: EngineControls | None,
    secret: str | None,
) -> None:
    # annotations of these routes are evaluated now (no __future__ import): the local alias works
    Queue = Annotated[EngineControls, Depends(_authorizer(controls, secret))]

    def submit(queue: EngineControls, command: ControlCommand) -> ControlAccepted:
        try:
            return ControlAccepted(pending=queue.submit(command))
        except ValueError as exc:
            raise HTTPException(503, str(exc)) from None

    def reason(body: ControlRequest | None) -> str:
        return "" if body is None else body.reason

    common: dict[str, Any] = {
        "status_code": 202,
        "response_model": ControlAccepted,
        "responses": _ERRORS,
        "tags": ["controls"],
    }

    @app.post("/api/control/pause", **common)
    def pause(queue: Queue, body: ControlRequest | None = None) -> ControlAccepted:
        """Pause entries: the risk gate denies opening orders; exits go on."""
        return submit(
            queue, ControlCommand(ControlKind.PAUSE_ENTRIES, None, reason(body), "dashboard")
        )

    @app.post("/api/control/resume", **common)
    def resume(queue: Queue, body: ControlRequest | None = None) -> ControlAccepted:
        """Resume entries."""
        return submit(
            queue, ControlCommand(ControlKind.RESUME_ENTRIES, None, reason(body), "dashboard")
        )

    @app.post("/api/control/flatten", **common)
    def flatten(queue: Queue, body: ControlRequest | None = None) -> ControlAccepted:
        """Pause entries and close every position at market next cycle."""
        return submit(queue, ControlCommand(ControlKind.FLATTEN, None, reason(body), "dashboard"))

    @app.post(
        "/api/control/strategies/{name}/disable",
        **{
            **common,
            "responses": {
                **_ERRORS,
                404: {"model": ErrorDetail, "description": "No strategy by that name."},
            },
        },
    )
    def disable(
        queue: Queue,
        name: Annotated[str, PathParam(min_length=1, max_length=128)],
        body: ControlRequest | None = None,
    ) -> ControlAccepted:
        """Disable a strategy: it is never called again (until the bot restarts)."""
        known = service.strategy_names()
        if name not in known:
            raise HTTPException(
                404, f"strategy: no strategy named {name!r}; known: {', '.join(sorted(known))}"
            )
        command = ControlCommand(ControlKind.DISABLE_STRATEGY, name, reason(body), "dashboard")
        return submit(queue, command)


def _metrics_route(app: FastAPI, registry: CollectorRegistry) -> None:
    @app.get("/metrics", response_class=PlainTextResponse, tags=["status"])
    def metrics() -> PlainTextResponse:
        """The bot's Prometheus metrics (text exposition format)."""
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _static_routes(app: FastAPI, static_dir: Path) -> None:
    app.mount("/static", StaticFiles(directory=static_dir, check_dir=False), name="static")

    @app.get("/", include_in_schema=False, response_model=None)
    def index() -> FileResponse | PlainTextResponse:
        page = static_dir / "index.html"
        if not page.is_file():
            return PlainTextResponse("the dashboard pages are not installed", status_code=404)
        return FileResponse(page, media_type="text/html", headers={"Cache-Control": "no-cache"})
