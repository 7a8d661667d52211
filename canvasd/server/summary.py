"""The metrics summary and alerts: recent request latencies and the counters, turned into what a person reads.

Prometheus histograms give rates over time to a scraper; the summary answers "how is it doing now" by
itself: latency percentiles over the last requests, error and hit rates, and what each optimisation saved.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from canvasd.config import Settings
from canvasd.metrics import Metrics

_WINDOW = 4096  # most recent requests kept for percentiles


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
class _Snapshot:
    at: float
    requests: int
    hits: float
    misses: float


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
        value = self.metrics.value
        self._snapshots.append(_Snapshot(time.monotonic(), self.window.total,
                                         value("canvasd_read_cache_hits_total"),
                                         value("canvasd_read_cache_misses_total")))

    def _rates(self) -> tuple[float, float | None]:
        """Requests per second and cache hit rate since the older sample (falls back to lifetime)."""
        old = self._snapshots[0]
        value = self.metrics.value
        hits = value("canvasd_read_cache_hits_total")
        misses = value("canvasd_read_cache_misses_total")
        elapsed = max(time.monotonic() - old.at, 1e-9)
        per_second = (self.window.total - old.requests) / elapsed
        recent_reads = (hits - old.hits) + (misses - old.misses)
        if recent_reads >= self.settings.alerts.min_requests:
            return per_second, (hits - old.hits) / recent_reads
        total_reads = hits + misses
        return per_second, (hits / total_reads if total_reads else None)

    def summary(self, *, jobs: dict[str, Any] | None = None, job_p95: float | None = None,
                events: dict[str, Any] | None = None) -> dict[str, Any]:
        """The whole summary document."""
        value = self.metrics.value
        stats = self.window.stats()
        per_second, hit_rate = self._rates()
        write_requests = value("canvasd_canvas_write_requests_total")
        physical = value("canvasd_canvas_physical_writes_total")
        hits = value("canvasd_read_cache_hits_total")
        s = self.settings
        return {
            "uptime_s": round(time.time() - self.started, 3),
            "requests": {
                "total": self.window.total,
                "per_second": round(per_second, 3),
                "errors": self.window.server_errors,
                "client_errors": self.window.client_errors,
                "error_rate": round(stats["error_rate"], 6),
                "in_flight": int(value("canvasd_http_requests_in_flight")),
                "latency_ms": stats["latency_ms"],
                "window": stats["count"],
            },
            "cache": {
                "hits": int(hits),
                "misses": int(value("canvasd_read_cache_misses_total")),
                "hit_rate": None if hit_rate is None else round(hit_rate, 4),
                "entries": int(value("canvasd_read_cache_entries")),
                "bytes": int(value("canvasd_read_cache_bytes")),
            },
            "writes": {
                "requests": int(write_requests),
                "logical_ops": int(value("canvasd_canvas_logical_ops_total")),
                "physical_writes": int(physical),
                "conflicts": int(value("canvasd_canvas_write_conflicts_total")),
                "failures": int(value("canvasd_canvas_write_failures_total")),
            },
            "jobs": {**(jobs or {}), "p95_s": job_p95},
            "events": events or {},
            "optimizations": {
                "read_cache": {"enabled": s.read_cache.enabled,
                               "saved": {"disk_reads": int(hits)}},
                "batch_writer": {"enabled": s.batch_writer.enabled,
                                 "saved": {"physical_writes": max(0, int(write_requests - physical))}},
                "json_engine": {"enabled": s.json_engine == "orjson", "engine": s.json_engine,
                                "saved": {"fallbacks": int(value("canvasd_optimization_fallbacks_total",
                                                                 optimization="orjson"))}},
                "fast_http": {"enabled": s.fast_http.enabled},
                "jobs_adaptive": {"enabled": s.jobs.adaptive},
                "index_embedding_cache": {
                    "enabled": s.index.embedding_cache,
                    "saved": {"embeddings": int(sum(value("canvasd_embedding_cache_hits_total", source=src)
                                                    for src in ("memory", "table")))}},
                "index_time_routing": {
                    "enabled": s.index.time_routing,
                    "routes": {route: int(sum(value("canvasd_index_searches_total", mode=mode, route=route)
                                              for mode in ("fts", "vector", "hybrid")))
                               for route in ("prefilter", "postfilter")}},
                "index_prewarm": {"enabled": s.index.prewarm},
                "query_vector_cache": {"enabled": s.embedding.query_cache_size > 0,
                                       "saved": {"embeddings": int(value("canvasd_embedding_cache_hits_total",
                                                                         source="query"))}},
                "memory_cache": {
                    "enabled": s.memory_cache.enabled,
                    "saved": {"graph_queries": int(value("canvasd_memory_cache_hits_total"))},
                    "misses": int(value("canvasd_memory_cache_misses_total"))},
            },
        }

    def alerts(self, *, job_p95: float | None = None) -> dict[str, Any]:
        """Active alerts: each names the measured value and the configured threshold."""
        a = self.settings.alerts
        stats = self.window.stats()
        _, hit_rate = self._rates()
        reads = self.metrics.value("canvasd_read_cache_hits_total") + self.metrics.value(
            "canvasd_read_cache_misses_total")
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
                                 f"read-cache hit rate is {hit_rate:.1%} (threshold {a.cache_hit_rate:.0%})"))
        if job_p95 is not None and job_p95 > a.job_p95_s:
            active.append(_alert("job_p95", job_p95, a.job_p95_s,
                                 f"job duration p95 is {job_p95:.2f} s (threshold {a.job_p95_s:g} s)"))
        return {"alerts": active, "thresholds": a.model_dump()}


def _alert(name: str, value: float, threshold: float, message: str) -> dict[str, Any]:
    return {"name": name, "message": message, "value": round(value, 6), "threshold": threshold}
