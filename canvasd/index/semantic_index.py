"""The semantic index subsystem: opens the table, prewarms it, reconciles it with the vaults, keeps it current.

Start (in the background, after the API is up): open the LanceDB tables (imports LanceDB, loads the embedder),
prewarm every index, then reconcile: canvases whose file signature matches the table are not even read; the
others are diffed node by node by content hash. Afterwards, change events from the watcher re-sync one canvas
each. Every step runs as a job on the daemon's scheduler (embedding as bulk jobs of `embedding.batch_size`
texts, which back off under CPU pressure). Searches are answered at every point from what exists; until the
start is complete, answers say they are partial.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from canvasd.canvas.learning import LearningStates
from canvasd.errors import (
    CanvasdError,
    CanvasNotFoundError,
    IndexBusyError,
    SubsystemUnavailableError,
    VaultNotFoundError,
)
from canvasd.index.canvas_sync import CanvasSyncPlan, apply_canvas_sync, plan_canvas_sync
from canvasd.index.progress import IndexPhase, IndexProgress
from canvasd.index.query import SearchMode, SearchQuery
from canvasd.index.records import canvas_key
from canvasd.index.table import CanvasState
from canvasd.jobs.canvas_queue import CanvasSyncQueue
from canvasd.jobs.scheduler import Priority

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from canvasd.canvas import CanvasEngine
    from canvasd.canvas.vaults import VaultRegistry
    from canvasd.config import Settings
    from canvasd.embedding import EmbeddingService
    from canvasd.index.search import NodeSearch, SearchHit
    from canvasd.index.table import NodeTable
    from canvasd.jobs.scheduler import JobScheduler
    from canvasd.metrics import Metrics
    from canvasd.watch.feed import ChangeEvent, ChangeFeed

log = logging.getLogger(__name__)

_PARALLEL_CANVASES = 2  # canvases synced at once (embedding itself is serialised by the model)
_PROGRESS_EVERY_S = 1.0  # index_progress events at most this often (and at every phase change)
_OPTIMIZE_AFTER_ROWS = 1000  # a start that wrote this many rows compacts the table right away


class SemanticIndex:
    """Every canvas node in a LanceDB table, searchable by text and meaning; see the module docstring."""

    def __init__(self, settings: Settings, metrics: Metrics, engine: CanvasEngine, vaults: VaultRegistry,
                 scheduler: JobScheduler, feed: ChangeFeed, embedding: EmbeddingService | None) -> None:
        self._settings = settings.index
        self._folder = settings.daemon.data_dir / "index"
        self._batch_size = settings.embedding.batch_size
        self._metrics = metrics
        self._engine = engine
        self._vaults = vaults
        self._scheduler = scheduler
        self._feed = feed
        self._embedding = embedding if embedding is not None and embedding.available else None
        self._states = LearningStates(settings.learning_states)
        self.progress = IndexProgress()
        self.table: NodeTable | None = None
        self._search: NodeSearch | None = None
        self._queue = CanvasSyncQueue(self._sync, _PARALLEL_CANVASES)
        self._rebuilding: asyncio.Task[None] | None = None
        self._rows_written = 0
        self._last_progress_event = 0.0
        self._closed = False
        self.prewarm_s: float | None = None

    # ------------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open, prewarm and reconcile (run as a background task; never raises)."""
        try:
            self._enter("opening")
            await self._scheduler.run_blocking("index_open", self._open, Priority.NORMAL)
            if self._settings.prewarm:
                await self._prewarm()
            await self._reconcile()
            self._enter("ready")
            assert self.table is not None
            dropped = await self._scheduler.run_blocking("index_cleanup", self.table.drop_other_tables,
                                                         Priority.MAINTENANCE)
            if dropped:
                log.info("index: dropped the tables of other models: %s", ", ".join(dropped))
            if self._rows_written >= _OPTIMIZE_AFTER_ROWS:
                await self._scheduler.run_blocking("index_optimize", self.maintain, Priority.MAINTENANCE)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("the semantic index failed to start")
            self.progress.fail(str(exc))
            self._publish_progress(force=True)

    async def close(self) -> None:
        """Stop syncing (the daemon's shutdown); rows already written stay, the next start continues."""
        self._closed = True
        self._queue.cancel()
        if self._rebuilding is not None:
            self._rebuilding.cancel()

    def _open(self) -> None:
        from canvasd.index.search import NodeSearch
        from canvasd.index.table import NodeTable
        from canvasd.index.time_routing import TimeRouter

        model_id = dim = None
        if self._embedding is not None:
            self._embedding.load()
            model_id, dim = self._embedding.model_id, self._embedding.dim
        table = NodeTable(self._folder, model_id, dim)
        if self._embedding is not None and self._settings.embedding_cache:
            self._embedding.add_source(table)
        self._search = NodeSearch(table, self._embedding, TimeRouter(table, self._settings))
        self.table = table
        self._metrics.index_rows.set(table.count())

    async def _prewarm(self) -> None:
        """Load every index into memory and run one query per mode, so the first real query is not cold."""
        assert self.table is not None and self._search is not None
        started = time.monotonic()
        names = await self._scheduler.run_blocking("index_prewarm", self.table.index_names, Priority.NORMAL)
        self._enter("prewarming", len(names) + 1, "indexes")
        for name in names:
            await self._scheduler.run_blocking("index_prewarm", partial(self.table.prewarm, name), Priority.NORMAL)
            self.progress.advance()
            self._publish_progress()
        await self._scheduler.run_blocking("index_prewarm", self._warm_queries, Priority.NORMAL)
        self.progress.advance()
        self.prewarm_s = time.monotonic() - started

    def _warm_queries(self) -> None:
        assert self._search is not None
        modes: tuple[SearchMode, ...] = ("fts", "vector") if self._search.has_vectors else ("fts",)
        for mode in modes:  # loads the model's weights and LanceDB's caches; costs one query-cache entry
            self._search.search(SearchQuery(text="warm", mode=mode, limit=1))

    async def _reconcile(self) -> None:
        """Queue every canvas whose file differs from what the table knows; remove canvases that are gone."""
        assert self.table is not None
        self._enter("reconciling")
        changed, removed = await self._scheduler.run_blocking("index_reconcile", self._compare_with_vaults,
                                                              Priority.NORMAL)
        for vault, path in changed + removed:
            self._queue.mark(vault, path, Priority.BULK)
        self._enter("indexing", self._queue.pending, "canvases")
        self._kick()
        await self._queue.wait_idle()

    def _compare_with_vaults(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(changed or new, removed) canvases: one stat per canvas, no reads."""
        assert self.table is not None
        stored = self.table.canvas_states()
        on_disk: set[str] = set()
        changed: list[tuple[str, str]] = []
        present_vaults: set[str] = set()
        for vault in self._vaults:
            if not vault.exists():
                continue
            present_vaults.add(vault.name)
            for relative, path in vault.canvases():
                key = canvas_key(vault.name, relative)
                on_disk.add(key)
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                known = stored.get(key)
                if known is None or (known.mtime_ns, known.size) != (st.st_mtime_ns, st.st_size):
                    changed.append((vault.name, relative))
        configured = {vault.name for vault in self._vaults}
        removed = []
        for key in stored:
            vault_name, _, relative = key.partition("/")
            gone_vault = vault_name not in configured
            if gone_vault or (vault_name in present_vaults and key not in on_disk):
                removed.append((vault_name, relative))
        return changed, removed

    # ------------------------------------------------------------------------------------ change events

    def on_event(self, event: ChangeEvent) -> None:
        """Feed listener: a created, changed or deleted canvas is queued for a re-sync."""
        if self._closed or event.kind not in ("created", "changed", "deleted") or not event.vault or not event.path:
            return
        if self.progress.phase in ("off", "failed"):
            return
        self._mark(event.vault, event.path, Priority.NORMAL)
        self._kick()

    def _mark(self, vault: str, path: str, priority: Priority) -> None:
        if self._queue.mark(vault, path, priority) and self.progress.phase == "indexing":
            self.progress.grow(1)
        self._metrics.index_pending_canvases.set(self._queue.pending)

    def _kick(self) -> None:
        if self.table is None or self._closed or self.progress.phase in ("opening", "prewarming", "reconciling"):
            return  # the reconcile after opening covers what is queued meanwhile
        self._queue.kick()

    async def _sync(self, vault: str, path: str, priority: Priority) -> None:
        started = time.perf_counter()
        outcome = "failed"
        try:
            plan: CanvasSyncPlan | None = await self._scheduler.run_blocking(
                "index_plan", lambda: self._plan(vault, path), priority)
            if plan is None:
                outcome = "removed"
            elif plan.unchanged:
                await self._scheduler.run_blocking("index_write", lambda: self._write(plan, {}), priority)
                outcome = "unchanged"
            else:
                embedded = await self._embed(plan, priority)
                written, rows = await self._scheduler.run_blocking(
                    "index_write", lambda: self._write(plan, embedded), priority)
                self._note_written(written, len(plan.deletes), rows)
                outcome = "changed"
        except asyncio.CancelledError:
            raise
        except CanvasdError as exc:
            log.warning("index: %s/%s was not indexed: %s", vault, path, exc)
        except Exception:
            log.exception("index: syncing %s/%s failed", vault, path)
        finally:
            self._metrics.index_synced_canvases.labels(outcome).inc()
            self._metrics.index_sync_seconds.observe(time.perf_counter() - started)
            self._metrics.index_pending_canvases.set(self._queue.pending)
            if self.progress.phase == "indexing":
                self.progress.advance()
                self._publish_progress()

    def _plan(self, vault_name: str, path: str) -> CanvasSyncPlan | None:
        """Diff one canvas against the table (None: the canvas is gone and its rows were deleted)."""
        table = self._table()
        key = canvas_key(vault_name, path)
        try:
            vault = self._vaults.get(vault_name)
            if not vault.exists():
                return None  # the vault folder is away: keep its rows until it comes back or is removed
            snapshot = self._engine.read(vault.resolve(path))
        except (VaultNotFoundError, CanvasNotFoundError):
            table.delete_canvas(key)
            return None
        signature = snapshot.signature
        mtime_ns, size = (signature[0], signature[1]) if signature else (time.time_ns(), len(snapshot.raw))
        state = CanvasState(mtime_ns, size, snapshot.version)
        return plan_canvas_sync(table, self._embedding, self._states, vault=vault_name, path=path,
                                document=snapshot.document, state=state, changed_at=mtime_ns / 1e9,
                                reuse_vectors=self._settings.embedding_cache)

    async def _embed(self, plan: CanvasSyncPlan, priority: Priority) -> dict[str, NDArray[np.float32]]:
        """Vectors for the plan's new texts, one bulk job per batch."""
        if self._embedding is None or self.table is None or not self.table.has_vectors:
            return {}
        embedding = self._embedding
        missing = plan.texts_to_embed()
        embedded: dict[str, NDArray[np.float32]] = {}
        for start in range(0, len(missing), self._batch_size):
            batch = missing[start:start + self._batch_size]
            texts = [text for _, text in batch]
            vectors = await self._scheduler.run_blocking("embed", partial(embedding.embed_batch, texts),
                                                         max(priority, Priority.BULK))
            hashes = [content_hash for content_hash, _ in batch]
            embedding.remember(hashes, vectors)
            embedded.update(zip(hashes, vectors, strict=True))
        return embedded

    def _write(self, plan: CanvasSyncPlan, embedded: dict[str, NDArray[np.float32]]) -> tuple[int, int]:
        """Apply a plan; (rows written, rows in the table)."""
        table = self._table()
        return apply_canvas_sync(table, plan, embedded), table.count()

    def _note_written(self, written: int, deleted: int, rows: int) -> None:
        self._rows_written += written
        self._metrics.index_row_writes.labels("upsert").inc(written)
        self._metrics.index_row_writes.labels("delete").inc(deleted)
        self._metrics.index_rows.set(rows)

    # ------------------------------------------------------------------------------------ queries

    async def search(self, query: SearchQuery) -> dict[str, Any]:
        """Hits for `query` as an API answer; partial (maybe empty) while the start is not complete."""
        if self.progress.phase in ("off", "failed"):
            raise SubsystemUnavailableError("index", self.progress.phase, self._unavailable_reason())
        search = self._search
        started = time.perf_counter()
        if search is None:
            return self._answer([], query.mode, "none", started)
        outcome = await asyncio.to_thread(search.search, query)
        self._metrics.index_searches.labels(outcome.mode, outcome.route).inc()
        self._metrics.index_search_seconds.labels(outcome.mode).observe(time.perf_counter() - started)
        return self._answer(outcome.hits, outcome.mode, outcome.route, started)

    async def related(self, vault: str, path: str, node_id: str, limit: int) -> dict[str, Any] | None:
        """Nearest nodes in other canvases; None when the node is not in the index."""
        if self.progress.phase in ("off", "failed"):
            raise SubsystemUnavailableError("index", self.progress.phase, self._unavailable_reason())
        search = self._search
        started = time.perf_counter()
        if search is None:
            return self._answer([], "vector", "none", started)
        hits = await asyncio.to_thread(search.related, vault, path, node_id, limit)
        return None if hits is None else self._answer(hits, "vector", "none", started)

    def _answer(self, hits: list[SearchHit], mode: str, route: str, started: float) -> dict[str, Any]:
        return {"results": [hit.as_dict() for hit in hits], "mode": mode, "route": route,
                "partial": not self.progress.settled, "index": self.progress.as_dict(),
                "took_ms": round((time.perf_counter() - started) * 1000, 3)}

    def _unavailable_reason(self) -> str:
        if self.progress.phase == "off":
            return "the semantic index is switched off (index.enabled: false)"
        return f"the semantic index failed to start: {self.progress.error}; fix the cause and POST /v1/index/rebuild"

    # ------------------------------------------------------------------------------------ control

    def rebuild(self) -> None:
        """Drop the tables and index every canvas again, in the background (the status shows progress)."""
        if self.progress.phase == "off":
            raise SubsystemUnavailableError("index", "off", self._unavailable_reason())
        if not self.progress.settled or self._closed:
            raise IndexBusyError(self.progress.phase)
        self.progress = IndexProgress()
        self._rebuilding = asyncio.ensure_future(self._rebuild())

    async def _rebuild(self) -> None:
        try:
            self._queue.cancel()
            self._queue.clear()
            if self.table is None:
                await self.start()
                return
            self._enter("opening")
            await self._scheduler.run_blocking("index_reset", self.table.reset, Priority.NORMAL)
            self._rows_written = 0
            await self._reconcile()
            self._enter("ready")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("rebuilding the semantic index failed")
            self.progress.fail(str(exc))
            self._publish_progress(force=True)

    def maintain(self) -> None:
        """The periodic job: compact and fold new rows into the indexes; build the vector index once large."""
        table = self.table
        if table is None or not self.progress.settled:
            return
        table.optimize()
        rows = table.count()
        self._metrics.index_rows.set(rows)
        if table.has_vectors and rows >= self._settings.vector_index_min_rows and not table.has_vector_index():
            log.info("index: %d rows; building the IVF_RQ vector index", rows)
            table.build_vector_index()

    def status(self) -> dict[str, Any]:
        """What `/v1/index/status` shows."""
        table = self.table
        rows = table.count() if table is not None else 0
        self._metrics.index_rows.set(rows)
        return {
            "state": self.progress.phase,
            "progress": self.progress.as_dict(),
            "rows": rows,
            "pending_canvases": self._queue.pending,
            "table": table.name if table is not None else None,
            "vector_index": table.has_vector_index() if table is not None and table.has_vectors else False,
            "embedding": self._embedding.stats() if self._embedding is not None else {"provider": "none"},
            "prewarm_s": None if self.prewarm_s is None else round(self.prewarm_s, 3),
            "switches": {"prewarm": self._settings.prewarm, "embedding_cache": self._settings.embedding_cache,
                         "time_routing": self._settings.time_routing},
        }

    # ------------------------------------------------------------------------------------ helpers

    def _table(self) -> NodeTable:
        if self.table is None:
            raise SubsystemUnavailableError("index", self.progress.phase, "the semantic index is not open yet")
        return self.table

    def _enter(self, phase: IndexPhase, total: int = 0, unit: str = "") -> None:
        self.progress.enter(phase, total, unit)
        self._publish_progress(force=True)

    def _publish_progress(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_progress_event < _PROGRESS_EVERY_S:
            return
        self._last_progress_event = now
        self._feed.publish("index_progress", None, None, detail=self.progress.as_dict())


def disabled_index_status() -> dict[str, Any]:
    """The status answer when the index is switched off."""
    return {"state": "off", "progress": IndexProgress(phase="off").as_dict(), "rows": 0}
