"""The one shape of a daemon subsystem: a name, a `Phase`, start and close, a status and its periodic jobs.

The daemon keeps a list of subsystems (the watcher, the semantic index, the memory graph, ...): it starts them
in order, reports their phases in `/v1/health`, gathers their periodic jobs and closes them in reverse order.
Subsystems that keep something per canvas share one base as well: `canvasd.watch.follower.FeedFollower`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from canvasd.jobs.periodic import PeriodicJob


class Phase(StrEnum):
    """Where a subsystem is in its life; the same words for every subsystem, in the API and the logs."""

    OFF = "off"                # switched off in the settings: never starts
    STARTING = "starting"      # opening what it needs (files, models, a server); may answer partially
    SYNCING = "syncing"        # catching up with the vaults after a start or a rebuild; answers are partial
    READY = "ready"            # up to date, following changes as they happen
    FAILED = "failed"          # could not start or lost what it depends on; `error` says why
    STOPPING = "stopping"      # the daemon is shutting down
    STOPPED = "stopped"        # closed (or never started)

    @property
    def settled(self) -> bool:
        """Whether nothing more happens by itself: ready, off, failed or stopped (answers are not partial)."""
        return self in _SETTLED

    @property
    def answers(self) -> bool:
        """Whether the subsystem can answer queries now (perhaps partially)."""
        return self in _ANSWERING


_SETTLED = frozenset({Phase.READY, Phase.OFF, Phase.FAILED, Phase.STOPPED})
_ANSWERING = frozenset({Phase.STARTING, Phase.SYNCING, Phase.READY})


class Subsystem(Protocol):
    """What the daemon needs of each subsystem."""

    @property
    def name(self) -> str:
        """A short name: "watcher", "index", "memory" (the key in `/v1/health`)."""
        ...

    @property
    def phase(self) -> Phase:
        """The subsystem's phase now."""
        ...

    @property
    def error(self) -> str | None:
        """Why it failed, if it did."""
        ...

    async def start(self) -> None:
        """Start (as a background task, after the API is up); never raises: a failure is `Phase.FAILED`."""
        ...

    async def close(self) -> None:
        """Stop and release what the subsystem holds (at shutdown, after the job scheduler has stopped)."""
        ...

    def status(self) -> dict[str, Any]:
        """What the subsystem reports about itself (its phase first)."""
        ...

    def periodic_jobs(self) -> list[PeriodicJob]:
        """Maintenance the daemon runs every so often on the job scheduler."""
        ...
