"""The job scheduler: pressure-driven limit, priorities, cancellation, timeouts, metrics, periodic jobs."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from canvasd.config import JobsSettings
from canvasd.errors import JobTimeoutError
from canvasd.jobs import (
    ConcurrencyLimit,
    JobScheduler,
    JobState,
    PeriodicJobs,
    PressureReading,
    Priority,
    PsutilSampler,
)
from canvasd.metrics import Metrics

CALM = PressureReading(cpu_percent=10.0, memory_percent=40.0)
HOT_CPU = PressureReading(cpu_percent=95.0, memory_percent=40.0)
FULL_MEMORY = PressureReading(cpu_percent=10.0, memory_percent=90.0)


class SetSampler:
    """A pressure sampler whose reading the test sets: the injection point instead of patching psutil."""

    def __init__(self, reading: PressureReading = CALM) -> None:
        self.reading = reading
        self.calls = 0

    def sample(self) -> PressureReading:
        self.calls += 1
        return self.reading


def make(maximum: int = 8, minimum: int = 1, **overrides: Any) -> tuple[JobScheduler, Metrics, SetSampler]:
    settings = JobsSettings(max_concurrency=maximum, min_concurrency=minimum, **overrides)
    metrics = Metrics()
    sampler = SetSampler()
    return JobScheduler(settings, metrics, sampler), metrics, sampler


class Tracker:
    """Jobs that hold until released and record how many ran at once and in which order they started."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.started: list[str] = []
        self.release = asyncio.Event()

    def job(self, label: str) -> Callable[[], Awaitable[str]]:
        async def run() -> str:
            self.started.append(label)
            self.running += 1
            self.peak = max(self.peak, self.running)
            try:
                await self.release.wait()
            finally:
                self.running -= 1
            return label

        return run


async def settle() -> None:
    """Let every ready task take its steps (no timing involved)."""
    for _ in range(10):
        await asyncio.sleep(0)


