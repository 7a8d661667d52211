"""The one place background work runs: a priority queue of asyncio jobs under a pressure-driven limit.

All methods run on the daemon's event loop thread; from another thread, hand work over with
`loop.call_soon_threadsafe(scheduler.submit, ...)`.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import logging
import math
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from canvasd.errors import JobTimeoutError
from canvasd.jobs.pressure import ConcurrencyLimit, PressureReading, PressureSampler, PsutilSampler

if TYPE_CHECKING:
    from canvasd.config import JobsSettings
    from canvasd.metrics import Metrics

T = TypeVar("T")

log = logging.getLogger(__name__)

RECENT_JOBS = 100
"""Finished jobs kept for `GET /v1/jobs` and the job-duration p95."""


class Priority(IntEnum):
    """Lower runs first: what a user waits for goes before bulk and maintenance work."""

    INTERACTIVE = 0
    NORMAL = 1
    BULK = 2
    MAINTENANCE = 3


class JobState(StrEnum):
    """Where a job is in its life; the last four are final."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"


_OUTCOMES = {JobState.DONE: "ok", JobState.FAILED: "failed", JobState.CANCELLED: "cancelled",
             JobState.TIMEOUT: "timeout"}


class Job:
    """One unit of background work and its record: state, timestamps (`time.time()`) and outcome."""

    def __init__(self, scheduler: JobScheduler, job_id: int, kind: str, name: str, priority: Priority,
                 timeout: float, func: Callable[[], Awaitable[Any]]) -> None:
        self.id = job_id
        self.kind = kind
        self.name = name
        self.priority = priority
        self.timeout = timeout
        self.state = JobState.QUEUED
        self.created = time.time()
        self.started: float | None = None
        self.finished: float | None = None
        self.error: str | None = None
        # Durations come from the monotonic clock so a wall-clock jump cannot skew the metrics.
        self._t_created = time.monotonic()
        self._t_started: float | None = None
        self._t_finished: float | None = None
        self._scheduler = scheduler
        self._func: Callable[[], Awaitable[Any]] | None = func
        self._task: asyncio.Task[None] | None = None
        self._result: Any = None
        self._exception: BaseException | None = None
        self._done = asyncio.Event()

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.kind}:{self.name} {self.state}>"

    @property
    def done(self) -> bool:
        """Whether the job reached a final state."""
        return self._done.is_set()

    def cancel(self) -> bool:
        """Remove the job from the queue or cancel its run; False when it already finished."""
        return self._scheduler._cancel(self)

    async def wait(self) -> Any:
        """The job's result; raises its exception, `asyncio.CancelledError` or `JobTimeoutError`."""
        await self._done.wait()
        if self.state is JobState.DONE:
            return self._result
        if self.state is JobState.TIMEOUT:
            raise JobTimeoutError(self.id, self.kind, self.name, self.timeout)
        if self.state is JobState.CANCELLED:
            raise asyncio.CancelledError(f"job {self.id} '{self.name}' was cancelled")
        assert self._exception is not None
        raise self._exception

    def duration_s(self) -> float | None:
        """Run time so far (or in total once finished); None while queued or if it never ran."""
        if self._t_started is None:
            return None
        end = self._t_finished if self._t_finished is not None else time.monotonic()
        return end - self._t_started

    def wait_s(self) -> float:
        """Time spent waiting for a slot (until it started, was cancelled, or now)."""
        for end in (self._t_started, self._t_finished):
            if end is not None:
                return end - self._t_created
        return time.monotonic() - self._t_created

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready record for the HTTP API."""
        duration = self.duration_s()
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "priority": self.priority.name.lower(),
            "state": str(self.state),
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "duration_s": None if duration is None else round(duration, 6),
            "wait_s": round(self.wait_s(), 6),
            "error": self.error,
        }


class JobScheduler:
    """Runs submitted jobs in (priority, submission) order, at most `limit` at once; the limit follows pressure."""

    def __init__(self, settings: JobsSettings, metrics: Metrics, sampler: PressureSampler | None = None) -> None:
        """`settings.max_concurrency` 0 means the CPU count; `sampler` None measures the machine with psutil."""
        self._settings = settings
        self._metrics = metrics
        self._sampler: PressureSampler = sampler if sampler is not None else PsutilSampler()
        maximum = settings.max_concurrency or os.cpu_count() or 1
        # A floor above the CPU-count default would make the limit unreachable; the maximum wins.
        minimum = min(settings.min_concurrency, maximum)
        self._limit = ConcurrencyLimit(maximum, minimum, settings.cpu_high_percent,
                                       settings.memory_high_percent, settings.adaptive)
        self._ids = itertools.count(1)
        self._heap: list[tuple[int, int, Job]] = []
        self._running: dict[int, Job] = {}
        self._recent: deque[Job] = deque(maxlen=RECENT_JOBS)
        self._reading: PressureReading | None = None
        self._sampling: asyncio.Task[None] | None = None
        self._closed = False
        metrics.job_limit.set(maximum)
        self._update_gauges()

    @property
    def limit(self) -> int:
        """Jobs allowed to start while this many run."""
        return self._limit.current

    @property
    def maximum(self) -> int:
        """The limit when the machine is calm."""
        return self._limit.maximum

    async def start(self) -> None:
        """Begin sampling pressure every `sample_interval_s`."""
        if self._sampling is None and not self._closed:
            self._sampling = asyncio.create_task(self._sample_forever(), name="canvasd-jobs-pressure")

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop sampling, cancel queued and running jobs and wait up to `timeout` s for them to end."""
        self._closed = True
        if self._sampling is not None:
            self._sampling.cancel()
            await asyncio.wait([self._sampling])
            self._sampling = None
        while self._heap:
            _, _, job = heapq.heappop(self._heap)
            self._finish(job, JobState.CANCELLED, error="cancelled: the scheduler stopped")
        tasks = [job._task for job in self._running.values() if job._task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            if pending:
                log.warning("%d job(s) ignored cancellation for %g s and are left behind", len(pending), timeout)
        self._update_gauges()

    def submit(self, kind: str, func: Callable[[], Awaitable[T]], *, name: str | None = None,
               priority: Priority = Priority.BULK, timeout: float | None = None) -> Job:
        """Queue `func()` (a coroutine factory) as a job; after `stop()` the job comes back cancelled."""
        asyncio.get_running_loop()  # fail here, before any state changes, when called off the loop
        job = Job(self, next(self._ids), kind, name or kind, Priority(priority),
                  timeout if timeout is not None else self._settings.default_timeout_s, func)
        if self._closed:
            # Late submissions during shutdown (a watcher event, a periodic tick) are dropped, not errors.
            self._finish(job, JobState.CANCELLED, error="cancelled: the scheduler is stopped")
            return job
        heapq.heappush(self._heap, (job.priority, job.id, job))
        self._pump()
        return job

    def submit_blocking(self, kind: str, func: Callable[[], T], *, name: str | None = None,
                        priority: Priority = Priority.BULK, timeout: float | None = None) -> Job:
        """Queue a blocking `func()` that runs in a worker thread once the job gets its slot."""

        async def in_thread() -> T:
            # A thread cannot be interrupted: on cancel or timeout the job ends now, the thread when func returns.
            return await asyncio.to_thread(func)

        return self.submit(kind, in_thread, name=name, priority=priority, timeout=timeout)

    async def run_blocking(self, kind: str, func: Callable[[], T], priority: Priority = Priority.BULK) -> T:
        """Run a blocking `func()` as a job and return its result (raises what `Job.wait` raises)."""
        result: T = await self.submit_blocking(kind, func, priority=priority).wait()
        return result

    def apply_reading(self, reading: PressureReading) -> int:
        """Fold one pressure reading into the limit; start queued jobs if slots opened. Returns the limit."""
        self._reading = reading
        self._metrics.pressure_cpu_percent.set(reading.cpu_percent)
        self._metrics.pressure_memory_percent.set(reading.memory_percent)
        before = self._limit.current
        limit = self._limit.observe(reading)
        if limit != before:
            self._metrics.job_limit.set(limit)
            level = logging.INFO if limit < before else logging.DEBUG
            log.log(level, "job limit %d -> %d (cpu %.0f%%, memory %.0f%%)", before, limit,
                    reading.cpu_percent, reading.memory_percent)
        if limit > before:
            self._pump()
        return limit

    def get(self, job_id: int) -> Job | None:
        """A queued, running or recently finished job by id."""
        for _, _, job in self._heap:
            if job.id == job_id:
                return job
        if job_id in self._running:
            return self._running[job_id]
        return next((job for job in self._recent if job.id == job_id), None)

    def jobs(self) -> dict[str, Any]:
        """The scheduler's state for `GET /v1/jobs`; `recent` lists the newest first."""
        pressure = None if self._reading is None else {
            "cpu_percent": self._reading.cpu_percent, "memory_percent": self._reading.memory_percent}
        return {
            "limit": self._limit.current,
            "max": self._limit.maximum,
            "min": self._limit.minimum,
            "adaptive": self._limit.adaptive,
            "pressure": pressure,
            "running": [job.as_dict() for _, job in sorted(self._running.items())],
            "queued": [job.as_dict() for _, _, job in sorted(self._heap)],
            "recent": [job.as_dict() for job in reversed(self._recent)],
        }

    def job_p95_seconds(self) -> float | None:
        """95th percentile (nearest rank) of the run times of recent finished jobs; None before any ran."""
        durations = sorted(d for d in (job.duration_s() for job in self._recent) if d is not None)
        if not durations:
            return None
        return durations[math.ceil(0.95 * len(durations)) - 1]

    def recent_count(self) -> int:
        """How many finished jobs the p95 is drawn from (for the alerts' minimum sample size)."""
        return sum(1 for job in self._recent if job.duration_s() is not None)

    async def _sample_forever(self) -> None:
        """Take a pressure reading every interval; a failing sampler leaves the limit as it is."""
        while True:
            await asyncio.sleep(self._settings.sample_interval_s)
            try:
                reading = self._sampler.sample()
            except Exception:
                log.warning("pressure sampling failed; the job limit stays at %d", self.limit, exc_info=True)
                continue
            self.apply_reading(reading)

    def _pump(self) -> None:
        """Start queued jobs in order while slots are free (the limit gates starts, never preempts)."""
        while self._heap and len(self._running) < self._limit.current and not self._closed:
            _, _, job = heapq.heappop(self._heap)
            self._start(job)
        self._update_gauges()

    def _start(self, job: Job) -> None:
        """Give a job its slot and its task."""
        job.state = JobState.RUNNING
        job.started = time.time()
        job._t_started = time.monotonic()
        self._metrics.job_wait_seconds.labels(job.priority.name.lower()).observe(job._t_started - job._t_created)
        self._running[job.id] = job
        job._task = asyncio.get_running_loop().create_task(self._run(job), name=f"canvasd-job-{job.id}-{job.kind}")
        job._task.add_done_callback(functools.partial(self._task_done, job))

    async def _run(self, job: Job) -> None:
        """Run the job under its timeout and record the outcome; nothing escapes to the loop."""
        assert job._func is not None
        timer = asyncio.timeout(job.timeout)
        try:
            async with timer:
                result = await job._func()
        except asyncio.CancelledError:
            # The task is ours and its outcome is recorded on the job, so the cancellation ends here.
            self._finish(job, JobState.CANCELLED, error="cancelled")
        except TimeoutError as exc:
            if timer.expired():
                log.warning("job %d '%s' (kind %s) timed out after %g s", job.id, job.name, job.kind, job.timeout)
                self._finish(job, JobState.TIMEOUT, error=f"timed out after {job.timeout:g} s")
            else:
                self._fail(job, exc)
        except Exception as exc:
            self._fail(job, exc)
        else:
            job._result = result
            self._finish(job, JobState.DONE)

    def _task_done(self, job: Job, task: asyncio.Task[None]) -> None:
        """Record a job whose task ended without `_run` recording the outcome."""
        # A task cancelled before its first step never ran its coroutine; KeyboardInterrupt and SystemExit pass
        # through `_run` on purpose so they still stop the daemon.
        if job.done:
            return
        if task.cancelled():
            self._finish(job, JobState.CANCELLED, error="cancelled")
        else:
            self._fail(job, task.exception() or RuntimeError("the job's task ended without an outcome"))

    def _fail(self, job: Job, exc: BaseException) -> None:
        """Record a job that raised; the scheduler carries on."""
        log.error("job %d '%s' (kind %s) failed: %s", job.id, job.name, job.kind, exc, exc_info=exc)
        job._exception = exc
        self._finish(job, JobState.FAILED, error=f"{type(exc).__name__}: {exc}")

    def _finish(self, job: Job, state: JobState, error: str | None = None) -> None:
        """Move a job to a final state, count it, wake its waiters and fill the freed slot."""
        job.state = state
        job.error = error
        job.finished = time.time()
        job._t_finished = time.monotonic()
        job._func = None  # the record outlives the work; do not keep its closure alive
        self._running.pop(job.id, None)
        self._metrics.jobs_finished.labels(job.kind, _OUTCOMES[state]).inc()
        if job._t_started is not None:
            self._metrics.job_seconds.labels(job.kind).observe(job._t_finished - job._t_started)
        self._recent.append(job)
        job._done.set()
        self._pump()

    def _cancel(self, job: Job) -> bool:
        """Cancel a queued job at once, or a running one through its task."""
        if job.state is JobState.QUEUED:
            self._heap.remove((job.priority, job.id, job))
            heapq.heapify(self._heap)
            self._finish(job, JobState.CANCELLED, error="cancelled before it started")
            return True
        if job.state is JobState.RUNNING and job._task is not None:
            return job._task.cancel()
        return False

    def _update_gauges(self) -> None:
        self._metrics.jobs_running.set(len(self._running))
        self._metrics.jobs_queued.set(len(self._heap))
