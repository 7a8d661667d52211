"""The memory graph as a daemon subsystem: started in the background, kept current from change events.

`LearningMemory` (learning_memory.py) is the blocking graph API; this class runs it on the daemon's job scheduler. At
start it launches the graph server and reconciles: every canvas is synced (a canvas whose content fingerprint
matches the graph costs one read and writes nothing) and canvases that are gone are retired. Afterwards each
change event re-syncs its canvas as one job. A query whose answer is cached is answered on the event loop (a
lookup that never waits); any other runs in a worker thread. A query that arrives while the graph is starting
waits for it (up to `memory.startup_timeout_s`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from canvasd.jobs.scheduler import Priority
from canvasd.subsystem import Phase
from canvasd.watch.follower import Absent, CanvasKey, FeedFollower, FileStamp

if TYPE_CHECKING:
    from collections.abc import Mapping

    from canvasd.canvas import CanvasEngine
    from canvasd.canvas.vaults import VaultRegistry
    from canvasd.config import Settings
    from canvasd.embedding import EmbeddingService
    from canvasd.jobs.scheduler import JobScheduler
    from canvasd.memory.learning_memory import LearningMemory
    from canvasd.metrics import Metrics
    from canvasd.watch.feed import ChangeFeed

log = logging.getLogger(__name__)


class MemorySubsystem(FeedFollower):
    """The learning memory inside the daemon; see the module docstring."""

    name = "memory"
    title = "the memory graph"

    def __init__(self, settings: Settings, metrics: Metrics, engine: CanvasEngine, vaults: VaultRegistry,
                 scheduler: JobScheduler, feed: ChangeFeed, embedding: EmbeddingService | None) -> None:
        from canvasd.memory.learning_memory import LearningMemory

        super().__init__(engine, vaults, scheduler, feed, enabled=settings.memory.enabled)
        self._settings = settings.memory
        self.memory: LearningMemory = LearningMemory(
            settings.memory, settings.memory_cache, settings.learning_states, settings.daemon.data_dir, metrics,
            embedding if embedding is not None and embedding.available else None)

    # ------------------------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Start the graph server (or connect) and load what was synced."""
        await self._scheduler.run_blocking("memory_start", self.memory.start, Priority.NORMAL)

    async def release(self) -> None:
        """Stop the graph server (`SHUTDOWN SAVE`); after the scheduler has drained."""
        await asyncio.to_thread(self.memory.close)

    def known_canvases(self) -> Mapping[CanvasKey, FileStamp | None]:
        """Every canvas the graph holds; each is read again at start (an unchanged one writes nothing)."""
        return dict.fromkeys(self.memory.canvases())

    # ------------------------------------------------------------------------------------ syncing

    async def sync(self, vault: str, path: str, priority: Priority) -> str:
        """One canvas's part of the graph, as one job."""
        return await self._scheduler.run_blocking("memory_sync", lambda: self._sync_canvas(vault, path), priority)

    def _sync_canvas(self, vault_name: str, path: str) -> str:
        snapshot = self.read_canvas(vault_name, path)
        if snapshot is Absent.AWAY:
            return "skipped"  # the folder is away: keep its part of the graph until it is back
        if snapshot is Absent.GONE:
            return self.memory.remove_canvas(vault_name, path).outcome
        signature = snapshot.signature
        mtime = signature[0] / 1e9 if signature else time.time()
        return self.memory.sync_canvas(vault_name, path, snapshot.document, mtime).outcome

    # ------------------------------------------------------------------------------------ queries

    async def search(self, q: str, *, vault: str | None, path: str | None, since: float | None,
                     until: float | None, current_only: bool, limit: int | None) -> dict[str, Any]:
        """Facts and entities matching `q` (see `LearningMemory.search`); a cached answer stays on the loop."""
        await self._ready()
        args: dict[str, Any] = {"vault": vault, "path": path, "since": _datetime(since), "until": _datetime(until),
                                "current_only": current_only, "limit": limit}
        result = self.memory.search_cached(q, **args)
        if result is None:
            result = await asyncio.to_thread(self.memory.search, q, **args)
        return {**result.to_json(), "partial": self.phase is not Phase.READY}

    async def timeline(self, vault: str, path: str, node_id: str) -> dict[str, Any]:
        """One node's learning-state history (a cached answer stays on the loop)."""
        await self._ready()
        timeline = self.memory.timeline_cached(vault, path, node_id)
        if timeline is None:
            timeline = await asyncio.to_thread(self.memory.timeline, vault, path, node_id)
        return timeline.to_json()

    async def stats(self) -> dict[str, Any]:
        """Graph counts, server, embedder and cache (with cached counts, answered on the loop)."""
        await self._ready()
        stats = self.memory.stats_cached()
        if stats is None:
            stats = await asyncio.to_thread(self.memory.stats)
        return {**stats, "phase": self.phase.value, "pending_canvases": self.pending}

    async def _ready(self) -> None:
        await self.wait_opened(self._settings.startup_timeout_s)
        self.require_answering()


def _datetime(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)
