"""The memory graph as a daemon subsystem: started in the background, kept current from change events.

`LearningMemory` (memory.py) is the blocking graph API; this class runs it on the daemon's job scheduler. At
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

from canvasd.errors import CanvasdError, CanvasNotFoundError, SubsystemUnavailableError, VaultNotFoundError
from canvasd.jobs.canvas_queue import CanvasSyncQueue
from canvasd.jobs.scheduler import Priority

if TYPE_CHECKING:
    from canvasd.canvas import CanvasEngine
    from canvasd.canvas.vaults import VaultRegistry
    from canvasd.config import Settings
    from canvasd.embedding import EmbeddingService
    from canvasd.jobs.scheduler import JobScheduler
    from canvasd.memory.learning_memory import LearningMemory
    from canvasd.metrics import Metrics
    from canvasd.watch.feed import ChangeEvent

log = logging.getLogger(__name__)


class MemorySubsystem:
    """The learning memory inside the daemon; see the module docstring."""

    def __init__(self, settings: Settings, metrics: Metrics, engine: CanvasEngine, vaults: VaultRegistry,
                 scheduler: JobScheduler, embedding: EmbeddingService | None) -> None:
        from canvasd.memory.learning_memory import LearningMemory

        self._settings = settings.memory
        self._engine = engine
        self._vaults = vaults
        self._scheduler = scheduler
        self.memory: LearningMemory = LearningMemory(
            settings.memory, settings.memory_cache, settings.learning_states, settings.daemon.data_dir, metrics,
            embedding if embedding is not None and embedding.available else None)
        self._queue = CanvasSyncQueue(self._sync, parallel=2)
        self.phase = "starting"
        self._started = asyncio.Event()
        self._closed = False

    # ------------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start the graph and reconcile it with the vaults (a background task; never raises)."""
        try:
            await self._scheduler.run_blocking("memory_start", self.memory.start, Priority.NORMAL)
            self.phase = "reconciling"
            on_disk, in_graph = await self._scheduler.run_blocking("memory_reconcile", self._canvas_lists,
                                                                   Priority.NORMAL)
            known = set(on_disk)
            for vault, path in [*on_disk, *(c for c in in_graph if c not in known)]:
                self._queue.mark(vault, path, Priority.BULK)
            self._queue.kick()
            self._started.set()
            await self._queue.wait_idle()
            self.phase = "ready"
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("the memory graph failed to start: %s", exc)
            self.phase = "failed"
        finally:
            self._started.set()

    async def close(self) -> None:
        """Stop syncing and stop the graph server (`SHUTDOWN SAVE`); after the scheduler has drained."""
        self._closed = True
        self._queue.cancel()
        await asyncio.to_thread(self.memory.close)

    def _canvas_lists(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(canvases on disk, canvases the graph holds) of the vaults whose folders are present."""
        present = {vault.name for vault in self._vaults if vault.exists()}
        on_disk = [(vault.name, relative) for vault in self._vaults if vault.name in present
                   for relative, _ in vault.canvases()]
        configured = {vault.name for vault in self._vaults}
        in_graph = [(v, p) for v, p in self.memory.canvases() if v in present or v not in configured]
        return on_disk, in_graph

    # ------------------------------------------------------------------------------------ syncing

    def on_event(self, event: ChangeEvent) -> None:
        """Feed listener: a created, changed or deleted canvas is queued for a re-sync."""
        if self._closed or event.kind not in ("created", "changed", "deleted") or not event.vault or not event.path:
            return
        self._queue.mark(event.vault, event.path, Priority.NORMAL)
        if self.phase in ("reconciling", "ready"):
            self._queue.kick()

    async def _sync(self, vault: str, path: str, priority: Priority) -> None:
        try:
            await self._scheduler.run_blocking("memory_sync", lambda: self._sync_canvas(vault, path), priority)
        except asyncio.CancelledError:
            raise
        except CanvasdError as exc:
            log.warning("memory: %s/%s was not synced: %s", vault, path, exc)
        except Exception:
            log.exception("memory: syncing %s/%s failed", vault, path)

    def _sync_canvas(self, vault_name: str, path: str) -> str:
        try:
            vault = self._vaults.get(vault_name)
            if not vault.exists():
                return "skipped"  # the folder is away: keep its part of the graph until it is back
            snapshot = self._engine.read(vault.resolve(path))
        except (VaultNotFoundError, CanvasNotFoundError):
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
        return {**result.to_json(), "partial": self.phase != "ready"}

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
        return {**stats, "phase": self.phase, "pending_canvases": self._queue.pending}

    async def _ready(self) -> None:
        try:
            await asyncio.wait_for(self._started.wait(), self._settings.startup_timeout_s)
        except TimeoutError:
            raise SubsystemUnavailableError("memory", self.phase, "the memory graph is still starting; try again shortly") from None
        if self.phase == "failed" or self._closed:
            raise SubsystemUnavailableError("memory", self.phase, f"the memory graph is not available: {self.memory.error or self.phase}")


def _datetime(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)
