"""Canvas writers: the batching writer merges requests per canvas into one durable write (group commit);
the direct writer is the plain path, one atomic write per request.

Batching with the leading edge (the default): a canvas is written at most once per `window_ms`. A request
to a canvas that had no commit within the last window is committed at once; one that arrives within the
window waits for the window's end (`window_ms` after the previous commit started) and shares that commit
with everything else that arrived meanwhile. So a lone write never waits, and a burst submitted within
one window costs two writes: the leading one and the trailing one.

Without the leading edge (`leading_edge` off, the earlier behaviour): the first request to an idle canvas
opens a window; the canvas is committed `window_ms` after the last request reached it, and never later
than `max_delay_ms` after the first.

Either way, requests that arrive while a canvas is being committed wait for the next commit. Every
request's future resolves once its data is durable (or with the error that stopped it). Commits of
different canvases run in parallel on a small thread pool; one canvas never has two commits in flight.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Protocol

from canvasd.canvas.atomic import sweep_temp_files
from canvasd.canvas.commit import CommitResult, WriteRequest, check_canvas_path, commit_requests, fail_requests
from canvasd.canvas.store import CanvasStore
from canvasd.config import BatchWriterSettings
from canvasd.errors import CanvasdError, WriterClosedError, WriteTimeoutError
from canvasd.metrics import Metrics
from canvasd.types import WriteObserver

log = logging.getLogger(__name__)


class CanvasWriter(Protocol):
    """Where write requests go."""

    def submit(self, path: Path, request: WriteRequest) -> Future[CommitResult]: ...
    def flush(self, timeout: float | None = None) -> None: ...
    def close(self, timeout: float | None = None) -> None: ...


class _TempSweeper:
    """Removes temp files of killed writers from a directory the first time it is written to."""

    def __init__(self) -> None:
        self._done: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, directory: Path) -> None:
        key = os.fspath(directory)
        with self._lock:
            if key in self._done:
                return
            self._done.add(key)
        for leftover in sweep_temp_files(directory):
            log.info("removed temp file %s left by a writer that is no longer running", leftover)


class DirectCanvasWriter:
    """The plain path: each request is committed at once, in the caller's thread, with its own write."""

    def __init__(self, store: CanvasStore, *, fsync: bool, metrics: Metrics,
                 on_write: WriteObserver | None = None) -> None:
        self._store = store
        self._fsync = fsync
        self._metrics = metrics
        self._on_write = on_write
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._sweep = _TempSweeper()
        self._closed = False

    def _lock(self, path: Path) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(os.fspath(path), threading.Lock())

    def submit(self, path: Path, request: WriteRequest) -> Future[CommitResult]:
        """Commit `request` now; the returned future is already resolved."""
        if self._closed:
            raise WriterClosedError
        check_canvas_path(path)
        self._metrics.write_requests.inc()
        self._metrics.logical_ops.inc(request.op_count)
        self.commit(path, [request])
        return request.future

    def commit(self, path: Path, requests: list[WriteRequest]) -> None:
        """Commit each request on its own (also the batching writer's fallback)."""
        self._sweep(path.parent)
        with self._lock(path):
            for request in requests:
                if request.future.done():
                    continue
                try:
                    commit_requests(path, [request], self._store, fsync=self._fsync, metrics=self._metrics,
                                    on_write=self._on_write)
                except CanvasdError as exc:
                    fail_requests([request], exc)
                except Exception as exc:
                    log.exception("commit of %s failed", path)
                    fail_requests([request], exc)

    def flush(self, timeout: float | None = None) -> None:
        """Nothing is ever pending on the plain path."""

    def close(self, timeout: float | None = None) -> None:
        """Refuse further requests."""
        self._closed = True


class _CanvasQueue:
    """Requests waiting for one canvas, whether a commit of it is in flight, and when the last one started."""

    __slots__ = ("committed", "first", "in_flight", "last", "path", "urgent", "waiting")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.waiting: list[WriteRequest] = []
        self.first = 0.0  # when the oldest waiting request arrived
        self.last = 0.0  # when the newest waiting request arrived
        self.committed = -math.inf  # when the newest commit of the canvas started
        self.in_flight: list[WriteRequest] = []
        self.urgent = False

    def idle(self) -> bool:
        """Nothing waits for this canvas and nothing of it is being committed."""
        return not self.waiting and not self.in_flight


