"""Canvas -> memory graph mapping and sync planning (pure: no graph server)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from canvasd.canvas.learning import UNMARKED, LearningStates
from canvasd.config import DEFAULT_LEARNING_STATES
from canvasd.memory.mapping import (
    NAME_MAX,
    RELATION_KIND,
    STATE_KIND,
    CanvasGroup,
    entity_uuid,
    map_canvas,
    node_name,
    relation_name,
)
from canvasd.memory.sync_plan import StoredEntity, StoredFact, StoredGroup, plan_removal, plan_sync
from tests.support.canvas_factory import learning_doc
from tests.support.corpus import CORPUS_REASON, INVALID_CORPUS, corpus_files

STATES = LearningStates(DEFAULT_LEARNING_STATES)
SAFE_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _stored(graph, *, at: datetime) -> StoredGroup:
    """What the graph would hold right after syncing `graph` at `at` (as a store would read it back)."""
    group = StoredGroup()
    for e in graph.entities.values():
        group.entities[e.uuid] = StoredEntity(e.uuid, e.node_id, e.node_type, e.name, e.summary, e.state, e.color,
                                              e.labels, False, at)
    for f in graph.facts.values():
        group.open_facts.append(StoredFact(f"u-{f.key}", f.key, f.identity, f.name, f.fact, f.source_uuid,
                                           f.target_uuid, at, at))
    return group


def test_uuids_and_group_ids_are_stable_values():
    # Fixed values: a change here would orphan every graph already on disk.
    first = entity_uuid("v", "Math/limits.canvas", "n1")
    assert first == "72503101-542d-5355-8049-5f355bc3464e"
    assert first != entity_uuid("v", "Math/limits2.canvas", "n1") != entity_uuid("w", "Math/limits.canvas", "n1")
    group = CanvasGroup("v", "Math/limits.canvas")
    assert group.group_id == "cv_496b4c39ef97f34e"
    assert group.vault_label == "V_f7042be43fb80714"
    assert SAFE_LABEL.match(group.vault_label) and SAFE_LABEL.match(group.live_label)


@pytest.mark.skipif(not corpus_files(), reason=CORPUS_REASON)
@pytest.mark.parametrize("path", [p for p in corpus_files() if p.name not in INVALID_CORPUS], ids=lambda p: p.name)
def test_every_corpus_node_and_edge_is_mapped(path):
    document = json.loads(path.read_text("utf-8-sig"))
    graph = map_canvas("corpus", path.name, document, STATES)
    again = map_canvas("corpus", path.name, json.loads(path.read_text("utf-8-sig")), STATES)

    nodes = {n["id"]: n for n in document.get("nodes", []) if isinstance(n, dict) and isinstance(n.get("id"), str)}
    assert {e.node_id for e in graph.entities.values()} == set(nodes)
    assert set(graph.entities) == set(again.entities)  # same uuids on every run
    assert graph.fingerprint() == again.fingerprint()
    edges = {e["id"] for e in document.get("edges", [])
             if isinstance(e, dict) and e.get("fromNode") in nodes and e.get("toNode") in nodes}
    relations = [f for f in graph.facts.values() if f.kind == RELATION_KIND]
    assert {f.attributes["edge_id"] for f in relations} == edges
    marked = {i for i, n in nodes.items() if STATES.state_of(n) != UNMARKED}
    assert {f.attributes["node_id"] for f in graph.facts.values() if f.kind == STATE_KIND} == marked
    for entity in graph.entities.values():
        assert entity.name and len(entity.name) <= NAME_MAX
        assert entity.text
        assert all(SAFE_LABEL.match(label) for label in entity.labels)


def test_learning_canvas_maps_names_states_and_relations():
    graph = map_canvas("v", "calc.canvas", learning_doc(6), STATES)
    by_node = {e.node_id: e for e in graph.entities.values()}
    assert by_node[f"{0:016x}"].name == "极限的定义"  # first line without its Markdown heading mark
    assert by_node[f"{0:016x}"].state == "not_understood"
    assert "State_not_understood" in by_node[f"{0:016x}"].labels and "TextNode" in by_node[f"{0:016x}"].labels
    assert by_node["f1"].name == "limits#定义"
    assert by_node["g1"].name == "微积分 Calculus"
    facts = {f.key: f for f in graph.facts.values()}
    assert facts[f"state:{0:016x}"].fact == "极限的定义 is not understood"
    assert facts[f"edge:e{0:015x}"].fact == "极限的定义 leads to 推出 导数是变化率"
    assert facts[f"edge:e{0:015x}"].name == "LEADS_TO_推出"
    assert facts["edge:e-arrow"].fact == "limits#定义 is linked to https://jsoncanvas.org/spec/1.0/"


def test_arrow_on_the_from_end_points_the_relation_backwards():
    doc = {"nodes": [{"id": "a", "type": "text", "text": "A"}, {"id": "b", "type": "text", "text": "B"}],
           "edges": [{"id": "e", "fromNode": "a", "toNode": "b", "fromEnd": "arrow", "toEnd": "none",
                      "label": "explains"}]}
    fact = map_canvas("v", "c.canvas", doc, STATES).facts["edge:e"]
    assert fact.fact == "B explains A"
    assert fact.source_uuid == entity_uuid("v", "c.canvas", "b")


def test_names_and_relation_types():
    assert node_name({"type": "text"}, "\n\n  - [ ] **Task** one\nmore") == "**Task** one"
    assert node_name({"type": "text", "id": "x"}, "") == "text card x"
    assert len(node_name({"type": "text"}, "w" * 500)) == NAME_MAX
    assert relation_name("  is part of! ") == "IS_PART_OF"
    assert relation_name("") == "LINKED_TO"


def test_unchanged_canvas_plans_nothing_and_moves_do_not_count():
    doc = learning_doc(6)
    graph = map_canvas("v", "calc.canvas", doc, STATES)
    stored = _stored(graph, at=T0)
    for node in doc["nodes"]:
        node["x"] += 40
    moved = map_canvas("v", "calc.canvas", doc, STATES)
    assert moved.fingerprint() == graph.fingerprint()
    assert plan_sync(moved, stored, at=T0 + timedelta(hours=1), now=T0 + timedelta(hours=1)).empty


def test_colour_change_closes_one_state_fact_and_opens_another():
    doc = learning_doc(6)
    before = map_canvas("v", "calc.canvas", doc, STATES)
    stored = _stored(before, at=T0)
    doc["nodes"][0]["color"] = "4"  # red -> green
    after = map_canvas("v", "calc.canvas", doc, STATES)
    t1 = T0 + timedelta(days=2)
    plan = plan_sync(after, stored, at=t1, now=t1)
    assert [c.uuid for c in plan.close] == [f"u-state:{0:016x}"]
    assert plan.close[0].invalid_at == t1
    assert [(f.spec.kind, f.spec.identity) for f in plan.open] == [(STATE_KIND, "mastered")]
    assert [e.node_id for e in plan.upsert] == [f"{0:016x}"]
    assert plan.drop_labels == {entity_uuid("v", "calc.canvas", f"{0:016x}"): frozenset({"State_not_understood"})}
    # An edge's wording changes with the node's name, but it stays the same fact.
    assert plan.rewrite == []


def test_rename_rewrites_open_facts_in_place():
    doc = learning_doc(6)
    stored = _stored(map_canvas("v", "calc.canvas", doc, STATES), at=T0)
    doc["nodes"][0]["text"] = "# Limits (renamed)\nbody"
    plan = plan_sync(map_canvas("v", "calc.canvas", doc, STATES), stored, at=T0, now=T0)
    assert plan.open == [] and plan.close == []
    rewritten = {old.key: spec.fact for old, spec in plan.rewrite}
    assert rewritten == {f"state:{0:016x}": "Limits (renamed) is not understood",
                         f"edge:e{0:015x}": "Limits (renamed) leads to 推出 导数是变化率"}


def test_removed_node_and_edge_close_their_facts_and_retire_the_entity():
    doc = learning_doc(6)
    stored = _stored(map_canvas("v", "calc.canvas", doc, STATES), at=T0)
    gone = doc["nodes"].pop(0)
    doc["edges"] = [e for e in doc["edges"] if gone["id"] not in (e["fromNode"], e["toNode"])]
    t1 = T0 + timedelta(minutes=5)
    plan = plan_sync(map_canvas("v", "calc.canvas", doc, STATES), stored, at=t1, now=t1)
    uuid = entity_uuid("v", "calc.canvas", gone["id"])
    assert set(plan.retire) == {uuid}
    assert "Live" in plan.retire[uuid] and all(label.startswith("Live") for label in plan.retire[uuid])
    assert {c.uuid for c in plan.close} == {f"u-state:{gone['id']}", f"u-edge:e{0:015x}"}
    assert plan.open == [] and plan.upsert == []


def test_closing_never_predates_the_fact():
    doc = learning_doc(2)
    stored = _stored(map_canvas("v", "c.canvas", doc, STATES), at=T0)
    plan = plan_removal(CanvasGroup("v", "c.canvas"), stored, at=T0 - timedelta(days=1), now=T0)
    assert plan.close and all(c.invalid_at == T0 for c in plan.close)


def test_duplicate_open_facts_are_closed_but_one():
    doc = learning_doc(2)
    graph = map_canvas("v", "c.canvas", doc, STATES)
    stored = _stored(graph, at=T0)
    extra = stored.open_facts[0]
    stored.open_facts.append(StoredFact("dup", extra.key, extra.identity, extra.name, extra.fact, extra.source_uuid,
                                        extra.target_uuid, T0 + timedelta(seconds=1), T0))
    plan = plan_sync(graph, stored, at=T0 + timedelta(hours=1), now=T0 + timedelta(hours=1))
    assert [c.uuid for c in plan.close] == ["dup"] and plan.open == []
