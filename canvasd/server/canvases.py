"""Canvas routes: list, read (with ETags), replace, patch and delete canvases of a vault."""

from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from canvasd.canvas import CanvasSnapshot, CommitResult, Delete, Patch, Replace, WriteRequest
from canvasd.canvas.atomic import write_error
from canvasd.canvas.vaults import Vault
from canvasd.errors import (
    BodyNotCanvasError,
    BodyNotPatchError,
    CanvasdError,
    CanvasNotFoundError,
    WriteTimeoutError,
)
from canvasd.server._http import (
    JSON_TYPE,
    JSONResponse,
    etag,
    if_match_version,
    read_json_body,
    tag_values,
    wants_wait,
)
from canvasd.server.context import ApiContext

log = logging.getLogger(__name__)


def _ctx(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


def _target(request: Request) -> tuple[ApiContext, Vault, str, Path]:
    ctx = _ctx(request)
    vault = ctx.vaults.get(request.path_params["vault"])
    relative = request.path_params["path"]
    return ctx, vault, relative, vault.resolve(relative)


async def list_canvases(request: Request) -> Response:
    """GET /v1/vaults/{vault}/canvases"""
    ctx = _ctx(request)
    vault = ctx.vaults.get(request.path_params["vault"])
    canvases = await asyncio.to_thread(_list, ctx, vault)
    return JSONResponse({"vault": vault.name, "canvases": canvases})


def _list(ctx: ApiContext, vault: Vault) -> list[dict[str, Any]]:
    rows = []
    for relative, path in vault.canvases():
        try:
            st = os.stat(path)
        except OSError:
            continue  # removed while listing
        row: dict[str, Any] = {"path": relative, "size": st.st_size, "mtime": st.st_mtime,
                               "nodes": None, "edges": None, "version": None, "error": None}
        try:
            snapshot = ctx.engine.read(path)
            document = snapshot.document
            row["version"] = snapshot.version
            row["nodes"] = _count(document.get("nodes"))
            row["edges"] = _count(document.get("edges"))
        except CanvasNotFoundError:
            continue
        except CanvasdError as exc:
            row["error"] = str(exc.naming(path, relative))  # the vault path, not where the vault lives
        rows.append(row)
    return rows


def _count(items: Any) -> int:
    return len(items) if isinstance(items, list) else 0


async def canvas(request: Request) -> Response:
    """/v1/vaults/{vault}/canvases/{path}: one route, so a 405 lists every method it allows."""
    return await _BY_METHOD.get(request.method, get_canvas)(request)


async def get_canvas(request: Request) -> Response:
    """GET /v1/vaults/{vault}/canvases/{path}: the file's bytes, ETag = version."""
    ctx = _ctx(request)
    vault = ctx.vaults.get(request.path_params["vault"])
    path, st = vault.resolve_with_stat(request.path_params["path"])
    try:
        snapshot = await _read(ctx, path, st)
    except CanvasNotFoundError:
        vault.require()  # a missing vault folder says so, rather than "no such canvas"
        raise
    tag = etag(snapshot.version)
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        values = tag_values(if_none_match)
        if "*" in values or snapshot.version in values:
            return Response(status_code=304, headers={"etag": tag})
    return Response(snapshot.raw, media_type=JSON_TYPE, headers={"etag": tag})


async def _read(ctx: ApiContext, path: Path, st: os.stat_result | None = None) -> CanvasSnapshot:
    """A parsed snapshot: straight from the cache when it is current, else read in a worker thread."""
    cached = ctx.engine.store.read_cached(path, st)
    if cached is not None:
        return cached
    return await asyncio.to_thread(ctx.engine.read, path)


async def put_canvas(request: Request) -> Response:
    """PUT: replace the whole canvas (201 when it is created)."""
    ctx, vault, relative, path = _target(request)
    document = await read_json_body(request, ctx.settings.http.max_body_bytes)
    if not isinstance(document, dict):
        raise BodyNotCanvasError(type(document).__name__)
    version = await _precondition(ctx, request, path)
    if not os.path.isdir(path.parent):  # a new canvas in a new folder, as Obsidian allows; resolve() vetted the path
        vault.require()
        try:
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        except OSError as exc:  # a file in the way, a folder that cannot be written (changed since resolve())
            raise write_error(path, exc) from None
    return await _write(ctx, request, vault, relative, path, Replace(document, if_version=version))


async def patch_canvas(request: Request) -> Response:
    """PATCH: apply {"ops": [...]} all or nothing."""
    ctx, vault, relative, path = _target(request)
    body = await read_json_body(request, ctx.settings.http.max_body_bytes)
    if not isinstance(body, dict) or "ops" not in body:
        raise BodyNotPatchError()
    unknown = sorted(set(body) - {"ops"})
    if unknown:
        raise BodyNotPatchError(unknown)
    version = await _precondition(ctx, request, path)
    return await _write(ctx, request, vault, relative, path, Patch(body["ops"], if_version=version))


async def delete_canvas(request: Request) -> Response:
    """DELETE: remove the canvas file."""
    ctx, vault, relative, path = _target(request)
    version = await _precondition(ctx, request, path)
    return await _write(ctx, request, vault, relative, path, Delete(if_version=version))


async def _precondition(ctx: ApiContext, request: Request, path: Path) -> str | None:
    """The if-version of the request; `If-Match: *` means the canvas must exist (its current version)."""
    version = if_match_version(request)
    if version == "*":
        return (await _read(ctx, path)).version
    return version


async def _write(ctx: ApiContext, request: Request, vault: Vault, relative: str, path: Path,
                 write: WriteRequest) -> Response:
    wait = wants_wait(request)
    vault.require()
    future: Future[CommitResult] = (
        ctx.engine.submit(path, write) if ctx.engine.queues_writes  # queueing is cheap: no thread hop
        else await asyncio.to_thread(ctx.engine.submit, path, write))
    if not wait:
        future.add_done_callback(_consume)
        return JSONResponse({"vault": vault.name, "path": relative, "status": "accepted"}, status_code=202)
    timeout = ctx.settings.http.write_timeout_s
    try:
        result = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout)
    except TimeoutError:
        raise WriteTimeoutError(timeout) from None
    if isinstance(write, Delete):
        return JSONResponse({"vault": vault.name, "path": relative, "deleted": True})
    body = {"vault": vault.name, "path": relative, "version": result.version, "written": result.written,
            "created": result.created}
    headers = {"etag": etag(result.version)} if result.version else None
    return JSONResponse(body, status_code=201 if result.created else 200, headers=headers)


_BY_METHOD = {"GET": get_canvas, "HEAD": get_canvas, "PUT": put_canvas, "PATCH": patch_canvas,
              "DELETE": delete_canvas}


def _consume(future: Future[CommitResult]) -> None:
    """Log the failure of a write nobody waits for (`?wait=false`): the log is the only place it can go."""
    error = future.exception()
    if error is not None:
        log.warning("a write accepted with wait=false was refused at commit: %s", error)


async def flush(request: Request) -> Response:
    """POST /v1/flush: commit every pending write now."""
    ctx = _ctx(request)
    await asyncio.to_thread(ctx.engine.flush, ctx.settings.http.write_timeout_s)
    return JSONResponse({"flushed": True})