async def until(condition: Callable[[], bool], what: str) -> None:
    """Yield to the loop until `condition` holds; fail with `what` if it never does."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


# -- the limit ------------------------------------------------------------------------------------------------


def test_limit_halves_under_cpu_pressure_down_to_the_floor_and_recovers_one_slot_per_calm_reading() -> None:
    limit = ConcurrencyLimit(maximum=8, minimum=1, cpu_high=80, memory_high=85)
    assert limit.current == 8
    assert [limit.observe(HOT_CPU) for _ in range(5)] == [4, 2, 1, 1, 1]
    assert [limit.observe(CALM) for _ in range(9)] == [2, 3, 4, 5, 6, 7, 8, 8, 8]


def test_memory_pressure_alone_halves_and_the_floor_holds() -> None:
    limit = ConcurrencyLimit(maximum=8, minimum=3, cpu_high=80, memory_high=85)
    assert [limit.observe(FULL_MEMORY) for _ in range(3)] == [4, 3, 3]


def test_readings_at_the_threshold_are_calm() -> None:
    limit = ConcurrencyLimit(maximum=4, minimum=1, cpu_high=80, memory_high=85)
    assert limit.observe(PressureReading(cpu_percent=80.0, memory_percent=85.0)) == 4


def test_fixed_limit_ignores_pressure() -> None:
    limit = ConcurrencyLimit(maximum=4, minimum=1, cpu_high=80, memory_high=85, adaptive=False)
    assert [limit.observe(HOT_CPU), limit.observe(FULL_MEMORY), limit.observe(CALM)] == [4, 4, 4]


def test_limit_refuses_a_floor_above_the_maximum() -> None:
    with pytest.raises(ValueError, match="minimum"):
        ConcurrencyLimit(maximum=2, minimum=3, cpu_high=80, memory_high=85)


def test_scheduler_limit_and_gauges_follow_injected_readings() -> None:
    scheduler, metrics, _ = make(maximum=8)
    assert scheduler.limit == scheduler.maximum == 8
    assert metrics.value("canvasd_jobs_limit") == 8
    assert [scheduler.apply_reading(HOT_CPU) for _ in range(4)] == [4, 2, 1, 1]
    assert metrics.value("canvasd_jobs_limit") == 1
    assert metrics.value("canvasd_pressure_cpu_percent") == 95.0
    assert metrics.value("canvasd_pressure_memory_percent") == 40.0
    scheduler.apply_reading(CALM)
    assert scheduler.limit == 2
    assert metrics.value("canvasd_jobs_limit") == 2
    assert scheduler.jobs()["pressure"] == {"cpu_percent": 10.0, "memory_percent": 40.0}


def test_scheduler_with_adaptive_off_keeps_its_limit() -> None:
    scheduler, metrics, _ = make(maximum=3, adaptive=False)
    assert scheduler.apply_reading(HOT_CPU) == 3
    assert metrics.value("canvasd_jobs_limit") == 3
    assert scheduler.jobs()["adaptive"] is False


def test_zero_max_concurrency_means_the_cpu_count_and_the_floor_never_exceeds_it() -> None:
    import os

    cpus = os.cpu_count() or 1
    scheduler, _, _ = make(maximum=0, minimum=cpus + 1)  # a floor above the CPU count, however many there are
    assert scheduler.maximum == cpus
    assert scheduler.jobs()["min"] == cpus


def test_sampling_loop_feeds_the_sampler_reading_into_the_limit() -> None:
    async def main() -> None:
        scheduler, metrics, sampler = make(maximum=4, sample_interval_s=0.01)
        sampler.reading = HOT_CPU
        await scheduler.start()
        await until(lambda: scheduler.limit == 1, "the limit to fall under sampled pressure")
        sampler.reading = CALM
        await until(lambda: scheduler.limit == 4, "the limit to recover on calm samples")
        await scheduler.stop()
        calls = sampler.calls
        await asyncio.sleep(0.03)
        assert sampler.calls == calls, "sampling must stop with the scheduler"
        assert metrics.value("canvasd_jobs_limit") == 4

    asyncio.run(main())


# -- ordering and the limit at work ---------------------------------------------------------------------------


def test_interactive_jobs_start_before_bulk_jobs_submitted_earlier_and_the_limit_holds() -> None:
    async def main() -> None:
        scheduler, metrics, _ = make(maximum=1)
        tracker = Tracker()
        first = scheduler.submit("index", tracker.job("first"), priority=Priority.BULK)
        await settle()
        order = [("index", "bulk-1", Priority.BULK), ("index", "bulk-2", Priority.BULK),
                 ("maintenance", "maint", Priority.MAINTENANCE), ("search", "normal", Priority.NORMAL),
                 ("search", "interactive", Priority.INTERACTIVE)]
        jobs = [scheduler.submit(kind, tracker.job(label), name=label, priority=priority)
                for kind, label, priority in order]
        assert metrics.value("canvasd_jobs_queued") == 5
        assert metrics.value("canvasd_jobs_running") == 1
        assert [j["name"] for j in scheduler.jobs()["queued"]] == ["interactive", "normal", "bulk-1", "bulk-2",
                                                                    "maint"]
        tracker.release.set()
        assert await first.wait() == "first"
        for job in jobs:
            await job.wait()
        assert tracker.started == ["first", "interactive", "normal", "bulk-1", "bulk-2", "maint"]
        assert tracker.peak == 1
        assert metrics.value("canvasd_jobs_finished_total", kind="index", outcome="ok") == 3
        assert metrics.value("canvasd_job_wait_seconds_count", priority="interactive") == 1
        assert metrics.value("canvasd_job_seconds_count", kind="search") == 2
        assert metrics.value("canvasd_jobs_queued") == 0
        assert metrics.value("canvasd_jobs_running") == 0
        await scheduler.stop()

    asyncio.run(main())


def test_running_jobs_never_exceed_the_limit() -> None:
    async def main() -> None:
        scheduler, metrics, _ = make(maximum=3)
        tracker = Tracker()
        jobs = [scheduler.submit("index", tracker.job(str(i))) for i in range(10)]
        await settle()
        assert tracker.running == 3
        assert metrics.value("canvasd_jobs_running") == 3
        assert metrics.value("canvasd_jobs_queued") == 7
        tracker.release.set()
        assert [await job.wait() for job in jobs] == [str(i) for i in range(10)]
        assert tracker.peak == 3
        await scheduler.stop()

    asyncio.run(main())


def test_a_lower_limit_lets_running_jobs_finish_but_gates_new_starts_until_recovery() -> None:
    async def main() -> None:
        scheduler, metrics, _ = make(maximum=4)
        holds = [asyncio.Event() for _ in range(8)]
        started: list[int] = []

        def job(i: int) -> Callable[[], Awaitable[int]]:
            async def run() -> int:
                started.append(i)
                await holds[i].wait()
                return i

            return run

        jobs = [scheduler.submit("index", job(i)) for i in range(8)]
        await settle()
        assert started == [0, 1, 2, 3]
        assert scheduler.apply_reading(HOT_CPU) == 2
        assert scheduler.apply_reading(HOT_CPU) == 1
        await settle()
        assert [j.state for j in jobs[:4]] == [JobState.RUNNING] * 4, "a lower limit never preempts"
        for i in range(4):
            holds[i].set()
            await jobs[i].wait()
        await settle()
        # Four slots freed, but only one may be used at limit 1.
        assert started == [0, 1, 2, 3, 4]
        assert metrics.value("canvasd_jobs_running") == 1
        assert scheduler.apply_reading(CALM) == 2
        await settle()
        assert started == [0, 1, 2, 3, 4, 5]
        assert scheduler.apply_reading(CALM) == 3
        await settle()
        assert started == [0, 1, 2, 3, 4, 5, 6]
        for i in range(4, 8):
            holds[i].set()
        assert [await j.wait() for j in jobs] == list(range(8))
        await scheduler.stop()

    asyncio.run(main())


# -- cancellation, timeouts, failures --------------------------------------------------------------------------


def test_cancelling_a_queued_job_removes_it_and_a_running_job_stops_it() -> None:
    async def main() -> None:
        scheduler, metrics, _ = make(maximum=1)
        tracker = Tracker()
        running = scheduler.submit("index", tracker.job("running"))
        queued = scheduler.submit("index", tracker.job("queued"))
        after = scheduler.submit("index", tracker.job("after"))
        await settle()
        assert queued.cancel() is True
        assert queued.state is JobState.CANCELLED
        assert metrics.value("canvasd_jobs_queued") == 1
        with pytest.raises(asyncio.CancelledError):
            await queued.wait()
        assert running.cancel() is True
        with pytest.raises(asyncio.CancelledError):
            await running.wait()
        assert running.state is JobState.CANCELLED
        assert running.as_dict()["duration_s"] is not None
        assert queued.as_dict()["duration_s"] is None
        await settle()
        assert tracker.started == ["running", "after"], "the cancelled queued job never runs"
        assert running.cancel() is False, "a finished job cannot be cancelled"
        tracker.release.set()
        assert await after.wait() == "after"
        assert metrics.value("canvasd_jobs_finished_total", kind="index", outcome="cancelled") == 2
        await scheduler.stop()

    asyncio.run(main())


def test_a_job_cancelled_before_its_first_step_is_recorded_as_cancelled() -> None:
    async def main() -> None:
        scheduler, metrics, _ = make(maximum=1)
        ran: list[str] = []

        async def work() -> None:
            ran.append("work")

        job = scheduler.submit("index", work)
        assert job.state is JobState.RUNNING
        assert job.cancel() is True
        with pytest.raises(asyncio.CancelledError):
            await job.wait()
        assert ran == []
        assert metrics.value("canvasd_jobs_running") == 0
        await scheduler.stop()

    asyncio.run(main())


def test_a_job_over_its_timeout_is_cancelled_and_counted_as_timeout() -> None:
    async def main() -> None:
        scheduler, metrics, _ = make(maximum=2)
        never = asyncio.Event()
        slow = scheduler.submit("index", never.wait, name="slow", timeout=0.01)
        with pytest.raises(JobTimeoutError) as caught:
            await slow.wait()
        assert caught.value.job_id == slow.id
        assert "timeout of 0.01 s" in str(caught.value)
        assert slow.state is JobState.TIMEOUT
        assert slow.as_dict()["state"] == "timeout"
        assert metrics.value("canvasd_jobs_finished_total", kind="index", outcome="timeout") == 1
        await scheduler.stop()

    asyncio.run(main())


def test_a_timeout_error_raised_by_the_job_itself_is_a_failure() -> None:
    async def main() -> None:
        scheduler, _, _ = make()

        async def work() -> None:
            raise TimeoutError("the remote end did not answer")

        job = scheduler.submit("index", work, timeout=60)
        with pytest.raises(TimeoutError, match="remote end"):
            await job.wait()
        assert job.state is JobState.FAILED
        await scheduler.stop()

    asyncio.run(main())


def test_a_failing_job_is_recorded_with_its_error_and_the_scheduler_keeps_running() -> None:
    async def main() -> None:
        scheduler, metrics, _ = make(maximum=1)

        async def broken() -> None:
            raise ValueError("node 'n1' has no x")

        async def fine() -> int:
            return 42

        bad = scheduler.submit("graph", broken, name="update graph")
        good = scheduler.submit("graph", fine)
        with pytest.raises(ValueError, match="no x"):
            await bad.wait()
        assert await good.wait() == 42
        assert bad.state is JobState.FAILED
        assert bad.error == "ValueError: node 'n1' has no x"
        record = scheduler.jobs()["recent"][-1]
        assert record["name"] == "update graph"
        assert record["state"] == "failed"
        assert record["error"] == "ValueError: node 'n1' has no x"
        assert metrics.value("canvasd_jobs_finished_total", kind="graph", outcome="failed") == 1
        assert metrics.value("canvasd_jobs_finished_total", kind="graph", outcome="ok") == 1
        await scheduler.stop()

    asyncio.run(main())


def test_stop_cancels_queued_and_running_jobs_and_later_submissions() -> None:
    async def main() -> None:
        scheduler, metrics, _ = make(maximum=1)
        tracker = Tracker()
        running = scheduler.submit("index", tracker.job("running"))
        queued = scheduler.submit("index", tracker.job("queued"))
        await settle()
        await scheduler.stop()
        assert running.state is JobState.CANCELLED
        assert queued.state is JobState.CANCELLED
        assert tracker.started == ["running"]
        late = scheduler.submit("index", tracker.job("late"))
        assert late.state is JobState.CANCELLED
        assert metrics.value("canvasd_jobs_running") == 0
        assert metrics.value("canvasd_jobs_queued") == 0

    asyncio.run(main())


# -- blocking work, records, p95 --------------------------------------------------------------------------------


def test_submit_blocking_runs_in_a_worker_thread_and_returns_its_value() -> None:
    async def main() -> None:
        scheduler, metrics, _ = make()
        loop_thread = threading.get_ident()

        def expire() -> int:
            return threading.get_ident()

        job = scheduler.submit_blocking("maintenance", expire, name="expire cache", priority=Priority.MAINTENANCE)
        worker = await job.wait()
        assert worker != loop_thread
        assert job.as_dict()["priority"] == "maintenance"
        assert metrics.value("canvasd_jobs_finished_total", kind="maintenance", outcome="ok") == 1
        await scheduler.stop()

    asyncio.run(main())


def test_job_records_and_p95() -> None:
    async def main() -> None:
        scheduler, _, _ = make()
        assert scheduler.job_p95_seconds() is None

        async def work() -> str:
            return "ok"

        jobs = [scheduler.submit("index", work, name=f"job {i}") for i in range(5)]
        for job in jobs:
            await job.wait()
        assert [j.id for j in jobs] == sorted(j.id for j in jobs)
        record = jobs[0].as_dict()
        assert set(record) == {"id", "kind", "name", "priority", "state", "created", "started", "finished",
                               "duration_s", "wait_s", "error"}
        assert record["priority"] == "bulk"
        assert record["state"] == "done"
        assert record["created"] <= record["started"] <= record["finished"]
        assert scheduler.get(jobs[2].id) is jobs[2]
        assert scheduler.get(10_000) is None
        assert [r["name"] for r in scheduler.jobs()["recent"]] == [f"job {i}" for i in reversed(range(5))]
        p95 = scheduler.job_p95_seconds()
        assert p95 is not None
        assert p95 == max(j.duration_s() or 0.0 for j in jobs)
        assert scheduler.recent_count() == 5
        await scheduler.stop()

    asyncio.run(main())


# -- periodic jobs ----------------------------------------------------------------------------------------------


def test_periodic_jobs_run_repeatedly_through_the_scheduler() -> None:
    async def main() -> None:
        scheduler, metrics, _ = make()
        periodic = PeriodicJobs(scheduler)
        ticks: list[str] = []
        snapshots: list[int] = []

        async def snapshot() -> None:
            ticks.append("snapshot")

        def expire() -> None:
            snapshots.append(threading.get_ident())

        periodic.add("metrics snapshot", 0.05, snapshot)
        periodic.add("cache expiry", 0.05, expire, blocking=True)
        with pytest.raises(ValueError, match="already registered"):
            periodic.add("cache expiry", 1, expire)
        assert periodic.names() == ["metrics snapshot", "cache expiry"]
        periodic.start()
        await until(lambda: len(ticks) >= 3 and len(snapshots) >= 3, "three runs of each periodic job")
        periodic.shutdown()
        assert metrics.value("canvasd_jobs_finished_total", kind="periodic", outcome="ok") >= 6
        assert all(ident != threading.get_ident() for ident in snapshots), "blocking runs go to a thread"
        recent = scheduler.jobs()["recent"]
        assert {r["priority"] for r in recent} == {"maintenance"}
        assert {r["kind"] for r in recent} == {"periodic"}
        await settle()
        count = len(ticks)
        await asyncio.sleep(0.15)
        assert len(ticks) == count, "no tick after shutdown"
        await scheduler.stop()

    asyncio.run(main())


def test_periodic_ticks_coalesce_while_the_last_run_is_busy() -> None:
    async def main() -> None:
        scheduler, _, _ = make()
        periodic = PeriodicJobs(scheduler)
        release = asyncio.Event()
        runs: list[int] = []

        async def compact() -> None:
            runs.append(len(runs))
            await release.wait()

        periodic.add("compaction", 0.05, compact)
        periodic.start()
        await until(lambda: periodic.status()[0]["skipped"] >= 2, "ticks skipped while the run is busy")
        assert runs == [0]
        assert len(scheduler.jobs()["running"]) == 1
        assert scheduler.jobs()["queued"] == []
        release.set()
        await until(lambda: len(runs) >= 2, "a new run once the slow one finished")
        status = periodic.status()[0]
        assert status["submitted"] == len(runs)
        periodic.shutdown()
        await scheduler.stop()

    asyncio.run(main())


def test_periodic_shutdown_before_start_and_twice_is_harmless() -> None:
    async def main() -> None:
        scheduler, _, _ = make()
        periodic = PeriodicJobs(scheduler)
        periodic.shutdown()
        periodic.start()
        periodic.shutdown()
        periodic.shutdown()
        await scheduler.stop()

    asyncio.run(main())


# -- the real sampler -------------------------------------------------------------------------------------------


def test_psutil_sampler_returns_percentages() -> None:
    sampler = PsutilSampler()
    for _ in range(2):
        reading = sampler.sample()
        assert 0.0 <= reading.cpu_percent <= 100.0
        assert 0.0 <= reading.memory_percent <= 100.0


def test_scheduler_without_a_sampler_measures_the_machine() -> None:
    async def main() -> None:
        scheduler = JobScheduler(JobsSettings(max_concurrency=2, sample_interval_s=0.01), Metrics())
        await scheduler.start()
        await until(lambda: scheduler.jobs()["pressure"] is not None, "a first psutil reading")
        await scheduler.stop()
        pressure = scheduler.jobs()["pressure"]
        assert 0.0 <= pressure["memory_percent"] <= 100.0

    asyncio.run(main())
