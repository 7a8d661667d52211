"""The metrics summary and alerts: recent request latencies and the counters, turned into what a person reads.

Prometheus histograms give rates over time to a scraper; the summary answers "how is it doing now" by
itself: latency percentiles over the last requests, error and hit rates, and what each optimisation saved.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, get_args

from canvasd.config import Settings
from canvasd.index.query import SEARCH_MODES
from canvasd.index.time_routing import Route
from canvasd.metrics import EmbeddingSource, Metrics, Optimization, read

_WINDOW = 4096  # most recent requests kept for percentiles
_FILTER_ROUTES: tuple[Route, ...] = tuple(route for route in get_args(Route) if route != "none")
"""The time-range routes of a search that has a time range (prefilter, postfilter)."""


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of an already sorted, non-empty list."""
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


class RequestWindow:
    """Durations and outcomes of the most recent requests (bounded), for percentiles and error rates."""

    def __init__(self, size: int = _WINDOW) -> None:
        self._durations: deque[float] = deque(maxlen=size)
        self._errors: deque[bool] = deque(maxlen=size)
        self._lock = threading.Lock()
        self.total = 0
        self.server_errors = 0
        self.client_errors = 0

    def record(self, seconds: float, status: int) -> None:
        """Remember one answered request."""
        with self._lock:
            self._durations.append(seconds)
            self._errors.append(status >= 500)
            self.total += 1
            if status >= 500:
                self.server_errors += 1
            elif status >= 400:
                self.client_errors += 1

    def stats(self) -> dict[str, Any]:
        """Latency (ms) percentiles and the 5xx rate over the window."""
        with self._lock:
            durations = sorted(self._durations)
            errors = sum(self._errors)
        if not durations:
            return {"count": 0, "error_rate": 0.0, "latency_ms": None}
        ms = [d * 1000 for d in durations]
        return {
            "count": len(ms),
            "error_rate": errors / len(ms),
            "latency_ms": {
                "avg": round(sum(ms) / len(ms), 4),
                "p50": round(percentile(ms, 0.50), 4),
                "p95": round(percentile(ms, 0.95), 4),
                "p99": round(percentile(ms, 0.99), 4),
                "max": round(ms[-1], 4),
            },
        }


@dataclass(frozen=True, slots=True)
class _Reads:
    """The read cache's counters at one moment (or their growth between two)."""

    hits: float
    misses: float
    cold: float  # misses on a canvas's first read since the start: compulsory, no cache can serve them

    def since(self, old: _Reads) -> _Reads:
        return _Reads(self.hits - old.hits, self.misses - old.misses, self.cold - old.cold)

    def hit_rate(self, *, warm: bool) -> tuple[float | None, float]:
        """(hit rate or None without reads, reads); `warm` leaves out the cold misses."""
        reads = self.hits + self.misses - (self.cold if warm else 0.0)
        return (self.hits / reads if reads > 0 else None), reads


@dataclass(frozen=True, slots=True)
class _Snapshot:
    at: float
    requests: int
    reads: _Reads


