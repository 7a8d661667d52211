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
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from canvasd.canvas.learning import LearningStates
from canvasd.errors import IndexBusyError
from canvasd.index.canvas_sync import CanvasSyncPlan, apply_canvas_sync, plan_canvas_sync
from canvasd.index.query import SearchMode, SearchQuery
from canvasd.index.records import canvas_key
from canvasd.index.table import CanvasState
from canvasd.jobs.periodic import PeriodicJob
from canvasd.jobs.scheduler import Priority
from canvasd.subsystem import Phase
from canvasd.watch.follower import Absent, CanvasKey, FeedFollower, FileStamp, Progress

if TYPE_CHECKING:
    from collections.abc import Mapping

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
    from canvasd.watch.feed import ChangeFeed

log = logging.getLogger(__name__)

_OPTIMIZE_AFTER_ROWS = 1000  # a start that wrote this many rows compacts the table right away


class SemanticIndex(FeedFollower):
    """Every canvas node in a LanceDB table, searchable by text and meaning; see the module docstring."""

    name = "index"
    title = "the semantic index"
    progress_event = "index_progress"

    def __init__(self, settings: Settings, metrics: Metrics, engine: CanvasEngine, vaults: VaultRegistry,
                 scheduler: JobScheduler, feed: ChangeFeed, embedding: EmbeddingService | None) -> None:
        super().__init__(engine, vaults, scheduler, feed, enabled=settings.index.enabled)
        self._settings = settings.index
        self._folder = settings.daemon.data_dir / "index"
        self._batch_size = settings.embedding.batch_size
        self._metrics = metrics
        self._embedding = embedding if embedding is not None and embedding.available else None
        self._states = LearningStates(settings.learning_states)
        self.table: NodeTable | None = None
        self._search: NodeSearch | None = None
        self._rebuilding: asyncio.Task[None] | None = None
        self._rows_written = 0
        self.prewarm_s: float | None = None

    # ------------------------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Open the tables (imports LanceDB, loads the embedder) and prewarm them."""
        await self._scheduler.run_blocking("index_open", self._open, Priority.NORMAL)
        if self._settings.prewarm:
            await self._prewarm()

    async def after_ready(self) -> None:
        """Drop other models' tables; compact at once after a large first indexing."""
        assert self.table is not None
        dropped = await self._scheduler.run_blocking("index_cleanup", self.table.drop_other_tables,
                                                     Priority.MAINTENANCE)
        if dropped:
            log.info("index: dropped the tables of other models: %s", ", ".join(dropped))
        if self._rows_written >= _OPTIMIZE_AFTER_ROWS:
            await self._scheduler.run_blocking("index_optimize", self.maintain, Priority.MAINTENANCE)

    async def release(self) -> None:
        """Stop a rebuild in progress; rows already written stay, the next start continues."""
        if self._rebuilding is not None:
            self._rebuilding.cancel()

    def periodic_jobs(self) -> list[PeriodicJob]:
        """Compaction and index upkeep."""
        return [PeriodicJob("index_optimize", self._settings.optimize_interval_s, self.maintain, blocking=True)]

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
        self.enter(Phase.STARTING, "prewarming", len(names) + 1, "indexes")
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

    def known_canvases(self) -> Mapping[CanvasKey, FileStamp | None]:
        """Every indexed canvas with the file stamp it was indexed at."""
        known: dict[CanvasKey, FileStamp | None] = {}
        for key, state in self._table().canvas_states().items():
            vault, _, path = key.partition("/")
            known[(vault, path)] = (state.mtime_ns, state.size)
        return known

    # ------------------------------------------------------------------------------------ syncing

    def synced(self, outcome: str, seconds: float) -> None:
        """Count the sync."""
        self._metrics.index_synced_canvases.labels(outcome).inc()
        self._metrics.index_sync_seconds.observe(seconds)
        self._metrics.index_pending_canvases.set(self.pending)

    async def sync(self, vault: str, path: str, priority: Priority) -> str:
        """Diff one canvas against the table, embed what is new, write the rows."""
        plan: CanvasSyncPlan | None = await self._scheduler.run_blocking(
            "index_plan", lambda: self._plan(vault, path), priority)
        if plan is None:
            return "removed"
        if plan.unchanged:
            await self._scheduler.run_blocking("index_write", lambda: self._write(plan, {}), priority)
            return "unchanged"
        embedded = await self._embed(plan, priority)
        written, rows = await self._scheduler.run_blocking("index_write", lambda: self._write(plan, embedded),
                                                           priority)
        self._note_written(written, len(plan.deletes), rows)
        return "changed"

    def _plan(self, vault_name: str, path: str) -> CanvasSyncPlan | None:
        """Diff one canvas against the table (None: nothing to write; a gone canvas's rows are deleted)."""
        table = self._table()
        snapshot = self.read_canvas(vault_name, path)
        if snapshot is Absent.AWAY:
            return None  # the vault folder is away: keep its rows until it comes back or is removed
        if snapshot is Absent.GONE:
            table.delete_canvas(canvas_key(vault_name, path))
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
        self.require_answering()
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
        self.require_answering()
        search = self._search
        started = time.perf_counter()
        if search is None:
            return self._answer([], "vector", "none", started)
        hits = await asyncio.to_thread(search.related, vault, path, node_id, limit)
        return None if hits is None else self._answer(hits, "vector", "none", started)

    def _answer(self, hits: list[SearchHit], mode: str, route: str, started: float) -> dict[str, Any]:
        return {"results": [hit.as_dict() for hit in hits], "mode": mode, "route": route,
                "partial": not self.phase.settled, "index": self.progress.as_dict(),
                "took_ms": round((time.perf_counter() - started) * 1000, 3)}

    # ------------------------------------------------------------------------------------ control

    def rebuild(self) -> None:
        """Drop the tables and index every canvas again, in the background (the status shows progress)."""
        if self.phase is Phase.OFF:
            raise self.unavailable()
        if not self.phase.settled or self._closed:
            raise IndexBusyError(self.phase.value)
        self.progress = Progress()
        self._rebuilding = asyncio.ensure_future(self._rebuild())

    async def _rebuild(self) -> None:
        self._queue.cancel()
        self._queue.clear()
        if self.table is None:
            await self.start()
            return
        try:
            self.enter(Phase.STARTING, "resetting")
            await self._scheduler.run_blocking("index_reset", self.table.reset, Priority.NORMAL)
            self._rows_written = 0
            await self.reconcile()
            self.enter(Phase.READY, "ready")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("rebuilding the semantic index failed")
            self.progress.fail(str(exc))
            self._publish_progress(force=True)

    def maintain(self) -> None:
        """The periodic job: compact and fold new rows into the indexes; build the vector index once large."""
        table = self.table
        if table is None or not self.phase.settled:
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
            **super().status(),
            "rows": rows,
            "table": table.name if table is not None else None,
            "vector_index": table.has_vector_index() if table is not None and table.has_vectors else False,
            "embedding": self._embedding.stats() if self._embedding is not None else {"provider": "none"},
            "prewarm_s": None if self.prewarm_s is None else round(self.prewarm_s, 3),
            "switches": {"prewarm": self._settings.prewarm, "embedding_cache": self._settings.embedding_cache,
                         "time_routing": self._settings.time_routing},
        }

    def _table(self) -> NodeTable:
        if self.table is None:
            raise self.unavailable("the semantic index is not open yet")
        return self.table
