"""The generational TTL query cache of the memory graph (pure: no graph server)."""

from __future__ import annotations

import threading

from canvasd.config import MemoryCacheSettings
from canvasd.memory.query_cache import (
    ALL,
    QueryCache,
    group_dependency,
    normalise_query,
    query_key,
    vault_dependency,
    written,
)
from canvasd.metrics import Metrics


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(clock: Clock | None = None, **overrides) -> tuple[QueryCache, Metrics]:
    metrics = Metrics()
    return QueryCache(MemoryCacheSettings(**overrides), metrics, clock=clock or Clock()), metrics


def compute_counter():
    calls = []

    def compute(value):
        def run():
            calls.append(value)
            return value
        return run

    return calls, compute


def test_keys_cover_every_parameter_and_normalised_text():
    assert normalise_query("  Limits \n and   CONTINUITY ") == "limits and continuity"
    base = query_key("search", q="limits", vault="v", limit=10, current_only=True)
    assert base == query_key("search", current_only=True, limit=10, vault="v", q="limits")
    assert base != query_key("search", q="limits", vault="v", limit=11, current_only=True)
    assert base != query_key("search", q="limits", vault="w", limit=10, current_only=True)
    assert base != query_key("search", q="limits", vault="v", limit=10, current_only=False)
    assert base != query_key("timeline", q="limits", vault="v", limit=10, current_only=True)


def test_write_to_a_group_drops_its_entries_and_keeps_other_groups():
    cache, metrics = make()
    calls, compute = compute_counter()
    a, b = ("group", "cv_a"), ("group", "cv_b")
    cache.get_or_compute("ka", (a,), compute("A"), len)
    cache.get_or_compute("kb", (b,), compute("B"), len)
    cache.get_or_compute("kv", (vault_dependency("v"),), compute("V"), len)
    cache.get_or_compute("kw", (vault_dependency("w"),), compute("W"), len)
    cache.get_or_compute("kall", (ALL,), compute("ALL"), len)
    assert calls == ["A", "B", "V", "W", "ALL"]

    assert cache.invalidate(written("cv_b", "v")) == 3  # its group, its vault, the whole graph
    assert metrics.value("canvasd_memory_cache_invalidations_total") == 3
    assert cache.get_or_compute("ka", (a,), compute("A2"), len) == ("A", True)  # canvas A survived
    assert cache.get_or_compute("kw", (vault_dependency("w"),), compute("W2"), len) == ("W", True)
    assert cache.get_or_compute("kb", (b,), compute("B2"), len) == ("B2", False)
    assert cache.get_or_compute("kv", (vault_dependency("v"),), compute("V2"), len) == ("V2", False)
    assert cache.get_or_compute("kall", (ALL,), compute("ALL2"), len) == ("ALL2", False)
    assert metrics.value("canvasd_memory_cache_hits_total") == 2
    assert metrics.value("canvasd_memory_cache_misses_total") == 8


def test_result_computed_during_a_write_is_not_stored():
    cache, _ = make()
    dep = group_dependency("cv_a")

    def slow():
        cache.invalidate(written("cv_a", "v"))  # a write lands while the query runs
        return "stale"

    assert cache.get_or_compute("k", (dep,), slow, len) == ("stale", False)
    assert cache.get("k") == (False, None)


def test_entries_expire_after_the_ttl():
    clock = Clock()
    cache, _ = make(clock, ttl_seconds=600)
    cache.get_or_compute("k", (ALL,), lambda: "x", len)
    clock.now += 599
    assert cache.get("k") == (True, "x")
    clock.now += 2
    assert cache.get("k") == (False, None)
    assert cache.stats()["entries"] == 0


def test_bounded_by_entries_and_bytes_least_recently_used_first():
    cache, _ = make(max_entries=2, max_bytes=1024)
    for key in ("a", "b"):
        cache.get_or_compute(key, (ALL,), lambda key=key: key, lambda _: 100)
    cache.get("a")  # b is now the least recently used
    cache.get_or_compute("c", (ALL,), lambda: "c", lambda _: 100)
    assert [cache.get(k)[0] for k in ("a", "b", "c")] == [True, False, True]
    cache.get_or_compute("big", (ALL,), lambda: "big", lambda _: 900)
    assert cache.stats()["bytes"] <= 1024
    assert cache.get("big")[0] and not cache.get("a")[0]
    cache.get_or_compute("huge", (ALL,), lambda: "huge", lambda _: 5000)  # larger than the whole cache
    assert not cache.get("huge")[0] and cache.get("big")[0]


def test_disabled_cache_always_computes():
    cache, metrics = make(enabled=False)
    calls, compute = compute_counter()
    assert cache.get_or_compute("k", (ALL,), compute(1), lambda _: 8) == (1, False)
    assert cache.get_or_compute("k", (ALL,), compute(2), lambda _: 8) == (2, False)
    assert calls == [1, 2]
    assert metrics.value("canvasd_memory_cache_hits_total") == 0


def test_concurrent_readers_and_writers_keep_the_books_straight():
    cache, _ = make(max_entries=50)
    deps = [group_dependency(f"g{i}") for i in range(8)]

    def reader(n: int) -> None:
        for i in range(300):
            dep = deps[(n + i) % 8]
            cache.get_or_compute(f"{dep[1]}:{i % 20}", (dep,), lambda: "v", lambda _: 10)

    def writer() -> None:
        for i in range(300):
            cache.invalidate((deps[i % 8],))

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(4)] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = cache.stats()
    assert stats["entries"] <= 50 and stats["bytes"] == 10 * stats["entries"]
    cache.clear()
    assert cache.stats()["entries"] == 0 and cache.stats()["bytes"] == 0


def test_peek_counts_only_hits_never_waits_and_sees_what_get_sees():
    clock = Clock()
    cache, metrics = make(clock, ttl_seconds=600)

    def counts() -> tuple[float, float]:
        return (metrics.value("canvasd_memory_cache_hits_total"), metrics.value("canvasd_memory_cache_misses_total"))

    assert cache.peek("k") == (False, None) and counts() == (0, 0)  # a miss is left for `get` to count
    cache.get_or_compute("k", (group_dependency("cv_a"),), lambda: "x", len)
    assert counts() == (0, 1)
    assert cache.peek("k") == (True, "x") and counts() == (1, 1)

    cache.invalidate(written("cv_b", "v"))  # a write to another canvas: still there
    assert cache.peek("k") == (True, "x")
    cache.invalidate(written("cv_a", "v"))  # its own canvas: gone, exactly as for `get`
    assert cache.peek("k") == (False, None) and cache.get("k") == (False, None)

    cache.get_or_compute("k", (ALL,), lambda: "y", len)
    with cache._lock:  # another thread inside the cache: peek reports nothing rather than wait
        assert cache.peek("k") == (False, None)
    assert cache.peek("k") == (True, "y")
    clock.now += 601
    assert cache.peek("k") == (False, None)
    assert cache.stats()["entries"] == 1  # the expired entry is dropped by the `get` that follows
    assert cache.get("k") == (False, None) and cache.stats()["entries"] == 0
