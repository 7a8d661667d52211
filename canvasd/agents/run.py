"""One agent run's record: what was asked, where it is, what it added (the shape of `GET /v1/agents/runs/{id}`)."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from canvasd.jobs.scheduler import Job
    from canvasd.types import JSONObject


class RunState(StrEnum):
    """Where a run is; the last three are final."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        """Whether the run has ended."""
        return self in (RunState.DONE, RunState.FAILED, RunState.CANCELLED)


def new_run_id() -> str:
    """A run id unlikely to meet one from another daemon's life (node ids are derived from it)."""
    return secrets.token_hex(6)


@dataclass(eq=False)
class AgentRun:
    """An agent run: asked for, queued as a job, ran, and what it became."""

    agent: str
    vault: str
    path: str
    nodes: list[str]
    options: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_run_id)
    state: RunState = RunState.QUEUED
    nodes_added: int = 0
    edges_added: int = 0
    ops: list[JSONObject] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    created: float = field(default_factory=time.time)
    job: Job | None = field(default=None, repr=False)
    _t_queued: float = field(default_factory=time.monotonic, repr=False)
    _t_started: float | None = field(default=None, repr=False)
    _t_finished: float | None = field(default=None, repr=False)
    ended: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    """Set once the run is final."""
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1), repr=False)
    """Numbers for the ids of what the run adds (shared by every call of the agent in this run)."""

    def started(self) -> None:
        """The run got its job slot."""
        self.state = RunState.RUNNING
        self._t_started = time.monotonic()

    def finished(self, state: RunState, error: str | None = None) -> None:
        """The run ended."""
        self.state = state
        self.error = error
        self._t_finished = time.monotonic()
        self.job = None
        self.ended.set()

    def queued_s(self) -> float:
        """Time waiting for a slot (so far, if still queued)."""
        end = self._t_started or self._t_finished or time.monotonic()
        return end - self._t_queued

    def run_s(self) -> float | None:
        """Time running (so far, if still running); None if it never started."""
        if self._t_started is None:
            return None
        return (self._t_finished or time.monotonic()) - self._t_started

    def as_dict(self) -> dict[str, Any]:
        """The run as the API shows it."""
        run_s = self.run_s()
        return {"id": self.id, "agent": self.agent, "state": self.state.value, "vault": self.vault,
                "path": self.path, "nodes": self.nodes, "nodes_added": self.nodes_added,
                "edges_added": self.edges_added, "ops": self.ops, "result": self.result, "error": self.error,
                "created": self.created, "queued_s": round(self.queued_s(), 6),
                "run_s": None if run_s is None else round(run_s, 6)}
