"""Periodic maintenance: APScheduler ticks that submit MAINTENANCE jobs to the job scheduler.

APScheduler only keeps time; the work itself runs as a job, so it shares the pressure-driven limit, shows up
in `GET /v1/jobs` and in the job metrics like any other background work.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import time, tzinfo
from typing import TYPE_CHECKING, Any

from canvasd.jobs.scheduler import Job, JobScheduler, Priority

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)

KIND = "periodic"


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    """A function to run every `seconds` (or, with `daily_at`, every day at that wall-clock time in `zone`): in a
    worker thread if `blocking`, else on the loop (awaited if async)."""

    name: str
    seconds: float
    func: Callable[[], Any]
    blocking: bool = False
    daily_at: time | None = None
    zone: tzinfo | None = None


@dataclass(slots=True)
class _Periodic:
    """One registered periodic function and what its ticks did."""

    name: str
    seconds: float
    func: Callable[[], Any]
    blocking: bool
    daily_at: time | None = None
    zone: tzinfo | None = None
    last: Job | None = None
    submitted: int = 0
    skipped: int = 0


class PeriodicJobs:
    """Named functions run every N seconds through the job scheduler; a tick is skipped while the last run is busy."""

    def __init__(self, scheduler: JobScheduler) -> None:
        """Ticks submit jobs of kind "periodic" and priority MAINTENANCE to `scheduler`."""
        self._scheduler = scheduler
        self._specs: dict[str, _Periodic] = {}
        self._aps: AsyncIOScheduler | None = None

    def add(self, name: str, seconds: float, func: Callable[[], Awaitable[Any]] | Callable[[], Any], *,
            blocking: bool = False, daily_at: time | None = None, zone: tzinfo | None = None) -> None:
        """Run `func` every `seconds` (with `daily_at`: daily at that time in `zone`, `seconds` being the grace
        a late tick still runs in): in a worker thread if `blocking`, else on the loop (awaited if async)."""
        if name in self._specs:
            raise ValueError(f"a periodic job named '{name}' is already registered")
        if not seconds > 0:
            raise ValueError(f"the period of '{name}' must be positive, not {seconds!r}")
        spec = _Periodic(name, float(seconds), func, blocking, daily_at, zone)
        self._specs[name] = spec
        if self._aps is not None:
            self._schedule(spec)

    def add_job(self, job: PeriodicJob) -> None:
        """Register what a subsystem asks for (see `add`)."""
        self.add(job.name, job.seconds, job.func, blocking=job.blocking, daily_at=job.daily_at, zone=job.zone)

    def start(self) -> None:
        """Start ticking on the running event loop."""
        if self._aps is not None:
            return
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        # APScheduler logs every run at INFO; unless someone configured its logger, keep the log for our jobs.
        aps_logger = logging.getLogger("apscheduler")
        if aps_logger.level == logging.NOTSET:
            aps_logger.setLevel(logging.WARNING)
        # UTC avoids the local-timezone lookup; intervals do not care about the zone.
        self._aps = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone="UTC")
        for spec in self._specs.values():
            self._schedule(spec)
        self._aps.start()

    def shutdown(self) -> None:
        """Stop ticking; jobs already submitted are left to the job scheduler (its `stop` cancels them)."""
        aps, self._aps = self._aps, None
        if aps is None:
            return
        # AsyncIOScheduler.shutdown only schedules itself on the loop; removing the jobs first makes the stop
        # immediate, so no tick can fire in between, and it holds even if the loop closes before the callback.
        aps.remove_all_jobs()
        aps.shutdown(wait=False)

    def names(self) -> list[str]:
        """Registered periodic jobs, in registration order."""
        return list(self._specs)

    def status(self) -> list[dict[str, Any]]:
        """Per periodic job: its period, runs submitted, ticks skipped because the last run was busy, last job."""
        return [{"name": s.name, "seconds": s.seconds, "blocking": s.blocking,
                 "daily_at": None if s.daily_at is None else s.daily_at.isoformat(), "submitted": s.submitted,
                 "skipped": s.skipped, "last": None if s.last is None else s.last.as_dict()}
                for s in self._specs.values()]

    def _schedule(self, spec: _Periodic) -> None:
        """Register one tick with APScheduler."""
        from apscheduler.triggers.base import BaseTrigger
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        assert self._aps is not None
        trigger: BaseTrigger = IntervalTrigger(seconds=spec.seconds, timezone="UTC")
        if spec.daily_at is not None:  # a laptop asleep at that time runs it on waking, within `seconds`
            at = spec.daily_at
            trigger = CronTrigger(hour=at.hour, minute=at.minute, second=at.second, timezone=spec.zone or "UTC")
        self._aps.add_job(
            self._tick, trigger, args=(spec.name,),
            id=spec.name, name=spec.name, coalesce=True, max_instances=1,
            # A tick delayed by a busy loop still runs if it is less than one period (at least 1 s) late.
            misfire_grace_time=max(1, math.ceil(spec.seconds)),
        )

    async def _tick(self, name: str) -> None:
        """Submit one run unless the previous one is still queued or running (coalescing)."""
        # A coroutine on purpose: APScheduler runs plain functions in a thread pool, coroutines on the loop.
        spec = self._specs[name]
        if spec.last is not None and not spec.last.done:
            spec.skipped += 1
            log.debug("periodic job '%s' skipped a tick: its last run (job %d) is %s", name, spec.last.id,
                      spec.last.state)
            return
        if spec.blocking:
            spec.last = self._scheduler.submit_blocking(KIND, spec.func, name=name, priority=Priority.MAINTENANCE)
        else:
            spec.last = self._scheduler.submit(KIND, _awaiting(spec.func), name=name, priority=Priority.MAINTENANCE)
        spec.submitted += 1


def _awaiting(func: Callable[[], Any]) -> Callable[[], Awaitable[Any]]:
    """A coroutine factory for a function that may return an awaitable or a plain value."""

    async def run() -> Any:
        result = func()
        if inspect.isawaitable(result):
            result = await result
        return result

    return run
