"""The ASGI application: routes, JSON errors, request metrics and (for TCP) bearer-token checks."""

from __future__ import annotations

import hmac
import time

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from canvasd.errors import CanvasdError, UnauthorizedError
from canvasd.metrics import Metrics
from canvasd.server import agents, canvases, errors, events, leases, memory, review, search, status
from canvasd.server._http import JSONResponse
from canvasd.server.context import ApiContext
from canvasd.server.openapi import openapi_document
from canvasd.server.summary import RequestWindow

_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS"})
_STREAMS = frozenset({"/v1/events"})  # long-lived: counted, but kept out of the latency figures


async def _openapi(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)


def routes() -> list[Route]:
    """Every endpoint of the API (the OpenAPI document lists exactly these)."""
    canvas = "/v1/vaults/{vault}/canvases/{path:path}"
    return [
        Route("/v1/health", status.health, methods=["GET"]),
        Route("/v1/vaults", status.vaults, methods=["GET"]),
        Route("/v1/vaults/{vault}/canvases", canvases.list_canvases, methods=["GET"]),
        Route(canvas + "/nodes/{node}/related", search.related, methods=["GET"]),
        Route(canvas, canvases.canvas, methods=["GET", "PUT", "PATCH", "DELETE"]),
        Route("/v1/flush", canvases.flush, methods=["POST"]),
        Route("/v1/events", events.events, methods=["GET"]),
        Route("/v1/search", search.search, methods=["GET"]),
        Route("/v1/index/status", search.index_status, methods=["GET"]),
        Route("/v1/index/rebuild", search.index_rebuild, methods=["POST"]),
        Route("/v1/memory/search", memory.search, methods=["GET"]),
        Route("/v1/memory/timeline", memory.timeline, methods=["GET"]),
        Route("/v1/memory/stats", memory.stats, methods=["GET"]),
        Route("/v1/agents", agents.list_agents, methods=["GET"]),
        Route("/v1/agents/runs", agents.list_runs, methods=["GET"]),
        Route("/v1/agents/runs/{id}", agents.run, methods=["GET", "DELETE"]),
        Route("/v1/agents/{name}/runs", agents.start_run, methods=["POST"]),
        Route("/v1/leases", leases.leases, methods=["GET"]),
        Route("/v1/leases/{client}", leases.lease, methods=["PUT", "DELETE"]),
        Route("/v1/proposals/{id}", leases.answer, methods=["POST"]),
        Route("/v1/review/due", review.due, methods=["GET"]),
        Route("/v1/review/cards/{vault}/{path:path}/nodes/{node}/ratings", review.rate, methods=["POST"]),
        Route("/v1/review/cards/{vault}/{path:path}/nodes/{node}", review.card, methods=["GET"]),
        Route("/v1/review/canvas", review.build_canvas, methods=["POST"]),
        Route("/v1/review/stats", review.stats, methods=["GET"]),
        Route("/v1/jobs", status.jobs, methods=["GET"]),
        Route("/metrics", status.metrics, methods=["GET"]),
        Route("/v1/metrics/summary", status.summary, methods=["GET"]),
        Route("/v1/metrics/alerts", status.alerts, methods=["GET"]),
        Route("/openapi.json", _openapi, methods=["GET"]),
    ]


def build_app(ctx: ApiContext, *, token: str | None = None) -> ASGIApp:
    """The application over `ctx`; with `token`, every request must carry it as a bearer token."""
    app = Starlette(routes=routes(), exception_handlers={
        CanvasdError: errors.canvasd_error,
        HTTPException: errors.http_error,
        ClientDisconnect: errors.client_disconnected,
        Exception: errors.unexpected_error,
    })
    app.state.ctx = ctx
    app.state.openapi = openapi_document()
    measured: ASGIApp = RequestMetrics(app, ctx.metrics, ctx.window)
    return BearerAuth(measured, token) if token is not None else measured


class RequestMetrics:
    """Counts and times every request (pure ASGI: a few microseconds per request)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, window: RequestWindow) -> None:
        self.app = app
        self.metrics = metrics
        self.window = window
        self._latency = metrics.http_request_seconds
        self._in_flight = metrics.http_in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answered = 500

        async def send_and_note(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = message["status"]
            await send(message)

        self._in_flight.inc()
        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self._in_flight.dec()
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = route.path if route is not None else "unmatched"
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            self.metrics.http_requests.labels(template, method, str(answered)).inc()
            if template not in _STREAMS:
                self._latency.observe(elapsed)
                self.window.record(elapsed, answered)


class BearerAuth:
    """Refuses requests without `Authorization: Bearer <token>` (the TCP listener's guard)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                exc = UnauthorizedError()
                response = errors.error_response(exc, headers={"www-authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
