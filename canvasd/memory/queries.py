"""Reads of the memory graph: Graphiti hybrid search over facts and entities, a node's timeline, statistics.

Search uses Graphiti's `search()` with a fresh RRF configuration per call (Graphiti's own `Graphiti.search`
assigns `limit` on a module-level recipe, which leaks between concurrent callers), BM25 plus cosine
similarity when an embedder is configured, no cross-encoder. Scope is expressed with labels rather than
group ids: every entity carries its vault's label and, while on its canvas, a live label, so a vault-wide
search needs no list of canvases (Graphiti's FalkorDB fulltext query gives up on 128+ group ids).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from canvasd.memory._graphiti import (
    ComparisonOperator,
    DateFilter,
    EdgeReranker,
    EdgeSearchConfig,
    EdgeSearchMethod,
    EntityEdge,
    EntityNode,
    GraphitiClients,
    NodeReranker,
    NodeSearchConfig,
    NodeSearchMethod,
    SearchConfig,
    SearchFilters,
    parse_db_date,
    search,
)
from canvasd.memory.mapping import CANVAS_NODE_LABEL, LIVE_LABEL, STATE_KIND, live_label, vault_label
from canvasd.memory.results import (
    MemoryEntity,
    MemoryFact,
    MemoryStats,
    SearchResult,
    Timeline,
    TimelineEntry,
    describe,
)
from canvasd.memory.store import GraphStore


def search_config(limit: int, *, semantic: bool, min_score: float) -> SearchConfig:
    """A new RRF configuration for facts and entities (never a shared recipe object)."""
    edge_methods = [EdgeSearchMethod.bm25] + ([EdgeSearchMethod.cosine_similarity] if semantic else [])
    node_methods = [NodeSearchMethod.bm25] + ([NodeSearchMethod.cosine_similarity] if semantic else [])
    return SearchConfig(
        edge_config=EdgeSearchConfig(search_methods=edge_methods, reranker=EdgeReranker.rrf, sim_min_score=min_score),
        node_config=NodeSearchConfig(search_methods=node_methods, reranker=NodeReranker.rrf, sim_min_score=min_score),
        limit=limit)


def search_filters(vaults: list[str] | None, *, current_only: bool, since: datetime | None,
                   until: datetime | None) -> SearchFilters:
    """Scope by label (vaults, live or not) and facts by time.

    A fact counts when its validity overlaps [since, until]: it became true no later than `until` and was
    still true at `since` (or is still true). `current_only` keeps only facts still true and live entities.
    """
    if vaults:
        labels = [live_label(v) if current_only else vault_label(v) for v in vaults]
    else:
        labels = [LIVE_LABEL if current_only else CANVAS_NODE_LABEL]
    valid_at = [[DateFilter(date=until, comparison_operator=ComparisonOperator.less_than_equal)]] if until else None
    if current_only:
        invalid_at = [[DateFilter(comparison_operator=ComparisonOperator.is_null)]]
    elif since is not None:
        # Graphiti names date parameters by their position in one AND-list, so each OR-branch holds one.
        invalid_at = [[DateFilter(comparison_operator=ComparisonOperator.is_null)],
                      [DateFilter(date=since, comparison_operator=ComparisonOperator.greater_than_equal)]]
    else:
        invalid_at = None
    return SearchFilters(node_labels=labels, valid_at=valid_at, invalid_at=invalid_at)


async def run_search(clients: GraphitiClients, query: str, query_vector: list[float] | None, *,
                     vaults: list[str] | None, group_id: str | None, since: datetime | None,
                     until: datetime | None, current_only: bool, limit: int, min_score: float) -> SearchResult:
    """Facts and entities for `query` (already normalised), best first."""
    config = search_config(limit, semantic=query_vector is not None, min_score=min_score)
    filters = search_filters(vaults, current_only=current_only, since=since, until=until)
    results = await search(clients, query, [group_id] if group_id else None, config, filters,
                           query_vector=query_vector)
    facts = tuple(_fact(edge, score) for edge, score in zip(results.edges, results.edge_reranker_scores,
                                                                strict=False))
    entities = tuple(_entity(node, score) for node, score in zip(results.nodes, results.node_reranker_scores,
                                                                     strict=False))
    return SearchResult(query=query, facts=facts, entities=entities)


async def node_timeline(store: GraphStore, uuid: str) -> Timeline | None:
    """The learning-state history of one entity, oldest first; None when the graph has no such entity."""
    nodes = await store.query(
        "MATCH (n:Entity {uuid: $uuid}) RETURN n.name AS name, n.state AS state, n.removed_at AS removed_at, "
        "n.vault AS vault, n.canvas AS canvas, n.node_id AS node_id", uuid=uuid)
    if not nodes:
        return None
    node = nodes[0]
    entries = []
    for r in await store.query(
            "MATCH (n:Entity {uuid: $uuid})-[e:RELATES_TO]->(n) WHERE e.kind = $kind RETURN e.state AS state, "
            "e.fact AS fact, e.subject AS subject, e.valid_at AS valid_at, e.invalid_at AS invalid_at "
            "ORDER BY e.valid_at, e.created_at", uuid=uuid, kind=STATE_KIND):
        valid_at, invalid_at = parse_db_date(r["valid_at"]), parse_db_date(r["invalid_at"])
        state = _str(r["state"])
        entries.append(TimelineEntry(state=state, fact=_str(r["fact"]), valid_at=valid_at, invalid_at=invalid_at,
                                     text=describe(_str(r["subject"]) or _str(node["name"]), state, valid_at,
                                                   invalid_at)))
    return Timeline(vault=_str(node["vault"]), path=_str(node["canvas"]), node_id=_str(node["node_id"]),
                    name=_str(node["name"]), state=_str(node["state"]), removed_at=parse_db_date(node["removed_at"]),
                    entries=tuple(entries))


async def graph_stats(store: GraphStore) -> MemoryStats:
    """Counts of canvases, entities and facts, and the live entities per learning state."""
    canvases = await store.query("MATCH (c:CanvasdCanvas) WHERE c.removed = false RETURN count(c) AS n")
    entities = await store.query(
        "MATCH (n:Entity) RETURN count(n) AS total, sum(CASE WHEN n.removed_at IS NULL THEN 1 ELSE 0 END) AS live")
    by_kind: dict[str, dict[str, int]] = {}
    for r in await store.query(
            "MATCH ()-[e:RELATES_TO]->() RETURN e.kind AS kind, e.invalid_at IS NULL AS open, count(e) AS n"):
        bucket = by_kind.setdefault(_str(r["kind"]) or "other", {"open": 0, "closed": 0})
        bucket["open" if r["open"] else "closed"] += int(r["n"])
    states = {_str(r["state"]): int(r["n"]) for r in await store.query(
        "MATCH (n:Entity) WHERE n.removed_at IS NULL RETURN n.state AS state, count(n) AS n")}
    total = entities[0]["total"] if entities else 0
    return MemoryStats(
        canvases=int(canvases[0]["n"]) if canvases else 0, entities=int(total or 0),
        live_entities=int((entities[0]["live"] if entities else 0) or 0),
        facts=sum(b["open"] + b["closed"] for b in by_kind.values()),
        open_facts=sum(b["open"] for b in by_kind.values()), facts_by_kind=by_kind, live_states=states)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _opt(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _fact(edge: EntityEdge, score: float) -> MemoryFact:
    a = edge.attributes
    kind = _str(a.get("kind"))
    return MemoryFact(
        uuid=edge.uuid, kind=kind, name=edge.name, fact=edge.fact, vault=_str(a.get("vault")),
        path=_str(a.get("canvas")), node_id=_opt(a.get("node_id")), from_node_id=_opt(a.get("from_node_id")),
        to_node_id=_opt(a.get("to_node_id")), edge_id=_opt(a.get("edge_id")), state=_opt(a.get("state")),
        valid_at=edge.valid_at, invalid_at=edge.invalid_at, expired_at=edge.expired_at, created_at=edge.created_at,
        score=float(score))


def _entity(node: EntityNode, score: float) -> MemoryEntity:
    a = node.attributes
    labels = tuple(sorted(label for label in node.labels
                          if not label.startswith(("V_", "Live_")) and label not in ("Entity", CANVAS_NODE_LABEL)))
    return MemoryEntity(
        uuid=node.uuid, name=node.name, summary=node.summary, vault=_str(a.get("vault")), path=_str(a.get("canvas")),
        node_id=_str(a.get("node_id")), node_type=_str(a.get("node_type")), state=_str(a.get("state")),
        labels=labels, created_at=node.created_at, removed_at=parse_db_date(a.get("removed_at")), score=float(score))
