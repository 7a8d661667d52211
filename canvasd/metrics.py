"""Prometheus metrics of canvasd: one registry per daemon (or per engine in tests), passed down."""

from __future__ import annotations

from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

Optimization = Literal["read_cache", "batch_writer", "json_engine"]
"""An optimisation with a plain path to fall back on: the `optimization` label of `optimization_fallbacks`."""

EmbeddingSource = Literal["memory", "table", "query"]
"""Where a vector was found instead of embedded: the `source` label of `embedding_cache_hits`."""

_SAMPLE_SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"),
                    "summary": ("", "_count", "_sum", "_created"), "gauge": ("",), "info": ("_info",)}


def read(metric: Counter | Gauge, **labels: str) -> float:
    """The value of a counter or gauge now: of the series `labels` names (all of the metric's label names, else
    ValueError; 0 until it is first counted), or without labels the sum over every series. Code reads metrics
    through their objects (`read(metrics.read_cache_hits)`), so a misspelt metric is an AttributeError at once."""
    target = metric.labels(**labels) if labels else metric
    return sum(sample.value for family in target.collect() for sample in family.samples
               if sample.name in (family.name, family.name + "_total"))


class Metrics:
    """Every counter canvasd keeps. Components receive this object; nothing registers globally."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.read_cache_hits = Counter("canvasd_read_cache_hits", "Canvas reads served from the cache.", registry=r)
        self.read_cache_misses = Counter("canvasd_read_cache_misses", "Canvas reads that went to disk.", registry=r)
        self.read_cache_cold_misses = Counter(
            "canvasd_read_cache_cold_misses",
            "Misses that were a canvas's first read since the start, which no cache can serve (also counted in "
            "canvasd_read_cache_misses).", registry=r)
        self.read_cache_evictions = Counter(
            "canvasd_read_cache_evictions", "Cache entries dropped to respect max_entries or max_bytes.", registry=r)
        self.read_cache_revalidations = Counter(
            "canvasd_read_cache_revalidations",
            "Cache hits on entries younger than the mtime granularity, confirmed byte for byte.", registry=r)
        self.read_cache_entries = Gauge("canvasd_read_cache_entries", "Canvases held in the read cache.", registry=r)
        self.read_cache_bytes = Gauge("canvasd_read_cache_bytes", "Bytes accounted to the read cache.", registry=r)
        self.disk_reads = Counter("canvasd_canvas_disk_reads", "Canvas files read from disk.", registry=r)
        self.parses = Counter("canvasd_canvas_parses", "Canvas documents parsed from JSON.", registry=r)
        self.logical_ops = Counter(
            "canvasd_canvas_logical_ops", "Write operations requested (patch ops, replaces, deletes).", registry=r)
        self.write_requests = Counter("canvasd_canvas_write_requests", "Write requests submitted.", registry=r)
        self.physical_writes = Counter(
            "canvasd_canvas_physical_writes", "Atomic file replacements (and deletes) performed.", registry=r)
        self.written_bytes = Counter("canvasd_canvas_written_bytes", "Bytes written to canvas files.", registry=r)
        self.write_conflicts = Counter(
            "canvasd_canvas_write_conflicts", "Requests refused because their if-version was stale.", registry=r)
        self.write_failures = Counter(
            "canvasd_canvas_write_failures", "Commits the file system refused (disk full, permissions).", registry=r)
        self.external_edit_retries = Counter(
            "canvasd_canvas_external_edit_retries",
            "Commits redone because another program changed the canvas while it was being written.", registry=r)
        self.parse_retries = Counter(
            "canvasd_canvas_parse_retries",
            "Re-reads of a just-modified canvas that did not parse (another program was mid-write).", registry=r)
        self.commit_seconds = Histogram(
            "canvasd_canvas_commit_seconds", "Time to commit one batch durably (read, apply, write, fsync, rename).",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5), registry=r)
        self.optimization_fallbacks = Counter(
            "canvasd_optimization_fallbacks",
            "Requests served by the plain path because an optimised path raised unexpectedly.",
            ["optimization"], registry=r)
        # HTTP API (server/)
        self.http_requests = Counter(
            "canvasd_http_requests", "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"], registry=r)
        self.http_request_seconds = Histogram(
            "canvasd_http_request_seconds", "Time from request start to the last byte of the answer.",
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
            registry=r)
        self.http_in_flight = Gauge("canvasd_http_requests_in_flight", "HTTP requests being served now.", registry=r)
        self.event_clients = Gauge("canvasd_event_stream_clients", "Clients following /v1/events.", registry=r)
        # Watcher and change feed (watcher.py, events.py)
        self.watcher_raw_events = Counter(
            "canvasd_watcher_raw_events", "File-system events about canvases received from watchdog.", registry=r)
        self.change_events = Counter(
            "canvasd_change_events", "Change events published, by kind and origin.", ["kind", "origin"], registry=r)
        # Job scheduler (jobs/)
        self.job_limit = Gauge("canvasd_jobs_limit", "Jobs allowed to run at once right now.", registry=r)
        self.jobs_running = Gauge("canvasd_jobs_running", "Jobs running now.", registry=r)
        self.jobs_queued = Gauge("canvasd_jobs_queued", "Jobs waiting for a slot.", registry=r)
        self.jobs_finished = Counter(
            "canvasd_jobs_finished", "Jobs finished, by kind and outcome (ok, failed, cancelled, timeout).",
            ["kind", "outcome"], registry=r)
        self.job_seconds = Histogram(
            "canvasd_job_seconds", "Job run time (from start to end, queueing excluded), by kind.", ["kind"],
            buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0, 600.0), registry=r)
        self.job_wait_seconds = Histogram(
            "canvasd_job_wait_seconds", "Time jobs waited for a slot, by priority.", ["priority"],
            buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0), registry=r)
        self.pressure_cpu_percent = Gauge("canvasd_pressure_cpu_percent", "Last CPU use sample.", registry=r)
        self.pressure_memory_percent = Gauge("canvasd_pressure_memory_percent", "Last memory use sample.", registry=r)
        # Agents (agents/)
        self.agent_runs = Counter(
            "canvasd_agent_runs", "Agent runs finished, by agent and state (done, failed, cancelled).",
            ["agent", "state"], registry=r)
        self.agent_run_seconds = Histogram(
            "canvasd_agent_run_seconds", "Agent run time (queueing excluded), by agent.", ["agent"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0), registry=r)
        # Canvases open in Obsidian (watch/open_canvases.py)
        self.proposals = Counter(
            "canvasd_proposals", "Daemon-side writes to leased canvases: applied by the plugin, or written to the "
            "file (refused or unanswered).", ["outcome"], registry=r)
        # Spaced repetition (review/)
        self.review_reviews = Counter(
            "canvasd_review_reviews", "Reviews recorded, by rating and source (colour, rating, score, answer).",
            ["rating", "source"], registry=r)
        self.review_canvas_seconds = Histogram(
            "canvasd_review_canvas_seconds", "Time to build (or complete) a day's review canvas.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0), registry=r)
        self.llm_requests = Counter(
            "canvasd_llm_requests", "Requests to the LLM, by outcome (ok, invalid, failed).", ["outcome"], registry=r)
        # Embeddings (embedding/), shared by the index and the memory graph
        self.embedding_calls = Counter(
            "canvasd_embedding_calls", "Calls to the embedding model, by kind (passages, query).", ["kind"],
            registry=r)
        self.embedded_texts = Counter(
            "canvasd_embedded_texts", "Passages (node texts) the embedding model embedded: cache misses.", registry=r)
        self.embedding_cache_hits = Counter(
            "canvasd_embedding_cache_hits", "Vectors reused instead of embedded, by where they were found "
            "(memory, table, query).", ["source"], registry=r)
        self.embedding_seconds = Histogram(
            "canvasd_embedding_seconds", "Time of one call to the embedding model, by kind.", ["kind"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0), registry=r)
        # Semantic index (index/)
        self.index_rows = Gauge("canvasd_index_rows", "Canvas nodes in the semantic index.", registry=r)
        self.index_pending_canvases = Gauge(
            "canvasd_index_pending_canvases", "Canvases waiting to be (re)indexed.", registry=r)
        self.index_synced_canvases = Counter(
            "canvasd_index_synced_canvases", "Canvas syncs into the index, by outcome (changed, unchanged, "
            "removed, failed).", ["outcome"], registry=r)
        self.index_row_writes = Counter(
            "canvasd_index_row_writes", "Index rows upserted or deleted, by operation.", ["op"], registry=r)
        self.index_searches = Counter(
            "canvasd_index_searches", "Searches answered, by mode and time-range route (none, prefilter, "
            "postfilter).", ["mode", "route"], registry=r)
        self.index_search_seconds = Histogram(
            "canvasd_index_search_seconds", "Search time inside the index (query embedding included), by mode.",
            ["mode"], buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5), registry=r)
        self.index_sync_seconds = Histogram(
            "canvasd_index_sync_seconds", "Time to bring one canvas's rows up to date (embedding included).",
            buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0), registry=r)
        # Memory graph (memory/)
        self.memory_cache_hits = Counter("canvasd_memory_cache_hits", "Memory queries answered from the cache.",
                                         registry=r)
        self.memory_cache_misses = Counter(
            "canvasd_memory_cache_misses", "Memory queries that went to the graph.", registry=r)
        self.memory_cache_invalidations = Counter(
            "canvasd_memory_cache_invalidations", "Cached memory results dropped because their group changed.",
            registry=r)
        self.memory_query_seconds = Histogram(
            "canvasd_memory_query_seconds", "Memory query time, by kind (search, timeline, stats) and cached.",
            ["kind", "cached"], buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25, 0.5, 1.0), registry=r)
        self.memory_synced_canvases = Counter(
            "canvasd_memory_synced_canvases", "Canvas syncs into the memory graph, by outcome.", ["outcome"],
            registry=r)
        self.memory_sync_seconds = Histogram(
            "canvasd_memory_sync_seconds", "Time to bring one canvas's part of the graph up to date.",
            buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0), registry=r)

    def fallback(self, optimization: Optimization) -> None:
        """Count one request served by the plain path because `optimization`'s path raised unexpectedly."""
        self.optimization_fallbacks.labels(optimization).inc()

    def value(self, name: str, **labels: str) -> float:
        """Current value of a sample by its exposed name (e.g. `canvasd_read_cache_hits_total`), for tests and
        benchmarks (canvasd itself uses `read`). 0 for a series not counted yet; a name no metric of the registry
        exposes raises KeyError, so a misspelt name fails instead of reading 0."""
        value = self.registry.get_sample_value(name, labels)
        if value is not None:
            return value
        if not any(name == family.name + suffix for family in self.registry.collect()
                   for suffix in _SAMPLE_SUFFIXES.get(family.type, ("",))):
            raise KeyError(f"no metric exposes a sample named {name!r}")
        return 0.0
