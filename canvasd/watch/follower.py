"""The base of every subsystem that keeps something per canvas (the index, the memory graph, ...).

A follower listens to the change feed and keeps a derived store in line with the canvases:
- **event filter**: a created, changed or deleted canvas is queued (`on_event`); other events are ignored;
- **queue per canvas** on the job scheduler (`jobs.canvas_queue`): repeated changes merge, the most urgent first;
- **read-or-remove**: `read_canvas` gives the canvas as it is now, or says it is gone (remove what was kept) or
  that its vault folder is away (keep everything until it is back);
- **reconcile at start**: after `open`, every canvas whose file stamp differs from what the store knows is
  synced, and what the store holds of canvases that are gone is removed.
A subclass says how to open its store, what it knows (`known_canvases`) and how to sync one canvas (`sync`). It
never polls; all its work runs as jobs, never in a request.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

from canvasd.errors import CanvasdError, CanvasNotFoundError, SubsystemUnavailableError, VaultNotFoundError
from canvasd.jobs.canvas_queue import CanvasSyncQueue
from canvasd.jobs.scheduler import Priority
from canvasd.subsystem import Phase

if TYPE_CHECKING:
    from canvasd.canvas import CanvasEngine, CanvasSnapshot
    from canvasd.canvas.vaults import VaultRegistry
    from canvasd.jobs.periodic import PeriodicJob
    from canvasd.jobs.scheduler import JobScheduler
    from canvasd.watch.feed import ChangeEvent, ChangeFeed

log = logging.getLogger(__name__)

CanvasKey = tuple[str, str]
"""(vault, vault-relative path) of one canvas."""

FileStamp = tuple[int, int]
"""(st_mtime_ns, st_size): what a store remembers of the file it last synced."""

_CANVAS_EVENTS = frozenset({"created", "changed", "deleted"})
_PROGRESS_EVERY_S = 1.0  # progress events at most this often (and at every step change)


class Absent(Enum):
    """Why `read_canvas` has no snapshot."""

    GONE = "gone"  # the canvas (or its vault) no longer exists: remove what is kept of it
    AWAY = "away"  # the vault's folder is not there now (unmounted drive): keep everything until it is back


@dataclass(slots=True)
class Progress:
    """Where a follower is: its phase, the step within it, done / total, rate and ETA."""

    phase: Phase = Phase.STARTING
    step: str = "starting"
    done: int = 0
    total: int = 0
    unit: str = ""
    started: float = field(default_factory=time.monotonic)
    step_started: float = field(default_factory=time.monotonic)
    error: str | None = None

    def enter(self, phase: Phase, step: str, total: int = 0, unit: str = "") -> None:
        """Start a step of `total` units."""
        self.phase, self.step, self.done, self.total, self.unit = phase, step, 0, total, unit
        self.step_started = time.monotonic()

    def advance(self, units: int = 1) -> None:
        """Count finished units of the current step."""
        self.done += units

    def grow(self, units: int) -> None:
        """More units joined the current step (canvases changed while it ran)."""
        self.total += units

    def fail(self, error: str) -> None:
        """The follower failed; it answers nothing until it is started again."""
        self.phase, self.step, self.error = Phase.FAILED, "failed", error

    def eta_s(self) -> float | None:
        """Seconds left in this step at the rate so far; None before the first unit."""
        if self.done <= 0:
            return None
        if self.total <= self.done:
            return 0.0
        return (time.monotonic() - self.step_started) / self.done * (self.total - self.done)

    def as_dict(self) -> dict[str, Any]:
        """The progress as a JSON-serialisable mapping."""
        eta = self.eta_s()
        return {"phase": self.phase.value, "step": self.step, "done": self.done, "total": self.total,
                "unit": self.unit, "eta_s": None if eta is None else round(eta, 1),
                "elapsed_s": round(time.monotonic() - self.started, 3), "error": self.error}


class FeedFollower(ABC):
    """A subsystem that keeps something per canvas, current from the change feed; see the module docstring."""

    name: ClassVar[str]
    title: ClassVar[str]
    """How messages name it ("the semantic index")."""
    progress_event: ClassVar[str | None] = None
    """Feed event kind that carries this follower's progress (None: progress is only in `status()`)."""
    parallel: ClassVar[int] = 2
    """Canvases synced at once."""

    def __init__(self, engine: CanvasEngine, vaults: VaultRegistry, scheduler: JobScheduler, feed: ChangeFeed,
                 *, enabled: bool = True) -> None:
        """A follower switched off (`enabled` false) never starts and answers every query with its phase, off."""
        self._engine = engine
        self._vaults = vaults
        self._scheduler = scheduler
        self._feed = feed
        self.progress = Progress() if enabled else Progress(Phase.OFF, "off")
        self._queue = CanvasSyncQueue(self._sync_one, self.parallel)
        self._opened = asyncio.Event()
        if not enabled:
            self._opened.set()
        self._closed = False
        self._last_progress_event = 0.0

    @property
    def phase(self) -> Phase:
        """The follower's phase now."""
        return self.progress.phase

    @property
    def error(self) -> str | None:
        """Why the follower failed, if it did."""
        return self.progress.error

    @property
    def pending(self) -> int:
        """Canvases waiting to be synced or being synced."""
        return self._queue.pending

    # ------------------------------------------------------------------------------------ subclass hooks

    @abstractmethod
    async def open(self) -> None:
        """Open the store (load models, start servers): called once per start, in the background."""

    @abstractmethod
    def known_canvases(self) -> Mapping[CanvasKey, FileStamp | None]:
        """What the store holds, by canvas: the stamp it was synced at, or None to sync it again (blocking)."""

    @abstractmethod
    async def sync(self, vault: str, path: str, priority: Priority) -> str:
        """Bring the store in line with one canvas (use `read_canvas`); the outcome, for metrics and logs."""

    async def after_ready(self) -> None:  # noqa: B027 - a hook: most followers need nothing here
        """Work once the start is complete (clean-ups, compaction)."""

    async def release(self) -> None:  # noqa: B027 - a hook
        """Free what the store holds (at shutdown, after the job scheduler has stopped)."""

    def synced(self, outcome: str, seconds: float) -> None:  # noqa: B027 - a hook
        """One canvas was synced (outcome "failed" when it raised): a hook for metrics."""

    def periodic_jobs(self) -> list[PeriodicJob]:
        """Maintenance the daemon runs every so often."""
        return []

    def status(self) -> dict[str, Any]:
        """The phase, the progress and how many canvases wait."""
        return {"state": self.phase.value, "progress": self.progress.as_dict(), "pending_canvases": self.pending}

    # ------------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open and reconcile (a background task; never raises: a failure is `Phase.FAILED`)."""
        if self.phase is Phase.OFF:
            return
        try:
            self.enter(Phase.STARTING, "opening")
            await self.open()
            self._opened.set()
            await self.reconcile()
            self.enter(Phase.READY, "ready")
            await self.after_ready()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("%s failed to start", self.name)
            self.progress.fail(f"{type(exc).__name__}: {exc}" if not isinstance(exc, CanvasdError) else str(exc))
            self._publish_progress(force=True)
        finally:
            self._opened.set()

    async def close(self) -> None:
        """Stop syncing and release the store; what was synced stays for the next start."""
        self._closed = True
        self._queue.cancel()
        await self.release()
        if self.phase is not Phase.OFF:
            self.progress.phase = Phase.STOPPED

    async def reconcile(self) -> None:
        """Queue every canvas that differs from what the store knows, and sync them all."""
        self.enter(Phase.SYNCING, "reconciling")
        stale = await self._scheduler.run_blocking(f"{self.name}_reconcile", self._stale_canvases, Priority.NORMAL)
        for vault, path in stale:
            self._queue.mark(vault, path, Priority.BULK)
        self.enter(Phase.SYNCING, "syncing", self._queue.pending, "canvases")
        self._queue.kick()
        await self._queue.wait_idle()

    async def wait_opened(self, timeout: float) -> None:
        """Until `open` finished (or failed); raises SubsystemUnavailableError after `timeout` s."""
        try:
            await asyncio.wait_for(self._opened.wait(), timeout)
        except TimeoutError:
            raise self.unavailable(f"the {self.name} is still starting; try again shortly") from None

    def unavailable(self, reason: str | None = None) -> SubsystemUnavailableError:
        """The error a query gets while this follower cannot answer (`reason`: by default, from the phase)."""
        if reason is None:
            reason = {Phase.OFF: f"{self.title} is switched off ({self.name}.enabled: false)",
                      Phase.FAILED: f"{self.title} failed: {self.error}",
                      Phase.STOPPED: f"{self.title} is stopped (the daemon is shutting down)",
                      }.get(self.phase, f"{self.title} is {self.phase.value}")
        return SubsystemUnavailableError(self.name, self.phase.value, reason)

    def require_answering(self) -> None:
        """Raise `unavailable()` unless the follower can answer queries now (perhaps partially)."""
        if not self.phase.answers:
            raise self.unavailable()

    def _stale_canvases(self) -> list[CanvasKey]:
        """Canvases on disk whose stamp differs from the store's, then canvases the store holds that are gone."""
        known = self.known_canvases()
        present: set[str] = set()
        on_disk: set[CanvasKey] = set()
        stale: list[CanvasKey] = []
        for vault in self._vaults:
            if not vault.exists():
                continue
            present.add(vault.name)
            for relative, path in vault.canvases():
                key = (vault.name, relative)
                on_disk.add(key)
                stamp = known.get(key)
                if stamp is not None:
                    try:
                        st = os.stat(path)
                    except OSError:
                        continue
                    if (st.st_mtime_ns, st.st_size) == stamp:
                        continue
                stale.append(key)
        configured = {vault.name for vault in self._vaults}
        stale.extend(key for key in known if key[0] not in configured or (key[0] in present and key not in on_disk))
        return stale

    # ------------------------------------------------------------------------------------ following the feed

    def on_event(self, event: ChangeEvent) -> None:
        """Feed listener: a created, changed or deleted canvas is queued for a sync."""
        if self._closed or event.kind not in _CANVAS_EVENTS or not event.vault or not event.path:
            return
        if self.phase not in (Phase.STARTING, Phase.SYNCING, Phase.READY):
            return
        if self._queue.mark(event.vault, event.path, Priority.NORMAL) and self.progress.step == "syncing":
            self.progress.grow(1)
        if self.phase is not Phase.STARTING and self.progress.step != "reconciling":
            self._queue.kick()  # before that, the reconcile covers what is queued meanwhile

    def read_canvas(self, vault_name: str, path: str) -> CanvasSnapshot | Absent:
        """The canvas as it is on disk now, or why there is none (blocking: call it inside a job). Errors name
        the canvas by its vault path, as they reach the job list and the logs."""
        try:
            vault = self._vaults.get(vault_name)
            if not vault.exists():
                return Absent.AWAY
            real = vault.resolve(path)
            try:
                return self._engine.read(real)
            except CanvasdError as exc:
                raise exc.naming(real, path) from None
        except (VaultNotFoundError, CanvasNotFoundError):
            return Absent.GONE

    async def _sync_one(self, vault: str, path: str, priority: Priority) -> None:
        started = time.perf_counter()
        outcome = "failed"
        try:
            outcome = await self.sync(vault, path, priority)
        except asyncio.CancelledError:
            raise
        except CanvasdError as exc:
            log.warning("%s: %s/%s was not synced: %s", self.name, vault, path, exc)
        except Exception:
            log.exception("%s: syncing %s/%s failed", self.name, vault, path)
        finally:
            self.synced(outcome, time.perf_counter() - started)
            if self.progress.step == "syncing":
                self.progress.advance()
                self._publish_progress()

    # ------------------------------------------------------------------------------------ progress

    def enter(self, phase: Phase, step: str, total: int = 0, unit: str = "") -> None:
        """Move to a phase and step (published at once)."""
        self.progress.enter(phase, step, total, unit)
        self._publish_progress(force=True)

    def _publish_progress(self, *, force: bool = False) -> None:
        if self.progress_event is None:
            return
        now = time.monotonic()
        if not force and now - self._last_progress_event < _PROGRESS_EVERY_S:
            return
        self._last_progress_event = now
        self._feed.publish(self.progress_event, None, None, detail=self.progress.as_dict())  # type: ignore[arg-type]
