"""The memory query cache: results by query and parameters, dropped exactly when the data under them changes.

Every result is stored with the dependencies it read: one canvas (`("group", group_id)`), every canvas of a
vault (`("vault", name)`) or the whole graph (`("all",)`). A write to a canvas bumps the generation of its
group, its vault and `all`, and drops the entries that depend on any of them, so a query about canvas A
survives a write to canvas B. A result computed while a write ran is not stored (its generations moved).
Entries also expire after `ttl_seconds`, and the cache is bounded by entry count and estimated bytes (LRU).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
import xxhash

from canvasd.config import MemoryCacheSettings
from canvasd.metrics import Metrics

Dependency = tuple[str, ...]
"""What a cached result read: ("group", group_id), ("vault", vault name) or ("all",)."""

ALL: Dependency = ("all",)


def group_dependency(group_id: str) -> Dependency:
    """The dependency of a result that read one canvas."""
    return ("group", group_id)


def vault_dependency(vault: str) -> Dependency:
    """The dependency of a result that read every canvas of a vault."""
    return ("vault", vault)


def written(group_id: str, vault: str) -> tuple[Dependency, ...]:
    """Everything a write to one canvas invalidates."""
    return group_dependency(group_id), vault_dependency(vault), ALL


def normalise_query(text: str) -> str:
    """The query as cached and as searched: whitespace collapsed, case folded."""
    return " ".join(text.split()).casefold()


def query_key(kind: str, **params: Any) -> str:
    """A cache key: hash of the query kind and every parameter (values must be JSON-serialisable)."""
    payload = orjson.dumps([kind, sorted(params.items())], default=str)
    return xxhash.xxh3_128_hexdigest(payload)


@dataclass(slots=True)
class _Entry:
    value: Any
    size: int
    expires: float
    deps: tuple[Dependency, ...]


class QueryCache:
    """A thread-safe generational TTL cache of memory query results (see the module docstring)."""

    def __init__(self, settings: MemoryCacheSettings, metrics: Metrics,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`settings`: the `memory_cache` section; `clock`: seconds, monotonic (tests pass their own)."""
        self.enabled = settings.enabled
        self.ttl = settings.ttl_seconds
        self.max_entries = settings.max_entries
        self.max_bytes = settings.max_bytes
        self._metrics = metrics
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._by_dep: dict[Dependency, set[str]] = {}
        self._generations: dict[Dependency, int] = {}
        self._bytes = 0

    def snapshot(self, deps: Iterable[Dependency]) -> tuple[int, ...]:
        """The current generations of `deps` (take it before computing a result, pass it to `put`)."""
        with self._lock:
            return tuple(self._generations.get(dep, 0) for dep in deps)

    def get(self, key: str) -> tuple[bool, Any]:
        """(True, value) when a live entry is cached, else (False, None); counts a hit or a miss."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.expires <= self._clock():
                self._drop(key)
                entry = None
            if entry is None:
                self._metrics.memory_cache_misses.inc()
                return False, None
            self._entries.move_to_end(key)
            self._metrics.memory_cache_hits.inc()
            return True, entry.value

    def peek(self, key: str) -> tuple[bool, Any]:
        """Like `get`, but never waits and counts only hits (safe on an event loop).

        (False, None) when the entry is absent or expired, or when another thread holds the lock this instant;
        the caller then computes through `get_or_compute`, whose `get` counts the miss (and drops the expired
        entry), so each lookup is counted once.
        """
        if not self._lock.acquire(blocking=False):
            return False, None
        try:
            entry = self._entries.get(key)
            if entry is None or entry.expires <= self._clock():
                return False, None
            self._entries.move_to_end(key)
            self._metrics.memory_cache_hits.inc()
            return True, entry.value
        finally:
            self._lock.release()

    def put(self, key: str, value: Any, deps: tuple[Dependency, ...], snapshot: tuple[int, ...], size: int) -> bool:
        """Store `value` unless a dependency changed since `snapshot` or it exceeds the byte bound."""
        if not self.enabled or size > self.max_bytes:
            return False
        with self._lock:
            if tuple(self._generations.get(dep, 0) for dep in deps) != snapshot:
                return False
            if key in self._entries:
                self._drop(key)
            self._entries[key] = _Entry(value, size, self._clock() + self.ttl, deps)
            self._bytes += size
            for dep in deps:
                self._by_dep.setdefault(dep, set()).add(key)
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))
            return True

    def get_or_compute[T](self, key: str, deps: tuple[Dependency, ...], compute: Callable[[], T],
                          size_of: Callable[[T], int], *, fresh: bool = False) -> tuple[T, bool]:
        """The cached value of `key`, or `compute()` stored under `deps`; the flag says it was cached.

        `fresh`: compute even when cached (the new value replaces the cached one).
        """
        if not self.enabled:
            return compute(), False
        if not fresh:
            found, value = self.get(key)
            if found:
                return value, True
        snapshot = self.snapshot(deps)
        result = compute()
        self.put(key, result, deps, snapshot, size_of(result))
        return result, False

    def invalidate(self, deps: Iterable[Dependency]) -> int:
        """Bump the generations of `deps` and drop every entry that read one of them; returns how many."""
        dropped = 0
        with self._lock:
            for dep in deps:
                self._generations[dep] = self._generations.get(dep, 0) + 1
                for key in list(self._by_dep.get(dep, ())):
                    if key in self._entries:
                        self._drop(key)
                        dropped += 1
        if dropped:
            self._metrics.memory_cache_invalidations.inc(dropped)
        return dropped

    def clear(self) -> None:
        """Forget every entry (generations keep counting)."""
        with self._lock:
            self._entries.clear()
            self._by_dep.clear()
            self._bytes = 0

    def stats(self) -> dict[str, Any]:
        """Entries and estimated bytes held, and the bounds."""
        with self._lock:
            return {"enabled": self.enabled, "entries": len(self._entries), "bytes": self._bytes,
                    "max_entries": self.max_entries, "max_bytes": self.max_bytes, "ttl_seconds": self.ttl}

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key)
        self._bytes -= entry.size
        for dep in entry.deps:
            keys = self._by_dep.get(dep)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_dep[dep]
