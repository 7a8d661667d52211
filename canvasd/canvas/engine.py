"""The canvas engine: cached reads and coalesced atomic writes, assembled from the settings.

This is the one place that reads the canvas optimisation switches (`read_cache`, `batch_writer`,
`json_engine`) and picks the optimised or the plain implementation of each.
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType

from canvasd.canvas.codec import CanvasCodec
from canvasd.canvas.commit import SETTLE_PAUSES, CommitResult, WriteRequest, settling
from canvasd.canvas.learning import LearningStates
from canvasd.canvas.store import CachedCanvasStore, CanvasSnapshot, CanvasStore, DirectCanvasStore
from canvasd.canvas.writer import BatchingCanvasWriter, CanvasWriter, DirectCanvasWriter
from canvasd.config import Settings
from canvasd.errors import CanvasParseError, WriteTimeoutError
from canvasd.metrics import Metrics
from canvasd.types import JSONObject, WriteObserver


class CanvasEngine:
    """Reads and changes canvas files. Thread-safe; close it (or use `with`) to flush pending writes."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None,
                 on_write: WriteObserver | None = None) -> None:
        """`on_write(path, version)` hears of every file canvasd is about to replace or delete."""
        self.settings = settings
        self.metrics = metrics if metrics is not None else Metrics()
        self.codec = codec = CanvasCodec(settings.json_engine, self.metrics)
        self.store: CanvasStore = (
            CachedCanvasStore(codec, settings.read_cache, self.metrics)
            if settings.read_cache.enabled else DirectCanvasStore(codec, self.metrics)
        )
        direct = DirectCanvasWriter(self.store, fsync=settings.batch_writer.fsync, metrics=self.metrics,
                                    on_write=on_write)
        self.writer: CanvasWriter = (
            BatchingCanvasWriter(self.store, settings.batch_writer, self.metrics, direct, on_write)
            if settings.batch_writer.enabled else direct
        )
        self.queues_writes = settings.batch_writer.enabled
        """True when `submit` only queues (batch writer): cheap enough for an event loop to call directly."""
        self.learning_states = LearningStates(settings.learning_states)


    def read(self, path: Path, *, parse: bool = True) -> CanvasSnapshot:
        """The canvas as it is on disk now: bytes, version and (unless `parse` is false) document."""
        return self.store.read(path, parse=parse)

    def read_settled(self, path: Path) -> CanvasSnapshot:
        """`read` for a caller that needs the document: a file modified within the last two seconds that is empty
        or does not parse may be half-written (Obsidian saves by truncating and rewriting in place), so it is read
        again after a pause, twice, before it is believed."""
        for pause in (*SETTLE_PAUSES, None):
            try:
                snapshot = self.store.read(path, parse=True)
                if snapshot.raw.strip() or pause is None or not settling(snapshot):
                    return snapshot
            except CanvasParseError:
                snapshot = self.store.read(path, parse=False)
                if pause is None or not settling(snapshot):
                    raise
            self.metrics.parse_retries.inc()
            time.sleep(pause)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def private_document(self, snapshot: CanvasSnapshot) -> JSONObject:
        """A fresh parse of the snapshot's bytes: a document the caller may keep or change without touching the
        read cache's shared one."""
        return self.codec.load(snapshot.raw, snapshot.path)

    def submit(self, path: Path, request: WriteRequest) -> Future[CommitResult]:
        """Queue a write and return at once; the future resolves when it is durable."""
        return self.writer.submit(path, request)

    def apply(self, path: Path, request: WriteRequest, timeout: float | None = None) -> CommitResult:
        """Write and wait until the change is durable; raises the error that refused it."""
        future = self.writer.submit(path, request)
        try:
            return future.result(timeout)
        except TimeoutError:
            raise WriteTimeoutError(timeout or 0.0) from None

    def flush(self, timeout: float | None = None) -> None:
        """Commit every pending write now and wait for it."""
        self.writer.flush(timeout)

    def nodes_by_state(self, path: Path) -> dict[str, list[JSONObject]]:
        """The canvas's nodes grouped by learning state (colour), every state listed."""
        return self.learning_states.group(self.read(path).document)

    def close(self, timeout: float | None = None) -> None:
        """Flush pending writes and stop background threads."""
        self.writer.close(timeout)

    def __enter__(self) -> CanvasEngine:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
