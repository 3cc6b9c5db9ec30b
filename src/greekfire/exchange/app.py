"""The simulated exchange as one Starlette app: market data, options, trading, control.

Middleware, outermost first: request counters (:class:`~greekfire.exchange.stats.StatsMiddleware`),
auth (``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY``; a missing or wrong pair answers 401
``{"code": 40110000, "message": "access key verification failed"}``; control endpoints need it
too), faults (:class:`~greekfire.exchange.faults.FaultMiddleware`), then the routes.

Control endpoints (never faulted):

- ``GET /_greekfire/stats``: counters (see :meth:`ExchangeStats.snapshot`);
- ``POST /_greekfire/reset-stats``: zero them;
- ``GET /_greekfire/faults``: the current :class:`FaultConfig` as JSON;
- ``POST /_greekfire/faults``: a JSON object of :class:`FaultConfig` fields replaces the faults
  (fields left out take their defaults) and restarts their state; 400 naming a bad field.
"""

from __future__ import annotations

import hmac
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from greekfire.errors import ConfigError
from greekfire.exchange.clock import SimClock
from greekfire.exchange.config import ExchangeConfig
from greekfire.exchange.faults import FaultConfig, FaultInjector, FaultMiddleware
from greekfire.exchange.marketdata import exchange, marketdata_routes
from greekfire.exchange.options import option_routes
from greekfire.exchange.state import ExchangeState
from greekfire.exchange.stats import StatsMiddleware
from greekfire.exchange.trading import TradingDesk, trading_routes
from greekfire.exchange.wire import (
    CODE_BAD_REQUEST,
    CODE_INTERNAL,
    CODE_NOT_FOUND,
    CODE_UNAUTHORIZED,
    ApiError,
    bad_request,
    error_body,
    json_response,
)

__all__ = ["AuthMiddleware", "create_app"]

_JSON = "application/json; charset=utf-8"
_AUTH_FAILED = error_body(CODE_UNAUTHORIZED, "access key verification failed")


class AuthMiddleware:
    """Checks Alpaca's key headers on every HTTP request (constant-time comparison)."""

    def __init__(self, app: ASGIApp, key_id: str, secret_key: str) -> None:
        self.app = app
        self._key = key_id.encode()
        self._secret = secret_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            key = secret = b""
            for name, value in scope.get("headers", []):
                if name == b"apca-api-key-id":
                    key = value
                elif name == b"apca-api-secret-key":
                    secret = value
            good_key = hmac.compare_digest(key, self._key)
            if not (good_key and hmac.compare_digest(secret, self._secret)):
                headers = [
                    (b"content-type", _JSON.encode()),
                    (b"content-length", str(len(_AUTH_FAILED)).encode()),
                ]
                await send({"type": "http.response.start", "status": 401, "headers": headers})
                await send({"type": "http.response.body", "body": _AUTH_FAILED})
                return
        await self.app(scope, receive, send)


async def _stats(request: Request) -> Response:
    return json_response(request, exchange(request).stats.snapshot())


async def _reset_stats(request: Request) -> Response:
    exchange(request).stats.reset()
    return json_response(request, {"reset": True})


async def _faults(request: Request) -> Response:
    state = exchange(request)
    if request.method == "POST":
        try:
            data = orjson.loads(await request.body() or b"{}")
        except orjson.JSONDecodeError as exc:
            raise bad_request(f"invalid JSON body: {exc}") from None
        if not isinstance(data, dict):
            raise bad_request(f"expected a JSON object of fault settings, got {data!r}")
        try:
            config = FaultConfig.from_mapping(data)
        except (ConfigError, TypeError) as exc:
            raise bad_request(str(exc)) from None
        state.injector.configure(config)
    return json_response(request, state.injector.config.to_dict())


def _control_routes() -> list[BaseRoute]:
    return [
        Route("/_greekfire/stats", _stats),
        Route("/_greekfire/reset-stats", _reset_stats, methods=["POST"]),
        Route("/_greekfire/faults", _faults, methods=["GET", "POST"]),
    ]


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = CODE_NOT_FOUND if exc.status_code == 404 else exc.status_code * 100_000 + 10_000
    message = "endpoint not found" if exc.status_code == 404 else str(exc.detail).lower()
    return Response(error_body(code, message), exc.status_code, media_type=_JSON)


async def _value_error(request: Request, exc: Exception) -> Response:
    # The market refuses (e.g. a clock before its first session): a bad request, not a crash.
    return Response(error_body(CODE_BAD_REQUEST, str(exc)), 400, media_type=_JSON)


async def _internal_error(request: Request, exc: Exception) -> Response:
    return Response(
        error_body(CODE_INTERNAL, f"internal error: {type(exc).__name__}"), 500, media_type=_JSON
    )


def create_app(
    config: ExchangeConfig | None = None,
    *,
    clock: SimClock | None = None,
    injector: FaultInjector | None = None,
) -> Starlette:
    """The simulated exchange app for ``config`` (see the module docstring).

    Parameters
    ----------
    config : ExchangeConfig, optional
        Default ``ExchangeConfig()``.
    clock : SimClock, optional
        The simulated clock; default ``SimClock(config.start, config.speed)``.
    injector : FaultInjector, optional
        Fault state (tests inject one with a fake sleep and bucket clock); default built from
        ``config.faults``.

    Returns
    -------
    starlette.applications.Starlette
        ``app.state.exchange`` is the :class:`~greekfire.exchange.state.ExchangeState`.
    """
    cfg = config if config is not None else ExchangeConfig()
    state = ExchangeState.build(cfg, clock=clock, injector=injector)
    desk = TradingDesk(state.market, state.clock, cfg.starting_cash, cfg.seed, rate=cfg.rate)
    middleware = [Middleware(StatsMiddleware, stats=state.stats)]
    if cfg.key_id is not None and cfg.secret_key is not None:
        middleware.append(Middleware(AuthMiddleware, key_id=cfg.key_id, secret_key=cfg.secret_key))
    middleware.append(Middleware(FaultMiddleware, injector=state.injector, stats=state.stats))
    handlers: dict[Any, Any] = {
        ApiError: _api_error,
        HTTPException: _http_error,
        ValueError: _value_error,
        500: _internal_error,
    }
    app = Starlette(
        routes=[*_control_routes(), *marketdata_routes(), *option_routes(), *trading_routes(desk)],
        middleware=middleware,
        exception_handlers=handlers,
    )
    app.state.exchange = state
    app.state.desk = desk
    app.state.gzip = cfg.gzip
    return app
