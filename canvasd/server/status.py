"""Daemon-level routes: health, vaults, jobs, Prometheus metrics, the summary and alerts."""

from __future__ import annotations

import os
import time

from starlette.requests import Request
from starlette.responses import Response

from canvasd import __version__
from canvasd.metrics import read
from canvasd.server._http import JSONResponse
from canvasd.server.context import ApiContext
from canvasd.subsystem import Phase


def _ctx(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


async def health(request: Request) -> Response:
    """GET /v1/health"""
    ctx = _ctx(request)
    return JSONResponse({
        "status": _overall(ctx),
        "version": __version__,
        "pid": os.getpid(),
        "uptime_s": round(time.time() - ctx.started, 3),
        "socket": str(ctx.socket),
        "vaults": len(ctx.vaults),
        "subsystems": _subsystems(ctx),
    })


def _overall(ctx: ApiContext) -> str:
    """stopping, degraded (a subsystem failed) or ok."""
    if ctx.stopping.is_set():
        return "stopping"
    return "degraded" if any(subsystem.phase is Phase.FAILED for subsystem in ctx.subsystems) else "ok"


def _subsystems(ctx: ApiContext) -> dict[str, str]:
    """Each subsystem's phase, the API's first."""
    phases = {"api": Phase.STOPPING if ctx.stopping.is_set() else Phase.READY}
    phases.update((subsystem.name, subsystem.phase) for subsystem in ctx.subsystems)
    return {name: phase.value for name, phase in phases.items()}


async def vaults(request: Request) -> Response:
    """GET /v1/vaults"""
    ctx = _ctx(request)
    return JSONResponse({"vaults": [{"name": v.name, "root": str(v.root), "exists": v.exists()} for v in ctx.vaults]})


async def jobs(request: Request) -> Response:
    """GET /v1/jobs"""
    return JSONResponse(_ctx(request).scheduler.jobs())


async def metrics(request: Request) -> Response:
    """GET /metrics (Prometheus text format)"""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(_ctx(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def summary(request: Request) -> Response:
    """GET /v1/metrics/summary"""
    ctx = _ctx(request)
    jobs = ctx.scheduler.jobs()
    job_view = {"limit": jobs["limit"], "max": jobs["max"], "running": len(jobs["running"]),
                "queued": len(jobs["queued"])}
    events = {"cursor": ctx.feed.cursor, "clients": int(read(ctx.metrics.event_clients))}
    return JSONResponse(ctx.summary.summary(jobs=job_view, job_p95=ctx.scheduler.job_p95_seconds(),
                                            events=events))


async def alerts(request: Request) -> Response:
    """GET /v1/metrics/alerts"""
    ctx = _ctx(request)
    return JSONResponse(ctx.summary.alerts(job_p95=ctx.scheduler.job_p95_seconds(),
                                           job_count=ctx.scheduler.recent_count()))
