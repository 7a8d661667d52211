"""What the HTTP handlers may use: the daemon's components, handed over once at start."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from canvasd.agents.runner import AgentRunner
    from canvasd.canvas import CanvasEngine
    from canvasd.canvas.vaults import VaultRegistry
    from canvasd.config import Settings
    from canvasd.index.semantic_index import SemanticIndex
    from canvasd.jobs.scheduler import JobScheduler
    from canvasd.memory.subsystem import MemorySubsystem
    from canvasd.metrics import Metrics
    from canvasd.review.subsystem import ReviewSubsystem
    from canvasd.server.summary import RequestWindow, SummaryBuilder
    from canvasd.subsystem import Subsystem
    from canvasd.watch.feed import ChangeFeed
    from canvasd.watch.open_canvases import OpenCanvases


@dataclass
class ApiContext:
    """The components behind the API, and the daemon's subsystems (watcher, index, memory, ...)."""

    settings: Settings
    metrics: Metrics
    engine: CanvasEngine
    vaults: VaultRegistry
    feed: ChangeFeed
    scheduler: JobScheduler
    window: RequestWindow
    summary: SummaryBuilder
    socket: Path
    started: float
    subsystems: Sequence[Subsystem] = ()
    open_canvases: OpenCanvases | None = None
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def index(self) -> SemanticIndex:
        """The semantic index (switched off, it answers with its phase)."""
        return cast("SemanticIndex", self._subsystem("index"))

    @property
    def agents(self) -> AgentRunner:
        """The learning agents (switched off, they answer with their phase)."""
        return cast("AgentRunner", self._subsystem("agents"))

    @property
    def review(self) -> ReviewSubsystem:
        """Spaced repetition (switched off, it answers with its phase)."""
        return cast("ReviewSubsystem", self._subsystem("review"))

    @property
    def memory(self) -> MemorySubsystem:
        """The memory graph (switched off, it answers with its phase)."""
        return cast("MemorySubsystem", self._subsystem("memory"))

    def _subsystem(self, name: str) -> Subsystem:
        for subsystem in self.subsystems:
            if subsystem.name == name:
                return subsystem
        raise LookupError(f"no subsystem named {name!r}")
