"""GET /v1/events: the change feed as Server-Sent Events, resumable with `since` or Last-Event-ID."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from canvasd.errors import BadParameterError
from canvasd.server.context import ApiContext

if TYPE_CHECKING:
    from canvasd.watch.feed import ChangeEvent

_PING_SECONDS = 15.0
_PING = b": ping\n\n"


def _since(request: Request) -> int | None:
    raw = request.query_params.get("since") or request.headers.get("last-event-id")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise BadParameterError("since", raw, "a cursor (a non-negative integer)")
    return int(raw)


async def events(request: Request) -> Response:
    """Follow the change feed: missed events first (or `reset`), then live ones, with keep-alive pings."""
    ctx: ApiContext = request.app.state.ctx
    since = _since(request)
    return StreamingResponse(_stream(ctx, since), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


async def _stream(ctx: ApiContext, since: int | None) -> AsyncIterator[bytes]:
    subscription = ctx.feed.subscribe(since)
    iterator = aiter(subscription)
    try:
        yield b": canvasd change feed\nretry: 2000\n\n"
        pending: asyncio.Future[ChangeEvent] | None = None
        while not ctx.stopping.is_set():
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            done, _ = await asyncio.wait({pending}, timeout=_PING_SECONDS)
            if not done:
                yield _PING
                continue
            pending = None
            try:
                event = done.pop().result()
            except StopAsyncIteration:
                return
            yield event.sse()
    finally:
        if pending is not None:
            pending.cancel()
        subscription.close()
