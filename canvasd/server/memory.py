"""Memory graph routes: search facts and entities, one node's learning timeline, graph stats."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from canvasd.errors import InvalidQueryError
from canvasd.server._http import JSONResponse
from canvasd.server.context import ApiContext

if TYPE_CHECKING:
    from canvasd.memory.subsystem import MemorySubsystem


def _memory(request: Request) -> tuple[ApiContext, MemorySubsystem]:
    ctx: ApiContext = request.app.state.ctx
    return ctx, ctx.memory


def _flag(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise InvalidQueryError(f"'{name}' must be true or false; got '{raw}'")


async def search(request: Request) -> Response:
    """GET /v1/memory/search?q=&vault=&path=&since=&until=&current_only=true&limit="""
    from canvasd.index.query import parse_time

    ctx, memory = _memory(request)
    params = request.query_params
    text = (params.get("q") or "").strip()
    if not text:
        raise InvalidQueryError("'q' (the text to search for) is required")
    vault = params.get("vault") or None
    if vault is not None:
        ctx.vaults.get(vault)
    path = params.get("path") or None
    if path is not None:
        if vault is None:
            raise InvalidQueryError("'path' needs 'vault': a canvas is named by its vault and path")
        ctx.vaults.get(vault).resolve(path)
    since, until, limit = params.get("since"), params.get("until"), params.get("limit")
    try:
        count = int(limit) if limit is not None else None
    except ValueError:
        raise InvalidQueryError(f"'limit' must be an integer; got '{limit}'") from None
    return JSONResponse(await memory.search(
        text, vault=vault, path=path, since=parse_time(since, name="since") if since else None,
        until=parse_time(until, name="until") if until else None,
        current_only=_flag(request, "current_only", True), limit=count))


async def timeline(request: Request) -> Response:
    """GET /v1/memory/timeline?vault=&path=&node="""
    ctx, memory = _memory(request)
    params = request.query_params
    missing = [name for name in ("vault", "path", "node") if not params.get(name)]
    if missing:
        raise InvalidQueryError(f"the timeline needs {', '.join(repr(m) for m in missing)}")
    vault, path, node = params["vault"], params["path"], params["node"]
    ctx.vaults.get(vault).resolve(path)
    return JSONResponse(await memory.timeline(vault, path, node))


async def stats(request: Request) -> Response:
    """GET /v1/memory/stats"""
    _, memory = _memory(request)
    return JSONResponse(await memory.stats())
