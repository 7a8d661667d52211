"""The file watcher: watchdog on every vault, debounced per canvas, resolved into change events.

watchdog's observer thread produces raw events; cheap filtering happens there and each canvas path goes
to the asyncio loop (`call_soon_threadsafe`), where a `Debouncer` holds it until the canvas is quiet.
Resolving reads the version in the watcher's one worker thread (file I/O never blocks the loop), compares
it with the last version reported and publishes `created` / `changed` / `deleted` into the `ChangeFeed`.
`OwnWrites` tells canvasd's own writes (origin `canvasd`) from everybody else's (`external`). A vault
folder that disappears is reported (`vault_missing`) and, once back, watched and scanned again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from canvasd.canvas.vaults import CANVAS_SUFFIX, Vault, VaultRegistry, is_text
from canvasd.config import WatcherSettings
from canvasd.errors import CanvasdError, CanvasNotFoundError, VaultMissingError
from canvasd.metrics import Metrics, read
from canvasd.subsystem import Phase
from canvasd.watch.debounce import Debouncer
from canvasd.watch.feed import ChangeFeed
from canvasd.watch.own_writes import OwnWrites, real_path

if TYPE_CHECKING:
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers.api import BaseObserver, ObservedWatch

    from canvasd.canvas import CanvasEngine
    from canvasd.jobs.periodic import PeriodicJob

log = logging.getLogger(__name__)

PRESENCE_INTERVAL_S = 1.0

T = TypeVar("T")
Identity = tuple[int, int]  # (st_dev, st_ino) of a vault folder


@dataclass(slots=True)
class _Attached:
    """What attaching a vault found: its real root and identity, the watch, and its canvases' versions."""

    root: str
    identity: Identity
    watch: ObservedWatch | None  # None: the folder is there but could not be watched (inotify limits)
    known: dict[str, str]


@dataclass(slots=True)
class _VaultState:
    """The watcher's view of one vault (loop thread only)."""

    vault: Vault
    state: Literal["starting", "watching", "missing", "failed"] = "starting"
    root: str = ""  # real path of the folder being watched
    identity: Identity | None = None
    watch: ObservedWatch | None = None
    known: dict[str, str] = field(default_factory=dict)  # real path -> version last reported
    deferred: set[str] = field(default_factory=set)  # paths that changed while the vault was being scanned
    generation: int = 0  # bumped when the vault is lost or attached: results of older reads are stale


class _VaultEvents:
    """watchdog handler of one vault: keeps canvas paths, drops the rest (runs in the observer thread)."""

    def __init__(self, watcher: CanvasWatcher, name: str, root: str) -> None:
        self._watcher = watcher
        self._name = name
        self._root = root
        self._prefix = root.rstrip(os.sep) + os.sep

    def dispatch(self, event: FileSystemEvent) -> None:
        """Called by watchdog for every event under the vault."""
        src = os.fsdecode(event.src_path)
        if event.is_directory:
            # A folder deleted or moved away (maybe the vault itself): its canvases may be gone with it.
            self._watcher._post(self._watcher._on_folder_gone, self._name, src)
            return
        for path in (src, os.fsdecode(event.dest_path)):
            if path and self._is_canvas(path):
                self._watcher._metrics.watcher_raw_events.inc()
                self._watcher._post(self._watcher._on_raw, self._name, path)

    def _is_canvas(self, path: str) -> bool:
        """A `.canvas` file in the vault, not inside a hidden folder (.obsidian, .trash) nor hidden itself."""
        if not path.startswith(self._prefix) or not path.endswith(CANVAS_SUFFIX):
            return False
        relative = path[len(self._prefix):]
        if not is_text(relative):
            return False  # a name that is not UTF-8 cannot be named in an event (nor served)
        return not any(part.startswith(".") for part in relative.split(os.sep))