class SummaryBuilder:
    """Builds `/v1/metrics/summary` and `/v1/metrics/alerts` from the metrics and the request window."""

    def __init__(self, settings: Settings, metrics: Metrics, window: RequestWindow) -> None:
        self.settings = settings
        self.metrics = metrics
        self.window = window
        self.started = time.time()
        self._snapshots: deque[_Snapshot] = deque(maxlen=2)
        self.snapshot()

    def snapshot(self) -> None:
        """Sample the counters (a periodic job calls this) so rates cover the last interval."""
        self._snapshots.append(_Snapshot(time.monotonic(), self.window.total, self._reads()))

    def _reads(self) -> _Reads:
        m = self.metrics
        return _Reads(read(m.read_cache_hits), read(m.read_cache_misses), read(m.read_cache_cold_misses))

    def _per_second(self) -> float:
        """Requests per second since the older sample."""
        old = self._snapshots[0]
        return (self.window.total - old.requests) / max(time.monotonic() - old.at, 1e-9)

    def _hit_rate(self, now: _Reads, *, warm: bool) -> tuple[float | None, float]:
        """(cache hit rate, reads it is drawn from) since the older sample when that saw `alerts.min_requests`
        reads, else over the lifetime. `warm`: of repeat reads only, leaving out each canvas's first read since the
        start, which every fresh daemon must make (the rate a bigger or better cache could change)."""
        recent = now.since(self._snapshots[0].reads).hit_rate(warm=warm)
        if recent[1] >= self.settings.alerts.min_requests:
            return recent
        return now.hit_rate(warm=warm)

    def _fallbacks(self, optimization: Optimization) -> int:
        return int(read(self.metrics.optimization_fallbacks, optimization=optimization))

    def _vectors_found(self, *sources: EmbeddingSource) -> int:
        return int(sum(read(self.metrics.embedding_cache_hits, source=source) for source in sources))

    def _searches(self, route: Route) -> int:
        return int(sum(read(self.metrics.index_searches, mode=mode, route=route) for mode in SEARCH_MODES))

    def summary(self, *, jobs: dict[str, Any] | None = None, job_p95: float | None = None,
                events: dict[str, Any] | None = None) -> dict[str, Any]:
        """The whole summary document."""
        m = self.metrics
        stats = self.window.stats()
        reads = self._reads()
        hit_rate, _ = self._hit_rate(reads, warm=False)
        warm_hit_rate, _ = self._hit_rate(reads, warm=True)
        write_requests = read(m.write_requests)
        physical = read(m.physical_writes)
        s = self.settings
        return {
            "uptime_s": round(time.time() - self.started, 3),
            "requests": {
                "total": self.window.total,
                "per_second": round(self._per_second(), 3),
                "errors": self.window.server_errors,
                "client_errors": self.window.client_errors,
                "error_rate": round(stats["error_rate"], 6),
                "in_flight": int(read(m.http_in_flight)),
                "latency_ms": stats["latency_ms"],
                "window": stats["count"],
            },
            "cache": {
                "hits": int(reads.hits),
                "misses": int(reads.misses),
                "cold_misses": int(reads.cold),
                "hit_rate": None if hit_rate is None else round(hit_rate, 4),
                "warm_hit_rate": None if warm_hit_rate is None else round(warm_hit_rate, 4),
                "entries": int(read(m.read_cache_entries)),
                "bytes": int(read(m.read_cache_bytes)),
            },
            "writes": {
                "requests": int(write_requests),
                "logical_ops": int(read(m.logical_ops)),
                "physical_writes": int(physical),
                "conflicts": int(read(m.write_conflicts)),
                "failures": int(read(m.write_failures)),
            },
            "jobs": {**(jobs or {}), "p95_s": job_p95},
            "events": events or {},
            "optimizations": {
                "read_cache": {"enabled": s.read_cache.enabled,
                               "saved": {"disk_reads": int(reads.hits)}, "fallbacks": self._fallbacks("read_cache")},
                "batch_writer": {"enabled": s.batch_writer.enabled, "leading_edge": s.batch_writer.leading_edge,
                                 "saved": {"physical_writes": max(0, int(write_requests - physical))},
                                 "fallbacks": self._fallbacks("batch_writer")},
                "json_engine": {"enabled": s.json_engine == "orjson", "engine": s.json_engine,
                                "saved": {"fallbacks": self._fallbacks("json_engine")}},
                "fast_http": {"enabled": s.fast_http.enabled},
                "jobs_adaptive": {"enabled": s.jobs.adaptive},
                "index_embedding_cache": {
                    "enabled": s.index.embedding_cache,
                    "saved": {"embeddings": self._vectors_found("memory", "table")}},
                "index_time_routing": {
                    "enabled": s.index.time_routing,
                    "routes": {route: self._searches(route) for route in _FILTER_ROUTES}},
                "index_prewarm": {"enabled": s.index.prewarm},
                "query_vector_cache": {"enabled": s.embedding.query_cache_size > 0,
                                       "saved": {"embeddings": self._vectors_found("query")}},
                "memory_cache": {
                    "enabled": s.memory_cache.enabled,
                    "saved": {"graph_queries": int(read(m.memory_cache_hits))},
                    "misses": int(read(m.memory_cache_misses))},
            },
        }

    def alerts(self, *, job_p95: float | None = None, job_count: int = 0) -> dict[str, Any]:
        """Active alerts: each names the measured value and the configured threshold. Each needs
        `alerts.min_requests` samples: recent requests, repeat reads of the cache, or finished jobs (`job_count`,
        the jobs `job_p95` is drawn from)."""
        a = self.settings.alerts
        stats = self.window.stats()
        hit_rate, reads = self._hit_rate(self._reads(), warm=True)
        active: list[dict[str, Any]] = []
        if stats["count"] >= a.min_requests:
            p95 = stats["latency_ms"]["p95"]
            if p95 > a.latency_p95_ms:
                active.append(_alert("latency_p95", p95, a.latency_p95_ms,
                                     f"request latency p95 is {p95:.1f} ms (threshold {a.latency_p95_ms:g} ms)"))
            if stats["error_rate"] > a.error_rate:
                rate = stats["error_rate"]
                active.append(_alert("error_rate", rate, a.error_rate,
                                     f"{rate:.1%} of recent requests failed with 5xx (threshold {a.error_rate:.1%})"))
        if (self.settings.read_cache.enabled and hit_rate is not None and reads >= a.min_requests
                and hit_rate < a.cache_hit_rate):
            active.append(_alert("cache_hit_rate", hit_rate, a.cache_hit_rate,
                                 f"read-cache hit rate is {hit_rate:.1%} on repeat reads (threshold "
                                 f"{a.cache_hit_rate:.0%}; each canvas's first read since the start is not counted)"))
        if job_p95 is not None and job_count >= a.min_requests and job_p95 > a.job_p95_s:
            active.append(_alert("job_p95", job_p95, a.job_p95_s,
                                 f"job duration p95 is {job_p95:.2f} s (threshold {a.job_p95_s:g} s)"))
        return {"alerts": active, "thresholds": a.model_dump()}


def _alert(name: str, value: float, threshold: float, message: str) -> dict[str, Any]:
    return {"name": name, "message": message, "value": round(value, 6), "threshold": threshold}
