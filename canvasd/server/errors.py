"""Errors as JSON: {"error": {"code", "message", "details"}} with the status each error carries."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from canvasd.errors import (
    CanvasdError,
    MethodNotAllowedError,
    RequestError,
    RouteNotFoundError,
    UnexpectedError,
)
from canvasd.server._http import JSONResponse

log = logging.getLogger(__name__)


def error_response(exc: CanvasdError, headers: Mapping[str, str] | None = None, *, message: str | None = None,
                   details: dict[str, object] | None = None) -> Response:
    """The JSON error body every failure answers with."""
    body = {"error": {"code": exc.code, "message": str(exc) if message is None else message,
                      "details": exc.details() if details is None else details}}
    return JSONResponse(body, status_code=exc.status, headers=headers)


async def canvasd_error(request: Request, exc: Exception) -> Response:
    """A CanvasdError: its own status, code, message and details."""
    assert isinstance(exc, CanvasdError)
    if exc.status >= 500:
        log.warning("request %s %s failed: %s", request.method, request.url.path, exc)
    message, details = str(exc), exc.details()
    located = _file_of(request)
    if located is not None:  # name the canvas as the client did, not by where the vault lives on disk
        real, relative = located
        message = message.replace(real, relative)
        details = {key: relative if value == real else value for key, value in details.items()}
    return error_response(exc, message=message, details=details)


def _file_of(request: Request) -> tuple[str, str] | None:
    """(real path, vault-relative path) of the canvas a request names, if it names a valid one."""
    params = request.path_params
    if "vault" not in params or "path" not in params:
        return None
    try:
        return str(request.app.state.ctx.vaults.get(params["vault"]).resolve(params["path"])), params["path"]
    except CanvasdError:
        return None


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's routing errors (unknown route, wrong method) in the same JSON shape."""
    assert isinstance(exc, HTTPException)
    error: CanvasdError
    if exc.status_code == 404:
        error = RouteNotFoundError(request.method, request.url.path)
    elif exc.status_code == 405:
        error = MethodNotAllowedError(request.method, request.url.path)
    else:
        error = RequestError(str(exc.detail))
    return error_response(error, headers=exc.headers)


CLIENT_CLOSED = 499
"""The status noted (metrics, never sent) for a request whose client went away before it was complete: a
4xx as nginx has it, so a client hanging up never counts as a failure of the daemon."""


async def client_disconnected(request: Request, exc: Exception) -> Response:
    """The client closed its connection while sending its body: nothing was done and nobody is listening."""
    log.info("client went away during %s %s before its body arrived; nothing was done", request.method,
             request.url.path)
    return Response(status_code=CLIENT_CLOSED)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    """A bug: logged with its traceback, answered 500 without internals."""
    log.error("unexpected error in %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(UnexpectedError(type(exc).__name__))