class BatchingCanvasWriter:
    """Merges the requests each canvas receives within a window into one durable write."""

    def __init__(self, store: CanvasStore, settings: BatchWriterSettings, metrics: Metrics,
                 fallback: DirectCanvasWriter, on_write: WriteObserver | None = None) -> None:
        self._store = store
        self._on_write = on_write
        self._settings = settings
        self._window = settings.window_ms / 1000
        self._max_delay = settings.max_delay_ms / 1000
        self._leading_edge = settings.leading_edge
        self._metrics = metrics
        self._fallback = fallback
        self._queues: dict[str, _CanvasQueue] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._sweep = _TempSweeper()

    # ------------------------------------------------------------------------------------ callers

    def submit(self, path: Path, request: WriteRequest) -> Future[CommitResult]:
        """Queue `request`; its future resolves once the batch holding it is durable."""
        check_canvas_path(path)
        now = time.monotonic()
        with self._cond:
            if self._closed:
                raise WriterClosedError
            self._start()
            key = os.fspath(path)
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = _CanvasQueue(path)
            if not queue.waiting:
                queue.first = now
            queue.last = now
            queue.waiting.append(request)
            self._metrics.write_requests.inc()
            self._metrics.logical_ops.inc(request.op_count)
            self._cond.notify()
        return request.future

    def flush(self, timeout: float | None = None) -> None:
        """Commit everything submitted so far now, and wait until it is durable."""
        with self._cond:
            pending: list[Future[CommitResult]] = []
            for queue in self._queues.values():
                pending += [r.future for r in queue.waiting + queue.in_flight]
                queue.urgent = bool(queue.waiting)
            self._cond.notify()
        _, not_done = wait(pending, timeout)
        if not_done:
            raise WriteTimeoutError(timeout or 0.0)

    def close(self, timeout: float | None = None) -> None:
        """Flush, then stop the writer thread and the commit pool; later submits are refused."""
        with self._cond:
            if self._closed:
                return
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self._fallback.close()

    # ---------------------------------------------------------------------------------- scheduling

    def _start(self) -> None:
        """Start the scheduler thread and pool on first use, so an idle writer costs nothing."""
        if self._thread is None:
            self._pool = ThreadPoolExecutor(self._settings.commit_threads, thread_name_prefix="canvasd-commit")
            self._thread = threading.Thread(target=self._run, name="canvasd-writer", daemon=True)
            self._thread.start()

    def _due_at(self, queue: _CanvasQueue) -> float:
        """When the waiting requests of `queue` are to be committed (now or earlier: at once)."""
        if queue.urgent:
            return 0.0
        # Leading edge: the window opens at the previous commit (never, for a canvas not written lately);
        # otherwise every request reopens it.
        opened = queue.committed if self._leading_edge else queue.last
        return min(opened + self._window, queue.first + self._max_delay)

    def _forgettable(self, queue: _CanvasQueue, now: float) -> bool:
        """The queue holds nothing the schedule still needs: idle, and (leading edge) its window is over."""
        return queue.idle() and (not self._leading_edge or queue.committed + self._window <= now)

    def _run(self) -> None:
        while True:
            with self._cond:
                due = self._wait_for_due()
                if due is None:
                    return
                batches = []
                now = time.monotonic()
                for queue in due:
                    queue.in_flight, queue.waiting, queue.urgent = queue.waiting, [], False
                    queue.committed = now
                    batches.append((queue, queue.in_flight))
            assert self._pool is not None
            for queue, batch in batches:
                self._pool.submit(self._commit, queue, batch)

    def _wait_for_due(self) -> list[_CanvasQueue] | None:
        """Block until some canvas is due (returns them) or the writer is closed and idle (None)."""
        while True:
            now = time.monotonic()
            due: list[_CanvasQueue] = []
            next_at: float | None = None
            self._forget_idle(now)
            for queue in self._queues.values():
                if queue.in_flight or not queue.waiting:
                    continue
                at = self._due_at(queue)
                if at <= now:
                    due.append(queue)
                elif next_at is None or at < next_at:
                    next_at = at
            if due:
                return due
            if self._closed and all(q.idle() for q in self._queues.values()):
                return None
            self._cond.wait(None if next_at is None else next_at - now)

    def _forget_idle(self, now: float) -> None:
        """Drop the queues of canvases whose window is over, so the table holds only recent canvases."""
        for key in [key for key, queue in self._queues.items() if self._forgettable(queue, now)]:
            del self._queues[key]

    def _commit(self, queue: _CanvasQueue, batch: list[WriteRequest]) -> None:
        try:
            self._sweep(queue.path.parent)
            commit_requests(queue.path, batch, self._store, fsync=self._settings.fsync, metrics=self._metrics,
                            on_write=self._on_write)
        except CanvasdError as exc:
            fail_requests(batch, exc)
        except Exception:
            # A bug in the batched path must not lose writes: serve the batch through the plain path.
            log.exception("batched commit of %s failed; committing its requests one by one", queue.path)
            self._metrics.fallback("batch_writer")
            self._fallback.commit(queue.path, batch)
        finally:
            with self._cond:
                queue.in_flight = []
                key = os.fspath(queue.path)
                if self._forgettable(queue, time.monotonic()) and self._queues.get(key) is queue:
                    del self._queues[key]
                self._cond.notify_all()
