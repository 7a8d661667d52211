"""What the HTTP handlers may use: the daemon's components, handed over once at start."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from canvasd.canvas import CanvasEngine
    from canvasd.canvas.vaults import VaultRegistry
    from canvasd.config import Settings
    from canvasd.index.semantic_index import SemanticIndex
    from canvasd.jobs.scheduler import JobScheduler
    from canvasd.memory.subsystem import MemorySubsystem
    from canvasd.metrics import Metrics
    from canvasd.server.summary import RequestWindow, SummaryBuilder
    from canvasd.watch.feed import ChangeFeed


@dataclass
class ApiContext:
    """The components behind the API. `subsystems` maps a subsystem to its state (starting, running, off)."""

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
    subsystems: dict[str, str] = field(default_factory=dict)
    index: SemanticIndex | None = None
    memory: MemorySubsystem | None = None
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