class CanvasWatcher:
    """Watches every vault and turns file changes into change events: the daemon's `watcher` subsystem.

    `watch` / `unwatch` (or `with`) from any thread; `start` / `close` are the same as a `Subsystem`.
    """

    name = "watcher"

    def __init__(self, vaults: VaultRegistry, engine: CanvasEngine, feed: ChangeFeed, own_writes: OwnWrites,
                 settings: WatcherSettings, metrics: Metrics, loop: asyncio.AbstractEventLoop, *,
                 presence_interval: float = PRESENCE_INTERVAL_S) -> None:
        """Events are published into `feed` from `loop`'s thread; vault folders are checked for presence
        every `presence_interval` seconds."""
        self._engine = engine
        self._feed = feed
        self._own = own_writes
        self._settings = settings
        self._metrics = metrics
        self._loop = loop
        self._presence_interval = presence_interval
        self._vaults = {vault.name: _VaultState(vault) for vault in vaults}
        delay = settings.debounce_ms / 1000
        self._debouncer: Debouncer[tuple[str, str]] = Debouncer(loop, delay, max(1.0, 20 * delay), self._resolve)
        self._resolving: set[tuple[str, str]] = set()
        self._again: set[tuple[str, str]] = set()  # changed again while being resolved
        self._observer: BaseObserver | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._tick: asyncio.TimerHandle | None = None
        self._ready = asyncio.Event()
        self._started = False
        self._stopped = False
        self._error: str | None = None

    # Lifecycle

    @property
    def phase(self) -> Phase:
        """off (watcher.enabled: false), starting (scanning), ready, failed (cannot watch) or stopped."""
        if not self._settings.enabled:
            return Phase.OFF
        if self._stopped:
            return Phase.STOPPED
        if self._error is not None:
            return Phase.FAILED
        return Phase.READY if self._ready.is_set() else Phase.STARTING

    @property
    def error(self) -> str | None:
        """Why the watcher cannot watch, if it cannot."""
        return self._error

    async def start(self) -> None:
        """Watch every vault and wait until each is scanned: from then on the feed is live."""
        await asyncio.to_thread(self.watch)
        await self.wait_ready()

    async def close(self) -> None:
        """Stop watching."""
        await asyncio.to_thread(self.unwatch)

    def periodic_jobs(self) -> list[PeriodicJob]:
        """None: vault presence is checked by the watcher's own timer."""
        return []

    def watch(self) -> None:
        """Watch every vault (recursively) and scan it in the background; check vault folders periodically."""
        if self._started:
            return
        self._started = True
        if not self._settings.enabled:
            log.info("the watcher is off (watcher.enabled: false); external edits are seen on the next read")
            self._post(self._ready.set)
            return
        from watchdog.observers import Observer

        try:
            observer = Observer()
            observer.start()
        except OSError as exc:  # e.g. the per-user limit of inotify instances is reached
            log.error("watcher: cannot watch files (%s); external edits are seen on the next read only", exc)
            self._error = str(exc)
            self._post(self._ready.set)
            return
        self._observer = observer
        # One worker: reads, scans and (un)scheduling run in order, and never two at once for one vault.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="canvasd-watcher")
        self._post(self._begin)

    def unwatch(self) -> None:
        """Stop watching: timers cancelled, worker and observer threads joined. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._post(self._cancel_timers)
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()

    def __enter__(self) -> CanvasWatcher:
        self.watch()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.unwatch()

    async def wait_ready(self) -> None:
        """Wait until every vault present at start is watched and scanned."""
        await self._ready.wait()

    def status(self) -> dict[str, Any]:
        """Per vault: watching / missing / starting and canvases known; raw events; changes pending."""
        running = self._started and not self._stopped and self._observer is not None
        return {
            "state": self.phase.value,
            "running": running,
            "error": self._error,
            "vaults": {name: {"state": vs.state if running else "off", "root": str(vs.vault.root),
                              "canvases": len(vs.known)} for name, vs in self._vaults.items()},
            "raw_events": int(read(self._metrics.watcher_raw_events)),
            "pending": len(self._debouncer) + len(self._resolving)
            + sum(len(vs.deferred) for vs in self._vaults.values()),
        }

    def _begin(self) -> None:
        if self._stopped:
            return
        for vs in self._vaults.values():
            self._attach(vs, announce=False)
        self._update_ready()
        self._tick = self._loop.call_later(self._presence_interval, self._check_presence)

    def _cancel_timers(self) -> None:
        self._debouncer.cancel()
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        self._ready.set()

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        """Run `callback(*args)` in the loop thread (from any thread)."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing is listening any more
            self._loop.call_soon_threadsafe(callback, *args)

    def _submit(self, job: Callable[[], T], done: Callable[[asyncio.Future[T]], None]) -> None:
        """Run `job` in the worker thread; `done(future)` then runs in the loop thread."""
        if self._stopped or self._executor is None:
            return
        try:
            future = self._loop.run_in_executor(self._executor, job)
        except RuntimeError:
            return  # stop() shut the worker down from another thread just now
        future.add_done_callback(done)

    @staticmethod
    def _outcome(future: asyncio.Future[T], what: str) -> T | None:
        if future.cancelled():
            return None
        exc = future.exception()
        if exc is not None:
            log.error("watcher: %s failed", what, exc_info=exc)
            return None
        return future.result()

    # Raw events (loop thread)

    def _on_raw(self, name: str, path: str) -> None:
        if not self._stopped and self._vaults[name].state != "missing":
            self._debouncer.touch((name, path))

    def _on_folder_gone(self, name: str, folder: str) -> None:
        vs = self._vaults[name]
        if self._stopped or vs.state == "missing":
            return
        if folder == vs.root:
            self._lose(vs)
            return
        prefix = folder + os.sep
        for path in [p for p in vs.known if p.startswith(prefix)]:
            self._debouncer.touch((name, path))

    # Resolving a quiet canvas (loop thread; reading in the worker)

    def _resolve(self, key: tuple[str, str]) -> None:
        name, path = key
        vs = self._vaults[name]
        if self._stopped or vs.state == "missing":
            return
        if vs.state == "starting":
            vs.deferred.add(path)
            return
        if key in self._resolving:
            self._again.add(key)
            return
        self._resolving.add(key)
        generation = vs.generation
        self._submit(lambda: self._read(path), lambda future: self._resolved(key, generation, future))

    def _read(self, path: str) -> tuple[str | None, bool] | None:
        """(version, or None when gone; whether canvasd wrote it); None when it cannot be read now."""
        if real_path(path) != path:
            return None  # a symlink: the file it leads to is reported under its own name
        started = time.time_ns()
        try:
            snapshot = self._engine.read(Path(path), parse=False)
            own = self._own.is_own(Path(path), snapshot.version)
            if not own and snapshot.verified_ns < started:
                # Served from memory although the file was touched: canvasd's own writes are primed in
                # the cache, anything else may be a same-size edit within one timestamp tick.
                self._engine.store.invalidate(Path(path))
                snapshot = self._engine.read(Path(path), parse=False)
                own = self._own.is_own(Path(path), snapshot.version)
            return snapshot.version, own
        except (CanvasNotFoundError, FileNotFoundError, NotADirectoryError):
            self._engine.store.invalidate(Path(path))
            return None, self._own.is_own(Path(path), None)
        except (CanvasdError, OSError) as exc:
            log.warning("watcher: cannot read %s now (%s); skipping this change", path, exc)
            return None

    def _resolved(self, key: tuple[str, str], generation: int,
                  future: asyncio.Future[tuple[str | None, bool] | None]) -> None:
        self._resolving.discard(key)
        result = self._outcome(future, f"reading {key[1]}")
        if self._stopped:
            return
        vs = self._vaults[key[0]]
        if vs.generation != generation:
            self._again.discard(key)
            self._resolve(key)  # the vault was lost or re-attached meanwhile: look again in its new state
            return
        if result is not None:
            self._report(vs, key[1], *result)
        if key in self._again:
            self._again.discard(key)
            self._resolve(key)

    def _report(self, vs: _VaultState, path: str, version: str | None, own: bool) -> None:
        origin: Literal["canvasd", "external"] = "canvasd" if own else "external"
        relative = os.path.relpath(path, vs.root).replace(os.sep, "/")
        if version is None:
            if vs.known.pop(path, None) is not None:
                self._feed.publish("deleted", vs.vault.name, relative, None, origin)
            return
        previous = vs.known.get(path)
        vs.known[path] = version
        if previous is None:
            self._feed.publish("created", vs.vault.name, relative, version, origin)
        elif previous != version:
            self._feed.publish("changed", vs.vault.name, relative, version, origin)

    # Vault folders: attach, lose, check presence

    def _attach(self, vs: _VaultState, *, announce: bool) -> None:
        """Watch and scan the vault in the worker; `announce` publishes vault_restored and its canvases."""
        vs.state = "starting"
        vs.generation += 1
        generation, old_watch = vs.generation, vs.watch
        vs.watch = None
        self._submit(lambda: self._watch_and_scan(vs.vault, old_watch),
                     lambda future: self._attached(vs, generation, announce, future))

    def _watch_and_scan(self, vault: Vault, old_watch: ObservedWatch | None) -> _Attached | None:
        """Schedule a recursive watch on the vault folder, then read every canvas's version (worker)."""
        assert self._observer is not None
        self._unwatch(old_watch)
        vault.refresh()  # the folder may be back as a different symlink
        root = vault.real_root()
        try:
            st = os.stat(root)
        except OSError:
            return None
        if not stat.S_ISDIR(st.st_mode):
            return None
        handler = cast("FileSystemEventHandler", _VaultEvents(self, vault.name, root))
        watch: ObservedWatch | None = None
        try:
            watch = self._observer.schedule(handler, root, recursive=True, event_filter=_event_types())
        except OSError as exc:
            if not os.path.isdir(root):
                return None
            log.error("watcher: cannot watch vault %s (%s); its external edits are seen on the next read only "
                      "(on Linux, raise fs.inotify.max_user_watches)", vault.name, exc)
        known: dict[str, str] = {}
        try:
            for _, real in vault.canvases():
                if self._stopped:
                    break
                try:
                    known[os.fspath(real)] = self._engine.read(real, parse=False).version
                except (CanvasdError, OSError) as exc:
                    log.debug("watcher: skipping %s in the scan: %s", real, exc)
        except VaultMissingError:
            self._unwatch(watch)
            return None
        return _Attached(root, (st.st_dev, st.st_ino), watch, known)

    def _unwatch(self, watch: ObservedWatch | None) -> None:
        if watch is not None and self._observer is not None:
            with contextlib.suppress(KeyError):  # already gone with the observer
                self._observer.unschedule(watch)

    def _attached(self, vs: _VaultState, generation: int, announce: bool,
                  future: asyncio.Future[_Attached | None]) -> None:
        found = self._outcome(future, f"watching vault {vs.vault.name}")
        if self._stopped or vs.generation != generation:
            if found is not None:
                self._submit(lambda: self._unwatch(found.watch), lambda _: None)
            return
        if found is None:
            vs.state = "missing"
            if not announce:  # when restoring, its disappearance was reported already
                log.warning("watcher: vault %s folder %s is missing; watching for it", vs.vault.name,
                            vs.vault.root)
                self._feed.publish("vault_missing", vs.vault.name, None)
            self._update_ready()
            return
        vs.state = "watching" if found.watch is not None else "failed"
        vs.root, vs.identity = found.root, found.identity
        vs.watch, vs.known = found.watch, found.known
        if announce:
            log.info("watcher: vault %s folder is back; watching it again", vs.vault.name)
            self._feed.publish("vault_restored", vs.vault.name, None)
            for path in sorted(vs.known):
                relative = os.path.relpath(path, vs.root).replace(os.sep, "/")
                self._feed.publish("created", vs.vault.name, relative, vs.known[path], "external")
        deferred, vs.deferred = vs.deferred, set()
        for path in sorted(deferred):
            self._resolve((vs.vault.name, path))
        self._update_ready()

    def _lose(self, vs: _VaultState) -> None:
        """The vault folder is gone: report it and its canvases, stop watching it."""
        log.warning("watcher: vault %s folder %s disappeared", vs.vault.name, vs.vault.root)
        vs.state = "missing"
        vs.generation += 1
        vs.identity = None
        self._feed.publish("vault_missing", vs.vault.name, None)
        for path in sorted(vs.known):
            relative = os.path.relpath(path, vs.root).replace(os.sep, "/")
            self._feed.publish("deleted", vs.vault.name, relative, None, "external")
        vs.known = {}
        vs.deferred = set()
        old_watch, vs.watch = vs.watch, None
        self._submit(lambda: self._unwatch(old_watch), lambda _: None)

    def _check_presence(self) -> None:
        self._tick = None
        self._submit(self._identities, self._presence_checked)

    def _identities(self) -> dict[str, Identity | None]:
        """(device, inode) of each vault folder now, None where it is missing (worker)."""
        found: dict[str, Identity | None] = {}
        for name, vs in self._vaults.items():
            try:
                st = os.stat(vs.vault.root)
                found[name] = (st.st_dev, st.st_ino) if os.path.isdir(vs.vault.root) else None
            except OSError:
                found[name] = None
        return found

    def _presence_checked(self, future: asyncio.Future[dict[str, Identity | None]]) -> None:
        identities = self._outcome(future, "checking vault folders") or {}
        if self._stopped:
            return
        for name, identity in identities.items():
            vs = self._vaults[name]
            if vs.state in ("watching", "failed") and identity != vs.identity:
                self._lose(vs)  # removed, or replaced by another folder (moved away and re-created)
            if vs.state == "missing" and identity is not None:
                self._attach(vs, announce=True)
        self._tick = self._loop.call_later(self._presence_interval, self._check_presence)

    def _update_ready(self) -> None:
        if all(vs.state != "starting" for vs in self._vaults.values()):
            self._ready.set()


def _event_types() -> list[type[FileSystemEvent]]:
    """The watchdog events that can change a canvas; opens, closes and attribute changes are left out."""
    from watchdog.events import (
        DirDeletedEvent,
        DirMovedEvent,
        FileCreatedEvent,
        FileDeletedEvent,
        FileModifiedEvent,
        FileMovedEvent,
    )

    return [FileCreatedEvent, FileModifiedEvent, FileMovedEvent, FileDeletedEvent, DirDeletedEvent, DirMovedEvent]
