"""Lease routes: the canvases a client (the Obsidian plugin) has open, and its answers to proposals."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from canvasd.errors import BodyFieldError, SubsystemUnavailableError
from canvasd.server._http import JSONResponse, object_body, read_json_body
from canvasd.server.context import ApiContext
from canvasd.watch.open_canvases import OpenCanvases

MAX_CANVASES = 256
_LEASE_FIELDS = frozenset({"canvases", "ttl_s"})
_ANSWER_FIELDS = frozenset({"applied", "reason"})


def _open(request: Request) -> tuple[ApiContext, OpenCanvases]:
    ctx: ApiContext = request.app.state.ctx
    if ctx.open_canvases is None:
        raise SubsystemUnavailableError("leases", "starting", "the daemon is still starting")
    return ctx, ctx.open_canvases


async def leases(request: Request) -> Response:
    """GET /v1/leases"""
    _, open_canvases = _open(request)
    return JSONResponse({"leases": open_canvases.leases()})


async def lease(request: Request) -> Response:
    """PUT /v1/leases/{client} with {"canvases": [{"vault", "path"}], "ttl_s"}: replaces the client's lease;
    DELETE releases it."""
    ctx, open_canvases = _open(request)
    client = request.path_params["client"]
    if request.method == "DELETE":
        return JSONResponse({"client": client, "released": open_canvases.release(client)})
    body = await read_json_body(request, ctx.settings.http.max_body_bytes)
    canvases, ttl = _lease_request(body)
    for vault, path in canvases:
        ctx.vaults.get(vault).resolve(path)  # the path rules of every canvas route
    return JSONResponse(open_canvases.lease(client, canvases, ttl))


def _lease_request(body: Any) -> tuple[list[tuple[str, str]], float]:
    body = object_body(body, "a lease", '{"canvases": [{"vault", "path"}], "ttl_s"}', _LEASE_FIELDS)
    items, ttl = body.get("canvases"), body.get("ttl_s", 30)
    if not isinstance(items, list) or len(items) > MAX_CANVASES:
        raise BodyFieldError(f"'canvases' must be an array of at most {MAX_CANVASES} {{\"vault\", \"path\"}} objects")
    canvases = []
    for item in items:
        if not isinstance(item, dict) or set(item) != {"vault", "path"} or not all(
                isinstance(item[k], str) and item[k] for k in ("vault", "path")):
            raise BodyFieldError("each leased canvas is {\"vault\": name, \"path\": vault path}")
        canvases.append((item["vault"], item["path"]))
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl <= 3600:
        raise BodyFieldError(f"'ttl_s' must be a number of seconds above 0, at most 3600 (got {ttl!r})")
    return canvases, float(ttl)


async def answer(request: Request) -> Response:
    """POST /v1/proposals/{id} with {"applied": true|false, "reason"}: the plugin's answer to a proposal."""
    ctx, open_canvases = _open(request)
    body = await read_json_body(request, ctx.settings.http.max_body_bytes)
    if not isinstance(body, dict) or not isinstance(body.get("applied"), bool) or set(body) - _ANSWER_FIELDS:
        raise BodyFieldError("an answer is {\"applied\": true|false} with an optional \"reason\" string")
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise BodyFieldError("'reason' must be a string")
    proposal = request.path_params["id"]
    open_canvases.answer(proposal, body["applied"], reason)
    return JSONResponse({"id": proposal, "applied": body["applied"]})
