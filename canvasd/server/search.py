"""Semantic index routes: search, related nodes, index status and rebuild."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from canvasd.errors import InvalidQueryError, NodeNotIndexedError
from canvasd.server._http import JSONResponse
from canvasd.server.context import ApiContext

if TYPE_CHECKING:
    from canvasd.index.semantic_index import SemanticIndex


def _ctx(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


def _index(ctx: ApiContext) -> SemanticIndex:
    return ctx.index


def _values(request: Request, name: str) -> tuple[str, ...]:
    """A filter given as `name=a,b` or repeated `name=a&name=b`."""
    values: list[str] = []
    for raw in request.query_params.getlist(name):
        values.extend(part.strip() for part in raw.split(",") if part.strip())
    return tuple(dict.fromkeys(values))


def _limit(request: Request, default: int) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidQueryError(f"'limit' must be an integer; got '{raw}'") from None


async def search(request: Request) -> Response:
    """GET /v1/search?q=&mode=&vault=&path=&type=&state=&color=&since=&until=&limit="""
    from canvasd.index.query import SearchQuery, parse_time

    ctx = _ctx(request)
    index = _index(ctx)
    params = request.query_params
    text = (params.get("q") or "").strip()
    if not text:
        raise InvalidQueryError("'q' (the text to search for) is required")
    vault = params.get("vault") or None
    if vault is not None:
        ctx.vaults.get(vault)  # 404 for a vault canvasd does not serve
    since, until = params.get("since"), params.get("until")
    query = SearchQuery(
        text=text, mode=params.get("mode", "hybrid"),  # type: ignore[arg-type]  # checked by SearchQuery
        limit=_limit(request, ctx.settings.index.default_limit), vault=vault,
        path_prefix=params.get("path") or None, types=_values(request, "type"), states=_values(request, "state"),
        colors=tuple(c.lower() for c in _values(request, "color")),
        since=parse_time(since, name="since") if since else None,
        until=parse_time(until, name="until") if until else None,
    )
    return JSONResponse(await index.search(query))


async def related(request: Request) -> Response:
    """GET /v1/vaults/{vault}/canvases/{path}/nodes/{node}/related?limit="""
    from canvasd.index.query import MAX_LIMIT

    ctx = _ctx(request)
    index = _index(ctx)
    vault_name, path, node = (request.path_params[k] for k in ("vault", "path", "node"))
    vault = ctx.vaults.get(vault_name)
    vault.resolve(path)  # the same path rules as every canvas route (400 for paths outside the vault)
    limit = _limit(request, ctx.settings.index.default_limit)
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidQueryError(f"'limit' must be between 1 and {MAX_LIMIT}; got {limit}")
    answer = await index.related(vault_name, path, node, limit)
    if answer is None:
        raise NodeNotIndexedError(vault_name, path, node)
    return JSONResponse(answer)


async def index_status(request: Request) -> Response:
    """GET /v1/index/status"""
    ctx = _ctx(request)
    return JSONResponse(ctx.index.status())


async def index_rebuild(request: Request) -> Response:
    """POST /v1/index/rebuild: 202, the rebuild runs in the background."""
    index = _index(_ctx(request))
    index.rebuild()
    return JSONResponse(index.status(), status_code=202)

