"""Writes and bookkeeping of the memory graph: one canvas's part read back, a sync plan applied, fingerprints.

Entities and opened or reworded facts go through Graphiti's bulk save (`add_nodes_and_edges_bulk`, no LLM);
closing facts, retiring entities and dropping stale labels are small Cypher updates (re-saving a whole edge
would also rewrite its vector). Each canvas has a `CanvasdCanvas` record in the graph with the fingerprint
of what was last synced, written last, so a sync that died half-way is simply done again. Async: runs on
the memory's event loop.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from canvasd.memory._graphiti import (
    EmbedderClient,
    EntityEdge,
    EntityNode,
    GraphDriver,
    GraphProvider,
    add_nodes_and_edges_bulk,
    parse_db_date,
)
from canvasd.memory.mapping import CanvasGroup, FactSpec
from canvasd.memory.sync_plan import StoredEntity, StoredFact, StoredGroup, SyncPlan

_SAFE_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PAGE = 256


@dataclass(frozen=True, slots=True)
class CanvasRecord:
    """What the graph remembers of one synced canvas."""

    group_id: str
    vault: str
    path: str
    fingerprint: str
    removed: bool


def _labels(labels: Sequence[str]) -> str:
    bad = [label for label in labels if not _SAFE_LABEL.match(label)]
    if bad:
        raise ValueError(f"unsafe graph labels {bad}")
    return ":".join(sorted(labels))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


class GraphStore:
    """The memory graph's writes and reads of canvas parts, over one Graphiti driver."""

    def __init__(self, driver: GraphDriver, embedder: EmbedderClient) -> None:
        self.driver = driver
        self.embedder = embedder
        self.writes = 0  # write statements sent (tests and benchmarks count them)

    async def query(self, cypher: str, **params: Any) -> list[Any]:
        """Run one Cypher statement; its records (dict-like)."""
        result = await self.driver.execute_query(cypher, **params)
        if result is None:  # FalkorDriver answers None for "index already exists"
            return []
        records, _, _ = result
        return list(records)

    async def write(self, cypher: str, **params: Any) -> None:
        """Run one Cypher statement that changes the graph (counted in `writes`)."""
        self.writes += 1
        await self.query(cypher, **params)

    def _vector(self, name: str) -> str:
        return f"vecf32({name})" if self.driver.provider == GraphProvider.FALKORDB else name

    async def prepare(self) -> None:
        """Create Graphiti's range and fulltext indices (existing ones are kept)."""
        await self.driver.build_indices_and_constraints()

    # -- bookkeeping -------------------------------------------------------------------------------------

    async def canvases(self) -> dict[str, CanvasRecord]:
        """Every canvas ever synced, by group id (removed ones flagged)."""
        records = await self.query(
            "MATCH (c:CanvasdCanvas) RETURN c.group_id AS group_id, c.vault AS vault, c.path AS path, "
            "c.fingerprint AS fingerprint, c.removed AS removed")
        return {r["group_id"]: CanvasRecord(r["group_id"], _text(r["vault"]), _text(r["path"]),
                                            _text(r["fingerprint"]), bool(r["removed"])) for r in records}

    async def mark_canvas(self, group: CanvasGroup, fingerprint: str, *, removed: bool, now: datetime) -> None:
        """Record that `group` now matches `fingerprint` (or is gone)."""
        await self.write(
            "MERGE (c:CanvasdCanvas {group_id: $group_id}) SET c.vault = $vault, c.path = $path, "
            "c.fingerprint = $fingerprint, c.removed = $removed, c.synced_at = $now",
            group_id=group.group_id, vault=group.vault, path=group.path, fingerprint=fingerprint,
            removed=removed, now=now)

    async def setting(self, key: str) -> str | None:
        """A value canvasd keeps in the graph about the graph (e.g. the embedder its vectors came from)."""
        records = await self.query("MATCH (m:CanvasdMeta {key: $key}) RETURN m.value AS value", key=key)
        return _text(records[0]["value"]) if records else None

    async def set_setting(self, key: str, value: str) -> None:
        """Keep `value` under `key`."""
        await self.write("MERGE (m:CanvasdMeta {key: $key}) SET m.value = $value", key=key, value=value)

    # -- one canvas --------------------------------------------------------------------------------------

    async def load_group(self, group_id: str) -> StoredGroup:
        """A canvas's entities (retired ones too) and open facts."""
        stored = StoredGroup()
        for r in await self.query(
                "MATCH (n:Entity) WHERE n.group_id = $group_id RETURN n.uuid AS uuid, n.node_id AS node_id, "
                "n.node_type AS node_type, n.name AS name, n.summary AS summary, n.state AS state, "
                "n.color AS color, labels(n) AS labels, n.removed_at AS removed_at, n.created_at AS created_at",
                group_id=group_id):
            stored.entities[r["uuid"]] = StoredEntity(
                uuid=r["uuid"], node_id=_text(r["node_id"]), node_type=_text(r["node_type"]), name=_text(r["name"]),
                summary=_text(r["summary"]), state=_text(r["state"]),
                color=r["color"] if isinstance(r["color"], str) else None, labels=frozenset(r["labels"] or ()),
                removed=r["removed_at"] is not None, created_at=parse_db_date(r["created_at"]))
        for r in await self.query(
                "MATCH (a:Entity)-[e:RELATES_TO]->(b:Entity) WHERE e.group_id = $group_id AND e.invalid_at IS NULL "
                "RETURN e.uuid AS uuid, e.fact_key AS fact_key, e.identity AS identity, e.name AS name, "
                "e.fact AS fact, a.uuid AS source, b.uuid AS target, e.valid_at AS valid_at, "
                "e.created_at AS created_at", group_id=group_id):
            stored.open_facts.append(StoredFact(
                uuid=r["uuid"], key=_text(r["fact_key"]), identity=_text(r["identity"]), name=_text(r["name"]),
                fact=_text(r["fact"]), source_uuid=r["source"], target_uuid=r["target"],
                valid_at=parse_db_date(r["valid_at"]), created_at=parse_db_date(r["created_at"])))
        return stored

    async def apply(self, group: CanvasGroup, plan: SyncPlan, vectors: Sequence[list[float]]) -> None:
        """Write `plan` (vectors in `plan.embed_texts()` order): entities and facts, then labels and closings."""
        it = iter(vectors)
        nodes = [EntityNode(uuid=spec.uuid, name=spec.name, group_id=group.group_id, labels=sorted(spec.labels),
                            created_at=plan.created_at.get(spec.uuid, plan.now), name_embedding=next(it),
                            summary=spec.summary, attributes=spec.attributes(group)) for spec in plan.upsert]
        edges = [EntityEdge(uuid=new.uuid, group_id=group.group_id, source_node_uuid=new.spec.source_uuid,
                            target_node_uuid=new.spec.target_uuid, created_at=plan.now, name=new.spec.name,
                            fact=new.spec.fact, fact_embedding=next(it), episodes=[], valid_at=plan.at,
                            reference_time=plan.at, attributes=_fact_attributes(new.spec))
                 for new in plan.open]
        edges += [EntityEdge(uuid=old.uuid, group_id=group.group_id, source_node_uuid=old.source_uuid,
                             target_node_uuid=old.target_uuid, created_at=old.created_at or plan.now, name=spec.name,
                             fact=spec.fact, fact_embedding=next(it), episodes=[], valid_at=old.valid_at,
                             reference_time=old.valid_at, attributes=_fact_attributes(spec))
                  for old, spec in plan.rewrite]
        if nodes or edges:
            self.writes += 1
            await add_nodes_and_edges_bulk(self.driver, [], [], nodes, edges, self.embedder)
        for labels, uuids in _by_labels(plan.drop_labels).items():
            await self.write(f"UNWIND $uuids AS u MATCH (n:Entity {{uuid: u}}) REMOVE n:{_labels(labels)}",
                             uuids=uuids)
        for labels, uuids in _by_labels(plan.retire).items():
            remove = f" REMOVE n:{_labels(labels)}" if labels else ""
            await self.write(f"UNWIND $uuids AS u MATCH (n:Entity {{uuid: u}}) SET n.removed_at = $at{remove}",
                             uuids=uuids, at=plan.at)
        if plan.close:
            await self.write(
                "UNWIND $rows AS row MATCH ()-[e:RELATES_TO {uuid: row.uuid}]->() "
                "SET e.invalid_at = row.invalid_at, e.expired_at = $now",
                rows=[{"uuid": c.uuid, "invalid_at": c.invalid_at} for c in plan.close], now=plan.now)

    async def add_event_fact(self, group: CanvasGroup, entity: str, *, key: str, name: str, fact: str,
                             vector: list[float], at: datetime, now: datetime) -> bool:
        """A fact about one entity that happened at `at` (a review): valid and closed at that instant, so it is
        history (found by a search over its time) and no canvas sync takes it for an open fact; False when the
        entity is not in the graph."""
        found = await self.query("MATCH (n:Entity {uuid: $uuid}) RETURN n.uuid AS uuid", uuid=entity)
        if not found:
            return False
        edge_uuid = str(uuid5(NAMESPACE_URL, f"{group.group_id}/{key}"))
        edge = EntityEdge(uuid=edge_uuid, group_id=group.group_id, source_node_uuid=entity, target_node_uuid=entity,
                          created_at=now, name=name, fact=fact, fact_embedding=vector, episodes=[],
                          valid_at=at, reference_time=at, attributes={"fact_key": key, "identity": key})
        self.writes += 1
        await add_nodes_and_edges_bulk(self.driver, [], [], [], [edge], self.embedder)
        await self.write("MATCH ()-[e:RELATES_TO {uuid: $uuid}]->() SET e.invalid_at = $at, e.expired_at = $now",
                         uuid=edge_uuid, at=at, now=now)
        return True

    # -- vectors -----------------------------------------------------------------------------------------

    async def entity_texts(self, after: str) -> list[tuple[str, str]]:
        """(uuid, embedded text) of up to PAGE entities with uuids after `after`, in uuid order."""
        records = await self.query(
            "MATCH (n:Entity) WHERE n.uuid > $after RETURN n.uuid AS uuid, n.summary AS summary, n.name AS name "
            "ORDER BY n.uuid LIMIT $limit", after=after, limit=PAGE)
        return [(r["uuid"], _text(r["summary"]) or _text(r["name"])) for r in records]

    async def fact_texts(self, after: str) -> list[tuple[str, str]]:
        """(uuid, fact) of up to PAGE facts with uuids after `after`, in uuid order."""
        records = await self.query(
            "MATCH ()-[e:RELATES_TO]->() WHERE e.uuid > $after RETURN e.uuid AS uuid, e.fact AS fact "
            "ORDER BY e.uuid LIMIT $limit", after=after, limit=PAGE)
        return [(r["uuid"], _text(r["fact"])) for r in records]

    async def set_entity_vectors(self, rows: list[tuple[str, list[float]]]) -> None:
        """Replace the name embeddings of these entities."""
        await self.write(f"UNWIND $rows AS row MATCH (n:Entity {{uuid: row.uuid}}) "
                         f"SET n.name_embedding = {self._vector('row.v')}",
                         rows=[{"uuid": u, "v": v} for u, v in rows])

    async def set_fact_vectors(self, rows: list[tuple[str, list[float]]]) -> None:
        """Replace the fact embeddings of these facts."""
        await self.write(f"UNWIND $rows AS row MATCH ()-[e:RELATES_TO {{uuid: row.uuid}}]->() "
                         f"SET e.fact_embedding = {self._vector('row.v')}",
                         rows=[{"uuid": u, "v": v} for u, v in rows])


def _fact_attributes(spec: FactSpec) -> dict[str, Any]:
    return {**spec.attributes, "fact_key": spec.key, "identity": spec.identity}


def _by_labels(changes: dict[str, frozenset[str]]) -> dict[tuple[str, ...], list[str]]:
    grouped: dict[tuple[str, ...], list[str]] = {}
    for uuid, labels in changes.items():
        grouped.setdefault(tuple(sorted(labels)), []).append(uuid)
    return grouped
