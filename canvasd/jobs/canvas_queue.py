"""A queue of canvases waiting to be synced into a derived store (the index, the memory graph).

Change events mark a canvas dirty; a drain task syncs dirty canvases a few at a time, most urgent first. A
canvas marked again while it is being synced is synced once more afterwards, so the last change always wins,
and marks that arrive while it waits merge into one sync. Lives in the event loop's thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from canvasd.jobs.scheduler import Priority

SyncCanvas = Callable[[str, str, Priority], Awaitable[None]]


class CanvasSyncQueue:
    """Dirty canvases by `vault/path`, synced by `sync(vault, path, priority)` at most `parallel` at once."""

    def __init__(self, sync: SyncCanvas, parallel: int = 2) -> None:
        self._sync = sync
        self._parallel = parallel
        self._dirty: dict[str, tuple[str, str, Priority]] = {}
        self._syncing: set[str] = set()
        self._drainer: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def pending(self) -> int:
        """Canvases waiting or being synced."""
        return len(self._dirty) + len(self._syncing)

    def mark(self, vault: str, path: str, priority: Priority) -> bool:
        """Queue one canvas (the more urgent priority wins); True when it was not queued yet."""
        key = f"{vault}/{path}"
        queued = self._dirty.get(key)
        if queued is None:
            self._dirty[key] = (vault, path, priority)
            return True
        if priority < queued[2]:
            self._dirty[key] = (vault, path, priority)
        return False

    def kick(self) -> None:
        """Start draining unless a drain is already running."""
        if self._drainer is None or self._drainer.done():
            self._idle.clear()
            self._drainer = asyncio.ensure_future(self._drain())

    async def wait_idle(self) -> None:
        """Until nothing is queued or syncing (after a `kick`)."""
        await self._idle.wait()

    def clear(self) -> None:
        """Forget every queued canvas (syncs already running finish)."""
        self._dirty.clear()

    def cancel(self) -> None:
        """Stop draining (shutdown or rebuild); running syncs are cancelled."""
        if self._drainer is not None:
            self._drainer.cancel()

    async def _drain(self) -> None:
        running: dict[asyncio.Task[None], str] = {}
        try:
            while self._dirty or running:
                for key in self._next_keys(self._parallel - len(running)):
                    vault, path, priority = self._dirty.pop(key)
                    self._syncing.add(key)
                    running[asyncio.ensure_future(self._sync(vault, path, priority))] = key
                if not running:
                    break
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    self._syncing.discard(running.pop(task))
        finally:
            for task, key in running.items():
                task.cancel()
                self._syncing.discard(key)
            self._idle.set()

    def _next_keys(self, room: int) -> list[str]:
        ready = [key for key in self._dirty if key not in self._syncing]
        ready.sort(key=lambda key: self._dirty[key][2])
        return ready[:max(room, 0)]
