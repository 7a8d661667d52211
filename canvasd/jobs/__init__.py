"""Background work: the resource-aware job scheduler and periodic maintenance.

Light to import: psutil loads when a `PsutilSampler` is built, APScheduler when `PeriodicJobs.start` runs.
"""

from canvasd.jobs.periodic import PeriodicJob, PeriodicJobs
from canvasd.jobs.pressure import ConcurrencyLimit, PressureReading, PressureSampler, PsutilSampler
from canvasd.jobs.scheduler import Job, JobScheduler, JobState, Priority

__all__ = [
    "ConcurrencyLimit",
    "Job",
    "JobScheduler",
    "JobState",
    "PeriodicJob",
    "PeriodicJobs",
    "PressureReading",
    "PressureSampler",
    "Priority",
    "PsutilSampler",
]
